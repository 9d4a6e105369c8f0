"""The issuer's records: a token's state and reasons, and an out-of-band code, as frozen values.

Every record carries a ``version``, one higher after every change, for the store's
compare-and-set, and the head of its audit chain (``audit_seq``, ``audit_mac``), so that
:mod:`softtoken.issuer.audit` can tell a trail that lost its last events. A record is encoded by
:func:`encode` and sealed whole (:mod:`softtoken.issuer.rows`): only the serial, the user, the
state and the pool, which a store must index, are ever stored in the clear.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

from softtoken._checks import MAX_COUNTER, MAX_U32, check_int
from softtoken._secret import SECRET
from softtoken.exceptions import InvalidInput, InvalidRecord
from softtoken.hotp import MAX_LOOK_AHEAD, MAX_WINDOW
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import TokenParams
from softtoken.throttle import ThrottleState

__all__ = [
    "MAC_LENGTH",
    "MAX_DRIFT",
    "BlockReason",
    "CodeRecord",
    "PendingKind",
    "ReleaseReason",
    "TokenRecord",
    "TokenState",
    "Window",
    "check_name",
    "decode_code",
    "decode_token",
    "encode",
]

MAC_LENGTH: Final = 32
"""An audit MAC is one HMAC-SHA256 output."""
MAX_DRIFT: Final = 100
"""The largest drift, in TOTP steps either way, that a policy may allow (50 minutes at 30 s)."""
_NAME: Final = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
_FORMAT: Final = 1
_R = TypeVar("_R")


class TokenState(enum.Enum):
    """Where a token is in its life (ARCHITECTURE.md seed flow 6)."""

    AVAILABLE = "available"
    """In the bank's stock: no company, no user, no seed."""
    POOL = "in_pool"
    """In a company's pool ("Asignado Empresa"), waiting for an administrator to assign it."""
    ASSIGNED = "assigned"
    """Assigned to a user, its activation pending."""
    PENDING_CONFIRMATION = "pending_confirmation"
    """Activated by the app; the first code from it must confirm."""
    ACTIVE = "active"
    """Its codes log in and approve."""
    BLOCKED = "blocked"
    """Refuses every code until an administrator unblocks it; ``block_reason`` says why."""
    RELEASE_PENDING = "release_pending"
    """A release waits for a code from the token to confirm it (release-confirmation policy)."""
    DELETED = "deleted"
    """Gone for good: no seed, no user; the record stays as a tombstone for its audit trail."""


class BlockReason(enum.Enum):
    """Why a token was blocked (the seeds' reasons, and the automatic one)."""

    USER_INACTIVE = "user_inactive"
    CUSTOMER_REQUEST = "customer_request"
    DEVICE_LOST_OR_STOLEN = "device_lost_or_stolen"
    DEVICE_CHANGE = "device_change"
    TECHNICAL_FAILURE = "technical_failure"
    TOO_MANY_FAILURES = "too_many_failures"
    """Automatic: the failure limit was reached (PSD2 RTS Art. 4(3)(b)). Never given by hand."""


class ReleaseReason(enum.Enum):
    """Why a token's seed was released and the token sent back to its company's pool."""

    ASSIGNMENT_ERROR = "assignment_error"
    USER_LEFT_COMPANY = "user_left_company"
    CUSTOMER_REQUEST = "customer_request"
    SEED_RELEASE = "seed_release"


class PendingKind(enum.Enum):
    """Which activation flow a token's pending value belongs to."""

    OFFLINE = "offline"


def check_name(value: object, what: str) -> str:
    """*value* if it is a 1- to 128-character str without control characters.

    Raises:
        TypeError: not a str. InvalidInput: empty, too long, or with a control character; the
            message names *what*, never the value.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str")
    if not _NAME.fullmatch(value):
        raise InvalidInput(f"{what} must be 1 to 128 characters, none of them a control character")
    return value


def _name_or_none(what: str) -> Any:
    def validate(_: object, __: object, value: object) -> None:
        if value is not None:
            check_name(value, what)

    return validate


@attrs.frozen
class Window:
    """How far from the expected step or counter a code may be.

    Attributes:
        past: TOTP steps accepted before the expected one, 0 to ``MAX_WINDOW`` (10). HOTP
            ignores it: a counter behind the expected one has been used already.
        future: TOTP steps accepted after it, 0 to ``MAX_WINDOW``; for HOTP, the look-ahead,
            0 to ``MAX_LOOK_AHEAD`` (50).

    The default, ±1 step (RFC 6238 §5.2), accepts 3 TOTP codes at once, and an HOTP look-ahead
    of 1 accepts 2: ``s`` in the bound s·v/10^d of SECURITY.md.
    """

    past: int = attrs.field(default=1, kw_only=True)
    future: int = attrs.field(default=1, kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_int(self.past, "past", 0, MAX_WINDOW)
        check_int(self.future, "future", 0, MAX_LOOK_AHEAD)

    def check_for(self, params: TokenParams) -> None:
        """Raise InvalidInput unless this window is usable by a token with *params*: TOTP
        windows reach at most ``MAX_WINDOW`` steps forward."""
        if params.kind == "totp" and self.future > MAX_WINDOW:
            raise InvalidInput("a TOTP window reaches at most 10 steps forward")


@attrs.frozen
class TokenRecord:
    """One token, as the issuer stores it.

    Attributes:
        serial: the token's serial.
        state: where it is in its life.
        version: one higher after every change.
        pool: the company whose pool it belongs to, if any.
        user: the user it is assigned to, if any.
        params: what codes it makes, once activated or imported.
        seed: its secret, while it has one (ACTIVE, BLOCKED, RELEASE_PENDING). Never in a
            ``repr``.
        generation: how many seeds it has had; bound into the sealing, so that an earlier seed of
            the same token cannot be put back.
        last_counter: the last accepted TOTP step or HOTP counter; -1 for none. Nothing at or
            below it is accepted (SECURITY.md S5).
        drift: TOTP steps by which the device's clock runs ahead (negative: behind), learned from
            accepted codes and resyncs, bounded by the policy.
        window: its verification window.
        throttle: its failure count (SECURITY.md S7).
        block_reason: why it is blocked, when it is.
        release_reason: the reason of a release waiting for its confirmation.
        pending_kind, pending: the activation in progress (its flow's encoded value, which holds
            secrets: never in a ``repr``).
        updated_at: Unix seconds of the last change.
        audit_seq, audit_mac: the last audit event of this token's chain (0 and 32 zero bytes
            before the first).
    """

    serial: Serial = attrs.field(kw_only=True)
    state: TokenState = attrs.field(kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)
    pool: str | None = attrs.field(default=None, kw_only=True, validator=_name_or_none("pool"))
    user: str | None = attrs.field(default=None, kw_only=True, validator=_name_or_none("user"))
    params: TokenParams | None = attrs.field(default=None, kw_only=True)
    seed: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)
    generation: int = attrs.field(default=0, kw_only=True)
    last_counter: int = attrs.field(default=-1, kw_only=True)
    drift: int = attrs.field(default=0, kw_only=True)
    window: Window = attrs.field(factory=Window, kw_only=True)
    throttle: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    block_reason: BlockReason | None = attrs.field(default=None, kw_only=True)
    release_reason: ReleaseReason | None = attrs.field(default=None, kw_only=True)
    pending_kind: PendingKind | None = attrs.field(default=None, kw_only=True)
    pending: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)
    updated_at: int = attrs.field(default=0, kw_only=True)
    audit_seq: int = attrs.field(default=0, kw_only=True)
    audit_mac: bytes = attrs.field(default=bytes(MAC_LENGTH), kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.serial, Serial) or not isinstance(self.state, TokenState):
            raise TypeError("serial must be Serial and state TokenState")
        check_int(self.version, "version", 0, MAX_COUNTER)
        check_int(self.generation, "generation", 0, MAX_U32)
        check_int(self.last_counter, "last_counter", -1, MAX_COUNTER)
        check_int(self.drift, "drift", -MAX_DRIFT, MAX_DRIFT)
        check_int(self.updated_at, "updated_at", 0, MAX_COUNTER)
        check_int(self.audit_seq, "audit_seq", 0, MAX_COUNTER)
        if type(self.audit_mac) is not bytes or len(self.audit_mac) != MAC_LENGTH:
            raise InvalidInput("audit_mac must be 32 bytes")
        if self.params is not None and not isinstance(self.params, TokenParams):
            raise TypeError("params must be TokenParams")
        if not isinstance(self.window, Window) or not isinstance(self.throttle, ThrottleState):
            raise TypeError("window must be Window and throttle ThrottleState")
        has_seed = self.state in _SEEDED
        if has_seed != (self.seed is not None) or (has_seed and self.params is None):
            raise InvalidInput("a token holds a seed and its params exactly while it has a seed")
        if self.seed is not None and (type(self.seed) is not bytes or len(self.seed) < 10):
            raise InvalidInput("a seed is bytes of at least 10")
        if (self.state is TokenState.BLOCKED) != (self.block_reason is not None):
            raise InvalidInput("a token has a block reason exactly while blocked")
        if (self.state is TokenState.RELEASE_PENDING) != (self.release_reason is not None):
            raise InvalidInput("a token has a release reason exactly while its release waits")
        if (self.pending is None) != (self.pending_kind is None):
            raise InvalidInput("a pending activation has a kind")
        if self.pending is not None and self.state not in _ACTIVATING:
            raise InvalidInput("only an assigned token has an activation in progress")
        if self.state in _HAS_USER and self.user is None:
            raise InvalidInput("an assigned token has a user")
        if self.state in _NO_USER and self.user is not None:
            raise InvalidInput("a token in stock or in a pool has no user")


_SEEDED: Final = frozenset({TokenState.ACTIVE, TokenState.BLOCKED, TokenState.RELEASE_PENDING})
_ACTIVATING: Final = frozenset({TokenState.ASSIGNED, TokenState.PENDING_CONFIRMATION})
_HAS_USER: Final = frozenset(
    {TokenState.ASSIGNED, TokenState.PENDING_CONFIRMATION, TokenState.ACTIVE}
    | {TokenState.RELEASE_PENDING}
)
_NO_USER: Final = frozenset({TokenState.AVAILABLE, TokenState.POOL, TokenState.DELETED})


@attrs.frozen
class CodeRecord:
    """The newest out-of-band code of one user and purpose, stored only as a keyed hash.

    Attributes:
        user, purpose: whom it was sent to, and what for.
        version: one higher after every change.
        key_id: the key-ring key whose code key made :attr:`digest`.
        digest: HMAC-SHA256 of the code (see ``softtoken.issuer.codes``); None once the code
            was used or its attempts spent. Never in a ``repr``.
        digits: the code's length.
        issued_at, expires_at: Unix seconds; valid from the first, refused from the second.
        failures, max_attempts: wrong entries counted, and the budget.
        used: the code was accepted once.
        audit_seq, audit_mac: the head of this code's audit chain.
    """

    user: str = attrs.field(kw_only=True, validator=_name_or_none("user"))
    purpose: str = attrs.field(kw_only=True, validator=_name_or_none("purpose"))
    version: int = attrs.field(default=0, kw_only=True)
    key_id: str = attrs.field(default="", kw_only=True)
    digest: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)
    digits: int = attrs.field(default=6, kw_only=True)
    issued_at: int = attrs.field(default=0, kw_only=True)
    expires_at: int = attrs.field(default=0, kw_only=True)
    failures: int = attrs.field(default=0, kw_only=True)
    max_attempts: int = attrs.field(default=3, kw_only=True)
    used: bool = attrs.field(default=False, kw_only=True)
    audit_seq: int = attrs.field(default=0, kw_only=True)
    audit_mac: bytes = attrs.field(default=bytes(MAC_LENGTH), kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        for name in ("version", "issued_at", "expires_at", "audit_seq"):
            check_int(getattr(self, name), name, 0, MAX_COUNTER)
        check_int(self.digits, "digits", 4, 10)
        check_int(self.max_attempts, "max_attempts", 1, 10)
        check_int(self.failures, "failures", 0, self.max_attempts)
        if type(self.used) is not bool or not isinstance(self.key_id, str):
            raise TypeError("used must be bool and key_id str")
        if self.digest is not None and (type(self.digest) is not bytes or len(self.digest) != 32):
            raise InvalidInput("a code digest is 32 bytes")
        if type(self.audit_mac) is not bytes or len(self.audit_mac) != MAC_LENGTH:
            raise InvalidInput("audit_mac must be 32 bytes")


# --------------------------------------------------------------------------------------------
# Encoding: one JSON object per record, sealed whole by softtoken.issuer.rows.
# --------------------------------------------------------------------------------------------


def encode(record: TokenRecord | CodeRecord) -> bytes:
    """The canonical bytes of *record*, secrets included: seal them, never store them bare."""
    if isinstance(record, TokenRecord):
        fields: dict[str, Any] = {
            "serial": str(record.serial),
            "state": record.state.value,
            "version": record.version,
            "pool": record.pool,
            "user": record.user,
            "params": None if record.params is None else record.params.to_bytes().hex(),
            "seed": None if record.seed is None else record.seed.hex(),
            "generation": record.generation,
            "last_counter": record.last_counter,
            "drift": record.drift,
            "window": [record.window.past, record.window.future],
            "throttle": attrs.asdict(record.throttle),
            "block_reason": _value(record.block_reason),
            "release_reason": _value(record.release_reason),
            "pending_kind": _value(record.pending_kind),
            "pending": None if record.pending is None else record.pending.hex(),
            "updated_at": record.updated_at,
            "audit": [record.audit_seq, record.audit_mac.hex()],
        }
        kind = "token"
    else:
        fields = attrs.asdict(record)
        fields["digest"] = None if record.digest is None else record.digest.hex()
        fields["audit_mac"] = record.audit_mac.hex()
        kind = "code"
    body = {"format": _FORMAT, "kind": kind, "fields": fields}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _value(member: enum.Enum | None) -> Any:
    return None if member is None else member.value


def _loads(data: bytes, kind: str) -> dict[str, Any] | None:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("format") != _FORMAT or body.get("kind") != kind:
        return None
    fields = body.get("fields")
    return fields if isinstance(fields, dict) else None


def _hex(value: object) -> bytes | None:
    return None if value is None else bytes.fromhex(str(value))


def _token_from(fields: dict[str, Any]) -> TokenRecord:
    params = _hex(fields["params"])
    past, future = fields["window"]
    audit_seq, audit_mac = fields["audit"]
    return TokenRecord(
        serial=Serial.parse(fields["serial"]),
        state=TokenState(fields["state"]),
        version=fields["version"],
        pool=fields["pool"],
        user=fields["user"],
        params=None if params is None else TokenParams.from_bytes(params),
        seed=_hex(fields["seed"]),
        generation=fields["generation"],
        last_counter=fields["last_counter"],
        drift=fields["drift"],
        window=Window(past=past, future=future),
        throttle=ThrottleState(**fields["throttle"]),
        block_reason=None
        if fields["block_reason"] is None
        else BlockReason(fields["block_reason"]),
        release_reason=(
            None if fields["release_reason"] is None else ReleaseReason(fields["release_reason"])
        ),
        pending_kind=None
        if fields["pending_kind"] is None
        else PendingKind(fields["pending_kind"]),
        pending=_hex(fields["pending"]),
        updated_at=fields["updated_at"],
        audit_seq=audit_seq,
        audit_mac=bytes.fromhex(audit_mac),
    )


def _code_from(fields: dict[str, Any]) -> CodeRecord:
    values = dict(fields)
    values["digest"] = _hex(values["digest"])
    values["audit_mac"] = bytes.fromhex(values["audit_mac"])
    return CodeRecord(**values)


def _decode(data: bytes, kind: str, build: Callable[[dict[str, Any]], _R]) -> _R:
    """The record of *kind* in *data*, built by *build* from its fields.

    Any error a malformed field raises becomes one InvalidRecord, raised outside the ``except``
    block so that nothing from the data is left on its ``__context__``.
    """
    fields = _loads(data, kind)
    record: _R | None = None
    if fields is not None:
        try:
            record = build(fields)
        except (KeyError, TypeError, ValueError):
            record = None
    if record is None:
        raise InvalidRecord(f"an issuer {kind} record is malformed")
    return record


def decode_token(data: bytes) -> TokenRecord:
    """Read what :func:`encode` wrote of a token.

    Raises:
        InvalidRecord: not a token record of a known format, or inconsistent.
    """
    return _decode(data, "token", _token_from)


def decode_code(data: bytes) -> CodeRecord:
    """Read what :func:`encode` wrote of an out-of-band code.

    Raises:
        InvalidRecord: not a code record of a known format, or inconsistent.
    """
    return _decode(data, "code", _code_from)
