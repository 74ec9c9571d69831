"""Correct and re-send with real processes: the centre refuses a record, the operator fixes it.

The office's clock runs a day ahead of the centre's (an office in WIT, say, and a typo of
today's date as birth date): the office takes the record, the centre, which re-checks every
rule against its own calendar, refuses it as born in the future. The operator corrects the birth
date and NIK with PUT /records/{id}; the record is re-sent under a new submission_id. The
refusal is shown to the operator, kept sealed in the node's database (record, then history) and
named in the node's log by its rule only.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from typing import Any

import httpx
import pytest

from ektp_sync.domain.nik import make_nik
from ektp_sync.launch import Deployment
from ektp_sync.storage import sqlite_files
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, CentreAdmin, OfficeClient, eventually
from tests.at_rest import columns_holding, files_holding

pytestmark = pytest.mark.integration

#: POSIX TZ strings (no tz database needed): 14 h ahead of and 12 h behind UTC, so the office's
#: date is always one or two days after the centre's
OFFICE_TZ = "AHEAD-14"
CENTRE_TZ = "BEHIND+12"


def office_today() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()


def typo_and_fix(person: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record as the operator mistyped it (today's date as birth date: the NIK is composed
    from it, so the office finds no fault) and the correction of birth date and NIK."""
    true_birth = dt.date.fromisoformat(person["birth_date"])
    serial = int(person["nik"][12:])
    region, district = person["nik"][:4], person["nik"][4:6]
    typo = office_today()
    mistaken = dict(
        person,
        birth_date=typo.isoformat(),
        nik=make_nik(region, district, typo, person["sex"], serial),
    )
    fix = {
        "birth_date": true_birth.isoformat(),
        "nik": make_nik(region, district, true_birth, person["sex"], serial),
    }
    return mistaken, fix


async def refused(office: OfficeClient, record_id: str) -> dict[str, Any]:
    """The record's view once the centre has refused it as born in the future."""

    async def failed() -> dict[str, Any] | None:
        view = await office.get(record_id)
        return view if view["state"] == "failed" else None

    view = await eventually(failed, timeout=60, message="the centre refuses the record")
    assert "birth_date_future" in view["last_error"]
    return view


async def day_ahead(started: Any) -> tuple[Deployment, OfficeClient, CentreAdmin]:
    """Centre and office started, the office's calendar a day or two ahead of the centre's."""
    d, offices, admin = await started(start=False, local_env={**FAST_RETRY, "TZ": OFFICE_TZ})
    d.central.env["TZ"] = CENTRE_TZ
    await d.start()
    return d, offices["6172"], admin


async def test_refused_record_is_corrected_and_approved_with_one_enrollment(started) -> None:
    d, office, admin = await day_ahead(started)
    person = next(r.record for r in generate(5, seed=21) if r.phase == 1)
    mistaken, fix = typo_and_fix(person)
    record_id = await office.record(mistaken)
    refused_view = await refused(office, record_id)
    # the operator reads the centre's words; the node's database holds them sealed only
    node_db = d.local_dbs["6172"]
    secrets = {
        "refusal": b"lies in the future",
        "nik": mistaken["nik"].encode(),
        "birth digits": mistaken["nik"][6:12].encode(),
    }
    assert await columns_holding(node_db, secrets) == []
    assert files_holding(sqlite_files(node_db), secrets) == []

    response = await office.http.put(f"/records/{record_id}", json=fix)
    assert response.status_code == 200, response.text
    resent = response.json()
    assert resent["submission_id"] != refused_view["submission_id"]
    assert [h["submission_id"] for h in resent["history"]] == [refused_view["submission_id"]]
    assert resent["history"][0]["changed_fields"] == ["birth_date", "nik"]
    assert resent["history"][0]["reason"] == refused_view["last_error"]
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
        old = (await centre.get(f"/enrollments/{refused_view['submission_id']}")).json()
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


def with_attachments(person: dict[str, Any], seed: int, files: int, size: int) -> dict[str, Any]:
    """`person` with `files` random (incompressible) attachments of `size` bytes each."""
    rng = random.Random(seed)
    attachments = {
        f"finger_{i}": base64.b64encode(rng.randbytes(size)).decode("ascii") for i in range(files)
    }
    return {**person, "biometrics": {**person["biometrics"], "attachments": attachments}}


async def test_correction_with_new_attachments_sends_the_new_packet_and_is_approved(
    started,
) -> None:
    """A heavy record (attachments sent apart, as resumable uploads) refused by the centre is
    corrected with new attachments too: the new submission's packet is the new one, sent whole
    (the centre approves only over a packet that matches its manifest), and the old files are
    not sent again."""
    _, office, admin = await day_ahead(started)
    person = next(r.record for r in generate(5, seed=22) if r.phase == 1)
    mistaken, fix = typo_and_fix(person)
    # two files of 50 KB: above the node's packet threshold (64 KB), so sent apart
    record_id = await office.record(with_attachments(mistaken, seed=1, files=2, size=50_000))
    before = await refused(office, record_id)

    new_biometrics = with_attachments(person, seed=2, files=3, size=40_000)["biometrics"]
    response = await office.http.put(
        f"/records/{record_id}", json={**fix, "biometrics": new_biometrics}
    )
    assert response.status_code == 200, response.text
    resent = response.json()
    assert resent["submission_id"] != before["submission_id"]
    assert resent["history"][0]["changed_fields"] == ["biometrics", "birth_date", "nik"]

    await eventually(lambda: office.all_in([record_id], {"approved"}), timeout=90)
    approved = await office.get(record_id)
    assert approved["decision"]["authorisation"]["submission_id"] == resent["submission_id"]
    # the node's transfer is the new packet's: three files of 40 KB, every byte acknowledged
    assert approved["transfer"]["bytes_total"] == 120_000
    assert approved["transfer"]["bytes_acked"] == 120_000
    stats = await admin.stats()
    assert (stats["enrollments"], stats["identities"]) == (2, 1)
