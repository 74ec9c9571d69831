"""What a server turns down on purpose: the base both servers' error hierarchies share.

A refusal says what happened (its class), why in a sentence (`detail`) and which rule was broken
(`rule`, a stable key for scripts). It knows nothing of HTTP: each server maps its classes to
statuses at its edge (`ektp_sync.http_errors.install_error_handlers`), so domain code raises
what happened and never picks a status.
"""

from __future__ import annotations


class Refusal(Exception):
    """An expected refusal: `detail` is a sentence for people, `rule` a stable key for scripts."""

    default_rule: str | None = None
    #: seconds after which trying again may succeed (load shedding, injected faults); None: never
    retry_after: int | None = None

    def __init__(self, detail: str, rule: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.rule = rule if rule is not None else self.default_rule
