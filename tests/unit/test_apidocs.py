"""/docs of both servers works with no internet: the page names only the server's own files,
and the server serves them (FastAPI's default page loads Swagger UI from a public CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from central_server.app import create_app as create_centre
from ektp_sync.config import CentralSettings, LocalSettings
from local_server.app import create_app as create_node


async def _docs_are_local(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)  # no lifespan needed: /docs reads no state
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert len(sources) == 3 and all(s.startswith("/static/apidocs/") for s in sources)
        for source in sources:
            asset = await client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 100, source
        assert (await client.get("/redoc")).status_code == 404  # ReDoc would need a CDN


async def test_centre_docs_are_served_from_its_own_files(tmp_path: Path) -> None:
    await _docs_are_local(create_centre(CentralSettings(data_dir=tmp_path, offices={"6172": "k"})))


async def test_node_docs_are_served_from_its_own_files(tmp_path: Path) -> None:
    await _docs_are_local(create_node(LocalSettings(data_dir=tmp_path, trust_first_key=True)))
