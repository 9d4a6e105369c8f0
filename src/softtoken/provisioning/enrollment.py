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
  the key is erased. With 6 digits a guesser's odds are about 3 · 5 / 10^6 (SECURITY.md S6).

Refusals are outcomes with the state to store, never exceptions; a caller raises one opaque error
for all of them and audits the :class:`Outcome`. A finished enrollment (confirmed, or spent)
holds no key. Every change makes the version one higher, for a store's compare-and-set. Time is
a parameter.

:func:`match_first_code` is the first-code window itself, shared with offline activation
(:mod:`softtoken.provisioning.offline`).
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from typing import Final

import attrs

from softtoken import throttle
from softtoken._checks import MAX_COUNTER, check_int, valid_or_none
from softtoken._encoding import parse_code
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import InvalidCode, InvalidInput, InvalidRecord
from softtoken.hotp import TOTP, Match, generate_key
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.profiles import CompatibilityProfile, check_compatibility
from softtoken.provisioning.uri import KeyURI
from softtoken.throttle import ThrottlePolicy, ThrottleState, Verdict

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
    "FIRST_CODE_LOOK_AHEAD",
    "MAX_ATTEMPTS",
    "MAX_TTL",
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
"""Wrong first codes allowed per enrollment (PSD2 RTS Art. 4(3)(b))."""
MAX_ATTEMPTS: Final = 10
"""The largest budget a pending enrollment or activation may have: each attempt is a guess at a
code (and, in offline activation, an scrypt run at the issuer)."""
FIRST_CODE_LOOK_AHEAD: Final = 2
"""HOTP counters 0 to 2 are tried for a first code: three candidates, as many as TOTP's ±1."""


def match_first_code(params: TokenParams, key: bytes, code: str, *, now: int) -> Match | None:
    """The match of *code* in the first-code window of a token with *params* and *key*, or None.

    TOTP: the step containing *now*, one before and one after. HOTP: counters 0 to
    :data:`FIRST_CODE_LOOK_AHEAD`. A sharp tool, like ``TOTP.verify``: it counts nothing, and
    :func:`confirm` is the safe path. *code* must be parsed already (its bare digits).
    """
    token = params.token(key)
    match: Match | None = None
    try:
        if isinstance(token, TOTP):
            match = token.verify(code, at=now, past=1, future=1)
        else:
            match = token.verify(code, counter=0, look_ahead=FIRST_CODE_LOOK_AHEAD)
    except InvalidCode:
        # A refusal is an answer here, not an error: the caller counts it.
        match = None
    return match


class Outcome(enum.Enum):
    """What :func:`confirm` did. Only CONFIRMED is a success; a caller tells the user one opaque
    refusal for every other outcome."""

    CONFIRMED = "confirmed"
    """The first code verified. The enrollment is done and holds no key."""
    WRONG_CODE = "wrong_code"
    """The code did not verify; one attempt counted, tries remain."""
    SPENT_NOW = "spent_now"
    """The code did not verify and used the last attempt; the key is erased."""
    EXPIRED = "expired"
    """Refused unevaluated: the enrollment has expired. Nothing changed."""
    ALREADY_DONE = "already_done"
    """Refused unevaluated: the enrollment was confirmed already (a replay). Nothing changed."""
    SPENT = "spent"
    """Refused unevaluated: the budget was spent already. Nothing changed."""


@attrs.frozen
class PendingEnrollment:
    """The issuer's side of one enrollment, between :func:`enroll` and its first code.

    Attributes:
        params: what codes the token makes.
        expires_at: Unix seconds from which :func:`confirm` refuses.
        attempts: wrong first codes allowed, 1 to :data:`MAX_ATTEMPTS`.
        budget: the wrong codes counted (a :mod:`softtoken.throttle` state, no delays, no open
            attempts); its block is the spent budget.
        done: the first code verified.
        key: the token's key, ``params.secret_length`` bytes; ``None`` once finished. A secret:
            never in the ``repr``, compared in constant time; the store must seal it at rest.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range or inconsistent fields.
    """

    params: TokenParams = attrs.field(kw_only=True)
    expires_at: int = attrs.field(kw_only=True)
    attempts: int = attrs.field(kw_only=True)
    budget: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    done: bool = attrs.field(default=False, kw_only=True)
    key: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.params, TokenParams) or not isinstance(self.budget, ThrottleState):
            raise TypeError("params must be TokenParams and budget ThrottleState")
        if type(self.done) is not bool:
            raise TypeError("done must be bool")
        check_int(self.expires_at, "expires_at", 0, MAX_COUNTER)
        check_int(self.attempts, "attempts", 1, MAX_ATTEMPTS)
        b = self.budget
        if b.not_before or b.attempt_open or b.episode != int(b.blocked):
            raise InvalidInput("an enrollment budget has no delay or open attempt, one block")
        if b.blocked != (b.failures >= self.attempts) or b.failures > self.attempts:
            raise InvalidInput("an enrollment budget blocks exactly when the attempts are spent")
        if self.done and (b.blocked or b.failures):
            raise InvalidInput("a done enrollment has no failures and no block")
        if (self.done or b.blocked) != (self.key is None):
            raise InvalidInput("only a finished enrollment has no key")
        if self.key is not None and type(self.key) is not bytes:
            raise TypeError("key must be bytes")
        if self.key is not None and len(self.key) != self.params.secret_length:
            raise InvalidInput("the key length does not match the algorithm")

    @property
    def version(self) -> int:
        """Grows by one at every change, for a store's compare-and-set."""
        return self.budget.version

    def to_bytes(self) -> bytes:
        """Encode, big-endian: ``b"EN"``, format 1 (1), flags (1: bit 0 done, bit 1 spent),
        params (8, ``TokenParams.to_bytes``), expires_at (8), attempts (1), failures (1),
        version (8): 30 bytes; then the key (20, 32 or 64) unless finished. It holds the key:
        seal it."""
        b = self.budget
        flags = (_DONE if self.done else 0) | (_SPENT if b.blocked else 0)
        header = _HEADER.pack(
            _TAG,
            _FORMAT,
            flags,
            self.params.to_bytes(),
            self.expires_at,
            self.attempts,
            b.failures,
            b.version,
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
        if tag != _TAG or fmt != _FORMAT or flags & ~(_DONE | _SPENT):
            raise InvalidRecord("data is not a pending enrollment of a known format")
        params = TokenParams.from_bytes(params_bytes)
        if params is None:
            raise InvalidRecord("pending enrollment fields are out of range")
        finished = bool(flags & (_DONE | _SPENT))
        if len(data) != _HEADER.size + (0 if finished else params.secret_length):
            raise InvalidRecord("pending enrollment data has the wrong length")
        spent = bool(flags & _SPENT)
        pending = valid_or_none(
            lambda: cls(
                params=params,
                expires_at=expires_at,
                attempts=attempts,
                budget=ThrottleState(
                    failures=failures, blocked=spent, episode=int(spent), version=version
                ),
                done=bool(flags & _DONE),
                key=None if finished else data[_HEADER.size :],
            )
        )
        if pending is None:
            raise InvalidRecord("pending enrollment fields are out of range or inconsistent")
        return pending


_TAG: Final = b"EN"
_FORMAT: Final = 1
_DONE: Final = 0x01
_SPENT: Final = 0x02
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
    at = to_unix(now)
    check_int(ttl, "ttl", 1, MAX_TTL)
    check_int(attempts, "attempts", 1, MAX_ATTEMPTS)
    check_int(at + ttl, "expires_at", 0, MAX_COUNTER)
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
    pending = PendingEnrollment(params=params, expires_at=at + ttl, attempts=attempts, key=key)
    return uri, pending


def confirm(
    pending: PendingEnrollment, code: str, *, now: int | dt.datetime
) -> tuple[Outcome, PendingEnrollment, Match | None]:
    """Issuer side: accept the enrollment when *code* is the token's first code.

    Returns:
        CONFIRMED, the pending value to store (done, its key erased), and the
        :class:`~softtoken.hotp.Match`: activate the token with ``pending.key`` (the value passed
        in) and record ``match.counter`` as its last used step or counter, so that this code is
        never accepted again. Otherwise no match, and WRONG_CODE or SPENT_NOW (one attempt
        counted), or ALREADY_DONE, SPENT or EXPIRED (nothing changed). Store the pending value
        before telling the user anything.

    Raises:
        TypeError: an argument has the wrong type. InvalidTime: *now* is not a valid time.
        MalformedCode: *code* is not ``params.digits`` ASCII digits; nothing was counted. (An app
            that ignored ``digits`` shows codes of the wrong length and lands here.)
    """
    if not isinstance(pending, PendingEnrollment):
        raise TypeError("pending must be PendingEnrollment")
    bare = parse_code(code, pending.params.digits)
    at = to_unix(now)
    key = pending.key
    if pending.done:
        return Outcome.ALREADY_DONE, pending, None
    # A pending value without its key is finished: done (answered above) or spent.
    if pending.budget.blocked or key is None:
        return Outcome.SPENT, pending, None
    if at >= pending.expires_at:
        return Outcome.EXPIRED, pending, None
    policy = ThrottlePolicy(max_failures=pending.attempts)
    match = match_first_code(pending.params, key, bare, now=at)
    if match is not None:
        _, budget = throttle.succeed(policy, pending.budget, at)
        return Outcome.CONFIRMED, _next(pending, budget, done=True, key=None), match
    verdict, budget = throttle.fail(policy, pending.budget, at)
    if verdict is Verdict.BLOCKED_NOW:
        return Outcome.SPENT_NOW, _next(pending, budget, key=None), None
    return Outcome.WRONG_CODE, _next(pending, budget), None


def _next(
    pending: PendingEnrollment, budget: ThrottleState, **changes: object
) -> PendingEnrollment:
    """*pending* with *changes* and *budget*, as one change: one version later."""
    counted = attrs.evolve(budget, version=pending.version + 1)
    return attrs.evolve(pending, budget=counted, **changes)  # type: ignore[arg-type]
