"""`python -m bench.bodycheck [--records N] [--rounds R]`: what the input checks of
`ektp_sync.body` cost on a batch as the node sends it, beside `json.loads` alone.

Prints the best of R rounds (ms) for: `json.loads`; `parse_json` (the checks a batch of
ordinary size gets: container count, depth walk, surrogate escape search); and the exact
streaming guard (yajl via ijson) that a body opening over 8,000 containers gets on top.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from ektp_sync.body import parse_json
from ektp_sync.jsonguard import JsonGuard
from ektp_sync.synth import generate


def batch(records: int) -> bytes:
    now = dt.datetime.now(dt.UTC).isoformat()
    items = [
        {"submission_id": f"6172-{uuid.uuid4().hex}", "office_code": "6172", "recorded_at": now}
        | {"record": r.record}
        for r in generate(records, seed=5)
    ]
    return json.dumps({"items": items}).encode()


def guard_only(raw: bytes) -> None:
    guard = JsonGuard()
    guard.feed(raw)
    guard.close()


def best_ms(step: Callable[[bytes], Any], raw: bytes, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        step(raw)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    raw = batch(args.records)
    print(f"batch of {args.records} records, {len(raw):,} bytes; best of {args.rounds}")
    plain = best_ms(json.loads, raw, args.rounds)
    checked = best_ms(parse_json, raw, args.rounds)
    exact = best_ms(guard_only, raw, args.rounds)
    print(f"json.loads                 {plain:7.2f} ms")
    print(f"parse_json (checks)        {checked:7.2f} ms  (+{checked - plain:.2f} ms)")
    print(f"streaming guard (yajl)     {exact:7.2f} ms  (only bodies over 8,000 containers)")


if __name__ == "__main__":
    main()
