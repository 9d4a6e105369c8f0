"""Verification on the issuer (SECURITY.md S4 to S8): the window, the replay floor, drift, the
failure count, no oracle, malformed codes, resync and verification by user.

Most tests run ``Issuer`` on a ``MemoryStore``; a few run on every store. The pure transitions
of :mod:`softtoken.issuer.verification` are checked on their own as well. Every call passes a
fixed ``at=``, and nothing is timed: equal work is a benchmark matter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken import HOTP, TOTP, Match
from softtoken.exceptions import InvalidCode, InvalidInput, TokenStateError
from softtoken.issuer import (
    DEFAULT_POLICY,
    BlockReason,
    Issuer,
    IssuerPolicy,
    ReleaseReason,
    TokenState,
    Window,
)
from softtoken.issuer.audit import Action, AuditEvent
from softtoken.issuer.records import TokenRecord
from softtoken.issuer.stores import MemoryStore
from softtoken.issuer.stores.base import Row, Store
from softtoken.issuer.verification import Cause, check, resync
from softtoken.provisioning import Serial, TokenParams, offline
from softtoken.throttle import ThrottleState
from tests.issuer_support import FAST_KDF, NOW, STORE_KINDS, keyring, make_store

KEY = b"issuer-verify-seed-1"
"""The seed every imported token here gets (20 bytes, SHA1)."""
SERIAL = Serial.from_number(424_242_424)
USER = "laura"
STEP = NOW // 30
"""The TOTP step that contains NOW (NOW is the first second of it)."""
APP_TOTP = TOTP(KEY)
APP_HOTP = HOTP(KEY)
LENIENT = IssuerPolicy(max_failures=1000)
"""A policy whose failure limit no test here reaches, so that refusals stay evaluated."""
INVALID_CODE_MESSAGE = str(InvalidCode())


def code_at(step: int) -> str:
    """The app's TOTP code for *step*."""
    return APP_TOTP.generate_step(step)


def _wrong_code() -> str:
    taken = {code_at(step) for step in range(STEP - 200, STEP + 200)}
    taken |= {APP_HOTP.generate(counter) for counter in range(200)}
    return next(code for code in (f"{n:06d}" for n in range(10**6)) if code not in taken)


WRONG = _wrong_code()
"""A 6-digit code that matches no step near NOW and no HOTP counter below 200."""


def imported(
    *,
    policy: IssuerPolicy = DEFAULT_POLICY,
    kind: Literal["totp", "hotp"] = "totp",
    store: Store | None = None,
) -> Issuer:
    """An issuer holding one active token (SERIAL, for USER, seed KEY), imported at NOW."""
    issuer = Issuer(store or MemoryStore(), keyring(), policy=policy)
    issuer.import_token(SERIAL, KEY, user=USER, kind=kind, actor="admin", at=NOW)
    return issuer


def last_event(issuer: Issuer, serial: Serial = SERIAL) -> AuditEvent:
    """The newest audit event of *serial*."""
    return issuer.audit(serial)[-1]


def refused(call: Callable[[], object]) -> InvalidCode:
    """Run *call*, which must raise InvalidCode, and return the error."""
    with pytest.raises(InvalidCode) as caught:
        call()
    return caught.value


def active_record(**changes: Any) -> TokenRecord:
    """An active TOTP record for the pure transitions, with *changes*."""
    fields: dict[str, Any] = {
        "serial": SERIAL,
        "state": TokenState.ACTIVE,
        "version": 3,
        "user": USER,
        "params": TokenParams(),
        "seed": KEY,
    }
    fields.update(changes)
    return TokenRecord(**fields)


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store kind in turn."""
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


class CountingStore(MemoryStore):
    """A MemoryStore that counts every read, to show what was looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, kind: str, key: str) -> Row | None:
        self.reads += 1
        return super().get(kind, key)

    def find(
        self,
        kind: str,
        *,
        user: str | None = None,
        state: str | None = None,
        pool: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        self.reads += 1
        return super().find(kind, user=user, state=state, pool=pool, after=after, limit=limit)


# --------------------------------------------------------------------------------------------
# The window (S6)
# --------------------------------------------------------------------------------------------


class TestTOTPWindow:
    """TOTP accepts one step back and one forward by default; a token's window can change."""

    @pytest.mark.parametrize("offset", [-1, 0, 1])
    def test_default_window_accepts_one_step_either_way(self, offset: int) -> None:
        """Codes of the step before, the current step and the step after are accepted."""
        issuer = imported()
        assert Match(STEP + offset, offset) == issuer.verify(
            code_at(STEP + offset), serial=SERIAL, at=NOW
        )

    @pytest.mark.parametrize("offset", [-3, -2, 2, 3])
    def test_default_window_refuses_two_steps_away(self, offset: int) -> None:
        """A code two or more steps from the clock is refused and counted as a wrong code."""
        issuer = imported()
        refused(lambda: issuer.verify(code_at(STEP + offset), serial=SERIAL, at=NOW))
        assert ("wrong_code", 1) == (last_event(issuer).outcome, issuer.token(SERIAL).failures)

    def test_default_window_is_one_step_either_way(self) -> None:
        """A new token's window is the policy's: one step back, one forward."""
        assert Window(past=1, future=1) == imported().token(SERIAL).window

    def test_set_window_changes_one_token(self) -> None:
        """With a window of 0 back and 3 forward, step +3 is accepted and step -1 is not."""
        issuer = imported()
        issuer.set_window(SERIAL, Window(past=0, future=3), actor="ops", at=NOW)
        refused(lambda: issuer.verify(code_at(STEP - 1), serial=SERIAL, at=NOW))
        refused(lambda: issuer.verify(code_at(STEP + 4), serial=SERIAL, at=NOW))
        assert STEP + 3 == issuer.verify(code_at(STEP + 3), serial=SERIAL, at=NOW).counter
        assert Window(past=0, future=3) == issuer.token(SERIAL).window

    def test_set_window_is_audited(self) -> None:
        """Setting a window records the actor and the new window."""
        issuer = imported()
        issuer.set_window(SERIAL, Window(past=2, future=0), actor="ops", at=NOW)
        event = last_event(issuer)
        assert ("set_window", "ops", "window_2_0") == (event.action, event.actor, event.outcome)

    def test_a_zero_window_accepts_only_the_current_step(self) -> None:
        """Window(past=0, future=0) accepts the current step alone."""
        issuer = imported()
        issuer.set_window(SERIAL, Window(past=0, future=0), actor="ops", at=NOW)
        refused(lambda: issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW))
        assert STEP == issuer.verify(code_at(STEP), serial=SERIAL, at=NOW).counter

    def test_a_window_that_is_set_is_usable(self) -> None:
        """A TOTP window that set_window accepts verifies the codes inside it. (A window that
        TOTP cannot run, with more than MAX_WINDOW steps forward, must be refused when it is
        set rather than make every later code fail closed.)"""
        issuer = imported()
        try:
            issuer.set_window(SERIAL, Window(past=1, future=20), actor="ops", at=NOW)
        except InvalidInput:
            return
        assert STEP + 20 == issuer.verify(code_at(STEP + 20), serial=SERIAL, at=NOW).counter


class TestHOTPLookAhead:
    """HOTP accepts the expected counter and a bounded look-ahead after it."""

    def test_first_code_of_an_imported_token(self) -> None:
        """An imported HOTP token accepts counter 0 first."""
        issuer = imported(kind="hotp")
        assert Match(0, 0) == issuer.verify(APP_HOTP.generate(0), serial=SERIAL, at=NOW)
        assert 0 == issuer.token(SERIAL).last_counter

    def test_look_ahead_within_the_window_is_accepted(self) -> None:
        """After counter 0, a window of 3 forward accepts counter 4 (one past the expected 1,
        plus 3) and moves the floor there."""
        issuer = imported(kind="hotp")
        issuer.verify(APP_HOTP.generate(0), serial=SERIAL, at=NOW)
        issuer.set_window(SERIAL, Window(past=0, future=3), actor="ops", at=NOW)
        refused(lambda: issuer.verify(APP_HOTP.generate(5), serial=SERIAL, at=NOW))
        assert Match(4, 3) == issuer.verify(APP_HOTP.generate(4), serial=SERIAL, at=NOW)
        assert 4 == issuer.token(SERIAL).last_counter

    @pytest.mark.parametrize(
        "window", [Window(), Window(past=0, future=3), Window(past=10, future=50)]
    )
    @pytest.mark.parametrize("used", [False, True], ids=["fresh", "used"])
    def test_look_ahead_is_the_windows_future(self, window: Window, used: bool) -> None:
        """The HOTP look-ahead is ``window.future`` counters past the expected one, whatever
        ``past`` is and whether or not a code was accepted before: the bound s of s·v/10^d
        must not depend on the token's history."""

        def accepts(counter: int) -> bool:
            issuer = imported(kind="hotp")
            issuer.set_window(SERIAL, window, actor="ops", at=NOW)
            if used:
                issuer.verify(APP_HOTP.generate(0), serial=SERIAL, at=NOW)
            try:
                issuer.verify(APP_HOTP.generate(counter), serial=SERIAL, at=NOW)
            except InvalidCode:
                return False
            return True

        expected = 1 if used else 0
        assert (True, False) == (
            accepts(expected + window.future),
            accepts(expected + window.future + 1),
        )


# --------------------------------------------------------------------------------------------
# The replay floor (S4, S5)
# --------------------------------------------------------------------------------------------


class TestReplayFloor:
    """Once a step or counter is used, nothing at or below it is accepted."""

    def test_an_accepted_code_is_refused_the_second_time(self, any_store: Store) -> None:
        """On every store, the same code is accepted once and then refused as a replay."""
        issuer = imported(store=any_store)
        issuer.verify(code_at(STEP), serial=SERIAL, at=NOW)
        refused(lambda: issuer.verify(code_at(STEP), serial=SERIAL, at=NOW + 10))
        assert ("replay", STEP) == (last_event(issuer).outcome, issuer.token(SERIAL).last_counter)

    def test_an_earlier_step_inside_the_window_is_refused(self) -> None:
        """After step +1 is used, the current step (still inside the window) is refused."""
        issuer = imported()
        issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW)
        refused(lambda: issuer.verify(code_at(STEP), serial=SERIAL, at=NOW))
        assert "replay" == last_event(issuer).outcome

    def test_hotp_counter_is_not_accepted_twice(self) -> None:
        """An HOTP code accepted once is refused the second time, and so is an earlier one."""
        issuer = imported(kind="hotp")
        issuer.verify(APP_HOTP.generate(1), serial=SERIAL, at=NOW)
        refused(lambda: issuer.verify(APP_HOTP.generate(1), serial=SERIAL, at=NOW))
        assert "replay" == last_event(issuer).outcome
        refused(lambda: issuer.verify(APP_HOTP.generate(0), serial=SERIAL, at=NOW))
        assert 1 == issuer.token(SERIAL).last_counter

    def test_a_replay_counts_as_a_failure(self) -> None:
        """Each replayed code counts one failure, like a wrong one."""
        issuer = imported()
        issuer.verify(code_at(STEP), serial=SERIAL, at=NOW)
        for _ in range(2):
            refused(lambda: issuer.verify(code_at(STEP), serial=SERIAL, at=NOW))
        assert 2 == issuer.token(SERIAL).failures

    @given(
        drift=st.integers(-4, 4),
        past=st.integers(0, 3),
        future=st.integers(0, 3),
        lag=st.integers(-5, 5),
        below=st.integers(0, 12),
    )
    @example(drift=0, past=1, future=1, lag=0, below=0)
    @example(drift=4, past=3, future=3, lag=-4, below=1)
    @example(drift=-4, past=3, future=3, lag=4, below=2)
    def test_nothing_at_or_below_the_floor_is_accepted(
        self, drift: int, past: int, future: int, lag: int, below: int
    ) -> None:
        """Whatever the drift and the window, check() never accepts a step at or below the last
        accepted one, and never lowers the floor (RFC 6238 §5.2)."""
        floor = STEP
        record = active_record(
            last_counter=floor, drift=drift, window=Window(past=past, future=future)
        )
        now = (floor + lag) * 30 + 11
        cause, change, match = check(record, code_at(floor - below), now, LENIENT)
        assert match is None or match.counter > floor
        assert floor <= change.after.last_counter
        centre = floor + lag + drift
        if match is None and centre - past <= floor - below <= centre + future:
            assert Cause.REPLAY == cause

    @given(
        moves=st.lists(st.tuples(st.integers(0, 2), st.integers(-3, 3)), min_size=1, max_size=10)
    )
    def test_a_code_is_never_accepted_twice(self, moves: list[tuple[int, int]]) -> None:
        """Over any sequence of (clock advance, device skew) submissions, each submitted twice,
        the accepted steps strictly increase: no code is ever accepted twice."""
        issuer = imported(policy=LENIENT)
        now = NOW
        accepted: list[int] = []
        for advance, skew in moves:
            now += 30 * advance
            code = code_at(now // 30 + skew)
            for _ in range(2):
                with contextlib.suppress(InvalidCode):
                    accepted.append(issuer.verify(code, serial=SERIAL, at=now).counter)
        assert sorted(set(accepted)) == accepted


# --------------------------------------------------------------------------------------------
# Drift (S6)
# --------------------------------------------------------------------------------------------


class TestDrift:
    """Drift is learned from accepted codes, bounded, readable and resettable."""

    def test_a_device_one_step_ahead_teaches_drift_one(self) -> None:
        """A code one step ahead is accepted with offset 1, and the token's drift becomes 1."""
        issuer = imported()
        assert Match(STEP + 1, 1) == issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW)
        assert 1 == issuer.token(SERIAL).drift

    def test_the_window_centre_follows_the_drift(self) -> None:
        """With drift 1, a code two steps ahead of the clock is accepted, and a code one step
        behind it is refused: the window moved with the device."""
        issuer = imported()
        issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW)
        later = NOW + 90  # step STEP + 3; the window is now STEP + 3 .. STEP + 5
        refused(lambda: issuer.verify(code_at(STEP + 2), serial=SERIAL, at=later))
        assert Match(STEP + 5, 2) == issuer.verify(code_at(STEP + 5), serial=SERIAL, at=later)
        assert 2 == issuer.token(SERIAL).drift

    def test_a_fresh_token_refuses_what_drift_would_accept(self) -> None:
        """Without learned drift, the same code two steps ahead is refused."""
        issuer = imported()
        refused(lambda: issuer.verify(code_at(STEP + 5), serial=SERIAL, at=NOW + 90))

    def test_a_device_behind_teaches_negative_drift(self) -> None:
        """A code one step behind teaches drift -1."""
        issuer = imported()
        issuer.verify(code_at(STEP - 1), serial=SERIAL, at=NOW)
        assert -1 == issuer.token(SERIAL).drift

    def test_drift_is_bounded_by_the_policy(self) -> None:
        """With max_drift 1, an accepted code two steps ahead reports offset 2 but the stored
        drift stays at 1."""
        issuer = imported(policy=IssuerPolicy(max_drift=1))
        issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW)
        match = issuer.verify(code_at(STEP + 3), serial=SERIAL, at=NOW + 30)
        assert (Match(STEP + 3, 2), 1) == (match, issuer.token(SERIAL).drift)

    def test_max_drift_zero_learns_nothing(self) -> None:
        """With max_drift 0, the window never moves."""
        issuer = imported(policy=IssuerPolicy(max_drift=0))
        issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW)
        assert 0 == issuer.token(SERIAL).drift

    def test_reset_drift_sets_zero_and_is_audited(self) -> None:
        """reset_drift puts the drift back to 0 and records the operator."""
        issuer = imported()
        issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW)
        issuer.reset_drift(SERIAL, actor="ops", at=NOW + 1)
        event = last_event(issuer)
        assert (0, "reset_drift", "ops", "drift_reset") == (
            issuer.token(SERIAL).drift,
            event.action,
            event.actor,
            event.outcome,
        )

    def test_reset_drift_recentres_the_window(self) -> None:
        """After a reset, the window is centred on the clock again: step +2 of the clock is
        refused where drift 1 accepted it."""
        issuer = imported()
        issuer.verify(code_at(STEP + 1), serial=SERIAL, at=NOW)
        issuer.reset_drift(SERIAL, actor="ops", at=NOW)
        later = NOW + 90
        refused(lambda: issuer.verify(code_at(STEP + 5), serial=SERIAL, at=later))
        assert STEP + 4 == issuer.verify(code_at(STEP + 4), serial=SERIAL, at=later).counter

    @given(
        max_drift=st.integers(0, 5),
        past=st.integers(0, 3),
        future=st.integers(0, 3),
        moves=st.lists(
            st.tuples(st.booleans(), st.integers(0, 3), st.integers(-9, 9)),
            min_size=1,
            max_size=10,
        ),
    )
    def test_drift_never_exceeds_the_bound(
        self, max_drift: int, past: int, future: int, moves: list[tuple[bool, int, int]]
    ) -> None:
        """Over any sequence of verifications and resyncs with a skewed device, the learned
        drift stays within ±max_drift."""
        policy = IssuerPolicy(
            max_drift=max_drift, max_failures=1000, window=Window(past=past, future=future)
        )
        issuer = imported(policy=policy)
        now = NOW
        for is_resync, advance, skew in moves:
            now += 30 * advance
            device = now // 30 + skew
            try:
                if is_resync:
                    issuer.resync(SERIAL, code_at(device - 1), code_at(device), actor="ops", at=now)
                else:
                    issuer.verify(code_at(device), serial=SERIAL, at=now)
            except InvalidCode:
                pass
            assert abs(issuer.token(SERIAL).drift) <= max_drift


# --------------------------------------------------------------------------------------------
# Failure counting (S7)
# --------------------------------------------------------------------------------------------


def fail(issuer: Issuer, times: int, at: int = NOW) -> None:
    """Submit the wrong code *times* times."""
    for _ in range(times):
        refused(lambda: issuer.verify(WRONG, serial=SERIAL, at=at))


class TestFailureCount:
    """Wrong codes are counted; the limit blocks; only an administrator unblocks."""

    def test_four_failures_leave_the_token_active(self) -> None:
        """Four wrong codes are counted and the token stays active."""
        issuer = imported()
        fail(issuer, 4)
        info = issuer.token(SERIAL)
        assert (TokenState.ACTIVE, 4) == (info.state, info.failures)

    def test_the_fifth_failure_blocks_by_default(self) -> None:
        """The fifth wrong code blocks the token, with the automatic reason, in the audit."""
        issuer = imported()
        fail(issuer, 5)
        info = issuer.token(SERIAL)
        event = last_event(issuer)
        assert (TokenState.BLOCKED, BlockReason.TOO_MANY_FAILURES) == (
            info.state,
            info.block_reason,
        )
        assert ("wrong_code", "too_many_failures", "active", "blocked") == (
            event.outcome,
            event.reason,
            event.before,
            event.after,
        )

    @pytest.mark.parametrize("limit", [1, 3, 8])
    def test_the_policy_sets_the_limit(self, limit: int) -> None:
        """With max_failures N, N - 1 failures leave the token active and the N-th blocks it."""
        issuer = imported(policy=IssuerPolicy(max_failures=limit))
        fail(issuer, limit - 1)
        assert TokenState.ACTIVE == issuer.token(SERIAL).state
        fail(issuer, 1)
        assert TokenState.BLOCKED == issuer.token(SERIAL).state

    def test_a_success_resets_the_count(self) -> None:
        """Four failures, a success, four failures: the token is still active."""
        issuer = imported()
        fail(issuer, 4)
        issuer.verify(code_at(STEP), serial=SERIAL, at=NOW)
        assert 0 == issuer.token(SERIAL).failures
        fail(issuer, 4)
        assert (TokenState.ACTIVE, 4) == (
            issuer.token(SERIAL).state,
            issuer.token(SERIAL).failures,
        )

    def test_replays_count_towards_the_block(self) -> None:
        """Five replays of an accepted code block the token too."""
        issuer = imported()
        issuer.verify(code_at(STEP), serial=SERIAL, at=NOW)
        for _ in range(5):
            refused(lambda: issuer.verify(code_at(STEP), serial=SERIAL, at=NOW))
        assert TokenState.BLOCKED == issuer.token(SERIAL).state

    @pytest.mark.parametrize("later", [30, 86_400, 400 * 86_400, 10**9])
    def test_a_block_never_clears_itself(self, later: int) -> None:
        """However far the clock moves, a blocked token refuses even its valid code, counts
        nothing more, and stays blocked."""
        issuer = imported()
        fail(issuer, 5)
        at = NOW + later
        refused(lambda: issuer.verify(code_at(at // 30), serial=SERIAL, at=at))
        info = issuer.token(SERIAL)
        assert (TokenState.BLOCKED, 5, "blocked") == (
            info.state,
            info.failures,
            last_event(issuer).outcome,
        )

    def test_unblock_lifts_the_block(self) -> None:
        """An administrator's unblock, audited with its actor and note, lets codes in again
        with a fresh count."""
        issuer = imported()
        fail(issuer, 5)
        issuer.unblock(SERIAL, actor="admin-2", note="user called the bank", at=NOW + 60)
        event = last_event(issuer)
        assert ("unblock", "admin-2", "user called the bank") == (
            event.action,
            event.actor,
            event.reason,
        )
        assert (TokenState.ACTIVE, 0) == (
            issuer.token(SERIAL).state,
            issuer.token(SERIAL).failures,
        )
        assert STEP + 2 == issuer.verify(code_at(STEP + 2), serial=SERIAL, at=NOW + 60).counter

    def test_an_administrators_block_also_refuses_valid_codes(self) -> None:
        """A token blocked by hand refuses its valid code without counting it."""
        issuer = imported()
        issuer.block(SERIAL, BlockReason.DEVICE_LOST_OR_STOLEN, actor="admin", at=NOW)
        refused(lambda: issuer.verify(code_at(STEP), serial=SERIAL, at=NOW))
        assert (0, "blocked") == (issuer.token(SERIAL).failures, last_event(issuer).outcome)

    def test_failures_are_counted_on_every_store(self, any_store: Store) -> None:
        """The count and the block are the same on the SQL store."""
        issuer = imported(store=any_store)
        fail(issuer, 5)
        refused(lambda: issuer.verify(code_at(STEP), serial=SERIAL, at=NOW))
        assert (TokenState.BLOCKED, 5) == (
            issuer.token(SERIAL).state,
            issuer.token(SERIAL).failures,
        )


# --------------------------------------------------------------------------------------------
# No oracle (S8)
# --------------------------------------------------------------------------------------------


class Refusal(NamedTuple):
    """A refused verification: the issuer, the call, whose trail to read, and the outcome the
    audit must record (None: no token answered, so no event)."""

    issuer: Issuer
    attempt: Callable[[], object]
    subject: Serial
    outcome: str | None


OTHER = Serial.from_number(777_000_111)
"""A serial the issuer never created."""


def _pending(*, complete: bool) -> tuple[Issuer, Serial, bytes]:
    """A token assigned to "nina" (complete=False), or activated by the app and waiting for its
    first code (complete=True), with the app's secret (empty while only assigned)."""
    issuer = Issuer(MemoryStore(), keyring())
    serial = issuer.create_tokens(1, pool="acme", at=NOW)[0]
    issuer.assign(serial, user="nina", actor="admin", at=NOW)
    secret = b""
    if complete:
        started = issuer.start_offline_activation(serial, actor="admin", kdf=FAST_KDF, at=NOW)
        registration, secret = offline.respond(serial, started.activation_code, kdf=FAST_KDF)
        issuer.complete_offline_activation(serial, registration, at=NOW)
    return issuer, serial, secret


def _scenario(name: str) -> Refusal:
    valid = code_at(STEP)
    if name == "wrong_code":
        issuer = imported()
        return Refusal(
            issuer, lambda: issuer.verify(WRONG, serial=SERIAL, at=NOW), SERIAL, "wrong_code"
        )
    if name == "replay":
        issuer = imported()
        issuer.verify(valid, serial=SERIAL, at=NOW)
        return Refusal(issuer, lambda: issuer.verify(valid, user=USER, at=NOW), SERIAL, "replay")
    if name == "blocked_by_failures":
        issuer = imported()
        fail(issuer, 5)
        return Refusal(
            issuer, lambda: issuer.verify(valid, serial=SERIAL, at=NOW), SERIAL, "blocked"
        )
    if name == "blocked_by_hand":
        issuer = imported()
        issuer.block(SERIAL, BlockReason.CUSTOMER_REQUEST, actor="admin", at=NOW)
        return Refusal(
            issuer, lambda: issuer.verify(valid, serial=SERIAL, at=NOW), SERIAL, "blocked"
        )
    if name == "release_pending":
        issuer = imported(policy=IssuerPolicy(confirm_release=True))
        issuer.release(SERIAL, ReleaseReason.SEED_RELEASE, actor="admin", at=NOW)
        return Refusal(
            issuer, lambda: issuer.verify(valid, serial=SERIAL, at=NOW), SERIAL, "not_active"
        )
    if name == "released":
        issuer = imported()
        issuer.release(SERIAL, ReleaseReason.USER_LEFT_COMPANY, actor="admin", at=NOW)
        return Refusal(
            issuer, lambda: issuer.verify(valid, serial=SERIAL, at=NOW), SERIAL, "not_active"
        )
    if name == "released_by_user":
        issuer = imported()
        issuer.release(SERIAL, ReleaseReason.USER_LEFT_COMPANY, actor="admin", at=NOW)
        return Refusal(issuer, lambda: issuer.verify(valid, user=USER, at=NOW), SERIAL, None)
    if name == "deleted":
        issuer = imported()
        issuer.delete(SERIAL, actor="admin", at=NOW)
        return Refusal(
            issuer, lambda: issuer.verify(valid, serial=SERIAL, at=NOW), SERIAL, "not_active"
        )
    if name == "assigned":
        issuer, serial, _ = _pending(complete=False)
        return Refusal(
            issuer, lambda: issuer.verify(valid, serial=serial, at=NOW), serial, "not_active"
        )
    if name == "assigned_by_user":
        issuer, serial, _ = _pending(complete=False)
        # By user, the user's only token answers even while it cannot verify, so that the
        # refusal is audited on it.
        return Refusal(
            issuer, lambda: issuer.verify(valid, user="nina", at=NOW), serial, "not_active"
        )
    if name == "pending_confirmation_wrong_length":
        issuer, serial, _ = _pending(complete=True)
        return Refusal(
            issuer,
            lambda: issuer.verify("1234567", serial=serial, at=NOW),
            serial,
            "first_code_refused",
        )
    if name == "pending_confirmation_wrong_code":
        issuer, serial, _ = _pending(complete=True)
        return Refusal(
            issuer,
            lambda: issuer.verify(WRONG, user="nina", at=NOW),
            serial,
            "first_code_wrong_code",
        )
    if name == "unknown_user":
        issuer = imported()
        return Refusal(issuer, lambda: issuer.verify(valid, user="nobody", at=NOW), SERIAL, None)
    if name == "unknown_serial":
        issuer = imported()
        return Refusal(issuer, lambda: issuer.verify(valid, serial=OTHER, at=NOW), OTHER, None)
    assert "not_a_serial" == name
    issuer = imported()
    return Refusal(issuer, lambda: issuer.verify(valid, serial="12-ab", at=NOW), SERIAL, None)


SCENARIOS = [
    "wrong_code",
    "replay",
    "blocked_by_failures",
    "blocked_by_hand",
    "release_pending",
    "released",
    "released_by_user",
    "deleted",
    "assigned",
    "assigned_by_user",
    "pending_confirmation_wrong_length",
    "pending_confirmation_wrong_code",
    "unknown_user",
    "unknown_serial",
    "not_a_serial",
]


def _trail(issuer: Issuer, serial: Serial) -> list[AuditEvent]:
    try:
        return issuer.audit(serial)
    except InvalidInput:
        return []


class TestNoOracle:
    """Every refusal is one InvalidCode with one message; only the audit knows the cause."""

    @pytest.mark.parametrize("name", SCENARIOS)
    def test_every_refusal_is_the_same_error(self, name: str) -> None:
        """The error's type is exactly InvalidCode, with the one message, and nothing chained."""
        scenario = _scenario(name)
        error = refused(scenario.attempt)
        assert (InvalidCode, INVALID_CODE_MESSAGE, (INVALID_CODE_MESSAGE,)) == (
            type(error),
            str(error),
            error.args,
        )
        assert (None, None) == (error.__cause__, error.__context__)

    @pytest.mark.parametrize("name", SCENARIOS)
    def test_the_audit_records_the_real_cause(self, name: str) -> None:
        """The token's trail gains one event with the real cause; without a token, none."""
        scenario = _scenario(name)
        before = _trail(scenario.issuer, scenario.subject)
        refused(scenario.attempt)
        after = _trail(scenario.issuer, scenario.subject)
        if scenario.outcome is None:
            assert before == after
        else:
            assert (len(before) + 1, Action.VERIFY.value, scenario.outcome) == (
                len(after),
                after[-1].action,
                after[-1].outcome,
            )

    @pytest.mark.parametrize(
        "attempt",
        [
            {"user": "nobody"},
            {"serial": OTHER},
            {"serial": "12-ab"},
        ],
    )
    def test_a_refusal_without_a_token_is_audited_on_its_own(self, attempt: dict[str, Any]) -> None:
        """A code for an unknown user or serial writes one event in a chain of its own, with
        the cause and nothing the caller typed: the same database write as a known token's
        refusal."""
        store = MemoryStore()
        issuer = imported(store=store)
        known = set(store.subjects())
        valid = code_at(STEP)
        refused(lambda: issuer.verify(valid, at=NOW, **attempt))
        (subject,) = set(store.subjects()) - known
        (event,) = store.events(subject)
        assert ("unknown:", 1, Action.VERIFY.value, "unknown_token", None) == (
            subject[:8],
            event.seq,
            event.action,
            event.outcome,
            event.actor,
        )
        typed = [str(value) for value in attempt.values()] + [valid]
        assert [] == [text for text in typed if text in subject + repr(event)]


# --------------------------------------------------------------------------------------------
# Malformed codes and arguments
# --------------------------------------------------------------------------------------------

MALFORMED = [
    "",
    "12345",
    "12345678901",
    "12345a",
    " 123456",
    "123456 ",
    "123456\n",
    "12 3456",
    "+123456",
    "-12345",
    "１２３４５６",  # full-width digits
    "١٢٣٤٥٦",  # Arabic-Indic digits
]


class TestMalformedCodes:
    """A code that is not 6 to 10 ASCII digits is refused before anything is looked up."""

    @pytest.mark.parametrize("code", MALFORMED)
    def test_malformed_code_is_refused_before_any_lookup(self, code: str) -> None:
        """No read of the store, no audit event, no failure counted: one plain InvalidCode."""
        store = CountingStore()
        issuer = imported(store=store)
        events = len(issuer.audit(SERIAL))
        reads = store.reads
        error = refused(lambda: issuer.verify(code, user=USER, at=NOW))
        assert (InvalidCode, reads) == (type(error), store.reads)
        assert (events, 0) == (len(issuer.audit(SERIAL)), issuer.token(SERIAL).failures)

    @pytest.mark.parametrize("code", MALFORMED)
    def test_malformed_code_by_serial_is_refused(self, code: str) -> None:
        """By serial, too, the refusal is the plain InvalidCode."""
        issuer = imported()
        assert InvalidCode is type(refused(lambda: issuer.verify(code, serial=SERIAL, at=NOW)))

    @pytest.mark.parametrize("code", [123456, b"123456", None])
    def test_a_code_must_be_str(self, code: object) -> None:
        """An int or bytes code is a TypeError."""
        issuer = imported()
        with pytest.raises(TypeError):
            issuer.verify(code, serial=SERIAL, at=NOW)  # type: ignore[arg-type]

    def test_exactly_one_of_user_and_serial(self) -> None:
        """Giving both or neither of user and serial is a TypeError."""
        issuer = imported()
        with pytest.raises(TypeError):
            issuer.verify(code_at(STEP), at=NOW)
        with pytest.raises(TypeError):
            issuer.verify(code_at(STEP), user=USER, serial=SERIAL, at=NOW)

    @pytest.mark.parametrize("digits", [6, 8, 10])
    def test_longer_tokens_verify(self, digits: int) -> None:
        """Tokens of 6 to 10 digits verify their codes."""
        issuer = Issuer(MemoryStore(), keyring())
        issuer.import_token(SERIAL, KEY, user=USER, digits=digits, at=NOW)
        code = TOTP(KEY, digits=digits).generate_step(STEP)
        assert STEP == issuer.verify(code, serial=SERIAL, at=NOW).counter


# --------------------------------------------------------------------------------------------
# Resync (S6)
# --------------------------------------------------------------------------------------------


class TestResync:
    """Two consecutive codes in the span find a drifted device."""

    def test_totp_resync_sets_the_drift(self) -> None:
        """Codes of steps +2 and +3 set drift 3; the next code from that device verifies."""
        issuer = imported()
        match = issuer.resync(SERIAL, code_at(STEP + 2), code_at(STEP + 3), actor="ops", at=NOW)
        assert (Match(STEP + 3, 3), 3, STEP + 3) == (
            match,
            issuer.token(SERIAL).drift,
            issuer.token(SERIAL).last_counter,
        )
        assert Match(STEP + 4, 3) == issuer.verify(code_at(STEP + 4), serial=SERIAL, at=NOW + 30)

    def test_totp_resync_is_audited(self) -> None:
        """A resync records its actor and the outcome "resynced"."""
        issuer = imported()
        issuer.resync(SERIAL, code_at(STEP - 3), code_at(STEP - 2), actor="ops", at=NOW)
        event = last_event(issuer)
        assert ("resync", "ops", "resynced", -2) == (
            event.action,
            event.actor,
            event.outcome,
            issuer.token(SERIAL).drift,
        )

    def test_totp_resync_beyond_max_drift_is_refused(self) -> None:
        """A pair whose second step is past max_drift (4) is refused and counted."""
        issuer = imported()
        refused(
            lambda: issuer.resync(SERIAL, code_at(STEP + 4), code_at(STEP + 5), actor="ops", at=NOW)
        )
        assert 1 == issuer.token(SERIAL).failures

    def test_hotp_resync_sets_the_counter(self) -> None:
        """Codes of counters 40 and 41 move the floor to 41; counter 42 then verifies and 41
        does not."""
        issuer = imported(kind="hotp")
        match = issuer.resync(
            SERIAL, APP_HOTP.generate(40), APP_HOTP.generate(41), actor="ops", at=NOW
        )
        assert (41, 41) == (match.counter, issuer.token(SERIAL).last_counter)
        refused(lambda: issuer.verify(APP_HOTP.generate(41), serial=SERIAL, at=NOW))
        assert 42 == issuer.verify(APP_HOTP.generate(42), serial=SERIAL, at=NOW).counter

    def test_hotp_resync_beyond_the_span_is_refused(self) -> None:
        """With resync_span 10, counters 20 and 21 are out of reach."""
        issuer = imported(kind="hotp", policy=IssuerPolicy(resync_span=10))
        refused(
            lambda: issuer.resync(
                SERIAL, APP_HOTP.generate(20), APP_HOTP.generate(21), actor="ops", at=NOW
            )
        )
        assert (-1, 1) == (issuer.token(SERIAL).last_counter, issuer.token(SERIAL).failures)

    @pytest.mark.parametrize("kind", ["totp", "hotp"])
    def test_non_consecutive_codes_are_refused_and_counted(
        self, kind: Literal["totp", "hotp"]
    ) -> None:
        """Two valid codes with a gap between them are refused, and one failure is counted."""
        issuer = imported(kind=kind)
        if kind == "totp":
            first, second = code_at(STEP + 1), code_at(STEP + 3)
        else:
            first, second = APP_HOTP.generate(5), APP_HOTP.generate(7)
        refused(lambda: issuer.resync(SERIAL, first, second, actor="ops", at=NOW))
        info = issuer.token(SERIAL)
        assert (1, 0, "wrong_code") == (info.failures, info.drift, last_event(issuer).outcome)

    def test_reversed_codes_are_refused(self) -> None:
        """The pair must be in order: (n + 1, n) is refused."""
        issuer = imported()
        refused(
            lambda: issuer.resync(SERIAL, code_at(STEP + 2), code_at(STEP + 1), actor="ops", at=NOW)
        )

    @pytest.mark.parametrize("pair", [(-1, 0), (0, 1)], ids=["below", "at"])
    def test_totp_codes_at_or_below_the_floor_are_refused(self, pair: tuple[int, int]) -> None:
        """After step STEP is accepted, a pair that includes STEP or an earlier step is refused."""
        issuer = imported()
        issuer.verify(code_at(STEP), serial=SERIAL, at=NOW)
        first, second = pair
        refused(
            lambda: issuer.resync(
                SERIAL, code_at(STEP + first), code_at(STEP + second), actor="ops", at=NOW
            )
        )
        assert (STEP, 1) == (issuer.token(SERIAL).last_counter, issuer.token(SERIAL).failures)

    @pytest.mark.parametrize("pair", [(3, 4), (4, 5)], ids=["below", "at"])
    def test_hotp_codes_at_or_below_the_floor_are_refused(self, pair: tuple[int, int]) -> None:
        """After counter 4 is used, (3, 4) and (4, 5) are refused, and (5, 6) is accepted."""
        issuer = imported(kind="hotp")
        issuer.resync(SERIAL, APP_HOTP.generate(3), APP_HOTP.generate(4), actor="ops", at=NOW)
        first, second = pair
        refused(
            lambda: issuer.resync(
                SERIAL, APP_HOTP.generate(first), APP_HOTP.generate(second), actor="ops", at=NOW
            )
        )
        assert 4 == issuer.token(SERIAL).last_counter
        issuer.resync(SERIAL, APP_HOTP.generate(5), APP_HOTP.generate(6), actor="ops", at=NOW)
        assert 6 == issuer.token(SERIAL).last_counter

    def test_resync_needs_an_active_token(self) -> None:
        """A blocked token cannot be resynced: a typed state error, not a code refusal."""
        issuer = imported()
        issuer.block(SERIAL, BlockReason.TECHNICAL_FAILURE, actor="admin", at=NOW)
        with pytest.raises(TokenStateError):
            issuer.resync(SERIAL, code_at(STEP), code_at(STEP + 1), actor="ops", at=NOW)

    def test_malformed_resync_codes_are_refused(self) -> None:
        """A resync code that is not 6 to 10 ASCII digits is an InvalidCode; nothing counted."""
        issuer = imported()
        refused(lambda: issuer.resync(SERIAL, "12a456", code_at(STEP), actor="ops", at=NOW))
        assert 0 == issuer.token(SERIAL).failures


# --------------------------------------------------------------------------------------------
# The pure transitions
# --------------------------------------------------------------------------------------------


class TestPureCheck:
    """verification.check and verification.resync: outcomes and new records, no store."""

    def test_accepted_moves_the_floor_and_resets_the_count(self) -> None:
        """An accepted code gives ACCEPTED, the match, the floor at its step, the drift learned,
        a zero failure count and the next version."""
        record = active_record(throttle=ThrottleState(failures=3, version=3))
        cause, change, match = check(record, code_at(STEP + 1), NOW, DEFAULT_POLICY)
        after = change.after
        assert (Cause.ACCEPTED, Match(STEP + 1, 1)) == (cause, match)
        assert (STEP + 1, 1, 0, 4) == (
            after.last_counter,
            after.drift,
            after.throttle.failures,
            after.version,
        )
        assert ("verify", "accepted") == (change.entry.action.value, change.entry.outcome)

    def test_wrong_code_counts_a_failure(self) -> None:
        """A wrong code gives WRONG_CODE, no match, one more failure, the floor unchanged."""
        cause, change, match = check(
            active_record(last_counter=STEP - 5), WRONG, NOW, DEFAULT_POLICY
        )
        assert (Cause.WRONG_CODE, None, 1, STEP - 5) == (
            cause,
            match,
            change.after.throttle.failures,
            change.after.last_counter,
        )

    def test_replay_is_its_own_cause(self) -> None:
        """A code at the floor gives REPLAY and counts a failure."""
        cause, change, match = check(
            active_record(last_counter=STEP), code_at(STEP), NOW, DEFAULT_POLICY
        )
        assert (Cause.REPLAY, None, 1) == (cause, match, change.after.throttle.failures)

    def test_wrong_length_counts_a_failure(self) -> None:
        """A 7-digit code for a 6-digit token is a wrong code."""
        cause, _, _ = check(active_record(), "1234567", NOW, DEFAULT_POLICY)
        assert Cause.WRONG_CODE == cause

    def test_the_limit_blocks(self) -> None:
        """The failure that reaches the limit gives BLOCKED_NOW and a blocked record."""
        record = active_record(throttle=ThrottleState(failures=4, version=4))
        cause, change, _ = check(record, WRONG, NOW, DEFAULT_POLICY)
        assert (Cause.BLOCKED_NOW, TokenState.BLOCKED, BlockReason.TOO_MANY_FAILURES) == (
            cause,
            change.after.state,
            change.after.block_reason,
        )

    def test_a_blocked_record_is_refused_unevaluated(self) -> None:
        """A blocked record gives BLOCKED for its valid code and counts nothing."""
        record = active_record(
            state=TokenState.BLOCKED, block_reason=BlockReason.DEVICE_LOST_OR_STOLEN
        )
        cause, change, match = check(record, code_at(STEP), NOW, DEFAULT_POLICY)
        assert (Cause.BLOCKED, None, 0, TokenState.BLOCKED) == (
            cause,
            match,
            change.after.throttle.failures,
            change.after.state,
        )

    def test_a_record_without_seed_is_not_active(self) -> None:
        """A token in a pool gives NOT_ACTIVE."""
        record = TokenRecord(serial=SERIAL, state=TokenState.POOL, version=2, pool="acme")
        cause, _, match = check(record, code_at(STEP), NOW, DEFAULT_POLICY)
        assert (Cause.NOT_ACTIVE, None) == (cause, match)

    def test_check_is_pure(self) -> None:
        """The same record, code and time give the same result twice."""
        record = active_record()
        assert check(record, code_at(STEP), NOW, DEFAULT_POLICY) == check(
            record, code_at(STEP), NOW, DEFAULT_POLICY
        )

    def test_pure_resync_sets_the_drift(self) -> None:
        """resync on consecutive codes gives ACCEPTED, the drift and the floor, audited as
        "resynced"."""
        cause, change, match = resync(
            active_record(), code_at(STEP - 4), code_at(STEP - 3), NOW, DEFAULT_POLICY
        )
        assert (Cause.ACCEPTED, Match(STEP - 3, -3), -3, STEP - 3, "resynced") == (
            cause,
            match,
            change.after.drift,
            change.after.last_counter,
            change.entry.outcome,
        )

    def test_pure_resync_refuses_a_gap(self) -> None:
        """resync on non-consecutive codes gives WRONG_CODE and counts one failure."""
        cause, change, match = resync(
            active_record(), code_at(STEP), code_at(STEP + 2), NOW, DEFAULT_POLICY
        )
        assert (Cause.WRONG_CODE, None, 1) == (cause, match, change.after.throttle.failures)

    def test_pure_resync_refuses_the_floor(self) -> None:
        """resync of a pair that starts at the floor is refused."""
        cause, _, match = resync(
            active_record(last_counter=STEP),
            code_at(STEP),
            code_at(STEP + 1),
            NOW,
            DEFAULT_POLICY,
        )
        assert (Cause.WRONG_CODE, None) == (cause, match)

    def test_pure_hotp_resync_sets_the_counter(self) -> None:
        """An HOTP pair sets the floor at the second counter and leaves the drift at 0."""
        record = active_record(params=TokenParams(kind="hotp"), last_counter=9)
        cause, change, _ = resync(
            record, APP_HOTP.generate(30), APP_HOTP.generate(31), NOW, DEFAULT_POLICY
        )
        assert (Cause.ACCEPTED, 31, 0) == (cause, change.after.last_counter, change.after.drift)


# --------------------------------------------------------------------------------------------
# Verification by user
# --------------------------------------------------------------------------------------------


class TestByUser:
    """verify(user=...) answers with the user's active token."""

    def test_the_active_token_answers(self) -> None:
        """A user with an active token and another still assigned: the active one verifies."""
        issuer = imported()
        pending = issuer.create_tokens(1, pool="acme", at=NOW)[0]
        issuer.assign(pending, user=USER, actor="admin", at=NOW)
        assert STEP == issuer.verify(code_at(STEP), user=USER, at=NOW).counter
        assert (STEP, "accepted") == (
            issuer.token(SERIAL).last_counter,
            last_event(issuer).outcome,
        )
        assert "assign" == last_event(issuer, pending).action

    def test_a_retired_token_does_not_answer(self) -> None:
        """After a new token retires the old one (one device per user), the old token's code
        is refused by user and counted on the new token; the new token's code is accepted."""
        issuer = imported()
        newer = Serial.from_number(555_555_555)
        new_key = b"issuer-verify-seed-2"
        issuer.import_token(newer, new_key, user=USER, actor="admin", at=NOW)
        assert TokenState.BLOCKED == issuer.token(SERIAL).state
        old_trail = issuer.audit(SERIAL)
        refused(lambda: issuer.verify(code_at(STEP), user=USER, at=NOW))
        assert (old_trail, 1) == (issuer.audit(SERIAL), issuer.token(newer).failures)
        new_code = TOTP(new_key).generate_step(STEP)
        assert STEP == issuer.verify(new_code, user=USER, at=NOW).counter

    def test_a_token_waiting_for_its_first_code_answers(self) -> None:
        """A user whose only token waits for its first code confirms it by user: the token is
        then active, and the same first code is not accepted again."""
        issuer, serial, secret = _pending(complete=True)
        first = TOTP(secret).generate_step(STEP)
        assert STEP == issuer.verify(first, user="nina", at=NOW).counter
        assert TokenState.ACTIVE == issuer.token(serial).state
        refused(lambda: issuer.verify(first, user="nina", at=NOW))
