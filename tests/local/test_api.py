"""The office node's HTTP API: validation (422/413), in-flight NIK (409), lookups and listing."""

from __future__ import annotations

import asyncio

import httpx

from ektp_sync.domain.biometrics import MAX_ATTACHMENT_BYTES
from ektp_sync.testing import eventually

from .residents import resident, with_attachment


async def test_record_is_stored_and_queued(node: httpx.AsyncClient) -> None:
    response = await node.post("/records", json=resident(1))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "queued"
    assert body["nik"] == resident(1)["nik"]
    assert body["submission_id"].startswith("6172-")
    assert body["decision"] is None
    got = await node.get(f"/records/{body['id']}")
    assert got.status_code == 200
    assert got.json()["submission_id"] == body["submission_id"]


async def test_nik_rule_violation_is_422_naming_the_rule(node: httpx.AsyncClient) -> None:
    bad = resident(2, nik="9972010605900002")  # province 99 does not exist
    response = await node.post("/records", json=bad)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"].startswith("nik_")
    assert "province" in error["msg"].lower()
    assert error["loc"][:2] == ["body", "nik"]


async def test_nik_disagreeing_with_sex_is_422(node: httpx.AsyncClient) -> None:
    response = await node.post("/records", json=resident(3, sex="P") | {"sex": "L"})
    assert response.status_code == 422
    assert "NIK rule" in response.text


async def test_malformed_json_and_missing_fields_are_422(node: httpx.AsyncClient) -> None:
    response = await node.post(
        "/records", content=b'{"nik": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    response = await node.post("/records", json={"nik": resident(4)["nik"]})
    assert response.status_code == 422
    missing = {e["loc"][-1] for e in response.json()["detail"]}
    assert {"full_name", "biometrics"} <= missing


async def test_oversize_attachments_are_413(node: httpx.AsyncClient) -> None:
    body = with_attachment(resident(5), MAX_ATTACHMENT_BYTES + 1)
    response = await node.post("/records", json=body)
    assert response.status_code == 413
    assert response.json()["rule"] == "attachments_size"


async def test_bodies_over_the_hard_cap_are_413_before_parsing(node: httpx.AsyncClient) -> None:
    response = await node.post(
        "/records",
        content=b"x" * (5 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["rule"] == "body_size"


async def test_same_nik_in_flight_is_409_even_when_racing(node: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(node.post("/records", json=resident(6)) for _ in range(5)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409, 409, 409, 409]
    conflict = next(r for r in responses if r.status_code == 409).json()
    assert conflict["rule"] == "nik_in_flight"
    assert resident(6)["nik"] not in conflict["detail"]  # masked in messages


async def test_unknown_record_is_404(node: httpx.AsyncClient) -> None:
    for path in ("/records/nope", "/records/nope/print", "/records/nope/retry"):
        call = node.get if path == "/records/nope" else node.post
        response = await call(path)
        assert response.status_code == 404
        assert response.json()["rule"] == "record_not_found"


async def test_listing_pages_with_a_stable_cursor(node: httpx.AsyncClient) -> None:
    created = [(await node.post("/records", json=resident(10 + i))).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await node.get("/records", params=params)).json()
        seen += [r["id"] for r in page["records"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(created)
    assert (await node.get("/records", params={"state": "flying"})).status_code == 422
    assert (await node.get("/records", params={"cursor": "!!"})).status_code == 422
    assert (await node.get("/records", params={"state": "approved"})).json()["records"] == []


async def test_print_before_approval_is_409_not_approved(node: httpx.AsyncClient) -> None:
    record_id = (await node.post("/records", json=resident(20))).json()["id"]
    response = await node.post(f"/records/{record_id}/print")
    assert response.status_code == 409
    assert response.json()["rule"] == "not_approved"
    response = await node.post(f"/records/{record_id}/retry")
    assert response.status_code == 409
    assert response.json()["rule"] == "not_failed"


async def test_status_and_pending_show_why_records_wait(node: httpx.AsyncClient) -> None:
    ids = [(await node.post("/records", json=resident(30 + i))).json()["id"] for i in range(3)]

    async def breaker_opened() -> bool:
        # the breaker stops sending after a few failures, so not every record is tried
        pending = (await node.get("/uploads/pending")).json()["uploads"]
        central = (await node.get("/status")).json()["central"]
        return len(pending) == 3 and pending[0]["attempts"] >= 1 and central["breaker"] == "open"

    await eventually(breaker_opened, timeout=20, interval=0.05)
    pending = (await node.get("/uploads/pending", params={"limit": 2})).json()["uploads"]
    assert [p["id"] for p in pending] == ids[:2]
    assert "*" in pending[0]["nik"]
    assert pending[0]["last_error"]
    assert pending[0]["state"] in ("queued", "uploading")
    status = (await node.get("/status")).json()
    assert status["office_code"] == "6172"
    assert set(status["counts"]) >= {"queued", "approved", "failed", "printed"}
    assert status["pending"] == 3
    assert status["oldest_pending_seconds"] >= 0
    assert status["central"]["reachable"] is False
    assert status["central"]["consecutive_failures"] >= 1
    assert "centre" in status["central"]["last_error"]
    assert status["last_success_at"] is None


async def test_healthz(node: httpx.AsyncClient) -> None:
    assert (await node.get("/healthz")).json() == {"status": "ok"}
    assert (await node.get("http://node/healthz")).status_code == 200
