"""The dedup engine: decides pending submissions and adjudications against the gallery.

Every decision runs in one transaction that holds the dedup lock (in this process, and on
PostgreSQL across processes), first catches the gallery up with identities other processes
enrolled, and only decides rows still in the expected status. So no two deciders ever enrol
the same person twice or decide one submission twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central_server.db import DEDUP_LOCK_KEY, advisory_xact_lock
from central_server.dedup.recording import (
    Outcome,
    Submission,
    is_approval,
    issue_authorisation,
    write_outcomes,
)
from central_server.errors import Conflict, NotFound
from central_server.state import CentralState
from central_server.tables import enrollments, identities
from ektp_sync.domain.decisions import Verdict, adjudicate, decide
from ektp_sync.storage import utcnow

logger = logging.getLogger(__name__)

_SUBMISSION_COLUMNS = (
    enrollments.c.id,
    enrollments.c.submission_id,
    enrollments.c.office_code,
    enrollments.c.nik,
    enrollments.c.template,
)


class DedupEngine:
    def __init__(self, state: CentralState) -> None:
        self._state = state

    @asynccontextmanager
    async def _decision_transaction(self) -> AsyncIterator[AsyncConnection]:
        gallery = self._state.gallery
        async with self._state.dedup_lock:
            mark = gallery.checkpoint()
            try:
                async with self._state.engine.begin() as conn:
                    await advisory_xact_lock(conn, DEDUP_LOCK_KEY)
                    await self._catch_up(conn)
                    mark = gallery.checkpoint()
                    yield conn
            except BaseException:
                # identities added in a transaction that did not commit must not stay matchable
                gallery.rollback(mark)
                raise
        self._state.decided.pulse()  # committed: offices waiting on the feed get them now

    async def _catch_up(self, conn: AsyncConnection) -> int:
        """Add identities enrolled since we last looked (by any process); ids only grow."""
        gallery = self._state.gallery
        rows = await conn.execute(
            select(identities.c.id, identities.c.nik, identities.c.template)
            .where(identities.c.id > gallery.max_identity_id)
            .order_by(identities.c.id)
        )
        added = 0
        for row in rows:
            if row.nik not in gallery:
                gallery.add(row.nik, np.frombuffer(row.template, dtype=np.float32))
                added += 1
            gallery.saw_identity(row.id)
        return added

    async def load_gallery(self) -> int:
        """Build the gallery from the identities table (at start)."""
        async with self._state.dedup_lock, self._state.engine.connect() as conn:
            return await self._catch_up(conn)

    async def has_pending(self) -> bool:
        async with self._state.engine.connect() as conn:
            found = await conn.scalar(select(exists().where(enrollments.c.status == "pending")))
        return bool(found)

    async def decide_pending(self, limit: int) -> int:
        """Decide up to `limit` pending submissions in arrival order; returns how many."""
        async with self._decision_transaction() as conn:
            rows = await conn.execute(
                select(*_SUBMISSION_COLUMNS)
                .where(enrollments.c.status == "pending")
                .order_by(enrollments.c.id)
                .limit(limit)
            )
            submissions = [Submission(**row._mapping) for row in rows]
            # one block match against the gallery as it stands; only identities this batch
            # enrols on the way are matched one by one (`_decide`), so arrival order still holds
            base_size = len(self._state.gallery)
            base_best = self._state.gallery.best_others(
                [s.nik for s in submissions],
                np.array([s.vector for s in submissions], dtype=np.float32),
            )
            outcomes = [
                self._decide(s, best, base_size)
                for s, best in zip(submissions, base_best, strict=True)
            ]
            await self._write(conn, outcomes, "pending")
        if outcomes:
            logger.info("decided %d pending submissions", len(outcomes))
        return len(outcomes)

    def _decide(self, submission: Submission, base_best: float | None, base_size: int) -> Outcome:
        """Decide against `base_best` (best other among the first `base_size` rows, block
        matched) and the rows enrolled since by this same batch."""
        gallery = self._state.gallery
        vector = submission.vector
        recent = gallery.best_other(submission.nik, vector, start=base_size)
        candidates = [v for v in (base_best, recent) if v is not None]
        verdict = decide(
            gallery.similarity_to(submission.nik, vector),
            max(candidates) if candidates else None,
            self._state.settings.thresholds,
        )
        return self._outcome(submission, verdict)

    def _outcome(self, submission: Submission, verdict: Verdict) -> Outcome:
        """Also adds a newly enrolled person to the gallery at once, so that later items of
        the same batch match against them (undone by the transaction's rollback if need be)."""
        now = utcnow()
        approved = is_approval(verdict)
        # an adjudicated approval of a NIK nobody holds yet enrols a person too
        enrols = approved and submission.nik not in self._state.gallery
        if enrols:
            self._state.gallery.add(submission.nik, submission.vector)
        authorisation = (
            issue_authorisation(self._state.signer, submission, now) if approved else None
        )
        return Outcome(submission, verdict, authorisation, enrols, now)

    async def _write(self, conn: AsyncConnection, outcomes: list[Outcome], status: str) -> None:
        highest = await write_outcomes(conn, outcomes, status)
        if highest is not None:
            self._state.gallery.saw_identity(highest)

    async def adjudicate(self, submission_id: str, approve: bool) -> None:
        """An adjudicator's answer to a `review`; 404 when unknown, 409 when not in review."""
        async with self._decision_transaction() as conn:
            row = (
                await conn.execute(
                    select(*_SUBMISSION_COLUMNS, enrollments.c.status).where(
                        enrollments.c.submission_id == submission_id
                    )
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"no submission {submission_id}")
            if row.status != "review":
                raise Conflict(
                    f"submission {submission_id} is {row.status}, not review; only a review "
                    "can be adjudicated",
                    "not_in_review",
                )
            submission = Submission(
                id=row.id,
                submission_id=row.submission_id,
                office_code=row.office_code,
                nik=row.nik,
                template=row.template,
            )
            await self._write(conn, [self._outcome(submission, adjudicate(approve))], "review")
