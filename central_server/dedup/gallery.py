"""The gallery: every enrolled identity's template in one float32 matrix, matched exactly 1:N."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ektp_sync.domain.biometrics import TEMPLATE_DIMENSIONS, Vector

INITIAL_CAPACITY = 1024
#: gallery rows per block of a 1:N block match: 16k rows × 200 probes of float32 scores = 12.5 MiB,
#: small enough to stay near the caches, big enough for BLAS to run at full speed
BLOCK_ROWS = 16_384


@dataclass(frozen=True)
class Checkpoint:
    """Where the gallery stood before a transaction, so a rolled-back one can be undone."""

    size: int
    max_identity_id: int


class Gallery:
    """Unit vectors row by row, NIK → row; grows by doubling so appends stay amortised O(1).

    Rows are only ever appended (identities are never deleted), which makes rollback a
    truncation and lets several processes catch up by reading identities with higher ids.
    """

    def __init__(self, capacity: int = INITIAL_CAPACITY) -> None:
        self._matrix = np.zeros((max(capacity, 1), TEMPLATE_DIMENSIONS), dtype=np.float32)
        self._size = 0
        self._row_of: dict[str, int] = {}
        self._nik_of: list[str] = []
        self.max_identity_id = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, nik: object) -> bool:
        return nik in self._row_of

    def add(self, nik: str, template: Vector) -> None:
        if nik in self._row_of:
            raise ValueError(f"NIK {nik} is already in the gallery")
        if self._size == self._matrix.shape[0]:
            grown = np.zeros((self._matrix.shape[0] * 2, TEMPLATE_DIMENSIONS), dtype=np.float32)
            grown[: self._size] = self._matrix[: self._size]
            self._matrix = grown
        self._matrix[self._size] = template
        self._row_of[nik] = self._size
        self._nik_of.append(nik)
        self._size += 1

    def saw_identity(self, identity_id: int) -> None:
        """Record that identities up to `identity_id` are in the gallery (see catch-up)."""
        self.max_identity_id = max(self.max_identity_id, identity_id)

    def similarity_to(self, nik: str, template: Vector) -> float | None:
        """Cosine to the identity enrolled under `nik`, or None when the NIK is new."""
        row = self._row_of.get(nik)
        if row is None:
            return None
        return float(np.dot(self._matrix[row], template))

    def best_other(self, nik: str, template: Vector, start: int = 0) -> float | None:
        """Best cosine to identities under other NIKs (rows from `start` on), or None."""
        if self._size <= start:
            return None
        scores = self._matrix[start : self._size] @ template.astype(np.float32, copy=False)
        own = self._row_of.get(nik)
        if own is not None and own >= start:
            if self._size - start == 1:
                return None
            scores[own - start] = -np.inf
        return float(scores.max())

    def best_others(self, niks: Sequence[str], probes: Vector) -> list[float | None]:
        """`best_other` for many probes at once (rows of `probes`), against the gallery as it
        stands: one float32 matrix product per block of rows instead of one pass per probe."""
        count = len(niks)
        if count == 0:
            return []
        queries = np.ascontiguousarray(probes, dtype=np.float32).reshape(count, -1)
        best = np.full(count, -np.inf, dtype=np.float32)
        own = np.array([self._row_of.get(nik, -1) for nik in niks], dtype=np.int64)
        scores = np.empty((count, min(BLOCK_ROWS, self._size)), dtype=np.float32)
        for start in range(0, self._size, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, self._size)
            block = scores[:, : stop - start]
            np.matmul(queries, self._matrix[start:stop].T, out=block)
            mine = np.nonzero((own >= start) & (own < stop))[0]
            block[mine, own[mine] - start] = -np.inf  # a probe's own identity is no "other"
            np.maximum(best, block.max(axis=1), out=best)
        return [None if v == -np.inf else float(v) for v in best]

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self._size, self.max_identity_id)

    def rollback(self, to: Checkpoint) -> None:
        """Forget every row added after `to` (their transaction did not commit)."""
        for nik in self._nik_of[to.size :]:
            del self._row_of[nik]
        del self._nik_of[to.size :]
        self._size = to.size
        self.max_identity_id = to.max_identity_id
