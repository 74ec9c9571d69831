"""Test-data builders for the centre: templates at a chosen cosine, valid NIKs, records, items."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import uuid
from typing import Any

import numpy as np
import numpy.typing as npt

from ektp_sync.domain.biometrics import TEMPLATE_DIMENSIONS, encode_template
from ektp_sync.domain.nik import make_nik

Vec = npt.NDArray[np.float64]

_serials = itertools.count(1)


def unit(rng: np.random.Generator) -> Vec:
    v = rng.standard_normal(TEMPLATE_DIMENSIONS)
    out: Vec = v / np.linalg.norm(v)
    return out


def near(t: Vec, cosine: float, rng: np.random.Generator) -> Vec:
    """A unit vector at exactly `cosine` to unit vector `t`: c*t + sqrt(1-c^2)*u, u ⟂ t."""
    u = rng.standard_normal(TEMPLATE_DIMENSIONS)
    u -= np.dot(u, t) * t
    u /= np.linalg.norm(u)
    out: Vec = cosine * t + np.sqrt(1.0 - cosine**2) * u
    return out


def nik(
    serial: int | None = None,
    sex: str = "L",
    birth_date: dt.date = dt.date(1990, 6, 5),
    region: str = "6172",
    district: str = "01",
) -> str:
    return str(make_nik(region, district, birth_date, sex, serial or next(_serials)))


def record(
    template: Vec,
    nik_value: str | None = None,
    *,
    sex: str = "L",
    birth_date: dt.date = dt.date(1990, 6, 5),
    attachments: dict[str, bytes] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nik": nik_value or nik(sex=sex, birth_date=birth_date),
        "full_name": "Budi Santoso",
        "birth_place": "Singkawang",
        "birth_date": birth_date.isoformat(),
        "sex": sex,
        "address": "Jl. Diponegoro No. 1",
        "kecamatan": "Singkawang Tengah",
        "biometrics": {
            "template": encode_template(template),
            "attachments": {
                name: base64.b64encode(content).decode("ascii")
                for name, content in (attachments or {}).items()
            },
        },
    }
    data.update(overrides)
    return data


def item(
    rec: dict[str, Any], office_code: str = "6172", submission_id: str | None = None
) -> dict[str, Any]:
    return {
        "submission_id": submission_id or f"{office_code}-{uuid.uuid4().hex}",
        "office_code": office_code,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
        "record": rec,
    }


def batch(*items: dict[str, Any]) -> dict[str, Any]:
    return {"items": list(items)}


def manifest_of(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """`biometrics.manifest` for attachments that travel as resumable uploads."""
    return {
        name: {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        for name, content in files.items()
    }


def with_manifest(rec: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
    """`rec` announcing `files` in its manifest instead of carrying them inline."""
    rec["biometrics"]["manifest"] = manifest_of(files)
    return rec
