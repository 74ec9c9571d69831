"""The operators of the console tests: a supervisor and a clerk, given to the node."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Grant:
    name: str
    token: str
    role: str


SUPERVISOR = Grant("sari", "super-token-0123456789", "supervisor")
CLERK = Grant("budi", "clerk-token-0123456789", "clerk")


def with_operators(env: dict[str, str]) -> dict[str, str]:
    return dict(env)
