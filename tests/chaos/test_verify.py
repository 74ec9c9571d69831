"""The soak's checks catch what they are for: a lost, a doubled, a wrong, a twice-new record."""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

from ektp_sync.synth import generate

from .packets import Packet, plant_packets
from .verify import Evidence, check_all


def _clean_run() -> Evidence:
    """Evidence of a run where everything went right: 10 residents, each decided as planted."""
    residents = generate(10, seed=3)
    ids = {r.index: f"rec{r.index:03d}" for r in residents}
    expected = {r.index: (r.expected["status"], r.expected["reason"]) for r in residents}
    review = next(r.index for r in residents if r.kind == "possible_duplicate")
    expected[review] = ("approved", "adjudicated")
    node: dict[str, dict[str, Any]] = {}
    feed: list[dict[str, Any]] = []
    for r in residents:
        status, reason = expected[r.index]
        sub = f"6172-{r.index}"
        node[ids[r.index]] = {
            "id": ids[r.index],
            "nik": r.record["nik"],
            "submission_id": sub,
            "state": status,
            "attempts": 1,
            "decision": {"status": status, "reason": reason},
        }
        if r.index == review:
            feed.append({"submission_id": sub, "status": "review", "reason": "possible_duplicate"})
        feed.append({"submission_id": sub, "status": status, "reason": reason})
    identities = sum(s == "approved" and w != "reissue" for s, w in expected.values())
    stats = {"enrollments": len(residents), "identities": identities}
    return Evidence(residents, expected, ids, node, feed, stats, identities)


def _violated(e: Evidence) -> set[str]:
    return {name for name, problems in check_all(e).items() if problems}


def test_a_clean_run_violates_nothing() -> None:
    assert _violated(_clean_run()) == set()


def test_a_record_that_never_reached_the_centre_is_lost() -> None:
    e = _clean_run()
    e.feed = e.feed[1:]
    e.stats["enrollments"] -= 1
    assert "1 nothing lost" in _violated(e)


def test_a_record_missing_at_the_office_is_lost() -> None:
    e = _clean_run()
    del e.node["rec000"]
    assert "1 nothing lost" in _violated(e)


def test_a_re_post_that_made_a_second_record_is_a_double() -> None:
    e = _clean_run()
    e.node["extra"] = {**copy.deepcopy(e.node["rec000"]), "id": "extra", "submission_id": "x"}
    assert "2 nothing doubled" in _violated(e)


def test_a_submission_decided_twice_is_a_double() -> None:
    e = _clean_run()
    e.feed.append(dict(e.feed[0]))
    assert "2 nothing doubled" in _violated(e)


def test_a_decision_other_than_the_planted_one_is_caught() -> None:
    e = _clean_run()
    record = e.node["rec000"]
    record["decision"] = {"status": "rejected", "reason": "duplicate_identity"}
    record["state"] = "rejected"
    assert "3 decisions match the truth" in _violated(e)


def test_a_record_left_in_flight_is_caught() -> None:
    e = _clean_run()
    e.node["rec001"]["state"] = "awaiting_decision"
    assert "3 decisions match the truth" in _violated(e)


def test_one_person_approved_as_new_twice_is_caught() -> None:
    e = _clean_run()
    twin = next(r for r in e.residents if r.kind == "duplicate_identity")
    sub = e.node[e.ids[twin.index]]["submission_id"]
    e.feed = [
        {**d, "status": "approved", "reason": "new_identity"} if d["submission_id"] == sub else d
        for d in e.feed
    ]
    assert "4 one new identity per person" in _violated(e)


def test_a_failed_record_is_caught() -> None:
    e = _clean_run()
    e.node["rec002"]["state"] = "failed"
    assert "5 no record failed" in _violated(e)


def test_a_record_that_failed_and_was_re_sent_is_caught() -> None:
    e = _clean_run()
    e.node["rec002"]["history"] = [{"submission_id": "old", "outcome": "failed"}]
    assert _violated(e) == {"5 no record failed"}


def test_planted_packets_keep_every_other_photo_with_its_true_digest() -> None:
    residents = generate(6, seed=4, attachment_bytes=1000)
    packets = plant_packets(residents, heavy_every=2)
    assert sorted(packets) == [r.index for r in residents if r.index % 2 == 0]
    for r in residents:
        attachments = r.record["biometrics"].get("attachments")
        assert (attachments is not None) == (r.index in packets)
        if attachments is not None:
            photo = base64.b64decode(attachments["photo"])
            assert packets[r.index] == Packet(1000, hashlib.sha256(photo).hexdigest())
