"""The gallery: every enrolled identity's template in one float32 matrix, matched exactly 1:N."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np

from central_server.dedup.index import NikIndex, nik_key, nik_keys
from central_server.dedup.matching import best_scores
from central_server.dedup.rows import PrivateRows, Rows
from ektp_sync.domain.biometrics import Vector

INITIAL_CAPACITY = 1024


@dataclass(frozen=True)
class Checkpoint:
    """Where the gallery stood before a transaction, so a rolled-back one can be undone."""

    size: int
    max_identity_id: int


class Gallery:
    """Unit vectors row by row with their NIK's key, and a NIK → row index of this process.

    Rows are only ever appended (identities are never deleted), which makes rollback a
    truncation and lets several processes catch up by reading identities with higher ids. The
    rows themselves may be shared by all workers (`rows.SharedRows`); then `locked()` brings this
    process's view up to what the others published, and `publish()` shows them what this one
    committed.
    """

    def __init__(self, capacity: int = INITIAL_CAPACITY, rows: Rows | None = None) -> None:
        self._rows: Rows = rows if rows is not None else PrivateRows(capacity)
        self._size = 0
        self._published = 0  # rows this process knows to be published (by anyone)
        self._index = NikIndex()
        self.max_identity_id = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, nik: object) -> bool:
        return isinstance(nik, str) and self._index.get(nik_key(nik)) >= 0

    @property
    def matrix(self) -> np.ndarray:
        """The rows in use (a view; do not keep it across a transaction: the rows may move)."""
        return self._rows.matrix[: self._size]

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Around a whole decision transaction: exclusive across processes sharing the rows, and
        this process's view brought to the published state (tentative rows of a transaction that
        never published are dropped; the database catch-up brings committed ones back)."""
        async with self._rows.locked():
            size, max_identity_id = self._rows.published()
            known = min(self._size, self._published)  # rows past it were never published
            self._index.truncate(known)
            if size > known:
                self._index.add_many(self._rows.keys[known:size].copy(), known)
            self._size = self._published = size
            self.max_identity_id = max_identity_id
            yield

    def publish(self) -> None:
        """Show the rows and identity ids committed so far to the other processes."""
        self._rows.publish(self._size, self.max_identity_id)
        self._published = self._size

    def add(self, nik: str, template: Vector) -> None:
        if nik in self:
            raise ValueError(f"NIK {nik} is already in the gallery")
        self.add_many([nik], np.asarray(template, dtype=np.float32).reshape(1, -1))

    def add_many(self, niks: Sequence[str], templates: np.ndarray) -> None:
        """Append identities whose NIKs are not in the gallery yet (the caller checks)."""
        count, start = len(niks), self._size
        self._rows.reserve(start + count, start)
        keys = nik_keys(niks)
        self._rows.keys[start : start + count] = keys
        self._rows.matrix[start : start + count] = templates
        if count == 1:
            self._index.add(int(keys[0]), start)
        else:
            self._index.add_many(keys, start)
        self._size += count

    def rows_of(self, niks: Sequence[str]) -> np.ndarray:
        """Row of each NIK (-1: not in the gallery)."""
        return self._index.get_many(nik_keys(niks))

    def saw_identity(self, identity_id: int) -> None:
        """Record that identities up to `identity_id` are in the gallery (see catch-up)."""
        self.max_identity_id = max(self.max_identity_id, identity_id)

    def similarity_to(self, nik: str, template: Vector) -> float | None:
        """Cosine to the identity enrolled under `nik`, or None when the NIK is new."""
        row = self._index.get(nik_key(nik))
        if row < 0:
            return None
        return float(np.dot(self._rows.matrix[row], template))

    def best_other(self, nik: str, template: Vector, start: int = 0) -> float | None:
        """Best cosine to identities under other NIKs (rows from `start` on), or None."""
        if self._size <= start:
            return None
        own = self._index.get(nik_key(nik))
        own = own - start if own >= start else -1
        query = np.asarray(template, dtype=np.float32).reshape(1, -1)
        best = best_scores(self.matrix[start:], query, np.array([own], dtype=np.int64))[0]
        return None if best == -np.inf else float(best)

    def best_others(self, niks: Sequence[str], probes: Vector) -> list[float | None]:
        """`best_other` for many probes at once (rows of `probes`), against the gallery as it
        stands: one pass over the rows for all of them (matching.py)."""
        count = len(niks)
        if count == 0:
            return []
        queries = np.ascontiguousarray(probes, dtype=np.float32).reshape(count, -1)
        best = best_scores(self.matrix, queries, self.rows_of(niks))
        return [None if v == -np.inf else float(v) for v in best]

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self._size, self.max_identity_id)

    def rollback(self, to: Checkpoint) -> None:
        """Forget every row added after `to` (their transaction did not commit)."""
        self._index.truncate(to.size)
        self._size = to.size
        self.max_identity_id = to.max_identity_id
