"""Rotating the centre's signing key without stopping the offices: the next key is announced
ahead, signed by the current one, and used from a set time.

Before `valid_from` the centre signs with its current key and `GET /keys` also offers the next
one (`next`: its public key, id and start, signed by the current key); from `valid_from` on it
signs with the next key and offers that one. An office that pinned the current key accepts the
announced key as soon as it has seen the announcement verify under its pin (both keys during
the overlap), moves its pin to it when the centre starts offering it, and keeps the old key for
the print authorisations it already holds.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ektp_sync.signing import Signer, key_id, verifies
from ektp_sync.wire import NextKey, PublicKey


class RotatingSigner(Signer):
    """The current key until `valid_from`, the next one from then on."""

    def __init__(self, current: Signer, following: Signer, valid_from: dt.datetime) -> None:
        super().__init__(current.active_key())
        self._next = following.active_key()
        self._from = valid_from
        self._announcement = NextKey(
            public_key=following.public_key_b64,
            key_id=key_id(following.public_key_b64),
            valid_from=valid_from.isoformat(),
            signature="",
        )
        self._announcement.signature = self.sign_fields(
            self._announcement.signed_fields(), current.active_key()
        )

    def active_key(self) -> Ed25519PrivateKey:
        return self._next if dt.datetime.now(dt.UTC) >= self._from else super().active_key()

    def published(self) -> PublicKey:
        announced = dt.datetime.now(dt.UTC) < self._from
        return PublicKey(
            public_key=self.public_key_b64,
            key_id=self.key_id,
            next=self._announcement if announced else None,
        )


def verify_announcement(announced: NextKey, current: Ed25519PublicKey) -> bool:
    """True only if the current key signed this announcement of the next one."""
    return verifies(announced.signature, announced.signed_fields(), current)
