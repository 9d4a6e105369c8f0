"""Tests for enrollment with first-code confirmation (softtoken.provisioning.enrollment).

The token stays pending until its first code verifies, which catches apps that ignore the URI's
algorithm, digits or period; compatibility profiles refuse such URIs up front; refusals are
outcomes that change nothing; every change is one version step; the stored record is strict and
holds no key once finished, expiry included; whole runs follow a tiny reference model.
"""

from __future__ import annotations

import struct
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken import _checks, _random
from softtoken.exceptions import (
    IncompatibleURI,
    InvalidCode,
    InvalidInput,
    InvalidRecord,
    InvalidURI,
    MalformedCode,
)
from softtoken.hotp import HOTP, TOTP
from softtoken.provisioning import (
    AEGIS,
    DEFAULT_PARAMS,
    FREEOTP,
    GOOGLE_AUTHENTICATOR,
    MICROSOFT_AUTHENTICATOR,
    KeyURI,
    TokenParams,
)
from softtoken.provisioning._pending import Step
from softtoken.provisioning.enrollment import (
    DEFAULT_ATTEMPTS,
    DEFAULT_TTL,
    FIRST_CODE_LOOK_AHEAD,
    MAX_ATTEMPTS,
    ConfirmedToken,
    Outcome,
    PendingEnrollment,
    confirm,
    enroll,
    match_first_code,
)
from softtoken.throttle import ThrottleState

from . import strategies
from .utils import RFC_SEEDS

T0 = 1_700_000_000
ACCOUNT = "laura@example.com"
ISSUER = "Banco Ejemplo"


def pending_for(
    params: TokenParams = DEFAULT_PARAMS, *, attempts: int = 5, ttl: int = 600
) -> tuple[KeyURI, PendingEnrollment]:
    """An enrollment of ACCOUNT at T0."""
    return enroll(account=ACCOUNT, issuer=ISSUER, params=params, now=T0, ttl=ttl, attempts=attempts)


def app_code(uri: KeyURI, at: int) -> str:
    """What an app that honours the whole URI shows at *at* (HOTP: its first counter)."""
    token = uri.token()
    return token.generate(uri.counter or 0) if isinstance(token, HOTP) else token.generate(at)


def window(params: TokenParams, key: bytes, at: int) -> set[str]:
    """Every code the first-code window accepts at *at*."""
    token = params.token(key)
    if isinstance(token, TOTP):
        steps = (token.step(at) + d for d in (-1, 0, 1))
        return {token.generate_step(step) for step in steps if step >= 0}
    return {token.generate(c) for c in range(FIRST_CODE_LOOK_AHEAD + 1)}


def wrong_code(params: TokenParams, key: bytes, at: int) -> str:
    """A code of the right shape that the first-code window refuses."""
    accepted = window(params, key, at)
    return next(c for c in (f"{n:0{params.digits}d}" for n in range(10)) if c not in accepted)


def run(
    uri: KeyURI, pending: PendingEnrollment, steps: list[tuple[str, Any]]
) -> list[tuple[Outcome | None, PendingEnrollment]]:
    """Apply *steps*; return each step's outcome and the state after it. Enrollment has no
    registration step, so a "complete" step (from the shared strategy) is a wrong code."""
    at, trail = T0, []
    for kind, value in steps:
        outcome: Outcome | None = None
        if kind == "wait":
            at += value
        else:
            right = right_code(kind, value)
            typed = app_code(uri, at) if right else wrong_code(pending.params, uri.secret, at)
            outcome, pending, _ = confirm(pending, typed, now=at)
        trail.append((outcome, pending))
    return trail


def right_code(kind: str, value: Any) -> bool:
    """Whether a step of the shared strategy types the app's code."""
    return kind == "confirm" and bool(value)


class Model:
    """A tiny reference for whole runs, from the module docstring alone: each step's outcome,
    and the failures, version and end it leaves. An enrollment ends once (done, spent or
    expired), and the end is the refusal every later step meets."""

    def __init__(self, attempts: int, expires_at: int) -> None:
        self.attempts, self.expires_at = attempts, expires_at
        self.failures = self.version = 0
        self.end: Outcome | None = None

    def confirm(self, right: bool, at: int) -> Outcome:
        """The outcome of typing the app's code (*right*) or a wrong one at *at*."""
        if self.end is None and at >= self.expires_at:
            # The first refusal for the expiry is a change: it erases the key.
            self.end, self.version = Outcome.EXPIRED, self.version + 1
            return Outcome.EXPIRED
        if self.end is not None:
            return self.end
        self.version += 1
        if right:
            self.end, self.failures = Outcome.ALREADY_DONE, 0
            return Outcome.CONFIRMED
        self.failures += 1
        if self.failures < self.attempts:
            return Outcome.WRONG_CODE
        self.end = Outcome.SPENT
        return Outcome.SPENT_NOW

    def view(self) -> tuple[int, int, bool, bool, bool]:
        """Failures, version, done, spent and expired, as a state shows them."""
        end = self.end
        done, spent = end is Outcome.ALREADY_DONE, end is Outcome.SPENT
        return self.failures, self.version, done, spent, end is Outcome.EXPIRED


def view(state: PendingEnrollment) -> tuple[int, int, bool, bool, bool]:
    """What the model keeps of a state."""
    return state.budget.failures, state.version, state.done, state.budget.blocked, state.expired


class TestEnroll:
    """enroll draws a key, writes its URI and keeps what the first code needs."""

    @given(fields=strategies.token_params_fields)
    def test_the_uri_carries_the_parameters_and_the_pending_key(
        self, fields: dict[str, Any]
    ) -> None:
        """The URI's key is the pending key, of the algorithm's length, with the params' kind,
        algorithm, digits and period; HOTP starts at counter 0."""
        params = TokenParams(**fields)
        uri, pending = pending_for(params)

        assert (uri.secret, params.secret_length) == (pending.key, len(uri.secret))
        assert (params.kind, params.algorithm, params.digits, params.period) == (
            uri.kind,
            uri.algorithm,
            uri.digits,
            uri.period,
        )
        assert (0 if params.kind == "hotp" else None) == uri.counter

    def test_the_key_comes_from_the_randomness_helper(self) -> None:
        """Replacing the helper's source makes it the key (SECURITY.md S3)."""
        with mock.patch.object(_random, "_source", lambda n: RFC_SEEDS["sha1"][:n]):
            uri, pending = pending_for()

        assert (RFC_SEEDS["sha1"], RFC_SEEDS["sha1"]) == (uri.secret, pending.key)

    def test_defaults(self) -> None:
        """15 minutes, 5 attempts, the default parameters."""
        uri, pending = enroll(account=ACCOUNT, issuer=None, now=T0)

        assert (T0 + DEFAULT_TTL, DEFAULT_ATTEMPTS, DEFAULT_PARAMS) == (
            pending.expires_at,
            pending.attempts,
            pending.params,
        )
        assert (900, 5, ACCOUNT) == (DEFAULT_TTL, DEFAULT_ATTEMPTS, uri.label)

    @pytest.mark.parametrize(
        ("profile", "params", "parameter"),
        [
            (GOOGLE_AUTHENTICATOR, TokenParams(algorithm="sha256"), "algorithm=SHA256"),
            (GOOGLE_AUTHENTICATOR, TokenParams(digits=8), "digits=8"),
            (GOOGLE_AUTHENTICATOR, TokenParams(period=60), "period=60"),
            (MICROSOFT_AUTHENTICATOR, TokenParams(kind="hotp"), "type=hotp"),
            (FREEOTP, TokenParams(digits=7), "digits=7"),
        ],
    )
    def test_a_profile_refuses_what_its_app_ignores(
        self, profile: Any, params: TokenParams, parameter: str
    ) -> None:
        """A URI the app would not honour raises IncompatibleURI naming the parameter, and no
        key, URI or pending value is returned."""
        with pytest.raises(IncompatibleURI) as info:
            enroll(account=ACCOUNT, issuer=ISSUER, params=params, profile=profile, now=T0)

        assert any(parameter in problem for problem in info.value.problems)

    @pytest.mark.parametrize(
        ("profile", "params"),
        [
            (GOOGLE_AUTHENTICATOR, DEFAULT_PARAMS),
            (GOOGLE_AUTHENTICATOR, TokenParams(kind="hotp")),
            (FREEOTP, TokenParams(algorithm="sha512", digits=8, period=60)),
            (AEGIS, TokenParams(algorithm="sha256", digits=10, period=15)),
        ],
    )
    def test_a_profile_admits_what_its_app_honours(self, profile: Any, params: TokenParams) -> None:
        """A URI the app honours enrolls, without a warning (warnings are errors here)."""
        uri, pending = enroll(
            account=ACCOUNT, issuer=ISSUER, params=params, profile=profile, now=T0
        )

        assert (params, uri.secret) == (pending.params, pending.key)

    @pytest.mark.parametrize(
        "options", [{"ttl": 0}, {"ttl": 7 * 86_400 + 1}, {"attempts": 0}, {"attempts": 11}]
    )
    def test_bad_limits(self, options: dict[str, Any]) -> None:
        """A ttl or budget out of range raises InvalidInput."""
        with pytest.raises(InvalidInput):
            enroll(account=ACCOUNT, issuer=ISSUER, now=T0, **options)

    def test_bad_names_and_types(self) -> None:
        """A colon in the account is InvalidURI; wrong types are TypeErrors."""
        with pytest.raises(InvalidURI):
            enroll(account="a:b", issuer=ISSUER, now=T0)
        with pytest.raises(TypeError):
            enroll(account=ACCOUNT, issuer=ISSUER, params="totp", now=T0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            enroll(account=ACCOUNT, issuer=ISSUER, profile="aegis", now=T0)  # type: ignore[arg-type]


class TestConfirm:
    """The token stays pending until its first code verifies."""

    @given(fields=strategies.token_params_fields, later=st.integers(0, 599))
    def test_the_apps_code_confirms(self, fields: dict[str, Any], later: int) -> None:
        """The code of an app that honours the URI confirms at any time before the expiry; the
        enrollment is then done and holds no key."""
        uri, pending = pending_for(TokenParams(**fields))

        outcome, done, token = confirm(pending, app_code(uri, T0 + later), now=T0 + later)

        assert (Outcome.CONFIRMED, True, None) == (outcome, done.done, done.key)
        assert token is not None

    def test_the_confirmed_token_holds_what_activation_needs(self) -> None:
        """CONFIRMED returns the key (which the stored value no longer has), the parameters,
        and the match; recorded as the last step, the match refuses the first code again."""
        uri, pending = pending_for()
        code = app_code(uri, T0)

        _, done, token = confirm(pending, code, now=T0)

        assert token is not None
        assert (uri.secret, DEFAULT_PARAMS, None) == (token.secret, token.params, done.key)
        with pytest.raises(InvalidCode):
            TOTP(token.secret).verify(code, at=T0, last_step=token.match.counter)

    @given(key=st.binary(min_size=32, max_size=32), at=strategies.unix_times)
    @example(key=RFC_SEEDS["sha256"], at=59)
    def test_an_app_that_ignores_the_algorithm_is_refused(self, key: bytes, at: int) -> None:
        """A SHA1 code, from an app that ignored algorithm=SHA256, never confirms (unless it
        happens to equal a SHA256 code of the window)."""
        params = TokenParams(algorithm="sha256")
        sha1_code = TOTP(key, algorithm="sha1").generate(at)
        assume(sha1_code not in window(params, key, at))
        pending = PendingEnrollment(params=params, expires_at=at + 1, attempts=5, key=key)

        assert Outcome.WRONG_CODE == confirm(pending, sha1_code, now=at)[0]

    @given(key=st.binary(min_size=20, max_size=20), at=strategies.unix_times)
    def test_an_app_that_ignores_the_period_is_refused(self, key: bytes, at: int) -> None:
        """A 30-second code, from an app that ignored period=60, never confirms (unless it
        happens to equal a code of the window)."""
        params = TokenParams(period=60)
        code = TOTP(key).generate(at)
        assume(code not in window(params, key, at))
        pending = PendingEnrollment(params=params, expires_at=at + 1, attempts=5, key=key)

        assert Outcome.WRONG_CODE == confirm(pending, code, now=at)[0]

    def test_an_app_that_ignores_the_digits_is_refused_uncounted(self) -> None:
        """A 6-digit code for an 8-digit token raises MalformedCode: the user can be told the
        length, and nothing is counted."""
        uri, pending = pending_for(TokenParams(digits=8))

        with pytest.raises(MalformedCode):
            confirm(pending, TOTP(uri.secret).generate(T0), now=T0)

    def test_the_totp_window_is_one_step_each_way(self) -> None:
        """Steps -1 and +1 confirm; steps -2 and +2 count as wrong (RFC 6238 §5.2)."""
        key = RFC_SEEDS["sha1"]
        pending = PendingEnrollment(params=DEFAULT_PARAMS, expires_at=T0 + 1, attempts=5, key=key)
        token = TOTP(key)
        step = token.step(T0)

        outcomes = [
            confirm(pending, token.generate_step(step + d), now=T0)[0] for d in (-2, -1, 1, 2)
        ]

        assert [Outcome.WRONG_CODE, Outcome.CONFIRMED, Outcome.CONFIRMED, Outcome.WRONG_CODE] == (
            outcomes
        )

    def test_the_hotp_look_ahead_is_counters_0_to_2(self) -> None:
        """Counters 0 to 2 confirm and name their counter; counter 3 counts as wrong."""
        key = RFC_SEEDS["sha1"]
        params = TokenParams(kind="hotp")
        pending = PendingEnrollment(params=params, expires_at=T0 + 1, attempts=5, key=key)
        token = HOTP(key)

        results = [confirm(pending, token.generate(c), now=T0) for c in range(4)]

        assert [Outcome.CONFIRMED] * 3 + [Outcome.WRONG_CODE] == [r[0] for r in results]
        assert [0, 1, 2] == [r[2].match.counter for r in results[:3] if r[2] is not None]

    def test_a_wrong_code_costs_one_attempt_and_keeps_the_key(self) -> None:
        """A wrong code: WRONG_CODE, one failure, one version, the key kept; nothing else."""
        uri, pending = pending_for()

        outcome, after, match = confirm(pending, wrong_code(DEFAULT_PARAMS, uri.secret, T0), now=T0)

        assert (Outcome.WRONG_CODE, None) == (outcome, match)
        assert attrs.evolve(pending, budget=ThrottleState(failures=1, version=1)) == after

    def test_spent_budget(self) -> None:
        """The third wrong code of three spends the budget and erases the key; the right code is
        then refused as SPENT."""
        uri, pending = pending_for(attempts=3)
        trail = run(uri, pending, [("confirm", False)] * 3)
        spent = trail[-1][1]

        assert [Outcome.WRONG_CODE, Outcome.WRONG_CODE, Outcome.SPENT_NOW] == [o for o, _ in trail]
        assert (True, None) == (spent.budget.blocked, spent.key)
        assert (Outcome.SPENT, spent, None) == confirm(spent, app_code(uri, T0), now=T0)

    def test_expired_at_expires_at(self) -> None:
        """The right code is refused from expires_at on, and allowed the second before."""
        uri, pending = pending_for(ttl=600)

        refused = confirm(pending, app_code(uri, T0 + 600), now=T0 + 600)
        allowed = confirm(pending, app_code(uri, T0 + 599), now=T0 + 599)

        assert (Outcome.EXPIRED, None) == (refused[0], refused[2])
        assert Outcome.CONFIRMED == allowed[0]

    def test_the_first_expired_refusal_erases_the_key(self) -> None:
        """The first EXPIRED is one change: the key erased, the value marked expired, one
        version later, and nothing else."""
        uri, pending = pending_for(ttl=600)

        _, expired, _ = confirm(pending, app_code(uri, T0 + 600), now=T0 + 600)

        assert (
            attrs.evolve(pending, key=None, expired=True, budget=ThrottleState(version=1))
            == expired
        )

    def test_later_expired_refusals_change_nothing(self) -> None:
        """Once erased, an enrollment stays expired, unchanged, even when the clock goes back
        before expires_at."""
        uri, pending = pending_for(ttl=600)
        _, expired, _ = confirm(pending, app_code(uri, T0 + 600), now=T0 + 600)

        again = confirm(expired, app_code(uri, T0 + 900), now=T0 + 900)
        earlier = confirm(expired, app_code(uri, T0), now=T0)

        assert [(Outcome.EXPIRED, expired, None)] * 2 == [again, earlier]
        assert again[1] is expired

    def test_replay_after_done(self) -> None:
        """After CONFIRMED, the same code is refused as ALREADY_DONE, and nothing changes."""
        uri, pending = pending_for()
        _, done, _ = confirm(pending, app_code(uri, T0), now=T0)

        assert (Outcome.ALREADY_DONE, done, None) == confirm(done, app_code(uri, T0), now=T0)

    def test_match_first_code_is_the_window_alone(self) -> None:
        """The sharp tool answers a match or None and counts nothing."""
        uri, _ = pending_for()
        key = uri.secret

        assert match_first_code(DEFAULT_PARAMS, key, app_code(uri, T0), now=T0) is not None
        assert (
            match_first_code(DEFAULT_PARAMS, key, wrong_code(DEFAULT_PARAMS, key, T0), now=T0)
            is None
        )

    def test_wrong_types(self) -> None:
        """A pending value of the wrong class or an int code is a TypeError."""
        _, pending = pending_for()
        with pytest.raises(TypeError):
            confirm(pending.to_bytes(), "123456", now=T0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            confirm(pending, 123456, now=T0)  # type: ignore[arg-type]


class TestRuns:
    """Properties over whole runs of wrong and right codes and waits."""

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_runs_follow_the_reference_model(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """Each step's outcome, and the failures, version and end it leaves, are the model's."""
        uri, pending = pending_for(attempts=attempts, ttl=86_400)
        model, at = Model(attempts, pending.expires_at), T0
        for (kind, value), (outcome, state) in zip(steps, run(uri, pending, steps), strict=True):
            if kind == "wait":
                at += value
                continue
            assert (model.confirm(right_code(kind, value), at), model.view()) == (
                outcome,
                view(state),
            )

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_every_change_is_one_version_step(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """Each step returns the state unchanged (and equal), or one version later."""
        uri, before = pending_for(attempts=attempts, ttl=86_400)
        for _, after in run(uri, before, steps):
            assert after is before or after.version == before.version + 1
            before = after

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_the_budget_bounds_the_codes_compared(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """At most `attempts` wrong codes are counted, and nothing is compared after the end."""
        uri, pending = pending_for(attempts=attempts, ttl=86_400)
        outcomes = [o for o, _ in run(uri, pending, steps)]
        counted = {Outcome.WRONG_CODE, Outcome.SPENT_NOW}

        assert sum(o in counted for o in outcomes) <= attempts
        assert outcomes.count(Outcome.CONFIRMED) <= 1

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_every_reached_state_round_trips(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """Every state a run reaches decodes from its bytes to itself."""
        uri, pending = pending_for(attempts=attempts, ttl=86_400)
        for _, state in run(uri, pending, steps):
            assert state == PendingEnrollment.from_bytes(state.to_bytes())

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_a_finished_enrollment_holds_no_key(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """A state holds its key exactly until it is done, spent or expired."""
        uri, pending = pending_for(attempts=attempts, ttl=86_400)
        for _, state in run(uri, pending, steps):
            assert (state.done or state.budget.blocked or state.expired) == (state.key is None)


_HEADER = struct.Struct(">2sBB8sQBBQ")
# Every message PendingEnrollment.from_bytes raises: constants, which never hold the data.
RECORD_ERRORS = {
    "pending enrollment data is truncated",
    "data is not a pending enrollment of a known format",
    "pending enrollment fields are out of range",
    "pending enrollment data has the wrong length",
    "pending enrollment fields are out of range or inconsistent",
}


def record(**changes: Any) -> bytes:
    """A fresh SHA1 record (5 attempts, a 20-byte key) with header fields replaced."""
    fields: dict[str, Any] = {
        "tag": b"EN",
        "format": 1,
        "flags": 0,
        "params": DEFAULT_PARAMS.to_bytes(),
        "expires_at": T0,
        "attempts": 5,
        "failures": 0,
        "version": 0,
        "key": RFC_SEEDS["sha1"],
    }
    fields.update(changes)
    key: bytes = fields.pop("key")
    return _HEADER.pack(*fields.values()) + key


class TestRecord:
    """PendingEnrollment.from_bytes reads only what to_bytes writes."""

    def test_layout(self) -> None:
        """The record is the documented 30-byte header and the key."""
        pending = PendingEnrollment(
            params=DEFAULT_PARAMS,
            expires_at=T0,
            attempts=5,
            budget=ThrottleState(failures=2, version=2),
            key=RFC_SEEDS["sha1"],
        )

        assert record(failures=2, version=2) == pending.to_bytes()
        assert pending == PendingEnrollment.from_bytes(record(failures=2, version=2))

    def test_layout_of_an_expired_enrollment(self) -> None:
        """An expired enrollment is the header alone, with flag bit 3 and its failures kept."""
        expired = PendingEnrollment(
            params=DEFAULT_PARAMS,
            expires_at=T0,
            attempts=5,
            budget=ThrottleState(failures=2, version=3),
            expired=True,
        )
        data = record(flags=0x08, failures=2, version=3, key=b"")

        assert (data, expired) == (expired.to_bytes(), PendingEnrollment.from_bytes(data))

    @pytest.mark.parametrize(
        "changes",
        [
            {"tag": b"OA"},
            {"format": 2},
            {"flags": 0x10},
            {"flags": 0x04},
            {"flags": 0x03, "key": b""},
            {"flags": 0x09, "key": b""},
            {"flags": 0x0A, "failures": 5, "key": b""},
            {"flags": 0x08},
            {"params": bytes(8)},
            {"attempts": 0},
            {"attempts": 11},
            {"failures": 5},
            {"failures": 6, "flags": 0x02, "key": b""},
            {"flags": 0x01, "failures": 1, "key": b""},
            {"flags": 0x01},
            {"key": bytes(32)},
        ],
        ids=[
            "tag-of-an-offline-activation",
            "format",
            "unknown-flag",
            "open-attempt",
            "done-and-spent",
            "done-and-expired",
            "spent-and-expired",
            "expired-with-key",
            "params",
            "no-attempts",
            "too-many-attempts",
            "failures-at-limit-unblocked",
            "failures-past-limit",
            "done-with-failures",
            "done-with-key",
            "key-of-another-algorithm",
        ],
    )
    def test_bad_fields_are_record_errors(self, changes: dict[str, Any]) -> None:
        """A wrong tag, format or flag, a field out of range, or fields no enrollment reaches
        raise InvalidRecord."""
        with pytest.raises(InvalidRecord):
            PendingEnrollment.from_bytes(record(**changes))

    def test_every_truncation_and_extension_is_refused(self) -> None:
        """Every proper prefix and one extra byte raise InvalidRecord."""
        data = record()
        for bad in [data[:n] for n in range(len(data))] + [data + b"\0"]:
            with pytest.raises(InvalidRecord):
                PendingEnrollment.from_bytes(bad)

    @given(
        data=strategies.mutated_bytes(
            st.sampled_from([record(), record(flags=1, key=b""), record(flags=8, key=b"")])
        )
    )
    def test_near_misses_decode_to_themselves_or_raise_the_record_error(self, data: bytes) -> None:
        """Edited records either decode and re-encode to themselves, or raise InvalidRecord with
        one of the decoder's constant messages and no chained error."""
        refused: InvalidRecord | None = None
        try:
            value = PendingEnrollment.from_bytes(data)
        except InvalidRecord as error:
            refused = error
        if refused is not None:
            assert (True, None) == (str(refused) in RECORD_ERRORS, refused.__context__)
        else:
            assert data == value.to_bytes()

    def test_text_is_a_type_error(self) -> None:
        """A str record is a TypeError."""
        with pytest.raises(TypeError):
            PendingEnrollment.from_bytes("EN")  # type: ignore[arg-type]


class TestShared:
    """What enrollment shares with offline activation keeps its public names."""

    def test_every_shared_step_is_an_outcome(self) -> None:
        """Each step of the shared rules has the enrollment outcome of the same value."""
        assert {step.value for step in Step} <= {outcome.value for outcome in Outcome}

    def test_the_bound_is_the_shared_one(self) -> None:
        """The budget's bound is softtoken._checks.MAX_ATTEMPTS, and enroll allows it."""
        _, pending = pending_for(attempts=_checks.MAX_ATTEMPTS)

        assert (10, 10) == (MAX_ATTEMPTS, pending.attempts)


class TestSecrecy:
    """The key never shows in a repr; it takes part in equality."""

    def test_reprs_hold_no_key(self) -> None:
        """Neither the pending value nor the URI value shows the key, in hex, bytes or base32."""
        uri, pending = pending_for()
        key = uri.secret
        spellings = [key.hex(), repr(key), uri.to_uri().split("secret=")[1].split("&")[0]]

        outcome, _, token = confirm(pending, app_code(uri, T0), now=T0)
        expired = confirm(pending, app_code(uri, T0 + 600), now=T0 + 600)

        assert (Outcome.CONFIRMED, ConfirmedToken) == (outcome, type(token))
        for text in (repr(pending), repr(uri), repr(token), repr(expired)):
            assert [] == [s for s in spellings if s in text]

    def test_keys_take_part_in_equality(self) -> None:
        """Two pending values that differ only in the key are unequal, and hash alike."""
        _, pending = pending_for()
        other = attrs.evolve(pending, key=bytes(20))

        assert pending != other
        assert hash(pending) == hash(other)
