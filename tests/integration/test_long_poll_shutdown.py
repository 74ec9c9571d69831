"""A centre holding long polls of the decisions feed still stops at once on SIGTERM.

uvicorn waits for requests in progress before it shuts an app down and tells the app nothing
meanwhile; without the centre's own signal hook every stop would wait out the held polls.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from ektp_sync.launch import LOOPBACK, central_process, free_port

pytestmark = pytest.mark.integration

KEY = "key-6172"


async def test_sigterm_ends_the_held_polls_instead_of_waiting_for_them(tmp_path: Path) -> None:
    port = free_port()
    centre = central_process(tmp_path, port, {"6172": KEY}, "key-admin")
    centre.start()
    try:
        await centre.wait_ready()
        base = f"http://{LOOPBACK}:{port}/api/v1"
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        ) as office:
            polls = [
                asyncio.create_task(office.get("/decisions", params={"wait": 30})) for _ in range(3)
            ]
            # a later exchange answered means the centre has taken the polls in (one loop)
            assert (await office.get("/keys")).status_code == 200
            assert not any(p.done() for p in polls)
            stopping = time.monotonic()
            await asyncio.to_thread(centre.stop, 30)
            stopped_after = time.monotonic() - stopping
            answers = await asyncio.gather(*polls, return_exceptions=True)
        # held for their 30 s, or for uvicorn's 10 s graceful timeout, they would end later
        assert stopped_after < 9, stopped_after
        for answer in answers:
            assert isinstance(answer, httpx.Response), answer
            assert (answer.status_code, answer.json()["decisions"]) == (200, [])
    finally:
        centre.kill()
