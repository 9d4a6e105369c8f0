"""Argument checks shared by every module, so that a rule and its message exist once."""

from __future__ import annotations

from softtoken.exceptions import InvalidInput


def check_int(value: object, name: str, low: int, high: int) -> None:
    """Check that *value* is an ``int`` from *low* to *high* inclusive.

    Raises:
        TypeError: *value* is not an ``int``. A ``bool`` is refused too: it is an ``int``
            subclass, but ``True`` as a count or a size is always a bug.
        InvalidInput: *value* is out of range; the message names *name* and the bounds.
    """
    if type(value) is not int:
        raise TypeError(f"{name} must be int")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be from {low} to {high}")
