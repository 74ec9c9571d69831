"""The central server's FastAPI application: factory, lifespan (schema, key, gallery, worker),
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
from central_server.routes import metrics_router, office_router, public_router
from central_server.waiting import closing_on_exit_signal
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
}


def create_app(settings: CentralSettings, *, body_limits: BodyLimits | None = None) -> FastAPI:
    """A centre for `settings`; nothing touches disk or database until the lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        parts = CentreParts.build(settings, body_limits)
        app.state.centre = parts
        worker_task: asyncio.Task[None] | None = None
        try:
            await parts.store.migrate()
            loaded = await parts.dedup.load_gallery()
            logger.info("gallery loaded with %d identities", loaded)
            worker_task = asyncio.create_task(parts.worker.run(), name="dedup")
            with closing_on_exit_signal(parts.feed.closing):
                yield
        finally:
            if worker_task is not None:
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
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
    app.include_router(office_router, prefix=API_PREFIX)
    app.include_router(admin_router, prefix=API_PREFIX)
    app.include_router(public_router, prefix=API_PREFIX)
    app.include_router(public_router)  # /healthz (and /keys) at the root too, for probes
    app.include_router(metrics_router)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: `uvicorn --factory central_server.app:app_from_env` (see
    CentralSettings.from_env for why the settings travel in the environment)."""
    return create_app(CentralSettings.from_env())
