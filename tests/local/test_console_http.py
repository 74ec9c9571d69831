"""The console over HTTP, in-process on SQLite and PostgreSQL (the browser tests are in
tests/console): login and its cookie, every page, search by NIK and by name, and the forms'
protections (a clerk, a missing CSRF token, another origin: 403, nothing changed)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from ektp_sync.config import LocalSettings
from local_server.app import create_app

from .conftest import CLERK_TOKEN, SUPERVISOR_TOKEN, record, running
from .fake_centre import FakeCentre, serve
from .residents import resident
from .test_sync import reaches

Settings = Callable[..., LocalSettings]
ORIGIN = "http://localhost"


@pytest.fixture
async def pair(
    settings_for: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The node's API client (supervisor) and a browser-like client of its console."""
    app = create_app(settings_for())
    async with running(app) as api:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as browser:
            yield api, browser


@pytest.fixture
async def refusing(
    settings_for: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, FakeCentre]]:
    """As `pair`, with a stand-in centre that refuses the NIKs in `fake.invalid_niks`."""
    fake = FakeCentre()
    async with serve(fake.app()) as url:
        app = create_app(settings_for(url))
        async with running(app) as api:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as browser:
                yield api, browser, fake


async def log_in(browser: httpx.AsyncClient, token: str) -> str:
    """Log in; the session's CSRF token (from the page's forms)."""
    answer = await browser.post("/masuk", data={"token": token, "next": "/tindakan"})
    assert answer.status_code == 303 and answer.headers["location"] == "/tindakan"
    page = (await browser.get("/")).text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def test_login_sets_a_strict_http_only_cookie_and_logout_ends_it(pair) -> None:
    _, browser = pair
    first = await browser.get("/jaringan")
    assert first.status_code == 303
    assert first.headers["location"] == "/masuk?next=%2Fjaringan"
    forged = await browser.post(
        "/masuk", data={"token": CLERK_TOKEN}, headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403 and "ektp_console" not in forged.cookies
    refused = await browser.post("/masuk", data={"token": "not-a-token-of-this-node"})
    assert refused.status_code == 401 and "Token tidak dikenal" in refused.text
    answer = await browser.post("/masuk", data={"token": CLERK_TOKEN, "next": "//evil.example"})
    assert answer.headers["location"] == "/"  # no open redirect
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert answer.cookies["ektp_console"] not in (CLERK_TOKEN, "")  # an opaque id, not the token
    page = await browser.get("/")
    assert page.status_code == 200 and "budi" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    out = await browser.post("/keluar", data={"csrf": csrf}, headers={"origin": ORIGIN})
    assert out.status_code == 303
    assert (await browser.get("/")).status_code == 303  # the session is gone


async def test_every_page_renders_in_both_languages(pair) -> None:
    api, browser = pair
    record_id = await record(api, resident(1))
    await log_in(browser, SUPERVISOR_TOKEN)
    pages = ["/", "/cari", f"/penduduk/{record_id}", "/tindakan", "/jaringan", "/jaringan?span=24h"]
    for path in pages:
        answer = await browser.get(path)
        assert answer.status_code == 200, path
        assert 'lang="id"' in answer.text
    switched = await browser.get(f"/bahasa/en?next=/penduduk/{record_id}")
    assert switched.headers["location"] == f"/penduduk/{record_id}"
    english = await browser.get(f"/penduduk/{record_id}")
    assert 'lang="en"' in english.text and "Timeline" in english.text
    assert (await browser.get("/penduduk/nope")).status_code == 404


async def test_search_by_nik_and_by_name(pair) -> None:
    api, browser = pair
    ids = [
        await record(api, resident(n, full_name=name))
        for n, name in [(1, "SITI AMINAH"), (2, "SITI RAHMA"), (3, "BUDI SANTOSO")]
    ]
    await log_in(browser, CLERK_TOKEN)
    by_nik = await browser.get("/cari", params={"q": resident(3)["nik"]})
    assert by_nik.status_code == 303 and by_nik.headers["location"] == f"/penduduk/{ids[2]}"
    by_name = await browser.get("/cari", params={"q": "siti"})
    assert by_name.status_code == 200
    assert "SITI AMINAH" in by_name.text and "SITI RAHMA" in by_name.text
    assert "BUDI" not in by_name.text.split("<main>")[1]
    one = await browser.get("/cari", params={"q": "santoso"})
    assert one.headers["location"] == f"/penduduk/{ids[2]}"
    none = await browser.get("/cari", params={"q": "nobody here"})
    assert "Tidak ditemukan" in none.text
    assert "minimal 3 huruf" in (await browser.get("/cari", params={"q": "ab"})).text


async def test_actions_need_a_supervisor_the_session_token_and_this_origin(pair) -> None:
    api, browser = pair
    record_id = await record(api, resident(1))
    csrf = await log_in(browser, CLERK_TOKEN)
    page = (await browser.get(f"/penduduk/{record_id}")).text
    assert 'data-action="cetak"' not in page and 'data-action="ulang"' not in page
    as_clerk = await browser.post(
        f"/penduduk/{record_id}/ulang", data={"csrf": csrf}, headers={"origin": ORIGIN}
    )
    assert as_clerk.status_code == 403 and "supervisor" in as_clerk.text

    csrf = await log_in(browser, SUPERVISOR_TOKEN)
    no_token = await browser.post(f"/penduduk/{record_id}/ulang", headers={"origin": ORIGIN})
    assert no_token.status_code == 403
    elsewhere = await browser.post(
        f"/penduduk/{record_id}/ulang",
        data={"csrf": csrf},
        headers={"origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    # the supervisor's own form reaches the service, which refuses as the API does (409)
    allowed = await browser.post(
        f"/penduduk/{record_id}/ulang", data={"csrf": csrf}, headers={"origin": ORIGIN}
    )
    assert allowed.status_code == 409 and "not_failed" in allowed.text
    view = (await api.get(f"/records/{record_id}")).json()
    assert view["history"] == [] and view["state"] in ("queued", "uploading")  # not re-sent


async def test_docs_load_nothing_from_outside(pair) -> None:
    _, browser = pair
    docs = await browser.get("/docs")
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(s.startswith("/static/apidocs/") for s in sources), sources
    for source in sources:
        assert (await browser.get(source)).status_code == 200, source
    assert (await browser.get("/static/console/console.css")).status_code == 200


async def test_a_failed_record_is_corrected_through_the_form(refusing) -> None:
    api, browser, fake = refusing
    body = resident(7)
    fake.invalid_niks.add(body["nik"])
    record_id = await record(api, body)
    await reaches(api, record_id, "failed")
    csrf = await log_in(browser, SUPERVISOR_TOKEN)
    listed = (await browser.get("/tindakan")).text
    assert f'data-record="{record_id}"' in listed and "NIK rule" in listed
    form = {"csrf": csrf, **{k: str(body[k]) for k in ("full_name", "birth_place", "sex")}}
    form |= {"birth_date": body["birth_date"], "address": body["address"]}
    post = {"headers": {"origin": ORIGIN}}

    # a NIK that breaks a rule: the page names it, and the record stays failed
    broken = await browser.post(
        f"/penduduk/{record_id}/koreksi", data={**form, "nik": "99" + body["nik"][2:]}, **post
    )
    assert broken.status_code == 422 and "nik_province" in broken.text
    assert (await api.get(f"/records/{record_id}")).json()["state"] == "failed"

    fixed_nik = resident(8)["nik"]
    fixed = await browser.post(
        f"/penduduk/{record_id}/koreksi", data={**form, "nik": fixed_nik}, **post
    )
    assert fixed.status_code == 303
    assert fixed.headers["location"] == f"/penduduk/{record_id}?selesai=koreksi"
    assert "Dikoreksi dan dikirim ulang" in (await browser.get(fixed.headers["location"])).text
    await reaches(api, record_id, "approved")
    view = (await api.get(f"/records/{record_id}")).json()
    assert view["nik"] == fixed_nik
    assert view["history"][0]["changed_fields"] == ["nik"]  # the fields left alone are not sent
