"""The office node's FastAPI app: factory, lifespan (database, tables, sync worker), the API,
the operator's console at `/` and `/docs` from local assets.

On `app.state`: `settings`, `worker`, `service`, `operators` (the `auth.OperatorDirectory`),
`audit_trail` (the store's `AuditTrail`) and `search` (the console's `ResidentSearch`), all
set when the lifespan starts; `console_sessions` when the app is made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from ektp_sync import openapi
from ektp_sync.apidocs import install_api_docs
from ektp_sync.config import LocalSettings
from local_server.auth import OperatorDirectory
from local_server.console.routes import install_console
from local_server.errors_http import install_error_handlers
from local_server.figures import Figures
from local_server.guards import HostGuard, allowed_hosts
from local_server.routes import BODY_SCHEMAS, health_router, router
from local_server.service import RecordService
from local_server.store import NodeStore
from local_server.sync.worker import SyncWorker

#: FastAPI's own OpenTelemetry (spans, metrics, logs per request), all off
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def create_app(settings: LocalSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = NodeStore.open(settings.database_url, settings.data_key())
        try:
            await store.migrate()
            key = store.key  # the one data key: records and packet files sealed alike
            worker = SyncWorker(store, settings, key)
            app.state.settings = settings
            app.state.operators = OperatorDirectory.from_settings(settings)
            app.state.audit_trail = store.audit
            app.state.worker = worker
            app.state.search = store.search
            figures = Figures(store.figures, worker.link)
            app.state.service = RecordService(store.records, settings, worker, figures, key)
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
        docs_url=None,  # served from local assets: install_api_docs
        redoc_url=None,
        # the node has no OpenTelemetry; left on, FastAPI would look up the tracer, meter and
        # logger providers on every request (~3 µs each time) to find that out
        telemetry=NO_TELEMETRY,
    )
    install_error_handlers(app)
    openapi.install(app, BODY_SCHEMAS)
    app.add_middleware(HostGuard, allowed=allowed_hosts(settings.host, settings.allowed_hosts))
    app.include_router(router)
    app.include_router(health_router)
    install_api_docs(app)
    install_console(app)
    return app
