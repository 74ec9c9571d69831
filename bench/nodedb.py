"""Office-node databases filled directly (bulk SQL), for benchmarks that need a big backlog fast.

The rows are what `RecordService.record` writes (a queued record and its outbox entry, the
record's JSON as validated by the wire schema); only the route through HTTP is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex

from ektp_sync.config import LocalSettings
from ektp_sync.domain.states import RecordState
from ektp_sync.sealing import DataKey
from ektp_sync.storage import create_engine
from ektp_sync.synth import SyntheticResident, generate
from ektp_sync.wire import ResidentRecord
from local_server.figures import Figures
from local_server.service import RecordService
from local_server.store import NodeStore
from local_server.store.sealed import NodeSealer
from local_server.store.tables import create_tables, metadata
from local_server.sync.worker import SyncWorker

CHUNK = 5_000


def distinct_residents(
    count: int, seed: int = 0, attachment_bytes: int = 0
) -> list[dict[str, object]]:
    """`count` residents with distinct NIKs and unrelated templates (all expected approved)."""
    total = count + count // 4 + 8  # synth plants a fifth as duplicates; keep only phase 1
    residents: list[SyntheticResident] = generate(
        total, seed=seed, attachment_bytes=attachment_bytes
    )
    people = [r.record for r in residents if r.phase == 1]
    if len(people) < count:
        raise RuntimeError(f"synth gave {len(people)} distinct residents, wanted {count}")
    return people[:count]


def _payloads(people: list[dict[str, object]]) -> Iterator[str]:
    for person in people:
        resident = ResidentRecord.model_validate(person)
        yield json.dumps(resident.model_dump(mode="json"), separators=(",", ":"))


def node_sealer(key_file: Path) -> NodeSealer:
    """What seals a benchmark's node database: the data key in `key_file` (made if missing),
    the one its node is then started with (`--data-key-file`)."""
    return NodeSealer(DataKey.load_or_create(key_file))


async def create_node_db(path: Path) -> str:
    """An empty office-node database at `path`, made by the node's own migrations; its URL."""
    url = f"sqlite:///{path}"  # a path in a fresh directory: the database must not exist yet
    engine = create_engine(url)
    try:
        await create_tables(engine)
    finally:
        await engine.dispose()
    return url


@asynccontextmanager
async def recording_service(path: Path) -> AsyncIterator[RecordService]:
    """The service `POST /records` calls, over a new node database at `path`, as the node
    builds it; its sync engine is never started (no centre is met: nothing to pin)."""
    url = await create_node_db(path)
    settings = LocalSettings(
        db_url=url, data_dir=path.parent, api_key="bench", trust_first_key=True
    )
    store = NodeStore.open(url, settings.data_key())
    try:
        worker = SyncWorker(store, settings, store.key)
        figures = Figures(store.figures, worker.link)
        yield RecordService(store.records, settings, worker, figures, store.key)
    finally:
        await store.close()


def add_missing_indexes(path: Path) -> list[str]:
    """Create indexes that `store.tables` declares but the migrated database lacks; their names.

    Shows what an index does before its migration revision exists (reported as such).
    """
    with sqlite3.connect(path) as db:
        present = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        added = []
        for table in metadata.sorted_tables:
            for index in table.indexes:
                if index.name not in present:
                    db.execute(str(CreateIndex(index).compile(dialect=sqlite.dialect())))
                    added.append(str(index.name))
    return added


def fill_backlog(
    path: Path, people: list[dict[str, object]], sealer: NodeSealer, office_code: str = "6172"
) -> None:
    """Queue every resident in `people` at once: records `queued`, outbox entries due now;
    sealed as the node seals them."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format
    base_ms = time.time_ns() // 1_000_000
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        record_rows: list[tuple[object, ...]] = []
        outbox_rows: list[tuple[object, ...]] = []
        for i, (person, payload) in enumerate(zip(people, _payloads(people), strict=True)):
            record_id = f"{base_ms:012x}{i:012x}"
            size = len(payload.encode("utf-8"))
            sealed = sealer.record_columns(record_id, str(person["nik"]), payload)
            record_rows.append(
                (
                    record_id,
                    RecordState.QUEUED.value,
                    f"{office_code}-{os.urandom(16).hex()}",
                    size,
                    0,
                    stamp,
                    stamp,
                    sealed["nik_lookup"],
                    sealed["nik_sealed"],
                    sealed["payload_sealed"],
                    True,  # in_flight: queued
                )
            )
            outbox_rows.append((record_id, stamp, stamp, 0, size))
            if len(record_rows) >= CHUNK:
                _insert(db, record_rows, outbox_rows)
        _insert(db, record_rows, outbox_rows)


def _insert(
    db: sqlite3.Connection,
    record_rows: list[tuple[object, ...]],
    outbox_rows: list[tuple[object, ...]],
) -> None:
    db.executemany(
        "INSERT INTO records (id, state, submission_id, payload_bytes, attempts, created_at,"
        " updated_at, nik_lookup, nik_sealed, payload_sealed, in_flight)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        record_rows,
    )
    db.executemany(
        "INSERT INTO outbox (record_id, enqueued_at, next_attempt_at, attempts, payload_bytes)"
        " VALUES (?, ?, ?, ?, ?)",
        outbox_rows,
    )
    db.commit()
    record_rows.clear()
    outbox_rows.clear()


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current, peak) resident set size of a process in MiB, from /proc (Linux)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)
