"""Personal data at rest: AES-256-GCM sealing and keyed lookup hashes under one data key.

Both servers keep names, addresses, templates and attachments sealed in their databases. The
data key (32 random bytes, `<data-dir>/data.key`, 0600, or `--data-key-file`) never is the
cipher key itself: HKDF derives one key to seal with and one to hash with, so a lookup hash
reveals nothing about the sealing key and the two uses can never be confused.

A sealed value is `version (1 byte) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`. The caller names
what the value is (`context`, e.g. b"records.payload:<record id>"); it is bound in as associated
data, so a sealed value copied into another row or column does not open there.

What must stay searchable (a NIK, to find a person's records or an enrolled identity) is stored
beside the sealed value as `lookup(value)`: an HMAC-SHA256, equal for equal inputs, useless
without the data key (a plain hash of a 16-digit NIK would fall to enumeration in seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ektp_sync.keyfiles import read_or_create

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = b"\x01"
#: bytes a sealed value adds to its plaintext: version, nonce and tag
OVERHEAD = len(VERSION) + NONCE_BYTES + 16


#: what a server says when its data key does not open its database's data
WRONG_KEY = (
    "the data key does not open the personal data in this database: start the server with the "
    "key the database was sealed under (--data-key-file, default <data-dir>/data.key)"
)


class SealError(ValueError):
    """A sealed value did not open: tampered with, truncated, or sealed under another key or
    for another context."""


class DataKey:
    """The data key of one server, and the two keys derived from it."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(_derive(key, b"ektp-sync seal v1"))
        self._mac_key = _derive(key, b"ektp-sync lookup v1")

    @classmethod
    def load_or_create(cls, path: Path) -> DataKey:
        """The key in `path`, created (0600) on first start; concurrent starts agree."""
        raw = read_or_create(path, lambda: os.urandom(KEY_BYTES))
        return cls(raw)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if len(sealed) < OVERHEAD or sealed[:1] != VERSION:
            raise SealError("not a sealed value of this version")
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + NONCE_BYTES :], context)
        except InvalidTag:
            raise SealError("sealed value does not open with this key and context") from None

    def seal_text(self, text: str, context: bytes) -> bytes:
        return self.seal(text.encode("utf-8"), context)

    def open_text(self, sealed: bytes, context: bytes) -> str:
        return self.open(sealed, context).decode("utf-8")

    def lookup(self, value: str, purpose: str = "nik") -> str:
        """Keyed hash of `value` for equality search (hex, 64 characters)."""
        message = purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)
