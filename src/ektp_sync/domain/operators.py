"""Operators of an office node and their roles: who may record and read, who may also print,
retry and correct; and how an operator is written on the command line (`NAME=TOKEN:ROLE`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What an operator may do: a clerk records and reads; a supervisor also prints, retries
    and corrects (the actions that put a card in someone's hand or change what the centre
    sees)."""

    CLERK = "clerk"
    SUPERVISOR = "supervisor"

    def covers(self, needed: Role) -> bool:
        """Whether this role may do what `needed` may (roles are ordered, each holds the last)."""
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.CLERK: 0, Role.SUPERVISOR: 1}


@dataclass(frozen=True)
class Operator:
    """A person at the office's desk, as the node knows them once their token checked out."""

    name: str
    role: Role


@dataclass(frozen=True)
class Grant:
    """An operator's configuration: their name, secret token and role."""

    name: str
    token: str
    role: Role

    @property
    def operator(self) -> Operator:
        return Operator(self.name, self.role)


class GrantError(ValueError):
    """An operator written wrongly; the message says what is wrong (never the token)."""


#: the file of the node's own supervisor token (in its data dir) when no operator is configured
OPERATOR_TOKEN_FILE = "operator-token"

#: shortest token accepted: a guessable token would be no lock at all
MIN_TOKEN_LENGTH = 16


def parse_grant(text: str) -> Grant:
    """`NAME=TOKEN:ROLE` → Grant; GrantError naming the problem (without echoing the token)."""
    name, sep, rest = text.partition("=")
    token, colon, role = rest.rpartition(":")
    if not sep or not colon:
        raise GrantError(f"operator {name or '?'!r} is not NAME=TOKEN:ROLE")
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise GrantError(f"operator name {name!r} must be letters, digits, '-', '_' or '.'")
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise GrantError(
            f"operator {name!r}: the token must be at least {MIN_TOKEN_LENGTH} characters, "
            "without spaces"
        )
    try:
        parsed_role = Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise GrantError(f"operator {name!r}: role {role!r} is not one of {roles}") from None
    return Grant(name, token, parsed_role)


def format_grant(grant: Grant) -> str:
    """The `NAME=TOKEN:ROLE` text of a grant (for the command line of a node to start)."""
    return f"{grant.name}={grant.token}:{grant.role.value}"
