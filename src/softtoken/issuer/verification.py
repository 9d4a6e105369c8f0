"""Verifying a code against a token record: one pure transition (SECURITY.md S4 to S8).

:func:`check` runs, in one step, the window around the expected step (shifted by the token's
learned drift), the replay floor (nothing at or below ``last_counter``, RFC 6238 §5.2), the drift
update (bounded by the policy) and the failure count (:mod:`softtoken.throttle`: a block at the
policy's limit, which only an administrator lifts). :func:`resync` finds a drifted token from
two consecutive codes (RFC 4226 §7.4, RFC 6238 §6). Both return the cause, the :class:`Change`
to store by compare-and-set, and the match; the service tells the caller nothing but "accepted"
or one opaque ``InvalidCode``, and only after its write won.

Every wrong code costs the same work: the whole window is computed whatever the code (the
search is not cut short by the floor); only a match stops early. A failure's cause (a wrong
code, a replay, a block) goes to the audit trail, never to the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final

import attrs

from softtoken import throttle
from softtoken.exceptions import InvalidCode
from softtoken.hotp import HOTP, TOTP, Match
from softtoken.issuer.audit import Action
from softtoken.issuer.lifecycle import Change, Entry, changed, finish_release
from softtoken.issuer.policy import IssuerPolicy
from softtoken.issuer.records import BlockReason, TokenRecord, TokenState
from softtoken.throttle import Verdict

__all__ = ["Cause", "check", "resync"]


class Cause(enum.Enum):
    """What a verification found; the audit trail's ``outcome``."""

    ACCEPTED = "accepted"
    REPLAY = "replay"
    WRONG_CODE = "wrong_code"
    BLOCKED_NOW = "blocked_now"
    BLOCKED = "blocked"
    TOO_SOON = "too_soon"
    NOT_ACTIVE = "not_active"


_VERIFIABLE: Final = {
    Action.VERIFY: TokenState.ACTIVE,
    Action.RESYNC: TokenState.ACTIVE,
    Action.CONFIRM_RELEASE: TokenState.RELEASE_PENDING,
}


def _clamp(value: int, bound: int) -> int:
    return max(-bound, min(bound, value))


def _refused(record: TokenRecord, action: Action, now: int, cause: Cause) -> Change:
    """A refusal that changes nothing but the audit trail (so the version moves on)."""
    return Change(record, changed(record, now), Entry(action, cause.value))


def _failed(
    record: TokenRecord, policy: IssuerPolicy, action: Action, now: int, cause: Cause
) -> tuple[Cause, Change, None]:
    """Count one failure; at the limit the token is blocked, with the automatic reason."""
    verdict, counted = throttle.fail(policy.throttle, record.throttle, now)
    if verdict is Verdict.BLOCKED_NOW:
        after = changed(
            record,
            now,
            state=TokenState.BLOCKED,
            throttle=counted,
            block_reason=BlockReason.TOO_MANY_FAILURES,
            release_reason=None,
        )
        entry = Entry(action, cause.value, reason=BlockReason.TOO_MANY_FAILURES.value)
        return Cause.BLOCKED_NOW, Change(record, after, entry), None
    if verdict is not Verdict.FAILED:
        return Cause.TOO_SOON, _refused(record, action, now, Cause.TOO_SOON), None
    return (
        cause,
        Change(record, changed(record, now, throttle=counted), Entry(action, cause.value)),
        None,
    )


def _refusal(
    record: TokenRecord, policy: IssuerPolicy, action: Action, now: int
) -> tuple[Cause, Change, None] | None:
    if record.state is not _VERIFIABLE[action] or record.seed is None or record.params is None:
        cause = Cause.BLOCKED if record.state is TokenState.BLOCKED else Cause.NOT_ACTIVE
        return cause, _refused(record, action, now, cause), None
    refused = throttle.refusal(policy.throttle, record.throttle, now)
    if refused is not None:
        cause = Cause.BLOCKED if refused[0] is Verdict.BLOCKED else Cause.TOO_SOON
        return cause, _refused(record, action, now, cause), None
    return None


def _search(
    token: HOTP | TOTP, record: TokenRecord, code: str, now: int
) -> tuple[Match | None, int]:
    """The match of *code* near the expected step or counter, ignoring the floor, and the
    expected step or counter. The floor is applied by the caller, so that a replay costs what a
    wrong code costs."""
    window = record.window
    if isinstance(token, TOTP):
        expected = token.step(now)
        centre = max(0, now + record.drift * token.period)
        return _or_none(
            lambda: token.verify(code, at=centre, past=window.past, future=window.future)
        ), expected
    # HOTP looks ahead only (RFC 4226 §7.4): every counter behind the expected one is used. The
    # last used counter is tried too, so that the audit can tell a replay from a wrong code; a
    # wrong code always pays for it, so the work stays the same.
    expected = record.last_counter + 1
    found = _or_none(lambda: token.verify(code, counter=expected, look_ahead=window.future))
    replayed = None
    if record.last_counter >= 0:
        replayed = _or_none(lambda: token.verify(code, counter=record.last_counter))
    return found or replayed, expected


def _or_none(attempt: Callable[[], Match]) -> Match | None:
    try:
        return attempt()
    except InvalidCode:
        # A refusal is an answer here; the caller counts it.
        return None


def check(
    record: TokenRecord,
    code: str,
    now: int,
    policy: IssuerPolicy,
    *,
    action: Action = Action.VERIFY,
) -> tuple[Cause, Change, Match | None]:
    """Verify *code* (ASCII digits) against *record* at *now*.

    *action* is VERIFY for an active token's codes, or CONFIRM_RELEASE for a token whose release
    waits for a code (which the accepted code then completes).

    Returns:
        ACCEPTED, the change (failure count 0, floor at the match, drift learned) and the match,
        whose ``offset`` is the device's drift in steps (TOTP) or how far ahead its counter ran
        (HOTP). Otherwise the cause, the change (a failure counted, or only the audit entry)
        and None.
    """
    refused = _refusal(record, policy, action, now)
    if refused is not None:
        return refused
    assert record.params is not None
    assert record.seed is not None
    if len(code) != record.params.digits:
        return _failed(record, policy, action, now, Cause.WRONG_CODE)
    token = record.params.token(record.seed)
    found, expected = _search(token, record, code, now)
    if found is None:
        return _failed(record, policy, action, now, Cause.WRONG_CODE)
    if found.counter <= record.last_counter:
        return _failed(record, policy, action, now, Cause.REPLAY)
    return _accepted(record, policy, action, now, found.counter, found.counter - expected)


def _accepted(
    record: TokenRecord,
    policy: IssuerPolicy,
    action: Action,
    now: int,
    counter: int,
    offset: int,
) -> tuple[Cause, Change, Match]:
    _, passed = throttle.succeed(policy.throttle, record.throttle, now)
    drift = record.drift
    if record.params is not None and record.params.kind == "totp":
        drift = _clamp(offset, policy.max_drift)
    after = changed(record, now, last_counter=counter, drift=drift, throttle=passed)
    match = Match(counter, offset)
    if action is Action.CONFIRM_RELEASE:
        # The code is used, then the seed destroyed: one change from the stored record.
        released = finish_release(after, now)
        done = attrs.evolve(released.after, version=record.version + 1)
        return Cause.ACCEPTED, Change(record, done, released.entry), match
    return Cause.ACCEPTED, Change(record, after, Entry(action, Cause.ACCEPTED.value)), match


def resync(
    record: TokenRecord, first: str, second: str, now: int, policy: IssuerPolicy
) -> tuple[Cause, Change, Match | None]:
    """Find a drifted token from two consecutive codes, and set its drift (TOTP) or counter.

    TOTP searches ``policy.max_drift`` steps either way, HOTP ``policy.resync_span`` counters
    ahead; neither code may be at or below the floor. A failed resync counts one failure, like a
    wrong code, so that it is no free oracle.
    """
    refused = _refusal(record, policy, Action.RESYNC, now)
    if refused is not None:
        return refused
    assert record.params is not None
    assert record.seed is not None
    digits = record.params.digits
    if len(first) != digits or len(second) != digits:
        return _failed(record, policy, Action.RESYNC, now, Cause.WRONG_CODE)
    token = record.params.token(record.seed)
    floor = None if record.last_counter < 0 else record.last_counter
    try:
        if isinstance(token, TOTP):
            span = policy.max_drift
            found = token.resync(first, second, at=now, past=span, future=span, last_step=floor)
            expected = token.step(now)
        else:
            expected = record.last_counter + 1
            found = token.resync(
                first, second, counter=expected, look_ahead=policy.resync_span, last_counter=floor
            )
    except InvalidCode:
        return _failed(record, policy, Action.RESYNC, now, Cause.WRONG_CODE)
    cause, change, match = _accepted(
        record, policy, Action.RESYNC, now, found.counter, found.counter - expected
    )
    return cause, attrs.evolve(change, entry=Entry(Action.RESYNC, "resynced")), match
