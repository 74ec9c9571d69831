"""What the centre's database keeps sealed, and the one place that seals and opens it.

Sealed under the data key (`ektp_sync.sealing`, AES-256-GCM), each value bound to its table,
column and submission id (the id every row of the centre carries; a decision-log entry also
its status), so a value copied into another row or column does not open:

- enrollments: the NIK, the record (names, address, birth date and place…), the template, the
  errors an invalid item was answered with (they can quote what was sent) and the
  authorisation (it names the NIK);
- identities: the NIK and the template, plus `nik_lookup`, a keyed hash of the NIK on which the
  database enforces "one identity per NIK" (a unique index: a sealed value is different every
  time, a keyed hash is equal for equal NIKs);
- decision_log: the NIK and the authorisation;
- attachments: an inline attachment's content (photo, signature…), bound to its submission id
  and name (a heavy packet's chunks are sealed by central_server.packets).

The stores call `seal_*` on the way in and `open_*` on the way out; the gallery is built from
`open_*` results at start and kept in memory (central_server.dedup).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ektp_sync.sealing import DataKey


def _context(column: str, row: str) -> bytes:
    return f"{column}:{row}".encode()


def log_entry_id(submission_id: str, status: str) -> str:
    """What a decision-log entry's sealed values are bound to: a submission may be logged twice
    (review, then its adjudication), never twice in one status."""
    return f"{submission_id}/{status}"


def attachment_id(submission_id: str, name: str) -> str:
    """What an inline attachment's sealed content is bound to."""
    return f"{submission_id}/{name}"


@dataclass(frozen=True)
class CentreSealer:
    key: DataKey

    def nik_lookup(self, nik: str) -> str:
        return self.key.lookup(nik)

    def seal_text(self, column: str, row: str, value: str | None) -> bytes | None:
        """`value` sealed for `column` ("table.column") of the row `row`; None stays None."""
        return None if value is None else self.key.seal_text(value, _context(column, row))

    def open_text(self, column: str, row: str, sealed: bytes | None) -> str | None:
        return None if sealed is None else self.key.open_text(sealed, _context(column, row))

    def seal_bytes(self, column: str, row: str, value: bytes | None) -> bytes | None:
        return None if value is None else self.key.seal(value, _context(column, row))

    def open_bytes(self, column: str, row: str, sealed: bytes | None) -> bytes | None:
        return None if sealed is None else self.key.open(sealed, _context(column, row))

    def open_identity(
        self, submission_id: str, nik_sealed: bytes, template_sealed: bytes
    ) -> tuple[str, bytes]:
        """An enrolled identity's NIK and template, for the gallery."""
        nik = self.key.open_text(nik_sealed, _context("identities.nik", submission_id))
        template = self.key.open(template_sealed, _context("identities.template", submission_id))
        return nik, template

    def seal_json(self, column: str, row: str, value: Any) -> bytes | None:
        """A JSON value (dict, list) sealed; None stays None."""
        if value is None:
            return None
        return self.seal_text(column, row, json.dumps(value, separators=(",", ":")))

    def open_json(self, column: str, row: str, sealed: bytes | None) -> Any:
        text = self.open_text(column, row, sealed)
        return None if text is None else json.loads(text)
