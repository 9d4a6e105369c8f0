"""The only source of randomness in softtoken.

Every seed, nonce and random code comes from :func:`random_bytes`, which reads the operating
system's CSPRNG through :mod:`secrets`. Tests replace :data:`_source` to prove that nothing else is
used (SECURITY.md S3).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

_source: Callable[[int], bytes] = secrets.token_bytes


def random_bytes(n: int) -> bytes:
    """Return *n* bytes from the CSPRNG."""
    if n < 1:
        raise ValueError("n must be positive")
    out = _source(n)
    if len(out) != n:
        # A replaced source that returns the wrong length is a test bug; fail loudly.
        raise RuntimeError("the randomness source returned the wrong number of bytes")
    return out


def random_digits(n: int) -> str:
    """Return *n* uniformly random decimal digits, as text.

    Uses rejection sampling on whole bytes so that no digit is more likely than another.
    """
    if n < 1:
        raise ValueError("n must be positive")
    digits: list[str] = []
    while len(digits) < n:
        # 250 is the largest multiple of 10 below 256; bytes at or above it would bias 0..5.
        digits.extend(str(b % 10) for b in random_bytes(n) if b < 250)
    return "".join(digits[:n])
