"""Tests for softtoken.throttle: the pure failure-count machine (SECURITY.md S7, S10, S11).

The machine is checked case by case, by properties over arbitrary states, and by a stateful test
against a tiny reference model, with a clock that may go backwards.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from softtoken.exceptions import InvalidInput
from softtoken.throttle import (
    MAX_DELAY,
    MAX_FAILURES,
    ThrottlePolicy,
    ThrottleState,
    Verdict,
    begin,
    fail,
    refusal,
    release,
    remaining,
    succeed,
)
from tests import strategies

T0 = 1_700_000_000
POLICY = ThrottlePolicy()
DELAYED = ThrottlePolicy(delays=(30,))
OPEN = ThrottleState(attempt_open=True, version=1)
BLOCKED = ThrottleState(failures=5, blocked=True, episode=1, version=5)


def run(
    policy: ThrottlePolicy, state: ThrottleState, *moves: tuple[str, int]
) -> tuple[list[Verdict], ThrottleState]:
    """Apply (transition name, time) pairs in order; return the verdicts and the final state."""
    transitions = {"begin": begin, "fail": fail, "succeed": succeed}
    verdicts = []
    for name, now in moves:
        verdict, state = transitions[name](policy, state, now)
        verdicts.append(verdict)
    return verdicts, state


class TestThrottlePolicy:
    """The policy validates itself and describes its delays."""

    def test_defaults_are_five_failures_without_delay(self) -> None:
        """By default 5 failures block (PSD2 RTS Art. 4(3)(b)) and there is no delay."""
        assert (5, ()) == (POLICY.max_failures, POLICY.delays)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"max_failures": 0},
            {"max_failures": MAX_FAILURES + 1},
            {"delays": (-1,)},
            {"delays": (MAX_DELAY + 1,)},
            {"max_failures": 2, "delays": (1, 2)},
            {"max_failures": 1, "delays": (0,)},
        ],
    )
    def test_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """A limit outside 1-1000, a delay outside 0-86,400 or a schedule too long is refused."""
        with pytest.raises(InvalidInput):
            ThrottlePolicy(**kwargs)

    @pytest.mark.parametrize(
        "kwargs", [{"max_failures": True}, {"max_failures": 5.0}, {"delays": (1.5,)}]
    )
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """A bool or float limit and a float delay are TypeErrors."""
        with pytest.raises(TypeError):
            ThrottlePolicy(**kwargs)

    def test_extremes_are_allowed(self) -> None:
        """A limit of 1000 with 999 one-day delays is the largest policy."""
        policy = ThrottlePolicy(max_failures=MAX_FAILURES, delays=[MAX_DELAY] * 999)

        assert (1000, 999) == (policy.max_failures, len(policy.delays))

    def test_delays_become_a_tuple(self) -> None:
        """A list of delays is stored as a tuple, so that the policy stays hashable."""
        policy = ThrottlePolicy(delays=[0, 30])

        assert (0, 30) == policy.delays
        assert hash(policy) == hash(ThrottlePolicy(delays=(0, 30)))

    def test_delay_schedule_repeats_its_last_entry(self) -> None:
        """delays[k - 1] follows failure k, nothing follows no failure, the last entry repeats."""
        policy = ThrottlePolicy(max_failures=6, delays=[0, 30, 60])

        assert [0, 0, 30, 60, 60, 60, 60] == [policy.delay_after(k) for k in range(7)]
        assert 0 == POLICY.delay_after(3)


class TestThrottleState:
    """The stored count validates itself."""

    def test_fresh_state_is_clean(self) -> None:
        """ThrottleState() has no failures, block, episode, delay, open attempt or version."""
        assert (0, False, 0, 0, False, 0) == attrs.astuple(ThrottleState())

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"failures": -1},
            {"failures": 2**16},
            {"episode": 2**32},
            {"not_before": 2**64},
            {"version": -1},
            {"version": 2**64},
            {"blocked": True},
            {"blocked": True, "episode": 1, "not_before": 5},
            {"blocked": True, "episode": 1, "attempt_open": True},
            {"attempt_open": True, "not_before": 5},
        ],
        ids=[
            "negative-failures",
            "failures-over-u16",
            "episode-over-u32",
            "not-before-over-u64",
            "negative-version",
            "version-over-u64",
            "blocked-without-episode",
            "blocked-with-delay",
            "blocked-with-open-attempt",
            "open-attempt-with-delay",
        ],
    )
    def test_inconsistent_or_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """Values that cannot be stored and states that no transition reaches are refused."""
        with pytest.raises(InvalidInput):
            ThrottleState(**kwargs)

    @pytest.mark.parametrize(
        "kwargs", [{"blocked": 1}, {"attempt_open": 0}, {"failures": True}, {"episode": 1.0}]
    )
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """Flags must be bool and counts int, never their look-alikes."""
        with pytest.raises(TypeError):
            ThrottleState(**kwargs)


class TestFail:
    """fail counts one failure, blocks at the limit, and starts any delay."""

    def test_failures_are_counted_until_the_limit_blocks(self) -> None:
        """Four failures are FAILED; the fifth is BLOCKED_NOW in episode 1."""
        verdicts, state = run(POLICY, ThrottleState(), *[("fail", T0)] * 5)

        assert [Verdict.FAILED] * 4 + [Verdict.BLOCKED_NOW] == verdicts
        assert ThrottleState(failures=5, blocked=True, episode=1, version=5) == state

    def test_blocking_closes_the_attempt(self) -> None:
        """The failure that blocks closes the attempt that was open."""
        opened = ThrottleState(failures=4, attempt_open=True, version=8)

        assert (
            Verdict.BLOCKED_NOW,
            ThrottleState(failures=5, blocked=True, episode=1, version=9),
        ) == fail(POLICY, opened, T0)

    def test_delay_starts_at_the_failure(self) -> None:
        """With a 30 s delay, a failure at T0 sets not_before to T0 + 30."""
        assert (Verdict.FAILED, ThrottleState(failures=1, not_before=T0 + 30, version=1)) == fail(
            DELAYED, ThrottleState(), T0
        )

    def test_a_zero_delay_sets_no_wait(self) -> None:
        """A scheduled delay of 0 leaves not_before at 0."""
        _, state = fail(ThrottlePolicy(delays=(0, 30)), ThrottleState(), T0)

        assert 0 == state.not_before

    def test_too_soon_counts_nothing(self) -> None:
        """A failure before not_before is TOO_SOON and returns the very same state."""
        _, waiting = fail(DELAYED, ThrottleState(), T0)

        verdict, after = fail(DELAYED, waiting, T0 + 29)

        assert Verdict.TOO_SOON == verdict
        assert waiting is after

    def test_blocked_counts_nothing(self) -> None:
        """A failure on a blocked state is BLOCKED and returns the very same state."""
        verdict, after = fail(POLICY, BLOCKED, T0)

        assert (Verdict.BLOCKED, BLOCKED) == (verdict, after)
        assert BLOCKED is after

    def test_a_count_above_a_tightened_limit_blocks_at_once(self) -> None:
        """A stored count above a lowered limit blocks at the next failure, not later."""
        state = ThrottleState(failures=7)

        assert 1 == remaining(POLICY, state)
        assert Verdict.BLOCKED_NOW == fail(POLICY, state, T0)[0]

    def test_the_count_saturates_at_the_stored_width(self) -> None:
        """A count at 65,535 stays there (and blocks) instead of overflowing its two bytes."""
        verdict, state = fail(POLICY, ThrottleState(failures=2**16 - 1), T0)

        assert (Verdict.BLOCKED_NOW, 2**16 - 1) == (verdict, state.failures)

    def test_each_block_is_a_new_episode(self) -> None:
        """Block, release, block again: the episode goes 1, 1, 2."""
        policy = ThrottlePolicy(max_failures=2)
        _, first = run(policy, ThrottleState(), ("fail", T0), ("fail", T0))
        _, released = release(first)
        _, second = run(policy, released, ("fail", T0), ("fail", T0))

        assert [1, 1, 2] == [first.episode, released.episode, second.episode]


class TestSucceed:
    """succeed clears the count and closes the attempt, unless the state refuses."""

    def test_success_clears_the_count_and_the_attempt(self) -> None:
        """After four failures and an open attempt, PASSED gives a zero count, one version on."""
        opened = ThrottleState(failures=4, attempt_open=True, version=9)

        assert (Verdict.PASSED, ThrottleState(version=10)) == succeed(POLICY, opened, T0)

    def test_success_on_a_clean_state_changes_nothing(self) -> None:
        """PASSED on a clean state returns that very state: nothing to store."""
        fresh = ThrottleState()

        verdict, after = succeed(POLICY, fresh, T0)

        assert Verdict.PASSED == verdict
        assert fresh is after

    def test_success_clears_a_passed_delay(self) -> None:
        """A success after the wait clears the stale not_before."""
        waiting = ThrottleState(failures=1, not_before=T0 + 30, version=1)

        assert (Verdict.PASSED, ThrottleState(version=2)) == succeed(DELAYED, waiting, T0 + 30)

    def test_success_is_refused_while_waiting(self) -> None:
        """Even the right secret is TOO_SOON before not_before: the wait cannot be skipped."""
        waiting = ThrottleState(failures=1, not_before=T0 + 30, version=1)

        assert (Verdict.TOO_SOON, waiting) == succeed(DELAYED, waiting, T0 + 29)

    def test_success_is_refused_while_blocked(self) -> None:
        """Even the right secret is BLOCKED on a blocked state, which keeps its count."""
        assert (Verdict.BLOCKED, BLOCKED) == succeed(POLICY, BLOCKED, T0)


class TestBegin:
    """begin opens an attempt before the secret is evaluated and counts an interrupted one."""

    def test_begin_opens_an_attempt(self) -> None:
        """begin on a clean state is OPENED: attempt_open, nothing counted, one version on."""
        assert (Verdict.OPENED, OPEN) == begin(POLICY, ThrottleState(), T0)

    def test_an_interrupted_attempt_is_counted_then_a_new_one_opened(self) -> None:
        """begin on an open attempt counts it as a failure and opens the next: one change."""
        assert (Verdict.OPENED, ThrottleState(failures=1, attempt_open=True, version=2)) == begin(
            POLICY, OPEN, T0
        )

    def test_an_interrupted_last_attempt_blocks_and_opens_nothing(self) -> None:
        """An interrupted attempt that reaches the limit is BLOCKED_NOW, with nothing open."""
        opened = ThrottleState(failures=4, attempt_open=True, version=8)

        assert (
            Verdict.BLOCKED_NOW,
            ThrottleState(failures=5, blocked=True, episode=1, version=9),
        ) == begin(POLICY, opened, T0)

    def test_an_interrupted_attempt_starts_its_delay(self) -> None:
        """Counting an interrupted attempt starts its delay, so the new one is TOO_SOON."""
        assert (
            Verdict.TOO_SOON,
            ThrottleState(failures=1, not_before=T0 + 30, version=2),
        ) == begin(DELAYED, OPEN, T0)

    def test_begin_after_the_wait_clears_it(self) -> None:
        """Once the wait has passed, begin opens an attempt and clears the stale not_before."""
        waiting = ThrottleState(failures=1, not_before=T0 + 30, version=1)

        assert (
            Verdict.OPENED,
            ThrottleState(failures=1, attempt_open=True, version=2),
        ) == begin(DELAYED, waiting, T0 + 30)

    def test_begin_is_refused_while_waiting_or_blocked(self) -> None:
        """begin is refused, unchanged, exactly as refusal() refuses."""
        waiting = ThrottleState(failures=1, not_before=T0 + 30, version=1)

        for state, verdict in [(waiting, Verdict.TOO_SOON), (BLOCKED, Verdict.BLOCKED)]:
            assert (verdict, state) == begin(DELAYED, state, T0)
            assert refusal(DELAYED, state, T0) == begin(DELAYED, state, T0)

    def test_an_open_attempt_is_never_too_soon(self) -> None:
        """An open attempt has no delay, so a failure at an earlier clock is still evaluated."""
        _, opened = begin(DELAYED, ThrottleState(failures=1, not_before=T0), T0)

        assert Verdict.FAILED == fail(DELAYED, opened, T0 - 86_400)[0]

    @pytest.mark.parametrize("n", [1, 5])
    def test_interrupted_attempts_alone_reach_the_block(self, n: int) -> None:
        """max_failures attempts opened and never closed block at the next begin."""
        policy = ThrottlePolicy(max_failures=n)

        verdicts, state = run(policy, ThrottleState(), *[("begin", T0)] * (n + 1))

        assert [Verdict.OPENED] * n + [Verdict.BLOCKED_NOW] == verdicts
        assert (True, n, 1, False) == (
            state.blocked,
            state.failures,
            state.episode,
            state.attempt_open,
        )


class TestRelease:
    """release is the only way out of a block."""

    def test_release_lifts_the_block_and_keeps_the_episode(self) -> None:
        """RELEASED: not blocked, count 0, the same episode, one version on."""
        locked = ThrottleState(failures=5, blocked=True, episode=3, version=9)

        assert (Verdict.RELEASED, ThrottleState(episode=3, version=10)) == release(locked)

    def test_release_of_an_unblocked_state_changes_nothing(self) -> None:
        """NOT_BLOCKED returns the very same state, count included."""
        state = ThrottleState(failures=2, version=2)

        verdict, after = release(state)

        assert Verdict.NOT_BLOCKED == verdict
        assert state is after


class TestRefusal:
    """refusal says whether an attempt would be evaluated, and never lengthens a wait."""

    def test_usable_states_are_not_refused(self) -> None:
        """A clean state, an open attempt and a passed wait are evaluated (None)."""
        passed = ThrottleState(failures=1, not_before=T0)

        assert [None, None, None] == [
            refusal(DELAYED, state, T0) for state in (ThrottleState(), OPEN, passed)
        ]

    def test_a_clock_moved_back_caps_the_wait(self) -> None:
        """If the clock goes back a year, the wait is capped at the delay counted from now."""
        waiting = ThrottleState(failures=1, not_before=T0 + 30, version=1)
        earlier = T0 - 365 * 86_400

        assert (
            Verdict.TOO_SOON,
            ThrottleState(failures=1, not_before=earlier + 30, version=2),
        ) == refusal(DELAYED, waiting, earlier)

    def test_a_wait_is_never_lengthened(self) -> None:
        """A wait shorter than the delay counted from now is left as it is."""
        waiting = ThrottleState(failures=1, not_before=T0 + 10, version=1)

        assert (Verdict.TOO_SOON, waiting) == refusal(DELAYED, waiting, T0)

    def test_a_policy_without_delays_ends_a_stored_wait(self) -> None:
        """When the delays were removed from the policy, a stored wait no longer refuses."""
        waiting = ThrottleState(failures=1, not_before=T0 + 30, version=1)

        assert refusal(POLICY, waiting, T0) is None


class TestRemaining:
    """remaining counts the failures left before the block."""

    def test_counts_down_to_zero(self) -> None:
        """remaining goes 5, 4, 3, 2, 1, then 0 once blocked."""
        state, seen = ThrottleState(), []
        for _ in range(5):
            seen.append(remaining(POLICY, state))
            _, state = fail(POLICY, state, T0)
        seen.append(remaining(POLICY, state))

        assert [5, 4, 3, 2, 1, 0] == seen


def transition(
    name: str, policy: ThrottlePolicy, state: ThrottleState, now: int
) -> tuple[Verdict, ThrottleState]:
    """Apply the transition called *name*; release takes no policy or time."""
    if name == "release":
        return release(state)
    return {"begin": begin, "fail": fail, "succeed": succeed}[name](policy, state, now)


class TestThrottleProperties:
    """Invariants of every transition, from any valid state."""

    @given(
        policy=strategies.throttle_policy_fields,
        fields=strategies.throttle_state_fields,
        name=st.sampled_from(["begin", "fail", "succeed", "release"]),
        now=st.integers(0, 2**40),
    )
    @example(policy={}, fields={"attempt_open": True}, name="begin", now=0)
    def test_a_change_adds_exactly_one_to_the_version(
        self, policy: dict[str, Any], fields: dict[str, Any], name: str, now: int
    ) -> None:
        """Every transition returns the same object when nothing changed, and otherwise a state
        exactly one version later."""
        fields = {**fields, "version": min(fields.get("version", 0), 2**64 - 2)}
        before = ThrottleState(**fields)

        _, after = transition(name, ThrottlePolicy(**policy), before, now)

        if attrs.evolve(after, version=before.version) == before:
            assert before is after
        else:
            assert before.version + 1 == after.version

    @given(
        policy=strategies.throttle_policy_fields,
        fields=strategies.throttle_state_fields,
        moves=st.lists(
            st.tuples(st.sampled_from(["begin", "fail", "succeed"]), strategies.clock_gaps),
            max_size=20,
        ),
        start=strategies.unix_times | st.integers(0, 2**64 - 1),
    )
    def test_a_block_never_clears_itself(
        self,
        policy: dict[str, Any],
        fields: dict[str, Any],
        moves: list[tuple[str, int]],
        start: int,
    ) -> None:
        """No sequence of begin, succeed and fail, at any times, gives a blocked state a fresh
        budget: each is BLOCKED and the state stays exactly as it was."""
        blocked = ThrottleState(
            **{
                **fields,
                "blocked": True,
                "episode": max(1, fields["episode"]),
                "not_before": 0,
                "attempt_open": False,
            }
        )
        counting, state, now = ThrottlePolicy(**policy), blocked, start

        for name, gap in moves:
            now = max(0, now + gap)
            verdict, state = transition(name, counting, state, now)
            assert Verdict.BLOCKED == verdict

        assert blocked is state
        assert 0 == remaining(counting, state)


# ----------------------------------------------------------------------------------------------
# Stateful test: the throttle against a tiny reference model
# ----------------------------------------------------------------------------------------------


@attrs.define
class Model:
    """The throttle's rules as plainly as they can be written."""

    limit: int
    schedule: list[int]
    failures: int = 0
    blocked: bool = False
    episode: int = 0
    wait_until: int = 0
    open: bool = False
    version: int = 0

    def fields(self) -> tuple[int, bool, int, int, bool]:
        """Everything but the version, to tell whether a move changed anything."""
        return (self.failures, self.blocked, self.episode, self.wait_until, self.open)

    def wait_after(self, failures: int) -> int:
        """The scheduled wait after *failures* failures; the last entry repeats."""
        if failures == 0 or not self.schedule:
            return 0
        return self.schedule[min(failures, len(self.schedule)) - 1]

    def must_wait(self, now: int) -> bool:
        """Whether *now* is too soon; a clock gone back shortens the stored wait to one delay."""
        if now < self.wait_until:
            self.wait_until = min(self.wait_until, now + self.wait_after(self.failures))
        return now < self.wait_until

    def count_failure(self, now: int) -> str:
        """Count one failure at *now*; return the verdict's name."""
        self.failures += 1
        self.open = False
        self.wait_until = 0
        if self.failures >= self.limit:
            self.blocked = True
            self.episode += 1
            return "BLOCKED_NOW"
        if self.wait_after(self.failures):
            self.wait_until = now + self.wait_after(self.failures)
        return "FAILED"

    def move(self, name: str, now: int) -> str:
        """Apply begin, fail, succeed or release at *now*; return the verdict's name."""
        before = self.fields()
        verdict = self._move(name, now)
        self.version += self.fields() != before
        return verdict

    def _move(self, name: str, now: int) -> str:
        if name == "release":
            if not self.blocked:
                return "NOT_BLOCKED"
            self.blocked, self.failures = False, 0
            return "RELEASED"
        if self.blocked:
            return "BLOCKED"
        # An attempt left open was interrupted: it is a failure before anything else.
        if name == "begin" and self.open and self.count_failure(now) == "BLOCKED_NOW":
            return "BLOCKED_NOW"
        if self.must_wait(now):
            return "TOO_SOON"
        if name == "begin":
            self.open, self.wait_until = True, 0
            return "OPENED"
        if name == "succeed":
            self.failures, self.wait_until, self.open = 0, 0, False
            return "PASSED"
        return self.count_failure(now)


class ThrottleMachine(RuleBasedStateMachine):
    """Drives the throttle and the Model side by side, with a clock that may go backwards.

    Besides the plain moves, it tracks what an attacker learns: every opened attempt lets the
    secret be evaluated, whether or not its result is ever stored.
    """

    def __init__(self) -> None:
        super().__init__()
        self.policy = POLICY
        self.model = Model(5, [])
        self.state = ThrottleState()
        self.now = T0
        self.evaluated_since_reset = 0
        self.last_episode = 0

    @initialize(fields=strategies.throttle_policy_fields)
    def choose_policy(self, fields: dict[str, Any]) -> None:
        """Pick a throttle policy for this run."""
        self.policy = ThrottlePolicy(**fields)
        self.model = Model(fields["max_failures"], list(fields["delays"]))

    def apply(self, name: str, gap: int) -> Verdict:
        """Move the clock by *gap*, apply *name* to both, and compare their verdicts."""
        self.now = max(0, self.now + gap)
        verdict, self.state = transition(name, self.policy, self.state, self.now)
        assert self.model.move(name, self.now) == verdict.name
        return verdict

    # Hypothesis picks rules evenly; one rule with weighted moves makes failures common, so
    # that runs block, release and block again.
    @rule(
        name=st.sampled_from(["fail"] * 5 + ["begin"] * 4 + ["succeed"] * 2 + ["release"]),
        gap=strategies.clock_gaps,
    )
    def move(self, name: str, gap: int) -> None:
        """A move at a clock moved by *gap* agrees with the model."""
        was_blocked, was_open = self.state.blocked, self.state.attempt_open
        verdict = self.apply(name, gap)
        if verdict is Verdict.OPENED:
            # The caller now evaluates the secret; the attempt is counted whatever happens next.
            self.evaluated_since_reset += 1
        elif not was_open and verdict in {Verdict.FAILED, Verdict.BLOCKED_NOW}:
            # The sharp path: the caller evaluated the secret without opening an attempt.
            self.evaluated_since_reset += 1
        if verdict in {Verdict.PASSED, Verdict.RELEASED}:
            self.evaluated_since_reset = 0
        if was_blocked and name != "release":
            # A block never clears itself.
            assert (Verdict.BLOCKED, True) == (verdict, self.state.blocked)
        if name != "release":
            # However the clock moved, a stored wait is at most the longest delay from now.
            assert self.state.not_before <= self.now + max(self.policy.delays, default=0)

    @precondition(lambda self: self.state.attempt_open)
    @rule(gap=strategies.clock_gaps)
    def crash_and_restart(self, gap: int) -> None:
        """The process dies with an attempt open; the restarted one counts it at begin."""
        failures = self.state.failures
        verdict = self.apply("begin", gap)
        assert failures + 1 == self.state.failures
        if verdict is Verdict.OPENED:
            self.evaluated_since_reset += 1

    @invariant()
    def state_matches_model(self) -> None:
        """failures, blocked, episode, not_before, attempt_open and version are the model's."""
        m = self.model
        assert (m.failures, m.blocked, m.episode, m.wait_until, m.open, m.version) == (
            self.state.failures,
            self.state.blocked,
            self.state.episode,
            self.state.not_before,
            self.state.attempt_open,
            self.state.version,
        )

    @invariant()
    def at_most_max_failures_evaluations_between_resets(self) -> None:
        """Between successes and releases, at most max_failures secrets are ever evaluated."""
        assert self.evaluated_since_reset <= self.policy.max_failures

    @invariant()
    def every_evaluation_is_counted(self) -> None:
        """Every evaluation since the last reset is a stored failure or the attempt still open."""
        assert self.evaluated_since_reset == self.state.failures + self.state.attempt_open

    @invariant()
    def episode_never_decreases(self) -> None:
        """The episode number only grows."""
        assert self.last_episode <= self.state.episode
        self.last_episode = self.state.episode


TestThrottleMachine = ThrottleMachine.TestCase
# Twenty moves reach a block, a release and often a second block with the small policies drawn
# here, and keep the machine within its share of a few seconds for the PIN and unlock tests.
TestThrottleMachine.settings = settings(stateful_step_count=20)
