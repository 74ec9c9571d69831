"""The decisions feed: an office's decision-log entries after an opaque cursor, in order, each
signed by the centre (the office applies none whose signature does not verify)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re

from central_server.errors import UnknownCursor
from central_server.store.feed import FeedStore
from central_server.waiting import RECHECK_SECONDS, Pulse
from ektp_sync.signing import Signer
from ektp_sync.wire import DecisionsPage

#: the cursor's text: "s" and a log position that fits the databases' 64-bit integers
_CURSOR_TEXT = re.compile(r"s[0-9]{1,18}")

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
        if not _CURSOR_TEXT.fullmatch(text):  # not isdigit(): it takes "²" and Arabic digits
            raise ValueError(text)
        return int(text[1:])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise UnknownCursor() from None


class Feed:
    """Pages of the decision log; `decided` is pulsed after every commit of decisions in this
    process, `closing` set when it is asked to exit (held long polls answer at once).

    Decisions are signed as they are served, not stored signed: the log stays as it was, and a
    page is signed by the key the centre holds now (~50 µs a decision)."""

    def __init__(
        self, store: FeedStore, decided: Pulse, closing: asyncio.Event, signer: Signer
    ) -> None:
        self._store = store
        self._signer = signer
        self.decided = decided
        self.closing = closing

    async def page(
        self, office_code: str, cursor: str | None, limit: int, wait: float = 0.0
    ) -> DecisionsPage:
        """The next page; with `wait`, an empty page is held back until a decision comes or the
        wait ends (long poll), so the office learns of a decision as soon as it is committed."""
        after = decode_cursor(cursor)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            ticket = self.decided.ticket()
            page = await self._page(office_code, cursor, after, limit)
            remaining = deadline - loop.time()
            if page.decisions or remaining <= 0 or self.closing.is_set():
                return page
            await self.decided.wait(ticket, self.closing, min(remaining, RECHECK_SECONDS))

    async def _page(
        self, office_code: str, cursor: str | None, after: int, limit: int
    ) -> DecisionsPage:
        logged = await self._store.after(office_code, after, limit)
        next_cursor = encode_cursor(logged.last_seq) if logged.last_seq is not None else cursor
        signed = [self._signer.sign_decision(d) for d in logged.decisions]
        return DecisionsPage(decisions=signed, next=next_cursor or "")
