"""Ed25519 print authorisations over canonical JSON, as the contract fixes them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ektp_sync.keyfiles import read_or_create
from ektp_sync.wire import Authorisation


def canonical_json(fields: dict[str, str]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


class Signer:
    """The centre's signing key; created on first start and kept as PEM (mode 0600)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """Load the key at `path`, or create it (0600); several processes starting at once agree
        (see `keyfiles.read_or_create`)."""

        def new_pem() -> bytes:
            return Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )

        key = serialization.load_pem_private_key(read_or_create(path, new_pem), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(key)

    @property
    def public_key_b64(self) -> str:
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode("ascii")

    def authorise(
        self, submission_id: str, nik: str, approval_no: str, issued_at: str
    ) -> Authorisation:
        fields = {
            "submission_id": submission_id,
            "nik": nik,
            "approval_no": approval_no,
            "issued_at": issued_at,
        }
        signature = self._key.sign(canonical_json(fields))
        return Authorisation(**fields, signature=base64.b64encode(signature).decode("ascii"))


def load_public_key(public_key_b64: str) -> Ed25519PublicKey:
    raw = base64.b64decode(public_key_b64, validate=True)
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(authorisation: Authorisation, public_key: Ed25519PublicKey) -> bool:
    """True only if the signature is the centre's over exactly these four fields."""
    try:
        signature = base64.b64decode(authorisation.signature, validate=True)
        public_key.verify(signature, canonical_json(authorisation.signed_fields()))
    except (InvalidSignature, ValueError):
        return False
    return True
