"""The office node's FastAPI app: factory, lifespan (database, tables, sync worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ektp_sync.config import LocalSettings
from local_server.errors_http import install_error_handlers
from local_server.figures import Figures
from local_server.routes import health_router, router
from local_server.service import RecordService
from local_server.store import NodeStore
from local_server.sync.worker import SyncWorker


def create_app(settings: LocalSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = NodeStore.open(settings.database_url, settings.data_key())
        try:
            await store.migrate()
            worker = SyncWorker(store, settings)
            app.state.settings = settings
            app.state.worker = worker
            figures = Figures(store.figures, worker.link)
            app.state.service = RecordService(store.records, settings, worker, figures)
            await worker.start()
            try:
                yield
            finally:
                # stop the loops and hand back the leases of batches cut short
                await worker.stop()
        finally:
            await store.close()

    app = FastAPI(
        title="ektp-sync office node",
        description="Records residents for e-KTP and syncs them with the centre.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(health_router)
    return app
