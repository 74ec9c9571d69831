"""tus from outside: tuspy (a client no one here wrote) uploads heavy packets to a real centre
over TLS, through cuts mid-chunk and a SIGKILL of the centre; a held approval is published only
once the packet is whole; two centre processes on PostgreSQL take alternating chunks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest
from central import factories as f
from central import tus_support as tus
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader import Uploader

from ektp_sync.launch import Deployment, central_process, free_port
from ektp_sync.testing import DeploymentFactory, WanLink, eventually

pytestmark = pytest.mark.integration

PHOTO = os.urandom(100_000)
CHUNK = 16_384


class Sha256Uploader(Uploader):
    """tuspy sends sha1 checksums by default; the centre takes sha256 as well."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def _wrong_sha256(data: bytes) -> Any:
    return hashlib.sha256(data + b"!")


class LyingUploader(Uploader):
    """Sends a sha256 that is not the chunk's."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", _wrong_sha256)


async def start_centre(ektp_deployment: DeploymentFactory, **options: Any) -> Deployment:
    """A centre (and the simulated link when asked) without office nodes: tuspy is the client."""
    d = await ektp_deployment(start=False, **options)
    parts = [d.central, *([d.netsim] if d.netsim else [])]
    for process in parts:
        process.start()
    for process in parts:
        await process.wait_ready()
    return d


def office(d: Deployment, base: str | None = None) -> httpx.AsyncClient:
    key = d.office_keys[d.offices[0]]
    return httpx.AsyncClient(
        base_url=f"{base or d.central_url}/api/v1",
        headers={"Authorization": f"Bearer {key}"},
        verify=d.verify,
        timeout=30,
    )


def tus_client(d: Deployment, base: str | None = None) -> TusClient:
    key = d.office_keys[d.offices[0]]
    return TusClient(
        f"{base or d.central_url}/api/v1/uploads", headers={"Authorization": f"Bearer {key}"}
    )


def uploader(
    client: TusClient,
    sid: str,
    content: bytes,
    url: str | None = None,
    kind: type[Uploader] = Sha256Uploader,
) -> Uploader:
    metadata = {"submission_id": sid, "name": "photo", "sha256": tus.sha256_hex(content)}
    return kind(
        client=client,
        url=url,
        file_stream=io.BytesIO(content),
        chunk_size=CHUNK,
        metadata=metadata,
        upload_checksum=True,
    )


@pytest.fixture
def trust_deployment_ca(monkeypatch: pytest.MonkeyPatch) -> Callable[[Deployment], None]:
    """tuspy (requests) verifies TLS against REQUESTS_CA_BUNDLE: the deployment's own CA."""

    def trust(d: Deployment) -> None:
        assert d.tls_files is not None, "the centre serves TLS in these tests"
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(d.tls_files.ca))

    return trust


async def enrol_with_photo(client: httpx.AsyncClient, seed: int) -> str:
    """Enrol a record announcing PHOTO, and a plain one after it: once the plain one is decided,
    so is the first (arrival order), whose approval is then held."""
    rng = np.random.default_rng(seed)
    heavy = f.item(f.with_manifest(f.record(f.unit(rng)), {"photo": PHOTO}))
    plain = f.item(f.record(f.unit(rng)))
    answer = await client.post("/enrollments", json=f.batch(heavy, plain))
    assert [r["status"] for r in answer.json()["results"]] == ["accepted", "accepted"]
    decided = await eventually(lambda: decisions(client, 1))
    assert [d["submission_id"] for d in decided] == [plain["submission_id"]]
    sid: str = heavy["submission_id"]
    return sid


async def decisions(client: httpx.AsyncClient, at_least: int) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = (await client.get("/decisions")).json()["decisions"]
    return found if len(found) >= at_least else None


async def offset(client: httpx.AsyncClient, url: str) -> int:
    head = await client.head(url, headers=tus.TUS)
    assert head.status_code == 200, head.headers
    return int(head.headers["upload-offset"])


async def assert_published_after_packet(client: httpx.AsyncClient, sid: str) -> None:
    both = await decisions(client, 2)
    assert both is not None
    assert both[1]["submission_id"] == sid and both[1]["status"] == "approved"
    assert both[1]["authorisation"]["submission_id"] == sid


async def test_tuspy_uploads_resumes_after_a_cut_mid_chunk_and_the_approval_follows(
    ektp_deployment: DeploymentFactory, trust_deployment_ca: Callable[[Deployment], None]
) -> None:
    d = await start_centre(ektp_deployment, link=True)
    trust_deployment_ca(d)
    async with office(d) as client, WanLink.of(d) as link:
        sid = await enrol_with_photo(client, seed=1)
        first = uploader(tus_client(d, d.link_url), sid, PHOTO)
        await asyncio.to_thread(first.upload_chunk)
        await asyncio.to_thread(first.upload_chunk)
        assert first.url is not None and first.url.startswith("https://")
        assert await offset(client, first.url) == 2 * CHUNK
        # the link closes every connection after 4 KB: the next chunk is cut in its middle
        async with link.toxic("limit_data", "upstream", bytes=4096):
            with pytest.raises((TusUploadFailed, TusCommunicationError)):
                await asyncio.to_thread(first.upload_chunk)
        assert await offset(client, first.url) == 2 * CHUNK  # nothing of the cut chunk
        assert await decisions(client, 2) is None  # held: the packet is not whole
        # a new tuspy uploader on the same URL asks the offset and sends only the rest
        resumed = uploader(tus_client(d, d.link_url), sid, PHOTO, url=first.url)
        assert resumed.offset == 2 * CHUNK
        await asyncio.to_thread(resumed.upload)
        await assert_published_after_packet(client, sid)


async def test_a_chunk_with_a_wrong_checksum_is_refused_460(
    ektp_deployment: DeploymentFactory, trust_deployment_ca: Callable[[Deployment], None]
) -> None:
    d = await start_centre(ektp_deployment)
    trust_deployment_ca(d)
    async with office(d) as client:
        sid = await enrol_with_photo(client, seed=2)
        liar = uploader(tus_client(d), sid, PHOTO, kind=LyingUploader)
        with pytest.raises(TusCommunicationError) as refused:
            await asyncio.to_thread(liar.upload_chunk)
        assert refused.value.status_code == 460
        assert liar.url is not None and await offset(client, liar.url) == 0
        # sha1, which every tus client may use, works
        honest = uploader(tus_client(d), sid, PHOTO, url=liar.url, kind=Uploader)
        await asyncio.to_thread(honest.upload)
        await assert_published_after_packet(client, sid)


async def test_sigkill_of_the_centre_mid_upload_keeps_the_offset(
    ektp_deployment: DeploymentFactory, trust_deployment_ca: Callable[[Deployment], None]
) -> None:
    d = await start_centre(ektp_deployment)
    trust_deployment_ca(d)
    async with office(d) as client:
        sid = await enrol_with_photo(client, seed=3)
        first = uploader(tus_client(d), sid, PHOTO)
        for _ in range(3):
            await asyncio.to_thread(first.upload_chunk)
        assert first.url is not None
        d.central.kill()  # SIGKILL: only what was committed is left
        d.central.start()
        await d.central.wait_ready()
        assert await offset(client, first.url) == 3 * CHUNK
        # creating again (a node that lost the Location) finds the same upload
        again = await tus.create(client, sid, "photo", PHOTO)
        assert again.headers["location"] == first.url
        resumed = uploader(tus_client(d), sid, PHOTO, url=first.url)
        await asyncio.to_thread(resumed.upload)
        await assert_published_after_packet(client, sid)


@pytest.mark.postgres
@pytest.mark.parametrize("db_factory", ["postgresql"], indirect=True)
async def test_two_centre_processes_on_postgresql_take_alternating_chunks(
    ektp_deployment: DeploymentFactory, db_factory: Callable[[], Awaitable[str]]
) -> None:
    db = await db_factory()
    d = await start_centre(ektp_deployment, central_db=db)
    keys = d.base_dir / "central"
    second = central_process(
        d.base_dir / "second",
        free_port(),
        d.office_keys,
        d.admin_key,
        db,
        extra=[
            "--data-key-file",
            str(keys / "data.key"),
            "--signing-key",
            str(keys / "central_signing_key.pem"),
        ],
        tls=d.tls_files,
    )
    second.start()
    try:
        await second.wait_ready()
        other = second.health_url.removesuffix("/healthz")
        files = {"photo": PHOTO[:40_000], "iris": PHOTO[40_000:70_000]}
        async with office(d) as a, office(d, other) as b:
            rng = np.random.default_rng(4)
            item = f.item(f.with_manifest(f.record(f.unit(rng)), files))
            await a.post("/enrollments", json=f.batch(item))
            sid = item["submission_id"]
            urls = {}
            for name, content in files.items():
                created = await tus.create(b if name == "iris" else a, sid, name, content)
                urls[name] = created.headers["location"].split("/api/v1")[1]
            # every chunk but the last of each file, alternately through one process and the other
            ends = {}
            for name, content in files.items():
                start, turn = 0, 0
                while start + 5000 < len(content):
                    client = (a, b)[turn % 2]
                    answer = await tus.patch(
                        client, urls[name], start, content[start : start + 5000]
                    )
                    assert answer.status_code == 204, answer.text
                    start, turn = start + 5000, turn + 1
                ends[name] = start
            # the two last chunks at once, one to each process: exactly one publishes
            last = await asyncio.gather(
                tus.patch(a, urls["photo"], ends["photo"], files["photo"][ends["photo"] :]),
                tus.patch(b, urls["iris"], ends["iris"], files["iris"][ends["iris"] :]),
            )
            assert [r.status_code for r in last] == [204, 204]
            published = await eventually(lambda: decisions(a, 1))
            assert [(p["submission_id"], p["status"]) for p in published] == [(sid, "approved")]
            assert await decisions(b, 2) is None
    finally:
        second.stop()


async def test_an_acknowledgement_lost_on_the_way_back_costs_nothing(
    ektp_deployment: DeploymentFactory,
) -> None:
    """The chunk is committed, its 204 never arrives (the link holds answers for 3 s, the
    client gives up after 1 s): HEAD shows it stored, sending it again is a 409, and the rest
    follows from the centre's offset; the last chunk's answer lost alike, the packet is still
    complete and the approval published."""
    d = await start_centre(ektp_deployment, link=True)
    async with office(d) as client, office(d, d.link_url) as far, WanLink.of(d) as link:
        sid = await enrol_with_photo(client, seed=5)
        url = (await tus.create(far, sid, "photo", PHOTO)).headers["location"]
        async with link.toxic("latency", "downstream", latency=3000):
            with pytest.raises(httpx.TimeoutException):
                await far.patch(
                    url,
                    headers={**tus.CHUNK, "Upload-Offset": "0"},
                    content=PHOTO[:CHUNK],
                    timeout=1.0,
                )
        committed = await eventually(lambda: _offset_when(client, url, CHUNK))
        assert committed == CHUNK
        again = await tus.patch(far, url, 0, PHOTO[:CHUNK])
        assert again.status_code == 409 and again.json()["rule"] == "upload_offset"
        offset_now = await offset(far, url)
        while offset_now + CHUNK < len(PHOTO):
            answer = await tus.patch(far, url, offset_now, PHOTO[offset_now : offset_now + CHUNK])
            assert answer.status_code == 204, answer.text
            offset_now = int(answer.headers["upload-offset"])
        # the answer to the last chunk is lost too: the completion (and the approval it
        # publishes) committed all the same
        async with link.toxic("latency", "downstream", latency=3000):
            with pytest.raises(httpx.TimeoutException):
                await far.patch(
                    url,
                    headers={**tus.CHUNK, "Upload-Offset": str(offset_now)},
                    content=PHOTO[offset_now:],
                    timeout=1.0,
                )
        await eventually(lambda: _offset_when(client, url, len(PHOTO)))
        await assert_published_after_packet(client, sid)


async def _offset_when(client: httpx.AsyncClient, url: str, wanted: int) -> int | None:
    got = await offset(client, url)
    return got if got == wanted else None
