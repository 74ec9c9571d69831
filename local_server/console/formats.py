"""How the console writes times, durations, sizes and rates, in the operator's language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ektp_sync.config import Language

_UNITS = {
    Language.ID: {"d": "hr", "h": "j", "m": "mnt", "s": "dtk"},
    Language.EN: {"d": "d", "h": "h", "m": "min", "s": "s"},
}


@dataclass(frozen=True)
class Formats:
    """The formats of one page: its language and the office's time zone."""

    language: Language
    zone: ZoneInfo

    def number(self, value: float, decimals: int = 0) -> str:
        """1,234.5 in English, 1.234,5 in Indonesian."""
        text = f"{value:,.{decimals}f}"
        if self.language is Language.ID:
            text = text.replace(",", "_").replace(".", ",").replace("_", ".")
        return text

    def when(self, at: dt.datetime | None, seconds: bool = False) -> str:
        """A moment in the office's zone, to the minute, with the zone's name (WIB)."""
        if at is None:
            return "–"
        local = at.astimezone(self.zone)
        return local.strftime("%d-%m-%Y %H:%M" + (":%S" if seconds else "") + " %Z")

    def clock(self, at: dt.datetime | None) -> str:
        """Only the time of day (for today's outages)."""
        return "–" if at is None else at.astimezone(self.zone).strftime("%H:%M:%S")

    def zone_name(self, now: dt.datetime) -> str:
        """The zone's IANA name and its abbreviation now: "Asia/Pontianak (WIB)"."""
        return f"{self.zone.key} ({now.astimezone(self.zone).strftime('%Z')})"

    def today(self, now: dt.datetime) -> dt.datetime:
        """The start of today in the office's zone (as an aware datetime)."""
        local = now.astimezone(self.zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def duration(self, seconds: float | None) -> str:
        """At most two units: "3 j 12 mnt", "45 dtk"."""
        if seconds is None:
            return "–"
        units = _UNITS[self.language]
        if 0 < seconds < 1:
            return f"< 1 {units['s']}"
        total = max(0, round(seconds))
        parts: list[str] = []
        for key, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            amount, total = divmod(total, size)
            if amount or (key == "s" and not parts):
                parts.append(f"{amount} {units[key]}")
            if len(parts) == 2:
                break
        return " ".join(parts)

    def size(self, count: float | None) -> str:
        """Bytes in B, KB, MB or GB (powers of 1024)."""
        if count is None:
            return "–"
        value, unit = float(count), "B"
        for bigger in ("KB", "MB", "GB"):
            if value < 1024:
                break
            value, unit = value / 1024, bigger
        return f"{self.number(value, 0 if unit == 'B' else 1)} {unit}"

    def rate(self, per_second: float | None) -> str:
        return (
            "–" if per_second is None else f"{self.size(per_second)}/{_UNITS[self.language]['s']}"
        )

    def millis(self, ms: float | None) -> str:
        """A round trip: "520 ms", or in seconds from one second up."""
        if ms is None:
            return "–"
        if ms < 1000:
            return f"{self.number(ms)} ms"
        return f"{self.number(ms / 1000, 1)} {_UNITS[self.language]['s']}"

    def percent(self, fraction: float) -> str:
        return f"{self.number(100 * fraction, 2)} %"
