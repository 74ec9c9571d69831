"""The central server's FastAPI application: factory, lifespan (schema, key, gallery, worker,
upload sweeper),
and the edge's table of HTTP statuses for the centre's refusals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from central_server import errors
from central_server.admin_routes import admin_router
from central_server.parts import CentreParts
from central_server.routes import BODY_SCHEMAS, metrics_router, office_router, public_router
from central_server.tus import TusHeaders
from central_server.upload_routes import uploads_public_router, uploads_router
from central_server.upload_sweeper import sweep_expired_uploads
from central_server.waiting import closing_on_exit_signal
from ektp_sync import openapi
from ektp_sync.apidocs import install_api_docs
from ektp_sync.body import BodyLimits
from ektp_sync.config import CentralSettings
from ektp_sync.http_errors import Statuses, install_error_handlers

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

#: what each refusal of the centre is over HTTP (the body's refusals are shared with the node)
STATUSES: Statuses = {
    errors.NotAuthenticated: 401,
    errors.NotAllowed: 403,
    errors.SubmissionNotFound: 404,
    errors.NotInReview: 409,
    errors.UnknownCursor: 422,
    errors.Busy: 503,
    errors.BadUploadRequest: 400,
    errors.TusVersionMismatch: 412,
    errors.UploadNotFound: 404,
    errors.UploadGone: 410,
    errors.NotInManifest: 422,
    errors.OffsetMismatch: 409,
    errors.UploadComplete: 409,
    errors.ChunkChecksumMismatch: 460,  # tus checksum extension: "Checksum Mismatch"
    errors.PastUploadLength: 413,
    errors.WrongContentType: 415,
}


def create_app(settings: CentralSettings, *, body_limits: BodyLimits | None = None) -> FastAPI:
    """A centre for `settings`; nothing touches disk or database until the lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        parts = CentreParts.build(settings, body_limits)
        app.state.centre = parts
        tasks: list[asyncio.Task[None]] = []
        try:
            await parts.store.migrate()
            loaded = await parts.dedup.load_gallery()
            logger.info("gallery loaded with %d identities", loaded)
            tasks.append(asyncio.create_task(parts.worker.run(), name="dedup"))
            sweeper = sweep_expired_uploads(parts.packets, parts.upload_expiry_seconds)
            tasks.append(asyncio.create_task(sweeper, name="upload-sweeper"))
            with closing_on_exit_signal(parts.feed.closing):
                yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await parts.store.close()

    app = FastAPI(
        title="ektp-sync central (Ditjen Dukcapil mock)",
        lifespan=lifespan,
        docs_url=None,  # served from local assets: install_api_docs
        redoc_url=None,
    )
    install_api_docs(app)
    install_error_handlers(
        app, STATUSES, internal_detail="internal error at the centre; it has been logged"
    )
    openapi.install(app, BODY_SCHEMAS)
    app.include_router(office_router, prefix=API_PREFIX)
    app.include_router(admin_router, prefix=API_PREFIX)
    app.include_router(public_router, prefix=API_PREFIX)
    app.include_router(uploads_router, prefix=API_PREFIX)
    app.include_router(uploads_public_router, prefix=API_PREFIX)
    app.add_middleware(TusHeaders, prefix=API_PREFIX + "/uploads")
    app.include_router(public_router)  # /healthz (and /keys) at the root too, for probes
    app.include_router(metrics_router)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory for a bare uvicorn: `uvicorn --factory central_server.app:app_from_env`
    serves the centre the EKTP_ variables describe (`ektp-sync central serve` builds its app
    from its own settings instead)."""
    return create_app(CentralSettings())
