"""Floods that used to starve a server: a gzip bomb of items (the centre must refuse it while
its memory stays bounded), and 300 clients dripping their headers (a normal client still gets
in). Memory is read from outside, as the kernel's peak resident size of the centre's process."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import ssl
import zlib
from pathlib import Path

import httpx
import psutil
import pytest

from ektp_sync.launch import Deployment
from ektp_sync.testing import DeploymentFactory, OfficeClient, eventually
from tests.security.support import assert_refused, office_client

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
BOMB_ITEM = b'{"submission_id": "6172-0", "office_code": "6172", "record": {"nik": "1"}}, '


def gzip_bomb(inflated_mib: int = 240) -> bytes:
    """A batch of ever the same small item: about 0.25 MiB of gzip, `inflated_mib` inflated."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = BOMB_ITEM * (MiB // len(BOMB_ITEM))
    parts = [packer.compress(b'{"items": [')]
    parts += [packer.compress(block) for _ in range(inflated_mib)]
    parts.append(packer.compress(b'{"x": 1}]}') + packer.flush())
    return b"".join(parts)


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set (VmHWM), as the kernel counts it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


async def test_a_gzip_bomb_of_items_is_refused_with_the_centres_memory_bounded(
    ektp_deployment: DeploymentFactory,
) -> None:
    d = await ektp_deployment()
    bomb = gzip_bomb()
    assert len(bomb) < MiB  # small on the wire …
    pid = d.central.pid
    assert pid is not None
    before = peak_rss_bytes(pid)
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with office_client(d) as centre:
        # … four at once, as in the report that found it
        answers = await asyncio.gather(
            *(centre.post("/enrollments", content=bomb, headers=headers) for _ in range(4))
        )
        healthy = await centre.get(f"{d.central_url}/healthz")
    for answer in answers:
        assert_refused(answer, 422, "json_items")
    assert healthy.status_code == 200
    grown = peak_rss_bytes(pid) - before
    assert grown < 100 * MiB, f"the centre's peak memory grew by {grown / MiB:.0f} MiB"


def limit_open_files(pid: int, limit: int) -> None:
    """The process may hold `limit` files at most from now on (as on a small box; a server
    raises its soft limit to the hard one at start, so both are set, from outside)."""
    psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE, (limit, limit))


async def drip(
    d: Deployment, context: ssl.SSLContext, stop: asyncio.Event, arrived: list[bool]
) -> bool:
    """One slow client: a request line, then a header line now and then, never the end.
    True when the server cut it off (it did not wait for us to give up). Appends to `arrived`
    once it has reached the server (or been turned away)."""
    host, port = d.local_url().removeprefix("https://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
    except OSError:
        arrived.append(False)
        return True  # refused or reset at once: over the cap, which is fine
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            await writer.drain()
        finally:
            arrived.append(True)  # reached the server, or was cut off on the way: it arrived
        for n in range(120):  # bounded: two minutes at most
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if stop.is_set():
                return False
            if reader.at_eof():
                return True
            writer.write(b"X-Drip-%d: 1\r\n" % n)
            await writer.drain()
        return False
    except (OSError, ssl.SSLError):
        return True
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def test_300_slow_clients_do_not_keep_a_normal_client_out(
    ektp_deployment: DeploymentFactory,
) -> None:
    # this process holds 300 connections and more: raise its own soft limit (up to 4096)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    d = await ektp_deployment(
        local_extra=["--header-timeout-seconds", "3", "--max-connections", "100"]
    )
    node_pid = d.locals[d.offices[0]].pid
    assert node_pid is not None
    limit_open_files(node_pid, 256)
    context = ssl.create_default_context(cafile=str(d.tls_files.ca)) if d.tls_files else None
    assert context is not None
    stop = asyncio.Event()
    arrived: list[bool] = []
    drippers = [asyncio.create_task(drip(d, context, stop, arrived)) for _ in range(300)]
    try:
        # the normal client tries only once every slow one holds (or was refused) a connection
        await eventually(
            lambda: len(arrived) == len(drippers), timeout=60, message="drippers not connected"
        )

        async def healthz() -> bool:
            try:
                async with httpx.AsyncClient(verify=d.verify, timeout=5) as client:
                    answer = await client.get(f"{d.local_url()}/healthz")
                    return answer.status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthz, timeout=60, message="the node never answered /healthz")
        async with OfficeClient.of(d) as node:
            assert (await node.http.get("/status")).status_code == 200
        # and the server cut every dripper off (each would drip for two minutes otherwise)
        await eventually(
            lambda: all(t.done() for t in drippers), timeout=60, message="slow clients still on"
        )
        assert all(t.result() for t in drippers)
    finally:
        stop.set()
        await asyncio.gather(*drippers, return_exceptions=True)
