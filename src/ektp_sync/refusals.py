"""What a server turns down on purpose: the base both servers' error hierarchies share.

A refusal says what happened (its class), why in a sentence (`detail`) and which rule was broken
(`rule`, a stable key for scripts). It knows nothing of HTTP: each server maps its classes to
statuses at its edge (`ektp_sync.http_errors.install_error_handlers`), so domain code raises
what happened and never picks a status.
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """An expected refusal: `detail` is a sentence for people, `rule` a stable key for scripts."""

    default_rule: str | None = None
    #: seconds after which trying again may succeed (load shedding, injected faults); None: never
    retry_after: int | None = None

    def __init__(self, detail: str, rule: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.rule = rule if rule is not None else self.default_rule


class InvalidInput(Refusal):
    """Input that fails validation, answered as FastAPI answers it: `errors` in pydantic's shape
    (`type`, `loc`, `msg`), a list under `detail`, so that every 422 has one shape."""

    default_rule = "invalid"

    def __init__(self, errors: list[dict[str, Any]], rule: str | None = None) -> None:
        super().__init__(str(errors[0].get("msg", "invalid input")) if errors else "invalid", rule)
        self.errors = errors


def input_error(kind: str, loc: tuple[str | int, ...], msg: str) -> dict[str, Any]:
    """One error of an InvalidInput, in pydantic's shape (no `input`: it may be personal data)."""
    return {"type": kind, "loc": loc, "msg": msg}
