"""Summarise py-spy's raw (collapsed) stacks: `python -m bench.profile DIR_OR_FILE [--top N]`.

For each file, the share of samples spent in each function itself (self) and below it
(inclusive, restricted to our own packages and the drivers), which is what docs/performance.md
quotes. Idle samples (the event loop waiting in epoll, threads waiting on a queue) are counted
separately, so the shares are of the time the process was busy.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

IDLE = (
    "EpollSelector.select",
    "_connection_worker_thread (aiosqlite/core.py:59)",
    "wait (threading",
)
OURS = ("ektp_sync/", "central_server/", "local_server/", "aiosqlite/", "sqlalchemy/", "httpx/")


def summarise(path: Path, top: int) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    idle = busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        n = int(count)
        if any(frames[-1].startswith(i) or i in frames[-1] for i in IDLE):
            idle += n
            continue
        busy += n
        own[frames[-1]] += n
        for frame in set(frames):
            if any(o in frame for o in OURS):
                inclusive[frame] += n
    total = max(busy, 1)
    lines = [f"== {path.name}: {busy} busy samples, {idle} idle"]
    lines += [f"  {n / total:6.1%} self  {f[:120]}" for f, n in own.most_common(top)]
    lines += [f"  {n / total:6.1%} incl  {f[:120]}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    files = sorted(args.path.glob("*.txt")) if args.path.is_dir() else [args.path]
    for file in files:
        print(summarise(file, args.top))


if __name__ == "__main__":
    main()
