"""Which centre the node believes: its pinned public key, and the check of every decision.

The key is given (`--central-public-key`), not discovered: a node that took whatever key the
first centre it met offered would print the cards a fake centre approved. `--trust-first-key`
(development only) pins the first key seen, loudly, and keeps it. The pin is kept in the
node's database; a configured key replaces it (an operator changing the pin on purpose).

A centre whose /keys offers another key than the pinned one is refused: the node applies none
of its decisions and sends it no records until it offers the pinned key again (/status says
why). Independently, every decision must carry the centre's signature over its fields, and an
approval a print authorisation for the same submission and NIK (whose own signature is checked
at print); one that does not is not applied: the record stays as it was, with the reason in its
`last_error`.

Rotation (`ektp_sync.rotation`): a next key the centre announces at /keys, signed by the pinned
key, is accepted as well from then on (the overlap); when the centre offers it as its key, the
pin moves to it, and the old key is kept for the authorisations signed before.
"""

from __future__ import annotations

import json
import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ektp_sync.config import LocalSettings
from ektp_sync.domain.decisions import DecisionStatus
from ektp_sync.rotation import verify_announcement
from ektp_sync.signing import fingerprint, load_public_key, verify, verify_decision
from ektp_sync.wire import Authorisation, CentreTrustStatus, Decision, PublicKey
from local_server.store.decisions import PUBLIC_KEY_KEY, Inbox

logger = logging.getLogger(__name__)

#: the keys accepted besides the pin (announced next keys, keys rotated away), JSON list
ACCEPTED_KEYS_KEY = "central_accepted_keys"
#: how many of them are kept (the oldest are forgotten)
MAX_ACCEPTED = 4


class KeyRefused(Exception):
    """The centre offers a key other than the pinned one (nor one it announced under it)."""


class CentreTrust:
    """The pinned key, the keys accepted besides it, and what was refused (for /status)."""

    def __init__(self, settings: LocalSettings, inbox: Inbox) -> None:
        self._configured = settings.central_public_key
        self._trust_first = settings.trust_first_key
        self._url = settings.central_url
        self._inbox = inbox
        self._pinned: str | None = None
        self._accepted: list[str] = []
        self._keys: list[Ed25519PublicKey] = []
        self.refused_key: str | None = None  # why the centre is refused, None while it is not
        self._refused_decisions = 0
        self._last_refusal: str | None = None

    async def load(self) -> None:
        """The pin at start: the configured key (stored as the pin), else the stored one."""
        stored = await self._inbox.get(PUBLIC_KEY_KEY)
        self._accepted = json.loads(await self._inbox.get(ACCEPTED_KEYS_KEY) or "[]")
        pin = self._configured or stored
        if self._configured is not None and stored not in (None, self._configured):
            if self._configured in self._accepted:
                # a key of a signed rotation (the one rotated away, or the one announced):
                # the pin the rotation left stays, the configured key stays accepted
                pin = stored
                logger.info(
                    "the configured centre key %s is one of a signed rotation this node "
                    "follows; the pin %s is kept",
                    fingerprint(self._configured),
                    fingerprint(stored or ""),
                )
            else:
                logger.warning(
                    "the centre's key pin changed on purpose: %s replaces %s",
                    fingerprint(self._configured),
                    fingerprint(stored or ""),
                )
        if pin is not None:
            await self._set_pin(pin)
            if self._configured is None:
                logger.warning(
                    "--trust-first-key: the centre's key %s pinned earlier is kept",
                    fingerprint(pin),
                )

    async def _set_pin(self, key_b64: str) -> None:
        await self._inbox.set(PUBLIC_KEY_KEY, key_b64)
        self._pinned = key_b64
        if key_b64 in self._accepted:  # the announced key became the pin
            self._accepted = [k for k in self._accepted if k != key_b64]
            await self._inbox.set(ACCEPTED_KEYS_KEY, json.dumps(self._accepted))
        self._refresh()

    def _refresh(self) -> None:
        pinned = [self._pinned] if self._pinned else []
        self._keys = [load_public_key(k) for k in [*pinned, *self._accepted] if k]

    async def _accept(self, key_b64: str) -> None:
        if key_b64 in self._accepted or key_b64 == self._pinned:
            return
        self._accepted = [*self._accepted, key_b64][-MAX_ACCEPTED:]
        await self._inbox.set(ACCEPTED_KEYS_KEY, json.dumps(self._accepted))
        self._refresh()

    @property
    def key(self) -> Ed25519PublicKey | None:
        """The pinned key (None: --trust-first-key and no centre met yet)."""
        return self._keys[0] if self._pinned else None

    async def check_offer(self, offer: PublicKey) -> None:
        """The keys the centre offers at /keys: pinned now if none is (--trust-first-key); an
        announced next key accepted if the pin signed it; the pin moved to an offered key that
        was announced so; KeyRefused if the offered key is none of these."""
        offered = offer.public_key
        load_public_key(offered)  # refuse garbage before pinning it (ValueError)
        if self._pinned is None and self._trust_first:
            await self._set_pin(await self._inbox.pin_public_key(offered))
            logger.warning(
                "--trust-first-key: PINNED THE CENTRE'S KEY %s as first offered by %s; every "
                "decision and print authorisation must verify with it from now on. Check the "
                "fingerprint with the centre; in production give --central-public-key instead",
                fingerprint(offered),
                self._url,
            )
        if offer.next is not None and self._pinned is not None:
            pinned_key = load_public_key(self._pinned)
            if verify_announcement(offer.next, pinned_key):
                if offer.next.public_key not in self._accepted:
                    logger.warning(
                        "the centre announced its next key %s (id %s), signing from %s; "
                        "accepted besides the pinned one",
                        fingerprint(offer.next.public_key),
                        offer.next.key_id,
                        offer.next.valid_from,
                    )
                await self._accept(offer.next.public_key)
            else:
                logger.error("the centre's announcement of a next key does not verify; ignored")
        if offered != self._pinned and offered in self._accepted:
            old = self._pinned
            await self._set_pin(offered)
            if old is not None:
                await self._accept(old)  # for the authorisations signed before
            logger.warning(
                "the centre now signs with its announced key %s; pinned (the previous key %s "
                "is kept for authorisations issued before)",
                fingerprint(offered),
                fingerprint(old or ""),
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

    def authorised(self, authorisation: Authorisation) -> bool:
        """Whether a key the node accepts signed this authorisation."""
        return any(verify(authorisation, key) for key in self._keys)

    def refusal(self, decision: Decision) -> str | None:
        """Why `decision` may not be applied, or None when it is the centre's."""
        if not self._keys:
            return "the centre's key is not pinned yet"
        if not any(verify_decision(decision, key) for key in self._keys):
            return "the decision's signature does not verify with the pinned centre key"
        if decision.status is DecisionStatus.APPROVED:
            auth = decision.authorisation
            if auth is None:
                return "the approval carries no print authorisation"
            if (auth.submission_id, auth.nik) != (decision.submission_id, decision.nik):
                return "the approval's print authorisation is for another submission or NIK"
            # its own signature is checked where it counts, at print: one verification per
            # decision here, not two, keeps a backlog's drain fast (docs/performance.md)
        return None

    def refused(self, reason: str) -> None:
        self._refused_decisions += 1
        self._last_refusal = reason

    def status(self) -> CentreTrustStatus:
        return CentreTrustStatus(
            pinned_key_fingerprint=fingerprint(self._pinned) if self._pinned else None,
            accepted_key_fingerprints=[fingerprint(k) for k in self._accepted],
            key_refused=self.refused_key,
            decisions_refused=self._refused_decisions,
            last_decision_refused=self._last_refusal,
        )
