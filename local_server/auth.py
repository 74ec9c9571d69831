"""Who may use the office node: operators' bearer tokens, their roles, and the FastAPI
dependencies that check them on every route but /healthz and /metrics.

The directory of operators lives on `app.state.operators` (an `OperatorDirectory`, built at
start from `--operator NAME=TOKEN:ROLE`, or from the node's own supervisor token in
`<data-dir>/operator-token` when none is configured). A route takes `CurrentOperator` (any
operator: 401 without a valid token) or `Supervisor` (`require(Role.SUPERVISOR)`: 403 for a
clerk). What an operator changes is written to the audit trail: by the store in the same
transaction as the change, or with `local_server.audit.audit` for an action of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection

from ektp_sync.config import LocalSettings
from ektp_sync.domain.operators import OPERATOR_TOKEN_FILE, Grant, Operator, Role
from ektp_sync.keyfiles import read_or_create
from local_server.errors import NotAuthenticated, RoleTooSmall

__all__ = [
    "CurrentOperator",
    "Operator",
    "OperatorDirectory",
    "Role",
    "Supervisor",
    "current_operator",
    "directory_of",
    "require",
]

logger = logging.getLogger(__name__)

#: the name of the node's own supervisor (the token in <data-dir>/operator-token)
DEFAULT_SUPERVISOR = "supervisor"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class OperatorDirectory:
    """The operators of this node by token; a lookup takes the same time whichever matches."""

    def __init__(self, grants: Iterable[Grant]) -> None:
        # digests of equal length: compare_digest then leaks nothing of a token's length either
        self._entries = [(_digest(g.token), g.operator) for g in grants]
        if not self._entries:
            raise ValueError("an operator directory needs at least one operator")

    @classmethod
    def from_settings(cls, settings: LocalSettings) -> OperatorDirectory:
        """The configured operators; none: the supervisor of `<data-dir>/operator-token`
        (created 0600 on first start; its place is logged, never the token)."""
        grants = settings.grants
        if not grants:
            path = settings.data_dir / OPERATOR_TOKEN_FILE
            existed = path.exists()
            token = read_or_create(path, lambda: secrets.token_urlsafe(32).encode() + b"\n")
            logger.warning(
                "no --operator configured: the supervisor's token is %s in %s (mode 0600); "
                "give it with `ektp-sync status --token` or the Authorization header",
                "kept" if existed else "created",
                path,
            )
            grants = [Grant(DEFAULT_SUPERVISOR, token.decode("utf-8").strip(), Role.SUPERVISOR)]
        return cls(grants)

    def find(self, token: str) -> Operator | None:
        """The operator holding `token`, or None; every entry is compared (constant time)."""
        digest = _digest(token)
        found = None
        for entry_digest, operator in self._entries:
            if hmac.compare_digest(entry_digest, digest):
                found = operator
        return found

    @property
    def operators(self) -> list[Operator]:
        return [operator for _, operator in self._entries]


def directory_of(request: HTTPConnection) -> OperatorDirectory:
    directory: OperatorDirectory = request.app.state.operators
    return directory


class _OperatorBearer(HTTPBearer):
    """The bearer scheme (named HTTPBearer in the OpenAPI document) that also finds the operator.

    One dependency where there were two (the scheme, then a function taking its credentials):
    FastAPI solves every level of dependencies anew on each request, and on `POST /records`
    that second level cost as much as the rest of the auth. Our own refusals (with `rule`)
    answer a missing or unknown token, not FastAPI's."""

    async def __call__(self, request: HTTPConnection) -> Operator:  # type: ignore[override]
        """The operator of the request's bearer token; NotAuthenticated (401) otherwise."""
        # HTTPBearer's reading of the header, without building its credentials model
        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated(
                "an operator's token is needed: send Authorization: Bearer <token>",
                "operator_token_missing",
            )
        operator = directory_of(request).find(token)
        if operator is None:
            raise NotAuthenticated(
                "the operator token is not known to this node", "operator_token_invalid"
            )
        request.state.operator = operator  # for what runs after the route (e.g. a console page)
        return operator


#: the dependency of every route but /healthz and /metrics: the operator of the request
current_operator = _OperatorBearer(
    auto_error=False, scheme_name="HTTPBearer", description="An operator's token (--operator)."
)


def require(role: Role) -> Callable[..., Awaitable[Operator]]:
    """A dependency: the current operator, if their role covers `role` (403 otherwise)."""

    async def operator_with_role(
        operator: Annotated[Operator, Depends(current_operator)],
    ) -> Operator:
        if not operator.role.covers(role):
            raise RoleTooSmall(
                f"this needs the {role} role; operator {operator.name!r} is a {operator.role}",
                "role_too_small",
            )
        return operator

    return operator_with_role


CurrentOperator = Annotated[Operator, Depends(current_operator)]
Supervisor = Annotated[Operator, Depends(require(Role.SUPERVISOR))]
