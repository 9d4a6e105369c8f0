"""OCRA, the OATH challenge-response algorithm (RFC 6287).

An OCRA response is an HOTP-style truncation of ``HMAC(K, DataInput)``, where the DataInput
carries the suite text, then any of a counter, a question, a PIN hash, session data and a time
step (RFC 6287 §5.1). An :class:`OCRASuite` says which of them take part; an :class:`OCRA` holds
the key and computes or checks responses.

Like :class:`softtoken.hotp.HOTP`, :meth:`OCRA.generate` is a sharp tool that only computes.
:meth:`OCRA.verify` compares in constant time and raises :class:`InvalidCode` on any mismatch.
Neither keeps state: counters, time windows and replay protection belong to the caller, which
must never accept one response twice.
"""

from __future__ import annotations

import datetime as dt
import re
from hmac import compare_digest
from typing import Final, Literal, cast

import attrs
from cryptography.hazmat.primitives import hmac as crypto_hmac

from softtoken import _random
from softtoken._checks import MAX_COUNTER, check_counter, check_key
from softtoken._encoding import parse_code, utf8_or_none
from softtoken._hmac import (
    DIGEST_SIZES,
    Algorithm,
    canonical_algorithm,
    hash_bytes,
    pack_counter,
    prepare,
    truncate,
)
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import InvalidCode, InvalidInput, InvalidSuite, InvalidTime, MalformedCode

__all__ = [
    "MAX_QUESTION_LENGTH",
    "MIN_QUESTION_LENGTH",
    "OCRA",
    "OCRASuite",
    "QuestionFormat",
    "generate_question",
]

QuestionFormat = Literal["A", "H", "N"]
"""RFC 6287 §6.3 question formats: alphanumeric, hexadecimal, numeric."""

# RFC 6287 §6.3 (CryptoFunction): the truncation is 0 (none) or 4 to 10 digits.
_MIN_DIGITS: Final = 4
_MAX_DIGITS: Final = 10
# RFC 6287 §6.3 (DataInput QFxx): a question format allows 04 to 64 characters.
MIN_QUESTION_LENGTH: Final = 4
"""The smallest ``xx`` a suite's ``QFxx`` may name."""
MAX_QUESTION_LENGTH: Final = 64
"""The largest ``xx`` a suite's ``QFxx`` may name; questions are at most this long."""
_QUESTION_FORMATS: Final = frozenset({"A", "H", "N"})
_LOWER_HEX: Final = frozenset("0123456789abcdef")
_QUESTION_ALPHABETS: Final[dict[str, frozenset[str]]] = {
    "A": frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    "H": frozenset("0123456789ABCDEFabcdef"),
    "N": frozenset("0123456789"),
}
# RFC 6287 §5.1: the question field Q is always 128 bytes, padded with zeros.
_QUESTION_BYTES: Final = 128
# RFC 6287 §6.3 writes the session length as three digits; S064 is the usual one, and 128, 256
# and 512 are common. Like liboath, lengths above 512 bytes are refused.
_MAX_SESSION_BYTES: Final = 512

# RFC 6287 §6.3 (DataInput TG): a time step is 1-59 seconds, 1-59 minutes or up to 48 hours.
# The RFC also lists 0H, which would divide by zero, so hours start at 1. The three ranges do
# not overlap once counted in seconds, so every step has exactly one spelling.
_STEP_UNITS: Final = {"S": 1, "M": 60, "H": 3600}
_STEP_TEXT: Final[dict[int, str]] = {
    **{n: f"{n}S" for n in range(1, 60)},
    **{60 * n: f"{n}M" for n in range(1, 60)},
    **{3600 * n: f"{n}H" for n in range(1, 49)},
}

_SUITE_HASHES: Final[dict[str, Algorithm]] = {
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA512": "sha512",
}
# The structure of an OCRASuite (RFC 6287 §6): numbers are read loosely here and then checked
# by the OCRASuite validators and by the canonical-spelling test in OCRASuite.parse.
_SUITE_PATTERN: Final = re.compile(
    r"OCRA-1:HOTP-(SHA1|SHA256|SHA512)-([0-9]{1,2}):"
    r"(C-)?Q([ANH])([0-9]{2})"
    r"(?:-P(SHA1|SHA256|SHA512))?"
    r"(?:-S([0-9]{3}))?"
    r"(?:-T([0-9]{1,2})([SMH]))?"
)
# "OCRA-1:HOTP-SHA512-10:C-QA64-PSHA512-S512-T59M" is the longest valid suite: 46 characters.
_MAX_SUITE_TEXT: Final = 46


def _check_type(value: object, kind: type, name: str) -> None:
    # bool is an int subclass; True as a length or a count is always a bug.
    if type(value) is not kind:
        raise TypeError(f"{name} must be {kind.__name__}")


def _suite_algorithm(value: str) -> Algorithm:
    return canonical_algorithm(value, error=InvalidSuite)


def _suite_pin_algorithm(value: str | None) -> Algorithm | None:
    if value is None:
        return None
    return canonical_algorithm(value, name="pin_algorithm", error=InvalidSuite)


def _validate_digits(_: object, __: object, value: int) -> None:
    _check_type(value, int, "digits")
    if value != 0 and not _MIN_DIGITS <= value <= _MAX_DIGITS:
        raise InvalidSuite("digits must be 0 (no truncation) or from 4 to 10")


def _validate_counter(_: object, __: object, value: bool) -> None:
    _check_type(value, bool, "counter")


def _validate_question_format(_: object, __: object, value: str) -> None:
    _check_type(value, str, "question_format")
    if value not in _QUESTION_FORMATS:
        raise InvalidSuite("question_format must be 'A', 'H' or 'N'")


def _validate_question_length(_: object, __: object, value: int) -> None:
    _check_type(value, int, "question_length")
    if not MIN_QUESTION_LENGTH <= value <= MAX_QUESTION_LENGTH:
        raise InvalidSuite("question_length must be from 4 to 64")


def _validate_session_length(_: object, __: object, value: int | None) -> None:
    if value is None:
        return
    _check_type(value, int, "session_length")
    if not 1 <= value <= _MAX_SESSION_BYTES:
        raise InvalidSuite("session_length must be from 1 to 512 bytes, or None")


def _validate_time_step(_: object, __: object, value: int | None) -> None:
    if value is None:
        return
    _check_type(value, int, "time_step")
    if value not in _STEP_TEXT:
        raise InvalidSuite("time_step must be 1-59 s, 1-59 min or 1-48 h, in seconds, or None")


@attrs.frozen(kw_only=True)
class OCRASuite:
    """A parsed OCRA suite: which HMAC, how many digits, and which inputs (RFC 6287 §6).

    Build one with :meth:`parse` from its text, such as ``"OCRA-1:HOTP-SHA1-6:QN08"``, or from
    its fields. ``str(suite)`` gives the canonical text, which is what OCRA hashes.

    Attributes:
        algorithm: the HMAC hash, ``"sha1"``, ``"sha256"`` or ``"sha512"``.
        digits: response length, 4 to 10; 0 means no truncation, and the response is then the
            full HMAC as lower-case hex (RFC 6287 §5.2).
        counter: whether an 8-byte counter C takes part.
        question_format: ``"N"`` numeric, ``"A"`` alphanumeric or ``"H"`` hexadecimal.
        question_length: the longest question (each challenge, in mutual mode), 4 to 64.
        pin_algorithm: the hash of the PIN P, or None when no PIN takes part.
        session_length: the exact length of the session data S in bytes, or None.
        time_step: the time step of T in seconds, or None when no time takes part.

    Raises:
        TypeError: a field has the wrong type.
        InvalidSuite: a field is outside RFC 6287 §6.
    """

    algorithm: Algorithm = attrs.field(default="sha1", converter=_suite_algorithm)
    digits: int = attrs.field(default=6, validator=_validate_digits)
    counter: bool = attrs.field(default=False, validator=_validate_counter)
    question_format: QuestionFormat = attrs.field(default="N", validator=_validate_question_format)
    question_length: int = attrs.field(default=8, validator=_validate_question_length)
    pin_algorithm: Algorithm | None = attrs.field(default=None, converter=_suite_pin_algorithm)
    session_length: int | None = attrs.field(default=None, validator=_validate_session_length)
    time_step: int | None = attrs.field(default=None, validator=_validate_time_step)

    @classmethod
    def parse(cls, text: str) -> OCRASuite:
        """Parse an OCRA suite written as in RFC 6287 §6.

        The grammar is ``OCRA-1:HOTP-SHA<h>-<t>:[C-]Q<F><xx>[-PSHA<h>][-S<nnn>][-T<G>]``. Only the
        canonical spelling is accepted (``QN08``, not ``QN8``; ``T1M``, not ``T01M`` or
        ``T60S``; upper case throughout), because the suite text is itself part of the hashed
        DataInput (§5.1): two spellings of one suite give different responses.

        Raises:
            TypeError: *text* is not a ``str``.
            InvalidSuite: anything else; the message never includes the text.
        """
        if not isinstance(text, str):
            raise TypeError("an OCRA suite must be str")
        match = _SUITE_PATTERN.fullmatch(text) if len(text) <= _MAX_SUITE_TEXT else None
        if match is None:
            raise InvalidSuite("not an RFC 6287 OCRA suite")
        hash_name, digits, counter, q_format, q_length, pin, session, step, unit = match.groups()
        suite = cls(
            algorithm=_SUITE_HASHES[hash_name],
            digits=int(digits),
            counter=counter is not None,
            question_format=cast("QuestionFormat", q_format),
            question_length=int(q_length),
            pin_algorithm=None if pin is None else _SUITE_HASHES[pin],
            session_length=None if session is None else int(session),
            time_step=None if step is None else int(step) * _STEP_UNITS[unit],
        )
        if str(suite) != text:
            raise InvalidSuite("an OCRA suite must be in its canonical spelling")
        return suite

    def __str__(self) -> str:
        """The canonical suite text, as hashed into every response (RFC 6287 §5.1, §6)."""
        inputs = ["C"] if self.counter else []
        inputs.append(f"Q{self.question_format}{self.question_length:02d}")
        if self.pin_algorithm is not None:
            inputs.append(f"P{self.pin_algorithm.upper()}")
        if self.session_length is not None:
            inputs.append(f"S{self.session_length:03d}")
        if self.time_step is not None:
            inputs.append(f"T{_STEP_TEXT[self.time_step]}")
        return f"OCRA-1:HOTP-{self.algorithm.upper()}-{self.digits}:{'-'.join(inputs)}"


def _to_suite(suite: OCRASuite | str) -> OCRASuite:
    if isinstance(suite, OCRASuite):
        return suite
    if isinstance(suite, str):
        return OCRASuite.parse(suite)
    raise TypeError("suite must be an OCRASuite or its text")


def generate_question(length: int = 8) -> str:
    """Return a fresh random numeric question (challenge) of *length* decimal digits.

    The digits come from the CSPRNG through softtoken's one randomness helper. The length must
    fit a numeric format, 4 to 64 (RFC 6287 §6.3); it should also be at most the suite's
    ``question_length``.

    Raises:
        TypeError: *length* is not an ``int``.
        InvalidInput: *length* is outside 4 to 64.
    """
    _check_type(length, int, "length")
    if not MIN_QUESTION_LENGTH <= length <= MAX_QUESTION_LENGTH:
        raise InvalidInput("a question must have 4 to 64 digits")
    return _random.random_digits(length)


@attrs.frozen
class OCRA:
    """An RFC 6287 challenge-response token: a key bound to one :class:`OCRASuite`.

    Args:
        key: the shared secret, at least 16 bytes, as for HOTP (RFC 4226 §4 R6).
        suite: an :class:`OCRASuite` or its text, such as ``"OCRA-1:HOTP-SHA1-6:QN08"``.
        allow_short_key: accept keys of 10 to 15 bytes. Off by default.

    The key never appears in ``repr``, and two objects compare their keys in constant time.

    Raises:
        TypeError: *key* is not bytes, or *suite* is neither an OCRASuite nor a str.
        InvalidKey: the key is too short.
        InvalidSuite: the suite text is not a valid, canonical RFC 6287 suite.
    """

    key: bytes = attrs.field(**SECRET)
    suite: OCRASuite = attrs.field(converter=_to_suite)
    allow_short_key: bool = attrs.field(default=False, kw_only=True, repr=False, eq=False)

    # The HMAC state is prepared once, with the suite text and its 0x00 separator already fed
    # (RFC 6287 §5.1: DataInput begins with OCRASuite | 00), so each response costs one copy().
    _mac: crypto_hmac.HMAC = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        check_key(self.key, allow_short_key=self.allow_short_key)
        mac = prepare(self.key, self.suite.algorithm)
        mac.update(str(self.suite).encode("ascii") + b"\x00")
        object.__setattr__(self, "_mac", mac)

    def generate(
        self,
        *,
        question: str | tuple[str, str],
        counter: int | None = None,
        pin: str | None = None,
        pin_hash: bytes | None = None,
        session: bytes | None = None,
        at: int | dt.datetime | None = None,
    ) -> str:
        """Return the response to *question* with the other inputs the suite names.

        A sharp tool: use :meth:`verify` to check a response.

        Args:
            question: the challenge, in the suite's format, 1 to ``question_length``
                characters. A pair ``(first, second)`` is the mutual mode of RFC 6287 §7.3: the
                two challenges are joined as text in the order given (the server's response
                covers client then server challenge, the client's response the reverse).
                Numeric questions are read as one decimal number (§5.1), so leading zeros do
                not count: use fixed-length questions.
            counter: C, required exactly when the suite has ``C``; 0 to 2**64 - 1.
            pin: the PIN or password, hashed with the suite's PIN hash after UTF-8 encoding.
            pin_hash: the PIN hash itself, instead of *pin*. Exactly one of the two is
                required when the suite has ``P``, and neither otherwise.
            session: S, exactly ``session_length`` bytes, required exactly when the suite
                has ``S``.
            at: the time, as int Unix seconds or an aware datetime, required exactly when the
                suite has ``T``. T is the number of whole time steps since 1970 (§6.3).

        Returns:
            ``digits`` ASCII digits, or for ``digits == 0`` the full HMAC as lower-case hex.

        Raises:
            TypeError: an input has the wrong type.
            InvalidInput: an input the suite needs is missing, one it does not take is given,
                or an input is out of range or outside its format.
            InvalidTime: *at* is naive, before 1970, or beyond the last 64-bit time step.
        """
        data = _data_input(self.suite, question, counter, pin, pin_hash, session, at)
        mac = self._mac.copy()
        mac.update(data)
        return _response(mac.finalize(), self.suite.digits)

    def verify(
        self,
        response: str,
        *,
        question: str | tuple[str, str],
        counter: int | None = None,
        pin: str | None = None,
        pin_hash: bytes | None = None,
        session: bytes | None = None,
        at: int | dt.datetime | None = None,
    ) -> None:
        """Accept *response* if it is the response to these inputs; raise otherwise.

        The inputs are those of :meth:`generate`. The comparison takes constant time. A
        numeric response may be typed in groups (``"1234 5678"``); a full-HMAC response is hex
        in either case. This checks one set of inputs only: counter look-ahead, time windows,
        and refusing a response that was already accepted are the caller's work.

        Raises:
            InvalidCode: the response does not match. Always the same error and message.
            MalformedCode: *response* does not have the response's shape (a subclass of
                InvalidCode); this depends only on the typed text.
            TypeError, InvalidInput, InvalidTime: as for :meth:`generate`.
        """
        expected = self.generate(
            question=question,
            counter=counter,
            pin=pin,
            pin_hash=pin_hash,
            session=session,
            at=at,
        )
        given = _parse_response(response, self.suite)
        if not compare_digest(expected.encode("ascii"), given.encode("ascii")):
            raise InvalidCode()


def _data_input(
    suite: OCRASuite,
    question: str | tuple[str, str],
    counter: int | None,
    pin: str | None,
    pin_hash: bytes | None,
    session: bytes | None,
    at: int | dt.datetime | None,
) -> bytes:
    """DataInput after the suite text: C | Q | P | S | T (RFC 6287 §5.1), absent parts empty.

    Every input is checked before any is used, so that a wrong call fails the same way whatever
    the key.
    """
    if suite.counter:
        if counter is None:
            raise InvalidInput("this OCRA suite requires a counter")
        check_counter(counter)
        c = pack_counter(counter)
    elif counter is not None:
        raise InvalidInput("this OCRA suite takes no counter")
    else:
        c = b""
    q = _question_field(question, suite.question_format, suite.question_length)
    p = _pin_field(suite.pin_algorithm, pin, pin_hash)
    if suite.session_length is not None:
        if session is None:
            raise InvalidInput("this OCRA suite requires session data")
        if not isinstance(session, bytes):
            raise TypeError("session must be bytes")
        if len(session) != suite.session_length:
            raise InvalidInput("session data must be exactly the suite's session length")
        s = session
    elif session is not None:
        raise InvalidInput("this OCRA suite takes no session data")
    else:
        s = b""
    if suite.time_step is not None:
        if at is None:
            raise InvalidInput("this OCRA suite requires a time")
        steps = to_unix(at) // suite.time_step
        if steps > MAX_COUNTER:
            raise InvalidTime("time is beyond the last 64-bit time step")
        t = pack_counter(steps)
    elif at is not None:
        raise InvalidInput("this OCRA suite takes no time")
    else:
        t = b""
    return b"".join((c, q, p, s, t))


def _question_field(question: str | tuple[str, str], fmt: str, max_length: int) -> bytes:
    """The 128-byte question field Q (RFC 6287 §5.1).

    Alphanumeric text is its ASCII bytes. Hex text is read as nibbles. A numeric question is
    read as a decimal number and written in hex. Either kind of hex is left-justified, so an
    odd final nibble is followed by a zero nibble, and the field is padded with zero bytes.
    """
    if type(question) is str:
        parts: tuple[str, ...] = (question,)
    elif type(question) is tuple:
        if len(question) != 2:
            raise InvalidInput("a mutual question is a pair of challenges")
        parts = question
    else:
        raise TypeError("question must be str, or a pair of str in mutual mode")
    alphabet = _QUESTION_ALPHABETS[fmt]
    for part in parts:
        if type(part) is not str:
            raise TypeError("each challenge must be str")
        if not 1 <= len(part) <= max_length:
            raise InvalidInput("each challenge must have 1 to question_length characters")
        if not alphabet.issuperset(part):
            raise InvalidInput("a challenge has a character outside the suite's question format")
    text = "".join(parts)
    if fmt == "A":
        return text.encode("ascii").ljust(_QUESTION_BYTES, b"\x00")
    nibbles = f"{int(text):x}" if fmt == "N" else text
    # At most 128 alphanumeric characters, 128 hex digits (64 bytes) or a 128-digit number
    # (54 bytes) reach this point, so the field never overflows.
    return bytes.fromhex(nibbles.ljust(2 * _QUESTION_BYTES, "0"))


def _pin_field(algorithm: Algorithm | None, pin: str | None, pin_hash: bytes | None) -> bytes:
    """The PIN hash field P (RFC 6287 §5.1), from the PIN or from its hash."""
    if algorithm is None:
        if pin is not None or pin_hash is not None:
            raise InvalidInput("this OCRA suite takes no PIN")
        return b""
    if (pin is None) == (pin_hash is None):
        raise InvalidInput("this OCRA suite requires exactly one of pin and pin_hash")
    if pin_hash is not None:
        if not isinstance(pin_hash, bytes):
            raise TypeError("pin_hash must be bytes")
        if len(pin_hash) != DIGEST_SIZES[algorithm]:
            raise InvalidInput("pin_hash must be as long as the suite's PIN hash")
        return pin_hash
    if type(pin) is not str:
        raise TypeError("pin must be str")
    if not pin:
        raise InvalidInput("pin must not be empty")
    encoded = utf8_or_none(pin)
    if encoded is None:
        raise InvalidInput("pin must be encodable as UTF-8")
    return hash_bytes(algorithm, encoded)


def _response(mac: bytes, digits: int) -> str:
    """The response text: RFC 4226 §5.3 truncation, or the full HMAC for t = 0 (RFC 6287 §5.2)."""
    if digits == 0:
        return mac.hex()
    return f"{truncate(mac) % 10**digits:0{digits}d}"


def _parse_response(response: str, suite: OCRASuite) -> str:
    """The response as :func:`_response` would write it, or MalformedCode."""
    if suite.digits:
        return parse_code(response, suite.digits)
    if type(response) is not str:
        raise TypeError("a response must be str")
    text = response.strip(" \t\r\n").lower()
    if len(text) != 2 * DIGEST_SIZES[suite.algorithm] or not _LOWER_HEX.issuperset(text):
        raise MalformedCode()
    return text
