"""Tests for softtoken._encoding and softtoken._time: strict parsers that never echo input."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken import InvalidEncoding, InvalidTime, MalformedCode, SoftTokenError
from softtoken._encoding import b32decode, b32encode, hexdecode, parse_code
from softtoken._time import to_unix

CANARY = "CANARYSECRETXYZ2"


class TestBase32:
    """RFC 4648 §6 base32, as people and otpauth URIs write it."""

    def test_canonical_output(self) -> None:
        """Encoding is upper case with no padding."""
        assert "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" == b32encode(b"12345678901234567890")
        assert "MZXW6" == b32encode(b"foo")

    @pytest.mark.parametrize(
        "text",
        [
            "MZXW6",
            "mzxw6",
            "MZXW6===",
            "mzXw6===",
            " MZ XW 6 ",
            "MZXW6\n",
        ],
    )
    def test_lenient_input(self, text: str) -> None:
        """Case, padding, inner spaces and surrounding whitespace do not matter."""
        assert b"foo" == b32decode(text)

    @pytest.mark.parametrize(
        ("text", "rule"),
        [
            ("", "empty"),
            ("   ", "empty"),
            ("MZXW1", "outside"),
            ("MZXW8", "outside"),
            ("MZ-XW6", "outside"),
            ("MZXW6=A", "outside"),
            ("MZXW6=", "padding"),
            ("M", "impossible length"),
            ("MZX", "impossible length"),
            ("MZXW6Y", "impossible length"),
            ("ＭＺＸＷ６", "outside"),
        ],
    )
    def test_refusals_name_the_rule(self, text: str, rule: str) -> None:
        """Bad text raises InvalidEncoding saying which rule broke."""
        with pytest.raises(InvalidEncoding, match=rule):
            b32decode(text)

    def test_errors_never_echo_the_input(self) -> None:
        """The message and args of a refusal do not contain the (possibly secret) text."""
        with pytest.raises(InvalidEncoding) as caught:
            b32decode(CANARY + "!")
        assert CANARY not in str(caught.value)
        assert CANARY not in repr(caught.value.args)

    def test_bytes_are_a_type_error(self) -> None:
        """Only str is decoded; bytes are a TypeError."""
        with pytest.raises(TypeError):
            b32decode(b"MZXW6")  # type: ignore[arg-type]

    @given(st.binary(max_size=100))
    def test_round_trip(self, data: bytes) -> None:
        """decode(encode(x)) == x for every byte string."""
        assert data == b32decode(b32encode(data)) if data else b"" == data

    @given(st.binary(min_size=1, max_size=100))
    def test_agrees_with_the_standard_library(self, data: bytes) -> None:
        """Canonical encoding equals base64.b32encode without its padding."""
        assert base64.b32encode(data).decode().rstrip("=") == b32encode(data)

    @pytest.mark.parametrize(
        "letter",
        [
            "\u00df",
            "\u0131",
            "\u017f",
            "\ufb00",
            "\ufb01",
            "\ufb02",
            "\ufb03",
            "\ufb04",
            "\ufb05",
            "\ufb06",
        ],
    )
    def test_non_ascii_is_refused_before_case_mapping(self, letter: str) -> None:
        """Letters that upper-case into A-Z (the sharp s, dotless i, long s, ligatures) are
        refused, so that a secret has exactly one spelling (S13)."""
        assert letter.upper().isascii()
        with pytest.raises(InvalidEncoding):
            b32decode("JBSWY3DP" + letter + "EHPK3PXP")

    @given(st.text(max_size=80))
    @example("A" * 7 + "=")
    @example("=" * 8)
    def test_arbitrary_text_raises_only_softtoken_errors(self, text: str) -> None:
        """On any text, decoding returns bytes or raises InvalidEncoding, never anything else."""
        try:
            result = b32decode(text)
        except InvalidEncoding:
            # The only error allowed; anything else propagates and fails the test.
            return
        assert isinstance(result, bytes)


class TestHex:
    """Hex keys, as oathtool takes them."""

    def test_both_cases_and_spaces(self) -> None:
        """Upper and lower case and inner spaces decode the same."""
        assert b"\x01\xab\xcd" == hexdecode("01ABcd") == hexdecode(" 01 ab cd ")

    @pytest.mark.parametrize(("text", "rule"), [("", "empty"), ("0g", "outside"), ("abc", "odd")])
    def test_refusals(self, text: str, rule: str) -> None:
        """Bad hex raises InvalidEncoding naming the rule."""
        with pytest.raises(InvalidEncoding, match=rule):
            hexdecode(text)

    @given(st.binary(min_size=1, max_size=64))
    def test_round_trip(self, data: bytes) -> None:
        """hexdecode(x.hex()) == x."""
        assert data == hexdecode(data.hex())

    @given(st.text(max_size=80))
    def test_arbitrary_text_raises_only_softtoken_errors(self, text: str) -> None:
        """On any text, decoding returns bytes or raises InvalidEncoding."""
        try:
            result = hexdecode(text)
        except InvalidEncoding:
            return
        assert len(text.replace(" ", "").strip()) == 2 * len(result)


class TestParseCode:
    """Typed codes: ASCII digits, optionally grouped."""

    @given(
        code=st.text(alphabet="0123456789", min_size=6, max_size=10),
        split=st.integers(1, 9),
        sep=st.sampled_from([" ", "-"]),
    )
    def test_one_separator_between_groups_is_removed(self, code: str, split: int, sep: str) -> None:
        """Inserting one space or dash between two groups gives back the same digits."""
        cut = min(split, len(code) - 1)
        assert code == parse_code(f"{code[:cut]}{sep}{code[cut:]}", len(code))

    @given(st.text(max_size=24), st.integers(6, 10))
    def test_arbitrary_text_raises_only_malformed_code(self, text: str, digits: int) -> None:
        """Any text either parses to exactly `digits` ASCII digits or raises MalformedCode."""
        try:
            bare = parse_code(text, digits)
        except MalformedCode as error:
            refusal: SoftTokenError = error
        else:
            assert digits == len(bare)
            assert bare.isascii()
            assert bare.isdigit()
            return
        # The message is the class's constant, so the typed text can never leak through it.
        assert MalformedCode.MESSAGE == str(refusal)


class TestToUnix:
    """Times are int seconds or aware datetimes."""

    def test_aware_datetime(self) -> None:
        """An aware datetime becomes whole seconds, rounded down."""
        moment = dt.datetime(2009, 2, 13, 23, 31, 30, 999_999, tzinfo=dt.UTC)
        assert 1_234_567_890 == to_unix(moment)

    def test_far_future(self) -> None:
        """Times past 2**32 convert exactly."""
        assert 20_000_000_000 == to_unix(dt.datetime(2603, 10, 11, 11, 33, 20, tzinfo=dt.UTC))

    @pytest.mark.parametrize("at", [1.0, True, "0", None, dt.date(2020, 1, 1)])
    def test_other_types(self, at: Any) -> None:
        """Floats, bools, strings and dates are a TypeError."""
        with pytest.raises(TypeError):
            to_unix(at)

    def test_naive_and_negative(self) -> None:
        """Naive datetimes and times before 1970 raise InvalidTime."""
        with pytest.raises(InvalidTime):
            to_unix(dt.datetime(2020, 1, 1))
        with pytest.raises(InvalidTime):
            to_unix(-1)


class TestPublicNames:
    """The key-text decoders are part of the public API."""

    def test_exported_from_the_package(self) -> None:
        """softtoken.b32decode, b32encode and hexdecode are the strict parsers themselves."""
        import softtoken

        assert (b32decode, b32encode, hexdecode) == (
            softtoken.b32decode,
            softtoken.b32encode,
            softtoken.hexdecode,
        )
