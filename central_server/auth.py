"""Who is calling: an office (by its API key) or the admin. No HTTP here; see deps.py."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from central_server.errors import UnknownApiKey


@dataclass(frozen=True)
class Caller:
    office_code: str | None  # None for the admin
    is_admin: bool


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys: one per office (code → key), and the admin's, if any."""

    offices: Mapping[str, str]
    admin_key: str | None

    def identify(self, token: str) -> Caller:
        """Compare against every key, without stopping early, so timing tells nothing."""
        office: str | None = None
        for code, key in self.offices.items():
            if _same(token, key):
                office = code
        is_admin = self.admin_key is not None and _same(token, self.admin_key)
        if is_admin:
            return Caller(None, True)
        if office is not None:
            return Caller(office, False)
        raise UnknownApiKey()
