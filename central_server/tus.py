"""The tus 1.0.0 protocol's wire details: headers, Upload-Metadata, Upload-Checksum, dates.

What the centre speaks (https://tus.io/protocols/resumable-upload): core, creation, checksum
(sha1, which tus requires of every server, and sha256), termination and expiration. No HTTP
framework here: the routes hand in header values, `TusHeaders` is plain ASGI.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Mapping
from email.utils import format_datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central_server.errors import BadUploadRequest, ChunkChecksumMismatch, TusVersionMismatch
from ektp_sync.domain.biometrics import MAX_ATTACHMENT_BYTES

VERSION = "1.0.0"
EXTENSIONS = "creation,checksum,termination,expiration"
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
MAX_SIZE = MAX_ATTACHMENT_BYTES
#: the media type of a PATCH body
OFFSET_STREAM = "application/offset+octet-stream"
#: the Upload-Metadata keys a creation must carry
REQUIRED_METADATA = ("submission_id", "name", "sha256")


def server_headers() -> dict[str, str]:
    """What OPTIONS answers: the protocol and extensions this server speaks."""
    return {
        "Tus-Resumable": VERSION,
        "Tus-Version": VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        "Tus-Max-Size": str(MAX_SIZE),
    }


def check_version(sent: str | None) -> None:
    if sent != VERSION:
        raise TusVersionMismatch(sent)


def http_date(moment: dt.datetime) -> str:
    """RFC 9110 date, as Upload-Expires wants it."""
    return format_datetime(moment.astimezone(dt.UTC), usegmt=True)


def parse_offset(value: str | None, header: str) -> int:
    if value is None or not value.isdigit():
        raise BadUploadRequest(f"{header} must be a non-negative integer", header.lower())
    return int(value)


def parse_metadata(value: str | None) -> dict[str, str]:
    """`key base64,key base64` → {key: text}; the required keys must be there and decode."""
    pairs: dict[str, str] = {}
    for item in (value or "").split(","):
        key, _, encoded = item.strip().partition(" ")
        if not key:
            continue
        try:
            pairs[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise BadUploadRequest(
                f"Upload-Metadata value of {key[:40]!r} is not base64 of UTF-8 text",
                "upload_metadata",
            ) from None
    missing = [k for k in REQUIRED_METADATA if not pairs.get(k)]
    if missing:
        raise BadUploadRequest(
            f"Upload-Metadata must carry {', '.join(missing)} (each base64)", "upload_metadata"
        )
    return pairs


def verify_checksum(value: str | None, chunk: bytes) -> None:
    """`Upload-Checksum: <algorithm> <base64 digest>`; absent is allowed (tus makes it optional),
    a mismatch is ChunkChecksumMismatch (460)."""
    if value is None:
        return
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise BadUploadRequest(
            f"Upload-Checksum algorithm {algorithm[:20]!r} is not one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}",
            "checksum_algorithm",
        )
    try:
        expected = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadUploadRequest("Upload-Checksum digest is not base64", "checksum_header") from None
    if hashlib.new(algorithm, chunk).digest() != expected:
        raise ChunkChecksumMismatch(algorithm)


class TusHeaders:
    """ASGI middleware: every answer under `prefix` says `Tus-Resumable: 1.0.0`, refusals and
    the framework's own answers included (tus requires it of all but OPTIONS, and says it does
    no harm there)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self._app = app
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self._prefix):
            await self._app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not _has(headers, b"tus-resumable"):
                    headers.append((b"tus-resumable", VERSION.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_with_version)


def _has(headers: list[tuple[bytes, bytes]], name: bytes) -> bool:
    return any(key.lower() == name for key, _ in headers)


def expiry_headers(expires_at: dt.datetime | None) -> Mapping[str, str]:
    return {} if expires_at is None else {"Upload-Expires": http_date(expires_at)}
