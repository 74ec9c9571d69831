"""The office node's errors as HTTP answers, in one place for the whole app (the edge).

A refusal is answered as ErrorBody (`detail`, `rule`) with the status of the nearest class in
STATUSES; bodies that break a record's rules (a new recording, or a correction merged with the
stored record) as FastAPI answers a body that fails validation. See `ektp_sync.http_errors`.
"""

from __future__ import annotations

from fastapi import FastAPI

from ektp_sync.http_errors import Statuses
from ektp_sync.http_errors import install_error_handlers as install_shared_handlers
from local_server.errors import (
    HostNotAllowed,
    InvalidQuery,
    NotAuthenticated,
    NotJson,
    RecordConflict,
    RecordNotFound,
    RecordRefused,
    RoleTooSmall,
)

#: the status of each kind of refusal (the most specific class listed wins)
STATUSES: Statuses = {
    RecordRefused: 400,
    RecordNotFound: 404,
    RecordConflict: 409,
    InvalidQuery: 422,
    NotAuthenticated: 401,
    RoleTooSmall: 403,
    NotJson: 415,
    HostNotAllowed: 421,
}


def install_error_handlers(app: FastAPI) -> None:
    install_shared_handlers(
        app, STATUSES, internal_detail="internal error on the office node; it has been logged"
    )
