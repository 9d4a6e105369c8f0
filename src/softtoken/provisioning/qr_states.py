"""The stored states of a QR activation: the issuer's :class:`PendingQR` and the app's
:class:`AppQRState`, with their outcomes, each with one strict byte format.

The protocol that moves them is :mod:`softtoken.provisioning.qr_activation`. Both hold secrets
while open (a private key; the issuer's password verifier) and must be sealed at rest.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

import attrs

from softtoken._checks import MAX_ATTEMPTS, check_bytes, check_counter, check_int, valid_or_none
from softtoken._secret import SECRET
from softtoken.exceptions import InvalidInput, InvalidRecord
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import TokenParams
from softtoken.provisioning.qr_messages import (
    KEY_BYTES,
    MAC_BYTES,
    Offer,
)

__all__ = ["DEFAULT_ATTEMPTS", "AppQRState", "Outcome", "PendingQR"]

DEFAULT_ATTEMPTS: Final = 5
"""Wrong passwords an activation allows by default."""


# --------------------------------------------------------------------------------------------
# The issuer's pending value
# --------------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    """What :func:`accept` did with a request. Only ACCEPTED is a success; the user is told one
    refusal (``ActivationRefused``), and the audit trail records the member."""

    ACCEPTED = "accepted"
    """The proof held: the activation is done, and the secret and response are returned."""
    WRONG_PROOF = "wrong_proof"
    """A wrong password or an altered request: one attempt counted, others remain."""
    SPENT_NOW = "spent_now"
    """A wrong proof that used the last attempt: the activation is closed."""
    SPENT = "spent"
    """Refused unevaluated: the attempts were spent already."""
    EXPIRED = "expired"
    """Refused unevaluated: the offer has expired. The first such refusal erases the keys, so
    that nothing completes the activation afterwards, whatever a clock says."""
    REPLAYED = "replayed"
    """Refused unevaluated: the activation is done already (a replay, or a second device)."""
    FOREIGN = "foreign"
    """Refused unevaluated: the request names another activation id."""


# Stored codes, 1 onwards; append only.
_OUTCOMES: Final = tuple(Outcome)


@attrs.frozen
class PendingQR:
    """The issuer's state of one QR activation. Secret while open: store it sealed.

    Only states that :func:`start` and a sequence of :func:`accept` calls can produce are
    constructed or read back: an activation closes once (done, spent or expired) and then keeps
    no key, the last outcome is one its state can follow, and the version counts exactly the
    changes that could lead there.

    Attributes:
        offer: the offer shown (serial, params, activation id, expiry, public key, URL, and
            the bank's signature).
        private_key: the issuer's X25519 private key; None once closed.
        verifier: what the issuer keeps of the password (never the password); None once
            closed.
        attempts: wrong proofs that close the activation, 1 to :data:`MAX_ATTEMPTS`.
        failures: wrong proofs counted, 0 to *attempts*; at *attempts* the activation is spent.
        done: a request was accepted; every later one is refused.
        expired: a request came at or after the expiry, which closed the activation.
        last_outcome: what :func:`accept` did last, for the audit; None before any change.
        version: grows by one at every change, for a store's compare-and-set.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range, or a state no sequence reaches.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes | None = attrs.field(kw_only=True, **SECRET)
    verifier: bytes | None = attrs.field(kw_only=True, **SECRET)
    attempts: int = attrs.field(default=DEFAULT_ATTEMPTS, kw_only=True)
    failures: int = attrs.field(default=0, kw_only=True)
    done: bool = attrs.field(default=False, kw_only=True)
    expired: bool = attrs.field(default=False, kw_only=True)
    last_outcome: Outcome | None = attrs.field(default=None, kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer):
            raise TypeError("offer must be Offer")
        if type(self.done) is not bool or type(self.expired) is not bool:
            raise TypeError("done and expired must be bool")
        if self.last_outcome is not None and not isinstance(self.last_outcome, Outcome):
            raise TypeError("last_outcome must be Outcome or None")
        check_int(self.attempts, "attempts", 1, MAX_ATTEMPTS)
        check_int(self.failures, "failures", 0, self.attempts)
        check_counter(self.version, "version")
        if self.done + self.expired + self.spent > 1:
            raise InvalidInput("an activation closes once: done, spent or expired")
        for key, name in ((self.private_key, "private_key"), (self.verifier, "verifier")):
            if key is not None:
                check_bytes(key, name, KEY_BYTES)
            if (key is not None) != self.open:
                raise InvalidInput("the keys are kept exactly while the activation is open")
        if not _reachable(self):
            raise InvalidInput("no sequence of requests leads to this activation state")

    @property
    def serial(self) -> Serial:
        """The serial being activated."""
        return self.offer.serial

    @property
    def spent(self) -> bool:
        """Every attempt was used by a wrong proof."""
        return self.failures == self.attempts

    @property
    def open(self) -> bool:
        """Neither done, nor spent, nor expired: a request may still be evaluated."""
        return not (self.done or self.expired or self.spent)

    @property
    def remaining(self) -> int:
        """Wrong proofs still allowed; 0 once closed."""
        return self.attempts - self.failures if self.open else 0

    def to_bytes(self) -> bytes:
        """``b"QP"``, format 2, flags (1: bit 0 done, bit 1 expired), version (8), attempts
        (1), failures (1), last outcome (1; 0 for none), offer length (2), the offer's text,
        then the private key and verifier (32 each) while open. It holds secrets: seal it."""
        flags = (_DONE if self.done else 0) | (_EXPIRED if self.expired else 0)
        last = 0 if self.last_outcome is None else _OUTCOMES.index(self.last_outcome) + 1
        offer = self.offer.to_bytes()
        head = _PENDING.pack(
            b"QP",
            _PENDING_FORMAT,
            flags,
            self.version,
            self.attempts,
            self.failures,
            last,
            len(offer),
        )
        return head + offer + (self.private_key or b"") + (self.verifier or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingQR:
        """Read :meth:`to_bytes` strictly: the layout, and a state that some sequence of
        requests reaches. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("a pending QR activation must be bytes")
        pending = _read_pending(data)
        if pending is None:
            raise InvalidRecord("not a pending QR activation of a known format")
        return pending


_DONE: Final = 0x01
_EXPIRED: Final = 0x02
# Format 1 (protocol version 1, unsigned offers) kept a throttle state with a version of its
# own; format 2 keeps the failure count, and one version.
_PENDING_FORMAT: Final = 2
_PENDING: Final = struct.Struct(">2sBBQBBBH")


def _reachable(p: PendingQR) -> bool:
    """Whether :func:`start` and some sequence of :func:`accept` calls produce *p*'s counts,
    last outcome and version (the keys, flags and ranges are checked by the constructor).

    Each change adds one to the version, and each wrong proof one failure. A refusal that is
    already the last outcome changes nothing, so repeated refusals of one kind cost a version
    only when another outcome comes between. With f failures, an open value was changed f times
    by wrong proofs and at most once before each, and once after, by a FOREIGN request: from f
    to 2f + 1 changes. Closing adds one change; after it, two refusals may alternate forever.
    """
    f, last, version = p.failures, p.last_outcome, p.version
    bounds: dict[Outcome | None, tuple[int, int | None]]
    if p.done:
        bounds = {
            Outcome.ACCEPTED: (f + 1, 2 * f + 2),
            Outcome.REPLAYED: (f + 2, None),
            Outcome.FOREIGN: (f + 2, None),
        }
    elif p.spent:
        # The last failure was the SPENT_NOW change itself.
        bounds = {
            Outcome.SPENT_NOW: (f, 2 * f),
            Outcome.SPENT: (f + 1, None),
            Outcome.FOREIGN: (f + 1, None),
        }
    elif p.expired:
        bounds = {Outcome.EXPIRED: (f + 1, None), Outcome.FOREIGN: (f + 2, None)}
    elif f == 0:
        bounds = {None: (0, 0), Outcome.FOREIGN: (1, 1)}
    else:
        bounds = {Outcome.WRONG_PROOF: (f, 2 * f), Outcome.FOREIGN: (f + 1, 2 * f + 1)}
    if last not in bounds:
        return False
    low, high = bounds[last]
    return low <= version and (high is None or version <= high)


def _read_pending(data: bytes) -> PendingQR | None:
    if len(data) < _PENDING.size:
        return None
    tag, fmt, flags, version, attempts, failures, last, length = _PENDING.unpack_from(data)
    end = _PENDING.size + length
    if tag != b"QP" or fmt != _PENDING_FORMAT or flags & ~(_DONE | _EXPIRED):
        return None
    keys = data[end:]
    if last > len(_OUTCOMES) or len(data) < end or len(keys) not in (0, 2 * KEY_BYTES):
        return None
    offer = valid_or_none(lambda: Offer.from_bytes(data[_PENDING.size : end]))
    if offer is None:
        return None
    return valid_or_none(
        lambda: PendingQR(
            offer=offer,
            private_key=keys[:KEY_BYTES] or None,
            verifier=keys[KEY_BYTES:] or None,
            attempts=attempts,
            failures=failures,
            done=bool(flags & _DONE),
            expired=bool(flags & _EXPIRED),
            last_outcome=_OUTCOMES[last - 1] if last else None,
            version=version,
        )
    )


# --------------------------------------------------------------------------------------------
# The app's pending value
# --------------------------------------------------------------------------------------------


@attrs.frozen
class AppQRState:
    """The app's state between :func:`respond` and :func:`finish`. Secret: store it sealed.

    Attributes:
        offer: the offer answered, whose signature :func:`respond` checked; its ``params``
            are the token's.
        private_key: the app's X25519 private key (the device key of this activation).
        confirmation: the response the issuer must send.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes = attrs.field(kw_only=True, **SECRET)
    confirmation: bytes = attrs.field(kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer):
            raise TypeError("offer must be Offer")
        check_bytes(self.private_key, "private_key", KEY_BYTES)
        check_bytes(self.confirmation, "confirmation", MAC_BYTES)

    @property
    def params(self) -> TokenParams:
        """The token's parameters, from the offer."""
        return self.offer.params

    def to_bytes(self) -> bytes:
        """``b"QA"``, format 2, offer length (2), the offer's text (protocol version 2, signed),
        private key (32), confirmation (32)."""
        offer = self.offer.to_bytes()
        head = _APP.pack(b"QA", _APP_FORMAT, len(offer))
        return head + offer + self.private_key + self.confirmation

    @classmethod
    def from_bytes(cls, data: bytes) -> AppQRState:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("an app QR state must be bytes")
        state = None
        if len(data) >= _APP.size:
            tag, fmt, length = _APP.unpack_from(data)
            end = _APP.size + length
            if tag == b"QA" and fmt == _APP_FORMAT and len(data) == end + KEY_BYTES + MAC_BYTES:
                state = valid_or_none(
                    lambda: AppQRState(
                        offer=Offer.from_bytes(data[_APP.size : end]),
                        private_key=data[end : end + KEY_BYTES],
                        confirmation=data[end + KEY_BYTES :],
                    )
                )
        if state is None:
            raise InvalidRecord("not an app QR activation state of a known format")
        return state


# Format 1 held an unsigned offer (protocol version 1); format 2 holds a signed one.
_APP_FORMAT: Final = 2
_APP: Final = struct.Struct(">2sBH")
