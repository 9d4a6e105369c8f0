"""Check digits for codes that people read aloud and type: Luhn and Damm.

Both work on strings of ASCII digits. A check digit is a public function of the other digits,
so it protects against typing errors, never against guessing.

- **Luhn** (ISO/IEC 7812-1 Annex B) catches every single-digit error and every transposition of
  adjacent digits except 09 <-> 90. Bank customers know it from card numbers; it is here for the
  provisioning identifiers (serial, activation and registration codes) of the next issue.
- **Damm** (H. M. Damm, 2004) catches every single-digit error and every adjacent transposition,
  with a single 10 x 10 table. Reset codes, which an operator types while the user reads them
  over the phone, use it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["damm_digit", "damm_valid", "luhn_digit", "luhn_valid"]

# The standard totally anti-symmetric quasigroup of order 10, with zeros on its diagonal, so that
# a valid code (payload followed by its check digit) folds to 0.
_DAMM: Final = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
# Luhn doubles every second digit counted from the check digit; a doubled digit d contributes
# the digit sum of 2d.
_LUHN_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _damm_fold(digits: str) -> int:
    interim = 0
    for char in digits:
        interim = _DAMM[interim][ord(char) - 48]
    return interim


def damm_digit(payload: str) -> str:
    """The Damm check digit to append to *payload*, a string of ASCII digits."""
    return str(_damm_fold(payload))


def damm_valid(code: str) -> bool:
    """True when *code*, ASCII digits ending in its Damm check digit, is consistent."""
    return _damm_fold(code) == 0


def _luhn_sum(digits: str, *, double_last: bool) -> int:
    total = 0
    double = double_last
    for char in reversed(digits):
        digit = ord(char) - 48
        total += _LUHN_DOUBLED[digit] if double else digit
        double = not double
    return total


def luhn_digit(payload: str) -> str:
    """The Luhn check digit to append to *payload*, a string of ASCII digits."""
    # Once the check digit is appended, the payload's last digit is the first one doubled.
    return str(-_luhn_sum(payload, double_last=True) % 10)


def luhn_valid(code: str) -> bool:
    """True when *code*, ASCII digits ending in its Luhn check digit, is consistent."""
    return len(code) >= 2 and _luhn_sum(code, double_last=False) % 10 == 0
