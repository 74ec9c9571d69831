"""Heavy records in the soak: who carries a photo, and the packet guarantee checked at the centre.

Some residents are recorded with a photo big enough to travel as a tus upload after the core
(over the node's `--packet-min-bytes`). The guarantee (issue 10): an approval, and so a print
authorisation, reaches the feed only for a complete packet whose SHA-256 matched. It is checked
twice, both times from outside through the centre's tus interface (a creation for the manifest
entry answers the upload's current state, then `HEAD` its offset; the creation carries the
planted photo's true size and SHA-256, so the centre confirms the manifest is the truth):

- live, by `PacketWatch`, which tails the office's decisions feed while the soak runs and
  looks at the packet of every approval the moment it appears: it must already be whole;
- at the end, by `check_packets`: every approved heavy record's packet is whole at the centre
  and acknowledged whole at the node, every rejected one's is `not_needed`, none is left held.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ektp_sync.synth import SyntheticResident

PHOTO = "photo"
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass(frozen=True)
class Packet:
    """A heavy resident's attachment as planted: what the centre must end up holding."""

    size: int
    sha256: str


def plant_packets(residents: list[SyntheticResident], heavy_every: int) -> dict[int, Packet]:
    """Keep the photo of every `heavy_every`-th resident (by index), drop the others'; the
    residents kept heavy → their packet. A mix: light records travel inline beside heavy ones."""
    packets: dict[int, Packet] = {}
    for r in residents:
        attachments = r.record["biometrics"].pop("attachments", None)
        if attachments is None or r.index % heavy_every:
            continue
        r.record["biometrics"]["attachments"] = attachments
        photo = base64.b64decode(attachments[PHOTO])
        packets[r.index] = Packet(len(photo), hashlib.sha256(photo).hexdigest())
    return packets


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


async def upload_at_centre(
    centre: httpx.AsyncClient, office_key: str, submission_id: str, packet: Packet
) -> tuple[int, int] | str:
    """(offset, length) of the photo's upload at the centre, or the rule of its refusal.

    A creation again is idempotent (the centre answers the entry's current upload) and is
    refused unless size and SHA-256 are the manifest's."""
    headers = {**TUS, "Authorization": f"Bearer {office_key}"}
    meta = f"submission_id {_b64(submission_id)},name {_b64(PHOTO)},sha256 {_b64(packet.sha256)}"
    created = await centre.post(
        "/uploads",
        headers={**headers, "Upload-Length": str(packet.size), "Upload-Metadata": meta},
    )
    if created.status_code != 201:
        json = created.headers.get("content-type", "").startswith("application/json")
        return str(created.json().get("rule") if json else created.status_code)
    head = await centre.head(created.headers["Location"], headers=headers)
    if head.status_code != 200:
        return str(head.headers.get("Ektp-Rule", head.status_code))
    return int(head.headers["Upload-Offset"]), int(head.headers["Upload-Length"])


@dataclass
class PacketWatch:
    """Tails the office's feed at the centre during the soak; every approval of a heavy record
    is checked against its upload as soon as it is seen."""

    centre: httpx.AsyncClient
    office_key: str
    node: httpx.AsyncClient
    ids: Mapping[int, str]  # resident index → record id, filled by the workload as it posts
    packets: Mapping[int, Packet]
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # heavy approvals whose packet was looked at
    _submissions: dict[str, int] = field(default_factory=dict)  # submission → resident index
    _waiting: list[dict[str, Any]] = field(default_factory=list)  # approvals not yet mapped
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        if not self.packets:
            return  # a light soak: nothing to watch
        cursor = ""
        while not self._stop.is_set():
            try:
                cursor = await self._next_page(cursor)
                await self._check_waiting()
            except httpx.HTTPError:
                # the centre or the node is restarting: the cursor keeps our place
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._stop.wait()
        with contextlib.suppress(httpx.HTTPError):
            await self._check_waiting()  # the soak is over: whatever is left, mapped now

    async def _next_page(self, cursor: str) -> str:
        headers = {"Authorization": f"Bearer {self.office_key}"}
        params: dict[str, str | int] = {"after": cursor, "limit": 1000, "wait": 1}
        response = await self.centre.get("/decisions", params=params, headers=headers)
        page = response.raise_for_status().json()
        self._waiting += [d for d in page["decisions"] if d["status"] == "approved"]
        return str(page["next"]) if page["decisions"] else cursor

    async def _check_waiting(self) -> None:
        if any(d["submission_id"] not in self._submissions for d in self._waiting):
            await self._map_submissions()
        left = []
        for decision in self._waiting:
            index = self._submissions.get(decision["submission_id"])
            if index is None:
                left.append(decision)  # posted, but its 201 not seen yet: look again later
            elif index in self.packets:
                await self._check(decision, index)
        self._waiting = left

    async def _map_submissions(self) -> None:
        resident_of = {record_id: index for index, record_id in self.ids.items()}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = (await self.node.get("/records", params=params)).raise_for_status().json()
            for record in page["records"]:
                if record["id"] in resident_of:
                    self._submissions[record["submission_id"]] = resident_of[record["id"]]
            cursor = page.get("next_cursor")
            if not cursor or not page["records"]:
                return

    async def _check(self, decision: dict[str, Any], index: int) -> None:
        submission, packet = decision["submission_id"], self.packets[index]
        state = await upload_at_centre(self.centre, self.office_key, submission, packet)
        self.checked += 1
        if state != (packet.size, packet.size):
            self.problems.append(
                f"resident {index}: submission {submission} approved ({decision['reason']}) in "
                f"the feed while its photo upload at the centre stood at {state} "
                f"(of {packet.size} bytes)"
            )
        if not decision.get("authorisation"):
            self.problems.append(f"resident {index}: approval of {submission} has no authorisation")


async def check_packets(
    centre: httpx.AsyncClient,
    office_key: str,
    node: httpx.AsyncClient,
    records: Mapping[int, dict[str, Any]],
    packets: Mapping[int, Packet],
    stats: dict[str, Any],
) -> list[str]:
    """After the soak: each heavy record's packet as its decision wants it, at both ends.

    `records`: resident index → the node's record (list view). The node shows an approved
    record's files as done (it closes them on the approval), so the centre's upload state is the
    evidence; the node's `transfer` is checked for consistency."""
    problems = [
        f"{n} approvals still held at the centre (shown as {status}) at the end"
        for status, n in stats.get("by_status", {}).items()
        if status in ("held", "pending") and n
    ]
    for index, record in records.items():
        detail = (await node.get(f"/records/{record['id']}")).raise_for_status().json()
        transfer = detail.get("transfer") or {"bytes_total": 0, "bytes_acked": 0}
        where = f"resident {index} record {record['id']} ({record['state']})"
        packet = packets.get(index)
        if packet is None:
            if transfer["bytes_total"]:
                problems.append(f"{where} has no photo but a transfer of {transfer}")
            continue
        if transfer["bytes_total"] != packet.size:
            problems.append(f"{where}: transfer {transfer}, the photo has {packet.size} bytes")
        state = await upload_at_centre(centre, office_key, record["submission_id"], packet)
        if record["state"] in ("approved", "printed"):
            if transfer["bytes_acked"] != packet.size:
                problems.append(f"{where}: approved with {transfer['bytes_acked']} bytes acked")
            if state != (packet.size, packet.size):
                problems.append(f"{where}: approved, its photo at the centre stands at {state}")
        elif record["state"] == "rejected" and state != "not_needed":
            problems.append(f"{where}: rejected, yet its upload at the centre answers {state}")
    return problems
