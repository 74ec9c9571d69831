"""Correct and re-send with real processes: the centre refuses a record, the operator fixes it.

The office's clock runs a day ahead of the centre's (an office in WIT, say, and a typo of
today's date as birth date): the office takes the record, the centre, which re-checks every
rule against its own calendar, refuses it as born in the future. The operator corrects the birth
date and NIK with PUT /records/{id}; the record is re-sent under a new submission_id. The
refusal is shown to the operator, kept sealed in the node's database (record, then history) and
named in the node's log by its rule only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from ektp_sync.domain.nik import make_nik
from ektp_sync.storage import sqlite_files
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, eventually
from tests.at_rest import columns_holding, files_holding

pytestmark = pytest.mark.integration

#: POSIX TZ strings (no tz database needed): 14 h ahead of and 12 h behind UTC, so the office's
#: date is always one or two days after the centre's
OFFICE_TZ = "AHEAD-14"
CENTRE_TZ = "BEHIND+12"


def office_today() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()


async def test_refused_record_is_corrected_and_approved_with_one_enrollment(started) -> None:
    d, offices, admin = await started(start=False, local_env={**FAST_RETRY, "TZ": OFFICE_TZ})
    d.central.env["TZ"] = CENTRE_TZ
    await d.start()
    office = offices["6172"]
    person = next(r.record for r in generate(5, seed=21) if r.phase == 1)
    true_birth = dt.date.fromisoformat(person["birth_date"])
    serial = int(person["nik"][12:])
    region, district = person["nik"][:4], person["nik"][4:6]
    # the operator typed today's date: the NIK is composed from it, so the office finds no fault
    typo = office_today()
    mistaken = dict(
        person,
        birth_date=typo.isoformat(),
        nik=make_nik(region, district, typo, person["sex"], serial),
    )
    record_id = await office.record(mistaken)

    async def failed() -> dict[str, Any] | None:
        view = await office.get(record_id)
        return view if view["state"] == "failed" else None

    refused = await eventually(failed, timeout=60, message="the centre refuses the record")
    assert "birth_date_future" in refused["last_error"]
    # the operator reads the centre's words; the node's database holds them sealed only
    node_db = d.local_dbs["6172"]
    secrets = {
        "refusal": b"lies in the future",
        "nik": mistaken["nik"].encode(),
        "birth digits": mistaken["nik"][6:12].encode(),
    }
    assert await columns_holding(node_db, secrets) == []
    assert files_holding(sqlite_files(node_db), secrets) == []

    fix = {
        "birth_date": true_birth.isoformat(),
        "nik": make_nik(region, district, true_birth, person["sex"], serial),
    }
    response = await office.http.put(f"/records/{record_id}", json=fix)
    assert response.status_code == 200, response.text
    resent = response.json()
    assert resent["submission_id"] != refused["submission_id"]
    assert [h["submission_id"] for h in resent["history"]] == [refused["submission_id"]]
    assert resent["history"][0]["changed_fields"] == ["birth_date", "nik"]
    assert resent["history"][0]["reason"] == refused["last_error"]
    assert await columns_holding(node_db, secrets) == []  # sealed in the history too

    await eventually(lambda: office.all_in([record_id], {"approved"}), timeout=60)
    approved = await office.get(record_id)
    assert approved["nik"] == fix["nik"]
    assert approved["decision"]["reason"] == "new_identity"
    assert approved["decision"]["authorisation"]["submission_id"] == resent["submission_id"]
    assert (await office.http.post(f"/records/{record_id}/print")).status_code == 200

    # the centre saw both submission_ids, stored the refused one as invalid, enrolled once
    key = {"Authorization": f"Bearer {d.office_keys['6172']}"}
    async with httpx.AsyncClient(
        base_url=d.central_url + "/api/v1", headers=key, verify=d.verify
    ) as centre:
        old = (await centre.get(f"/enrollments/{refused['submission_id']}")).json()
        new = (await centre.get(f"/enrollments/{resent['submission_id']}")).json()
    assert (old["status"], old["nik"]) == ("invalid", mistaken["nik"])
    assert any("birth_date_future" in e for e in old["errors"])
    assert (new["status"], new["nik"]) == ("approved", fix["nik"])
    stats = await admin.stats()
    assert stats["enrollments"] == 2
    assert stats["identities"] == 1
    assert stats["by_status"] == {"invalid": 1, "approved": 1}
    # the node's log names the refusal's rule, with the record, and not its words
    d.stop()  # the logs are complete once the processes ended
    logs = {path.name: path.read_text() for path in (d.base_dir / "logs").glob("*.log")}
    assert "rules: birth_date_future" in logs["local-6172.log"]
    assert [name for name, text in logs.items() if "lies in the future" in text] == []
