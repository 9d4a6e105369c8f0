"""Enrollment in a standard authenticator app, pending until its first code verifies (seed flow 3).

The issuer shows an otpauth:// Key URI (as a QR code) for a fresh key; the user scans it and types
the first code the app shows. The token stays pending until that code verifies. This catches the
apps that accept a URI and then ignore its ``algorithm``, ``digits`` or ``period``, as
privacyIDEA users found with SHA-256 tokens in Google Authenticator
(privacyidea/privacyidea#3812): such an app shows codes of another token, which never verify.

- :func:`enroll` draws the key (through :mod:`softtoken._random`), builds the URI and returns a
  :class:`PendingEnrollment` to store. Given a
  :class:`~softtoken.provisioning.profiles.CompatibilityProfile`, it refuses a URI the app would
  not honour (``IncompatibleURI``) before anything is issued, rather than warning.
- :func:`confirm` checks a first code: ±1 step around the time for TOTP (RFC 6238 §5.2), counters
  0 to 2 for HOTP (RFC 4226 §7.4, a bounded look-ahead: the user may have pressed the button
  more than once). A wrong code costs one of the budget's attempts (default 5); the budget spent,
  the key is erased. With 6 digits a guesser's odds are about 3 · 5 / 10^6 (SECURITY.md S6). A
  code that verifies gives a :class:`ConfirmedToken`: the key, and the match to record.

Refusals are outcomes with the state to store, never exceptions; a caller raises one opaque error
for all of them and audits the :class:`Outcome`. A finished enrollment (confirmed, spent, or
refused once for its expiry) holds no key. Every change makes the version one higher, for a
store's compare-and-set, which :func:`confirm` relies on (see there). Time is a parameter.

:func:`match_first_code` is the first-code window itself, shared with offline activation
(:mod:`softtoken.provisioning.offline`) through :mod:`softtoken.provisioning._pending`.
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from typing import ClassVar, Final

import attrs

from softtoken._checks import MAX_ATTEMPTS, valid_or_none
from softtoken._encoding import parse_code
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import InvalidRecord
from softtoken.hotp import generate_key
from softtoken.provisioning import _pending
from softtoken.provisioning._pending import (
    FIRST_CODE_LOOK_AHEAD,
    ConfirmedToken,
    Step,
    match_first_code,
)
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.profiles import CompatibilityProfile, check_compatibility
from softtoken.provisioning.uri import KeyURI

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
    "FIRST_CODE_LOOK_AHEAD",
    "MAX_ATTEMPTS",
    "MAX_TTL",
    "ConfirmedToken",
    "Outcome",
    "PendingEnrollment",
    "confirm",
    "enroll",
    "match_first_code",
]

DEFAULT_TTL: Final = 15 * 60
"""An enrollment expires 15 minutes after :func:`enroll`: time to install an app and scan, while
a key left on a screen and never confirmed dies with the session."""
MAX_TTL: Final = 7 * 86_400
"""The longest life :func:`enroll` allows: 7 days."""
DEFAULT_ATTEMPTS: Final = 5
"""Wrong first codes allowed per enrollment (PSD2 RTS Art. 4(3)(b)); at most
:data:`MAX_ATTEMPTS`, the bound every activation flow shares."""


class Outcome(enum.Enum):
    """What :func:`confirm` did. Only CONFIRMED is a success; a caller tells the user one opaque
    refusal for every other outcome."""

    CONFIRMED = "confirmed"
    """The first code verified. The enrollment is done and holds no key; the key is in the
    :class:`ConfirmedToken` returned with it."""
    WRONG_CODE = "wrong_code"
    """The code did not verify; one attempt counted, tries remain."""
    SPENT_NOW = "spent_now"
    """The code did not verify and used the last attempt; the key is erased."""
    EXPIRED = "expired"
    """Refused unevaluated: the enrollment has expired. The first such refusal erases the key
    and marks the enrollment expired (one version step); later ones change nothing."""
    ALREADY_DONE = "already_done"
    """Refused unevaluated: the enrollment was confirmed already (a replay). Nothing changed."""
    SPENT = "spent"
    """Refused unevaluated: the budget was spent already. Nothing changed."""


@attrs.frozen
class PendingEnrollment(_pending.Pending):
    """The issuer's side of one enrollment, between :func:`enroll` and its first code.

    Attributes:
        params: what codes the token makes.
        expires_at: Unix seconds from which :func:`confirm` refuses.
        attempts: wrong first codes allowed, 1 to :data:`MAX_ATTEMPTS`.
        budget: the wrong codes counted (a :mod:`softtoken.throttle` state, no delays, no open
            attempts); its block is the spent budget.
        done: the first code verified.
        expired: a step was refused for the expiry, and the key erased then.
        key: the token's key, ``params.secret_length`` bytes; ``None`` once finished (done,
            spent or expired). A secret: never in the ``repr``, compared in constant time; the
            store must seal it at rest.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range or inconsistent fields.
    """

    _SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("key",)

    key: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        held = not _pending.ended(self)
        _pending.check_secret(self.key, "key", self.params.secret_length, held=held)

    def to_bytes(self) -> bytes:
        """Encode, big-endian: ``b"EN"``, format 1 (1), flags (1: bit 0 done, bit 1 spent,
        bit 3 expired; bit 2, an open attempt, is never set), params (8,
        ``TokenParams.to_bytes``), expires_at (8), attempts (1), failures (1), version (8):
        30 bytes; then the key (20, 32 or 64) unless finished. It holds the key: seal it."""
        header = _HEADER.pack(
            _TAG,
            _FORMAT,
            _pending.flags_of(self),
            self.params.to_bytes(),
            self.expires_at,
            self.attempts,
            self.budget.failures,
            self.version,
        )
        return header + (self.key or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingEnrollment:
        """Decode what :meth:`to_bytes` wrote, strictly.

        Raises:
            TypeError: *data* is not ``bytes``.
            InvalidRecord: wrong tag, format, flags or length, a field out of range, or fields
                that no enrollment can reach. The message is constant and never has the data.
        """
        if type(data) is not bytes:
            raise TypeError("a pending enrollment must be bytes")
        if len(data) < _HEADER.size:
            raise InvalidRecord("pending enrollment data is truncated")
        tag, fmt, flags, params_bytes, expires_at, attempts, failures, version = (
            _HEADER.unpack_from(data)
        )
        if tag != _TAG or fmt != _FORMAT or flags & ~_FLAGS:
            raise InvalidRecord("data is not a pending enrollment of a known format")
        params = TokenParams.from_bytes(params_bytes)
        if params is None:
            raise InvalidRecord("pending enrollment fields are out of range")
        finished = bool(flags & _pending.ENDED)
        if len(data) != _HEADER.size + (0 if finished else params.secret_length):
            raise InvalidRecord("pending enrollment data has the wrong length")
        pending = valid_or_none(
            lambda: cls(
                params=params,
                expires_at=expires_at,
                attempts=attempts,
                budget=_pending.budget_from_flags(flags, failures, version),
                done=bool(flags & _pending.DONE),
                expired=bool(flags & _pending.EXPIRED),
                key=None if finished else data[_HEADER.size :],
            )
        )
        if pending is None:
            raise InvalidRecord("pending enrollment fields are out of range or inconsistent")
        return pending


_TAG: Final = b"EN"
_FORMAT: Final = 1
# An enrollment never opens an attempt: _pending.OPEN is not among its flags.
_FLAGS: Final = _pending.DONE | _pending.SPENT | _pending.EXPIRED
_HEADER: Final = struct.Struct(">2sBB8sQBBQ")


def enroll(
    *,
    account: str,
    issuer: str | None,
    params: TokenParams = DEFAULT_PARAMS,
    profile: CompatibilityProfile | None = None,
    now: int | dt.datetime,
    ttl: int = DEFAULT_TTL,
    attempts: int = DEFAULT_ATTEMPTS,
) -> tuple[KeyURI, PendingEnrollment]:
    """Issuer side: a fresh key for *account*, its Key URI, and the pending enrollment.

    The key is ``generate_key(params.algorithm)``: 20, 32 or 64 random bytes. An HOTP URI starts
    at counter 0.

    Returns:
        The Key URI to show (as a QR code; it holds the key, treat it as a secret), and the
        pending value to store, sealed. The token is not active until :func:`confirm` accepts
        its first code.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidURI: *account* or *issuer* is not acceptable in a Key URI.
        IncompatibleURI: *profile*'s app would not honour *params*; its ``problems`` say why.
            Nothing is returned: the key drawn is dropped.
        InvalidInput, InvalidTime: *ttl* is not 1 to :data:`MAX_TTL`, *attempts* not 1 to
            :data:`MAX_ATTEMPTS`, or *now* is not a valid time.
    """
    if not isinstance(params, TokenParams):
        raise TypeError("params must be TokenParams")
    if profile is not None and not isinstance(profile, CompatibilityProfile):
        raise TypeError("profile must be a CompatibilityProfile or None")
    expires_at = _pending.expiry(now, ttl, MAX_TTL, attempts)
    key = generate_key(params.algorithm)
    uri = KeyURI(
        params.kind,
        key,
        account,
        issuer=issuer,
        algorithm=params.algorithm,
        digits=params.digits,
        period=params.period,
        counter=0 if params.kind == "hotp" else None,
    )
    if profile is not None:
        check_compatibility(uri, profile, strict=True)
    pending = PendingEnrollment(params=params, expires_at=expires_at, attempts=attempts, key=key)
    return uri, pending


def confirm(
    pending: PendingEnrollment, code: str, *, now: int | dt.datetime
) -> tuple[Outcome, PendingEnrollment, ConfirmedToken | None]:
    """Issuer side: accept the enrollment when *code* is the token's first code.

    The code is compared before anything is stored, so the store must write the returned
    value with a compare-and-set on ``pending.version``, and a call whose write lost must tell
    nothing of its result to anyone (not the outcome, not the token): otherwise concurrent calls
    could try many codes against one counted attempt. Only the winning write's answer counts.

    Returns:
        CONFIRMED, the pending value to store (done, its key erased), and the
        :class:`ConfirmedToken`: activate the token with its ``secret`` and record its
        ``match.counter`` as the last used step or counter, so that this code is never accepted
        again. Otherwise no token, and WRONG_CODE or SPENT_NOW (one attempt counted; SPENT_NOW
        erases the key), EXPIRED (the first time, the key is erased: one version step), or
        ALREADY_DONE or SPENT (nothing changed). Store the pending value before telling the
        user anything.

    Raises:
        TypeError: an argument has the wrong type. InvalidTime: *now* is not a valid time.
        MalformedCode: *code* is not ``params.digits`` ASCII digits; nothing was counted. (An app
            that ignored ``digits`` shows codes of the wrong length and lands here.)
    """
    if not isinstance(pending, PendingEnrollment):
        raise TypeError("pending must be PendingEnrollment")
    bare = parse_code(code, pending.params.digits)
    at = to_unix(now)
    result = _pending.confirm(pending, pending.key, bare, at)
    # None means no key and no refusal, which no enrollment reaches: only an ended one has no
    # key, and the refusals answer for those first. It is refused as spent all the same.
    step, after, token = result or (Step.SPENT, pending, None)
    return Outcome(step.value), after, token
