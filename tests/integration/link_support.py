"""Shared pieces of the link tests (test_links.py, test_link_faults.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from ektp_sync.launch import Deployment
from ektp_sync.synth import generate
from ektp_sync.testing import CentreAdmin, OfficeClient, assert_delivered_once

#: the `started` fixture of conftest.py: start a deployment, get it with office and admin clients
Started = Callable[..., Awaitable[tuple[Deployment, dict[str, OfficeClient], CentreAdmin]]]

#: Link tests are about the network, not the database: one backend is enough for most of them.
SQLITE_ONLY = pytest.mark.parametrize("db_factory", ["sqlite"], indirect=True)

#: small batches, so a handful of records makes several uploads that the link can cut
SMALL_BATCHES = ["--batch-size", "4", "--max-in-flight", "2"]


def new_people(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` residents that the centre approves as `new_identity` (no planted duplicates)."""
    people = [r.record for r in generate(count * 2, seed=seed) if r.kind == "new_identity"]
    assert len(people) >= count
    return people[:count]


async def record_all(office: OfficeClient, people: Sequence[dict[str, Any]]) -> list[str]:
    return [await office.record(body) for body in people]


async def queued_and_retried(office: OfficeClient, ids: Sequence[str], attempts: int = 2) -> bool:
    """Nothing left the queue, and the link failed some record `attempts` times or more.

    Not "every record tried": while the link fails, the office's circuit breaker lets only one
    small probe batch through at a time, so records behind it wait untried.
    """
    records = await office.records(ids)
    tried = [r for r in records if r["attempts"] > 0]
    return (
        all(r["state"] == "queued" for r in records)
        and max(r["attempts"] for r in records) >= attempts
        and all(r["last_error"] for r in tried)
    )


async def each_enrolled_once(
    d: Deployment, office: OfficeClient, admin: CentreAdmin, ids: Sequence[str]
) -> None:
    """Every record delivered under its own submission_id, each a new identity, none twice."""
    await assert_delivered_once(d, office, ids)
    stats = await admin.stats()
    assert stats["enrollments"] == stats["identities"] == len(ids)
    assert stats["by_reason"] == {"new_identity": len(ids)}
