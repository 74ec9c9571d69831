"""Every row of the decision table, and adjudication, through the real dedup engine."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from central_server.dedup import engine
from central_server.dedup.rows import SHARED_ENV, remove_shared
from central_server.errors import NotInReview, SubmissionNotFound
from central_server.parts import CentreParts
from central_server.store.tables import decision_log, identities
from ektp_sync.config import CentralSettings
from ektp_sync.signing import load_public_key, verify
from ektp_sync.wire import EnrollmentView

from . import factories as f

OFFICE = "6172"


class Desk:
    """One decider over one database, driven step by step (no background worker)."""

    def __init__(self, settings: CentralSettings) -> None:
        self.parts = CentreParts.build(settings)
        self.dedup = self.parts.dedup

    async def submit(self, *records: dict[str, Any], office: str = OFFICE) -> list[str]:
        items = [f.item(rec, office) for rec in records]
        answer = await self.parts.intake.take(office, items)
        assert [r.status for r in answer.results] == ["accepted"] * len(items), answer
        return [item["submission_id"] for item in items]

    async def decide(self, *records: dict[str, Any]) -> list[EnrollmentView]:
        ids = await self.submit(*records)
        await self.dedup.decide_pending(100)
        return [await self.parts.views.enrollment(sid) for sid in ids]

    async def count(self, table: Any) -> int:
        async with self.parts.store.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture
async def desk(settings: CentralSettings) -> AsyncIterator[Desk]:
    d = Desk(settings)
    await d.parts.store.migrate()
    await d.dedup.load_gallery()
    yield d
    await d.parts.store.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


def verified(view: EnrollmentView, desk: Desk) -> bool:
    assert view.authorisation is not None
    key = load_public_key(desk.parts.signer.public_key_b64)
    return bool(verify(view.authorisation, key))


async def test_new_identity(desk: Desk, rng: np.random.Generator) -> None:
    (view,) = await desk.decide(f.record(f.unit(rng)))
    assert (view.status, view.reason) == ("approved", "new_identity")
    assert verified(view, desk)
    assert await desk.count(identities) == 1


async def test_reissue_same_nik_same_person(desk: Desk, rng: np.random.Generator) -> None:
    t, nik = f.unit(rng), f.nik()
    await desk.decide(f.record(t, nik))
    (view,) = await desk.decide(f.record(f.near(t, 0.95, rng), nik))
    assert (view.status, view.reason) == ("approved", "reissue")
    assert verified(view, desk)
    assert await desk.count(identities) == 1


async def test_nik_conflict_same_nik_other_person(desk: Desk, rng: np.random.Generator) -> None:
    nik = f.nik()
    await desk.decide(f.record(f.unit(rng), nik))
    (view,) = await desk.decide(f.record(f.unit(rng), nik))
    assert (view.status, view.reason) == ("rejected", "nik_conflict")
    assert view.authorisation is None


async def test_duplicate_identity_other_nik_same_person(
    desk: Desk, rng: np.random.Generator
) -> None:
    t = f.unit(rng)
    await desk.decide(f.record(t))
    (view,) = await desk.decide(f.record(f.near(t, 0.93, rng)))
    assert (view.status, view.reason) == ("rejected", "duplicate_identity")
    assert await desk.count(identities) == 1


@pytest.mark.parametrize("same_nik", [False, True])
async def test_possible_duplicate_goes_to_review(
    desk: Desk, rng: np.random.Generator, same_nik: bool
) -> None:
    t, nik = f.unit(rng), f.nik()
    await desk.decide(f.record(t, nik))
    (view,) = await desk.decide(f.record(f.near(t, 0.78, rng), nik if same_nik else None))
    assert (view.status, view.reason) == ("review", "possible_duplicate")
    assert view.authorisation is None


async def test_same_person_twice_in_one_batch(desk: Desk, rng: np.random.Generator) -> None:
    t = f.unit(rng)
    first, second = await desk.decide(f.record(t), f.record(f.near(t, 0.99, rng)))
    assert first.reason == "new_identity"
    assert (second.status, second.reason) == ("rejected", "duplicate_identity")


async def test_adjudication_approve_enrols_and_authorises(
    desk: Desk, rng: np.random.Generator
) -> None:
    t = f.unit(rng)
    await desk.decide(f.record(t))
    (review,) = await desk.decide(f.record(f.near(t, 0.75, rng)))
    await desk.dedup.adjudicate(review.submission_id, approve=True)
    view = await desk.parts.views.enrollment(review.submission_id)
    assert (view.status, view.reason) == ("approved", "adjudicated")
    assert verified(view, desk)
    assert await desk.count(identities) == 2
    async with desk.parts.store.engine.connect() as conn:
        entries = (
            await conn.execute(
                select(decision_log.c.status, decision_log.c.reason)
                .where(decision_log.c.submission_id == review.submission_id)
                .order_by(decision_log.c.seq)
            )
        ).all()
    assert [tuple(e) for e in entries] == [
        ("review", "possible_duplicate"),
        ("approved", "adjudicated"),
    ]


async def test_adjudication_of_enrolled_nik_adds_no_identity(
    desk: Desk, rng: np.random.Generator
) -> None:
    t, nik = f.unit(rng), f.nik()
    await desk.decide(f.record(t, nik))
    (review,) = await desk.decide(f.record(f.near(t, 0.8, rng), nik))
    await desk.dedup.adjudicate(review.submission_id, approve=True)
    view = await desk.parts.views.enrollment(review.submission_id)
    assert (view.status, view.reason) == ("approved", "adjudicated")
    assert await desk.count(identities) == 1


async def test_adjudication_reject(desk: Desk, rng: np.random.Generator) -> None:
    t = f.unit(rng)
    await desk.decide(f.record(t))
    (review,) = await desk.decide(f.record(f.near(t, 0.72, rng)))
    await desk.dedup.adjudicate(review.submission_id, approve=False)
    view = await desk.parts.views.enrollment(review.submission_id)
    assert (view.status, view.reason) == ("rejected", "duplicate_identity")
    assert view.authorisation is None
    with pytest.raises(NotInReview):
        await desk.dedup.adjudicate(review.submission_id, approve=True)
    with pytest.raises(SubmissionNotFound):
        await desk.dedup.adjudicate("no-such-submission", approve=True)


async def test_gallery_is_rebuilt_at_start(
    desk: Desk, settings: CentralSettings, rng: np.random.Generator
) -> None:
    t = f.unit(rng)
    await desk.decide(f.record(t))
    restarted = Desk(settings)
    try:
        assert await restarted.dedup.load_gallery() == 1
        (view,) = await restarted.decide(f.record(f.near(t, 0.95, rng)))
        assert view.reason == "duplicate_identity"
    finally:
        await restarted.parts.store.close()


async def test_second_decider_catches_up_before_deciding(
    desk: Desk, settings: CentralSettings, rng: np.random.Generator
) -> None:
    """Two processes on one database: the other's enrolments are seen inside the lock."""
    other = Desk(settings)
    try:
        await other.dedup.load_gallery()  # empty: loaded before anything was enrolled
        t = f.unit(rng)
        await desk.decide(f.record(t))
        (view,) = await other.decide(f.record(f.near(t, 0.95, rng)))
        assert view.reason == "duplicate_identity"
        assert len(other.dedup.gallery) == 1
    finally:
        await other.parts.store.close()


async def test_gallery_loads_a_bulk_register_in_chunks(
    desk: Desk, settings: CentralSettings, rng: np.random.Generator, monkeypatch: Any
) -> None:
    """A register loaded in bulk is read a chunk at a time at start, every identity matched:
    the first, one at a chunk's edge and the last."""
    monkeypatch.setattr(engine, "LOAD_CHUNK", 3)
    people = [f.unit(rng) for _ in range(7)]
    register = [(f.nik(), t.astype(np.float32).tobytes()) for t in people]
    now = dt.datetime.now(dt.UTC)
    await desk.parts.store.decisions.enrol_in_bulk(register, OFFICE, now)
    restarted = Desk(settings)
    try:
        assert await restarted.dedup.load_gallery() == 7
        assert restarted.dedup.gallery.max_identity_id == await desk.count(identities)
        for t in (people[0], people[2], people[3], people[6]):
            (view,) = await restarted.decide(f.record(f.near(t, 0.95, rng)))
            assert view.reason == "duplicate_identity"
    finally:
        await restarted.parts.store.close()


async def test_deciders_sharing_rows_match_what_the_other_enrolled_without_reading_it(
    settings: CentralSettings, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deciders built as `serve --workers 2` builds them (the shared rows' name in the
    environment): the second matches the first's new identity from the shared rows, its
    catch-up from the database finds nothing left to read."""
    name = f"ektp-gallery-{os.getpid()}-engine{rng.integers(1 << 30)}"
    monkeypatch.setenv(SHARED_ENV, name)
    first, second = Desk(settings), Desk(settings)
    try:
        await first.parts.store.migrate()
        for desk in (first, second):
            await desk.dedup.load_gallery()
        t = f.unit(rng)
        (enrolled,) = await first.decide(f.record(t))
        assert enrolled.reason == "new_identity"
        read: list[int] = []
        catch_up = second.dedup._catch_up
        monkeypatch.setattr(second.dedup, "_catch_up", lambda e: read.append(len(e)) or catch_up(e))
        (twin,) = await second.decide(f.record(f.near(t, 0.95, rng)))
        assert twin.reason == "duplicate_identity"
        assert read == [0] and len(second.dedup.gallery) == 1
    finally:
        for desk in (first, second):
            await desk.parts.store.close()
        remove_shared(name)
