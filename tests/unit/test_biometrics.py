"""Template decoding and attachment limits."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pytest

from ektp_sync.domain.biometrics import (
    MAX_ATTACHMENT_BYTES,
    AttachmentsTooLarge,
    BiometricError,
    attachments_size,
    decode_template,
    encode_template,
)


def test_round_trip_is_unit_normalised() -> None:
    v = np.arange(1, 129, dtype=np.float32)
    decoded = decode_template(encode_template(v))
    assert decoded.dtype == np.float32 and decoded.shape == (128,)
    assert np.isclose(np.linalg.norm(decoded), 1.0)
    assert np.allclose(decoded, v / np.linalg.norm(v))


def test_little_endian_float32() -> None:
    values = [float(i % 7) - 3.0 for i in range(128)]
    raw = struct.pack("<128f", *values)
    decoded = decode_template(base64.b64encode(raw).decode())
    assert np.allclose(decoded, np.array(values) / np.linalg.norm(values), atol=1e-6)
    swapped = decode_template(base64.b64encode(struct.pack(">128f", *values)).decode())
    assert not np.allclose(swapped, decoded)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("not base64!", "base64"),
        (base64.b64encode(b"\0" * 511).decode(), "template_size"),
        (base64.b64encode(b"\0" * 516).decode(), "template_size"),
        (base64.b64encode(np.zeros(128, "<f4").tobytes()).decode(), "template_norm"),
        (base64.b64encode(np.full(128, np.nan, "<f4").tobytes()).decode(), "template_finite"),
        (base64.b64encode(np.full(128, np.inf, "<f4").tobytes()).decode(), "template_finite"),
    ],
)
def test_bad_templates_name_the_rule(value: str, rule: str) -> None:
    with pytest.raises(BiometricError) as caught:
        decode_template(value)
    assert caught.value.rule == rule


def test_attachments_limit_is_on_decoded_bytes() -> None:
    at_limit = base64.b64encode(b"x" * MAX_ATTACHMENT_BYTES).decode()
    assert attachments_size({"photo": at_limit}) == MAX_ATTACHMENT_BYTES
    half = base64.b64encode(b"x" * (MAX_ATTACHMENT_BYTES // 2 + 1)).decode()
    with pytest.raises(AttachmentsTooLarge):
        attachments_size({"photo": half, "iris": half})
    with pytest.raises(BiometricError) as caught:
        attachments_size({"photo": "***"})
    assert not isinstance(caught.value, AttachmentsTooLarge)
