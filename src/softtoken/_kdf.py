"""Key derivation: scrypt for low-entropy secrets, HKDF for keys, and every label in one table.

- :func:`scrypt` (RFC 7914) slows down guessing of PINs and typed codes. Its parameters are a
  versioned :class:`ScryptParams` value, stored beside what it protects.
- :func:`hkdf` (RFC 5869, SHA-256) turns a uniformly random key into keys for separate purposes.
- :class:`Label` lists every domain-separation label softtoken uses, for HKDF ``info`` and for
  AES-GCM associated data. Two purposes never share a label, and no label is a prefix of
  another, so that appending a serial can never make one purpose's input equal another's.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from softtoken._checks import check_int
from softtoken.exceptions import InvalidInput

__all__ = ["MAX_SCRYPT_MEMORY", "Label", "ScryptParams", "hkdf", "scrypt"]


@enum.unique
class Label(bytes, enum.Enum):
    """Every domain-separation label, versioned; a label that is followed by variable data (a
    serial, a code) ends in a NUL byte, which no such data contains."""

    UNLOCK_KEY = b"softtoken/unlock/v1\x00"
    """HKDF info for the OCRA unlock key; the canonical serial follows (softtoken.unlock)."""
    PIN_VERIFIER = b"softtoken/pin/verifier/v2"
    """HKDF info: the stored PIN verifier digest, from scrypt(PIN)."""
    PIN_KEY = b"softtoken/pin/key/v2"
    """HKDF info: the PIN key that opens an identity, from the same scrypt(PIN)."""
    WALLET = b"softtoken/app/wallet/v1"
    """HKDF info: the key that seals the whole wallet blob, from the device key."""
    WALLET_KEY_ID = b"softtoken/app/key-id/v1"
    """HKDF info: the public 8-byte id of a device key."""
    PIN_KEK = b"softtoken/app/pin-kek/v2\x00"
    """HKDF info: the key that wraps an identity's data key under its PIN; the serial follows."""
    UNLOCK_KEK = b"softtoken/app/unlock-kek/v1\x00"
    """HKDF info: the key that wraps a data key under an unlock code; serial and reset code
    follow."""
    SECRET_AAD = b"softtoken/app/secret/v1\x00"
    """AES-GCM associated data of an identity's encrypted secret; the serial follows."""
    PIN_WRAP_AAD = b"softtoken/app/pin-wrap/v1\x00"
    """AES-GCM associated data of the PIN-wrapped data key; the serial follows."""
    ESCROW_AAD = b"softtoken/app/escrow/v1\x00"
    """AES-GCM associated data of an unlock escrow; the serial and the lock episode follow."""
    OFFLINE_ACTIVATION_KEY = b"softtoken/offline/activation-key/v1"
    """HKDF info: what the issuer keeps of an activation code (never the code itself)."""
    OFFLINE_SECRET = b"softtoken/offline/secret/v1\x00"
    """The scrypt input of an offline activation's token secret; its fields follow."""
    QR_PASSWORD = b"softtoken/qr/password/v1"
    """HKDF info: what the issuer keeps of a QR activation's SMS password."""
    QR_TRANSCRIPT = b"softtoken/qr/transcript/v1\x00"
    """The start of a QR activation's transcript, hashed into every key and MAC; fields follow."""
    QR_PROOF_KEY = b"softtoken/qr/proof-key/v1"
    """HKDF info: the key of the app's proof that it knows the password."""
    QR_CONFIRM_KEY = b"softtoken/qr/confirm-key/v1"
    """HKDF info: the key of the issuer's key-confirmation MAC."""
    QR_SECRET = b"softtoken/qr/secret/v1"
    """HKDF info: the token secret a QR activation yields."""
    ISSUER_SEAL = b"softtoken/issuer/seal/v1"
    """HKDF info: the AES-GCM key that seals issuer records, from a key-ring key."""
    ISSUER_RECORD_AAD = b"softtoken/issuer/record/v1\x00"
    """AES-GCM associated data of a sealed issuer record; its kind, key and index columns
    follow."""
    ISSUER_AUDIT = b"softtoken/issuer/audit/v1"
    """HKDF info: the HMAC key that chains audit events, from a key-ring key."""
    ISSUER_AUDIT_EVENT = b"softtoken/issuer/audit-event/v1\x00"
    """The start of an audit event's MAC input; the previous MAC and the event follow."""
    ISSUER_CODE = b"softtoken/issuer/code/v1"
    """HKDF info: the HMAC key of out-of-band code hashes, from a key-ring key."""
    ISSUER_CODE_HASH = b"softtoken/issuer/code-hash/v1\x00"
    """The start of an out-of-band code's keyed hash input; user, purpose, time and code
    follow."""


_SCRYPT_V1: Final = 1
_SUPPORTED_VERSIONS: Final = frozenset({_SCRYPT_V1})
MAX_SCRYPT_MEMORY: Final = 256 * 2**20
"""The most memory (128 * r * N bytes) a parameter set may ask for. A tampered or careless
parameter set must not make a phone allocate gigabytes."""


@attrs.frozen
class ScryptParams:
    """Versioned scrypt parameters (RFC 7914).

    Args:
        log2_n: scrypt's cost N as a power of two, from 1 to 20.
        r: block size, 1 to 32. p: parallelism, 1 to 16.
        salt_length: 16 to 64 bytes. hash_length: 16 to 64 bytes.
        version: the scheme; 1 is scrypt as used by ``softtoken.pinlock.PINVerifier``.

    Raises:
        TypeError: a parameter is not an ``int``.
        InvalidInput: a parameter is out of range, N is too large for r (RFC 7914 §2 asks for
            N < 2^(16r)), or the memory 128·r·N exceeds :data:`MAX_SCRYPT_MEMORY`.
    """

    log2_n: int = attrs.field(kw_only=True)
    r: int = attrs.field(kw_only=True)
    p: int = attrs.field(kw_only=True)
    salt_length: int = attrs.field(default=16, kw_only=True)
    hash_length: int = attrs.field(default=32, kw_only=True)
    version: int = attrs.field(default=_SCRYPT_V1, kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_int(self.version, "version", 0, 255)
        if self.version not in _SUPPORTED_VERSIONS:
            raise InvalidInput("unsupported KDF version")
        check_int(self.log2_n, "log2_n", 1, 20)
        check_int(self.r, "r", 1, 32)
        check_int(self.p, "p", 1, 16)
        # NIST SP 800-63B §5.1.1.2 asks for at least 32 bits of salt; 128 is the floor here.
        check_int(self.salt_length, "salt_length", 16, 64)
        check_int(self.hash_length, "hash_length", 16, 64)
        if self.log2_n >= 16 * self.r:
            raise InvalidInput("log2_n is too large for r")
        if self.memory > MAX_SCRYPT_MEMORY:
            raise InvalidInput("scrypt parameters need more than 256 MiB")

    @property
    def memory(self) -> int:
        """The bytes scrypt needs for its large vector: 128 * r * N (RFC 7914 §5)."""
        return 128 * self.r * (1 << self.log2_n)


def scrypt(secret: bytes, salt: bytes, params: ScryptParams) -> bytes:
    """scrypt(*secret*, *salt*) with *params*, ``params.hash_length`` bytes long."""
    kdf = Scrypt(salt=salt, length=params.hash_length, n=1 << params.log2_n, r=params.r, p=params.p)
    return kdf.derive(secret)


def hkdf(ikm: bytes, *, info: bytes, salt: bytes | None = None, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869) of *ikm*. *info* starts with a :class:`Label`.

    RFC 5869 §3.1 allows the salt to be omitted, or to be secret, when the input keying material
    is already a uniformly random key, as every *ikm* here is.
    """
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)
