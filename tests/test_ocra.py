"""Tests for softtoken.ocra: RFC 6287 vectors, suite parsing, input rules and verification."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken import InvalidCode, InvalidInput, InvalidKey, InvalidTime, MalformedCode, _random
from softtoken.exceptions import InvalidSuite, SoftTokenError
from softtoken.ocra import OCRA, OCRASuite, generate_question
from tests import strategies as sts
from tests.utils import load_vectors

_ROWS = load_vectors("rfc6287.txt")
KEYS = {int(row[1]): bytes.fromhex(row[2]) for row in _ROWS if row[0] == "KEY"}
_PIN_ROWS = [row for row in _ROWS if row[0] == "PIN"]
PIN = _PIN_ROWS[0][1]
PIN_SHA1 = bytes.fromhex(_PIN_ROWS[0][3])


@attrs.frozen
class Vector:
    """One row of RFC 6287 Appendix C."""

    section: str
    suite: str
    key: bytes = attrs.field(repr=False)
    counter: int | None
    question: str | tuple[str, str]
    pin: str | None
    steps: int | None
    response: str

    @property
    def id(self) -> str:
        question = "+".join(self.question) if isinstance(self.question, tuple) else self.question
        counter = "" if self.counter is None else f"-C{self.counter}"
        return f"{self.section}-{self.suite}{counter}-{question}"

    def inputs(self) -> dict[str, Any]:
        """The keyword arguments of OCRA.generate for this row."""
        inputs: dict[str, Any] = {"question": self.question}
        if self.counter is not None:
            inputs["counter"] = self.counter
        if self.pin is not None:
            inputs["pin"] = self.pin
        if self.steps is not None:
            step = OCRASuite.parse(self.suite).time_step
            assert step is not None
            inputs["at"] = self.steps * step
        return inputs


def _optional(field: str) -> str | None:
    return None if field == "-" else field


def _vector(row: list[str]) -> Vector:
    _, section, suite, key, counter, question, pin, steps, response = row
    first, comma, second = question.partition(",")
    return Vector(
        section=section,
        suite=suite,
        key=KEYS[int(key)],
        counter=None if counter == "-" else int(counter),
        question=(first, second) if comma else question,
        pin=_optional(pin),
        steps=None if steps == "-" else int(steps, 16),
        response=response,
    )


VECTORS = [_vector(row) for row in _ROWS if row[0] == "VECTOR"]
VECTOR_IDS = [v.id for v in VECTORS]
PIN_VECTORS = [v for v in VECTORS if v.pin is not None]
TIME_VECTORS = [v for v in VECTORS if v.steps is not None]

KEY20 = KEYS[20]
KEY32 = KEYS[32]
CANARY_KEY = bytes.fromhex("c0ffee00") * 8


def other_response(response: str) -> str:
    """A response of the same shape that differs from *response* in its last character."""
    alphabet = "0123456789abcdef" if len(response) > 10 else "0123456789"
    return response[:-1] + alphabet[(alphabet.index(response[-1]) + 1) % len(alphabet)]


def suite_text(fields: dict[str, Any]) -> str:
    """The RFC 6287 §6 text of a suite, written independently of OCRASuite.__str__."""
    data = ["C"] if fields["counter"] else []
    data.append("Q" + fields["question_format"] + str(fields["question_length"]).zfill(2))
    if fields["pin_algorithm"]:
        data.append("P" + fields["pin_algorithm"].upper())
    if fields["session_length"]:
        data.append("S" + str(fields["session_length"]).zfill(3))
    step = fields["time_step"]
    if step:
        unit = "H" if step >= 3600 else "M" if step >= 60 else "S"
        data.append("T" + str(step // {"H": 3600, "M": 60, "S": 1}[unit]) + unit)
    crypto: str = "HOTP-" + fields["algorithm"].upper() + "-" + str(fields["digits"])
    return "OCRA-1:" + crypto + ":" + "-".join(data)


def transcribed_response(key: bytes, fields: dict[str, Any], inputs: dict[str, Any]) -> str:
    """RFC 6287 §5, transcribed with the standard library's hmac and hashlib."""
    message = suite_text(fields).encode() + b"\0"
    if fields["counter"]:
        message += inputs["counter"].to_bytes(8, "big")
    question = inputs["question"]
    text = "".join(question) if isinstance(question, tuple) else question
    if fields["question_format"] == "A":
        message += text.encode().ljust(128, b"\0")
    else:
        hex_text = hex(int(text))[2:] if fields["question_format"] == "N" else text
        message += bytes.fromhex((hex_text + "0" * 256)[:256])
    if fields["pin_algorithm"]:
        message += hashlib.new(fields["pin_algorithm"], inputs["pin"].encode()).digest()
    if fields["session_length"]:
        message += inputs["session"]
    if fields["time_step"]:
        message += (inputs["at"] // fields["time_step"]).to_bytes(8, "big")
    mac = hmac.new(key, message, fields["algorithm"]).digest()
    if fields["digits"] == 0:
        return mac.hex()
    offset = mac[-1] % 16
    value = int.from_bytes(mac[offset : offset + 4], "big") % 2**31
    return str(value % 10 ** fields["digits"]).rjust(fields["digits"], "0")


_ALPHABETS = {
    "A": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "H": "0123456789ABCDEFabcdef",
    "N": "0123456789",
}


@st.composite
def suites_with_inputs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A suite's fields and a full, valid set of inputs for it."""
    fields: dict[str, Any] = draw(sts.ocra_suite_fields)
    challenge = st.text(
        alphabet=_ALPHABETS[fields["question_format"]],
        min_size=1,
        max_size=fields["question_length"],
    )
    inputs: dict[str, Any] = {
        "question": draw(challenge | st.tuples(challenge, challenge)),
    }
    if fields["counter"]:
        inputs["counter"] = draw(sts.counters)
    if fields["pin_algorithm"]:
        inputs["pin"] = draw(st.text(min_size=1, max_size=20))
    if fields["session_length"]:
        size = fields["session_length"]
        inputs["session"] = draw(st.binary(min_size=size, max_size=size))
    if fields["time_step"]:
        inputs["at"] = draw(sts.unix_times)
    return fields, inputs


class TestVectors:
    """RFC 6287 Appendix C."""

    def test_every_table_is_loaded(self) -> None:
        """The vector file holds all 70 vectors of C.1, C.2 and C.3."""
        assert {"C.1": 40, "C.2": 20, "C.3": 10} == {
            section: sum(v.section == section for v in VECTORS) for section in ("C.1", "C.2", "C.3")
        }

    @pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
    def test_generate(self, vector: Vector) -> None:
        """Every published OCRA value is reproduced."""
        assert vector.response == OCRA(vector.key, vector.suite).generate(**vector.inputs())

    @pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
    def test_verify(self, vector: Vector) -> None:
        """Every published OCRA value is accepted by verify, and a neighbour is not."""
        token = OCRA(vector.key, vector.suite)
        token.verify(vector.response, **vector.inputs())
        with pytest.raises(InvalidCode):
            token.verify(other_response(vector.response), **vector.inputs())

    @pytest.mark.parametrize("vector", PIN_VECTORS, ids=[v.id for v in PIN_VECTORS])
    def test_pin_hash(self, vector: Vector) -> None:
        """The PIN's published SHA-1 hash, given instead of the PIN, gives the same values."""
        inputs = vector.inputs()
        del inputs["pin"]
        token = OCRA(vector.key, vector.suite)
        assert vector.response == token.generate(pin_hash=PIN_SHA1, **inputs)

    @pytest.mark.parametrize("vector", TIME_VECTORS, ids=[v.id for v in TIME_VECTORS])
    def test_time_within_step(self, vector: Vector) -> None:
        """Every second of the published time step, as int or aware datetime, gives the value."""
        inputs = vector.inputs()
        start = inputs.pop("at")
        token = OCRA(vector.key, vector.suite)
        last = dt.datetime.fromtimestamp(start + 59, tz=dt.timezone(dt.timedelta(hours=2)))
        for at in (start, start + 59, last):
            assert vector.response == token.generate(at=at, **inputs)

    @pytest.mark.parametrize("vector", TIME_VECTORS, ids=[v.id for v in TIME_VECTORS])
    def test_next_time_step(self, vector: Vector) -> None:
        """The next time step no longer gives the published value."""
        inputs = vector.inputs()
        inputs["at"] += 60
        with pytest.raises(InvalidCode):
            OCRA(vector.key, vector.suite).verify(vector.response, **inputs)


class TestOCRASuiteParse:
    """OCRASuite.parse and str(): RFC 6287 §6."""

    def test_fields(self) -> None:
        """Every part of a full suite lands in its field."""
        expected = OCRASuite(
            algorithm="sha512",
            digits=10,
            counter=True,
            question_format="H",
            question_length=64,
            pin_algorithm="sha256",
            session_length=64,
            time_step=30,
        )
        assert expected == OCRASuite.parse("OCRA-1:HOTP-SHA512-10:C-QH64-PSHA256-S064-T30S")

    @pytest.mark.parametrize(
        ("text", "step"),
        [("T1S", 1), ("T59S", 59), ("T1M", 60), ("T59M", 3540), ("T1H", 3600), ("T48H", 172800)],
    )
    def test_time_steps(self, text: str, step: int) -> None:
        """Time steps are read in seconds, minutes and hours, at the edges of each range."""
        assert step == OCRASuite.parse(f"OCRA-1:HOTP-SHA1-6:QN08-{text}").time_step

    def test_no_truncation(self) -> None:
        """A truncation of 0 is allowed and means no truncation."""
        assert 0 == OCRASuite.parse("OCRA-1:HOTP-SHA256-0:QA08").digits

    @pytest.mark.parametrize("vector", VECTORS[::5], ids=VECTOR_IDS[::5])
    def test_rfc_suites_round_trip(self, vector: Vector) -> None:
        """Every suite of Appendix C is printed back exactly as written."""
        assert vector.suite == str(OCRASuite.parse(vector.suite))

    @given(sts.ocra_suite_fields)
    def test_round_trip(self, fields: dict[str, Any]) -> None:
        """Parsing the text of any valid suite gives that suite back."""
        suite = OCRASuite(**fields)
        assert suite == OCRASuite.parse(str(suite))

    @given(sts.ocra_suite_fields)
    def test_text_matches_rfc_grammar(self, fields: dict[str, Any]) -> None:
        """The text of a suite is the RFC 6287 §6 spelling of its fields."""
        assert suite_text(fields) == str(OCRASuite(**fields))

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "OCRA-1:HOTP-SHA1-6",
            "OCRA-2:HOTP-SHA1-6:QN08",
            "ocra-1:hotp-sha1-6:qn08",
            "OCRA-1:HOTP-SHA1-6:qn08",
            "OCRA-1:TOTP-SHA1-6:QN08",
            "OCRA-1:HOTP-MD5-6:QN08",
            "OCRA-1:HOTP-SHA384-6:QN08",
            "OCRA-1:HOTP-SHA1-1:QN08",
            "OCRA-1:HOTP-SHA1-3:QN08",
            "OCRA-1:HOTP-SHA1-11:QN08",
            "OCRA-1:HOTP-SHA1-06:QN08",
            "OCRA-1:HOTP-SHA1-6:QN8",
            "OCRA-1:HOTP-SHA1-6:QN03",
            "OCRA-1:HOTP-SHA1-6:QN65",
            "OCRA-1:HOTP-SHA1-6:QX08",
            "OCRA-1:HOTP-SHA1-6:C",
            "OCRA-1:HOTP-SHA1-6:QN08-C",
            "OCRA-1:HOTP-SHA1-6:C-C-QN08",
            "OCRA-1:HOTP-SHA1-6:QN08-P",
            "OCRA-1:HOTP-SHA1-6:QN08-PSHA384",
            "OCRA-1:HOTP-SHA1-6:QN08-S",
            "OCRA-1:HOTP-SHA1-6:QN08-S64",
            "OCRA-1:HOTP-SHA1-6:QN08-S000",
            "OCRA-1:HOTP-SHA1-6:QN08-S513",
            "OCRA-1:HOTP-SHA1-6:QN08-T",
            "OCRA-1:HOTP-SHA1-6:QN08-T0S",
            "OCRA-1:HOTP-SHA1-6:QN08-T60S",
            "OCRA-1:HOTP-SHA1-6:QN08-T60M",
            "OCRA-1:HOTP-SHA1-6:QN08-T01M",
            "OCRA-1:HOTP-SHA1-6:QN08-T0H",
            "OCRA-1:HOTP-SHA1-6:QN08-T49H",
            "OCRA-1:HOTP-SHA1-6:QN08-T1D",
            "OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1",
            "OCRA-1:HOTP-SHA1-6:QN08-S064-PSHA1",
            "OCRA-1:HOTP-SHA1-6:QN08-T1M-S064",
            "OCRA-1:HOTP-SHA1-6:QN08\n",
            " OCRA-1:HOTP-SHA1-6:QN08",
            "OCRA-1:HOTP-SHA1-6:QN\uff10\uff18",
            "OCRA-1:HOTP-SHA1-\u0666:QN08",
        ],
    )
    def test_invalid(self, text: str) -> None:
        """Malformed, out-of-range and non-canonical suites raise InvalidSuite."""
        with pytest.raises(InvalidSuite):
            OCRASuite.parse(text)

    def test_invalid_is_input_error(self) -> None:
        """InvalidSuite is an InvalidInput, so also a ValueError."""
        with pytest.raises(InvalidInput):
            OCRASuite.parse("OCRA-1:HOTP-SHA1-6:QN08-T60S")
        with pytest.raises(ValueError, match="OCRA suite"):
            OCRASuite.parse("OCRA-1")

    def test_message_never_echoes_text(self) -> None:
        """The error message does not contain the rejected text."""
        with pytest.raises(InvalidSuite) as caught:
            OCRASuite.parse("OCRA-1:HOTP-SHA1-6:QN08-CANARY4711")
        assert "CANARY4711" not in str(caught.value)

    @pytest.mark.parametrize("text", [None, b"OCRA-1:HOTP-SHA1-6:QN08", 6])
    def test_not_str(self, text: Any) -> None:
        """Anything but str raises TypeError."""
        with pytest.raises(TypeError):
            OCRASuite.parse(text)

    @given(st.text())
    @example("OCRA-1:HOTP-SHA1-6:QN08")
    @example("OCRA-1:HOTP-SHA512-10:C-QA64-PSHA512-S512-T59M")
    @example("OCRA-1:HOTP-SHA512-10:C-QA64-PSHA512-S512-T59MX")
    def test_fuzz_only_own_errors(self, text: str) -> None:
        """Any text either raises InvalidSuite, never another error, or parses canonically."""
        try:
            suite = OCRASuite.parse(text)
        except InvalidSuite:
            return
        assert text == str(suite)

    @given(
        st.from_regex(
            r"OCRA-1:HOTP-SHA(1|256|384|512)-[0-9]{1,2}:(C-)?Q[ANHX][0-9]{1,3}"
            r"(-PSHA[0-9]{1,3})?(-S[0-9]{2,4})?(-T[0-9]{1,3}[SMHD])?",
            fullmatch=True,
        )
    )
    def test_accepted_text_is_canonical(self, text: str) -> None:
        """Near-valid text either raises InvalidSuite or parses to a suite printed identically."""
        try:
            suite = OCRASuite.parse(text)
        except InvalidSuite:
            return
        assert text == str(suite)


class TestOCRASuiteFields:
    """Direct construction of OCRASuite."""

    def test_defaults(self) -> None:
        """The defaults are the RFC's basic suite, OCRA-1:HOTP-SHA1-6:QN08."""
        assert "OCRA-1:HOTP-SHA1-6:QN08" == str(OCRASuite())

    def test_algorithm_case(self) -> None:
        """Hash names are accepted in any case and stored in lower case."""
        suite = OCRASuite(algorithm="SHA256", pin_algorithm="Sha512")
        assert ("sha256", "sha512") == (suite.algorithm, suite.pin_algorithm)

    @pytest.mark.parametrize(
        "fields",
        [
            {"algorithm": "md5"},
            {"pin_algorithm": "sha384"},
            {"digits": 3},
            {"digits": 11},
            {"question_format": "X"},
            {"question_length": 3},
            {"question_length": 65},
            {"session_length": 0},
            {"session_length": 513},
            {"time_step": 0},
            {"time_step": 61},
            {"time_step": 3600 * 49},
        ],
    )
    def test_invalid_values(self, fields: dict[str, Any]) -> None:
        """Values outside RFC 6287 §6 raise InvalidSuite."""
        with pytest.raises(InvalidSuite):
            OCRASuite(**fields)

    @pytest.mark.parametrize(
        "fields",
        [
            {"algorithm": 1},
            {"pin_algorithm": b"sha1"},
            {"digits": "6"},
            {"digits": True},
            {"counter": 1},
            {"question_format": None},
            {"question_length": 8.0},
            {"session_length": "64"},
            {"time_step": 60.0},
        ],
    )
    def test_invalid_types(self, fields: dict[str, Any]) -> None:
        """Values of the wrong type raise TypeError."""
        with pytest.raises(TypeError):
            OCRASuite(**fields)


class TestOCRAConstruction:
    """OCRA keys and suites."""

    def test_repr_hides_key(self) -> None:
        """The repr shows the suite but never the key."""
        text = repr(OCRA(CANARY_KEY, "OCRA-1:HOTP-SHA1-6:QN08"))
        assert "question_length=8" in text
        assert CANARY_KEY.hex() not in text
        assert repr(CANARY_KEY) not in text
        assert "c0ffee" not in text.lower()

    def test_equality(self) -> None:
        """Tokens are equal when key and suite are, and differ when either does."""
        token = OCRA(KEY20, "OCRA-1:HOTP-SHA1-6:QN08")
        assert OCRA(KEY20, OCRASuite()) == token
        assert OCRA(KEY32, "OCRA-1:HOTP-SHA1-6:QN08") != token
        assert OCRA(KEY20, "OCRA-1:HOTP-SHA1-8:QN08") != token

    def test_short_key(self) -> None:
        """Keys under 16 bytes need allow_short_key, and under 10 bytes are refused."""
        with pytest.raises(InvalidKey):
            OCRA(KEY20[:15], "OCRA-1:HOTP-SHA1-6:QN08")
        OCRA(KEY20[:10], "OCRA-1:HOTP-SHA1-6:QN08", allow_short_key=True)
        with pytest.raises(InvalidKey):
            OCRA(KEY20[:9], "OCRA-1:HOTP-SHA1-6:QN08", allow_short_key=True)

    @pytest.mark.parametrize(
        ("key", "suite"),
        [(KEY20.hex(), "OCRA-1:HOTP-SHA1-6:QN08"), (KEY20, 6), (KEY20, None)],
    )
    def test_types(self, key: Any, suite: Any) -> None:
        """A key that is not bytes, or a suite that is neither OCRASuite nor str, is refused."""
        with pytest.raises(TypeError):
            OCRA(key, suite)

    def test_invalid_suite_text(self) -> None:
        """Suite text is parsed on construction."""
        with pytest.raises(InvalidSuite):
            OCRA(KEY20, "OCRA-1:HOTP-SHA1-6:QN8")


FULL_SUITE = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1-S016-T1M"
FULL_INPUTS: dict[str, Any] = {
    "question": "12345678",
    "counter": 7,
    "pin": "1234",
    "session": bytes(16),
    "at": 1_700_000_000,
}


class TestOCRAInputs:
    """Exactly the inputs the suite names, each in range and in its format."""

    @pytest.mark.parametrize("name", ["counter", "pin", "session", "at"])
    def test_missing(self, name: str) -> None:
        """Leaving out an input the suite names raises InvalidInput."""
        inputs = {k: v for k, v in FULL_INPUTS.items() if k != name}
        with pytest.raises(InvalidInput):
            OCRA(KEY32, FULL_SUITE).generate(**inputs)

    @pytest.mark.parametrize(
        ("suite", "extra"),
        [
            ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1-S016-T1M", {"counter": 0}),
            ("OCRA-1:HOTP-SHA1-6:C-QN08-S016-T1M", {"pin": "1234"}),
            ("OCRA-1:HOTP-SHA1-6:C-QN08-S016-T1M", {"pin_hash": bytes(20)}),
            ("OCRA-1:HOTP-SHA1-6:C-QN08-PSHA1-T1M", {"session": bytes(16)}),
            ("OCRA-1:HOTP-SHA1-6:C-QN08-PSHA1-S016", {"at": 0}),
        ],
    )
    def test_extra(self, suite: str, extra: dict[str, Any]) -> None:
        """Giving an input the suite does not name raises InvalidInput."""
        inputs = {k: v for k, v in FULL_INPUTS.items() if k not in extra} | extra
        token = OCRA(KEY20, suite)
        with pytest.raises(InvalidInput):
            token.generate(**inputs)
        with pytest.raises(InvalidInput):
            token.verify("123456", **inputs)

    def test_full_suite(self) -> None:
        """With every input, a response of the suite's length comes back."""
        assert 8 == len(OCRA(KEY32, FULL_SUITE).generate(**FULL_INPUTS))

    @pytest.mark.parametrize(
        "change",
        [
            {"pin_hash": bytes(20)},
            {"pin_hash": bytes(32), "pin": None},
            {"pin": ""},
            {"pin": "\ud800"},
            {"session": bytes(15)},
            {"session": bytes(17)},
            {"counter": -1},
            {"counter": 2**64},
        ],
    )
    def test_bad_values(self, change: dict[str, Any]) -> None:
        """Both PIN forms, a wrong PIN hash length, an empty or unencodable PIN, a session of
        the wrong length and an out-of-range counter raise InvalidInput."""
        with pytest.raises(InvalidInput):
            OCRA(KEY32, FULL_SUITE).generate(**(FULL_INPUTS | change))

    @pytest.mark.parametrize(
        "change",
        [
            {"question": 12345678},
            {"question": ["1234", "5678"]},
            {"question": ("1234", 5678)},
            {"counter": True},
            {"counter": 7.0},
            {"pin": 1234},
            {"pin": None, "pin_hash": bytes(20).hex()},
            {"session": bytearray(16)},
            {"at": 1.5},
        ],
    )
    def test_bad_types(self, change: dict[str, Any]) -> None:
        """Inputs of the wrong type raise TypeError."""
        with pytest.raises(TypeError):
            OCRA(KEY32, FULL_SUITE).generate(**(FULL_INPUTS | change))

    @pytest.mark.parametrize(
        "at",
        [-1, dt.datetime(2024, 1, 1), 2**64 * 60],
    )
    def test_bad_times(self, at: int | dt.datetime) -> None:
        """Negative, naive and beyond-64-bit times raise InvalidTime."""
        with pytest.raises(InvalidTime):
            OCRA(KEY32, FULL_SUITE).generate(**(FULL_INPUTS | {"at": at}))

    @pytest.mark.parametrize(
        ("fmt", "question"),
        [
            ("N", ""),
            ("N", "123456789"),
            ("N", "1234567a"),
            ("N", "１２３４"),
            ("N", "-1234"),
            ("N", " 1234"),
            ("H", "12345g"),
            ("H", "0x1234"),
            ("A", "SIG 1000"),
            ("A", "SIG-1000"),
            ("A", "ÄBCD"),
            ("A", ("CLI22220", "SRV111100")),
            ("A", ("CLI22220", "")),
            ("A", ("CLI22220",)),
            ("A", ("CLI2", "SRV1", "X")),
        ],
    )
    def test_bad_questions(self, fmt: str, question: Any) -> None:
        """Questions that are empty, too long or outside their format raise InvalidInput."""
        token = OCRA(KEY20, f"OCRA-1:HOTP-SHA1-6:Q{fmt}08")
        with pytest.raises(InvalidInput):
            token.generate(question=question)

    @pytest.mark.parametrize("fmt", ["A", "H", "N"])
    def test_longest_question(self, fmt: str) -> None:
        """A pair of 64-character challenges fits the 128-byte question field in every format."""
        token = OCRA(KEY20, f"OCRA-1:HOTP-SHA1-6:Q{fmt}64")
        assert 6 == len(token.generate(question=("9" * 64, "9" * 64)))

    def test_hex_question_case(self) -> None:
        """Hex questions mean the same in either case."""
        token = OCRA(KEY20, "OCRA-1:HOTP-SHA1-6:QH08")
        assert token.generate(question="abcdef01") == token.generate(question="ABCDEF01")

    def test_numeric_leading_zeros(self) -> None:
        """A numeric question is one number (RFC 6287 §5.1), so leading zeros do not count."""
        token = OCRA(KEY20, "OCRA-1:HOTP-SHA1-6:QN08")
        assert token.generate(question="1234") == token.generate(question="00001234")

    def test_pair_order(self) -> None:
        """Mutual mode joins the challenges in the order given."""
        token = OCRA(KEY32, "OCRA-1:HOTP-SHA256-8:QA08")
        assert token.generate(question="CLI1SRV1") == token.generate(question=("CLI1", "SRV1"))
        assert token.generate(question=("CLI1", "SRV1")) != token.generate(
            question=("SRV1", "CLI1")
        )

    @given(suites_with_inputs(), sts.keys)
    def test_matches_transcription(
        self, suite_and_inputs: tuple[dict[str, Any], dict[str, Any]], key: bytes
    ) -> None:
        """For any suite and inputs, the response equals a stdlib transcription of §5."""
        fields, inputs = suite_and_inputs
        expected = transcribed_response(key, fields, inputs)
        assert expected == OCRA(key, OCRASuite(**fields)).generate(**inputs)


class TestOCRAVerify:
    """OCRA.verify: constant-time comparison, one opaque error."""

    TOKEN = OCRA(KEY20, "OCRA-1:HOTP-SHA1-6:QN08")

    def test_grouped_response(self) -> None:
        """A response typed in groups is accepted, as for HOTP codes."""
        self.TOKEN.verify("237 653", question="00000000")

    @pytest.mark.parametrize("response", ["23765", "2376530", "23765a", "２３７６５３", ""])
    def test_malformed(self, response: str) -> None:
        """A response of the wrong shape raises MalformedCode, an InvalidCode."""
        with pytest.raises(MalformedCode):
            self.TOKEN.verify(response, question="00000000")

    def test_int_response(self) -> None:
        """An int response raises TypeError: leading zeros matter."""
        with pytest.raises(TypeError):
            self.TOKEN.verify(237653, question="00000000")  # type: ignore[arg-type]

    def test_wrong_question(self) -> None:
        """A published response is refused for another question."""
        with pytest.raises(InvalidCode):
            self.TOKEN.verify("237653", question="11111111")

    def test_full_hmac(self) -> None:
        """With no truncation the response is the full HMAC in hex, accepted in either case."""
        token = OCRA(KEY32, "OCRA-1:HOTP-SHA256-0:QA08")
        response = token.generate(question="SIG10000")
        assert 64 == len(response)
        token.verify(response.upper(), question="SIG10000")
        with pytest.raises(InvalidCode):
            token.verify(other_response(response), question="SIG10000")
        with pytest.raises(MalformedCode):
            token.verify(response[:-2], question="SIG10000")
        with pytest.raises(MalformedCode):
            token.verify(response[:-1] + "g", question="SIG10000")

    @given(suites_with_inputs(), sts.keys)
    def test_generated_verifies(
        self, suite_and_inputs: tuple[dict[str, Any], dict[str, Any]], key: bytes
    ) -> None:
        """A generated response is always accepted for the same inputs."""
        fields, inputs = suite_and_inputs
        token = OCRA(key, OCRASuite(**fields))
        token.verify(token.generate(**inputs), **inputs)

    @given(st.text(alphabet="0123456789", min_size=6, max_size=6))
    @example("237653")
    @example("237654")
    def test_only_the_response_verifies(self, response: str) -> None:
        """Every 6-digit response but the right one raises InvalidCode."""
        expected = self.TOKEN.generate(question="00000000")
        if response == expected:
            self.TOKEN.verify(response, question="00000000")
        else:
            with pytest.raises(InvalidCode):
                self.TOKEN.verify(response, question="00000000")

    @given(st.text(alphabet="0123456789", min_size=1, max_size=8))
    def test_only_its_question_verifies(self, question: str) -> None:
        """The published response to 00000000 is refused for every other numeric value."""
        assume(int(question) != 0)
        with pytest.raises(InvalidCode):
            self.TOKEN.verify("237653", question=question)

    def test_errors_are_softtoken_errors(self) -> None:
        """Wrong and malformed responses are both SoftTokenErrors with constant messages."""
        messages = set()
        for response in ("000000", "111111"):
            with pytest.raises(SoftTokenError) as caught:
                self.TOKEN.verify(response, question="00000000")
            messages.add(str(caught.value))
        assert {InvalidCode.MESSAGE} == messages


class TestGenerateQuestion:
    """generate_question: random numeric challenges."""

    @pytest.mark.parametrize("length", [4, 8, 64])
    def test_shape(self, length: int) -> None:
        """The question has the requested number of ASCII digits."""
        question = generate_question(length)
        assert length == len(question)
        assert question.isascii()
        assert question.isdigit()

    def test_uses_random_helper(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The digits come from softtoken._random, so replacing its source changes them."""
        monkeypatch.setattr(_random, "_source", lambda n: b"\x07" * n)
        assert "77777777" == generate_question()
        monkeypatch.setattr(_random, "_source", lambda n: b"\x03" * n)
        assert "3333" == generate_question(4)

    @pytest.mark.parametrize("length", [0, 3, 65])
    def test_bad_length(self, length: int) -> None:
        """Lengths outside 4 to 64 raise InvalidInput."""
        with pytest.raises(InvalidInput):
            generate_question(length)

    @pytest.mark.parametrize("length", [8.0, "8", True])
    def test_bad_type(self, length: Any) -> None:
        """A length that is not int raises TypeError."""
        with pytest.raises(TypeError):
            generate_question(length)

    def test_usable_as_question(self) -> None:
        """A generated question is accepted by a numeric suite of that length."""
        token = OCRA(KEY20, "OCRA-1:HOTP-SHA1-6:QN08")
        question = generate_question(8)
        token.verify(token.generate(question=question), question=question)
