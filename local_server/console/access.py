"""Who is at the console: the operator of the session cookie (else to the login page), and the
checks of a form that acts (same origin, the session's CSRF token, the supervisor's role)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from fastapi import Request

from local_server.auth import Operator, Role, directory_of
from local_server.console.session import Session, csrf_ok, same_origin, session_of

#: a console form is a few fields; anything bigger is not one of ours
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class Desk:
    """The operator at the console and their session."""

    operator: Operator
    session: Session

    @property
    def supervisor(self) -> bool:
        return self.operator.role.covers(Role.SUPERVISOR)


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the login page, then back here."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class FormRefused(Exception):
    """A POST that is not this operator's own form (CSRF), or that needs a supervisor: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a text key: act.csrf or act.forbidden


def login_url(back_to: str) -> str:
    return "/masuk?next=" + quote(back_to, safe="")


def local_path(target: str | None) -> str:
    """`target` if it is a path on this node (no open redirect), else the overview."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def signed_in(request: Request) -> Desk:
    """The console's dependency: the operator whose session the cookie names."""
    session = session_of(request)
    operator = directory_of(request).find(session.token) if session else None
    if session is None or operator is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(back if request.method == "GET" else "/")
    request.state.operator = operator  # for the access log's `operator` field
    return Desk(operator, session)


async def form_of(request: Request) -> dict[str, str]:
    """The posted form's fields (the last value of each)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRefused("act.csrf")
    return {
        k: v[-1]
        for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
    }


async def acting(request: Request, desk: Desk, *, supervisor: bool) -> dict[str, str]:
    """The form of an action, once it proved to be this session's own (and, for `supervisor`,
    that the operator may act); FormRefused otherwise."""
    form = await form_of(request)
    if not same_origin(request) or not csrf_ok(desk.session, form.get("csrf")):
        raise FormRefused("act.csrf")
    if supervisor and not desk.supervisor:
        raise FormRefused("act.forbidden")
    return form
