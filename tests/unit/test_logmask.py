"""No NIK in a log line (`ektp_sync.logmask`), whoever wrote it: the masking itself, and the
servers' logging configuration applied in a fresh process (uvicorn's access log included)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from ektp_sync.logmask import MaskPersonalData, mask_text
from ektp_sync.logs import LogFormat, log_config

NIK = "6172014506900001"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (NIK, "6172********0001"),
        (
            f"GET /api/v1/records?nik={NIK}&limit=5",
            "GET /api/v1/records?nik=6172********0001&limit=5",
        ),
        # a digit too few or too many is still somebody's NIK
        ("?nik=617201450690000", "?nik=6172*******0000"),
        (f"x{NIK}9y", "x6172*********0019y"),
        # whatever follows nik=, digits or not
        ("?NIK=6172O14506900001", "?NIK=6172********0001"),
        ("nik=12", "nik=**"),
    ],
)
def test_nik_looking_text_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert mask_text(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    ["127.0.0.1:8700", "batch of 500 not delivered", "2025-01-31T10:00:00+00:00", "id 12345678901"],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_arguments_keep_their_types_and_position() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/v1/records?nik={NIK}", "1.1", 200),
        None,
    )
    assert MaskPersonalData().filter(record)
    assert record.args == (
        "127.0.0.1:5000",
        "GET",
        "/api/v1/records?nik=6172********0001",
        "1.1",
        200,
    )
    assert NIK not in record.getMessage()


def test_an_object_or_a_traceback_is_rendered_masked() -> None:
    try:
        raise ValueError(f"record {NIK} refused")
    except ValueError as exc:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed: %s", (exc,), sys.exc_info()
        )
    MaskPersonalData().filter(record)
    text = logging.Formatter().format(record)
    assert NIK not in text
    assert "failed: record 6172********0001 refused" in text
    assert "ValueError: record 6172********0001 refused" in text


@pytest.mark.parametrize("log_format", list(LogFormat))
def test_the_servers_log_configuration_masks_every_logger(log_format: LogFormat) -> None:
    """uvicorn's access and error logs, our loggers and any other library's warning, in a
    process configured exactly as `central serve` and `local serve` configure theirs."""
    script = f"""
import json, logging, logging.config, sys
logging.config.dictConfig(json.loads(sys.argv[1]))
logging.getLogger("uvicorn.access").info(
    '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/api/v1/records?nik={NIK}", "1.1", 422
)
logging.getLogger("uvicorn.error").error("bad request for {NIK}")
logging.getLogger("local_server.sync").info("pinned for %s", {NIK})
logging.getLogger("sqlalchemy.engine").warning("parameters (%r,)", "{NIK}")
try:
    raise RuntimeError("{NIK}")
except RuntimeError:
    logging.getLogger("central_server").exception("unexpected")
"""
    config = json.dumps(log_config("info", log_format))
    done = subprocess.run(
        [sys.executable, "-c", script, config], capture_output=True, text=True, timeout=60
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert NIK not in output
    for line in (
        "GET /api/v1/records?nik=6172********0001 HTTP/1.1",
        "bad request for 6172********0001",
        "pinned for 6172********0001",
        "parameters ('6172********0001',)",
        "RuntimeError: 6172********0001",
    ):
        assert line in output, output
