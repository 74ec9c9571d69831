"""docs/interface.md is the interface a user needs, and it ships with the package: it names
every route of both servers, every field of the node's views, every rule key of a NIK, every
decision and state, and `ektp-sync docs` finds it (in a wheel too, by the build's config)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from central_server.app import create_app as create_centre
from ektp_sync.cli import app
from ektp_sync.cli.docs import Page
from ektp_sync.config import CentralSettings, LocalSettings
from ektp_sync.domain.decisions import DecisionReason, DecisionStatus
from ektp_sync.domain.states import RecordState
from ektp_sync.wire import EtaBasis, NodeStatus, PendingUpload, RecordDetail
from local_server.app import create_app as create_node

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "interface.md").read_text(encoding="utf-8")
NIK_RULES = ["format", "province", "regency", "district", "birth_day", "birth_month"]
NIK_RULES += ["birth_date", "sex", "serial"]


def routes(openapi: dict[str, object]) -> set[str]:
    return {path.removeprefix("/api/v1") for path in openapi["paths"]}  # type: ignore[attr-defined]


def test_every_route_of_both_servers_is_described(tmp_path: Path) -> None:
    node = create_node(LocalSettings(data_dir=tmp_path, trust_first_key=True))
    centre = create_centre(CentralSettings(data_dir=tmp_path, offices={"6172": "k"}))
    for path in routes(node.openapi()) | routes(centre.openapi()):
        shown = path.replace("{record_id}", "{id}")
        assert (
            f"`GET {shown}" in PAGE
            or f" {shown}`" in PAGE
            or f"{shown}?" in PAGE
            or (f" {shown} " in PAGE)
        ), path


def test_every_field_of_the_nodes_views_is_described() -> None:
    for model in (NodeStatus, RecordDetail, PendingUpload, EtaBasis):
        for field in model.model_fields:
            assert f'"{field}"' in PAGE, f"{model.__name__}.{field}"


def test_every_rule_state_and_decision_is_described() -> None:
    for rule in NIK_RULES:
        assert f"`nik_{rule}`" in PAGE, rule
    for state in RecordState:
        assert f"`{state.value}`" in PAGE, state
    for status in DecisionStatus:
        assert f"| `{status.value}` |" in PAGE, status
    for reason in DecisionReason:
        assert f"| `{reason.value}` |" in PAGE, reason


def test_the_docs_ship_in_the_wheel_and_the_command_finds_them() -> None:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert build["targets"]["wheel"]["force-include"] == {"docs": "ektp_sync/docs"}
    runner = CliRunner()
    listed = runner.invoke(app, ["docs"])
    assert listed.exit_code == 0 and "interface      The interface of ektp-sync" in listed.output
    assert str(ROOT / "docs") in listed.output
    page = runner.invoke(app, ["docs", "interface"])
    assert page.exit_code == 0 and page.output == PAGE
    missing = runner.invoke(app, ["docs", "contract"])
    assert missing.exit_code == 2 and "interface" in missing.output
    assert {p.value for p in Page} == {p.stem for p in (ROOT / "docs").glob("*.md")}
