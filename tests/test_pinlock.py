"""Tests for softtoken.pinlock: the PIN lockout machine and its safe path (SECURITY.md S10, S17).

The PIN rules are tested in tests/test_pinpolicy.py, PIN storage in tests/test_pinverifier.py and
the failure count underneath the lockout in tests/test_throttle.py. Here: the lockout policy and
state, the stored format (tests/vectors/lockout-state.txt), step case by case, the open-attempt
rule, the safe path begin_attempt / enter_pin, and a stateful test against a reference model.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from softtoken.exceptions import (
    AttemptNotOpen,
    InvalidInput,
    InvalidPINRecord,
    InvalidTime,
    SoftTokenError,
    WrongState,
)
from softtoken.pinlock import (
    ENTRUST_LIKE,
    INSECURE_TEST_KDF,
    MAX_PIN_FAILURES,
    PAYSECURE_LIKE,
    PHONE_KDF,
    Event,
    LockoutPolicy,
    LockoutState,
    OnLimit,
    Outcome,
    PINEntry,
    PINPolicy,
    PINVerifier,
    Status,
    begin_attempt,
    enter_pin,
    refusal,
    remaining_tries,
    retry_after,
    step,
)
from softtoken.throttle import ThrottlePolicy, ThrottleState
from tests import strategies
from tests.utils import count_scrypt, load_vectors

FAST = INSECURE_TEST_KDF
T0 = 1_700_000_000
WRONG = Event.WRONG_PIN
GOOD = Event.GOOD_PIN
BEGIN = Event.BEGIN


def lockout(*, wiped: bool = False, **fields: Any) -> LockoutState:
    """A lockout state from ThrottleState fields and the wiped flag."""
    return LockoutState(throttle=ThrottleState(**fields), wiped=wiped)


def any_state(
    fields: dict[str, Any], *, wiped: bool, attempt_open: bool | None = None
) -> LockoutState:
    """A valid lockout state from the shared throttle strategy: a wiped state has no delay or
    open attempt, and the version leaves room for one more change."""
    changes: dict[str, Any] = {"version": min(fields["version"], 2**64 - 2)}
    if attempt_open is not None:
        changes["attempt_open"] = attempt_open
    if wiped:
        changes.update(not_before=0, attempt_open=False)
    return lockout(wiped=wiped, **{**fields, **changes})


def policy_from(fields: dict[str, Any]) -> LockoutPolicy:
    """A lockout policy from the shared strategy's fields (on_limit given as its value)."""
    return LockoutPolicy(**{**fields, "on_limit": OnLimit(fields["on_limit"])})


OPEN = lockout(attempt_open=True, version=1)
LOCKED = lockout(failures=5, blocked=True, episode=1, version=5)
WIPED = lockout(failures=5, blocked=True, episode=1, wiped=True, version=5)
WAITING = lockout(failures=1, not_before=T0 + 30, version=1)
# States in which no PIN may be evaluated at T0, with the outcome each must give.
REFUSED_STATES = [
    (LOCKED, Outcome.STILL_LOCKED),
    (WIPED, Outcome.WIPED),
    (WAITING, Outcome.TOO_SOON),
]
REFUSED_IDS = ["locked", "wiped", "waiting"]


def run(
    policy: LockoutPolicy, state: LockoutState, *events: tuple[Event, int]
) -> tuple[list[Outcome], LockoutState]:
    """Step through (event, time) pairs; return the outcomes and the final state."""
    outcomes = []
    for event, now in events:
        outcome, state = step(policy, state, event, now)
        outcomes.append(outcome)
    return outcomes, state


class TestLockoutPolicy:
    """The lockout policy validates itself and derives its throttle."""

    def test_defaults_are_five_failures_then_lock_without_delay(self) -> None:
        """Default: 5 wrong PINs, then LOCK, no delays."""
        policy = LockoutPolicy()

        assert (5, OnLimit.LOCK, ()) == (policy.max_failures, policy.on_limit, policy.delays)

    def test_throttle_is_derived_from_the_policy(self) -> None:
        """The derived throttle has the same limit and delays; delays become a tuple."""
        policy = LockoutPolicy(max_failures=3, delays=[0, 30])  # type: ignore[arg-type]

        assert ((0, 30), ThrottlePolicy(max_failures=3, delays=(0, 30))) == (
            policy.delays,
            policy.throttle,
        )

    def test_equal_policies_compare_and_hash_equal(self) -> None:
        """Policies built from equal arguments are equal and hash alike."""
        first, second = LockoutPolicy(delays=[5]), LockoutPolicy(delays=(5,))  # type: ignore[arg-type]

        assert (first, hash(first)) == (second, hash(second))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"max_failures": 0},
            {"max_failures": MAX_PIN_FAILURES + 1},
            {"delays": (-1,)},
            {"delays": (86_401,)},
            {"max_failures": 2, "delays": (1, 2)},
            {"max_failures": 1, "delays": (1,)},
        ],
    )
    def test_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """Failures outside 1-10, bad delays and too long a schedule are refused."""
        with pytest.raises(InvalidInput):
            LockoutPolicy(**kwargs)

    @pytest.mark.parametrize(
        "kwargs", [{"max_failures": True}, {"on_limit": "lock"}, {"delays": (1.5,)}]
    )
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """A bool count, a plain string for on_limit and float delays are TypeErrors."""
        with pytest.raises(TypeError):
            LockoutPolicy(**kwargs)

    def test_delay_schedule_repeats_its_last_entry(self) -> None:
        """delays[k - 1] follows failure k, and the last entry repeats past the end."""
        policy = LockoutPolicy(max_failures=6, delays=(0, 30, 60))

        assert [0, 0, 30, 60, 60, 60] == [policy.delay_after(k) for k in range(6)]
        assert 0 == LockoutPolicy().delay_after(3)


class TestLockoutState:
    """The persisted lockout state: read-through properties and a strict encoding."""

    def test_fresh_state_is_active_and_clean(self) -> None:
        """LockoutState() is ACTIVE with no failures, episode, delay, open attempt or version."""
        state = LockoutState()

        assert (Status.ACTIVE, 0, 0, 0, False, 0, False) == (
            state.status,
            state.failures,
            state.episode,
            state.not_before,
            state.attempt_open,
            state.version,
            state.wiped,
        )

    def test_status_follows_blocked_and_wiped(self) -> None:
        """A blocked throttle is LOCKED; wiped is WIPED whether or not it is blocked."""
        assert [Status.ACTIVE, Status.LOCKED, Status.WIPED, Status.WIPED] == [
            state.status
            for state in (LockoutState(), LOCKED, WIPED, lockout(failures=1, wiped=True))
        ]

    @given(fields=strategies.throttle_state_fields, wiped=st.booleans())
    def test_round_trips_through_bytes(self, fields: dict[str, Any], wiped: bool) -> None:
        """Every valid state decodes to itself from its 27-byte encoding."""
        state = any_state(fields, wiped=wiped)

        data = state.to_bytes()

        assert (27, state) == (len(data), LockoutState.from_bytes(data))

    def test_encoding_layout(self) -> None:
        """The documented layout: tag, format 3, flags, a zero byte, failures, episode,
        not_before, version, big-endian."""
        state = lockout(failures=2, episode=3, attempt_open=True, version=7)

        expected = b"PL" + bytes([3, 0b010, 0]) + (2).to_bytes(2, "big") + (3).to_bytes(4, "big")
        expected += (0).to_bytes(8, "big") + (7).to_bytes(8, "big")
        assert expected == state.to_bytes()

    @pytest.mark.parametrize(
        "fields",
        [
            (b"XL", 3, 0, 0, 0, 0, 0, 0),
            (b"PV", 3, 0, 0, 0, 0, 0, 0),
            (b"PL", 1, 0, 0, 0, 0, 0, 0),
            (b"PL", 2, 0, 0, 0, 0, 0, 0),
            (b"PL", 4, 0, 0, 0, 0, 0, 0),
            (b"PL", 3, 0x08, 0, 0, 0, 0, 0),
            (b"PL", 3, 0x80, 0, 0, 0, 0, 0),
            (b"PL", 3, 0, 1, 0, 0, 0, 0),
            (b"PL", 3, 0x01, 0, 5, 0, 0, 0),
            (b"PL", 3, 0x01, 0, 5, 1, 7, 0),
            (b"PL", 3, 0x03, 0, 5, 1, 0, 0),
            (b"PL", 3, 0x02, 0, 1, 0, 9, 0),
            (b"PL", 3, 0x06, 0, 1, 0, 0, 0),
            (b"PL", 3, 0x04, 0, 1, 0, 9, 0),
        ],
        ids=[
            "tag",
            "tag-of-a-pin-verifier",
            "format-1",
            "format-2",
            "format-4",
            "unknown-flag",
            "high-flag",
            "spare-byte-set",
            "locked-without-episode",
            "locked-with-delay",
            "locked-with-open-attempt",
            "open-attempt-with-delay",
            "wiped-with-open-attempt",
            "wiped-with-delay",
        ],
    )
    def test_bad_fields_are_typed_errors(self, fields: tuple[Any, ...]) -> None:
        """A wrong tag, format, flags or spare byte, or inconsistent fields, raise
        InvalidPINRecord."""
        data = struct.pack(">2sBBBHIQQ", *fields)

        with pytest.raises(InvalidPINRecord):
            LockoutState.from_bytes(data)

    def test_wrong_length_is_a_typed_error(self) -> None:
        """One byte too few or too many, or nothing, raises InvalidPINRecord."""
        data = LockoutState().to_bytes()

        for bad in (data[:-1], data + b"\x00", b""):
            with pytest.raises(InvalidPINRecord):
                LockoutState.from_bytes(bad)

    def test_only_bytes_are_decoded(self) -> None:
        """A bytearray is a TypeError."""
        with pytest.raises(TypeError):
            LockoutState.from_bytes(bytearray(LockoutState().to_bytes()))  # type: ignore[arg-type]

    @given(data=st.binary(min_size=25, max_size=29) | st.binary(max_size=40))
    def test_from_bytes_raises_only_its_own_error(self, data: bytes) -> None:
        """Arbitrary bytes decode to a state that re-encodes the same, or raise InvalidPINRecord."""
        try:
            state = LockoutState.from_bytes(data)
        except InvalidPINRecord:
            return
        assert data == state.to_bytes()

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"wiped": True, "attempt_open": True},
            {"wiped": True, "not_before": 5},
        ],
    )
    def test_constructor_refuses_inconsistent_wipes(self, kwargs: dict[str, Any]) -> None:
        """A wiped state with an open attempt or a delay is refused."""
        with pytest.raises(InvalidInput):
            lockout(**kwargs)

    @pytest.mark.parametrize("kwargs", [{"throttle": "active"}, {"throttle": None}, {"wiped": 1}])
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """The throttle must be a ThrottleState and wiped a bool."""
        with pytest.raises(TypeError):
            LockoutState(**kwargs)


# ----------------------------------------------------------------------------------------------
# softtoken's own format, pinned by tests/vectors/lockout-state.txt
# ----------------------------------------------------------------------------------------------


def vector_state(row: list[str]) -> LockoutState:
    """The state a vector row describes."""
    failures, blocked, episode, not_before, attempt_open, wiped, version = map(int, row[:7])
    return lockout(
        failures=failures,
        blocked=bool(blocked),
        episode=episode,
        not_before=not_before,
        attempt_open=bool(attempt_open),
        wiped=bool(wiped),
        version=version,
    )


STATE_VECTORS = {row[1]: row[2:] for row in load_vectors("lockout-state.txt") if row[0] == "STATE"}


class TestLockoutStateVectors:
    """LockoutState.to_bytes gives exactly the bytes of the vector file, and decodes them back."""

    @pytest.mark.parametrize("name", list(STATE_VECTORS))
    def test_encoding_matches_the_file(self, name: str) -> None:
        """The state's 27 bytes are the file's, and the file's bytes decode to the state."""
        row = STATE_VECTORS[name]
        state, data = vector_state(row), bytes.fromhex(row[7])

        assert (data, state) == (state.to_bytes(), LockoutState.from_bytes(data))

    @pytest.mark.parametrize("name", list(STATE_VECTORS))
    def test_properties_read_through_to_the_throttle(self, name: str) -> None:
        """failures, episode, not_before, attempt_open and version are the throttle's fields."""
        state = vector_state(STATE_VECTORS[name])
        t = state.throttle

        assert (t.failures, t.episode, t.not_before, t.attempt_open, t.version) == (
            state.failures,
            state.episode,
            state.not_before,
            state.attempt_open,
            state.version,
        )

    def test_the_file_covers_every_status_and_flag(self) -> None:
        """The file holds an active, a delayed, an open, a locked and a wiped state."""
        states = [vector_state(row) for row in STATE_VECTORS.values()]

        assert set(Status) == {state.status for state in states}
        assert any(state.attempt_open for state in states)
        assert any(state.not_before for state in states)

    @pytest.mark.parametrize(
        ("name", "policy", "events"),
        [
            ("fresh", LockoutPolicy(), []),
            (
                "delayed",
                LockoutPolicy(delays=(30,)),
                [(WRONG, T0 - 60), (WRONG, T0 - 30), (WRONG, T0)],
            ),
            ("locked", LockoutPolicy(), [(WRONG, T0)] * 5),
            ("wiped-at-limit", PAYSECURE_LIKE.lockout, [(WRONG, T0)] * 5),
            ("wiped-on-request", LockoutPolicy(), [(WRONG, T0), (Event.WIPE, T0)]),
        ],
    )
    def test_vectors_are_states_the_machine_reaches(
        self, name: str, policy: LockoutPolicy, events: list[tuple[Event, int]]
    ) -> None:
        """The named vectors are exactly what step produces from a fresh state."""
        _, state = run(policy, LockoutState(), *events)

        assert vector_state(STATE_VECTORS[name]) == state


class TestStep:
    """The lockout transition function, case by case."""

    def test_fifth_wrong_pin_locks_in_a_new_episode(self) -> None:
        """Four wrong PINs are REJECTED; the fifth gives LOCKED_NOW and episode 1."""
        outcomes, state = run(LockoutPolicy(), LockoutState(), *[(WRONG, T0)] * 5)

        assert [Outcome.REJECTED] * 4 + [Outcome.LOCKED_NOW] == outcomes
        assert (Status.LOCKED, 5, 1) == (state.status, state.failures, state.episode)

    def test_fifth_wrong_pin_wipes_under_wipe_policy(self) -> None:
        """Under OnLimit.WIPE, the fifth wrong PIN gives WIPED_NOW."""
        outcomes, state = run(PAYSECURE_LIKE.lockout, LockoutState(), *[(WRONG, T0)] * 5)

        assert (Outcome.WIPED_NOW, Status.WIPED) == (outcomes[-1], state.status)

    def test_good_pin_resets_the_count(self) -> None:
        """A good PIN after four wrong ones clears the count, so five more are needed to lock."""
        events = [(WRONG, T0)] * 4 + [(GOOD, T0)] + [(WRONG, T0)] * 4

        outcomes, state = run(LockoutPolicy(), LockoutState(), *events)

        assert Outcome.ACCEPTED == outcomes[4]
        assert (Status.ACTIVE, 4) == (state.status, state.failures)

    def test_locked_state_ignores_pins(self) -> None:
        """While LOCKED, good and wrong PINs are STILL_LOCKED and change nothing."""
        for event in (GOOD, WRONG):
            outcome, after = step(LockoutPolicy(), LOCKED, event, T0)
            assert (Outcome.STILL_LOCKED, LOCKED) == (outcome, after)
            assert LOCKED is after

    def test_unlock_reopens_and_keeps_the_episode(self) -> None:
        """UNLOCK on a LOCKED state gives ACTIVE, no failures, the same episode."""
        locked = lockout(failures=5, blocked=True, episode=3, version=9)

        assert (Outcome.UNLOCKED, lockout(episode=3, version=10)) == step(
            LockoutPolicy(), locked, Event.UNLOCK, T0
        )

    def test_next_lock_is_a_new_episode(self) -> None:
        """Lock, unlock, lock again: the episode goes 1, 1, 2."""
        policy = LockoutPolicy(max_failures=2)
        _, first = run(policy, LockoutState(), (WRONG, T0), (WRONG, T0))
        _, unlocked = run(policy, first, (Event.UNLOCK, T0))
        _, second = run(policy, unlocked, (WRONG, T0), (WRONG, T0))

        assert [1, 1, 2] == [first.episode, unlocked.episode, second.episode]

    def test_unlock_while_active_changes_nothing(self) -> None:
        """UNLOCK on an ACTIVE state is NOT_LOCKED and returns the same state."""
        state = lockout(failures=2, version=2)

        outcome, after = step(LockoutPolicy(), state, Event.UNLOCK, T0)

        assert Outcome.NOT_LOCKED == outcome
        assert state is after

    @pytest.mark.parametrize("state", [lockout(failures=2, version=2), LOCKED, OPEN])
    def test_wipe_event_wipes(self, state: LockoutState) -> None:
        """WIPE wipes an ACTIVE, LOCKED or open state, keeping the count, one version on."""
        outcome, wiped = step(LockoutPolicy(), state, Event.WIPE, T0)

        assert (Outcome.WIPED_NOW, Status.WIPED, state.failures, state.version + 1) == (
            outcome,
            wiped.status,
            wiped.failures,
            wiped.version,
        )

    @pytest.mark.parametrize("event", list(Event))
    def test_wiped_is_terminal(self, event: Event) -> None:
        """Every event on a WIPED state gives WIPED and the very same state."""
        outcome, after = step(LockoutPolicy(), WIPED, event, T0)

        assert Outcome.WIPED == outcome
        assert WIPED is after

    def test_delay_refuses_attempts_until_it_passes(self) -> None:
        """After a wrong PIN with a 30 s delay, attempts are TOO_SOON until 30 s have passed."""
        policy = LockoutPolicy(delays=(30,))
        _, waiting = run(policy, LockoutState(), (WRONG, T0))

        assert T0 + 30 == waiting.not_before
        for event in (GOOD, WRONG, BEGIN):
            assert (Outcome.TOO_SOON, waiting) == step(policy, waiting, event, T0 + 29)
        outcome, after = step(policy, waiting, GOOD, T0 + 30)
        assert (Outcome.ACCEPTED, 0, 0) == (outcome, after.failures, after.not_before)

    def test_clock_moved_back_caps_the_wait(self) -> None:
        """If the clock goes back a year, the wait is capped at the delay counted from now."""
        policy = LockoutPolicy(delays=(30,))
        _, waiting = run(policy, LockoutState(), (WRONG, T0))
        earlier = T0 - 365 * 86_400

        outcome, capped = step(policy, waiting, WRONG, earlier)

        assert (Outcome.TOO_SOON, earlier + 30, waiting.version + 1) == (
            outcome,
            capped.not_before,
            capped.version,
        )

    def test_version_grows_only_on_change(self) -> None:
        """A change bumps the version by one; a no-op returns the identical state."""
        fresh = LockoutState()

        _, accepted_state = step(LockoutPolicy(), fresh, GOOD, T0)
        _, rejected_state = step(LockoutPolicy(), fresh, WRONG, T0)

        assert fresh is accepted_state
        assert 1 == rejected_state.version

    def test_aware_datetime_is_accepted_as_time(self) -> None:
        """now may be an aware datetime, read as Unix seconds."""
        policy = LockoutPolicy(delays=(30,))
        at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

        _, state = step(policy, LockoutState(), WRONG, at)

        assert int(at.timestamp()) + 30 == state.not_before

    @pytest.mark.parametrize(
        "now", [dt.datetime(2024, 1, 1), -1, dt.datetime(1969, 12, 31, tzinfo=dt.UTC)]
    )
    def test_bad_times_are_invalid_time(self, now: int | dt.datetime) -> None:
        """A naive datetime and a time before 1970 are refused."""
        with pytest.raises(InvalidTime):
            step(LockoutPolicy(), LockoutState(), WRONG, now)

    @pytest.mark.parametrize(
        "args",
        [
            ("policy", LockoutState(), WRONG, T0),
            (LockoutPolicy(), "state", WRONG, T0),
            (LockoutPolicy(), LockoutState(), "wrong_pin", T0),
            (LockoutPolicy(), LockoutState(), WRONG, 1.5),
            (LockoutPolicy(), LockoutState(), WRONG, True),
        ],
    )
    def test_wrong_types_are_type_errors(self, args: tuple[Any, ...]) -> None:
        """Every argument is type-checked; a float or bool time is refused."""
        with pytest.raises(TypeError):
            step(*args)

    def test_tightened_policy_locks_on_the_next_wrong_pin(self) -> None:
        """A stored count above a lowered limit locks at the next wrong PIN, not later."""
        state = lockout(failures=7)

        assert 1 == remaining_tries(LockoutPolicy(), state)
        assert Outcome.LOCKED_NOW == step(LockoutPolicy(), state, WRONG, T0)[0]

    def test_remaining_tries_counts_down_to_zero(self) -> None:
        """remaining_tries goes 5, 4, 3, 2, 1, then 0 once locked, and 0 once wiped."""
        policy, state, seen = LockoutPolicy(), LockoutState(), []
        for _ in range(5):
            seen.append(remaining_tries(policy, state))
            _, state = step(policy, state, WRONG, T0)
        seen.append(remaining_tries(policy, state))
        seen.append(remaining_tries(policy, lockout(failures=1, wiped=True)))

        assert [5, 4, 3, 2, 1, 0, 0] == seen

    def test_retry_after_counts_whole_seconds(self) -> None:
        """retry_after is the seconds left before not_before, and 0 once it has passed."""
        assert [30, 1, 0, 0] == [
            retry_after(WAITING, now) for now in (T0, T0 + 29, T0 + 30, T0 + 999)
        ]

    def test_refusal_matches_step(self) -> None:
        """refusal is None when step would evaluate, and step's answer when it would not."""
        policy = LockoutPolicy(delays=(30,))

        for state, _ in REFUSED_STATES:
            assert step(policy, state, WRONG, T0) == refusal(policy, state, T0)
        assert refusal(policy, WAITING, T0 + 30) is None
        assert refusal(policy, OPEN, T0) is None


class TestBeginEvent:
    """BEGIN opens an attempt before a PIN is compared, and counts an interrupted one."""

    def test_begin_opens_an_attempt(self) -> None:
        """BEGIN on a clean state is OPENED: attempt_open, nothing counted, one version on."""
        assert (Outcome.OPENED, OPEN) == step(LockoutPolicy(), LockoutState(), BEGIN, T0)

    def test_interrupted_attempt_counts_as_a_wrong_pin(self) -> None:
        """BEGIN on an open attempt counts it as one wrong PIN, then opens the next, as one
        change."""
        assert (Outcome.OPENED, lockout(failures=1, attempt_open=True, version=2)) == step(
            LockoutPolicy(), OPEN, BEGIN, T0
        )

    @pytest.mark.parametrize(
        ("policy", "last", "status"),
        [
            (ENTRUST_LIKE.lockout, Outcome.LOCKED_NOW, Status.LOCKED),
            (PAYSECURE_LIKE.lockout, Outcome.WIPED_NOW, Status.WIPED),
        ],
        ids=["entrust-locks", "paysecure-wipes"],
    )
    def test_five_interrupted_attempts_reach_the_limit(
        self, policy: LockoutPolicy, last: Outcome, status: Status
    ) -> None:
        """Five attempts opened and never finished lock (or wipe) at the sixth BEGIN, which
        opens nothing, in a new episode."""
        outcomes, state = run(policy, LockoutState(), *[(BEGIN, T0)] * 6)

        assert [Outcome.OPENED] * 5 + [last] == outcomes
        assert (status, 5, False, 1) == (
            state.status,
            state.failures,
            state.attempt_open,
            state.episode,
        )

    @pytest.mark.parametrize(("state", "outcome"), REFUSED_STATES, ids=REFUSED_IDS)
    def test_refused_states_open_nothing(self, state: LockoutState, outcome: Outcome) -> None:
        """BEGIN is refused exactly as refusal() refuses a PIN, and changes nothing."""
        policy = LockoutPolicy(delays=(30,))

        assert (outcome, state) == step(policy, state, BEGIN, T0)
        assert refusal(policy, state, T0) == step(policy, state, BEGIN, T0)

    def test_interrupted_attempt_starts_the_delay(self) -> None:
        """Counting an interrupted attempt starts its delay, so the new attempt is TOO_SOON."""
        assert (Outcome.TOO_SOON, lockout(failures=1, not_before=T0 + 30, version=2)) == step(
            LockoutPolicy(delays=(30,)), OPEN, BEGIN, T0
        )

    def test_begin_after_the_delay_clears_it(self) -> None:
        """Once the wait has passed, BEGIN opens an attempt and clears the stale not_before."""
        outcome, state = step(LockoutPolicy(delays=(30,)), WAITING, BEGIN, T0 + 30)

        assert (Outcome.OPENED, 0, True) == (outcome, state.not_before, state.attempt_open)

    @pytest.mark.parametrize(
        ("event", "outcome", "failures"),
        [(GOOD, Outcome.ACCEPTED, 0), (WRONG, Outcome.REJECTED, 3)],
    )
    def test_evaluating_a_pin_closes_the_attempt(
        self, event: Event, outcome: Outcome, failures: int
    ) -> None:
        """A good or wrong PIN closes the open attempt, counting as it always does."""
        opened = lockout(failures=2, attempt_open=True, version=4)

        assert (outcome, lockout(failures=failures, version=5)) == step(
            LockoutPolicy(), opened, event, T0
        )

    def test_step_does_not_require_an_open_attempt(self) -> None:
        """The low-level step still evaluates PINs without an attempt; enter_pin does not."""
        assert Outcome.REJECTED == step(LockoutPolicy(), LockoutState(), WRONG, T0)[0]

    def test_clock_moved_back_never_refuses_an_open_attempt(self) -> None:
        """An open attempt has no delay, so a PIN typed at an earlier clock is still evaluated."""
        policy = LockoutPolicy(delays=(30,))
        _, opened = step(policy, lockout(failures=1, not_before=T0), BEGIN, T0)

        assert Outcome.REJECTED == step(policy, opened, WRONG, T0 - 86_400)[0]


class TestBeginAttempt:
    """The safe path's first half: open an attempt, or say why not, with the state to store."""

    def test_returns_the_opened_state(self) -> None:
        """On a usable state it returns OPENED and the state with an attempt open."""
        assert (Outcome.OPENED, OPEN) == begin_attempt(LockoutPolicy(), LockoutState(), T0)

    @pytest.mark.parametrize(("state", "outcome"), REFUSED_STATES, ids=REFUSED_IDS)
    def test_refusals_are_outcomes_not_exceptions(
        self, state: LockoutState, outcome: Outcome
    ) -> None:
        """Locked, wiped and waiting states return their refusal and the unchanged state."""
        assert (outcome, state) == begin_attempt(LockoutPolicy(delays=(30,)), state, T0)

    @pytest.mark.parametrize(
        ("policy", "outcome", "status"),
        [
            (ENTRUST_LIKE.lockout, Outcome.LOCKED_NOW, Status.LOCKED),
            (PAYSECURE_LIKE.lockout, Outcome.WIPED_NOW, Status.WIPED),
        ],
        ids=["entrust-locks", "paysecure-wipes"],
    )
    def test_interrupted_last_attempt_returns_the_limit_state(
        self, policy: LockoutPolicy, outcome: Outcome, status: Status
    ) -> None:
        """An interrupted fifth attempt returns LOCKED_NOW or WIPED_NOW with the state to
        store: five failures, one version on, nothing open."""
        opened = lockout(failures=4, attempt_open=True, version=8)

        result, state = begin_attempt(policy, opened, T0)

        assert (outcome, status, 5, 9, False) == (
            result,
            state.status,
            state.failures,
            state.version,
            state.attempt_open,
        )

    @given(
        fields=strategies.lockout_policy_fields,
        state=strategies.throttle_state_fields,
        wiped=st.booleans(),
        now=st.integers(0, 2**40),
    )
    def test_never_raises_a_refusal(
        self, fields: dict[str, Any], state: dict[str, Any], wiped: bool, now: int
    ) -> None:
        """From any state, begin_attempt returns an outcome and a state; it raises nothing."""
        outcome, after = begin_attempt(policy_from(fields), any_state(state, wiped=wiped), now)

        assert (outcome is Outcome.OPENED) == after.attempt_open

    def test_wrong_types_are_type_errors(self) -> None:
        """The policy and the state are type-checked."""
        with pytest.raises(TypeError):
            begin_attempt("policy", LockoutState(), T0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            begin_attempt(LockoutPolicy(), ThrottleState(), T0)  # type: ignore[arg-type]


class TestLockoutProperties:
    """Invariants of step over random event sequences."""

    @given(
        fields=strategies.lockout_policy_fields,
        gaps=st.lists(strategies.clock_gaps, min_size=1, max_size=24),
    )
    def test_only_max_failures_wrong_pins_are_evaluated_before_the_limit(
        self, fields: dict[str, Any], gaps: list[int]
    ) -> None:
        """An attacker entering only wrong PINs gets exactly max_failures evaluated, whatever
        the timing; everything after is refused unevaluated."""
        policy = policy_from(fields)
        state, now, evaluated = LockoutState(), T0, 0
        for gap in gaps:
            now = max(0, now + gap)
            outcome, state = step(policy, state, WRONG, now)
            evaluated += outcome in {Outcome.REJECTED, Outcome.LOCKED_NOW, Outcome.WIPED_NOW}

        assert evaluated <= policy.max_failures
        assert (evaluated == policy.max_failures) == (state.status is not Status.ACTIVE)

    @given(
        fields=strategies.lockout_policy_fields,
        gaps=st.lists(strategies.clock_gaps, min_size=1, max_size=24),
    )
    def test_every_abandoned_attempt_is_counted_or_still_open(
        self, fields: dict[str, Any], gaps: list[int]
    ) -> None:
        """An attacker who opens attempts and kills the app before any result is stored gets
        at most max_failures PIN checks, whatever the timing: each attempt opened is a counted
        failure or the open one."""
        policy = policy_from(fields)
        state, now, opened = LockoutState(), T0, 0
        for gap in gaps:
            now = max(0, now + gap)
            outcome, state = begin_attempt(policy, state, now)
            opened += outcome is Outcome.OPENED

        assert opened == state.failures + state.attempt_open
        assert opened <= policy.max_failures


class TestEnterPIN:
    """The safe path's second half: refuse before hashing, require an open attempt, compare
    once, and return the outcome with the state to store."""

    @pytest.fixture
    def enrolled(self) -> tuple[PINVerifier, bytes]:
        """A cheap verifier of 2468 and its PIN key."""
        return PINVerifier.enroll("2468", params=FAST)

    @pytest.fixture
    def verifier(self, enrolled: tuple[PINVerifier, bytes]) -> PINVerifier:
        """The verifier of 2468."""
        return enrolled[0]

    @pytest.fixture
    def hashed(self, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
        """Records every scrypt run from here on."""
        return count_scrypt(monkeypatch)

    def test_good_pin_returns_the_key_and_the_reset_state(
        self, enrolled: tuple[PINVerifier, bytes]
    ) -> None:
        """A good PIN is ACCEPTED with the PIN key, the count cleared and the attempt closed."""
        verifier, key = enrolled
        state = lockout(failures=3, attempt_open=True, version=3)

        entry = enter_pin("2468", verifier=verifier, policy=LockoutPolicy(), state=state, now=T0)

        assert PINEntry(Outcome.ACCEPTED, lockout(version=4), key) == entry

    def test_wrong_pin_returns_the_counted_state(self, verifier: PINVerifier) -> None:
        """A wrong PIN is REJECTED with the counted, closed state, and no key."""
        entry = enter_pin("1357", verifier=verifier, policy=LockoutPolicy(), state=OPEN, now=T0)

        assert PINEntry(Outcome.REJECTED, lockout(failures=1, version=2)) == entry

    @pytest.mark.parametrize(
        ("policy", "outcome", "status"),
        [
            (ENTRUST_LIKE.lockout, Outcome.LOCKED_NOW, Status.LOCKED),
            (PAYSECURE_LIKE.lockout, Outcome.WIPED_NOW, Status.WIPED),
        ],
        ids=["entrust-locks", "paysecure-wipes"],
    )
    def test_last_wrong_pin_reaches_the_limit(
        self, verifier: PINVerifier, policy: LockoutPolicy, outcome: Outcome, status: Status
    ) -> None:
        """The fifth wrong PIN returns LOCKED_NOW (or WIPED_NOW) with that state, and no key."""
        opened = lockout(failures=4, attempt_open=True, version=8)

        entry = enter_pin("1357", verifier=verifier, policy=policy, state=opened, now=T0)

        assert (outcome, status, None) == (entry.outcome, entry.state.status, entry.key)

    def test_text_that_is_no_pin_is_a_counted_wrong_pin(
        self, verifier: PINVerifier, hashed: list[bytes]
    ) -> None:
        """In an open attempt, text that cannot be a PIN is counted as wrong, unhashed."""
        entry = enter_pin("24a8", verifier=verifier, policy=LockoutPolicy(), state=OPEN, now=T0)

        assert (Outcome.REJECTED, 1, []) == (entry.outcome, entry.state.failures, hashed)

    def test_one_entry_costs_one_slow_hash(
        self, verifier: PINVerifier, hashed: list[bytes]
    ) -> None:
        """A PIN evaluated in an open attempt is hashed exactly once, right or wrong."""
        for pin in ("1357", "2468"):
            enter_pin(pin, verifier=verifier, policy=LockoutPolicy(), state=OPEN, now=T0)

        assert [verifier.salt, verifier.salt] == hashed

    @pytest.mark.parametrize(("state", "outcome"), REFUSED_STATES, ids=REFUSED_IDS)
    def test_refused_states_never_hash_the_pin(
        self,
        verifier: PINVerifier,
        hashed: list[bytes],
        state: LockoutState,
        outcome: Outcome,
    ) -> None:
        """Locked, wiped and waiting states refuse even the right PIN without evaluating it."""
        entry = enter_pin(
            "2468", verifier=verifier, policy=LockoutPolicy(delays=(30,)), state=state, now=T0
        )

        assert (PINEntry(outcome, state), []) == (entry, hashed)

    @pytest.mark.parametrize("pin", ["2468", "1357"])
    def test_no_open_attempt_evaluates_nothing(
        self, verifier: PINVerifier, hashed: list[bytes], pin: str
    ) -> None:
        """Without an open attempt, the right or a wrong PIN raises AttemptNotOpen, unhashed."""
        with pytest.raises(AttemptNotOpen) as info:
            enter_pin(pin, verifier=verifier, policy=LockoutPolicy(), state=LockoutState(), now=T0)

        assert [] == hashed
        assert isinstance(info.value, WrongState)
        assert AttemptNotOpen.MESSAGE == str(info.value)

    @given(
        fields=strategies.lockout_policy_fields,
        state=strategies.throttle_state_fields,
        wiped=st.booleans(),
        pin=strategies.pin_texts,
        now=st.integers(0, 2**40),
    )
    def test_without_an_open_attempt_no_pin_is_ever_hashed(
        self,
        fields: dict[str, Any],
        state: dict[str, Any],
        wiped: bool,
        pin: str,
        now: int,
    ) -> None:
        """S17, no uncounted oracle: from any state without an open attempt, any typed text,
        the right PIN included, is refused or raises AttemptNotOpen, and scrypt never runs."""
        verifier = PINVerifier.create("2468", params=FAST)
        policy = policy_from(fields)
        closed = any_state(state, wiped=wiped, attempt_open=False)

        with pytest.MonkeyPatch.context() as monkeypatch:
            hashed = count_scrypt(monkeypatch)
            try:
                entry = enter_pin(pin, verifier=verifier, policy=policy, state=closed, now=now)
            except AttemptNotOpen:
                entry = None

        assert [] == hashed
        if entry is not None:
            assert (refusal(policy, closed, now), None) == ((entry.outcome, entry.state), entry.key)

    def test_a_whole_lockout_run_raises_nothing(self, verifier: PINVerifier) -> None:
        """Refusals are outcomes: seven wrong PINs through the safe path reject, lock and stay
        locked without an exception."""
        policy, state, outcomes = LockoutPolicy(), LockoutState(), []
        for _ in range(7):
            _, state = begin_attempt(policy, state, T0)
            entry = enter_pin("1357", verifier=verifier, policy=policy, state=state, now=T0)
            outcomes.append(entry.outcome)
            state = entry.state

        assert [Outcome.REJECTED] * 4 + [Outcome.LOCKED_NOW] + [Outcome.STILL_LOCKED] * 2 == (
            outcomes
        )

    def test_safe_sequence_survives_a_lost_result(self, verifier: PINVerifier) -> None:
        """begin, store, check, lose the result: the stored state counts the check when the
        next attempt begins."""
        policy = LockoutPolicy()
        _, stored = begin_attempt(policy, LockoutState(), T0)
        # The app checks the right PIN, then dies before storing what enter_pin returned.
        enter_pin("2468", verifier=verifier, policy=policy, state=stored, now=T0)

        outcome, stored = begin_attempt(policy, stored, T0)

        assert (Outcome.OPENED, 1, 4) == (
            outcome,
            stored.failures,
            remaining_tries(policy, stored),
        )

    def test_entry_repr_hides_the_key(self, enrolled: tuple[PINVerifier, bytes]) -> None:
        """A PINEntry's repr shows the outcome and the state, never the PIN key."""
        verifier, key = enrolled
        entry = enter_pin("2468", verifier=verifier, policy=LockoutPolicy(), state=OPEN, now=T0)

        assert key.hex() not in repr(entry)
        assert repr(key) not in repr(entry)
        assert "ACCEPTED" in repr(entry)

    def test_wrong_types_are_type_errors(self, verifier: PINVerifier) -> None:
        """An int PIN or a verifier given as bytes is a TypeError, before anything is counted."""
        with pytest.raises(TypeError):
            enter_pin(2468, verifier=verifier, policy=LockoutPolicy(), state=OPEN, now=T0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            enter_pin(
                "2468",
                verifier=verifier.to_bytes(),  # type: ignore[arg-type]
                policy=LockoutPolicy(),
                state=OPEN,
                now=T0,
            )

    def test_errors_are_softtoken_errors(self) -> None:
        """AttemptNotOpen is a SoftTokenError about state, not a ValueError about input."""
        assert issubclass(AttemptNotOpen, SoftTokenError)
        assert not issubclass(AttemptNotOpen, ValueError)


class TestPresets:
    """Presets are frozen module constants named after the apps they imitate."""

    def test_entrust_like_locks_after_five(self) -> None:
        """ENTRUST_LIKE: default PIN rules, 5 wrong PINs lock, phone KDF."""
        assert (PINPolicy(), LockoutPolicy(max_failures=5, on_limit=OnLimit.LOCK), PHONE_KDF) == (
            ENTRUST_LIKE.pin,
            ENTRUST_LIKE.lockout,
            ENTRUST_LIKE.kdf,
        )

    def test_paysecure_like_wipes_after_five(self) -> None:
        """PAYSECURE_LIKE: default PIN rules, 5 wrong PINs wipe, phone KDF."""
        assert (PINPolicy(), LockoutPolicy(max_failures=5, on_limit=OnLimit.WIPE), PHONE_KDF) == (
            PAYSECURE_LIKE.pin,
            PAYSECURE_LIKE.lockout,
            PAYSECURE_LIKE.kdf,
        )

    def test_presets_are_frozen(self) -> None:
        """A preset cannot be changed in place."""
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            ENTRUST_LIKE.pin = PINPolicy(history=0)  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------
# Stateful test: the lockout against a tiny reference model
# ----------------------------------------------------------------------------------------------


@attrs.define
class Model:
    """The lockout rules as plainly as they can be written."""

    max_failures: int
    wipe_at_limit: bool
    schedule: list[int]
    status: str = "active"
    failures: int = 0
    episode: int = 0
    wait_until: int = 0
    attempt_open: bool = False

    def wait_after(self, failures: int) -> int:
        """The scheduled wait after *failures* wrong PINs; the last entry repeats."""
        if failures == 0 or not self.schedule:
            return 0
        padded = self.schedule + [self.schedule[-1]] * self.max_failures
        return padded[failures - 1]

    def too_soon(self, now: int) -> bool:
        """Whether an attempt at *now* must wait; a clock gone back shortens the stored wait."""
        if now < self.wait_until:
            self.wait_until = min(self.wait_until, now + self.wait_after(self.failures))
        return now < self.wait_until

    def count_wrong(self, now: int) -> str:
        """One more wrong PIN; returns the outcome's name."""
        self.failures += 1
        self.wait_until = 0
        self.attempt_open = False
        if self.failures == self.max_failures:
            # Reaching the limit is a new episode, whether it locks or wipes.
            self.episode += 1
            self.status = "wiped" if self.wipe_at_limit else "locked"
            return "WIPED_NOW" if self.wipe_at_limit else "LOCKED_NOW"
        if self.wait_after(self.failures):
            self.wait_until = now + self.wait_after(self.failures)
        return "REJECTED"

    def attempt(self, good: bool, now: int) -> str:
        """A PIN attempt at *now*; returns the outcome's name."""
        if self.status != "active":
            return {"locked": "STILL_LOCKED", "wiped": "WIPED"}[self.status]
        if self.too_soon(now):
            return "TOO_SOON"
        if good:
            self.failures, self.wait_until, self.attempt_open = 0, 0, False
            return "ACCEPTED"
        return self.count_wrong(now)

    def begin(self, now: int) -> str:
        """An attempt is opened at *now*; one left open was interrupted and is a wrong PIN."""
        if self.status != "active":
            return {"locked": "STILL_LOCKED", "wiped": "WIPED"}[self.status]
        if self.attempt_open:
            counted = self.count_wrong(now)
            if counted != "REJECTED":
                return counted
        if self.too_soon(now):
            return "TOO_SOON"
        self.attempt_open, self.wait_until = True, 0
        return "OPENED"

    def unlock(self) -> str:
        """An unlock code was accepted."""
        if self.status == "locked":
            self.status, self.failures = "active", 0
            return "UNLOCKED"
        return {"active": "NOT_LOCKED", "wiped": "WIPED"}[self.status]

    def wipe(self) -> str:
        """A wipe was requested."""
        if self.status == "wiped":
            return "WIPED"
        self.status, self.wait_until, self.attempt_open = "wiped", 0, False
        return "WIPED_NOW"


# The PIN the stateful machine's app knows; any other is wrong.
MACHINE_PIN = "2468"
MACHINE_WRONG_PIN = "1357"
EVALUATED = {Outcome.REJECTED, Outcome.LOCKED_NOW, Outcome.WIPED_NOW}


class LockoutMachine(RuleBasedStateMachine):
    """Drives the lockout and the Model side by side, with a clock that may go backwards.

    ``self.state`` is what the app has stored. Besides plain events, the machine runs the safe
    path as an app does (begin_attempt, store, enter_pin, store), and can kill it after the PIN
    was checked and before the result was stored: the attacker then knows the answer, and the
    restarted app begins a new attempt on the stored state.
    """

    def __init__(self) -> None:
        super().__init__()
        self.policy = LockoutPolicy()
        self.model = Model(5, wipe_at_limit=False, schedule=[])
        self.state = LockoutState()
        self.now = T0
        self.verifier = PINVerifier.create(MACHINE_PIN, params=FAST)
        self.wrong_evaluated_in_episode = 0
        self.evaluated_in_episode = 0
        # (failures before, failures after) for each BEGIN that found an attempt open.
        self.abandoned: list[tuple[int, int]] = []
        self.was_wiped = False
        self.last_episode = 0

    @initialize(fields=strategies.lockout_policy_fields)
    def choose_policy(self, fields: dict[str, Any]) -> None:
        """Pick a lockout policy for this run."""
        self.policy = policy_from(fields)
        self.model = Model(
            fields["max_failures"],
            wipe_at_limit=fields["on_limit"] == "wipe",
            schedule=list(fields["delays"]),
        )

    def store(self, before: LockoutState, after: LockoutState, *, begun: bool = False) -> None:
        """Store *after*, checking version bookkeeping; note what a BEGIN did to an open one."""
        if after == before:
            assert before is after
        else:
            assert before.version + 1 == after.version
        if begun and before.attempt_open:
            self.abandoned.append((before.failures, after.failures))
        self.state = after

    def apply(self, event: Event, gap: int) -> Outcome:
        """Advance the clock by *gap* (maybe negative), step, and check version bookkeeping."""
        self.now = max(0, self.now + gap)
        before = self.state
        outcome, after = step(self.policy, before, event, self.now)
        self.store(before, after, begun=event is BEGIN)
        return outcome

    def count_evaluation(self, good: bool) -> None:
        """A PIN was compared; whoever typed it learnt the answer."""
        self.evaluated_in_episode += 1
        self.wrong_evaluated_in_episode += int(not good)

    def end_episode(self) -> None:
        """A stored ACCEPTED or UNLOCKED starts a new count of guesses."""
        self.evaluated_in_episode = 0
        self.wrong_evaluated_in_episode = 0

    # Hypothesis picks rules evenly, and a wipe ends the interesting part of a run. One rule
    # with weighted kinds makes wrong PINs common and wipes rare, so runs often lock and unlock.
    @rule(
        kind=st.sampled_from(
            ["wrong"] * 5
            + ["good"] * 2
            + ["unlock"] * 2
            + ["wipe"]
            + ["begin"] * 2
            + ["safe-wrong"] * 3
            + ["safe-good"]
            + ["interrupted-wrong"] * 3
            + ["interrupted-good"]
        ),
        gap=strategies.clock_gaps,
    )
    def happen(self, kind: str, gap: int) -> None:
        """An event at a clock moved by *gap* (maybe backwards) agrees with the model."""
        if kind == "unlock":
            outcome = self.apply(Event.UNLOCK, gap)
            assert self.model.unlock() == outcome.name
        elif kind == "wipe":
            outcome = self.apply(Event.WIPE, gap)
            assert self.model.wipe() == outcome.name
        elif kind == "begin":
            outcome = self.apply(BEGIN, gap)
            assert self.model.begin(self.now) == outcome.name
        elif kind.startswith(("interrupted", "safe")):
            self.safe_path(kind.endswith("good"), gap, finish=kind.startswith("safe"))
            return
        else:
            good = kind == "good"
            outcome = self.apply(GOOD if good else WRONG, gap)
            assert self.model.attempt(good, self.now) == outcome.name
            # After any PIN attempt the wait is at most the longest delay, even if the clock
            # went backwards.
            assert self.state.not_before <= self.now + max(self.policy.delays, default=0)
            if outcome in EVALUATED:
                self.count_evaluation(good)
        if outcome in {Outcome.ACCEPTED, Outcome.UNLOCKED}:
            self.end_episode()

    def safe_path(self, good: bool, gap: int, *, finish: bool) -> None:
        """begin_attempt, store, enter_pin; then store the entry, or die before storing it
        and restart, which begins a new attempt on what was stored."""
        self.now = max(0, self.now + gap)
        before = self.state
        outcome, opened = begin_attempt(self.policy, before, self.now)
        self.store(before, opened, begun=True)
        assert self.model.begin(self.now) == outcome.name
        if outcome is not Outcome.OPENED:
            return
        pin = MACHINE_PIN if good else MACHINE_WRONG_PIN
        entry = enter_pin(
            pin, verifier=self.verifier, policy=self.policy, state=opened, now=self.now
        )
        self.count_evaluation(good)
        if finish:
            self.store(opened, entry.state)
            assert self.model.attempt(good, self.now) == entry.outcome.name
            assert (entry.key is not None) == (entry.outcome is Outcome.ACCEPTED)
            if entry.outcome is Outcome.ACCEPTED:
                self.end_episode()
            return
        # The answer was seen; the state enter_pin returned is never stored. The app restarts.
        outcome = self.apply(BEGIN, 0)
        assert self.model.begin(self.now) == outcome.name

    @invariant()
    def state_matches_model(self) -> None:
        """status, failures, episode, not_before and attempt_open are what the model says."""
        m = self.model
        assert (m.status, m.failures, m.episode, m.wait_until, m.attempt_open) == (
            self.state.status.value,
            self.state.failures,
            self.state.episode,
            self.state.not_before,
            self.state.attempt_open,
        )

    @invariant()
    def never_more_than_max_failures_wrong_pins_evaluated_per_episode(self) -> None:
        """Between good PINs and unlocks, at most max_failures wrong PINs are evaluated, counting
        those whose result the app never stored."""
        assert self.wrong_evaluated_in_episode <= self.policy.max_failures

    @invariant()
    def an_attempt_opened_and_never_finished_counts_as_a_wrong_pin(self) -> None:
        """A BEGIN that finds an attempt open counts it: exactly one more failure."""
        assert [(before, before + 1) for before, _ in self.abandoned] == self.abandoned
        self.abandoned = []

    @invariant()
    def abandoned_attempts_never_give_more_than_max_failures_evaluations_per_episode(
        self,
    ) -> None:
        """Between stored good PINs and unlocks, no sequence of opened-and-abandoned attempts
        yields more than max_failures PIN checks, right or wrong."""
        assert self.evaluated_in_episode <= self.policy.max_failures

    @invariant()
    def every_check_not_accepted_is_counted_in_the_stored_state(self) -> None:
        """Each PIN checked since the episode began is a failure in the stored state."""
        assert self.evaluated_in_episode <= self.state.failures

    @invariant()
    def wiped_is_terminal(self) -> None:
        """Once WIPED, always WIPED."""
        if self.was_wiped:
            assert Status.WIPED == self.state.status
        self.was_wiped = self.state.status is Status.WIPED

    @invariant()
    def episode_never_decreases(self) -> None:
        """The lock episode number only grows."""
        assert self.last_episode <= self.state.episode
        self.last_episode = self.state.episode

    @invariant()
    def state_round_trips_through_bytes(self) -> None:
        """Every reachable state survives persistence unchanged."""
        assert self.state == LockoutState.from_bytes(self.state.to_bytes())


TestLockoutMachine = LockoutMachine.TestCase
# Twenty events lock about 70% of the runs and unlock about a fifth of them with the small
# policies drawn here (measured with hypothesis.event), in a fraction of the time of fifty.
TestLockoutMachine.settings = settings(stateful_step_count=20)
