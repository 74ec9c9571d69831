"""Ed25519 signatures of the centre over canonical JSON, as the contract fixes them: print
authorisations and the decisions of the feed; the public key's forms (base64, PEM, fingerprint)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ektp_sync.keyfiles import read_or_create
from ektp_sync.wire import Authorisation, Decision, PublicKey

logger = logging.getLogger(__name__)


class KeyFormatError(ValueError):
    """Text that is not an Ed25519 public key; the message says what was expected."""


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
        signer = cls(key)
        signer.publish(public_key_path(path))
        return signer

    def publish(self, path: Path) -> None:
        """Write the public key (base64) to `path` for the offices' `--central-public-key
        @FILE`; it is no secret, but it is what an office pins, so it is replaced atomically."""
        text = self.public_key_b64 + "\n"
        try:
            if path.exists() and path.read_text(encoding="ascii") == text:
                return
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            # 0600 like every file of the data dir (no secret, but the rule has no exceptions)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(text)
            tmp.replace(path)
        except OSError as exc:  # a read-only key directory: the key is still served at /keys
            logger.warning("could not write the public key to %s: %s", path, exc)

    def active_key(self) -> Ed25519PrivateKey:
        """The key signing now (a rotating signer switches at a set time)."""
        return self._key

    @property
    def public_key_b64(self) -> str:
        return public_key_b64(self.active_key())

    @property
    def key_id(self) -> str:
        """A short name of the key signing now (from its fingerprint)."""
        return key_id(self.public_key_b64)

    def published(self) -> PublicKey:
        """What `GET /keys` answers: the key signing now (and, rotating, the next one)."""
        return PublicKey(public_key=self.public_key_b64, key_id=self.key_id)

    def authorise(
        self, submission_id: str, nik: str, approval_no: str, issued_at: str
    ) -> Authorisation:
        fields = {
            "submission_id": submission_id,
            "nik": nik,
            "approval_no": approval_no,
            "issued_at": issued_at,
        }
        return Authorisation(**fields, signature=self._sign(fields))

    def sign_decision(self, decision: Decision) -> Decision:
        """The decision with its `signature` (over its fields but the authorisation)."""
        return decision.model_copy(update={"signature": self._sign(decision.signed_fields())})

    def _sign(self, fields: dict[str, str]) -> str:
        return self.sign_fields(fields, self.active_key())

    @staticmethod
    def sign_fields(fields: dict[str, str], key: Ed25519PrivateKey) -> str:
        return base64.b64encode(key.sign(canonical_json(fields))).decode("ascii")


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(public_key_b64: str) -> str:
    """A key's id: the first 16 characters of its fingerprint's digest."""
    return fingerprint(public_key_b64).removeprefix("SHA256:")[:16]


def public_key_path(signing_key: Path) -> Path:
    """Where the centre publishes the public key of the signing key at `signing_key`."""
    return signing_key.with_suffix(".pub")


def public_key_b64_of(text: str) -> str:
    """The base64 of the 32 raw bytes of the Ed25519 public key in `text`: that base64
    itself, or a PEM public key (SubjectPublicKeyInfo)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise KeyFormatError("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFormatError("the PEM key is not an Ed25519 public key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")
    try:
        load_public_key(text)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            "not an Ed25519 public key (base64 of 32 bytes, or a PEM public key)"
        ) from None
    return text


def fingerprint(public_key_b64: str) -> str:
    """A short, comparable name of a public key: SHA256 of its raw bytes, as ssh shows them."""
    digest = hashlib.sha256(base64.b64decode(public_key_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def load_public_key(public_key_b64: str) -> Ed25519PublicKey:
    raw = base64.b64decode(public_key_b64, validate=True)
    return Ed25519PublicKey.from_public_bytes(raw)


def verifies(signature_b64: str | None, fields: dict[str, str], key: Ed25519PublicKey) -> bool:
    if not signature_b64:
        return False
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), canonical_json(fields))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify(authorisation: Authorisation, public_key: Ed25519PublicKey) -> bool:
    """True only if the signature is the centre's over exactly these four fields."""
    return verifies(authorisation.signature, authorisation.signed_fields(), public_key)


def verify_decision(decision: Decision, public_key: Ed25519PublicKey) -> bool:
    """True only if the decision's signature is the centre's over its fields (authorisation
    aside: it carries a signature of its own)."""
    return verifies(decision.signature, decision.signed_fields(), public_key)
