"""What the command tells the user about PINs, codes and identities, made from exception
classes and their attributes.

softtoken's exceptions say what happened in their class and attributes (``remaining_tries``,
``just_now``, ``new_reset_code``, ``reasons``); these functions turn them into sentences. No
message is ever parsed, and none holds a PIN, a code or a key.
"""

from __future__ import annotations

from typing import Final

from softtoken.app import IdentityInfo
from softtoken.cli._input import BadInput
from softtoken.exceptions import (
    NotAccepted,
    PINDelayed,
    PINLocked,
    PINRejected,
    PINWiped,
    UnlockCodeRejected,
    WrongPIN,
)
from softtoken.pinlock import PINRejection, Status

__all__ = [
    "MISTYPED_RESET_CODE",
    "WIPED",
    "check_pin_shape",
    "code_refusal",
    "pin_rejected",
    "plural",
    "status_refusal",
    "unlock_refusal",
]

MISTYPED_RESET_CODE: Final = "the reset code's check digit does not match; read it again"
_RESET_HINT: Final = "run 'softtoken app reset-code' and read the reset code to the bank"
WIPED: Final = "the identity was wiped: its key is gone, and only the bank can enrol it again"
_NEW_RESET_CODE: Final = (
    "the unlock code was not accepted, and that reset code is used up: run "
    "'softtoken app reset-code' for the new one and read it to the bank"
)
_REASONS: Final[dict[str, str]] = {
    PINRejection.NOT_DIGITS: "it has characters other than the digits 0 to 9",
    PINRejection.WRONG_LENGTH: "it has the wrong number of digits",
    PINRejection.REPEATED_DIGIT: "it is one digit repeated",
    PINRejection.SEQUENTIAL: "it is a run of consecutive digits",
    PINRejection.RECENTLY_USED: "it was used recently",
    PINRejection.DENY_LISTED: "it is too common",
}


def plural(number: int, one: str, many: str | None = None) -> str:
    """``1 try``, ``3 tries``, ``0 seconds``: *number* and the noun that agrees with it."""
    return f"{number} {one if number == 1 else (many or one + 's')}"


def _tries(number: int) -> str:
    return plural(number, "try", "tries")


def check_pin_shape(pin: str, low: int, high: int) -> None:
    """Refuse a PIN that is not *low* to *high* ASCII digits, saying what the policy allows.

    The policy is public, so telling a PIN's length (never its digits) reveals nothing; and a PIN
    of the wrong shape cannot be the right one, so it is refused before any attempt is counted,
    as a phone keypad would.

    Raises:
        BadInput: "a PIN has 4 digits; this one has 3" and the like.
    """
    allowed = plural(low, "digit") if low == high else f"{low} to {high} digits"
    if not pin:
        raise BadInput(f"no PIN was given; a PIN has {allowed}")
    if not (pin.isascii() and pin.isdigit()):
        raise BadInput(
            f"a PIN has only the digits 0 to 9 ({allowed}); this one has other characters"
        )
    if not low <= len(pin) <= high:
        raise BadInput(f"a PIN has {allowed}; this one has {len(pin)}")


def pin_rejected(error: PINRejected) -> str:
    """Why a new PIN was refused, in words and as the machine-readable reasons."""
    reasons = sorted(str(reason) for reason in error.reasons)
    described = "; ".join(
        _REASONS.get(reason, "it breaks a rule of the policy") for reason in reasons
    )
    return f"the new PIN is refused: {described} ({', '.join(reasons)})"


def code_refusal(error: NotAccepted) -> str:
    """What a refused PIN entry did (``app code``)."""
    if isinstance(error, PINDelayed):
        return (
            f"too soon after a wrong PIN: wait {plural(error.retry_after, 'second')} and try "
            "again; this PIN was not checked or counted"
        )
    if isinstance(error, WrongPIN):
        return f"wrong PIN; {_tries(error.remaining_tries)} left"
    if isinstance(error, PINLocked):
        if error.just_now:
            return f"wrong PIN; the identity is now locked: {_RESET_HINT}"
        return f"the identity is locked: {_RESET_HINT}"
    if isinstance(error, PINWiped):
        return f"wrong PIN; {WIPED}" if error.just_now else WIPED
    return "the PIN was not accepted"


def unlock_refusal(error: NotAccepted) -> str:
    """What a refused unlock code did (``app unlock``)."""
    if isinstance(error, UnlockCodeRejected):
        if error.new_reset_code:
            return _NEW_RESET_CODE
        return (
            f"the unlock code was not accepted; {_tries(error.remaining_tries)} left with this "
            "reset code"
        )
    if isinstance(error, PINWiped):
        return f"the unlock code was not accepted; {WIPED}" if error.just_now else WIPED
    return "the unlock code was not accepted"


def status_refusal(info: IdentityInfo) -> str | None:
    """Why nothing can be entered for this identity now (locked or wiped), or None."""
    if info.status is Status.WIPED:
        return WIPED
    if info.status is Status.LOCKED:
        return f"the identity is locked: {_RESET_HINT}"
    return None
