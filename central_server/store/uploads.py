"""Resumable uploads' statements: the upload of each manifest entry and its sealed chunks.

Intake makes one `uploads` row per manifest entry with the enrollment (`manifest_rows`); a tus
creation marks it created, every PATCH appends one chunk row and moves `received` in the same
transaction, so an acknowledged chunk survives a restart and any process can take the next one.
Every change runs in an `UploadTransaction` that locks the upload's row first (`FOR UPDATE` on
PostgreSQL; SQLite's single writer serialises anyway), so two processes never append at the
same offset. The bytes arrive sealed: this module never sees an attachment in clear.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central_server.store.decisions import DecisionStore, DecisionTransaction
from central_server.store.tables import enrollments, upload_chunks, uploads
from ektp_sync.domain.decisions import SubmissionStatus


def new_upload_id() -> str:
    """An upload's URL part: random, so a URL tells nothing and cannot be guessed."""
    return secrets.token_hex(16)


def manifest_rows(
    manifests: Iterable[tuple[str, Mapping[str, tuple[int, str]]]],
) -> list[dict[str, Any]]:
    """The `uploads` rows intake inserts for (submission_id, manifest) pairs."""
    return [
        {
            "upload_id": new_upload_id(),
            "submission_id": submission_id,
            "name": name,
            "size": size,
            "sha256": sha256,
            "created": False,
            "received": 0,
            "complete": False,
            "expires_at": None,
            "resends": 0,
            "retired_id": None,
            "retired_rule": None,
        }
        for submission_id, manifest in manifests
        for name, (size, sha256) in manifest.items()
    ]


@dataclass(frozen=True)
class Upload:
    """One upload as the tus routes see it, with its submission's office and status."""

    id: int
    upload_id: str
    submission_id: str
    office_code: str
    submission_status: SubmissionStatus
    name: str
    size: int
    sha256: str
    created: bool
    received: int
    complete: bool
    expires_at: dt.datetime | None
    resends: int


@dataclass(frozen=True)
class Retired:
    """A URL whose upload was discarded; `rule` says why (the node creates the upload again)."""

    office_code: str
    rule: str


_COLUMNS = (
    uploads.c.id,
    uploads.c.upload_id,
    uploads.c.submission_id,
    enrollments.c.office_code,
    enrollments.c.status.label("submission_status"),
    uploads.c.name,
    uploads.c.size,
    uploads.c.sha256,
    uploads.c.created,
    uploads.c.received,
    uploads.c.complete,
    uploads.c.expires_at,
    uploads.c.resends,
)


def _joined() -> Select[Any]:
    return select(*_COLUMNS).join(
        enrollments, enrollments.c.submission_id == uploads.c.submission_id
    )


def _upload(row: Any) -> Upload:
    values = dict(row._mapping)
    values["submission_status"] = SubmissionStatus(values["submission_status"])
    return Upload(**values)


async def _find(conn: AsyncConnection, upload_id: str, lock: bool) -> Upload | Retired | None:
    stmt = _joined().where(uploads.c.upload_id == upload_id)
    if lock:
        stmt = stmt.with_for_update(of=uploads)
    row = (await conn.execute(stmt)).one_or_none()
    if row is not None:
        return _upload(row)
    retired = (
        await conn.execute(
            select(enrollments.c.office_code, uploads.c.retired_rule)
            .join(enrollments, enrollments.c.submission_id == uploads.c.submission_id)
            .where(uploads.c.retired_id == upload_id)
        )
    ).one_or_none()
    if retired is None:
        return None
    return Retired(retired.office_code, retired.retired_rule)


class UploadStore:
    def __init__(self, engine: AsyncEngine, decisions: DecisionStore) -> None:
        self._engine = engine
        self._decisions = decisions

    async def find(self, upload_id: str) -> Upload | Retired | None:
        """Read only (HEAD)."""
        async with self._engine.connect() as conn:
            return await _find(conn, upload_id, lock=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UploadTransaction]:
        async with self._engine.begin() as conn:
            yield UploadTransaction(conn, self._decisions)

    async def expired(self, now: dt.datetime, limit: int) -> list[str]:
        """Unfinished uploads whose Upload-Expires has passed (the sweeper discards them)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(uploads.c.upload_id)
                .where(uploads.c.expires_at < now, uploads.c.complete.is_(False))
                .order_by(uploads.c.expires_at)
                .limit(limit)
            )
            return list(rows.scalars())

    async def attachments(self, submission_id: str) -> dict[str, list[tuple[int, int, bytes]]]:
        """Every complete upload of a submission: name → its sealed chunks (row id, start,
        sealed bytes) in order."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(uploads.c.name, uploads.c.id, upload_chunks.c.start, upload_chunks.c.content)
                .join(upload_chunks, upload_chunks.c.upload == uploads.c.id)
                .where(uploads.c.submission_id == submission_id, uploads.c.complete.is_(True))
                .order_by(uploads.c.name, upload_chunks.c.start)
            )
            out: dict[str, list[tuple[int, int, bytes]]] = {}
            for row in rows:
                out.setdefault(row.name, []).append((row.id, row.start, row.content))
            return out


class UploadTransaction:
    """The statements of one change to an upload, in one transaction, its row locked first."""

    def __init__(self, conn: AsyncConnection, decisions: DecisionStore) -> None:
        self._conn = conn
        self._decisions = decisions

    async def locked(self, upload_id: str) -> Upload | Retired | None:
        return await _find(self._conn, upload_id, lock=True)

    async def by_name(self, submission_id: str, name: str) -> Upload | None:
        """The upload of one manifest entry, locked; None if the manifest has no such name."""
        row = (
            await self._conn.execute(
                _joined()
                .where(uploads.c.submission_id == submission_id, uploads.c.name == name)
                .with_for_update(of=uploads)
            )
        ).one_or_none()
        return None if row is None else _upload(row)

    async def create(self, upload: Upload, expires_at: dt.datetime) -> None:
        await self._conn.execute(
            update(uploads)
            .where(uploads.c.id == upload.id)
            .values(created=True, expires_at=expires_at)
        )

    async def append(
        self, upload: Upload, sealed: bytes, length: int, expires_at: dt.datetime | None
    ) -> int:
        """Store one chunk at the upload's current offset; returns the new offset."""
        await self._conn.execute(
            insert(upload_chunks).values(
                upload=upload.id, start=upload.received, length=length, content=sealed
            )
        )
        received = upload.received + length
        await self._conn.execute(
            update(uploads)
            .where(uploads.c.id == upload.id)
            .values(received=received, expires_at=expires_at)
        )
        return received

    async def chunks(self, upload: Upload) -> list[tuple[int, int, bytes]]:
        """(start, length, sealed bytes) of every chunk, in order."""
        rows = await self._conn.execute(
            select(upload_chunks.c.start, upload_chunks.c.length, upload_chunks.c.content)
            .where(upload_chunks.c.upload == upload.id)
            .order_by(upload_chunks.c.start)
        )
        return [(row.start, row.length, row.content) for row in rows]

    async def finish(self, upload: Upload) -> None:
        await self._conn.execute(
            update(uploads).where(uploads.c.id == upload.id).values(complete=True, expires_at=None)
        )

    async def discard(self, upload: Upload, rule: str | None, resend: bool = False) -> str:
        """Drop the upload's bytes and give it a new URL (`rule`: why the old one answers 410;
        None: it answers 404, as after a termination); returns the new upload_id."""
        await self._conn.execute(delete(upload_chunks).where(upload_chunks.c.upload == upload.id))
        fresh = new_upload_id()
        await self._conn.execute(
            update(uploads)
            .where(uploads.c.id == upload.id)
            .values(
                upload_id=fresh,
                created=False,
                received=0,
                complete=False,
                expires_at=None,
                resends=upload.resends + (1 if resend else 0),
                retired_id=upload.upload_id if rule is not None else None,
                retired_rule=rule,
            )
        )
        return fresh

    async def decisions(self, submission_id: str) -> DecisionTransaction | None:
        """After an upload finished: the dedup lock, then, when every upload of `submission_id`
        is complete, a DecisionTransaction on this same connection, for publishing a held
        approval in this transaction (None while some upload is still incomplete).

        The lock comes before the check: two processes finishing a submission's last two
        uploads at once take turns, and the second sees the first's commit, so one of them
        publishes; a decision of the submission waits for the lock as well, so it sees this
        upload complete or leaves the approval held for this transaction to publish."""
        decisions = await self._decisions.joining(self._conn)
        incomplete = await self._conn.scalar(
            select(
                exists().where(
                    uploads.c.submission_id == submission_id, uploads.c.complete.is_(False)
                )
            )
        )
        return None if incomplete else decisions
