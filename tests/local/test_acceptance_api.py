"""Regressions found by the outside acceptance check of the office node's HTTP API."""

from __future__ import annotations

import httpx

from .residents import resident, with_attachment


async def test_pending_uploads_carry_the_contracts_fields(node: httpx.AsyncClient) -> None:
    created = await node.post("/records", json=resident(41))
    assert created.status_code == 201
    pending = (await node.get("/uploads/pending")).json()["uploads"]
    assert [p["id"] for p in pending] == [created.json()["id"]]
    contract = {"id", "nik", "state", "attempts", "last_error", "next_attempt_at", "age"}
    assert contract <= set(pending[0])
    assert pending[0]["age"] >= 0


async def test_a_refused_record_is_not_echoed_back_whole(node: httpx.AsyncClient) -> None:
    """A record-level rule (here: the NIK's day says man, the record says woman) used to send
    the entire record back in the 422's `input`, attachments and all."""
    body = with_attachment(resident(43, sex="L"), 300_000)
    body["sex"] = "P"
    refused = await node.post("/records", json=body)
    assert refused.status_code == 422
    assert "sex" in refused.text
    assert len(refused.content) < 4_000, len(refused.content)
    assert "Warga 43" not in refused.text


async def test_records_can_be_listed_by_nik(node: httpx.AsyncClient) -> None:
    """The outside soak had to page through every record to find the one a crash had cut off."""
    ids = {}
    for serial in (51, 52, 53):
        created = await node.post("/records", json=resident(serial))
        ids[created.json()["nik"]] = created.json()["id"]
    nik = next(iter(ids))
    page = (await node.get("/records", params={"nik": nik})).json()
    assert [r["id"] for r in page["records"]] == [ids[nik]]
    assert (await node.get("/records", params={"nik": "6172"})).status_code == 422
