"""Heavy packets: the attachments of a manifest arriving as tus uploads, verified, sealed.

Each manifest entry is one upload, made by intake with the enrollment. A chunk is checked
against its Upload-Checksum before anything is stored, then sealed with the data key and
stored with the new offset in one transaction (durable before the 2xx). The chunk that
completes an upload is checked against the manifest's SHA-256 in that same transaction: a
mismatch discards the upload and asks for it again (410 `resend_requested` at the old URL; a
creation starts it anew); a match finishes it and, when it was the packet's last, publishes the
submission's held approval (signed only now) in that same transaction too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from central_server.dedup.engine import DedupEngine
from central_server.errors import (
    NotInManifest,
    OffsetMismatch,
    PastUploadLength,
    UploadComplete,
    UploadGone,
    UploadNotFound,
)
from central_server.metrics import CentreMetrics
from central_server.store.decisions import Outcome
from central_server.store.uploads import Retired, Upload, UploadStore, UploadTransaction
from ektp_sync.domain.decisions import SubmissionStatus
from ektp_sync.sealing import DataKey
from ektp_sync.storage import utcnow

logger = logging.getLogger(__name__)

#: a submission in one of these will never be printed: its uploads are not needed any more
_NOT_NEEDED = (SubmissionStatus.REJECTED, SubmissionStatus.INVALID)

COMPLETE = "complete"
RESEND_REQUESTED = "resend_requested"
UPLOAD_EXPIRED = "upload_expired"


@dataclass(frozen=True)
class UploadState:
    """What the tus answers carry: the upload's URL part, offset, length and expiry."""

    upload_id: str
    offset: int
    length: int
    expires_at: dt.datetime | None


def _state(
    upload: Upload, offset: int | None = None, expires: dt.datetime | None = None
) -> UploadState:
    received = upload.received if offset is None else offset
    done = received >= upload.size
    return UploadState(
        upload.upload_id, received, upload.size, None if done else expires or upload.expires_at
    )


def _chunk_context(upload_row: int, start: int) -> bytes:
    """What a sealed chunk is bound to: it opens only as this upload's chunk at this offset."""
    return f"upload_chunks:{upload_row}:{start}".encode("ascii")


class Packets:
    """The uploads of every office; `dedup` publishes the approvals a packet completes."""

    def __init__(
        self,
        store: UploadStore,
        dedup: DedupEngine,
        key: DataKey,
        expiry_seconds: float,
        metrics: CentreMetrics | None = None,
    ) -> None:
        self._store = store
        self._dedup = dedup
        self._key = key
        self._expiry = dt.timedelta(seconds=expiry_seconds)
        self._metrics = metrics

    def _count(self, chunk_bytes: int, ended: str | None = None) -> None:
        if self._metrics is not None:
            self._metrics.uploaded(chunk_bytes, ended)

    def _expires(self) -> dt.datetime:
        return utcnow() + self._expiry

    async def create(
        self, office: str, submission_id: str, name: str, length: int, sha256: str
    ) -> UploadState:
        """A tus creation for one manifest entry. Creating again (a node that lost the answer)
        gets the same upload, with whatever it already holds."""
        released: Outcome | None = None
        async with self._store.transaction() as tx:
            upload = await tx.by_name(submission_id, name)
            if upload is None or upload.office_code != office:
                # no such name in a manifest of this office's submission, or no such submission:
                # both alike, so another office learns nothing
                raise UploadNotFound(f"manifest entry {name[:64]!r} of submission {submission_id}")
            _needed(upload)
            if length != upload.size:
                raise NotInManifest(
                    f"Upload-Length {length} is not the manifest's size {upload.size}",
                    "manifest_size",
                )
            if sha256.lower() != upload.sha256:
                raise NotInManifest("sha256 is not the manifest's for this name", "manifest_sha256")
            if upload.created or upload.complete:
                return _state(upload)
            expires = self._expires()
            await tx.create(upload, expires)
            if upload.size == 0:  # nothing to send: complete at creation (the manifest's hash
                # of an empty file was checked at intake)
                released, _ = await self._complete(tx, upload, [])
        if upload.size == 0:
            self._count(0, COMPLETE)
        if released is not None:
            self._dedup.released(released)
        return _state(upload, expires=expires)

    async def state(self, office: str, upload_id: str) -> UploadState:
        """HEAD: where the upload stands."""
        upload = _visible(await self._store.find(upload_id), office, upload_id)
        _needed(upload)
        return _state(upload)

    async def append(self, office: str, upload_id: str, offset: int, chunk: bytes) -> UploadState:
        """PATCH: store `chunk` at `offset` (its Upload-Checksum was verified by the caller)."""
        released: Outcome | None = None
        async with self._store.transaction() as tx:
            upload = _visible(await tx.locked(upload_id), office, upload_id)
            _needed(upload)
            if offset != upload.received:
                raise OffsetMismatch(offset, upload.received)
            end = offset + len(chunk)
            if end > upload.size:
                raise PastUploadLength(end, upload.size)
            if not chunk:
                return _state(upload)
            expires = self._expires()
            sealed = self._key.seal(chunk, _chunk_context(upload.id, offset))
            received = await tx.append(upload, sealed, len(chunk), expires)
            resend = False
            if received == upload.size:
                released, resend = await self._complete(tx, upload, [(offset, chunk)])
        self._count(len(chunk), _ending(received == upload.size, resend))
        if released is not None:
            self._dedup.released(released)
        if resend:
            raise _resend(upload)
        return _state(upload, received, expires)

    async def _complete(
        self, tx: UploadTransaction, upload: Upload, fresh: list[tuple[int, bytes]]
    ) -> tuple[Outcome | None, bool]:
        """The upload has every byte: verify the whole file, then finish it (and publish a held
        approval it was the last missing piece of) or discard it. (released, resend asked)."""
        known = dict(fresh)
        digest = hashlib.sha256()
        for start, _length, sealed in await tx.chunks(upload):
            chunk = known.get(start)
            digest.update(chunk if chunk is not None else self._open(upload, start, sealed))
        if digest.hexdigest() != upload.sha256:
            await tx.discard(upload, RESEND_REQUESTED, resend=True)
            logger.warning(
                "upload %s discarded: its SHA-256 does not match the manifest; resend asked",
                upload.name[:64],
                extra={"submission_id": upload.submission_id},
            )
            return None, True
        await tx.finish(upload)
        decisions = await tx.decisions(upload.submission_id)
        if decisions is None:
            return None, False
        return await self._dedup.release_held(decisions, upload.submission_id), False

    def _open(self, upload: Upload, start: int, sealed: bytes) -> bytes:
        return self._key.open(sealed, _chunk_context(upload.id, start))

    async def terminate(self, office: str, upload_id: str) -> None:
        """DELETE: drop an unfinished upload's bytes; its URL answers 404 from now on."""
        async with self._store.transaction() as tx:
            upload = _visible(await tx.locked(upload_id), office, upload_id)
            if upload.complete:
                raise UploadComplete()
            await tx.discard(upload, None)
        self._count(0, "terminated")

    async def sweep(self, limit: int = 100) -> int:
        """Discard unfinished uploads past their Upload-Expires; returns how many."""
        now = utcnow()
        swept = 0
        for upload_id in await self._store.expired(now, limit):
            async with self._store.transaction() as tx:
                upload = await tx.locked(upload_id)
                # re-checked under the lock: a PATCH may have moved the expiry meanwhile
                if (
                    isinstance(upload, Upload)
                    and not upload.complete
                    and upload.expires_at is not None
                    and upload.expires_at < now
                ):
                    await tx.discard(upload, UPLOAD_EXPIRED)
                    swept += 1
        if swept:
            logger.info("discarded %d expired uploads", swept)
            for _ in range(swept):
                self._count(0, UPLOAD_EXPIRED)
        return swept

    async def attachments(self, submission_id: str) -> dict[str, bytes]:
        """The complete, verified attachments of a submission, opened (for the centre's own use
        and tests; never logged)."""
        out: dict[str, bytes] = {}
        for name, chunks in (await self._store.attachments(submission_id)).items():
            out[name] = b"".join(
                self._key.open(sealed, _chunk_context(row, start)) for row, start, sealed in chunks
            )
        return out


def _visible(found: Upload | Retired | None, office: str, upload_id: str) -> Upload:
    """The upload behind a URL, to its own office only; 410 for a discarded one."""
    if isinstance(found, Retired) and found.office_code == office:
        if found.rule == RESEND_REQUESTED:
            raise UploadGone(
                "the upload's SHA-256 did not match the manifest and it was discarded; "
                "create it again (POST) and send it from byte 0",
                RESEND_REQUESTED,
            )
        raise UploadGone(
            "the upload expired unfinished and was discarded; create it again (POST)",
            found.rule,
        )
    if not isinstance(found, Upload) or found.office_code != office or not found.created:
        raise UploadNotFound(f"upload {upload_id[:64]}")
    return found


def _ending(done: bool, resend: bool) -> str | None:
    if not done:
        return None
    return RESEND_REQUESTED if resend else COMPLETE


def _needed(upload: Upload) -> None:
    if upload.submission_status in _NOT_NEEDED:
        raise UploadGone(
            f"submission {upload.submission_id} was {upload.submission_status.value}: "
            "its attachments are not needed",
            "not_needed",
        )


def _resend(upload: Upload) -> UploadGone:
    return UploadGone(
        f"attachment {upload.name[:64]!r} arrived whole but its SHA-256 does not match the "
        "manifest; it was discarded: create it again (POST) and send it from byte 0",
        RESEND_REQUESTED,
    )
