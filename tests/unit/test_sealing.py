"""Sealing personal data at rest, keyed lookup hashes, and secret files created 0600."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from ektp_sync.sealing import OVERHEAD, DataKey, SealError


def test_seal_round_trip_hides_the_plaintext(tmp_path: Path) -> None:
    key = DataKey.load_or_create(tmp_path / "data.key")
    sealed = key.seal_text("SITI RAHAYU, Jl. Diponegoro 7", b"records.payload:1")
    assert b"SITI" not in sealed and b"Diponegoro" not in sealed
    assert len(sealed) == len("SITI RAHAYU, Jl. Diponegoro 7") + OVERHEAD
    assert key.open_text(sealed, b"records.payload:1") == "SITI RAHAYU, Jl. Diponegoro 7"
    # a fresh nonce each time: equal plaintexts do not give equal ciphertexts
    assert key.seal_text("x", b"c") != key.seal_text("x", b"c")


def test_a_sealed_value_opens_only_in_its_context_and_untampered(tmp_path: Path) -> None:
    key = DataKey.load_or_create(tmp_path / "data.key")
    sealed = key.seal(b"template bytes", b"records.payload:1")
    with pytest.raises(SealError):
        key.open(sealed, b"records.payload:2")  # copied into another row
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(SealError):
        key.open(bytes(flipped), b"records.payload:1")
    with pytest.raises(SealError):
        key.open(sealed[:10], b"records.payload:1")
    other = DataKey.load_or_create(tmp_path / "other.key")
    with pytest.raises(SealError):
        other.open(sealed, b"records.payload:1")


def test_lookup_is_keyed_stable_and_purpose_bound(tmp_path: Path) -> None:
    key = DataKey.load_or_create(tmp_path / "data.key")
    nik = "6172014506900001"
    assert key.lookup(nik) == DataKey.load_or_create(tmp_path / "data.key").lookup(nik)
    assert key.lookup(nik) != key.lookup("6172014506900002")
    assert key.lookup(nik) != key.lookup(nik, purpose="name")
    assert key.lookup(nik) != DataKey.load_or_create(tmp_path / "other.key").lookup(nik)
    assert nik not in key.lookup(nik)


def test_the_key_file_is_private(tmp_path: Path) -> None:
    DataKey.load_or_create(tmp_path / "keys" / "data.key")
    path = tmp_path / "keys" / "data.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_bytes()) == 32
    assert not list(path.parent.glob("*.tmp"))


def _lookup_in_child(path: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(DataKey.load_or_create(Path(path)).lookup("6172014506900001"))


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(target=_lookup_in_child, args=(str(tmp_path / "k"), out)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    seen = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(seen) == 1
