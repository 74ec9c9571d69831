"""Databases from before sealing: the revisions that seal (node 0011 and 0012, centre 0005)
seal every row an older version wrote in clear (0012: the texts saying why something failed),
under the data key, and refuse to run without it; after them the servers' stores read the rows
back whole. Sealed values are bound to their row, and the centre's "one identity per NIK" still
stands, on the keyed hash."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import numpy as np
import pytest
from alembic import command
from sqlalchemy import MetaData, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store import CentreStore
from central_server.store.sealed import CentreSealer, attachment_id
from central_server.store.tables import SCHEMA as CENTRAL
from central_server.store.tables import attachments, identities
from ektp_sync.migrations import (
    MigrationError,
    alembic_config,
    current_revision,
    head,
    schema_diff,
    upgrade,
)
from ektp_sync.sealing import DataKey, SealError
from ektp_sync.storage import schema_transaction
from local_server.store import NodeStore
from local_server.store.sealed import NodeSealer
from local_server.store.tables import SCHEMA as LOCAL
from local_server.store.tables import outbox, records

from .support import add_clear_record

Engines = Callable[[str], AsyncEngine]
KEY = DataKey(bytes(range(32)))
NIKS = ("6172010605900001", "6172014506900002")
NAME = "Siti Rahayu Kusumawati"
TEMPLATE = np.linspace(-1, 1, 128, dtype=np.float32)
TEMPLATE /= np.linalg.norm(TEMPLATE)
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # an inline attachment's bytes


async def clear_values(engine: AsyncEngine, *needles: str | bytes) -> list[str]:
    """ "table.column" of every stored value (text or bytes) containing one of `needles`."""
    async with engine.connect() as conn:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        hits = []
        for table in meta.sorted_tables:
            for row in await conn.execute(select(table)):
                for column, value in row._mapping.items():
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if any(_bytes(needle) in raw for needle in needles):
                        hits.append(f"{table.name}.{column}")
    return hits


def _bytes(needle: str | bytes) -> bytes:
    return needle if isinstance(needle, bytes) else needle.encode()


async def old_node(engine: AsyncEngine) -> None:
    """A node database at 0007 with two records in clear, one decided (with an authorisation),
    one re-sent once (a spent NIK in its history)."""
    await upgrade(engine, LOCAL, "0007")
    payload = json.dumps({"nik": NIKS[0], "full_name": NAME})
    await add_clear_record(engine, "r1", NIKS[0], payload)
    await add_clear_record(engine, "r2", NIKS[1])
    signed = json.dumps({"submission_id": "r1", "nik": NIKS[0], "approval_no": "A-1",
                         "issued_at": "2026-11-29T00:00:00.000Z", "signature": "c2ln"})  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE records SET decision_status = 'approved', decision_reason = "
                "'new_identity', authorisation = :a WHERE id = 'r1'"
            ),
            {"a": signed},
        )
        await conn.execute(
            text(
                "INSERT INTO submission_history (record_id, submission_id, nik, outcome, reason, "
                "attempts, submitted_at, superseded_at, superseded_by, changed_fields) VALUES "
                "('r2', 'spent-1', :nik, 'failed', 'invalid', 1, '2026-11-29 00:00:00', "
                "'2026-11-29 00:00:00', 'correction', 'nik')"
            ),
            {"nik": NIKS[1]},
        )


async def test_node_rows_in_clear_are_sealed_and_read_back_whole(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await old_node(engine)
    assert len(await clear_values(engine, *NIKS, NAME)) >= 4
    done = await upgrade(engine, LOCAL, data_key=KEY)
    assert (done.before, done.after) == ("0007", head(LOCAL))
    assert await schema_diff(engine, LOCAL) == []
    assert await clear_values(engine, *NIKS, NAME) == []
    store = NodeStore(engine, KEY)
    r1 = await store.records.view("r1")
    assert r1 is not None and r1.nik == NIKS[0]
    assert r1.decision is not None and r1.decision.authorisation is not None
    assert r1.decision.authorisation.nik == NIKS[0]
    stored = await store.records.stored("r1")
    assert stored is not None and stored.payload["full_name"] == NAME
    page, _ = await store.records.page(None, 10, None, NIKS[1])  # found by its keyed hash
    assert [(v.id, [h.nik for h in v.history]) for v in page] == [("r2", [NIKS[1]])]
    [claimed] = await store.queue("w").claim(1, 10**6, 60)  # the oldest, opened for the upload
    assert json.loads(claimed.payload_json)["nik"] in NIKS


async def test_node_rows_in_clear_are_not_touched_without_the_key(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await old_node(engine)
    with pytest.raises(MigrationError, match="data key"):
        await upgrade(engine, LOCAL)
    assert await current_revision(engine, LOCAL) == "0007"
    assert set(await clear_values(engine, NIKS[0])) >= {"records.nik", "records.payload"}


async def test_a_sealed_value_does_not_open_in_another_row(db_url: str, engines: Engines) -> None:
    engine = engines(db_url)
    await old_node(engine)
    await upgrade(engine, LOCAL, data_key=KEY)
    async with engine.begin() as conn:
        sealed = (
            await conn.execute(select(records.c.payload_sealed).where(records.c.id == "r1"))
        ).scalar_one()
        await conn.execute(
            update(records).where(records.c.id == "r2").values(payload_sealed=sealed)
        )
    store = NodeStore(engine, KEY)
    with pytest.raises(SealError):
        await store.records.stored("r2")
    with pytest.raises(SealError):  # nor under another key
        await NodeStore(engine, DataKey(bytes(32))).records.stored("r1")


#: why-it-failed texts as a node before 0012 kept them, in clear: a refusal quoting the NIK's
#: birth-date digits (as the centre words a broken NIK rule), a link fault, an attachment's resend
REFUSAL = (
    "centre refused the record: record: Value error, NIK rule 'birth_date': digits 7-12 "
    "(060590) encode 06-05-90 but birth_date is 03-02-91 (rule nik_birth_date)"
)
BUSY = "centre answered 503 (busy)"
RESEND = "the centre asked for the attachment again: its SHA-256 does not match the manifest"
ERRORS = ("060590", "06-05-90", BUSY, "asked for the attachment")


async def node_at_0011(engine: AsyncEngine) -> None:
    """A node database at 0011 (personal data sealed) whose why-it-failed texts are in clear:
    r1 failed, re-sent once (the first refusal in its history) and refused again; r2 queued
    after a busy centre, with an attachment the centre asked for again."""
    await upgrade(engine, LOCAL, "0011")
    sealer = NodeSealer(KEY)
    at = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    meta = MetaData()
    async with engine.begin() as conn:
        await conn.run_sync(meta.reflect)
        tables = meta.tables
        common = {"payload_bytes": 2, "attempts": 1, "created_at": at, "updated_at": at}
        await conn.execute(
            insert(tables["records"]),
            [
                {**common, **sealer.record_columns(rid, nik, "{}"), "id": rid, "state": state,
                 "submission_id": f"{rid}-now", "last_error": error}
                for rid, nik, state, error in (
                    ("r1", NIKS[0], "failed", REFUSAL), ("r2", NIKS[1], "queued", BUSY)
                )
            ],
        )  # fmt: skip
        await conn.execute(
            insert(tables["outbox"]).values(
                record_id="r2", enqueued_at=at, next_attempt_at=at, attempts=1, payload_bytes=2,
                last_error=BUSY,
            )
        )  # fmt: skip
        await conn.execute(
            insert(tables["packet_files"]).values(
                record_id="r2", name="photo", size=3, sha256="0" * 64, content=b"sealed",
                status="waiting", acked=0, attempts=1, last_error=RESEND, next_attempt_at=at,
                updated_at=at,
            )
        )  # fmt: skip
        await conn.execute(
            insert(tables["submission_history"]).values(
                record_id="r1", submission_id="r1-spent", outcome="failed", reason=REFUSAL,
                attempts=1, submitted_at=at, superseded_at=at, superseded_by="retry",
                changed_fields="", nik_sealed=sealer.seal_spent_nik("r1-spent", NIKS[0]),
            )
        )  # fmt: skip


async def test_node_error_texts_in_clear_are_sealed_by_0012_and_read_back(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await node_at_0011(engine)
    assert sorted(await clear_values(engine, *ERRORS)) == [
        "outbox.last_error",
        "packet_files.last_error",
        "records.last_error",
        "records.last_error",
        "submission_history.reason",
    ]
    with pytest.raises(MigrationError, match="data key"):
        await upgrade(engine, LOCAL)
    assert await current_revision(engine, LOCAL) == "0011"
    done = await upgrade(engine, LOCAL, data_key=KEY)
    assert (done.before, done.after) == ("0011", head(LOCAL))
    assert await schema_diff(engine, LOCAL) == []
    assert await clear_values(engine, *ERRORS) == []
    # what the operator reads (GET /records/{id}, the console) opens them again
    store = NodeStore(engine, KEY)
    r1, r2 = await store.records.view("r1"), await store.records.view("r2")
    assert r1 is not None and r2 is not None
    assert (r1.last_error, [h.reason for h in r1.history]) == (REFUSAL, [REFUSAL])
    assert (r2.last_error, r2.transfer.attachments["photo"].last_error) == (BUSY, RESEND)
    async with engine.connect() as conn:
        queued = await conn.scalar(select(outbox.c.last_error))
    assert NodeSealer(KEY).open_error("outbox.last_error", "r2", queued) == BUSY
    # and back to 0011 only without them: clear text is not written back (from 0012, the
    # revision that sealed them; the later ones go back on their own)
    async with schema_transaction(engine, LOCAL.lock_key) as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(LOCAL, c), "0012"))
    async with schema_transaction(engine, LOCAL.lock_key) as conn:
        with pytest.raises(MigrationError, match="backup"):
            await conn.run_sync(lambda c: command.downgrade(alembic_config(LOCAL, c), "0011"))
    assert await current_revision(engine, LOCAL) == "0012"


async def old_centre(engine: AsyncEngine) -> None:
    """A centre database at 0001: one approved submission (its identity and decision logged,
    an inline attachment), one pending, one invalid (its errors quote the item), all in clear."""
    await upgrade(engine, CENTRAL, "0001")
    now = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    signed = {"submission_id": "s1", "nik": NIKS[0], "approval_no": "A-1",
              "issued_at": "2026-11-29T00:00:00.000Z", "signature": "c2ln"}  # fmt: skip
    meta = MetaData()
    async with engine.begin() as conn:
        await conn.run_sync(meta.reflect)
        columns = ("reason", "errors", "record", "template", "approval_no", "authorisation",
                   "decided_at")  # fmt: skip
        common = {"office_code": "6172", "received_at": now, "recorded_at": now}
        common |= dict.fromkeys(columns)
        await conn.execute(
            insert(meta.tables["enrollments"]),
            [
                {**common, "submission_id": "s1", "nik": NIKS[0], "status": "approved",
                 "reason": "new_identity", "record": {"nik": NIKS[0], "full_name": NAME},
                 "template": TEMPLATE.tobytes(), "approval_no": "A-1", "authorisation": signed,
                 "decided_at": now},
                {**common, "submission_id": "s2", "nik": NIKS[1], "status": "pending",
                 "record": {"nik": NIKS[1]}, "template": TEMPLATE[::-1].tobytes()},
                {**common, "submission_id": "s3", "nik": NIKS[1], "status": "invalid",
                 "errors": [f"record.full_name: {NAME} (rule x)"]},
            ],
        )  # fmt: skip
        await conn.execute(
            insert(meta.tables["attachments"]).values(
                submission_id="s1", name="photo", content=PHOTO
            )
        )
        await conn.execute(
            insert(meta.tables["identities"]).values(
                nik=NIKS[0], template=TEMPLATE.tobytes(), submission_id="s1", office_code="6172",
                enrolled_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            insert(meta.tables["decision_log"]).values(
                office_code="6172", submission_id="s1", nik=NIKS[0], status="approved",
                reason="new_identity", authorisation=signed, decided_at=now,
            )
        )  # fmt: skip


async def test_centre_rows_in_clear_are_sealed_and_read_back_whole(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await old_centre(engine)
    assert len(await clear_values(engine, *NIKS, NAME)) >= 6
    assert len(await clear_values(engine, TEMPLATE.tobytes()[:64])) == 2  # enrolled, identity
    assert await clear_values(engine, PHOTO) == ["attachments.content"]
    with pytest.raises(MigrationError, match="data key"):
        await upgrade(engine, CENTRAL)
    done = await upgrade(engine, CENTRAL, data_key=KEY)
    assert (done.before, done.after) == ("0001", head(CENTRAL))
    assert await schema_diff(engine, CENTRAL) == []
    assert await clear_values(engine, *NIKS, NAME, TEMPLATE.tobytes()[:64], PHOTO) == []
    store = CentreStore(engine, KEY)
    async with engine.connect() as conn:
        sealed_photo = await conn.scalar(select(attachments.c.content))
    opened = CentreSealer(KEY).open_bytes(
        "attachments.content", attachment_id("s1", "photo"), sealed_photo
    )
    assert opened == PHOTO
    # the gallery's source: identities opened
    [(_, nik, template)] = await store.decisions.identities_after(0)
    assert nik == NIKS[0] and np.array_equal(np.frombuffer(template, np.float32), TEMPLATE)
    async with store.decisions.transaction() as tx:
        [pending] = await tx.pending(10)
    assert (pending.nik, pending.template) == (NIKS[1], TEMPLATE[::-1].tobytes())
    page = await store.feed.after("6172", 0, 10)
    [decision] = page.decisions
    assert decision.nik == NIKS[0] and decision.authorisation is not None
    assert decision.authorisation.nik == NIKS[0]
    invalid = await store.views.enrollment("s3")
    assert invalid is not None and invalid.errors == [f"record.full_name: {NAME} (rule x)"]
    approved = await store.views.enrollment("s1")
    assert approved is not None and approved.nik == NIKS[0] and approved.authorisation


async def test_one_identity_per_nik_is_enforced_on_the_keyed_hash(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await upgrade(engine, CENTRAL)
    sealer = CentreSealer(KEY)
    now = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)

    def identity(sid: str, nik: str) -> dict[str, object]:
        return {
            "nik_lookup": sealer.nik_lookup(nik),
            "nik_sealed": sealer.seal_text("identities.nik", sid, nik),
            "template_sealed": sealer.seal_bytes("identities.template", sid, TEMPLATE.tobytes()),
            "submission_id": sid,
            "office_code": "6172",
            "enrolled_at": now,
        }

    async with engine.begin() as conn:
        await conn.execute(insert(identities), [identity("a", NIKS[0]), identity("b", NIKS[1])])
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(identities).values(identity("c", NIKS[0])))


async def test_a_server_started_with_another_key_stops_at_once(
    db_url: str, engines: Engines
) -> None:
    engine = engines(db_url)
    await old_node(engine)
    await old_centre(engine)
    await NodeStore(engine, KEY).migrate()
    await CentreStore(engine, KEY).migrate()
    other = DataKey(bytes(32))
    with pytest.raises(SealError, match="--data-key-file"):
        await NodeStore(engine, other).migrate()
    with pytest.raises(SealError, match="--data-key-file"):
        await CentreStore(engine, other).migrate()
