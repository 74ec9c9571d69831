"""`central serve --workers 2` as a process tree (src/ektp_sync/prefork.py): the workers are forked
from the supervisor and serve its one listening socket; a worker killed outright is replaced
while the other keeps answering; SIGTERM ends them all and removes the shared gallery; a worker
that cannot start (database unreachable) ends `serve` with an error instead of restarting; and
the workers end with a supervisor killed outright."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import psutil
import pytest

from ektp_sync.launch import ServerProcess, central_process, free_port
from ektp_sync.testing import eventually

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
#: several centre processes refuse SQLite
on_postgresql = pytest.mark.parametrize("db_factory", ["postgresql"], indirect=True)

OFFICES = {"6172": "prefork-office-key-6172"}
WORKERS = 2
SHM = Path("/dev/shm")


def _centre(tmp_path: Path, db_url: str) -> ServerProcess:
    return central_process(tmp_path, free_port(), OFFICES, "prefork-admin-key", db_url, WORKERS)


def _workers(centre: ServerProcess) -> list[psutil.Process]:
    assert centre.pid is not None
    return psutil.Process(centre.pid).children()


def _serving(worker: psutil.Process) -> bool:
    """Its lifespan has run: it holds a connection to the database (PostgreSQL)."""
    return any(c.raddr and c.raddr.port == 5432 for c in worker.net_connections("tcp"))


def _listening_sockets(pid: int, port: int) -> set[str]:
    """The open file behind each socket of `pid` that listens on `port` (`socket:[inode]`)."""
    found = psutil.Process(pid).net_connections("tcp")
    fds = [c.fd for c in found if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
    return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}


def _gallery_files(centre: ServerProcess) -> list[Path]:
    return list(SHM.glob(f"ektp-gallery-{centre.pid}-*"))


async def _healthy(centre: ServerProcess) -> None:
    """/healthz on a connection of its own (any worker may take it)."""
    async with httpx.AsyncClient(timeout=10) as client:
        (await client.get(centre.health_url)).raise_for_status()


@pytest.fixture
async def centre(
    tmp_path: Path, db_factory: Callable[[], Awaitable[str]]
) -> AsyncIterator[ServerProcess]:
    started = _centre(tmp_path, await db_factory())
    started.start()
    try:
        await started.wait_ready()
        await eventually(
            lambda: (
                len(_workers(started)) == WORKERS and all(_serving(w) for w in _workers(started))
            ),
            timeout=60,
        )
        yield started
    finally:
        started.stop()


@on_postgresql
async def test_workers_are_forked_from_the_supervisor_and_share_its_socket(
    centre: ServerProcess,
) -> None:
    assert centre.pid is not None
    supervisor = psutil.Process(centre.pid)
    port = int(centre.health_url.rsplit(":", 1)[1].split("/")[0])
    listening = _listening_sockets(centre.pid, port)
    assert len(listening) == 1
    for worker in _workers(centre):
        assert worker.ppid() == centre.pid
        # forked, not spawned: the same command line, no `multiprocessing.spawn` of its own
        assert worker.cmdline() == supervisor.cmdline()
        assert _listening_sockets(worker.pid, port) == listening  # the one socket bound once


@on_postgresql
async def test_a_killed_worker_is_replaced_and_the_centre_keeps_answering(
    centre: ServerProcess,
) -> None:
    before = {w.pid for w in _workers(centre)}
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    for _ in range(5):  # whichever worker is left takes every connection meanwhile
        await _healthy(centre)

    def replaced() -> list[psutil.Process]:
        workers = _workers(centre)
        pids = {w.pid for w in workers}
        new = [w for w in workers if w.pid not in before]
        ok = len(workers) == WORKERS and victim not in pids and new and _serving(new[0])
        return new if ok else []

    (new,) = await eventually(replaced, timeout=60, message="no worker replaced the killed one")
    assert new.ppid() == centre.pid
    await _healthy(centre)
    log = centre.log_path.read_text()
    assert f"worker process [{victim}] was killed by SIGKILL; starting another" in log


@on_postgresql
async def test_sigterm_ends_every_worker_and_removes_the_shared_gallery(
    centre: ServerProcess,
) -> None:
    workers = _workers(centre)
    assert _gallery_files(centre), "no shared gallery in /dev/shm"
    assert centre.pid is not None
    os.kill(centre.pid, signal.SIGTERM)
    assert await asyncio.to_thread(centre.wait, 60) == 0
    for worker in workers:
        assert not worker.is_running()
    assert _gallery_files(centre) == []


async def test_a_worker_that_cannot_start_ends_serve_with_an_error(tmp_path: Path) -> None:
    # a port nothing listens on: every worker's start (the schema's migration) is refused
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    centre = _centre(tmp_path, unreachable)
    centre.start()
    try:
        assert await asyncio.to_thread(centre.wait, 120) == 1
    finally:
        centre.stop()
    log = centre.log_path.read_text()
    assert "error: a worker process failed to start (exited with status 3)" in log
    assert "Connection refused" in log  # the cause, in the worker's log above
    assert _gallery_files(centre) == []


@on_postgresql
async def test_workers_end_with_a_supervisor_killed_outright(centre: ServerProcess) -> None:
    workers = _workers(centre)
    assert centre.pid is not None
    os.kill(centre.pid, signal.SIGKILL)  # no chance to stop them: the kernel tells them (SIGTERM)

    def gone(worker: psutil.Process) -> bool:
        try:
            return worker.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    await eventually(lambda: all(gone(w) for w in workers), timeout=60)
    for path in _gallery_files(centre):  # a killed serve leaves them to the next one's start
        path.unlink()
