"""Signatures over canonical JSON, and the record schema's rules."""

from __future__ import annotations

import base64
import datetime as dt
import json
import multiprocessing
from pathlib import Path

import pytest
from pydantic import ValidationError

from ektp_sync.signing import Signer, canonical_json, load_public_key, verify
from ektp_sync.synth import generate
from ektp_sync.wire import ATTACHMENTS_TOO_LARGE, ResidentRecord
from local_server.sync.client import item_json


def test_signature_round_trip_and_tampering(tmp_path) -> None:
    signer = Signer.load_or_create(tmp_path / "key.pem")
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    auth = signer.authorise("6172-abc", "6172014506900001", "KTP-1", "2026-11-29T02:00:00+00:00")
    key = load_public_key(signer.public_key_b64)
    assert verify(auth, key)
    assert not verify(auth.model_copy(update={"nik": "6172014506900002"}), key)
    assert not verify(auth.model_copy(update={"signature": "AAAA"}), key)
    other = Signer.load_or_create(tmp_path / "other.pem")
    assert not verify(auth, load_public_key(other.public_key_b64))
    again = Signer.load_or_create(tmp_path / "key.pem")
    assert again.public_key_b64 == signer.public_key_b64


def test_canonical_json_is_the_contracts() -> None:
    fields = {"nik": "1", "approval_no": "2", "submission_id": "3", "issued_at": "4"}
    assert (
        canonical_json(fields) == json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    )
    assert b" " not in canonical_json(fields)


def record() -> dict:
    return dict(generate(1, seed=1)[0].record)


def test_synthetic_record_is_valid() -> None:
    assert ResidentRecord.model_validate(record()).nik == record()["nik"]


def error_types(body: dict) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        ResidentRecord.model_validate(body)
    return [e["type"] for e in caught.value.errors()]


def test_nik_must_agree_with_sex_and_birth_date() -> None:
    body = record()
    body["sex"] = "L" if body["sex"] == "P" else "P"
    assert error_types(body) == ["nik_sex"]
    body = record()
    body["birth_date"] = "1949-01-01"
    assert error_types(body) == ["nik_birth_date"]


def test_wrong_types_unknown_fields_and_attachments() -> None:
    assert "literal_error" in error_types({**record(), "sex": "X"})
    assert "extra_forbidden" in error_types({**record(), "nama": "typo"})
    assert "missing" in error_types({k: v for k, v in record().items() if k != "full_name"})
    big = base64.b64encode(b"x" * (2 * 1024 * 1024 + 1)).decode()
    body = record()
    body["biometrics"] = {**body["biometrics"], "attachments": {"photo": big}}
    assert error_types(body) == [ATTACHMENTS_TOO_LARGE]


def test_processes_creating_the_key_at_once_all_get_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        keys = pool.map(_public_key_of, [path] * 8)
    assert len(set(keys)) == 1
    assert Signer.load_or_create(path).public_key_b64 == keys[0]
    # no candidate left behind; the public key published next to it, for the offices to pin
    assert sorted(p.name for p in path.parent.iterdir()) == ["signing.pem", "signing.pub"]
    assert (path.parent / "signing.pub").read_text() == keys[0] + "\n"


def _public_key_of(path: Path) -> str:
    return Signer.load_or_create(path).public_key_b64


def test_an_item_spliced_from_the_stored_record_is_the_item_of_the_contract() -> None:
    record = {"nik": "6172015201950003", "name": 'Siti "Ani" Ñ', "biometrics": {"template": "AA=="}}
    stored = json.dumps(record, ensure_ascii=False)
    when = dt.datetime(2026, 11, 29, 3, 4, 5, tzinfo=dt.UTC)
    spliced = item_json("6172-abc", "6172", when, stored)
    item = json.loads(spliced)
    assert item == {
        "submission_id": "6172-abc",
        "office_code": "6172",
        "recorded_at": "2026-11-29T03:04:05+00:00",
        "record": record,
    }
