"""Synthetic residents of Kota Singkawang, with planted duplicates of every decision kind.

Phase 1 holds distinct people (expected approved/new_identity). Phase 2 holds the planted cases,
each pointing at a phase-1 original: a re-recording of the same person (reissue), a stranger
under that person's NIK (nik_conflict), the same person under a new NIK (duplicate_identity) and
a look-alike in the review band (possible_duplicate). Phase 2 must be recorded after phase 1 is
decided — the office refuses a NIK still in flight (409), and the centre decides in arrival order.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ektp_sync.domain.biometrics import TEMPLATE_DIMENSIONS, encode_template
from ektp_sync.domain.nik import SINGKAWANG_DISTRICTS, make_nik

REGION = "6172"  # Kota Singkawang, Kalimantan Barat

#: cosine similarity of each planted kind to its original (match ≥ 0.85, review band 0.70–0.85)
SIMILARITY = {"reissue": 0.95, "duplicate_identity": 0.93, "possible_duplicate": 0.77}
PLANTED_KINDS = ("reissue", "nik_conflict", "duplicate_identity", "possible_duplicate")
EXPECTED = {
    "new_identity": ("approved", "new_identity"),
    "reissue": ("approved", "reissue"),
    "nik_conflict": ("rejected", "nik_conflict"),
    "duplicate_identity": ("rejected", "duplicate_identity"),
    "possible_duplicate": ("review", "possible_duplicate"),
}

_KELURAHAN = {
    "01": ["Pasiran", "Melayu", "Roban", "Condong", "Sekip Lama", "Jawa"],
    "02": ["Kuala", "Tengah", "Pasiran Barat", "Melayu Barat"],
    "03": ["Nyarumkop", "Bagak Sahwa", "Sijangkung", "Pajintan", "Maya Sopa"],
    "04": ["Setapuk Kecil", "Setapuk Besar", "Sungai Garam Hilir", "Naram", "Semelagi Kecil"],
    "05": ["Sedau", "Sungai Rasau", "Sungai Bulan", "Pangmilang"],
}
_GIVEN_L = [
    "Ahmad",
    "Budi",
    "Hendra",
    "Rudi",
    "Agus",
    "Tjhai Kim",
    "Bong Fui",
    "Lim Sui",
    "Yohanes",
    "Darius",
]
_GIVEN_P = [
    "Siti",
    "Dewi",
    "Rina",
    "Lestari",
    "Nur",
    "Lie Mei",
    "Chin Lan",
    "Fransiska",
    "Maria",
    "Ayu",
]
_FAMILY = [
    "Saputra",
    "Wijaya",
    "Halim",
    "Tan",
    "Kurniawan",
    "Santoso",
    "Lim",
    "Hartono",
    "Usman",
    "Gunawan",
]
_STREETS = [
    "Jl. Diponegoro",
    "Jl. GM Situt",
    "Jl. Kalimantan",
    "Jl. Niaga",
    "Jl. Alianyang",
    "Jl. Pangeran Antasari",
]
_RELIGIONS = ["Islam", "Buddha", "Katolik", "Kristen", "Konghucu", "Hindu"]
_OCCUPATIONS = [
    "Pedagang",
    "Petani",
    "Nelayan",
    "Wiraswasta",
    "Pelajar/Mahasiswa",
    "Karyawan Swasta",
    "PNS",
]


@dataclass
class SyntheticResident:
    index: int
    kind: str  # new_identity or one of PLANTED_KINDS
    phase: int
    record: dict[str, Any]
    duplicate_of: int | None = None
    expected: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class _Builder:
    def __init__(self, seed: int, attachment_bytes: int) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.niks: set[str] = set()
        self.attachment_bytes = attachment_bytes

    def template(self) -> np.ndarray:
        v = self.np_rng.standard_normal(TEMPLATE_DIMENSIONS)
        return v / np.linalg.norm(v)

    def near(self, original: np.ndarray, cosine: float) -> np.ndarray:
        """A unit vector at exactly `cosine` to `original` (in float64, before float32 encoding)."""
        u = self.np_rng.standard_normal(TEMPLATE_DIMENSIONS)
        u -= np.dot(u, original) * original
        u /= np.linalg.norm(u)
        near: np.ndarray = cosine * original + np.sqrt(1.0 - cosine**2) * u
        return near

    def new_nik(self, district: str, birth_date: dt.date, sex: str) -> str:
        while True:
            nik = make_nik(REGION, district, birth_date, sex, self.rng.randint(1, 9999))
            if nik not in self.niks:
                self.niks.add(nik)
                return nik

    def person(self) -> dict[str, Any]:
        rng = self.rng
        sex = rng.choice("LP")
        birth_date = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 57))
        district = rng.choice(sorted(SINGKAWANG_DISTRICTS))
        given = rng.choice(_GIVEN_L if sex == "L" else _GIVEN_P)
        return {
            "nik": self.new_nik(district, birth_date, sex),
            "full_name": f"{given} {rng.choice(_FAMILY)}".upper(),
            "birth_place": rng.choice(["SINGKAWANG", "PONTIANAK", "SAMBAS", "BENGKAYANG"]),
            "birth_date": birth_date.isoformat(),
            "sex": sex,
            "address": f"{rng.choice(_STREETS)} No. {rng.randint(1, 250)}",
            "rt": f"{rng.randint(1, 30):03d}",
            "rw": f"{rng.randint(1, 12):03d}",
            "kelurahan": rng.choice(_KELURAHAN[district]),
            "kecamatan": SINGKAWANG_DISTRICTS[district],
            "religion": rng.choice(_RELIGIONS),
            "marital_status": rng.choice(["BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"]),
            "occupation": rng.choice(_OCCUPATIONS),
        }

    def biometrics(self, template: np.ndarray) -> dict[str, Any]:
        bio: dict[str, Any] = {"template": encode_template(template)}
        if self.attachment_bytes:
            photo = self.rng.randbytes(self.attachment_bytes)
            bio["attachments"] = {"photo": base64.b64encode(photo).decode("ascii")}
        return bio


def planted_count(count: int) -> int:
    """How many of `count` residents are planted duplicates: a fifth, at least one of each kind."""
    if count < 2 * len(PLANTED_KINDS):
        return count // 2
    return max(len(PLANTED_KINDS), count // 5)


def generate(count: int, seed: int = 0, attachment_bytes: int = 0) -> list[SyntheticResident]:
    """`count` residents, reproducible by `seed`; phase 1 first, then the planted phase 2."""
    if count < 0:
        raise ValueError("count must be >= 0")
    b = _Builder(seed, attachment_bytes)
    n_planted = planted_count(count)
    n_base = count - n_planted
    residents: list[SyntheticResident] = []
    templates: list[np.ndarray] = []
    for i in range(n_base):
        person, template = b.person(), b.template()
        templates.append(template)
        residents.append(
            SyntheticResident(
                i, "new_identity", 1, {**person, "biometrics": b.biometrics(template)}
            )
        )
    originals = b.rng.sample(range(n_base), n_planted) if n_planted else []
    for j, original in enumerate(originals):
        kind = PLANTED_KINDS[j % len(PLANTED_KINDS)]
        base = residents[original].record
        if kind == "reissue":
            record = {
                **base,
                "biometrics": b.biometrics(b.near(templates[original], SIMILARITY[kind])),
            }
        elif kind == "nik_conflict":
            stranger = b.person()
            b.niks.discard(stranger["nik"])
            record = {
                **stranger,
                "nik": base["nik"],
                "birth_date": base["birth_date"],
                "sex": base["sex"],
                "biometrics": b.biometrics(b.template()),
            }
        else:  # the same (or a look-alike) person under a NIK of their own
            district = base["nik"][4:6]
            nik = b.new_nik(district, dt.date.fromisoformat(base["birth_date"]), base["sex"])
            record = {
                **base,
                "nik": nik,
                "biometrics": b.biometrics(b.near(templates[original], SIMILARITY[kind])),
            }
        residents.append(SyntheticResident(n_base + j, kind, 2, record, duplicate_of=original))
    for r in residents:
        status, reason = EXPECTED[r.kind]
        r.expected = {"status": status, "reason": reason}
    return residents
