"""The operators of the console tests: a supervisor and a clerk, given to the node with
`--operator` (EKTP_OPERATOR), and the API client of the supervisor."""

from __future__ import annotations

from dataclasses import dataclass

from ektp_sync.testing import OfficeClient


@dataclass(frozen=True)
class Grant:
    name: str
    token: str
    role: str

    @property
    def entry(self) -> str:
        return f"{self.name}={self.token}:{self.role}"


SUPERVISOR = Grant("sari", "sari-supervisor-token-0123456789", "supervisor")
CLERK = Grant("budi", "budi-clerk-token-0123456789", "clerk")


def with_operators(env: dict[str, str]) -> dict[str, str]:
    """`env` for the node, with the two operators configured."""
    env = {**env, "EKTP_OPERATOR": f"{SUPERVISOR.entry} {CLERK.entry}"}
    # until the launcher gives the node the centre's key itself (the auth work)
    env.setdefault("EKTP_TRUST_FIRST_KEY", "true")
    return env


def as_supervisor(office: OfficeClient) -> OfficeClient:
    """The office client, sending the supervisor's token with every request."""
    office.http.headers["Authorization"] = f"Bearer {SUPERVISOR.token}"
    return office
