"""PUT /records/{id}: an operator corrects a failed record and it is re-sent under a new id.

An addition to the contract. The node runs in-process against the stand-in centre (real
uvicorn on loopback), which refuses chosen NIKs as invalid, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from ektp_sync.config import LocalSettings
from ektp_sync.domain.nik import make_nik
from ektp_sync.storage import sqlite_files
from local_server.app import create_app
from tests.at_rest import columns_holding, files_holding

from .conftest import running
from .fake_centre import FakeCentre, refusal, serve
from .residents import resident
from .test_sync import reaches, record

BIRTH = dt.date(1990, 5, 6)  # the birth date of every `resident(...)`


@pytest.fixture
async def failed_node(
    settings_for: Callable[..., LocalSettings],
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeCentre]]:
    """A node whose stand-in centre refuses the NIKs in `fake.invalid_niks` as invalid."""
    fake = FakeCentre()
    async with serve(fake.app()) as url, running(create_app(settings_for(url))) as node:
        yield node, fake


async def failed_record(node: httpx.AsyncClient, fake: FakeCentre, body: dict[str, Any]) -> str:
    fake.invalid_niks.add(body["nik"])
    record_id = await record(node, body)
    await reaches(node, record_id, "failed")
    return record_id


async def test_corrected_nik_is_resent_under_a_new_id_and_approved(
    failed_node: tuple[httpx.AsyncClient, FakeCentre],
) -> None:
    node, fake = failed_node
    body = resident(200)
    record_id = await failed_record(node, fake, body)
    failed = (await node.get(f"/records/{record_id}")).json()
    assert failed["history"] == []
    fixed_nik = make_nik("6172", "02", BIRTH, "L", 200)  # kecamatan 02, not 01

    response = await node.put(f"/records/{record_id}", json={"nik": fixed_nik})

    assert response.status_code == 200, response.text
    view = response.json()
    assert view["id"] == record_id and view["nik"] == fixed_nik
    assert view["submission_id"] != failed["submission_id"]
    assert view["attempts"] == 0 and view["last_error"] is None
    [past] = view["history"]
    assert past["submission_id"] == failed["submission_id"]
    assert past["nik"] == body["nik"]
    assert (past["outcome"], past["superseded_by"]) == ("failed", "correction")
    assert past["reason"] == failed["last_error"]
    assert past["changed_fields"] == ["nik"]
    approved = await reaches(node, record_id, "approved")
    assert approved["submission_id"] == view["submission_id"]
    assert approved["decision"]["authorisation"]["nik"] == fixed_nik
    assert approved["history"] == view["history"]  # kept after the new one is decided
    # the centre saw both ids, each once; only the new one was accepted
    assert fake.answers[failed["submission_id"]]["status"] == "invalid"
    assert fake.answers[view["submission_id"]]["status"] == "accepted"
    listed = (await node.get("/records", params={"state": "approved"})).json()["records"]
    assert [r["history"] for r in listed if r["id"] == record_id] == [view["history"]]
    assert (await node.post(f"/records/{record_id}/print")).status_code == 200


async def test_the_refusal_is_sealed_at_rest_shown_to_the_operator_and_kept_out_of_the_log(
    failed_node: tuple[httpx.AsyncClient, FakeCentre],
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="local_server")
    node, fake = failed_node
    body = resident(210)
    record_id = await failed_record(node, fake, body)
    # the centre's words quote the NIK's birth-date digits (and the date they encode)
    quoted = {"birth digits": body["nik"][6:12].encode(), "encoded date": b"06-05-90"}
    failed = (await node.get(f"/records/{record_id}")).json()
    assert failed["last_error"] == "centre refused the record: " + "; ".join(refusal(body["nik"]))
    secrets = {**quoted, "nik": body["nik"].encode(), "refusal": b"centre refused"}
    assert await columns_holding(db_url, secrets) == []
    assert files_holding(sqlite_files(db_url), secrets) == []

    # re-sent as it is, refused again: the first refusal moves to the history, sealed there too
    assert (await node.post(f"/records/{record_id}/retry")).status_code == 200
    again = await reaches(node, record_id, "failed")
    assert [past["reason"] for past in again["history"]] == [failed["last_error"]]
    assert again["last_error"] == failed["last_error"]
    assert await columns_holding(db_url, secrets) == []
    assert files_holding(sqlite_files(db_url), secrets) == []

    # the log says which rule, for which record; never the words that quote the person
    said = [r for r in caplog.records if "refused the record" in r.getMessage()]
    assert [(r.getMessage(), r.__dict__["record_id"]) for r in said] == [
        (
            "centre refused the record as invalid (rules: nik_birth_date); an operator must "
            "correct it",
            record_id,
        )
    ] * 2
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert [name for name, value in quoted.items() if value in logged] == []


async def test_demographics_and_biometrics_can_be_corrected_too(
    failed_node: tuple[httpx.AsyncClient, FakeCentre],
) -> None:
    node, fake = failed_node
    body = resident(210)
    record_id = await failed_record(node, fake, body)
    fake.invalid_niks.clear()  # what the centre objected to has been put right elsewhere
    biometrics = resident(211)["biometrics"]
    change = {"full_name": "Warga Dua Ratus Sepuluh", "biometrics": biometrics}

    response = await node.put(f"/records/{record_id}", json=change)

    assert response.status_code == 200, response.text
    assert response.json()["nik"] == body["nik"]
    assert response.json()["history"][0]["changed_fields"] == ["biometrics", "full_name"]
    await reaches(node, record_id, "approved")
    [sent] = [batch for batch in fake.batches if response.json()["submission_id"] in batch]
    assert len(sent) == 1


async def test_broken_nik_rule_is_422_naming_it_and_changes_nothing(
    failed_node: tuple[httpx.AsyncClient, FakeCentre],
) -> None:
    node, fake = failed_node
    record_id = await failed_record(node, fake, resident(220))
    before = (await node.get(f"/records/{record_id}")).json()

    bad_province = await node.put(f"/records/{record_id}", json={"nik": "9972010605900220"})
    assert bad_province.status_code == 422
    [error] = bad_province.json()["detail"]
    assert error["type"].startswith("nik_") and "province" in error["msg"].lower()
    assert error["loc"][:2] == ["body", "nik"]
    # the stored NIK says male: a correction of sex alone must break the NIK's rule
    wrong_sex = await node.put(f"/records/{record_id}", json={"sex": "P"})
    assert wrong_sex.status_code == 422
    assert "NIK rule" in wrong_sex.text
    unknown = await node.put(f"/records/{record_id}", json={"shoe_size": 43})
    assert unknown.status_code == 422
    not_an_object = await node.put(f"/records/{record_id}", json=["nik"])
    assert not_an_object.status_code == 422

    assert (await node.get(f"/records/{record_id}")).json() == before


async def test_new_nik_in_flight_on_this_node_is_409_and_rolls_back(
    failed_node: tuple[httpx.AsyncClient, FakeCentre],
) -> None:
    node, fake = failed_node
    other = resident(231)
    fake.review_niks.add(other["nik"])  # stays in flight: in review at the centre
    other_id = await record(node, other)
    await reaches(node, other_id, "review")
    record_id = await failed_record(node, fake, resident(230))
    before = (await node.get(f"/records/{record_id}")).json()

    response = await node.put(f"/records/{record_id}", json={"nik": other["nik"]})

    assert response.status_code == 409
    assert response.json()["rule"] == "nik_in_flight"
    # neither the record nor its queue entry nor its history changed
    after = (await node.get(f"/records/{record_id}")).json()
    assert after == before
    assert after["next_attempt_at"] is None  # no queue entry
    pending = (await node.get("/uploads/pending")).json()["uploads"]
    assert record_id not in {u["id"] for u in pending}


async def test_only_a_failed_record_can_be_corrected(node: httpx.AsyncClient) -> None:
    # this node's centre is unreachable: the record stays queued
    record_id = await record(node, resident(240))
    response = await node.put(f"/records/{record_id}", json={"full_name": "Warga Lain"})
    assert response.status_code == 409
    assert response.json()["rule"] == "not_failed"
    assert "failed" in response.json()["detail"]
    missing = await node.put("/records/000000000000deadbeef0000", json={"full_name": "X"})
    assert (missing.status_code, missing.json()["rule"]) == (404, "record_not_found")
    assert (await node.get(f"/records/{record_id}")).json()["history"] == []


async def test_racing_corrections_resend_the_record_once(
    failed_node: tuple[httpx.AsyncClient, FakeCentre],
) -> None:
    node, fake = failed_node
    record_id = await failed_record(node, fake, resident(250))
    niks = [make_nik("6172", district, BIRTH, "L", 250) for district in ("02", "03", "04")]

    responses = await asyncio.gather(
        *(node.put(f"/records/{record_id}", json={"nik": nik}) for nik in niks)
    )

    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    assert {r.json()["rule"] for r in responses if r.status_code == 409} == {"not_failed"}
    [winner] = [r.json() for r in responses if r.status_code == 200]
    view = (await node.get(f"/records/{record_id}")).json()
    assert view["nik"] == winner["nik"] and len(view["history"]) == 1


async def test_retry_keeps_the_spent_submission_in_history_as_well(
    failed_node: tuple[httpx.AsyncClient, FakeCentre],
) -> None:
    node, fake = failed_node
    record_id = await failed_record(node, fake, resident(260))
    first = (await node.get(f"/records/{record_id}")).json()
    # retried unchanged: the centre still refuses it, then a correction fixes it
    retried = (await node.post(f"/records/{record_id}/retry")).json()
    second = await reaches(node, record_id, "failed")
    fixed = await node.put(
        f"/records/{record_id}", json={"nik": make_nik("6172", "05", BIRTH, "L", 260)}
    )
    assert fixed.status_code == 200, fixed.text
    history = fixed.json()["history"]
    assert [h["submission_id"] for h in history] == [
        first["submission_id"],
        retried["submission_id"],
    ]
    assert [h["superseded_by"] for h in history] == ["retry", "correction"]
    assert history[0]["changed_fields"] == []
    assert history[1]["submitted_at"] == history[0]["superseded_at"]
    assert history[1]["reason"] == second["last_error"]
    await reaches(node, record_id, "approved")
