"""The issuer's plumbing: read a record, run a pure transition, write it by compare-and-set.

:class:`Engine` is what :class:`~softtoken.issuer.Issuer` is built on. It opens and seals rows
with the key ring, chains the audit events of every change, and applies a plan atomically,
retrying a bounded number of times from a fresh read when another writer changed a record first
(ARCHITECTURE.md: a pure core and a thin store). A plan is a function of the record and the time;
it may be run more than once, and only the run whose write won is ever answered.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

import attrs

from softtoken import _random
from softtoken._time import to_unix
from softtoken.exceptions import StoreConflict, UnknownToken
from softtoken.issuer import audit
from softtoken.issuer.audit import AuditEvent
from softtoken.issuer.keyring import Keyring
from softtoken.issuer.lifecycle import Change
from softtoken.issuer.policy import IssuerPolicy
from softtoken.issuer.records import CodeRecord, TokenRecord
from softtoken.issuer.rows import code_key, open_code, open_token, seal
from softtoken.issuer.stores.base import Row, Store, Write
from softtoken.provisioning.identifiers import Serial

__all__ = ["LOG", "Clock", "CodeChange", "Engine"]

LOG: Final = logging.getLogger("softtoken.issuer")
"""Refusals and failures are logged here, with their cause and never a secret or a code."""

Clock = Callable[[], "int | dt.datetime"]
_T = TypeVar("_T")
_MAX_BACKOFF: Final = 0.005
UNKNOWN_PREFIX: Final = "unknown:"
"""The subject prefix of the audit events of refusals that found no record."""


def _system_clock() -> int:
    return int(time.time())


@attrs.frozen
class UserGuard:
    """A user's guard row, as read before the user's tokens were read.

    One device per user is a rule over several tokens, and a compare-and-set on each token
    cannot hold it: an unblock and an activation for one user change different tokens. So every
    change that makes a token active for a user also writes the user's guard row, by
    compare-and-set on the version read here, before the user's tokens were read; of two such
    changes in flight, one loses, reads again and sees the other's token.
    """

    user: str
    seen: int | None


@attrs.frozen
class CodeChange:
    """An out-of-band code's record before (None for the first), after, and what to audit."""

    before: CodeRecord | None
    after: CodeRecord
    entry: audit.Action
    outcome: str


class Engine:
    """A store, a key ring, a policy and a clock, and the atomic apply loop over them."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        *,
        policy: IssuerPolicy,
        clock: Clock | None,
    ) -> None:
        if not isinstance(keyring, Keyring) or not isinstance(policy, IssuerPolicy):
            raise TypeError("keyring must be a Keyring and policy an IssuerPolicy")
        self.store = store
        self.keyring = keyring
        self.policy = policy
        self._clock: Clock = clock or _system_clock

    def now(self, at: int | dt.datetime | None) -> int:
        """*at*, or the clock's time, as Unix seconds (raises InvalidTime or TypeError)."""
        return to_unix(self._clock() if at is None else at)

    # ----------------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------------

    def load(self, serial: Serial) -> TokenRecord | None:
        row = self.store.get("token", str(serial))
        return None if row is None else open_token(self.keyring, row)

    def require(self, serial: Serial) -> TokenRecord:
        record = self.load(serial)
        if record is None:
            raise UnknownToken()
        return record

    def tokens(
        self, *, user: str | None = None, state: str | None = None, pool: str | None = None
    ) -> list[TokenRecord]:
        rows = self.store.find("token", user=user, state=state, pool=pool)
        return [open_token(self.keyring, row) for row in rows]

    def guard(self, user: str) -> UserGuard:
        """Read *user*'s guard row; read it before the user's tokens (see :class:`UserGuard`)."""
        row = self.store.get("user", user)
        return UserGuard(user, None if row is None else row.version)

    def load_code(self, user: str, purpose: str) -> CodeRecord | None:
        row = self.store.get("code", code_key(user, purpose))
        return None if row is None else open_code(self.keyring, row)

    # ----------------------------------------------------------------------------------------
    # Writing
    # ----------------------------------------------------------------------------------------

    def commit(
        self, changes: Sequence[Change | UserGuard], now: int, codes: Sequence[CodeChange] = ()
    ) -> bool:
        """Seal, chain and write *changes* (several of one token are merged into one write, its
        events in order; a user guard is moved one version on) and *codes*, in one store
        transaction."""
        writes: list[Write] = []
        events: list[AuditEvent] = []
        latest: dict[str, tuple[int | None, TokenRecord]] = {}
        order: list[str] = []
        for change in changes:
            if isinstance(change, UserGuard):
                writes.append(Write(_guard_row(change), change.seen))
                continue
            key = str(change.after.serial)
            previous = latest.get(key)
            head_record = previous[1] if previous else change.before
            head = (0, audit.GENESIS) if head_record is None else _head(head_record)
            event = audit.chain(
                self.keyring,
                head=head,
                subject=key,
                at=now,
                action=change.entry.action,
                actor=change.entry.actor,
                outcome=change.entry.outcome,
                reason=change.entry.reason,
                before=None if change.before is None else change.before.state.value,
                after=change.after.state.value,
            )
            after = attrs.evolve(change.after, audit_seq=event.seq, audit_mac=event.mac)
            if previous is None:
                order.append(key)
                seen = None if change.before is None else change.before.version
            else:
                seen = previous[0]
            latest[key] = (seen, after)
            events.append(event)
        for key in order:
            seen, record = latest[key]
            writes.append(Write(seal(self.keyring, record), seen))
        for item in codes:
            head = (0, audit.GENESIS) if item.before is None else _head(item.before)
            event = audit.chain(
                self.keyring,
                head=head,
                subject=code_key(item.after.user, item.after.purpose),
                at=now,
                action=item.entry,
                actor=None,
                outcome=item.outcome,
            )
            after_code = attrs.evolve(item.after, audit_seq=event.seq, audit_mac=event.mac)
            seen = None if item.before is None else item.before.version
            writes.append(Write(seal(self.keyring, after_code), seen))
            events.append(event)
        return self.store.commit(writes, events)

    def record_unknown(self, now: int, action: audit.Action, outcome: str) -> None:
        """Audit a refusal that found no record, in a chain of its own.

        A refusal for a known token writes its event in the same transaction as its failure
        count. One for an unknown serial, user or code writes this single event, so that it
        costs the same database write and the trail still records its cause. The chain's
        subject is ``unknown:`` and a random id: no head to contend for, and nothing typed
        by the caller (which might be a mistyped secret) in it.
        """
        subject = UNKNOWN_PREFIX + _random.random_bytes(8).hex()
        event = audit.chain(
            self.keyring,
            head=(0, audit.GENESIS),
            subject=subject,
            at=now,
            action=action,
            actor=None,
            outcome=outcome,
        )
        self.store.commit((), (event,))

    def apply(
        self,
        serial: Serial,
        plan: Callable[[TokenRecord, int], tuple[_T, Sequence[Change | UserGuard]]],
        at: int | dt.datetime | None,
        *,
        row: Row | None = None,
    ) -> _T:
        """Run *plan* on the token's record and the time, and write its changes atomically;
        retried from a fresh read when another writer got there first. A *row* the caller has
        just read stands in for the first read.

        Raises:
            UnknownToken: no token has this serial. StoreConflict: every retry lost.
            SoftTokenError: what *plan* raises, such as TokenStateError; nothing is written.
        """
        for attempt in range(self.policy.retries):
            if attempt == 0 and row is not None:
                record = open_token(self.keyring, row)
            else:
                record = self.require(serial)
            now = self.now(at)
            result, changes = plan(record, now)
            if self.commit(changes, now):
                return result
            backoff(attempt)
        raise StoreConflict()

    def apply_code(
        self,
        user: str,
        purpose: str,
        plan: Callable[[CodeRecord | None, int], tuple[_T, CodeChange | None]],
        at: int | dt.datetime | None,
    ) -> _T:
        """:meth:`apply` for a user's out-of-band code (the record may not exist yet; a plan that
        returns no change writes nothing)."""
        for attempt in range(self.policy.retries):
            record = self.load_code(user, purpose)
            now = self.now(at)
            result, change = plan(record, now)
            if change is None or self.commit((), now, (change,)):
                return result
            backoff(attempt)
        raise StoreConflict()


def _guard_row(guard: UserGuard) -> Row:
    # The row holds nothing but the user, an index column, and its version: nothing to seal.
    version = (guard.seen or 0) + 1
    return Row(
        kind="user",
        key=guard.user,
        version=version,
        user=guard.user,
        state=None,
        pool=None,
        key_id="",
        sealed=b"",
    )


def _head(record: TokenRecord | CodeRecord) -> tuple[int, bytes]:
    return record.audit_seq, record.audit_mac


def backoff(attempt: int) -> None:
    """Wait a little, with jitter, before retrying a lost compare-and-set, so that writers that
    collided do not collide again in step."""
    ceiling = min(_MAX_BACKOFF, 0.0002 * (attempt + 1))
    time.sleep(ceiling * _random.random_bytes(1)[0] / 255)
