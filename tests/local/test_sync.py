"""The sync engine against a stand-in centre served by real uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from ektp_sync.config import LocalSettings
from ektp_sync.signing import Signer
from ektp_sync.storage import create_engine
from ektp_sync.testing import eventually
from local_server.app import create_app
from local_server.store.tables import outbox, records

from .conftest import record, running
from .fake_centre import Busy, FakeCentre, free_port, serve
from .residents import resident

Settings = Callable[..., LocalSettings]


async def view_of(node: httpx.AsyncClient, record_id: str) -> dict[str, Any]:
    view: dict[str, Any] = (await node.get(f"/records/{record_id}")).json()
    return view


async def reaches(node: httpx.AsyncClient, record_id: str, state: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        view = await view_of(node, record_id)
        return view if view["state"] == state else None

    result: dict[str, Any] = await eventually(
        probe, timeout=30, interval=0.05, message=f"{record_id} → {state}"
    )
    return result


async def test_records_flow_to_approved_and_print(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    async with running(create_app(settings_for(url))) as node:
        ids = [await record(node, resident(100 + i)) for i in range(3)]
        for record_id in ids:
            view = await reaches(node, record_id, "approved")
            assert view["decision"]["status"] == "approved"
            assert view["decision"]["reason"] == "new_identity"
            assert view["decision"]["authorisation"]["submission_id"] == view["submission_id"]
        printed = await node.post(f"/records/{ids[0]}/print")
        assert printed.status_code == 200, printed.text
        assert printed.json()["state"] == "printed"
        assert printed.json()["approval_no"].startswith("AP-")
        again = await node.post(f"/records/{ids[0]}/print")
        assert (again.status_code, again.json()["rule"]) == (409, "already_printed")
        status = (await node.get("/status")).json()
        assert status["central"]["reachable"] is True
        assert status["last_success_at"] is not None
        assert status["counts"]["printed"] == 1
        assert status["pending"] == 0
    assert fake.gzipped >= 1  # templates make every batch worth compressing
    assert len(fake.answers) == 3  # each record reached the centre once


async def test_tampered_signature_refuses_printing(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    fake.tamper = True
    async with running(create_app(settings_for(url))) as node:
        record_id = await record(node, resident(110))
        # the decision is the centre's (signed); its authorisation is checked at print
        await reaches(node, record_id, "approved")
        response = await node.post(f"/records/{record_id}/print")
        assert response.status_code == 409
        assert response.json()["rule"] == "signature_invalid"
        assert (await node.get(f"/records/{record_id}")).json()["state"] == "approved"


async def test_retry_after_is_honoured_then_delivered(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    fake.busy = [Busy(503, retry_after=2)]
    async with running(create_app(settings_for(url))) as node:
        record_id = await record(node, resident(120))

        async def deferred() -> dict[str, Any] | None:
            view: dict[str, Any] = (await node.get(f"/records/{record_id}")).json()
            return view if view["attempts"] >= 1 and view["next_attempt_at"] else None

        view = await eventually(deferred, timeout=20, interval=0.02)
        assert "503" in view["last_error"]
        assert view["state"] == "queued"
        failed_at = dt.datetime.fromisoformat(view["updated_at"])
        next_at = dt.datetime.fromisoformat(view["next_attempt_at"])
        assert next_at - failed_at >= dt.timedelta(seconds=2)
        await reaches(node, record_id, "approved")


async def test_invalid_record_fails_and_retry_requeues_it(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    body = resident(130)
    fake.invalid_niks.add(body["nik"])
    async with running(create_app(settings_for(url))) as node:
        record_id = await record(node, body)
        failed = await reaches(node, record_id, "failed")
        assert "centre refused the record" in failed["last_error"]
        assert (await node.post(f"/records/{record_id}/print")).json()["rule"] == "failed"
        # the NIK is no longer in flight, so the office may record the person anew
        fake.invalid_niks.clear()
        retried = await node.post(f"/records/{record_id}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["state"] in ("queued", "uploading")
        assert retried.json()["submission_id"] != failed["submission_id"]
        approved = await reaches(node, record_id, "approved")
        assert approved["submission_id"] == retried.json()["submission_id"]


async def test_centre_down_then_up_is_noticed_without_help(settings_for: Settings) -> None:
    port = free_port()
    fake = FakeCentre()
    url = f"http://127.0.0.1:{port}"
    async with running(create_app(settings_for(url))) as node:
        record_id = await record(node, resident(140))

        async def refused() -> dict[str, Any] | None:
            view: dict[str, Any] = (await node.get(f"/records/{record_id}")).json()
            return view if view["attempts"] >= 2 else None

        view = await eventually(refused, timeout=20, interval=0.02)
        assert view["last_error"] == "connection refused by centre"
        async with serve(fake.app(), port=port):
            await reaches(node, record_id, "approved")


async def test_restart_resumes_with_persisted_attempts(settings_for: Settings) -> None:
    port = free_port()
    fake = FakeCentre()
    settings = settings_for(f"http://127.0.0.1:{port}")
    async with running(create_app(settings)) as node:
        record_id = await record(node, resident(150))

        async def tried() -> bool:
            return bool((await node.get(f"/records/{record_id}")).json()["attempts"] >= 1)

        await eventually(tried, timeout=20, interval=0.02)
    async with serve(fake.app(), port=port), running(create_app(settings)) as node:
        view = await reaches(node, record_id, "approved")
        assert view["attempts"] >= 2  # the earlier failures are remembered


async def test_review_then_adjudicated_approval(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    body = resident(160)
    fake.review_niks.add(body["nik"])
    async with running(create_app(settings_for(url))) as node:
        record_id = await record(node, body)
        view = await reaches(node, record_id, "review")
        assert view["decision"]["reason"] == "possible_duplicate"
        assert (await node.post(f"/records/{record_id}/print")).json()["rule"] == "in_review"
        # still in flight: the same NIK cannot be recorded again meanwhile
        assert (await node.post("/records", json=body)).status_code == 409
        fake.decide(view["submission_id"], body["nik"], "approved", "adjudicated")
        await reaches(node, record_id, "approved")
        assert (await node.post(f"/records/{record_id}/print")).status_code == 200


async def test_a_changed_centre_key_is_not_accepted(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    settings = settings_for(url)
    async with running(create_app(settings)) as node:
        await reaches(node, await record(node, resident(170)), "approved")
    fake.signer = Signer(Ed25519PrivateKey.generate())  # an impostor, or an unannounced rotation
    async with running(create_app(settings)) as node:
        record_id = await record(node, resident(171))

        async def refused() -> dict[str, Any] | None:
            status: dict[str, Any] = (await node.get("/status")).json()
            return status if status["centre_key"]["key_refused"] else None

        status = await eventually(refused, timeout=30, interval=0.05)
        assert "pinned" in status["last_error"]
        # no decision of the other key is applied: the record is not approved
        assert (await view_of(node, record_id))["state"] != "approved"
        response = await node.post(f"/records/{record_id}/print")
        assert response.json()["rule"] == "not_approved"


async def test_dropped_connections_are_retried_never_failed(settings_for: Settings) -> None:
    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # accept, then drop without a word: a link that dies mid-exchange

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running(create_app(settings_for(f"http://127.0.0.1:{port}"))) as node:
            record_id = await record(node, resident(180))

            async def retried() -> dict[str, Any] | None:
                view = await view_of(node, record_id)
                return view if view["attempts"] >= 3 else None

            view = await eventually(retried, timeout=20, interval=0.02)
            assert view["state"] in ("queued", "uploading")
            assert "centre" in view["last_error"]
            status = (await node.get("/status")).json()
            assert status["counts"]["failed"] == 0
            assert status["central"]["consecutive_failures"] >= 1
    finally:
        server.close()
        await server.wait_closed()


async def stored(
    settings: LocalSettings, record_id: str
) -> tuple[str, list[tuple[str, dt.datetime | None]]]:
    """The record's state and the queue's entries (id, lease), read after the node stopped."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            state = (
                await conn.execute(select(records.c.state).where(records.c.id == record_id))
            ).scalar_one()
            entries = (await conn.execute(select(outbox.c.record_id, outbox.c.lease_until))).all()
    finally:
        await engine.dispose()
    return state, [(e.record_id, e.lease_until) for e in entries]


async def test_shutdown_gives_back_the_leases_of_batches_in_flight(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    fake.hold = asyncio.Event()
    settings = settings_for(url)
    async with running(create_app(settings)) as node:
        record_id = await record(node, resident(190))
        await reaches(node, record_id, "uploading")
    state, entries = await stored(settings, record_id)
    fake.hold.set()  # let the stand-in finish the abandoned request before it shuts down
    assert (state, entries) == ("queued", [(record_id, None)])


async def test_shutdown_lets_a_batch_answered_within_the_grace_period_settle(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    fake, url = centre
    fake.hold = asyncio.Event()
    settings = settings_for(url, shutdown_grace_seconds=30)
    app = create_app(settings)
    lifespan = running(app)
    node = await lifespan.__aenter__()
    try:
        record_id = await record(node, resident(191))
        await reaches(node, record_id, "uploading")
    finally:
        # the lifespan's end stops the worker (once: the lifespan is the only one to stop it)
        stopping = asyncio.create_task(lifespan.__aexit__(None, None, None))
    await eventually(lambda: app.state.worker.stopping, timeout=10)
    fake.hold.set()  # the centre answers while the node is in its grace period
    await stopping
    # acknowledged, not released: the answer that came in the grace period was kept
    assert await stored(settings, record_id) == ("awaiting_decision", [])
