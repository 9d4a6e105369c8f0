"""Verifying codes on the issuer (SECURITY.md S4 to S8, S16).

A mixin of :class:`~softtoken.issuer.Issuer`. :meth:`verify` runs the pure transition of
:mod:`softtoken.issuer.verification` (or, for a token pending its first code, the offline
activation's confirmation) inside the engine's compare-and-set loop, and answers only after its
write won. Every refusal is one :class:`~softtoken.exceptions.InvalidCode`, after the same work:
a refusal that finds no token to check spends the window's HMACs on a decoy key. Any failure of
the store, the key ring, a record or the clock rejects the code (fail closed), and the
``softtoken.issuer`` logger records the cause by its type only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from softtoken._checks import valid_or_none
from softtoken.exceptions import InvalidCode, UnknownToken
from softtoken.hotp import TOTP, Match, generate_key
from softtoken.issuer import lifecycle, verification
from softtoken.issuer.activating import pending_of
from softtoken.issuer.audit import Action
from softtoken.issuer.engine import LOG, Engine, UserGuard
from softtoken.issuer.lifecycle import Change, Entry
from softtoken.issuer.policy import IssuerPolicy
from softtoken.issuer.records import TokenRecord, TokenState, check_name
from softtoken.issuer.stores.base import Row
from softtoken.issuer.verification import Cause
from softtoken.provisioning import offline
from softtoken.provisioning.identifiers import Serial

__all__ = ["CodeVerification", "bare_code"]

_T = TypeVar("_T")
_BY_USER = (
    TokenState.ACTIVE,
    TokenState.PENDING_CONFIRMATION,
    TokenState.BLOCKED,
    TokenState.RELEASE_PENDING,
    TokenState.ASSIGNED,
)
_Plan = Callable[[TokenRecord, int], tuple[_T, Sequence[Change | UserGuard]]]


class Decoys:
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


def bare_code(code: object) -> str:
    """*code*, if it is 6 to 10 ASCII digits: a shape that tells nothing about any token."""
    if not isinstance(code, str):
        raise TypeError("a code must be str")
    if not (6 <= len(code) <= 10 and code.isascii() and code.isdigit()):
        raise InvalidCode()
    return code


class CodeVerification:
    """Verify login codes, first codes and release confirmations; resync."""

    _engine: Engine
    _decoys: Decoys

    @property
    def policy(self) -> IssuerPolicy:
        """The issuer's policy."""
        return self._engine.policy

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
        return self._fail_closed(code, user, serial, at, Action.VERIFY)

    def confirm_release(
        self, serial: Serial | str, code: str, *, at: int | dt.datetime | None = None
    ) -> Match:
        """Complete a release that waits for a code from the token (``confirm_release``
        policy). Raises InvalidCode exactly as :meth:`verify`."""
        return self._fail_closed(code, None, serial, at, Action.CONFIRM_RELEASE)

    def _fail_closed(
        self,
        code: str,
        user: str | None,
        serial: Serial | str | None,
        at: int | dt.datetime | None,
        action: Action,
    ) -> Match:
        """Run :meth:`_verify`; anything but a match raises one InvalidCode (S8, S16)."""
        bare = bare_code(code)
        match: Match | None = None
        failed: str | None = None
        try:
            match = self._verify(bare, user, serial, at, action)
        except Exception as error:
            # Fail closed on anything at all: a store, key-ring, record or clock error, or a
            # bug, must reject the code. Only the error's type is logged: never its message.
            failed = type(error).__name__
        if failed is not None:
            LOG.error("%s failed closed: %s", action.value, failed)
        if match is None:
            raise InvalidCode()
        return match

    def _candidates(
        self, user: str | None, serial: Serial | str | None
    ) -> list[tuple[Serial, Row | None]]:
        """The tokens to try, each with its row when the lookup read it already."""
        if serial is not None:
            parsed = _serial_or_none(serial)
            return [] if parsed is None else [(parsed, None)]
        check_name(user, "user")
        rows = self._engine.store.find("token", user=user)
        # The token that answers for a user: an active one, else one awaiting its first code;
        # else one that cannot verify, so that the refusal is audited on it with its cause.
        for state in _BY_USER:
            chosen = [row for row in rows if row.state == state.value]
            if chosen:
                return [(Serial.parse(row.key), row) for row in chosen]
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
        for candidate, row in candidates:
            try:
                match = self._engine.apply(candidate, self._verify_plan(code, action), at, row=row)
            except UnknownToken:
                break  # Only a serial the caller gave can be unknown.
            if match is not None:
                return match
        else:
            if candidates:
                return None  # Each token was checked, and refused.
        # No token to check: spend a wrong code's work on a decoy, and write the refusal's
        # audit event as a known token's refusal would (S8).
        now = self._engine.now(at)
        self._decoys.spend(code, now)
        self._engine.record_unknown(now, action, "unknown_token")
        LOG.info("code refused: unknown_token")
        return None

    def _verify_plan(self, code: str, action: Action) -> _Plan[Match | None]:
        def plan(
            record: TokenRecord, now: int
        ) -> tuple[Match | None, Sequence[Change | UserGuard]]:
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
    ) -> tuple[Match | None, Sequence[Change | UserGuard]]:
        pending = pending_of(record)
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

    def _retirements(self, activated: TokenRecord, now: int) -> list[Change | UserGuard]:
        """With one device per user, retire the user's other active tokens, and move the
        user's guard on so that no other activation or unblock for the user lands alongside."""
        if not self.policy.one_device_per_user or activated.user is None:
            return []
        guard = self._engine.guard(activated.user)
        others = self._engine.tokens(user=activated.user, state=TokenState.ACTIVE.value)
        retired: list[Change | UserGuard] = [
            lifecycle.retire(other, now) for other in others if other.serial != activated.serial
        ]
        return [guard, *retired]

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
        first, second = bare_code(first_code), bare_code(second_code)
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


def _serial_or_none(value: Serial | str) -> Serial | None:
    """*value* as a serial, or None for text that is not one: to the caller, no token."""
    return valid_or_none(lambda: Serial.of(value))
