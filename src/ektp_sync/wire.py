"""Pydantic schemas both servers speak: the HTTP contract (../shared/CONTRACT.md) in code."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ektp_sync.domain.biometrics import (
    MAX_ATTACHMENT_BYTES,
    AttachmentsTooLarge,
    BiometricError,
    attachments_size,
    decode_template,
)
from ektp_sync.domain.decisions import (
    DecisionReason,
    DecisionStatus,
    IntakeStatus,
    SubmissionStatus,
)
from ektp_sync.domain.nik import nik_violations
from ektp_sync.domain.states import RecordState

#: pydantic error type of oversize attachments; the servers turn it into 413 instead of 422.
ATTACHMENTS_TOO_LARGE = "attachments_too_large"

#: control characters (C0, DEL, C1): NUL cannot even be stored in PostgreSQL text, and none of
#: them belongs on a card or in an address; tab and line breaks too (every field is one line)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: the same rule for the OpenAPI schema (ECMA regex), so generated clients and fuzzers know it
_NO_CONTROL_SCHEMA: dict[str, Any] = {"pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}


def _no_control(value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise PydanticCustomError(
            "text_control_character",
            "text holds a control character (NUL, tab, line break, …); each field is one line",
        )
    return value


def _line(max_length: int, min_length: int = 0) -> Any:
    """A one-line text field: length bounds and no control characters."""
    return Field(
        min_length=min_length or None, max_length=max_length, json_schema_extra=_NO_CONTROL_SCHEMA
    )


Text = Annotated[str, _line(200, 1), AfterValidator(_no_control)]
OptionalText = Annotated[str | None, _line(200), AfterValidator(_no_control)]


def _prefixed(prefix: str, rule: str) -> str:
    """The rule key as clients see it: `template_size`, not `template_template_size`."""
    return rule if rule.startswith(prefix) else prefix + rule


AttachmentName = Annotated[str, _line(64, 1), AfterValidator(_no_control)]
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class ManifestEntry(BaseModel):
    """One attachment that travels on its own as a resumable upload (tus): its size and hash."""

    model_config = ConfigDict(extra="forbid")

    size: StrictInt = Field(description="bytes of the attachment")
    sha256: str = Field(description="SHA-256 of the attachment's bytes, 64 hex digits")

    @field_validator("size")
    @classmethod
    def _size_fits(cls, value: int) -> int:
        if not 0 <= value <= MAX_ATTACHMENT_BYTES:
            raise PydanticCustomError(
                "manifest_size",
                f"size must be between 0 and {MAX_ATTACHMENT_BYTES} bytes, got {value}",
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        digest = value.lower()
        if not _SHA256_HEX.fullmatch(digest):
            raise PydanticCustomError(
                "manifest_sha256", "sha256 must be 64 hexadecimal digits (a SHA-256 digest)"
            )
        return digest

    @model_validator(mode="after")
    def _empty_is_empty(self) -> ManifestEntry:
        if self.size == 0 and self.sha256 != _EMPTY_SHA256:
            raise PydanticCustomError(
                "manifest_sha256", "an attachment of size 0 has the SHA-256 of no bytes"
            )
        return self


class Biometrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(description="128 little-endian float32, standard base64 (512 bytes)")
    attachments: dict[AttachmentName, str] = Field(
        default_factory=dict, description="name → base64 bytes; at most 2 MiB decoded in all"
    )
    manifest: dict[AttachmentName, ManifestEntry] = Field(
        default_factory=dict,
        description="name → size and SHA-256 of an attachment sent as a resumable upload; "
        "inline attachments and manifest together at most 2 MiB per record",
    )

    @field_validator("template")
    @classmethod
    def _template_decodes(cls, value: str) -> str:
        try:
            decode_template(value)
        except BiometricError as exc:
            raise PydanticCustomError(_prefixed("template_", exc.rule), str(exc)) from None
        return value

    @field_validator("attachments")
    @classmethod
    def _attachments_fit(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            attachments_size(value)
        except AttachmentsTooLarge as exc:
            raise PydanticCustomError(ATTACHMENTS_TOO_LARGE, str(exc)) from None
        except BiometricError as exc:
            raise PydanticCustomError(_prefixed("attachment_", exc.rule), str(exc)) from None
        return value

    @model_validator(mode="after")
    def _packet_fits(self) -> Biometrics:
        """Inline attachments and manifest share the per-record limit and the names."""
        both = sorted(set(self.attachments) & set(self.manifest))
        if both:
            raise PydanticCustomError(
                "manifest_name_twice",
                f"{', '.join(both)[:200]} both inline and in the manifest; send each once",
            )
        if not self.manifest:
            return self
        total = attachments_size(self.attachments) + sum(e.size for e in self.manifest.values())
        if total > MAX_ATTACHMENT_BYTES:
            raise PydanticCustomError(
                ATTACHMENTS_TOO_LARGE,
                f"attachments and manifest are {total} bytes decoded; "
                f"at most {MAX_ATTACHMENT_BYTES} per record",
            )
        return self


class ResidentRecord(BaseModel):
    """What an office records about one resident; re-checked in full by the centre."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    nik: str = Field(description="16-digit NIK: PP KK CC DDMMYY SSSS")
    full_name: Text
    birth_place: Text
    birth_date: dt.date
    sex: Literal["L", "P"]
    address: Annotated[str, _line(500, 1), AfterValidator(_no_control)]
    rt: Annotated[str | None, _line(3), AfterValidator(_no_control)] = None
    rw: Annotated[str | None, _line(3), AfterValidator(_no_control)] = None
    kelurahan: OptionalText = None
    kecamatan: OptionalText = None
    religion: OptionalText = None
    marital_status: OptionalText = None
    occupation: OptionalText = None
    biometrics: Biometrics

    @field_validator("nik")
    @classmethod
    def _nik_alone(cls, value: str) -> str:
        violations = nik_violations(value)
        if violations:
            raise PydanticCustomError(
                "nik_" + violations[0].rule, "; ".join(str(v) for v in violations)
            )
        return value

    @field_validator("birth_date")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise PydanticCustomError("birth_date_future", "birth_date lies in the future")
        return value

    @model_validator(mode="after")
    def _nik_agrees(self) -> ResidentRecord:
        violations = nik_violations(self.nik, self.birth_date, self.sex)
        if violations:
            raise PydanticCustomError(
                "nik_" + violations[0].rule, "; ".join(str(v) for v in violations)
            )
        return self


# ---- centre intake --------------------------------------------------------------------------

SubmissionId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class EnrollmentItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submission_id: SubmissionId
    office_code: Annotated[str, Field(pattern=r"^\d{4}$")]
    recorded_at: dt.datetime
    record: dict[str, Any]


class EnrollmentBatch(BaseModel):
    """Items stay loose here (any JSON value, not even an object) so that one bad item never
    fails the whole batch: each is checked on its own and answered `invalid`."""

    items: Annotated[list[Any], Field(min_length=1, max_length=1000)]


class IntakeResult(BaseModel):
    submission_id: str | None
    status: IntakeStatus
    errors: list[str] | None = None


class IntakeResponse(BaseModel):
    results: list[IntakeResult]


class Authorisation(BaseModel):
    submission_id: str
    nik: str
    approval_no: str
    issued_at: str
    signature: str

    def signed_fields(self) -> dict[str, str]:
        return self.model_dump(exclude={"signature"})


class Decision(BaseModel):
    submission_id: str
    nik: str
    status: DecisionStatus
    reason: DecisionReason
    authorisation: Authorisation | None = None
    signature: str | None = Field(
        None,
        description="Ed25519 by the centre (standard base64) over the canonical JSON of the "
        "other fields but `authorisation`; the node applies no decision without a valid one",
    )

    def signed_fields(self) -> dict[str, str]:
        return {
            "submission_id": self.submission_id,
            "nik": self.nik,
            "status": self.status.value,
            "reason": self.reason.value,
        }


class DecisionsPage(BaseModel):
    decisions: list[Decision]
    next: str


class EnrollmentView(BaseModel):
    submission_id: str
    office_code: str
    nik: str | None
    status: SubmissionStatus
    reason: DecisionReason | None = None
    errors: list[str] | None = None
    authorisation: Authorisation | None = None
    received_at: dt.datetime
    decided_at: dt.datetime | None = None


class NextKey(BaseModel):
    """The key the centre will sign with from `valid_from`, announced ahead (key rotation)."""

    public_key: str
    key_id: str
    valid_from: str = Field(description="ISO 8601: from when the centre signs with it")
    signature: str = Field(
        description="Ed25519 by the current key over the canonical JSON of the other fields"
    )

    def signed_fields(self) -> dict[str, str]:
        return self.model_dump(exclude={"signature"})


class PublicKey(BaseModel):
    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key: str
    key_id: str | None = Field(None, description="short name of the key (its fingerprint's)")
    next: NextKey | None = Field(None, description="the next key, announced ahead; null: none")


class ReviewRequest(BaseModel):
    decision: Literal["approve", "reject"]


class Faults(BaseModel):
    # strict: `false` is not 0 ms, nor "5" five (a fuzzer found the lax coercions accepted)
    model_config = ConfigDict(extra="forbid", strict=True)

    error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    latency_ms: Annotated[int, Field(ge=0, le=600_000)] = 0
    processing_delay_ms: Annotated[int, Field(ge=0, le=600_000)] = 0


class CentralStats(BaseModel):
    enrollments: int
    identities: int
    by_status: dict[str, int]
    by_reason: dict[str, int]
    offices: dict[str, dict[str, Any]]


# ---- local node -----------------------------------------------------------------------------


class DecisionView(BaseModel):
    status: DecisionStatus
    reason: DecisionReason
    authorisation: Authorisation | None = None


class PastSubmission(BaseModel):
    """A submission_id the record was sent under before an operator re-sent it (oldest first)."""

    submission_id: str
    nik: str
    outcome: RecordState  # the record's state when it was re-sent (failed)
    reason: str | None  # the centre's refusal, as the node recorded it
    attempts: int
    submitted_at: dt.datetime
    superseded_at: dt.datetime
    superseded_by: Literal["retry", "correction"]
    changed_fields: list[str] = Field(default_factory=list)


class TransferPart(BaseModel):
    size: int
    acked: int = Field(description="bytes the centre has acknowledged")
    #: additions: done, uploading, waiting or cancelled; why the next attempt is made
    state: str = "waiting"
    last_error: str | None = None


class Transfer(BaseModel):
    """An addition for heavy packets: how far a record's attachments have gone up."""

    bytes_total: int = 0
    bytes_acked: int = 0
    attachments: dict[str, TransferPart] = Field(default_factory=dict)


class RecordView(BaseModel):
    id: str
    nik: str
    state: RecordState
    submission_id: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    decision: DecisionView | None
    created_at: dt.datetime
    updated_at: dt.datetime
    printed_at: dt.datetime | None = None
    #: an addition to the contract: the record's earlier submissions, oldest first
    history: list[PastSubmission] = Field(default_factory=list)
    #: additions for the operator's timeline: when the centre accepted the record (null until
    #: then, and again after a re-send) and when its decision reached this node
    sent_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    #: an addition for heavy packets (GET /records/{id}): the attachments' upload progress
    transfer: Transfer | None = None


class EtaBasis(BaseModel):
    """What `printable_eta` was computed from, so that the estimate can be explained."""

    bytes_ahead: int | None = Field(
        None,
        description="bytes sent before this record is accepted: its own and those before it, "
        "to the end of the upload it travels in (queued only)",
    )
    rate_bytes_per_s: float | None = Field(None, description="the link's measured rate")
    rtt_ms: float | None = Field(None, description="the link's measured round trip")
    decision_seconds: float | None = Field(
        None, description="the centre's typical decision time: median wait of recent decisions"
    )
    decisions_sampled: int = Field(0, description="how many recent decisions that median is of")
    missing: str | None = Field(
        None,
        description="why there is no estimate: link_down, rate_unknown, decision_time_unknown, "
        "in_review (waits for a person), not_printable (rejected, failed or printed)",
    )


class RecordDetail(RecordView):
    """`GET /records/{id}`: the record and the figures an operator is asked for at the counter."""

    queue_position: int | None = Field(
        None, description="place in the upload queue, 1 = next; null once the centre has it"
    )
    printable_eta: dt.datetime | None = Field(
        None,
        description="when the card can be printed, estimated (see printable_eta_basis); the "
        "approval time once approved; null when no estimate can be made",
    )
    printable_eta_basis: EtaBasis = Field(default_factory=EtaBasis)


class RecordPage(BaseModel):
    records: list[RecordView]
    next_cursor: str | None


class PendingUpload(BaseModel):
    id: str
    nik: str  # masked
    state: RecordState
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    age: float = Field(description="seconds since the record was taken")
    #: an addition to the contract: why a due record is not being sent (the circuit is open)
    held_back: str | None = None


class PendingUploads(BaseModel):
    uploads: list[PendingUpload]


class LinkHealth(BaseModel):
    url: str
    reachable: bool | None
    breaker: str = "closed"
    next_probe_in_seconds: float | None = None
    last_contact_at: dt.datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    in_flight_batches: int = 0


class LinkFigures(BaseModel):
    up: bool | None = Field(
        description="false during an outage, null before the first exchange with the centre"
    )
    rate_bytes_per_s: float | None = Field(
        description="measured upload rate in record bytes (before gzip) per second"
    )
    rtt_ms: float | None = Field(description="measured round trip to the centre")


class Outage(BaseModel):
    start: dt.datetime
    end: dt.datetime | None = Field(description="null while the outage lasts")
    seconds: float = Field(description="its length (so far, while it lasts)")
    cause: str | None = Field(None, description="the error that began it")


class LinkSummary(BaseModel):
    days: int = Field(description="the window: the last N days")
    outages: int
    down_seconds: float


class NeedsAction(BaseModel):
    review: int = Field(description="in manual review at the centre")
    rejected: int = Field(description="rejected: the resident must be told")
    failed: int = Field(description="refused as invalid: correct and re-send")
    approved_not_printed: int = Field(description="approved, card not printed yet")


class CentreTrustStatus(BaseModel):
    """Which centre the node believes (an addition for security)."""

    pinned_key_fingerprint: str | None = Field(
        None, description="SHA256 fingerprint of the pinned centre key; null: none pinned yet"
    )
    accepted_key_fingerprints: list[str] = Field(
        default_factory=list,
        description="keys accepted besides the pin: the centre's announced next key, keys "
        "rotated away (for authorisations signed before)",
    )
    key_refused: str | None = Field(
        None, description="why the centre is refused (it offers another key); null: it is not"
    )
    decisions_refused: int = Field(
        0, description="decisions not applied since start (signature did not verify)"
    )
    last_decision_refused: str | None = None


class PacketUpload(BaseModel):
    record_id: str
    name: str
    size: int
    acked: int


class PacketStatus(BaseModel):
    """An addition for heavy packets: attachments still to go up, and those travelling now."""

    files_waiting: int = 0
    records_waiting: int = 0
    bytes_waiting: int = Field(0, description="attachment bytes the centre has not acknowledged")
    in_flight: list[PacketUpload] = Field(default_factory=list)


class NodeStatus(BaseModel):
    office_code: str
    counts: dict[str, int]
    pending: int
    oldest_pending_seconds: float | None
    last_success_at: dt.datetime | None
    last_error: str | None
    central: LinkHealth
    # additions for operators and monitoring (README, "Additions to the contract")
    pending_bytes: int = Field(description="bytes still to send (record bytes, before gzip)")
    link: LinkFigures
    eta_seconds: float | None = Field(
        description="seconds until the backlog is sent at the measured rate; null: unknown"
    )
    link_history: list[Outage] = Field(description="outages of the last 7 days, newest first")
    link_summary: LinkSummary
    needs_action: NeedsAction
    centre_key: CentreTrustStatus = Field(default_factory=CentreTrustStatus)
    packets: PacketStatus = Field(default_factory=PacketStatus)


class PrintResult(BaseModel):
    id: str
    nik: str
    state: RecordState
    approval_no: str
    printed_at: dt.datetime


class ErrorBody(BaseModel):
    """Every non-validation error of both servers: a sentence and, where useful, the rule key."""

    detail: str
    rule: str | None = None


class ValidationErrorItem(BaseModel):
    """One failed check of a 422, in pydantic's shape (FastAPI adds `input` and `ctx` at times)."""

    model_config = ConfigDict(extra="allow")

    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorBody(BaseModel):
    """Every 422 of both servers: FastAPI's `detail` list, and the rule of the first failure."""

    detail: list[ValidationErrorItem]
    rule: str | None = None
