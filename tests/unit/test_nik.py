"""Every NIK rule of the contract, each broken on its own."""

from __future__ import annotations

import datetime as dt

import pytest

from ektp_sync.domain.nik import NikError, make_nik, mask_nik, nik_violations, parse_nik

BORN = dt.date(1990, 6, 5)
MAN = "6172010506900001"
WOMAN = "6172014506900001"


def rules(nik: str, birth_date: dt.date | None = BORN, sex: str | None = "L") -> list[str]:
    return [v.rule for v in nik_violations(nik, birth_date, sex)]


def test_valid_man_and_woman() -> None:
    assert rules(MAN) == []
    assert rules(WOMAN, sex="P") == []
    assert parse_nik(WOMAN, BORN, "P").sex == "P"
    assert parse_nik(WOMAN).birth_date == BORN


def test_female_day_is_day_plus_40() -> None:
    assert make_nik("6172", "01", BORN, "P", 1) == WOMAN
    assert rules(WOMAN, sex="L") == ["sex"]
    assert rules(MAN, sex="P") == ["sex"]
    assert rules("6172017106900001", dt.date(1990, 6, 30), "P") == ["birth_date"]
    assert rules("6172017006900001", dt.date(1990, 6, 30), "P") == []


@pytest.mark.parametrize(
    ("nik", "rule"),
    [
        ("617201050690001", "format"),
        ("61720105069000011", "format"),
        ("61720105069O0001", "format"),
        ("６172010506900001", "format"),
        ("9972010506900001", "province"),
        ("2072010506900001", "province"),
        ("6100010506900001", "regency"),
        ("6170010506900001", "regency"),
        ("6172000506900001", "district"),
        ("6172013506900001", "birth_day"),
        ("6172010006900001", "birth_day"),
        ("6172017206900001", "birth_day"),
        ("6172010513900001", "birth_month"),
        ("6172013102900001", "birth_date"),
        ("6172010506900000", "serial"),
    ],
)
def test_each_rule_named(nik: str, rule: str) -> None:
    assert rule in rules(nik, birth_date=None, sex=None)


@pytest.mark.parametrize("province", ["11", "19", "21", "36", "53", "65", "76", "81", "82", "96"])
def test_province_codes_accepted(province: str) -> None:
    assert rules(province + MAN[2:]) == []


def test_birth_date_must_agree() -> None:
    assert rules(MAN, dt.date(1990, 6, 6)) == ["birth_date"]
    assert rules(MAN, dt.date(1991, 6, 5)) == ["birth_date"]
    assert rules(MAN, dt.date(2090, 6, 5)) == []  # YY only: the century comes from the record


def test_error_lists_every_violation_with_its_rule() -> None:
    with pytest.raises(NikError) as caught:
        parse_nik("9900000506900000")
    assert [v.rule for v in caught.value.violations] == [
        "province",
        "regency",
        "district",
        "serial",
    ]
    assert "NIK rule 'province'" in str(caught.value)


def test_mask() -> None:
    assert mask_nik(WOMAN) == "6172********0001"
