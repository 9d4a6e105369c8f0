"""The issuer's tamper-evident audit trail (SECURITY.md S14, S15).

Each token (and each user's out-of-band code) has its own chain of events. Event *n* carries
HMAC-SHA256, under the audit key of a key-ring key (its own HKDF label), over the previous
event's MAC and a canonical encoding of every field of event *n*::

    mac_n = HMAC(audit_key(key_id_n), Label.ISSUER_AUDIT_EVENT || mac_(n-1) || JSON(event_n))

with 32 zero bytes as ``mac_0``. The record it belongs to keeps the last ``(seq, mac)``, sealed
with the record, so :func:`verify_chain` finds an edited event (its MAC), a removed or reordered
one (the sequence and the chaining) and a trail cut short at the end (the head). The store only
appends: the pair (subject, seq) is unique there.

An event holds words and numbers only: the action, the actor, the reason, the states before and
after and the outcome. Never a seed, a code, a PIN or a key.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Final

import attrs

from softtoken._checks import MAX_COUNTER, check_int
from softtoken._kdf import Label
from softtoken.exceptions import AuditChainBroken
from softtoken.issuer.keyring import Keyring
from softtoken.issuer.records import MAC_LENGTH

__all__ = ["GENESIS", "Action", "AuditEvent", "chain", "verify_chain"]

GENESIS: Final = bytes(MAC_LENGTH)
"""The MAC that the first event of every chain follows."""


class Action(enum.Enum):
    """What an audit event records."""

    CREATE = "create"
    ASSIGN_POOL = "assign_pool"
    ASSIGN = "assign"
    IMPORT = "import"
    START_ACTIVATION = "start_activation"
    COMPLETE_ACTIVATION = "complete_activation"
    VERIFY = "verify"
    RESYNC = "resync"
    RESET_DRIFT = "reset_drift"
    SET_WINDOW = "set_window"
    BLOCK = "block"
    UNBLOCK = "unblock"
    RELEASE = "release"
    CONFIRM_RELEASE = "confirm_release"
    DELETE = "delete"
    UNLOCK_CODE = "unlock_code"
    REKEY = "rekey"
    SEND_CODE = "send_code"
    CHECK_CODE = "check_code"


@attrs.frozen
class AuditEvent:
    """One event of a chain, as stored.

    Attributes:
        subject: the chain: a token's serial digits, or ``code:`` and a user and purpose.
        seq: its place in the chain, from 1.
        at: Unix seconds.
        action: what was done (an :class:`Action` value).
        actor: who did it, when an administrator did; None for the token's own use.
        reason: the block or release reason, or None.
        before, after: the token's state before and after (None for code chains).
        outcome: what came of it, such as ``"accepted"``, ``"wrong_code"`` or ``"replay"``:
            the real cause of a refusal that the caller saw as one opaque error.
        key_id: the key-ring key whose audit key made :attr:`mac`.
        mac: the chaining HMAC (see the module docstring).
    """

    subject: str = attrs.field(kw_only=True)
    seq: int = attrs.field(kw_only=True)
    at: int = attrs.field(kw_only=True)
    action: str = attrs.field(kw_only=True)
    actor: str | None = attrs.field(kw_only=True)
    reason: str | None = attrs.field(kw_only=True)
    before: str | None = attrs.field(kw_only=True)
    after: str | None = attrs.field(kw_only=True)
    outcome: str = attrs.field(kw_only=True)
    key_id: str = attrs.field(kw_only=True)
    mac: bytes = attrs.field(kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        check_int(self.seq, "seq", 1, MAX_COUNTER)
        check_int(self.at, "at", 0, MAX_COUNTER)
        if type(self.mac) is not bytes or len(self.mac) != MAC_LENGTH:
            raise TypeError("mac must be 32 bytes")


def _mac(keyring: Keyring, previous: bytes, event: AuditEvent) -> bytes:
    fields = [
        event.subject,
        event.seq,
        event.at,
        event.action,
        event.actor,
        event.reason,
        event.before,
        event.after,
        event.outcome,
        event.key_id,
    ]
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    key = keyring.audit_key(event.key_id)
    return hmac.digest(key, Label.ISSUER_AUDIT_EVENT + previous + body, hashlib.sha256)


def chain(
    keyring: Keyring,
    *,
    head: tuple[int, bytes],
    subject: str,
    at: int,
    action: Action,
    actor: str | None,
    outcome: str,
    reason: str | None = None,
    before: str | None = None,
    after: str | None = None,
) -> AuditEvent:
    """The event that follows the chain's *head* ``(seq, mac)``, MAC'd under the current key.

    The caller stores the event and the new head ``(event.seq, event.mac)`` in one transaction.
    """
    seq, previous = head
    draft = AuditEvent(
        subject=subject,
        seq=seq + 1,
        at=at,
        action=action.value,
        actor=actor,
        reason=reason,
        before=before,
        after=after,
        outcome=outcome,
        key_id=keyring.current,
        mac=GENESIS,
    )
    return attrs.evolve(draft, mac=_mac(keyring, previous, draft))


def verify_chain(
    keyring: Keyring, events: Sequence[AuditEvent], head: tuple[int, bytes], *, subject: str
) -> int:
    """Check the whole chain of *subject*, in stored order, against its record's *head*.

    Returns:
        The number of events checked.

    Raises:
        AuditChainBroken: an event was edited, removed, reordered, inserted, appended after the
            head or taken from another chain, or the trail ends before the head; ``position``
            is the first sequence number that fails.
        UnknownKey: an event names a key id that the ring no longer holds.
    """
    head_seq, head_mac = head
    previous = GENESIS
    for position, event in enumerate(events, start=1):
        if event.seq != position or position > head_seq or event.subject != subject:
            raise AuditChainBroken(position)
        if not hmac.compare_digest(_mac(keyring, previous, event), event.mac):
            raise AuditChainBroken(position)
        previous = event.mac
    if head_seq != len(events) or not hmac.compare_digest(previous, head_mac):
        raise AuditChainBroken(len(events) + 1)
    return len(events)
