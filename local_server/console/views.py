"""What the pages show, made from the service's answers: a record's timeline and its estimate
in words, the lists of records that need a person, the link's week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from ektp_sync.domain.states import RecordState
from ektp_sync.storage import utcnow
from ektp_sync.wire import NodeStatus, Outage, RecordDetail
from local_server.console.formats import Formats

S = RecordState
Translate = Callable[..., str]

#: the demographic fields a correction form offers (biometrics are retaken, not typed)
CORRECTABLE = ("nik", "full_name", "birth_place", "birth_date", "sex", "address")


@dataclass(frozen=True)
class Event:
    at: dt.datetime | None
    text: str
    tone: str = ""  # "", "bad", "good": how the timeline marks it


def timeline(record: RecordDetail, t: Translate, f: Formats) -> list[Event]:
    """What happened to the record, oldest first."""
    events = [Event(record.created_at, t("ev.recorded"))]
    for past in record.history:
        events.append(
            Event(
                past.superseded_at,
                t("ev.past", reason=past.reason or "–", n=past.attempts),
                "bad",
            )
        )
        fields = ", ".join(past.changed_fields) or "–"
        events.append(
            Event(past.superseded_at, t(f"ev.resent.{past.superseded_by}", fields=fields))
        )
    if record.attempts and record.last_error:
        events.append(
            Event(
                record.updated_at,
                t("ev.attempts", n=record.attempts, error=record.last_error),
                "bad",
            )
        )
    if record.next_attempt_at is not None and record.state is S.QUEUED and record.attempts:
        events.append(
            Event(record.next_attempt_at, t("ev.next", when=f.when(record.next_attempt_at)))
        )
    if record.sent_at is not None:
        events.append(Event(record.sent_at, t("ev.sent")))
    if record.decision is not None:
        events.append(
            Event(
                record.decided_at,
                t(
                    "ev.decided",
                    status=t(f"state.{record.decision.status}"),
                    reason=t(f"reason.{record.decision.reason}"),
                ),
                "bad" if record.decision.status == "rejected" else "good",
            )
        )
    if record.printed_at is not None:
        events.append(Event(record.printed_at, t("ev.printed"), "good"))
    return events


@dataclass(frozen=True)
class Estimate:
    when: str | None  # the estimate, or None with `why` saying why there is none
    why: str


def estimate(record: RecordDetail, t: Translate, f: Formats) -> Estimate:
    """The printable estimate and the assumption it rests on, in the operator's words."""
    basis = record.printable_eta_basis
    eta = record.printable_eta
    if record.state is S.PRINTED:
        return Estimate(None, t("rec.printed", when=f.when(record.printed_at)))
    if eta is None:
        return Estimate(None, t(f"missing.{basis.missing or 'not_printable'}"))
    if record.state is S.APPROVED:
        return Estimate(f.when(eta), t("rec.eta_approved", when=f.when(eta)))
    left = (eta - utcnow()).total_seconds()
    when = (
        t("rec.eta_at", when=f.when(eta), d=f.duration(left))
        if left >= 60
        else t("rec.eta_soon", when=f.when(eta))
    )
    decision = f.duration(basis.decision_seconds)
    if record.state is S.AWAITING_DECISION:
        why = t(
            "rec.eta_awaiting",
            sent=f.when(record.sent_at),
            decision=decision,
            n=basis.decisions_sampled,
        )
    elif not basis.bytes_ahead:  # what is ahead of it has crossed the link already
        why = t(
            "rec.eta_sent",
            rtt=f.millis(basis.rtt_ms),
            decision=decision,
            n=basis.decisions_sampled,
        )
    else:
        why = t(
            "rec.eta_queued",
            bytes=f.size(basis.bytes_ahead),
            rate=f.rate(basis.rate_bytes_per_s),
            rtt=f.millis(basis.rtt_ms),
            decision=decision,
            n=basis.decisions_sampled,
        )
    return Estimate(when, why)


def backlog_eta(status: NodeStatus, t: Translate, f: Formats) -> str:
    """The overview's sentence about when everything waiting is sent."""
    if status.pending == 0 and status.pending_bytes == 0:
        return t("ov.eta_none")
    if status.eta_seconds is not None:
        return t("ov.eta", d=f.duration(status.eta_seconds))
    return t("ov.eta_down") if status.link.up is False else t("ov.eta_unknown")


def link_state(status: NodeStatus, t: Translate, f: Formats) -> tuple[str, str]:
    """(words, tone) of the link: up, down, not known yet; with the breaker when it is open."""
    current = status.link_history[0] if status.link_history else None
    if status.link.up is False and current is not None and current.end is None:
        words = t("link.down_since", when=f.clock(current.start), d=f.duration(current.seconds))
        tone = "bad"
    elif status.link.up is False:
        words, tone = t("link.down"), "bad"
    elif status.link.up:
        words, tone = t("link.up"), "good"
    else:
        words, tone = t("link.unknown"), ""
    if status.central.breaker != "closed":
        words += " · " + t("link.breaker_open", d=f.duration(status.central.next_probe_in_seconds))
        tone = "bad"
    return words, tone


@dataclass(frozen=True)
class Week:
    today: list[Outage]
    week: list[Outage]
    uptime: float
    down_seconds: float
    outages: int


def week_of(status: NodeStatus, f: Formats) -> Week:
    """The link's last 7 days: today's outages (office time), all of the week's, uptime."""
    now = utcnow()
    midnight = f.today(now)
    window = status.link_summary.days * 86400.0
    today = [o for o in status.link_history if (o.end or now) >= midnight]
    down = status.link_summary.down_seconds
    return Week(
        today=today,
        week=status.link_history,
        uptime=max(0.0, 1.0 - down / window) if window else 1.0,
        down_seconds=down,
        outages=status.link_summary.outages,
    )


def waited(since: dt.datetime | None) -> float | None:
    return None if since is None else max(0.0, (utcnow() - since).total_seconds())
