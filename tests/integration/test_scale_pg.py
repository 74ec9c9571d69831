"""The centre scaled out: `--workers 4` on PostgreSQL, two offices (also on PostgreSQL) pushing
the same persons at once. Guarantee 4 must then come from the database, not process memory."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Callable
from http.client import HTTPSConnection

import numpy as np
import psutil
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ektp_sync.domain.biometrics import encode_template
from ektp_sync.launch import LOOPBACK, Deployment
from ektp_sync.signing import canonical_json
from ektp_sync.synth import generate
from ektp_sync.testing import (
    FAST_RETRY,
    CentreAdmin,
    DeploymentFactory,
    OfficeClient,
    eventually,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    # PostgreSQL only: several centre processes refuse SQLite
    pytest.mark.parametrize("db_factory", ["postgresql"], indirect=True),
]

WORKERS = 4
PERSONS = 30
PG_PORT = 5432


def _workers(d: Deployment) -> list[psutil.Process]:
    """The centre's worker processes: the children forked by its supervisor."""
    assert d.central.pid is not None
    return psutil.Process(d.central.pid).children()


def _accepted_by(workers: list[psutil.Process], clients: set[int]) -> dict[int, int]:
    """pid → how many of the connections from local ports `clients` that worker accepted."""
    return {
        w.pid: sum(1 for c in w.net_connections("tcp") if c.raddr and c.raddr.port in clients)
        for w in workers
    }


def _with_database(worker: psutil.Process) -> bool:
    return any(c.raddr and c.raddr.port == PG_PORT for c in worker.net_connections("tcp"))


def _twins(count: int, seed: int) -> list[tuple[dict[str, object], dict[str, object]]]:
    """The same person twice: biometrics with a little noise, a NIK of its own."""
    rng = np.random.default_rng(seed)
    people = [r for r in generate(count * 2, seed=seed) if r.phase == 1][:count]
    pairs = []
    for person in people:
        template = base64.b64decode(person.record["biometrics"]["template"])
        noisy = np.frombuffer(template, "<f4") + rng.normal(0, 0.05 / np.sqrt(128), 128)
        twin = dict(person.record, biometrics={"template": encode_template(noisy)})
        serial = int(person.record["nik"][12:]) % 9999 + 1
        twin["nik"] = person.record["nik"][:12] + f"{serial:04d}"
        pairs.append((person.record, twin))
    return pairs


async def test_four_process_centre_approves_each_person_once_from_two_offices(
    ektp_deployment: DeploymentFactory, db_factory: Callable[[], Awaitable[str]]
) -> None:
    offices = ("6172", "6101")
    d = await ektp_deployment(
        offices=offices,
        central_db=await db_factory(),
        local_dbs={code: await db_factory() for code in offices},
        central_workers=WORKERS,
        # small batches, several at once: many requests spread over the centre's processes
        local_extra=["--batch-size", "2", "--max-in-flight", "4"],
        local_env=FAST_RETRY,
    )
    workers = _workers(d)
    assert len(workers) == WORKERS, [w.cmdline() for w in workers]
    # every process ran its start-up (schema, gallery) and holds its own database pool
    await eventually(lambda: all(_with_database(w) for w in workers), timeout=30)

    # distinct processes answer: keep several connections open, see which pid accepted each
    assert isinstance(d.verify, ssl.SSLContext)  # the deployment is on TLS
    connections = [
        HTTPSConnection(LOOPBACK, d.central_port, timeout=10, context=d.verify) for _ in range(24)
    ]
    try:
        answers = set()
        for connection in connections:
            connection.request("GET", "/keys")
            answers.add(connection.getresponse().read())  # the connection stays open
        # every process signs with the one key the centre publishes
        assert len(answers) == 1, answers
        clients = {c.sock.getsockname()[1] for c in connections if c.sock}
        accepted = _accepted_by(workers, clients)
        print(f"connections accepted per centre process: {accepted}")
        assert sum(accepted.values()) == len(connections)
        assert sum(1 for n in accepted.values() if n) >= 2, accepted
    finally:
        for connection in connections:
            connection.close()

    a, b = (OfficeClient.of(d, code) for code in offices)
    admin = CentreAdmin.of(d)
    try:
        pairs = _twins(PERSONS, seed=29)
        ids = await asyncio.gather(
            *(c.record(body) for pair in pairs for c, body in zip((a, b), pair, strict=True))
        )
        ida, idb = ids[0::2], ids[1::2]

        async def all_decided() -> bool:
            decided = {"approved", "rejected", "review"}
            return bool(await a.all_in(ida, decided) and await b.all_in(idb, decided))

        # annotated: the context lets mypy pick eventually's awaitable form
        settled: bool = await eventually(all_decided, timeout=180, message="every decision in")
        assert settled

        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(await admin.public_key()))
        for x, y in zip(ida, idb, strict=True):
            ra, rb = await a.get(x), await b.get(y)
            outcomes = sorted(
                [(r["decision"]["status"], r["decision"]["reason"]) for r in (ra, rb)]
            )
            assert outcomes == [
                ("approved", "new_identity"),
                ("rejected", "duplicate_identity"),
            ], (ra, rb)
            approved, office = (ra, a) if ra["state"] == "approved" else (rb, b)
            # signed by the key the centre publishes, whichever process signed it
            auth = approved["decision"]["authorisation"]
            fields = {k: auth[k] for k in ("submission_id", "nik", "approval_no", "issued_at")}
            key.verify(base64.b64decode(auth["signature"]), canonical_json(fields))
            printed = await office.http.post(f"/records/{approved['id']}/print")
            assert printed.status_code == 200, printed.text
        stats = await admin.stats()
        assert stats["identities"] == PERSONS
        assert stats["by_reason"] == {"new_identity": PERSONS, "duplicate_identity": PERSONS}
        assert stats["enrollments"] == 2 * PERSONS
        assert len(_workers(d)) == WORKERS  # no process died on the way
    finally:
        for client in (a, b, admin):
            await client.aclose()
