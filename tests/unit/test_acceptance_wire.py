"""Regressions found by the outside acceptance check: rule keys of template errors."""

from __future__ import annotations

import base64
import struct

import pytest
from pydantic import ValidationError

from ektp_sync.wire import Biometrics


@pytest.mark.parametrize(
    ("template", "rule"),
    [
        (base64.b64encode(b"\0" * 508).decode(), "template_size"),
        (
            base64.b64encode(struct.pack("<128f", float("nan"), *[0.5] * 127)).decode(),
            "template_finite",
        ),
        (base64.b64encode(b"\0" * 512).decode(), "template_norm"),
        ("not base64!", "template_base64"),
    ],
)
def test_a_bad_template_is_refused_under_its_rule_key(template: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Biometrics(template=template)
    assert [e["type"] for e in caught.value.errors()] == [rule]


def test_a_bad_attachment_is_refused_under_its_rule_key() -> None:
    template = base64.b64encode(struct.pack("<128f", *[1.0] * 128)).decode()
    with pytest.raises(ValidationError) as caught:
        Biometrics(template=template, attachments={"photo": "%%%"})
    assert [e["type"] for e in caught.value.errors()] == ["attachment_base64"]
