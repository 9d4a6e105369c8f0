"""The issuer's token lifecycle (issue 8, section 2; SECURITY.md S15).

First the pure transitions of :mod:`softtoken.issuer.lifecycle`: every operation in every state
either applies or raises a :class:`TokenStateError` that names both. Then the same lifecycle
through :class:`Issuer` over a :class:`MemoryStore`: stock and pools, offline activation, blocks
and releases with each reason, deletion, the release-confirmation policy, one device per user,
and the audit fields of every transition. Every call passes a fixed ``at=``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import pytest

from softtoken import HOTP, TOTP
from softtoken.exceptions import InvalidCode, InvalidInput, TokenStateError, WrongState
from softtoken.issuer import (
    BlockReason,
    Issuer,
    IssuerPolicy,
    ReleaseReason,
    TokenState,
    Window,
    lifecycle,
)
from softtoken.issuer.audit import AuditEvent
from softtoken.issuer.lifecycle import ALLOWED, Change
from softtoken.issuer.records import PendingKind, TokenRecord
from softtoken.issuer.stores import MemoryStore
from softtoken.issuer.stores.base import Row, Write
from softtoken.provisioning import Serial, TokenParams, offline
from tests.issuer_support import FAST_KDF, NOW, activate, keyring

S = TokenState
SERIAL = Serial.from_number(123_456_789)
PARAMS = TokenParams()
SEED = bytes(range(1, 21))
OTHER_SEED = bytes(range(101, 121))
PENDING = offline.start(SERIAL, now=NOW, kdf=FAST_KDF)[1].to_bytes()
MANUAL_REASONS = [reason for reason in BlockReason if reason is not BlockReason.TOO_MANY_FAILURES]
STEP = 30


def record_in(state: TokenState) -> TokenRecord:
    """A consistent record in *state*: a user while assigned, a seed while it has one, a block
    or release reason while blocked or waiting, an activation while one is in progress."""
    seeded = state in (S.ACTIVE, S.BLOCKED, S.RELEASE_PENDING)
    return TokenRecord(
        serial=SERIAL,
        state=state,
        version=3,
        pool=None if state in (S.AVAILABLE, S.DELETED) else "acme",
        user=None if state in (S.AVAILABLE, S.POOL, S.DELETED) else "ana",
        params=PARAMS if seeded else None,
        seed=SEED if seeded else None,
        generation=1 if seeded else 0,
        last_counter=NOW // STEP if seeded else -1,
        drift=1 if seeded else 0,
        block_reason=BlockReason.CUSTOMER_REQUEST if state is S.BLOCKED else None,
        release_reason=ReleaseReason.SEED_RELEASE if state is S.RELEASE_PENDING else None,
        pending_kind=PendingKind.OFFLINE if state is S.PENDING_CONFIRMATION else None,
        pending=PENDING if state is S.PENDING_CONFIRMATION else None,
        updated_at=NOW - 60,
    )


# Each operation of ALLOWED as a pure call. The three that have no transition of their own in
# the lifecycle module (the service runs verification or the activation flow after the check)
# are their check, lifecycle.require, and give no change.
OPERATIONS: dict[str, Callable[[TokenRecord], Change | None]] = {
    "assign_pool": lambda r: lifecycle.assign_pool(r, "globex", actor="admin", now=NOW),
    "assign": lambda r: lifecycle.assign(r, "laura", actor="admin", now=NOW),
    "import_token": lambda r: lifecycle.imported(
        r, user="laura", params=PARAMS, seed=OTHER_SEED, window=Window(), actor="admin", now=NOW
    ),
    "start_offline_activation": lambda r: lifecycle.start_activation(
        r, PENDING, actor="admin", now=NOW
    ),
    "complete_offline_activation": lambda r: lifecycle.require(r, "complete_offline_activation"),
    "resync": lambda r: lifecycle.require(r, "resync"),
    "reset_drift": lambda r: lifecycle.reset_drift(r, actor="admin", now=NOW),
    "set_window": lambda r: lifecycle.set_window(
        r, Window(past=2, future=2), actor="admin", now=NOW
    ),
    "block": lambda r: lifecycle.block(
        r, BlockReason.DEVICE_LOST_OR_STOLEN, actor="admin", now=NOW
    ),
    "unblock": lambda r: lifecycle.unblock(r, actor="admin", note="called the bank", now=NOW),
    "release": lambda r: lifecycle.release(
        r, ReleaseReason.CUSTOMER_REQUEST, confirm=False, actor="admin", now=NOW
    ),
    "delete": lambda r: lifecycle.delete(r, actor="admin", now=NOW),
    "unlock_code": lambda r: lifecycle.require(r, "unlock_code"),
}
# Where each transition leads (the records of record_in are in the pool "acme"); None keeps
# the state.
TARGETS: dict[str, TokenState | None] = {
    "assign_pool": S.POOL,
    "assign": S.ASSIGNED,
    "import_token": S.ACTIVE,
    "start_offline_activation": S.ASSIGNED,
    "reset_drift": None,
    "set_window": None,
    "block": S.BLOCKED,
    "unblock": S.ACTIVE,
    "release": S.POOL,
    "delete": S.DELETED,
}
PAIRS = [(operation, state) for operation in sorted(ALLOWED) for state in TokenState]
APPLICABLE = [(operation, state) for operation, state in PAIRS if state in ALLOWED[operation]]


def fresh(policy: IssuerPolicy | None = None, store: MemoryStore | None = None) -> Issuer:
    """An issuer over a new memory store (or *store*) with the test key ring."""
    return Issuer(store or MemoryStore(), keyring(), policy=policy or IssuerPolicy())


def seed_kept(issuer: Issuer, serial: Serial) -> bool:
    """Whether the stored record of *serial* still holds a seed (the seed is never shown)."""
    record = issuer.engine.load(serial)
    return record is not None and record.seed is not None


def sealed_seed(issuer: Issuer, serial: Serial) -> bytes:
    """The stored seed of *serial*, to compare without ever showing it."""
    record = issuer.engine.load(serial)
    assert record is not None
    assert record.seed is not None
    return record.seed


def accepted(
    issuer: Issuer, code: str, *, at: int, serial: Serial | None = None, user: str | None = None
) -> bool:
    """Whether the issuer accepts *code* (by *serial* or by *user*) at *at*."""
    try:
        if serial is not None:
            issuer.verify(code, serial=serial, at=at)
        else:
            issuer.verify(code, user=user, at=at)
    except InvalidCode:
        return False
    return True


def code_at(token: HOTP | TOTP, at: int) -> str:
    """The app's TOTP code at *at*."""
    assert isinstance(token, TOTP)
    return token.generate(at)


def wrong(token: HOTP | TOTP, at: int) -> str:
    """A code that *token* shows at no step within two of *at*'s (so no window accepts it)."""
    assert isinstance(token, TOTP)
    step = token.step(at)
    near = {token.generate_step(step + offset) for offset in range(-2, 3)}
    return next(code for code in (f"{n:06d}" for n in range(10)) if code not in near)


def pooled(issuer: Issuer, count: int = 1, pool: str = "acme") -> list[Serial]:
    """*count* new tokens in *pool*'s pool."""
    return issuer.create_tokens(count, pool=pool, actor="ops", at=NOW)


def last(issuer: Issuer, serial: Serial) -> AuditEvent:
    """The last audit event of *serial*."""
    return issuer.audit(serial)[-1]


def fields(event: AuditEvent) -> tuple[object, ...]:
    """An event's action, actor, reason, states before and after, and time."""
    return (event.action, event.actor, event.reason, event.before, event.after, event.at)


class RecordingStore(MemoryStore):
    """A memory store that records, for each commit that wins, the subjects of its events."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[list[str]] = []

    def commit(self, writes: Sequence[Write], events: Sequence[AuditEvent]) -> bool:
        done = super().commit(writes, events)
        if done:
            self.commits.append([event.subject for event in events])
        return done


class TestTransitions:
    """The pure transitions of softtoken.issuer.lifecycle over records in every state."""

    def test_every_operation_of_the_table_is_exercised(self) -> None:
        """The operations tested here are exactly those of ALLOWED."""
        assert set(ALLOWED) == set(OPERATIONS)

    @pytest.mark.parametrize("state", list(TokenState), ids=lambda s: s.value)
    def test_each_state_has_a_consistent_record(self, state: TokenState) -> None:
        """record_in builds a record in each state (the validators accept it)."""
        assert state == record_in(state).state

    @pytest.mark.parametrize(
        ("operation", "state"), PAIRS, ids=[f"{o}-{s.value}" for o, s in PAIRS]
    )
    def test_an_operation_applies_exactly_in_its_states(
        self, operation: str, state: TokenState
    ) -> None:
        """Every operation applies in the states ALLOWED lists, and everywhere else raises a
        TokenStateError whose attributes and message name the operation and the state."""
        record = record_in(state)
        if state in ALLOWED[operation]:
            change = OPERATIONS[operation](record)
            if change is not None:
                assert record == change.before
                assert record.version + 1 == change.after.version
                assert NOW == change.after.updated_at
            return
        with pytest.raises(TokenStateError) as info:
            OPERATIONS[operation](record)
        assert (operation, state.value) == (info.value.operation, info.value.state)
        assert operation in str(info.value)
        assert state.value in str(info.value)

    @pytest.mark.parametrize(
        ("operation", "state"),
        [pair for pair in APPLICABLE if pair[0] in TARGETS],
        ids=lambda value: value if isinstance(value, str) else value.value,
    )
    def test_a_transition_leads_to_its_state(self, operation: str, state: TokenState) -> None:
        """Each applicable transition leads where the lifecycle diagram says."""
        change = OPERATIONS[operation](record_in(state))
        assert change is not None
        assert (TARGETS[operation] or state) == change.after.state

    def test_nothing_applies_to_a_deleted_token(self) -> None:
        """A deleted token is gone for good: no operation applies to it."""
        assert set() == {op for op, states in ALLOWED.items() if S.DELETED in states}

    def test_codes_are_answered_only_for_an_active_token(self) -> None:
        """Resync and unlock codes apply to an active token only."""
        assert {S.ACTIVE} == ALLOWED["resync"] == ALLOWED["unlock_code"]

    @pytest.mark.parametrize("state", [s for s in TokenState if s in ALLOWED["release"]])
    def test_a_release_destroys_the_seed(self, state: TokenState) -> None:
        """A release without confirmation clears the seed, the user and the activation."""
        after = lifecycle.release(
            record_in(state), ReleaseReason.SEED_RELEASE, confirm=False, actor="a", now=NOW
        ).after
        assert (S.POOL, None, None, None) == (after.state, after.user, after.params, after.pending)
        assert after.seed is None

    def test_a_release_without_a_pool_goes_to_stock(self) -> None:
        """A token that belongs to no company goes back to the bank's stock."""
        record = TokenRecord(
            serial=SERIAL, state=S.ACTIVE, user="ana", params=PARAMS, seed=SEED, generation=1
        )
        change = lifecycle.release(
            record, ReleaseReason.ASSIGNMENT_ERROR, confirm=False, actor="a", now=NOW
        )
        assert (S.AVAILABLE, None) == (change.after.state, change.after.pool)

    @pytest.mark.parametrize("state", list(TokenState), ids=lambda s: s.value)
    def test_a_confirmed_release_waits_only_for_an_active_token(self, state: TokenState) -> None:
        """With confirmation, an active token's release waits with its seed; any other
        releasable token is released at once."""
        record = record_in(state)
        if state not in ALLOWED["release"]:
            with pytest.raises(TokenStateError):
                lifecycle.release(
                    record, ReleaseReason.SEED_RELEASE, confirm=True, actor="a", now=NOW
                )
            return
        after = lifecycle.release(
            record, ReleaseReason.SEED_RELEASE, confirm=True, actor="a", now=NOW
        ).after
        waits = state is S.ACTIVE
        expected = (S.RELEASE_PENDING, ReleaseReason.SEED_RELEASE) if waits else (S.POOL, None)
        assert expected == (after.state, after.release_reason)
        assert waits == (after.seed is not None)

    @pytest.mark.parametrize("state", [S.ACTIVE, S.RELEASE_PENDING], ids=lambda s: s.value)
    def test_the_automatic_reason_cannot_be_given_by_hand(self, state: TokenState) -> None:
        """Blocking by hand with too_many_failures raises InvalidInput."""
        with pytest.raises(InvalidInput):
            lifecycle.block(record_in(state), BlockReason.TOO_MANY_FAILURES, actor="a", now=NOW)

    def test_an_unblock_starts_the_failure_count_again(self) -> None:
        """Unblocking leaves no failure counted and no block reason."""
        after = lifecycle.unblock(record_in(S.BLOCKED), actor="a", note="n", now=NOW).after
        assert (0, False, None) == (
            after.throttle.failures,
            after.throttle.blocked,
            after.block_reason,
        )

    def test_a_deletion_destroys_everything_but_the_trail(self) -> None:
        """A deleted record keeps no seed, user, pool or activation; its chain head stays."""
        before = record_in(S.ACTIVE)
        after = lifecycle.delete(before, actor="a", now=NOW).after
        assert (None, None, None, None) == (after.user, after.pool, after.params, after.pending)
        assert after.seed is None
        assert (before.audit_seq, before.generation) == (after.audit_seq, after.generation)


class TestStockAndPools:
    """Creating tokens in stock and in pools, and assigning them."""

    def test_tokens_are_created_in_stock(self) -> None:
        """Without a pool, new tokens are AVAILABLE and belong to nobody."""
        issuer = fresh()
        (serial,) = issuer.create_tokens(1, actor="ops", at=NOW)
        info = issuer.token(serial)
        assert (S.AVAILABLE, None, None, 0) == (info.state, info.pool, info.user, info.generation)

    def test_tokens_are_created_in_a_pool(self) -> None:
        """With a pool, new tokens are in that company's pool, each with its own serial."""
        issuer = fresh()
        serials = pooled(issuer, 3)
        assert 3 == len(set(serials))
        assert [(S.POOL, "acme")] * 3 == [
            (issuer.token(s).state, issuer.token(s).pool) for s in serials
        ]

    def test_a_token_in_stock_is_put_in_a_pool(self) -> None:
        """assign_pool moves a token from stock into a company's pool, audited."""
        issuer = fresh()
        (serial,) = issuer.create_tokens(1, at=NOW)
        issuer.assign_pool(serial, "acme", actor="admin", at=NOW + 5)
        assert (S.POOL, "acme") == (issuer.token(serial).state, issuer.token(serial).pool)
        assert ("assign_pool", "admin", None, "available", "in_pool", NOW + 5) == fields(
            last(issuer, serial)
        )

    def test_a_pooled_token_cannot_change_pool(self) -> None:
        """assign_pool refuses a token already in a pool, naming the state."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        with pytest.raises(TokenStateError) as info:
            issuer.assign_pool(serial, "globex", actor="admin", at=NOW)
        assert ("assign_pool", "in_pool") == (info.value.operation, info.value.state)
        assert "acme" == issuer.token(serial).pool

    @pytest.mark.parametrize("pool", [None, "acme"])
    def test_a_token_is_assigned_to_a_user(self, pool: str | None) -> None:
        """assign gives a token from stock or a pool to a user, keeping its pool."""
        issuer = fresh()
        (serial,) = issuer.create_tokens(1, pool=pool, at=NOW)
        issuer.assign(serial, user="laura", actor="admin", at=NOW)
        info = issuer.token(serial)
        assert (S.ASSIGNED, "laura", pool, False) == (
            info.state,
            info.user,
            info.pool,
            info.activating,
        )

    def test_an_assigned_token_is_not_assigned_again(self) -> None:
        """An assigned token cannot be given to another user."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        issuer.assign(serial, user="laura", actor="admin", at=NOW)
        with pytest.raises(TokenStateError):
            issuer.assign(serial, user="ana", actor="admin", at=NOW)
        assert "laura" == issuer.token(serial).user


class TestActivation:
    """Offline activation: ASSIGNED, then PENDING_CONFIRMATION, then ACTIVE at the first code."""

    def test_offline_activation_goes_through_each_state(self) -> None:
        """Start keeps the token ASSIGNED with an activation, the registration code makes it
        wait for its first code, and the first code makes it ACTIVE with a seed."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        issuer.assign(serial, user="laura", actor="admin", at=NOW)
        started = issuer.start_offline_activation(serial, actor="admin", kdf=FAST_KDF, at=NOW)
        assert (S.ASSIGNED, True) == (issuer.token(serial).state, issuer.token(serial).activating)
        registration, secret = offline.respond(serial, started.activation_code, kdf=FAST_KDF)
        issuer.complete_offline_activation(serial, registration, at=NOW + 10)
        assert S.PENDING_CONFIRMATION == issuer.token(serial).state
        assert False is seed_kept(issuer, serial)
        match = issuer.verify(PARAMS.token(secret).generate(NOW + 20), serial=serial, at=NOW + 20)
        info = issuer.token(serial)
        assert (S.ACTIVE, 1, match.counter, False) == (
            info.state,
            info.generation,
            info.last_counter,
            info.activating,
        )
        assert True is seed_kept(issuer, serial)

    def test_a_wrong_first_code_sends_the_token_back(self) -> None:
        """A wrong first code (here by user) drops the candidate seed: the token is ASSIGNED
        again, and the right code no longer activates it until the registration is redone."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        issuer.assign(serial, user="laura", actor="admin", at=NOW)
        started = issuer.start_offline_activation(serial, actor="admin", kdf=FAST_KDF, at=NOW)
        registration, secret = offline.respond(serial, started.activation_code, kdf=FAST_KDF)
        issuer.complete_offline_activation(serial, registration, at=NOW)
        app = PARAMS.token(secret)
        right = code_at(app, NOW)
        assert False is accepted(issuer, wrong(app, NOW), user="laura", at=NOW)
        assert S.ASSIGNED == issuer.token(serial).state
        assert False is accepted(issuer, right, serial=serial, at=NOW)
        assert (S.ASSIGNED, False) == (issuer.token(serial).state, seed_kept(issuer, serial))

    @pytest.mark.parametrize("operation", ["resync", "unlock_code", "complete"])
    def test_code_operations_name_the_wrong_state(self, operation: str) -> None:
        """Resync, unlock codes and completing an activation refuse a token in the wrong state
        with a TokenStateError, before anything is counted."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        calls: dict[str, Callable[[], object]] = {
            "resync": lambda: issuer.resync(serial, "123456", "234567", actor="a", at=NOW),
            "unlock_code": lambda: issuer.unlock_code(serial, "12345678", actor="a", at=NOW),
            "complete": lambda: issuer.complete_offline_activation(serial, "1234567897", at=NOW),
        }
        with pytest.raises(TokenStateError) as info:
            calls[operation]()
        assert "in_pool" == info.value.state
        assert 1 == len(issuer.audit(serial))


class TestBlock:
    """Blocking with a reason, by hand and automatically."""

    @pytest.mark.parametrize("reason", MANUAL_REASONS, ids=lambda r: r.value)
    def test_a_token_is_blocked_with_each_manual_reason(self, reason: BlockReason) -> None:
        """A manual block records its reason and actor, and the token refuses its codes."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        issuer.block(serial, reason, actor="admin-1", at=NOW + 30)
        assert (S.BLOCKED, reason) == (
            issuer.token(serial).state,
            issuer.token(serial).block_reason,
        )
        assert ("block", "admin-1", reason.value, "active", "blocked", NOW + 30) == fields(
            last(issuer, serial)
        )
        assert False is accepted(issuer, code_at(app, NOW + 60), serial=serial, at=NOW + 60)
        assert False is accepted(issuer, code_at(app, NOW + 60), user="laura", at=NOW + 60)
        assert True is seed_kept(issuer, serial)

    def test_the_automatic_reason_is_refused_by_hand(self) -> None:
        """Blocking by hand with too_many_failures raises InvalidInput and changes nothing."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        activate(issuer, serial, user="laura")
        trail = len(issuer.audit(serial))
        with pytest.raises(InvalidInput):
            issuer.block(serial, BlockReason.TOO_MANY_FAILURES, actor="admin", at=NOW)
        assert (S.ACTIVE, trail) == (issuer.token(serial).state, len(issuer.audit(serial)))

    def test_five_wrong_codes_block_automatically(self) -> None:
        """The fifth consecutive wrong code blocks with too_many_failures, and then the right
        code is refused too."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        right = code_at(app, NOW + 30)
        for _ in range(5):
            assert False is accepted(issuer, wrong(app, NOW + 30), serial=serial, at=NOW + 30)
        info = issuer.token(serial)
        assert (S.BLOCKED, BlockReason.TOO_MANY_FAILURES, 5) == (
            info.state,
            info.block_reason,
            info.failures,
        )
        event = last(issuer, serial)
        assert ("verify", None, "too_many_failures", "active", "blocked") == fields(event)[:5]
        assert False is accepted(issuer, right, serial=serial, at=NOW + 30)

    def test_a_blocked_token_cannot_be_blocked_again(self) -> None:
        """Blocking twice raises TokenStateError and keeps the first reason."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        activate(issuer, serial, user="laura")
        issuer.block(serial, BlockReason.USER_INACTIVE, actor="admin", at=NOW)
        with pytest.raises(TokenStateError):
            issuer.block(serial, BlockReason.CUSTOMER_REQUEST, actor="admin", at=NOW)
        assert BlockReason.USER_INACTIVE == issuer.token(serial).block_reason


class TestUnblock:
    """Unblocking is an audited administrator action."""

    def test_unblock_records_the_actor_and_note_and_clears_the_count(self) -> None:
        """After an automatic block, unblock records who and why, clears the failures, and the
        token accepts its codes again."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        for _ in range(5):
            accepted(issuer, wrong(app, NOW + 30), serial=serial, at=NOW + 30)
        issuer.unblock(serial, actor="admin-2", note="identity checked by phone", at=NOW + 40)
        info = issuer.token(serial)
        assert (S.ACTIVE, None, 0) == (info.state, info.block_reason, info.failures)
        assert (
            "unblock",
            "admin-2",
            "identity checked by phone",
            "blocked",
            "active",
            NOW + 40,
        ) == fields(last(issuer, serial))
        assert True is accepted(issuer, code_at(app, NOW + 60), user="laura", at=NOW + 60)

    def test_unblock_without_a_note_records_no_reason(self) -> None:
        """The note is optional, as in the issue's API: the event then has no reason."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        activate(issuer, serial, user="laura")
        issuer.block(serial, BlockReason.CUSTOMER_REQUEST, actor="admin", at=NOW + 30)
        issuer.unblock(serial, actor="admin-2", at=NOW + 40)
        assert ("unblock", "admin-2", None, "blocked", "active", NOW + 40) == fields(
            last(issuer, serial)
        )

    def test_a_manual_block_keeps_no_count_after_unblock(self) -> None:
        """Failures counted before a manual block are forgotten by the unblock."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        for _ in range(3):
            accepted(issuer, wrong(app, NOW + 30), serial=serial, at=NOW + 30)
        issuer.block(serial, BlockReason.CUSTOMER_REQUEST, actor="admin", at=NOW + 30)
        assert 3 == issuer.token(serial).failures
        issuer.unblock(serial, actor="admin", note="customer called back", at=NOW + 30)
        assert 0 == issuer.token(serial).failures

    def test_an_active_token_cannot_be_unblocked(self) -> None:
        """unblock on a token that is not blocked raises TokenStateError and records nothing."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        activate(issuer, serial, user="laura")
        trail = len(issuer.audit(serial))
        with pytest.raises(TokenStateError) as info:
            issuer.unblock(serial, actor="admin", note="n", at=NOW)
        assert ("unblock", "active") == (info.value.operation, info.value.state)
        assert trail == len(issuer.audit(serial))


class TestRelease:
    """Releasing a seed with a reason: the token goes back to its pool and its seed is gone."""

    @pytest.mark.parametrize("reason", list(ReleaseReason), ids=lambda r: r.value)
    def test_a_release_returns_the_token_to_its_pool(self, reason: ReleaseReason) -> None:
        """The released token is in its company's pool with no user and no seed, and the
        audit event names the reason and the actor."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        activate(issuer, serial, user="laura")
        issuer.release(serial, reason, actor="admin-3", at=NOW + 30)
        info = issuer.token(serial)
        assert (S.POOL, "acme", None, 0, -1) == (
            info.state,
            info.pool,
            info.user,
            info.failures,
            info.last_counter,
        )
        assert False is seed_kept(issuer, serial)
        assert ("release", "admin-3", reason.value, "active", "in_pool", NOW + 30) == fields(
            last(issuer, serial)
        )

    def test_a_token_without_a_pool_goes_back_to_stock(self) -> None:
        """A released token that belongs to no company is AVAILABLE again."""
        issuer = fresh()
        (serial,) = issuer.create_tokens(1, at=NOW)
        activate(issuer, serial, user="laura")
        issuer.release(serial, ReleaseReason.ASSIGNMENT_ERROR, actor="admin", at=NOW)
        assert (S.AVAILABLE, None) == (issuer.token(serial).state, issuer.token(serial).user)

    @pytest.mark.parametrize("state", [S.ASSIGNED, S.PENDING_CONFIRMATION, S.BLOCKED])
    def test_other_releasable_states_are_released(self, state: TokenState) -> None:
        """An assigned, pending or blocked token is released to its pool as well."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        issuer.assign(serial, user="laura", actor="admin", at=NOW)
        if state is S.PENDING_CONFIRMATION:
            started = issuer.start_offline_activation(serial, actor="a", kdf=FAST_KDF, at=NOW)
            registration, _ = offline.respond(serial, started.activation_code, kdf=FAST_KDF)
            issuer.complete_offline_activation(serial, registration, at=NOW)
        if state is S.BLOCKED:
            issuer.release(serial, ReleaseReason.ASSIGNMENT_ERROR, actor="a", at=NOW)
            activate(issuer, serial, user="laura")
            issuer.block(serial, BlockReason.DEVICE_LOST_OR_STOLEN, actor="a", at=NOW)
        assert state == issuer.token(serial).state
        issuer.release(serial, ReleaseReason.USER_LEFT_COMPANY, actor="admin", at=NOW)
        info = issuer.token(serial)
        assert (S.POOL, None, None, False) == (
            info.state,
            info.user,
            info.block_reason,
            info.activating,
        )
        assert False is seed_kept(issuer, serial)

    def test_a_reactivation_makes_a_new_seed(self) -> None:
        """After a release, a new activation derives a different seed under a higher
        generation, and the old app's codes are never accepted again."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        old_app = activate(issuer, serial, user="laura")
        old_seed = sealed_seed(issuer, serial)
        issuer.release(serial, ReleaseReason.SEED_RELEASE, actor="admin", at=NOW + 30)
        assert False is accepted(issuer, code_at(old_app, NOW + 60), serial=serial, at=NOW + 60)
        new_app = activate(issuer, serial, user="laura", at=NOW + 90)
        same_seed = old_seed == sealed_seed(issuer, serial)
        assert False is same_seed
        assert 2 == issuer.token(serial).generation
        for later in (NOW + 120, NOW + 150, NOW + 180):
            assert False is accepted(issuer, code_at(old_app, later), serial=serial, at=later)
        assert True is accepted(issuer, code_at(new_app, NOW + 210), user="laura", at=NOW + 210)

    def test_a_pooled_token_cannot_be_released(self) -> None:
        """A token with nothing to release raises TokenStateError."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        with pytest.raises(TokenStateError) as info:
            issuer.release(serial, ReleaseReason.SEED_RELEASE, actor="admin", at=NOW)
        assert ("release", "in_pool") == (info.value.operation, info.value.state)


class TestDelete:
    """Deleting a token destroys its seed and keeps its audit trail."""

    @pytest.mark.parametrize("state", [S.POOL, S.ACTIVE, S.BLOCKED])
    def test_delete_destroys_the_seed_and_keeps_the_trail(self, state: TokenState) -> None:
        """A deleted token has no seed, user or pool, its earlier events are kept unchanged,
        and its chain still verifies."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        if state is not S.POOL:
            activate(issuer, serial, user="laura")
        if state is S.BLOCKED:
            issuer.block(serial, BlockReason.TECHNICAL_FAILURE, actor="admin", at=NOW)
        before = issuer.audit(serial)
        issuer.delete(serial, actor="admin-4", at=NOW + 30)
        after = issuer.audit(serial)
        info = issuer.token(serial)
        assert (S.DELETED, None, None) == (info.state, info.user, info.pool)
        assert False is seed_kept(issuer, serial)
        assert before == after[:-1]
        assert ("delete", "admin-4", None, state.value, "deleted", NOW + 30) == fields(after[-1])
        assert len(after) == issuer.verify_audit(serial)

    def test_a_deleted_token_cannot_be_deleted_again(self) -> None:
        """Nothing applies to a deleted token."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        issuer.delete(serial, actor="admin", at=NOW)
        with pytest.raises(TokenStateError) as info:
            issuer.delete(serial, actor="admin", at=NOW)
        assert ("delete", "deleted") == (info.value.operation, info.value.state)


class TestEndedTokensNeverVerify:
    """Blocked, released and deleted tokens never verify (SECURITY.md S15)."""

    @pytest.mark.parametrize(
        ("end", "outcome"),
        [("block", "blocked"), ("release", "not_active"), ("delete", "not_active")],
    )
    def test_no_code_is_accepted_after_the_end(self, end: str, outcome: str) -> None:
        """The app's codes for the following minutes are refused by serial and by user, and
        the audit trail records the real cause."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        ends: dict[str, Callable[[], None]] = {
            "block": lambda: issuer.block(
                serial, BlockReason.DEVICE_LOST_OR_STOLEN, actor="a", at=NOW
            ),
            "release": lambda: issuer.release(
                serial, ReleaseReason.SEED_RELEASE, actor="a", at=NOW
            ),
            "delete": lambda: issuer.delete(serial, actor="a", at=NOW),
        }
        ends[end]()
        for later in range(NOW + 30, NOW + 300, 30):
            code = code_at(app, later)
            assert False is accepted(issuer, code, serial=serial, at=later)
            assert outcome == last(issuer, serial).outcome
            assert False is accepted(issuer, code, user="laura", at=later)
        assert 0 == issuer.token(serial).failures


class TestReleaseConfirmation:
    """The confirm_release policy: a release waits for a valid code from the token."""

    POLICY = IssuerPolicy(confirm_release=True)

    def waiting(self) -> tuple[Issuer, Serial, HOTP | TOTP]:
        """An issuer with one active token whose release waits for confirmation."""
        issuer = fresh(self.POLICY)
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        issuer.release(serial, ReleaseReason.USER_LEFT_COMPANY, actor="admin", at=NOW + 30)
        return issuer, serial, app

    def test_the_release_of_an_active_token_waits(self) -> None:
        """The token is RELEASE_PENDING with its reason, still holding its seed and user."""
        issuer, serial, _ = self.waiting()
        info = issuer.token(serial)
        assert (S.RELEASE_PENDING, ReleaseReason.USER_LEFT_COMPANY, "laura") == (
            info.state,
            info.release_reason,
            info.user,
        )
        assert True is seed_kept(issuer, serial)
        assert ("release", "admin", "user_left_company", "active", "release_pending") == fields(
            last(issuer, serial)
        )[:5]

    def test_verify_refuses_a_token_waiting_for_its_release(self) -> None:
        """A valid code does not log in while the release waits, by serial or by user."""
        issuer, serial, app = self.waiting()
        code = code_at(app, NOW + 60)
        assert False is accepted(issuer, code, serial=serial, at=NOW + 60)
        assert "not_active" == last(issuer, serial).outcome
        assert False is accepted(issuer, code, user="laura", at=NOW + 60)
        assert S.RELEASE_PENDING == issuer.token(serial).state

    def test_a_valid_code_completes_the_release(self) -> None:
        """confirm_release with the token's code destroys the seed and returns the token to
        its pool, with the release reason in the trail."""
        issuer, serial, app = self.waiting()
        issuer.confirm_release(serial, code_at(app, NOW + 60), at=NOW + 60)
        info = issuer.token(serial)
        assert (S.POOL, None, None) == (info.state, info.user, info.release_reason)
        assert False is seed_kept(issuer, serial)
        assert (
            "confirm_release",
            None,
            "user_left_company",
            "release_pending",
            "in_pool",
            NOW + 60,
        ) == fields(last(issuer, serial))

    def test_a_wrong_code_is_counted(self) -> None:
        """A wrong confirmation code counts a failure and the release keeps waiting; the fifth
        blocks the token."""
        issuer, serial, app = self.waiting()
        code = wrong(app, NOW + 60)
        with pytest.raises(InvalidCode):
            issuer.confirm_release(serial, code, at=NOW + 60)
        assert (S.RELEASE_PENDING, 1) == (issuer.token(serial).state, issuer.token(serial).failures)
        assert "wrong_code" == last(issuer, serial).outcome
        for _ in range(4):
            with pytest.raises(InvalidCode):
                issuer.confirm_release(serial, code, at=NOW + 60)
        info = issuer.token(serial)
        assert (S.BLOCKED, BlockReason.TOO_MANY_FAILURES, None) == (
            info.state,
            info.block_reason,
            info.release_reason,
        )

    def test_a_used_code_does_not_confirm(self) -> None:
        """The code that last logged in cannot confirm the release (it was used)."""
        issuer = fresh(self.POLICY)
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        used = code_at(app, NOW + 30)
        issuer.verify(used, user="laura", at=NOW + 30)
        issuer.release(serial, ReleaseReason.SEED_RELEASE, actor="admin", at=NOW + 30)
        with pytest.raises(InvalidCode):
            issuer.confirm_release(serial, used, at=NOW + 30)
        assert ("replay", S.RELEASE_PENDING) == (
            last(issuer, serial).outcome,
            issuer.token(serial).state,
        )

    def test_an_active_token_is_not_released_by_a_code(self) -> None:
        """confirm_release on a token whose release is not pending refuses and changes
        nothing but the trail."""
        issuer = fresh(self.POLICY)
        (serial,) = pooled(issuer)
        app = activate(issuer, serial, user="laura")
        with pytest.raises(InvalidCode):
            issuer.confirm_release(serial, code_at(app, NOW + 30), at=NOW + 30)
        assert (S.ACTIVE, True) == (issuer.token(serial).state, seed_kept(issuer, serial))

    def test_a_blocked_token_is_released_at_once(self) -> None:
        """Only an active token waits: a blocked one, which cannot confirm, is released."""
        issuer = fresh(self.POLICY)
        (serial,) = pooled(issuer)
        activate(issuer, serial, user="laura")
        issuer.block(serial, BlockReason.DEVICE_LOST_OR_STOLEN, actor="admin", at=NOW)
        issuer.release(serial, ReleaseReason.SEED_RELEASE, actor="admin", at=NOW)
        assert (S.POOL, False) == (issuer.token(serial).state, seed_kept(issuer, serial))


class TestOneDevicePerUser:
    """Activating a new token retires the user's previous one (on by default)."""

    def test_a_second_activation_retires_the_first(self) -> None:
        """The first token is blocked with device_change in the commit that activates the
        second, and both trails record it at the same time."""
        store = RecordingStore()
        issuer = fresh(store=store)
        first, second = pooled(issuer, 2)
        old_app = activate(issuer, first, user="laura")
        new_app = activate(issuer, second, user="laura", at=NOW + 60)
        assert (S.BLOCKED, BlockReason.DEVICE_CHANGE) == (
            issuer.token(first).state,
            issuer.token(first).block_reason,
        )
        assert S.ACTIVE == issuer.token(second).state
        assert ("block", None, "device_change", "active", "blocked", NOW + 60) == fields(
            last(issuer, first)
        )
        assert ("verify", None, None, "pending_confirmation", "active", NOW + 60) == fields(
            last(issuer, second)
        )
        assert sorted([str(second), str(first)]) == sorted(store.commits[-1])
        assert False is accepted(issuer, code_at(old_app, NOW + 90), serial=first, at=NOW + 90)
        assert True is accepted(issuer, code_at(new_app, NOW + 90), user="laura", at=NOW + 90)

    def test_an_import_retires_the_active_token(self) -> None:
        """Importing a seed for a user retires the user's active token in the same commit."""
        store = RecordingStore()
        issuer = fresh(store=store)
        first, second = pooled(issuer, 2)
        activate(issuer, first, user="laura")
        issuer.import_token(second, OTHER_SEED, user="laura", actor="admin", at=NOW + 30)
        assert (S.BLOCKED, BlockReason.DEVICE_CHANGE, S.ACTIVE) == (
            issuer.token(first).state,
            issuer.token(first).block_reason,
            issuer.token(second).state,
        )
        assert ("import", "admin", None, "in_pool", "active", NOW + 30) == fields(
            last(issuer, second)
        )
        assert sorted([str(second), str(first)]) == sorted(store.commits[-1])

    def test_other_users_are_not_touched(self) -> None:
        """Only the same user's tokens are retired."""
        issuer = fresh()
        first, second = pooled(issuer, 2)
        activate(issuer, first, user="laura")
        activate(issuer, second, user="ana")
        assert [S.ACTIVE, S.ACTIVE] == [issuer.token(s).state for s in (first, second)]

    def test_the_policy_can_keep_both(self) -> None:
        """With one_device_per_user off, both tokens stay active and both verify."""
        issuer = fresh(IssuerPolicy(one_device_per_user=False))
        first, second = pooled(issuer, 2)
        apps = [activate(issuer, s, user="laura") for s in (first, second)]
        assert [S.ACTIVE, S.ACTIVE] == [issuer.token(s).state for s in (first, second)]
        for serial, app in zip((first, second), apps, strict=True):
            assert True is accepted(issuer, code_at(app, NOW + 30), serial=serial, at=NOW + 30)

    def test_a_retired_token_is_not_unblocked_while_another_is_active(self) -> None:
        """Unblocking the retired token raises WrongState (not a state error: the token is
        blocked) and records nothing; once the other is released, it can be unblocked."""
        issuer = fresh()
        first, second = pooled(issuer, 2)
        activate(issuer, first, user="laura")
        activate(issuer, second, user="laura", at=NOW + 60)
        trail = len(issuer.audit(first))
        with pytest.raises(WrongState) as info:
            issuer.unblock(first, actor="admin", note="wants the old phone", at=NOW + 90)
        assert False is isinstance(info.value, TokenStateError)
        assert (S.BLOCKED, trail) == (issuer.token(first).state, len(issuer.audit(first)))
        issuer.release(second, ReleaseReason.CUSTOMER_REQUEST, actor="admin", at=NOW + 90)
        issuer.unblock(first, actor="admin", note="back to the old phone", at=NOW + 90)
        assert S.ACTIVE == issuer.token(first).state


class _InterleavingStore(MemoryStore):
    """A memory store that runs *then* right after the next lookup by user, as if another
    server acted between this one's read and its write."""

    def __init__(self) -> None:
        super().__init__()
        self.then: Callable[[], object] | None = None

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
        rows = super().find(kind, user=user, state=state, pool=pool, after=after, limit=limit)
        then, self.then = self.then, None
        if then is not None and user is not None:
            then()
        return rows


class TestOneDevicePerUserAcrossServers:
    """One device per user holds when two issuers act on one user at the same time."""

    def test_an_unblock_racing_an_activation_leaves_one_active_token(self) -> None:
        """Server A unblocks the user's old token while server B confirms a new one: whichever
        order the writes land in, the user ends with at most one active token."""
        store = _InterleavingStore()
        a, b = fresh(store=store), fresh(store=store)
        old, new = pooled(a, 2)
        activate(a, old, user="laura")
        a.block(old, BlockReason.CUSTOMER_REQUEST, actor="admin", at=NOW)
        b.assign(new, user="laura", actor="admin", at=NOW)
        started = b.start_offline_activation(new, actor="admin", kdf=FAST_KDF, at=NOW)
        registration, secret = offline.respond(new, started.activation_code, kdf=FAST_KDF)
        b.complete_offline_activation(new, registration, at=NOW)
        first = PARAMS.token(secret).generate(NOW + 30)
        # A has checked that laura has no other active token; B's first code lands before A's
        # write.
        store.then = lambda: b.confirm_activation(new, first, at=NOW + 30)
        with contextlib.suppress(WrongState):
            a.unblock(old, actor="admin", note="found the phone", at=NOW + 30)
        assert 1 == len(a.tokens(user="laura", state=S.ACTIVE))

    def test_two_first_codes_racing_leave_one_active_token(self) -> None:
        """Servers A and B confirm two new tokens of one user at once: the one confirmed last
        retires the other, so the user ends with exactly one active token."""
        store = _InterleavingStore()
        a, b = fresh(store=store), fresh(store=store)
        one, two = pooled(a, 2)
        firsts = []
        for issuer, serial in ((a, one), (b, two)):
            issuer.assign(serial, user="laura", actor="admin", at=NOW)
            started = issuer.start_offline_activation(serial, actor="admin", kdf=FAST_KDF, at=NOW)
            registration, secret = offline.respond(serial, started.activation_code, kdf=FAST_KDF)
            issuer.complete_offline_activation(serial, registration, at=NOW)
            firsts.append(PARAMS.token(secret).generate(NOW + 30))
        # A has looked for laura's active tokens (none); B's first code lands before A's write.
        store.then = lambda: b.confirm_activation(two, firsts[1], at=NOW + 30)
        a.confirm_activation(one, firsts[0], at=NOW + 30)
        assert [one] == [info.serial for info in a.tokens(user="laura", state=S.ACTIVE)]
        assert BlockReason.DEVICE_CHANGE == a.token(two).block_reason


class TestAuditFields:
    """Every transition records its actor, reason, time and the states before and after."""

    def test_a_whole_life_is_recorded(self) -> None:
        """From creation to deletion, each event carries the right action, actor, reason,
        states and time, and the chain verifies."""
        issuer = fresh()
        (serial,) = issuer.create_tokens(1, actor="ops", at=NOW)
        issuer.assign_pool(serial, "acme", actor="ops-2", at=NOW + 1)
        issuer.assign(serial, user="laura", actor="admin-1", at=NOW + 2)
        started = issuer.start_offline_activation(serial, actor="admin-2", kdf=FAST_KDF, at=NOW + 3)
        registration, secret = offline.respond(serial, started.activation_code, kdf=FAST_KDF)
        issuer.complete_offline_activation(serial, registration, at=NOW + 4)
        app = PARAMS.token(secret)
        issuer.confirm_activation(serial, app.generate(NOW + 5), at=NOW + 5)
        issuer.block(serial, BlockReason.DEVICE_LOST_OR_STOLEN, actor="admin-3", at=NOW + 40)
        issuer.unblock(serial, actor="admin-4", note="phone found", at=NOW + 41)
        issuer.reset_drift(serial, actor="admin-5", at=NOW + 42)
        issuer.release(serial, ReleaseReason.SEED_RELEASE, actor="admin-6", at=NOW + 43)
        issuer.delete(serial, actor="admin-7", at=NOW + 44)
        expected = [
            ("create", "ops", None, None, "available", NOW),
            ("assign_pool", "ops-2", None, "available", "in_pool", NOW + 1),
            ("assign", "admin-1", None, "in_pool", "assigned", NOW + 2),
            ("start_activation", "admin-2", None, "assigned", "assigned", NOW + 3),
            ("complete_activation", None, None, "assigned", "pending_confirmation", NOW + 4),
            ("verify", None, None, "pending_confirmation", "active", NOW + 5),
            ("block", "admin-3", "device_lost_or_stolen", "active", "blocked", NOW + 40),
            ("unblock", "admin-4", "phone found", "blocked", "active", NOW + 41),
            ("reset_drift", "admin-5", None, "active", "active", NOW + 42),
            ("release", "admin-6", "seed_release", "active", "in_pool", NOW + 43),
            ("delete", "admin-7", None, "in_pool", "deleted", NOW + 44),
        ]
        events = issuer.audit(serial)
        assert expected == [fields(event) for event in events]
        assert list(range(1, len(expected) + 1)) == [event.seq for event in events]
        assert len(expected) == issuer.verify_audit(serial)

    def test_a_refused_operation_records_nothing(self) -> None:
        """A transition that is not allowed leaves the trail and the record as they were."""
        issuer = fresh()
        (serial,) = pooled(issuer)
        version = issuer.token(serial).version
        calls: list[Callable[[], None]] = [
            lambda: issuer.unblock(serial, actor="a", note="n", at=NOW),
            lambda: issuer.block(serial, BlockReason.USER_INACTIVE, actor="a", at=NOW),
            lambda: issuer.reset_drift(serial, actor="a", at=NOW),
        ]
        for call in calls:
            with pytest.raises(TokenStateError):
                call()
        assert (1, version) == (len(issuer.audit(serial)), issuer.token(serial).version)
