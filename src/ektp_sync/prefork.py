"""`serve --workers N`: N uvicorn workers forked from one supervisor that imported the app first.

Why fork, and not uvicorn's own `workers=N`: uvicorn starts each worker with multiprocessing's
*spawn*, a fresh interpreter that imports numpy, SQLAlchemy, FastAPI and the app again, ~80 MiB
of each worker's own that nothing shares. Forked after the imports, the workers share those
pages with the supervisor and each other (copy-on-write; `gc.freeze()` keeps the collector from
writing to them), so a worker costs what it changes, not a whole interpreter
(docs/performance.md, "workers").

Why not gunicorn's preload with the uvicorn worker class: its arbiter would bring a second
configuration, logging and signal vocabulary (SIGINT there stops the workers at once, without
the graceful shutdown), a heartbeat that kills a worker whose loop is busy, and two packages;
what we need of it is this module: fork, restart a worker that dies, stop them all on a signal.

The parent must hold nothing a fork would break before it forks: no event loop, no thread of
ours, no database connection, no open gallery (the app opens all of those in its lifespan, in
each worker). OpenBLAS's own threads are shut down by its at-fork handler and not restarted,
as the centre runs BLAS at one thread per process (central_server/dedup/matching.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger(__name__)

#: signals the supervisor acts on; blocked around each fork so that a child never runs the
#: supervisor's handlers
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)
#: the first restart of a worker that died waits this long, doubling for each death that
#: follows before a worker is ready again, up to MAX_BACKOFF
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
#: deaths before readiness in a row (a worker that never started) after which the supervisor
#: gives up: a failing database or port would otherwise restart workers forever
MAX_START_FAILURES = 5
#: beyond the workers' graceful shutdown, how long a stop waits before it kills them
KILL_AFTER_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


class WorkersFailed(Exception):
    """The workers could not be kept running; the message says why."""


@dataclass
class _Worker:
    pid: int
    ready_pipe: int  # read end: one byte once the worker serves, end of file when it is gone
    ready: bool = False


class _ReportingServer(uvicorn.Server):
    """A uvicorn server that tells the supervisor once it has started (lifespan done, socket
    served): a worker that dies before is a failed start, not a crash."""

    def __init__(self, config: uvicorn.Config, ready_pipe: int) -> None:
        super().__init__(config)
        self._ready_pipe = ready_pipe

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            os.write(self._ready_pipe, b"r")
            os.close(self._ready_pipe)


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent ends (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


class Supervisor:
    """Forks `count` workers serving `config`'s app on one listening socket; keeps them."""

    def __init__(self, config: uvicorn.Config, count: int) -> None:
        self._config = config
        self._count = count
        self._workers: dict[int, _Worker] = {}
        self._stop_signal: int | None = None  # set by the handler, acted on by the loop
        self._kill_at: float | None = None  # once stopping: when the last workers get SIGKILL
        self._restarts: list[float] = []  # when each pending restart is due (monotonic)
        self._deaths_before_ready = 0  # in a row, since a worker last became ready
        self._failure: str | None = None
        self._selector = selectors.PollSelector()  # no kernel object for a child to inherit
        self._wakeup_read, self._wakeup_write = os.pipe()

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM (then stop the workers gracefully and return), or raise
        WorkersFailed when workers cannot start."""
        if threading.active_count() > 1:  # a thread's locks and work would be half-copied
            raise RuntimeError(f"threads before the workers are forked: {threading.enumerate()}")
        config = self._config
        config.load()  # the app, its middleware, TLS context: made once, shared by the forks
        listening = config.bind_socket()
        previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
        self._install_signals()
        gc.freeze()  # the objects made so far are never collected: their pages stay shared
        try:
            for _ in range(self._count):
                self._fork(listening)
            # a restart still due counts: with every worker dead at once (or the only one),
            # the supervisor waits for it instead of ending as if it had been stopped
            while self._workers or self._restarts:
                self._wait()
                self._reap()
                self._act(listening)
        finally:
            listening.close()
            self._selector.close()
            signal.set_wakeup_fd(-1)
            for signum, handler in previous.items():
                if handler is not None:  # None: not installed from Python, nothing to restore
                    signal.signal(signum, handler)
            for fd in (self._wakeup_read, self._wakeup_write):
                os.close(fd)
        if self._failure is not None:
            raise WorkersFailed(self._failure)

    def _act(self, listening: socket.socket) -> None:
        """What is due now: stop on a signal noted, kill what outlived its grace, restart."""
        if self._stop_signal is not None and self._kill_at is None:
            logger.info("received %s: stopping the workers", signal.Signals(self._stop_signal).name)
            self._stop()
        elif self._kill_at is not None and time.monotonic() >= self._kill_at:
            self._signal_workers(signal.SIGKILL)
            self._kill_at = math.inf  # once
        elif self._kill_at is None:
            self._restart_due(listening)

    def _install_signals(self) -> None:
        for fd in (self._wakeup_read, self._wakeup_write):
            os.set_blocking(fd, False)
        self._selector.register(self._wakeup_read, selectors.EVENT_READ)
        # a handler only notes the signal; the byte Python leaves in the pipe wakes `_wait`
        signal.set_wakeup_fd(self._wakeup_write, warn_on_full_buffer=False)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._note_stop)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def _note_stop(self, signum: int, frame: object) -> None:
        self._stop_signal = signum

    def _stop(self) -> None:
        """SIGTERM to every worker (uvicorn's graceful shutdown, whichever signal came: a
        forwarded SIGINT would be a second one to workers a terminal's Ctrl-C already reached,
        and uvicorn ends at once on a second SIGINT); SIGKILL for those still there after
        their grace."""
        self._restarts.clear()
        self._kill_at = (
            time.monotonic()
            + (self._config.timeout_graceful_shutdown or 0)
            + KILL_AFTER_GRACE_SECONDS
        )
        self._signal_workers(signal.SIGTERM)

    def _signal_workers(self, signum: int) -> None:
        for pid in self._workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _fork(self, listening: socket.socket) -> None:
        ready_read, ready_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the child would write what the parent had buffered again
        # blocked until the child has put the supervisor's handlers away, and until the parent
        # knows the child (a stop noted in between would miss it)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        pid = os.fork()
        if pid == 0:
            os.close(ready_read)
            self._become_worker(listening, ready_write, blocked)
        os.close(ready_write)
        self._workers[pid] = _Worker(pid, ready_read)
        self._selector.register(ready_read, selectors.EVENT_READ, pid)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        logger.info("started worker process [%d]", pid)

    def _become_worker(
        self, listening: socket.socket, ready_write: int, blocked: Iterable[int]
    ) -> None:
        """The forked child: the supervisor's signal handling undone, then a uvicorn server on
        the shared socket until it stops; never returns."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in _SIGNALS:  # uvicorn installs its own for SIGINT and SIGTERM
                signal.signal(signum, signal.SIG_DFL)
            self._selector.close()
            for fd in (self._wakeup_read, self._wakeup_write):
                os.close(fd)
            for worker in self._workers.values():
                if worker.ready_pipe >= 0:
                    os.close(worker.ready_pipe)
            die_with_parent()  # a supervisor killed outright takes its workers with it
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            server = _ReportingServer(self._config, ready_write)
            server.run(sockets=[listening])
            code = 0 if server.started else STARTUP_FAILURE
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            logger.exception("worker process [%d] failed", os.getpid())
        finally:
            logging.shutdown()  # flush our handlers; the parent's atexit work is not ours
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)

    def _wait(self) -> None:
        """Until a signal, a worker's readiness or end, or the next restart or kill falls due."""
        due = [*self._restarts, *([self._kill_at] if self._kill_at not in (None, math.inf) else [])]
        timeout = max(0.0, min(due) - time.monotonic()) if due else None
        for key, _ in self._selector.select(timeout):
            if key.fd == self._wakeup_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wakeup_read, 512)
            elif (worker := self._workers.get(key.data)) is not None:
                self._read_ready(worker)

    def _read_ready(self, worker: _Worker) -> None:
        """The worker's byte (it serves) or the end of its pipe (it is gone): either way the
        pipe has said all it will."""
        if os.read(worker.ready_pipe, 1):
            worker.ready = True
            self._deaths_before_ready = 0
        self._selector.unregister(worker.ready_pipe)
        os.close(worker.ready_pipe)
        worker.ready_pipe = -1

    def _reap(self) -> None:
        while self._workers:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            worker = self._workers.pop(pid, None)
            if worker is None:
                continue
            if worker.ready_pipe >= 0:
                self._read_ready(worker)  # the child is gone: a read does not block
            if self._kill_at is None:
                self._died(worker, status)

    def _died(self, worker: _Worker, status: int) -> None:
        how = _describe(status)
        if worker.ready:
            logger.warning("worker process [%d] %s; starting another", worker.pid, how)
        else:
            self._deaths_before_ready += 1
            if os.waitstatus_to_exitcode(status) == STARTUP_FAILURE:
                self._give_up(f"a worker process failed to start ({how}); see its log above")
                return
            if self._deaths_before_ready >= MAX_START_FAILURES:
                self._give_up(
                    f"{self._deaths_before_ready} worker processes in a row ended before "
                    f"they served (the last {how}); see the log above"
                )
                return
            logger.warning(
                "worker process [%d] %s before it served; starting another", worker.pid, how
            )
        backoff = BACKOFF_SECONDS * 2 ** max(0, self._deaths_before_ready - 1)
        self._restarts.append(time.monotonic() + min(backoff, MAX_BACKOFF_SECONDS))

    def _give_up(self, reason: str) -> None:
        self._failure = reason
        logger.error("%s: stopping the other workers", reason)
        self._stop()

    def _restart_due(self, listening: socket.socket) -> None:
        now = time.monotonic()
        due = [when for when in self._restarts if when <= now]
        self._restarts = [when for when in self._restarts if when > now]
        for _ in due:
            self._fork(listening)


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return (
        f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
    )


def serve(config: uvicorn.Config, workers: int) -> None:
    """Run `workers` forked workers of `config` (see the module's docstring) until stopped."""
    Supervisor(config, workers).run()
