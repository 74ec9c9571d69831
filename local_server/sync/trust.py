"""Which centre the node believes: its pinned public key, and the check of every decision.

The key is given (`--central-public-key`), not discovered: a node that took whatever key the
first centre it met offered would print the cards a fake centre approved. `--trust-first-key`
(development only) pins the first key seen, loudly, and keeps it. The pin is kept in the
node's database; a configured key replaces it (an operator changing the pin on purpose).

A centre whose /keys offers another key than the pinned one is refused: the node applies none
of its decisions and sends it no records until it offers the pinned key again (/status says
why). Independently, every decision must carry the centre's signature over its fields, and an
approval a print authorisation by the centre for the same submission and NIK; one that does not
is not applied: the record stays as it was, with the reason in its `last_error`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ektp_sync.config import LocalSettings
from ektp_sync.domain.decisions import DecisionStatus
from ektp_sync.signing import fingerprint, load_public_key, verify, verify_decision
from ektp_sync.wire import CentreTrustStatus, Decision
from local_server.store.decisions import PUBLIC_KEY_KEY, Inbox

logger = logging.getLogger(__name__)


class KeyRefused(Exception):
    """The centre offers a key other than the pinned one."""


@dataclass
class _Refusals:
    count: int = 0
    last: str | None = None


class CentreTrust:
    """The pinned key and what was refused under it (shown on /status)."""

    def __init__(self, settings: LocalSettings, inbox: Inbox) -> None:
        self._configured = settings.central_public_key
        self._trust_first = settings.trust_first_key
        self._url = settings.central_url
        self._inbox = inbox
        self._pinned: str | None = None
        self._key: Ed25519PublicKey | None = None
        self.refused_key: str | None = None  # why the centre is refused, None while it is not
        self._decisions = _Refusals()

    async def load(self) -> None:
        """The pin at start: the configured key (stored as the pin), else the stored one."""
        stored = await self._inbox.get(PUBLIC_KEY_KEY)
        if self._configured is not None:
            if stored is not None and stored != self._configured:
                logger.warning(
                    "the centre's key pin changed on purpose: %s replaces %s",
                    fingerprint(self._configured),
                    fingerprint(stored),
                )
            await self._inbox.set(PUBLIC_KEY_KEY, self._configured)
            self._pin(self._configured)
        elif stored is not None:
            self._pin(stored)
            logger.warning(
                "--trust-first-key: the centre's key %s pinned earlier is kept",
                fingerprint(stored),
            )

    def _pin(self, key_b64: str) -> None:
        self._pinned, self._key = key_b64, load_public_key(key_b64)

    @property
    def key(self) -> Ed25519PublicKey | None:
        """The pinned key (None: --trust-first-key and no centre met yet)."""
        return self._key

    async def check_offer(self, offered: str) -> None:
        """The key the centre offers at /keys: pinned now if none is (--trust-first-key);
        KeyRefused if it is not the pinned one."""
        load_public_key(offered)  # refuse garbage before pinning it (ValueError)
        if self._pinned is None and self._trust_first:
            pinned = await self._inbox.pin_public_key(offered)
            self._pin(pinned)
            logger.warning(
                "--trust-first-key: PINNED THE CENTRE'S KEY %s as first offered by %s; every "
                "decision and print authorisation must verify with it from now on. Check the "
                "fingerprint with the centre; in production give --central-public-key instead",
                fingerprint(pinned),
                self._url,
            )
        if offered != self._pinned:
            self.refused_key = (
                f"the centre offers the key {fingerprint(offered)}, not the pinned "
                f"{fingerprint(self._pinned or '')}: none of its decisions is applied and no "
                "record is sent to it until the pin is changed on purpose "
                "(--central-public-key)"
            )
            raise KeyRefused(self.refused_key)
        self.refused_key = None

    def refusal(self, decision: Decision) -> str | None:
        """Why `decision` may not be applied, or None when it is the centre's."""
        if self._key is None:
            return "the centre's key is not pinned yet"
        if not verify_decision(decision, self._key):
            return "the decision's signature does not verify with the pinned centre key"
        if decision.status is DecisionStatus.APPROVED:
            auth = decision.authorisation
            if auth is None:
                return "the approval carries no print authorisation"
            if (auth.submission_id, auth.nik) != (decision.submission_id, decision.nik):
                return "the approval's print authorisation is for another submission or NIK"
            if not verify(auth, self._key):
                return "the approval's print authorisation does not verify with the pinned key"
        return None

    def refused(self, reason: str) -> None:
        self._decisions.count += 1
        self._decisions.last = reason

    def status(self) -> CentreTrustStatus:
        return CentreTrustStatus(
            pinned_key_fingerprint=fingerprint(self._pinned) if self._pinned else None,
            key_refused=self.refused_key,
            decisions_refused=self._decisions.count,
            last_decision_refused=self._decisions.last,
        )
