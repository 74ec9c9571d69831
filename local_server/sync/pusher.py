"""Pushes the outbox to the centre: claim a batch, send it, settle every item's outcome."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence

from ektp_sync.config import LocalSettings
from local_server.errors import BatchTooLarge, CentreBusy, CentreExchangeError, CentreUnreachable
from local_server.store.queue import ClaimedEntry, Outbox
from local_server.sync.client import item_json
from local_server.sync.link import CentreLink
from local_server.sync.stopping import Abandoned

logger = logging.getLogger(__name__)

_INTERNAL_ERROR = "internal error while sending; see the node's log"
#: how each of the centre's refusal texts ends: the rule it names (e.g. `nik_birth_date`)
_RULE = re.compile(r"\(rule (\w+)\)")


def refused_rules(errors: Sequence[str]) -> str:
    """The rules a refusal names, for the log. Only those: its texts quote the record (a NIK,
    its birth-date digits, a name), which the log's mask cannot all recognise; they are kept
    sealed on the record, for the operator."""
    return ", ".join(sorted({rule for e in errors for rule in _RULE.findall(e)})) or "none named"


class Pusher:
    """Keeps up to `max_in_flight` batches travelling; network trouble only ever delays."""

    def __init__(self, settings: LocalSettings, outbox: Outbox, link: CentreLink) -> None:
        self._settings = settings
        self._outbox = outbox
        self._link = link
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self.leased: set[str] = set()  # record ids of batches in flight, released on shutdown
        #: called when the centre accepted records (their attachments may now go up)
        self.on_accepted: Callable[[], None] = lambda: None

    def wake(self) -> None:
        """A record was queued: look at the queue now instead of at the next idle poll."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until the stop signal; then wait for the batches still travelling."""
        try:
            while not self._link.stopping:
                await self._slots.acquire()
                if self._link.stopping:
                    self._slots.release()
                    break
                if self._link.refused is not None:
                    # a centre offering another key than the pinned one gets no records
                    self._slots.release()
                    self._wake.clear()
                    await self._link.sleep(self._settings.idle_poll_seconds, self._wake)
                    continue
                if not self._link.admit():
                    self._slots.release()
                    wait = min(self._link.until_probe(), self._settings.idle_poll_seconds)
                    # records queued meanwhile cannot go before the probe anyway; a wake-up
                    # left set would turn this wait into a busy loop for the whole outage
                    # (the breaker's close sets it again)
                    self._wake.clear()
                    await self._link.sleep(wait, self._wake)
                    continue
                probe = self._link.probing
                # cleared before looking, so a record queued during the claim is not missed
                self._wake.clear()
                batch = await self._claim(1 if probe else self._settings.batch_size)
                if not batch:
                    if probe:
                        self._link.unused_probe()
                    self._slots.release()
                    await self._link.sleep(self._settings.idle_poll_seconds, self._wake)
                    continue
                self.leased.update(e.record_id for e in batch)
                task = asyncio.create_task(self._deliver_and_free(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            # only reached by the stop signal, or by cancellation as the worker's last resort
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _claim(self, size: int) -> list[ClaimedEntry]:
        try:
            return await self._outbox.claim(
                size, self._link.batch_bytes(), self._settings.lease_seconds
            )
        except Exception:
            logger.exception("claiming from the outbox failed")
            return []

    async def _deliver_and_free(self, batch: list[ClaimedEntry]) -> None:
        kept = False
        with self._link.sending(sum(e.size for e in batch)):
            try:
                await self.deliver(batch)
            except Abandoned:
                kept = True  # shutdown: the worker releases these leases itself
            except Exception as exc:
                # a bug here must not leave the batch leased until the lease runs out, nor a
                # probe unanswered (the breaker would wait for its outcome for ever)
                self._link.failed(exc)
                logger.exception("delivering a batch failed unexpectedly")
                try:
                    await self._retry(batch, _INTERNAL_ERROR, None)
                except Exception:
                    logger.exception("could not reschedule the batch; its lease will expire")
            except asyncio.CancelledError:
                kept = True
                raise
            finally:
                if not kept:
                    self.leased.difference_update(e.record_id for e in batch)
                self._slots.release()
        self._wake.set()  # a slot is free: there may be more to send

    async def deliver(self, batch: list[ClaimedEntry]) -> None:
        """Send one batch and settle each item; a 413 splits the batch in halves."""
        try:
            items = [self._item(e) for e in batch]
            started = time.monotonic()
            response = await self._link.submit(items)
            took = time.monotonic() - started
        except BatchTooLarge as exc:
            self._link.failed(exc)  # the centre answered: the link works, the batch was too big
            if len(batch) == 1:
                entry = batch[0]
                await self._outbox.fail(
                    {entry.record_id: f"centre refused the record as too large ({exc.message})"}
                )
                return
            half = len(batch) // 2
            await self.deliver(batch[:half])
            await self.deliver(batch[half:])
            return
        except CentreExchangeError as exc:
            self._link.failed(exc)
            # during an outage the link said so once; each probe's failure is no news
            level = logging.DEBUG if self._link.up is False else logging.INFO
            logger.log(level, "batch of %d not delivered: %s", len(batch), exc.message)
            if isinstance(exc, (CentreUnreachable, CentreBusy)):
                # the link or the centre's load is at fault, not these records: the breaker
                # paces the link, so the records stay near the front instead of backing off
                await self._retry(batch, exc.message, exc.retry_after, link_fault=True)
            else:
                await self._retry(batch, exc.message, exc.retry_after)
            return
        self._link.succeeded(sent_bytes=sum(e.size for e in batch), seconds=took)
        by_submission = {r.submission_id: r for r in response.results if r.submission_id}
        accepted: list[str] = []
        invalid: dict[str, str] = {}
        rules: dict[str, str] = {}
        unanswered: list[ClaimedEntry] = []
        for entry in batch:
            result = by_submission.get(entry.submission_id)
            if result is None:
                unanswered.append(entry)
            elif result.status == "accepted":
                accepted.append(entry.record_id)
            else:
                errors = result.errors or ["no reason given"]
                invalid[entry.record_id] = f"centre refused the record: {'; '.join(errors)}"
                rules[entry.record_id] = refused_rules(errors)
        await self._outbox.ack(accepted)
        if accepted:
            self.on_accepted()
        await self._outbox.fail(invalid)
        for entry in batch:
            if entry.record_id in invalid:
                logger.warning(
                    "centre refused the record as invalid (rules: %s); an operator must correct it",
                    rules[entry.record_id],
                    extra={"record_id": entry.record_id, "submission_id": entry.submission_id},
                )
        await self._retry(unanswered, "centre's answer did not mention this record", None)

    async def _retry(
        self,
        batch: Sequence[ClaimedEntry],
        error: str,
        retry_after: float | None,
        *,
        link_fault: bool = False,
    ) -> None:
        def delay(attempts: int) -> float:
            if link_fault:
                # due again at once (or at the centre's Retry-After): a reset on a link that
                # answers is usually over by the next try, and a dead link opens the breaker,
                # which then lets one probe through per interval
                return retry_after or 0.0
            return self._link.backoff(attempts, retry_after)

        await self._outbox.retry_later([e.record_id for e in batch], error, delay)

    def _item(self, entry: ClaimedEntry) -> str:
        return item_json(
            entry.submission_id, self._settings.office_code, entry.recorded_at, entry.payload_json
        )
