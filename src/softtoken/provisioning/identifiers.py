"""The identifiers people read and type while provisioning a token, each with a Luhn check digit.

| value | digits | display | content |
|---|---|---|---|
| :class:`Serial` | 10 | ``NNNNN-NNNNN`` | 9 digits the issuer chooses, sequential or random |
| :class:`ActivationCode` | 16 | ``NNNN-NNNN-NNNN-NNNN`` | 15 random digits (49.8 bits) |
| :class:`RegistrationCode` | 10 | ``NNNNN-NNNNN`` | 9 digits the device draws (29.9 bits) |

The last digit of each is a Luhn check digit (ISO/IEC 7812-1 Annex B), as in the Entrust-style
deployments of the seeds: it catches every single-digit error and every swap of adjacent digits
but 09 <-> 90, so a typo is refused as :class:`~softtoken.exceptions.MistypedCode` before any
attempt is spent. It protects against typing, never against guessing.

Parsing is strict (SECURITY.md S13): the display form exactly, or the plain digits, with
surrounding whitespace; nothing else (no full-width digits, no other separators or groupings).
Serials are public. Activation and registration codes are secrets: never in a ``repr``, compared
in constant time, and never echoed by an error.
"""

from __future__ import annotations

from typing import ClassVar, Final, TypeVar

import attrs

from softtoken import _random
from softtoken._checkdigit import luhn_digit, luhn_valid
from softtoken._checks import check_int
from softtoken._secret import SECRET
from softtoken.exceptions import InvalidIdentifier, MistypedCode

__all__ = ["ActivationCode", "RegistrationCode", "Serial"]

_WHITESPACE: Final = " \t\r\n"
_T = TypeVar("_T", bound="_Identifier")
_R = TypeVar("_R", bound="_RandomCode")


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


class _Identifier:
    """What the three identifiers share: a length, a display grouping, Luhn, strict parsing."""

    LENGTH: ClassVar[int]
    GROUPS: ClassVar[tuple[int, ...]]
    NAME: ClassVar[str]
    digits: str

    @classmethod
    def _check(cls, value: object) -> None:
        if type(value) is not str:
            raise TypeError(f"{cls.NAME} is built from str")
        if not (len(value) == cls.LENGTH and _is_digits(value)):
            raise InvalidIdentifier(f"{cls.NAME} is {cls.LENGTH} ASCII digits")
        if not luhn_valid(value):
            raise MistypedCode()

    @classmethod
    def parse(cls: type[_T], text: str) -> _T:
        """Read *text*: the display form or the plain digits, with surrounding whitespace.

        Raises:
            TypeError: *text* is not a ``str``.
            InvalidIdentifier: the shape is wrong (also an InvalidInput).
            MistypedCode: the shape is right but the check digit does not hold.
            Neither message includes the text.
        """
        if type(text) is not str:
            raise TypeError(f"{cls.NAME} must be str")
        stripped = text.strip(_WHITESPACE)
        bare = stripped.replace("-", "")
        # Either no dash at all, or exactly the display grouping; the constructor then checks
        # the digits and the check digit.
        if stripped not in (bare, "-".join(_groups(bare, cls.GROUPS))):
            raise InvalidIdentifier(f"{cls.NAME} is written as its digits or {cls._shape()}")
        return cls(bare)  # type: ignore[call-arg]

    @classmethod
    def of(cls: type[_T], value: _T | str) -> _T:
        """*value* itself if it is one already; otherwise its text, parsed with :meth:`parse`.

        Raises:
            TypeError, InvalidIdentifier, MistypedCode: as :meth:`parse`.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        raise TypeError(f"{cls.NAME} must be given as one, or as str")

    @classmethod
    def _shape(cls) -> str:
        return "-".join("N" * size for size in cls.GROUPS)

    @classmethod
    def _with_check_digit(cls: type[_T], payload: str) -> _T:
        return cls(payload + luhn_digit(payload))  # type: ignore[call-arg]

    def __str__(self) -> str:
        """The canonical form: the bare digits."""
        return self.digits

    @property
    def display(self) -> str:
        """The grouped form people read, such as ``93171-12184``."""
        return "-".join(_groups(self.digits, self.GROUPS))


def _groups(digits: str, sizes: tuple[int, ...]) -> list[str]:
    out, start = [], 0
    for size in sizes:
        out.append(digits[start : start + size])
        start += size
    return out


def _validate(instance: _Identifier, _: object, value: str) -> None:
    type(instance)._check(value)


class _RandomCode(_Identifier):
    """What the two codes share: random digits, then the check digit."""

    @classmethod
    def generate(cls: type[_R]) -> _R:
        """A fresh code from the CSPRNG."""
        return cls._with_check_digit(_random.random_digits(cls.LENGTH - 1))

    @property
    def payload(self) -> int:
        """The random digits before the check digit, as a number."""
        return int(self.digits[:-1])


@attrs.frozen
class Serial(_Identifier):
    """A token serial: 9 digits the issuer chooses and a Luhn check digit. Public.

    Build one with :meth:`parse` or :meth:`from_number`; ``str(serial)`` is the 10 digits,
    ``serial.display`` is ``NNNNN-NNNNN``.
    """

    LENGTH: ClassVar[int] = 10
    GROUPS: ClassVar[tuple[int, ...]] = (5, 5)
    NAME: ClassVar[str] = "a serial"
    digits: str = attrs.field(validator=_validate)

    @classmethod
    def from_number(cls, number: int) -> Serial:
        """The serial whose first 9 digits are *number*, zero-padded, with its check digit.

        Raises:
            TypeError: *number* is not an ``int``. InvalidInput: it is not 0 to 999,999,999.
        """
        check_int(number, "number", 0, 10**9 - 1)
        return cls._with_check_digit(f"{number:09d}")


@attrs.frozen
class ActivationCode(_RandomCode):
    """A one-time activation code: 15 random digits (49.8 bits) and a Luhn check digit.

    A secret: hidden from ``repr``, compared in constant time. :meth:`generate` draws one from
    softtoken's one randomness helper.
    """

    LENGTH: ClassVar[int] = 16
    GROUPS: ClassVar[tuple[int, ...]] = (4, 4, 4, 4)
    NAME: ClassVar[str] = "an activation code"
    digits: str = attrs.field(validator=_validate, **SECRET)


@attrs.frozen
class RegistrationCode(_RandomCode):
    """A registration code: 9 digits from the device (29.9 bits) and a Luhn check digit.

    A secret: hidden from ``repr``, compared in constant time.
    """

    LENGTH: ClassVar[int] = 10
    GROUPS: ClassVar[tuple[int, ...]] = (5, 5)
    NAME: ClassVar[str] = "a registration code"
    digits: str = attrs.field(validator=_validate, **SECRET)
