"""Conversion of caller-supplied times to integer Unix seconds."""

from __future__ import annotations

import datetime as dt

from softtoken.exceptions import InvalidTime

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_SECOND = dt.timedelta(seconds=1)


def to_unix(at: int | dt.datetime) -> int:
    """Return *at* as whole Unix seconds (UTC), rounded down.

    Accepts an ``int`` of seconds or an aware :class:`~datetime.datetime`.

    Raises:
        TypeError: *at* is a ``bool``, a ``float`` or anything else.
        InvalidTime: *at* is a naive datetime or lies before 1970.
    """
    # bool is an int subclass; True as a time is always a bug.
    if type(at) is int:
        seconds = at
    elif isinstance(at, dt.datetime):
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidTime("a naive datetime is ambiguous; pass an aware datetime")
        # Integer arithmetic on timedeltas is exact, unlike datetime.timestamp().
        seconds = (at - _EPOCH) // _ONE_SECOND
    else:
        raise TypeError("time must be int Unix seconds or an aware datetime")
    if seconds < 0:
        raise InvalidTime("time must not be before 1970-01-01T00:00:00Z")
    return seconds
