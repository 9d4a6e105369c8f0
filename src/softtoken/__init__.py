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
    InvalidRecord,
    InvalidSuite,
    InvalidTime,
    InvalidURI,
    KeyTooShort,
    MalformedCode,
    MistypedCode,
    NotAccepted,
    PINDelayed,
    PINLocked,
    PINRejected,
    PINWiped,
    SoftTokenError,
    UnlockCodeRejected,
    WrongPIN,
    WrongState,
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
    "InvalidRecord",
    "InvalidSuite",
    "InvalidTime",
    "InvalidURI",
    "KeyTooShort",
    "MalformedCode",
    "Match",
    "MistypedCode",
    "NotAccepted",
    "OCRASuite",
    "PINDelayed",
    "PINLocked",
    "PINRejected",
    "PINWiped",
    "SoftTokenError",
    "UnlockCodeRejected",
    "WrongPIN",
    "WrongState",
    "__version__",
    "b32decode",
    "b32encode",
    "generate_key",
    "hexdecode",
]
