"""The gallery: every enrolled identity's template in one float32 matrix, matched exactly 1:N."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ektp_sync.domain.biometrics import TEMPLATE_DIMENSIONS, Vector

INITIAL_CAPACITY = 1024


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

    def best_other(self, nik: str, template: Vector) -> float | None:
        """Best cosine to identities under other NIKs, or None when there are none."""
        if self._size == 0:
            return None
        scores = self._matrix[: self._size] @ template.astype(np.float32, copy=False)
        own = self._row_of.get(nik)
        if own is not None:
            if self._size == 1:
                return None
            scores[own] = -np.inf
        return float(scores.max())

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self._size, self.max_identity_id)

    def rollback(self, to: Checkpoint) -> None:
        """Forget every row added after `to` (their transaction did not commit)."""
        for nik in self._nik_of[to.size :]:
            del self._row_of[nik]
        del self._nik_of[to.size :]
        self._size = to.size
        self.max_identity_id = to.max_identity_id
