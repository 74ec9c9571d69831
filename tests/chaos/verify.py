"""The soak's guarantees (issue 4's, and never `failed`), checked against the planted truth.

Inputs are what the contract's APIs show: the office's records (`GET /records`), the office's
decisions feed at the centre (`GET /decisions`, which lists every decision the centre logged,
so a submission decided twice shows up twice) and the centre's `/stats`. Each check returns
sentences naming the resident, record and submission involved, so a failing run is evidence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ektp_sync.synth import SyntheticResident

FINAL_STATES = {"approved", "rejected", "printed"}
#: planted kinds that are the original person again (a NIK conflict is a stranger)
SAME_PERSON = {"reissue", "duplicate_identity", "possible_duplicate"}


@dataclass
class Evidence:
    residents: Sequence[SyntheticResident]
    expected: dict[int, tuple[str, str]]  # resident index → (status, reason), after review
    ids: dict[int, str]  # resident index → record id at the office
    node: dict[str, dict[str, Any]]  # record id → record, every record the office holds
    feed: list[dict[str, Any]]  # the office's decisions at the centre, in log order
    stats: dict[str, Any]  # the centre's /stats
    expected_identities: int


def person_of(resident: SyntheticResident) -> str:
    if resident.kind in SAME_PERSON and resident.duplicate_of is not None:
        return f"person {resident.duplicate_of}"
    return f"person {resident.index}"


def nothing_lost(e: Evidence) -> list[str]:
    """1. Every 201 record is at the office and reached the centre."""
    problems = [
        f"resident {r.index} ({r.kind}) was never recorded"
        for r in e.residents
        if r.index not in e.ids
    ]
    problems += [
        f"record {i} answered 201 is missing at the office"
        for i in e.ids.values()
        if i not in e.node
    ]
    at_centre = {d["submission_id"] for d in e.feed}
    for index, record_id in e.ids.items():
        record = e.node.get(record_id)
        if record is not None and record["submission_id"] not in at_centre:
            problems.append(
                f"resident {index}: record {record_id} (submission {record['submission_id']}, "
                f"state {record['state']}) has no decision at the centre"
            )
    if e.stats.get("enrollments") != len(e.ids):
        problems.append(
            f"centre stores {e.stats.get('enrollments')} submissions, office {len(e.ids)}"
        )
    return problems


def nothing_doubled(e: Evidence) -> list[str]:
    """2. Each submission_id made at most one enrollment; no record was taken twice."""
    problems = []
    extra = set(e.node) - set(e.ids.values())
    problems += [
        f"record {i} (NIK {e.node[i]['nik']}) exists at the office but no 201 owns it: "
        "a re-post doubled it"
        for i in sorted(extra)
    ]
    submissions = Counter(r["submission_id"] for r in e.node.values())
    problems += [f"submission {s} used by {n} records" for s, n in submissions.items() if n > 1]
    decided = Counter(d["submission_id"] for d in e.feed if d["status"] != "review")
    reviewed = Counter(d["submission_id"] for d in e.feed if d["status"] == "review")
    problems += [
        f"submission {s} decided {n} times at the centre" for s, n in decided.items() if n > 1
    ]
    problems += [f"submission {s} sent to review {n} times" for s, n in reviewed.items() if n > 1]
    if e.stats.get("identities") != e.expected_identities:
        problems.append(
            f"centre holds {e.stats.get('identities')} identities, the truth has "
            f"{e.expected_identities}"
        )
    return problems


def decisions_match_truth(e: Evidence) -> list[str]:
    """3. Every record reached a final decision, the planted one, the same at both ends."""
    problems = []
    last_at_centre = {d["submission_id"]: (d["status"], d["reason"]) for d in e.feed}
    for r in e.residents:
        record = e.node.get(e.ids.get(r.index, ""))
        if record is None:
            continue  # reported as lost
        decision = record.get("decision") or {}
        got = (decision.get("status"), decision.get("reason"))
        where = f"resident {r.index} ({r.kind}) record {record['id']}"
        if record["state"] not in FINAL_STATES:
            problems.append(f"{where} ended {record['state']} ({record.get('last_error')})")
        elif got != e.expected[r.index]:
            problems.append(f"{where}: expected {e.expected[r.index]}, office shows {got}")
        centre = last_at_centre.get(record["submission_id"])
        if centre is not None and centre != got:
            problems.append(f"{where}: office shows {got}, centre decided {centre}")
    return problems


def one_new_identity_per_person(e: Evidence) -> list[str]:
    """4. No two submissions of one person both approved/new_identity (the centre's view)."""
    person_by_submission = {
        e.node[e.ids[r.index]]["submission_id"]: person_of(r)
        for r in e.residents
        if r.index in e.ids and e.ids[r.index] in e.node
    }
    new_identities: dict[str, list[str]] = defaultdict(list)
    for d in e.feed:
        if (d["status"], d["reason"]) == ("approved", "new_identity"):
            person = person_by_submission.get(d["submission_id"], f"unknown {d['submission_id']}")
            new_identities[person].append(d["submission_id"])
    return [
        f"{person} approved as a new identity {len(subs)} times: {subs}"
        for person, subs in new_identities.items()
        if len(subs) > 1
    ]


def nothing_failed(e: Evidence) -> list[str]:
    """5. No record was ever `failed`: every record is valid, so a cut, a fault or a crash is
    retried, never fatal (a record re-sent after failing keeps the old try in `history`)."""
    return [
        f"record {i} (submission {r['submission_id']}) is {r['state']} "
        f"({r.get('last_error')}), {len(r.get('history') or [])} earlier submissions failed"
        for i, r in sorted(e.node.items())
        if r["state"] == "failed" or r.get("history")
    ]


GUARANTEES = {
    "1 nothing lost": nothing_lost,
    "2 nothing doubled": nothing_doubled,
    "3 decisions match the truth": decisions_match_truth,
    "4 one new identity per person": one_new_identity_per_person,
    "5 no record failed": nothing_failed,
}


def check_all(e: Evidence) -> dict[str, list[str]]:
    """Guarantee name → violations (empty when it held)."""
    return {name: check(e) for name, check in GUARANTEES.items()}
