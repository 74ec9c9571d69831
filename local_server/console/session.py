"""Console logins: an operator gives their token once and gets an opaque session cookie.

The session lives in the node's memory (a restart logs everyone out) and holds the token, so
every request looks the operator up again in the directory: a token taken away ends its
sessions at once. The cookie is HttpOnly and SameSite=Strict (Secure over TLS); each session
has its own CSRF token that every form posts back, and a POST must come from this node's own
origin when the browser says where it comes from.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from fastapi import Request, Response

COOKIE = "ektp_console"
#: a working day and some: the desk logs in in the morning
SESSION_SECONDS = 12 * 3600
#: sessions kept at most (the oldest go first): a bound on memory, far above an office's desks
MAX_SESSIONS = 1000


@dataclass
class Session:
    token: str
    csrf: str
    expires: float


@dataclass
class Sessions:
    ttl: float = SESSION_SECONDS
    _open: dict[str, Session] = field(default_factory=dict)

    def open(self, token: str) -> str:
        """A new session for `token`; its id is the cookie's value."""
        while len(self._open) >= MAX_SESSIONS:
            del self._open[next(iter(self._open))]
        sid = secrets.token_urlsafe(32)
        self._open[sid] = Session(token, secrets.token_urlsafe(24), time.monotonic() + self.ttl)
        return sid

    def find(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._open.get(sid)
        if session is None:
            return None
        if session.expires <= time.monotonic():
            del self._open[sid]
            return None
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            self._open.pop(sid, None)


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.console_sessions
    return sessions


def session_of(request: Request) -> Session | None:
    return sessions_of(request).find(request.cookies.get(COOKIE))


def set_cookie(request: Request, response: Response, sid: str) -> None:
    response.set_cookie(
        COOKIE,
        sid,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another origin (Origin, else Referer)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True  # browsers send Origin on a cross-site POST; the CSRF token holds anyway
    own = f"{request.url.scheme}://{request.url.netloc}"
    return claimed == own or claimed.startswith(own + "/")


def csrf_ok(session: Session, posted: str | None) -> bool:
    return posted is not None and hmac.compare_digest(session.csrf, posted)
