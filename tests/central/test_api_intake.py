"""POST /enrollments: per-item answers, idempotency, gzip, size limits, malformed input."""

from __future__ import annotations

import gzip
import json
from typing import Any

import numpy as np
import pytest

from ektp_sync.body import BodyLimits
from ektp_sync.config import CentralSettings
from ektp_sync.testing import eventually

from . import factories as f
from .conftest import Centre, running


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


async def stats(centre: Centre) -> dict[str, Any]:
    async with centre.admin() as admin:
        response = await admin.get("/stats")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body


async def test_mixed_batch_answers_each_item(centre: Centre, rng: np.random.Generator) -> None:
    good = f.item(f.record(f.unit(rng)))
    bad_nik = f.item(f.record(f.unit(rng), "9972010506900001"))
    wrong_sex = f.item(f.record(f.unit(rng), f.nik(sex="L"), sex="P"))
    other_office = f.item(f.record(f.unit(rng)), office_code="6101")
    short_template = f.item(f.record(f.unit(rng)))
    short_template["record"]["biometrics"]["template"] = "AAAA"
    async with centre.office() as office:
        response = await office.post(
            "/enrollments",
            json=f.batch(good, bad_nik, wrong_sex, other_office, short_template),
        )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] + ["invalid"] * 4
    assert results[0]["submission_id"] == good["submission_id"]
    assert "province" in results[1]["errors"][0]
    assert any("sex" in e for e in results[2]["errors"])
    assert any("office_code" in e for e in results[3]["errors"])
    assert any("template" in e for e in results[4]["errors"])
    assert [r["submission_id"] for r in results[1:]] == [
        item["submission_id"] for item in (bad_nik, wrong_sex, other_office, short_template)
    ]


async def test_resent_items_get_their_first_answer(
    centre: Centre, rng: np.random.Generator
) -> None:
    good = f.item(f.record(f.unit(rng)))
    bad = f.item(f.record(f.unit(rng), "6172000506900001"))
    async with centre.office() as office:
        first = (await office.post("/enrollments", json=f.batch(good, bad))).json()
        await eventually(lambda: _decided(office, good["submission_id"]))
        before = await stats(centre)
        # the re-sent valid item now carries different content: still its first answer
        changed = {**good, "record": f.record(f.unit(rng))}
        again = (await office.post("/enrollments", json=f.batch(changed, bad, good))).json()
    assert again["results"][:2] == first["results"]
    assert again["results"][2] == first["results"][0]
    assert first["results"][1]["status"] == "invalid"
    after = await stats(centre)
    assert after == before
    assert after["enrollments"] == 2 and after["identities"] == 1
    assert after["by_status"] == {"approved": 1, "invalid": 1}


async def _decided(client: Any, sid: str) -> dict[str, Any] | None:
    view: dict[str, Any] = (await client.get(f"/enrollments/{sid}")).json()
    return view if view["status"] != "pending" else None


async def test_submission_id_of_another_office_is_refused(
    centre: Centre, rng: np.random.Generator
) -> None:
    mine = f.item(f.record(f.unit(rng)), "6172")
    theirs = f.item(f.record(f.unit(rng)), "6101", submission_id=mine["submission_id"])
    async with centre.office("6172") as a, centre.office("6101") as b:
        assert (await a.post("/enrollments", json=f.batch(mine))).json()["results"][0][
            "status"
        ] == "accepted"
        result = (await b.post("/enrollments", json=f.batch(theirs))).json()["results"][0]
    assert result["status"] == "invalid"
    assert "another office" in result["errors"][0]


async def test_gzip_body(centre: Centre, rng: np.random.Generator) -> None:
    body = gzip.compress(json.dumps(f.batch(f.item(f.record(f.unit(rng))))).encode())
    async with centre.office() as office:
        response = await office.post(
            "/enrollments",
            content=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert response.status_code == 200
        assert response.json()["results"][0]["status"] == "accepted"
        broken = await office.post(
            "/enrollments", content=b"not gzip", headers={"Content-Encoding": "gzip"}
        )
        assert broken.status_code == 422


async def test_attachments_are_stored_and_oversize_ones_refused(
    centre: Centre, rng: np.random.Generator
) -> None:
    photo = f.item(f.record(f.unit(rng), attachments={"photo": b"\xff\xd8" * 1000}))
    huge = f.item(f.record(f.unit(rng), attachments={"photo": b"x" * (2 * 1024 * 1024 + 1)}))
    async with centre.office() as office:
        response = await office.post("/enrollments", json=f.batch(photo, huge))
    accepted, refused = response.json()["results"]
    assert accepted["status"] == "accepted"
    assert refused["status"] == "invalid" and "attachments_too_large" in refused["errors"][0]


async def test_oversize_body_is_413(settings: CentralSettings, rng: np.random.Generator) -> None:
    limits = BodyLimits(raw_bytes=64 * 1024, decoded_bytes=128 * 1024)
    big = f.batch(*(f.item(f.record(f.unit(rng))) for _ in range(150)))
    raw = json.dumps(big).encode()
    bomb = gzip.compress(b" " * (1024 * 1024))  # small on the wire, 1 MiB inflated
    async for centre in running(settings, body_limits=limits):
        async with centre.office() as office:
            too_big = await office.post("/enrollments", content=raw)
            assert too_big.status_code == 413
            inflated = await office.post(
                "/enrollments", content=bomb, headers={"Content-Encoding": "gzip"}
            )
            assert inflated.status_code == 413
            assert inflated.json()["rule"] == "decoded_body_size"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"items": "nope"}', b'{"items": []}', b"[]"],
)
async def test_malformed_body_is_422(centre: Centre, content: bytes) -> None:
    async with centre.office() as office:
        response = await office.post(
            "/enrollments", content=content, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_backlog_over_limit_sheds_load(
    settings: CentralSettings, rng: np.random.Generator
) -> None:
    settings = settings.model_copy(update={"max_backlog": 1})
    async for centre in running(settings):
        async with centre.admin() as admin, centre.office() as office:
            # keep the worker busy so the backlog stays
            await admin.post("/admin/faults", json={"processing_delay_ms": 600_000})
            two = f.batch(f.item(f.record(f.unit(rng))), f.item(f.record(f.unit(rng))))
            assert (await office.post("/enrollments", json=two)).status_code == 200
            shed = await office.post("/enrollments", json=f.batch(f.item(f.record(f.unit(rng)))))
            assert shed.status_code == 503
            assert int(shed.headers["retry-after"]) >= 1
            assert shed.json()["rule"] == "backlog"
