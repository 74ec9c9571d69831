"""The sync over simulated WAN links (netsim between real office and centre processes).

Every profile drains the queue; rain loses and doubles nothing; a whole recording period
offline drains once the link is back; toxics changed through the API during a sync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from ektp_sync.testing import WanLink, assert_delivered_once, eventually

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


@SQLITE_ONLY
async def test_the_queue_drains_over_every_profile(started: Started) -> None:
    # one deployment, its link switched from profile to profile through the API (fewer starts);
    # vsat-rain has a test of its own below, `down` is the link-down test's
    d, offices, admin = await started(profile="fiber", seed=3, local_extra=SMALL_BATCHES)
    office = offices["6172"]
    people = iter(new_people(32, seed=21))
    ids: list[str] = []
    async with WanLink.of(d) as link:
        for profile in ("fiber", "4g", "3g-rural", "vsat-clear"):
            await link.set_profile(profile)
            batch = await record_all(office, [next(people) for _ in range(8)])
            ids += batch
            await eventually(
                lambda b=batch: office.all_in(b, {"approved"}), timeout=120, message=profile
            )
    await assert_delivered_once(d, office, ids)
    stats = await admin.stats()
    assert stats["identities"] == len(ids)
    assert stats["by_reason"] == {"new_identity": len(ids)}


async def test_nothing_is_lost_or_doubled_through_rain_fade(started: Started) -> None:
    d, offices, admin = await started(profile="vsat-rain", seed=5, local_extra=SMALL_BATCHES)
    office = offices["6172"]
    people = new_people(40, seed=23)
    ids = await record_all(office, people[:20])

    async def link_faded() -> bool:
        # the puller polls every 0.2 s and the breaker probes every second: four failures in a
        # row take a link down for a second or more (the fade), not a lone reset by loss
        failures: int = (await office.status())["central"]["consecutive_failures"]
        return failures >= 4

    # the profile's first fade starts 10–12 s after the simulator started
    await eventually(link_faded, timeout=60, message="the office saw the rain fade")
    ids += await record_all(office, people[20:])  # taken during the fade
    await eventually(lambda: office.all_in(ids, {"approved"}), timeout=150, message="drained")
    await each_enrolled_once(d, office, admin, ids)


@SQLITE_ONLY
@pytest.mark.parametrize("how", ["enabled-false", "profile-down"])
async def test_link_down_for_the_whole_recording_period_then_up_the_backlog_drains(
    started: Started, how: str
) -> None:
    d, offices, admin = await started(profile="vsat-clear", local_extra=SMALL_BATCHES)
    office = offices["6172"]
    async with WanLink.of(d) as link:
        if how == "enabled-false":
            await link.down()
        else:
            await link.set_profile("down")
        ids = await record_all(office, new_people(12, seed=25))
        await eventually(lambda: queued_and_retried(office, ids), timeout=60)
        assert (await admin.stats())["enrollments"] == 0
        status = await office.status()
        assert status["pending"] == len(ids)
        assert status["central"]["reachable"] is False
        if how == "enabled-false":
            await link.up()
        else:
            await link.set_profile("vsat-clear")
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=120)
    await assert_delivered_once(d, office, ids)


@SQLITE_ONLY
async def test_toxics_added_changed_and_removed_through_the_api_during_a_sync(
    started: Started,
) -> None:
    d, offices, _admin = await started(
        profile="vsat-clear", local_extra=["--batch-size", "2", "--max-in-flight", "1"]
    )
    office = offices["6172"]
    async with WanLink.of(d) as link:
        # 2 KB/s per connection: a batch of two records takes about a second to go up
        crawl = await link.add_toxic("bandwidth", "upstream", rate=2)
        ids = await record_all(office, new_people(14, seed=27))

        async def approved_count() -> int:
            approved: int = (await office.states(ids))["approved"]  # a Counter: 0 if none
            return approved

        done = await eventually(lambda: _at_least(approved_count, 2), timeout=60)
        assert done < len(ids), "the sync must still be running for this test to mean anything"

        await link.set_profile("3g-rural")
        lag = await link.add_toxic("latency", "downstream", latency=300, jitter=50)
        flaky = await link.add_toxic("reset_peer", "upstream", toxicity=0.3, timeout=100)
        await link.update_toxic(crawl, rate=4)
        names = {t["name"] for t in await link.toxics()}
        assert {crawl, lag, flaky} <= names
        assert any(n.startswith("3g-rural.") for n in names)
        assert not any(n.startswith("vsat-clear.") for n in names)
        rate = next(t for t in await link.toxics() if t["name"] == crawl)["attributes"]["rate"]
        assert rate == 4

        # the sync goes on under the new toxics …
        await eventually(lambda: _at_least(approved_count, done + 2), timeout=90)
        for name in (flaky, lag, crawl):
            await link.remove_toxic(name)
        await link.set_profile(None)
        assert await link.toxics() == []
        # … and finishes once they are gone
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=120)
    await assert_delivered_once(d, office, ids)


async def _at_least(count: Callable[[], Awaitable[int]], least: int) -> int:
    n: int = await count()
    return n if n >= least else 0
