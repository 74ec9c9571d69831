"""Settings of both servers: one pydantic-settings model per server, the single truth for every
option's default, environment variable, flag and help text.

A field `some_name` is the flag `--some-name` and the environment variable `EKTP_SOME_NAME`,
unless its `Cli` marker names another flag; then its validation alias lists the environment
variables (e.g. `db_url`: `--db`, `EKTP_DB` or `EKTP_DB_URL`). The description is the help
line, the `Cli` marker the placeholder in `--help`. The command line builds each server's flags
from these fields (`ektp_sync.cli.options`) and hands the model its values whole; a model made
in Python reads the same variables itself, so flag, variable and default cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ektp_sync.domain.decisions import Thresholds
from ektp_sync.domain.operators import Grant, GrantError, parse_grant
from ektp_sync.logs import LogFormat
from ektp_sync.sealing import DataKey
from ektp_sync.signing import KeyFormatError, public_key_b64_of
from ektp_sync.storage import sqlite_url

ENV_PREFIX = "EKTP_"

#: --help panels
SYNC = "Sync with the centre"
DEDUP = "De-duplication"
TLS = "TLS"
CLIENTS = "Slow and many clients"
CONSOLE = "Operator console"
ACCESS = "Operators and access"


class Language(enum.StrEnum):
    """The operator console's languages: Bahasa Indonesia (the default) and English."""

    ID = "id"
    EN = "en"


class ConfigError(Exception):
    """Settings that cannot make a working server; the message says what to change.

    Not a ValueError on purpose: pydantic wraps only those (and assertions) raised by a
    validator, so this one reaches the operator as written, not inside a ValidationError.
    """


@dataclass(frozen=True)
class Cli:
    """How a field appears on the command line (put in its `Annotated` metadata)."""

    metavar: str  # the placeholder in --help: URL, PATH, SECONDS, …
    flag: str | None = None  # when not --<field-name>
    panel: str | None = None  # None: the main "Options" panel


class _Settings(BaseSettings):
    # by name too, so Python code may say `db_url=`
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_by_name=True)


class Storage(_Settings):
    """Where a server keeps its data: enough for `migrate`."""

    data_dir: Annotated[Path, Cli("PATH")] = Field(
        Path("var"), description="Where databases and keys live."
    )
    db_url: Annotated[str | None, Cli("URL", flag="--db")] = Field(
        None,
        validation_alias=AliasChoices("EKTP_DB", "EKTP_DB_URL"),
        description="sqlite:///path/file.db or postgresql://user@host:port/db "
        "(default: a SQLite file in the data dir).",
    )

    data_key_file: Annotated[Path | None, Cli("FILE")] = Field(
        None,
        description="The data key that seals personal data at rest (32 bytes; created 0600 "
        "if missing; default: <data-dir>/data.key).",
    )

    def default_database(self) -> str:
        """The SQLite file in the data dir used when no URL is given."""
        raise NotImplementedError

    @property
    def data_key_path(self) -> Path:
        return self.data_key_file or self.data_dir / "data.key"

    def data_key(self) -> DataKey:
        """The data key, created (0600) on first use."""
        return DataKey.load_or_create(self.data_key_path)

    @model_validator(mode="after")
    def _default_database(self) -> Self:
        if self.db_url is None:
            self.db_url = sqlite_url(self.data_dir / self.default_database())
        return self

    @property
    def database_url(self) -> str:
        assert self.db_url is not None
        return self.db_url


class Listening(_Settings):
    """What every server process listens on and logs."""

    host: Annotated[str, Cli("HOST")] = Field("127.0.0.1", description="Address to listen on.")
    log_level: Annotated[str, Cli("LEVEL")] = Field(
        "info", description="Log level: critical, error, warning, info or debug."
    )
    log_format: Annotated[LogFormat, Cli("FORMAT")] = Field(
        LogFormat.TEXT,
        description="Log lines as text (for people) or json (one object a line, for machines).",
    )
    tls_cert: Annotated[Path | None, Cli("FILE", panel=TLS)] = Field(
        None, description="Certificate (PEM, chain included) to serve HTTPS with; needs --tls-key."
    )
    tls_key: Annotated[Path | None, Cli("FILE", panel=TLS)] = Field(
        None, description="Private key (PEM) of --tls-cert."
    )
    header_timeout_seconds: Annotated[float, Cli("SECONDS", panel=CLIENTS)] = Field(
        15.0,
        gt=0,
        description="A request's line and headers must arrive within this (a client that "
        "drips them is cut off).",
    )
    body_idle_seconds: Annotated[float, Cli("SECONDS", panel=CLIENTS)] = Field(
        60.0,
        gt=0,
        description="While a request's body is incomplete, a pause this long without a byte "
        "of it is answered 408 and the connection closed (an idle limit, not a total one: a "
        "slow link may take minutes over a body as long as it keeps sending).",
    )
    keep_alive_seconds: Annotated[float, Cli("SECONDS", panel=CLIENTS)] = Field(
        5.0, gt=0, description="An idle kept-alive connection is closed after this."
    )
    max_connections: Annotated[int, Cli("N", panel=CLIENTS)] = Field(
        1000,
        ge=1,
        description="Connections held at once at most (fewer if the open-file limit is lower); "
        "more are closed at once.",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together: give both, or neither")
        _check_files(("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key))
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


class CentralStorage(Storage):
    def default_database(self) -> str:
        return "central.db"


class CentralSettings(CentralStorage, Listening):
    port: Annotated[int, Cli("PORT")] = Field(8600, description="Port to listen on.")
    offices: Annotated[dict[str, str], NoDecode, Cli("CODE=KEY", flag="--office")] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("EKTP_OFFICE"),
        description="An office allowed to submit, and its API key; repeat the flag (the "
        "variable takes space-separated pairs). At least one.",
    )
    admin_key: Annotated[str | None, Cli("KEY")] = Field(
        None, description="Key of the admin routes (stats, reviews, faults); none: they answer 401."
    )
    signing_key: Annotated[Path | None, Cli("PATH")] = Field(
        None,
        description="Ed25519 private key (PEM) that signs print authorisations, created if "
        "missing (default: central_signing_key.pem in the data dir).",
    )
    next_signing_key: Annotated[Path | None, Cli("PATH")] = Field(
        None,
        description="Key rotation: the next Ed25519 signing key (PEM, created if missing; its "
        "public key is written next to it as .pub), announced at /keys until --next-key-from, "
        "signing from then on.",
    )
    next_key_from: Annotated[str | None, Cli("ISO-TIME")] = Field(
        None,
        description="When the centre starts signing with --next-signing-key (ISO 8601 with a "
        "time zone, e.g. 2027-01-01T00:00:00+07:00).",
    )
    match_threshold: Annotated[float, Cli("SCORE", panel=DEDUP)] = Field(
        0.85, description="Template similarity from which two people are the same."
    )
    review_threshold: Annotated[float, Cli("SCORE", panel=DEDUP)] = Field(
        0.70, description="Template similarity from which a person goes to review."
    )
    dedup_batch_size: Annotated[int, Cli("N", panel=DEDUP)] = Field(
        200, ge=1, description="Pending submissions decided in one transaction at most."
    )
    max_backlog: Annotated[int, Cli("N", panel=DEDUP)] = Field(
        50_000,
        ge=0,
        description="Undecided submissions beyond which intake answers 503 with Retry-After.",
    )
    workers: Annotated[int, Cli("N")] = Field(
        1, ge=1, description="Server processes; more than 1 needs PostgreSQL."
    )
    upload_expiry_seconds: Annotated[float, Cli("SECONDS")] = Field(
        86_400.0,
        gt=0,
        description="An unfinished resumable upload (tus) untouched this long is discarded "
        "and must start again (its Upload-Expires).",
    )
    max_body_bytes: Annotated[int, Cli("BYTES")] = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="An upload's body at most, sent and decompressed (413 beyond; offices "
        "split their batch and send again).",
    )

    @field_validator("offices", mode="before")
    @classmethod
    def _office_pairs(cls, value: Any) -> Any:
        """CODE=KEY pairs (the flag's list, the variable's space-separated text) → a mapping."""
        if isinstance(value, str):
            value = value.split()
        if isinstance(value, list | tuple):
            offices: dict[str, str] = {}
            for pair in value:
                code, sep, key = str(pair).partition("=")
                if not sep:
                    raise _office_error(f"{pair!r} is not CODE=KEY")
                offices[code] = key
            return offices
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.signing_key is None:
            self.signing_key = self.data_dir / "central_signing_key.pem"
        if (self.next_signing_key is None) != (self.next_key_from is None):
            raise ConfigError("--next-signing-key and --next-key-from go together")
        if self.next_key_from is not None:
            self.next_key_valid_from  # noqa: B018 (parses it: a bad time stops the start)
        Thresholds(self.match_threshold, self.review_threshold)  # validates the pair
        _check_offices(self.offices, self.admin_key)
        if self.workers > 1 and self.database_url.startswith("sqlite"):
            raise ConfigError("--workers above 1 needs PostgreSQL (--db postgresql://…)")
        return self

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.match_threshold, self.review_threshold)

    @property
    def next_key_valid_from(self) -> dt.datetime | None:
        """--next-key-from as a time (a time zone is required: offices are in three)."""
        if self.next_key_from is None:
            return None
        try:
            when = dt.datetime.fromisoformat(self.next_key_from)
        except ValueError:
            raise ConfigError(
                f"--next-key-from {self.next_key_from!r} is not an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            raise ConfigError(
                f"--next-key-from {self.next_key_from!r} needs a time zone (e.g. +07:00 or Z)"
            )
        return when

    @property
    def signing_key_file(self) -> Path:
        assert self.signing_key is not None
        return self.signing_key


def _office_error(problem: str) -> ConfigError:
    return ConfigError(f"{problem}: give each office as --office CODE=KEY (or EKTP_OFFICE)")


def _check_offices(offices: dict[str, str], admin_key: str | None) -> None:
    if not offices:
        raise _office_error("no office configured, so no office could authenticate")
    for code, key in offices.items():
        if not (len(code) == 4 and code.isascii() and code.isdigit()):
            raise _office_error(f"office code {code!r} must be 4 digits (PPKK, e.g. 6172)")
        if not key:
            raise _office_error(f"office {code} has an empty API key")
        if key == admin_key:
            raise _office_error(f"office {code} uses the admin key; give it a key of its own")


def _check_files(*flags: tuple[str, Path | None]) -> None:
    for flag, path in flags:
        if path is not None and not path.is_file():
            raise ConfigError(f"{flag} {path}: no such file")


def is_loopback(host: str) -> bool:
    """Whether `host` (a URL's host name or address) is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalStorage(Storage):
    office_code: Annotated[str, Cli("CODE")] = Field(
        "6172", description="This office's code (also names the default database, local-CODE.db)."
    )

    def default_database(self) -> str:
        return f"local-{self.office_code}.db"


class LocalSettings(LocalStorage, Listening):
    port: Annotated[int, Cli("PORT")] = Field(8700, description="Port to listen on.")
    central_url: Annotated[str, Cli("URL", panel=SYNC)] = Field(
        "http://127.0.0.1:8600", description="Base URL of the centre."
    )
    api_key: Annotated[str, Cli("KEY", panel=SYNC)] = Field(
        "", description="This office's key at the centre; without one the centre answers 401."
    )
    central_ca: Annotated[Path | None, Cli("FILE", panel=TLS)] = Field(
        None,
        description="CA certificate(s) (PEM) an https:// centre must prove itself with; "
        "default: the system's trusted CAs.",
    )
    allow_plain_http: Annotated[bool, Cli("", panel=TLS)] = Field(
        False,
        description="Accept an http:// --central-url that is not loopback (the office key and "
        "the records would cross the network readable; only behind a VPN or TLS tunnel).",
    )
    central_public_key: Annotated[str | None, Cli("BASE64|@FILE", panel=SYNC)] = Field(
        None,
        description="The centre's Ed25519 public key (base64 of its 32 bytes, or @FILE: a file "
        "holding that or a PEM public key); every decision and print authorisation must verify "
        "with it. Required, unless --trust-first-key.",
    )
    trust_first_key: Annotated[bool, Cli("", panel=SYNC)] = Field(
        False,
        description="Development only: pin the key the first centre met offers (logged at "
        "WARNING with its fingerprint) and keep it; a centre offering another is refused.",
    )
    operators: Annotated[dict[str, str], NoDecode, Cli("NAME=TOKEN:ROLE", flag="--operator")] = (
        Field(
            default_factory=dict,
            validation_alias=AliasChoices("EKTP_OPERATOR"),
            description="An operator of the node, their bearer token (16+ characters) and role "
            "(clerk or supervisor); repeat the flag (the variable takes space-separated "
            "entries). None: one supervisor token is made in <data-dir>/operator-token (0600).",
        )
    )
    allowed_hosts: Annotated[list[str], NoDecode, Cli("HOST", flag="--allowed-host")] = Field(
        default_factory=list,
        validation_alias=AliasChoices("EKTP_ALLOWED_HOST"),
        description="A Host name the node answers to, besides localhost, 127.0.0.1, ::1 and "
        "--host (a page of another site that rebinds its name to this node is refused); "
        "repeat the flag (the variable takes space-separated names).",
    )
    batch_size: Annotated[int, Cli("N", panel=SYNC)] = Field(
        500, ge=1, description="Records per upload at most (fewer when the link is slow)."
    )
    batch_bytes: Annotated[int, Cli("BYTES", panel=SYNC)] = Field(
        4 * 1024 * 1024, description="Bytes per upload at most."
    )
    batch_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        2.0, description="Uploads are sized to this many seconds of the measured link rate."
    )
    max_in_flight: Annotated[int, Cli("N", panel=SYNC)] = Field(
        4, ge=1, description="Uploads travelling at once at most."
    )
    inline_attachments: Annotated[bool, Cli("", panel=SYNC)] = Field(
        False,
        description="Send attachments inline in the record's batch, as before heavy packets "
        "(a cut resends the whole batch); default: apart, as resumable uploads.",
    )
    packet_min_bytes: Annotated[int, Cli("BYTES", panel=SYNC)] = Field(
        64 * 1024,
        ge=0,
        description="Records with fewer attachment bytes than this send them inline in the "
        "batch (a cut costs no more than a chunk would); heavier ones as resumable uploads.",
    )
    upload_streams: Annotated[int, Cli("N", panel=SYNC)] = Field(
        8, ge=1, description="Attachment uploads travelling at once at most."
    )
    chunk_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        1.0,
        description="Attachment chunks are sized to this many seconds of the measured link "
        "rate (shared by the uploads in flight): a cut costs at most one chunk.",
    )
    chunk_bytes: Annotated[int, Cli("BYTES", panel=SYNC)] = Field(
        512 * 1024, ge=4096, description="Bytes per attachment chunk at most."
    )
    connect_timeout: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        10.0, description="Time to connect to the centre."
    )
    request_timeout: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        60.0, description="Time for one exchange with the centre."
    )
    backoff_base: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        1.0, description="First retry delay after an error of the centre (full jitter)."
    )
    backoff_cap: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        300.0, description="Longest retry delay."
    )
    lease_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        180.0, description="A claimed batch comes back after this if its upload died."
    )
    idle_poll_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        1.0, description="How often an idle uploader looks for due records."
    )
    decisions_poll_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        1.0, description="How often decisions are asked for, when the centre does not hold."
    )
    decisions_wait_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        10.0,
        description="How long the centre may hold an empty GET /decisions (long poll; at most "
        "half the request timeout).",
    )
    gzip_min_bytes: Annotated[int, Cli("BYTES", panel=SYNC)] = Field(
        1024, description="Smaller uploads are sent uncompressed."
    )
    breaker_threshold: Annotated[int, Cli("N", panel=SYNC)] = Field(
        3, description="Failed exchanges in a row that open the circuit breaker."
    )
    breaker_probe_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        2.0, description="Time between probes while the breaker is open."
    )
    office_timezone: Annotated[str, Cli("ZONE", panel=CONSOLE)] = Field(
        "Asia/Pontianak",
        description="The office's time zone (IANA name): the console shows times in it "
        "(Singkawang: Asia/Pontianak, WIB).",
    )
    console_language: Annotated[Language, Cli("LANG", panel=CONSOLE)] = Field(
        Language.ID, description="The console's language until an operator picks one: id or en."
    )
    shutdown_grace_seconds: Annotated[float, Cli("SECONDS", panel=SYNC)] = Field(
        5.0,
        description="On SIGTERM, uploads still travelling may finish this long; then their "
        "batches are released.",
    )

    @field_validator("office_timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"--office-timezone {zone!r} is not a time zone this machine knows "
                "(an IANA name such as Asia/Pontianak, Asia/Makassar, Asia/Jayapura)"
            ) from None
        return zone

    @field_validator("operators", mode="before")
    @classmethod
    def _operator_entries(cls, value: Any) -> Any:
        """NAME=TOKEN:ROLE entries (the flag's list, the variable's space-separated text) →
        name → "TOKEN:ROLE", each checked (the message never echoes a token)."""
        if isinstance(value, str):
            value = value.split()
        if isinstance(value, list | tuple):
            value = dict(str(entry).partition("=")[::2] for entry in value)
        if isinstance(value, dict):
            for name, rest in value.items():
                try:
                    parse_grant(f"{name}={rest}")
                except GrantError as exc:
                    raise ConfigError(f"--operator: {exc}") from None
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("central_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")  # paths are appended to it

    @model_validator(mode="after")
    def _encrypted_to_the_centre(self) -> Self:
        """Plain HTTP only on this machine: beyond it, the office key and the records would be
        readable by anyone on the path (a VSAT hub, an ISP)."""
        url = urlsplit(self.central_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"--central-url {self.central_url!r} is not an http(s):// URL")
        if url.scheme == "http" and not is_loopback(url.hostname) and not self.allow_plain_http:
            raise ConfigError(
                f"--central-url {self.central_url} is plain HTTP to another machine: the office "
                "key and every record would cross the network readable. Use https:// (with "
                "--central-ca if the centre's CA is not a system one), or --allow-plain-http "
                "when a VPN or TLS tunnel already encrypts the path."
            )
        _check_files(("--central-ca", self.central_ca))
        return self

    @model_validator(mode="after")
    def _centre_key_pinned(self) -> Self:
        """The centre's key is given, not discovered: a node that took whatever key the first
        centre it met offered would print cards a fake centre approved."""
        if self.central_public_key is None:
            if not self.trust_first_key:
                raise ConfigError(
                    "--central-public-key is required: give the centre's public key (base64, "
                    "or @FILE; the centre writes it to central_signing_key.pub in its data dir), "
                    "or --trust-first-key for development only"
                )
            return self
        self.central_public_key = read_public_key(self.central_public_key)
        return self

    @property
    def grants(self) -> list[Grant]:
        """The operators configured (none: the node makes its own supervisor token)."""
        return [parse_grant(f"{name}={rest}") for name, rest in self.operators.items()]

    @property
    def decisions_wait(self) -> float:
        """The long poll's hold, at most half the request timeout, so that a held poll is
        never taken for a dead link."""
        return max(0.0, min(self.decisions_wait_seconds, self.request_timeout / 2))


def read_public_key(value: str) -> str:
    """The base64 of an Ed25519 public key given as base64 or @FILE (base64 text or PEM)."""
    text, source = value, "--central-public-key"
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text, source = path.read_text(encoding="ascii"), f"--central-public-key {value}"
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--central-public-key {value}: cannot read it ({exc})") from None
    try:
        return public_key_b64_of(text)
    except KeyFormatError as exc:
        raise ConfigError(f"{source}: {exc}") from None
