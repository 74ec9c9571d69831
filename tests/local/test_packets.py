"""Heavy packets on the node: the core goes first with a manifest, the attachments follow as
resumable, verified tus uploads, sealed on disk, and a rejection cancels what is left."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ektp_sync.config import LocalSettings
from ektp_sync.storage import create_engine
from ektp_sync.testing import eventually
from local_server.app import create_app
from local_server.store.tables import packet_files

from .conftest import record, running
from .fake_tus import FakeUploads
from .residents import resident
from .test_sync import reaches, view_of

Settings = Callable[..., LocalSettings]


def files(count: int, size: int) -> dict[str, bytes]:
    return {f"finger_{i}": os.urandom(size) for i in range(count)}


def carrying(body: dict[str, Any], attachments: dict[str, bytes]) -> dict[str, Any]:
    encoded = {name: base64.b64encode(raw).decode("ascii") for name, raw in attachments.items()}
    return {**body, "biometrics": {**body["biometrics"], "attachments": encoded}}


def packet_settings(
    settings_for: Settings, url: str, tmp_path: Path, **extra: Any
) -> LocalSettings:
    # 4 KB chunks: a 20 KB attachment takes several, so faults land between them; every
    # packet apart, however light
    values = {"chunk_bytes": 4096, "upload_streams": 2, "packet_min_bytes": 0} | extra
    return settings_for(url, data_dir=tmp_path, **values)


async def test_core_first_then_packet_sealed_and_visible(
    tus: tuple[FakeUploads, str], settings_for: Settings, tmp_path: Path
) -> None:
    uploads, url = tus
    sent = files(3, 20_000)
    settings = packet_settings(settings_for, url, tmp_path)
    async with running(create_app(settings)) as node:
        record_id = await record(node, carrying(resident(300), sent))
        approved = await reaches(node, record_id, "approved")
    submission = approved["submission_id"]
    # the core carried the manifest, the attachments came apart, whole and verified
    for name, raw in sent.items():
        assert uploads.complete[(submission, name)] == raw
    assert uploads.patches >= 15  # chunked: 3 × 20 KB in 4 KB chunks
    transfer = approved["transfer"]
    assert transfer["bytes_total"] == transfer["bytes_acked"] == 60_000
    assert {n: (p["size"], p["acked"]) for n, p in transfer["attachments"].items()} == {
        n: (20_000, 20_000) for n in sent
    }
    # sealed at rest: no attachment's bytes in the database
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(select(packet_files.c.content))).scalars().all()
    finally:
        await engine.dispose()
    assert len(stored) == 3
    assert not any(raw[:64] in bytes(blob) for blob in stored for raw in sent.values())


async def test_lost_answers_and_a_damaged_upload_are_sent_again_never_doubled(
    tus: tuple[FakeUploads, str], settings_for: Settings, tmp_path: Path
) -> None:
    uploads, url = tus
    uploads.lose_answers = 3  # chunks stored, answers lost: the node must ask, not resend
    uploads.damage_first = {"finger_0"}  # its whole SHA-256 misses: the centre asks again
    sent = files(2, 20_000)
    async with running(create_app(packet_settings(settings_for, url, tmp_path))) as node:
        record_id = await record(node, carrying(resident(301), sent))
        approved = await reaches(node, record_id, "approved")
    for name, raw in sent.items():
        assert uploads.complete[(approved["submission_id"], name)] == raw
    part = approved["transfer"]["attachments"]["finger_0"]
    assert part["state"] == "done"
    assert "SHA-256 does not match" in part["last_error"]  # the reason of the resend
    # one file sent twice (the resend), the other once; lost answers cost no bytes
    assert uploads.bytes_received <= 3 * 20_000 + 3 * 4096


async def test_rejection_cancels_remaining_uploads(
    tus: tuple[FakeUploads, str], settings_for: Settings, tmp_path: Path
) -> None:
    uploads, url = tus
    uploads.gate = asyncio.Event()
    fake = uploads.centre
    async with running(create_app(packet_settings(settings_for, url, tmp_path))) as node:
        record_id = await record(node, carrying(resident(302), files(2, 20_000)))

        async def uploading() -> bool:
            return len(uploads.uploads) == 2

        await eventually(uploading, timeout=30, interval=0.05)
        view = await view_of(node, record_id)
        fake.decide(view["submission_id"], view["nik"], "rejected", "duplicate_identity")
        await reaches(node, record_id, "rejected")

        async def cancelled() -> dict[str, Any] | None:
            transfer = (await view_of(node, record_id))["transfer"]
            states = {p["state"] for p in transfer["attachments"].values()}
            return transfer if states == {"cancelled"} else None

        transfer = await eventually(cancelled, timeout=30, interval=0.05)
        uploads.gate.set()
        assert sorted(uploads.deleted) == [
            (view["submission_id"], n) for n in ("finger_0", "finger_1")
        ]
        assert transfer["bytes_acked"] < transfer["bytes_total"]
        assert not uploads.uploads


async def test_inline_sender_keeps_attachments_in_the_batch(
    tus: tuple[FakeUploads, str], settings_for: Settings, tmp_path: Path
) -> None:
    uploads, url = tus
    settings = packet_settings(settings_for, url, tmp_path, inline_attachments=True)
    async with running(create_app(settings)) as node:
        record_id = await record(node, carrying(resident(303), files(1, 10_000)))
        approved = await reaches(node, record_id, "approved")
    assert uploads.patches == 0 and not uploads.waiting
    assert approved["transfer"] == {"bytes_total": 0, "bytes_acked": 0, "attachments": {}}


async def test_light_attachments_stay_inline(
    tus: tuple[FakeUploads, str], settings_for: Settings, tmp_path: Path
) -> None:
    uploads, url = tus
    settings = packet_settings(settings_for, url, tmp_path, packet_min_bytes=64 * 1024)
    async with running(create_app(settings)) as node:
        light = await record(node, carrying(resident(305), files(2, 20_000)))
        heavy = await record(node, carrying(resident(306), files(2, 40_000)))
        await reaches(node, light, "approved")
        approved = await reaches(node, heavy, "approved")
    transfer = approved["transfer"]
    assert transfer["bytes_total"] == transfer["bytes_acked"] == 80_000
    assert [sid for sid, _ in uploads.complete] == [approved["submission_id"]] * 2


async def test_a_manifest_from_an_operator_is_refused(
    tus: tuple[FakeUploads, str], settings_for: Settings, tmp_path: Path
) -> None:
    _, url = tus
    body = resident(304)
    digest = hashlib.sha256(b"x").hexdigest()
    body["biometrics"]["manifest"] = {"photo": {"size": 1, "sha256": digest}}
    async with running(create_app(packet_settings(settings_for, url, tmp_path))) as node:
        response = await node.post("/records", json=body)
    assert response.status_code == 422
    assert response.json()["rule"] == "manifest_not_accepted"
