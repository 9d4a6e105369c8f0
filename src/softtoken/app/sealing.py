"""Sealing: the keys that protect a wallet, and AES-GCM under them (SECURITY.md S14).

Three layers of keys, each derived with HKDF-SHA256 and a label of its own
(:class:`softtoken._kdf.Label`):

- The **device key** (32 bytes) stays outside the wallet, in a hardware keystore on a phone. It
  seals the whole blob (``Label.WALLET``) and names itself by a public 8-byte id
  (``Label.WALLET_KEY_ID``).
- Each identity's secret is sealed under its own random 32-byte **data key** (DEK).
- The DEK is wrapped twice over. Under the PIN: ``KEK = HKDF(device key, salt = PIN key,
  info = PIN_KEK | serial)``, where the PIN key comes from the identity's scrypt PIN verifier
  (:meth:`softtoken.pinverifier.PINVerifier.derive_key`). And under each future unlock code U of
  the reset codes R prepared for the next lock: ``KEK = HKDF(device key, salt = scrypt(U),
  info = UNLOCK_KEK | serial | R)``, with the lock episode in the associated data.

An attacker who holds the blob and the device key must still guess the 4-digit PIN (10^4 slow
hashes) or an 8-digit unlock code (10^8 slow hashes) to reach a secret; the escrows therefore
never lower the bound the PIN sets. Without the device key, the blob is opaque.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from softtoken import _random
from softtoken._checks import check_bytes
from softtoken._kdf import Label, hkdf, scrypt
from softtoken.app.records import Escrow
from softtoken.exceptions import InvalidKey
from softtoken.pinverifier import KDFParams
from softtoken.provisioning.identifiers import Serial
from softtoken.unlock import UnlockPolicy, compute_unlock_code, new_reset_code

__all__ = [
    "DEK_LENGTH",
    "DEVICE_KEY_LENGTH",
    "KEY_ID_LENGTH",
    "NONCE_LENGTH",
    "TAG_LENGTH",
    "check_device_key",
    "device_key_id",
    "encrypt",
    "escrow_aad",
    "make_escrows",
    "open_escrow",
    "open_sealed",
    "pin_kek",
    "seal",
    "wallet_key",
]

DEVICE_KEY_LENGTH: Final = 32
DEK_LENGTH: Final = 32
KEY_ID_LENGTH: Final = 8
# SP 800-38D §8.2.2: random 96-bit nonces; each key here seals far fewer than 2**32 messages.
NONCE_LENGTH: Final = 12
TAG_LENGTH: Final = 16


def check_device_key(device_key: object) -> None:
    """Raise TypeError or InvalidKey unless *device_key* is 32 bytes."""
    check_bytes(device_key, "device_key", DEVICE_KEY_LENGTH, error=InvalidKey)


def device_key_id(device_key: bytes) -> bytes:
    """Return the 8-byte key id that wallet blobs sealed under *device_key* carry.

    It is a one-way function of the key, safe to log.

    Raises:
        TypeError: *device_key* is not bytes. InvalidKey: it is not 32 bytes.
    """
    check_device_key(device_key)
    return hkdf(device_key, info=Label.WALLET_KEY_ID, length=KEY_ID_LENGTH)


def wallet_key(device_key: bytes) -> bytes:
    """The AES-256-GCM key that seals the whole blob."""
    return hkdf(device_key, info=Label.WALLET)


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """The AES-GCM ciphertext and tag of *plaintext* under *key* and *nonce*."""
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """A fresh random nonce followed by the AES-GCM ciphertext and tag."""
    nonce = _random.random_bytes(NONCE_LENGTH)
    return nonce + encrypt(key, nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    """The plaintext of :func:`seal`'s output, or None when authentication fails."""
    if len(sealed) < NONCE_LENGTH + TAG_LENGTH:
        return None
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_LENGTH], sealed[NONCE_LENGTH:], aad)
    except InvalidTag:
        return None


def pin_kek(device_key: bytes, serial: Serial, pin_key: bytes) -> bytes:
    """The key that wraps an identity's DEK under its PIN.

    RFC 5869 §3.1 allows a secret salt: the device key is the input keying material, the PIN
    key (from the slow PIN hash) the salt, and the label and serial the info.
    """
    return hkdf(device_key, salt=pin_key, info=Label.PIN_KEK + str(serial).encode("ascii"))


def _unlock_kek(
    device_key: bytes,
    serial: Serial,
    unlock_code: str,
    reset_code: str,
    salt: bytes,
    params: KDFParams,
) -> bytes:
    stretched = scrypt(unlock_code.encode("ascii"), salt, params)
    info = Label.UNLOCK_KEK + str(serial).encode("ascii") + reset_code.encode("ascii")
    return hkdf(device_key, salt=stretched, info=info)


def escrow_aad(serial: Serial, episode: int) -> bytes:
    """Associated data of an escrow: binds it to the serial and to one lock episode."""
    return Label.ESCROW_AAD + str(serial).encode("ascii") + b"\x00" + episode.to_bytes(8, "big")


def make_escrows(
    device_key: bytes,
    serial: Serial,
    secret: bytes,
    dek: bytes,
    *,
    params: KDFParams,
    policy: UnlockPolicy,
    episode: int,
) -> tuple[Escrow, ...]:
    """``policy.max_reset_codes`` fresh reset codes for lock *episode*, each with the DEK
    wrapped under the unlock code the bank will compute for it (one slow hash each)."""
    escrows = []
    aad = escrow_aad(serial, episode)
    for _ in range(policy.max_reset_codes):
        reset = new_reset_code()
        expected = compute_unlock_code(secret, serial, reset, digits=policy.digits)
        salt = _random.random_bytes(params.salt_length)
        kek = _unlock_kek(device_key, serial, expected, reset, salt, params)
        escrows.append(Escrow(reset, salt, seal(kek, dek, aad)))
    return tuple(escrows)


def open_escrow(
    device_key: bytes,
    serial: Serial,
    escrow: Escrow,
    unlock_code: str,
    *,
    params: KDFParams,
    episode: int,
) -> bytes | None:
    """The DEK when *unlock_code* is the escrow's unlock code; None otherwise.

    AES-GCM's authentication is the comparison: constant-time by construction.
    """
    kek = _unlock_kek(device_key, serial, unlock_code, escrow.reset_code, escrow.salt, params)
    return open_sealed(kek, escrow.wrapped, escrow_aad(serial, episode))
