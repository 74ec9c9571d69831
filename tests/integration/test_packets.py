"""Heavy packets end to end over the network simulator: the node sends each record's core,
then its attachments as resumable tus uploads to the real centre; connections are cut in the
middle of chunks, the node is SIGKILLed during a packet, and still every attachment arrives
whole, once, and the centre approves only then."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from ektp_sync.testing import WanLink, eventually

from .link_support import SQLITE_ONLY, Started, each_enrolled_once, new_people, record_all

pytestmark = pytest.mark.integration

#: small chunks, so that a connection cut after some KB falls in the middle of one
SMALL_CHUNKS = ["--chunk-bytes", "32768"]


def heavy(people: list[dict[str, Any]], files: int, size: int) -> list[dict[str, Any]]:
    out = []
    for body in people:
        attachments = {
            f"finger_{i}": base64.b64encode(os.urandom(size)).decode("ascii") for i in range(files)
        }
        out.append({**body, "biometrics": {**body["biometrics"], "attachments": attachments}})
    return out


def transferred(record: dict[str, Any]) -> bool:
    transfer = record["transfer"]
    return bool(transfer["bytes_total"]) and transfer["bytes_acked"] == transfer["bytes_total"]


async def test_cuts_in_the_middle_of_chunks_cost_a_chunk_and_double_nothing(
    started: Started,
) -> None:
    # plain HTTP: limit_data counts the bytes of the requests themselves
    d, offices, admin = await started(profile="fiber", local_extra=SMALL_CHUNKS, tls=False)
    office = offices["6172"]
    async with WanLink.of(d) as link:
        # every connection to the centre is cut after 100 KB sent: in the 4th chunk of 32 KB
        await link.add_toxic("limit_data", "upstream", bytes=100_000)
        ids = await record_all(office, heavy(new_people(3, seed=41), files=4, size=60_000))
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=180, message="approved")
    records = [await office.get(i) for i in ids]
    # approved only over a whole, verified packet: and the node saw every byte acknowledged
    assert all(transferred(r) for r in records), [r["transfer"] for r in records]
    assert {r["transfer"]["bytes_total"] for r in records} == {240_000}
    await each_enrolled_once(d, office, admin, ids)


@SQLITE_ONLY
async def test_sigkill_of_the_node_during_a_packet_resumes_from_the_acknowledged_offset(
    started: Started,
) -> None:
    d, offices, admin = await started(profile="fiber", local_extra=SMALL_CHUNKS)
    office = offices["6172"]
    async with WanLink.of(d) as link:
        # 200 KB/s: a 1.2 MB packet takes seconds, so the kill lands in the middle of it
        await link.add_toxic("bandwidth", "upstream", rate=200)
        [record_id] = await record_all(office, heavy(new_people(1, seed=43), files=6, size=200_000))

        async def half_way() -> dict[str, Any] | None:
            record = await office.get(record_id)
            acked = record["transfer"]["bytes_acked"]
            return record if 100_000 < acked < 1_000_000 else None

        before = (await eventually(half_way, timeout=60, message="packet half way"))["transfer"]
        local = d.locals["6172"]
        local.kill()
        local.start()
        await local.wait_ready()
        after = (await office.get(record_id))["transfer"]
        # what the centre acknowledged before the kill is still known as acknowledged
        assert after["bytes_acked"] >= before["bytes_acked"]
        for name, part in before["attachments"].items():
            assert after["attachments"][name]["acked"] >= part["acked"]
        await link.reset()
        await eventually(lambda: office.all_in([record_id], {"approved"}), timeout=120)
    assert transferred(await office.get(record_id))
    await each_enrolled_once(d, office, admin, [record_id])


@SQLITE_ONLY
async def test_a_rejected_record_sends_no_more_of_its_packet(started: Started) -> None:
    d, offices, admin = await started(profile="fiber", local_extra=SMALL_CHUNKS)
    office = offices["6172"]
    [person] = new_people(1, seed=47)
    first = await office.record(person)
    await eventually(lambda: office.all_in([first], {"approved"}), timeout=60)
    # the same person under another NIK, with a heavy packet: a duplicate identity
    serial = int(person["nik"][-4:]) % 9000 + 1
    twin = {**person, "nik": person["nik"][:-4] + f"{serial:04d}"}
    async with WanLink.of(d) as link:
        # 100 KB/s: the packet (1.2 MB) cannot be through before the decision is back
        await link.add_toxic("bandwidth", "upstream", rate=100)
        [second] = await record_all(office, heavy([twin], files=6, size=200_000))
        await eventually(lambda: office.all_in([second], {"rejected"}), timeout=60)

        async def cancelled() -> dict[str, Any] | None:
            transfer: dict[str, Any] = (await office.get(second))["transfer"]
            states = {part["state"] for part in transfer["attachments"].values()}
            return transfer if states == {"cancelled"} else None

        transfer = await eventually(cancelled, timeout=60, message="uploads cancelled")
    assert transfer["bytes_acked"] < transfer["bytes_total"] == 1_200_000
    record = await office.get(second)
    assert record["decision"]["reason"] == "duplicate_identity"
    assert (await admin.stats())["by_reason"] == {"new_identity": 1, "duplicate_identity": 1}


@SQLITE_ONLY
async def test_a_small_record_is_decided_while_packets_are_still_travelling(
    started: Started,
) -> None:
    d, offices, _admin = await started(profile="fiber", local_extra=SMALL_CHUNKS)
    office = offices["6172"]
    heavy_people_, [small] = new_people(3, seed=53), new_people(1, seed=59)
    async with WanLink.of(d) as link:
        # 200 KB/s: 3 × 1.2 MB of packets take about 18 s of the link
        await link.add_toxic("bandwidth", "upstream", rate=200)
        heavy_ids = await record_all(office, heavy(heavy_people_, files=6, size=200_000))

        async def travelling() -> bool:
            return bool((await office.status())["packets"]["in_flight"])

        await eventually(travelling, timeout=60, message="packets in flight")
        small_id = await office.record(small)
        await eventually(lambda: office.all_in([small_id], {"approved"}), timeout=60)
        # decided behind the packets, not after them: they are still on their way
        pending = [r for r in await office.records(heavy_ids) if r["state"] != "approved"]
        assert pending, "the packets were through before the small record was decided"
        status = await office.status()
        assert status["packets"]["bytes_waiting"] > 0
        await link.reset()
        await eventually(lambda: office.all_in(heavy_ids, {"approved"}), timeout=120)
