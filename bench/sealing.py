"""What sealing personal data at rest costs per record, on each path that seals or opens.

`python -m bench.sealing [--json PATH]`: times, in process, the node's sealing of a recorded
resident (keyed hash, NIK, payload), the opening of a payload at claim and of a NIK in a view,
and the centre's seals at intake and its opens and seals at a decision that enrols; best of 5
rounds. The figures go into docs/performance.md, "Cost of encryption at rest".
"""

from __future__ import annotations

import argparse
import base64
import json
import timeit
from collections.abc import Callable
from pathlib import Path

from central_server.store.sealed import CentreSealer
from ektp_sync.sealing import DataKey
from ektp_sync.synth import generate
from ektp_sync.wire import ResidentRecord
from local_server.store.sealed import NodeSealer

CALLS = 10_000
ROUNDS = 5


def best_microseconds(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=CALLS, repeat=ROUNDS)) / CALLS * 1e6


def measure() -> dict[str, float]:
    person = next(r.record for r in generate(2, seed=1) if r.phase == 1)
    payload = json.dumps(
        ResidentRecord.model_validate(person).model_dump(mode="json"), separators=(",", ":")
    )
    nik = str(person["nik"])
    key = DataKey(bytes(32))
    node = NodeSealer(key)
    sealed = node.record_columns("r1", nik, payload)
    centre = CentreSealer(key)
    sid = "6172-" + "a" * 32
    template = base64.b64decode(person["biometrics"]["template"])
    record = {**person, "biometrics": {"template": "…", "attachments": []}}
    signed = {"submission_id": sid, "nik": nik, "approval_no": "KTP-20261202-0123456789ABCDEF",
              "issued_at": "2026-12-02T00:00:00.000Z", "signature": "s" * 88}  # fmt: skip
    nik_sealed = centre.seal_text("enrollments.nik", sid, nik)
    template_sealed = centre.seal_bytes("enrollments.template", sid, template)

    def intake() -> None:
        centre.seal_text("enrollments.nik", sid, nik)
        centre.seal_json("enrollments.record", sid, record)
        centre.seal_bytes("enrollments.template", sid, template)

    def decision() -> None:
        centre.open_text("enrollments.nik", sid, nik_sealed)
        centre.open_bytes("enrollments.template", sid, template_sealed)
        centre.seal_json("enrollments.authorisation", sid, signed)
        centre.seal_text("decision_log.nik", f"{sid}/approved", nik)
        centre.seal_json("decision_log.authorisation", f"{sid}/approved", signed)
        centre.nik_lookup(nik)
        centre.seal_text("identities.nik", sid, nik)
        centre.seal_bytes("identities.template", sid, template)

    return {
        "payload_bytes": float(len(payload)),
        "node_record_us": best_microseconds(lambda: node.record_columns("r1", nik, payload)),
        "node_open_payload_us": best_microseconds(
            lambda: node.open_payload("r1", sealed["payload_sealed"])
        ),
        "node_open_nik_us": best_microseconds(lambda: node.open_nik("r1", sealed["nik_sealed"])),
        "centre_intake_us": best_microseconds(intake),
        "centre_decision_us": best_microseconds(decision),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = measure()
    for name, value in figures.items():
        print(f"{name:24} {value:10.1f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
