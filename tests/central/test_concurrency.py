"""The same person submitted at the same time never ends approved as new_identity twice."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest

from ektp_sync.config import CentralSettings
from ektp_sync.testing import eventually

from . import factories as f
from .conftest import Centre, running


async def final_view(client: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        view: dict[str, Any] = (await client.get(f"/enrollments/{sid}")).json()
        return view if view["status"] != "pending" else None

    return await eventually(probe)


def submissions(same_nik: bool, copies: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(31 + int(same_nik))
    t = f.unit(rng)
    shared_nik = f.nik()
    offices = ["6172", "6101"]
    return [
        f.item(
            f.record(f.near(t, 0.99, rng), shared_nik if same_nik else f.nik()),
            offices[i % 2],
        )
        for i in range(copies)
    ]


async def send_all(clients: list[httpx.AsyncClient], items: list[dict[str, Any]]) -> None:
    responses = await asyncio.gather(
        *(
            clients[i % len(clients)].post("/enrollments", json=f.batch(item))
            for i, item in enumerate(items)
        )
    )
    for response in responses:
        assert response.status_code == 200
        assert response.json()["results"][0]["status"] == "accepted"


@pytest.mark.parametrize("same_nik", [False, True], ids=["other-niks", "same-nik"])
async def test_two_offices_same_person_at_once(centre: Centre, same_nik: bool) -> None:
    items = submissions(same_nik, copies=6)
    async with centre.office("6172") as a, centre.office("6101") as b, centre.admin() as admin:
        await send_all([a, b], items)
        views = [
            await final_view(a if item["office_code"] == "6172" else b, item["submission_id"])
            for item in items
        ]
        stats = (await admin.get("/stats")).json()
    reasons = [v["reason"] for v in views]
    assert reasons.count("new_identity") == 1
    # the others are the same person: a re-recording under the same NIK, a duplicate otherwise
    assert set(reasons) - {"new_identity"} == ({"reissue"} if same_nik else {"duplicate_identity"})
    assert stats["identities"] == 1


@pytest.mark.parametrize("same_nik", [False, True], ids=["other-niks", "same-nik"])
async def test_two_centre_processes_on_one_database(
    settings: CentralSettings, same_nik: bool
) -> None:
    """Two apps (each its own gallery and worker) share the database, as --workers N will."""
    items = submissions(same_nik, copies=8)
    async for first in running(settings):
        async for second in running(settings):
            centres: list[Centre] = [first, second]
            clients = [c.office(code) for c in centres for code in ("6172", "6101")]
            try:
                by_office = {"6172": [clients[0], clients[2]], "6101": [clients[1], clients[3]]}
                await asyncio.gather(
                    *(
                        by_office[item["office_code"]][i % 2].post(
                            "/enrollments", json=f.batch(item)
                        )
                        for i, item in enumerate(items)
                    )
                )
                views = [
                    await final_view(by_office[item["office_code"]][0], item["submission_id"])
                    for item in items
                ]
            finally:
                for client in clients:
                    await client.aclose()
    reasons = [v["reason"] for v in views]
    assert reasons.count("new_identity") == 1, reasons


async def test_same_submission_id_at_once_is_stored_once(centre: Centre) -> None:
    item = f.item(f.record(f.unit(np.random.default_rng(41))))
    stranger = {**item, "office_code": "6101"}
    async with centre.office("6172") as a, centre.office("6101") as b, centre.admin() as admin:
        responses = await asyncio.gather(
            *(a.post("/enrollments", json=f.batch(item)) for _ in range(5)),
            b.post("/enrollments", json=f.batch(stranger)),
        )
        answers = [r.json()["results"][0] for r in responses]
        mine, theirs = answers[:5], answers[5]
        # whichever office got there first owns the id; the other is told it is taken
        owner = b if theirs["status"] == "accepted" else a
        await final_view(owner, item["submission_id"])
        stats = (await admin.get("/stats")).json()
    if theirs["status"] == "accepted":
        assert all(answer["status"] == "invalid" for answer in mine)
        assert stats["offices"]["6101"]["enrollments"] == 1
    else:
        assert all(answer["status"] == "accepted" for answer in mine)
        assert "another office" in theirs["errors"][0]
    assert stats["enrollments"] == 1
