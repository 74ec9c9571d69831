"""The servers' logs as real processes write them: one event per line, as JSON or as text, with
the record's ids where an event concerns one record, and never a whole NIK."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ektp_sync.domain.nik import mask_nik
from ektp_sync.launch import Deployment
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, DeploymentFactory, OfficeClient, WanLink, eventually

pytestmark = pytest.mark.integration

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 ")


async def recorded_and_looked_up(d: Deployment) -> tuple[str, str, str]:
    """Record one resident, look them up by NIK (a NIK in a URL: the access log), await the
    approval; the record's id, submission id and NIK."""
    body = generate(1, seed=11)[0].record
    async with OfficeClient.of(d) as office:
        record_id = await office.record(body)
        found = await office.http.get("/records", params={"nik": body["nik"]})
        assert found.json()["records"][0]["id"] == record_id
        await eventually(lambda: office.all_in([record_id], {"approved"}), timeout=60)
        submission_id = (await office.get(record_id))["submission_id"]
    return record_id, submission_id, body["nik"]


def stopped_logs(d: Deployment) -> tuple[str, str]:
    d.stop()  # the logs are complete once the processes ended
    node = d.locals[d.offices[0]].log_path.read_text()
    return node, d.central.log_path.read_text()


async def test_json_logs_are_one_object_per_line(ektp_deployment: DeploymentFactory) -> None:
    json_logs = ["--log-format", "json"]
    d = await ektp_deployment(local_extra=json_logs, central_extra=json_logs, local_env=FAST_RETRY)
    record_id, submission_id, nik = await recorded_and_looked_up(d)
    node, centre = stopped_logs(d)
    for log in (node, centre):
        events = [json.loads(line) for line in log.splitlines()]  # every line is one object
        assert events and all({"time", "level", "logger", "message"} <= set(e) for e in events)
        assert all(dt.datetime.fromisoformat(e["time"]).tzinfo for e in events)
    events = [json.loads(line) for line in node.splitlines()]
    stored = [e for e in events if e["message"] == "record stored and queued"]
    assert stored == [
        {
            "time": stored[0]["time"],
            "level": "INFO",
            "logger": "local_server.service",
            "message": "record stored and queued",
            "record_id": record_id,
            "submission_id": submission_id,
        }
    ]
    lookups = [e for e in events if e["logger"] == "uvicorn.access" and "nik=" in e["message"]]
    assert lookups and mask_nik(nik) in lookups[0]["message"]
    assert nik not in node and nik not in centre


async def test_text_logs_carry_time_level_and_ids(ektp_deployment: DeploymentFactory) -> None:
    d = await ektp_deployment(local_env=FAST_RETRY)  # text is the default
    record_id, submission_id, nik = await recorded_and_looked_up(d)
    node, centre = stopped_logs(d)
    for log in (node, centre):
        lines = log.splitlines()
        assert lines and all(ISO_TIME.match(line) for line in lines), log[-2000:]
    stored = [line for line in node.splitlines() if "record stored and queued" in line]
    assert stored == [
        f"{stored[0][:29]} INFO local_server.service: record stored and queued "
        f"[record_id={record_id} submission_id={submission_id}]"
    ]
    assert mask_nik(nik) in node and nik not in node and nik not in centre


async def test_an_outage_is_two_lines_of_the_log(ektp_deployment: DeploymentFactory) -> None:
    """Not a WARNING per probe (every second here): one line as it begins, one as it ends."""
    d = await ektp_deployment(link=True, local_env=FAST_RETRY)
    url = d.local_url()

    async def failures() -> float:
        async with httpx.AsyncClient(verify=d.verify) as client:
            text = (await client.get(f"{url}/metrics")).raise_for_status().text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "ektp_link_failures_total"
        )

    async with OfficeClient.of(d) as office, WanLink.of(d) as link:
        await link.down()

        async def declared() -> bool:
            return (await office.status())["link"]["up"] is False

        await eventually(declared, timeout=60, message="outage declared")
        ids = [await office.record(r.record) for r in generate(3, seed=12)[:2]]
        seen = await failures()
        # probes once a second (FAST_RETRY): ten of them fail while the link is down
        await eventually(lambda: _more_than(failures, seen + 10), timeout=60)
        await link.up()
        await eventually(lambda: office.all_in(ids, {"approved"}), timeout=60)
        history = (await office.status())["link_history"]
    node, _ = stopped_logs(d)
    sync_lines = [line for line in node.splitlines() if " local_server.sync." in line]
    begin = [i for i, line in enumerate(sync_lines) if "link to centre down since" in line]
    end = [i for i, line in enumerate(sync_lines) if "link to centre back after" in line]
    assert len(begin) == 1 and len(end) == 1, "\n".join(sync_lines)
    assert sync_lines[begin[0] + 1 : end[0]] == []  # nothing at INFO or above in between
    assert " WARNING " in sync_lines[begin[0]] and " WARNING " in sync_lines[end[0]]
    assert len(history) == 1 and history[0]["end"] is not None
    assert f"back after {round(history[0]['seconds'])} s" in sync_lines[end[0]]


async def _more_than(count: Callable[[], Awaitable[float]], floor: float) -> bool:
    return await count() > floor
