"""Offline activation: a serial and an activation code in, a registration code out (seed flow 1).

The bank shows a serial and an activation code; the user types both into the app; the app shows a
registration code; the user types that into the bank's page, and then the first code the app
shows. Four steps, none with I/O, the issuer's :class:`PendingOffline` going in and out as a value:

1. **Issuer, start.** :func:`start` draws the :class:`ActivationCode` (show it once) and returns
   the pending value to store, which keeps an *activation key* in place of the code.
2. **App, respond.** :func:`respond` draws the :class:`RegistrationCode` (show it) and derives
   the token secret.
3. **Issuer, complete.** :func:`complete` takes the registration code and derives the same
   secret, as a *candidate*: the token is pending first-code confirmation.
4. **Issuer, confirm.** :func:`confirm` takes the first code the app shows. Only a code that
   verifies against the candidate completes the activation.

**How a wrong registration code is caught and counted.** The caller parses the typed code with
``RegistrationCode.parse`` before :func:`complete`: a typo that breaks the Luhn digit raises
:class:`~softtoken.exceptions.MistypedCode` and costs nothing. A well-formed wrong code cannot be
told apart there, because every registration code yields *some* secret; it yields the wrong one,
so the first code fails. The budget therefore counts (registration code, first code) pairs, with
the throttle's open attempt (:mod:`softtoken.throttle`): :func:`complete` opens an attempt and
stores the candidate; :func:`confirm` closes it, as a success or as one failure that also drops
the candidate (the user enters the registration code again); a second :func:`complete` before any
:func:`confirm` first counts the unconfirmed candidate as a failure. So at most ``attempts``
registration codes are ever derived and at most ``attempts`` first codes compared, and a wrong
registration code costs exactly one attempt and changes nothing else: the activation key, the
expiry and the serial stay as they were. With a 6-digit TOTP accepted at ±1 step, pairs
typed at random are accepted with odds of about 3 · attempts / 10^6 per activation.

Refusals are outcomes, never exceptions: an expired activation, a finished one and a spent budget
each have their own :class:`Outcome` for the audit, and a caller raises one opaque
:class:`~softtoken.exceptions.ActivationRefused` for all of them. A finished activation (done, or
budget spent) holds no secret: its activation key and candidate are erased. Every change makes
the version one higher, for a store's compare-and-set. Time is a parameter; randomness comes only
from :mod:`softtoken._random`, through ``ActivationCode.generate`` and
``RegistrationCode.generate``.

**The derivation.** Both sides run the one function below, from the activation key. With the 10
ASCII digits of the serial as ``serial`` and the 10 of the registration code (its 9 random digits
and the Luhn digit) as ``registration``::

    activation_key = HKDF-SHA256(ikm = the 16 ASCII digits of the activation code,
                                 salt = none, info = Label.OFFLINE_ACTIVATION_KEY, L = 32)
    message = Label.OFFLINE_SECRET (28: "softtoken/offline/secret/v1" and a NUL)
              || activation_key (32) || registration (10) || serial (10)
              || TokenParams.to_bytes() (8)                                         = 88 bytes
    secret  = scrypt(message, salt = serial, N = 2^log2_n, r, p, dkLen = 20, 32 or 64)

Every field has a fixed length, so no two inputs share a message; the label names the version;
binding the token parameters means an app that assumed other parameters derives another secret,
which the first code catches. The salt is the serial (unique per token) because the message
already holds a fresh 256-bit activation key, so no table can be computed ahead; the
``salt_length`` and ``hash_length`` of the :class:`~softtoken._kdf.ScryptParams` do not apply.

**What each part contributes**, at :data:`OFFLINE_KDF` (N = 2^18, r = 8, p = 1: 256 MiB). One
derivation took 0.51 to 0.55 s (median 0.53 s) on one core of this project's 2-core AMD EPYC
(family 26, KVM) machine with OpenSSL 3.0, when nothing else ran; core-years below use 0.53 s:

- Whoever saw neither code faces 49.8 + 29.9 = 79.7 bits: 10^24 derivations, about 1.7 · 10^16
  core-years. (The secret is 160 bits or more long, but holds at most these 79.7 bits.)
- Whoever saw the activation code but not the registration code faces 29.9 bits times the
  scrypt cost: 10^9 derivations, each checked against one or two OTP codes seen from the token,
  about 16.8 core-years (5.3 · 10^8 core-seconds) for the whole search, half that on average.
  More cores or GPUs shorten the wait, not the work: a rented cluster can afford it.
- The Entrust-style design (``softtoken.provisioning.entrust``) lets the device add 16 bits and
  stretches with 8 iterations of PBKDF2-SHA256: the whole search of 2^16 took 0.2 to 0.3 s on
  one core here (3 to 4 µs a guess, ``benchmarks/bench_provisioning.py``), about 2 · 10^9
  times less work.
- Whoever holds the activation code and reaches the registration step before the user does can
  activate a device of their own; the user's activation is then refused. The activation code is
  a bearer secret until then.

Where the threat model includes someone who may see the activation code (a letter, a screen, a
photo), use QR activation (``softtoken.provisioning.qr_activation``): its secret comes from an
X25519 exchange and cannot be searched from anything that was seen.
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
from softtoken._kdf import Label, ScryptParams, hkdf, scrypt
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import InvalidInput, InvalidRecord
from softtoken.hotp import Match
from softtoken.provisioning.enrollment import MAX_ATTEMPTS, match_first_code
from softtoken.provisioning.identifiers import ActivationCode, RegistrationCode, Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.throttle import ThrottlePolicy, ThrottleState, Verdict

__all__ = [
    "ACTIVATION_KEY_LENGTH",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
    "MAX_ATTEMPTS",
    "MAX_TTL",
    "OFFLINE_KDF",
    "Outcome",
    "PendingOffline",
    "Stage",
    "complete",
    "confirm",
    "respond",
    "start",
]

OFFLINE_KDF: Final = ScryptParams(log2_n=18, r=8, p=1)
"""N = 2^18, r = 8, p = 1: 256 MiB, the most :mod:`softtoken._kdf` allows.

Twice the time and twice the memory of the PIN hash (``PHONE_KDF``), so four times its cost to an
attacker who pays for memory by the second. Affordable because it runs once on the phone (about
0.53 s here, a few seconds on a mid-range phone) and at most ``attempts`` times at the issuer per
activation; an issuer should bound how many completions run at once (256 MiB each). The value is
stored in the pending activation, and the app must use the same one.
"""
DEFAULT_TTL: Final = 72 * 3600
"""By default an activation code expires 72 hours after :func:`start`."""
MAX_TTL: Final = 30 * 86_400
"""The longest life :func:`start` allows: 30 days."""
DEFAULT_ATTEMPTS: Final = 5
"""(registration code, first code) pairs allowed per activation (PSD2 RTS Art. 4(3)(b))."""
ACTIVATION_KEY_LENGTH: Final = 32
"""The activation key is one HKDF-SHA256 output block."""


class Stage(enum.Enum):
    """Where a :class:`PendingOffline` is."""

    REGISTRATION = "registration"
    """Waiting for a registration code (:func:`complete`)."""
    FIRST_CODE = "first_code"
    """A candidate secret is waiting for its first code (:func:`confirm`); an attempt is open."""
    DONE = "done"
    """Confirmed. Nothing is accepted any more."""
    SPENT = "spent"
    """The budget ran out. Nothing is accepted any more."""


class Outcome(enum.Enum):
    """What :func:`complete` or :func:`confirm` did. Only CONFIRMED finishes an activation; a
    caller tells the user one opaque refusal for every outcome but AWAITING_FIRST_CODE and
    CONFIRMED."""

    AWAITING_FIRST_CODE = "awaiting_first_code"
    """:func:`complete` derived the candidate secret; an attempt is open until :func:`confirm`."""
    CONFIRMED = "confirmed"
    """:func:`confirm`: the first code verified. The activation is done and holds no secret."""
    WRONG_CODE = "wrong_code"
    """:func:`confirm`: the first code did not verify (a wrong registration code or a mistyped
    first code). One attempt counted; the candidate is dropped; tries remain."""
    SPENT_NOW = "spent_now"
    """This refusal used the last attempt: a wrong first code, or an unconfirmed candidate
    counted by :func:`complete`. The activation's secrets are erased."""
    EXPIRED = "expired"
    """Refused unevaluated: the activation has expired. Nothing changed."""
    ALREADY_DONE = "already_done"
    """Refused unevaluated: the activation was confirmed already (a replay). Nothing changed."""
    SPENT = "spent"
    """Refused unevaluated: the budget was spent already. Nothing changed."""
    NO_CANDIDATE = "no_candidate"
    """:func:`confirm` with no registration code taken since the last wrong first code, or ever.
    Nothing was evaluated or counted."""


def _cost_only(kdf: ScryptParams) -> ScryptParams:
    """The scrypt cost of *kdf*: the salt and output lengths do not apply here (see above)."""
    if not isinstance(kdf, ScryptParams):
        raise TypeError("kdf must be ScryptParams")
    return ScryptParams(version=kdf.version, log2_n=kdf.log2_n, r=kdf.r, p=kdf.p)


@attrs.frozen
class PendingOffline:
    """The issuer's side of one offline activation, between :func:`start` and the end.

    Attributes:
        serial: the token's serial.
        params: the token parameters, bound into the secret.
        kdf: the scrypt cost of the derivation (only version, log2_n, r and p are kept).
        expires_at: Unix seconds from which every step is refused.
        attempts: the (registration code, first code) pairs allowed, 1 to :data:`MAX_ATTEMPTS`.
        budget: the pairs counted so far (a :mod:`softtoken.throttle` state without delays): its
            open attempt is the candidate awaiting its first code, its block the spent budget.
        done: the first code verified.
        activation_key: HKDF of the activation code, which stands in for the code in the
            derivation, so that the issuer never stores the code itself. It is exactly as
            powerful as the code (with a registration code, it yields the secret), so the
            issuer's store must seal it at rest, like a token secret. ``None`` once finished.
        candidate: the secret derived from the last registration code, while it awaits its first
            code; a secret too, to be sealed alike. ``None`` otherwise.

    The ``repr`` shows neither secret. :attr:`version` grows by one at every change.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range or inconsistent fields.
    """

    serial: Serial = attrs.field(kw_only=True)
    params: TokenParams = attrs.field(kw_only=True)
    kdf: ScryptParams = attrs.field(kw_only=True, converter=_cost_only)
    expires_at: int = attrs.field(kw_only=True)
    attempts: int = attrs.field(kw_only=True)
    budget: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    done: bool = attrs.field(default=False, kw_only=True)
    activation_key: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)
    candidate: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.serial, Serial) or not isinstance(self.params, TokenParams):
            raise TypeError("serial must be Serial and params TokenParams")
        if not isinstance(self.budget, ThrottleState) or type(self.done) is not bool:
            raise TypeError("budget must be ThrottleState and done bool")
        check_int(self.expires_at, "expires_at", 0, MAX_COUNTER)
        check_int(self.attempts, "attempts", 1, MAX_ATTEMPTS)
        _check_budget(self.budget, self.attempts, self.done)
        finished = self.done or self.budget.blocked
        if finished != (self.activation_key is None):
            raise InvalidInput("only a finished activation has no activation key")
        if self.activation_key is not None:
            _check_bytes(self.activation_key, ACTIVATION_KEY_LENGTH, "activation key")
        if self.budget.attempt_open != (self.candidate is not None):
            raise InvalidInput("a candidate secret exists exactly while an attempt is open")
        if self.candidate is not None:
            _check_bytes(self.candidate, self.params.secret_length, "candidate")

    @property
    def version(self) -> int:
        """Grows by one at every change, for a store's compare-and-set."""
        return self.budget.version

    @property
    def stage(self) -> Stage:
        """Where this activation is (expiry aside, which depends on the time)."""
        if self.done:
            return Stage.DONE
        if self.budget.blocked:
            return Stage.SPENT
        return Stage.FIRST_CODE if self.budget.attempt_open else Stage.REGISTRATION

    def to_bytes(self) -> bytes:
        """Encode, big-endian: ``b"OA"``, format 1 (1), flags (1: bit 0 done, bit 1 spent,
        bit 2 first code awaited), serial (10 ASCII digits), params (8, ``TokenParams.to_bytes``),
        KDF version, log2_n, r, p (1 each), expires_at (8), attempts (1), failures (1),
        version (8): 44 bytes; then the activation key (32) unless finished, then the candidate
        (20, 32 or 64) while a first code is awaited. It holds secrets: seal it."""
        b, k = self.budget, self.kdf
        flags = (
            (_DONE if self.done else 0)
            | (_SPENT if b.blocked else 0)
            | (_FIRST_CODE if b.attempt_open else 0)
        )
        header = _HEADER.pack(
            _TAG,
            _FORMAT,
            flags,
            str(self.serial).encode("ascii"),
            self.params.to_bytes(),
            k.version,
            k.log2_n,
            k.r,
            k.p,
            self.expires_at,
            self.attempts,
            b.failures,
            b.version,
        )
        return header + (self.activation_key or b"") + (self.candidate or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingOffline:
        """Decode what :meth:`to_bytes` wrote, strictly.

        Raises:
            TypeError: *data* is not ``bytes``.
            InvalidRecord: wrong tag, format, flags or length; a field out of range; or fields
                that no activation can reach. The message is constant and never has the data.
        """
        if type(data) is not bytes:
            raise TypeError("a pending activation must be bytes")
        if len(data) < _HEADER.size:
            raise InvalidRecord("pending activation data is truncated")
        fields = _HEADER.unpack_from(data)
        tag, fmt, flags, serial, params_bytes, version_kdf, log2_n, r, p = fields[:9]
        expires_at, attempts, failures, version = fields[9:]
        if tag != _TAG or fmt != _FORMAT or flags & ~(_DONE | _SPENT | _FIRST_CODE):
            raise InvalidRecord("data is not a pending offline activation of a known format")
        params = TokenParams.from_bytes(params_bytes)
        if params is None or not serial.isdigit():
            raise InvalidRecord("pending activation fields are out of range")
        spent, opened = bool(flags & _SPENT), bool(flags & _FIRST_CODE)
        finished = bool(flags & _DONE) or spent
        key_end = _HEADER.size + (0 if finished else ACTIVATION_KEY_LENGTH)
        if len(data) != key_end + (params.secret_length if opened else 0):
            raise InvalidRecord("pending activation data has the wrong length")
        pending = valid_or_none(
            lambda: cls(
                serial=Serial(serial.decode("ascii")),
                params=params,
                kdf=ScryptParams(version=version_kdf, log2_n=log2_n, r=r, p=p),
                expires_at=expires_at,
                attempts=attempts,
                budget=ThrottleState(
                    failures=failures,
                    blocked=spent,
                    episode=int(spent),
                    attempt_open=opened,
                    version=version,
                ),
                done=bool(flags & _DONE),
                activation_key=None if finished else data[_HEADER.size : key_end],
                candidate=data[key_end:] if opened else None,
            )
        )
        if pending is None:
            raise InvalidRecord("pending activation fields are out of range or inconsistent")
        return pending


_TAG: Final = b"OA"
_FORMAT: Final = 1
_DONE: Final = 0x01
_SPENT: Final = 0x02
_FIRST_CODE: Final = 0x04
_HEADER: Final = struct.Struct(">2sBB10s8s4BQBBQ")


def _check_bytes(value: object, length: int, name: str) -> None:
    if type(value) is not bytes:
        raise TypeError(f"{name} must be bytes")
    if len(value) != length:
        raise InvalidInput(f"{name} has the wrong length")


def _check_budget(budget: ThrottleState, attempts: int, done: bool) -> None:
    """The budget states a pending value can reach: no delay, at most one block (never
    released), blocked exactly at the limit, and a clean count once done."""
    if budget.not_before or budget.episode != int(budget.blocked):
        raise InvalidInput("an activation budget has no delay and blocks at most once")
    if budget.blocked != (budget.failures >= attempts) or budget.failures > attempts:
        raise InvalidInput("an activation budget blocks exactly when the attempts are spent")
    if done and (budget.blocked or budget.attempt_open or budget.failures):
        raise InvalidInput("a done activation has no failures, block or open attempt")


def _activation_key(code: ActivationCode) -> bytes:
    return hkdf(
        str(code).encode("ascii"), info=Label.OFFLINE_ACTIVATION_KEY, length=ACTIVATION_KEY_LENGTH
    )


def _derive(
    key: bytes,
    registration: RegistrationCode,
    serial: Serial,
    params: TokenParams,
    kdf: ScryptParams,
) -> bytes:
    """The token secret, from the activation key: the one derivation both sides run."""
    serial_ascii = str(serial).encode("ascii")
    message = b"".join(
        (
            Label.OFFLINE_SECRET,
            key,
            str(registration).encode("ascii"),
            serial_ascii,
            params.to_bytes(),
        )
    )
    return scrypt(message, serial_ascii, attrs.evolve(kdf, hash_length=params.secret_length))


def _check_setup(serial: Serial, params: TokenParams, kdf: ScryptParams) -> None:
    if not isinstance(serial, Serial):
        raise TypeError("serial must be Serial; parse it first")
    if not isinstance(params, TokenParams):
        raise TypeError("params must be TokenParams")
    if not isinstance(kdf, ScryptParams):
        raise TypeError("kdf must be ScryptParams")


def start(
    serial: Serial,
    *,
    now: int | dt.datetime,
    params: TokenParams = DEFAULT_PARAMS,
    ttl: int = DEFAULT_TTL,
    attempts: int = DEFAULT_ATTEMPTS,
    kdf: ScryptParams = OFFLINE_KDF,
) -> tuple[ActivationCode, PendingOffline]:
    """Issuer side: open an offline activation for *serial* at *now*.

    Returns:
        The activation code, to show the user once and never store, and the pending value to
        store (sealed: it holds the activation key). The code expires *ttl* seconds after *now*.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidInput, InvalidTime: *ttl* is not 1 to :data:`MAX_TTL`, *attempts* not 1 to
            :data:`MAX_ATTEMPTS`, or *now* is not a valid time. Nothing is drawn then.
    """
    _check_setup(serial, params, kdf)
    at = to_unix(now)
    check_int(ttl, "ttl", 1, MAX_TTL)
    check_int(attempts, "attempts", 1, MAX_ATTEMPTS)
    check_int(at + ttl, "expires_at", 0, MAX_COUNTER)
    code = ActivationCode.generate()
    pending = PendingOffline(
        serial=serial,
        params=params,
        kdf=kdf,
        expires_at=at + ttl,
        attempts=attempts,
        activation_key=_activation_key(code),
    )
    return code, pending


def respond(
    serial: Serial,
    activation_code: ActivationCode,
    *,
    params: TokenParams = DEFAULT_PARAMS,
    kdf: ScryptParams = OFFLINE_KDF,
) -> tuple[RegistrationCode, bytes]:
    """App side: draw a registration code and derive the token secret. One scrypt run.

    *params* and *kdf* must be the issuer's; other values give another secret, which the first
    code then fails to confirm.

    Returns:
        The registration code to show the user, and the secret (20, 32 or 64 bytes, the length
        of ``params.secret_length``) to keep. Store the secret before showing the code.

    Raises:
        TypeError: an argument has the wrong type (parse typed identifiers first: a typo raises
            ``MistypedCode`` there).
    """
    _check_setup(serial, params, kdf)
    if not isinstance(activation_code, ActivationCode):
        raise TypeError("activation_code must be ActivationCode; parse it first")
    registration = RegistrationCode.generate()
    secret = _derive(_activation_key(activation_code), registration, serial, params, kdf)
    return registration, secret


def _policy(pending: PendingOffline) -> ThrottlePolicy:
    return ThrottlePolicy(max_failures=pending.attempts)


def _next(pending: PendingOffline, budget: ThrottleState, **changes: object) -> PendingOffline:
    """*pending* with *changes* and *budget*, as one change: one version later."""
    counted = attrs.evolve(budget, version=pending.version + 1)
    return attrs.evolve(pending, budget=counted, **changes)  # type: ignore[arg-type]


def _refusal(pending: PendingOffline, at: int) -> Outcome | None:
    """The outcome of a step refused unevaluated, or None when the step may go on."""
    if pending.done:
        return Outcome.ALREADY_DONE
    if pending.budget.blocked:
        return Outcome.SPENT
    if at >= pending.expires_at:
        return Outcome.EXPIRED
    return None


def _check_pending(pending: PendingOffline) -> None:
    if not isinstance(pending, PendingOffline):
        raise TypeError("pending must be PendingOffline")


def complete(
    pending: PendingOffline, registration_code: RegistrationCode, *, now: int | dt.datetime
) -> tuple[Outcome, PendingOffline, bytes | None]:
    """Issuer side: take a registration code and derive the candidate secret. One scrypt run.

    Parse the typed code first with ``RegistrationCode.parse``: a typo then raises
    ``MistypedCode`` and costs nothing. This opens one attempt (see the module docstring); a
    candidate still waiting for its first code is counted as a failure first.

    Returns:
        AWAITING_FIRST_CODE, the pending value to store, and the candidate secret: a token that
        is not active until :func:`confirm` accepts its first code. Otherwise ALREADY_DONE,
        SPENT or EXPIRED with *pending* unchanged, or SPENT_NOW with its secrets erased, and no
        secret. Store the pending value before anything else.

    Raises:
        TypeError: an argument has the wrong type. InvalidTime: *now* is not a valid time.
    """
    _check_pending(pending)
    if not isinstance(registration_code, RegistrationCode):
        raise TypeError("registration_code must be RegistrationCode; parse it first")
    at = to_unix(now)
    key = pending.activation_key
    if pending.done:
        return Outcome.ALREADY_DONE, pending, None
    # A pending value without its key is finished: done (answered above) or spent.
    if pending.budget.blocked or key is None:
        return Outcome.SPENT, pending, None
    if at >= pending.expires_at:
        return Outcome.EXPIRED, pending, None
    verdict, budget = throttle.begin(_policy(pending), pending.budget, at)
    if verdict is Verdict.BLOCKED_NOW:
        return Outcome.SPENT_NOW, _next(pending, budget, activation_key=None, candidate=None), None
    secret = _derive(key, registration_code, pending.serial, pending.params, pending.kdf)
    return Outcome.AWAITING_FIRST_CODE, _next(pending, budget, candidate=secret), secret


def confirm(
    pending: PendingOffline, code: str, *, now: int | dt.datetime
) -> tuple[Outcome, PendingOffline, Match | None]:
    """Issuer side: accept the activation when *code* verifies against the candidate secret.

    The window is the first-code window of :func:`softtoken.provisioning.enrollment.confirm`:
    ±1 step around *now* for TOTP, counters 0 to 2 for HOTP.

    Returns:
        CONFIRMED, the pending value to store (done, with no secret left in it), and the
        :class:`~softtoken.hotp.Match`: activate the token with the secret :func:`complete`
        returned, and record ``match.counter`` as its last used step or counter so that this
        code is never accepted again. Otherwise no match, and WRONG_CODE or SPENT_NOW (one
        attempt counted), or ALREADY_DONE, SPENT, EXPIRED or NO_CANDIDATE (nothing changed).

    Raises:
        TypeError: an argument has the wrong type. InvalidTime: *now* is not a valid time.
        MalformedCode: *code* is not ``params.digits`` ASCII digits; nothing was counted.
    """
    _check_pending(pending)
    bare = parse_code(code, pending.params.digits)
    at = to_unix(now)
    refused = _refusal(pending, at)
    if refused is not None:
        return refused, pending, None
    candidate = pending.candidate
    if candidate is None:
        return Outcome.NO_CANDIDATE, pending, None
    policy = _policy(pending)
    match = match_first_code(pending.params, candidate, bare, now=at)
    if match is not None:
        _, budget = throttle.succeed(policy, pending.budget, at)
        confirmed = _next(pending, budget, done=True, activation_key=None, candidate=None)
        return Outcome.CONFIRMED, confirmed, match
    verdict, budget = throttle.fail(policy, pending.budget, at)
    if verdict is Verdict.BLOCKED_NOW:
        return Outcome.SPENT_NOW, _next(pending, budget, activation_key=None, candidate=None), None
    return Outcome.WRONG_CODE, _next(pending, budget, candidate=None), None
