"""The token lifecycle as pure transitions (ARCHITECTURE.md seed flow 6, SECURITY.md S15).

Each function takes a :class:`TokenRecord` and what the operation needs, checks that the
operation applies to the record's state (else :class:`~softtoken.exceptions.TokenStateError`,
naming both), and returns a :class:`Change`: the new record, one version higher, and the
:class:`Entry` to audit. Nothing here reads a clock, a store or a key ring.

The states and what leads between them::

    AVAILABLE --assign_pool--> POOL --assign--> ASSIGNED --start/complete--> PENDING_CONFIRMATION
    PENDING_CONFIRMATION --first code--> ACTIVE <--unblock-- BLOCKED <--block / 5 failures-- ACTIVE
    ACTIVE, BLOCKED, ASSIGNED, PENDING_CONFIRMATION --release--> POOL (or AVAILABLE), seed destroyed
    ACTIVE --release, confirm_release policy--> RELEASE_PENDING --code--> POOL
    any but DELETED --delete--> DELETED, seed destroyed

A released or deleted seed is gone: the record keeps no copy, and the next activation derives a
new seed under a new ``generation``, which the sealing binds, so that no old seed can be put back.
"""

from __future__ import annotations

from typing import Final

import attrs

from softtoken.exceptions import InvalidInput, TokenStateError
from softtoken.issuer.audit import Action
from softtoken.issuer.records import (
    BlockReason,
    PendingKind,
    ReleaseReason,
    TokenRecord,
    TokenState,
    Window,
    check_name,
)
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import TokenParams
from softtoken.throttle import ThrottleState

__all__ = [
    "ALLOWED",
    "Change",
    "Entry",
    "activate",
    "assign",
    "assign_pool",
    "block",
    "changed",
    "create",
    "delete",
    "finish_release",
    "imported",
    "release",
    "require",
    "reset_drift",
    "retire",
    "set_window",
    "start_activation",
    "unblock",
]

S = TokenState
ALLOWED: Final[dict[str, frozenset[TokenState]]] = {
    "assign_pool": frozenset({S.AVAILABLE}),
    "assign": frozenset({S.AVAILABLE, S.POOL}),
    "import_token": frozenset({S.AVAILABLE, S.POOL}),
    "start_offline_activation": frozenset({S.ASSIGNED, S.PENDING_CONFIRMATION}),
    "complete_offline_activation": frozenset({S.ASSIGNED, S.PENDING_CONFIRMATION}),
    "resync": frozenset({S.ACTIVE}),
    "reset_drift": frozenset({S.ACTIVE, S.BLOCKED}),
    "set_window": frozenset({S.ACTIVE, S.BLOCKED}),
    "block": frozenset({S.ACTIVE, S.RELEASE_PENDING}),
    "unblock": frozenset({S.BLOCKED}),
    "release": frozenset({S.ASSIGNED, S.PENDING_CONFIRMATION, S.ACTIVE, S.BLOCKED}),
    "delete": frozenset(set(S) - {S.DELETED}),
    "unlock_code": frozenset({S.ACTIVE}),
}
"""The states each administrator operation applies to."""


@attrs.frozen
class Entry:
    """What to write to the audit trail for one change: never a secret."""

    action: Action
    outcome: str
    actor: str | None = None
    reason: str | None = None


@attrs.frozen
class Change:
    """A transition's result: the record before (None for a new token), after, and the entry."""

    before: TokenRecord | None
    after: TokenRecord
    entry: Entry


def require(record: TokenRecord, operation: str) -> None:
    """Raise :class:`TokenStateError` unless *operation* applies to *record*'s state."""
    if record.state not in ALLOWED[operation]:
        raise TokenStateError(operation, record.state.value)


def changed(record: TokenRecord, now: int, **changes: object) -> TokenRecord:
    """*record* with *changes*, one version later, updated at *now*."""
    return attrs.evolve(
        record,
        version=record.version + 1,
        updated_at=now,
        **changes,  # type: ignore[arg-type]
    )


def _actor(actor: str | None) -> str | None:
    return None if actor is None else check_name(actor, "actor")


def create(serial: Serial, *, pool: str | None, actor: str | None, now: int) -> Change:
    """A new token in stock, or in *pool*'s pool."""
    state = S.AVAILABLE if pool is None else S.POOL
    record = TokenRecord(serial=serial, state=state, version=1, pool=pool, updated_at=now)
    return Change(None, record, Entry(Action.CREATE, "created", _actor(actor)))


def assign_pool(record: TokenRecord, pool: str, *, actor: str | None, now: int) -> Change:
    """Put a token from stock into a company's pool."""
    require(record, "assign_pool")
    after = changed(record, now, state=S.POOL, pool=check_name(pool, "pool"))
    return Change(record, after, Entry(Action.ASSIGN_POOL, "assigned_to_pool", _actor(actor)))


def assign(record: TokenRecord, user: str, *, actor: str | None, now: int) -> Change:
    """Assign a token to *user*; its activation is then pending."""
    require(record, "assign")
    after = changed(record, now, state=S.ASSIGNED, user=check_name(user, "user"))
    return Change(record, after, Entry(Action.ASSIGN, "assigned", _actor(actor)))


def start_activation(record: TokenRecord, pending: bytes, *, actor: str | None, now: int) -> Change:
    """Store a new offline activation (its encoded pending value), replacing any earlier one."""
    require(record, "start_offline_activation")
    after = changed(
        record, now, state=S.ASSIGNED, pending_kind=PendingKind.OFFLINE, pending=pending
    )
    return Change(record, after, Entry(Action.START_ACTIVATION, "started", _actor(actor)))


def _fresh_seed(
    record: TokenRecord,
    now: int,
    params: TokenParams,
    seed: bytes,
    counter: int,
    window: Window,
    **changes: object,
) -> TokenRecord:
    return changed(
        record,
        now,
        state=S.ACTIVE,
        params=params,
        seed=seed,
        generation=record.generation + 1,
        last_counter=counter,
        drift=0,
        window=window,
        throttle=ThrottleState(),
        pending_kind=None,
        pending=None,
        **changes,
    )


def activate(
    record: TokenRecord, params: TokenParams, seed: bytes, counter: int, window: Window, now: int
) -> Change:
    """A confirmed first code: the token is active with its new seed, and *counter* (the first
    code's step or counter) is its replay floor."""
    after = _fresh_seed(record, now, params, seed, counter, window)
    return Change(record, after, Entry(Action.VERIFY, "activated"))


def imported(
    record: TokenRecord,
    *,
    user: str,
    params: TokenParams,
    seed: bytes,
    window: Window,
    actor: str | None,
    now: int,
) -> Change:
    """A seed brought from elsewhere (a migration): the token is active for *user* at once."""
    require(record, "import_token")
    after = _fresh_seed(record, now, params, seed, -1, window, user=check_name(user, "user"))
    return Change(record, after, Entry(Action.IMPORT, "imported", _actor(actor)))


def retire(record: TokenRecord, now: int) -> Change:
    """Block the user's previous token because a new one was activated (one device per user)."""
    after = changed(record, now, state=S.BLOCKED, block_reason=BlockReason.DEVICE_CHANGE)
    entry = Entry(Action.BLOCK, "retired", reason=BlockReason.DEVICE_CHANGE.value)
    return Change(record, after, entry)


def block(record: TokenRecord, reason: BlockReason, *, actor: str, now: int) -> Change:
    """An administrator blocks a token. The automatic reason cannot be given by hand."""
    if not isinstance(reason, BlockReason):
        raise TypeError("reason must be a BlockReason")
    if reason is BlockReason.TOO_MANY_FAILURES:
        raise InvalidInput("too_many_failures is set by the issuer itself, not by hand")
    require(record, "block")
    # Only a token with a seed can be blocked; one still activating is released or deleted.
    after = changed(record, now, state=S.BLOCKED, block_reason=reason, release_reason=None)
    return Change(record, after, Entry(Action.BLOCK, "blocked", _actor(actor), reason.value))


def unblock(record: TokenRecord, *, actor: str, note: str | None, now: int) -> Change:
    """An administrator lifts a block, with an optional *note* for the audit trail's reason;
    the failure count starts again at 0."""
    require(record, "unblock")
    throttle = ThrottleState(episode=record.throttle.episode, version=record.throttle.version + 1)
    after = changed(record, now, state=S.ACTIVE, block_reason=None, throttle=throttle)
    reason = None if note is None else check_name(note, "note")
    entry = Entry(Action.UNBLOCK, "unblocked", _actor(actor), reason)
    return Change(record, after, entry)


def _back_to_pool(record: TokenRecord, now: int) -> TokenRecord:
    return changed(
        record,
        now,
        state=S.AVAILABLE if record.pool is None else S.POOL,
        user=None,
        params=None,
        seed=None,
        last_counter=-1,
        drift=0,
        throttle=ThrottleState(),
        block_reason=None,
        release_reason=None,
        pending_kind=None,
        pending=None,
    )


def release(
    record: TokenRecord, reason: ReleaseReason, *, confirm: bool, actor: str, now: int
) -> Change:
    """Release a token's seed. With *confirm* and an active token, the release waits for a code
    (:func:`finish_release`); otherwise the seed is destroyed now and the token goes back to its
    company's pool (or to stock)."""
    if not isinstance(reason, ReleaseReason):
        raise TypeError("reason must be a ReleaseReason")
    require(record, "release")
    if confirm and record.state is S.ACTIVE:
        after = changed(record, now, state=S.RELEASE_PENDING, release_reason=reason)
        outcome = "awaiting_confirmation"
    else:
        after = _back_to_pool(record, now)
        outcome = "released"
    return Change(record, after, Entry(Action.RELEASE, outcome, _actor(actor), reason.value))


def finish_release(record: TokenRecord, now: int) -> Change:
    """A code from the token confirmed its pending release: the seed is destroyed."""
    reason = record.release_reason
    after = _back_to_pool(record, now)
    entry = Entry(
        Action.CONFIRM_RELEASE, "released", reason=None if reason is None else reason.value
    )
    return Change(record, after, entry)


def delete(record: TokenRecord, *, actor: str, now: int) -> Change:
    """Delete a token for good: its seed and its activation are destroyed."""
    require(record, "delete")
    after = changed(
        record,
        now,
        state=S.DELETED,
        user=None,
        pool=None,
        params=None,
        seed=None,
        throttle=ThrottleState(),
        block_reason=None,
        release_reason=None,
        pending_kind=None,
        pending=None,
    )
    return Change(record, after, Entry(Action.DELETE, "deleted", _actor(actor)))


def reset_drift(record: TokenRecord, *, actor: str, now: int) -> Change:
    """An operator sets a token's learned drift back to 0."""
    require(record, "reset_drift")
    after = changed(record, now, drift=0)
    return Change(record, after, Entry(Action.RESET_DRIFT, "drift_reset", _actor(actor)))


def set_window(record: TokenRecord, window: Window, *, actor: str, now: int) -> Change:
    """An operator sets one token's window."""
    if not isinstance(window, Window):
        raise TypeError("window must be Window")
    require(record, "set_window")
    if record.params is not None:
        window.check_for(record.params)
    after = changed(record, now, window=window)
    outcome = f"window_{window.past}_{window.future}"
    return Change(record, after, Entry(Action.SET_WINDOW, outcome, _actor(actor)))
