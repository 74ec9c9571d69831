"""Single faults of the link during a sync, with Toxiproxy's toxics through the netsim API.

Lost answers after the centre committed (reset_peer, limit_data downstream), black holes
(timeout), requests cut mid-batch (limit_data upstream), sliced streams and slow closes.
"""

from __future__ import annotations

from typing import Any

import pytest

from ektp_sync.testing import FAST_RETRY, WanLink, assert_delivered_once, eventually

from .link_support import (
    SMALL_BATCHES,
    SQLITE_ONLY,
    Started,
    each_enrolled_once,
    new_people,
    queued_and_retried,
    record_all,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("toxic", "attributes"),
    [
        pytest.param("reset_peer", {"timeout": 0}, id="reset_peer"),
        pytest.param("limit_data", {"bytes": 40}, id="limit_data"),
    ],
)
async def test_answer_lost_after_the_centre_committed_is_resent_and_enrolled_once(
    started: Started, toxic: str, attributes: dict[str, Any]
) -> None:
    # plain HTTP: on TLS these toxics would cut the handshake's answer, so the request would
    # never be sent; here they must cut the answer to a request the centre has committed
    d, offices, admin = await started(profile="fiber", local_extra=SMALL_BATCHES, tls=False)
    office = offices["6172"]
    async with WanLink.of(d) as link:
        # downstream = the centre's answer: it is cut before the office has read it
        name = await link.add_toxic(toxic, "downstream", **attributes)
        ids = await record_all(office, new_people(10, seed=31))

        async def committed_but_unanswered() -> bool:
            if not await queued_and_retried(office, ids):
                return False
            tried = [r for r in await office.records(ids) if r["attempts"]]
            stored: int = (await admin.stats())["enrollments"]
            return stored == len(tried)

        # the centre stored every record the office sent, yet the office, never having heard
        # so, keeps them queued and sends again
        await eventually(committed_but_unanswered, timeout=60, message="re-sent after commit")
        before = {r["id"]: r["submission_id"] for r in await office.records(ids)}
        await link.remove_toxic(name)
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=60)
    after = {r["id"]: r["submission_id"] for r in await office.records(ids)}
    assert after == before  # the re-sends carried the same submission_id
    await each_enrolled_once(d, office, admin, ids)


@SQLITE_ONLY
@pytest.mark.parametrize("stream", ["upstream", "downstream"])
async def test_black_hole_request_timeouts_fire_and_the_worker_recovers(
    started: Started, stream: str
) -> None:
    # a short request timeout, so it fires soon; plain HTTP, so that a black hole swallows a
    # request or its answer (the case under test), not the TLS handshake before it (on TLS
    # that is a connect timeout, retried alike)
    env = {**FAST_RETRY, "EKTP_REQUEST_TIMEOUT": "1.5", "EKTP_CONNECT_TIMEOUT": "1.5"}
    d, offices, admin = await started(
        profile="fiber", local_extra=SMALL_BATCHES, local_env=env, tls=False
    )
    office = offices["6172"]
    async with WanLink.of(d) as link:
        # swallows the data and never closes, until the block ends and removes it
        async with link.toxic("timeout", stream, timeout=0):
            ids = await record_all(office, new_people(8, seed=33))

            async def timed_out_and_retried() -> bool:
                if not await queued_and_retried(office, ids):
                    return False
                tried = [r for r in await office.records(ids) if r["attempts"]]
                stored = (await admin.stats())["enrollments"]
                # a black hole upstream lets nothing arrive; downstream, each request arrived
                return all(
                    "did not answer in time" in r["last_error"] for r in tried
                ) and stored == (len(tried) if stream == "downstream" else 0)

            # a second attempt means the worker came back from a timed-out request and tried again
            await eventually(timed_out_and_retried, timeout=60, message="timeouts fired, retried")
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=60)
    await assert_delivered_once(d, office, ids)
    assert (await office.status())["central"]["in_flight_batches"] == 0


@SQLITE_ONLY
async def test_limit_data_cutting_requests_mid_batch_commits_nothing_half_done(
    started: Started,
) -> None:
    d, offices, admin = await started(profile="fiber", local_extra=SMALL_BATCHES)
    office = offices["6172"]
    async with WanLink.of(d) as link:
        # every connection carries 600 bytes up, then closes: any batch (one record is about
        # 1.2 KB of JSON) is cut in the middle of its body
        name = await link.add_toxic("limit_data", "upstream", bytes=600)
        ids = await record_all(office, new_people(12, seed=35))
        await eventually(lambda: queued_and_retried(office, ids), timeout=60)
        assert (await admin.stats())["enrollments"] == 0
        # now 12 KB per connection: batches get through, but a keep-alive connection is
        # still cut in the middle of a later batch
        await link.update_toxic(name, bytes=12_000)
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=90)
    await assert_delivered_once(d, office, ids)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("toxic", "attributes"),
    [
        pytest.param(
            "slicer", {"average_size": 64, "size_variation": 48, "delay": 200}, id="slicer"
        ),
        pytest.param("slow_close", {"delay": 1500}, id="slow_close"),
    ],
)
async def test_sliced_streams_and_slow_closes_still_deliver_everything_once(
    started: Started, toxic: str, attributes: dict[str, Any]
) -> None:
    d, offices, admin = await started(profile="4g", local_extra=SMALL_BATCHES)
    office = offices["6172"]
    async with WanLink.of(d) as link:
        for stream in ("upstream", "downstream"):
            await link.add_toxic(toxic, stream, **attributes)
        ids = await record_all(office, new_people(12, seed=37))
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=90)
        assert len(await link.toxics()) >= 2  # still in place: the sync ran through them
    await assert_delivered_once(d, office, ids)
    assert (await admin.stats())["by_reason"] == {"new_identity": len(ids)}
