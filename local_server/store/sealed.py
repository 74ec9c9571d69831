"""What the node's database keeps sealed, and the one place that seals and opens it.

A record's NIK, its payload (the ResidentRecord as JSON: names, address, birth date and place,
template) and its authorisation (it names the NIK) are stored sealed under the data key
(`ektp_sync.sealing`), each bound to its table, column and row id, so a value copied into
another row or column does not open. The NIK is also stored as a keyed hash (`nik_lookup`):
what `GET /records?nik=` and the "one in-flight record per NIK" index compare. The spent
submissions in `submission_history` keep their NIK sealed too (bound to their submission id).

The free-text columns that say why something failed (`ErrorColumn`) are sealed as well: the
centre's refusal of an invalid record quotes what it refused (a NIK, its birth-date digits, a
name), and it travels from `records.last_error` to `submission_history.reason`. Every value of
such a column is sealed, whatever it says, so a reader never has to guess which ones are clear.

The write path (recording, correcting, applying decisions) calls `record_columns` and
`seal_authorisation`, and whoever records a failure `seal_error`; the read path (views, the
queue's claim) calls the `open_*` methods.
Nothing else in the node knows a column is sealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ektp_sync.sealing import DataKey

#: the columns saying why something failed, each bound to its row: a record's id
#: (`records`, `outbox`), a spent submission's id (`submission_history`, like its NIK) or
#: `file_row` (`packet_files`)
ErrorColumn = Literal[
    "records.last_error",
    "outbox.last_error",
    "packet_files.last_error",
    "submission_history.reason",
]
RECORD_ERROR: ErrorColumn = "records.last_error"
QUEUE_ERROR: ErrorColumn = "outbox.last_error"
FILE_ERROR: ErrorColumn = "packet_files.last_error"
PAST_REASON: ErrorColumn = "submission_history.reason"


def _context(column: str, row: str) -> bytes:
    return f"{column}:{row}".encode()


def file_row(record_id: str, name: str) -> str:
    """The row id an attachment's sealed values are bound to (its key is two columns)."""
    return f"{record_id}/{name}"


@dataclass(frozen=True)
class NodeSealer:
    key: DataKey

    def nik_lookup(self, nik: str) -> str:
        return self.key.lookup(nik)

    def record_columns(self, record_id: str, nik: str, payload_json: str) -> dict[str, Any]:
        """The sealed columns of a record (its NIK, lookup hash and payload), for an INSERT or
        an UPDATE of `records`."""
        return {
            "nik_lookup": self.key.lookup(nik),
            "nik_sealed": self.key.seal_text(nik, _context("records.nik", record_id)),
            "payload_sealed": self.key.seal_text(
                payload_json, _context("records.payload", record_id)
            ),
        }

    def open_nik(self, record_id: str, sealed: bytes) -> str:
        return self.key.open_text(sealed, _context("records.nik", record_id))

    def open_payload(self, record_id: str, sealed: bytes) -> str:
        return self.key.open_text(sealed, _context("records.payload", record_id))

    def seal_authorisation(self, record_id: str, authorisation_json: str) -> bytes:
        return self.key.seal_text(authorisation_json, _context("records.authorisation", record_id))

    def open_authorisation(self, record_id: str, sealed: bytes) -> str:
        return self.key.open_text(sealed, _context("records.authorisation", record_id))

    def seal_spent_nik(self, submission_id: str, nik: str) -> bytes:
        return self.key.seal_text(nik, _context("submission_history.nik", submission_id))

    def open_spent_nik(self, submission_id: str, sealed: bytes) -> str:
        return self.key.open_text(sealed, _context("submission_history.nik", submission_id))

    def seal_error(self, column: ErrorColumn, row: str, error: str | None) -> bytes | None:
        """`error` sealed for `column` of the row `row` (None stays None: no error)."""
        return None if error is None else self.key.seal_text(error, _context(column, row))

    def open_error(self, column: ErrorColumn, row: str, sealed: bytes | None) -> str | None:
        return None if sealed is None else self.key.open_text(sealed, _context(column, row))
