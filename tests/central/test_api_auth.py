"""Who may call what: 401 without a valid key, 403 for an office on admin routes, 404 elsewhere."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from central_server.app import create_app
from ektp_sync.config import CentralSettings, ConfigError

from . import factories as f
from .conftest import OFFICES, Centre


async def test_missing_or_wrong_key_is_401(centre: Centre) -> None:
    async with centre.client(None) as anon, centre.client("wrong") as wrong:
        for client in (anon, wrong):
            response = await client.get("/decisions")
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["rule"] == "auth"
            assert (await client.get("/stats")).status_code == 401


async def test_office_key_on_admin_route_is_403(centre: Centre) -> None:
    async with centre.office() as office:
        assert (await office.get("/stats")).status_code == 403
        assert (await office.post("/admin/faults", json={"error_rate": 1})).status_code == 403
        assert (await office.post("/reviews/x", json={"decision": "approve"})).status_code == 403


async def test_public_routes_need_no_key(centre: Centre) -> None:
    async with centre.client(None) as anon:
        key = (await anon.get("/keys")).json()
        assert key["algorithm"] == "Ed25519" and key["public_key"]
        assert (await anon.get("/healthz")).json() == {"status": "ok"}
        assert (await anon.get("http://centre/healthz")).status_code == 200


async def test_office_never_sees_another_offices_submission(centre: Centre) -> None:
    rec = f.record(f.unit(np.random.default_rng(1)))
    item = f.item(rec, "6172")
    async with centre.office("6172") as mine, centre.office("6101") as theirs:
        assert (await mine.post("/enrollments", json=f.batch(item))).status_code == 200
        sid = item["submission_id"]
        assert (await mine.get(f"/enrollments/{sid}")).status_code == 200
        assert (await theirs.get(f"/enrollments/{sid}")).status_code == 404
        assert (await mine.get("/enrollments/never-sent")).status_code == 404


@pytest.mark.parametrize(
    ("offices", "message"),
    [
        ({}, "no office"),
        ({"61-72": "k"}, "4 digits"),
        ({"6172": ""}, "empty API key"),
        ({"6172": "a"}, "admin key"),
    ],
)
def test_unusable_offices_are_a_config_error(offices: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app(CentralSettings(offices=offices, admin_key="a"))


async def test_unexpected_error_is_logged_and_answered_as_error_body(
    centre: Centre, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("central_server.feed.Feed.page", broken)
    transport = httpx.ASGITransport(app=centre.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://centre/api/v1",
        headers={"Authorization": f"Bearer {OFFICES['6172']}"},
    ) as office:
        response = await office.get("/decisions")
    assert response.status_code == 500
    assert response.json()["rule"] == "internal"
    assert "simulated bug" in caplog.text
