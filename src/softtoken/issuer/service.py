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
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

import attrs

from softtoken import _random
from softtoken._checkdigit import luhn_valid
from softtoken._checks import check_int, check_key
from softtoken._kdf import ScryptParams
from softtoken.exceptions import (
    ActivationRefused,
    InvalidCode,
    InvalidRecord,
    StoreConflict,
    WrongState,
)
from softtoken.hotp import TOTP, Match, generate_key
from softtoken.issuer import lifecycle, verification
from softtoken.issuer.audit import Action, AuditEvent, verify_chain
from softtoken.issuer.engine import LOG, Clock, Engine
from softtoken.issuer.keyring import Keyring
from softtoken.issuer.lifecycle import Change, Entry
from softtoken.issuer.maintenance import KeyRotation
from softtoken.issuer.outofband import OutOfBandCodes
from softtoken.issuer.policy import DEFAULT_POLICY, IssuerPolicy
from softtoken.issuer.records import (
    BlockReason,
    PendingKind,
    ReleaseReason,
    TokenRecord,
    TokenState,
    Window,
    check_name,
)
from softtoken.issuer.rows import code_key
from softtoken.issuer.stores.base import Store
from softtoken.issuer.tokeninfo import TokenInfo
from softtoken.issuer.verification import Cause
from softtoken.provisioning import offline
from softtoken.provisioning.identifiers import ActivationCode, RegistrationCode, Serial
from softtoken.provisioning.offline import OFFLINE_KDF, PendingOffline
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.unlock import compute_unlock_code

__all__ = ["Issuer", "OfflineActivation"]

_T = TypeVar("_T")
_Plan = Callable[[TokenRecord, int], tuple[_T, Sequence[Change]]]
_SERIAL_DRAWS: Final = 100
_MAX_CREATE: Final = 10_000


@attrs.frozen
class OfflineActivation:
    """An offline activation the bank has opened: show the code to the user once.

    Attributes:
        serial: the token's serial.
        activation_code: the one-time activation code (hidden from ``repr``; ``.display`` gives
            the grouped form).
        expires_at: Unix seconds from which the activation is refused.
    """

    serial: Serial
    activation_code: ActivationCode
    expires_at: int


class _Decoys:
    """Keys no token has, so that a refusal without a token costs the work of a wrong code."""

    def __init__(self) -> None:
        key = generate_key()
        self._tokens = {digits: TOTP(key, digits=digits) for digits in range(6, 11)}

    def spend(self, code: str, now: int) -> None:
        token = self._tokens.get(len(code), self._tokens[6])
        try:
            token.verify(code.rjust(token.digits, "0")[: token.digits], at=now)
        except InvalidCode:
            return


def _bare_code(code: object) -> str:
    """*code*, if it is 6 to 10 ASCII digits: a shape that tells nothing about any token."""
    if not isinstance(code, str):
        raise TypeError("a code must be str")
    if not (6 <= len(code) <= 10 and code.isascii() and code.isdigit()):
        raise InvalidCode()
    return code


class Issuer(OutOfBandCodes, KeyRotation):
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
        self._decoys = _Decoys()

    def __repr__(self) -> str:
        return f"Issuer(store={self._engine.store!r}, keyring={self._engine.keyring!r})"

    @property
    def policy(self) -> IssuerPolicy:
        return self._engine.policy

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
            changes: list[Change] = []
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

    # ----------------------------------------------------------------------------------------
    # Offline activation (ARCHITECTURE.md seed flow 1)
    # ----------------------------------------------------------------------------------------

    def start_offline_activation(
        self,
        serial: Serial | str,
        *,
        actor: str,
        params: TokenParams = DEFAULT_PARAMS,
        ttl: int = offline.DEFAULT_TTL,
        attempts: int = offline.DEFAULT_ATTEMPTS,
        kdf: ScryptParams = OFFLINE_KDF,
        at: int | dt.datetime | None = None,
    ) -> OfflineActivation:
        """Open an offline activation for an assigned token; any earlier one is replaced.

        Returns the activation code to show the user once; the issuer keeps only its
        activation key, sealed.
        """

        def plan(record: TokenRecord, now: int) -> tuple[OfflineActivation, list[Change]]:
            lifecycle.require(record, "start_offline_activation")
            code, pending = offline.start(
                record.serial, now=now, params=params, ttl=ttl, attempts=attempts, kdf=kdf
            )
            change = lifecycle.start_activation(record, pending.to_bytes(), actor=actor, now=now)
            return OfflineActivation(record.serial, code, pending.expires_at), [change]

        return self._engine.apply(Serial.of(serial), plan, at)

    def complete_offline_activation(
        self,
        serial: Serial | str,
        registration_code: RegistrationCode | str,
        *,
        at: int | dt.datetime | None = None,
    ) -> None:
        """Take the registration code the app showed (one scrypt run). The token then waits for
        its first code (:meth:`confirm_activation`, or :meth:`verify`).

        Raises:
            MistypedCode, InvalidIdentifier: the registration code was mistyped; nothing counted.
            ActivationRefused: expired, finished, spent, or no activation open; the audit trail
                says which.
        """
        code = RegistrationCode.of(registration_code)

        def plan(record: TokenRecord, now: int) -> tuple[bool, list[Change]]:
            lifecycle.require(record, "complete_offline_activation")
            pending = _pending_of(record)
            if pending is None:
                change = Change(
                    record,
                    lifecycle.changed(record, now),
                    Entry(Action.COMPLETE_ACTIVATION, "no_activation"),
                )
                return False, [change]
            outcome, after, _ = offline.complete(pending, code, now=now)
            waiting = outcome is offline.Outcome.AWAITING_FIRST_CODE
            state = TokenState.PENDING_CONFIRMATION if waiting else TokenState.ASSIGNED
            new = lifecycle.changed(record, now, state=state, pending=after.to_bytes())
            return waiting, [Change(record, new, Entry(Action.COMPLETE_ACTIVATION, outcome.value))]

        if not self._engine.apply(Serial.of(serial), plan, at):
            raise ActivationRefused()

    def confirm_activation(
        self, serial: Serial | str, code: str, *, at: int | dt.datetime | None = None
    ) -> Match:
        """Verify the first code of a token pending confirmation: :meth:`verify` by serial."""
        return self.verify(code, serial=serial, at=at)

    # ----------------------------------------------------------------------------------------
    # Verification (SECURITY.md S4 to S8, S16)
    # ----------------------------------------------------------------------------------------

    def verify(
        self,
        code: str,
        *,
        user: str | None = None,
        serial: Serial | str | None = None,
        at: int | dt.datetime | None = None,
    ) -> Match:
        """Accept *code* from *user*'s active token, or from the token *serial*.

        A token pending its first code is confirmed by it (and becomes active). By user, the
        user's active token answers; a user with none but one pending confirmation, that one.

        Returns:
            The :class:`~softtoken.Match`: the step or counter, and the drift.

        Raises:
            InvalidCode: for every refusal, with one message (see the module docstring).
            TypeError: give exactly one of *user* and *serial*.
        """
        if (user is None) == (serial is None):
            raise TypeError("give exactly one of user and serial")
        bare = _bare_code(code)
        match: Match | None = None
        failed: str | None = None
        try:
            match = self._verify(bare, user, serial, at, Action.VERIFY)
        except Exception as error:
            failed = type(error).__name__
        if failed is not None:
            LOG.error("verification failed closed: %s", failed)
        if match is None:
            raise InvalidCode()
        return match

    def confirm_release(
        self, serial: Serial | str, code: str, *, at: int | dt.datetime | None = None
    ) -> Match:
        """Complete a release that waits for a code from the token (``confirm_release``
        policy). Raises InvalidCode exactly as :meth:`verify`."""
        bare = _bare_code(code)
        match: Match | None = None
        failed: str | None = None
        try:
            match = self._verify(bare, None, serial, at, Action.CONFIRM_RELEASE)
        except Exception as error:
            failed = type(error).__name__
        if failed is not None:
            LOG.error("release confirmation failed closed: %s", failed)
        if match is None:
            raise InvalidCode()
        return match

    def _candidates(self, user: str | None, serial: Serial | str | None) -> list[Serial]:
        if serial is not None:
            parsed = _serial_or_none(serial)
            return [] if parsed is None else [parsed]
        check_name(user, "user")
        for state in (TokenState.ACTIVE, TokenState.PENDING_CONFIRMATION):
            rows = self._engine.store.find("token", user=user, state=state.value)
            if rows:
                return [Serial.parse(row.key) for row in rows]
        return []

    def _verify(
        self,
        code: str,
        user: str | None,
        serial: Serial | str | None,
        at: int | dt.datetime | None,
        action: Action,
    ) -> Match | None:
        candidates = self._candidates(user, serial)
        if not candidates or self._engine.load(candidates[0]) is None:
            self._decoys.spend(code, self._engine.now(at))
            LOG.info("code refused: unknown_token")
            return None
        for candidate in candidates:
            match = self._engine.apply(candidate, self._verify_plan(code, action), at)
            if match is not None:
                return match
        return None

    def _verify_plan(self, code: str, action: Action) -> _Plan[Match | None]:
        def plan(record: TokenRecord, now: int) -> tuple[Match | None, list[Change]]:
            if record.state is TokenState.PENDING_CONFIRMATION and action is Action.VERIFY:
                return self._first_code(record, code, now)
            cause, change, match = verification.check(record, code, now, self.policy, action=action)
            if cause in (Cause.NOT_ACTIVE, Cause.BLOCKED):
                self._decoys.spend(code, now)
            if match is None:
                LOG.info("code refused: %s", cause.value)
            return match, [change]

        return plan

    def _first_code(
        self, record: TokenRecord, code: str, now: int
    ) -> tuple[Match | None, list[Change]]:
        pending = _pending_of(record)
        if pending is None or len(code) != pending.params.digits:
            self._decoys.spend(code, now)
            refused = Change(
                record, lifecycle.changed(record, now), Entry(Action.VERIFY, "first_code_refused")
            )
            return None, [refused]
        outcome, after, token = offline.confirm(pending, code, now=now)
        if token is None:
            state = (
                TokenState.PENDING_CONFIRMATION
                if after.candidate is not None
                else TokenState.ASSIGNED
            )
            new = lifecycle.changed(record, now, state=state, pending=after.to_bytes())
            LOG.info("first code refused: %s", outcome.value)
            return None, [Change(record, new, Entry(Action.VERIFY, f"first_code_{outcome.value}"))]
        activated = lifecycle.activate(
            record, token.params, token.secret, token.match.counter, self.policy.window, now
        )
        return token.match, [activated, *self._retirements(activated.after, now)]

    def _retirements(self, activated: TokenRecord, now: int) -> list[Change]:
        """With one device per user, retire the user's other active tokens."""
        if not self.policy.one_device_per_user or activated.user is None:
            return []
        others = self._engine.tokens(user=activated.user, state=TokenState.ACTIVE.value)
        return [
            lifecycle.retire(other, now) for other in others if other.serial != activated.serial
        ]

    def resync(
        self,
        serial: Serial | str,
        first_code: str,
        second_code: str,
        *,
        actor: str,
        at: int | dt.datetime | None = None,
    ) -> Match:
        """Find a drifted token from two consecutive codes (RFC 4226 §7.4, RFC 6238 §6), and
        learn its drift or counter. A failed resync counts one failure.

        Raises:
            InvalidCode: the codes were not two consecutive ones in the span.
            TokenStateError: the token is not active.
        """
        first, second = _bare_code(first_code), _bare_code(second_code)
        check_name(actor, "actor")

        def plan(record: TokenRecord, now: int) -> tuple[Match | None, list[Change]]:
            lifecycle.require(record, "resync")
            _cause, change, match = verification.resync(record, first, second, now, self.policy)
            entry = attrs.evolve(change.entry, actor=actor)
            return match, [attrs.evolve(change, entry=entry)]

        match = self._engine.apply(Serial.of(serial), plan, at)
        if match is None:
            raise InvalidCode()
        return match

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
        self, serial: Serial | str, *, actor: str, note: str, at: int | dt.datetime | None = None
    ) -> None:
        """Lift a block, an audited administrator action; *note* says why (no secrets).

        Raises:
            TokenStateError: the token is not blocked.
            WrongState: with one device per user, the user has another active token.
        """

        def plan(record: TokenRecord, now: int) -> tuple[None, list[Change]]:
            change = lifecycle.unblock(record, actor=actor, note=note, now=now)
            if self.policy.one_device_per_user and record.user is not None:
                others = self._engine.store.find("token", user=record.user, state="active")
                if any(row.key != str(record.serial) for row in others):
                    raise WrongState("the user has another active token (one device per user)")
            return None, [change]

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
        return verify_chain(self._engine.keyring, events, (record.audit_seq, record.audit_mac))

    def code_audit(self, *, user: str, purpose: str) -> list[AuditEvent]:
        """The audit trail of *user*'s out-of-band codes for *purpose*."""
        return self._engine.store.events(code_key(user, purpose))

    def verify_code_audit(self, *, user: str, purpose: str) -> int:
        """:meth:`verify_audit` for an out-of-band code's chain."""
        record = self._engine.load_code(user, purpose)
        events = self.code_audit(user=user, purpose=purpose)
        head = (0, bytes(32)) if record is None else (record.audit_seq, record.audit_mac)
        return verify_chain(self._engine.keyring, events, head)

    @property
    def engine(self) -> Engine:
        """The plumbing (for :mod:`softtoken.issuer.maintenance` and tests)."""
        return self._engine


def _serial_or_none(value: Serial | str) -> Serial | None:
    if isinstance(value, Serial):
        return value
    if not isinstance(value, str):
        raise TypeError("serial must be a Serial or str")
    digits = value.strip().replace("-", "")
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        return None
    return Serial(digits) if luhn_valid(digits) else None


def _pending_of(record: TokenRecord) -> PendingOffline | None:
    if record.pending is None or record.pending_kind is not PendingKind.OFFLINE:
        return None
    pending = PendingOffline.from_bytes(record.pending)
    if pending.serial != record.serial:
        raise InvalidRecord("a pending activation belongs to another token")
    return pending
