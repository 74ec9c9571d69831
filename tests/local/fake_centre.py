"""A small stand-in of the centre for the local node's tests: the contract's office routes.

It signs real Ed25519 authorisations and decisions and can be told to shed load (503 +
Retry-After), refuse items as invalid, tamper with signatures, or hold decisions back in review.
By default it signs with `CENTRE_KEY`, the key `settings_for` pins: it plays the real centre.
Made with a key of its own (`FakeCentre(signer=impostor())`) it plays a fake one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ektp_sync.domain.nik import nik_violations
from ektp_sync.launch import free_port
from ektp_sync.signing import Signer
from ektp_sync.testing import eventually
from ektp_sync.wire import Decision, ResidentRecord

API_KEY = "office-key"
#: the birth date the stand-in judges a refused NIK against (not the residents' 1990-05-06)
OTHER_BIRTH = dt.date(1991, 2, 3)

#: the real centre's key in these tests (the nodes of `settings_for` pin it)
CENTRE_KEY = Ed25519PrivateKey.generate()


def impostor() -> Signer:
    """A signer with a key of its own: a centre the node must not believe."""
    return Signer(Ed25519PrivateKey.generate())


def refusal(nik: str) -> list[str]:
    """The errors the stand-in refuses `nik` with, worded as the centre words a broken NIK rule
    (central_server.validation): they quote the NIK's birth-date digits, as a centre whose rules
    differ from the node's would."""
    return [
        f"record: Value error, {v} (rule nik_{v.rule})" for v in nik_violations(nik, OTHER_BIRTH)
    ]


@dataclass
class Busy:
    status: int = 503
    retry_after: int | None = None


@dataclass
class FakeCentre:
    signer: Signer = field(default_factory=lambda: Signer(CENTRE_KEY))
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    feed: list[Decision] = field(default_factory=list)
    busy: list[Busy] = field(default_factory=list)  # answered to the next POSTs, in order
    invalid_niks: set[str] = field(default_factory=set)
    review_niks: set[str] = field(default_factory=set)
    tamper: bool = False
    unsigned: bool = False  # decisions go out without a signature
    offered_key: str | None = None  # /keys offers this instead of the signer's (a lying centre)
    max_items: int | None = None  # 413 for batches with more items than this
    batches: list[list[str]] = field(default_factory=list)
    gzipped: int = 0
    hold: asyncio.Event | None = None  # intake waits for it: a batch stays in flight

    def decide(
        self, submission_id: str, nik: str, status: str, reason: str, signer: Signer | None = None
    ) -> None:
        """Publish a decision, signed by the centre's key (or by `signer`: a forgery)."""
        signer = signer or self.signer
        authorisation = None
        if status == "approved":
            authorisation = signer.authorise(
                submission_id, nik, f"AP-{len(self.feed):06d}", "2026-11-29T03:00:00+00:00"
            )
            if self.tamper:
                authorisation = authorisation.model_copy(update={"approval_no": "AP-FORGED"})
        decision = Decision.model_validate(
            {
                "submission_id": submission_id,
                "nik": nik,
                "status": status,
                "reason": reason,
                "authorisation": authorisation,
            }
        )
        self.feed.append(decision if self.unsigned else signer.sign_decision(decision))

    def intake(self, item: dict[str, Any]) -> dict[str, Any]:
        sid = item["submission_id"]
        if sid in self.answers:  # idempotent: the first answer again, nothing new
            return self.answers[sid]
        record = item["record"]
        if record.get("nik") in self.invalid_niks:
            answer = {"submission_id": sid, "status": "invalid", "errors": refusal(record["nik"])}
        else:
            ResidentRecord.model_validate(record)
            answer = {"submission_id": sid, "status": "accepted"}
            if record["nik"] in self.review_niks:
                self.decide(sid, record["nik"], "review", "possible_duplicate")
            else:
                self.decide(sid, record["nik"], "approved", "new_identity")
        self.answers[sid] = answer
        return answer

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/v1/enrollments")
        async def enrollments(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {API_KEY}":
                return JSONResponse({"detail": "unauthorised"}, status_code=401)
            if self.hold is not None:
                await self.hold.wait()
            if self.busy:
                shed = self.busy.pop(0)
                headers = {"Retry-After": str(shed.retry_after)} if shed.retry_after else {}
                return JSONResponse({"detail": "busy"}, shed.status, headers=headers)
            body = await request.body()
            if request.headers.get("content-encoding") == "gzip":
                self.gzipped += 1
                body = gzip.decompress(body)
            items = json.loads(body)["items"]
            if self.max_items is not None and len(items) > self.max_items:
                return JSONResponse({"detail": "too large"}, status_code=413)
            self.batches.append([i["submission_id"] for i in items])
            return JSONResponse({"results": [self.intake(i) for i in items]})

        @app.get("/api/v1/decisions")
        async def decisions(after: str | None = None, limit: int = 100) -> dict[str, Any]:
            start = int(after) if after else 0
            page = self.feed[start : start + limit]
            return {
                "decisions": [d.model_dump(mode="json") for d in page],
                "next": str(start + len(page)),
            }

        @app.get("/api/v1/keys")
        async def keys() -> dict[str, Any]:
            published = self.signer.published()  # with the next key, if it rotates
            if self.offered_key:
                published = published.model_copy(update={"public_key": self.offered_key})
            return published.model_dump(mode="json")

        return app


@contextlib.asynccontextmanager
async def serve(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` with real uvicorn on 127.0.0.1 inside the test's event loop."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            # a held or abandoned request must not keep the stand-in from stopping
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    try:

        async def up() -> bool:
            return server.started or task.done()

        await eventually(up, timeout=10, interval=0.01)
        if task.done():
            task.result()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
