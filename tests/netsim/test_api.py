"""The control API driven with Toxiproxy-style requests: shapes, status codes, semantics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ektp_sync.netsim import NetSim, NetSimClient


@pytest.fixture
async def api(sim: NetSim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.api_url, timeout=5.0) as client:
        yield client


async def create(api: httpx.AsyncClient, name: str, upstream: str) -> httpx.Response:
    body = {"name": name, "listen": "127.0.0.1:0", "upstream": upstream}
    return await api.post("/proxies", json=body)


async def test_version_and_browser_refused(api: httpx.AsyncClient) -> None:
    response = await api.get("/version")
    assert response.status_code == 200
    assert "version" in response.json()
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
    assert (await api.get("/proxies", headers=browser)).status_code == 403


async def test_proxy_lifecycle(api: httpx.AsyncClient, echo: str) -> None:
    created = await create(api, "db", echo)
    assert created.status_code == 201
    proxy = created.json()
    assert set(proxy) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert proxy["enabled"] is True and proxy["toxics"] == [] and proxy["upstream"] == echo
    assert not proxy["listen"].endswith(":0")  # the real port is shown
    assert (await create(api, "db", echo)).status_code == 409
    missing = await api.post("/proxies", json={"name": "x"})
    assert missing.status_code == 400 and missing.json()["status"] == 400

    listing = (await api.get("/proxies")).json()
    assert list(listing) == ["db"] and listing["db"] == proxy
    assert (await api.get("/proxies/db")).json() == proxy
    unknown = await api.get("/proxies/nope")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "proxy not found", "status": 404}

    updated = await api.post("/proxies/db", json={"enabled": False})
    assert updated.status_code == 200 and updated.json()["enabled"] is False
    updated = await api.patch("/proxies/db", json={"enabled": True})
    assert updated.json()["enabled"] is True

    assert (await api.delete("/proxies/db")).status_code == 204
    assert (await api.delete("/proxies/db")).status_code == 404
    assert (await api.get("/proxies")).json() == {}


async def test_toxic_lifecycle(api: httpx.AsyncClient, echo: str) -> None:
    await create(api, "db", echo)
    made = await api.post(
        "/proxies/db/toxics", json={"type": "latency", "attributes": {"latency": 100}}
    )
    assert made.status_code == 200
    assert made.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 100, "jitter": 0},
    }
    again = await api.post("/proxies/db/toxics", json={"type": "latency"})
    assert again.status_code == 409
    bad_type = await api.post("/proxies/db/toxics", json={"type": "nonsense"})
    assert bad_type.status_code == 400
    bad_stream = await api.post(
        "/proxies/db/toxics", json={"type": "latency", "stream": "sideways"}
    )
    assert bad_stream.status_code == 400
    up = await api.post(
        "/proxies/db/toxics",
        json={
            "name": "bw",
            "type": "bandwidth",
            "stream": "upstream",
            "toxicity": 0.5,
            "attributes": {"rate": 100},
        },
    )
    assert up.json()["stream"] == "upstream" and up.json()["toxicity"] == 0.5

    listed = (await api.get("/proxies/db/toxics")).json()
    assert [t["name"] for t in listed] == ["latency_downstream", "bw"]
    assert (await api.get("/proxies/db")).json()["toxics"] == listed
    shown = await api.get("/proxies/db/toxics/bw")
    assert shown.json()["attributes"] == {"rate": 100}
    assert (await api.get("/proxies/db/toxics/nope")).status_code == 404

    changed = await api.post(
        "/proxies/db/toxics/latency_downstream", json={"attributes": {"jitter": 10}}
    )
    assert changed.status_code == 200
    assert changed.json()["attributes"] == {"latency": 100, "jitter": 10}
    assert (await api.delete("/proxies/db/toxics/bw")).status_code == 204
    assert (await api.delete("/proxies/db/toxics/bw")).status_code == 404
    assert (await api.get("/proxies/nope/toxics")).status_code == 404


async def test_reset_enables_and_clears(api: httpx.AsyncClient, echo: str) -> None:
    await create(api, "a", echo)
    await api.post("/proxies/a/toxics", json={"type": "timeout"})
    await api.post("/proxies/a", json={"enabled": False})
    assert (await api.post("/reset")).status_code == 204
    proxy = (await api.get("/proxies/a")).json()
    assert proxy["enabled"] is True and proxy["toxics"] == []


async def test_populate_creates_and_keeps(api: httpx.AsyncClient, echo: str) -> None:
    body = [
        {"name": "one", "listen": "127.0.0.1:0", "upstream": echo},
        {"name": "two", "listen": "127.0.0.1:0", "upstream": echo, "enabled": False},
    ]
    first = await api.post("/populate", json=body)
    assert first.status_code == 201
    proxies = first.json()["proxies"]
    assert [p["name"] for p in proxies] == ["one", "two"]
    assert proxies[1]["enabled"] is False
    again = await api.post("/populate", json=body)
    assert [p["listen"] for p in again.json()["proxies"]] == [p["listen"] for p in proxies]
    bad = await api.post("/populate", json=[{"name": "three"}])
    assert bad.status_code == 400


async def test_profile_extension(api: httpx.AsyncClient, echo: str) -> None:
    await create(api, "wan", echo)
    assert "vsat-rain" in (await api.get("/profiles")).json()
    applied = await api.post("/proxies/wan/profile", json={"profile": "vsat-clear"})
    names = [t["name"] for t in applied.json()["toxics"]]
    assert "vsat-clear.latency_upstream" in names
    await api.post("/proxies/wan/toxics", json={"type": "slicer"})
    applied = await api.post("/proxies/wan/profile", json={"profile": "fiber"})
    names = [t["name"] for t in applied.json()["toxics"]]
    assert "slicer_downstream" in names and not any(n.startswith("vsat") for n in names)
    assert (await api.delete("/proxies/wan/profile")).status_code == 204
    toxics = (await api.get("/proxies/wan/toxics")).json()
    assert [t["name"] for t in toxics] == ["slicer_downstream"]
    unknown = await api.post("/proxies/wan/profile", json={"profile": "carrier-pigeon"})
    assert unknown.status_code == 400


async def test_client_drives_the_api(sim: NetSim, echo: str) -> None:
    async with NetSimClient(sim.api_url) as link:
        made = await link.create_proxy("wan", "127.0.0.1:0", echo)
        await link.set_profile("wan", "3g-rural")
        assert any(t["type"] == "loss" for t in (await link.proxy("wan"))["toxics"])
        await link.set_profile("wan", None)
        toxic = await link.add_toxic("wan", "latency", attributes={"latency": 5})
        await link.update_toxic("wan", toxic["name"], {"latency": 7})
        assert (await link.proxy("wan"))["toxics"][0]["attributes"]["latency"] == 7
        await link.remove_toxic("wan", toxic["name"])
        await link.set_enabled("wan", False)
        assert (await link.proxies())["wan"]["enabled"] is False
        await link.reset()
        assert (await link.proxy("wan"))["enabled"] is True
        assert made["name"] == "wan"
