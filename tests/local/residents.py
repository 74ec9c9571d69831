"""Valid resident records for the local node's tests (Kota Singkawang, kecamatan 01)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import numpy as np

from ektp_sync.domain.biometrics import encode_template
from ektp_sync.domain.nik import make_nik


def resident(serial: int, sex: str = "L", **extra: Any) -> dict[str, Any]:
    birth = dt.date(1990, 5, 6)
    vector = np.random.default_rng(serial).normal(size=128)
    body: dict[str, Any] = {
        "nik": make_nik("6172", "01", birth, sex, serial),
        "full_name": f"Warga {serial}",
        "birth_place": "Singkawang",
        "birth_date": birth.isoformat(),
        "sex": sex,
        "address": "Jl. Diponegoro 1",
        "biometrics": {"template": encode_template(vector)},
    }
    body.update(extra)
    return body


def with_attachment(body: dict[str, Any], size: int) -> dict[str, Any]:
    """The same record carrying `size` bytes of (decoded) attachment."""
    blob = base64.b64encode(b"\x89" * size).decode("ascii")
    return {**body, "biometrics": {**body["biometrics"], "attachments": {"photo": blob}}}
