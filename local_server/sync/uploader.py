"""Uploads the attachments of accepted records to the centre as resumable tus uploads.

A lane of its own beside the pusher (cores) and the puller (decisions), with its own
connections: cores and decisions never wait behind packets. Up to `upload_streams` files go up
at once, oldest record first. Each file: create the upload once (its path is stored), then
PATCH chunks from the acknowledged offset, each with its SHA-256, each acknowledged offset
stored before the next chunk leaves. After a cut the centre is asked the offset (HEAD) and only
the missing bytes go again; a chunk is a second or so of the measured link, so a cut costs at
most that. An upload the centre discarded (expired, or its whole SHA-256 did not match the
manifest: a server-requested resend) starts again from byte zero, and the reason stays on the
file for the operator. A transfer problem never fails a record: it is retried, for as long as
it takes. Records that are rejected get their remaining uploads cancelled (DELETE).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass

from ektp_sync.config import LocalSettings
from ektp_sync.sealing import DataKey
from ektp_sync.storage import utcnow
from ektp_sync.wire import PacketStatus, PacketUpload
from local_server.errors import CentreExchangeError, CentreStatusError
from local_server.store.packets import DueFile, PacketStore
from local_server.sync.client import CentreClient
from local_server.sync.link import CentreLink
from local_server.sync.packing import context
from local_server.sync.sizing import ChunkSizer
from local_server.sync.stopping import Abandoned
from local_server.sync.tus import (
    CHECKSUM_MISMATCH,
    GONE,
    NOT_NEEDED,
    OFFSET_MISMATCH,
    TusClient,
)

logger = logging.getLogger(__name__)

#: cuts in a row on one file that are resumed at once; beyond, with a short pause
QUICK_RETRIES = 3
#: the longest pause between resumptions of a file whose connections keep being cut
MAX_CUT_PAUSE = 2.0
#: uploads created ahead at once
CREATE_AT_ONCE = 4
#: files looked at per pick (the streams take the first not already travelling)
PICK = 32


@dataclass
class InFlight:
    """A file travelling now, for `ektp-sync status`."""

    record_id: str
    name: str
    size: int
    acked: int


class _Restart(Exception):
    """The centre no longer has the upload: start a new one from byte zero."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _NotNeeded(Exception):
    """The centre decided the record without the packet (rejected): stop; the decision, when
    it arrives, cancels the file."""


class Uploader:
    def __init__(
        self,
        settings: LocalSettings,
        packets: PacketStore,
        link: CentreLink,
        key: DataKey,
        client: CentreClient | None = None,
    ) -> None:
        self._settings = settings
        self._packets = packets
        self._link = link
        self._key = key
        # a pool of its own, one connection per stream (and one to spare for cancelling)
        own = settings.model_copy(update={"max_in_flight": settings.upload_streams})
        self._client = client or CentreClient(own)
        self._tus = TusClient(self._client)
        self._wake = asyncio.Event()
        self._pick = asyncio.Lock()
        self.in_flight: dict[tuple[str, str], InFlight] = {}
        self.sizer = ChunkSizer(settings.chunk_bytes, settings.chunk_seconds)
        #: uploads created ahead (`_create_loop`) that no stream has sent anything of yet
        self._fresh: dict[tuple[str, str], str] = {}

    async def status(self) -> PacketStatus:
        """Attachment bytes still to go up, and the files travelling now (for /status)."""
        waiting = await self._packets.figures()
        return PacketStatus(
            files_waiting=waiting.files_waiting,
            records_waiting=waiting.records_waiting,
            bytes_waiting=waiting.bytes_waiting,
            in_flight=[
                PacketUpload(record_id=f.record_id, name=f.name, size=f.size, acked=f.acked)
                for f in self.in_flight.values()
            ],
        )

    def wake(self) -> None:
        """Records were accepted or decided: look for work now."""
        self._wake.set()

    async def run(self) -> None:
        streams = [self._stream() for _ in range(self._settings.upload_streams)]
        try:
            await asyncio.gather(*streams, self._settle_loop(), self._create_loop())
        finally:
            await self._client.aclose()

    # -- one stream: a file at a time

    async def _stream(self) -> None:
        idle = self._settings.idle_poll_seconds
        while not self._link.stopping:
            wait = self._link.until_probe()
            if wait > 0:  # the circuit is open: the pusher's probes find out when it closes
                await self._link.sleep(min(wait, idle), self._wake)
                continue
            job = await self._next()
            if job is None:
                await self._link.sleep(idle, self._wake)
                continue
            slot = (job.record_id, job.name)
            try:
                await self._send(job)
            except Abandoned:
                return  # shutdown: the acknowledged offset is stored; the rest goes next time
            except Exception:
                logger.exception("uploading an attachment failed unexpectedly")
                await self._later(job, "internal error while uploading; see the node's log", 1)
            finally:
                self.in_flight.pop(slot, None)
                self._fresh.pop(slot, None)

    async def _next(self) -> DueFile | None:
        async with self._pick:
            self._wake.clear()  # before looking, so a wake-up during the query is not missed
            try:
                due = await self._packets.due(PICK, utcnow())
            except Exception:
                logger.exception("looking for attachments to upload failed")
                return None
            for job in due:
                slot = (job.record_id, job.name)
                if slot not in self.in_flight:
                    self.in_flight[slot] = InFlight(job.record_id, job.name, job.size, job.acked)
                    return job
        return None

    async def _send(self, job: DueFile) -> None:
        """Upload one file until it is complete, moot, or has to wait."""
        sealed = await self._packets.content(job.record_id, job.name)
        if sealed is None:
            return
        raw = self._key.open(sealed, context(job.record_id, job.name))
        path: str | None = self._fresh.pop((job.record_id, job.name), None)
        if path is not None:  # created ahead by this process, nothing sent yet
            offset, known = 0, True
        else:
            path, offset, known = job.upload_url, job.acked, job.upload_url is None
        cuts = 0
        refused: str | None = None  # the centre's last refusal: why a discarded upload went
        signal = self._link.signal
        while not self._link.stopping:
            try:
                if path is None:
                    meta = {"submission_id": job.submission_id, "name": job.name}
                    meta["sha256"] = job.sha256
                    path = await signal.unless_abandoned(self._tus.create(job.size, meta))
                    if not await self._packets.created(job.record_id, job.name, path):
                        await self._discard(path)  # cancelled meanwhile
                        return
                    offset, known = 0, True
                if not known:
                    offset = await self._offset(path, refused)
                    known = True
                if offset >= job.size:
                    await self._packets.done(job.record_id, job.name, path, job.size)
                    return
                offset = await self._chunk(path, offset, raw, refused)
                self.in_flight[(job.record_id, job.name)].acked = offset
                cuts = 0
                if offset >= job.size:
                    await self._packets.done(job.record_id, job.name, path, job.size)
                    logger.info("attachment uploaded", extra={"record_id": job.record_id})
                    return
                if not await self._packets.progress(job.record_id, job.name, path, offset):
                    return  # cancelled (or restarted) meanwhile
            except _NotNeeded:
                later = utcnow() + dt.timedelta(seconds=self._link.backoff(job.attempts + 1))
                await self._packets.retry_later(
                    job.record_id, job.name, _NOT_NEEDED, later, restart=False
                )
                return
            except _Restart as restart:
                if not await self._packets.retry_later(
                    job.record_id, job.name, restart.reason, utcnow(), restart=True
                ):
                    return
                logger.info("attachment starts again: %s", restart.reason)
                path, offset, known = None, 0, True
            except CentreStatusError as exc:
                known, refused = False, _reason(exc)
                if exc.status_code == CHECKSUM_MISMATCH or exc.status_code == OFFSET_MISMATCH:
                    cuts += 1  # damaged on the way, or we were behind: ask and send again
                    if cuts <= QUICK_RETRIES:
                        continue
                if exc.status_code >= 500:
                    self._link.failed(exc)  # the centre is in trouble: the breaker hears of it
                await self._later(job, _reason(exc), cuts + 1, exc.retry_after)
                return
            except CentreExchangeError as exc:
                # a cut: the link answers again at once, usually. Resume the same file at once
                # from the last acknowledged offset, without asking first: the centre commits
                # whole chunks only, so a cut mid-chunk (nearly every cut) left it there, and
                # the rare cut that came after the commit is answered 409 and then asked (HEAD).
                # A backoff per file would idle the link; a dead centre opens the breaker (the
                # pusher's and puller's exchanges), and then the stream waits with them.
                cuts += 1
                await self._packets.retry_later(
                    job.record_id, job.name, exc.message, utcnow(), restart=False
                )
                if self._link.until_probe() > 0:
                    return
                if cuts > QUICK_RETRIES:
                    pause = min(self._link.backoff(cuts - QUICK_RETRIES), MAX_CUT_PAUSE)
                    await self._link.sleep(pause)

    async def _offset(self, path: str, refused: str | None) -> int:
        """HEAD: the centre's offset. A gone upload raises `_Restart`."""
        try:
            return await self._link.signal.unless_abandoned(self._tus.offset(path))
        except CentreStatusError as exc:
            _gone(exc, refused)
            raise

    async def _chunk(self, path: str, offset: int, raw: bytes, refused: str | None) -> int:
        """PATCH the next chunk; the centre's new offset. A gone upload raises `_Restart`."""
        streams = max(1, len(self.in_flight))
        chunk = raw[offset : offset + self.sizer.chunk_bytes(streams)]
        started = time.monotonic()
        try:
            with self._link.sending(len(chunk)):
                new_offset = await self._link.signal.unless_abandoned(
                    self._tus.patch(path, offset, chunk)
                )
        except CentreStatusError as exc:
            _gone(exc, refused)
            raise
        took = time.monotonic() - started
        logger.debug("chunk of %d bytes took %.3fs (%d streams)", len(chunk), took, streams)
        self.sizer.observe(len(chunk), took, max(1, len(self.in_flight)))
        self._link.succeeded(sent_bytes=len(chunk), seconds=took)
        return new_offset

    async def _later(
        self, job: DueFile, error: str, attempts: int, retry_after: float | None = None
    ) -> None:
        delay = self._link.backoff(attempts, retry_after)
        when = utcnow() + dt.timedelta(seconds=delay)
        try:
            await self._packets.retry_later(job.record_id, job.name, error, when, restart=False)
        except Exception:
            logger.exception("could not reschedule an attachment upload")

    # -- uploads created ahead

    async def _create_loop(self) -> None:
        """Create the uploads of the next files while the streams send the current ones: a
        stream then starts a file with its first chunk, not with a round trip of creation."""
        while not self._link.stopping:
            try:
                created = await self._create_ahead()
            except Abandoned:
                return
            except Exception:
                logger.exception("creating uploads ahead failed")
                created = 0
            if not created:
                await self._link.sleep(self._settings.idle_poll_seconds, self._wake)

    async def _create_ahead(self) -> int:
        if self._link.until_probe() > 0:
            return 0
        ahead = 2 * self._settings.upload_streams
        due = await self._packets.due(ahead + len(self.in_flight), utcnow())
        todo = [
            job
            for job in due
            if job.upload_url is None and (job.record_id, job.name) not in self.in_flight
        ][: max(0, ahead - len(self._fresh))]
        made = await asyncio.gather(*(self._create(job) for job in todo[:CREATE_AT_ONCE]))
        return sum(made)

    async def _create(self, job: DueFile) -> bool:
        meta = {"submission_id": job.submission_id, "name": job.name, "sha256": job.sha256}
        try:
            path = await self._link.signal.unless_abandoned(self._tus.create(job.size, meta))
        except CentreExchangeError:
            return False  # the stream that takes the file will try, and say why
        if await self._packets.created(job.record_id, job.name, path):
            self._fresh[(job.record_id, job.name)] = path
        else:
            await self._discard(path)
        return True

    async def _discard(self, path: str) -> None:
        """An upload created for a file that was cancelled meanwhile: the centre keeps nothing
        of it (it would otherwise expire there)."""
        try:
            await self._link.signal.unless_abandoned(self._tus.delete(path))
        except CentreExchangeError as exc:
            logger.info("deleting an unneeded upload failed; it will expire: %s", exc.message)

    # -- files whose record was decided

    async def _settle_loop(self) -> None:
        while not self._link.stopping:
            try:
                await self._settle()
            except Abandoned:
                return
            except Exception:
                logger.exception("settling decided records' attachments failed")
            await self._link.sleep(self._settings.idle_poll_seconds, self._wake)

    async def _settle(self) -> None:
        """Cancel the uploads of rejected records (DELETE at the centre: it keeps nothing of a
        card that will not be printed); close the files of approved ones."""
        for moot in await self._packets.moot(PICK):
            if moot.cancel and moot.upload_url is not None:
                try:
                    await self._link.signal.unless_abandoned(self._tus.delete(moot.upload_url))
                except CentreExchangeError as exc:
                    logger.info("cancelling an upload failed, tried again later: %s", exc.message)
                    continue
            await self._packets.settle(moot)


_NOT_NEEDED = "the centre no longer needs this attachment (the record was decided without it)"


def _gone(exc: CentreStatusError, refused: str | None) -> None:
    """A gone upload: not needed any more, or to be sent again from byte zero."""
    if exc.status_code not in GONE:
        return
    if exc.rule == NOT_NEEDED:
        raise _NotNeeded() from exc
    raise _Restart(_resend_reason(exc, refused)) from exc


def _reason(exc: CentreStatusError) -> str:
    return f"{exc.message}: {exc.detail}" if exc.detail else exc.message


def _resend_reason(exc: CentreStatusError, refused: str | None) -> str:
    """Why a file starts again: the refusal that made the centre discard the upload (e.g. its
    whole SHA-256 missed the manifest), else that the upload is gone (expired)."""
    why = exc.detail or refused or f"its upload is gone ({exc.status_code})"
    return f"the centre asked for the attachment again: {why}"
