"""The operator's console in a real browser (Debian's chromium, Playwright) against real servers:
log in, the overview's counts are /status's, find a resident by NIK and read the estimate,
correct a failed record, print an approved one as supervisor and be refused as clerk, the link
page after an outage, /docs with no internet. The README's screenshots are written here."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ektp_sync.domain.nik import make_nik
from ektp_sync.domain.operators import Role
from ektp_sync.synth import generate
from ektp_sync.testing import FAST_RETRY, CentreAdmin, OfficeClient, WanLink, eventually

from .conftest import VIEWPORT

pytestmark = pytest.mark.integration

#: the office's clock a day ahead of the centre's (POSIX TZ strings, no tz database needed): a
#: birth date typed as "today" at the office is in the future at the centre, which refuses it
OFFICE_TZ = "AHEAD-14"
CENTRE_TZ = "BEHIND+12"


def office_today() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()


def with_photo(record: dict[str, Any], size: int = 120_000) -> dict[str, Any]:
    """The record with a photo of `size` bytes: uploads big enough to take a while."""
    photo = base64.b64encode(b"\x89" * size).decode("ascii")
    biometrics = {**record["biometrics"], "attachments": {"photo": photo}}
    return {**record, "biometrics": biometrics}


async def new_page(browser: Any, base: str) -> Any:
    # the deployment's CA is a throwaway one chromium does not trust: loopback only
    context = await browser.new_context(
        base_url=base, ignore_https_errors=True, viewport=VIEWPORT, locale="id-ID"
    )
    return await context.new_page()


async def log_in(page: Any, token: str) -> None:
    await page.goto("/")
    assert urlsplit(page.url).path == "/masuk"  # no session: the login form
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r".*/$"))


async def shot(page: Any, directory: Path, name: str) -> None:
    await page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


async def cell(page: Any, selector: str) -> int:
    return int((await page.inner_text(selector)).strip())


async def test_supervisor_overview_search_correct_and_print(
    ektp_deployment, browser, screenshots
) -> None:
    env = {**FAST_RETRY, "TZ": OFFICE_TZ}
    d = await ektp_deployment(start=False, local_env=env)
    d.central.env["TZ"] = CENTRE_TZ
    await d.start()
    residents = generate(10, seed=31)  # distinct people, then one planted case of each kind
    first = [r.record for r in residents if r.phase == 1]
    planted = [r for r in residents if r.phase == 2]
    async with OfficeClient.of(d) as office, CentreAdmin.of(d) as admin:
        ok = [await office.record(p) for p in first]
        # one record the centre refuses: the birth date typed as the office's today
        broken = next(r.record for r in generate(3, seed=35) if r.phase == 1)
        serial, sex = int(broken["nik"][12:]), broken["sex"]
        region, district = broken["nik"][:4], broken["nik"][4:6]
        typo = office_today()
        typed = make_nik(region, district, typo, sex, serial)
        failed_id = await office.record(dict(broken, birth_date=typo.isoformat(), nik=typed))
        await eventually(lambda: office.all_in(ok, {"approved"}), timeout=60)
        await eventually(lambda: office.all_in([failed_id], {"failed"}), timeout=60)
        # the planted cases: a reissue (approved), two rejected, one in review
        for r in planted:
            planted_id = await office.record(r.record)
            await eventually(lambda i=planted_id, s=r.expected["status"]: office.all_in([i], {s}))

        page = await new_page(browser, d.local_url())
        await log_in(page, d.operator_token(Role.SUPERVISOR))

        # the overview: counts per state and what needs action are /status's
        status = await office.status()
        await page.goto("/")
        for state, count in status["counts"].items():
            assert await cell(page, f"#counts tr[data-state={state}] td") == count, state
        for need, count in status["needs_action"].items():
            assert await cell(page, f"#needs tr[data-need={need}] td") == count, need
        assert status["needs_action"] == {
            "review": 1,
            "rejected": 2,
            "failed": 1,
            "approved_not_printed": len(first) + 1,
        }
        assert "Ringkasan" in await page.inner_text("h1")  # Bahasa Indonesia by default
        await shot(page, screenshots, "ringkasan")

        # find a resident by NIK while uploads take 2.5 s and the centre is slow to decide: the
        # estimate and what it assumes (in the queue behind two others, else awaiting decision)
        await admin.faults(latency_ms=2_500, processing_delay_ms=20_000)
        fresh = [with_photo(r.record) for r in generate(30, seed=32) if r.phase == 1][:3]
        fresh_ids = [await office.record(p) for p in fresh]
        await page.goto("/cari")
        await page.fill("input[name=q]", fresh[2]["nik"])
        await page.click("form.search button")
        await page.wait_for_url(f"**/penduduk/{fresh_ids[2]}")
        assert "WIB" in await page.inner_text("#printable-eta")
        basis = await page.inner_text("#eta-basis")
        assert "Asumsi" in basis and "median" in basis
        if "ke-" in await page.inner_text("#queue-position"):  # still in the queue
            assert "di depannya" in basis or "sudah naik ke pusat" in basis
        assert fresh[2]["full_name"] in await page.inner_text("h1")
        await shot(page, screenshots, "cari-penduduk")
        assert (await office.get(fresh_ids[2]))["printable_eta"] is not None
        await admin.faults(latency_ms=0, processing_delay_ms=0)

        # correct the failed record on "Perlu tindakan": the true birth date and its NIK
        await page.goto("/tindakan")
        row = page.locator(f"#failed tr[data-record='{failed_id}']")
        assert "dtk" in await page.inner_text("#review tbody")  # with its waiting time
        rejected = await page.inner_text("#rejected tbody")
        assert "NIK sudah terdaftar" in rejected and "biometrik cocok" in rejected
        assert "birth_date_future" in await row.inner_text()
        await shot(page, screenshots, "perlu-tindakan")
        await row.locator("summary").click()
        true_birth = broken["birth_date"]
        await row.locator("input[name=birth_date]").fill(true_birth)
        await row.locator("input[name=nik]").fill(broken["nik"])
        await row.locator("button[data-action=koreksi]").click()
        await page.wait_for_selector("#notice.good")
        await eventually(lambda: office.all_in([failed_id], {"approved"}), timeout=60)
        corrected = await office.get(failed_id)
        assert corrected["nik"] == broken["nik"]
        assert corrected["history"][0]["changed_fields"] == ["birth_date", "nik"]

        # print an approved card from its page
        await page.goto(f"/penduduk/{ok[1]}")
        await page.click("button[data-action=cetak]")
        await page.wait_for_url(f"**/penduduk/{ok[1]}?selesai=cetak")  # a reload prints nothing
        assert "persetujuan" in await page.inner_text("#notice.good")
        assert (await office.get(ok[1]))["state"] == "printed"
        # the console's actions are in the audit trail, under the operator who did them
        trail = (await office.http.get("/audit")).raise_for_status().json()["entries"]
        done = {(e["action"], e["record_id"], e["operator"]) for e in trail}
        supervisor = d.operators[Role.SUPERVISOR].name
        assert {("print", ok[1], supervisor), ("correct", failed_id, supervisor)} <= done
        assert await page.get_attribute("#state", "data-state") == "printed"

        # English on request, times still in the office's zone
        await page.click("text=English")
        await page.wait_for_selector("text=The card was printed")
        assert "WIB" in await page.inner_text("#timeline")


async def test_clerk_sees_but_may_not_act(ektp_deployment, browser) -> None:
    d = await ektp_deployment(local_env=FAST_RETRY)
    person = next(r.record for r in generate(5, seed=33) if r.phase == 1)
    async with OfficeClient.of(d) as office:
        record_id = await office.record(person)
        await eventually(lambda: office.all_in([record_id], {"approved"}), timeout=60)
        page = await new_page(browser, d.local_url())
        await log_in(page, d.operator_token(Role.CLERK))
        await page.goto(f"/penduduk/{record_id}")
        assert await page.locator("button[data-action=cetak]").count() == 0  # hidden
        # and refused when posted all the same (with the clerk's own valid form token)
        csrf = await page.get_attribute("input[name=csrf]", "value")
        answer = await page.request.post(f"/penduduk/{record_id}/cetak", form={"csrf": csrf})
        assert answer.status == 403
        assert (await office.get(record_id))["state"] == "approved"
        # a form without this session's token is refused too (CSRF), even a supervisor's
        page2 = await new_page(browser, d.local_url())
        await log_in(page2, d.operator_token(Role.SUPERVISOR))
        forged = await page2.request.post(f"/penduduk/{record_id}/cetak", form={"csrf": "x"})
        assert forged.status == 403
        assert (await office.get(record_id))["state"] == "approved"
        # the cookie is HttpOnly and SameSite=Strict
        cookies = await page.context.cookies()
        session = next(c for c in cookies if c["name"] == "ektp_console")
        assert session["httpOnly"] and session["sameSite"] == "Strict" and session["secure"]


async def test_link_page_after_an_outage_and_docs_offline(
    ektp_deployment, browser, screenshots
) -> None:
    d = await ektp_deployment(link=True, local_env=FAST_RETRY)
    people = [r.record for r in generate(20, seed=34) if r.phase == 1][:6]
    async with OfficeClient.of(d) as office, WanLink.of(d) as link:
        first = [await office.record(p) for p in people[:3]]
        await eventually(lambda: office.all_in(first, {"approved"}), timeout=60)
        await link.down()

        async def outage_open() -> bool:
            return (await office.status())["link"]["up"] is False

        await eventually(outage_open, timeout=30)
        later = [await office.record(p) for p in people[3:]]

        page = await new_page(browser, d.local_url())
        outside: list[str] = []
        page.on(
            "request",
            lambda r: (
                outside.append(r.url)
                if urlsplit(r.url).hostname not in ("127.0.0.1", "localhost")
                else None
            ),
        )
        await log_in(page, d.operator_token(Role.SUPERVISOR))
        # the overview during the outage: the link down, the backlog held, no estimate
        await page.goto("/")
        assert (await page.inner_text("#link-state")).startswith("putus")
        assert await cell(page, "#pending") == len(later)
        assert "sambungan ke pusat putus" in await page.inner_text("#eta")
        await shot(page, screenshots, "ringkasan-putus")

        await link.up()
        await eventually(lambda: office.all_in(later, {"approved"}), timeout=60)
        status = await office.status()
        [outage] = status["link_history"]
        assert outage["end"] is not None

        await page.goto("/jaringan")
        rows = page.locator("#outages-today tr.outage")
        assert await rows.count() == 1
        assert "dtk" in await rows.first.inner_text()  # its duration, in Indonesian units
        assert "1 kali putus" in await page.inner_text("#uptime")
        assert await page.locator("#throughput rect.bar").count() == 60
        await shot(page, screenshots, "jaringan")

        # /docs renders from the node's own files: nothing is fetched from outside
        await page.goto("/docs")
        await page.wait_for_selector(".swagger-ui .information-container", timeout=20_000)
        assert "office node" in await page.inner_text(".swagger-ui .title")
        assert outside == []
