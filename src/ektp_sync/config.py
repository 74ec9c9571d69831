"""Settings of both servers as plain, typed data (pydantic-settings, env prefix EKTP_).

The CLI builds a settings object from its options and hands it to server processes as JSON in
one environment variable, so `--workers N` processes all see exactly the same configuration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ektp_sync.domain.decisions import Thresholds
from ektp_sync.storage import sqlite_url

SETTINGS_ENV = "EKTP_SERVER_SETTINGS_JSON"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EKTP_", extra="ignore")

    host: str = "127.0.0.1"
    data_dir: Path = Path("var")
    db_url: str | None = Field(default=None, description="sqlite:///… or postgresql://…")

    def to_env(self) -> dict[str, str]:
        return {SETTINGS_ENV: self.model_dump_json()}

    @classmethod
    def from_env(cls) -> Self:
        raw = os.environ.get(SETTINGS_ENV)
        return cls.model_validate_json(raw) if raw else cls()


class CentralSettings(ServerSettings):
    port: int = 8600
    offices: dict[str, str] = Field(default_factory=dict, description="office code → API key")
    admin_key: str | None = None
    signing_key_path: Path | None = None
    match_threshold: float = 0.85
    review_threshold: float = 0.70
    workers: int = 1
    dedup_batch_size: int = 200
    #: undecided submissions beyond which intake sheds load with 503 + Retry-After
    max_backlog: int = 50_000

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if self.db_url is None:
            self.db_url = sqlite_url(self.data_dir / "central.db")
        if self.signing_key_path is None:
            self.signing_key_path = self.data_dir / "central_signing_key.pem"
        Thresholds(self.match_threshold, self.review_threshold)  # validates the pair
        return self

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.match_threshold, self.review_threshold)

    @property
    def database_url(self) -> str:
        assert self.db_url is not None
        return self.db_url


class LocalSettings(ServerSettings):
    port: int = 8700
    central_url: str = "http://127.0.0.1:8600"
    office_code: str = "6172"
    api_key: str = ""
    central_public_key: str | None = Field(
        default=None, description="base64 Ed25519 key of the centre; pinned from /keys if unset"
    )
    batch_size: int = 500
    batch_bytes: int = 4 * 1024 * 1024
    batch_seconds: float = 2.0
    max_in_flight: int = 4
    connect_timeout: float = 10.0
    request_timeout: float = 60.0
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    lease_seconds: float = 180.0
    idle_poll_seconds: float = 1.0
    decisions_poll_seconds: float = 1.0
    #: long poll: how long the centre may hold GET /decisions open while it has nothing new
    #: (at most half the request timeout, so a held poll is never taken for a dead link)
    decisions_wait_seconds: float = 10.0

    @property
    def decisions_wait(self) -> float:
        return max(0.0, min(self.decisions_wait_seconds, self.request_timeout / 2))

    gzip_min_bytes: int = 1024
    breaker_threshold: int = 3
    breaker_probe_seconds: float = 2.0
    shutdown_grace_seconds: float = 5.0

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if self.db_url is None:
            self.db_url = sqlite_url(self.data_dir / f"local-{self.office_code}.db")
        return self

    @property
    def database_url(self) -> str:
        assert self.db_url is not None
        return self.db_url
