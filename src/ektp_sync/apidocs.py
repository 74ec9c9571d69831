"""`/docs` (Swagger UI) that works with no internet: its script, style and icon are served by
the server itself from the files the `fastapi-standalone-docs` package ships (Swagger UI 5,
which reads the OpenAPI 3.1 FastAPI writes). FastAPI's default page loads them from a public
CDN, so an office cut off from the internet had no /docs."""

from __future__ import annotations

from pathlib import Path

import fastapi_standalone_docs
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: where the assets are served
ASSETS = "/static/apidocs"
_FILES = Path(fastapi_standalone_docs.__path__[0]) / "static"


def install_api_docs(app: FastAPI) -> None:
    """Serve `/docs` from local assets. Make the app with `docs_url=None, redoc_url=None`
    (ReDoc, also from a CDN, is left out)."""
    app.mount(f"{ASSETS}/swagger", StaticFiles(directory=_FILES / "swagger"), name="swagger")
    app.mount(f"{ASSETS}/fastapi", StaticFiles(directory=_FILES / "fastapi"), name="fastapi")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} – API",
            swagger_js_url=f"{ASSETS}/swagger/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/fastapi/favicon.png",
        )
