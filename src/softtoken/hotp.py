"""HOTP (RFC 4226) and TOTP (RFC 6238) one-time passwords.

Two levels live here, as in pyca/cryptography:

- :meth:`HOTP.generate` and :meth:`TOTP.generate` are sharp tools: they only compute a code.
- :meth:`HOTP.verify` and :meth:`TOTP.verify` are the safe path: a bounded window, checked in a
  fixed order, with a replay floor, returning a :class:`Match` or raising :class:`InvalidCode`.
  There is deliberately no variant that returns a bare ``bool``.

What the verifier cannot do alone is remember: callers must store ``Match.counter`` and pass it
back as ``last_counter`` / ``last_step``, and count failures, until the issuer service does both
atomically (see ``docs/windows.md``).
"""

from __future__ import annotations

import datetime as dt
from hmac import compare_digest
from typing import Final, NamedTuple

import attrs
from cryptography.hazmat.primitives import hmac as crypto_hmac

from softtoken import _random
from softtoken._checks import (
    MAX_COUNTER,
    MAX_DIGITS,
    MIN_DIGITS,
    check_counter,
    check_digits,
    check_int,
    check_key,
)
from softtoken._encoding import parse_code
from softtoken._hmac import (
    ALGORITHMS,
    DIGEST_SIZES,
    Algorithm,
    canonical_algorithm,
    pack_counter,
    prepare,
    unpack_word,
)
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import InvalidCode, InvalidInput, InvalidTime

__all__ = [
    "ALGORITHMS",
    "HOTP",
    "MAX_LOOK_AHEAD",
    "MAX_RESYNC_SPAN",
    "MAX_WINDOW",
    "TOTP",
    "Algorithm",
    "Match",
    "generate_key",
]

_MODULI: Final = {d: 10**d for d in range(MIN_DIGITS, MAX_DIGITS + 1)}
_FORMATS: Final = {d: f"%0{d}d" for d in range(MIN_DIGITS, MAX_DIGITS + 1)}

# RFC 6238 §5.2 recommends at most one step back; RFC 4226 §7.4 asks for a bounded look-ahead.
# The caps keep the brute-force bound s*v/10**d of a misconfigured caller within reason.
MAX_WINDOW: Final = 10
"""The most steps :meth:`TOTP.verify` looks back (*past*) or forward (*future*)."""
MAX_LOOK_AHEAD: Final = 50
"""The most counters :meth:`HOTP.verify` looks ahead."""
# Resynchronisation (RFC 4226 §7.4, RFC 6238 §6) may search further, because it needs two
# consecutive codes: a random pair matches by chance with odds of about span / 10**(2 * digits).
MAX_RESYNC_SPAN: Final = 1000
"""The most counters or steps a :meth:`HOTP.resync` or :meth:`TOTP.resync` searches."""

# Windows centred at or below this never reach past the top of the counter range.
_UNTRIMMED_TOP: Final = MAX_COUNTER - MAX_LOOK_AHEAD


class Match(NamedTuple):
    """A successful verification.

    Attributes:
        counter: the HOTP counter or TOTP time step that matched. Store it and pass it back as
            ``last_counter`` / ``last_step`` so that the same code is never accepted again.
        offset: ``counter`` minus the expected counter or step. For TOTP it measures the clock
            drift of the device, in steps.

    A named tuple rather than an attrs class: it is built on every successful verification, and
    ``tuple.__new__`` costs about 160 ns where a frozen attrs instance costs about 400 ns.
    """

    counter: int
    offset: int


_new_match = tuple.__new__


def generate_key(algorithm: Algorithm = "sha1") -> bytes:
    """Return a fresh random key sized for *algorithm*: 20, 32 or 64 bytes, the hash's output
    length (RFC 4226 §4 R6, RFC 6238 §5.1).

    The bytes come from the CSPRNG through softtoken's one randomness helper.
    """
    return _random.random_bytes(DIGEST_SIZES[canonical_algorithm(algorithm)])


def _check_floor(value: int | None, name: str) -> int:
    if value is None:
        return -1
    if type(value) is not int:
        raise TypeError(f"{name} must be int or None")
    if value < 0:
        raise InvalidInput(f"{name} must not be negative")
    return value


@attrs.frozen
class _OTP:
    """What HOTP and TOTP share: a key, its prepared HMAC state, and the truncation."""

    key: bytes = attrs.field(**SECRET)
    digits: int = attrs.field(default=6, kw_only=True)
    algorithm: Algorithm = attrs.field(default="sha1", kw_only=True, converter=canonical_algorithm)
    allow_short_key: bool = attrs.field(default=False, kw_only=True, repr=False, eq=False)

    # Per-token state, prepared once (softtoken._hmac): each code costs one copy() of the keyed
    # context and two compression runs.
    _mac: crypto_hmac.HMAC = attrs.field(init=False, repr=False, eq=False)
    _modulus: int = attrs.field(init=False, repr=False, eq=False)
    _format: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        check_key(self.key, allow_short_key=self.allow_short_key)
        check_digits(self.digits)
        # Frozen classes set their derived fields through object.__setattr__, once.
        object.__setattr__(self, "_mac", prepare(self.key, self.algorithm))
        object.__setattr__(self, "_modulus", _MODULI[self.digits])
        object.__setattr__(self, "_format", _FORMATS[self.digits])

    def _code(self, counter: int) -> str:
        """The code for *counter*: RFC 4226 §5.3, with no allocation beyond the C objects."""
        mac = self._mac.copy()
        mac.update(pack_counter(counter))
        digest = mac.finalize()
        word = unpack_word(digest, digest[-1] & 0x0F)[0] & 0x7FFFFFFF
        code: str = self._format % (word % self._modulus)
        return code

    def _search(self, code: str, expected: int, offsets: tuple[int, ...], floor: int) -> Match:
        """Try *offsets* around *expected*, in order; accept only counters above *floor*.

        A success returns at the match. A failure tries and compares every candidate, and a
        candidate at or below *floor* (a replay) is compared like any other and then refused, so
        that every wrong or replayed code costs the same work (SECURITY.md S5, S9).
        """
        digits = self.digits
        # parse_code's own fast path, inlined: exactly the digits and nothing else.
        if not (type(code) is str and len(code) == digits and code.isascii() and code.isdigit()):
            code = parse_code(code, digits)
        # Candidates are compared as 8-byte words with compare_digest: constant-time, and about
        # 75 ns cheaper per candidate than formatting each one as zero-padded text. Eight bytes,
        # because a 10-digit code can exceed 2**32 although no candidate ever does.
        wanted = pack_counter(int(code))
        if not MAX_LOOK_AHEAD <= expected <= _UNTRIMMED_TOP:
            # Only a window that touches 0 or 2**64 - 1 needs trimming. The trim depends on the
            # window and the clock, never on the typed code.
            offsets = tuple(o for o in offsets if 0 <= expected + o <= MAX_COUNTER)
        # The body of _code, inlined with locals: this loop is the verification hot path, and a
        # method call plus attribute lookups per candidate cost about 150 ns.
        copy = self._mac.copy
        modulus = self._modulus
        for offset in offsets:
            counter = expected + offset
            mac = copy()
            mac.update(pack_counter(counter))
            digest = mac.finalize()
            word = unpack_word(digest, digest[-1] & 0x0F)[0] & 0x7FFFFFFF
            # Both tests always run (`&`, not `and`): a short-circuit would make a replayed code,
            # which matches and is then refused, measurably slower than a wrong one, and so
            # tell an attacker that a code was valid once (S8). Welch's t-test caught it.
            if compare_digest(pack_counter(word % modulus), wanted) & (counter > floor):
                return _new_match(Match, (counter, offset))
        raise InvalidCode()

    def _resync(
        self, first: str, second: str, low: int, high: int, expected: int, floor: int
    ) -> Match:
        """Find the lowest n in [low, high] where *first* is n's code and *second* is n+1's.

        Resynchronisation is rare and not a hot path, so it computes every code in the span,
        success or failure, and compares each typed code with each of them.
        """
        digits = self.digits
        wanted = (parse_code(first, digits), parse_code(second, digits))
        low, high = max(low, 0), min(high, MAX_COUNTER - 1)
        codes = [self._code(n) for n in range(low, high + 2)]
        firsts = [compare_digest(code, wanted[0]) for code in codes]
        seconds = [compare_digest(code, wanted[1]) for code in codes]
        for index in range(len(codes) - 1):
            counter = low + index + 1
            if firsts[index] and seconds[index + 1] and counter - 1 > floor:
                return Match(counter, counter - expected)
        raise InvalidCode()


@attrs.frozen
class HOTP(_OTP):
    """An RFC 4226 counter-based token.

    Args:
        key: the shared secret, at least 16 bytes (RFC 4226 §4 R6).
        digits: code length, 6 to 10.
        algorithm: ``"sha1"``, ``"sha256"`` or ``"sha512"``, in any case.
        allow_short_key: accept keys of 10 to 15 bytes, as old 80-bit deployments use. Off by
            default; such keys fall short of RFC 4226's 128-bit requirement.

    Raises:
        TypeError: a parameter has the wrong type (a ``str`` key, say).
        InvalidKey: the key is too short.
        InvalidInput: an unsupported algorithm or digit count.

    The ``repr`` shows the algorithm and digits, never the key. Two tokens compare equal when their
    parameters match and their keys match, the keys compared in constant time.
    """

    def generate(self, counter: int) -> str:
        """Return the code for *counter*, zero-padded to ``digits``.

        This is a sharp tool: it checks nothing about replays. Use :meth:`verify` to check codes.
        """
        if type(counter) is not int or not 0 <= counter <= MAX_COUNTER:
            check_counter(counter)
        return self._code(counter)

    def verify(
        self,
        code: str,
        *,
        counter: int,
        look_ahead: int = 0,
        last_counter: int | None = None,
    ) -> Match:
        """Accept *code* if it matches a counter from *counter* to *counter + look_ahead*.

        Counters are tried from *counter* upwards (RFC 4226 §7.4). Counters at or below
        *last_counter* are never accepted, even inside the window.

        Returns:
            The :class:`Match`. The caller must store ``counter + 1`` as its next expected counter
            and ``counter`` as its ``last_counter``.

        Raises:
            InvalidCode: no acceptable counter matched. The same error, with the same message,
                for a wrong code and a replayed one.
            MalformedCode: *code* is not ``digits`` ASCII digits (a subclass of InvalidCode).
            TypeError, InvalidInput: a parameter is out of range; *look_ahead* is capped at
                :data:`MAX_LOOK_AHEAD`.
        """
        check_counter(counter)
        check_int(look_ahead, "look_ahead", 0, MAX_LOOK_AHEAD)
        floor = _check_floor(last_counter, "last_counter")
        return self._search(code, counter, _AHEAD[look_ahead], floor)

    def resync(
        self,
        first: str,
        second: str,
        *,
        counter: int,
        look_ahead: int = MAX_RESYNC_SPAN,
        last_counter: int | None = None,
    ) -> Match:
        """Find where a device's counter has run to, from two consecutive codes.

        Accepts when *first* is the code of some counter n in [counter, counter + look_ahead]
        and *second* is the code of n + 1 (RFC 4226 §7.4). Neither code may be at or below
        *last_counter*.

        Returns:
            The :class:`Match` of *second*: store ``counter + 1`` as the next expected counter.

        Raises:
            InvalidCode: no consecutive pair matched.
            TypeError, InvalidInput: *look_ahead* is capped at :data:`MAX_RESYNC_SPAN`.
        """
        check_counter(counter)
        check_int(look_ahead, "look_ahead", 0, MAX_RESYNC_SPAN)
        floor = _check_floor(last_counter, "last_counter")
        return self._resync(first, second, counter, counter + look_ahead, counter, floor)


@attrs.frozen
class TOTP(_OTP):
    """An RFC 6238 time-based token.

    Args:
        key, digits, algorithm, allow_short_key: as for :class:`HOTP`.
        period: seconds per time step (RFC 6238 §4.1, X), 30 by default.
        t0: the Unix time at which step 0 starts (RFC 6238 §4.1, T0), 0 by default.

    Times are integer Unix seconds or aware :class:`~datetime.datetime` objects; a naive datetime
    is refused because its zone is a guess. Times past 2**32 work.
    """

    period: int = attrs.field(default=30, kw_only=True)
    t0: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if type(self.period) is not int or type(self.t0) is not int:
            raise TypeError("period and t0 must be int seconds")
        if self.period < 1:
            raise InvalidInput("period must be at least 1 second")
        if self.t0 < 0:
            raise InvalidInput("t0 must not be negative")

    def step(self, at: int | dt.datetime) -> int:
        """Return the time step that contains *at*: ``(at - t0) // period`` (RFC 6238 §4.2)."""
        if type(at) is int and at >= self.t0:
            return (at - self.t0) // self.period
        seconds = to_unix(at)
        if seconds < self.t0:
            raise InvalidTime("time is before the token's t0")
        return (seconds - self.t0) // self.period

    def generate(self, at: int | dt.datetime) -> str:
        """Return the code for the step containing *at*.

        A sharp tool, like :meth:`HOTP.generate`: use :meth:`verify` to check codes.
        """
        t0 = self.t0
        step = (at - t0) // self.period if type(at) is int and at >= t0 else self.step(at)
        if step > MAX_COUNTER:
            raise InvalidTime("time is beyond the last 64-bit time step")
        return self._code(step)

    def generate_step(self, step: int) -> str:
        """Return the code for time step *step* itself."""
        check_counter(step)
        return self._code(step)

    def verify(
        self,
        code: str,
        *,
        at: int | dt.datetime,
        past: int = 1,
        future: int = 1,
        last_step: int | None = None,
    ) -> Match:
        """Accept *code* if it matches a step from *past* steps before *at* to *future* after.

        The current step is tried first, then outward: -1, +1, -2, +2 and so on. Steps at or below
        *last_step* are never accepted, even inside the window (RFC 6238 §5.2: a code must not be
        accepted twice).

        Returns:
            The :class:`Match`: ``counter`` is the step, ``offset`` the drift in steps. Store
            ``counter`` and pass it back as *last_step*.

        Raises:
            InvalidCode: no acceptable step matched; the same for a wrong and a replayed code.
            MalformedCode: *code* is not ``digits`` ASCII digits (a subclass of InvalidCode).
            TypeError, InvalidInput, InvalidTime: a parameter is out of range; *past* and
                *future* are capped at :data:`MAX_WINDOW`.
        """
        # The common, valid arguments pass cheap inline type-and-range tests; anything else takes
        # the slow path that names the problem. Each avoided call saves about 70 ns.
        t0 = self.t0
        step = (at - t0) // self.period if type(at) is int and at >= t0 else self.step(at)
        if type(past) is not int or not 0 <= past <= MAX_WINDOW:
            check_int(past, "past", 0, MAX_WINDOW)
        if type(future) is not int or not 0 <= future <= MAX_WINDOW:
            check_int(future, "future", 0, MAX_WINDOW)
        if last_step is None:
            floor = -1
        elif type(last_step) is int and last_step >= 0:
            floor = last_step
        else:
            floor = _check_floor(last_step, "last_step")
        return self._search(code, step, _AROUND[past][future], floor)

    def resync(
        self,
        first: str,
        second: str,
        *,
        at: int | dt.datetime,
        past: int = MAX_RESYNC_SPAN // 2,
        future: int = MAX_RESYNC_SPAN // 2,
        last_step: int | None = None,
    ) -> Match:
        """Measure a device's clock drift from two consecutive codes (RFC 6238 §6).

        Accepts when *first* is the code of some step n and *second* the code of n + 1, with
        n + 1 within *past* steps before and *future* steps after the step containing *at*.
        Neither step may be at or below *last_step*.

        Returns:
            The :class:`Match` of *second*: ``offset`` is the drift in steps, for the caller to
            store and apply (as the centre of later windows) until the next resync.

        Raises:
            InvalidCode: no consecutive pair matched.
            TypeError, InvalidInput, InvalidTime: *past* + *future* is capped at
                :data:`MAX_RESYNC_SPAN`.
        """
        step = self.step(at)
        check_int(past, "past", 0, MAX_RESYNC_SPAN)
        check_int(future, "future", 0, MAX_RESYNC_SPAN - past)
        floor = _check_floor(last_step, "last_step")
        return self._resync(first, second, step - past - 1, step + future - 1, step, floor)


def _outward(past: int, future: int) -> tuple[int, ...]:
    """Offsets 0, -1, +1, -2, +2, ... limited to [-past, +future]."""
    order = [0]
    for distance in range(1, max(past, future) + 1):
        if distance <= past:
            order.append(-distance)
        if distance <= future:
            order.append(distance)
    return tuple(order)


# Every admissible window order is computed once at import, so verification only indexes a table.
_AHEAD: Final = tuple(tuple(range(n + 1)) for n in range(MAX_LOOK_AHEAD + 1))
_AROUND: Final = tuple(
    tuple(_outward(past, future) for future in range(MAX_WINDOW + 1))
    for past in range(MAX_WINDOW + 1)
)
