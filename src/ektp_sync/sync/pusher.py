"""Pushes the outbox to the centre: claim a batch, send it, settle every item's outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from ektp_sync.config import LocalSettings
from ektp_sync.outbox import ClaimedEntry, Outbox
from ektp_sync.sync.client import BatchTooLarge, CentralClient, CentralError, CentralUnreachable
from ektp_sync.sync.health import LinkMonitor
from ektp_sync.sync.policy import RetryPolicy

logger = logging.getLogger(__name__)


class Pusher:
    """Keeps up to `max_in_flight` batches travelling; network trouble only ever delays."""

    def __init__(
        self,
        settings: LocalSettings,
        outbox: Outbox,
        client: CentralClient,
        health: LinkMonitor,
        policy: RetryPolicy,
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._client = client
        self._health = health
        self._policy = policy
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self.leased: set[str] = set()  # record ids of batches in flight, released on shutdown

    def wake(self) -> None:
        """A record was queued: look at the queue now instead of at the next idle poll."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self._slots.acquire()
                # cleared before looking, so a record queued during the claim is not missed
                self._wake.clear()
                try:
                    batch = await self._outbox.claim(
                        self._settings.batch_size,
                        self._settings.batch_bytes,
                        self._settings.lease_seconds,
                    )
                except Exception:
                    self._slots.release()
                    logger.exception("claiming from the outbox failed")
                    await self._idle()
                    continue
                if not batch:
                    self._slots.release()
                    await self._idle()
                    continue
                self.leased.update(e.record_id for e in batch)
                task = asyncio.create_task(self._deliver_and_free(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _idle(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), self._settings.idle_poll_seconds)
        except TimeoutError:
            pass

    async def _deliver_and_free(self, batch: list[ClaimedEntry]) -> None:
        self._health.in_flight_batches += 1
        cancelled = False
        try:
            await self.deliver(batch)
        except asyncio.CancelledError:
            cancelled = True  # shutdown: the worker releases these leases itself
            raise
        except Exception:
            # a bug here must not leave the batch leased until the lease runs out
            logger.exception("delivering a batch failed unexpectedly")
            try:
                await self._retry(batch, "internal error while sending; see the node's log", None)
            except Exception:
                logger.exception("could not reschedule the batch; its lease will expire")
        finally:
            self._health.in_flight_batches -= 1
            if not cancelled:
                self.leased.difference_update(e.record_id for e in batch)
            self._slots.release()
        self._wake.set()  # a slot is free: there may be more to send

    async def deliver(self, batch: list[ClaimedEntry]) -> None:
        """Send one batch and settle each item; a 413 splits the batch in halves."""
        try:
            response = await self._client.submit([self._item(e) for e in batch])
        except BatchTooLarge as exc:
            self._health.contacted()
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
        except CentralError as exc:
            self._health.failed(exc.message, answered=not isinstance(exc, CentralUnreachable))
            logger.warning("batch of %d not delivered: %s", len(batch), exc.message)
            await self._retry(batch, exc.message, exc.retry_after)
            return
        self._health.succeeded()
        by_submission = {r.submission_id: r for r in response.results if r.submission_id}
        accepted: list[str] = []
        invalid: dict[str, str] = {}
        unanswered: list[ClaimedEntry] = []
        for entry in batch:
            result = by_submission.get(entry.submission_id)
            if result is None:
                unanswered.append(entry)
            elif result.status == "accepted":
                accepted.append(entry.record_id)
            else:
                errors = "; ".join(result.errors or ["no reason given"])
                invalid[entry.record_id] = f"centre refused the record: {errors}"
        await self._outbox.ack(accepted)
        await self._outbox.fail(invalid)
        await self._retry(unanswered, "centre's answer did not mention this record", None)

    async def _retry(
        self, batch: Sequence[ClaimedEntry], error: str, retry_after: float | None
    ) -> None:
        await self._outbox.retry_later(
            [e.record_id for e in batch], error, lambda n: self._policy.delay(n, retry_after)
        )

    def _item(self, entry: ClaimedEntry) -> dict[str, Any]:
        return {
            "submission_id": entry.submission_id,
            "office_code": self._settings.office_code,
            "recorded_at": entry.recorded_at.isoformat(),
            "record": entry.payload,
        }
