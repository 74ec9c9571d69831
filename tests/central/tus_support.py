"""A bare tus 1.0.0 client over httpx, for the tests of the centre's uploads (the conformance
tests use tuspy, a client no one here wrote)."""

from __future__ import annotations

import base64
import hashlib

import httpx

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(submission_id: str, name: str, content: bytes) -> str:
    pairs = {"submission_id": submission_id, "name": name, "sha256": sha256_hex(content)}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def checksum(chunk: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()}"


async def create(
    client: httpx.AsyncClient, submission_id: str, name: str, content: bytes
) -> httpx.Response:
    return await client.post(
        "/uploads",
        headers={
            **TUS,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": metadata(submission_id, name, content),
        },
    )


async def patch(
    client: httpx.AsyncClient, url: str, offset: int, chunk: bytes, check: bool = True
) -> httpx.Response:
    headers = {**CHUNK, "Upload-Offset": str(offset)}
    if check:
        headers["Upload-Checksum"] = checksum(chunk)
    return await client.patch(url, headers=headers, content=chunk)


async def send(
    client: httpx.AsyncClient, submission_id: str, name: str, content: bytes, chunk: int = 1000
) -> str:
    """Create and send a whole upload in chunks; returns its URL."""
    created = await create(client, submission_id, name, content)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    offset = int((await client.head(url, headers=TUS)).headers["upload-offset"])
    while offset < len(content):
        answer = await patch(client, url, offset, content[offset : offset + chunk])
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["upload-offset"])
    return url
