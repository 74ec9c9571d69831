"""Transport settings of both servers: where the node may talk plain HTTP, and what `serve`
does to files before it creates any (the TLS flags themselves: test_cli_options.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ektp_sync.cli import servers
from ektp_sync.config import LocalSettings


@pytest.fixture(autouse=True)
def centre_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node needs the centre's key; these tests are about other settings."""
    monkeypatch.setenv("EKTP_CENTRAL_PUBLIC_KEY", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8600", "http://localhost:8600", "http://[::1]:8600", "https://10.0.0.5"],
)
def test_the_node_talks_plain_http_on_loopback_and_https_anywhere(url: str) -> None:
    assert LocalSettings(central_url=url).central_url == url


def test_serve_makes_the_data_dir_and_an_older_database_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    old_db = data / "local-6172.db"
    old_db.write_bytes(b"")
    old_db.chmod(0o644)
    umask = os.umask(0o022)
    try:
        servers._prepare(LocalSettings(data_dir=data))
        assert os.umask(0o022) == 0o077  # what serve set, for everything it creates next
    finally:
        os.umask(umask)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(old_db.stat().st_mode) == 0o600
