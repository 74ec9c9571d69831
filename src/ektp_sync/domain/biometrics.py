"""Biometric templates: 128 little-endian float32 values, base64, compared by cosine similarity."""

from __future__ import annotations

import base64
import binascii

import numpy as np
import numpy.typing as npt

TEMPLATE_DIMENSIONS = 128
TEMPLATE_BYTES = TEMPLATE_DIMENSIONS * 4
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024  # decoded, per record

Vector = npt.NDArray[np.float32]


class BiometricError(ValueError):
    """The template or attachments break a rule; `rule` is a stable key for the rule."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(message)


class AttachmentsTooLarge(BiometricError):
    """Attachments over the per-record limit: the caller answers 413, not 422."""


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BiometricError("base64", f"{what} is not valid standard base64: {exc}") from None


def decode_template(value: str) -> Vector:
    """Decode and check a template; returns it unit-normalised, ready for cosine matching."""
    raw = _b64decode(value, "template")
    if len(raw) != TEMPLATE_BYTES:
        raise BiometricError(
            "template_size",
            f"template must decode to {TEMPLATE_BYTES} bytes ({TEMPLATE_DIMENSIONS} float32), "
            f"got {len(raw)}",
        )
    # float64 so that neither huge nor denormal float32 values overflow or vanish in the norm
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    if not np.all(np.isfinite(vector)):
        raise BiometricError("template_finite", "template contains NaN or infinite values")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise BiometricError("template_norm", "template is all zeros (no direction to compare)")
    return (vector / norm).astype(np.float32)


def encode_template(vector: npt.NDArray[np.floating]) -> str:
    """The wire form of a template (the inverse of decode_template, up to normalisation)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def attachments_size(attachments: dict[str, str]) -> int:
    """Total decoded size; raises BiometricError for bad base64, AttachmentsTooLarge over 2 MiB."""
    total = 0
    for name, value in attachments.items():
        # base64 length bounds the decoded size, so oversize is refused before decoding it
        if (len(value) // 4) * 3 + total > MAX_ATTACHMENT_BYTES + 3:
            raise AttachmentsTooLarge(
                "attachments_size",
                f"attachments exceed {MAX_ATTACHMENT_BYTES} bytes decoded per record",
            )
        total += len(_b64decode(value, f"attachment {name!r}"))
    if total > MAX_ATTACHMENT_BYTES:
        raise AttachmentsTooLarge(
            "attachments_size",
            f"attachments are {total} bytes decoded; at most {MAX_ATTACHMENT_BYTES} per record",
        )
    return total


def cosine(a: Vector, b: Vector) -> float:
    """Cosine similarity of two unit vectors."""
    return float(np.dot(a, b))
