"""Toxiproxy's own API tests, ported: a user's Toxiproxy-based setup must run unchanged.

Source: github.com/Shopify/toxiproxy, api_test.go at commit
f6b98cf41e8bb99978ded7dc884f937e9872ca4c (the v2 test file with the request-id, populate and
noop cases; every one of its 34 tests is here, named after it). Changes made in porting, none
to what is asserted: ports are free ones picked at run time instead of 3310/7070/…, the
upstream is such a port with nothing listening (as upstream's "localhost:20001"), the version
test checks the body's shape rather than the "git" build string, and TestAddConflictingToxic /
...Multistream share one parametrized test. test_toxiproxy_compat.py covers what api.go (same
commit) and later releases do that api_test.go does not check.
One upstream file, one file here (hence its length): a case is found by its Go test's name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ektp_sync.launch import free_port
from ektp_sync.netsim import NetSim

from .toxiproxy_go import GoClient, GoClientError, find_toxic, proxy_up


@pytest.fixture
async def http(sim: NetSim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.api_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient) -> GoClient:
    return GoClient(http)


@pytest.fixture
def listen() -> str:
    return f"localhost:{free_port()}"


@pytest.fixture
def upstream() -> str:
    return f"localhost:{free_port()}"


SET = {"latency": 100, "jitter": 10}  # the latency attributes upstream's tests set
ZERO = {"latency": 0, "jitter": 0}  # a latency toxic's defaults


def bound(listen: str) -> str:
    """How Toxiproxy shows a started proxy's listen address: resolved."""
    return listen.replace("localhost", "127.0.0.1")


async def test_request_id(http: httpx.AsyncClient) -> None:  # TestRequestId
    response = await http.get("/version", headers={"User-Agent": "curl"})
    assert response.headers.get("X-Toxiproxy-Request-Id")


async def test_browser_gets_403(http: httpx.AsyncClient) -> None:  # TestBrowserGets403
    agent = (
        "Mozilla/5.0 (Linux; Android 4.4.2); Nexus 5 Build/KOT49H) AppleWebKit/537.36"
        "(KHTML, like Gecko) Chrome/33.0.1750.117 Mobile Safari/537.36 OPR/20.0.1396.72047"
    )
    assert (await http.get("/proxies", headers={"User-Agent": agent})).status_code == 403


async def test_non_browser_gets_200(http: httpx.AsyncClient) -> None:  # TestNonBrowserGets200
    assert (await http.get("/proxies", headers={"User-Agent": "Wget/2.1"})).status_code != 403


async def test_index_with_no_proxies(client: GoClient) -> None:  # TestIndexWithNoProxies
    assert await client.proxies() == {}


async def test_create_proxy_blank_name(client: GoClient) -> None:  # TestCreateProxyBlankName
    with pytest.raises(GoClientError) as error:
        await client.create_proxy("", "", "")
    assert str(error.value) == "Create: HTTP 400: missing required field: name"


async def test_create_proxy_blank_upstream(client: GoClient) -> None:
    # TestCreateProxyBlankUpstream
    with pytest.raises(GoClientError) as error:
        await client.create_proxy("test", "", "")
    assert str(error.value) == "Create: HTTP 400: missing required field: upstream"


async def test_populate_proxy(client: GoClient, upstream: str) -> None:  # TestPopulateProxy
    made = await client.populate(
        [
            {"name": "one", "listen": f"localhost:{free_port()}", "upstream": upstream},
            {"name": "two", "listen": f"localhost:{free_port()}", "upstream": upstream},
        ]
    )
    assert [proxy["name"] for proxy in made] == ["one", "two"]
    for proxy in made:
        assert await proxy_up(proxy["listen"])


async def test_populate_default_enabled(
    http: httpx.AsyncClient, client: GoClient, listen: str, upstream: str
) -> None:  # TestPopulateDefaultEnabled
    body = f'[{{"name": "test", "listen": "{listen}", "upstream": "{upstream}"}}]'
    response = await http.post("/populate", content=body)
    assert response.status_code == 201, response.text
    proxies = await client.proxies()
    assert list(proxies) == ["test"]
    assert await proxy_up(proxies["test"]["listen"])


async def test_populate_disabled_proxy(client: GoClient, upstream: str) -> None:
    # TestPopulateDisabledProxy
    one, two = f"localhost:{free_port()}", f"localhost:{free_port()}"
    made = await client.populate(
        [
            {"name": "one", "listen": one, "upstream": upstream, "enabled": False},
            {"name": "two", "listen": two, "upstream": upstream, "enabled": True},
        ]
    )
    assert [proxy["name"] for proxy in made] == ["one", "two"]
    assert not await proxy_up(one)
    assert await proxy_up(two)


async def test_populate_existing_proxy(client: GoClient, upstream: str) -> None:
    # TestPopulateExistingProxy
    port_one, port_two, port_moved = free_port(), free_port(), free_port()
    await client.create_proxy("one", f"localhost:{port_one}", upstream)
    await client.create_proxy("two", f"localhost:{port_two}", upstream)
    # A toxic shows whether "one" was kept or replaced.
    await client.add_toxic("one", "", "latency", "downstream", 1, None)
    made = await client.populate(
        [
            {"name": "one", "listen": f"127.0.0.1:{port_one}", "upstream": upstream},
            {
                "name": "two",
                "listen": f"127.0.0.1:{port_moved}",
                "upstream": f"localhost:{free_port()}",
            },
        ]
    )
    assert [proxy["name"] for proxy in made] == ["one", "two"]
    assert [proxy["listen"] for proxy in made] == [
        f"127.0.0.1:{port_one}",
        f"127.0.0.1:{port_moved}",
    ]
    toxics = await client.toxics("one")
    assert len(toxics) == 1 and toxics[0]["type"] == "latency"
    for proxy in made:
        assert await proxy_up(proxy["listen"])


async def test_populate_with_bad_name(client: GoClient, listen: str, upstream: str) -> None:
    # TestPopulateWithBadName
    with pytest.raises(GoClientError) as error:
        await client.populate(
            [
                {"name": "one", "listen": listen, "upstream": upstream, "enabled": True},
                {"name": "", "listen": "", "enabled": True},
            ]
        )
    assert str(error.value) == "Populate: HTTP 400: missing required field: name at proxy 2"
    assert await client.proxies() == {}


async def test_populate_proxy_with_bad_data_should_return_error(
    http: httpx.AsyncClient, client: GoClient, upstream: str
) -> None:  # TestPopulateProxyWithBadDataShouldReturnError
    body = [
        {"name": "one", "listen": f"localhost:{free_port()}", "upstream": upstream},
        {"name": "two", "listen": "local373", "upstream": upstream},
        {"name": "three", "listen": f"localhost:{free_port()}", "upstream": upstream},
    ]
    with pytest.raises(GoClientError):
        await client.populate(body)
    proxies = await client.proxies()
    assert list(proxies) == ["one"]
    # api.go answers the error together with the proxies it made before it (the Go client
    # ignores that body, other clients read it).
    await client.delete("one")
    response = await http.post("/populate", json=body)
    failed = response.json()
    assert response.headers["content-type"].startswith("application/json")
    assert failed["status"] == response.status_code and failed["error"]
    assert [proxy["name"] for proxy in failed["proxies"]] == ["one"]


async def test_populate_add_toxic(client: GoClient, listen: str, upstream: str) -> None:
    # TestPopulateAddToxic
    made = await client.populate([{"name": "one", "listen": listen, "upstream": upstream}])
    assert [proxy["name"] for proxy in made] == ["one"]
    await client.add_toxic("one", "", "latency", "downstream", 1, None)


async def test_listing_proxies(client: GoClient, listen: str, upstream: str) -> None:
    # TestListingProxies
    await client.create_proxy("mysql_master", listen, upstream)
    proxy = (await client.proxies())["mysql_master"]
    assert (proxy["name"], proxy["listen"], proxy["upstream"]) == (
        "mysql_master",
        bound(listen),
        upstream,
    )
    find_toxic(proxy["toxics"], "latency", "", "", exists=False)


async def test_create_and_get_proxy(client: GoClient, listen: str, upstream: str) -> None:
    # TestCreateAndGetProxy
    await client.create_proxy("mysql_master", listen, upstream)
    proxy = await client.proxy("mysql_master")
    assert (proxy["name"], proxy["listen"], proxy["upstream"], proxy["enabled"]) == (
        "mysql_master",
        bound(listen),
        upstream,
        True,
    )
    find_toxic(proxy["toxics"], "latency", "", "", exists=False)


async def test_create_proxy_with_save(client: GoClient, listen: str, upstream: str) -> None:
    # TestCreateProxyWithSave
    new = {"name": "mysql_master", "listen": listen, "upstream": upstream, "enabled": True}
    await client.save(new, created=False)
    proxy = await client.proxy("mysql_master")
    assert (proxy["listen"], proxy["upstream"], proxy["enabled"]) == (
        bound(listen),
        upstream,
        True,
    )
    assert await proxy_up(proxy["listen"])


async def test_create_disabled_proxy(client: GoClient, listen: str, upstream: str) -> None:
    # TestCreateDisabledProxy: a proxy that never listened shows its address as given
    await client.save({"name": "mysql_master", "listen": listen, "upstream": upstream}, False)
    proxy = await client.proxy("mysql_master")
    assert (proxy["listen"], proxy["upstream"], proxy["enabled"]) == (listen, upstream, False)
    assert not await proxy_up(proxy["listen"])


async def test_create_disabled_proxy_and_enable(
    client: GoClient, listen: str, upstream: str
) -> None:  # TestCreateDisabledProxyAndEnable
    await client.save({"name": "mysql_master", "listen": listen, "upstream": upstream}, False)
    proxy = await client.proxy("mysql_master")
    assert (proxy["listen"], proxy["enabled"]) == (listen, False)
    proxy = await client.save({**proxy, "enabled": True}, created=True)
    assert await proxy_up(proxy["listen"])
    proxy = await client.save({**proxy, "enabled": False}, created=True)
    assert not await proxy_up(proxy["listen"])


async def test_delete_proxy(client: GoClient, listen: str, upstream: str) -> None:
    # TestDeleteProxy
    proxy = await client.create_proxy("mysql_master", listen, upstream)
    assert await client.proxies() != {}
    assert await proxy_up(proxy["listen"])
    await client.delete("mysql_master")
    assert not await proxy_up(proxy["listen"])
    assert await client.proxies() == {}
    with pytest.raises(GoClientError) as error:
        await client.delete("mysql_master")
    assert str(error.value) == "Delete: HTTP 404: proxy not found"


async def test_create_proxy_port_conflict(client: GoClient, listen: str, upstream: str) -> None:
    # TestCreateProxyPortConflict
    await client.create_proxy("mysql_master", listen, upstream)
    with pytest.raises(GoClientError) as error:
        await client.create_proxy("test", listen, upstream)
    expected = f"Create: HTTP 500: listen tcp {bound(listen)}: bind: address already in use"
    assert str(error.value) == expected
    await client.delete("mysql_master")
    await client.create_proxy("test", listen, upstream)


async def test_create_proxy_name_conflict(client: GoClient, listen: str, upstream: str) -> None:
    # TestCreateProxyNameConflict
    await client.create_proxy("mysql_master", listen, upstream)
    other = f"localhost:{free_port()}"
    with pytest.raises(GoClientError) as error:
        await client.create_proxy("mysql_master", other, upstream)
    assert str(error.value) == "Create: HTTP 409: proxy already exists"
    await client.delete("mysql_master")
    await client.create_proxy("mysql_master", other, upstream)


async def test_reset_state(client: GoClient, listen: str, upstream: str) -> None:
    # TestResetState
    await client.create_proxy("mysql_master", listen, upstream)
    latency = await client.add_toxic("mysql_master", "", "latency", "downstream", 1, SET)
    assert latency["attributes"] == SET
    await client.reset_state()
    proxy = (await client.proxies())["mysql_master"]
    assert proxy["enabled"] is True
    find_toxic(await client.toxics("mysql_master"), "latency", "", "", exists=False)
    assert await proxy_up(proxy["listen"])


async def test_listing_toxics(client: GoClient, listen: str, upstream: str) -> None:
    # TestListingToxics
    await client.create_proxy("mysql_master", listen, upstream)
    find_toxic(await client.toxics("mysql_master"), "latency", "", "", exists=False)


async def test_add_toxic(client: GoClient, listen: str, upstream: str) -> None:  # TestAddToxic
    await client.create_proxy("mysql_master", listen, upstream)
    latency = await client.add_toxic("mysql_master", "foobar", "latency", "downstream", 1, SET)
    assert latency["attributes"] == SET
    toxics = await client.toxics("mysql_master")
    find_toxic(toxics, "foobar", "latency", "downstream", True, 1.0, SET)


async def test_add_multiple_toxics(client: GoClient, listen: str, upstream: str) -> None:
    # TestAddMultipleToxics
    await client.create_proxy("mysql_master", listen, upstream)
    await client.add_toxic("mysql_master", "latency1", "latency", "downstream", 1, None)
    await client.add_toxic("mysql_master", "latency2", "latency", "downstream", 1, None)
    toxics = await client.toxics("mysql_master")
    find_toxic(toxics, "latency1", "latency", "downstream", exists=True)
    find_toxic(toxics, "latency2", "latency", "downstream", True, 1.0, ZERO)
    find_toxic(toxics, "latency1", "", "upstream", exists=False)
    find_toxic(toxics, "latency2", "", "upstream", exists=False)


@pytest.mark.parametrize(
    ("first", "second"),
    [("downstream", ("slow_close", "downstream")), ("upstream", ("latency", "downstream"))],
    ids=["TestAddConflictingToxic", "TestAddConflictingToxicsMultistream"],
)
async def test_add_conflicting_toxic(
    client: GoClient, listen: str, upstream: str, first: str, second: tuple[str, str]
) -> None:
    # a name is taken whatever the type or stream of the second toxic
    await client.create_proxy("mysql_master", listen, upstream)
    await client.add_toxic("mysql_master", "foobar", "latency", first, 1, None)
    with pytest.raises(GoClientError) as error:
        await client.add_toxic("mysql_master", "foobar", *second, 1, None)
    assert str(error.value) == "AddToxic: HTTP 409: toxic already exists"
    toxics = await client.toxics("mysql_master")
    find_toxic(toxics, "foobar", "latency", first, True, 1.0, ZERO)
    other = "upstream" if first == "downstream" else "downstream"
    find_toxic(toxics, "foobar", "", other, exists=False)


async def test_add_conflicting_toxics_multistream_defaults(
    client: GoClient, listen: str, upstream: str
) -> None:  # TestAddConflictingToxicsMultistreamDefaults
    await client.create_proxy("mysql_master", listen, upstream)
    await client.add_toxic("mysql_master", "", "latency", "upstream", 1, None)
    await client.add_toxic("mysql_master", "", "latency", "downstream", 1, None)
    toxics = await client.toxics("mysql_master")
    for stream in ("upstream", "downstream"):
        find_toxic(
            toxics,
            f"latency_{stream}",
            "latency",
            stream,
            exists=True,
            toxicity=1.0,
            attributes=ZERO,
        )


async def test_add_toxic_with_toxicity(client: GoClient, listen: str, upstream: str) -> None:
    # TestAddToxicWithToxicity
    await client.create_proxy("mysql_master", listen, upstream)
    latency = await client.add_toxic("mysql_master", "", "latency", "downstream", 0.2, SET)
    assert latency["toxicity"] == 0.2
    toxics = await client.toxics("mysql_master")
    find_toxic(toxics, "latency_downstream", "latency", "downstream", True, 0.2, SET)


async def test_add_noop(client: GoClient, listen: str, upstream: str) -> None:  # TestAddNoop
    await client.create_proxy("mysql_master", listen, upstream)
    noop = await client.add_toxic("mysql_master", "foobar", "noop", "", 1, None)
    assert (noop["toxicity"], noop["name"], noop["type"], noop["stream"]) == (
        1.0,
        "foobar",
        "noop",
        "downstream",
    )
    toxics = await client.toxics("mysql_master")
    toxic = find_toxic(toxics, "foobar", "noop", "downstream", exists=True)
    assert toxic is not None and toxic["toxicity"] == 1.0


async def test_update_toxics(client: GoClient, listen: str, upstream: str) -> None:
    # TestUpdateToxics
    await client.create_proxy("mysql_master", listen, upstream)
    latency = await client.add_toxic("mysql_master", "", "latency", "downstream", -1, SET)
    assert latency["toxicity"] == 1.0
    latency = await client.update_toxic(
        "mysql_master", "latency_downstream", 0.5, {"latency": 1000}
    )
    assert latency["toxicity"] == 0.5
    assert latency["attributes"] == {"latency": 1000, "jitter": 10}
    latency = await client.update_toxic("mysql_master", "latency_downstream", -1, {"latency": 500})
    assert latency["toxicity"] == 0.5
    assert latency["attributes"] == {"latency": 500, "jitter": 10}
    toxics = await client.toxics("mysql_master")
    find_toxic(
        toxics,
        "latency_downstream",
        "latency",
        "downstream",
        True,
        0.5,
        {"latency": 500, "jitter": 10},
    )


async def test_remove_toxic(client: GoClient, listen: str, upstream: str) -> None:
    # TestRemoveToxic
    await client.create_proxy("mysql_master", listen, upstream)
    await client.add_toxic("mysql_master", "", "latency", "downstream", 1, None)
    toxics = await client.toxics("mysql_master")
    find_toxic(toxics, "latency_downstream", "latency", "downstream", exists=True)
    await client.remove_toxic("mysql_master", "latency_downstream")
    toxics = await client.toxics("mysql_master")
    find_toxic(toxics, "latency_downstream", "", "", exists=False)


async def test_version_endpoint_returns_version(http: httpx.AsyncClient) -> None:
    # TestVersionEndpointReturnsVersion (upstream's build says "git"; ours names itself)
    response = await http.get("/version")
    assert response.text == '{"version": "2.12.0-ektp"}\n'
    assert response.headers["content-type"] == "application/json;charset=utf-8"


async def test_invalid_stream(client: GoClient, listen: str, upstream: str) -> None:
    # TestInvalidStream
    await client.create_proxy("mysql_master", listen, upstream)
    with pytest.raises(GoClientError):
        await client.add_toxic("mysql_master", "", "latency", "walrustream", 1, None)
