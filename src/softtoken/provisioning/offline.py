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
   verifies against the candidate completes the activation, and gives the
   :class:`ConfirmedToken` to activate: the secret, and the match to record.

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
:class:`~softtoken.exceptions.ActivationRefused` for all of them. A finished activation (done,
budget spent, or refused once for its expiry) holds no secret: its activation key and candidate
are erased. Every change makes the version one higher, for a store's compare-and-set, which
:func:`confirm` relies on (see there). Time is a parameter; randomness comes only from
:mod:`softtoken._random`, through ``ActivationCode.generate`` and ``RegistrationCode.generate``.
The rules this flow shares with enrollment live in :mod:`softtoken.provisioning._pending`.

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
from typing import ClassVar, Final

import attrs

from softtoken import throttle
from softtoken._checks import MAX_ATTEMPTS, valid_or_none
from softtoken._encoding import parse_code
from softtoken._kdf import Label, ScryptParams, hkdf, scrypt
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import InvalidRecord
from softtoken.provisioning import _pending
from softtoken.provisioning._pending import ConfirmedToken, Step
from softtoken.provisioning.identifiers import ActivationCode, RegistrationCode, Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.throttle import ThrottlePolicy, Verdict

__all__ = [
    "ACTIVATION_KEY_LENGTH",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
    "MAX_ATTEMPTS",
    "MAX_TTL",
    "OFFLINE_KDF",
    "ConfirmedToken",
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
"""(registration code, first code) pairs allowed per activation (PSD2 RTS Art. 4(3)(b)); at most
:data:`MAX_ATTEMPTS`, the bound every activation flow shares."""
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
    EXPIRED = "expired"
    """A step was refused for the expiry, which erased the secrets. Nothing is accepted any
    more."""


class Outcome(enum.Enum):
    """What :func:`complete` or :func:`confirm` did. Only CONFIRMED finishes an activation; a
    caller tells the user one opaque refusal for every outcome but AWAITING_FIRST_CODE and
    CONFIRMED."""

    AWAITING_FIRST_CODE = "awaiting_first_code"
    """:func:`complete` derived the candidate secret; an attempt is open until :func:`confirm`."""
    CONFIRMED = "confirmed"
    """:func:`confirm`: the first code verified. The activation is done and holds no secret;
    the secret is in the :class:`ConfirmedToken` returned with it."""
    WRONG_CODE = "wrong_code"
    """:func:`confirm`: the first code did not verify (a wrong registration code or a mistyped
    first code). One attempt counted; the candidate is dropped; tries remain."""
    SPENT_NOW = "spent_now"
    """This refusal used the last attempt: a wrong first code, or an unconfirmed candidate
    counted by :func:`complete`. The activation's secrets are erased."""
    EXPIRED = "expired"
    """Refused unevaluated: the activation has expired. The first such refusal erases its
    secrets and marks it expired (one version step); later ones change nothing."""
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
class PendingOffline(_pending.Pending):
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
        expired: a step was refused for the expiry, and the secrets erased then.
        activation_key: HKDF of the activation code, which stands in for the code in the
            derivation, so that the issuer never stores the code itself. It is exactly as
            powerful as the code (with a registration code, it yields the secret), so the
            issuer's store must seal it at rest, like a token secret. ``None`` once finished
            (done, spent or expired).
        candidate: the secret derived from the last registration code, while it awaits its first
            code; a secret too, to be sealed alike. ``None`` otherwise.

    The ``repr`` shows neither secret. :attr:`version` grows by one at every change.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range or inconsistent fields.
    """

    _SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("activation_key", "candidate")
    _OPENS_ATTEMPTS: ClassVar[bool] = True

    serial: Serial = attrs.field(kw_only=True)
    kdf: ScryptParams = attrs.field(kw_only=True, converter=_cost_only)
    activation_key: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)
    candidate: bytes | None = attrs.field(default=None, kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not isinstance(self.serial, Serial):
            raise TypeError("serial must be Serial")
        _pending.check_secret(
            self.activation_key,
            "activation key",
            ACTIVATION_KEY_LENGTH,
            held=not _pending.ended(self),
        )
        _pending.check_secret(
            self.candidate, "candidate", self.params.secret_length, held=self.budget.attempt_open
        )

    @property
    def stage(self) -> Stage:
        """Where this activation is. EXPIRED once a step was refused for the expiry; before
        that, an activation past its expiry shows the stage it had (that depends on the time)."""
        if self.done:
            return Stage.DONE
        if self.budget.blocked:
            return Stage.SPENT
        if self.expired:
            return Stage.EXPIRED
        return Stage.FIRST_CODE if self.budget.attempt_open else Stage.REGISTRATION

    def to_bytes(self) -> bytes:
        """Encode, big-endian: ``b"OA"``, format 1 (1), flags (1: bit 0 done, bit 1 spent,
        bit 2 first code awaited, bit 3 expired), serial (10 ASCII digits), params (8,
        ``TokenParams.to_bytes``), KDF version, log2_n, r, p (1 each), expires_at (8),
        attempts (1), failures (1), version (8): 44 bytes; then the activation key (32) unless
        finished, then the candidate (20, 32 or 64) while a first code is awaited. It holds
        secrets: seal it."""
        b, k = self.budget, self.kdf
        header = _HEADER.pack(
            _TAG,
            _FORMAT,
            _pending.flags_of(self),
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
        if tag != _TAG or fmt != _FORMAT or flags & ~_FLAGS:
            raise InvalidRecord("data is not a pending offline activation of a known format")
        params = TokenParams.from_bytes(params_bytes)
        if params is None or not serial.isdigit():
            raise InvalidRecord("pending activation fields are out of range")
        opened, finished = bool(flags & _pending.OPEN), bool(flags & _pending.ENDED)
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
                budget=_pending.budget_from_flags(flags, failures, version),
                done=bool(flags & _pending.DONE),
                expired=bool(flags & _pending.EXPIRED),
                activation_key=None if finished else data[_HEADER.size : key_end],
                candidate=data[key_end:] if opened else None,
            )
        )
        if pending is None:
            raise InvalidRecord("pending activation fields are out of range or inconsistent")
        return pending


_TAG: Final = b"OA"
_FORMAT: Final = 1
# The open attempt (_pending.OPEN) is the candidate awaiting its first code.
_FLAGS: Final = _pending.DONE | _pending.SPENT | _pending.OPEN | _pending.EXPIRED
_HEADER: Final = struct.Struct(">2sBB10s8s4BQBBQ")


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
    expires_at = _pending.expiry(now, ttl, MAX_TTL, attempts)
    code = ActivationCode.generate()
    pending = PendingOffline(
        serial=serial,
        params=params,
        kdf=kdf,
        expires_at=expires_at,
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
        is not active until :func:`confirm` accepts its first code. Otherwise no secret, and
        ALREADY_DONE or SPENT with *pending* unchanged, EXPIRED (the first time, with the
        secrets erased: one version step), or SPENT_NOW with the secrets erased. Store the
        pending value, by compare-and-set on its version, before anything else.

    Raises:
        TypeError: an argument has the wrong type. InvalidTime: *now* is not a valid time.
    """
    _check_pending(pending)
    if not isinstance(registration_code, RegistrationCode):
        raise TypeError("registration_code must be RegistrationCode; parse it first")
    at = to_unix(now)
    refused = _pending.refusal(pending, at)
    key = pending.activation_key
    if refused is not None or key is None:
        # Only an ended activation has no activation key, and the refusal answers for those.
        step, after = refused or (Step.SPENT, pending)
        return Outcome(step.value), after, None
    policy = ThrottlePolicy(max_failures=pending.attempts)
    verdict, budget = throttle.begin(policy, pending.budget, at)
    if verdict is Verdict.BLOCKED_NOW:
        return Outcome.SPENT_NOW, _pending.end_state(pending, budget), None
    secret = _derive(key, registration_code, pending.serial, pending.params, pending.kdf)
    opened = _pending.next_state(pending, budget, candidate=secret)
    return Outcome.AWAITING_FIRST_CODE, opened, secret


def confirm(
    pending: PendingOffline, code: str, *, now: int | dt.datetime
) -> tuple[Outcome, PendingOffline, ConfirmedToken | None]:
    """Issuer side: accept the activation when *code* verifies against the candidate secret.

    The window is the first-code window of :func:`softtoken.provisioning.enrollment.confirm`:
    ±1 step around *now* for TOTP, counters 0 to 2 for HOTP.

    The code is compared before anything is stored, within the attempt :func:`complete` opened.
    So the store must write the returned value with a compare-and-set on ``pending.version``,
    and a call whose write lost must tell nothing of its result to anyone (not the outcome, not
    the token): otherwise concurrent calls could try many first codes against one counted
    attempt. Only the winning write's answer counts.

    Returns:
        CONFIRMED, the pending value to store (done, with no secret left in it), and the
        :class:`ConfirmedToken`: activate the token with its ``secret`` and record its
        ``match.counter`` as the last used step or counter, so that this code is never accepted
        again. Otherwise no token, and WRONG_CODE or SPENT_NOW (one attempt counted), EXPIRED
        (the first time, the secrets are erased: one version step), or ALREADY_DONE, SPENT or
        NO_CANDIDATE (nothing changed).

    Raises:
        TypeError: an argument has the wrong type. InvalidTime: *now* is not a valid time.
        MalformedCode: *code* is not ``params.digits`` ASCII digits; nothing was counted.
    """
    _check_pending(pending)
    bare = parse_code(code, pending.params.digits)
    at = to_unix(now)
    # A wrong first code drops the candidate, so that the registration code is typed again, and
    # keeps the activation key.
    result = _pending.confirm(pending, pending.candidate, bare, at, dropped=("candidate",))
    if result is None:
        return Outcome.NO_CANDIDATE, pending, None
    step, after, token = result
    return Outcome(step.value), after, token
