"""Slow request bodies, with real servers and raw sockets: a client that sends its head and then
drips its body is answered 408 and cut off (its connection slot freed for a real office), one
that is slow but keeps sending is served, and a big body the server itself is slow to read is
not held against its client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import ssl
from typing import Any

import pytest

from ektp_sync.domain.operators import Role
from ektp_sync.launch import Deployment
from ektp_sync.slowclients import BODY_IDLE_RULE
from ektp_sync.testing import CentreAdmin, DeploymentFactory, OfficeClient
from tests.security.support import item, office_client, resident

pytestmark = pytest.mark.integration

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(d: Deployment, url: str | None = None) -> Connection:
    """A TLS connection to the deployment's node (or to `url`), spoken to in bytes."""
    host, port = (url or d.local_url()).removeprefix("https://").split(":")
    assert d.tls_files is not None
    context = ssl.create_default_context(cafile=str(d.tls_files.ca))
    return await asyncio.open_connection(host, int(port), ssl=context)


async def hang_up(connection: Connection) -> None:
    writer = connection[1]
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


def record_head(d: Deployment, length: int | None) -> bytes:
    """The head of `POST /api/v1/records` with a `length`-byte body (None: chunked), as the
    node's clerk (one request on the connection: the server closes it after its answer)."""
    host = d.local_url().removeprefix("https://")
    token = d.operator_token(Role.CLERK)
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    return (
        b"POST /api/v1/records HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
        b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n%s\r\n\r\n"
        % (host.encode(), token.encode(), framing)
    )


def parse(raw: bytes) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one whole response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head, "the server closed without an answer"
    return int(head.split(b" ", 2)[1]), json.loads(body)


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[start : start + size] for start in range(0, len(body), size)]


async def send_slowly(
    connection: Connection, head: bytes, parts: list[bytes], every: float
) -> tuple[int, dict[str, Any]]:
    """Send `head` at once, then `parts` one every `every` seconds (the client's own pace: the
    scenario itself), and read the answer up to the server's close. Stops sending as soon as
    the server has answered; fails when, all parts sent, it neither answers nor closes."""
    reader, writer = connection
    writer.write(head)
    answer = asyncio.ensure_future(reader.read())  # all the server says, up to its close
    for part in parts:
        if answer.done():
            break
        with contextlib.suppress(ConnectionError):
            writer.write(part)
            await writer.drain()
        await asyncio.wait({answer}, timeout=every)
    return parse(await asyncio.wait_for(answer, timeout=60))


async def test_a_body_dripper_is_answered_408_and_its_slot_freed_for_an_office(
    ektp_deployment: DeploymentFactory,
) -> None:
    slots = 3
    d = await ektp_deployment(
        local_extra=["--body-idle-seconds", "1", "--max-connections", str(slots)]
    )
    body = json.dumps(resident(seed=3)).encode()
    bytes_ = pieces(body, 1)[:12]  # a byte every 5 s: a minute of dripping if nobody stops it
    chunks = [b"1\r\n%s\r\n" % byte for byte in bytes_]  # the same, one-byte chunks
    drippers = [await connect(d) for _ in range(slots)]  # every slot of the node held
    try:
        answers = await asyncio.gather(
            send_slowly(drippers[0], record_head(d, len(body)), bytes_, 5),
            send_slowly(drippers[1], record_head(d, len(body)), bytes_, 5),
            send_slowly(drippers[2], record_head(d, None), chunks, 5),
        )
        for status, answer in answers:
            assert status == 408, answer
            assert answer["rule"] == BODY_IDLE_RULE, answer
        # each answer was read up to the server's close, before we hung up: the server let go
        # of the slots itself, and one of them takes an office's record
        async with OfficeClient.of(d) as node:
            record = await node.http.post("/records", json=resident(seed=4))
            assert record.status_code == 201, record.text
    finally:
        for connection in drippers:
            await hang_up(connection)


async def test_a_slow_but_steady_body_is_served(ektp_deployment: DeploymentFactory) -> None:
    d = await ektp_deployment(local_extra=["--body-idle-seconds", "2"])
    body = json.dumps(resident(seed=3)).encode()
    connection = await connect(d)
    try:
        # 12 parts, one every 0.4 s: nearly 5 s in all, more than twice the idle deadline
        status, answer = await send_slowly(
            connection, record_head(d, len(body)), pieces(body, -(-len(body) // 12)), 0.4
        )
    finally:
        await hang_up(connection)
    assert status == 201, answer
    assert answer["state"] == "queued"
    async with OfficeClient.of(d) as node:
        assert (await node.http.get(f"/records/{answer['id']}")).status_code == 200


def with_attachments(record: dict[str, Any], files: int, size: int) -> dict[str, Any]:
    """`record` with `files` random (incompressible) attachments of `size` bytes each."""
    rng = random.Random(7)
    attachments = {
        f"finger_{i}": base64.b64encode(rng.randbytes(size)).decode("ascii") for i in range(files)
    }
    return {**record, "biometrics": {**record["biometrics"], "attachments": attachments}}


async def test_a_big_body_the_centre_is_slow_to_read_is_not_cut_off(
    ektp_deployment: DeploymentFactory,
) -> None:
    # The centre's injected latency holds every office request for 3 s after authentication,
    # before the route reads its body: uvicorn buffers 64 KiB of the 1.4 MB batch, pauses
    # reading the socket, and the client's sending stalls on TCP for 3 s. That stall is the
    # server's own doing: against a 1 s idle deadline it must not count.
    d = await ektp_deployment(central_extra=["--body-idle-seconds", "1"])
    async with CentreAdmin.of(d) as admin:
        await admin.faults(latency_ms=3000)
    batch = {"items": [item(with_attachments(resident(seed=5), files=2, size=512 * 1024))]}
    content = json.dumps(batch).encode()
    assert len(content) > 1_000_000
    async with office_client(d) as centre:
        answer = await centre.post(
            "/enrollments", content=content, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 200, answer.text
    assert [result["status"] for result in answer.json()["results"]] != ["invalid"]


async def test_a_client_waiting_for_100_continue_is_not_held_to_the_deadline(
    ektp_deployment: DeploymentFactory,
) -> None:
    # The client asks before it sends (`Expect: 100-continue`) and the centre, 3 s late with
    # its injected latency, says "go on" only when its route starts reading: until then the
    # silence is the server's, not the client's.
    d = await ektp_deployment(central_extra=["--body-idle-seconds", "1"])
    async with CentreAdmin.of(d) as admin:
        await admin.faults(latency_ms=3000)
    content = json.dumps({"items": [item(resident(seed=6))]}).encode()
    head = (
        b"POST /api/v1/enrollments HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
        b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
        % (
            d.central_url.removeprefix("https://").encode(),
            d.office_keys[d.offices[0]].encode(),
            len(content),
        )
    )
    reader, writer = connection = await connect(d, d.central_url)
    try:
        writer.write(head)
        go_on = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=60)
        assert go_on.startswith(b"HTTP/1.1 100 "), go_on
        status, answer = await send_slowly(connection, b"", [content], 0)
    finally:
        await hang_up(connection)
    assert status == 200, answer
    assert [result["status"] for result in answer["results"]] != ["invalid"]
