"""Strict text encodings for keys and codes: base32, hex, and typed one-time codes.

Every parser here raises only softtoken's own errors (which are also ``ValueError``), refuses
anything outside its alphabet, and never echoes the input: the input may be a secret
(SECURITY.md S13).
"""

from __future__ import annotations

import base64
import re

from softtoken.exceptions import InvalidEncoding, MalformedCode

__all__ = ["b32decode", "b32encode", "hexdecode", "parse_code", "utf8_or_none"]

_B32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
# RFC 4648 §6: base32 works in 8-character quanta; a final quantum can only hold 2, 4, 5 or 7
# characters (1, 2, 3 or 4 bytes). Remainders of 1, 3 or 6 characters cannot come from any input.
_B32_VALID_REMAINDERS = frozenset({0, 2, 4, 5, 7})
_HEX_ALPHABET = frozenset("0123456789abcdefABCDEF")
# Groups of ASCII digits separated by exactly one space or dash, as apps display "370 749".
_GROUPED_CODE = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_SURROUNDING_WHITESPACE = " \t\r\n"


def b32decode(text: str) -> bytes:
    """Decode base32 text as people and otpauth URIs write it.

    Case does not matter, ``=`` padding is optional, and spaces between characters are ignored.

    Raises:
        TypeError: *text* is not a ``str``.
        InvalidEncoding: a character is outside the base32 alphabet, padding is misplaced, or the
            length cannot be the encoding of whole bytes. The message never includes the text.
    """
    if not isinstance(text, str):
        raise TypeError("base32 text must be str")
    # ASCII is checked before any case mapping: str.upper() maps the sharp s, the long s or the fi
    # ligature into the base32 alphabet, and a secret must not have two spellings (S13).
    if not text.isascii():
        raise InvalidEncoding("base32 text has a character outside A-Z and 2-7")
    compact = text.strip(_SURROUNDING_WHITESPACE).replace(" ", "").upper()
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    if not body:
        raise InvalidEncoding("base32 text is empty")
    if not _B32_ALPHABET.issuperset(body):
        raise InvalidEncoding("base32 text has a character outside A-Z and 2-7")
    remainder = len(body) % 8
    if remainder not in _B32_VALID_REMAINDERS:
        raise InvalidEncoding("base32 text has an impossible length")
    if padding and (len(body) + padding) % 8:
        raise InvalidEncoding("base32 padding does not complete the last group")
    # Trailing bits of the final quantum are ignored, as every mainstream authenticator does;
    # secrets typed or generated character by character often leave them non-zero.
    # The checks above admit only decodable text, so b32decode cannot fail here.
    return base64.b32decode(body + "=" * (-len(body) % 8))


def b32encode(data: bytes) -> str:
    """Encode *data* as canonical base32: upper case, no padding."""
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    return base64.b32encode(data).decode("ascii").rstrip("=")


def hexdecode(text: str) -> bytes:
    """Decode hex text, in either case, ignoring spaces between characters.

    Raises:
        TypeError: *text* is not a ``str``.
        InvalidEncoding: a character is not a hex digit, or the count is odd. The message never
            includes the text.
    """
    if not isinstance(text, str):
        raise TypeError("hex text must be str")
    compact = text.strip(_SURROUNDING_WHITESPACE).replace(" ", "")
    if not compact:
        raise InvalidEncoding("hex text is empty")
    if not _HEX_ALPHABET.issuperset(compact):
        raise InvalidEncoding("hex text has a character outside 0-9 and a-f")
    if len(compact) % 2:
        raise InvalidEncoding("hex text has an odd number of digits")
    return bytes.fromhex(compact)


def parse_code(code: str, digits: int) -> str:
    """Return the bare digits of a typed one-time code.

    Surrounding whitespace is allowed, and so is one space or dash between groups of digits
    (``"370 749"``, ``"1234-5678"``). Only ASCII digits count: full-width and other Unicode
    digits are refused, because they would otherwise compare unequal in surprising ways.

    Raises:
        TypeError: *code* is not a ``str`` (an ``int`` would lose leading zeros).
        MalformedCode: anything else is wrong with its shape.
    """
    if type(code) is not str:
        raise TypeError("a code must be str, never int: leading zeros matter")
    # The common case, exactly the digits and nothing else, costs three C-level checks.
    if len(code) == digits and code.isascii() and code.isdigit():
        return code
    stripped = code.strip(_SURROUNDING_WHITESPACE)
    if not stripped.isascii() or _GROUPED_CODE.fullmatch(stripped) is None:
        raise MalformedCode()
    bare = stripped.replace(" ", "").replace("-", "")
    if len(bare) != digits:
        raise MalformedCode()
    return bare


def utf8_or_none(text: str) -> bytes | None:
    """*text* as UTF-8, or None when it holds a lone surrogate (the one thing UTF-8 cannot
    encode).

    The caller raises its own error after this returns, so that no UnicodeEncodeError, which
    quotes the text, is left on that error's ``__context__``.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None
