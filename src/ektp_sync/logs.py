"""The servers' logs: one event per line, as text for people or JSON for machines.

Both formats carry the time (UTC, ISO 8601), the level, the logger and the message, and the
record's `record_id` and `submission_id` when the event is about one record (passed as
`extra={"record_id": …, "submission_id": …}`). A NIK never reaches a log whole: every handler
carries `ektp_sync.logmask.MaskPersonalData`, which masks NIK-looking numbers and `nik=` values
whoever wrote them (our code, uvicorn's access log of `GET /records?nik=…`, a traceback); other
libraries' warnings reach the root logger, on the same masked handler.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from ektp_sync.logmask import mask_text

#: attributes a log line may carry about the record it concerns, in the order they are shown
RECORD_FIELDS = ("record_id", "submission_id")
#: our packages' loggers, next to uvicorn's
OUR_LOGGERS = ("ektp_sync", "central_server", "local_server")


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def _utc(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """`2026-12-06T03:04:05.678+00:00 WARNING local_server.sync.outages: … [record_id=…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={getattr(record, name)}" for name in RECORD_FIELDS if hasattr(record, name)]
        if ids:
            # after the message's first line, so that a traceback stays below it
            first, newline, rest = line.partition("\n")
            line = f"{first} [{' '.join(ids)}]{newline}{rest}"
        return line


class JsonLineFormatter(JsonFormatter):
    """`{"time", "level", "logger", "message", "record_id"?, "submission_id"?, "exc_info"?}`."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            # uvicorn's coloured copy of a message is for terminals only
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record)

    def format(self, record: logging.LogRecord) -> str:
        # python-json-logger renders a traceback from exc_info itself, past the filter's masked
        # copy: mask the finished line once more
        return mask_text(super().format(record))


#: by name, so the configuration is plain data (JSON, as a test hands it to a child process)
_FORMATTERS: dict[LogFormat, str] = {
    LogFormat.TEXT: f"{__name__}.TextFormatter",
    LogFormat.JSON: f"{__name__}.JsonLineFormatter",
}


def log_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """`logging.config.dictConfig` for uvicorn: its loggers and ours, one format, one line per
    event (uvicorn's own access lines included), to standard error."""
    level = level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "stream": "ext://sys.stderr",
        "filters": ["personal_data"],
    }
    loggers: dict[str, Any] = {
        name: {"handlers": ["line"], "level": level, "propagate": False}
        for name in ("uvicorn", "uvicorn.access", *OUR_LOGGERS)
    }
    loggers["uvicorn.error"] = {"level": level}  # through "uvicorn"'s handler
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"personal_data": {"()": "ektp_sync.logmask.MaskPersonalData"}},
        "formatters": {"line": {"()": _FORMATTERS[LogFormat(log_format)]}},
        "handlers": {"line": handler},
        "loggers": loggers,
        "root": {"handlers": ["line"], "level": "WARNING"},
    }
