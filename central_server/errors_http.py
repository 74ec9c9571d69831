"""Maps the centre's errors onto HTTP answers (ErrorBody), in one place for the whole app."""

from __future__ import annotations

from fastapi import FastAPI

from central_server.errors import CentralError
from ektp_sync.http_errors import install_error_handlers as install_shared_handlers


def install_error_handlers(app: FastAPI) -> None:
    install_shared_handlers(
        app, CentralError, internal_detail="internal error at the centre; it has been logged"
    )
