"""pytest plugin: start real centres, links and office nodes in tests, and await conditions.

Loaded automatically once ektp-sync is installed (entry point `pytest11`); `pip install
ektp-sync[testing]` brings pytest and pytest-asyncio with it. A test reads like:

    async def test_backlog_drains(ektp_deployment):
        d = await ektp_deployment(profile="vsat-rain", local_env=FAST_RETRY)
        async with OfficeClient.of(d) as office, WanLink.of(d) as link:
            await link.down()
            ids = [await office.record(r.record) for r in generate(20, seed=1)]
            await link.up()
            await eventually(lambda: office.all_in(ids, {"approved"}), timeout=120)

docs/testing.md documents every helper with a complete example that the test suite runs.

pytest imports this module in every run of an environment where ektp-sync is installed, tests
of ours or not: so only the standard library and pytest are imported here at the top, and
httpx, the launcher and the simulator's client only when a fixture or helper is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

import pytest

if TYPE_CHECKING:
    import ssl

    import httpx

    from ektp_sync.domain.operators import Role
    from ektp_sync.launch import Deployment
    from ektp_sync.netsim.client import NetSimClient

try:  # strict mode of pytest-asyncio needs its own decorator for async fixtures
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio no async test runs anyway
    _async_fixture = pytest.fixture  # type: ignore[assignment]

T = TypeVar("T")

#: Office-node environment for tests: retries within a second instead of up to five minutes,
#: queue and decisions polled five times a second. `ektp_deployment(local_env=FAST_RETRY)`.
FAST_RETRY: dict[str, str] = {
    "EKTP_BACKOFF_BASE": "0.2",
    "EKTP_BACKOFF_CAP": "1.0",
    "EKTP_IDLE_POLL_SECONDS": "0.2",
    "EKTP_DECISIONS_POLL_SECONDS": "0.2",
    "EKTP_REQUEST_TIMEOUT": "10",
    "EKTP_BREAKER_PROBE_SECONDS": "1.0",
}


#: lines of each server's log a failing `eventually` shows
LOG_TAIL_LINES = 15

#: deployments started by `ektp_deployment` and not yet stopped (tests run one at a time)
_running: list[Deployment] = []


class ConditionTimeout(AssertionError):
    """A condition awaited with `eventually` did not hold before its deadline."""


@overload
async def eventually(
    condition: Callable[[], Awaitable[T]],
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
) -> T: ...


@overload
async def eventually(
    condition: Callable[[], T],
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
) -> T: ...


async def eventually(
    condition: Callable[[], Any],
    timeout: float = 60.0,
    interval: float = 0.2,
    message: str = "",
) -> Any:
    """Poll `condition` (sync or async) until it returns something truthy; return that value.

    Exceptions from the condition count as "not yet" until the deadline, then the last one is
    reported, so a test never hangs and never sleeps longer than it must. The report also holds
    the condition's last answer (`OfficeClient.all_in` answers with the records' states) and the
    tail of every running deployment's server logs.
    """
    import httpx  # only when a test awaits something: keeps the plugin light to load

    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last: Any = None
    while True:
        try:
            last = condition()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        except (AssertionError, httpx.HTTPError, KeyError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise ConditionTimeout(_timeout_report(timeout, message, last, last_error))
        await asyncio.sleep(interval)


def _timeout_report(
    timeout: float, message: str, last: Any, last_error: BaseException | None
) -> str:
    lines = [f"not true within {timeout}s: {message}"]
    if last is not None and not isinstance(last, bool):
        lines.append(f"last answer: {last!r}")
    if last_error is not None:
        lines.append(f"last error: {last_error!r}")
    for deployment in _running:
        for process in deployment.processes:
            lines.append(f"--- {process.name}: last lines of {process.log_path} ---")
            lines.append(process.log_tail(LOG_TAIL_LINES))
    return "\n".join(lines)


@dataclass(frozen=True)
class InStates:
    """`OfficeClient.all_in`'s answer: true when every record is in one of `wanted`; shown by a
    failing `eventually` as the count of records per state."""

    wanted: frozenset[str]
    states: Counter[str]

    def __bool__(self) -> bool:
        return set(self.states) <= self.wanted

    def __repr__(self) -> str:
        return f"records by state {dict(self.states)}, wanted all in {sorted(self.wanted)}"


class _Closing:
    """An async context manager that ends with `aclose()`."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class _Client(_Closing):
    """An httpx client that is also an async context manager."""

    http: httpx.AsyncClient

    async def aclose(self) -> None:
        await self.http.aclose()


class OfficeClient(_Client):
    """A thin client of one office node's HTTP API, for tests and scripts.

    `OfficeClient.of(d)` for a deployment's node (it trusts the deployment's CA and speaks as
    its supervisor, or `role=Role.CLERK`); `OfficeClient(url, verify=…, token=…)` for any other
    (`verify` as httpx takes it, `token` an operator's).
    """

    def __init__(
        self, base_url: str, verify: ssl.SSLContext | bool = True, token: str | None = None
    ) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1", timeout=30, verify=verify, headers=headers
        )

    @classmethod
    def of(
        cls, deployment: Deployment, office: str | None = None, role: Role | str = "supervisor"
    ) -> OfficeClient:
        from ektp_sync.domain.operators import Role

        return cls(
            deployment.local_url(office),
            verify=deployment.verify,
            token=deployment.operator_token(Role(role)),
        )

    async def record(self, body: dict[str, Any]) -> str:
        response = await self.http.post("/records", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def get(self, record_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/records/{record_id}")
        response.raise_for_status()
        return dict(response.json())

    async def all_records(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = (await self.http.get("/records", params=params)).raise_for_status().json()
            found.update((r["id"], r) for r in page["records"])
            cursor = page.get("next_cursor")
            if not cursor or not page["records"]:
                return found

    async def records(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The records with these ids, in that order (KeyError if one is missing)."""
        found = await self.all_records()
        return [found[i] for i in ids]

    async def states(self, ids: Iterable[str]) -> Counter[str]:
        """How many of these records are in each state, e.g. Counter({"queued": 50})."""
        return Counter(r["state"] for r in await self.records(ids))

    async def status(self) -> dict[str, Any]:
        return dict((await self.http.get("/status")).raise_for_status().json())

    async def all_in(self, ids: Iterable[str], states: set[str]) -> InStates:
        """Whether every one of these records is in one of `states` (true or false as a bool;
        a failing `eventually` shows how many were in which state)."""
        return InStates(frozenset(states), await self.states(ids))


class CentreAdmin(_Client):
    """The centre's admin API (stats, reviews, faults) for tests."""

    def __init__(self, base_url: str, admin_key: str, verify: ssl.SSLContext | bool = True) -> None:
        import httpx

        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=30,
            verify=verify,
        )

    @classmethod
    def of(cls, deployment: Deployment) -> CentreAdmin:
        return cls(deployment.central_url, deployment.admin_key, verify=deployment.verify)

    async def stats(self) -> dict[str, Any]:
        return dict((await self.http.get("/stats")).raise_for_status().json())

    async def faults(self, **faults: float) -> None:
        (await self.http.post("/admin/faults", json=faults)).raise_for_status()

    async def public_key(self) -> str:
        return str((await self.http.get("/keys")).raise_for_status().json()["public_key"])


class WanLink(_Closing):
    """The simulated WAN of a deployment (netsim proxy `wan`), driven through its
    Toxiproxy-compatible control API, so a test can change the link while the sync runs.

    async with WanLink.of(d) as link:
        await link.down()
        async with link.toxic("latency", "upstream", latency=2000):
            ...
    """

    api: NetSimClient

    def __init__(self, api_url: str, proxy: str = "wan") -> None:
        from ektp_sync.netsim.client import NetSimClient

        self.proxy = proxy
        self.api = NetSimClient(api_url)

    @classmethod
    def of(cls, deployment: Deployment) -> WanLink:
        """The deployment's link; NoSimulatedLink when it was made without one."""
        return cls(deployment.netsim_api_url)

    async def aclose(self) -> None:
        await self.api.aclose()

    async def down(self) -> None:
        """Toxiproxy's `enabled: false`: new connections refused, live ones closed."""
        await self.api.set_enabled(self.proxy, False)

    async def up(self) -> None:
        await self.api.set_enabled(self.proxy, True)

    async def set_profile(self, profile: str | None) -> None:
        """Replace the link profile's toxics (None: no profile); hand-added toxics stay."""
        await self.api.set_profile(self.proxy, profile)

    async def toxics(self) -> list[dict[str, Any]]:
        return list((await self.api.proxy(self.proxy))["toxics"])

    async def add_toxic(
        self,
        type: str,
        stream: str = "downstream",
        *,
        toxicity: float = 1.0,
        name: str | None = None,
        **attributes: float | str,
    ) -> str:
        """Add a toxic (Toxiproxy's types, or link_bandwidth/outage/loss); returns its name."""
        toxic = await self.api.add_toxic(
            self.proxy, type, stream, name=name, toxicity=toxicity, attributes=attributes
        )
        return str(toxic["name"])

    async def update_toxic(self, name: str, **attributes: float | str) -> None:
        await self.api.update_toxic(self.proxy, name, attributes)

    async def remove_toxic(self, name: str) -> None:
        await self.api.remove_toxic(self.proxy, name)

    @contextlib.asynccontextmanager
    async def toxic(
        self, type: str, stream: str = "downstream", *, toxicity: float = 1.0, **attributes: Any
    ) -> AsyncIterator[str]:
        """A toxic for the duration of a `with` block; yields its name."""
        name = await self.add_toxic(type, stream, toxicity=toxicity, **attributes)
        try:
            yield name
        finally:
            await self.remove_toxic(name)

    async def reset(self) -> None:
        """Every proxy enabled, every toxic removed (the profile's too)."""
        await self.api.reset()


async def assert_delivered_once(
    deployment: Deployment, office: OfficeClient, ids: Sequence[str], office_code: str = ""
) -> None:
    """Nothing lost, nothing doubled: each record's submission is stored at the centre under
    its own `submission_id` with its NIK, and the centre holds no other submission from this
    office than the office's records. Call it when every record of the office has left it.

    The centre is asked directly (not through the simulated link), with the office's own key.
    """
    import httpx

    code = office_code or deployment.offices[0]
    everything = await office.all_records()
    records = [everything[i] for i in ids]
    submissions = [r["submission_id"] for r in records]
    assert len(set(submissions)) == len(ids), "two records share a submission_id"
    async with httpx.AsyncClient(
        base_url=deployment.central_url + "/api/v1",
        headers={"Authorization": f"Bearer {deployment.office_keys[code]}"},
        timeout=30,
        verify=deployment.verify,
    ) as centre:
        for record in records:
            response = await centre.get(f"/enrollments/{record['submission_id']}")
            assert response.status_code == 200, (record, response.text)
            assert response.json()["nik"] == record["nik"], (record, response.text)
        admin = {"Authorization": f"Bearer {deployment.admin_key}"}
        stats = (await centre.get("/stats", headers=admin)).raise_for_status()
    stored = stats.json()["offices"][code]["enrollments"]
    assert stored == len(everything), (
        f"the centre holds {stored} submissions from office {code}, "
        f"the office has {len(everything)} records"
    )


DeploymentFactory = Callable[..., Awaitable["Deployment"]]


@_async_fixture
async def ektp_deployment(tmp_path: Path) -> AsyncIterator[DeploymentFactory]:
    """Factory fixture: `await ektp_deployment(**Deployment options, start=True)`; on TLS
    unless `tls=False`.

    Every process it started is stopped at teardown, whatever the test did. Each deployment
    lives in `<tmp_path>/deployment<N>/`, its servers' logs in `logs/` there.
    """
    from ektp_sync.launch import Deployment

    made: list[Deployment] = []

    async def make(start: bool = True, **options: Any) -> Deployment:
        deployment = Deployment(tmp_path / f"deployment{len(made)}", **options)
        made.append(deployment)
        _running.append(deployment)
        if start:
            await deployment.start()
        return deployment

    try:
        yield make
    finally:
        for deployment in made:
            deployment.stop()
            _running.remove(deployment)
