"""Follows the centre's decisions feed from a persisted cursor, applying only decisions that
verify with the pinned key of the centre (see `trust`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ektp_sync.config import LocalSettings
from local_server.errors import CentreBusy, CentreExchangeError, CentreUnreachable
from local_server.store.decisions import CURSOR_KEY, Inbox
from local_server.sync.link import CentreLink
from local_server.sync.stopping import Abandoned
from local_server.sync.trust import CentreTrust, KeyRefused

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
#: how often the key the centre offers is compared with the pin again (and at every start)
KEY_RECHECK_SECONDS = 300.0


class Puller:
    """Applies the centre's decisions in feed order; the cursor moves with the applied page."""

    def __init__(
        self, settings: LocalSettings, inbox: Inbox, link: CentreLink, trust: CentreTrust
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._link = link
        self.trust = trust
        self._key_checked_at: float | None = None
        self._wake = asyncio.Event()
        #: called after decisions were applied (the uploader cancels what a rejection made moot)
        self.on_decided: Callable[[], None] = lambda: None

    async def run(self) -> None:
        """Poll the feed until the stop signal; an exchange cut short by shutdown is dropped."""
        failures = 0
        while not self._link.stopping:
            self._wake.clear()
            if not self._link.admit():
                wait = min(self._link.until_probe(), self._settings.decisions_poll_seconds)
                await self._link.sleep(wait, self._wake)
                continue
            try:
                await self.check_key()
                started = time.monotonic()
                got = await self.pull_once()
                failures = 0
                if got:
                    continue  # the feed is moving: ask again, the centre holds it if empty
                # an empty answer came after the centre's long poll; a centre that does not
                # hold answers (no `wait`) is asked no more than once per poll interval
                delay = self._settings.decisions_poll_seconds - (time.monotonic() - started)
            except Abandoned:
                return
            except KeyRefused as exc:
                # not a failure of the link: the centre answers, but it is not the one we trust
                if self._link.refused != str(exc):
                    logger.error("%s", exc)  # once, not at every poll
                self._link.succeeded()  # the link works (a probe must not stay unanswered)
                self._link.refuse(str(exc))
                delay = self._settings.decisions_poll_seconds
            except (CentreUnreachable, CentreBusy) as exc:
                # the link or the centre's load: the breaker paces the link for both loops and
                # wakes us when it closes; a backoff of our own would sleep through the recovery
                self._link.failed(exc)
                delay = max(self._settings.decisions_poll_seconds, exc.retry_after or 0.0)
            except CentreExchangeError as exc:
                failures += 1
                self._link.failed(exc)
                delay = max(
                    self._settings.decisions_poll_seconds,
                    self._link.backoff(failures, exc.retry_after),
                )
            except Exception as exc:
                failures += 1
                self._link.failed(exc)  # a probe that ends this way must not hold the breaker
                logger.exception("pulling decisions failed unexpectedly")
                delay = self._link.backoff(failures)
            await self._link.sleep(delay, self._wake)

    def wake(self) -> None:
        """The breaker closed: the centre answers again, ask for decisions now."""
        self._wake.set()

    async def check_key(self) -> None:
        """Compare the key the centre offers with the pin (pinning it first under
        --trust-first-key): at start, every few minutes, and each time while it is refused.
        KeyRefused when it differs."""
        now = time.monotonic()
        checked = self._key_checked_at
        if checked is not None and now - checked < KEY_RECHECK_SECONDS:
            return
        # not reported as the link's success: while probing, the feed's answer (asked without
        # a hold) is the probe's outcome
        await self.trust.check_offer(await self._link.keys())
        self._link.refuse(None)
        self._key_checked_at = now

    async def pull_once(self) -> int:
        """Fetch and apply one page (held by the centre up to the long-poll wait while the
        feed is empty); return how many decisions it held."""
        cursor = await self._inbox.get(CURSOR_KEY)
        # a probe of the breaker must come back at once: held, it would keep the circuit
        # half-open, and the pusher waiting, for the whole long poll
        wait = 0.0 if self._link.probing else self._settings.decisions_wait
        started = time.monotonic()
        page = await self._link.decisions(cursor, PAGE_SIZE, wait)
        # an answer the centre held for the long poll says nothing of the wire's delay
        unheld = wait == 0 or bool(page.decisions)
        self._link.succeeded(round_trip=time.monotonic() - started if unheld else None)
        if page.decisions or page.next != cursor:
            verified, refused = [], []
            for decision in page.decisions:
                why = self.trust.refusal(decision)
                if why is None:
                    verified.append(decision)
                    continue
                refused.append((decision.submission_id, why))
                logger.error(
                    "decision from the centre not applied: %s",
                    why,
                    extra={"submission_id": decision.submission_id},
                )
            applied = await self._inbox.apply(verified, page.next, dict(refused))
            for _, why in refused:  # counted once their notes are committed
                self.trust.refused(why)
            if applied:
                logger.info("applied %d decisions from the centre", applied)
                self.on_decided()
        return len(page.decisions)
