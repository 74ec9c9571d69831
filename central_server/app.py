"""The central server's FastAPI application: factory, lifespan (schema, key, gallery, worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from central_server.admin_routes import admin_router
from central_server.body import BodyLimits
from central_server.db import create_schema
from central_server.dedup.engine import DedupEngine
from central_server.dedup.worker import DedupWorker
from central_server.errors_http import install_error_handlers
from central_server.routes import office_router, public_router
from central_server.state import CentralState
from central_server.waiting import closing_on_exit_signal
from ektp_sync.config import CentralSettings
from ektp_sync.signing import Signer
from ektp_sync.storage import create_engine

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class ConfigError(ValueError):
    """The settings cannot make a working centre; the message says what to change."""


def _check(settings: CentralSettings) -> None:
    if not settings.offices:
        raise ConfigError(
            "no office configured: give at least one --office CODE=KEY (or EKTP_OFFICES) so "
            "that some office can authenticate"
        )
    for code, key in settings.offices.items():
        if not (len(code) == 4 and code.isascii() and code.isdigit()):
            raise ConfigError(f"office code {code!r} must be 4 digits (PPKK, e.g. 6172)")
        if not key:
            raise ConfigError(f"office {code} has an empty API key")
        if key == settings.admin_key:
            raise ConfigError(f"office {code} uses the admin key; give it a key of its own")


def create_app(settings: CentralSettings, *, body_limits: BodyLimits | None = None) -> FastAPI:
    """A centre for `settings`; nothing touches disk or database until the lifespan starts."""
    _check(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.signing_key_path is not None
        state = CentralState(
            settings=settings,
            engine=create_engine(settings.database_url),
            signer=Signer.load_or_create(settings.signing_key_path),
            body_limits=body_limits or BodyLimits(),
        )
        dedup = DedupEngine(state)
        app.state.central, app.state.dedup = state, dedup
        worker_task: asyncio.Task[None] | None = None
        try:
            await create_schema(state.engine)
            loaded = await dedup.load_gallery()
            logger.info("gallery loaded with %d identities", loaded)
            worker_task = asyncio.create_task(DedupWorker(state, dedup).run(), name="dedup")
            with closing_on_exit_signal(state.closing):
                yield
        finally:
            if worker_task is not None:
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            await state.engine.dispose()

    app = FastAPI(title="ektp-sync central (Ditjen Dukcapil mock)", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(office_router, prefix=API_PREFIX)
    app.include_router(admin_router, prefix=API_PREFIX)
    app.include_router(public_router, prefix=API_PREFIX)
    app.include_router(public_router)  # /healthz (and /keys) at the root too, for probes
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: `uvicorn --factory central_server.app:app_from_env`."""
    return create_app(CentralSettings.from_env())
