"""The app PIN: what wrong PINs do (SECURITY.md S10), and the presets of the seeds' apps.

The lockout is a :mod:`softtoken.throttle` machine with one extra, terminal state: WIPED. At the
limit a policy either locks (Entrust-like apps; an unlock code reopens it, ``softtoken.unlock``)
or wipes the identity (PaySecure-like apps).

- :func:`step` is the pure transition: a :class:`LockoutPolicy`, a :class:`LockoutState`, an
  :class:`Event` and the time go in; an :class:`Outcome` and the next state come out.
- :func:`begin_attempt` opens an attempt before any PIN is compared; the caller stores it.
- :func:`enter_pin` evaluates a typed PIN inside that open attempt and returns a
  :class:`PINEntry`: the outcome, the state to store, and on success the PIN key.

The safe sequence is: ``begin_attempt``, store, ``enter_pin``, store, and only then tell the
user. A process killed anywhere in between leaves a stored state that counts the attempt as a
wrong PIN, so killing the app mid-check never gives a free guess (S7, S10). Nothing here raises
for a refusal: refusals are outcomes, with the state to store, and the layer that stores it
decides what to raise (``softtoken.app``).

The PIN rules live in :mod:`softtoken.pinpolicy` and PIN storage in :mod:`softtoken.pinverifier`;
both are re-exported here. Nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from typing import Final

import attrs

from softtoken import throttle
from softtoken._checks import check_int, valid_or_none
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import AttemptNotOpen, InvalidInput, InvalidPINRecord
from softtoken.pinpolicy import COMMON_PINS, MAX_HISTORY, PINPolicy, PINRejection
from softtoken.pinverifier import (
    INSECURE_TEST_KDF,
    MAX_PIN_LENGTH,
    MIN_PIN_LENGTH,
    PHONE_KDF,
    KDFParams,
    PINVerifier,
    check_pin_type,
)
from softtoken.throttle import ThrottlePolicy, ThrottleState, Verdict

__all__ = [
    "COMMON_PINS",
    "ENTRUST_LIKE",
    "INSECURE_TEST_KDF",
    "MAX_HISTORY",
    "MAX_PIN_FAILURES",
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
    "PINEntry",
    "PINPolicy",
    "PINProfile",
    "PINRejection",
    "PINVerifier",
    "Status",
    "begin_attempt",
    "enter_pin",
    "refusal",
    "remaining_tries",
    "retry_after",
    "step",
]

MAX_PIN_FAILURES: Final = 10
"""The most wrong PINs a :class:`LockoutPolicy` may allow."""


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
    """A PIN is about to be compared: open an attempt, to be stored before the compare. An
    attempt that is already open was interrupted, so it is first counted as a wrong PIN."""
    WIPE = "wipe"
    """Wipe now, whatever the state (user request, too many unlock tries)."""


class Outcome(enum.Enum):
    """What :func:`step` did."""

    ACCEPTED = "accepted"
    """The good PIN was taken; the failure count is now 0."""
    OPENED = "opened"
    """BEGIN opened an attempt: store the state, then compare the PIN."""
    REJECTED = "rejected"
    """The wrong PIN was counted; tries remain."""
    TOO_SOON = "too_soon"
    """An attempt came before ``not_before``; it was not evaluated and not counted."""
    LOCKED_NOW = "locked_now"
    """This wrong PIN (or interrupted attempt) was the last allowed: LOCKED, in a new episode."""
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


@attrs.frozen
class LockoutPolicy:
    """How many wrong PINs are allowed, what happens then, and how long to wait between them.

    Args:
        max_failures: consecutive wrong PINs that trigger *on_limit*, 1 to 10; 5 by default
            (as PSD2 RTS Art. 4(3)(b) does for codes).
        on_limit: :attr:`OnLimit.LOCK` (default) or :attr:`OnLimit.WIPE`.
        delays: the escalating delay schedule, off by default (see
            :class:`softtoken.throttle.ThrottlePolicy`).
    """

    max_failures: int = attrs.field(default=5, kw_only=True)
    on_limit: OnLimit = attrs.field(default=OnLimit.LOCK, kw_only=True)
    delays: tuple[int, ...] = attrs.field(default=(), kw_only=True)
    throttle: ThrottlePolicy = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        check_int(self.max_failures, "max_failures", 1, MAX_PIN_FAILURES)
        if not isinstance(self.on_limit, OnLimit):
            raise TypeError("on_limit must be OnLimit")
        counting = ThrottlePolicy(max_failures=self.max_failures, delays=self.delays)
        object.__setattr__(self, "delays", counting.delays)
        object.__setattr__(self, "throttle", counting)

    def delay_after(self, failures: int) -> int:
        """Seconds to wait after *failures* consecutive wrong PINs (0 when there is none)."""
        return self.throttle.delay_after(failures)


@attrs.frozen
class LockoutState:
    """The persisted lockout state of one PIN. Start from ``LockoutState()``.

    Attributes:
        throttle: the failure count (:class:`softtoken.throttle.ThrottleState`); blocked means
            LOCKED, and its episode names the lock, so that a reset code can be bound to it.
        wiped: the identity was wiped; terminal.

    The properties :attr:`status`, :attr:`failures`, :attr:`episode`, :attr:`not_before`,
    :attr:`attempt_open` and :attr:`version` read through to them.
    """

    throttle: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    wiped: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.throttle, ThrottleState):
            raise TypeError("throttle must be ThrottleState")
        if type(self.wiped) is not bool:
            raise TypeError("wiped must be bool")
        if self.wiped and (self.throttle.attempt_open or self.throttle.not_before):
            raise InvalidInput("a wiped state has no open attempt and no delay")

    @property
    def status(self) -> Status:
        """WIPED, LOCKED (the throttle is blocked) or ACTIVE."""
        if self.wiped:
            return Status.WIPED
        return Status.LOCKED if self.throttle.blocked else Status.ACTIVE

    @property
    def failures(self) -> int:
        """Consecutive wrong PINs since the last good PIN or unlock."""
        return self.throttle.failures

    @property
    def episode(self) -> int:
        """How many times this PIN has locked (or reached the limit)."""
        return self.throttle.episode

    @property
    def not_before(self) -> int:
        """Unix seconds before which attempts are refused unevaluated; 0 for none."""
        return self.throttle.not_before

    @property
    def attempt_open(self) -> bool:
        """An attempt was opened and its PIN not yet evaluated."""
        return self.throttle.attempt_open

    @property
    def version(self) -> int:
        """Grows by one at every change, for a store's compare-and-set."""
        return self.throttle.version

    def to_bytes(self) -> bytes:
        """Encode as 27 bytes, big-endian: ``b"PL"``, format 3 (1), flags (1: bit 0 blocked,
        bit 1 attempt open, bit 2 wiped), unused (1, zero), failures (2), episode (4),
        not_before (8), version (8)."""
        t = self.throttle
        flags = (
            (_BLOCKED if t.blocked else 0)
            | (_OPEN if t.attempt_open else 0)
            | (_WIPED if self.wiped else 0)
        )
        return _LAYOUT.pack(_TAG, _FORMAT, flags, 0, t.failures, t.episode, t.not_before, t.version)

    @classmethod
    def from_bytes(cls, data: bytes) -> LockoutState:
        """Decode what :meth:`to_bytes` wrote, strictly.

        Raises:
            TypeError: *data* is not ``bytes``.
            InvalidPINRecord: wrong length, tag, format or flags, or inconsistent fields.
        """
        if type(data) is not bytes:
            raise TypeError("a lockout state must be bytes")
        if len(data) != _LAYOUT.size:
            raise InvalidPINRecord("lockout state data has the wrong length")
        tag, fmt, flags, spare, failures, episode, not_before, version = _LAYOUT.unpack(data)
        if tag != _TAG or fmt != _FORMAT:
            raise InvalidPINRecord("data is not a lockout state of a known format")
        if flags & ~(_BLOCKED | _OPEN | _WIPED) or spare:
            raise InvalidPINRecord("unknown lockout state flags")
        state = valid_or_none(
            lambda: LockoutState(
                throttle=ThrottleState(
                    failures=failures,
                    blocked=bool(flags & _BLOCKED),
                    episode=episode,
                    not_before=not_before,
                    attempt_open=bool(flags & _OPEN),
                    version=version,
                ),
                wiped=bool(flags & _WIPED),
            )
        )
        if state is None:
            raise InvalidPINRecord("lockout state fields are inconsistent")
        return state


_TAG: Final = b"PL"
# Format 3 stores the throttle's blocked flag and the wipe as flags. Formats 1 and 2 were never
# released.
_FORMAT: Final = 3
_BLOCKED: Final = 0x01
_OPEN: Final = 0x02
_WIPED: Final = 0x04
_LAYOUT: Final = struct.Struct(">2sBBBHIQQ")


def _check_machine(policy: LockoutPolicy, state: LockoutState) -> None:
    if not isinstance(policy, LockoutPolicy):
        raise TypeError("policy must be LockoutPolicy")
    if not isinstance(state, LockoutState):
        raise TypeError("state must be LockoutState")


def _wipe(counted: ThrottleState) -> LockoutState:
    return LockoutState(
        throttle=attrs.evolve(counted, attempt_open=False, not_before=0), wiped=True
    )


_VERDICTS: Final = {
    Verdict.OPENED: Outcome.OPENED,
    Verdict.PASSED: Outcome.ACCEPTED,
    Verdict.FAILED: Outcome.REJECTED,
    Verdict.BLOCKED: Outcome.STILL_LOCKED,
    Verdict.TOO_SOON: Outcome.TOO_SOON,
    Verdict.RELEASED: Outcome.UNLOCKED,
    Verdict.NOT_BLOCKED: Outcome.NOT_LOCKED,
}


def _result(
    policy: LockoutPolicy, state: LockoutState, verdict: Verdict, counted: ThrottleState
) -> tuple[Outcome, LockoutState]:
    """The outcome and state for a throttle *verdict*; the limit locks or wipes by policy."""
    if verdict is Verdict.BLOCKED_NOW:
        if policy.on_limit is OnLimit.WIPE:
            return Outcome.WIPED_NOW, _wipe(counted)
        return Outcome.LOCKED_NOW, LockoutState(throttle=counted)
    if counted is state.throttle:
        return _VERDICTS[verdict], state
    return _VERDICTS[verdict], LockoutState(throttle=counted)


def refusal(
    policy: LockoutPolicy, state: LockoutState, now: int | dt.datetime
) -> tuple[Outcome, LockoutState] | None:
    """If a PIN attempt at *now* would be refused unevaluated, what :func:`step` would return.

    ``None`` when the attempt would be evaluated; otherwise WIPED, STILL_LOCKED or TOO_SOON and
    the state to store (different only when a clock that moved backwards shortened a wait).
    """
    _check_machine(policy, state)
    t = to_unix(now)
    if state.wiped:
        return Outcome.WIPED, state
    refused = throttle.refusal(policy.throttle, state.throttle, t)
    return None if refused is None else _result(policy, state, *refused)


def step(
    policy: LockoutPolicy, state: LockoutState, event: Event, now: int | dt.datetime
) -> tuple[Outcome, LockoutState]:
    """Apply *event* at *now*; return the outcome and the next state. Pure: no I/O, no clock.

    - ACTIVE: a good PIN is ACCEPTED and clears the count. A wrong PIN is REJECTED and counted;
      the ``max_failures``-th consecutive one gives LOCKED_NOW (a new episode) or WIPED_NOW, by
      ``policy.on_limit``. A PIN before ``not_before`` is TOO_SOON, neither evaluated nor
      counted.
    - BEGIN (ACTIVE): an attempt already open was interrupted and is counted as a wrong PIN
      first (which may lock or wipe). Then, unless waiting, the attempt is OPENED.
    - LOCKED: PIN events and BEGIN are STILL_LOCKED. UNLOCK gives UNLOCKED: ACTIVE, count 0,
      same episode.
    - WIPED is terminal: every event gives WIPED. WIPE wipes from ACTIVE or LOCKED.

    The returned state is *state* itself when nothing changed, and otherwise has ``version``
    one higher: store it with a compare-and-set on the version.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidTime: *now* is naive or before 1970.
    """
    _check_machine(policy, state)
    if not isinstance(event, Event):
        raise TypeError("event must be Event")
    t = to_unix(now)
    if state.wiped:
        return Outcome.WIPED, state
    counting, counted = policy.throttle, state.throttle
    if event is Event.WIPE:
        return Outcome.WIPED_NOW, _wipe(attrs.evolve(counted, version=counted.version + 1))
    if event is Event.UNLOCK:
        return _result(policy, state, *throttle.release(counted))
    if event is Event.BEGIN:
        return _result(policy, state, *throttle.begin(counting, counted, t))
    if event is Event.GOOD_PIN:
        return _result(policy, state, *throttle.succeed(counting, counted, t))
    return _result(policy, state, *throttle.fail(counting, counted, t))


def begin_attempt(
    policy: LockoutPolicy, state: LockoutState, now: int | dt.datetime
) -> tuple[Outcome, LockoutState]:
    """The safe path's first half: open an attempt before any PIN is compared.

    No PIN is needed or hashed. Store the returned state, then call :func:`enter_pin`. If the
    process dies before :func:`enter_pin`'s result is stored, the stored state still has the
    attempt open, and the next call here counts it as a wrong PIN.

    Returns:
        OPENED and the state with an open attempt, or a refusal (TOO_SOON, STILL_LOCKED,
        LOCKED_NOW, WIPED, WIPED_NOW) and the state to store; no attempt is then open.
    """
    return step(policy, state, Event.BEGIN, now)


@attrs.frozen
class PINEntry:
    """What :func:`enter_pin` did.

    Attributes:
        outcome: ACCEPTED, or why not.
        state: the lockout state to store before telling the user anything.
        key: on ACCEPTED, the PIN key (:meth:`PINVerifier.derive_key`); otherwise ``None``.
            Hidden from ``repr``.
    """

    outcome: Outcome
    state: LockoutState
    key: bytes | None = attrs.field(default=None, **SECRET)


def enter_pin(
    pin: str,
    *,
    verifier: PINVerifier,
    policy: LockoutPolicy,
    state: LockoutState,
    now: int | dt.datetime,
) -> PINEntry:
    """The safe path's second half: check a typed *pin* against *verifier* in an open attempt.

    *state* must come from :func:`begin_attempt`, stored before this call. A locked, wiped or
    waiting state is reported before the PIN is hashed (such a state never has an open
    attempt). The PIN is then compared (one slow hash) and the result stepped through
    :func:`step`, which closes the attempt.

    Returns:
        A :class:`PINEntry`. Store its state before telling the user anything.

    Raises:
        AttemptNotOpen: the PIN would be evaluated, but *state* has no open attempt; nothing
            was hashed or counted.
        TypeError, InvalidTime: bad arguments.
    """
    check_pin_type(pin)
    if not isinstance(verifier, PINVerifier):
        raise TypeError("verifier must be PINVerifier")
    refused = refusal(policy, state, now)
    if refused is not None:
        return PINEntry(*refused)
    if not state.attempt_open:
        raise AttemptNotOpen()
    key = verifier.derive_key(pin)
    outcome, new_state = step(
        policy, state, Event.WRONG_PIN if key is None else Event.GOOD_PIN, now
    )
    return PINEntry(outcome, new_state, key if outcome is Outcome.ACCEPTED else None)


def remaining_tries(policy: LockoutPolicy, state: LockoutState) -> int:
    """How many more wrong PINs are counted before the limit; 0 when LOCKED or WIPED.

    At least 1 when ACTIVE, even if the policy was tightened below the stored count.
    """
    _check_machine(policy, state)
    return 0 if state.wiped else throttle.remaining(policy.throttle, state.throttle)


def retry_after(state: LockoutState, now: int | dt.datetime) -> int:
    """Whole seconds from *now* until the next attempt is evaluated; 0 when it may go now."""
    return max(0, state.not_before - to_unix(now))


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
