"""softtoken: HOTP, TOTP and OCRA, and both sides of a banking soft token."""

from __future__ import annotations

from importlib.metadata import version as _version

from softtoken._encoding import b32decode, b32encode, hexdecode
from softtoken.exceptions import (
    AttemptNotOpen,
    CompatibilityWarning,
    IncompatibleURI,
    InvalidCode,
    InvalidEncoding,
    InvalidInput,
    InvalidKey,
    InvalidPINRecord,
    InvalidSuite,
    InvalidTime,
    InvalidURI,
    MalformedCode,
    MistypedCode,
    PINDelayed,
    PINLocked,
    PINNotAccepted,
    PINRejected,
    PINWiped,
    SoftTokenError,
    WrongPIN,
)
from softtoken.hotp import HOTP, TOTP, Match, generate_key
from softtoken.ocra import OCRA, OCRASuite

__version__ = _version("softtoken")

__all__ = [
    "HOTP",
    "OCRA",
    "TOTP",
    "AttemptNotOpen",
    "CompatibilityWarning",
    "IncompatibleURI",
    "InvalidCode",
    "InvalidEncoding",
    "InvalidInput",
    "InvalidKey",
    "InvalidPINRecord",
    "InvalidSuite",
    "InvalidTime",
    "InvalidURI",
    "MalformedCode",
    "Match",
    "MistypedCode",
    "OCRASuite",
    "PINDelayed",
    "PINLocked",
    "PINNotAccepted",
    "PINRejected",
    "PINWiped",
    "SoftTokenError",
    "WrongPIN",
    "__version__",
    "b32decode",
    "b32encode",
    "generate_key",
    "hexdecode",
]
