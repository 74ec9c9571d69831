"""The operator's figures: what is waiting, how long until it is sent, when a card can be printed.

The model of the estimates (docs/operators.md says it for operators):

- The link's rate is record bytes (as stored, before gzip) acknowledged per second, the
  largest of the last uploads' samples (`sync/meters.py`, `Throughput`, which says why). It
  holds the uploads' round trips and the centre's intake time, so bytes ÷ rate is seconds of
  sending.
- The backlog is sent in `eta_seconds = (pending_bytes − gone up) ÷ rate + one round trip`
  (the last batch's answer), where "gone up" is what the uploads still travelling have
  probably sent already (each its share of the rate since it left): the queue counts them
  until their answer comes. Null while the link is down (it depends on when the link comes
  back) or before any rate was measured; 0 when nothing waits.
- A queued record can be printed after the bytes before its acceptance are sent, its answer
  has come back, and the centre has decided: `now + bytes_ahead ÷ rate + round trip + decision
  time`. Records travel in uploads of about `batch_bytes` (a few seconds at the rate), and a
  record is accepted when its upload's answer comes: so `bytes_ahead` is its bytes and those
  before it in the queue, rounded up to the end of the upload it travels in (never more than
  the whole backlog), less what has gone up already. The decision time is the median wait,
  from the centre's acceptance to the decision reaching this node, of the latest decisions
  (adjudications left out). A record backing off after an error of the centre is counted at
  its place in the queue.
- A record awaiting its decision: `accepted at + decision time` (not before now).
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from ektp_sync.domain.states import RecordState
from ektp_sync.storage import utcnow
from ektp_sync.wire import (
    EtaBasis,
    LinkSummary,
    NeedsAction,
    Outage,
    RecordDetail,
    RecordView,
)
from local_server.store.figures import Backlog, FigureStore
from local_server.sync.link import CentreLink
from local_server.sync.outages import HISTORY, seconds_of

S = RecordState

#: the typical decision time is read again from the database at most this often
DECISION_TIME_TTL_SECONDS = 10.0
#: outages listed on /status at most (the summary counts them all)
OUTAGES_SHOWN = 200


class Figures:
    def __init__(self, store: FigureStore, link: CentreLink) -> None:
        self._store = store
        self._link = link
        self._decision: tuple[float | None, int] = (None, 0)
        self._decision_read_at = -DECISION_TIME_TTL_SECONDS

    async def backlog(self) -> Backlog:
        return await self._store.backlog()

    def eta_seconds(self, pending_bytes: int) -> float | None:
        """Seconds until `pending_bytes` are sent at the measured rate (None: unknown)."""
        if pending_bytes <= 0:
            return 0.0
        link = self._link.figures()
        if link.up is False or not link.rate_bytes_per_s:
            return None
        to_send = max(0, pending_bytes - self._link.gone_up())
        return to_send / link.rate_bytes_per_s + _seconds(link.rtt_ms)

    async def decision_time(self) -> tuple[float | None, int]:
        """(median seconds, decisions sampled) of the centre's recent decisions."""
        if time.monotonic() - self._decision_read_at >= DECISION_TIME_TTL_SECONDS:
            waits = await self._store.decision_waits()
            self._decision = (statistics.median(waits) if waits else None, len(waits))
            if waits:  # none yet: look again next time, the first decision may be near
                self._decision_read_at = time.monotonic()
        return self._decision

    async def detail(self, view: RecordView) -> RecordDetail:
        """The record with its place in the queue and when it can be printed."""
        now = utcnow()
        decision, sampled = await self.decision_time()
        link = self._link.figures()
        basis = EtaBasis(
            rate_bytes_per_s=link.rate_bytes_per_s,
            rtt_ms=link.rtt_ms,
            decision_seconds=decision,
            decisions_sampled=sampled,
        )
        position: int | None = None
        eta: dt.datetime | None = None
        if view.state in (S.QUEUED, S.UPLOADING):
            place = await self._store.place(view.id)
            if place is not None:
                backlog = await self._store.backlog()
                position, upload = place.position, self._link.batch_bytes()
                before = bytes_before_accepted(place.bytes_through, backlog.bytes, upload)
                basis.bytes_ahead = max(0, before - self._link.gone_up())
                eta = _after_sending(now, basis.bytes_ahead, link.up, decision, basis)
            else:  # accepted between the two reads
                eta = _after_deciding(now, now, decision, basis)
        elif view.state is S.AWAITING_DECISION:
            eta = _after_deciding(now, view.sent_at or now, decision, basis)
        elif view.state is S.APPROVED:
            eta = view.decided_at or view.updated_at
        elif view.state is S.REVIEW:
            basis.missing = "in_review"
        else:
            basis.missing = "not_printable"
        return RecordDetail(
            **view.model_dump(),
            queue_position=position,
            printable_eta=eta,
            printable_eta_basis=basis,
        )

    def link_history(self) -> tuple[list[Outage], LinkSummary]:
        """Outages of the last `HISTORY` (newest first) and their total."""
        now = utcnow()
        horizon = now - HISTORY
        outages = self._link.outage_history(now)
        shown = [
            Outage(start=o.started_at, end=o.ended_at, seconds=seconds_of(o, now), cause=o.cause)
            for o in outages[:OUTAGES_SHOWN]
        ]
        # only the part of each outage inside the window counts as down time
        down = sum(
            max(0.0, ((o.ended_at or now) - max(o.started_at, horizon)).total_seconds())
            for o in outages
        )
        return shown, LinkSummary(days=HISTORY.days, outages=len(outages), down_seconds=down)


def bytes_before_accepted(through: int, backlog: int, upload_bytes: int) -> int:
    """The bytes sent before a record is accepted: those up to and including it (`through`),
    to the end of the upload it travels in (uploads of `upload_bytes`), at most the whole
    `backlog`."""
    if upload_bytes <= 0:
        return through
    uploads = -(-through // upload_bytes)  # ceiling
    return max(through, min(uploads * upload_bytes, backlog))


def _after_sending(
    now: dt.datetime, size: int, up: bool | None, decision: float | None, basis: EtaBasis
) -> dt.datetime | None:
    rate = basis.rate_bytes_per_s
    if up is False:
        basis.missing = "link_down"
    elif not rate:
        basis.missing = "rate_unknown"
    elif decision is None:
        basis.missing = "decision_time_unknown"
    else:
        sending = size / rate + _seconds(basis.rtt_ms)
        return now + dt.timedelta(seconds=sending + decision)
    return None


def _after_deciding(
    now: dt.datetime, sent_at: dt.datetime, decision: float | None, basis: EtaBasis
) -> dt.datetime | None:
    if decision is None:
        basis.missing = "decision_time_unknown"
        return None
    return max(now, sent_at + dt.timedelta(seconds=decision))


def _seconds(milliseconds: float | None) -> float:
    return (milliseconds or 0.0) / 1000.0


def needs_action(counts: dict[str, int]) -> NeedsAction:
    """What waits for a person at the office, from the counts per state."""
    return NeedsAction(
        review=counts.get(S.REVIEW.value, 0),
        rejected=counts.get(S.REJECTED.value, 0),
        failed=counts.get(S.FAILED.value, 0),
        approved_not_printed=counts.get(S.APPROVED.value, 0),
    )
