"""The one exception tree of softtoken.

Every error the library raises on purpose derives from :class:`SoftTokenError`. Errors about bad
input also derive from :class:`ValueError`, so that callers who validate input generically keep
working. Messages are constant strings: no exception ever carries a key, a code, a PIN or a URI.
"""

from __future__ import annotations

__all__ = [
    "InvalidCode",
    "InvalidEncoding",
    "InvalidInput",
    "InvalidKey",
    "InvalidTime",
    "InvalidURI",
    "MalformedCode",
    "SoftTokenError",
]


class SoftTokenError(Exception):
    """Base class of every error softtoken raises on purpose."""


class InvalidInput(SoftTokenError, ValueError):
    """A value given to softtoken is not acceptable.

    The message says which rule was broken, never what the value was.
    """


class InvalidKey(InvalidInput):
    """A key is too short, or otherwise unusable."""


class InvalidEncoding(InvalidInput):
    """Text is not valid base32 or hex."""


class InvalidTime(InvalidInput):
    """A time is naive, negative, before the TOTP epoch, or out of range."""


class InvalidURI(InvalidInput):
    """An otpauth:// URI is malformed or has an unacceptable parameter."""


class InvalidCode(SoftTokenError):
    """A one-time code was not accepted.

    This is deliberately opaque: a wrong code, a replayed code and a code outside the window all
    raise it with the same message, so that the error is no oracle. Audit trails, not exceptions,
    record the real cause.
    """

    MESSAGE = "the code was not accepted"

    def __init__(self) -> None:
        # Setting args directly, rather than through super().__init__, saves about 100 ns on the
        # failure path, which every wrong code takes.
        self.args = (self.MESSAGE,)


class MalformedCode(InvalidCode, InvalidInput):
    """The code is not made of the expected number of ASCII digits.

    It is an :class:`InvalidCode`, so that one ``except InvalidCode`` covers every rejection, and
    an :class:`InvalidInput`, so that an app may tell the user to check what they typed. The check
    depends only on the typed text, never on the secret, so it reveals nothing about the key.
    """

    MESSAGE = "the code must be the expected number of ASCII digits"
