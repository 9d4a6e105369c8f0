"""Offline activation on the issuer (ARCHITECTURE.md seed flow 1).

A mixin of :class:`~softtoken.issuer.Issuer`: the bank opens an activation for an assigned token
and takes the registration code the app showed; the first code then confirms
(:meth:`~softtoken.issuer.Issuer.confirm_activation`). The pure steps are
:mod:`softtoken.provisioning.offline`; the pending value, which holds the activation key and the
candidate secret, lives sealed in the token's record and is written by compare-and-set on the
record's version, as that module requires: a write that lost tells nobody anything.
"""

from __future__ import annotations

import datetime as dt

import attrs

from softtoken._kdf import ScryptParams
from softtoken.exceptions import ActivationRefused, InvalidRecord
from softtoken.issuer import lifecycle
from softtoken.issuer.audit import Action
from softtoken.issuer.engine import Engine
from softtoken.issuer.lifecycle import Change, Entry
from softtoken.issuer.records import PendingKind, TokenRecord, TokenState
from softtoken.provisioning import offline
from softtoken.provisioning.identifiers import ActivationCode, RegistrationCode, Serial
from softtoken.provisioning.offline import OFFLINE_KDF, PendingOffline
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams

__all__ = ["OfflineActivation", "OfflineActivations", "pending_of"]


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


class OfflineActivations:
    """Open and complete offline activations."""

    _engine: Engine

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
            pending = pending_of(record)
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


def pending_of(record: TokenRecord) -> PendingOffline | None:
    """The offline activation in progress in *record*, or None."""
    if record.pending is None or record.pending_kind is not PendingKind.OFFLINE:
        return None
    pending = PendingOffline.from_bytes(record.pending)
    if pending.serial != record.serial:
        raise InvalidRecord("a pending activation belongs to another token")
    return pending
