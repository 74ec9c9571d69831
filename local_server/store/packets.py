"""Heavy packets in the node's database: attachments kept apart from their record, sealed, with
the progress of their resumable upload. Every statement on `packet_files` lives here.

A record's files are written in the transaction that stores the record and its queue entry
(`put_files`, called by `RecordStore.add`). The uploader then works file by file: `due` lists
what may go up (the centre has accepted the record's core and not rejected it), `progress`
records an offset the centre acknowledged (only ever one it acknowledged: a SIGKILL loses no
progress and doubles nothing), `done`, `retry_later` (optionally from byte zero, when the centre
discarded the upload), and `settle` closes the files of records whose decision makes them moot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ektp_sync.domain.states import RecordState
from ektp_sync.storage import utcnow
from ektp_sync.wire import Transfer, TransferPart
from local_server.store.sealed import FILE_ERROR, NodeSealer, file_row
from local_server.store.tables import packet_files, records

S = RecordState

WAITING = "waiting"
DONE = "done"
CANCELLED = "cancelled"

#: the centre has the core and may still sign an authorisation: the packet is wanted. `review`
#: included: an adjudicated approval is signed only over a complete packet
UPLOADABLE = (S.AWAITING_DECISION.value, S.REVIEW.value)
#: the centre will never print these: remaining uploads are cancelled
CANCELLING = (S.REJECTED.value,)
#: approved only once every file arrived whole: a file still waiting here was in fact done
COMPLETED = (S.APPROVED.value, S.PRINTED.value)


@dataclass(frozen=True)
class SealedFile:
    """One attachment as stored: its name, size and SHA-256 (hex) and the sealed bytes."""

    name: str
    size: int
    sha256: str
    sealed: bytes


@dataclass(frozen=True)
class DueFile:
    record_id: str
    name: str
    submission_id: str
    size: int
    sha256: str
    acked: int
    upload_url: str | None
    attempts: int


@dataclass(frozen=True)
class MootFile:
    record_id: str
    name: str
    upload_url: str | None
    cancel: bool  # True: the record was rejected; False: approved, so the file arrived


@dataclass(frozen=True)
class PacketFigures:
    files_waiting: int
    bytes_waiting: int
    records_waiting: int


#: the statement that stores one attachment (the parameters of `file_rows`)
INSERT_FILE = insert(packet_files)


def file_rows(
    record_id: str, files: Sequence[SealedFile], now: dt.datetime
) -> list[dict[str, object]]:
    """The rows of a record's new files, waiting to go up."""
    return [
        {
            "record_id": record_id,
            "name": f.name,
            "size": f.size,
            "sha256": f.sha256,
            "content": f.sealed,
            "status": WAITING,
            "acked": 0,
            "attempts": 0,
            "next_attempt_at": now,
            "updated_at": now,
        }
        for f in files
    ]


async def put_files(
    conn: AsyncConnection, record_id: str, files: Sequence[SealedFile], now: dt.datetime
) -> None:
    """Store a record's files in the caller's transaction (the one that changes the record)."""
    if files:
        await conn.execute(INSERT_FILE, file_rows(record_id, files, now))


def waiting_transfer(files: Sequence[SealedFile]) -> Transfer:
    """The transfer of a record whose `files` were just stored: nothing acknowledged yet."""
    parts = {f.name: TransferPart(size=f.size, acked=0, state=WAITING) for f in files}
    return Transfer(bytes_total=sum(f.size for f in files), attachments=parts)


async def renew_files(
    conn: AsyncConnection,
    record_id: str,
    files: Sequence[SealedFile] | None,
    now: dt.datetime,
) -> None:
    """A record re-sent under a new submission: its uploads start again (the old ones belong to
    the spent submission). `files` replaces the stored ones; None keeps them."""
    if files is not None:
        await conn.execute(delete(packet_files).where(packet_files.c.record_id == record_id))
        await put_files(conn, record_id, files, now)
        return
    await conn.execute(
        update(packet_files)
        .where(packet_files.c.record_id == record_id)
        .values(
            status=WAITING,
            acked=0,
            upload_url=None,
            attempts=0,
            last_error=None,
            next_attempt_at=now,
            updated_at=now,
        )
    )


async def transfer_of(conn: AsyncConnection, record_id: str, sealer: NodeSealer) -> Transfer:
    """How far a record's attachments have gone up (empty for a record without any)."""
    rows = (
        await conn.execute(
            select(
                packet_files.c.name,
                packet_files.c.size,
                packet_files.c.acked,
                packet_files.c.status,
                packet_files.c.last_error,
            )
            .where(packet_files.c.record_id == record_id)
            .order_by(packet_files.c.name)
        )
    ).all()
    parts = {
        r.name: TransferPart(
            size=r.size,
            acked=r.size if r.status == DONE else r.acked,
            state=r.status,
            last_error=sealer.open_error(FILE_ERROR, file_row(record_id, r.name), r.last_error),
        )
        for r in rows
    }
    return Transfer(
        bytes_total=sum(p.size for p in parts.values()),
        bytes_acked=sum(p.acked for p in parts.values()),
        attachments=parts,
    )


async def bytes_waiting(conn: AsyncConnection) -> PacketFigures:
    """Attachment bytes still to send (not acknowledged), in how many files and records."""
    row = (
        await conn.execute(
            select(
                func.count(),
                func.sum(packet_files.c.size - packet_files.c.acked),
                func.count(func.distinct(packet_files.c.record_id)),
            ).where(packet_files.c.status == WAITING)
        )
    ).one()
    return PacketFigures(int(row[0]), int(row[1] or 0), int(row[2]))


class PacketStore:
    """The uploader's statements; one short transaction each."""

    def __init__(self, engine: AsyncEngine, sealer: NodeSealer) -> None:
        self._engine = engine
        self._sealer = sealer

    async def due(self, limit: int, now: dt.datetime) -> list[DueFile]:
        """Files that may go up now, oldest record first (its files finish before the next's)."""
        query = (
            select(
                packet_files.c.record_id,
                packet_files.c.name,
                records.c.submission_id,
                packet_files.c.size,
                packet_files.c.sha256,
                packet_files.c.acked,
                packet_files.c.upload_url,
                packet_files.c.attempts,
            )
            .select_from(packet_files.join(records, records.c.id == packet_files.c.record_id))
            .where(
                packet_files.c.status == WAITING,
                packet_files.c.next_attempt_at <= now,
                records.c.state.in_(UPLOADABLE),
            )
            .order_by(packet_files.c.record_id, packet_files.c.name)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [DueFile(*row) for row in rows]

    async def content(self, record_id: str, name: str) -> bytes | None:
        """The sealed bytes of one file."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(packet_files.c.content).where(_file(record_id, name)))
        return None if found is None else bytes(found)

    async def created(self, record_id: str, name: str, url: str) -> bool:
        """The centre created the upload at `url` (nothing of it acknowledged yet)."""
        return await self._write(record_id, name, None, upload_url=url, acked=0)

    async def progress(self, record_id: str, name: str, url: str, acked: int) -> bool:
        """The centre acknowledged `acked` bytes of the upload at `url`; False if the file has
        moved on meanwhile (cancelled, or restarted under another upload)."""
        return await self._write(record_id, name, url, acked=acked)

    async def done(self, record_id: str, name: str, url: str, size: int) -> bool:
        """Every byte arrived; `last_error` stays, to show the file was sent again and why."""
        return await self._write(record_id, name, url, acked=size, status=DONE)

    async def retry_later(
        self, record_id: str, name: str, error: str, when: dt.datetime, *, restart: bool
    ) -> bool:
        """Count a failed attempt; with `restart`, the centre discarded the upload: a new one
        starts from byte zero, and `error` says why (a server-requested resend), sealed."""
        values: dict[str, Any] = {
            "attempts": packet_files.c.attempts + 1,
            "last_error": self._sealer.seal_error(FILE_ERROR, file_row(record_id, name), error),
            "next_attempt_at": when,
        }
        if restart:
            values |= {"upload_url": None, "acked": 0}
        return await self._write(record_id, name, None, **values)

    async def moot(self, limit: int) -> list[MootFile]:
        """Files still waiting although their record's decision makes them moot."""
        query = (
            select(
                packet_files.c.record_id,
                packet_files.c.name,
                packet_files.c.upload_url,
                records.c.state.in_(CANCELLING),
            )
            .select_from(packet_files.join(records, records.c.id == packet_files.c.record_id))
            .where(
                packet_files.c.status == WAITING,
                records.c.state.in_(CANCELLING + COMPLETED),
            )
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [MootFile(r[0], r[1], r[2], bool(r[3])) for r in rows]

    async def settle(self, moot: MootFile) -> None:
        """Close a moot file: cancelled (its upload was deleted), or done (the record was
        approved, which the centre does only over a complete packet)."""
        if moot.cancel:
            # only as seen: an upload created meanwhile is deleted at the next settle first
            seen: Any = packet_files.c.upload_url.is_(None)
            if moot.upload_url is not None:
                seen = packet_files.c.upload_url == moot.upload_url
            await self._write(moot.record_id, moot.name, None, seen, status=CANCELLED)
        else:
            await self._write(
                moot.record_id, moot.name, None, status=DONE, acked=packet_files.c.size
            )

    async def figures(self) -> PacketFigures:
        async with self._engine.connect() as conn:
            return await bytes_waiting(conn)

    async def _write(
        self, record_id: str, name: str, url: str | None, *also: Any, **values: Any
    ) -> bool:
        guard = [_file(record_id, name), packet_files.c.status == WAITING, *also]
        if url is not None:
            guard.append(packet_files.c.upload_url == url)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(packet_files).where(*guard).values(updated_at=utcnow(), **values)
            )
        return bool(result.rowcount)


def _file(record_id: str, name: str) -> Any:
    return and_(packet_files.c.record_id == record_id, packet_files.c.name == name)
