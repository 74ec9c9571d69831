"""Rendering a console page: the Jinja2 environment, the operator's language and the office's
time zone, and the headers every page carries."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ektp_sync.config import Language, LocalSettings
from ektp_sync.storage import utcnow
from local_server.console.formats import Formats
from local_server.console.text import translate

HERE = Path(__file__).parent
STATIC = HERE / "static"
LANG_COOKIE = "ektp_lang"

#: the pages load nothing but the node's own files; no script at all, no framing
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def settings_of(request: Request) -> LocalSettings:
    settings: LocalSettings = request.app.state.settings
    return settings


def language_of(request: Request) -> Language:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in {lang.value for lang in Language}:
        return Language(chosen)
    return settings_of(request).console_language


def formats_of(request: Request) -> Formats:
    return Formats(language_of(request), ZoneInfo(settings_of(request).office_timezone))


def translator(request: Request) -> Callable[..., str]:
    """`t(key, **values)`: the phrase in the operator's language."""
    language = language_of(request)

    def t(key: str, **values: object) -> str:
        return translate(language, key, **values)

    return t


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` in the operator's language, with the frame's context."""
    f = formats_of(request)
    t = translator(request)
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            t=t,
            f=f,
            lang=f.language.value,
            office=settings_of(request).office_code,
            zone=f.zone_name(utcnow()),
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
