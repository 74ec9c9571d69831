"""Secret files (signing key, data key, operator token): created once, 0600, race-free; and
the data dir and databases made their owner's only.

Several processes may start at once on a fresh data dir (the centre's `--workers N`); they must
all end up with the same secret. Each writes a candidate to a file of its own, with mode 0600
from the first byte (never readable by others, even for a moment), then hard-links it into
place: the link fails if another process got there first, and then everyone reads the winner's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The contents of `path`, created with `make()` (mode 0600) if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(make())
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # another process won the race: its secret is the one
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()


def private_file(path: Path) -> None:
    """Make an existing file (a database, a log) readable by its owner only."""
    with contextlib.suppress(FileNotFoundError):
        path.chmod(0o600)


def private_dir(path: Path) -> None:
    """Create `path` (0700), or make an existing one its owner's only: it holds keys and
    databases of personal data."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
