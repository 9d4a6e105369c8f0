"""The parameters of a token, as provisioning agrees on them and binds them into derivations."""

from __future__ import annotations

import struct
from typing import Final, Literal

import attrs

from softtoken._checks import MAX_U32, check_digits, check_int, valid_or_none
from softtoken._hmac import ALGORITHM_CODES, DIGEST_SIZES, Algorithm, canonical_algorithm
from softtoken.exceptions import InvalidInput
from softtoken.hotp import HOTP, TOTP

__all__ = ["DEFAULT_PARAMS", "Kind", "TokenParams"]

Kind = Literal["hotp", "totp"]
_KINDS: Final[tuple[Kind, ...]] = ("hotp", "totp")
# version (1), kind (1), algorithm (1), digits (1), period (4)
_LAYOUT: Final = struct.Struct(">BBBBI")
_FORMAT: Final = 1


def _check_kind(_: object, __: object, value: str) -> None:
    if value not in _KINDS:
        raise InvalidInput("kind must be hotp or totp")


def _check_digits(_: object, __: object, value: int) -> None:
    check_digits(value)


def _check_period(_: object, __: object, value: int) -> None:
    check_int(value, "period", 1, MAX_U32)


@attrs.frozen
class TokenParams:
    """What kind of codes a provisioned token makes.

    Attributes:
        kind: ``"totp"`` (the default) or ``"hotp"``.
        algorithm: the HMAC hash, ``"sha1"`` (the default), ``"sha256"`` or ``"sha512"``.
        digits: code length, 6 to 10.
        period: TOTP seconds per step; 30 by default, and kept at 30 for HOTP.
    """

    kind: Kind = attrs.field(default="totp", kw_only=True, validator=_check_kind)
    algorithm: Algorithm = attrs.field(default="sha1", kw_only=True, converter=canonical_algorithm)
    digits: int = attrs.field(default=6, kw_only=True, validator=_check_digits)
    period: int = attrs.field(default=30, kw_only=True, validator=_check_period)

    def __attrs_post_init__(self) -> None:
        if self.kind == "hotp" and self.period != 30:
            raise InvalidInput("period applies to TOTP only")

    @property
    def secret_length(self) -> int:
        """The length of a secret for these parameters: the hash's output, 20, 32 or 64 bytes
        (RFC 4226 §4 R6, RFC 6238 §5.1)."""
        return DIGEST_SIZES[self.algorithm]

    def to_bytes(self) -> bytes:
        """A canonical 8-byte encoding, to bind the parameters into a derivation: format 1,
        kind (0 hotp, 1 totp), algorithm (0 sha1, 1 sha256, 2 sha512), digits, period (4 bytes,
        big-endian)."""
        return _LAYOUT.pack(
            _FORMAT,
            _KINDS.index(self.kind),
            ALGORITHM_CODES.index(self.algorithm),
            self.digits,
            self.period,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TokenParams | None:
        """Read what :meth:`to_bytes` wrote; None for anything else (the caller raises its own
        error, outside any except block)."""
        if type(data) is not bytes or len(data) != _LAYOUT.size:
            return None
        fmt, kind, algorithm, digits, period = _LAYOUT.unpack(data)
        if fmt != _FORMAT or kind >= len(_KINDS) or algorithm >= len(ALGORITHM_CODES):
            return None
        # The constructor checks digits and period, with the same rules as for any caller.
        return valid_or_none(
            lambda: cls(
                kind=_KINDS[kind],
                algorithm=ALGORITHM_CODES[algorithm],
                digits=digits,
                period=period,
            )
        )

    def token(self, secret: bytes) -> HOTP | TOTP:
        """The token that makes these codes from *secret*."""
        if self.kind == "hotp":
            return HOTP(secret, digits=self.digits, algorithm=self.algorithm)
        return TOTP(secret, digits=self.digits, algorithm=self.algorithm, period=self.period)


DEFAULT_PARAMS: Final = TokenParams()
"""TOTP, SHA1, 6 digits, 30-second steps: what every authenticator app reads."""
