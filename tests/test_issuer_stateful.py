"""A Hypothesis stateful test of the issuer's lifecycle against a small reference model (S15).

Two :class:`Issuer` instances share one :class:`MemoryStore`, as two app servers share one
database, and every rule picks the instance it runs on. The rules create, assign, activate
(the offline flow, with the app's half from ``offline.respond``), verify right, wrong and
replayed codes (by serial or by user), confirm releases, block, unblock, release, delete, reset
drift and import seeds, in any order and in any state, on a clock that only moves forward. The
model predicts, for each call, whether it applies (or raises which error), whether a code is
accepted and at which step, and what each token looks like afterwards.

After every step, every token's state, user, pool, block and release reasons, failure count,
floor, drift, generation and audit-trail length equal the model's, and every audit chain
verifies. Independently of the model, from what the issuer itself reported: no code was
accepted from a token that was blocked, released, deleted or merely assigned, no login from a
token whose release waits, no step of one seed was accepted twice, and no user ever had two
active tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import attrs
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from softtoken import TOTP
from softtoken.exceptions import InvalidCode, InvalidInput, TokenStateError, WrongState
from softtoken.issuer import (
    BlockReason,
    Issuer,
    IssuerPolicy,
    ReleaseReason,
    TokenInfo,
    TokenState,
)
from softtoken.issuer.stores import MemoryStore
from softtoken.provisioning import ActivationCode, Serial, TokenParams, offline
from tests.issuer_support import FAST_KDF, NOW, keyring

S = TokenState
PARAMS = TokenParams()
PERIOD = 30
MAX_FAILURES = 5
MAX_DRIFT = 4
USERS = ("ana", "laura", "marc")
POOLS = (None, "acme", "globex")
INSTANCES = st.integers(0, 1)
# The code a rule submits; the right one twice as often as each of the others.
KINDS = st.sampled_from(["right", "wrong", "right", "replay"])

# The reference model's own table of which administrator operation applies in which state
# (issue 8, section 2), written out rather than read from the library.
APPLIES: dict[str, frozenset[TokenState]] = {
    "assign": frozenset({S.AVAILABLE, S.POOL}),
    "import_token": frozenset({S.AVAILABLE, S.POOL}),
    "start_offline_activation": frozenset({S.ASSIGNED, S.PENDING_CONFIRMATION}),
    "reset_drift": frozenset({S.ACTIVE, S.BLOCKED}),
    "block": frozenset({S.ACTIVE, S.RELEASE_PENDING}),
    "unblock": frozenset({S.BLOCKED}),
    "release": frozenset({S.ASSIGNED, S.PENDING_CONFIRMATION, S.ACTIVE, S.BLOCKED}),
    "delete": frozenset(set(TokenState) - {S.DELETED}),
}
# Where an accepted code may come from: a login from an active token or the first code of one
# pending confirmation; a release confirmation from a token whose release waits.
MAY_ACCEPT = {
    "verify": frozenset({S.ACTIVE, S.PENDING_CONFIRMATION}),
    "confirm_release": frozenset({S.RELEASE_PENDING}),
}


BY_USER = (S.ACTIVE, S.PENDING_CONFIRMATION, S.BLOCKED, S.RELEASE_PENDING, S.ASSIGNED)


@attrs.define
class Model:
    """What the reference model expects of one token.

    ``app`` is the app's token for the current seed, or for the candidate seed while the
    token waits for its first code; ``last_code`` is the last code accepted from it.
    """

    state: TokenState
    pool: str | None
    user: str | None = None
    failures: int = 0
    last_step: int = -1
    drift: int = 0
    generation: int = 0
    block_reason: BlockReason | None = None
    release_reason: ReleaseReason | None = None
    events: int = 1
    app: TOTP | None = None
    last_code: str | None = None

    def view(self) -> tuple[object, ...]:
        """What the issuer must show of the token, and the length of its audit trail."""
        return (
            self.state,
            self.user,
            self.pool,
            self.block_reason,
            self.release_reason,
            self.failures,
            self.last_step,
            self.drift,
            self.generation,
            self.events,
        )

    def back_to_pool(self) -> None:
        """A release: the seed, the user and the count are gone; the pool stays."""
        self.state = S.POOL if self.pool is not None else S.AVAILABLE
        self.user = None
        self.failures, self.last_step, self.drift = 0, -1, 0
        self.block_reason = self.release_reason = None
        self.app, self.last_code = None, None

    def fail(self) -> None:
        """One failure counted; the last one allowed blocks, automatically."""
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.state = S.BLOCKED
            self.block_reason = BlockReason.TOO_MANY_FAILURES
            self.release_reason = None
            event("blocked after too many failures")


@attrs.frozen
class Acceptance:
    """A code the issuer accepted, with what the issuer itself said of the token before."""

    operation: str
    serial: Serial
    state_before: TokenState
    generation: int
    step: int


def key_of(number: int) -> bytes:
    """The imported key numbered *number* (rules draw the number, so that no key is printed)."""
    return hashlib.sha256(number.to_bytes(2, "big")).digest()[:20]


def as_totp(token: object) -> TOTP:
    """The app's TOTP token (every token in this machine has the default parameters)."""
    assert isinstance(token, TOTP)
    return token


class IssuerLifecycle(RuleBasedStateMachine):
    """Two issuers over one store, and the model of every token they share."""

    # Calls run one at a time here, so a write never loses to another writer: a few retries
    # are plenty, and a write that can never win fails fast instead of backing off 200 times.
    POLICY = IssuerPolicy(retries=3)

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.issuers = tuple(Issuer(self.store, keyring(), policy=self.POLICY) for _ in range(2))
        self.checked: dict[Serial, tuple[object, ...]] = {}
        self.clock = NOW
        self.model: dict[Serial, Model] = {}
        self.accepted: list[Acceptance] = []

    # ----------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------

    def step(self) -> int:
        """The current TOTP step."""
        return self.clock // PERIOD

    def users_tokens(self, user: str, state: TokenState) -> list[Serial]:
        """The model's tokens of *user* in *state*, in the order the store lists them."""
        found = [s for s, m in self.model.items() if m.user == user and m.state is state]
        return sorted(found, key=str)

    def window(self, token: Model) -> list[int]:
        """The steps a code from *token* is looked for at the current time: ±1 step around
        the expected one (shifted by the learned drift, except for a first code)."""
        centre = self.step() + (0 if token.state is S.PENDING_CONFIRMATION else token.drift)
        return [centre - 1, centre, centre + 1]

    def matches(self, token: Model, code: str) -> list[int]:
        """The steps of *token*'s window whose code is *code*."""
        if token.app is None:
            return []
        return [s for s in self.window(token) if token.app.generate_step(s) == code]

    def wrong_code(self, wrong_from: int) -> str:
        """A code no token shows anywhere near the current time."""
        near = {
            m.app.generate_step(self.step() + offset)
            for m in self.model.values()
            if m.app is not None
            for offset in range(-MAX_DRIFT - 2, MAX_DRIFT + 3)
        }
        for n in range(wrong_from, wrong_from + len(near) + 1):
            code = f"{n % 1_000_000:06d}"
            if code not in near:
                return code
        raise AssertionError("unreachable: more candidates than codes to avoid")

    def code_of(self, serial: Serial, kind: str, offset: int, wrong_from: int) -> str:
        """The code a rule submits: the token's *offset* steps from its expected one, its last
        accepted code, or a wrong one (also for a token without a seed)."""
        token = self.model[serial]
        if kind == "right" and token.app is not None:
            return token.app.generate_step(self.window(token)[1] + offset)
        if kind == "replay" and token.last_code is not None:
            return token.last_code
        return self.wrong_code(wrong_from)

    def retire_others(self, serial: Serial) -> None:
        """One device per user: the user's other active tokens are blocked."""
        user = self.model[serial].user
        assert user is not None
        for other in self.users_tokens(user, S.ACTIVE):
            if other != serial:
                retired = self.model[other]
                retired.state, retired.block_reason = S.BLOCKED, BlockReason.DEVICE_CHANGE
                event("retired for a device change")
                retired.events += 1

    def admin(self, serial: Serial, operation: str, call: Callable[[], object]) -> bool:
        """Run an administrator call the model expects to apply when the token's state is in
        APPLIES[operation], and otherwise to raise a TokenStateError naming both; True when
        it applied (the caller then updates the model)."""
        token = self.model[serial]
        if token.state not in APPLIES[operation]:
            with pytest.raises(TokenStateError) as info:
                call()
            assert (operation, token.state.value) == (info.value.operation, info.value.state)
            event("refused: not in a state it applies to")
            return False
        call()
        event(f"{operation}: applied")
        token.events += 1
        return True

    def pick(self, data: st.DataObject, fitting: frozenset[TokenState]) -> Serial:
        """A token for a rule: usually one in a state the operation fits, so that runs reach
        deep states; otherwise any token, so that refusals are exercised too."""
        # In creation order: serials are random, so sorting them would make a replayed run
        # draw other tokens.
        every = list(self.model)
        fit = [serial for serial in every if self.model[serial].state in fitting]
        if fit and data.draw(st.integers(0, 3), label="fits") > 0:
            return data.draw(st.sampled_from(fit), label="serial")
        return data.draw(st.sampled_from(every), label="serial")

    def snapshot(self) -> dict[Serial, TokenInfo]:
        """What the issuer shows of every token now."""
        return {info.serial: info for info in self.issuers[0].tokens()}

    # ----------------------------------------------------------------------------------------
    # Rules
    # ----------------------------------------------------------------------------------------

    @rule(seconds=st.integers(0, 90))
    def tick(self, seconds: int) -> None:
        """Time passes (never backwards)."""
        self.clock += seconds

    @initialize(via=INSTANCES, pools=st.lists(st.sampled_from(POOLS), min_size=1, max_size=3))
    def stock(self, via: int, pools: list[str | None]) -> None:
        """The bank starts with a few tokens."""
        for pool in pools:
            self.create(via, pool)

    @rule(via=INSTANCES, pool=st.sampled_from(POOLS))
    def create(self, via: int, pool: str | None) -> None:
        """A new token in stock or in a company's pool."""
        (serial,) = self.issuers[via].create_tokens(1, pool=pool, actor="ops", at=self.clock)
        self.model[serial] = Model(state=S.POOL if pool else S.AVAILABLE, pool=pool)

    @rule(data=st.data(), via=INSTANCES, user=st.sampled_from(USERS))
    def assign(self, data: st.DataObject, via: int, user: str) -> None:
        """An administrator assigns a token to a user."""
        serial = self.pick(data, APPLIES["assign"])
        issuer = self.issuers[via]
        if self.admin(
            serial, "assign", lambda: issuer.assign(serial, user=user, actor="a", at=self.clock)
        ):
            self.model[serial].state, self.model[serial].user = S.ASSIGNED, user

    @rule(data=st.data(), start_via=INSTANCES, complete_via=INSTANCES, first_code=st.booleans())
    def activate(
        self, data: st.DataObject, start_via: int, complete_via: int, first_code: bool
    ) -> None:
        """Offline activation: one instance opens it, the app answers, the registration code
        is typed on either instance, and then (when *first_code*) the app's first code."""
        serial = self.pick(data, APPLIES["start_offline_activation"])
        issuer = self.issuers[start_via]
        holder: list[ActivationCode] = []

        def start() -> None:
            started = issuer.start_offline_activation(
                serial, actor="a", params=PARAMS, kdf=FAST_KDF, at=self.clock
            )
            holder.append(started.activation_code)

        if not self.admin(serial, "start_offline_activation", start):
            return
        registration, secret = offline.respond(serial, holder[0], params=PARAMS, kdf=FAST_KDF)
        self.issuers[complete_via].complete_offline_activation(serial, registration, at=self.clock)
        token = self.model[serial]
        token.state, token.app = S.PENDING_CONFIRMATION, as_totp(PARAMS.token(secret))
        token.events += 1
        if first_code:
            code = self.code_of(serial, "right", 0, 0)
            self.submit("verify", code, [serial], complete_via, user=None, serial=serial)

    @rule(
        data=st.data(),
        via=INSTANCES,
        kind=KINDS,
        offset=st.integers(-1, 1),
        by_user=st.booleans(),
        wrong_from=st.integers(0, 999_999),
    )
    def verify(
        self, data: st.DataObject, via: int, kind: str, offset: int, by_user: bool, wrong_from: int
    ) -> None:
        """A login (or a first code) with the token's code, a wrong code or a replayed one,
        by serial or by the token's user."""
        serial = self.pick(data, MAY_ACCEPT["verify"])
        code = self.code_of(serial, kind, offset, wrong_from)
        user = self.model[serial].user if by_user else None
        if user is not None:
            # The first kind the user has answers, as Issuer.verify picks it: active, awaiting
            # a first code, then the kinds that refuse (so the refusal is audited on them).
            candidates = []
            for state in BY_USER:
                candidates = self.users_tokens(user, state)
                if candidates:
                    break
        else:
            candidates = [serial]
        self.submit("verify", code, candidates, via, user=user, serial=serial)

    @rule(
        data=st.data(),
        via=INSTANCES,
        kind=KINDS,
        offset=st.integers(-1, 1),
        wrong_from=st.integers(0, 999_999),
    )
    def confirm_release(
        self, data: st.DataObject, via: int, kind: str, offset: int, wrong_from: int
    ) -> None:
        """A code sent to confirm a pending release."""
        serial = self.pick(data, MAY_ACCEPT["confirm_release"])
        code = self.code_of(serial, kind, offset, wrong_from)
        self.submit("confirm_release", code, [serial], via, user=None, serial=serial)

    @rule(
        data=st.data(),
        via=INSTANCES,
        count=st.integers(1, MAX_FAILURES),
        confirming=st.booleans(),
        wrong_from=st.integers(0, 999_999),
    )
    def guess(
        self, data: st.DataObject, via: int, count: int, confirming: bool, wrong_from: int
    ) -> None:
        """An attacker submits *count* wrong codes in a row to one token, as logins or as
        release confirmations."""
        operation = "confirm_release" if confirming else "verify"
        serial = self.pick(data, frozenset({S.ACTIVE, S.RELEASE_PENDING}))
        for attempt in range(count):
            code = self.wrong_code(wrong_from + attempt)
            self.submit(operation, code, [serial], via, user=None, serial=serial)

    def submit(
        self,
        operation: str,
        code: str,
        candidates: list[Serial],
        via: int,
        *,
        user: str | None,
        serial: Serial,
    ) -> None:
        """Predict, submit and compare one code. A code that matches two steps of one window
        (a chance collision) would make the prediction depend on the search order: skip it."""
        if any(len(self.matches(self.model[c], code)) > 1 for c in candidates):
            return
        expected: tuple[Serial, int] | None = None
        for candidate in candidates:
            expected = self.predict(operation, candidate, code)
            if expected is not None:
                break
        before = self.snapshot()
        issuer = self.issuers[via]
        try:
            if operation == "confirm_release":
                match = issuer.confirm_release(serial, code, at=self.clock)
            elif user is not None:
                match = issuer.verify(code, user=user, at=self.clock)
            else:
                match = issuer.verify(code, serial=serial, at=self.clock)
        except InvalidCode:
            event(f"{operation}: refused")
            assert None is expected
            return
        event(
            f"{operation}: accepted from {before[serial].state.value if user is None else 'user'}"
        )
        after = self.snapshot()
        winner = serial if user is None else self.winner(before, after, match.counter)
        self.accepted.append(
            Acceptance(
                operation=operation,
                serial=winner,
                state_before=before[winner].state,
                generation=after[winner].generation,
                step=match.counter,
            )
        )
        assert expected == (winner, match.counter)

    @staticmethod
    def winner(
        before: dict[Serial, TokenInfo], after: dict[Serial, TokenInfo], step: int
    ) -> Serial:
        """The token whose floor moved to *step*: the one that accepted a code by user."""
        moved = [
            s
            for s, info in after.items()
            if info.last_counter == step
            and (info.last_counter, info.generation)
            != (before[s].last_counter, before[s].generation)
        ]
        assert 1 == len(moved)
        return moved[0]

    def predict(self, operation: str, serial: Serial, code: str) -> tuple[Serial, int] | None:
        """Apply *code* to the model of *serial*: the (serial, step) it is accepted at, or
        None after counting what the issuer counts."""
        token = self.model[serial]
        token.events += 1
        found = self.matches(token, code)
        if operation == "verify" and token.state is S.PENDING_CONFIRMATION:
            if not found:
                # A wrong first code drops the candidate: the registration code is typed again.
                token.state, token.app = S.ASSIGNED, None
                return None
            token.state, token.generation = S.ACTIVE, token.generation + 1
            token.failures, token.drift, token.last_step = 0, 0, found[0]
            token.last_code = code
            self.retire_others(serial)
            return serial, found[0]
        wanted = S.ACTIVE if operation == "verify" else S.RELEASE_PENDING
        if token.state is not wanted:
            return None
        if not found or found[0] <= token.last_step:
            token.fail()
            return None
        if operation == "confirm_release":
            token.back_to_pool()
            return serial, found[0]
        token.failures, token.last_step, token.last_code = 0, found[0], code
        token.drift = max(-MAX_DRIFT, min(MAX_DRIFT, found[0] - self.step()))
        return serial, found[0]

    @rule(
        data=st.data(),
        via=INSTANCES,
        reason=st.sampled_from(list(BlockReason)),
    )
    def block(self, data: st.DataObject, via: int, reason: BlockReason) -> None:
        """An administrator blocks a token; the automatic reason is refused by hand."""
        serial = self.pick(data, APPLIES["block"])
        issuer = self.issuers[via]

        def call() -> None:
            issuer.block(serial, reason, actor="a", at=self.clock)

        if reason is BlockReason.TOO_MANY_FAILURES:
            with pytest.raises(InvalidInput):
                call()
            return
        if self.admin(serial, "block", call):
            token = self.model[serial]
            token.state, token.block_reason, token.release_reason = S.BLOCKED, reason, None

    @rule(data=st.data(), via=INSTANCES)
    def unblock(self, data: st.DataObject, via: int) -> None:
        """An administrator unblocks a token, unless its user has another active one."""
        serial = self.pick(data, APPLIES["unblock"])
        token = self.model[serial]
        issuer = self.issuers[via]

        def call() -> None:
            issuer.unblock(serial, actor="a", note="checked", at=self.clock)

        others = [] if token.user is None else self.users_tokens(token.user, S.ACTIVE)
        if token.state is S.BLOCKED and others:
            with pytest.raises(WrongState) as info:
                call()
            assert not isinstance(info.value, TokenStateError)
            event("unblock: refused, another token is active")
            return
        if self.admin(serial, "unblock", call):
            token.state, token.block_reason, token.failures = S.ACTIVE, None, 0

    @rule(data=st.data(), via=INSTANCES, reason=st.sampled_from(list(ReleaseReason)))
    def release(self, data: st.DataObject, via: int, reason: ReleaseReason) -> None:
        """An administrator releases a token's seed (waiting for a code when the policy says
        so and the token is active)."""
        serial = self.pick(data, APPLIES["release"])
        token = self.model[serial]
        issuer = self.issuers[via]
        state = token.state
        if not self.admin(
            serial, "release", lambda: issuer.release(serial, reason, actor="a", at=self.clock)
        ):
            return
        if self.POLICY.confirm_release and state is S.ACTIVE:
            token.state, token.release_reason = S.RELEASE_PENDING, reason
        else:
            token.back_to_pool()

    @rule(data=st.data(), via=INSTANCES)
    def delete(self, data: st.DataObject, via: int) -> None:
        """An administrator deletes a token for good."""
        serial = self.pick(data, APPLIES["delete"])
        issuer = self.issuers[via]
        if self.admin(serial, "delete", lambda: issuer.delete(serial, actor="a", at=self.clock)):
            token = self.model[serial]
            token.state, token.pool, token.user = S.DELETED, None, None
            token.failures, token.block_reason, token.release_reason = 0, None, None
            token.app, token.last_code = None, None

    @rule(data=st.data(), via=INSTANCES)
    def reset_drift(self, data: st.DataObject, via: int) -> None:
        """An operator sets a token's learned drift back to 0."""
        serial = self.pick(data, APPLIES["reset_drift"])
        issuer = self.issuers[via]
        if self.admin(
            serial, "reset_drift", lambda: issuer.reset_drift(serial, actor="a", at=self.clock)
        ):
            self.model[serial].drift = 0

    def import_into(self, serial: Serial, via: int, user: str, key: bytes) -> None:
        """Import *key* for *user* into the known token *serial*: it becomes active at once,
        and the user's other active token is retired."""
        issuer = self.issuers[via]
        if not self.admin(
            serial,
            "import_token",
            lambda: issuer.import_token(serial, key, user=user, actor="a", at=self.clock),
        ):
            return
        token = self.model[serial]
        token.state, token.user, token.generation = S.ACTIVE, user, token.generation + 1
        token.failures, token.last_step, token.drift = 0, -1, 0
        token.app, token.last_code = TOTP(key), None
        self.retire_others(serial)

    @rule(
        data=st.data(),
        via=INSTANCES,
        user=st.sampled_from(USERS),
        key_number=st.integers(0, 1000),
    )
    def import_token(self, data: st.DataObject, via: int, user: str, key_number: int) -> None:
        """A seed imported into a known token (a migration)."""
        self.import_into(self.pick(data, APPLIES["import_token"]), via, user, key_of(key_number))

    @rule(
        via=INSTANCES,
        number=st.integers(0, 10**9 - 1),
        user=st.sampled_from(USERS),
        key_number=st.integers(0, 1000),
    )
    def import_new_token(self, via: int, number: int, user: str, key_number: int) -> None:
        """A seed imported under a serial the issuer did not know: created, then imported."""
        serial = Serial.from_number(number)
        if serial not in self.model:
            self.model[serial] = Model(state=S.AVAILABLE, pool=None)
            # The creation is audited in the same commit as the import.
        self.import_into(serial, via, user, key_of(key_number))

    # ----------------------------------------------------------------------------------------
    # Invariants
    # ----------------------------------------------------------------------------------------

    def unchecked(self) -> list[Serial]:
        """The tokens whose stored row, audit trail or expected view changed since the last
        check. A token none of these changed for was found equal to the model, with a chain
        that verified, and would be again: skipping it keeps long runs fast."""
        changed = []
        for serial, token in self.model.items():
            row = self.store.get("token", str(serial))
            assert row is not None
            seen = (row.version, row.sealed, len(self.store.events(str(serial))), token.view())
            if self.checked.get(serial) != seen:
                changed.append(serial)
                self.checked[serial] = seen
        return changed

    @invariant()
    def tokens_match_the_model_and_their_chains_verify(self) -> None:
        """Every token's state, owner, reasons, counts and trail length are the model's, and
        its audit chain verifies against its record (on either instance)."""
        for number, serial in enumerate(self.unchecked()):
            info = self.issuers[number % 2].token(serial)
            trail = self.issuers[(number + 1) % 2].verify_audit(serial)
            assert self.model[serial].view() == (
                info.state,
                info.user,
                info.pool,
                info.block_reason,
                info.release_reason,
                info.failures,
                info.last_counter,
                info.drift,
                info.generation,
                trail,
            )

    @invariant()
    def only_usable_tokens_accepted_a_code(self) -> None:
        """No code was accepted from a blocked, released, deleted or merely assigned token, nor
        a login from a token whose release waits (the issuer's own view of the state before)."""
        for acceptance in self.accepted:
            assert acceptance.state_before in MAY_ACCEPT[acceptance.operation]

    @invariant()
    def no_step_was_accepted_twice(self) -> None:
        """No step of one seed was accepted twice, and each seed's steps only increase."""
        latest: dict[tuple[Serial, int], int] = {}
        for acceptance in self.accepted:
            key = (acceptance.serial, acceptance.generation)
            assert acceptance.step > latest.get(key, -1)
            latest[key] = acceptance.step

    @invariant()
    def at_most_one_active_token_per_user(self) -> None:
        """With one device per user, no user has two active tokens."""
        users = [info.user for info in self.issuers[1].tokens(state=S.ACTIVE)]
        assert len(set(users)) == len(users)


class ConfirmedReleases(IssuerLifecycle):
    """The same machine under the release-confirmation policy."""

    POLICY = IssuerPolicy(confirm_release=True, retries=3)


FAST = settings(max_examples=30, stateful_step_count=100, deadline=None)
IssuerLifecycle.TestCase.settings = FAST
ConfirmedReleases.TestCase.settings = FAST
TestIssuerLifecycle = IssuerLifecycle.TestCase
TestConfirmedReleases = ConfirmedReleases.TestCase
