"""The console's parts without a browser: its words in both languages, how it writes times,
sizes and durations, the throughput series behind the chart, and the checks of its forms."""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ektp_sync.config import ConfigError, Language, LocalSettings
from ektp_sync.domain.decisions import DecisionReason
from ektp_sync.domain.operators import Role
from ektp_sync.domain.states import RecordState
from local_server.console.access import local_path
from local_server.console.formats import Formats
from local_server.console.pages import SPANS
from local_server.console.text import TEXT, translate
from local_server.console.views import CORRECTABLE
from local_server.sync.series import ThroughputSeries

CONSOLE = Path(__file__).resolve().parents[2] / "local_server" / "console"
ID = Formats(Language.ID, ZoneInfo("Asia/Pontianak"))
EN = Formats(Language.EN, ZoneInfo("Asia/Pontianak"))


def _places(phrase: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(phrase) if name}


def test_every_phrase_has_both_languages_with_the_same_places() -> None:
    for key, (indonesian, english) in TEXT.items():
        assert indonesian and english, key
        assert _places(indonesian) == _places(english), key


def test_every_key_the_console_uses_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for path in [*CONSOLE.glob("templates/*.html"), *CONSOLE.glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.?[a-z_.]*)["']""", path.read_text()))
    assert used, "no t('…') found: the pattern is stale"
    # keys made from a value ("state." ~ record.state): every value must have its phrase
    families = {
        "state.": [s.value for s in RecordState],
        "reason.": [r.value for r in DecisionReason],
        "role.": [r.value for r in Role],
        "field.": list(CORRECTABLE),
        "ln.span.": list(SPANS),
    }
    made = {key for key in used if key.endswith(".")}
    assert made <= families.keys()
    expected = {prefix + value for prefix, values in families.items() for value in values}
    assert (used - made) | expected <= TEXT.keys()


def test_translate_fills_places_and_falls_back_to_the_key() -> None:
    assert translate(Language.ID, "ov.eta", d="3 mnt") == (
        "Semua terkirim dalam sekitar 3 mnt pada kecepatan sekarang"
    )
    assert translate(Language.EN, "ov.eta", d="3 min").startswith("All sent in about 3 min")
    assert translate(Language.ID, "no.such.key") == "no.such.key"


def test_times_are_written_in_the_office_zone_with_its_name() -> None:
    at = dt.datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    assert ID.when(at) == "02-12-2026 10:04 WIB"
    assert ID.when(at, seconds=True) == "02-12-2026 10:04:05 WIB"
    assert ID.clock(at) == "10:04:05"
    wita = Formats(Language.ID, ZoneInfo("Asia/Makassar"))
    assert wita.when(at) == "02-12-2026 11:04 WITA"
    assert ID.today(at) == dt.datetime(2026, 12, 2, tzinfo=ZoneInfo("Asia/Pontianak"))
    assert ID.when(None) == "–"


@pytest.mark.parametrize(
    ("seconds", "indonesian", "english"),
    [
        (0.4, "< 1 dtk", "< 1 s"),
        (0, "0 dtk", "0 s"),
        (45, "45 dtk", "45 s"),
        (192, "3 mnt 12 dtk", "3 min 12 s"),
        (3 * 3600 + 12 * 60 + 5, "3 j 12 mnt", "3 h 12 min"),
        (2 * 86400 + 60, "2 hr 1 mnt", "2 d 1 min"),
    ],
)
def test_durations_in_two_units_at_most(seconds: float, indonesian: str, english: str) -> None:
    assert ID.duration(seconds) == indonesian
    assert EN.duration(seconds) == english


def test_numbers_sizes_and_rates_by_language() -> None:
    assert ID.number(1234.5, 1) == "1.234,5"
    assert EN.number(1234.5, 1) == "1,234.5"
    assert ID.size(512) == "512 B"
    assert ID.size(1536) == "1,5 KB"
    assert EN.size(3 * 1024 * 1024) == "3.0 MB"
    assert ID.rate(2048) == "2,0 KB/dtk"
    assert EN.millis(520) == "520 ms"
    assert EN.millis(1500) == "1.5 s"
    assert ID.percent(0.99995) == "99,99 %" or ID.percent(0.99995) == "100,00 %"


def test_series_sums_bytes_per_minute_into_bars() -> None:
    series = ThroughputSeries()
    end = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    series.add(end - dt.timedelta(minutes=59, seconds=30), 6000)  # first bar
    series.add(end - dt.timedelta(seconds=20), 3000)  # last bar
    series.add(end - dt.timedelta(seconds=10), 3000)
    series.add(end - dt.timedelta(hours=2), 999_999)  # outside the span
    rates = series.rates(end, dt.timedelta(hours=1), 60)
    assert len(rates) == 60
    assert rates[0] == 100.0  # 6000 bytes over a minute
    assert rates[-1] == 100.0
    assert sum(rates[1:-1]) == 0


def test_series_keeps_a_day_at_most() -> None:
    series = ThroughputSeries()
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for minute in range(24 * 60 + 30):
        series.add(start + dt.timedelta(minutes=minute), 60)
    end = start + dt.timedelta(minutes=24 * 60 + 30)  # the first 30 minutes are gone
    assert series.rates(end, dt.timedelta(hours=24), 24)[0] == 1.0
    assert series.rates(start + dt.timedelta(minutes=29), dt.timedelta(minutes=30), 1) == [0.0]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/penduduk/abc", "/penduduk/abc"),
        ("/cari?q=x", "/cari?q=x"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_redirects_stay_on_the_node(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


def test_office_timezone_must_be_known(tmp_path: Path) -> None:
    settings = LocalSettings(
        data_dir=tmp_path, office_timezone="Asia/Jayapura", trust_first_key=True
    )
    assert settings.office_timezone == "Asia/Jayapura"
    assert (
        LocalSettings(data_dir=tmp_path, trust_first_key=True).office_timezone == "Asia/Pontianak"
    )
    with pytest.raises(ConfigError, match="office-timezone"):
        LocalSettings(data_dir=tmp_path, office_timezone="Asia/Singkawang", trust_first_key=True)
