"""What offline activation and enrollment share: a pending value that waits for a first code.

Both flows keep, between issuing a secret and seeing its first code, a frozen value with the token
parameters, an expiry, a budget of attempts (a :mod:`softtoken.throttle` state without delays)
and secrets: :class:`Pending` holds the shared fields, and each flow's class adds its own. This
module holds the rules they share, so that each exists once:

- the first-code window (:func:`match_first_code`) and what a confirmed first code gives the
  issuer (:class:`ConfirmedToken`);
- the states a pending value may be in (:class:`Pending`'s checks, :func:`check_secret`) and how
  its budget and ends are written in a record's flags byte;
- the refusals, in one order (:func:`refusal`): a finished value, then the expiry. The first
  refusal for the expiry erases the secrets, since nothing can use them any more;
- comparing a first code and counting it (:func:`confirm`), and making every change one version
  step (:func:`next_state`, :func:`end_state`).

A pending value *ends* once: done (its first code verified), spent (its budget ran out) or
expired (refused for its expiry). Once ended it holds no secret. Each flow names its secret
fields in ``_SECRET_FIELDS``, which is what an end erases.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar, Final, TypeVar

import attrs

from softtoken import throttle
from softtoken._checks import MAX_ATTEMPTS, MAX_COUNTER, check_bytes, check_int
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import InvalidCode, InvalidInput
from softtoken.hotp import TOTP, Match
from softtoken.provisioning.params import TokenParams
from softtoken.throttle import ThrottlePolicy, ThrottleState, Verdict

__all__ = [
    "DONE",
    "ENDED",
    "EXPIRED",
    "FIRST_CODE_LOOK_AHEAD",
    "OPEN",
    "SPENT",
    "ConfirmedToken",
    "Pending",
    "Step",
    "budget_from_flags",
    "check_secret",
    "confirm",
    "end_state",
    "ended",
    "expiry",
    "flags_of",
    "match_first_code",
    "next_state",
    "refusal",
]

FIRST_CODE_LOOK_AHEAD: Final = 2
"""HOTP counters 0 to 2 are tried for a first code: three candidates, as many as TOTP's ±1."""

# The bits of a record's flags byte, the same in both flows' records. Enrollment never opens an
# attempt, so its records never set OPEN.
DONE: Final = 0x01
SPENT: Final = 0x02
OPEN: Final = 0x04
EXPIRED: Final = 0x08
ENDED: Final = DONE | SPENT | EXPIRED


def match_first_code(params: TokenParams, key: bytes, code: str, *, now: int) -> Match | None:
    """The match of *code* in the first-code window of a token with *params* and *key*, or None.

    TOTP: the step containing *now*, one before and one after (RFC 6238 §5.2). HOTP: counters 0
    to :data:`FIRST_CODE_LOOK_AHEAD` (RFC 4226 §7.4). A sharp tool, like ``TOTP.verify``: it
    counts nothing, and ``enrollment.confirm`` and ``offline.confirm`` are the safe paths. *code*
    must be parsed already (its bare digits).
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


@attrs.frozen
class ConfirmedToken:
    """What a confirmed first code gives the issuer: everything it needs to activate the token.

    Attributes:
        params: what codes the token makes.
        secret: the token's secret, ``params.secret_length`` bytes. A secret: never in the
            ``repr``, compared in constant time; store it sealed.
        match: where the first code matched. Record ``match.counter`` as the token's last used
            step (TOTP) or counter (HOTP), so that the first code is never accepted again.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: the secret's length does not match *params*.
    """

    params: TokenParams = attrs.field(kw_only=True)
    secret: bytes = attrs.field(kw_only=True, **SECRET)
    match: Match = attrs.field(kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.params, TokenParams) or not isinstance(self.match, Match):
            raise TypeError("params must be TokenParams and match Match")
        check_secret(self.secret, "secret", self.params.secret_length, held=True)


class Step(enum.Enum):
    """What a shared transition did. Each flow's ``Outcome`` has a member of the same value."""

    CONFIRMED = "confirmed"
    WRONG_CODE = "wrong_code"
    SPENT_NOW = "spent_now"
    EXPIRED = "expired"
    ALREADY_DONE = "already_done"
    SPENT = "spent"


@attrs.frozen
class Pending:
    """The fields both flows' pending values share, and the states they may be in.

    ``offline.PendingOffline`` and ``enrollment.PendingEnrollment`` add their own fields, and
    name their secret ones in ``_SECRET_FIELDS``.

    Attributes:
        params: what codes the token makes.
        expires_at: Unix seconds from which every step is refused.
        attempts: the attempts allowed, 1 to :data:`~softtoken._checks.MAX_ATTEMPTS`.
        budget: the failures counted (a :mod:`softtoken.throttle` state without delays); its
            block is the spent budget, and its open attempt, where a flow opens one, a secret
            awaiting its first code.
        done: the first code verified.
        expired: a step was refused for the expiry, and the secrets erased then.

    A value ends once at most: done, spent or expired; a done one has no failures, and an ended
    one no open attempt.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range or inconsistent fields.
    """

    _SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()
    """The fields that hold secrets: every one is None once the value has ended."""
    _OPENS_ATTEMPTS: ClassVar[bool] = False
    """Whether the flow opens an attempt before it compares (offline activation does)."""

    params: TokenParams = attrs.field(kw_only=True)
    expires_at: int = attrs.field(kw_only=True)
    attempts: int = attrs.field(kw_only=True)
    budget: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    done: bool = attrs.field(default=False, kw_only=True)
    expired: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.params, TokenParams) or not isinstance(self.budget, ThrottleState):
            raise TypeError("params must be TokenParams and budget ThrottleState")
        if type(self.done) is not bool or type(self.expired) is not bool:
            raise TypeError("done and expired must be bool")
        check_int(self.expires_at, "expires_at", 0, MAX_COUNTER)
        check_int(self.attempts, "attempts", 1, MAX_ATTEMPTS)
        budget, attempts = self.budget, self.attempts
        if budget.not_before or budget.episode != int(budget.blocked):
            raise InvalidInput("a pending budget has no delay and blocks at most once")
        if budget.blocked != (budget.failures >= attempts) or budget.failures > attempts:
            raise InvalidInput("a pending budget blocks exactly when the attempts are spent")
        if budget.attempt_open and (not self._OPENS_ATTEMPTS or self.done or self.expired):
            raise InvalidInput("an attempt is open only in a flow that opens one, before the end")
        if sum((self.done, budget.blocked, self.expired)) > 1:
            raise InvalidInput("a pending value ends once: done, spent or expired")
        if self.done and budget.failures:
            raise InvalidInput("a done pending value has no failures")

    @property
    def version(self) -> int:
        """Grows by one at every change, for a store's compare-and-set."""
        return self.budget.version


P = TypeVar("P", bound=Pending)


def expiry(now: int | dt.datetime, ttl: int, max_ttl: int, attempts: int) -> int:
    """The ``expires_at`` of a value started at *now* that lives *ttl* seconds, with the start's
    arguments checked before anything is drawn.

    Raises:
        TypeError: *ttl* or *attempts* is not an int. InvalidInput, InvalidTime: *ttl* is not 1
            to *max_ttl*, *attempts* not 1 to :data:`MAX_ATTEMPTS`, or *now* is not a valid
            time.
    """
    at = to_unix(now)
    check_int(ttl, "ttl", 1, max_ttl)
    check_int(attempts, "attempts", 1, MAX_ATTEMPTS)
    check_int(at + ttl, "expires_at", 0, MAX_COUNTER)
    return at + ttl


def ended(pending: Pending) -> bool:
    """Whether *pending* is done, spent or expired: then it holds no secret."""
    return pending.done or pending.budget.blocked or pending.expired


def check_secret(value: object, name: str, length: int, *, held: bool) -> None:
    """Check that *value* is *length* bytes when *held*, and None otherwise.

    Raises:
        TypeError: *value* is neither bytes nor None. InvalidInput: it is there when it must
            not be, or the other way round, or its length is wrong. The message never has it.
    """
    if (value is not None) != held:
        raise InvalidInput(f"a {name} is held exactly while it can still be used")
    if value is not None:
        check_bytes(value, name, length)


def flags_of(pending: Pending) -> int:
    """The flags byte of *pending*'s record: :data:`DONE`, :data:`SPENT`, :data:`OPEN`
    (an attempt is open) and :data:`EXPIRED`."""
    budget = pending.budget
    return (
        (DONE if pending.done else 0)
        | (SPENT if budget.blocked else 0)
        | (OPEN if budget.attempt_open else 0)
        | (EXPIRED if pending.expired else 0)
    )


def budget_from_flags(flags: int, failures: int, version: int) -> ThrottleState:
    """The budget a record with *flags*, *failures* and *version* stands for.

    Raises:
        InvalidInput: no budget has these fields (the caller's decoder turns it into its own
            error, after ``valid_or_none``).
    """
    spent = bool(flags & SPENT)
    return ThrottleState(
        failures=failures,
        blocked=spent,
        episode=int(spent),
        attempt_open=bool(flags & OPEN),
        version=version,
    )


def next_state(pending: P, budget: ThrottleState, **changes: Any) -> P:
    """*pending* with *budget* and *changes*, as one change: one version later than *pending*,
    whatever *budget*'s own version says."""
    counted = attrs.evolve(budget, version=pending.version + 1)
    return attrs.evolve(pending, budget=counted, **changes)


def end_state(pending: P, budget: ThrottleState, **changes: Any) -> P:
    """:func:`next_state`, with every secret field of *pending* erased: for a value that ends."""
    return next_state(pending, budget, **dict.fromkeys(pending._SECRET_FIELDS), **changes)


def refusal(pending: P, at: int) -> tuple[Step, P] | None:
    """The refusal of a step at *at*, unevaluated, and the value to store; None if it may go on.

    ALREADY_DONE, then SPENT, then EXPIRED (at or after ``expires_at``). The first EXPIRED erases
    the secrets, closes any open attempt uncounted and marks the value expired: one version
    later. Every other refusal, later EXPIRED ones included, returns *pending* itself.
    """
    if pending.done:
        return Step.ALREADY_DONE, pending
    if pending.budget.blocked:
        return Step.SPENT, pending
    if pending.expired:
        # Marked once, it stays expired even if the clock moves back: the secrets are gone.
        return Step.EXPIRED, pending
    if at < pending.expires_at:
        return None
    # Nothing may use the secrets from now on, so they go at the first refusal rather than stay
    # in the store for ever. An open attempt is closed uncounted, as nothing more is compared.
    budget = attrs.evolve(pending.budget, attempt_open=False)
    return Step.EXPIRED, end_state(pending, budget, expired=True)


def confirm(
    pending: P, secret: bytes | None, code: str, at: int, *, dropped: tuple[str, ...] = ()
) -> tuple[Step, P, ConfirmedToken | None] | None:
    """A first code's step: the :func:`refusal`, or *code* (bare digits) compared in the
    first-code window of *secret* and counted.

    CONFIRMED: the value is done, with its secrets erased, and the token to activate is
    returned. Otherwise one failure counted: SPENT_NOW when it used the last attempt (the
    secrets erased), else WRONG_CODE (the fields named in *dropped* erased). Each is one version
    step. None, with nothing compared or changed, when no refusal applies but there is no
    *secret* to compare with.

    The code is compared before the new value is stored: see the flows' ``confirm`` for what
    the store must then do.
    """
    refused = refusal(pending, at)
    if refused is not None:
        step, after = refused
        return step, after, None
    if secret is None:
        return None
    policy = ThrottlePolicy(max_failures=pending.attempts)
    match = match_first_code(pending.params, secret, code, now=at)
    if match is not None:
        _, budget = throttle.succeed(policy, pending.budget, at)
        token = ConfirmedToken(params=pending.params, secret=secret, match=match)
        return Step.CONFIRMED, end_state(pending, budget, done=True), token
    verdict, budget = throttle.fail(policy, pending.budget, at)
    if verdict is Verdict.BLOCKED_NOW:
        return Step.SPENT_NOW, end_state(pending, budget), None
    return Step.WRONG_CODE, next_state(pending, budget, **dict.fromkeys(dropped)), None
