"""Where the gallery's rows live: this process's memory, or shared memory all workers map.

Both hold, per row, the identity's NIK key (int64, see index.py) and its template (float32), and
a published state: how many rows and up to which identity id are committed in the database.
Rows past the published size are a transaction's tentative ones. `SharedRows` keeps them in
files of /dev/shm, which is tmpfs: memory, never a disk (templates are personal data and must
not be on disk in clear), each file 0600 and removed when `serve` ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import numpy as np

from ektp_sync.domain.biometrics import TEMPLATE_DIMENSIONS

#: the environment variable naming the shared rows of one `serve --workers N`
SHARED_ENV = "EKTP_GALLERY_SHM"
ROW_BYTES = 8 + 4 * TEMPLATE_DIMENSIONS
SHM_DIR = Path("/dev/shm")
#: header of the control file: generation of the rows file, published size, max identity id,
#: capacity of the rows file
_HEADER = 4


class Rows(Protocol):
    keys: np.ndarray  # int64, capacity
    matrix: np.ndarray  # float32, capacity × TEMPLATE_DIMENSIONS

    def reserve(self, needed: int, in_use: int) -> None:
        """Room for `needed` rows, keeping the first `in_use`."""

    def published(self) -> tuple[int, int]:
        """(size, max identity id) as last published."""

    def publish(self, size: int, max_identity_id: int) -> None: ...

    def locked(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Held by the one process deciding (with the database's dedup lock) across its whole
        transaction and the publishing after the commit; maps a regrown file anew."""


class PrivateRows:
    """Rows in this process's memory (one worker, tests); growth by doubling."""

    def __init__(self, capacity: int) -> None:
        self.keys = np.zeros(max(capacity, 1), dtype=np.int64)
        self.matrix = np.zeros((max(capacity, 1), TEMPLATE_DIMENSIONS), dtype=np.float32)
        self._published = (0, 0)

    def reserve(self, needed: int, in_use: int) -> None:
        capacity = _grown(len(self.keys), needed)
        if capacity is None:
            return
        keys = np.zeros(capacity, dtype=np.int64)
        matrix = np.zeros((capacity, TEMPLATE_DIMENSIONS), dtype=np.float32)
        keys[:in_use], matrix[:in_use] = self.keys[:in_use], self.matrix[:in_use]
        self.keys, self.matrix = keys, matrix

    def published(self) -> tuple[int, int]:
        return self._published

    def publish(self, size: int, max_identity_id: int) -> None:
        self._published = (size, max_identity_id)

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        yield  # one process: the engine's asyncio lock is enough


class SharedRows:
    """Rows in /dev/shm/<name>.<generation>, mapped by every worker; /dev/shm/<name>.ctl holds the
    header and is the lock (flock) the deciding process holds. A full rows file is replaced by
    one twice as big (next generation); the others map it when they next take the lock."""

    def __init__(self, name: str, capacity: int) -> None:
        self._name = name
        self._ctl_fd = _open(SHM_DIR / f"{name}.ctl", 8 * _HEADER)
        self._ctl = mmap.mmap(self._ctl_fd, 8 * _HEADER)
        self._header = np.frombuffer(self._ctl, dtype=np.int64)
        self._initial = max(capacity, 1)
        self._generation = -1
        self._map: mmap.mmap | None = None
        self.keys = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, TEMPLATE_DIMENSIONS), dtype=np.float32)

    def _rows_path(self, generation: int) -> Path:
        return SHM_DIR / f"{self._name}.{generation}"

    def _map_generation(self) -> None:
        generation, capacity = int(self._header[0]), int(self._header[3])
        if generation == self._generation:
            return
        if capacity == 0:  # the first process here: make generation 1
            self._create(1, self._initial, 0)
            return
        fd = os.open(self._rows_path(generation), os.O_RDWR)
        try:
            self._attach(mmap.mmap(fd, capacity * ROW_BYTES), generation, capacity)
        finally:
            os.close(fd)

    def _create(self, generation: int, capacity: int, in_use: int) -> None:
        path = self._rows_path(generation)
        fd = _open(path, capacity * ROW_BYTES)  # tmpfs: pages only exist once written
        try:
            mapped = mmap.mmap(fd, capacity * ROW_BYTES)
        finally:
            os.close(fd)
        old_keys, old_matrix = self.keys, self.matrix
        self._attach(mapped, generation, capacity)
        self.keys[:in_use], self.matrix[:in_use] = old_keys[:in_use], old_matrix[:in_use]
        previous = self._generation_path_before(generation)
        self._header[0], self._header[3] = generation, capacity
        if previous is not None:
            previous.unlink(missing_ok=True)  # mapped elsewhere: freed when the last unmaps

    def _generation_path_before(self, generation: int) -> Path | None:
        return self._rows_path(generation - 1) if generation > 1 else None

    def _attach(self, mapped: mmap.mmap, generation: int, capacity: int) -> None:
        self.keys = np.frombuffer(mapped, dtype=np.int64, count=capacity)
        self.matrix = np.frombuffer(
            mapped, dtype=np.float32, offset=8 * capacity, count=capacity * TEMPLATE_DIMENSIONS
        ).reshape(capacity, TEMPLATE_DIMENSIONS)
        self._map, self._generation = mapped, generation  # the old map goes with its arrays

    def reserve(self, needed: int, in_use: int) -> None:
        capacity = _grown(len(self.keys), needed)
        if capacity is None:
            return
        self._create(self._generation + 1, capacity, in_use)

    def published(self) -> tuple[int, int]:
        return int(self._header[1]), int(self._header[2])

    def publish(self, size: int, max_identity_id: int) -> None:
        self._header[2] = max_identity_id
        self._header[1] = size

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        await _flock(self._ctl_fd)
        try:
            self._map_generation()
            yield
        finally:
            fcntl.flock(self._ctl_fd, fcntl.LOCK_UN)


def _grown(capacity: int, needed: int) -> int | None:
    """The capacity (doubled as often as it takes) that holds `needed` rows; None when
    `capacity` already does."""
    if needed <= capacity:
        return None
    while capacity < needed:
        capacity *= 2
    return capacity


def _open(path: Path, size: int) -> int:
    """Open (creating 0600) a file of at least `size` bytes."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if os.fstat(fd).st_size < size:
        os.ftruncate(fd, size)
    return fd


async def _flock(fd: int) -> None:
    """Take the exclusive lock without blocking the event loop: polled, 1 ms growing to 20 ms
    (the holder decides a batch in milliseconds to a second)."""
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)


def rows_from_env(capacity: int) -> Rows:
    """Shared rows when this process is one of `serve --workers N` (see `shared_env`)."""
    name = os.environ.get(SHARED_ENV)
    return SharedRows(name, capacity) if name else PrivateRows(capacity)


def shared_env() -> dict[str, str]:
    """A fresh name for the shared rows of the `serve` starting now, in the environment its
    workers inherit; files left by a `serve` that was killed (its pid is gone) are removed."""
    for path in SHM_DIR.glob("ektp-gallery-*"):
        found = re.match(r"ektp-gallery-(\d+)-", path.name)
        if found and not _alive(int(found.group(1))):
            path.unlink(missing_ok=True)
    return {SHARED_ENV: f"ektp-gallery-{os.getpid()}-{secrets.token_hex(6)}"}


def remove_shared(name: str) -> None:
    """Free the shared rows (their memory goes when the last worker has exited)."""
    for path in SHM_DIR.glob(f"{name}.*"):
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
