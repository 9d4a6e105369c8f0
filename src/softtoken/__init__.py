"""softtoken: HOTP, TOTP and OCRA, and both sides of a banking soft token."""

from __future__ import annotations

from importlib.metadata import version as _version

from softtoken.exceptions import (
    InvalidCode,
    InvalidEncoding,
    InvalidInput,
    InvalidKey,
    InvalidTime,
    InvalidURI,
    MalformedCode,
    SoftTokenError,
)
from softtoken.hotp import HOTP, TOTP, Match, generate_key

__version__ = _version("softtoken")

__all__ = [
    "HOTP",
    "TOTP",
    "InvalidCode",
    "InvalidEncoding",
    "InvalidInput",
    "InvalidKey",
    "InvalidTime",
    "InvalidURI",
    "MalformedCode",
    "Match",
    "SoftTokenError",
    "__version__",
    "generate_key",
]
