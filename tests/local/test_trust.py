"""The node believes only the centre whose key it pinned: a fake centre (a key of its own)
cannot get a record approved, rejected or printed, and a forged or unsigned decision changes
nothing (record and queue entry stay as they were)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import select

from ektp_sync.config import LocalSettings
from ektp_sync.rotation import RotatingSigner
from ektp_sync.signing import Signer, fingerprint
from ektp_sync.storage import create_engine
from ektp_sync.testing import eventually
from ektp_sync.wire import Decision
from local_server.app import create_app
from local_server.store.decisions import Inbox
from local_server.store.tables import outbox
from local_server.sync.trust import CentreTrust, KeyRefused

from .conftest import record, running
from .fake_centre import CENTRE_KEY, FakeCentre, impostor, serve
from .residents import resident
from .test_sync import reaches, view_of

Settings = Callable[..., LocalSettings]
REAL_FINGERPRINT = fingerprint(Signer(CENTRE_KEY).public_key_b64)


async def status_of(node: httpx.AsyncClient) -> dict[str, Any]:
    status: dict[str, Any] = (await node.get("/status")).json()
    return status


async def refused_decisions(node: httpx.AsyncClient, at_least: int = 1) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status = await status_of(node)
        return status if status["centre_key"]["decisions_refused"] >= at_least else None

    found: dict[str, Any] = await eventually(probe, timeout=30, interval=0.05)
    return found


async def has_queue_entry(db_url: str, record_id: str) -> bool:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                select(outbox.c.record_id).where(outbox.c.record_id == record_id)
            )
    finally:
        await engine.dispose()
    return found is not None


async def test_a_centre_offering_another_key_is_refused(settings_for: Settings) -> None:
    """The pinned key is given; a centre with a key of its own gets no record applied,
    approved or printed, and /status says why."""
    fake = FakeCentre(signer=impostor())
    async with serve(fake.app()) as url, running(create_app(settings_for(url))) as node:
        record_id = await record(node, resident(300))

        async def refused() -> dict[str, Any] | None:
            status = await status_of(node)
            return status if status["centre_key"]["key_refused"] else None

        status = await eventually(refused, timeout=30, interval=0.05)
        assert "not the pinned" in status["centre_key"]["key_refused"]
        assert status["centre_key"]["pinned_key_fingerprint"] == REAL_FINGERPRINT
        view = await view_of(node, record_id)
        assert view["state"] in ("queued", "uploading", "awaiting_decision")
        printed = await node.post(f"/records/{record_id}/print")
        assert (printed.status_code, printed.json()["rule"]) == (409, "not_approved")


async def test_a_fake_centre_that_lies_about_its_key_gets_nothing_applied(
    settings_for: Settings,
) -> None:
    """Offering the real key at /keys is not enough: every decision must be signed with it."""
    fake = FakeCentre(signer=impostor(), offered_key=Signer(CENTRE_KEY).public_key_b64)
    async with serve(fake.app()) as url, running(create_app(settings_for(url))) as node:
        approved_id = await record(node, resident(301))
        await reaches(node, approved_id, "awaiting_decision")
        status = await refused_decisions(node)
        assert "signature does not verify" in status["centre_key"]["last_decision_refused"]
        view = await view_of(node, approved_id)
        assert view["state"] == "awaiting_decision" and view["decision"] is None
        assert "not applied" in view["last_error"]
        printed = await node.post(f"/records/{approved_id}/print")
        assert (printed.status_code, printed.json()["rule"]) == (409, "not_approved")
        # a rejection from it is not applied either
        fake.decide(view["submission_id"], view["nik"], "rejected", "nik_conflict")
        await refused_decisions(node, at_least=2)
        assert (await view_of(node, approved_id))["state"] == "awaiting_decision"


async def test_a_key_pinned_on_first_contact_stays_pinned(
    settings_for: Settings, db_url: str
) -> None:
    """--trust-first-key pins the first centre's key and keeps it: a fake centre met later
    (after a restart) is refused."""
    trusting = {"central_public_key": None, "trust_first_key": True}
    real = FakeCentre()
    async with serve(real.app()) as url, running(create_app(settings_for(url, **trusting))) as node:
        first = await record(node, resident(302))
        await reaches(node, first, "approved")
        status = await status_of(node)
        assert status["centre_key"]["pinned_key_fingerprint"] == REAL_FINGERPRINT
    fake = FakeCentre(signer=impostor())
    async with serve(fake.app()) as url, running(create_app(settings_for(url, **trusting))) as node:
        second = await record(node, resident(303))

        async def refused() -> bool:
            return bool((await status_of(node))["centre_key"]["key_refused"])

        await eventually(refused, timeout=30, interval=0.05)
        fake.decide("6172-forged", "6172010605900303", "approved", "new_identity")
        assert (await view_of(node, second))["state"] in (
            "queued",
            "uploading",
            "awaiting_decision",
        )
        assert (await status_of(node))["centre_key"]["pinned_key_fingerprint"] == REAL_FINGERPRINT


async def test_forged_and_unsigned_decisions_leave_record_and_queue_entry(
    settings_for: Settings, db_url: str
) -> None:
    """A forged rejection (another key) and an unsigned approval of a record still in its
    upload are not applied: the record stays, its queue entry too, the reason is shown; the
    real decision is applied when it comes."""
    real = FakeCentre()
    real.hold = asyncio.Event()  # intake holds the upload: the record's queue entry stays
    async with serve(real.app()) as url, running(create_app(settings_for(url))) as node:
        record_id = await record(node, resident(304))
        await reaches(node, record_id, "uploading")
        view = await view_of(node, record_id)
        sid, nik = view["submission_id"], view["nik"]
        real.decide(sid, nik, "rejected", "nik_conflict", signer=impostor())
        real.unsigned = True
        real.decide(sid, nik, "approved", "new_identity")
        real.unsigned = False
        status = await refused_decisions(node, at_least=2)
        assert status["centre_key"]["last_decision_refused"] is not None
        view = await view_of(node, record_id)
        assert view["state"] == "uploading" and view["decision"] is None
        assert "not applied" in view["last_error"]
        assert await has_queue_entry(db_url, record_id)
        real.hold.set()  # the real centre answers and decides, signed: applied
        await reaches(node, record_id, "approved")
        printed = await node.post(f"/records/{record_id}/print")
        assert printed.status_code == 200, printed.text


class _Pins:
    """The part of the inbox the trust uses, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.values[key] = value

    async def pin_public_key(self, key_b64: str) -> str:
        return self.values.setdefault("central_public_key", key_b64)


async def test_an_approval_needs_the_centres_authorisation_for_that_submission(
    settings_for: Settings,
) -> None:
    trust = CentreTrust(settings_for(), cast(Inbox, _Pins()))
    await trust.load()
    real, fake = Signer(CENTRE_KEY), impostor()

    def approval(
        signer: Signer, *, auth_for: str = "6172-a", nik: str = "6172010605900001"
    ) -> Decision:
        decision = Decision.model_validate(
            {
                "submission_id": "6172-a",
                "nik": "6172010605900001",
                "status": "approved",
                "reason": "new_identity",
                "authorisation": signer.authorise(auth_for, nik, "AP-1", "2026-12-02T00:00:00Z"),
            }
        )
        return real.sign_decision(decision)

    assert trust.refusal(approval(real)) is None
    # a forged authorisation in a signed approval: applied, but refused at print
    forged = approval(fake)
    assert forged.authorisation is not None
    assert trust.refusal(forged) is None and not trust.authorised(forged.authorisation)
    assert "another submission" in (trust.refusal(approval(real, auth_for="6172-b")) or "")
    assert "another submission" in (trust.refusal(approval(real, nik="6172010605900002")) or "")
    bare = approval(real).model_copy(update={"authorisation": None})
    assert "no print authorisation" in (trust.refusal(real.sign_decision(bare)) or "")
    assert "signature" in (trust.refusal(fake.sign_decision(bare)) or "")


async def test_trust_first_key_pins_once_and_refuses_another(settings_for: Settings) -> None:
    pins = _Pins()
    trust = CentreTrust(
        settings_for(central_public_key=None, trust_first_key=True), cast(Inbox, pins)
    )
    await trust.load()
    assert (
        trust.key is None and trust.refusal(Signer(CENTRE_KEY).sign_decision(_review())) is not None
    )
    await trust.check_offer(Signer(CENTRE_KEY).published())
    assert trust.status().pinned_key_fingerprint == REAL_FINGERPRINT
    with pytest.raises(KeyRefused):
        await trust.check_offer(impostor().published())
    assert trust.status().key_refused is not None
    again = CentreTrust(
        settings_for(central_public_key=None, trust_first_key=True), cast(Inbox, pins)
    )
    await again.load()  # a restart keeps the pin
    assert again.status().pinned_key_fingerprint == REAL_FINGERPRINT


def _review() -> Decision:
    return Decision.model_validate(
        {
            "submission_id": "6172-r",
            "nik": "6172010605900003",
            "status": "review",
            "reason": "possible_duplicate",
        }
    )


async def test_a_next_key_announced_under_the_pin_is_accepted_then_pinned(
    settings_for: Settings,
) -> None:
    """Rotation: the announcement must verify under the pin; the overlap accepts both keys;
    when the centre offers the announced key the pin moves and the old key stays accepted
    (authorisations signed before); a restart with the old key configured keeps the new pin."""
    pins = _Pins()
    trust = CentreTrust(settings_for(), cast(Inbox, pins))
    await trust.load()
    real, following = Signer(CENTRE_KEY), impostor()
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    forged = RotatingSigner(impostor(), following, soon).published()
    await trust.check_offer(forged.model_copy(update={"public_key": real.public_key_b64}))
    assert trust.status().accepted_key_fingerprints == []  # not signed by the pin: ignored
    with pytest.raises(KeyRefused):
        await trust.check_offer(following.published())  # not announced: refused

    await trust.check_offer(RotatingSigner(real, following, soon).published())
    assert trust.status().accepted_key_fingerprints == [fingerprint(following.public_key_b64)]
    old_approval = real.authorise("6172-a", "6172010605900001", "AP-1", "2026-12-02T00:00:00Z")
    assert trust.refusal(following.sign_decision(_review())) is None  # the overlap
    assert trust.refusal(real.sign_decision(_review())) is None

    await trust.check_offer(following.published())  # the centre switched
    status = trust.status()
    assert status.pinned_key_fingerprint == fingerprint(following.public_key_b64)
    assert status.accepted_key_fingerprints == [REAL_FINGERPRINT] and status.key_refused is None
    assert trust.authorised(old_approval)

    restarted = CentreTrust(settings_for(), cast(Inbox, pins))  # configured: the old key
    await restarted.load()
    assert restarted.status().pinned_key_fingerprint == fingerprint(following.public_key_b64)
    assert restarted.authorised(old_approval)


async def test_a_rotating_centre_keeps_the_node_working(settings_for: Settings) -> None:
    """End to end with the stand-in: announced, switched, every record approved and printed."""
    following = impostor()
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    fake = FakeCentre(signer=RotatingSigner(Signer(CENTRE_KEY), following, soon))
    async with serve(fake.app()) as url, running(create_app(settings_for(url))) as node:
        before = await record(node, resident(310))
        await reaches(node, before, "approved")

        async def accepted() -> bool:
            keys = (await status_of(node))["centre_key"]["accepted_key_fingerprints"]
            return fingerprint(following.public_key_b64) in keys

        await eventually(accepted, timeout=30, interval=0.05)
        fake.signer = following  # the switch: decisions and authorisations by the next key
        after = await record(node, resident(311))
        await reaches(node, after, "approved")
        for record_id in (before, after):
            printed = await node.post(f"/records/{record_id}/print")
            assert printed.status_code == 200, printed.text
