"""The logs' safety net for personal data: every NIK-looking number is masked before a line is
written, whoever logged it (our code, uvicorn's access log, a traceback).

Code that logs says no more than it must (counts, submission ids, a masked NIK) in the first
place; this filter catches what slips through anyway, e.g. `GET /api/v1/records?nik=…` in the
access log. A run of 12 or more digits keeps its first and last four (`6172********0001`, the
region and the serial): a full NIK, a NIK with a digit too many or too few, a NIK glued to
other digits. Whatever follows `nik=` in a query string is masked the same way, digits or not.
Names and addresses have no shape a filter could know; they are kept out of logs where logs
are made (and database errors never show their parameters, `ektp_sync.storage`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

_LONG_NUMBER = re.compile(r"\d{12,}")
_NIK_PARAMETER = re.compile(r"(?i)(\bnik=)([^&\s\"']+)")


def _keep_ends(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_text(text: str) -> str:
    """`text` with every NIK-looking number, and every `nik=` value, masked."""
    text = _NIK_PARAMETER.sub(lambda m: m.group(1) + _keep_ends(m.group(2)), text)
    return _LONG_NUMBER.sub(lambda m: _keep_ends(m.group(0)), text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        # an int keeps its type for %d, unless it is long enough to be a NIK
        return mask_text(str(value)) if abs(value) >= 10**11 else value
    # anything else is rendered now, masked: its str() may hold what we look for
    return mask_text(str(value))


class MaskPersonalData(logging.Filter):
    """Masks NIK-looking numbers in a record's message, arguments, traceback and stack.

    The arguments are masked one by one, not merged into the message: uvicorn's access
    formatter reads them by position (client, method, path, version, status).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        else:
            record.msg = _masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _masked(arg) for key, arg in record.args.items()}
        if record.exc_info and not record.exc_text:
            # rendered here, masked, and kept: the formatter then uses this text as it is
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
