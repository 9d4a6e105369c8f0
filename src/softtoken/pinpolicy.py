"""Which PINs may be chosen (SECURITY.md S10).

:meth:`PINPolicy.check` judges a new PIN by rules that need no secret: length, digits only, not
one repeated digit, not a run, not deny-listed. It may be called freely, as the user types.

Whether a PIN was used recently is a different question: answering it compares the guess with
stored PIN verifiers, so it is an oracle on the current PIN. :meth:`PINPolicy.reused` answers it
as a sharp tool, and the safe paths (``softtoken.app``) call it only after the caller has proven
the current PIN or a valid unlock code inside a counted attempt (S17).
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from softtoken._checks import check_int
from softtoken.exceptions import InvalidInput, PINRejected
from softtoken.pinverifier import (
    MAX_PIN_LENGTH,
    MIN_PIN_LENGTH,
    PINVerifier,
    check_pin_type,
    is_pin,
    is_pin_text,
)

__all__ = ["COMMON_PINS", "MAX_HISTORY", "PINPolicy", "PINRejection"]

MAX_HISTORY: Final = 10
"""The most previous PINs a policy may remember; each costs one slow hash when compared."""

# The most common 4-digit PINs in DataGenetics' analysis of 3.4 million leaked PINs (2012, top
# 20), plus the middle column of a phone keypad typed down and up. Several are already refused
# by the repeated-digit and run rules; the list is off by default (PINPolicy.deny_common).
COMMON_PINS: Final[frozenset[str]] = frozenset(
    {
        "1234", "1111", "0000", "1212", "7777", "1004", "2000", "4444", "2222", "6969",
        "9999", "3333", "5555", "6666", "1122", "1313", "8888", "4321", "2001", "1010",
        "2580", "0852",
    }
)  # fmt: skip


class PINRejection(enum.StrEnum):
    """One reason why a new PIN was refused. A ``str``, so that it prints as its value."""

    NOT_DIGITS = "not_digits"
    """The PIN contains something other than the ASCII digits 0-9 (or is empty)."""
    WRONG_LENGTH = "wrong_length"
    """The PIN is shorter or longer than the policy allows."""
    REPEATED_DIGIT = "repeated_digit"
    """The PIN is one digit repeated, such as 1111."""
    SEQUENTIAL = "sequential"
    """The PIN is one run of consecutive digits, up or down, such as 1234, 4321 or 8901."""
    RECENTLY_USED = "recently_used"
    """The PIN matches one of the last ``history`` PINs (told only after a counted proof)."""
    DENY_LISTED = "deny_listed"
    """The PIN is on the policy's deny-list or, when enabled, the built-in common-PIN list."""


def _is_repeated(pin: str) -> bool:
    return len(pin) >= 2 and pin.count(pin[0]) == len(pin)


def _is_run(pin: str) -> bool:
    # 0 follows 9 and 9 precedes 0: people type 8901 and 1098 as runs on a keypad, so each step
    # is taken modulo 10. A step of +1 everywhere is an ascending run, -1 (9 mod 10) descending.
    if len(pin) < 2:
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    return steps == {1} or steps == {9}


def _to_digit_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str | bytes):
        # A str is an iterable of characters; taking "1234" as {"1", "2", "3", "4"} is a bug.
        raise TypeError("deny_list must be an iterable of PIN strings, not one string")
    out = frozenset(values)
    for item in out:
        if type(item) is not str:
            raise TypeError("deny_list entries must be str")
        if not is_pin(item):
            raise InvalidInput("deny_list entries must be 4 to 12 ASCII digits")
    return out


@attrs.frozen
class PINPolicy:
    """The rules a new PIN must meet (SECURITY.md S10).

    Args:
        min_length, max_length: allowed PIN lengths, from 4 to 12 digits; both 4 by default.
        history: how many previous PINs may not be chosen again, 0 to 10; 1 by default.
        deny_common: also refuse the built-in :data:`COMMON_PINS`. Off by default.
        deny_list: further PINs to refuse, as strings of 4 to 12 ASCII digits. Hidden from
            ``repr``, since a bank may list a customer's birth date here.

    Rules, all always on:

    - Only the ASCII digits 0-9. Full-width, Arabic-Indic and other Unicode digits are refused,
      and nothing is stripped: a PIN is exactly the characters given.
    - Not one digit repeated (1111).
    - Not one run of consecutive digits, ascending or descending, over the whole PIN (1234,
      4321). **Runs wrap around**: 0 follows 9, so 8901, 7890, 9012 and 1098, 0987 are runs too,
      because that is how people type them. Partial runs such as 1235 are allowed.

    Raises:
        TypeError: a parameter has the wrong type.
        InvalidInput: a length or history is out of range, or min_length > max_length.
    """

    min_length: int = attrs.field(default=MIN_PIN_LENGTH, kw_only=True)
    max_length: int = attrs.field(default=MIN_PIN_LENGTH, kw_only=True)
    history: int = attrs.field(default=1, kw_only=True)
    deny_common: bool = attrs.field(default=False, kw_only=True)
    deny_list: frozenset[str] = attrs.field(
        default=frozenset(), kw_only=True, converter=_to_digit_set, repr=False
    )

    def __attrs_post_init__(self) -> None:
        check_int(self.min_length, "min_length", MIN_PIN_LENGTH, MAX_PIN_LENGTH)
        check_int(self.max_length, "max_length", MIN_PIN_LENGTH, MAX_PIN_LENGTH)
        if self.min_length > self.max_length:
            raise InvalidInput("min_length must not exceed max_length")
        check_int(self.history, "history", 0, MAX_HISTORY)
        if type(self.deny_common) is not bool:
            raise TypeError("deny_common must be bool")

    def _denied(self, pin: str) -> bool:
        return pin in self.deny_list or (self.deny_common and pin in COMMON_PINS)

    def rejections(self, pin: str) -> frozenset[PINRejection]:
        """Every rule *pin* breaks, as a frozenset; empty when the PIN may be chosen.

        No secret takes part: the answer depends only on *pin* and the policy. The digit rules
        are judged only when the PIN is ASCII digits; a PIN that is not gets ``NOT_DIGITS`` (and
        ``WRONG_LENGTH`` if its length is also wrong).

        Raises:
            TypeError: *pin* is not a ``str``.
        """
        check_pin_type(pin)
        reasons: set[PINRejection] = set()
        if not self.min_length <= len(pin) <= self.max_length:
            reasons.add(PINRejection.WRONG_LENGTH)
        if not is_pin_text(pin):
            reasons.add(PINRejection.NOT_DIGITS)
            return frozenset(reasons)
        if _is_repeated(pin):
            reasons.add(PINRejection.REPEATED_DIGIT)
        if _is_run(pin):
            reasons.add(PINRejection.SEQUENTIAL)
        if self._denied(pin):
            reasons.add(PINRejection.DENY_LISTED)
        return frozenset(reasons)

    def check(self, pin: str) -> None:
        """Return if *pin* meets the rules; otherwise raise with every reason that applies.

        No secret takes part (see :meth:`rejections`); the PIN history is not consulted.

        Raises:
            TypeError: *pin* is not a ``str``.
            PINRejected: with ``reasons``, a frozenset of :class:`PINRejection`. Its message is
                constant and never contains the PIN.
        """
        reasons = self.rejections(pin)
        if reasons:
            raise PINRejected(reasons)

    def reused(self, pin: str, previous: Sequence[PINVerifier]) -> bool:
        """Whether *pin* matches one of the first ``history`` verifiers in *previous*.

        **A sharp tool that evaluates secrets**: the answer tells whether *pin* is a current or
        recent PIN. Call it only after the caller has proven the current PIN or a valid unlock
        code inside a counted attempt, never to validate input as it is typed. Every
        remembered verifier is tried, even after a match, so the time taken does not tell
        which one matched; each costs one slow hash.

        Raises:
            TypeError: *pin* is not a ``str``, or *previous* holds something else than
                :class:`PINVerifier`.
        """
        check_pin_type(pin)
        recent = tuple(previous)[: self.history]
        if not all(isinstance(verifier, PINVerifier) for verifier in recent):
            raise TypeError("previous must be a sequence of PINVerifier")
        matched = [verifier.matches(pin) for verifier in recent]
        return any(matched)

    def next_history(
        self, new: PINVerifier, previous: Sequence[PINVerifier] = ()
    ) -> tuple[PINVerifier, ...]:
        """Return the history to keep after *new* becomes the PIN: newest first, ``history`` long.

        Never holds plaintext.
        """
        if not isinstance(new, PINVerifier) or not all(
            isinstance(v, PINVerifier) for v in previous
        ):
            raise TypeError("PIN history holds PINVerifier values only")
        return (new, *previous)[: self.history]

    def accepted_count(self) -> int:
        """Return how many PINs of the allowed lengths this policy accepts, before history.

        For each length L, that is every L-digit string minus the 10 repeated-digit PINs, minus
        the 20 runs (10 ascending and 10 descending, since runs wrap around), minus the
        deny-listed PINs of that length that no other rule refuses. A history of h PINs takes
        away at most h more. The exhaustive test checks this against brute force.
        """
        denied = self.deny_list | (COMMON_PINS if self.deny_common else frozenset())
        total = 0
        for length in range(self.min_length, self.max_length + 1):
            extra = sum(
                1
                for pin in denied
                if len(pin) == length and not (_is_repeated(pin) or _is_run(pin))
            )
            total += 10**length - 10 - 20 - extra
        return total
