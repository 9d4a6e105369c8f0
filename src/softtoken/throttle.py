"""Counting failures: a pure throttle machine shared by the PIN lockout, the unlock exchange and,
later, the issuer's per-token failure count (SECURITY.md S7, S10, S11).

A :class:`ThrottleState` counts consecutive failures. At :attr:`ThrottlePolicy.max_failures` it
*blocks*, opening a new *episode*; only :func:`release` lifts a block, so a block never clears
itself and never hands out a fresh budget. Between failures an optional schedule of delays
makes the next attempt wait.

An attempt is *opened* before its secret is evaluated (:func:`begin`), as a smart card decrements
its retry counter before it verifies: the caller stores the opened state first. An attempt that
is stored open and never closed belongs to a process that died mid-check, so the next
:func:`begin` counts it as a failure. Evaluating (:func:`succeed` or :func:`fail`) closes it.

Every function is a pure transition ``(policy, state, now) -> (Verdict, new state)``: no clock,
no I/O, no exception for a refusal. The new state is the old one when nothing changed, and
otherwise has ``version`` one higher, for a store's compare-and-set.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Final

import attrs

from softtoken._checks import MAX_COUNTER, MAX_U16, MAX_U32, check_int
from softtoken.exceptions import InvalidInput

__all__ = [
    "MAX_DELAY",
    "MAX_FAILURES",
    "ThrottlePolicy",
    "ThrottleState",
    "Verdict",
    "begin",
    "fail",
    "refusal",
    "release",
    "remaining",
    "succeed",
]

MAX_DELAY: Final = 86_400
"""The longest delay between attempts a policy may ask for: one day, in seconds."""
MAX_FAILURES: Final = 1000
"""The largest failure limit a policy may set."""


class Verdict(enum.Enum):
    """What a transition did."""

    OPENED = "opened"
    """:func:`begin` opened an attempt (after counting an interrupted one, if any)."""
    PASSED = "passed"
    """:func:`succeed`: the failure count is 0 again and the attempt is closed."""
    FAILED = "failed"
    """:func:`fail` counted a failure; tries remain."""
    BLOCKED_NOW = "blocked_now"
    """This failure (or interrupted attempt) reached the limit: blocked, in a new episode."""
    BLOCKED = "blocked"
    """Refused unevaluated: the state was blocked already. Nothing changed."""
    TOO_SOON = "too_soon"
    """Refused unevaluated: a delay has not passed. Nothing was counted."""
    RELEASED = "released"
    """:func:`release` lifted the block; the count is 0 and the episode is kept."""
    NOT_BLOCKED = "not_blocked"
    """:func:`release` on a state that was not blocked. Nothing changed."""


def _to_delays(values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(values)
    for delay in out:
        check_int(delay, "each delay", 0, MAX_DELAY)
    return out


@attrs.frozen
class ThrottlePolicy:
    """How many consecutive failures block, and how long to wait between them.

    Args:
        max_failures: consecutive failures that block, 1 to :data:`MAX_FAILURES`; 5 by default
            (PSD2 RTS Art. 4(3)(b)).
        delays: the escalating delay schedule, off (empty) by default. ``delays[k - 1]`` is how
            many seconds must pass after the k-th consecutive failure before the next attempt
            is evaluated; past the end of the schedule its last entry repeats. Each entry is 0
            to :data:`MAX_DELAY`, and there are at most ``max_failures - 1`` of them (no delay
            follows the failure that blocks).

    Delays slow a person at the keypad; they cannot stop someone who controls the clock. The
    bound on guessing is *max_failures*.
    """

    max_failures: int = attrs.field(default=5, kw_only=True)
    delays: tuple[int, ...] = attrs.field(default=(), kw_only=True, converter=_to_delays)

    def __attrs_post_init__(self) -> None:
        check_int(self.max_failures, "max_failures", 1, MAX_FAILURES)
        if len(self.delays) > self.max_failures - 1:
            raise InvalidInput("delays must have at most max_failures - 1 entries")

    def delay_after(self, failures: int) -> int:
        """Seconds to wait after *failures* consecutive failures (0 when there is none)."""
        if failures < 1 or not self.delays:
            return 0
        return self.delays[min(failures, len(self.delays)) - 1]


@attrs.frozen
class ThrottleState:
    """The persisted failure count of one secret. Start from ``ThrottleState()``.

    Attributes:
        failures: consecutive failures since the last success or release, 0 to 65,535.
        blocked: the limit was reached; only :func:`release` lifts it.
        episode: how many times this state has blocked. While blocked it names the current
            block, so that what unblocks it (a reset code) can be bound to it.
        not_before: Unix seconds before which attempts are refused unevaluated; 0 for none.
            Never set while blocked.
        attempt_open: an attempt was opened and not yet evaluated. Never while blocked, and
            never together with a delay.
        version: grows by one at every change, for a store's compare-and-set.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range, or inconsistent.
    """

    failures: int = attrs.field(default=0, kw_only=True)
    blocked: bool = attrs.field(default=False, kw_only=True)
    episode: int = attrs.field(default=0, kw_only=True)
    not_before: int = attrs.field(default=0, kw_only=True)
    attempt_open: bool = attrs.field(default=False, kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_int(self.failures, "failures", 0, MAX_U16)
        check_int(self.episode, "episode", 0, MAX_U32)
        check_int(self.not_before, "not_before", 0, MAX_COUNTER)
        check_int(self.version, "version", 0, MAX_COUNTER)
        if type(self.blocked) is not bool or type(self.attempt_open) is not bool:
            raise TypeError("blocked and attempt_open must be bool")
        if self.blocked and (self.episode == 0 or self.not_before or self.attempt_open):
            raise InvalidInput("a blocked state has an episode, and no delay or open attempt")
        if self.attempt_open and self.not_before:
            raise InvalidInput("an open attempt never waits for a delay")


def _changed(state: ThrottleState, **changes: int | bool) -> ThrottleState:
    """*state* with *changes* and the next version, or *state* itself when nothing changes."""
    if all(getattr(state, name) == value for name, value in changes.items()):
        return state
    return attrs.evolve(state, version=state.version + 1, **changes)  # type: ignore[arg-type]


def refusal(
    policy: ThrottlePolicy, state: ThrottleState, now: int
) -> tuple[Verdict, ThrottleState] | None:
    """If an attempt at *now* must be refused unevaluated, the verdict and the state to store.

    Returns ``None`` when the attempt may go on. Otherwise BLOCKED or TOO_SOON, and the state,
    which differs from *state* only when a clock that moved backwards shortened a wait: the wait
    is capped at the current delay counted from *now*, so that a clock change never extends it.
    """
    if state.blocked:
        return Verdict.BLOCKED, state
    if now >= state.not_before:
        return None
    capped = min(state.not_before, now + policy.delay_after(state.failures))
    if now >= capped:
        return None
    return Verdict.TOO_SOON, _changed(state, not_before=capped)


def fail(policy: ThrottlePolicy, state: ThrottleState, now: int) -> tuple[Verdict, ThrottleState]:
    """Count one failure at *now*, closing any open attempt: FAILED or BLOCKED_NOW.

    A state that must refuse the attempt (:func:`refusal`) is returned with that verdict and
    nothing counted.
    """
    refused = refusal(policy, state, now)
    if refused is not None:
        return refused
    failures = min(state.failures + 1, MAX_U16)
    if failures >= policy.max_failures:
        blocked = _changed(
            state,
            failures=failures,
            blocked=True,
            episode=min(state.episode + 1, MAX_U32),
            not_before=0,
            attempt_open=False,
        )
        return Verdict.BLOCKED_NOW, blocked
    delay = policy.delay_after(failures)
    return Verdict.FAILED, _changed(
        state, failures=failures, not_before=now + delay if delay else 0, attempt_open=False
    )


def succeed(
    policy: ThrottlePolicy, state: ThrottleState, now: int
) -> tuple[Verdict, ThrottleState]:
    """Record a success at *now*: PASSED, with the count at 0 and the attempt closed.

    A state that must refuse the attempt (:func:`refusal`) is returned with that verdict.
    """
    refused = refusal(policy, state, now)
    if refused is not None:
        return refused
    return Verdict.PASSED, _changed(state, failures=0, not_before=0, attempt_open=False)


def begin(policy: ThrottlePolicy, state: ThrottleState, now: int) -> tuple[Verdict, ThrottleState]:
    """Open an attempt at *now*, to be stored before the secret is evaluated.

    An attempt already open was interrupted and is first counted as a failure, exactly as
    :func:`fail` would (which may block: then BLOCKED_NOW, and nothing is opened). Then, unless
    the state refuses (BLOCKED or TOO_SOON), the attempt is OPENED and any past delay cleared,
    so that an open attempt is never refused as too soon however the clock moves. The result is
    one change: ``version`` grows by one even when an interrupted attempt was counted too.
    """
    current = state
    if state.attempt_open:
        # The process that opened it may have compared the secret before it died. Counting it
        # is what a smart card does when power is cut after its retry counter was decremented.
        verdict, current = fail(policy, state, now)
        if verdict is Verdict.BLOCKED_NOW:
            return verdict, _one_change(state, current)
    refused = refusal(policy, current, now)
    if refused is not None:
        return refused[0], _one_change(state, refused[1])
    opened = attrs.evolve(current, not_before=0, attempt_open=True)
    return Verdict.OPENED, _one_change(state, opened)


def release(state: ThrottleState) -> tuple[Verdict, ThrottleState]:
    """Lift a block: RELEASED, with the count at 0 and the episode kept; else NOT_BLOCKED."""
    if not state.blocked:
        return Verdict.NOT_BLOCKED, state
    return Verdict.RELEASED, _changed(state, blocked=False, failures=0)


def remaining(policy: ThrottlePolicy, state: ThrottleState) -> int:
    """How many more failures are counted before the block; 0 when blocked.

    At least 1 when not blocked, even if the policy was tightened below the stored count (the
    next failure then blocks).
    """
    if state.blocked:
        return 0
    return max(1, policy.max_failures - state.failures)


def _one_change(before: ThrottleState, after: ThrottleState) -> ThrottleState:
    """*after* as a single change from *before*: one version later, or *before* if equal."""
    if attrs.evolve(after, version=before.version) == before:
        return before
    return attrs.evolve(after, version=before.version + 1)
