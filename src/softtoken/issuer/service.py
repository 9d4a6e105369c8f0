"""The issuer service: what a bank's Python services import (ARCHITECTURE.md layer 3).

:class:`Issuer` runs the token lifecycle (:mod:`~softtoken.issuer.lifecycle`), verification
(:mod:`~softtoken.issuer.verification`) and out-of-band codes (:mod:`~softtoken.issuer.codes`)
over a store shared by any number of processes. Every operation is one pure transition applied
atomically with its audit events (:mod:`~softtoken.issuer.engine`).

**The safe path raises.** :meth:`Issuer.verify` returns a :class:`~softtoken.Match` or raises
one :class:`~softtoken.exceptions.InvalidCode`, with the same message after the same work for a
wrong code, a replay, a token that is blocked, released, deleted or still activating, an
unknown serial and an unknown user (SECURITY.md S8). It fails closed (S16): a store error, a
missing key-ring key, a corrupt record or a clock error rejects the code and changes nothing.
The audit trail, and the ``softtoken.issuer`` logger, record the real cause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

from softtoken import _random
from softtoken._checks import check_int, check_key
from softtoken.exceptions import StoreConflict, WrongState
from softtoken.issuer import lifecycle
from softtoken.issuer.activating import OfflineActivation, OfflineActivations
from softtoken.issuer.audit import Action, AuditEvent, verify_chain
from softtoken.issuer.engine import Clock, Engine, UserGuard
from softtoken.issuer.keyring import Keyring
from softtoken.issuer.lifecycle import Change, Entry
from softtoken.issuer.maintenance import KeyRotation
from softtoken.issuer.outofband import OutOfBandCodes
from softtoken.issuer.policy import DEFAULT_POLICY, IssuerPolicy
from softtoken.issuer.records import (
    BlockReason,
    ReleaseReason,
    TokenRecord,
    TokenState,
    Window,
    check_name,
)
from softtoken.issuer.rows import code_key
from softtoken.issuer.stores.base import Store
from softtoken.issuer.tokeninfo import TokenInfo
from softtoken.issuer.verifying import CodeVerification, Decoys
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import TokenParams
from softtoken.unlock import compute_unlock_code

__all__ = ["Issuer", "OfflineActivation"]

_SERIAL_DRAWS: Final = 100
_MAX_CREATE: Final = 10_000


class Issuer(OfflineActivations, CodeVerification, OutOfBandCodes, KeyRotation):
    """The bank's side of the soft token.

    Args:
        store: where records and the audit trail live (``MemoryStore`` or ``SQLStore``).
        keyring: the keys that seal records and chain the audit trail, from outside the store.
        policy: windows, limits and lifecycle options.
        clock: returns the time (int Unix seconds or an aware datetime); the system clock by
            default. Every method also takes ``at=``.
    """

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        *,
        policy: IssuerPolicy = DEFAULT_POLICY,
        clock: Clock | None = None,
    ) -> None:
        self._engine = Engine(store, keyring, policy=policy, clock=clock)
        self._decoys = Decoys()

    def __repr__(self) -> str:
        return f"Issuer(store={self._engine.store!r}, keyring={self._engine.keyring!r})"

    # ----------------------------------------------------------------------------------------
    # Stock, pools and users
    # ----------------------------------------------------------------------------------------

    def create_tokens(
        self,
        count: int,
        *,
        pool: str | None = None,
        actor: str | None = None,
        at: int | dt.datetime | None = None,
    ) -> list[Serial]:
        """Create *count* tokens (1 to 10,000) with fresh random serials, in stock or in
        *pool*'s pool. Each is its own transaction; the serials are returned in order."""
        check_int(count, "count", 1, _MAX_CREATE)
        if pool is not None:
            check_name(pool, "pool")
        return [self._create_one(pool, actor, at) for _ in range(count)]

    def _create_one(
        self, pool: str | None, actor: str | None, at: int | dt.datetime | None
    ) -> Serial:
        for _ in range(_SERIAL_DRAWS):
            serial = Serial.from_number(int(_random.random_digits(9)))
            now = self._engine.now(at)
            change = lifecycle.create(serial, pool=pool, actor=actor, now=now)
            if self._engine.commit([change], now):
                return serial
        raise WrongState("no free serial was found")

    def assign_pool(
        self, serial: Serial | str, pool: str, *, actor: str, at: int | dt.datetime | None = None
    ) -> None:
        """Put a token from stock into *pool*'s pool."""
        self._admin(serial, at, lambda r, now: lifecycle.assign_pool(r, pool, actor=actor, now=now))

    def assign(
        self, serial: Serial | str, *, user: str, actor: str, at: int | dt.datetime | None = None
    ) -> None:
        """Assign a token from stock or a pool to *user*; its activation is then pending."""
        self._admin(serial, at, lambda r, now: lifecycle.assign(r, user, actor=actor, now=now))

    def import_token(
        self,
        serial: Serial | str,
        key: bytes,
        *,
        user: str,
        kind: str = "totp",
        algorithm: str = "sha1",
        digits: int = 6,
        period: int = 30,
        actor: str | None = None,
        at: int | dt.datetime | None = None,
    ) -> TokenInfo:
        """Bring an existing seed (a migration): the token is active for *user* at once, and
        with one device per user, the user's other active tokens are retired.

        A serial the issuer does not know yet is created. *key* is sealed and never returned.

        Raises:
            KeyTooShort, InvalidInput, TypeError: the key or a parameter is not acceptable.
            TokenStateError: the token exists and is not in stock or a pool.
        """
        params = TokenParams(kind=kind, algorithm=algorithm, digits=digits, period=period)  # type: ignore[arg-type]
        check_key(key, allow_short_key=False)
        check_name(user, "user")
        parsed = Serial.of(serial)
        for _ in range(self.policy.retries):
            now = self._engine.now(at)
            record = self._engine.load(parsed)
            changes: list[Change | UserGuard] = []
            if record is None:
                created = lifecycle.create(parsed, pool=None, actor=actor, now=now)
                changes.append(created)
                record = created.after
            done = lifecycle.imported(
                record,
                user=user,
                params=params,
                seed=key,
                window=self.policy.window,
                actor=actor,
                now=now,
            )
            changes.append(done)
            changes.extend(self._retirements(done.after, now))
            if self._engine.commit(changes, now):
                return TokenInfo.of(done.after)
        raise StoreConflict()

    def reset_drift(
        self, serial: Serial | str, *, actor: str, at: int | dt.datetime | None = None
    ) -> None:
        """Set a token's learned drift back to 0 (read it with :meth:`token`)."""
        self._admin(serial, at, lambda r, now: lifecycle.reset_drift(r, actor=actor, now=now))

    def set_window(
        self,
        serial: Serial | str,
        window: Window,
        *,
        actor: str,
        at: int | dt.datetime | None = None,
    ) -> None:
        """Set one token's verification window."""
        self._admin(
            serial, at, lambda r, now: lifecycle.set_window(r, window, actor=actor, now=now)
        )

    # ----------------------------------------------------------------------------------------
    # Block, release, delete, unlock
    # ----------------------------------------------------------------------------------------

    def block(
        self,
        serial: Serial | str,
        reason: BlockReason,
        *,
        actor: str,
        at: int | dt.datetime | None = None,
    ) -> None:
        """Block an active token with *reason*; it refuses every code until :meth:`unblock`."""
        self._admin(serial, at, lambda r, now: lifecycle.block(r, reason, actor=actor, now=now))

    def unblock(
        self,
        serial: Serial | str,
        *,
        actor: str,
        note: str | None = None,
        at: int | dt.datetime | None = None,
    ) -> None:
        """Lift a block, an audited administrator action; *note*, recorded as the event's
        reason, says why (no secrets).

        Raises:
            TokenStateError: the token is not blocked.
            WrongState: with one device per user, the user has another active token.
        """

        def plan(record: TokenRecord, now: int) -> tuple[None, list[Change | UserGuard]]:
            change = lifecycle.unblock(record, actor=actor, note=note, now=now)
            if not self.policy.one_device_per_user or record.user is None:
                return None, [change]
            # The guard is read before the user's tokens, and written with the unblock: see
            # UserGuard.
            guard = self._engine.guard(record.user)
            others = self._engine.store.find("token", user=record.user, state="active")
            if any(row.key != str(record.serial) for row in others):
                raise WrongState("the user has another active token (one device per user)")
            return None, [change, guard]

        self._engine.apply(Serial.of(serial), plan, at)

    def release(
        self,
        serial: Serial | str,
        reason: ReleaseReason,
        *,
        actor: str,
        at: int | dt.datetime | None = None,
    ) -> None:
        """Release a token's seed with *reason*: the seed is destroyed and the token goes back
        to its company's pool. With the ``confirm_release`` policy, an active token's release
        waits for :meth:`confirm_release`."""
        confirm = self.policy.confirm_release
        self._admin(
            serial,
            at,
            lambda r, now: lifecycle.release(r, reason, confirm=confirm, actor=actor, now=now),
        )

    def delete(
        self, serial: Serial | str, *, actor: str, at: int | dt.datetime | None = None
    ) -> None:
        """Delete a token for good; its seed is destroyed and its audit trail kept."""
        self._admin(serial, at, lambda r, now: lifecycle.delete(r, actor=actor, now=now))

    def unlock_code(
        self,
        serial: Serial | str,
        reset_code: str,
        *,
        actor: str,
        at: int | dt.datetime | None = None,
    ) -> str:
        """The unlock code that answers the PIN reset code an active token's app shows
        (ARCHITECTURE.md seed flow 5). The issuance is audited; the codes are not.

        Raises:
            MistypedCode, MalformedCode: the reset code was mistyped; nothing is recorded.
            TokenStateError: the token is not active.
        """
        check_name(actor, "actor")

        def plan(record: TokenRecord, now: int) -> tuple[str, list[Change]]:
            lifecycle.require(record, "unlock_code")
            assert record.seed is not None  # an active token has its seed
            answer = compute_unlock_code(
                record.seed, record.serial, reset_code, digits=self.policy.unlock_digits
            )
            change = Change(
                record, lifecycle.changed(record, now), Entry(Action.UNLOCK_CODE, "issued", actor)
            )
            return answer, [change]

        return self._engine.apply(Serial.of(serial), plan, at)

    def _admin(
        self,
        serial: Serial | str,
        at: int | dt.datetime | None,
        step: Callable[[TokenRecord, int], Change],
    ) -> None:
        def plan(record: TokenRecord, now: int) -> tuple[None, list[Change]]:
            return None, [step(record, now)]

        self._engine.apply(Serial.of(serial), plan, at)

    # ----------------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------------

    def token(self, serial: Serial | str) -> TokenInfo:
        """What an administrator may see of a token: never its seed."""
        return TokenInfo.of(self._engine.require(Serial.of(serial)))

    def tokens(
        self, *, user: str | None = None, state: TokenState | None = None, pool: str | None = None
    ) -> list[TokenInfo]:
        """Tokens matching every filter given, by serial."""
        value = None if state is None else TokenState(state).value
        return [TokenInfo.of(r) for r in self._engine.tokens(user=user, state=value, pool=pool)]

    def audit(self, serial: Serial | str) -> list[AuditEvent]:
        """A token's audit trail, in order."""
        return self._engine.store.events(str(Serial.of(serial)))

    def verify_audit(self, serial: Serial | str) -> int:
        """Check a token's audit chain against its record; the number of events checked.

        Raises:
            AuditChainBroken: an event was edited, removed, reordered or inserted.
        """
        record = self._engine.require(Serial.of(serial))
        events = self.audit(record.serial)
        return verify_chain(
            self._engine.keyring,
            events,
            (record.audit_seq, record.audit_mac),
            subject=str(record.serial),
        )

    def code_audit(self, *, user: str, purpose: str) -> list[AuditEvent]:
        """The audit trail of *user*'s out-of-band codes for *purpose*."""
        return self._engine.store.events(code_key(user, purpose))

    def verify_code_audit(self, *, user: str, purpose: str) -> int:
        """:meth:`verify_audit` for an out-of-band code's chain."""
        record = self._engine.load_code(user, purpose)
        events = self.code_audit(user=user, purpose=purpose)
        head = (0, bytes(32)) if record is None else (record.audit_seq, record.audit_mac)
        return verify_chain(self._engine.keyring, events, head, subject=code_key(user, purpose))

    @property
    def engine(self) -> Engine:
        """The plumbing (for :mod:`softtoken.issuer.maintenance` and tests)."""
        return self._engine
