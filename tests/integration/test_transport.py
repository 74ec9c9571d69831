"""Encrypted in transit, no personal data in logs, private files: with the real servers.

The office verifies the centre's certificate (a centre proving itself with another CA gets
nothing, and loses nothing); a tap on the link sees no key, NIK or name when TLS is on (and
sees them all when it is off, which shows the tap works); after a run with NIK lookups and
refusals no log holds a planted NIK, name or address, and every file the servers made is
their owner's only.
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
from pathlib import Path
from typing import Any

import pytest

from ektp_sync.certs import make_certificates
from ektp_sync.domain.nik import mask_nik
from ektp_sync.launch import LOOPBACK
from ektp_sync.testing import (
    FAST_RETRY,
    CentreAdmin,
    DeploymentFactory,
    OfficeClient,
    WanLink,
    assert_delivered_once,
    eventually,
)

from .link_support import new_people, record_all

pytestmark = pytest.mark.integration


async def test_a_centre_proving_itself_with_another_ca_gets_nothing_and_nothing_is_lost(
    ektp_deployment: DeploymentFactory, tmp_path: Path
) -> None:
    d = await ektp_deployment(start=False, local_env=FAST_RETRY)
    node = d.locals["6172"]
    right = list(node.args)
    impostor_ca = make_certificates(tmp_path / "other").ca
    node.args = [*right, "--central-ca", str(impostor_ca)]  # the last --central-ca counts
    await d.start()
    people = new_people(4, seed=31)
    async with OfficeClient.of(d) as office, CentreAdmin.of(d) as admin:
        ids = await record_all(office, people)

        async def refused_for_its_certificate() -> bool:
            link = (await office.status())["central"]
            records = await office.records(ids)
            return (
                "TLS certificate not trusted" in (link["last_error"] or "")
                and "--central-ca" in link["last_error"]
                and all(r["state"] == "queued" for r in records)
                and any(r["attempts"] > 0 for r in records)
            )

        await eventually(refused_for_its_certificate, timeout=60, message="certificate refused")
        assert (await admin.stats())["enrollments"] == 0

        node.stop()
        node.args = right  # the deployment's own CA
        node.start()
        await node.wait_ready()
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=90)
        await assert_delivered_once(d, office, ids)


class Tap:
    """A TCP relay in front of the centre that keeps a copy of every byte it passes."""

    def __init__(self) -> None:
        self.upstream_port = 0  # known once the deployment is made
        self.sent = bytearray()  # office → centre
        self.received = bytearray()  # centre → office
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, LOOPBACK, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _relay(self, office_r: asyncio.StreamReader, office_w: asyncio.StreamWriter) -> None:
        centre_r, centre_w = await asyncio.open_connection(LOOPBACK, self.upstream_port)

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, copy: bytearray
        ) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    copy += chunk
                    writer.write(chunk)
                    await writer.drain()
            writer.close()

        await asyncio.gather(
            pump(office_r, centre_w, self.sent), pump(centre_r, office_w, self.received)
        )

    def close(self) -> None:
        if self._server:
            self._server.close()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain-control"])
async def test_the_link_carries_no_key_nik_or_name_in_the_clear(
    ektp_deployment: DeploymentFactory, tls: bool
) -> None:
    tap = Tap()
    port = await tap.start()
    d = await ektp_deployment(
        start=False,
        tls=tls,
        local_env=FAST_RETRY,
        # bodies uncompressed, so that without TLS the tap would read every field
        local_extra=[
            "--central-url",
            f"{'https' if tls else 'http'}://{LOOPBACK}:{port}",
            "--gzip-min-bytes",
            str(1 << 30),
        ],
    )
    tap.upstream_port = d.central_port
    try:
        await d.start()
        people = new_people(3, seed=32)
        async with OfficeClient.of(d) as office:
            ids = await record_all(office, people)
            await eventually(lambda: office.all_in(ids, {"approved"}), timeout=60)
    finally:
        d.stop()
        tap.close()
    wire = bytes(tap.sent) + bytes(tap.received)
    secrets: list[str] = [d.office_keys["6172"]]
    for person in people:
        secrets += [person["nik"], person["full_name"], person["address"]]
    seen = [s for s in secrets if s.encode() in wire]
    if tls:
        assert tap.sent[:1] == b"\x16", "the office's first bytes are a TLS handshake"
        assert not seen
    else:  # the control: the very same tap reads everything when TLS is off
        assert seen == secrets


def _planted(people: list[dict[str, Any]]) -> list[str]:
    return [value for p in people for value in (p["nik"], p["full_name"], p["address"])]


async def test_no_log_holds_personal_data_and_every_file_is_private(
    ektp_deployment: DeploymentFactory,
) -> None:
    d = await ektp_deployment(profile="fiber", local_env=FAST_RETRY)
    people = new_people(4, seed=33)
    bad_nik = "00" + people[0]["nik"][2:]  # no such province
    cut_nik = people[1]["nik"][:15]  # a digit short
    async with OfficeClient.of(d) as office, WanLink.of(d) as link:
        await link.down()  # so that the records stay in flight for the 409 below
        ids = await record_all(office, people)
        for person in people:  # the lookups that put full NIKs in the access log before
            found = await office.http.get("/records", params={"nik": person["nik"]})
            assert found.status_code == 200 and len(found.json()["records"]) == 1
        unknown = await office.http.get("/records", params={"nik": bad_nik})
        assert unknown.status_code == 200 and unknown.json()["records"] == []
        short = await office.http.get("/records", params={"nik": cut_nik})
        assert short.status_code == 422
        refused = await office.http.post("/records", json={**people[1], "nik": bad_nik})
        assert refused.status_code == 422
        in_flight = await office.http.post("/records", json=people[2])
        assert in_flight.status_code == 409
        await link.up()
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=60)
        assert (await office.http.post(f"/records/{ids[0]}/print")).status_code == 200

        # while the servers run, so SQLite's -wal and -shm files are there too
        data_dirs = [d.base_dir / "central", d.base_dir / "local-6172", d.base_dir / "logs"]
        made = [p for top in data_dirs for p in (top, *top.rglob("*"))]
        assert any(p.name.endswith("-wal") for p in made), made
        wrong = {
            str(p): oct(stat.S_IMODE(p.stat().st_mode))
            for p in made
            if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)
        }
        assert not wrong
    d.stop()  # every line written

    logs = {p.name: p.read_text(errors="replace") for p in (d.base_dir / "logs").glob("*.log")}
    assert {"central.log", "local-6172.log", "netsim.log"} <= set(logs)
    leaks = {
        (name, value)
        for name, text in logs.items()
        for value in [*_planted(people), bad_nik, cut_nik]
        if value in text
    }
    assert not leaks
    # the lookups were logged, masked: what the search above looked for was there to find
    node_log = logs["local-6172.log"]
    assert f"nik={mask_nik(people[0]['nik'])}" in node_log
    assert f"nik={mask_nik(bad_nik)}" in node_log
    assert f'nik={cut_nik[:4]}*******{cut_nik[-4:]} HTTP/1.1" 422' in node_log
