"""Named link profiles: each a set of toxics (shown in the API, removable) with cited numbers.

Round-trip latency is split evenly between `upstream` (office → centre) and `downstream`.
Rates are KB/s with KB = 1000 bytes (Toxiproxy's unit); 1 Mbit/s = 125 KB/s.
Loss uses the Gilbert–Elliott model of the `loss` toxic: p = P(good→bad) per packet,
r = P(bad→good); with loss_bad = 1 the mean loss rate is p / (p + r), mean burst 1/r packets.
Sources and assumptions for each number are in docs/netsim.md.
"""

from __future__ import annotations

from typing import Any

from ektp_sync.netsim.model import ToxicSpec

ToxicJson = dict[str, Any]


def _latency(rtt_ms: int, jitter_ms: int) -> list[ToxicJson]:
    half = rtt_ms // 2
    return [
        {"type": "latency", "stream": s, "attributes": {"latency": half, "jitter": jitter_ms}}
        for s in ("upstream", "downstream")
    ]


def _link(up_kbs: float, down_kbs: float) -> list[ToxicJson]:
    return [
        {"type": "link_bandwidth", "stream": "upstream", "attributes": {"rate": up_kbs}},
        {"type": "link_bandwidth", "stream": "downstream", "attributes": {"rate": down_kbs}},
    ]


def _loss(mean: float, burst: float, rto_ms: int, reset: float) -> list[ToxicJson]:
    r = 1.0 / burst
    p = round(mean * r / (1.0 - mean), 6)
    attributes = {"p": p, "r": r, "rto": rto_ms, "reset": reset}
    return [
        {"type": "loss", "stream": s, "attributes": dict(attributes)}
        for s in ("upstream", "downstream")
    ]


def _outage(period_ms: int, duration_ms: int, jitter_ms: int, start_ms: int) -> list[ToxicJson]:
    attributes = {
        "period": period_ms,
        "duration": duration_ms,
        "jitter": jitter_ms,
        "start": start_ms,
        "mode": "reset",
    }
    return [{"type": "outage", "stream": "upstream", "attributes": attributes}]


PROFILES: dict[str, list[ToxicJson]] = {
    # Metro fibre: ~10 ms RTT, 100 Mbit/s.
    "fiber": _latency(10, 1) + _link(12_500, 12_500),
    # Urban 4G: ~60 ms RTT, 5 Mbit/s up / 20 Mbit/s down, rare light loss.
    "4g": _latency(60, 10) + _link(625, 2_500) + _loss(0.001, 1.5, 250, 0.0),
    # Congested rural 3G (community "3G" preset): 250 ms RTT, 750 kbit/s, 1.5 % loss.
    "3g-rural": _latency(250, 25) + _link(93.75, 93.75) + _loss(0.015, 2.0, 500, 0.005),
    # GEO VSAT, clear sky: 600 ms RTT, ~2 Mbit/s down, 512 kbit/s up (uplink assumed).
    "vsat-clear": _latency(600, 20) + _link(64, 250) + _loss(0.001, 2.0, 1000, 0.0),
    # Same VSAT in tropical rain: halved rates (adaptive coding), bursty loss, rain-fade outages
    # every ~30 s lasting 5–8 s (scaled down from the field's minutes so tests stay bounded).
    "vsat-rain": _latency(600, 40)
    + _link(32, 125)
    + _loss(0.02, 4.0, 1000, 0.02)
    + _outage(30_000, 6_000, 2_000, 10_000),
    # The link is down: every connection is reset and new ones refused until removed.
    "down": _outage(0, 0, 0, 0),
}


def profile_names() -> list[str]:
    return list(PROFILES)


def profile_toxics(profile: str) -> list[ToxicSpec]:
    """The toxics of a profile, named `<profile>.<type>_<stream>` so they can be found again."""
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    specs = []
    for body in PROFILES[profile]:
        spec = ToxicSpec.from_json(body)
        spec.name = f"{profile}.{spec.name}"
        specs.append(spec)
    return specs


def is_profile_toxic(name: str) -> bool:
    return name.partition(".")[0] in PROFILES and "." in name
