"""A stand-in of the centre's tus uploads (`/api/v1/uploads`) for the node's uploader tests.

Enough of tus 1.0.0 for the node (creation, HEAD, PATCH with sha256 checksums, DELETE), plus
faults a link and a centre produce: a chunk stored but its answer lost (`lose_answers`), a
damaged first upload of a file (its whole SHA-256 then misses the manifest, and the upload is
discarded with 410 `resend_requested`, as the centre does: the node must send it again).
Approvals of records with a manifest wait for their packet, as the contract says.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .fake_centre import API_KEY, FakeCentre

TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Upload:
    submission_id: str
    name: str
    sha256: str
    length: int
    data: bytearray = field(default_factory=bytearray)


@dataclass
class FakeUploads:
    centre: FakeCentre
    uploads: dict[str, Upload] = field(default_factory=dict)
    complete: dict[tuple[str, str], bytes] = field(default_factory=dict)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    patches: int = 0
    created: int = 0
    bytes_received: int = 0
    lose_answers: int = 0  # the next PATCHes are stored, then answered 503 (answer lost)
    damage_first: set[str] = field(default_factory=set)  # names whose first upload is damaged
    gate: asyncio.Event | None = None  # PATCHes wait for it
    #: submission → (nik, manifest) of accepted records waiting for their packet
    waiting: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def install(self, app: FastAPI) -> None:
        previous = self.centre.decide

        def decide(submission_id: str, nik: str, status: str, reason: str) -> None:
            if status == "approved" and submission_id in self.waiting:
                return  # published when the packet is complete
            previous(submission_id, nik, status, reason)

        original_intake = self.centre.intake

        def intake(item: dict[str, Any]) -> dict[str, Any]:
            manifest = item["record"]["biometrics"].get("manifest") or {}
            if manifest and item["submission_id"] not in self.centre.answers:
                self.waiting[item["submission_id"]] = (item["record"]["nik"], manifest)
            return original_intake(item)

        self.centre.decide = decide  # type: ignore[method-assign]
        self.centre.intake = intake  # type: ignore[method-assign]

        @app.post("/api/v1/uploads")
        async def create(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {API_KEY}":
                return JSONResponse({"detail": "unauthorised"}, status_code=401)
            meta = _metadata(request.headers["upload-metadata"])
            if meta["submission_id"] not in self.waiting:
                return JSONResponse({"detail": "unknown submission"}, status_code=404)
            # idempotent per (submission, name), as the centre's creation: the same upload
            # while it is unfinished, a new one once it was discarded or deleted
            for known, upload in self.uploads.items():
                if (upload.submission_id, upload.name) == (meta["submission_id"], meta["name"]):
                    return Response(
                        status_code=201, headers=TUS | {"Location": f"/api/v1/uploads/{known}"}
                    )
            self.created += 1
            upload_id = hashlib.sha256(f"{self.created}{meta}".encode()).hexdigest()[:20]
            self.uploads[upload_id] = Upload(
                meta["submission_id"],
                meta["name"],
                meta["sha256"],
                int(request.headers["upload-length"]),
            )
            return Response(
                status_code=201, headers=TUS | {"Location": f"/api/v1/uploads/{upload_id}"}
            )

        @app.head("/api/v1/uploads/{upload_id}")
        async def head(upload_id: str) -> Response:
            upload = self.uploads.get(upload_id)
            if upload is None:
                return Response(status_code=404, headers=TUS)
            return Response(
                status_code=200,
                headers=TUS
                | {"Upload-Offset": str(len(upload.data)), "Upload-Length": str(upload.length)},
            )

        @app.patch("/api/v1/uploads/{upload_id}")
        async def patch(upload_id: str, request: Request) -> Response:
            if self.gate is not None:
                await self.gate.wait()
            upload = self.uploads.get(upload_id)
            if upload is None:
                return JSONResponse({"detail": "no such upload"}, status_code=404, headers=TUS)
            if int(request.headers["upload-offset"]) != len(upload.data):
                return JSONResponse({"detail": "offset"}, status_code=409, headers=TUS)
            body = await request.body()
            self.patches += 1
            self.bytes_received += len(body)
            algorithm, digest = request.headers["upload-checksum"].split(" ")
            if algorithm != "sha256" or base64.b64decode(digest) != hashlib.sha256(body).digest():
                return JSONResponse({"detail": "checksum"}, status_code=460, headers=TUS)
            if len(upload.data) + len(body) > upload.length:
                return JSONResponse({"detail": "past the length"}, status_code=413, headers=TUS)
            if upload.name in self.damage_first:
                self.damage_first.discard(upload.name)
                body = bytes(len(body))  # stored damaged, as a bad disk or a bug would
            upload.data += body
            if len(upload.data) == upload.length:
                if hashlib.sha256(upload.data).hexdigest() != upload.sha256:
                    # as the centre does: discarded, the old URL answers 410 resend_requested
                    del self.uploads[upload_id]
                    detail = "the attachment's SHA-256 does not match the manifest; send it again"
                    body = {"detail": detail, "rule": "resend_requested"}
                    return JSONResponse(body, status_code=410, headers=TUS)
                self.complete[(upload.submission_id, upload.name)] = bytes(upload.data)
                self._maybe_approve(upload.submission_id)
            if self.lose_answers:
                self.lose_answers -= 1
                return JSONResponse({"detail": "answer lost"}, status_code=503)
            return Response(status_code=204, headers=TUS | {"Upload-Offset": str(len(upload.data))})

        @app.delete("/api/v1/uploads/{upload_id}")
        async def delete(upload_id: str) -> Response:
            upload = self.uploads.pop(upload_id, None)
            if upload is None:
                return Response(status_code=404, headers=TUS)
            self.deleted.append((upload.submission_id, upload.name))
            return Response(status_code=204, headers=TUS)

    def _maybe_approve(self, submission_id: str) -> None:
        nik, manifest = self.waiting[submission_id]
        if all((submission_id, name) in self.complete for name in manifest):
            del self.waiting[submission_id]
            self.centre.decide(submission_id, nik, "approved", "new_identity")


def _metadata(header: str) -> dict[str, str]:
    pairs = (item.strip().split(" ") for item in header.split(","))
    return {key: base64.b64decode(value).decode() for key, value in pairs}
