"""The app PIN: which PINs may be chosen, how they are stored, and what wrong PINs do (S10).

Five parts, from the sharp tools to the safe path:

- :class:`PINPolicy` decides whether a new PIN may be chosen. It raises :class:`PINRejected` with
  every reason that applies, never with the PIN.
- :class:`PINVerifier` stores a PIN, or a remembered old PIN, as a salted scrypt hash with
  versioned parameters (:class:`KDFParams`). :meth:`PINVerifier.matches` is a low-level compare.
- :func:`step` is the lockout state machine: a pure function from a :class:`LockoutPolicy`, a
  :class:`LockoutState`, an :class:`Event` and the time to an :class:`Outcome` and the next state.
  The state is a small frozen value that persists as 27 bytes.
- :func:`begin_attempt` opens an attempt before any PIN is compared, as a smart card decrements
  its retry counter before it verifies. The caller stores the opened state; an attempt that is
  stored open and never finished is counted as a wrong PIN by the next :func:`begin_attempt`.
- :func:`enter_pin` is the safe path's second half. It refuses attempts that must not be evaluated
  (locked, wiped, too soon) without hashing the PIN, evaluates only inside an open attempt, then
  compares, steps, and returns the new state on success or raises a :class:`PINNotAccepted` that
  carries the state to store.

The safe sequence is: ``state = begin_attempt(...)``, store it, ``state = enter_pin(...)`` (or
catch :class:`PINNotAccepted` and take ``.state``), store it, and only then tell the user. A
process killed anywhere in between leaves a stored state that counts the attempt as a wrong PIN,
so killing the app mid-check never gives a free guess (SECURITY.md S7, S10).

What the slow hash does and does not do: a 4-digit PIN has 10,000 values, so no hash can protect a
stolen verifier against offline guessing. At :data:`PHONE_KDF` cost (about 0.1 s a guess on one
core) the whole space takes about 17 minutes. The verifier keeps PINs out of plain sight, out of
logs and out of backups; the lockout bounds online guessing; and the app's encrypted blob keeps the
verifier itself out of reach (SECURITY.md S14).

Nothing here reads a clock or a random source other than :mod:`softtoken._random`.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import struct
from collections.abc import Iterable, Sequence
from hmac import compare_digest
from typing import Final

import attrs
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from softtoken import _random
from softtoken._checks import check_int
from softtoken._time import to_unix
from softtoken.exceptions import (
    AttemptNotOpen,
    InvalidInput,
    InvalidPINRecord,
    PINDelayed,
    PINLocked,
    PINNotAccepted,
    PINRejected,
    PINWiped,
    WrongPIN,
)

__all__ = [
    "COMMON_PINS",
    "ENTRUST_LIKE",
    "INSECURE_TEST_KDF",
    "MAX_PIN_LENGTH",
    "MIN_PIN_LENGTH",
    "PAYSECURE_LIKE",
    "PHONE_KDF",
    "Event",
    "KDFParams",
    "LockoutPolicy",
    "LockoutState",
    "OnLimit",
    "Outcome",
    "PINPolicy",
    "PINProfile",
    "PINRejection",
    "PINVerifier",
    "Status",
    "begin_attempt",
    "enter_pin",
    "refusal",
    "remaining_tries",
    "step",
]

# SECURITY.md S10: PINs are 4 digits by default and 4 to 12 digits at most.
MIN_PIN_LENGTH: Final = 4
MAX_PIN_LENGTH: Final = 12
# Each remembered PIN costs one slow hash per check; ten keeps a PIN change under a second or so.
_MAX_HISTORY: Final = 10

# The most common 4-digit PINs in DataGenetics' analysis of 3.4 million leaked PINs (2012, top
# 20), plus the middle column of a phone keypad typed down and up. Several are already refused
# by the repeated-digit and run rules; the list is off by default (PINPolicy.deny_common).
COMMON_PINS: Final[frozenset[str]] = frozenset(
    {
        "1234", "1111", "0000", "1212", "7777", "1004", "2000", "4444", "2222", "6969",
        "9999", "3333", "5555", "6666", "1122", "1313", "8888", "4321", "2001", "1010",
        "2580", "0852",
    }
)  # fmt: skip


def _is_pin_text(pin: str) -> bool:
    """True when *pin* is made only of ASCII digits (full-width and other digits are refused)."""
    return pin.isascii() and pin.isdigit()


# --------------------------------------------------------------------------------------------
# Choosing a PIN
# --------------------------------------------------------------------------------------------


class PINRejection(enum.Enum):
    """One reason why :meth:`PINPolicy.check` refused a PIN."""

    NOT_DIGITS = "not_digits"
    """The PIN contains something other than the ASCII digits 0-9 (or is empty)."""
    WRONG_LENGTH = "wrong_length"
    """The PIN is shorter or longer than the policy allows."""
    REPEATED_DIGIT = "repeated_digit"
    """The PIN is one digit repeated, such as 1111."""
    SEQUENTIAL = "sequential"
    """The PIN is one run of consecutive digits, up or down, such as 1234, 4321 or 8901."""
    RECENTLY_USED = "recently_used"
    """The PIN matches one of the last ``history`` PINs."""
    DENY_LISTED = "deny_listed"
    """The PIN is on the policy's deny-list or, when enabled, the built-in common-PIN list."""


def _is_repeated(pin: str) -> bool:
    return len(pin) >= 2 and pin.count(pin[0]) == len(pin)


def _is_run(pin: str) -> bool:
    # 0 follows 9 and 9 precedes 0: people type 8901 and 1098 as runs on a keypad, so each step
    # is taken modulo 10. A step of +1 everywhere is an ascending run, -1 (9 mod 10) descending.
    if len(pin) < 2:
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    return steps == {1} or steps == {9}


def _to_digit_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str | bytes):
        # A str is an iterable of characters; taking "1234" as {"1", "2", "3", "4"} is a bug.
        raise TypeError("deny_list must be an iterable of PIN strings, not one string")
    out = frozenset(values)
    for item in out:
        if type(item) is not str:
            raise TypeError("deny_list entries must be str")
        if not (item and _is_pin_text(item)):
            raise InvalidInput("deny_list entries must be ASCII digits")
    return out


@attrs.frozen
class PINPolicy:
    """The rules a new PIN must meet (SECURITY.md S10).

    Args:
        min_length, max_length: allowed PIN lengths, from 4 to 12 digits; both 4 by default.
        history: how many previous PINs may not be chosen again, from 0 to 10; 1 by default.
        deny_common: also refuse the built-in :data:`COMMON_PINS`. Off by default.
        deny_list: further PINs to refuse, as strings of ASCII digits. Hidden from ``repr``,
            since a bank may list a customer's birth date here.

    Rules, all always on:

    - Only the ASCII digits 0-9. Full-width, Arabic-Indic and other Unicode digits are refused,
      and nothing is stripped: a PIN is exactly the characters given.
    - Not one digit repeated (1111).
    - Not one run of consecutive digits, ascending or descending, over the whole PIN (1234,
      4321). **Runs wrap around**: 0 follows 9, so 8901, 7890, 9012 and 1098, 0987 are runs too,
      because that is how people type them. Partial runs such as 1235 are allowed.

    Raises:
        TypeError: a parameter has the wrong type.
        InvalidInput: a length or history is out of range, or min_length > max_length.
    """

    min_length: int = attrs.field(default=MIN_PIN_LENGTH, kw_only=True)
    max_length: int = attrs.field(default=MIN_PIN_LENGTH, kw_only=True)
    history: int = attrs.field(default=1, kw_only=True)
    deny_common: bool = attrs.field(default=False, kw_only=True)
    deny_list: frozenset[str] = attrs.field(
        default=frozenset(), kw_only=True, converter=_to_digit_set, repr=False
    )

    def __attrs_post_init__(self) -> None:
        check_int(self.min_length, "min_length", MIN_PIN_LENGTH, MAX_PIN_LENGTH)
        check_int(self.max_length, "max_length", MIN_PIN_LENGTH, MAX_PIN_LENGTH)
        if self.min_length > self.max_length:
            raise InvalidInput("min_length must not exceed max_length")
        check_int(self.history, "history", 0, _MAX_HISTORY)
        if type(self.deny_common) is not bool:
            raise TypeError("deny_common must be bool")

    def _denied(self, pin: str) -> bool:
        return pin in self.deny_list or (self.deny_common and pin in COMMON_PINS)

    def check(self, pin: str, *, previous: Sequence[PINVerifier] = ()) -> None:
        """Return if *pin* may be chosen; otherwise raise with every reason that applies.

        *previous* holds verifiers of earlier PINs, most recent first, as kept by
        :meth:`next_history`. Only the first ``history`` of them are consulted; each costs one
        slow hash. The digit rules are judged only when the PIN is ASCII digits; a PIN that is
        not gets ``NOT_DIGITS`` (and ``WRONG_LENGTH`` if its length is also wrong).

        Raises:
            TypeError: *pin* is not a ``str``, or *previous* holds something else than
                :class:`PINVerifier`.
            PINRejected: with ``reasons``, a frozenset of :class:`PINRejection`. Its message is
                constant and never contains the PIN.
        """
        if type(pin) is not str:
            raise TypeError("a PIN must be str, never int: leading zeros matter")
        recent = tuple(previous)[: self.history]
        for verifier in recent:
            if not isinstance(verifier, PINVerifier):
                raise TypeError("previous must be a sequence of PINVerifier")
        reasons: set[PINRejection] = set()
        if not self.min_length <= len(pin) <= self.max_length:
            reasons.add(PINRejection.WRONG_LENGTH)
        if not _is_pin_text(pin):
            reasons.add(PINRejection.NOT_DIGITS)
        else:
            if _is_repeated(pin):
                reasons.add(PINRejection.REPEATED_DIGIT)
            if _is_run(pin):
                reasons.add(PINRejection.SEQUENTIAL)
            if self._denied(pin):
                reasons.add(PINRejection.DENY_LISTED)
            # Every remembered verifier is tried, even after a match, so the time taken does not
            # tell which old PIN it was.
            matched = [verifier.matches(pin) for verifier in recent]
            if any(matched):
                reasons.add(PINRejection.RECENTLY_USED)
        if reasons:
            raise PINRejected(frozenset(reasons))

    def next_history(
        self, new: PINVerifier, previous: Sequence[PINVerifier] = ()
    ) -> tuple[PINVerifier, ...]:
        """Return the history to keep after *new* becomes the PIN: newest first, ``history`` long.

        Pass the result as ``previous`` to the next :meth:`check`. Never holds plaintext.
        """
        if not isinstance(new, PINVerifier) or not all(
            isinstance(v, PINVerifier) for v in previous
        ):
            raise TypeError("PIN history holds PINVerifier values only")
        return (new, *previous)[: self.history]

    def accepted_count(self) -> int:
        """Return how many PINs of the allowed lengths this policy accepts, before history.

        For each length L, that is every L-digit string minus the 10 repeated-digit PINs, minus
        the 20 runs (10 ascending and 10 descending, since runs wrap around), minus the
        deny-listed PINs of that length that no other rule refuses. A history of h PINs takes
        away at most h more. The exhaustive test checks this against brute force.
        """
        denied = self.deny_list | (COMMON_PINS if self.deny_common else frozenset())
        total = 0
        for length in range(self.min_length, self.max_length + 1):
            extra = sum(
                1
                for pin in denied
                if len(pin) == length and not (_is_repeated(pin) or _is_run(pin))
            )
            total += 10**length - 10 - 20 - extra
        return total


# --------------------------------------------------------------------------------------------
# Storing a PIN
# --------------------------------------------------------------------------------------------

_SCRYPT_V1: Final = 1
_SUPPORTED_KDF_VERSIONS: Final = frozenset({_SCRYPT_V1})
# A tampered or careless parameter set must not make a phone allocate gigabytes.
_MAX_KDF_MEMORY: Final = 128 * 2**20


@attrs.frozen
class KDFParams:
    """Versioned scrypt parameters (RFC 7914) for :class:`PINVerifier`.

    Args:
        version: the verifier scheme; 1 is scrypt with the layout of :meth:`PINVerifier.to_bytes`.
        log2_n: scrypt's cost N as a power of two, from 1 to 20.
        r: block size, 1 to 32. p: parallelism, 1 to 16.
        salt_length: 16 to 64 bytes. hash_length: 16 to 64 bytes.

    Raises:
        TypeError: a parameter is not an ``int``.
        InvalidInput: a parameter is out of range, N is too large for r (RFC 7914 §2 asks for
            N < 2^(16r)), or the memory 128·r·N exceeds 128 MiB.
    """

    log2_n: int = attrs.field(kw_only=True)
    r: int = attrs.field(kw_only=True)
    p: int = attrs.field(kw_only=True)
    salt_length: int = attrs.field(default=16, kw_only=True)
    hash_length: int = attrs.field(default=32, kw_only=True)
    version: int = attrs.field(default=_SCRYPT_V1, kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_int(self.version, "version", 0, 255)
        if self.version not in _SUPPORTED_KDF_VERSIONS:
            raise InvalidInput("unsupported KDF version")
        check_int(self.log2_n, "log2_n", 1, 20)
        check_int(self.r, "r", 1, 32)
        check_int(self.p, "p", 1, 16)
        # NIST SP 800-63B §5.1.1.2 asks for at least 32 bits of salt; 128 is the floor here.
        check_int(self.salt_length, "salt_length", 16, 64)
        check_int(self.hash_length, "hash_length", 16, 64)
        if self.log2_n >= 16 * self.r:
            raise InvalidInput("log2_n is too large for r")
        if 128 * self.r * (1 << self.log2_n) > _MAX_KDF_MEMORY:
            raise InvalidInput("scrypt parameters need more than 128 MiB")


PHONE_KDF: Final = KDFParams(log2_n=15, r=8, p=1)
"""The default: N = 2^15, r = 8, p = 1, 16-byte salt, 32-byte hash.

It needs 32 MiB and took about 0.09 s per hash on this project's 2-core x86 machine; a mid-range
phone is a few times slower, which is still acceptable once per unlock. It is the scrypt setting
OWASP's password storage guidance lists for interactive logins at that memory size.
"""

INSECURE_TEST_KDF: Final = KDFParams(log2_n=4, r=8, p=1)
"""N = 2^4: about 50 microseconds a hash. For tests only, never for a real PIN."""


def _derive(pin: str, salt: bytes, params: KDFParams) -> bytes:
    kdf = Scrypt(salt=salt, length=params.hash_length, n=1 << params.log2_n, r=params.r, p=params.p)
    return kdf.derive(pin.encode("ascii"))


_VERIFIER_TAG: Final = b"PV"
_verifier_header = struct.Struct(">2s6B")


@attrs.frozen
class PINVerifier:
    """A PIN kept as a salted scrypt hash, with the parameters it was made with.

    Build one with :meth:`create` or :meth:`from_bytes`. The ``repr`` shows the parameters,
    never the salt or the hash. Equality compares salt and hash in constant time.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: salt or hash length does not fit the parameters.
    """

    params: KDFParams
    salt: bytes = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest), hash=False)
    digest: bytes = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest), hash=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.params, KDFParams):
            raise TypeError("params must be KDFParams")
        if type(self.salt) is not bytes or type(self.digest) is not bytes:
            raise TypeError("salt and digest must be bytes")
        if len(self.salt) != self.params.salt_length or len(self.digest) != self.params.hash_length:
            raise InvalidInput("salt or hash length does not match the KDF parameters")

    @classmethod
    def create(cls, pin: str, *, params: KDFParams = PHONE_KDF) -> PINVerifier:
        """Hash *pin* under a fresh random salt.

        This does not apply any :class:`PINPolicy`; call :meth:`PINPolicy.check` first.

        Raises:
            TypeError: *pin* is not a ``str`` or *params* not :class:`KDFParams`.
            InvalidInput: *pin* is not 4 to 12 ASCII digits. The message never includes it.
        """
        if type(pin) is not str:
            raise TypeError("a PIN must be str, never int: leading zeros matter")
        if not isinstance(params, KDFParams):
            raise TypeError("params must be KDFParams")
        if not (_is_pin_text(pin) and MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH):
            raise InvalidInput("a PIN must be 4 to 12 ASCII digits")
        salt = _random.random_bytes(params.salt_length)
        return cls(params, salt, _derive(pin, salt, params))

    def matches(self, pin: str) -> bool:
        """Return whether *pin* is the PIN this verifier was made from.

        A sharp tool: it counts nothing and locks nothing; use :func:`enter_pin` for the safe
        path. The hashes are compared with :func:`hmac.compare_digest`. Text that is not 4 to 12
        ASCII digits is answered ``False`` without hashing; that shortcut depends only on the
        typed text, never on the stored PIN.

        Raises:
            TypeError: *pin* is not a ``str``.
        """
        if type(pin) is not str:
            raise TypeError("a PIN must be str, never int: leading zeros matter")
        if not (_is_pin_text(pin) and MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH):
            return False
        return compare_digest(_derive(pin, self.salt, self.params), self.digest)

    def needs_rehash(self, params: KDFParams = PHONE_KDF) -> bool:
        """Return whether this verifier was made with other parameters than *params*.

        Rehash on the next correct PIN entry, when the PIN is at hand.
        """
        return self.params != params

    def to_bytes(self) -> bytes:
        """Encode as ``b"PV"``, version, log2_n, r, p, salt length, hash length, salt, hash."""
        p = self.params
        header = _verifier_header.pack(
            _VERIFIER_TAG, p.version, p.log2_n, p.r, p.p, p.salt_length, p.hash_length
        )
        return header + self.salt + self.digest

    @classmethod
    def from_bytes(cls, data: bytes) -> PINVerifier:
        """Decode what :meth:`to_bytes` wrote, strictly.

        A changed salt or hash byte cannot be detected here (the verifier carries no MAC; the
        app's encrypted blob does). Such a verifier decodes and then matches no PIN.

        Raises:
            TypeError: *data* is not ``bytes``.
            InvalidPINRecord: wrong tag, unknown version, parameters out of range, or a length
                that does not match. The message never includes the data.
        """
        if type(data) is not bytes:
            raise TypeError("a PIN verifier must be bytes")
        if len(data) < _verifier_header.size:
            raise InvalidPINRecord("PIN verifier data is truncated")
        tag, version, log2_n, r, p, salt_length, hash_length = _verifier_header.unpack_from(data)
        if tag != _VERIFIER_TAG:
            raise InvalidPINRecord("data is not a PIN verifier")
        if version not in _SUPPORTED_KDF_VERSIONS:
            raise InvalidPINRecord("unsupported PIN verifier version")
        try:
            params = KDFParams(
                version=version,
                log2_n=log2_n,
                r=r,
                p=p,
                salt_length=salt_length,
                hash_length=hash_length,
            )
        except InvalidInput:
            raise InvalidPINRecord("PIN verifier parameters are out of range") from None
        body = data[_verifier_header.size :]
        if len(body) != salt_length + hash_length:
            raise InvalidPINRecord("PIN verifier data has the wrong length")
        return cls(params, body[:salt_length], body[salt_length:])


# --------------------------------------------------------------------------------------------
# Wrong PINs: the lockout state machine
# --------------------------------------------------------------------------------------------


class OnLimit(enum.Enum):
    """What happens at the last allowed wrong PIN."""

    LOCK = "lock"
    """Lock; an unlock code (see ``softtoken.unlock``) reopens it (Entrust-like apps)."""
    WIPE = "wipe"
    """Wipe the identity for good (PaySecure-like apps)."""


class Status(enum.Enum):
    """Where a :class:`LockoutState` stands."""

    ACTIVE = "active"
    LOCKED = "locked"
    WIPED = "wiped"


class Event(enum.Enum):
    """What happened, as :func:`step` is told."""

    GOOD_PIN = "good_pin"
    """The caller compared a PIN and it matched."""
    WRONG_PIN = "wrong_pin"
    """The caller compared a PIN and it did not match."""
    UNLOCK = "unlock"
    """A valid unlock code was entered (``softtoken.unlock`` checks it)."""
    BEGIN = "begin"
    """A PIN is about to be compared: open an attempt, to be stored before the compare.

    An attempt that is already open was interrupted (its process died before storing the
    result), so it is first counted as a wrong PIN."""
    WIPE = "wipe"
    """Wipe now, whatever the state (user request, too many unlock tries)."""


class Outcome(enum.Enum):
    """What :func:`step` did."""

    ACCEPTED = "accepted"
    """The good PIN was taken; the failure count is now 0."""
    OPENED = "opened"
    """BEGIN opened an attempt: store the state, then compare the PIN. If an interrupted attempt
    was open, it was counted as a wrong PIN first."""
    REJECTED = "rejected"
    """The wrong PIN was counted; tries remain."""
    TOO_SOON = "too_soon"
    """An attempt came before ``not_before``; it was not evaluated and not counted (an
    interrupted attempt that BEGIN found open was counted, and may have started the wait)."""
    LOCKED_NOW = "locked_now"
    """This wrong PIN (or interrupted attempt) was the last allowed; the state is now LOCKED, in a
    new episode."""
    WIPED_NOW = "wiped_now"
    """The state is now WIPED: the last allowed wrong PIN under OnLimit.WIPE, or a WIPE event."""
    STILL_LOCKED = "still_locked"
    """A PIN attempt while LOCKED: nothing was evaluated or changed."""
    UNLOCKED = "unlocked"
    """The LOCKED state is ACTIVE again, with no failures; the episode number is kept."""
    NOT_LOCKED = "not_locked"
    """An UNLOCK event while not locked: nothing changed."""
    WIPED = "wiped"
    """Any event while WIPED: nothing changed. WIPED is terminal."""


_MAX_DELAY: Final = 86_400
_MAX_FAILURES: Final = 10


def _to_delays(values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(values)
    for delay in out:
        check_int(delay, "each delay", 0, _MAX_DELAY)
    return out


@attrs.frozen
class LockoutPolicy:
    """How many wrong PINs are allowed, what happens then, and how long to wait between them.

    Args:
        max_failures: consecutive wrong PINs that trigger *on_limit*, 1 to 10; 5 by default
            (as PSD2 RTS Art. 4(3)(b) does for codes).
        on_limit: :attr:`OnLimit.LOCK` (default) or :attr:`OnLimit.WIPE`.
        delays: the escalating delay schedule, off (empty) by default. ``delays[k - 1]`` is how
            many seconds must pass after the k-th consecutive wrong PIN before the next attempt
            is evaluated; past the end of the schedule its last entry repeats. Each entry is 0
            to 86,400 s, and there are at most ``max_failures - 1`` of them (no delay follows
            the last allowed failure, which locks or wipes).

    Delays slow a person at the keypad; they cannot stop someone who sets the phone's clock
    forward. The bound on guessing is *max_failures*.
    """

    max_failures: int = attrs.field(default=5, kw_only=True)
    on_limit: OnLimit = attrs.field(default=OnLimit.LOCK, kw_only=True)
    delays: tuple[int, ...] = attrs.field(default=(), kw_only=True, converter=_to_delays)

    def __attrs_post_init__(self) -> None:
        check_int(self.max_failures, "max_failures", 1, _MAX_FAILURES)
        if not isinstance(self.on_limit, OnLimit):
            raise TypeError("on_limit must be OnLimit")
        if len(self.delays) > self.max_failures - 1:
            raise InvalidInput("delays must have at most max_failures - 1 entries")

    def delay_after(self, failures: int) -> int:
        """Seconds to wait after *failures* consecutive wrong PINs (0 when there is none)."""
        if failures < 1 or not self.delays:
            return 0
        return self.delays[min(failures, len(self.delays)) - 1]


_U16: Final = 2**16 - 1
_U32: Final = 2**32 - 1
_U64: Final = 2**64 - 1


@attrs.frozen
class LockoutState:
    """The persisted lockout state of one PIN. Start from ``LockoutState()``.

    Attributes:
        status: ACTIVE, LOCKED or WIPED.
        failures: consecutive wrong PINs evaluated since the last good PIN or unlock.
        episode: how many times this PIN has locked. While LOCKED it names the current lock, so
            that a reset code can be bound to it (``softtoken.unlock``); it is kept by UNLOCK and
            grows by one at each new lock.
        not_before: Unix seconds before which PIN attempts are refused unevaluated; 0 for none.
            Always 0 unless ACTIVE.
        attempt_open: an attempt was opened (:attr:`Event.BEGIN`) and its PIN not yet evaluated.
            Only while ACTIVE, and never together with a delay. The next BEGIN counts it as a
            wrong PIN; evaluating a PIN closes it.
        version: grows by one at every change :func:`step` makes, for a store's compare-and-set.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range, or inconsistent (LOCKED with episode
            0, a delay while not ACTIVE, an open attempt while not ACTIVE or with a delay).
    """

    status: Status = attrs.field(default=Status.ACTIVE, kw_only=True)
    failures: int = attrs.field(default=0, kw_only=True)
    episode: int = attrs.field(default=0, kw_only=True)
    not_before: int = attrs.field(default=0, kw_only=True)
    attempt_open: bool = attrs.field(default=False, kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.status, Status):
            raise TypeError("status must be Status")
        check_int(self.failures, "failures", 0, _U16)
        check_int(self.episode, "episode", 0, _U32)
        check_int(self.not_before, "not_before", 0, _U64)
        check_int(self.version, "version", 0, _U64)
        if self.status is Status.LOCKED and self.episode == 0:
            raise InvalidInput("a locked state must have a lock episode")
        if self.status is not Status.ACTIVE and self.not_before:
            raise InvalidInput("only an active state waits for a delay")
        if type(self.attempt_open) is not bool:
            raise TypeError("attempt_open must be bool")
        if self.attempt_open and (self.status is not Status.ACTIVE or self.not_before):
            raise InvalidInput("only an active state without a delay has an open attempt")

    def to_bytes(self) -> bytes:
        """Encode as 27 bytes, big-endian: ``b"PL"`` (2), format 2 (1), status (1: 0 active,
        1 locked, 2 wiped), flags (1: bit 0 is ``attempt_open``, the other bits 0), failures (2),
        episode (4), not_before (8), version (8)."""
        return _state_layout.pack(
            _STATE_TAG,
            _STATE_FORMAT,
            _STATUS_CODES[self.status],
            _ATTEMPT_OPEN_FLAG if self.attempt_open else 0,
            self.failures,
            self.episode,
            self.not_before,
            self.version,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> LockoutState:
        """Decode what :meth:`to_bytes` wrote, strictly.

        Raises:
            TypeError: *data* is not ``bytes``.
            InvalidPINRecord: wrong length, tag, format, status or flags, or inconsistent fields.
                Format 1 (26 bytes, before open attempts were recorded) is refused.
        """
        if type(data) is not bytes:
            raise TypeError("a lockout state must be bytes")
        if len(data) != _state_layout.size:
            raise InvalidPINRecord("lockout state data has the wrong length")
        tag, fmt, status, flags, failures, episode, not_before, version = _state_layout.unpack(data)
        if tag != _STATE_TAG:
            raise InvalidPINRecord("data is not a lockout state")
        if fmt != _STATE_FORMAT:
            raise InvalidPINRecord("unsupported lockout state format")
        if status >= len(_STATUSES):
            raise InvalidPINRecord("unknown lockout status")
        if flags & ~_ATTEMPT_OPEN_FLAG:
            raise InvalidPINRecord("unknown lockout state flags")
        try:
            return cls(
                status=_STATUSES[status],
                failures=failures,
                episode=episode,
                not_before=not_before,
                attempt_open=bool(flags),
                version=version,
            )
        except InvalidInput:
            raise InvalidPINRecord("lockout state fields are inconsistent") from None


_STATE_TAG: Final = b"PL"
# Format 2 added the flags byte (the open attempt). Format 1 was never released.
_STATE_FORMAT: Final = 2
_ATTEMPT_OPEN_FLAG: Final = 0x01
_state_layout = struct.Struct(">2sBBBHIQQ")
_STATUSES: Final = (Status.ACTIVE, Status.LOCKED, Status.WIPED)
_STATUS_CODES: Final = {status: code for code, status in enumerate(_STATUSES)}


def _changed(state: LockoutState, **changes: object) -> LockoutState:
    """*state* with *changes* and the next version, or *state* itself when nothing changes."""
    if all(getattr(state, name) == value for name, value in changes.items()):
        return state
    return attrs.evolve(state, version=state.version + 1, **changes)  # type: ignore[arg-type]


def _one_change(before: LockoutState, after: LockoutState) -> LockoutState:
    """*after* as a single change from *before*: one version later, or *before* if equal."""
    if attrs.evolve(after, version=before.version) == before:
        return before
    return attrs.evolve(after, version=before.version + 1)


def _check_machine(policy: LockoutPolicy, state: LockoutState) -> None:
    if not isinstance(policy, LockoutPolicy):
        raise TypeError("policy must be LockoutPolicy")
    if not isinstance(state, LockoutState):
        raise TypeError("state must be LockoutState")


def _refusal(
    policy: LockoutPolicy, state: LockoutState, now: int
) -> tuple[Outcome, LockoutState] | None:
    if state.status is Status.WIPED:
        return Outcome.WIPED, state
    if state.status is Status.LOCKED:
        return Outcome.STILL_LOCKED, state
    if now >= state.not_before:
        return None
    # A phone's clock can go backwards. The wait is then capped at the current delay counted
    # from now, and the cap is stored, so that a clock change never extends it further.
    capped = min(state.not_before, now + policy.delay_after(state.failures))
    if now >= capped:
        return None
    return Outcome.TOO_SOON, _changed(state, not_before=capped)


def refusal(
    policy: LockoutPolicy, state: LockoutState, now: int | dt.datetime
) -> tuple[Outcome, LockoutState] | None:
    """If a PIN attempt at *now* would be refused unevaluated, return what :func:`step` would.

    Call it before hashing a typed PIN, so that a locked, wiped or waiting state costs no slow
    hash. Returns ``None`` when the attempt would be evaluated; otherwise the outcome
    (``WIPED``, ``STILL_LOCKED`` or ``TOO_SOON``) and the state to store, which differs from
    *state* only when a clock that moved backwards shortened the wait.

    Raises:
        TypeError, InvalidTime: bad arguments or time.
    """
    _check_machine(policy, state)
    return _refusal(policy, state, to_unix(now))


def step(
    policy: LockoutPolicy, state: LockoutState, event: Event, now: int | dt.datetime
) -> tuple[Outcome, LockoutState]:
    """Apply *event* at *now*; return the outcome and the next state. Pure: no I/O, no clock.

    - ACTIVE: a good PIN is ACCEPTED and clears the count and any delay. A wrong PIN is
      REJECTED and counted, starting the scheduled delay; the ``max_failures``-th consecutive
      one gives LOCKED_NOW (a new episode) or WIPED_NOW, by ``policy.on_limit``. A PIN attempt
      before ``not_before`` is TOO_SOON and neither evaluated nor counted.
    - BEGIN (ACTIVE): if an attempt is already open, it was interrupted and is first counted
      exactly like a wrong PIN (which may give LOCKED_NOW or WIPED_NOW, and then no attempt is
      opened). Then, unless the state is now waiting (TOO_SOON), the attempt is OPENED:
      ``attempt_open`` is set and any past delay cleared.
    - Evaluating a PIN (GOOD_PIN or WRONG_PIN) closes an open attempt. This low-level function
      does not require one; :func:`enter_pin` does.
    - LOCKED: PIN attempts and BEGIN are STILL_LOCKED and change nothing. UNLOCK gives
      UNLOCKED: ACTIVE, count 0, same episode.
    - WIPED is terminal: every event gives WIPED and changes nothing.
    - WIPE wipes from ACTIVE or LOCKED (WIPED_NOW). UNLOCK while ACTIVE is NOT_LOCKED.

    The returned state is *state* itself when nothing changed, and otherwise has ``version``
    one higher (also when BEGIN both counts an interrupted attempt and opens a new one): store
    it with a compare-and-set on the version.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidTime: *now* is naive or before 1970.
    """
    _check_machine(policy, state)
    if not isinstance(event, Event):
        raise TypeError("event must be Event")
    t = to_unix(now)
    if state.status is Status.WIPED:
        return Outcome.WIPED, state
    if event is Event.WIPE:
        wiped = _changed(state, status=Status.WIPED, not_before=0, attempt_open=False)
        return Outcome.WIPED_NOW, wiped
    if event is Event.UNLOCK:
        if state.status is Status.LOCKED:
            return Outcome.UNLOCKED, _changed(state, status=Status.ACTIVE, failures=0)
        return Outcome.NOT_LOCKED, state
    if event is Event.BEGIN:
        return _begin(policy, state, t)
    refused = _refusal(policy, state, t)
    if refused is not None:
        return refused
    if event is Event.GOOD_PIN:
        return Outcome.ACCEPTED, _changed(state, failures=0, not_before=0, attempt_open=False)
    return _count_wrong(policy, state, t)


def _count_wrong(
    policy: LockoutPolicy, state: LockoutState, t: int
) -> tuple[Outcome, LockoutState]:
    """Count one wrong PIN on an ACTIVE *state*; any open attempt is closed by it."""
    failures = min(state.failures + 1, _U16)
    if failures >= policy.max_failures:
        if policy.on_limit is OnLimit.LOCK:
            locked = _changed(
                state,
                status=Status.LOCKED,
                failures=failures,
                episode=state.episode + 1,
                not_before=0,
                attempt_open=False,
            )
            return Outcome.LOCKED_NOW, locked
        wiped = _changed(
            state, status=Status.WIPED, failures=failures, not_before=0, attempt_open=False
        )
        return Outcome.WIPED_NOW, wiped
    delay = policy.delay_after(failures)
    return Outcome.REJECTED, _changed(
        state, failures=failures, not_before=t + delay if delay else 0, attempt_open=False
    )


def _begin(policy: LockoutPolicy, state: LockoutState, t: int) -> tuple[Outcome, LockoutState]:
    current = state
    if state.attempt_open:
        # An attempt stored open and never closed belongs to a process that died after it may
        # have compared the PIN. Counting it as wrong is what a smart card does when power is
        # cut after its retry counter was decremented: the guess is never free.
        outcome, current = _count_wrong(policy, state, t)
        if outcome is not Outcome.REJECTED:
            return outcome, current
    refused = _refusal(policy, current, t)
    if refused is not None:
        return refused[0], _one_change(state, refused[1])
    # The wait, if any, has passed; clearing it keeps "open" and "waiting" apart, so that an
    # open attempt is never refused as too soon however the clock moves.
    opened = attrs.evolve(current, not_before=0, attempt_open=True)
    return Outcome.OPENED, _one_change(state, opened)


def remaining_tries(policy: LockoutPolicy, state: LockoutState) -> int:
    """How many more wrong PINs the next :func:`step` calls will count before the limit.

    0 when LOCKED or WIPED. At least 1 when ACTIVE, even if the policy was tightened below the
    stored count (the next wrong PIN then locks or wipes).
    """
    _check_machine(policy, state)
    if state.status is not Status.ACTIVE:
        return 0
    return max(1, policy.max_failures - state.failures)


_ERRORS: Final[dict[Outcome, type[PINNotAccepted]]] = {
    Outcome.REJECTED: WrongPIN,
    Outcome.TOO_SOON: PINDelayed,
    Outcome.LOCKED_NOW: PINLocked,
    Outcome.STILL_LOCKED: PINLocked,
    Outcome.WIPED_NOW: PINWiped,
    Outcome.WIPED: PINWiped,
}


def begin_attempt(
    policy: LockoutPolicy, state: LockoutState, now: int | dt.datetime
) -> LockoutState:
    """The safe path's first half: open an attempt, before any PIN is compared.

    Store the returned state (with ``attempt_open`` set), then call :func:`enter_pin`. If the
    process dies before :func:`enter_pin`'s result is stored, the stored state still has the
    attempt open, and the next call here counts it as a wrong PIN: a guess whose result was
    never stored is never free. No PIN is needed or hashed here.

    Returns:
        The state with an open attempt. If an interrupted attempt was open, it has been counted.

    Raises:
        PINDelayed: TOO_SOON. PINLocked: STILL_LOCKED, or LOCKED_NOW when counting an
            interrupted attempt reached the limit. PINWiped: WIPED, or WIPED_NOW likewise.
            Each carries ``.outcome`` and ``.state``: store ``.state`` before telling the user.
            These are the refusals :func:`refusal` and :func:`enter_pin` give; no attempt is
            opened.
        TypeError, InvalidTime: bad arguments.
    """
    outcome, new_state = step(policy, state, Event.BEGIN, now)
    if outcome is Outcome.OPENED:
        return new_state
    raise _ERRORS[outcome](outcome, new_state)


def enter_pin(
    pin: str,
    *,
    verifier: PINVerifier,
    policy: LockoutPolicy,
    state: LockoutState,
    now: int | dt.datetime,
) -> LockoutState:
    """The safe path's second half: check a typed *pin* against *verifier* in an open attempt.

    *state* must come from :func:`begin_attempt`, stored before this call. A locked, wiped or
    waiting state is refused before the PIN is hashed (such a state never has an open attempt).
    Otherwise, without an open attempt nothing is evaluated and :class:`AttemptNotOpen` is
    raised. The PIN is then compared and the result stepped through :func:`step`, which closes
    the attempt.

    Returns:
        The next state after an ACCEPTED PIN. Store it.

    Raises:
        WrongPIN: REJECTED. PINDelayed: TOO_SOON. PINLocked: LOCKED_NOW or STILL_LOCKED.
        PINWiped: WIPED_NOW or already WIPED. Each is a :class:`PINNotAccepted` carrying
            ``.outcome`` and ``.state``: store ``.state`` before telling the user anything.
        AttemptNotOpen: *state* has no open attempt; nothing was hashed or counted.
        TypeError, InvalidTime: bad arguments.
    """
    if type(pin) is not str:
        raise TypeError("a PIN must be str, never int: leading zeros matter")
    if not isinstance(verifier, PINVerifier):
        raise TypeError("verifier must be PINVerifier")
    refused = refusal(policy, state, now)
    if refused is not None:
        raise _ERRORS[refused[0]](*refused)
    if not state.attempt_open:
        raise AttemptNotOpen("no PIN attempt is open: call begin_attempt and store it first")
    event = Event.GOOD_PIN if verifier.matches(pin) else Event.WRONG_PIN
    outcome, new_state = step(policy, state, event, now)
    if outcome is Outcome.ACCEPTED:
        return new_state
    raise _ERRORS[outcome](outcome, new_state)


# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------


@attrs.frozen
class PINProfile:
    """A PIN policy, a lockout policy and KDF parameters that belong together."""

    pin: PINPolicy = attrs.field(validator=attrs.validators.instance_of(PINPolicy))
    lockout: LockoutPolicy = attrs.field(validator=attrs.validators.instance_of(LockoutPolicy))
    kdf: KDFParams = attrs.field(
        default=PHONE_KDF, kw_only=True, validator=attrs.validators.instance_of(KDFParams)
    )


ENTRUST_LIKE: Final = PINProfile(PINPolicy(), LockoutPolicy(on_limit=OnLimit.LOCK))
"""4 digits, no repeats or runs, not the previous PIN; 5 wrong PINs lock until an unlock code."""

PAYSECURE_LIKE: Final = PINProfile(PINPolicy(), LockoutPolicy(on_limit=OnLimit.WIPE))
"""4 digits, no repeats or runs, not the previous PIN; 5 wrong PINs wipe the identity."""
