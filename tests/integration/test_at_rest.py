"""Personal data at rest, on real servers: after residents went through both servers (recorded,
looked up by NIK, approved and decided), neither database holds a NIK, a name, an address, a
birth place, a template or an inline attachment (a photo) in the clear (not in any column of
any table, and on SQLite not in any byte of the database, -wal or -shm file); the logs hold no
whole NIK; databases and keys are their owner's only (0600)."""

from __future__ import annotations

import base64
import stat
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ektp_sync.domain.nik import mask_nik
from ektp_sync.launch import Deployment
from ektp_sync.storage import sqlite_files
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, DeploymentFactory, OfficeClient, eventually
from tests.at_rest import columns_holding, files_holding

pytestmark = pytest.mark.integration

PEOPLE = 5
PERSONAL = ("nik", "full_name", "address", "birth_place")
PHOTO_BYTES = 2048


def residents(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` residents the centre will approve (synth's planted duplicates left out), each
    with a photo sent inline."""
    people = generate(count * 2, seed=seed, attachment_bytes=PHOTO_BYTES)
    return [r.record for r in people if r.phase == 1][:count]


def secrets_of(person: dict[str, Any]) -> dict[str, bytes]:
    """What must not be found in clear, by a name for the failure message: the personal text
    fields, the template as sent (base64) and as the centre keeps it (raw float32)."""
    found = {f"{field}={person[field]}": str(person[field]).encode() for field in PERSONAL}
    template = person["biometrics"]["template"]
    found["template (base64)"] = template[8:72].encode()
    found["template (raw)"] = base64.b64decode(template)[16:80]
    photo = person["biometrics"]["attachments"]["photo"]
    found["photo (base64)"] = photo[8:72].encode()
    found["photo (raw)"] = base64.b64decode(photo)[16:80]
    return found


def database_urls(d: Deployment) -> dict[str, str]:
    node = d.local_dbs.get("6172") or f"sqlite:///{d.base_dir / 'local-6172' / 'local-6172.db'}"
    centre = d.central_db or f"sqlite:///{d.base_dir / 'central' / 'central.db'}"
    return {"node": node, "centre": centre}


def sqlite_paths(d: Deployment) -> Iterator[Path]:
    for url in database_urls(d).values():
        yield from sqlite_files(url)


async def enrolled(d: Deployment, people: list[dict[str, Any]]) -> list[str]:
    """Record `people`, look each up by NIK, await every approval; their submission ids."""
    async with OfficeClient.of(d) as office:
        ids = [await office.record(person) for person in people]
        for person, record_id in zip(people, ids, strict=True):
            found = (await office.http.get("/records", params={"nik": person["nik"]})).json()
            # the lookup finds the record by its keyed hash, and answers with the NIK opened
            assert [(r["id"], r["nik"]) for r in found["records"]] == [(record_id, person["nik"])]
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=90)
        views = await office.records(ids)
    # the authorisation, stored sealed on both sides, comes back whole and names the person
    assert [v["decision"]["authorisation"]["nik"] for v in views] == [p["nik"] for p in people]
    return [str(v["submission_id"]) for v in views]


@pytest.fixture
async def deployment(
    ektp_deployment: DeploymentFactory, db_factory: Callable[[], Awaitable[str]]
) -> Deployment:
    """Both servers on the backend under test (SQLite files in the data dirs, or PostgreSQL)."""
    first = await db_factory()
    if first.startswith("sqlite"):
        return await ektp_deployment(local_env=FAST_RETRY)
    return await ektp_deployment(
        central_db=first, local_dbs={"6172": await db_factory()}, local_env=FAST_RETRY
    )


async def test_no_personal_data_in_clear_in_either_database(deployment: Deployment) -> None:
    d = deployment
    people = residents(PEOPLE, seed=31)
    submission_ids = await enrolled(d, people)
    needles = {k: v for person in people for k, v in secrets_of(person).items()}
    urls = database_urls(d)
    for name, url in urls.items():
        assert await columns_holding(url, needles) == [], name
        # the check can see: what stays clear (submission ids) is found in the same rows
        found = await columns_holding(url, {sid: sid.encode() for sid in submission_ids})
        assert len({hit.split(": ")[1] for hit in found}) == PEOPLE, name
    files = list(sqlite_paths(d))
    assert files_holding(files, needles) == []
    d.stop()  # a stop checkpoints the WAL into the database file: look at it again
    assert files_holding(files, needles) == []
    if files:
        assert files_holding(files, {sid: sid.encode() for sid in submission_ids[:1]})


async def test_keys_and_sqlite_files_are_the_owners_only_and_logs_hold_no_nik(
    ektp_deployment: DeploymentFactory,
) -> None:
    d = await ektp_deployment(local_env=FAST_RETRY)
    people = residents(2, seed=32)
    await enrolled(d, people)
    private = [d.base_dir / "central" / "data.key", d.base_dir / "local-6172" / "data.key"]
    private += [path for path in sqlite_paths(d) if path.exists()]
    assert {p.name for p in private} >= {"central.db-wal", "local-6172.db-shm"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in private} == {
        p.name: 0o600 for p in private
    }
    d.stop()
    logs = "".join(path.read_text() for path in (d.base_dir / "logs").glob("*.log"))
    for person in people:
        assert mask_nik(person["nik"]) in logs  # the lookup was logged, masked
        assert person["nik"] not in logs
        assert person["full_name"] not in logs
