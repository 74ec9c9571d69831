"""Checks one intake item on its own, trusting nothing the office says (every rule re-run)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ektp_sync.domain.biometrics import decode_template
from ektp_sync.wire import EnrollmentItem, ResidentRecord, SubmissionId

_submission_id = TypeAdapter(SubmissionId)
_ECHO_LIMIT = 200


@dataclass
class CheckedItem:
    """An item after checking: valid when `errors` is empty."""

    #: usable as a key (valid form); None when even that is broken, so nothing can be stored
    submission_id: str | None
    #: what the answer carries back, even for an unusable id, so the office can match it up
    echo_id: str | None
    errors: list[str] = field(default_factory=list)
    nik: str | None = None
    recorded_at: dt.datetime | None = None
    record: dict[str, Any] | None = None
    template: bytes | None = None
    attachments: dict[str, bytes] = field(default_factory=dict)
    #: name → (size, sha256 hex) of the attachments that follow as resumable uploads
    manifest: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def _messages(exc: ValidationError, prefix: str) -> list[str]:
    out = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        out.append(f"{loc or 'item'}: {error['msg']} (rule {error['type']})")
    return out


def _usable_id(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    value = raw.get("submission_id")
    if not isinstance(value, str):
        return None, None
    echo = value if len(value) <= _ECHO_LIMIT else None
    try:
        return _submission_id.validate_python(value), echo
    except ValidationError:
        return None, echo


def _loose_nik(raw: dict[str, Any]) -> str | None:
    record = raw.get("record")
    nik = record.get("nik") if isinstance(record, dict) else None
    return nik if isinstance(nik, str) and len(nik) <= 32 else None


def check_item(raw: Any, office_code: str) -> CheckedItem:
    """Validate the envelope, the caller's office, then the resident record and biometrics."""
    if not isinstance(raw, dict):
        return CheckedItem(None, None, [f"item: must be a JSON object, got {type(raw).__name__}"])
    submission_id, echo = _usable_id(raw)
    checked = CheckedItem(submission_id, echo, nik=_loose_nik(raw))
    try:
        item = EnrollmentItem.model_validate(raw)
    except ValidationError as exc:
        checked.errors = _messages(exc, "")
        return checked
    if item.office_code != office_code:
        checked.errors.append(
            f"office_code: {item.office_code} is not the calling office {office_code} "
            "(rule office_code)"
        )
    try:
        record = ResidentRecord.model_validate(item.record)
    except ValidationError as exc:
        checked.errors.extend(_messages(exc, "record"))
        return checked
    if checked.errors:
        return checked
    checked.nik = record.nik
    checked.recorded_at = (
        item.recorded_at if item.recorded_at.tzinfo else item.recorded_at.replace(tzinfo=dt.UTC)
    )
    checked.template = decode_template(record.biometrics.template).tobytes()
    # validated above: standard base64 within 2 MiB, so decoding cannot fail here
    checked.attachments = {
        name: base64.b64decode(value) for name, value in record.biometrics.attachments.items()
    }
    checked.manifest = {
        name: (entry.size, entry.sha256) for name, entry in record.biometrics.manifest.items()
    }
    stored = record.model_dump(mode="json")
    stored["biometrics"] = {
        "template": record.biometrics.template,
        "attachments": sorted(record.biometrics.attachments),
        "manifest": sorted(record.biometrics.manifest),
    }
    checked.record = stored
    return checked
