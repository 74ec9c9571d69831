"""The decisions feed's long poll (`wait`): held while empty, answered when a decision commits."""

from __future__ import annotations

import asyncio

import numpy as np

from ektp_sync.testing import eventually

from . import factories as f
from .conftest import Centre


def held(centre: Centre) -> bool:
    return centre.parts.feed.decided.waiting >= 1


async def test_a_held_poll_is_answered_by_the_decision_that_commits(centre: Centre) -> None:
    rng = np.random.default_rng(5)
    item = f.item(f.record(f.unit(rng)))
    async with centre.office() as office, centre.office("6101") as other:
        mine = asyncio.create_task(office.get("/decisions", params={"wait": 30}))
        await eventually(lambda: held(centre), timeout=10)
        assert (await office.post("/enrollments", json=f.batch(item))).status_code == 200
        page = (await mine).json()
        assert [d["submission_id"] for d in page["decisions"]] == [item["submission_id"]]
        assert page["decisions"][0]["status"] == "approved"
        # another office's poll is not answered with this office's decision: it runs out
        theirs = await other.get("/decisions", params={"wait": 0.2})
        assert theirs.json() == {"decisions": [], "next": ""}


async def test_a_held_poll_ends_when_the_centre_is_closing(centre: Centre) -> None:
    async with centre.office() as office:
        poll = asyncio.create_task(office.get("/decisions", params={"wait": 30, "after": ""}))
        await eventually(lambda: held(centre), timeout=10)
        centre.parts.feed.closing.set()  # what SIGTERM/SIGINT does under uvicorn
        answer = await poll
        assert answer.status_code == 200 and answer.json()["decisions"] == []
        assert centre.parts.feed.decided.waiting == 0


async def test_wait_is_bounded(centre: Centre) -> None:
    async with centre.office() as office:
        for bad in (-1, 31, "soon"):
            answer = await office.get("/decisions", params={"wait": bad})
            assert answer.status_code == 422, bad
