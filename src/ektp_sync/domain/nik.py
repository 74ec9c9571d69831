"""NIK (Nomor Induk Kependudukan) rules: `PP KK CC DDMMYY SSSS`, 16 digits.

Every check names the rule it enforces, so an operator reading a 422 knows which part to fix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

PROVINCE_CODES: frozenset[str] = frozenset(
    f"{code:02d}"
    for code in [
        *range(11, 20),
        21,
        *range(31, 37),
        *range(51, 54),
        *range(61, 66),
        *range(71, 77),
        81,
        82,
        *range(91, 97),
    ]
)

#: Kecamatan of Kota Singkawang (61.72), the office the simulation is set in.
SINGKAWANG_DISTRICTS: dict[str, str] = {
    "01": "Singkawang Tengah",
    "02": "Singkawang Barat",
    "03": "Singkawang Timur",
    "04": "Singkawang Utara",
    "05": "Singkawang Selatan",
}

FEMALE_DAY_OFFSET = 40


@dataclass(frozen=True)
class NikViolation:
    """One broken NIK rule: `rule` is a stable key, `message` says what is wrong in words."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"NIK rule '{self.rule}': {self.message}"


@dataclass(frozen=True)
class ParsedNik:
    province: str
    regency: str
    district: str
    birth_date: dt.date | None
    sex: str  # "L" or "P", as encoded by the day (+40 for women)
    serial: str


class NikError(ValueError):
    """A NIK breaks one or more rules; `violations` lists every one of them."""

    def __init__(self, violations: list[NikViolation]) -> None:
        self.violations = violations
        super().__init__("; ".join(str(v) for v in violations))


def _encoded_birth_date(ddmmyy: str, birth_date: dt.date | None) -> dt.date | None:
    """The date DDMMYY stands for; the century comes from the record's birth date if known."""
    day = int(ddmmyy[0:2])
    day = day - FEMALE_DAY_OFFSET if day > FEMALE_DAY_OFFSET else day
    month, yy = int(ddmmyy[2:4]), int(ddmmyy[4:6])
    century = (birth_date.year // 100) * 100 if birth_date else 1900 if yy > 30 else 2000
    try:
        return dt.date(century + yy, month, day)
    except ValueError:
        return None


def nik_violations(
    nik: str, birth_date: dt.date | None = None, sex: str | None = None
) -> list[NikViolation]:
    """Every rule `nik` breaks, alone and (when given) against the record's birth date and sex."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        return [NikViolation("format", f"must be exactly 16 digits, got {nik!r}")]
    found: list[NikViolation] = []
    pp, kk, cc, dd, mm, serial = nik[0:2], nik[2:4], nik[4:6], nik[6:8], nik[8:10], nik[12:16]
    if pp not in PROVINCE_CODES:
        found.append(NikViolation("province", f"province code {pp} is not one of the 38 codes"))
    if not ("01" <= kk <= "69" or "71" <= kk <= "99"):
        found.append(
            NikViolation(
                "regency", f"regency/city code {kk} must be 01-69 (kabupaten) or 71-99 (kota)"
            )
        )
    if cc == "00":
        found.append(NikViolation("district", "district (kecamatan) code must be 01-99, got 00"))
    day = int(dd)
    if not (1 <= day <= 31 or 41 <= day <= 71):
        found.append(NikViolation("birth_day", f"day {dd} must be 01-31, or 41-71 for women"))
    elif not 1 <= int(mm) <= 12:
        found.append(NikViolation("birth_month", f"month {mm} must be 01-12"))
    else:
        encoded = _encoded_birth_date(nik[6:12], birth_date)
        if encoded is None:
            found.append(NikViolation("birth_date", f"{nik[6:12]} is not a real calendar date"))
        elif birth_date is not None and encoded != birth_date:
            found.append(
                NikViolation(
                    "birth_date",
                    f"digits 7-12 ({nik[6:12]}) encode {encoded:%d-%m-%y} but birth_date is "
                    f"{birth_date:%d-%m-%y}",
                )
            )
        if sex is not None:
            encoded_sex = "P" if day > 40 else "L"
            if encoded_sex != sex:
                found.append(
                    NikViolation(
                        "sex",
                        f"day {dd} encodes sex {encoded_sex} (women: day + 40) but sex is {sex}",
                    )
                )
    if serial == "0000":
        found.append(NikViolation("serial", "serial (last 4 digits) must be 0001-9999"))
    return found


def parse_nik(nik: str, birth_date: dt.date | None = None, sex: str | None = None) -> ParsedNik:
    """Split a valid NIK into its parts; raises NikError naming every broken rule."""
    violations = nik_violations(nik, birth_date, sex)
    if violations:
        raise NikError(violations)
    day = int(nik[6:8])
    return ParsedNik(
        province=nik[0:2],
        regency=nik[2:4],
        district=nik[4:6],
        birth_date=_encoded_birth_date(nik[6:12], birth_date),
        sex="P" if day > 40 else "L",
        serial=nik[12:16],
    )


def make_nik(region: str, district: str, birth_date: dt.date, sex: str, serial: int) -> str:
    """Compose a NIK for `region` (PPKK, e.g. "6172"); used by the synthetic data generator."""
    day = birth_date.day + (FEMALE_DAY_OFFSET if sex == "P" else 0)
    return f"{region}{district}{day:02d}{birth_date:%m%y}{serial:04d}"


def mask_nik(nik: str) -> str:
    """Show the office region and the serial, not who it is: 6172014506900001 → 6172********0001
    (district and birth date hidden; the logs' mask, `ektp_sync.logmask`, has the same shape)."""
    return nik[:4] + "*" * 8 + nik[12:] if len(nik) == 16 else "*" * len(nik)
