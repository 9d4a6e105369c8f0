"""Argument checks and bounds shared by every module, so that a rule and its message exist once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from softtoken.exceptions import InvalidInput, KeyTooShort

_T = TypeVar("_T")

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_COUNTER",
    "MAX_DIGITS",
    "MAX_U8",
    "MAX_U16",
    "MAX_U32",
    "MIN_DIGITS",
    "MIN_KEY_BYTES",
    "MIN_LEGACY_KEY_BYTES",
    "check_bytes",
    "check_counter",
    "check_digits",
    "check_int",
    "check_key",
    "valid_or_none",
]

# RFC 4226 §5.2: the counter, and so every TOTP time step (RFC 6238 §4.2), is an 8-byte
# unsigned big-endian integer. Stored versions use the same width.
MAX_COUNTER: Final = 2**64 - 1
MAX_U32: Final = 2**32 - 1
MAX_U16: Final = 2**16 - 1
MAX_U8: Final = 2**8 - 1

# RFC 4226 §5.3: codes are the 31-bit truncated value reduced mod 10**digits. Fewer than 6 digits
# is too easy to guess (§7.1 and Appendix A); 10 is the most a 31-bit value can fill.
MIN_DIGITS: Final = 6
MAX_DIGITS: Final = 10

# RFC 4226 §4 R6 asks for 128 bits and recommends 160; 80-bit keys exist in old deployments and
# need an explicit opt-in.
MIN_KEY_BYTES: Final = 16
MIN_LEGACY_KEY_BYTES: Final = 10

MAX_ATTEMPTS: Final = 10
"""The most attempts an activation's budget may allow."""


def check_int(
    value: object, name: str, low: int, high: int, *, error: type[InvalidInput] = InvalidInput
) -> None:
    """Check that *value* is an ``int`` from *low* to *high* inclusive.

    Raises:
        TypeError: *value* is not an ``int``. A ``bool`` is refused too: it is an ``int``
            subclass, but ``True`` as a count or a size is always a bug.
        error: *value* is out of range; the message names *name* and the bounds. The caller
            picks the subclass of :class:`InvalidInput`, such as ``InvalidURI``.
    """
    if type(value) is not int:
        raise TypeError(f"{name} must be int")
    if not low <= value <= high:
        raise error(f"{name} must be from {low} to {high}")


def check_counter(
    value: object, name: str = "counter", *, error: type[InvalidInput] = InvalidInput
) -> None:
    """Check that *value* is an ``int`` counter or time step, 0 to :data:`MAX_COUNTER`
    (TypeError, or *error*)."""
    if type(value) is not int:
        raise TypeError(f"{name} must be int")
    if not 0 <= value <= MAX_COUNTER:
        raise error(f"{name} must fit in 8 unsigned bytes")


def check_bytes(
    value: object, name: str, size: int, *, error: type[InvalidInput] = InvalidInput
) -> bytes:
    """*value*, if it is ``bytes`` of exactly *size*; TypeError, or *error* for the length.

    The message names *name* and *size*, never the value.
    """
    if type(value) is not bytes:
        raise TypeError(f"{name} must be bytes")
    if len(value) != size:
        raise error(f"{name} must be {size} bytes")
    return value


def check_digits(value: object) -> None:
    """Check that *value* is a code length from :data:`MIN_DIGITS` to :data:`MAX_DIGITS`."""
    check_int(value, "digits", MIN_DIGITS, MAX_DIGITS)


def check_key(key: object, *, allow_short_key: bool) -> None:
    """Check that *key* is ``bytes`` of at least 16 bytes, or 10 with *allow_short_key*.

    Raises:
        TypeError: *key* is not ``bytes`` (base32 or hex text must be decoded first).
        KeyTooShort: the key is too short; ``legacy_opt_in`` says whether the opt-in would help.
    """
    if not isinstance(key, bytes):
        raise TypeError("key must be bytes; decode base32 or hex text first")
    minimum = MIN_LEGACY_KEY_BYTES if allow_short_key else MIN_KEY_BYTES
    if len(key) < minimum:
        raise KeyTooShort(
            minimum,
            legacy_opt_in=not allow_short_key and len(key) >= MIN_LEGACY_KEY_BYTES,
        )


def valid_or_none(build: Callable[[], _T]) -> _T | None:
    """``build()``, or None when it raises :class:`InvalidInput`.

    For decoders of stored records: the caller raises its own error *after* this returns, so
    that the constructor's error (and the data it may describe) is not left on the raised
    error's ``__context__``.
    """
    try:
        return build()
    except InvalidInput:
        return None
