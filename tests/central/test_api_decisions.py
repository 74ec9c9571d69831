"""The decisions feed (paging by cursor), the signature of each decision and of the print
authorisation."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ektp_sync.config import CentralSettings
from ektp_sync.domain.decisions import DecisionReason, DecisionStatus
from ektp_sync.rotation import verify_announcement
from ektp_sync.signing import Signer, canonical_json, load_public_key, verify, verify_decision
from ektp_sync.testing import eventually
from ektp_sync.wire import Authorisation, Decision, PublicKey

from . import factories as f
from .conftest import Centre, running


async def all_decisions(client: httpx.AsyncClient, want: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        page = (await client.get("/decisions", params={"limit": 1000})).json()
        return page["decisions"] if len(page["decisions"]) >= want else None

    return await eventually(probe)


async def test_feed_pages_in_order_with_cursor(centre: Centre) -> None:
    rng = np.random.default_rng(11)
    items = [f.item(f.record(f.unit(rng))) for _ in range(7)]
    async with centre.office() as office, centre.office("6101") as other:
        assert (await office.post("/enrollments", json=f.batch(*items))).status_code == 200
        everything = await all_decisions(office, 7)
        assert [d["submission_id"] for d in everything] == [i["submission_id"] for i in items]

        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 3}
            if cursor is not None:
                params["after"] = cursor
            page = (await office.get("/decisions", params=params)).json()
            if not page["decisions"]:
                assert page["next"] == cursor
                break
            seen += page["decisions"]
            cursor = page["next"]
        assert seen == everything
        # the other office sees none of them
        page = (await other.get("/decisions")).json()
        assert page == {"decisions": [], "next": ""}


async def test_bad_cursor_and_limit_are_422(centre: Centre) -> None:
    async with centre.office() as office:
        bad = await office.get("/decisions", params={"after": "!!not-a-cursor"})
        assert bad.status_code == 422 and bad.json()["rule"] == "cursor"
        assert (await office.get("/decisions", params={"after": "aGVsbG8"})).status_code == 422
        assert (await office.get("/decisions", params={"limit": 1001})).status_code == 422
        assert (await office.get("/decisions", params={"limit": 0})).status_code == 422


async def test_authorisation_verifies_and_tampering_is_detected(centre: Centre) -> None:
    item = f.item(f.record(f.unit(np.random.default_rng(12))))
    async with centre.office() as office, centre.client(None) as anon:
        await office.post("/enrollments", json=f.batch(item))
        (decision,) = await all_decisions(office, 1)
        key = load_public_key((await anon.get("/keys")).json()["public_key"])
    assert decision["status"] == "approved" and decision["reason"] == "new_identity"
    authorisation = Authorisation(**decision["authorisation"])
    assert authorisation.nik == item["record"]["nik"]
    assert authorisation.submission_id == item["submission_id"]
    assert verify(authorisation, key)
    other_nik = f.nik()
    assert not verify(authorisation.model_copy(update={"nik": other_nik}), key)
    assert not verify(authorisation.model_copy(update={"approval_no": "KTP-FORGED"}), key)


async def test_every_decision_is_signed_over_its_fields(centre: Centre) -> None:
    """Ed25519 over the canonical JSON of the decision's fields but the authorisation, with
    the key of /keys; a decision changed in any field no longer verifies."""
    rng = np.random.default_rng(14)
    t = f.unit(rng)
    items = [f.item(f.record(t)), f.item(f.record(f.near(t, 0.78, rng)))]
    async with centre.office() as office, centre.client(None) as anon:
        await office.post("/enrollments", json=f.batch(*items))
        decisions = await all_decisions(office, 2)
        key = load_public_key((await anon.get("/keys")).json()["public_key"])
    assert {d["status"] for d in decisions} == {"approved", "review"}
    for raw in decisions:
        fields = {k: raw[k] for k in ("submission_id", "nik", "status", "reason")}
        key.verify(base64.b64decode(raw["signature"]), canonical_json(fields))  # or raises
        decision = Decision.model_validate(raw)
        assert verify_decision(decision, key)
        rejected, conflict = DecisionStatus.REJECTED, DecisionReason.NIK_CONFLICT
        for forged in ({"status": rejected}, {"reason": conflict}, {"nik": f.nik()}):
            assert not verify_decision(decision.model_copy(update=forged), key)
        assert not verify_decision(decision.model_copy(update={"signature": None}), key)


async def test_review_then_adjudication_appears_twice(centre: Centre) -> None:
    rng = np.random.default_rng(13)
    t = f.unit(rng)
    first = f.item(f.record(t))
    lookalike = f.item(f.record(f.near(t, 0.78, rng)))
    async with centre.office() as office, centre.admin() as admin:
        await office.post("/enrollments", json=f.batch(first))
        await all_decisions(office, 1)
        await office.post("/enrollments", json=f.batch(lookalike))
        decisions = await all_decisions(office, 2)
        assert decisions[1]["status"] == "review"
        assert "authorisation" not in decisions[1] or decisions[1]["authorisation"] is None
        sid = lookalike["submission_id"]
        response = await admin.post(f"/reviews/{sid}", json={"decision": "approve"})
        assert response.status_code == 200
        assert response.json()["reason"] == "adjudicated"
        again = await admin.post(f"/reviews/{sid}", json={"decision": "reject"})
        assert again.status_code == 409
        assert (await admin.post("/reviews/nope", json={"decision": "approve"})).status_code == 404
        bad = await admin.post(f"/reviews/{sid}", json={"decision": "maybe"})
        assert bad.status_code == 422
        decisions = await all_decisions(office, 3)
    assert [(d["submission_id"], d["status"], d["reason"]) for d in decisions[1:]] == [
        (sid, "review", "possible_duplicate"),
        (sid, "approved", "adjudicated"),
    ]
    assert decisions[2]["authorisation"]["submission_id"] == sid


@pytest.mark.parametrize("switched", [False, True], ids=["announced", "switched"])
async def test_a_rotation_is_announced_then_signs_with_the_next_key(
    settings: CentralSettings, tmp_path: Path, switched: bool
) -> None:
    """Before --next-key-from /keys offers the next key too, announced under the current one;
    from then on the feed is signed with the next key, which /keys offers."""
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=-1 if switched else 1)
    rotating = settings.model_copy(
        update={"next_signing_key": tmp_path / "next.pem", "next_key_from": when.isoformat()}
    )
    current = Signer.load_or_create(settings.signing_key_file).public_key_b64
    following = Signer.load_or_create(tmp_path / "next.pem").public_key_b64
    item = f.item(f.record(f.unit(np.random.default_rng(15))))
    async for centre in running(rotating):
        async with centre.office() as office, centre.client(None) as anon:
            await office.post("/enrollments", json=f.batch(item))
            (raw,) = await all_decisions(office, 1)
            keys = PublicKey.model_validate((await anon.get("/keys")).json())
    signing = following if switched else current
    assert keys.public_key == signing
    assert verify_decision(Decision.model_validate(raw), load_public_key(signing))
    assert verify(Authorisation(**raw["authorisation"]), load_public_key(signing))
    if switched:
        assert keys.next is None
    else:
        assert keys.next is not None and keys.next.public_key == following
        assert verify_announcement(keys.next, load_public_key(current))
        assert keys.next.valid_from == when.isoformat()
