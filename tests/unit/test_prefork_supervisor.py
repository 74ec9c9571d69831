"""The prefork supervisor's rules on its own, with a tiny ASGI app instead of the centre (the
centre's process tree is tested in tests/integration/test_prefork.py): a worker that dies before
it serves is started again after a backoff, and after MAX_START_FAILURES such deaths in a row the
supervisor gives up instead of restarting forever. Each case runs in a process of its own:
forking the test process would copy its threads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ektp_sync.prefork import MAX_START_FAILURES

#: a worker that dies (SIGKILL, not uvicorn's exit status for a failed start) in its lifespan
#: until `lives` files exist in the directory, one more per start; then it serves
_SCRIPT = """
import os, signal, sys
from pathlib import Path
import uvicorn
from ektp_sync import prefork
from ektp_sync.launch import free_port

starts, lives = Path(sys.argv[1]), int(sys.argv[2])
prefork.BACKOFF_SECONDS = 0.01  # the rule is the count, not the wait

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        (starts / str(os.getpid())).touch()
        if len(list(starts.iterdir())) < lives:
            os.kill(os.getpid(), signal.SIGKILL)
        await send({"type": "lifespan.startup.complete"})
        os.kill(os.getppid(), signal.SIGTERM)  # served: stop the supervisor gracefully
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
try:
    prefork.Supervisor(config, 1).run()
except prefork.WorkersFailed as failed:
    print(f"gave up: {failed}")
    sys.exit(7)
print("served")
"""


def _supervise(tmp_path: Path, lives: int) -> subprocess.CompletedProcess[str]:
    starts = tmp_path / "starts"
    starts.mkdir()
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(starts), str(lives)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_workers_dying_before_they_serve_are_restarted_then_given_up(tmp_path: Path) -> None:
    done = _supervise(tmp_path, lives=MAX_START_FAILURES + 10)
    assert done.returncode == 7, done.stdout + done.stderr
    assert (
        f"gave up: {MAX_START_FAILURES} worker processes in a row ended before they served "
        "(the last was killed by SIGKILL)" in done.stdout
    )
    assert len(list((tmp_path / "starts").iterdir())) == MAX_START_FAILURES  # no sixth start


def test_a_worker_that_serves_after_deaths_keeps_the_supervisor_going(tmp_path: Path) -> None:
    done = _supervise(tmp_path, lives=MAX_START_FAILURES)  # the fifth start serves
    assert done.returncode == 0, done.stdout + done.stderr
    assert "served" in done.stdout
    assert len(list((tmp_path / "starts").iterdir())) == MAX_START_FAILURES
