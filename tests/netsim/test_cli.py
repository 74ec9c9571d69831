"""`ektp-sync netsim` as a process: options, env vars, profile applied, clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx

from ektp_sync.launch import free_port

from .conftest import DEADLINE, roundtrip


async def wait_api(url: str) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client, asyncio.timeout(DEADLINE):
        while True:
            try:
                if (await client.get(f"{url}/version")).status_code == 200:
                    return
            except httpx.HTTPError:
                await asyncio.sleep(0.05)  # poll interval while the process starts


async def test_cli_runs_and_stops_cleanly(echo: str, tmp_path: Path) -> None:
    listen, api, extra = free_port(), free_port(), free_port()
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "extra", "listen": f"127.0.0.1:{extra}", "upstream": echo}])
    )
    env = {
        **os.environ,
        "EKTP_PROFILE": "fiber",
        "EKTP_SEED": "5",
        "EKTP_CONFIG": str(config),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ektp_sync", "netsim",
        "--listen", f"127.0.0.1:{listen}", "--upstream", echo, "--api", f"127.0.0.1:{api}",
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_api(f"http://127.0.0.1:{api}")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api}") as client:
            proxies = (await client.get("/proxies")).json()
        assert set(proxies) == {"wan", "extra"}
        assert any(t["name"] == "fiber.latency_upstream" for t in proxies["wan"]["toxics"])
        assert await roundtrip(f"127.0.0.1:{listen}", b"via cli") == b"via cli"
        assert await roundtrip(f"127.0.0.1:{extra}", b"via config") == b"via config"
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), DEADLINE)
    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert code == 0, log
    assert "seed 5" in log
