"""The office node's FastAPI app: factory, lifespan (database, tables, sync worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ektp_sync.config import LocalSettings
from ektp_sync.storage import create_engine
from local_server.errors_http import install_error_handlers
from local_server.routes import health_router, router
from local_server.service import RecordService
from local_server.store.records import RecordStore
from local_server.store.tables import create_tables
from local_server.sync.worker import SyncWorker


def create_app(settings: LocalSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        try:
            await create_tables(engine)
            worker = SyncWorker(engine, settings)
            app.state.settings = settings
            app.state.worker = worker
            app.state.service = RecordService(RecordStore(engine), settings, worker)
            await worker.start()
            try:
                yield
            finally:
                # stop the loops and hand back the leases of batches cut short
                await worker.stop()
        finally:
            await engine.dispose()

    app = FastAPI(
        title="ektp-sync office node",
        description="Records residents for e-KTP and syncs them with the centre.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(health_router)
    return app
