"""The decisions feed: an office's decision-log entries after an opaque cursor, in order."""

from __future__ import annotations

import asyncio
import base64
import binascii

from sqlalchemy import select

from central_server.errors import InvalidRequest
from central_server.state import CentralState
from central_server.tables import decision_log
from central_server.waiting import RECHECK_SECONDS
from ektp_sync.wire import Authorisation, Decision, DecisionsPage

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: the longest an office may ask the feed to hold an empty answer (`wait`), in seconds
MAX_WAIT_SECONDS = 30.0


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The log position a cursor stands for; empty or absent means from the beginning."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not (text.startswith("s") and text[1:].isdigit()):
            raise ValueError(text)
        return int(text[1:])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            f"cursor {cursor[:80]!r} is not one this centre issued; use the `next` of a page",
            "cursor",
        ) from None


async def decisions_after(
    state: CentralState, office_code: str, cursor: str | None, limit: int, wait: float = 0.0
) -> DecisionsPage:
    """The next page; with `wait`, an empty page is held back until a decision comes or the
    wait ends (long poll), so the office learns of a decision as soon as it is committed."""
    after = decode_cursor(cursor)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        ticket = state.decided.ticket()
        page = await _page(state, office_code, cursor, after, limit)
        remaining = deadline - loop.time()
        if page.decisions or remaining <= 0 or state.closing.is_set():
            return page
        await state.decided.wait(ticket, state.closing, min(remaining, RECHECK_SECONDS))


async def _page(
    state: CentralState, office_code: str, cursor: str | None, after: int, limit: int
) -> DecisionsPage:
    async with state.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(decision_log)
                .where(decision_log.c.office_code == office_code, decision_log.c.seq > after)
                .order_by(decision_log.c.seq)
                .limit(limit)
            )
        ).all()
    decisions = [
        Decision(
            submission_id=row.submission_id,
            nik=row.nik,
            status=row.status,
            reason=row.reason,
            authorisation=Authorisation(**row.authorisation) if row.authorisation else None,
        )
        for row in rows
    ]
    next_cursor = encode_cursor(rows[-1].seq) if rows else (cursor or "")
    return DecisionsPage(decisions=decisions, next=next_cursor)
