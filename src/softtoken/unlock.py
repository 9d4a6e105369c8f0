"""The PIN unlock exchange: reset codes on the app, unlock codes at the issuer (SECURITY.md S11).

When too many wrong PINs lock an identity, the flow has four steps:

1. The app shows a 9-digit reset code: 8 random digits and a Damm check digit
   (:func:`new_reset_code`), bound to the serial and to that lock episode.
2. The user reads it to the bank. The issuer calls :func:`compute_unlock_code`. A typing error in
   the reset code raises :class:`~softtoken.exceptions.MistypedCode`, which is safe to tell the
   operator. Any well-formed code just gets an answer: the issuer cannot tell the real reset code
   from another one, and the app rejects the answer to a wrong one.
3. The user types the unlock code into the app. An :class:`UnlockCounter` counts the tries, with
   the same open-attempt rule as the PIN (:mod:`softtoken.throttle`): :func:`begin_unlock` opens
   an attempt that the app stores before it tries the code, and :func:`record_unlock` closes it.
4. On :attr:`UnlockOutcome.UNLOCKED` the app unlocks the PIN and sets a new one, which must pass
   the PIN policy.

The unlock code is an RFC 6287 OCRA response to the reset code. Its suite is
``OCRA-1:HOTP-SHA256-8:QN09`` (other lengths change only the digit count). Its key is derived
from the token secret with HKDF-SHA256 (RFC 5869), using a versioned label and the canonical
serial: see :func:`unlock_key`. The unlock key therefore never equals the OTP key, and an unlock
code for one serial says nothing about another.

Brute-force bound: a reset code allows ``max_tries`` wrong unlock codes, and a lock allows
``max_reset_codes`` reset codes before the identity is wiped. A guesser who holds the phone
therefore gets ``max_tries * max_reset_codes`` guesses at a ``digits``-digit code. With the
defaults that is 3 * 3 / 10**8 = 9e-8 per lock.

Nothing here reads a clock, and no randomness comes from anywhere but :mod:`softtoken._random`.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

import attrs

from softtoken import _random, throttle
from softtoken._checkdigit import damm_digit, damm_valid
from softtoken._checks import (
    MAX_DIGITS,
    MAX_U8,
    MIN_DIGITS,
    check_digits,
    check_int,
    check_key,
    valid_or_none,
)
from softtoken._encoding import parse_code
from softtoken._kdf import Label, hkdf
from softtoken.exceptions import AttemptNotOpen, InvalidInput, InvalidUnlockRecord, MistypedCode
from softtoken.ocra import OCRA, OCRASuite
from softtoken.provisioning.identifiers import Serial
from softtoken.throttle import ThrottlePolicy, ThrottleState, Verdict

__all__ = [
    "RESET_CODE_LENGTH",
    "UNLOCK_KEY_LABEL",
    "UnlockCounter",
    "UnlockOutcome",
    "UnlockPolicy",
    "begin_unlock",
    "compute_unlock_code",
    "display_reset_code",
    "hold_unlock",
    "new_reset_code",
    "parse_reset_code",
    "record_unlock",
    "remaining_unlock_tries",
    "unlock_key",
]

RESET_CODE_LENGTH: Final = 9
"""A reset code has 8 random digits and one Damm check digit."""
_RANDOM_DIGITS: Final = RESET_CODE_LENGTH - 1

UNLOCK_KEY_LABEL: Final = bytes(Label.UNLOCK_KEY)
"""The start of the HKDF ``info`` for the unlock key; the canonical serial follows it."""
# 32 bytes matches SHA-256 and the SHA256 OCRA suite.
_UNLOCK_KEY_BYTES: Final = 32

# RFC 6287 §6.3: the question is the whole reset code, check digit included, as a numeric
# question of up to 9 digits (QN09). A numeric question is read as one decimal number (§5.1),
# which would drop leading zeros; reset codes always have exactly 9 digits, so distinct codes
# are distinct numbers. SHA-256 matches the 32-byte HKDF key.
_SUITES: Final = {
    d: OCRASuite(algorithm="sha256", digits=d, question_format="N", question_length=9)
    for d in range(MIN_DIGITS, MAX_DIGITS + 1)
}


def unlock_key(secret: bytes, serial: Serial | str, *, allow_short_key: bool = False) -> bytes:
    """Return the 32-byte unlock key of the token with this *secret* and *serial*.

    The key is HKDF-SHA256 (RFC 5869) of *secret*, with no salt and with
    ``info = UNLOCK_KEY_LABEL + str(serial)``, the serial's 10 digits in ASCII. It is a separate
    key from the OTP key, and it is bound to the serial. A sharp tool, exposed so that another
    implementation of the issuer side can match it.

    Raises:
        TypeError: *secret* is not bytes or *serial* is not str.
        KeyTooShort: *secret* has fewer than 16 bytes (10 with *allow_short_key*).
        InvalidIdentifier, MistypedCode: a serial given as text is not one
            (:meth:`~softtoken.provisioning.Serial.parse`).
    """
    check_key(secret, allow_short_key=allow_short_key)
    info = UNLOCK_KEY_LABEL + str(Serial.of(serial)).encode("ascii")
    return hkdf(secret, info=info, length=_UNLOCK_KEY_BYTES)


def new_reset_code() -> str:
    """A fresh reset code: 8 digits from the CSPRNG (softtoken's one helper) and a Damm digit."""
    payload = _random.random_digits(_RANDOM_DIGITS)
    return payload + damm_digit(payload)


def parse_reset_code(text: str) -> str:
    """The 9 bare digits of a typed reset code whose check digit holds.

    Groups are allowed (``"769 764 879"``, ``"769-764-879"``).

    Raises:
        TypeError: *text* is not a ``str``.
        MalformedCode: not 9 ASCII digits (also an InvalidInput).
        MistypedCode: 9 digits whose check digit does not hold; safe to say so.
    """
    bare = parse_code(text, RESET_CODE_LENGTH)
    if not damm_valid(bare):
        raise MistypedCode()
    return bare


def display_reset_code(code: str) -> str:
    """*code* in three groups of three, such as ``"769 764 879"``, for reading out."""
    return f"{code[:3]} {code[3:6]} {code[6:]}"


def compute_unlock_code(
    secret: bytes,
    serial: Serial | str,
    reset_code: str,
    *,
    digits: int = 8,
    allow_short_key: bool = False,
) -> str:
    """Issuer side: return the unlock code that answers *reset_code* for this token.

    The unlock code is the OCRA response (RFC 6287) of suite
    ``OCRA-1:HOTP-SHA256-<digits>:QN09`` to the 9 digits of the reset code, keyed with
    :func:`unlock_key`. Pure: it keeps no record, and it cannot tell whether this is the reset
    code the app showed.

    Args:
        secret: the token secret, as stored by the issuer.
        serial: the token serial, a :class:`~softtoken.provisioning.Serial` or its text.
        reset_code: the reset code as the user read it out (see :func:`parse_reset_code`).
        digits: the unlock code length, 6 to 10; it must match the app's
            :attr:`UnlockPolicy.digits`.
        allow_short_key: accept 10- to 15-byte legacy secrets.

    Raises:
        TypeError: an argument has the wrong type.
        MistypedCode: the reset code's check digit does not hold; it was mistyped.
        MalformedCode: the reset code is not 9 ASCII digits (also an InvalidInput).
        KeyTooShort, InvalidInput: the secret is too short, the serial is not a serial, or
            *digits* is out of range. No message includes a code, the serial or the secret.
    """
    check_digits(digits)
    key = unlock_key(secret, serial, allow_short_key=allow_short_key)
    return OCRA(key, _SUITES[digits]).generate(question=parse_reset_code(reset_code))


# --------------------------------------------------------------------------------------------
# The app side: counting unlock tries
# --------------------------------------------------------------------------------------------

_MAX_TRIES: Final = 10
_MAX_RESET_CODES: Final = 10


@attrs.frozen
class UnlockPolicy:
    """How many unlock codes the app lets a user try, and how long they are.

    Args:
        max_tries: wrong unlock codes allowed against one reset code, 1 to 10; 3 by default.
        max_reset_codes: reset codes allowed in one lock episode, 1 to 10; 3 by default. When a
            reset code runs out of tries and another remains, it replaces it (NEW_RESET_CODE);
            after the last one the identity is wiped (WIPE). An unlimited number of reset codes
            is not offered: it would give a guesser unlimited tries.
        digits: unlock code length, 6 to 10; 8 by default. The issuer must use the same length.
    """

    max_tries: int = attrs.field(default=3, kw_only=True)
    max_reset_codes: int = attrs.field(default=3, kw_only=True)
    digits: int = attrs.field(default=8, kw_only=True)
    throttle: ThrottlePolicy = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        check_int(self.max_tries, "max_tries", 1, _MAX_TRIES)
        check_int(self.max_reset_codes, "max_reset_codes", 1, _MAX_RESET_CODES)
        check_digits(self.digits)
        object.__setattr__(self, "throttle", ThrottlePolicy(max_failures=self.max_tries))


class UnlockOutcome(enum.Enum):
    """What :func:`begin_unlock` or :func:`record_unlock` did.

    Only UNLOCKED is a success. The outcome is for the app's logic and its audit trail; the
    user is told one refusal, plus the new reset code after NEW_RESET_CODE.
    """

    OPENED = "opened"
    """An attempt is open: store the counter, then try the code."""
    UNLOCKED = "unlocked"
    """The unlock code was right. The exchange is spent: unlock the PIN, set a new one."""
    REJECTED = "rejected"
    """The unlock code was wrong and was counted; tries remain on this reset code."""
    NEW_RESET_CODE = "new_reset_code"
    """A wrong code (or an interrupted attempt) used up this reset code; the next one replaces
    it. Show it."""
    WIPE = "wipe"
    """A wrong code used up the last reset code; the exchange is spent. Wipe the identity."""
    SPENT = "spent"
    """The exchange was already spent (unlocked or wiped): nothing was evaluated or changed."""
    PIN_REFUSED = "pin_refused"
    """The code was right, but the unlock could not complete (the new PIN was refused): the
    attempt is closed as a success and the exchange is not spent (:func:`hold_unlock`)."""


@attrs.frozen
class UnlockCounter:
    """The unlock tries of one lock episode. Start from ``UnlockCounter()`` at each lock.

    Attributes:
        throttle: the wrong codes counted against the current reset code, and its open attempt.
        reset_code: which reset code of the episode is current, from 0.
        spent: True once the exchange unlocked or ran out; nothing is evaluated after that.
    """

    throttle: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    reset_code: int = attrs.field(default=0, kw_only=True)
    spent: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.throttle, ThrottleState):
            raise TypeError("throttle must be ThrottleState")
        check_int(self.reset_code, "reset_code", 0, _MAX_RESET_CODES - 1)
        if type(self.spent) is not bool:
            raise TypeError("spent must be bool")
        if self.throttle.blocked or self.throttle.not_before:
            raise InvalidInput("an unlock counter is never blocked or delayed")
        # The tries are stored in one byte (to_bytes); a larger count could not be saved.
        check_int(self.throttle.failures, "tries", 0, MAX_U8)
        if self.spent and self.throttle.attempt_open:
            raise InvalidInput("a spent unlock counter has no open attempt")

    @property
    def attempt_open(self) -> bool:
        """An attempt was opened and its code not yet tried."""
        return self.throttle.attempt_open

    def to_bytes(self) -> bytes:
        """Encode as ``b"UC"``, format 1, flags (1: bit 0 attempt open, bit 1 spent), tries (1),
        reset code index (1), throttle version (8): 14 bytes."""
        t = self.throttle
        flags = (_OPEN if t.attempt_open else 0) | (_SPENT if self.spent else 0)
        return _COUNTER.pack(_TAG, _FORMAT, flags, t.failures, self.reset_code, t.version)

    @classmethod
    def from_bytes(cls, data: bytes) -> UnlockCounter:
        """Decode what :meth:`to_bytes` wrote, strictly; raises InvalidUnlockRecord."""
        if type(data) is not bytes:
            raise TypeError("an unlock counter must be bytes")
        if len(data) != _COUNTER.size:
            raise InvalidUnlockRecord("unlock counter data has the wrong length")
        tag, fmt, flags, tries, index, version = _COUNTER.unpack(data)
        if tag != _TAG or fmt != _FORMAT or flags & ~(_OPEN | _SPENT):
            raise InvalidUnlockRecord("data is not an unlock counter of a known format")
        counter = valid_or_none(
            lambda: UnlockCounter(
                throttle=ThrottleState(
                    failures=tries, attempt_open=bool(flags & _OPEN), version=version
                ),
                reset_code=index,
                spent=bool(flags & _SPENT),
            )
        )
        if counter is None:
            raise InvalidUnlockRecord("unlock counter fields are out of range")
        return counter


_TAG: Final = b"UC"
_FORMAT: Final = 1
_OPEN: Final = 0x01
_SPENT: Final = 0x02
_COUNTER: Final = struct.Struct(">2sBBBBQ")


# The unlock tries are not delayed, so the throttle's clock is never consulted.
_NO_CLOCK: Final = 0


def _check(policy: UnlockPolicy, counter: UnlockCounter) -> None:
    if not isinstance(policy, UnlockPolicy):
        raise TypeError("policy must be UnlockPolicy")
    if not isinstance(counter, UnlockCounter):
        raise TypeError("counter must be UnlockCounter")


def _counted(
    policy: UnlockPolicy, counter: UnlockCounter, verdict: Verdict, counted: ThrottleState
) -> tuple[UnlockOutcome, UnlockCounter]:
    """The outcome of a throttle verdict on the tries; running out moves on or wipes."""
    if verdict is Verdict.OPENED:
        return UnlockOutcome.OPENED, attrs.evolve(counter, throttle=counted)
    if verdict is Verdict.FAILED:
        return UnlockOutcome.REJECTED, attrs.evolve(counter, throttle=counted)
    # BLOCKED_NOW: this reset code is used up. The next one starts with a fresh count (the
    # version keeps growing, for the store's compare-and-set).
    fresh = ThrottleState(version=counted.version)
    if counter.reset_code + 1 < policy.max_reset_codes:
        moved = UnlockCounter(throttle=fresh, reset_code=counter.reset_code + 1)
        return UnlockOutcome.NEW_RESET_CODE, moved
    return UnlockOutcome.WIPE, attrs.evolve(counter, throttle=fresh, spent=True)


def begin_unlock(
    policy: UnlockPolicy, counter: UnlockCounter
) -> tuple[UnlockOutcome, UnlockCounter]:
    """Open an unlock attempt, to be stored before the code is tried.

    An attempt already open was interrupted and is first counted as a wrong code, which may
    give NEW_RESET_CODE or WIPE; then no attempt is opened, because the code the user typed
    answers a reset code that is gone. A spent exchange gives SPENT.

    Returns:
        OPENED, NEW_RESET_CODE, WIPE or SPENT, and the counter to store.
    """
    _check(policy, counter)
    if counter.spent:
        return UnlockOutcome.SPENT, counter
    return _counted(policy, counter, *throttle.begin(policy.throttle, counter.throttle, _NO_CLOCK))


def record_unlock(
    policy: UnlockPolicy, counter: UnlockCounter, *, correct: bool
) -> tuple[UnlockOutcome, UnlockCounter]:
    """Close the open attempt with the result of trying the code.

    Returns:
        UNLOCKED (the exchange is spent), REJECTED, NEW_RESET_CODE or WIPE, and the counter to
        store before telling the user anything; SPENT for a spent exchange.

    Raises:
        AttemptNotOpen: no attempt is open; nothing was counted.
    """
    _check(policy, counter)
    if counter.spent:
        return UnlockOutcome.SPENT, counter
    if not counter.attempt_open:
        raise AttemptNotOpen()
    if correct:
        _, counted = throttle.succeed(policy.throttle, counter.throttle, _NO_CLOCK)
        return UnlockOutcome.UNLOCKED, attrs.evolve(counter, throttle=counted, spent=True)
    return _counted(policy, counter, *throttle.fail(policy.throttle, counter.throttle, _NO_CLOCK))


def hold_unlock(
    policy: UnlockPolicy, counter: UnlockCounter
) -> tuple[UnlockOutcome, UnlockCounter]:
    """Close the open attempt after a right code, without spending the exchange: PIN_REFUSED.

    For an app that proved the code but must refuse what came with it (a new PIN that was used
    recently). The attempt closes as a right code's does: the count of wrong tries on this
    reset code starts again, since the caller holds the right code; the exchange is not spent,
    and the same code may be given again.

    Raises:
        AttemptNotOpen: no attempt is open.
    """
    _check(policy, counter)
    if counter.spent:
        return UnlockOutcome.SPENT, counter
    if not counter.attempt_open:
        raise AttemptNotOpen()
    _, counted = throttle.succeed(policy.throttle, counter.throttle, _NO_CLOCK)
    return UnlockOutcome.PIN_REFUSED, attrs.evolve(counter, throttle=counted)


def remaining_unlock_tries(policy: UnlockPolicy, counter: UnlockCounter) -> int:
    """Wrong unlock codes left against the current reset code; 0 once spent."""
    _check(policy, counter)
    return 0 if counter.spent else throttle.remaining(policy.throttle, counter.throttle)
