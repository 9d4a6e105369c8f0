"""A pure-Python transcription of the standards behind HOTP and TOTP, for tests and benchmarks.

Nothing in softtoken chooses this module at run time, and nothing should: it is slow, it makes no
attempt at constant-time behaviour, and it exists only so that tests can compare the fast path in
:mod:`softtoken.hotp` against an implementation that shares no code with it (ARCHITECTURE.md,
"the pure-Python reference is never chosen silently"). Benchmarks use it as the slow baseline.

It follows the documents step by step, in their own names, and imports no hashing library:

- SHA-1, SHA-256 and SHA-512 from FIPS 180-4 (sections cited below);
- HMAC from RFC 2104, and HKDF from RFC 5869 (for the vector generators of softtoken's own
  formats);
- HOTP from RFC 4226 §5 and TOTP from RFC 6238 §4.

Readability comes before speed, but every step is linear in the message length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

import attrs

from softtoken.exceptions import InvalidInput, InvalidTime

__all__ = [
    "ALGORITHMS",
    "BLOCK_SIZES",
    "hash_digest",
    "hkdf_sha256",
    "hmac_digest",
    "hotp",
    "sha1",
    "sha256",
    "sha512",
    "totp",
    "truncate",
]


# ---------------------------------------------------------------------------------------------
# FIPS 180-4 §2.2.2 and §3.2: operations on w-bit words.
# ---------------------------------------------------------------------------------------------


def _rotl(x: int, n: int, w: int) -> int:
    """ROTL^n(x) for a w-bit word (FIPS 180-4 §3.2, item 5)."""
    return ((x << n) | (x >> (w - n))) & ((1 << w) - 1)


def _rotr(x: int, n: int, w: int) -> int:
    """ROTR^n(x) for a w-bit word (FIPS 180-4 §3.2, item 4)."""
    return ((x >> n) | (x << (w - n))) & ((1 << w) - 1)


def _ch(x: int, y: int, z: int) -> int:
    """Ch(x, y, z): each bit of x chooses between y and z (FIPS 180-4 §4.1.1, §4.1.2, §4.1.3)."""
    # ~x is negative in Python; and-ing with z (a non-negative word) keeps only z's w bits.
    return (x & y) ^ (~x & z)


def _parity(x: int, y: int, z: int) -> int:
    """Parity(x, y, z) of SHA-1 (FIPS 180-4 §4.1.1)."""
    return x ^ y ^ z


def _maj(x: int, y: int, z: int) -> int:
    """Maj(x, y, z): the majority of each bit (FIPS 180-4 §4.1.1, §4.1.2, §4.1.3)."""
    return (x & y) ^ (x & z) ^ (y & z)


# ---------------------------------------------------------------------------------------------
# FIPS 180-4 §5.1 and §5.2: padding and parsing.
# ---------------------------------------------------------------------------------------------


def _pad(message: bytes, block_bytes: int) -> bytes:
    """Pad *message* to whole blocks (FIPS 180-4 §5.1.1 for 64-byte, §5.1.2 for 128-byte blocks).

    Append the bit "1" (the byte 0x80, since messages here are whole bytes), then zeros, then the
    message length in bits as a big-endian integer of 8 bytes (64-byte blocks) or 16 bytes
    (128-byte blocks), so that the total is a multiple of the block size.
    """
    length_bytes = block_bytes // 8
    zeros = (-(len(message) + 1 + length_bytes)) % block_bytes
    bit_length = (8 * len(message)).to_bytes(length_bytes, "big")
    return message + b"\x80" + b"\x00" * zeros + bit_length


def _blocks(padded: bytes, block_bytes: int, word_bytes: int) -> list[list[int]]:
    """Parse the padded message into blocks of sixteen big-endian words (FIPS 180-4 §5.2)."""
    return [
        [
            int.from_bytes(padded[start + i : start + i + word_bytes], "big")
            for i in range(0, block_bytes, word_bytes)
        ]
        for start in range(0, len(padded), block_bytes)
    ]


# ---------------------------------------------------------------------------------------------
# SHA-1: FIPS 180-4 §4.1.1, §4.2.1, §5.3.1 and §6.1.
# ---------------------------------------------------------------------------------------------

# §4.2.1: one constant for each group of twenty rounds.
_SHA1_K: Final = (0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6)
# §5.3.1: the initial hash value H(0).
_SHA1_H0: Final = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
_SHA1_F: Final = (_ch, _parity, _maj, _parity)


def sha1(message: bytes) -> bytes:
    """Return the 20-byte SHA-1 digest of *message* (FIPS 180-4 §6.1)."""
    w, mask = 32, 0xFFFFFFFF
    h = list(_SHA1_H0)
    for block in _blocks(_pad(message, 64), 64, 4):
        # §6.1.2 step 1: the message schedule W_0 .. W_79.
        schedule = list(block)
        for t in range(16, 80):
            mixed = schedule[t - 3] ^ schedule[t - 8] ^ schedule[t - 14] ^ schedule[t - 16]
            schedule.append(_rotl(mixed, 1, w))
        # Step 2: the working variables start from the previous hash value.
        a, b, c, d, e = h
        # Step 3: eighty rounds; f_t and K_t change every twenty rounds (§4.1.1, §4.2.1).
        for t in range(80):
            f = _SHA1_F[t // 20]
            temp = (_rotl(a, 5, w) + f(b, c, d) + e + _SHA1_K[t // 20] + schedule[t]) & mask
            a, b, c, d, e = temp, a, _rotl(b, 30, w), c, d
        # Step 4: the intermediate hash value H(i).
        h = [(x + y) & mask for x, y in zip(h, (a, b, c, d, e), strict=True)]
    return b"".join(x.to_bytes(4, "big") for x in h)


# ---------------------------------------------------------------------------------------------
# SHA-256 and SHA-512: FIPS 180-4 §4.1.2, §4.1.3, §4.2.2, §4.2.3, §5.3.3, §5.3.5, §6.2 and §6.4.
#
# The two differ only in word size, round count, rotation amounts and constants, so one
# transcription of the computation serves both, with those differences as parameters.
# ---------------------------------------------------------------------------------------------


def _first_primes(count: int) -> list[int]:
    """The first *count* prime numbers, by trial division."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return primes


def _integer_cube_root(n: int) -> int:
    """The largest integer r with r**3 <= n, by Newton's method from above."""
    r = 1 << -(-n.bit_length() // 3)
    while True:
        smaller = (2 * r + n // (r * r)) // 3
        if smaller >= r:
            return r
        r = smaller


def _fraction_bits_of_square_root(p: int, bits: int) -> int:
    """The first *bits* bits of the fractional part of sqrt(p)."""
    # floor(sqrt(p) * 2**bits) == isqrt(p * 2**(2 * bits)); the mask drops the integer part.
    return math.isqrt(p << (2 * bits)) & ((1 << bits) - 1)


def _fraction_bits_of_cube_root(p: int, bits: int) -> int:
    """The first *bits* bits of the fractional part of the cube root of p."""
    return _integer_cube_root(p << (3 * bits)) & ((1 << bits) - 1)


@attrs.frozen
class _SHA2:
    """The parameters that tell SHA-256 from SHA-512 (FIPS 180-4 §4.1.2 / §4.1.3)."""

    word_bits: int
    rounds: int
    # (a, b, c) such that the function is ROTR^a ^ ROTR^b ^ ROTR^c, or ROTR^a ^ ROTR^b ^ SHR^c
    # for the lower-case sigmas.
    big_sigma0: tuple[int, int, int]
    big_sigma1: tuple[int, int, int]
    small_sigma0: tuple[int, int, int]
    small_sigma1: tuple[int, int, int]
    # §4.2.2 / §4.2.3: the round constants K_0 .. K_{rounds-1}.
    k: tuple[int, ...]
    # §5.3.3 / §5.3.5: the initial hash value H(0).
    h0: tuple[int, ...]

    @property
    def block_bytes(self) -> int:
        """Sixteen words per block (FIPS 180-4 §5.2.1, §5.2.2)."""
        return 16 * self.word_bits // 8

    @property
    def mask(self) -> int:
        """Addition is modulo 2**w (FIPS 180-4 §3.2, item 1)."""
        return (1 << self.word_bits) - 1


def _sha2_parameters(
    *,
    word_bits: int,
    rounds: int,
    big_sigma0: tuple[int, int, int],
    big_sigma1: tuple[int, int, int],
    small_sigma0: tuple[int, int, int],
    small_sigma1: tuple[int, int, int],
) -> _SHA2:
    """Collect one variant's parameters, deriving its constants from their definitions."""
    primes = _first_primes(rounds)
    return _SHA2(
        word_bits=word_bits,
        rounds=rounds,
        big_sigma0=big_sigma0,
        big_sigma1=big_sigma1,
        small_sigma0=small_sigma0,
        small_sigma1=small_sigma1,
        # §4.2.2 / §4.2.3: "the first thirty-two [sixty-four] bits of the fractional parts of the
        # cube roots of the first sixty-four [eighty] prime numbers".
        k=tuple(_fraction_bits_of_cube_root(p, word_bits) for p in primes),
        # §5.3.3 / §5.3.5: "the first thirty-two [sixty-four] bits of the fractional parts of the
        # square roots of the first eight prime numbers".
        h0=tuple(_fraction_bits_of_square_root(p, word_bits) for p in primes[:8]),
    )


# §4.1.2, functions (4.4) to (4.7).
_SHA256: Final = _sha2_parameters(
    word_bits=32,
    rounds=64,
    big_sigma0=(2, 13, 22),
    big_sigma1=(6, 11, 25),
    small_sigma0=(7, 18, 3),
    small_sigma1=(17, 19, 10),
)
# §4.1.3, functions (4.10) to (4.13).
_SHA512: Final = _sha2_parameters(
    word_bits=64,
    rounds=80,
    big_sigma0=(28, 34, 39),
    big_sigma1=(14, 18, 41),
    small_sigma0=(1, 8, 7),
    small_sigma1=(19, 61, 6),
)


def _sha2(spec: _SHA2, message: bytes) -> bytes:
    """The SHA-256 / SHA-512 hash computation (FIPS 180-4 §6.2.2 / §6.4.2)."""
    w, mask = spec.word_bits, spec.mask

    def big_sigma(x: int, amounts: tuple[int, int, int]) -> int:
        return _rotr(x, amounts[0], w) ^ _rotr(x, amounts[1], w) ^ _rotr(x, amounts[2], w)

    def small_sigma(x: int, amounts: tuple[int, int, int]) -> int:
        return _rotr(x, amounts[0], w) ^ _rotr(x, amounts[1], w) ^ (x >> amounts[2])

    h = list(spec.h0)
    for block in _blocks(_pad(message, spec.block_bytes), spec.block_bytes, w // 8):
        # Step 1: the message schedule W_0 .. W_{rounds-1}.
        schedule = list(block)
        for t in range(16, spec.rounds):
            schedule.append(
                (
                    small_sigma(schedule[t - 2], spec.small_sigma1)
                    + schedule[t - 7]
                    + small_sigma(schedule[t - 15], spec.small_sigma0)
                    + schedule[t - 16]
                )
                & mask
            )
        # Step 2: the working variables start from the previous hash value.
        a, b, c, d, e, f, g, hh = h
        # Step 3: the rounds.
        for t in range(spec.rounds):
            t1 = (
                hh + big_sigma(e, spec.big_sigma1) + _ch(e, f, g) + spec.k[t] + schedule[t]
            ) & mask
            t2 = (big_sigma(a, spec.big_sigma0) + _maj(a, b, c)) & mask
            a, b, c, d, e, f, g, hh = (t1 + t2) & mask, a, b, c, (d + t1) & mask, e, f, g
        # Step 4: the intermediate hash value H(i).
        h = [(x + y) & mask for x, y in zip(h, (a, b, c, d, e, f, g, hh), strict=True)]
    return b"".join(x.to_bytes(w // 8, "big") for x in h)


def sha256(message: bytes) -> bytes:
    """Return the 32-byte SHA-256 digest of *message* (FIPS 180-4 §6.2)."""
    return _sha2(_SHA256, message)


def sha512(message: bytes) -> bytes:
    """Return the 64-byte SHA-512 digest of *message* (FIPS 180-4 §6.4)."""
    return _sha2(_SHA512, message)


_HASHES: Final[Mapping[str, Callable[[bytes], bytes]]] = {
    "sha1": sha1,
    "sha256": sha256,
    "sha512": sha512,
}
ALGORITHMS: Final[frozenset[str]] = frozenset(_HASHES)
# RFC 2104 §2: B, the block size of the hash in bytes (FIPS 180-4 §1, Figure 1).
BLOCK_SIZES: Final[Mapping[str, int]] = {"sha1": 64, "sha256": 64, "sha512": 128}


def _hash_function(algorithm: str) -> Callable[[bytes], bytes]:
    if not isinstance(algorithm, str):
        raise TypeError("algorithm must be a str such as 'sha1'")
    if algorithm not in _HASHES:
        raise InvalidInput("algorithm must be one of sha1, sha256, sha512")
    return _HASHES[algorithm]


def hash_digest(message: bytes, algorithm: str) -> bytes:
    """Return the digest of *message* under *algorithm*: ``"sha1"``, ``"sha256"`` or ``"sha512"``.

    Raises:
        TypeError: *algorithm* is not a ``str``.
        InvalidInput: *algorithm* is not one of the three names, in lower case.
    """
    return _hash_function(algorithm)(message)


# ---------------------------------------------------------------------------------------------
# HMAC: RFC 2104 §2.
# ---------------------------------------------------------------------------------------------

_IPAD: Final = 0x36
_OPAD: Final = 0x5C


def hmac_digest(key: bytes, message: bytes, algorithm: str) -> bytes:
    """Return HMAC(*key*, *message*) with the hash named by *algorithm* (RFC 2104 §2).

    Keys of any length are accepted, as RFC 2104 allows.

    Raises:
        TypeError: *algorithm* is not a ``str``.
        InvalidInput: *algorithm* is not ``"sha1"``, ``"sha256"`` or ``"sha512"``.
    """
    h = _hash_function(algorithm)
    block = BLOCK_SIZES[algorithm]
    # RFC 2104 §2: a key longer than B bytes is first hashed; then it is padded with zeros to B.
    if len(key) > block:
        key = h(key)
    key = key.ljust(block, b"\x00")
    inner_key = bytes(k ^ _IPAD for k in key)
    outer_key = bytes(k ^ _OPAD for k in key)
    # H(K XOR opad, H(K XOR ipad, text)).
    return h(outer_key + h(inner_key + message))


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """Return *length* bytes of HKDF-SHA256 (RFC 5869 §2), on :func:`hmac_digest`.

    An empty *salt* stands for HashLen zero bytes (§2.2), which HMAC's key padding makes the
    same thing.

    Raises:
        InvalidInput: *length* is not 1 to 8160, that is 255 times HashLen (§2.3).
    """
    if not 0 < length <= 255 * 32:
        raise InvalidInput("HKDF-SHA256 gives 1 to 8160 bytes")
    # §2.2, extract: PRK = HMAC-Hash(salt, IKM).
    prk = hmac_digest(salt, ikm, "sha256")
    # §2.3, expand: T(i) = HMAC-Hash(PRK, T(i-1) | info | i), with T(0) empty.
    okm, block = b"", b""
    for counter in range(1, math.ceil(length / 32) + 1):
        block = hmac_digest(prk, block + info + bytes([counter]), "sha256")
        okm += block
    return okm[:length]


# ---------------------------------------------------------------------------------------------
# HOTP: RFC 4226 §5. TOTP: RFC 6238 §4.
# ---------------------------------------------------------------------------------------------

_MAX_COUNTER: Final = 2**64 - 1


def truncate(digest: bytes) -> int:
    """Return the 31-bit value that RFC 4226 §5.3 dynamic truncation takes from *digest*.

    The offset is the low four bits of the last byte; the value is the four bytes starting there,
    read big-endian, with the top bit cleared. This is ``Snum`` of §5.3, before the reduction
    modulo 10**digits.

    Raises:
        InvalidInput: *digest* is shorter than 20 bytes, the least RFC 4226 is defined for.
    """
    if len(digest) < 20:
        raise InvalidInput("a digest for dynamic truncation has at least 20 bytes")
    offset = digest[-1] & 0x0F
    p = digest[offset : offset + 4]
    # "Return the Last 31 bits of P": masking the top bit avoids signed/unsigned ambiguity.
    return int.from_bytes(p, "big") & 0x7FFFFFFF


def hotp(key: bytes, counter: int, *, digits: int = 6, algorithm: str = "sha1") -> str:
    """Return the RFC 4226 HOTP value for *key* and *counter*, as *digits* zero-padded digits.

    The steps are those of RFC 4226 §5.3: HS = HMAC(K, C) with C as 8 big-endian bytes (§5.2),
    Snum = truncate(HS), and D = Snum mod 10**digits. SHA-256 and SHA-512 follow RFC 6238 §1.2.

    Unlike :class:`softtoken.HOTP`, no minimum key length is enforced: the reference computes
    what the RFC defines for any key.

    Raises:
        TypeError: a parameter has the wrong type.
        InvalidInput: *counter* does not fit in 8 unsigned bytes, *digits* is not 1 to 10, or
            *algorithm* is unknown.
    """
    if not isinstance(key, bytes):
        raise TypeError("key must be bytes")
    if type(counter) is not int or type(digits) is not int:
        raise TypeError("counter and digits must be int")
    if not 0 <= counter <= _MAX_COUNTER:
        raise InvalidInput("counter must fit in 8 unsigned bytes")
    # A 31-bit value has at most 10 decimal digits.
    if not 1 <= digits <= 10:
        raise InvalidInput("digits must be from 1 to 10")
    snum = truncate(hmac_digest(key, counter.to_bytes(8, "big"), algorithm))
    return str(snum % 10**digits).zfill(digits)


def totp(
    key: bytes,
    at: int,
    *,
    digits: int = 6,
    algorithm: str = "sha1",
    period: int = 30,
    t0: int = 0,
) -> str:
    """Return the RFC 6238 TOTP value for *key* at Unix time *at*.

    RFC 6238 §4.2: T = floor((at - t0) / period), and the value is HOTP(K, T). Integer
    arithmetic throughout, so times past 2**32 (and 2038) are exact.

    Raises:
        TypeError: a parameter has the wrong type.
        InvalidInput: *period* is below 1, or a parameter of :func:`hotp` is out of range.
        InvalidTime: *at* is before *t0*, or T does not fit in 8 unsigned bytes.
    """
    if type(at) is not int or type(period) is not int or type(t0) is not int:
        raise TypeError("at, period and t0 must be int seconds")
    if period < 1:
        raise InvalidInput("period must be at least 1 second")
    if at < t0:
        raise InvalidTime("time is before t0")
    step = (at - t0) // period
    if step > _MAX_COUNTER:
        raise InvalidTime("time step does not fit in 8 unsigned bytes")
    return hotp(key, step, digits=digits, algorithm=algorithm)
