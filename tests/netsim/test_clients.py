"""Two Toxiproxy clients no one here wrote, from their registries, through every call they offer.

toxiproxy-python 0.1.1 (PyPI, a dev dependency) runs in-process against a NetSim; the Node.js
toxiproxy-node-client 4.1.0 (npm) runs clients/node_client_check.mjs in a node process.
The npm package is installed once into EKTP_NODE_CLIENT_DIR (default
~/.cache/ektp-sync/toxiproxy-node-client-4.1.0). Without node/npm or the npm registry the Node
check skips with the reason, except in CI (CI=true), where .ci/run installs Node.js and a
missing client is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ektp_sync.netsim import NetSim

from .conftest import DEADLINE

NODE_CLIENT = "toxiproxy-node-client"
NODE_CLIENT_VERSION = "4.1.0"
CHECK_SCRIPT = Path(__file__).parent / "clients" / "node_client_check.mjs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def echo_line(address: str, line: bytes = b"ping\n") -> float:
    """Round trip of one line through `address` (an echo behind a proxy), in seconds."""
    host, _, port = address.rpartition(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
        sock.sendall(line)
        got = b""
        while len(got) < len(line):
            got += sock.recv(65536)
    assert got == line
    return time.monotonic() - start


def refused(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


def drive_python_client(api_port: int, upstream: str) -> list[str]:
    """Every call of toxiproxy-python 0.1.1 (blocking: runs in a worker thread)."""
    import toxiproxy
    from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

    checked: list[str] = []
    server = toxiproxy.Toxiproxy()
    server.update_api_consumer("127.0.0.1", api_port)
    assert server.running()
    assert json.loads(server.version())["version"]
    checked += ["update_api_consumer", "running", "version"]

    proxy = server.create(upstream=upstream, name="py", listen="127.0.0.1:0")
    assert proxy.name == "py" and proxy.enabled and not proxy.listen.endswith(":0")
    echo_line(proxy.listen)
    with pytest.raises(ProxyExists):
        server.create(upstream=upstream, name="py")
    checked.append("create")

    assert set(server.proxies()) == {"py"} and server.get_proxy("py").listen == proxy.listen
    assert server.get_proxy("missing") is None
    checked += ["proxies", "get_proxy"]

    baseline = min(echo_line(proxy.listen) for _ in range(3))
    proxy.add_toxic(type="latency", attributes={"latency": 150})
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic is not None and toxic.attributes == {"latency": 150, "jitter": 0}
    assert set(proxy.toxics()) == {"latency_downstream"} and proxy.get_toxic("nope") is None
    assert echo_line(proxy.listen) >= 0.150
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="nonsense")
    checked += ["Proxy.add_toxic", "Proxy.toxics", "Proxy.get_toxic"]

    assert proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {} and echo_line(proxy.listen) < baseline + 0.1
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")
    checked.append("Proxy.destroy_toxic")

    proxy.disable()
    assert refused(proxy.listen) and server.get_proxy("py").enabled is False
    proxy.enable()
    echo_line(proxy.listen)
    with proxy.down():
        assert refused(proxy.listen)
    echo_line(proxy.listen)
    checked += ["Proxy.disable", "Proxy.enable", "Proxy.down"]

    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    proxy.disable()
    assert server.reset()
    assert server.get_proxy("py").enabled and proxy.toxics() == {}
    echo_line(proxy.listen)
    checked.append("reset")

    made = server.populate([{"name": "pop", "upstream": upstream, "listen": "127.0.0.1:0"}])
    assert [p.name for p in made] == ["pop"]
    echo_line(made[0].listen)
    checked.append("populate")

    assert server.destroy(made[0]) and set(server.proxies()) == {"py"}
    assert not server.destroy("not a proxy")
    checked.append("destroy")
    server.destroy_all()
    assert server.proxies() == {}
    with pytest.raises(NotFound):
        proxy.destroy()
    checked += ["destroy_all", "Proxy.destroy"]
    return checked


async def test_python_client_drives_every_call(sim: NetSim, echo: str) -> None:
    port = int(sim.api_url.rsplit(":", 1)[1])
    checked = await asyncio.to_thread(drive_python_client, port, echo)
    print(f"python client: {len(checked)} calls checked: {', '.join(checked)}")
    assert set(checked) == python_client_calls()


def python_client_calls() -> set[str]:
    """Every call toxiproxy-python offers: the public methods of its two classes."""
    import toxiproxy

    def public(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")}

    return public(toxiproxy.Toxiproxy) | {f"Proxy.{name}" for name in public(toxiproxy.Proxy)}


def node_client_dir() -> Path:
    """A directory holding toxiproxy-node-client from npm; skips (outside CI) if it can't."""
    default = Path.home() / ".cache" / "ektp-sync" / f"{NODE_CLIENT}-{NODE_CLIENT_VERSION}"
    directory = Path(os.environ.get("EKTP_NODE_CLIENT_DIR", default))
    installed = directory / "node_modules" / NODE_CLIENT / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == NODE_CLIENT_VERSION:
        return directory
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        unavailable("node and npm are not installed (.ci/run installs them from Debian)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text('{"private": true}\n')
    assert npm is not None
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", f"{NODE_CLIENT}@{NODE_CLIENT_VERSION}"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode != 0:
        unavailable(f"npm install {NODE_CLIENT}@{NODE_CLIENT_VERSION} failed:\n{result.stderr}")
    return directory


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must run the Node.js client check: {reason}")
    pytest.skip(f"Node.js Toxiproxy client check not run: {reason}")


async def test_node_client_drives_every_call(sim: NetSim, echo: str) -> None:
    directory = await asyncio.to_thread(node_client_dir)
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node, str(CHECK_SCRIPT), str(directory), sim.api_url, echo,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    sys.stdout.write(out.decode())
    assert process.returncode == 0, f"node client check failed:\n{out.decode()}{err.decode()}"
    assert "node client: all " in out.decode()
