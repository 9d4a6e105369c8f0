"""The bank's signature on a QR activation offer, and the keys an app pins (RFC 8032 Ed25519).

A forged QR could otherwise carry an attacker's X25519 key and collect a proof of the SMS
password to search offline. The bank signs every offer with a long-term Ed25519 key; an app
holds the public keys it trusts (shipped with the app, or configured by the bank) and answers
only offers one of them signed (:func:`is_trusted`). A key id, the first 8 bytes of SHA-256 of
the public key, lets an app pin several keys while the bank rotates them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from softtoken import _random
from softtoken._checks import check_bytes
from softtoken.exceptions import InvalidInput
from softtoken.provisioning.qr_messages import (
    KEY_BYTES,
    KEY_ID_BYTES,
    Offer,
    _check_signing_key,
)

__all__ = ["generate_signing_key", "is_trusted", "signing_key_id", "signing_public_key"]


# --------------------------------------------------------------------------------------------
# The bank's signing key (RFC 8032)
# --------------------------------------------------------------------------------------------


def generate_signing_key() -> bytes:
    """Bank: a new Ed25519 signing key, as its 32-byte seed (RFC 8032 §5.1.5), drawn from
    ``softtoken._random``. A secret: keep it as any signing key (an HSM, or sealed), apart
    from the pending values. Apps pin its :func:`signing_public_key`."""
    return _random.random_bytes(KEY_BYTES)


def signing_public_key(signing_key: bytes) -> bytes:
    """The 32-byte Ed25519 public key of the seed *signing_key* (RFC 8032 §5.1.5): the key an
    app pins, shipped with it or configured by the bank, never taken from an offer.

    Raises:
        TypeError: *signing_key* is not bytes. InvalidInput: it is not 32 bytes.
    """
    check_bytes(signing_key, "signing_key", KEY_BYTES)
    return Ed25519PrivateKey.from_private_bytes(signing_key).public_key().public_bytes_raw()


def signing_key_id(public_key: bytes) -> bytes:
    """The 8-byte id that an offer names its signing key by: the first 8 bytes of the SHA-256
    of the 32-byte Ed25519 *public_key*. Public, and only a name: the signature is what counts.

    Raises:
        TypeError: *public_key* is not bytes. InvalidInput: it is not 32 bytes.
    """
    check_bytes(public_key, "public_key", KEY_BYTES)
    return hashlib.sha256(public_key).digest()[:KEY_ID_BYTES]


def _pinned(trusted_keys: object) -> dict[bytes, list[bytes]]:
    """*trusted_keys* by key id, each checked; TypeError or InvalidInput otherwise."""
    # bytes and str are collections too: one key passed bare would be read as 32 integers.
    if isinstance(trusted_keys, bytes | bytearray | str) or not isinstance(
        trusted_keys, Collection
    ):
        raise TypeError("trusted_keys must be a collection of 32-byte Ed25519 public keys")
    if not trusted_keys:
        raise InvalidInput("trusted_keys is empty: pin at least one of the bank's keys")
    pinned: dict[bytes, list[bytes]] = {}
    for key in trusted_keys:
        _check_signing_key(key, "each trusted key")
        pinned.setdefault(signing_key_id(key), []).append(key)
    return pinned


def _verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _signed(offer: Offer, pinned: dict[bytes, list[bytes]]) -> bool:
    message = offer.signed_text().encode("ascii")
    return any(_verifies(key, offer.signature, message) for key in pinned.get(offer.key_id, ()))


def is_trusted(offer: Offer, *, trusted_keys: Collection[bytes]) -> bool:
    """Whether *offer* carries a valid Ed25519 signature (RFC 8032 §5.1.7) by one of
    *trusted_keys*, the bank keys the app pins (32 bytes each), found by the offer's key id.

    :func:`respond` checks this first; an app may also check it before it asks for the
    password, so that a forged offer is never answered with one. Offers are public, so this
    tells nothing secret.

    Raises:
        TypeError: *offer* is not an Offer, or *trusted_keys* is not a collection of bytes
            (a single key passed bare is refused).
        InvalidInput: *trusted_keys* is empty, or holds a key that is not 32 bytes, not
            canonically encoded, or of small order (with such a key anyone can forge).
    """
    if not isinstance(offer, Offer):
        raise TypeError("offer must be Offer")
    return _signed(offer, _pinned(trusted_keys))
