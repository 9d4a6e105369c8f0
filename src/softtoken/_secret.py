"""One way to declare a secret attribute of an attrs class: ``attrs.field(**SECRET)``."""

from __future__ import annotations

from hmac import compare_digest
from typing import Any, Final

import attrs

__all__ = ["SECRET"]


def _equal(a: object, b: object) -> bool:
    """Constant-time equality of two secrets (bytes, or ASCII str). Anything else (None, or a
    value such as an ActivationCode that compares its own secret in constant time) compares
    with its own ``==``."""
    if isinstance(a, bytes) and isinstance(b, bytes):
        return compare_digest(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return compare_digest(a, b)
    return a == b


SECRET: Final[dict[str, Any]] = {
    "repr": False,
    "eq": attrs.cmp_using(eq=_equal),
    "hash": False,
}
"""The keyword arguments of every secret ``attrs.field``: never in ``repr``, compared in
constant time, left out of ``__hash__``. Leaving the field out of the hash keeps the class
hashable (a comparison wrapper is not) and keeps the secret out of a value that may reach a log.
Spelled as ``attrs.field(**SECRET)`` (with ``default=`` and the like beside it), rather than a
helper function, because type checkers recognise only ``attrs.field`` itself as a field.
"""
