"""Operators authenticate, roles decide, the audit trail records; a web page in the
operator's browser can neither post a form/text body nor reach the node under another name."""

from __future__ import annotations

import json
import logging
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ektp_sync.config import LocalSettings
from local_server.app import create_app

from .conftest import CLERK_TOKEN, record, running
from .fake_centre import FakeCentre
from .residents import resident
from .test_sync import reaches

Settings = Callable[..., LocalSettings]
OPEN_PATHS = {"/healthz", "/api/v1/healthz", "/metrics"}


def node_routes(settings: LocalSettings) -> list[tuple[str, str]]:
    """(method, path) of every operation in the node's OpenAPI document, parameters filled."""
    paths = create_app(settings).openapi()["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "0190000000000abcdef012345", path))
        for path, operations in paths.items()
        if path not in OPEN_PATHS
        for method in operations
    ]


async def test_every_route_but_health_and_metrics_needs_a_token(settings_for: Settings) -> None:
    settings = settings_for()
    routes = node_routes(settings)
    assert ("POST", "/api/v1/records/0190000000000abcdef012345/print") in routes
    async with running(create_app(settings), token=None) as node:
        for method, path in routes:
            body = {"json": {}} if method in ("POST", "PUT") else {}
            missing = await node.request(method, path.removeprefix("/api/v1"), **body)
            assert missing.status_code == 401, (method, path)
            assert missing.json()["rule"] == "operator_token_missing"
            assert missing.headers["www-authenticate"] == "Bearer"
            wrong = await node.request(
                method,
                path.removeprefix("/api/v1"),
                headers={"Authorization": "Bearer not-a-token-of-this-node"},
                **body,
            )
            assert (wrong.status_code, wrong.json()["rule"]) == (401, "operator_token_invalid")
        for path in ("/healthz", "/metrics"):
            assert (await node.get(f"http://localhost{path}")).status_code == 200


def test_the_api_document_names_the_bearer_scheme_on_every_operator_route(
    settings_for: Settings,
) -> None:
    document = create_app(settings_for()).openapi()
    assert document["components"]["securitySchemes"] == {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An operator's token (--operator).",
        }
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            expected = None if path in OPEN_PATHS else [{"HTTPBearer": []}]
            assert operation.get("security") == expected, (method, path)


async def test_a_token_under_another_scheme_is_no_token(settings_for: Settings) -> None:
    async with running(create_app(settings_for()), token=None) as node:
        for header in (f"Basic {CLERK_TOKEN}", CLERK_TOKEN, "Bearer", "Bearer "):
            answer = await node.post(
                "/records", json=resident(401), headers={"Authorization": header}
            )
            assert (answer.status_code, answer.json()["rule"]) == (
                401,
                "operator_token_missing",
            ), header
        assert (
            await node.get("/records", headers={"Authorization": "bearer " + CLERK_TOKEN})
        ).status_code == 200


async def test_a_clerk_records_and_reads_but_may_not_print_retry_or_correct(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    _, url = centre
    async with running(create_app(settings_for(url)), token=CLERK_TOKEN) as clerk:
        record_id = await record(clerk, resident(400))
        await reaches(clerk, record_id, "approved")
        assert (await clerk.get("/records")).status_code == 200
        assert (await clerk.get("/status")).status_code == 200
        assert (await clerk.get("/audit")).status_code == 200
        for method, path in [
            ("POST", f"/records/{record_id}/print"),
            ("POST", f"/records/{record_id}/retry"),
            ("PUT", f"/records/{record_id}"),
        ]:
            answer = await clerk.request(method, path, json={"address": "Jl. Lain 2"})
            assert (answer.status_code, answer.json()["rule"]) == (403, "role_too_small"), path
        assert (await clerk.get(f"/records/{record_id}")).json()["state"] == "approved"


async def test_the_audit_trail_records_a_print_and_cannot_be_changed(
    centre: tuple[FakeCentre, str], settings_for: Settings
) -> None:
    _, url = centre
    async with running(create_app(settings_for(url))) as node:
        record_id = await record(node, resident(401))
        await reaches(node, record_id, "approved")
        assert (await node.get("/audit")).json()["entries"] == []
        printed = await node.post(f"/records/{record_id}/print")
        assert printed.status_code == 200, printed.text
        entries = (await node.get("/audit")).json()["entries"]
        assert [(e["operator"], e["role"], e["action"], e["record_id"]) for e in entries] == [
            ("sari", "supervisor", "print", record_id)
        ]
        # a refused print (already printed) writes nothing
        assert (await node.post(f"/records/{record_id}/print")).status_code == 409
        assert len((await node.get("/audit")).json()["entries"]) == 1
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            assert (await node.request(method, "/audit")).status_code == 405
            assert (await node.request(method, f"/audit/{entries[0]['id']}")).status_code == 404


async def test_json_bodies_only_as_application_json(settings_for: Settings) -> None:
    async with running(create_app(settings_for())) as node:
        body = json.dumps(resident(402))
        for media_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": media_type} if media_type else {}
            answer = await node.post("/records", content=body, headers=headers)
            assert answer.status_code == 415, media_type
            assert answer.json()["rule"] == "content_type_not_json"
        assert (await node.get("/records")).json()["records"] == []
        good = await node.post(
            "/records", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        assert good.status_code == 201, good.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8700", "10.0.0.5", "[::2]:80"])
async def test_an_unknown_host_is_refused(settings_for: Settings, host: str) -> None:
    """DNS rebinding: a page of evil.example rebinds its name to this node; the browser then
    sends Host: evil.example."""
    async with running(create_app(settings_for())) as node:
        answer = await node.get("/status", headers={"Host": host})
        assert (answer.status_code, answer.json()["rule"]) == (421, "host_not_allowed")
        assert (await node.get("/healthz", headers={"Host": host})).status_code == 200
        for allowed in ("localhost:8700", "127.0.0.1", "[::1]:8700"):
            assert (await node.get("/status", headers={"Host": allowed})).status_code == 200


async def test_an_allowed_host_is_answered(settings_for: Settings) -> None:
    settings = settings_for(allowed_hosts=["kantor-6172.local"])
    async with running(create_app(settings)) as node:
        answer = await node.get("/status", headers={"Host": "kantor-6172.local:8700"})
        assert answer.status_code == 200


async def test_first_start_makes_a_supervisor_token_file(
    settings_for: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(operators={}, data_dir=tmp_path)
    caplog.set_level(logging.INFO)
    async with running(create_app(settings), token=None) as node:
        path = tmp_path / "operator-token"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        assert len(token) >= 32
        assert str(path) in caplog.text and token not in caplog.text
        headers = {"Authorization": f"Bearer {token}"}
        assert (await node.get("/status", headers=headers)).status_code == 200
        assert (await node.get("/status")).status_code == 401
    # the next start keeps the same token
    async with running(create_app(settings), token=token) as node:
        assert (await node.get("/status")).status_code == 200


def test_operators_are_checked_and_never_echoed(tmp_path: Path) -> None:
    base: dict[str, Any] = {"data_dir": tmp_path, "central_public_key": _KEY}
    settings = LocalSettings(
        **base, operators="ana=aaaaaaaaaaaaaaaaaaaa:clerk b=bbbbbbbbbbbbbbbbbbbbbb:supervisor"
    )
    assert [(g.name, g.role) for g in settings.grants] == [("ana", "clerk"), ("b", "supervisor")]
    for wrong in ["ana=short:clerk", "ana=aaaaaaaaaaaaaaaaaaaaaaa:admin", "noequals"]:
        with pytest.raises(Exception) as raised:
            LocalSettings(**base, operators=[wrong])
        assert "aaaaaaaaaaaaaaaaaaaaaaa" not in str(raised.value)


_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


async def test_the_node_needs_the_centres_key(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="--central-public-key is required"):
        LocalSettings(data_dir=tmp_path)
    key_file = tmp_path / "centre.pub"
    key_file.write_text(_KEY + "\n")
    assert (
        LocalSettings(data_dir=tmp_path, central_public_key=f"@{key_file}").central_public_key
        == _KEY
    )
    assert LocalSettings(data_dir=tmp_path, trust_first_key=True).central_public_key is None
    with pytest.raises(Exception, match="not an Ed25519 public key"):
        LocalSettings(data_dir=tmp_path, central_public_key="bm90IGEga2V5")
