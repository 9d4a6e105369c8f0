"""The PIN unlock exchange: reset codes on the app, unlock codes at the issuer (SECURITY.md S11).

When too many wrong PINs lock an identity, the flow has four steps:

1. The app calls :func:`issue_reset` once for that lock episode. It stores the returned
   :class:`PendingUnlock` and shows its 9-digit reset code: 8 random digits and a Damm check
   digit.
2. The user reads the reset code to the bank. The issuer calls :func:`compute_unlock_code`. A
   typing error in the reset code raises :class:`MistypedCode`, which is safe to tell the
   operator. Any well-formed code just gets an answer: the issuer cannot tell the real reset
   code from another one, and the app rejects the answer to a wrong one.
3. The user types the unlock code into the app. :func:`attempt_unlock` is a pure transition that
   returns an :class:`UnlockOutcome` and the next :class:`PendingUnlock`. Store that state before
   telling the user anything, so that killing the app never hands out a fresh try.
4. On :attr:`UnlockOutcome.UNLOCKED` the app steps its lockout state with
   ``softtoken.pinlock.Event.UNLOCK`` and asks for a new PIN, which must pass the PIN policy.

The unlock code is an RFC 6287 OCRA response to the reset code. Its suite is
``OCRA-1:HOTP-SHA256-8:QN09`` (other lengths change only the digit count). Its key is derived
from the token secret with HKDF-SHA256 (RFC 5869), using a versioned label and the canonical
serial: see :func:`unlock_key`. The unlock key therefore never equals the OTP key, and an unlock
code for one serial says nothing about another.

Brute-force bound: a challenge allows ``max_tries`` wrong unlock codes, and a lock allows
``max_reset_codes`` challenges before the outcome is WIPE. A guesser who holds the phone
therefore gets ``max_tries * max_reset_codes`` guesses at a ``digits``-digit code. With the
defaults that is 3 * 3 / 10**8 = 9e-8 per lock.

Nothing here reads a clock, and no randomness comes from anywhere but :mod:`softtoken._random`.
"""

from __future__ import annotations

import enum
import re
import struct
from hmac import compare_digest
from typing import Any, Final

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from softtoken import _random
from softtoken._checks import check_int
from softtoken._encoding import parse_code
from softtoken.exceptions import InvalidInput, InvalidUnlockRecord, MistypedCode
from softtoken.hotp import _MAX_DIGITS, _MIN_DIGITS, _check_digits, _check_key
from softtoken.ocra import OCRA, OCRASuite

__all__ = [
    "RESET_CODE_LENGTH",
    "UNLOCK_KEY_LABEL",
    "PendingUnlock",
    "UnlockOutcome",
    "UnlockPolicy",
    "attempt_unlock",
    "canonical_serial",
    "compute_unlock_code",
    "issue_reset",
    "unlock_key",
]

# --------------------------------------------------------------------------------------------
# Check digit
# --------------------------------------------------------------------------------------------

# The Damm algorithm (H. M. Damm, 2004) uses a totally anti-symmetric quasigroup of order 10. It
# was chosen over Luhn because it detects every single-digit error and every transposition of
# two adjacent digits. Luhn misses the transposition 09 <-> 90, since both pairs weigh 9. Verhoeff
# detects as much, but needs three tables where Damm needs one. The reset code is read aloud
# over the phone and typed by an operator, and those are exactly the errors that happen. This is
# the standard table, with zeros on its diagonal, so that a valid code folds to 0.
_DAMM: Final = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def _damm_fold(digits: str) -> int:
    """The interim digit after folding *digits* (ASCII 0-9) through the Damm table."""
    interim = 0
    for char in digits:
        interim = _DAMM[interim][ord(char) - 48]
    return interim


def _damm_digit(payload: str) -> str:
    """The Damm check digit to append to *payload*, a string of ASCII digits.

    Because the table's diagonal is zero, ``payload + _damm_digit(payload)`` folds to 0.
    """
    return str(_damm_fold(payload))


def _damm_valid(code: str) -> bool:
    """True when *code*, ASCII digits ending in its check digit, folds to 0."""
    return _damm_fold(code) == 0


# --------------------------------------------------------------------------------------------
# Serials, keys and unlock codes
# --------------------------------------------------------------------------------------------

RESET_CODE_LENGTH: Final = 9
"""A reset code has 8 random digits and one Damm check digit."""
_RANDOM_DIGITS: Final = RESET_CODE_LENGTH - 1

UNLOCK_KEY_LABEL: Final = b"softtoken/unlock/v1\x00"
"""The start of the HKDF ``info`` for the unlock key; the canonical serial follows it."""
# RFC 5869 §3.1: the salt is optional when the input keying material is already a uniformly
# random secret, which a token secret is. 32 bytes matches SHA-256 and the SHA256 OCRA suite.
_UNLOCK_KEY_BYTES: Final = 32

# Serials are groups of ASCII letters and digits, separated by one space or dash, as banks print
# them ("93171-12184"). Surrounding whitespace is dropped and so are the separators.
_SERIAL_PATTERN: Final = re.compile(r"[0-9A-Za-z]+(?:[ -][0-9A-Za-z]+)*")
_MAX_SERIAL: Final = 64
_MAX_SERIAL_TEXT: Final = 2 * _MAX_SERIAL

# RFC 6287 §6.3: the question is the whole reset code, check digit included, as a numeric
# question of up to 9 digits (QN09). A numeric question is read as one decimal number (§5.1),
# which would drop leading zeros. Reset codes always have exactly 9 digits, though, so distinct
# codes are distinct numbers. QN is the format OCRA tokens and servers commonly support, where
# QA would hash the same digits as ASCII. SHA-256 matches the 32-byte HKDF key.
_SUITES: Final = {
    d: OCRASuite(algorithm="sha256", digits=d, question_format="N", question_length=9)
    for d in range(_MIN_DIGITS, _MAX_DIGITS + 1)
}


def canonical_serial(serial: str) -> str:
    """Return the canonical form of a token serial: the form that keys and records use.

    The rule: surrounding whitespace is ignored. The serial is groups of ASCII letters and
    digits, with one space or dash between groups. The canonical form drops the separators and
    upper-cases the letters, and has 1 to 64 characters. So ``"93171-12184"``,
    ``"93171 12184"`` and ``"9317112184"`` are one serial. A check digit inside the serial is not
    checked here; that is the issuer's numbering scheme.

    Raises:
        TypeError: *serial* is not a ``str``.
        InvalidInput: anything else; the message never includes the serial.
    """
    if type(serial) is not str:
        raise TypeError("a serial must be str")
    stripped = serial.strip(" \t\r\n")
    if (
        len(stripped) > _MAX_SERIAL_TEXT
        or not stripped.isascii()
        or _SERIAL_PATTERN.fullmatch(stripped) is None
    ):
        raise InvalidInput("a serial must be groups of ASCII letters and digits")
    canonical = stripped.replace(" ", "").replace("-", "").upper()
    if len(canonical) > _MAX_SERIAL:
        raise InvalidInput("a serial must have at most 64 letters and digits")
    return canonical


def unlock_key(secret: bytes, serial: str, *, allow_short_key: bool = False) -> bytes:
    """Return the 32-byte unlock key of the token with this *secret* and *serial*.

    The key is HKDF-SHA256 (RFC 5869) of *secret*, with no salt and with
    ``info = UNLOCK_KEY_LABEL + canonical_serial(serial)`` in ASCII. It is a separate key from
    the OTP key, and it is bound to the serial. This is a sharp tool: it is exposed so that
    another implementation of the issuer side can match it.

    Raises:
        TypeError: *secret* is not bytes or *serial* is not str.
        InvalidKey: *secret* has fewer than 16 bytes (10 with *allow_short_key*).
        InvalidInput: the serial is not a serial (see :func:`canonical_serial`).
    """
    _check_key(secret, allow_short_key=allow_short_key)
    info = UNLOCK_KEY_LABEL + canonical_serial(serial).encode("ascii")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_UNLOCK_KEY_BYTES, salt=None, info=info)
    return hkdf.derive(secret)


def _parse_reset_code(reset_code: str) -> str:
    """The bare digits of a typed reset code whose check digit holds."""
    bare = parse_code(reset_code, RESET_CODE_LENGTH)
    if not _damm_valid(bare):
        raise MistypedCode()
    return bare


def _unlock_response(key: bytes, reset_code: str, digits: int) -> str:
    return OCRA(key, _SUITES[digits]).generate(question=reset_code)


def compute_unlock_code(
    secret: bytes,
    serial: str,
    reset_code: str,
    *,
    digits: int = 8,
    allow_short_key: bool = False,
) -> str:
    """Issuer side: return the unlock code that answers *reset_code* for this token.

    The unlock code is the OCRA response (RFC 6287) of suite
    ``OCRA-1:HOTP-SHA256-<digits>:QN09`` to the 9 digits of the reset code, keyed with
    :func:`unlock_key`. The reset code may be typed in groups, such as ``"769 764 879"`` or
    ``"769-764-879"``. The function is pure: it keeps no record, and it cannot tell whether
    this is the reset code the app showed. A wrong but well-formed code gets an unlock code
    that the app rejects.

    Args:
        secret: the token secret, as stored by the issuer.
        serial: the token serial, in any spelling :func:`canonical_serial` accepts.
        reset_code: the reset code as the user read it out.
        digits: the unlock code length, 6 to 10; it must match the app's
            :attr:`UnlockPolicy.digits`.
        allow_short_key: accept 10- to 15-byte legacy secrets.

    Raises:
        TypeError: an argument has the wrong type.
        MistypedCode: the reset code is 9 digits, but its check digit does not hold. The code
            was mistyped, and it is safe to say so.
        MalformedCode: the reset code is not 9 ASCII digits (also an InvalidInput).
        InvalidKey, InvalidInput: the secret is too short, the serial is not a serial, or
            *digits* is out of range. No message includes a code, the serial or the secret.
    """
    _check_digits(digits)
    key = unlock_key(secret, serial, allow_short_key=allow_short_key)
    return _unlock_response(key, _parse_reset_code(reset_code), digits)


# --------------------------------------------------------------------------------------------
# The app side
# --------------------------------------------------------------------------------------------


_MAX_TRIES: Final = 10
_MAX_RESET_CODES: Final = 10
_U8: Final = 2**8 - 1
_U32: Final = 2**32 - 1
_U64: Final = 2**64 - 1


@attrs.frozen
class UnlockPolicy:
    """How many unlock codes the app lets a user try, and how long they are.

    Args:
        max_tries: wrong unlock codes allowed against one reset code, 1 to 10; 3 by default.
        max_reset_codes: reset codes allowed in one lock episode, 1 to 10; 3 by default. When a
            reset code runs out of tries and fewer than this many were issued, a new one
            replaces it (outcome NEW_RESET_CODE). Otherwise the identity must be wiped (outcome
            WIPE). With 1, the identity is wiped as soon as the first reset code runs out of
            tries. An unlimited number of reset codes is not offered: it would give a guesser
            unlimited tries.
        digits: unlock code length, 6 to 10; 8 by default. The issuer must use the same length.

    Raises:
        TypeError: a field is not an int.
        InvalidInput: a field is out of range.
    """

    max_tries: int = attrs.field(default=3, kw_only=True)
    max_reset_codes: int = attrs.field(default=3, kw_only=True)
    digits: int = attrs.field(default=8, kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_int(self.max_tries, "max_tries", 1, _MAX_TRIES)
        check_int(self.max_reset_codes, "max_reset_codes", 1, _MAX_RESET_CODES)
        _check_digits(self.digits)


class UnlockOutcome(enum.Enum):
    """What :func:`attempt_unlock` did.

    Only UNLOCKED is a success. The app shows the user one and the same refusal for every
    other outcome. The exception is NEW_RESET_CODE, where it must also show the new reset code.
    The outcome itself is for the app's logic and its audit trail.
    """

    UNLOCKED = "unlocked"
    """The unlock code was right. The challenge is now spent: unlock the PIN, ask for a new one."""
    REJECTED = "rejected"
    """The unlock code was wrong and was counted; tries remain on this reset code."""
    NEW_RESET_CODE = "new_reset_code"
    """A wrong code used up this reset code's tries. A new reset code replaces it; show it."""
    WIPE = "wipe"
    """A wrong code used up the last reset code's tries; the challenge is spent. Wipe the
    identity (``softtoken.pinlock.Event.WIPE``)."""
    SPENT = "spent"
    """The challenge was already spent (unlocked or wiped): nothing was evaluated or changed."""
    WRONG_EPISODE = "wrong_episode"
    """The challenge belongs to another lock episode: nothing was evaluated or changed."""

    @property
    def accepted(self) -> bool:
        """True only for UNLOCKED."""
        return self is UnlockOutcome.UNLOCKED


_DEFAULT_POLICY: Final = UnlockPolicy()


def _check_reset_code(_: object, __: object, value: str) -> None:
    if type(value) is not str:
        raise TypeError("reset_code must be str")
    if not (
        len(value) == RESET_CODE_LENGTH
        and value.isascii()
        and value.isdigit()
        and _damm_valid(value)
    ):
        raise InvalidInput("reset_code must be 9 ASCII digits ending in its check digit")


def _check_serial(_: object, __: object, value: str) -> None:
    if canonical_serial(value) != value:
        raise InvalidInput("serial must be in canonical form; use issue_reset")


# The stored form of a PendingUnlock: a tag and a format number, so that the layout can change
# later, then the variable-length serial, then the fixed-size fields.
_RECORD_TAG: Final = b"UL"
_RECORD_FORMAT: Final = 1
_RECORD_HEAD: Final = struct.Struct(">2sBB")
_RECORD_TAIL: Final = struct.Struct(">I9sBBBQ")


@attrs.frozen(kw_only=True)
class PendingUnlock:
    """A reset code shown by a locked identity, and what has happened to it since.

    Build one with :func:`issue_reset`. Store it with the identity, and advance it only through
    :func:`attempt_unlock`.

    Attributes:
        serial: the identity's serial, in canonical form (see :func:`canonical_serial`).
        episode: the lock episode the code belongs to, 1 to 2**32 - 1. It is the episode counter
            of the lockout state (``softtoken.pinlock.LockoutState.episode``).
        reset_code: the 9 digits shown to the user. Hidden from ``repr``, compared in constant
            time.
        tries: wrong unlock codes counted against this reset code.
        reset_codes: how many reset codes this lock episode has issued, this one included.
        spent: True once the challenge unlocked or ran out; a spent challenge never unlocks.
        version: grows by one at every change, for a store's compare-and-set.

    Raises (constructor):
        TypeError: a field has the wrong type.
        InvalidInput: a field is out of range, the serial is not canonical, or the reset code
            is not 9 digits ending in a valid check digit. No message includes a value.
    """

    serial: str = attrs.field(validator=_check_serial)
    episode: int = attrs.field()
    reset_code: str = attrs.field(
        repr=False, eq=attrs.cmp_using(eq=compare_digest), validator=_check_reset_code
    )
    tries: int = attrs.field(default=0)
    reset_codes: int = attrs.field(default=1)
    spent: bool = attrs.field(default=False)
    version: int = attrs.field(default=0)

    def __attrs_post_init__(self) -> None:
        check_int(self.episode, "episode", 1, _U32)
        check_int(self.tries, "tries", 0, _U8)
        check_int(self.reset_codes, "reset_codes", 1, _U8)
        if type(self.spent) is not bool:
            raise TypeError("spent must be bool")
        check_int(self.version, "version", 0, _U64)

    @property
    def display(self) -> str:
        """The reset code in three groups of three, such as ``"769 764 879"``, for reading out.

        The issuer accepts it with or without the spaces.
        """
        code = self.reset_code
        return f"{code[:3]} {code[3:6]} {code[6:]}"

    def to_bytes(self) -> bytes:
        """Encode for storage: ``b"UL"``, format 1, the serial's length and ASCII, then the
        episode (4 bytes), reset code (9 ASCII digits), tries, reset_codes, spent (1 byte each)
        and version (8 bytes), big-endian. The reset code is in it: store it encrypted, with
        the rest of the identity."""
        serial = self.serial.encode("ascii")
        return (
            _RECORD_HEAD.pack(_RECORD_TAG, _RECORD_FORMAT, len(serial))
            + serial
            + _RECORD_TAIL.pack(
                self.episode,
                self.reset_code.encode("ascii"),
                self.tries,
                self.reset_codes,
                int(self.spent),
                self.version,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingUnlock:
        """Decode what :meth:`to_bytes` wrote, strictly.

        Raises:
            TypeError: *data* is not ``bytes``.
            InvalidUnlockRecord: the data is truncated, too long, of an unknown format, or holds
                a value the constructor refuses. The message never includes the data.
        """
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        try:
            tag, fmt, length = _RECORD_HEAD.unpack_from(data)
            if tag != _RECORD_TAG or fmt != _RECORD_FORMAT:
                raise InvalidUnlockRecord("not a pending unlock record of a known format")
            if len(data) != _RECORD_HEAD.size + length + _RECORD_TAIL.size:
                raise InvalidUnlockRecord("a pending unlock record has the wrong length")
            serial = data[_RECORD_HEAD.size : _RECORD_HEAD.size + length]
            episode, code, tries, reset_codes, spent, version = _RECORD_TAIL.unpack_from(
                data, _RECORD_HEAD.size + length
            )
            if spent not in (0, 1):
                raise InvalidUnlockRecord("a pending unlock record has a bad flag")
            return cls(
                serial=serial.decode("ascii"),
                episode=episode,
                reset_code=code.decode("ascii"),
                tries=tries,
                reset_codes=reset_codes,
                spent=bool(spent),
                version=version,
            )
        except InvalidUnlockRecord:
            raise
        except (struct.error, UnicodeDecodeError, InvalidInput):
            raise InvalidUnlockRecord("a pending unlock record is truncated or invalid") from None


def _fresh_reset_code() -> str:
    payload = _random.random_digits(_RANDOM_DIGITS)
    return payload + _damm_digit(payload)


def issue_reset(serial: str, episode: int) -> PendingUnlock:
    """App side: start the unlock exchange for a locked identity; return its first challenge.

    The reset code is 8 fresh digits from the CSPRNG (through :mod:`softtoken._random`) and a
    Damm check digit. Call this once per lock episode, and store the result. Later reset codes
    come from :func:`attempt_unlock`. Calling this again in the same episode would start a new
    try budget.

    Args:
        serial: the identity's serial, in any spelling :func:`canonical_serial` accepts.
        episode: the current lock episode, 1 to 2**32 - 1 (``LockoutState.episode``).

    Raises:
        TypeError: *serial* is not a str or *episode* is not an int.
        InvalidInput: the serial is not a serial, or the episode is out of range.
    """
    canonical = canonical_serial(serial)
    check_int(episode, "episode", 1, _U32)
    return PendingUnlock(serial=canonical, episode=episode, reset_code=_fresh_reset_code())


def attempt_unlock(
    pending: PendingUnlock,
    unlock_code: str,
    secret: bytes,
    *,
    episode: int,
    policy: UnlockPolicy = _DEFAULT_POLICY,
    allow_short_key: bool = False,
) -> tuple[UnlockOutcome, PendingUnlock]:
    """App side: try *unlock_code* against the challenge *pending*. Pure: no clock, no I/O.

    Checks are made in this order, and the first that applies decides:

    1. A spent challenge gives SPENT, and one from a lock episode other than *episode* gives
       WRONG_EPISODE. Neither evaluates the code or changes the state.
    2. A challenge whose tries already reach ``policy.max_tries`` is exhausted without
       evaluating the code. This happens only when the policy was lowered. It then goes on as in
       step 4.
    3. The code is compared in constant time with the OCRA response to the reset code
       (:func:`compute_unlock_code`). A match gives UNLOCKED, and the challenge is spent.
    4. A wrong code is counted. While tries remain the outcome is REJECTED. When a reset code
       runs out of tries and fewer than ``policy.max_reset_codes`` were issued, the outcome is
       NEW_RESET_CODE: a fresh random reset code, with tries back to 0, in the same episode,
       since the lock itself has not changed. Otherwise the outcome is WIPE, and the challenge
       is spent.

    The returned state is *pending* itself when nothing changed, and otherwise has ``version``
    one higher. Store it (compare-and-set on the version) before showing the user anything.

    Raises:
        TypeError: an argument has the wrong type.
        MalformedCode: *unlock_code* is not ``policy.digits`` ASCII digits (groups allowed).
            Nothing is counted, and the check depends only on the typed text.
        InvalidKey: the secret is too short.
        InvalidInput: *episode* is out of range.

    Only malformed input raises; every refusal is a returned outcome, never an exception that
    names a cause.
    """
    if not isinstance(pending, PendingUnlock):
        raise TypeError("pending must be PendingUnlock")
    if not isinstance(policy, UnlockPolicy):
        raise TypeError("policy must be UnlockPolicy")
    check_int(episode, "episode", 1, _U32)
    given = parse_code(unlock_code, policy.digits)
    key = unlock_key(secret, pending.serial, allow_short_key=allow_short_key)
    if pending.spent:
        return UnlockOutcome.SPENT, pending
    if pending.episode != episode:
        return UnlockOutcome.WRONG_EPISODE, pending
    if pending.tries < policy.max_tries:
        expected = _unlock_response(key, pending.reset_code, policy.digits)
        if compare_digest(expected.encode("ascii"), given.encode("ascii")):
            return UnlockOutcome.UNLOCKED, _changed(pending, spent=True)
        tries = pending.tries + 1
        if tries < policy.max_tries:
            return UnlockOutcome.REJECTED, _changed(pending, tries=tries)
    if pending.reset_codes < policy.max_reset_codes:
        return UnlockOutcome.NEW_RESET_CODE, _changed(
            pending,
            reset_code=_fresh_reset_code(),
            tries=0,
            reset_codes=pending.reset_codes + 1,
        )
    return UnlockOutcome.WIPE, _changed(pending, tries=policy.max_tries, spent=True)


def _changed(pending: PendingUnlock, **changes: Any) -> PendingUnlock:
    # Every change bumps the version so that a store can compare-and-set on it.
    return attrs.evolve(pending, version=pending.version + 1, **changes)
