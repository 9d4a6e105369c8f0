"""The HMAC layer shared by HOTP, TOTP and OCRA: hash names, prepared HMACs and truncation.

HMAC runs on OpenSSL through ``cryptography``. A prepared context keeps the key schedule (the
hashes of key^ipad and key^opad, RFC 2104 §2), so that each code costs one ``copy()`` and two
compression runs. Measured on this project's 2-core machine with Python 3.11: cryptography's
``HMAC.copy()`` about 0.69 us per code, hashlib inner/outer copies 0.82 us, ``hmac.HMAC.copy()``
1.38 us, one-shot ``hmac.digest`` 1.89 us (docs/performance.md).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from softtoken.exceptions import InvalidInput

__all__ = [
    "ALGORITHMS",
    "ALGORITHM_CODES",
    "DIGEST_SIZES",
    "Algorithm",
    "canonical_algorithm",
    "hash_bytes",
    "pack_counter",
    "prepare",
    "truncate",
    "unpack_word",
]

Algorithm = Literal["sha1", "sha256", "sha512"]
"""The HMAC hash names softtoken accepts, as written in code; any case is accepted at run time."""

_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha512": hashes.SHA512,
}
ALGORITHMS: Final[frozenset[str]] = frozenset(_HASHES)
"""The canonical (lower-case) names of the supported HMAC hashes: sha1, sha256, sha512."""
ALGORITHM_CODES: Final[tuple[Algorithm, ...]] = ("sha1", "sha256", "sha512")
"""The hashes in the order of their one-byte codes in stored records: a hash's code is its
position, so this tuple only ever grows at the end."""
DIGEST_SIZES: Final[dict[str, int]] = {name: make().digest_size for name, make in _HASHES.items()}
# Tokens share these interned strings instead of each holding its own copy (a prepared token is
# kept near 1 KiB, docs/performance.md).
_CANONICAL: Final[dict[str, Algorithm]] = {"sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}

# RFC 4226 §5.2: the counter is an 8-byte big-endian integer; so are OCRA's C and T (RFC 6287
# §5.1). RFC 4226 §5.3: dynamic truncation reads 4 bytes at the offset given by the low nibble
# of the last byte, as a big-endian integer whose top bit is then masked.
pack_counter: Final = struct.Struct(">Q").pack
unpack_word: Final = struct.Struct(">I").unpack_from


def canonical_algorithm(
    value: object, *, name: str = "algorithm", error: type[InvalidInput] = InvalidInput
) -> Algorithm:
    """Return the canonical name of the hash *value* names, in any case.

    *name* is the parameter's name, for the messages.

    Raises:
        TypeError: *value* is not a ``str``.
        error: the name is not sha1, sha256 or sha512 (the caller picks the subclass of
            :class:`InvalidInput`, such as ``InvalidURI`` for a URI parameter).
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str such as 'sha1'")
    canonical = _CANONICAL.get(value.lower())
    if canonical is None:
        raise error(f"{name} must be one of sha1, sha256, sha512")
    return canonical


def prepare(key: bytes, algorithm: Algorithm) -> crypto_hmac.HMAC:
    """An HMAC context keyed with *key*, to be ``copy()``-ed once per message."""
    return crypto_hmac.HMAC(key, _HASHES[algorithm]())


def truncate(digest: bytes) -> int:
    """RFC 4226 §5.3 dynamic truncation: the 31-bit value a code is reduced from."""
    word: int = unpack_word(digest, digest[-1] & 0x0F)[0]
    return word & 0x7FFFFFFF


def hash_bytes(algorithm: Algorithm, data: bytes) -> bytes:
    """The plain hash of *data* (OCRA's PIN field, RFC 6287 §5.1)."""
    digest = hashes.Hash(_HASHES[algorithm]())
    digest.update(data)
    return digest.finalize()
