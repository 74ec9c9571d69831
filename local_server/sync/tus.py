"""The node's tus 1.0.0 client for the centre's `/api/v1/uploads` (heavy packets).

Only what the uploader needs: create an upload (creation), ask its offset (HEAD), append a
chunk with its SHA-256 (PATCH, checksum) and cancel it (DELETE, termination). Requests go
through `CentreClient`, so every failure is a `CentreExchangeError` in an operator's words.
Upload URLs are kept as paths on the centre: a node restarted with another `--central-url`
(another port of the same centre) still finds its uploads.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from local_server.errors import CentreProtocolError, CentreStatusError
from local_server.sync.client import CentreClient

TUS_VERSION = "1.0.0"
_TUS = {"Tus-Resumable": TUS_VERSION}

#: statuses that mean "this upload is gone" (expired, discarded, never existed)
GONE = (404, 410)
#: rule of a 410: the record was decided without needing the packet (rejected)
NOT_NEEDED = "not_needed"
#: the offset we sent is not the centre's
OFFSET_MISMATCH = 409
#: the chunk's checksum did not match what arrived
CHECKSUM_MISMATCH = 460


def metadata(pairs: dict[str, str]) -> str:
    """Upload-Metadata: `key base64(value)` pairs, comma separated (tus 1.0.0)."""
    return ",".join(
        f"{k} {base64.b64encode(v.encode('utf-8')).decode('ascii')}" for k, v in pairs.items()
    )


def checksum(chunk: bytes) -> str:
    """Upload-Checksum of a chunk: `sha256 <base64 digest>`."""
    return "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")


class TusClient:
    def __init__(self, client: CentreClient) -> None:
        self._client = client
        self._root = client.base_url  # the centre's origin (and path prefix, if any)
        self._prefix = urlsplit(client.base_url).path.rstrip("/")

    async def create(self, length: int, meta: dict[str, str]) -> str:
        """POST /uploads: a new upload of `length` bytes; its path on the centre."""
        response = await self._client.request(
            "POST",
            "/uploads",
            headers=_TUS | {"Upload-Length": str(length), "Upload-Metadata": metadata(meta)},
        )
        location = response.headers.get("location")
        if not location:
            raise CentreProtocolError("centre created an upload without a Location")
        path = urlsplit(str(response.url.join(location))).path
        # kept relative to --central-url's path, which the client puts back in front
        return path[len(self._prefix) :] if path.startswith(self._prefix + "/") else path

    async def offset(self, path: str) -> int:
        """HEAD: how many bytes of the upload the centre has (acknowledged, durable)."""
        response = await self._client.request("HEAD", self._url(path), headers=_TUS)
        return _offset(response.headers.get("upload-offset"))

    async def patch(self, path: str, offset: int, chunk: bytes) -> int:
        """PATCH one chunk at `offset`, with its SHA-256; the centre's new offset."""
        response = await self._client.request(
            "PATCH",
            self._url(path),
            content=chunk,
            headers=_TUS
            | {
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": checksum(chunk),
            },
        )
        return _offset(response.headers.get("upload-offset"))

    async def delete(self, path: str) -> None:
        """DELETE (termination); an upload the centre refuses to delete (gone, complete, not
        needed) is as good as deleted."""
        try:
            await self._client.request("DELETE", self._url(path), headers=_TUS)
        except CentreStatusError as exc:
            if exc.status_code >= 500 or exc.status_code in (401, 403, 429):
                raise

    def _url(self, path: str) -> str:
        return self._root + path


def _offset(value: str | None) -> int:
    if value is None or not value.isdigit():
        raise CentreProtocolError("centre's tus answer has no valid Upload-Offset")
    return int(value)
