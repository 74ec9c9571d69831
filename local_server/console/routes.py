"""The console on the node's app: its pages and forms, its own files, and what happens when no
one is logged in or a form is refused."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from local_server.console import actions, pages
from local_server.console.access import FormRefused, LoginRequired, login_url, signed_in
from local_server.console.render import STATIC, page, translator
from local_server.console.session import Sessions


def install_console(app: FastAPI) -> None:
    app.state.console_sessions = Sessions()
    app.mount("/static/console", StaticFiles(directory=STATIC), name="console")
    app.include_router(pages.router)
    app.include_router(actions.router)

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(login_url(exc.back_to), status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FormRefused)
        try:
            desk = await signed_in(request)
        except LoginRequired:
            desk = None
        message = translator(request)(exc.reason)
        return page(request, "refused.html", status_code=403, desk=desk, message=message)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(FormRefused, refused)
