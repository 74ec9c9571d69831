"""NIK → gallery row, in ~12 bytes per identity: NIKs as 64-bit keys, a sorted array plus a tail.

A dict of a million NIK strings costs ~150 MB in every process; this costs 12 MB, and the keys
themselves live beside the templates (shared by every worker, see rows.py), so each process
only keeps its own sorted copy for look-ups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

#: tail entries merged into the sorted part at once: at least this many, or 1/16 of the whole
MIN_MERGE = 4096
#: keys of strings that are not 16 digits (tests, benchmarks) live above every real NIK
_NON_NIK = 1 << 62


def nik_key(nik: str) -> int:
    """A real NIK (16 digits, as intake enforces) is its own number, so keys are exact; any other
    text (tests' "A", "B") gets a 62-bit hash above the range of NIKs."""
    if len(nik) == 16 and nik.isascii() and nik.isdigit():
        return int(nik)
    digest = hashlib.blake2b(nik.encode(), digest_size=8).digest()
    return _NON_NIK | (int.from_bytes(digest, "big") & (_NON_NIK - 1))


def nik_keys(niks: Iterable[str]) -> np.ndarray:
    return np.fromiter((nik_key(n) for n in niks), dtype=np.int64)


class NikIndex:
    """Row of each key; rows are appended in order and only ever cut from the end (rollback)."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int32)  # 2³¹ identities is room enough
        self._tail: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys) + len(self._tail)

    def get(self, key: int) -> int:
        """The row of `key`, or -1."""
        row = self._tail.get(key)
        if row is not None:
            return row
        at = int(np.searchsorted(self._keys, key))
        if at < len(self._keys) and self._keys[at] == key:
            return int(self._rows[at])
        return -1

    def get_many(self, keys: np.ndarray) -> np.ndarray:
        """Rows of `keys` (-1 where absent)."""
        found = np.full(len(keys), -1, dtype=np.int64)
        if len(self._keys):
            at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            hit = self._keys[at] == keys
            found[hit] = self._rows[at[hit]]
        if self._tail:
            for i, key in enumerate(keys.tolist()):
                row = self._tail.get(key)
                if row is not None:
                    found[i] = row
        return found

    def add(self, key: int, row: int) -> None:
        self._tail[key] = row
        self._maybe_merge()

    def add_many(self, keys: np.ndarray, first_row: int) -> None:
        """Keys of rows first_row, first_row + 1, …"""
        if len(keys) >= MIN_MERGE:
            rows = np.arange(first_row, first_row + len(keys), dtype=np.int32)
            self._merge(keys, rows)
            return
        self._tail.update(zip(keys.tolist(), range(first_row, first_row + len(keys)), strict=True))
        self._maybe_merge()

    def truncate(self, size: int) -> None:
        """Forget every row from `size` on."""
        self._tail = {k: r for k, r in self._tail.items() if r < size}
        if len(self._rows) and int(self._rows.max(initial=-1)) >= size:
            keep = self._rows < size
            self._keys, self._rows = self._keys[keep], self._rows[keep]

    def _maybe_merge(self) -> None:
        if len(self._tail) >= max(MIN_MERGE, len(self._keys) // 16):
            keys = np.fromiter(self._tail.keys(), dtype=np.int64, count=len(self._tail))
            rows = np.fromiter(self._tail.values(), dtype=np.int32, count=len(self._tail))
            self._tail = {}
            self._merge(keys, rows)

    def _merge(self, keys: np.ndarray, rows: np.ndarray) -> None:
        all_keys = np.concatenate([self._keys, keys])
        order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[order]
        self._rows = np.concatenate([self._rows, rows])[order]
