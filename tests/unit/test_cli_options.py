"""The command line's options: one truth with the settings models, and a help that says it all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ektp_sync.certs import make_certificates
from ektp_sync.cli import app, servers
from ektp_sync.config import CentralSettings, LocalSettings
from ektp_sync.netsim import PROFILES

runner = CliRunner()
README = Path(__file__).parents[2] / "README.md"


# typer brings its own copy of click, so its classes are told apart by what they have
def commands(
    command: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group of `ektp-sync`, with the words that call it."""
    command = command or typer.main.get_command(app)
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, (*path, name))


def options(command: Any) -> list[Any]:
    ctx = typer.Context(command)
    return [p for p in command.get_params(ctx) if p.param_type_name == "option"]


@pytest.fixture(autouse=True)
def no_ektp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own EKTP_ variables must not leak into what the commands read."""
    import os

    for name in list(os.environ):
        if name.startswith("EKTP_"):
            monkeypatch.delenv(name)
    # a node needs the centre's key; the tests below are about other options
    monkeypatch.setenv("EKTP_CENTRAL_PUBLIC_KEY", CENTRE_KEY)


CENTRE_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


@pytest.mark.parametrize("path", [p for p, _ in commands()], ids=" ".join)
def test_help_has_real_placeholders_and_a_line_for_every_option(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert not re.search(r"<(bool|str|int|float|path)\b", result.output), result.output
    command = dict(commands())[path]
    for option in options(command):
        assert option.help, f"{option.opts} has no help line"
        if not option.is_flag:
            assert option.metavar and option.metavar.upper() == option.metavar, option.opts


@pytest.mark.parametrize("path", [("demo",), ("netsim",)])
def test_where_a_profile_is_asked_every_profile_is_named(path: tuple[str, ...]) -> None:
    output = runner.invoke(app, [*path, "--help"], terminal_width=200).output
    for name in PROFILES:
        assert name in output


def test_server_commands_have_one_flag_per_setting() -> None:
    by_path = dict(commands())
    for path, model in (
        (("central", "serve"), CentralSettings),
        (("local", "serve"), LocalSettings),
    ):
        names = {option.name for option in options(by_path[path])} - {"help"}
        assert names == set(model.model_fields)


def captured(monkeypatch: pytest.MonkeyPatch, runner_name: str) -> list[Any]:
    seen: list[Any] = []
    monkeypatch.setattr(f"ektp_sync.cli.servers.{runner_name}", seen.append)
    return seen


def test_central_flags_and_variables_make_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = captured(monkeypatch, "serve_centre")
    flags = ["--office", "6172=k1", "--office", "6101=k2", "--max-backlog", "7"]
    flags += ["--data-dir", str(tmp_path), "--signing-key", str(tmp_path / "k.pem")]
    env = {
        "EKTP_OFFICE": "6172=k1 6101=k2",
        "EKTP_MAX_BACKLOG": "7",
        "EKTP_DATA_DIR": str(tmp_path),
        "EKTP_SIGNING_KEY": str(tmp_path / "k.pem"),
    }
    by_flags = runner.invoke(app, ["central", "serve", *flags])
    by_env = runner.invoke(app, ["central", "serve"], env=env)
    assert by_flags.exit_code == by_env.exit_code == 0, by_flags.output + by_env.output
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    by_model = CentralSettings()  # the model reading the variables itself
    assert seen[0] == seen[1] == by_model
    assert by_model.max_backlog == 7 and by_model.offices == {"6172": "k1", "6101": "k2"}


@pytest.mark.parametrize("db_variable", ["EKTP_DB", "EKTP_DB_URL"])
def test_local_flags_and_variables_make_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_variable: str
) -> None:
    seen = captured(monkeypatch, "serve_node")
    url = f"sqlite:///{tmp_path}/node.db"
    flags = ["--db", url, "--batch-bytes", "65536", "--api-key", "k", "--office-code", "6101"]
    env = {
        db_variable: url,
        "EKTP_BATCH_BYTES": "65536",
        "EKTP_API_KEY": "k",
        "EKTP_OFFICE_CODE": "6101",
    }
    by_flags = runner.invoke(app, ["local", "serve", *flags])
    by_env = runner.invoke(app, ["local", "serve"], env=env)
    assert by_flags.exit_code == by_env.exit_code == 0, by_flags.output + by_env.output
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert seen[0] == seen[1] == LocalSettings()
    assert seen[0].database_url == url and seen[0].batch_bytes == 65536


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, "serve_node")
    result = runner.invoke(
        app, ["local", "serve", "--api-key", "k", "--port", "8701"], env={"EKTP_PORT": "8702"}
    )
    assert result.exit_code == 0, result.output
    assert seen[0].port == 8701


def test_a_bad_value_names_its_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    captured(monkeypatch, "serve_centre")
    result = runner.invoke(
        app, ["central", "serve", "--office", "6172=k", "--match-threshold", "0.5"]
    )
    assert result.exit_code == 2 and "thresholds" in result.output
    result = runner.invoke(app, ["local", "serve", "--batch-size", "0"])
    assert result.exit_code == 2 and "--batch-size" in result.output


def test_every_variable_of_the_readme_is_read_by_some_option() -> None:
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(EKTP_[A-Z_]+)`", table))
    read = {
        variable
        for _, command in commands()
        for option in options(command)
        for variable in ([option.envvar] if isinstance(option.envvar, str) else option.envvar or [])
    }
    assert documented, "the README's configuration table was not found"
    assert documented <= read, documented - read


def test_tls_flags_reach_uvicorn_and_go_in_pairs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = make_certificates(tmp_path)
    seen = captured(monkeypatch, "serve_centre")
    base = ["central", "serve", "--office", "6172=k", "--data-dir", str(tmp_path)]
    tls = ["--tls-cert", str(files.cert), "--tls-key", str(files.key)]
    assert runner.invoke(app, [*base, *tls]).exit_code == 0
    options = servers._uvicorn_options(seen[0], 8600)
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (files.cert, files.key)

    alone = runner.invoke(app, [*base, "--tls-cert", str(files.cert)])
    assert alone.exit_code == 2 and "go together" in alone.output
    missing = runner.invoke(app, [*base, "--tls-cert", "nope.pem", "--tls-key", str(files.key)])
    assert missing.exit_code == 2 and "--tls-cert nope.pem: no such file" in missing.output
    plain = servers._uvicorn_options(LocalSettings(), 8700)
    assert "ssl_certfile" not in plain


def test_the_node_refuses_plain_http_to_another_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, "serve_node")
    refused = runner.invoke(app, ["local", "serve", "--central-url", "http://10.0.0.5:8600"])
    assert refused.exit_code == 2
    assert "plain HTTP to another machine" in refused.output and "https://" in refused.output
    allowed = runner.invoke(
        app, ["local", "serve", "--central-url", "http://10.0.0.5:8600", "--allow-plain-http"]
    )
    assert allowed.exit_code == 0, allowed.output
    by_env = runner.invoke(
        app,
        ["local", "serve"],
        env={"EKTP_CENTRAL_URL": "http://10.0.0.5:8600", "EKTP_ALLOW_PLAIN_HTTP": "1"},
    )
    assert by_env.exit_code == 0, by_env.output
    assert seen[0] == seen[1] and seen[0].allow_plain_http
    assert runner.invoke(app, ["local", "serve", "--central-url", "ftp://x"]).exit_code == 2


def test_the_centres_ca_must_exist(tmp_path: Path) -> None:
    result = runner.invoke(app, ["local", "serve", "--central-ca", str(tmp_path / "ca.pem")])
    assert result.exit_code == 2 and "--central-ca" in result.output


def test_the_node_needs_the_centres_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = captured(monkeypatch, "serve_node")
    monkeypatch.delenv("EKTP_CENTRAL_PUBLIC_KEY")
    missing = runner.invoke(app, ["local", "serve"])
    assert missing.exit_code == 2 and "--central-public-key is required" in missing.output
    key_file = tmp_path / "central_signing_key.pub"
    key_file.write_text(CENTRE_KEY + "\n")
    assert (
        runner.invoke(app, ["local", "serve", "--central-public-key", f"@{key_file}"]).exit_code
        == 0
    )
    assert runner.invoke(app, ["local", "serve", "--trust-first-key"]).exit_code == 0
    assert seen[0].central_public_key == CENTRE_KEY
    assert seen[1].central_public_key is None and seen[1].trust_first_key
    garbage = runner.invoke(app, ["local", "serve", "--central-public-key", "abc"])
    assert garbage.exit_code == 2 and "not an Ed25519 public key" in garbage.output


def test_operators_by_flag_and_by_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, "serve_node")
    ana, budi = "ana=" + "a" * 20 + ":supervisor", "budi=" + "b" * 20 + ":clerk"
    flags = ["--operator", ana, "--operator", budi, "--allowed-host", "kantor.local"]
    assert runner.invoke(app, ["local", "serve", *flags]).exit_code == 0
    env = {"EKTP_OPERATOR": f"{ana} {budi}", "EKTP_ALLOWED_HOST": "kantor.local"}
    assert runner.invoke(app, ["local", "serve"], env=env).exit_code == 0
    assert seen[0] == seen[1]
    assert [(g.name, g.role.value) for g in seen[0].grants] == [
        ("ana", "supervisor"),
        ("budi", "clerk"),
    ]
    assert seen[0].allowed_hosts == ["kantor.local"]
    wrong = runner.invoke(app, ["local", "serve", "--operator", "ana=" + "s" * 20 + ":root"])
    assert wrong.exit_code == 2 and "role 'root'" in wrong.output and "s" * 20 not in wrong.output


def test_a_key_rotation_needs_its_key_and_an_aware_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = captured(monkeypatch, "serve_centre")
    base = ["central", "serve", "--office", "6172=k", "--data-dir", str(tmp_path)]
    key = ["--next-signing-key", str(tmp_path / "next.pem")]
    alone = runner.invoke(app, [*base, *key])
    assert alone.exit_code == 2 and "go together" in alone.output
    naive = runner.invoke(app, [*base, *key, "--next-key-from", "2027-01-01T00:00:00"])
    assert naive.exit_code == 2 and "time zone" in naive.output
    when = "2027-01-01T00:00:00+07:00"
    assert runner.invoke(app, [*base, *key, "--next-key-from", when]).exit_code == 0
    assert seen[0].next_key_valid_from.isoformat() == when
