"""The dedup engine: decides pending submissions and adjudications against the gallery.

Every decision runs in one transaction that holds the dedup lock (in this process, and on
PostgreSQL across processes), first catches the gallery up with identities other processes
enrolled, and only decides rows still in the expected status. So no two deciders ever enrol
the same person twice or decide one submission twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import numpy as np

from central_server.dedup.gallery import Gallery
from central_server.dedup.rows import Rows
from central_server.errors import NotInReview, SubmissionNotFound
from central_server.metrics import CentreMetrics
from central_server.store.decisions import (
    DecisionStore,
    DecisionTransaction,
    Identity,
    Outcome,
    Submission,
)
from ektp_sync.domain.decisions import (
    DecisionStatus,
    SubmissionStatus,
    Thresholds,
    Verdict,
    adjudicate,
    decide,
)
from ektp_sync.signing import Signer
from ektp_sync.storage import utcnow
from ektp_sync.wire import Authorisation

logger = logging.getLogger(__name__)

#: identities read from the store per statement while loading the gallery at start
LOAD_CHUNK = 20_000


def issue_authorisation(signer: Signer, submission: Submission, now: dt.datetime) -> Authorisation:
    approval_no = f"KTP-{now:%Y%m%d}-{uuid.uuid4().hex[:16].upper()}"
    issued_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return signer.authorise(submission.submission_id, submission.nik, approval_no, issued_at)


def is_approval(verdict: Verdict) -> bool:
    return verdict.status is DecisionStatus.APPROVED


class DedupEngine:
    """Owns the gallery and the lock that serialises this process's users of it (the worker
    and adjudication); `on_commit` runs after every committed decision transaction."""

    def __init__(
        self,
        store: DecisionStore,
        signer: Signer,
        thresholds: Thresholds,
        on_commit: Callable[[], None] = lambda: None,
        metrics: CentreMetrics | None = None,
        rows: Rows | None = None,
    ) -> None:
        self._store = store
        self._signer = signer
        self._thresholds = thresholds
        self._on_commit = on_commit
        self._metrics = metrics
        self.gallery = Gallery(rows=rows)
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def _decision_transaction(self) -> AsyncIterator[DecisionTransaction]:
        gallery = self.gallery
        async with self._lock, gallery.locked():
            mark = gallery.checkpoint()
            try:
                async with self._store.transaction() as tx:
                    self._catch_up(await tx.identities_after(gallery.max_identity_id))
                    mark = gallery.checkpoint()
                    yield tx
            except BaseException:
                # identities added in a transaction that did not commit must not stay matchable
                gallery.rollback(mark)
                raise
            # committed: the other workers sharing the rows may match against them now (still
            # under the rows' lock, so no other process publishes in between)
            gallery.publish()
        self._on_commit()  # committed: offices waiting on the feed get them now

    def _catch_up(self, enrolled: Sequence[Identity]) -> int:
        """Add identities enrolled since we last looked (by any process); ids only grow.

        The one place templates come from the store into the gallery (decrypting them, when
        they are sealed at rest, belongs here and nowhere else)."""
        if not enrolled:
            return 0
        gallery = self.gallery
        niks = [nik for _, nik, _ in enrolled]
        new = np.nonzero(gallery.rows_of(niks) < 0)[0].tolist()
        if new:
            templates = np.frombuffer(b"".join(enrolled[i][2] for i in new), dtype=np.float32)
            gallery.add_many([niks[i] for i in new], templates.reshape(len(new), -1))
        gallery.saw_identity(enrolled[-1][0])
        return len(new)

    async def load_gallery(self) -> int:
        """Build the gallery from the identities table (at start), `LOAD_CHUNK` at a time so
        that a million identities never sit in memory twice; with shared rows the first worker
        loads them and the others find them published."""
        gallery = self.gallery
        added = 0
        async with self._lock, gallery.locked():
            while True:
                chunk = await self._store.identities_after(gallery.max_identity_id, LOAD_CHUNK)
                added += self._catch_up(chunk)
                if len(chunk) < LOAD_CHUNK:
                    break
            gallery.publish()
        return added

    async def has_pending(self) -> bool:
        return await self._store.has_pending()

    async def decide_pending(self, limit: int) -> int:
        """Decide up to `limit` pending submissions in arrival order; returns how many."""
        started = time.monotonic()
        async with self._decision_transaction() as tx:
            submissions = await tx.pending(limit)
            # one block match against the gallery as it stands; only identities this batch
            # enrols on the way are matched one by one (`_decide`), so arrival order still holds
            base_size = len(self.gallery)
            base_best = self.gallery.best_others(
                [s.nik for s in submissions],
                np.array([s.vector for s in submissions], dtype=np.float32),
            )
            outcomes = [
                self._decide(s, best, base_size)
                for s, best in zip(submissions, base_best, strict=True)
            ]
            await self._write(tx, outcomes, SubmissionStatus.PENDING)
        if outcomes:
            logger.info("decided %d pending submissions", len(outcomes))
            self._count(outcomes, time.monotonic() - started)
        return len(outcomes)

    def _count(self, outcomes: Sequence[Outcome], seconds: float | None = None) -> None:
        """Committed decisions, for /metrics and (at DEBUG, one line each) the log."""
        if logger.isEnabledFor(logging.DEBUG):
            for o in outcomes:
                logger.debug(
                    "decided %s/%s",
                    o.verdict.status.value,
                    o.verdict.reason.value,
                    extra={"submission_id": o.submission.submission_id},
                )
        if self._metrics is not None:
            verdicts = [
                (o.verdict.status.value, o.verdict.reason.value) for o in outcomes if not o.held
            ]
            self._metrics.decided(verdicts, seconds)

    def _decide(self, submission: Submission, base_best: float | None, base_size: int) -> Outcome:
        """Decide against `base_best` (best other among the first `base_size` rows, block
        matched) and the rows enrolled since by this same batch."""
        gallery = self.gallery
        vector = submission.vector
        recent = gallery.best_other(submission.nik, vector, start=base_size)
        candidates = [v for v in (base_best, recent) if v is not None]
        verdict = decide(
            gallery.similarity_to(submission.nik, vector),
            max(candidates) if candidates else None,
            self._thresholds,
        )
        return self._outcome(submission, verdict)

    def _outcome(self, submission: Submission, verdict: Verdict) -> Outcome:
        """Also adds a newly enrolled person to the gallery at once, so that later items of
        the same batch match against them (undone by the transaction's rollback if need be)."""
        now = utcnow()
        approved = is_approval(verdict)
        # an adjudicated approval of a NIK nobody holds yet enrols a person too
        enrols = approved and submission.nik not in self.gallery
        if enrols:
            self.gallery.add(submission.nik, submission.vector)
        # the person is enrolled at once (de-duplication must not wait for the packet), but the
        # authorisation is signed only once every attachment arrived whole (`release_held`)
        held = approved and not submission.packet_complete
        signs = approved and not held
        authorisation = issue_authorisation(self._signer, submission, now) if signs else None
        return Outcome(submission, verdict, authorisation, enrols, now, held=held)

    async def release_held(self, tx: DecisionTransaction, submission_id: str) -> Outcome | None:
        """Sign and publish a held approval whose packet is now complete, in `tx` (the caller's
        transaction, which holds the dedup lock and finished the last upload); None when the
        submission is not held (not decided yet, or not an approval). Call `released` after
        the commit."""
        found = await tx.submission(submission_id)
        if found is None or found[1] is not SubmissionStatus.HELD:
            return None
        submission, _ = found
        verdict = await tx.held_verdict(submission.id)
        now = utcnow()
        outcome = Outcome(
            submission, verdict, issue_authorisation(self._signer, submission, now), False, now
        )
        await tx.write([outcome], SubmissionStatus.HELD)
        return outcome

    def released(self, outcome: Outcome) -> None:
        """After the commit of `release_held`: wake the feed's long polls, count it."""
        logger.info(
            "held approval released", extra={"submission_id": outcome.submission.submission_id}
        )
        self._on_commit()
        self._count([outcome])

    async def _write(
        self, tx: DecisionTransaction, outcomes: list[Outcome], status: SubmissionStatus
    ) -> None:
        highest = await tx.write(outcomes, status)
        if highest is not None:
            self.gallery.saw_identity(highest)

    async def adjudicate(self, submission_id: str, approve: bool) -> None:
        """An adjudicator's answer to a `review`; SubmissionNotFound or NotInReview otherwise."""
        async with self._decision_transaction() as tx:
            found = await tx.submission(submission_id)
            if found is None:
                raise SubmissionNotFound(submission_id)
            submission, status = found
            if status is not SubmissionStatus.REVIEW:
                raise NotInReview(submission_id, status)
            outcome = self._outcome(submission, adjudicate(approve))
            await self._write(tx, [outcome], status)
        logger.info(
            "review adjudicated: %s",
            outcome.verdict.status.value,
            extra={"submission_id": submission_id},
        )
        self._count([outcome])
