"""How a PIN is stored: a salted scrypt hash that also yields a key (SECURITY.md S10, S14).

One scrypt run over the PIN gives two independent values through HKDF: the *digest* that the
:class:`PINVerifier` stores, and the *PIN key* that the app uses to open an identity's data key.
Entering a PIN therefore costs exactly one slow hash, and whoever reads the stored digest learns
nothing about the PIN key without guessing the PIN.

What the slow hash does and does not do: a 4-digit PIN has 10,000 values, so no hash can protect
a stolen verifier against offline guessing. At :data:`PHONE_KDF` cost the whole space takes
about 40 to 45 minutes on one core of this project's machines. The verifier keeps PINs out of
plain sight, logs and backups; the lockout bounds online guessing; and the app's sealed blob
keeps the verifier itself out of reach without the device key.
"""

from __future__ import annotations

import struct
from hmac import compare_digest
from typing import Final

import attrs

from softtoken import _random
from softtoken._checks import valid_or_none
from softtoken._kdf import Label, ScryptParams, hkdf, scrypt
from softtoken._secret import SECRET
from softtoken.exceptions import InvalidInput, InvalidPINRecord

__all__ = [
    "INSECURE_TEST_KDF",
    "MAX_PIN_LENGTH",
    "MIN_PIN_LENGTH",
    "PHONE_KDF",
    "PIN_KEY_LENGTH",
    "KDFParams",
    "PINVerifier",
    "check_pin_type",
    "is_pin",
    "is_pin_text",
]

# SECURITY.md S10: PINs are 4 digits by default and 4 to 12 digits at most.
MIN_PIN_LENGTH: Final = 4
MAX_PIN_LENGTH: Final = 12
PIN_KEY_LENGTH: Final = 32
"""The length of the key :meth:`PINVerifier.derive_key` returns."""

KDFParams = ScryptParams
"""Versioned scrypt parameters for PIN verifiers (:class:`softtoken._kdf.ScryptParams`)."""

PHONE_KDF: Final = KDFParams(log2_n=17, r=8, p=1)
"""The default: N = 2^17, r = 8, p = 1, 16-byte salt, 32-byte hash: 128 MiB.

This is the minimum OWASP's Password Storage Cheat Sheet lists for scrypt. It took 0.24 to 0.27 s
per hash on this project's 2-core x86 machines (docs/security.md); a mid-range phone is a few times
slower, which is acceptable once per PIN entry. Verifiers made with other parameters are
upgraded after the next correct PIN (:meth:`PINVerifier.needs_rehash`).
"""

INSECURE_TEST_KDF: Final = KDFParams(log2_n=4, r=8, p=1)
"""N = 2^4: about 50 microseconds a hash. For tests only, never for a real PIN."""


def is_pin_text(pin: str) -> bool:
    """True when *pin* is made only of ASCII digits (full-width and other digits are refused)."""
    return pin.isascii() and pin.isdigit()


def is_pin(pin: str) -> bool:
    """True when *pin* could be any policy's PIN: 4 to 12 ASCII digits."""
    return MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH and is_pin_text(pin)


def check_pin_type(pin: object) -> None:
    """Raise TypeError unless *pin* is a ``str``."""
    if type(pin) is not str:
        raise TypeError("a PIN must be str, never int: leading zeros matter")


def _stretch(pin: str, salt: bytes, params: KDFParams) -> bytes:
    return scrypt(pin.encode("ascii"), salt, params)


def _digest(stretched: bytes, params: KDFParams) -> bytes:
    return hkdf(stretched, info=Label.PIN_VERIFIER, length=params.hash_length)


def _key(stretched: bytes) -> bytes:
    return hkdf(stretched, info=Label.PIN_KEY, length=PIN_KEY_LENGTH)


# The stored form: a tag, a record format, then the KDF parameters, salt and digest. Format 2
# derives the digest through HKDF (so that the same scrypt run can also give the PIN key).
_TAG: Final = b"PV"
_FORMAT: Final = 2
_HEADER: Final = struct.Struct(">2sB6B")


@attrs.frozen
class PINVerifier:
    """A PIN kept as a salted scrypt hash, with the parameters it was made with.

    Build one with :meth:`enroll`, :meth:`create` or :meth:`from_bytes`. The ``repr`` shows the
    parameters, never the salt or the digest. Equality compares them in constant time.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: salt or digest length does not fit the parameters.
    """

    params: KDFParams
    salt: bytes = attrs.field(**SECRET)
    digest: bytes = attrs.field(**SECRET)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.params, KDFParams):
            raise TypeError("params must be KDFParams")
        if type(self.salt) is not bytes or type(self.digest) is not bytes:
            raise TypeError("salt and digest must be bytes")
        if len(self.salt) != self.params.salt_length or len(self.digest) != self.params.hash_length:
            raise InvalidInput("salt or hash length does not match the KDF parameters")

    @classmethod
    def enroll(cls, pin: str, *, params: KDFParams = PHONE_KDF) -> tuple[PINVerifier, bytes]:
        """Hash *pin* under a fresh random salt; return the verifier and the PIN key.

        One slow hash. This applies no PIN policy; check one first.

        Raises:
            TypeError: *pin* is not a ``str`` or *params* not :class:`KDFParams`.
            InvalidInput: *pin* is not 4 to 12 ASCII digits. The message never includes it.
        """
        check_pin_type(pin)
        if not isinstance(params, KDFParams):
            raise TypeError("params must be KDFParams")
        if not is_pin(pin):
            raise InvalidInput("a PIN must be 4 to 12 ASCII digits")
        salt = _random.random_bytes(params.salt_length)
        stretched = _stretch(pin, salt, params)
        return cls(params, salt, _digest(stretched, params)), _key(stretched)

    @classmethod
    def create(cls, pin: str, *, params: KDFParams = PHONE_KDF) -> PINVerifier:
        """Hash *pin* under a fresh random salt; :meth:`enroll` without the key."""
        return cls.enroll(pin, params=params)[0]

    def derive_key(self, pin: str) -> bytes | None:
        """The PIN key when *pin* is this verifier's PIN; ``None`` otherwise. One slow hash.

        A sharp tool: it counts nothing and locks nothing (``softtoken.pinlock.enter_pin`` is the
        safe path). The digests are compared in constant time. Text that is not 4 to 12 ASCII
        digits is answered ``None`` without hashing; that shortcut depends only on the typed
        text, never on the stored PIN.

        Raises:
            TypeError: *pin* is not a ``str``.
        """
        check_pin_type(pin)
        if not is_pin(pin):
            return None
        stretched = _stretch(pin, self.salt, self.params)
        if not compare_digest(_digest(stretched, self.params), self.digest):
            return None
        return _key(stretched)

    def matches(self, pin: str) -> bool:
        """Whether *pin* is this verifier's PIN; a sharp tool, as :meth:`derive_key`."""
        return self.derive_key(pin) is not None

    def needs_rehash(self, params: KDFParams = PHONE_KDF) -> bool:
        """Whether this verifier was made with other parameters than *params*.

        The safe paths rehash on the next correct PIN entry, when the PIN is at hand.
        """
        return self.params != params

    def to_bytes(self) -> bytes:
        """Encode as ``b"PV"``, format 2, KDF version, log2_n, r, p, salt length, hash length
        (one byte each), then the salt and the digest."""
        p = self.params
        header = _HEADER.pack(
            _TAG, _FORMAT, p.version, p.log2_n, p.r, p.p, p.salt_length, p.hash_length
        )
        return header + self.salt + self.digest

    @classmethod
    def from_bytes(cls, data: bytes) -> PINVerifier:
        """Decode what :meth:`to_bytes` wrote, strictly.

        A changed salt or digest byte cannot be detected here (the verifier carries no MAC; the
        app's sealed blob does). Such a verifier decodes and then matches no PIN.

        Raises:
            TypeError: *data* is not ``bytes``.
            InvalidPINRecord: wrong tag or format, parameters out of range, or a length that
                does not match. The message never includes the data.
        """
        if type(data) is not bytes:
            raise TypeError("a PIN verifier must be bytes")
        if len(data) < _HEADER.size:
            raise InvalidPINRecord("PIN verifier data is truncated")
        tag, fmt, version, log2_n, r, p, salt_length, hash_length = _HEADER.unpack_from(data)
        if tag != _TAG or fmt != _FORMAT:
            raise InvalidPINRecord("data is not a PIN verifier of a known format")
        params = valid_or_none(
            lambda: KDFParams(
                version=version,
                log2_n=log2_n,
                r=r,
                p=p,
                salt_length=salt_length,
                hash_length=hash_length,
            )
        )
        if params is None:
            raise InvalidPINRecord("PIN verifier parameters are out of range")
        body = data[_HEADER.size :]
        if len(body) != salt_length + hash_length:
            raise InvalidPINRecord("PIN verifier data has the wrong length")
        return cls(params, body[:salt_length], body[salt_length:])
