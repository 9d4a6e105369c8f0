"""Tests for offline activation (softtoken.provisioning.offline), seed flow 1.

Every activation that completes yields the same secret on both sides; a wrong registration code
is caught at the first code and costs one attempt; the budget bounds the guesses; refusals are
outcomes that change nothing (but the first refusal for the expiry, which erases the secrets);
every change is one version step; whole runs follow a tiny reference model; the stored record is
strict and holds no secret once finished. The derivation and the record are pinned by
tests/vectors/offline-activation.txt. Most tests use a cheap scrypt cost (FAST); the vector row
"offline-kdf" makes the suite's only two real-cost derivations.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken import _checks, _random
from softtoken._kdf import ScryptParams
from softtoken.exceptions import (
    InvalidCode,
    InvalidInput,
    InvalidRecord,
    MalformedCode,
    MistypedCode,
    SoftTokenError,
)
from softtoken.hotp import HOTP, TOTP
from softtoken.provisioning import (
    DEFAULT_PARAMS,
    ActivationCode,
    RegistrationCode,
    Serial,
    TokenParams,
)
from softtoken.provisioning._pending import Step
from softtoken.provisioning.offline import (
    MAX_ATTEMPTS,
    OFFLINE_KDF,
    ConfirmedToken,
    Outcome,
    PendingOffline,
    Stage,
    complete,
    confirm,
    respond,
    start,
)
from softtoken.throttle import ThrottleState

from . import strategies
from .utils import load_vectors

FAST = ScryptParams(log2_n=4, r=8, p=1)
SERIAL = Serial.parse("93171-12184")
T0 = 1_700_000_000
ACTIVATION = "123456789012345"
REGISTRATION = "987654321"
WRONG_REGISTRATION = "987654322"


@contextmanager
def drawn(*payloads: str) -> Iterator[None]:
    """Make the randomness helper yield these digit strings, one per draw, in order.

    softtoken._random.random_digits keeps every byte below 250 as its value mod 10, so the bytes
    0-9 give exactly these digits. Each draw must ask for exactly its string's length, and every
    string must be drawn.
    """
    queue = list(payloads)

    def source(n: int) -> bytes:
        digits = queue.pop(0)
        assert len(digits) == n
        return bytes(int(c) for c in digits)

    with mock.patch.object(_random, "_source", source):
        yield
    assert [] == queue


def registration(payload: str) -> RegistrationCode:
    """The registration code with these 9 digits before its check digit."""
    with drawn(payload):
        return RegistrationCode.generate()


class World:
    """One activation: the issuer's pending value and the app's registration code and secret."""

    def __init__(
        self,
        params: TokenParams = DEFAULT_PARAMS,
        *,
        attempts: int = 5,
        ttl: int = 3600,
        activation: str = ACTIVATION,
        reg: str = REGISTRATION,
    ) -> None:
        with drawn(activation):
            self.code, self.pending = start(
                SERIAL, now=T0, params=params, ttl=ttl, attempts=attempts, kdf=FAST
            )
        with drawn(reg):
            self.registration, self.secret = respond(SERIAL, self.code, params=params, kdf=FAST)
        # What the app would derive from the wrong registration code: the issuer's candidate
        # after a complete with it.
        with drawn(WRONG_REGISTRATION):
            self.wrong, self.wrong_secret = respond(SERIAL, self.code, params=params, kdf=FAST)
        self.params = params

    def first_code(self, at: int, secret: bytes | None = None) -> str:
        """The first code the app shows at *at* (HOTP: its counter 0)."""
        token = self.params.token(self.secret if secret is None else secret)
        return token.generate(0) if isinstance(token, HOTP) else token.generate(at)

    def window(self, secret: bytes, at: int) -> set[str]:
        """Every code the first-code window of *secret* accepts at *at*, from the token alone."""
        token = self.params.token(secret)
        if isinstance(token, TOTP):
            return {token.generate_step(token.step(at) + d) for d in (-1, 0, 1)}
        return {token.generate(c) for c in range(3)}

    def wrong_code(self, at: int) -> str:
        """A code of the right shape that is none of the codes the first-code window accepts."""
        window = self.window(self.secret, at)
        return next(
            c
            for c in (f"{n:0{self.params.digits}d}" for n in range(10))
            if c not in window  # at most 3 of the 10 candidates are in the window
        )

    def typed(self, kind: str, value: Any, at: int) -> RegistrationCode | str:
        """What a step of the shared strategy types at *at*: a registration code for complete,
        a first code for confirm."""
        if kind == "complete":
            return self.registration if value else self.wrong
        return self.first_code(at) if value else self.wrong_code(at)


def run(world: World, steps: list[tuple[str, Any]]) -> list[tuple[Outcome | None, PendingOffline]]:
    """Apply *steps* from *world*'s start; return each step's outcome and the state after it."""
    pending, at, trail = world.pending, T0, []
    for kind, value in steps:
        outcome: Outcome | None = None
        if kind == "wait":
            at += value
        elif isinstance(typed := world.typed(kind, value, at), RegistrationCode):
            outcome, pending, _ = complete(pending, typed, now=at)
        else:
            outcome, pending, _ = confirm(pending, typed, now=at)
        trail.append((outcome, pending))
    return trail


# The refusal every step meets once an activation has ended, by how it ended.
REFUSALS = {
    Stage.DONE: Outcome.ALREADY_DONE,
    Stage.SPENT: Outcome.SPENT,
    Stage.EXPIRED: Outcome.EXPIRED,
}


class Model:
    """A tiny reference for whole runs, from the module docstring alone: each step's outcome,
    and the stage, failures, version and candidate it leaves. An activation ends once (done,
    spent or expired), and the end decides the refusal every later step meets."""

    def __init__(self, world: World, attempts: int) -> None:
        self.world, self.attempts = world, attempts
        self.failures = self.version = 0
        self.candidate: bytes | None = None
        self.end: Stage | None = None

    def step(self, kind: str, value: Any, at: int) -> Outcome:
        """The outcome of a complete or confirm step of the shared strategy at *at*."""
        refused = self._refusal(at)
        if refused is not None:
            return refused
        if kind == "complete":
            return self._complete(self.world.secret if value else self.world.wrong_secret)
        if self.candidate is None:
            return Outcome.NO_CANDIDATE
        self.version += 1
        if self.world.typed(kind, value, at) in self.world.window(self.candidate, at):
            self.end, self.candidate, self.failures = Stage.DONE, None, 0
            return Outcome.CONFIRMED
        return self._fail()

    def _refusal(self, at: int) -> Outcome | None:
        if self.end is None and at >= self.world.pending.expires_at:
            # The first refusal for the expiry is a change: it erases the secrets.
            self.end, self.candidate, self.version = Stage.EXPIRED, None, self.version + 1
            return Outcome.EXPIRED
        return None if self.end is None else REFUSALS[self.end]

    def _complete(self, candidate: bytes) -> Outcome:
        self.version += 1
        # An unconfirmed candidate counts as a failure first, in the same change.
        if self.candidate is not None and self._fail() is Outcome.SPENT_NOW:
            return Outcome.SPENT_NOW
        self.candidate = candidate
        return Outcome.AWAITING_FIRST_CODE

    def _fail(self) -> Outcome:
        """Count one failure, which drops the candidate: SPENT_NOW at the limit."""
        self.failures, self.candidate = self.failures + 1, None
        if self.failures < self.attempts:
            return Outcome.WRONG_CODE
        self.end = Stage.SPENT
        return Outcome.SPENT_NOW

    def view(self) -> tuple[Stage, int, int, bytes | None, bool]:
        """Stage, failures, version, candidate and whether the activation key is kept."""
        stage = self.end or (Stage.REGISTRATION if self.candidate is None else Stage.FIRST_CODE)
        return stage, self.failures, self.version, self.candidate, self.end is None


def view(state: PendingOffline) -> tuple[Stage, int, int, bytes | None, bool]:
    """What the model keeps of a state."""
    kept = state.activation_key is not None
    return state.stage, state.budget.failures, state.version, state.candidate, kept


# ----------------------------------------------------------------------------------------------
# The vectors: tests/vectors/offline-activation.txt
# ----------------------------------------------------------------------------------------------

DERIVE = {row[1]: row[2:] for row in load_vectors("offline-activation.txt") if row[0] == "DERIVE"}
PENDING = {row[1]: row[2:] for row in load_vectors("offline-activation.txt") if row[0] == "PENDING"}


def row_params(kind: str, algorithm: str, digits: str, period: str) -> TokenParams:
    """The TokenParams of a vector row."""
    return TokenParams(kind=kind, algorithm=algorithm, digits=int(digits), period=int(period))  # type: ignore[arg-type]


def row_pending(row: list[str]) -> PendingOffline:
    """The pending value a PENDING row describes."""
    serial, kind, algorithm, digits, period = row[:5]
    numbers = list(map(int, row[5:16]))
    log2_n, r, p, expires_at, attempts, failures, done, spent, opened, expired, version = numbers
    key, candidate = (None if text == "-" else bytes.fromhex(text) for text in row[16:18])
    return PendingOffline(
        serial=Serial(serial),
        params=row_params(kind, algorithm, digits, period),
        kdf=ScryptParams(log2_n=log2_n, r=r, p=p),
        expires_at=expires_at,
        attempts=attempts,
        budget=ThrottleState(
            failures=failures,
            blocked=bool(spent),
            episode=spent,
            attempt_open=bool(opened),
            version=version,
        ),
        done=bool(done),
        expired=bool(expired),
        activation_key=key,
        candidate=candidate,
    )


class TestVectors:
    """Both sides derive the file's secrets, and the record encodes to the file's bytes."""

    @pytest.mark.parametrize("name", list(DERIVE))
    def test_both_sides_derive_the_files_secret(self, name: str) -> None:
        """start keeps the file's activation key; respond and complete give the file's secret."""
        serial, activation, reg, kind, algorithm, digits, period = DERIVE[name][:7]
        log2_n, r, p = map(int, DERIVE[name][7:10])
        key_hex, secret_hex = DERIVE[name][10:]
        params = row_params(kind, algorithm, digits, period)
        kdf = ScryptParams(log2_n=log2_n, r=r, p=p)
        # The real-cost row goes through the defaults, so that it pins them too.
        options: dict[str, Any] = {} if kdf == OFFLINE_KDF else {"params": params, "kdf": kdf}
        assert {} != options or DEFAULT_PARAMS == params

        with drawn(activation[:-1]):
            code, pending = start(Serial(serial), now=T0, **options)
        with drawn(reg[:-1]):
            typed, app_secret = respond(Serial(serial), code, **options)
        outcome, _, issuer_secret = complete(pending, typed, now=T0)

        assert (activation, key_hex) == (str(code), (pending.activation_key or b"").hex())
        assert (reg, secret_hex) == (str(typed), app_secret.hex())
        assert (Outcome.AWAITING_FIRST_CODE, secret_hex) == (outcome, (issuer_secret or b"").hex())

    @pytest.mark.parametrize("name", list(PENDING))
    def test_record_matches_the_file(self, name: str) -> None:
        """The value encodes to the file's bytes, and the file's bytes decode to the value."""
        value, data = row_pending(PENDING[name]), bytes.fromhex(PENDING[name][18])

        assert (data, value) == (value.to_bytes(), PendingOffline.from_bytes(data))

    def test_record_rows_are_states_the_activation_reaches(self) -> None:
        """fresh, first-code, one-wrong and done have the stage, count and version of a run:
        a wrong pair, then the right one; expired, of a wrong pair and a late step."""
        world = World()
        trail = run(world, [("complete", False), ("confirm", True), ("complete", True)])
        done = confirm(trail[-1][1], world.first_code(T0), now=T0)[1]
        expired = complete(trail[1][1], world.registration, now=T0 + 3600)[1]
        reached = [world.pending, trail[0][1], trail[1][1], done, expired]

        def shape(value: PendingOffline) -> tuple[Stage, int, int]:
            return value.stage, value.budget.failures, value.version

        assert [
            shape(row_pending(PENDING[name]))
            for name in ("fresh", "first-code", "one-wrong", "done", "expired")
        ] == [shape(value) for value in reached]


# ----------------------------------------------------------------------------------------------
# The flow end to end
# ----------------------------------------------------------------------------------------------


class TestEndToEnd:
    """Every activation that completes yields the same secret on both sides, and confirms."""

    @given(
        fields=strategies.token_params_fields,
        number=strategies.serial_numbers,
        activation=strategies.activation_payloads,
        reg=strategies.registration_payloads,
    )
    @example(
        fields={"kind": "totp", "algorithm": "sha1", "digits": 6, "period": 30},
        number=0,
        activation="0" * 15,
        reg="0" * 9,
    )
    def test_both_sides_derive_the_same_secret(
        self, fields: dict[str, Any], number: int, activation: str, reg: str
    ) -> None:
        """For any parameters and draws, complete derives exactly the app's secret, of the
        algorithm's length."""
        params, serial = TokenParams(**fields), Serial.from_number(number)
        with drawn(activation):
            code, pending = start(serial, now=T0, params=params, kdf=FAST)
        with drawn(reg):
            typed, app_secret = respond(serial, code, params=params, kdf=FAST)

        outcome, _, issuer_secret = complete(pending, typed, now=T0)

        assert (Outcome.AWAITING_FIRST_CODE, params.secret_length) == (outcome, len(app_secret))
        assert app_secret == issuer_secret

    @given(fields=strategies.token_params_fields, later=st.integers(0, 3599))
    def test_the_apps_first_code_confirms(self, fields: dict[str, Any], later: int) -> None:
        """A completed activation confirms with the code the app shows, at any time before the
        expiry, and is then done with no secret left in it."""
        world = World(TokenParams(**fields))
        _, pending, _ = complete(world.pending, world.registration, now=T0)

        outcome, done, token = confirm(pending, world.first_code(T0 + later), now=T0 + later)

        assert (Outcome.CONFIRMED, Stage.DONE) == (outcome, done.stage)
        assert token is not None
        assert (None, None) == (done.activation_key, done.candidate)

    def test_the_confirmed_token_holds_what_activation_needs(self) -> None:
        """CONFIRMED returns the app's secret (which the stored value no longer has), the
        parameters and the match; recorded as the last step, the match refuses the first code
        again."""
        world = World()
        _, pending, _ = complete(world.pending, world.registration, now=T0)
        code = world.first_code(T0)

        _, _, token = confirm(pending, code, now=T0)

        assert token is not None
        assert (world.secret, DEFAULT_PARAMS) == (token.secret, token.params)
        with pytest.raises(InvalidCode):
            TOTP(token.secret).verify(code, at=T0, last_step=token.match.counter)

    def test_a_different_serial_or_params_gives_another_secret(self) -> None:
        """The serial and the token parameters are bound into the secret."""
        world = World()
        other_serial = respond(Serial.from_number(1), world.code, kdf=FAST)[1]
        with drawn(REGISTRATION):
            other_params = respond(SERIAL, world.code, params=TokenParams(digits=8), kdf=FAST)[1]

        assert world.secret not in (other_serial, other_params)

    def test_the_match_is_the_step_to_record(self) -> None:
        """The match names the TOTP step of the first code, so that it is never reused."""
        world = World()
        _, pending, _ = complete(world.pending, world.registration, now=T0)

        _, _, token = confirm(pending, world.first_code(T0 - 30), now=T0)

        assert token is not None
        assert ((T0 - 30) // 30, -1) == (token.match.counter, token.match.offset)

    def test_hotp_confirms_within_its_look_ahead_only(self) -> None:
        """An HOTP first code from counter 2 confirms; one from counter 3 counts as wrong."""
        world = World(TokenParams(kind="hotp"))
        _, pending, _ = complete(world.pending, world.registration, now=T0)
        token = HOTP(world.secret)

        late = confirm(pending, token.generate(3), now=T0)
        allowed = confirm(pending, token.generate(2), now=T0)

        assert (Outcome.WRONG_CODE, Outcome.CONFIRMED) == (late[0], allowed[0])
        assert allowed[2] is not None
        assert 2 == allowed[2].match.counter


# ----------------------------------------------------------------------------------------------
# A wrong registration code
# ----------------------------------------------------------------------------------------------


class TestWrongRegistrationCode:
    """A typo costs nothing; a well-formed wrong code is caught at the first code, for one
    attempt."""

    @given(
        reg=strategies.registration_payloads,
        position=st.integers(0, 9),
        shift=st.integers(1, 9),
    )
    def test_a_one_digit_typo_never_reaches_complete(
        self, reg: str, position: int, shift: int
    ) -> None:
        """Any one changed digit of a registration code fails RegistrationCode.parse with
        MistypedCode, which the caller meets before complete: no attempt is spent."""
        digits = str(registration(reg))
        typo = (
            digits[:position] + str((int(digits[position]) + shift) % 10) + digits[position + 1 :]
        )

        with pytest.raises(MistypedCode):
            RegistrationCode.parse(typo)

    def test_a_wrong_code_costs_exactly_one_attempt(self) -> None:
        """A well-formed wrong registration code derives another secret; its first code fails;
        the state is the start's with one failure and two versions more, and nothing else."""
        world = World()
        outcome, pending, candidate = complete(
            world.pending, registration(WRONG_REGISTRATION), now=T0
        )
        refused, after, token = confirm(pending, world.first_code(T0), now=T0)

        assert Outcome.AWAITING_FIRST_CODE == outcome
        assert candidate not in (None, world.secret)
        assert (Outcome.WRONG_CODE, None) == (refused, token)
        assert attrs.evolve(world.pending, budget=ThrottleState(failures=1, version=2)) == after

    def test_the_right_code_still_confirms_after_a_wrong_one(self) -> None:
        """After a wrong pair, the right registration code and first code confirm."""
        world = World()
        trail = run(world, [("complete", False), ("confirm", True), ("complete", True)])

        outcome, done, _ = confirm(trail[-1][1], world.first_code(T0), now=T0)

        assert (Outcome.CONFIRMED, 4) == (outcome, done.version)

    def test_a_mistyped_first_code_drops_the_candidate(self) -> None:
        """A wrong first code costs one attempt and the registration code must be entered again:
        the right first code then has no candidate to confirm."""
        world = World()
        trail = run(world, [("complete", True), ("confirm", False), ("confirm", True)])

        assert [Outcome.AWAITING_FIRST_CODE, Outcome.WRONG_CODE, Outcome.NO_CANDIDATE] == [
            outcome for outcome, _ in trail
        ]
        assert (Stage.REGISTRATION, 1) == (trail[-1][1].stage, trail[-1][1].budget.failures)

    def test_a_second_complete_counts_the_unconfirmed_candidate(self) -> None:
        """complete twice without confirm: the first candidate costs one attempt and the second
        replaces it."""
        world = World()
        trail = run(world, [("complete", False), ("complete", True)])
        pending = trail[-1][1]

        assert (Stage.FIRST_CODE, 1, 2) == (pending.stage, pending.budget.failures, pending.version)
        assert world.secret == pending.candidate


# ----------------------------------------------------------------------------------------------
# Refusals, the budget and the versions
# ----------------------------------------------------------------------------------------------


class TestRefusals:
    """Expired, finished and spent activations are refused as outcomes; only the first refusal
    for the expiry changes anything."""

    def test_expired_at_expires_at(self) -> None:
        """complete is refused from expires_at on, and allowed the second before."""
        world = World(ttl=600)

        refused = complete(world.pending, world.registration, now=T0 + 600)
        allowed = complete(world.pending, world.registration, now=T0 + 599)

        assert (Outcome.EXPIRED, None) == (refused[0], refused[2])
        assert Outcome.AWAITING_FIRST_CODE == allowed[0]

    def test_the_first_expired_refusal_erases_the_activation_key(self) -> None:
        """The first EXPIRED is one change: the activation key erased, the value marked
        expired, one version later, and nothing else."""
        world = World(ttl=600)

        _, expired, _ = complete(world.pending, world.registration, now=T0 + 600)

        assert (
            attrs.evolve(
                world.pending, activation_key=None, expired=True, budget=ThrottleState(version=1)
            )
            == expired
        )
        assert Stage.EXPIRED == expired.stage

    def test_a_candidate_expires_too(self) -> None:
        """A first code after the expiry is refused, even for the right candidate; the refusal
        erases the candidate and the activation key and closes the attempt, uncounted."""
        world = World(ttl=600)
        _, pending, _ = complete(world.pending, world.registration, now=T0)

        refused = confirm(pending, world.first_code(T0 + 600), now=T0 + 600)

        erased = attrs.evolve(
            pending,
            activation_key=None,
            candidate=None,
            expired=True,
            budget=ThrottleState(version=2),
        )
        assert (Outcome.EXPIRED, erased, None) == refused

    def test_later_expired_refusals_change_nothing(self) -> None:
        """Once erased, an activation stays expired, unchanged, for both steps, even when the
        clock goes back before expires_at."""
        world = World(ttl=600)
        _, expired, _ = complete(world.pending, world.registration, now=T0 + 600)

        later = [
            complete(expired, world.registration, now=T0 + 900),
            complete(expired, world.registration, now=T0),
            confirm(expired, world.first_code(T0), now=T0),
        ]

        assert [(Outcome.EXPIRED, expired, None)] * 3 == later
        assert all(after is expired for _, after, _ in later)

    def test_replay_after_done(self) -> None:
        """After CONFIRMED, the registration code and the first code are both refused."""
        world = World()
        _, pending, _ = complete(world.pending, world.registration, now=T0)
        _, done, _ = confirm(pending, world.first_code(T0), now=T0)

        assert (Outcome.ALREADY_DONE, done, None) == complete(done, world.registration, now=T0)
        assert (Outcome.ALREADY_DONE, done, None) == confirm(done, world.first_code(T0), now=T0)

    def test_spent_budget(self) -> None:
        """With 3 attempts the third wrong pair spends the budget and erases the secrets; every
        later step is refused as SPENT."""
        world = World(attempts=3)
        trail = run(world, [("complete", False), ("confirm", True)] * 3)
        spent = trail[-1][1]

        assert [Outcome.WRONG_CODE, Outcome.WRONG_CODE, Outcome.SPENT_NOW] == [
            outcome for outcome, _ in trail[1::2]
        ]
        assert (Stage.SPENT, None) == (spent.stage, spent.activation_key)
        assert (Outcome.SPENT, spent, None) == complete(spent, world.registration, now=T0)
        assert (Outcome.SPENT, spent, None) == confirm(spent, world.first_code(T0), now=T0)

    def test_an_unconfirmed_candidate_can_spend_the_budget(self) -> None:
        """With 1 attempt, a second complete counts the first candidate and spends the budget,
        without deriving again."""
        world = World(attempts=1)
        trail = run(world, [("complete", False), ("complete", True)])

        assert (Outcome.SPENT_NOW, Stage.SPENT) == (trail[-1][0], trail[-1][1].stage)

    def test_confirm_before_complete(self) -> None:
        """confirm with no candidate is NO_CANDIDATE, and nothing is counted."""
        world = World()

        assert (Outcome.NO_CANDIDATE, world.pending, None) == confirm(
            world.pending, world.first_code(T0), now=T0
        )

    @pytest.mark.parametrize("typed", ["12345", "1234567", "12345a", "１２３４５６"])
    def test_a_malformed_first_code_raises_before_anything(self, typed: str) -> None:
        """A first code of the wrong shape raises MalformedCode; nothing is counted."""
        world = World()
        _, pending, _ = complete(world.pending, world.registration, now=T0)

        with pytest.raises(MalformedCode):
            confirm(pending, typed, now=T0)

    def test_wrong_types(self) -> None:
        """Text where a parsed identifier is expected is a TypeError, before any derivation."""
        world = World()
        with pytest.raises(TypeError):
            complete(world.pending, str(world.registration), now=T0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            respond(str(SERIAL), world.code, kdf=FAST)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            respond(SERIAL, str(world.code), kdf=FAST)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            start(SERIAL, now=float(T0))  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "options", [{"ttl": 0}, {"ttl": 30 * 86_400 + 1}, {"attempts": 0}, {"attempts": 11}]
    )
    def test_start_refuses_bad_limits_before_drawing(self, options: dict[str, Any]) -> None:
        """A ttl or budget out of range raises InvalidInput, and no code is drawn."""
        with drawn(), pytest.raises(InvalidInput):
            start(SERIAL, now=T0, **options)

    def test_defaults(self) -> None:
        """start defaults to 72 hours, 5 attempts, OFFLINE_KDF and the default parameters."""
        _, pending = start(SERIAL, now=T0)

        assert (T0 + 72 * 3600, 5, OFFLINE_KDF, DEFAULT_PARAMS) == (
            pending.expires_at,
            pending.attempts,
            pending.kdf,
            pending.params,
        )


class TestRuns:
    """Properties over whole runs of steps, from start to any end."""

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_runs_follow_the_reference_model(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """Each step's outcome, and the stage, failures, version, candidate and activation key
        it leaves, are the model's."""
        world = World(attempts=attempts)
        model, at = Model(world, attempts), T0
        for (kind, value), (outcome, state) in zip(steps, run(world, steps), strict=True):
            if kind == "wait":
                at += value
                continue
            assert (model.step(kind, value, at), model.view()) == (outcome, view(state))

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_every_change_is_one_version_step(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """Each step returns the state unchanged (and equal), or one version later."""
        world = World(attempts=attempts)
        before = world.pending
        for _, after in run(world, steps):
            assert after is before or after.version == before.version + 1
            before = after

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_the_budget_bounds_the_guesses(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """At most `attempts` registration codes are derived and at most `attempts` first codes
        are compared in any run."""
        outcomes = [outcome for outcome, _ in run(World(attempts=attempts), steps)]
        compared = {Outcome.CONFIRMED, Outcome.WRONG_CODE}
        derived = outcomes.count(Outcome.AWAITING_FIRST_CODE)

        assert derived <= attempts
        assert sum(o in compared for o in outcomes) + outcomes.count(Outcome.SPENT_NOW) <= attempts

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_a_finished_activation_holds_no_secret(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """Once done, spent or expired, neither the activation key nor a candidate is kept."""
        for _, state in run(World(attempts=attempts), steps):
            if state.stage in (Stage.DONE, Stage.SPENT, Stage.EXPIRED):
                assert (None, None) == (state.activation_key, state.candidate)

    @given(attempts=st.integers(1, 4), steps=strategies.activation_steps)
    def test_every_reached_state_round_trips(
        self, attempts: int, steps: list[tuple[str, Any]]
    ) -> None:
        """Every state a run reaches decodes from its bytes to itself."""
        for _, state in run(World(attempts=attempts), steps):
            assert state == PendingOffline.from_bytes(state.to_bytes())


# ----------------------------------------------------------------------------------------------
# The stored record
# ----------------------------------------------------------------------------------------------

FIRST_CODE_RECORD = bytes.fromhex(PENDING["first-code"][18])
EXPIRED_RECORD = bytes.fromhex(PENDING["expired"][18])
_HEADER = struct.Struct(">2sBB10s8s4BQBBQ")
_KEY = bytes(32)
# Every message PendingOffline.from_bytes raises: constants, which never hold the data.
RECORD_ERRORS = {
    "pending activation data is truncated",
    "data is not a pending offline activation of a known format",
    "pending activation fields are out of range",
    "pending activation data has the wrong length",
    "pending activation fields are out of range or inconsistent",
}


def record(**changes: Any) -> bytes:
    """A fresh record (SHA1 TOTP, 5 attempts) with header fields replaced; the activation key
    follows unless `key` says otherwise."""
    fields: dict[str, Any] = {
        "tag": b"OA",
        "format": 1,
        "flags": 0,
        "serial": str(SERIAL).encode(),
        "params": DEFAULT_PARAMS.to_bytes(),
        "kdf": (1, 4, 8, 1),
        "expires_at": T0,
        "attempts": 5,
        "failures": 0,
        "version": 0,
        "key": _KEY,
    }
    fields.update(changes)
    header = _HEADER.pack(
        fields["tag"],
        fields["format"],
        fields["flags"],
        fields["serial"],
        fields["params"],
        *fields["kdf"],
        fields["expires_at"],
        fields["attempts"],
        fields["failures"],
        fields["version"],
    )
    key: bytes = fields["key"]
    return header + key


class TestRecord:
    """PendingOffline.from_bytes reads only what to_bytes writes."""

    def test_the_base_record_decodes(self) -> None:
        """The record the refusals below start from is itself valid."""
        assert Stage.REGISTRATION == PendingOffline.from_bytes(record()).stage

    @pytest.mark.parametrize(
        "changes",
        [
            {"tag": b"PL"},
            {"format": 2},
            {"flags": 0x10},
            {"flags": 0x03, "key": b""},
            {"flags": 0x05},
            {"flags": 0x09, "key": b""},
            {"flags": 0x0A, "failures": 5, "key": b""},
            {"flags": 0x0C, "key": bytes(20)},
            {"flags": 0x08},
            {"serial": b"931711218X"},
            {"serial": b"9317112185"},
            {"params": bytes(8)},
            {"kdf": (2, 4, 8, 1)},
            {"kdf": (1, 20, 32, 1)},
            {"kdf": (1, 0, 8, 1)},
            {"attempts": 0},
            {"attempts": 11},
            {"failures": 5},
            {"failures": 6, "flags": 0x02, "key": b""},
            {"flags": 0x01, "failures": 1, "key": b""},
            {"flags": 0x01},
            {"key": bytes(31)},
        ],
        ids=[
            "tag",
            "format",
            "unknown-flag",
            "done-and-spent",
            "done-and-first-code",
            "done-and-expired",
            "spent-and-expired",
            "expired-with-a-candidate",
            "expired-with-key",
            "serial-letter",
            "serial-check-digit",
            "params",
            "kdf-version",
            "kdf-memory",
            "kdf-n",
            "no-attempts",
            "too-many-attempts",
            "failures-at-limit-unblocked",
            "failures-past-limit",
            "done-with-failures",
            "done-with-key",
            "short-key",
        ],
    )
    def test_bad_fields_are_record_errors(self, changes: dict[str, Any]) -> None:
        """A wrong tag, format or flag, a field out of range, or fields no activation reaches
        raise InvalidRecord."""
        with pytest.raises(InvalidRecord):
            PendingOffline.from_bytes(record(**changes))

    def test_every_truncation_and_extension_is_refused(self) -> None:
        """Every proper prefix and one extra byte raise InvalidRecord."""
        data = FIRST_CODE_RECORD
        for bad in [data[:n] for n in range(len(data))] + [data + b"\0"]:
            with pytest.raises(InvalidRecord):
                PendingOffline.from_bytes(bad)

    @given(data=strategies.mutated_bytes(st.sampled_from([FIRST_CODE_RECORD, EXPIRED_RECORD])))
    @example(data=record(flags=0x04))
    def test_near_misses_decode_to_themselves_or_raise_the_record_error(self, data: bytes) -> None:
        """Edited records either decode and re-encode to themselves, or raise InvalidRecord with
        one of the decoder's constant messages and no chained error."""
        refused: InvalidRecord | None = None
        try:
            value = PendingOffline.from_bytes(data)
        except InvalidRecord as error:
            refused = error
        if refused is not None:
            assert (True, None) == (str(refused) in RECORD_ERRORS, refused.__context__)
        else:
            assert data == value.to_bytes()

    @given(data=st.binary(max_size=200))
    def test_any_bytes_decode_to_themselves_or_raise_the_record_error(self, data: bytes) -> None:
        """Arbitrary bytes raise only InvalidRecord, unless they are a record."""
        try:
            value = PendingOffline.from_bytes(data)
        except InvalidRecord:
            return
        assert data == value.to_bytes()

    def test_text_is_a_type_error(self) -> None:
        """A str record is a TypeError."""
        with pytest.raises(TypeError):
            PendingOffline.from_bytes("OA")  # type: ignore[arg-type]

    def test_record_errors_are_softtoken_errors(self) -> None:
        """InvalidRecord is a SoftTokenError and a ValueError."""
        assert issubclass(InvalidRecord, SoftTokenError)
        assert issubclass(InvalidRecord, ValueError)


class TestShared:
    """What offline activation shares with enrollment keeps its public names."""

    def test_every_shared_step_is_an_outcome(self) -> None:
        """Each step of the shared rules has the offline outcome of the same value."""
        assert {step.value for step in Step} <= {outcome.value for outcome in Outcome}

    def test_the_bound_is_the_shared_one(self) -> None:
        """The budget's bound is softtoken._checks.MAX_ATTEMPTS, and start allows it."""
        world = World(attempts=_checks.MAX_ATTEMPTS)

        assert (10, 10) == (MAX_ATTEMPTS, world.pending.attempts)


# ----------------------------------------------------------------------------------------------
# Secrets
# ----------------------------------------------------------------------------------------------


class TestSecrecy:
    """The activation key, the candidate and the codes never show in a repr."""

    def test_reprs_hold_no_secret(self) -> None:
        """At every stage, the repr has no key, candidate, secret or code, in any spelling."""
        world = World()
        trail = run(world, [("complete", True), ("confirm", False), ("complete", True)])
        outcome, _, token = confirm(trail[-1][1], world.first_code(T0), now=T0)
        key = world.pending.activation_key or b""
        secrets = [key, world.secret]
        spellings = [s.hex() for s in secrets] + [repr(s) for s in secrets]
        spellings += [str(world.code), str(world.registration), world.code.display]

        assert (Outcome.CONFIRMED, ConfirmedToken) == (outcome, type(token))
        for text in (
            [repr(world.pending), repr(world.code), repr(world.registration)]
            + [repr(state) for _, state in trail]
            + [repr(token)]
        ):
            assert [] == [spelling for spelling in spellings if spelling in text]

    def test_secrets_take_part_in_equality(self) -> None:
        """Two pending values that differ only in the activation key are unequal, and hash
        alike."""
        world = World()
        other = attrs.evolve(world.pending, activation_key=bytes(32))

        assert world.pending != other
        assert hash(world.pending) == hash(other)

    def test_the_issuer_keeps_no_code(self) -> None:
        """The stored record holds neither the activation code nor its digits as text."""
        world = World()
        data = world.pending.to_bytes()

        assert str(world.code).encode() not in data
        assert ACTIVATION.encode() not in data

    def test_each_activation_keeps_its_own_key(self) -> None:
        """Two activations of one serial draw different codes and keep different keys."""
        first, second = World(), World(activation="543210987654321")

        assert first.code != second.code
        assert first.pending.activation_key != second.pending.activation_key

    def test_activation_codes_parse_back(self) -> None:
        """The code to show parses back from its display form (what the user types)."""
        world = World()

        assert world.code == ActivationCode.parse(world.code.display)
