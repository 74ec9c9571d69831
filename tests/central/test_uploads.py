"""Heavy packets at the centre: manifests at intake, tus uploads, held approvals (both DBs)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import numpy as np

from ektp_sync.config import CentralSettings
from ektp_sync.signing import load_public_key, verify
from ektp_sync.testing import eventually
from ektp_sync.wire import Authorisation

from . import factories as f
from . import tus_support as tus
from .conftest import Centre, running

PHOTO = os.urandom(5000)
SIGNATURE = os.urandom(1200)
FILES = {"photo": PHOTO, "signature": SIGNATURE}


async def decisions(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    page = (await client.get("/decisions", params={"limit": 1000})).json()
    decided: list[dict[str, Any]] = page["decisions"]
    return decided


async def status_of(client: httpx.AsyncClient, submission_id: str) -> str:
    status: str = (await client.get(f"/enrollments/{submission_id}")).json()["status"]
    return status


async def enrol(client: httpx.AsyncClient, files: dict[str, bytes], seed: int = 1) -> str:
    rec = f.with_manifest(f.record(f.unit(np.random.default_rng(seed))), files)
    item = f.item(rec)
    answer = await client.post("/enrollments", json=f.batch(item))
    assert answer.json()["results"][0]["status"] == "accepted", answer.text
    sid: str = item["submission_id"]
    return sid


async def held(centre: Centre, client: httpx.AsyncClient, sid: str) -> None:
    """Waits until the dedup worker has decided `sid` (and held its approval)."""

    async def decided() -> bool:
        async with centre.parts.store.decisions.transaction() as tx:
            found = await tx.submission(sid)
        return found is not None and found[1].value == "held"

    await eventually(decided)
    assert await decisions(client) == []
    assert await status_of(client, sid) == "pending"


async def test_approval_is_held_until_every_attachment_arrived(centre: Centre) -> None:
    async with centre.office() as office:
        sid = await enrol(office, FILES)
        await held(centre, office, sid)
        await tus.send(office, sid, "photo", PHOTO, chunk=1500)
        assert await decisions(office) == []  # one of two attachments is not enough
        await tus.send(office, sid, "signature", SIGNATURE)
        # published in the transaction of the last chunk: there when its 204 came back
        [decision] = await decisions(office)
        assert decision["status"] == "approved" and decision["reason"] == "new_identity"
        authorisation = Authorisation.model_validate(decision["authorisation"])
        public = load_public_key((await office.get("/keys")).json()["public_key"])
        assert verify(authorisation, public)
        assert await status_of(office, sid) == "approved"
        metrics = (await office.get("http://centre/metrics")).text
        assert f"ektp_upload_bytes_total {float(len(PHOTO) + len(SIGNATURE))}" in metrics
        assert 'ektp_uploads_total{result="complete"} 2.0' in metrics
        assert 'ektp_decisions_total{reason="new_identity",status="approved"} 1.0' in metrics
    assert await centre.parts.packets.attachments(sid) == FILES


async def test_rejection_is_published_without_the_packet(centre: Centre) -> None:
    rng = np.random.default_rng(5)
    person = f.unit(rng)
    async with centre.office() as office:
        first = f.item(f.record(person))
        second = f.item(f.with_manifest(f.record(f.near(person, 0.99, rng)), FILES))
        # a possible duplicate goes to review, its packet still needed until a reject
        third = f.item(f.with_manifest(f.record(f.near(person, 0.78, rng)), FILES))
        await office.post("/enrollments", json=f.batch(first, second))
        published = await eventually(lambda: _count(office, 2))
        assert [(d["status"], d["reason"]) for d in published] == [
            ("approved", "new_identity"),
            ("rejected", "duplicate_identity"),
        ]
        await office.post("/enrollments", json=f.batch(third))
        [*_, review] = await eventually(lambda: _count(office, 3))
        assert (review["submission_id"], review["status"]) == (third["submission_id"], "review")
        # its uploads are not needed any more
        refused = await tus.create(office, second["submission_id"], "photo", PHOTO)
        assert refused.status_code == 410 and refused.json()["rule"] == "not_needed"
        # nor any it had begun
        url = (await tus.create(office, third["submission_id"], "photo", PHOTO)).headers["location"]
        assert (await tus.patch(office, url, 0, PHOTO[:100])).status_code == 204
        async with centre.admin() as admin:
            answer = await admin.post(
                f"/reviews/{third['submission_id']}", json={"decision": "reject"}
            )
            assert answer.status_code == 200, answer.text
        head = await office.head(url, headers=tus.TUS)
        assert head.status_code == 410 and head.headers["ektp-rule"] == "not_needed"
        assert (await office.delete(url, headers=tus.TUS)).status_code == 204


async def _count(client: httpx.AsyncClient, n: int) -> list[dict[str, Any]] | None:
    got = await decisions(client)
    return got if len(got) >= n else None


async def test_creation_is_idempotent_and_head_tells_the_offset(centre: Centre) -> None:
    async with centre.office() as office:
        sid = await enrol(office, FILES)
        first = await tus.create(office, sid, "photo", PHOTO)
        assert first.status_code == 201 and "upload-expires" in first.headers
        assert first.headers["tus-resumable"] == "1.0.0"
        url = first.headers["location"]
        assert (await tus.patch(office, url, 0, PHOTO[:2000])).status_code == 204
        again = await tus.create(office, sid, "photo", PHOTO)  # the node lost the answer
        assert again.status_code == 201 and again.headers["location"] == url
        head = await office.head(url, headers=tus.TUS)
        assert head.status_code == 200
        assert head.headers["upload-offset"] == "2000"
        assert head.headers["upload-length"] == str(len(PHOTO))
        assert head.headers["cache-control"] == "no-store"


async def test_bad_uploads_are_refused_and_store_nothing(centre: Centre) -> None:
    async with centre.office() as office, centre.office("6101") as other:
        sid = await enrol(office, FILES)
        url = (await tus.create(office, sid, "photo", PHOTO)).headers["location"]
        # another office's submission or upload, or an unknown one: 404 alike
        assert (await tus.create(other, sid, "photo", PHOTO)).status_code == 404
        assert (await tus.create(office, "6172-nope", "photo", PHOTO)).status_code == 404
        assert (await other.head(url, headers=tus.TUS)).status_code == 404
        assert (await tus.patch(other, url, 0, PHOTO[:10])).status_code == 404
        # a name not in the manifest, or a size/hash that is not the manifest's
        assert (await tus.create(office, sid, "iris", PHOTO)).status_code == 404
        wrong = await tus.create(office, sid, "photo", PHOTO[:-1])
        assert wrong.status_code == 422 and wrong.json()["rule"] == "manifest_size"
        # wrong offset
        wrong = await tus.patch(office, url, 10, PHOTO[10:20])
        assert wrong.status_code == 409 and wrong.json()["rule"] == "upload_offset"
        # chunk checksum mismatch: 460, nothing stored
        bad = await office.patch(
            url,
            headers={**tus.CHUNK, "Upload-Offset": "0", "Upload-Checksum": tus.checksum(b"x")},
            content=PHOTO[:100],
        )
        assert bad.status_code == 460 and bad.json()["rule"] == "checksum_mismatch"
        # past the declared length
        past = await tus.patch(office, url, 0, PHOTO + b"more")
        assert past.status_code == 413 and past.json()["rule"] == "upload_length_exceeded"
        # more than a record may carry, at creation: 413, nothing made
        too_big = await office.post(
            "/uploads",
            headers={
                **tus.TUS,
                "Upload-Length": str(2 * 1024 * 1024 + 1),
                "Upload-Metadata": tus.metadata(sid, "signature", SIGNATURE),
            },
        )
        assert too_big.status_code == 413
        # no Tus-Resumable, wrong content type
        assert (await office.head(url)).status_code == 412
        plain = await office.patch(
            url, headers={**tus.TUS, "Upload-Offset": "0"}, content=PHOTO[:10]
        )
        assert plain.status_code == 415
        assert (await office.head(url, headers=tus.TUS)).headers["upload-offset"] == "0"


async def test_a_whole_file_that_does_not_match_is_discarded_and_asked_again(
    centre: Centre,
) -> None:
    async with centre.office() as office:
        sid = await enrol(office, {"photo": PHOTO})
        await held(centre, office, sid)
        url = (await tus.create(office, sid, "photo", PHOTO)).headers["location"]
        corrupt = bytes([PHOTO[0] ^ 1]) + PHOTO[1:]  # each chunk's own checksum is right
        assert (await tus.patch(office, url, 0, corrupt[:3000])).status_code == 204
        last = await tus.patch(office, url, 3000, corrupt[3000:])
        assert last.status_code == 410 and last.json()["rule"] == "resend_requested"
        head = await office.head(url, headers=tus.TUS)
        assert head.status_code == 410 and head.headers["ektp-rule"] == "resend_requested"
        assert await decisions(office) == []
        # created again: a new URL, from byte 0
        fresh = await tus.send(office, sid, "photo", PHOTO)
        assert fresh != url
        [decision] = await decisions(office)
        assert decision["status"] == "approved"


async def test_termination_and_options(centre: Centre) -> None:
    async with centre.office() as office:
        options = await office.options("/uploads")
        assert options.status_code == 204
        assert options.headers["tus-version"] == "1.0.0"
        assert set(options.headers["tus-extension"].split(",")) == {
            "creation",
            "checksum",
            "termination",
            "expiration",
        }
        assert options.headers["tus-checksum-algorithm"] == "sha1,sha256"
        assert options.headers["tus-max-size"] == str(2 * 1024 * 1024)
        sid = await enrol(office, FILES)
        url = (await tus.create(office, sid, "photo", PHOTO)).headers["location"]
        await tus.patch(office, url, 0, PHOTO[:100])
        assert (await office.delete(url, headers=tus.TUS)).status_code == 204
        assert (await office.head(url, headers=tus.TUS)).status_code == 404
        again = await tus.create(office, sid, "photo", PHOTO)
        assert again.headers["location"] != url
        assert (await office.head(again.headers["location"], headers=tus.TUS)).headers[
            "upload-offset"
        ] == "0"


async def test_an_abandoned_upload_expires_and_is_swept(settings: CentralSettings) -> None:
    quick = settings.model_copy(update={"upload_expiry_seconds": 1.0})
    async for centre in running(quick):
        async with centre.office() as office:
            sid = await enrol(office, FILES)
            created = await tus.create(office, sid, "photo", PHOTO)
            url = created.headers["location"]
            assert (await tus.patch(office, url, 0, PHOTO[:100])).status_code == 204

            async def gone(url: str = url) -> httpx.Response | None:
                head = await office.head(url, headers=tus.TUS)
                return head if head.status_code == 410 else None

            head = await eventually(gone, timeout=20)
            assert head.headers["ektp-rule"] == "upload_expired"
            # created again: a fresh upload from byte 0, which can still finish the packet
            await tus.send(office, sid, "photo", PHOTO)
            await tus.send(office, sid, "signature", SIGNATURE)
            [decision] = await eventually(lambda: _count(office, 1))
            assert decision["status"] == "approved"
            assert await centre.parts.packets.attachments(sid) == FILES


async def test_a_bad_manifest_makes_the_item_invalid_with_its_rule(centre: Centre) -> None:
    rng = np.random.default_rng(9)
    good = f.manifest_of({"photo": PHOTO})["photo"]
    cases = {
        "manifest_sha256": {"photo": {**good, "sha256": "xyz"}},
        "manifest_size": {"photo": {**good, "size": -1}},
        "attachments_too_large": {
            "photo": {**good, "size": 2 * 1024 * 1024},
            "iris": {**good, "size": 1},
        },
    }
    items = []
    for manifest in cases.values():
        rec = f.record(f.unit(rng))
        rec["biometrics"]["manifest"] = manifest
        items.append(f.item(rec))
    twice = f.record(f.unit(rng), attachments={"photo": PHOTO})
    twice["biometrics"]["manifest"] = {"photo": good}
    items.append(f.item(twice))
    async with centre.office() as office:
        results = (await office.post("/enrollments", json=f.batch(*items))).json()["results"]
        rules = [*cases, "manifest_name_twice"]
        for rule, result in zip(rules, results, strict=True):
            assert result["status"] == "invalid"
            assert f"(rule {rule})" in " ".join(result["errors"]), (rule, result)
            # nothing of it was stored as an upload
            created = await tus.create(office, result["submission_id"], "photo", PHOTO)
            assert created.status_code in (404, 410)


async def test_an_adjudicated_approval_also_waits_for_its_packet(centre: Centre) -> None:
    rng = np.random.default_rng(12)
    person = f.unit(rng)
    first = f.item(f.record(person))
    maybe = f.item(f.with_manifest(f.record(f.near(person, 0.78, rng)), {"photo": PHOTO}))
    sid = maybe["submission_id"]
    async with centre.office() as office, centre.admin() as admin:
        await office.post("/enrollments", json=f.batch(first, maybe))
        [_, review] = await eventually(lambda: _count(office, 2))
        assert (review["submission_id"], review["status"]) == (sid, "review")
        url = (await tus.create(office, sid, "photo", PHOTO)).headers["location"]
        assert (await tus.patch(office, url, 0, PHOTO[:1000])).status_code == 204
        answer = await admin.post(f"/reviews/{sid}", json={"decision": "approve"})
        assert answer.status_code == 200, answer.text
        assert len(await decisions(office)) == 2  # held: the packet is not whole
        assert (await tus.patch(office, url, 1000, PHOTO[1000:])).status_code == 204
        [*_, approved] = await decisions(office)
        assert (approved["submission_id"], approved["status"], approved["reason"]) == (
            sid,
            "approved",
            "adjudicated",
        )
        assert approved["authorisation"]["submission_id"] == sid
