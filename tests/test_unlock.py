"""Tests for softtoken.unlock: reset codes, unlock codes and the unlock counter (SECURITY.md S11).

The issuer's side is pure: :func:`compute_unlock_code` is checked against a transcription of
RFC 5869 and RFC 6287 written here with the standard library, and against softtoken's own vectors
(tests/vectors/unlock.txt). The app's side is the :class:`UnlockCounter`, checked case by case,
against its stored format (tests/vectors/unlock-counter.txt) and against a reference model.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import struct
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken import _random
from softtoken._checkdigit import _DAMM, damm_digit, damm_valid
from softtoken.exceptions import (
    AttemptNotOpen,
    InvalidCode,
    InvalidIdentifier,
    InvalidInput,
    InvalidKey,
    InvalidUnlockRecord,
    KeyTooShort,
    MalformedCode,
    MistypedCode,
    SoftTokenError,
)
from softtoken.provisioning.identifiers import Serial
from softtoken.throttle import ThrottlePolicy, ThrottleState
from softtoken.unlock import (
    RESET_CODE_LENGTH,
    UNLOCK_KEY_LABEL,
    UnlockCounter,
    UnlockOutcome,
    UnlockPolicy,
    begin_unlock,
    compute_unlock_code,
    display_reset_code,
    hold_unlock,
    new_reset_code,
    parse_reset_code,
    record_unlock,
    remaining_unlock_tries,
    unlock_key,
)
from tests import strategies as sts
from tests.utils import RFC_SEEDS, load_vectors

SECRET = RFC_SEEDS["sha256"]
SERIAL = "9317112184"
DIGITS = "0123456789"
OPENED = UnlockCounter(throttle=ThrottleState(attempt_open=True, version=1))


def reset_code(payload: str) -> str:
    """A valid reset code: *payload* and its check digit."""
    return payload + damm_digit(payload)


def counter(
    *, tries: int = 0, index: int = 0, open_: bool = False, spent: bool = False, version: int = 0
) -> UnlockCounter:
    """An unlock counter from its stored fields."""
    return UnlockCounter(
        throttle=ThrottleState(failures=tries, attempt_open=open_, version=version),
        reset_code=index,
        spent=spent,
    )


def constant_source(byte: int) -> Callable[[int], bytes]:
    """A randomness source that returns *byte* over and over."""
    return lambda n: bytes([byte]) * n


def transcribed_unlock_key(secret: bytes, canonical: str) -> bytes:
    """RFC 5869 §2.2-2.3 with no salt and one output block, written with the standard library."""
    prk = hmac.new(b"\0" * 32, secret, "sha256").digest()
    info = b"softtoken/unlock/v1\0" + canonical.encode()
    return hmac.new(prk, info + b"\x01", "sha256").digest()


def transcribed_unlock_code(key: bytes, code: str, digits: int) -> str:
    """RFC 6287 §5 for the suite OCRA-1:HOTP-SHA256-<digits>:QN09, with the standard library."""
    message = f"OCRA-1:HOTP-SHA256-{digits}:QN09".encode() + b"\0"
    message += bytes.fromhex(hex(int(code))[2:].ljust(256, "0"))
    mac = hmac.new(key, message, hashlib.sha256).digest()
    offset = mac[-1] % 16
    value = int.from_bytes(mac[offset : offset + 4], "big") % 2**31
    return str(value % 10**digits).rjust(digits, "0")


def single_digit_errors(code: str) -> Iterator[str]:
    """Every code that differs from *code* in exactly one digit."""
    for i, old in enumerate(code):
        for new in DIGITS:
            if new != old:
                yield code[:i] + new + code[i + 1 :]


def adjacent_transpositions(code: str) -> Iterator[str]:
    """Every code made by swapping two unequal adjacent digits of *code*."""
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            yield code[:i] + code[i + 1] + code[i] + code[i + 2 :]


def mistyped(code: str) -> bool:
    """Whether parse_reset_code refuses *code* as mistyped."""
    try:
        parse_reset_code(code)
    except MistypedCode:
        return True
    return False


class TestDamm:
    """The Damm check digit that reset codes carry."""

    def test_published_example(self) -> None:
        """572 gets the check digit 4, as in Damm's worked example."""
        assert ("4", True) == (damm_digit("572"), damm_valid("5724"))

    def test_table_is_a_quasigroup(self) -> None:
        """Every row and every column of the table is a permutation of 0-9."""
        assert all(sorted(row) == list(range(10)) for row in _DAMM)
        assert all(sorted(column) == list(range(10)) for column in zip(*_DAMM, strict=True))

    def test_table_diagonal_is_zero(self) -> None:
        """x * x == 0, so that a payload followed by its check digit folds to 0."""
        assert [0] * 10 == [_DAMM[x][x] for x in range(10)]

    def test_table_is_weakly_totally_anti_symmetric(self) -> None:
        """(c * x) * y == (c * y) * x only when x == y, over all 1000 triples."""
        assert [] == [
            (c, x, y)
            for c, x, y in itertools.product(range(10), repeat=3)
            if x != y and _DAMM[_DAMM[c][x]][y] == _DAMM[_DAMM[c][y]][x]
        ]

    def test_every_single_digit_error_is_caught_exhaustively(self) -> None:
        """No single-digit change of any 4-digit payload's code passes, over all 10,000."""
        missed = [
            wrong
            for payload in map("".join, itertools.product(DIGITS, repeat=4))
            for wrong in single_digit_errors(reset_code(payload))
            if damm_valid(wrong)
        ]
        assert [] == missed

    def test_every_adjacent_transposition_is_caught_exhaustively(self) -> None:
        """No swap of two unequal adjacent digits passes, over all 10,000 4-digit payloads."""
        missed = [
            wrong
            for payload in map("".join, itertools.product(DIGITS, repeat=4))
            for wrong in adjacent_transpositions(reset_code(payload))
            if damm_valid(wrong)
        ]
        assert [] == missed

    @given(payload=sts.reset_payloads)
    @example(payload="00000000")
    def test_every_single_digit_error_in_a_reset_code_is_mistyped(self, payload: str) -> None:
        """No single-digit change of a 9-digit reset code gets past parse_reset_code."""
        code = reset_code(payload)

        assert code == parse_reset_code(code)
        assert [] == [wrong for wrong in single_digit_errors(code) if not mistyped(wrong)]

    @given(payload=sts.reset_payloads)
    @example(payload="09090909")
    @example(payload="90909090")
    def test_every_adjacent_transposition_in_a_reset_code_is_mistyped(self, payload: str) -> None:
        """No adjacent swap of a 9-digit reset code passes, including 09 <-> 90 (Luhn's gap)."""
        code = reset_code(payload)

        assert [] == [wrong for wrong in adjacent_transpositions(code) if not mistyped(wrong)]


class TestResetCodes:
    """new_reset_code, parse_reset_code and display_reset_code."""

    def test_a_new_code_is_nine_digits_with_a_valid_check_digit(self) -> None:
        """A fresh reset code is 9 ASCII digits whose Damm digit holds."""
        code = new_reset_code()

        assert (RESET_CODE_LENGTH, True, True) == (len(code), code.isdigit(), damm_valid(code))
        assert code.isascii()

    def test_the_code_comes_from_the_random_helper(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """For each of the 250 usable bytes, a source that returns only that byte gives the
        reset code of its last decimal digit (S3: one helper, nothing else)."""
        codes = []
        for byte in range(250):
            monkeypatch.setattr(_random, "_source", constant_source(byte))
            codes.append(new_reset_code())

        assert [reset_code(str(byte % 10) * 8) for byte in range(250)] == codes

    def test_bytes_from_250_up_are_never_used(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Bytes 250-255 would bias the digits 0-5, so they are skipped (rejection sampling)."""
        stream = iter(bytes(range(250, 256)) * 3 + bytes([13]) * 100)
        monkeypatch.setattr(_random, "_source", lambda n: bytes(next(stream) for _ in range(n)))

        assert reset_code("3" * 8) == new_reset_code()

    def test_two_sources_give_two_codes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Changing softtoken._random's source changes the reset code."""
        codes = []
        for byte in (3, 4):
            monkeypatch.setattr(_random, "_source", constant_source(byte))
            codes.append(new_reset_code())

        assert [reset_code("3" * 8), reset_code("4" * 8)] == codes

    def test_display_groups_by_three(self) -> None:
        """display_reset_code shows the code as three groups of three digits."""
        assert "769 764 877" == display_reset_code(reset_code("76976487"))

    @given(payload=sts.reset_payloads)
    def test_a_displayed_code_parses_back(self, payload: str) -> None:
        """What the app shows is what the operator's parse returns, bare."""
        code = reset_code(payload)

        assert code == parse_reset_code(display_reset_code(code))

    @pytest.mark.parametrize(
        "spelling", ["769 764 877", "769-764-877", " 769764877\t", "769764 877"]
    )
    def test_groups_and_surrounding_space_are_allowed(self, spelling: str) -> None:
        """Groups separated by one space or dash, and surrounding whitespace, parse to the code."""
        assert "769764877" == parse_reset_code(spelling)

    @pytest.mark.parametrize(
        "bad", ["", "76976487", "7697648770", "76976487a", "７６９７６４８７７", "769  764 877"]
    )
    def test_malformed_reset_codes(self, bad: str) -> None:
        """A reset code that is not 9 ASCII digits is MalformedCode, also an InvalidInput."""
        with pytest.raises(MalformedCode) as info:
            parse_reset_code(bad)

        assert isinstance(info.value, InvalidInput)

    def test_int_reset_code_is_a_type_error(self) -> None:
        """An int reset code is a TypeError (leading zeros would be lost)."""
        with pytest.raises(TypeError):
            parse_reset_code(769764877)  # type: ignore[arg-type]

    def test_mistyped_code_is_input_error_not_invalid_code(self) -> None:
        """MistypedCode is an InvalidInput (a ValueError) and not a verification failure."""
        assert issubclass(MistypedCode, InvalidInput)
        assert issubclass(MistypedCode, ValueError)
        assert not issubclass(MistypedCode, InvalidCode)


class TestSerials:
    """The exchange takes a Serial, or its text parsed strictly."""

    @pytest.mark.parametrize("spelling", ["93171-12184", "9317112184", " 93171-12184\n"])
    def test_spellings_of_one_serial_agree(self, spelling: str) -> None:
        """The display form, the bare digits and a Serial value give the same unlock code."""
        expected = compute_unlock_code(SECRET, Serial.parse(SERIAL), reset_code("12345678"))
        assert expected == compute_unlock_code(SECRET, spelling, reset_code("12345678"))

    @pytest.mark.parametrize("bad", ["AB12CD", "93171 12184", "93-171-12-184", "", "１２３"])
    def test_other_text_is_refused(self, bad: str) -> None:
        """Text that is not a serial's shape is InvalidIdentifier, never echoed."""
        with pytest.raises(InvalidIdentifier) as info:
            unlock_key(SECRET, bad)
        assert not bad.strip() or bad.strip() not in str(info.value)

    def test_mistyped_serial(self) -> None:
        """A serial whose check digit fails is MistypedCode: a typo, safe to say so."""
        with pytest.raises(MistypedCode):
            unlock_key(SECRET, "93171-12185")

    def test_int_is_a_type_error(self) -> None:
        """An int serial is a TypeError (leading zeros would be lost)."""
        with pytest.raises(TypeError):
            unlock_key(SECRET, 9317112184)  # type: ignore[arg-type]


class TestUnlockKey:
    """unlock_key: HKDF-SHA256 with a versioned label and the serial."""

    def test_label(self) -> None:
        """The documented HKDF label is versioned and NUL-terminated."""
        assert b"softtoken/unlock/v1\x00" == UNLOCK_KEY_LABEL

    @given(secret=sts.keys, serial=sts.serials)
    def test_matches_a_transcription_of_rfc_5869(self, secret: bytes, serial: str) -> None:
        """The key is HKDF-SHA256(secret, no salt, label + serial), computed independently."""
        assert transcribed_unlock_key(secret, serial) == unlock_key(secret, serial)

    @given(secret=sts.keys, serial=sts.serials)
    def test_differs_from_the_secret(self, secret: bytes, serial: str) -> None:
        """The unlock key is never the token secret itself."""
        assert secret != unlock_key(secret, serial)

    @given(secret=sts.keys, first=sts.serials, second=sts.serials)
    def test_differs_per_serial(self, secret: bytes, first: str, second: str) -> None:
        """Two different serials give two different unlock keys from one secret."""
        assume(first != second)

        assert unlock_key(secret, first) != unlock_key(secret, second)

    def test_same_for_every_spelling_of_a_serial(self) -> None:
        """Grouped and bare spellings of one serial give one key."""
        assert unlock_key(SECRET, "93171-12184") == unlock_key(SECRET, "9317112184")

    def test_short_secret(self) -> None:
        """A 10-byte secret needs allow_short_key; a 9-byte one is always refused."""
        with pytest.raises(KeyTooShort) as info:
            unlock_key(b"0123456789", SERIAL)
        assert info.value.legacy_opt_in
        assert 32 == len(unlock_key(b"0123456789", SERIAL, allow_short_key=True))
        with pytest.raises(InvalidKey):
            unlock_key(b"012345678", SERIAL, allow_short_key=True)

    def test_text_secret_is_a_type_error(self) -> None:
        """A secret given as text is a TypeError."""
        with pytest.raises(TypeError):
            unlock_key(SECRET.decode(), SERIAL)  # type: ignore[arg-type]


class TestComputeUnlockCode:
    """compute_unlock_code, the issuer side."""

    @given(secret=sts.keys, serial=sts.serials, payload=sts.reset_payloads, digits=sts.digits)
    def test_matches_a_transcription_of_rfc_6287(
        self, secret: bytes, serial: str, payload: str, digits: int
    ) -> None:
        """The unlock code is OCRA-1:HOTP-SHA256-d:QN09 over the reset code, keyed by HKDF."""
        code = reset_code(payload)
        expected = transcribed_unlock_code(transcribed_unlock_key(secret, serial), code, digits)

        assert expected == compute_unlock_code(secret, serial, code, digits=digits)

    def test_default_is_eight_digits(self) -> None:
        """Without digits=, the unlock code has 8 ASCII digits."""
        assert re.fullmatch(r"[0-9]{8}", compute_unlock_code(SECRET, SERIAL, reset_code("1" * 8)))

    def test_grouped_reset_codes(self) -> None:
        """A reset code typed in groups gives the same unlock code as the bare digits."""
        code = reset_code("76976487")
        a, b, c = code[:3], code[3:6], code[6:]
        spellings = [f"{a} {b} {c}", f"{a}-{b}-{c}", f" {code}\t", f"{a}{b} {c}"]
        expected = compute_unlock_code(SECRET, SERIAL, code)

        assert [expected] * 4 == [compute_unlock_code(SECRET, SERIAL, t) for t in spellings]

    @given(secret=sts.keys, serial=sts.serials, shown=sts.reset_payloads, other=sts.reset_payloads)
    def test_an_unlock_code_answers_only_its_own_reset_code(
        self, secret: bytes, serial: str, shown: str, other: str
    ) -> None:
        """Another reset code gets another 10-digit unlock code (a collision of the truncated
        31-bit values has odds of 2^-31 per pair, about 1.4 x 10^-7 over 300 examples)."""
        assume(shown != other)

        assert compute_unlock_code(
            secret, serial, reset_code(shown), digits=10
        ) != compute_unlock_code(secret, serial, reset_code(other), digits=10)

    @given(secret=sts.keys, shown=sts.serials, other=sts.serials, payload=sts.reset_payloads)
    def test_an_unlock_code_answers_only_its_own_serial(
        self, secret: bytes, shown: str, other: str, payload: str
    ) -> None:
        """The same secret and reset code under another serial get another 10-digit unlock code
        (odds of a collision as above)."""
        assume(shown != other)
        code = reset_code(payload)

        assert compute_unlock_code(secret, shown, code, digits=10) != compute_unlock_code(
            secret, other, code, digits=10
        )

    @given(payload=sts.reset_payloads, position=st.integers(0, 8), shift=st.integers(1, 9))
    def test_mistyped_digit_raises_mistyped_code(
        self, payload: str, position: int, shift: int
    ) -> None:
        """A reset code with one wrong digit raises MistypedCode, whose message has no digits."""
        code = reset_code(payload)
        wrong = code[:position] + str((int(code[position]) + shift) % 10) + code[position + 1 :]

        with pytest.raises(MistypedCode) as info:
            compute_unlock_code(SECRET, SERIAL, wrong)

        assert not re.search(r"[0-9]", str(info.value))

    @pytest.mark.parametrize(
        "bad", ["", "12345678", "1234567890", "12345678a", "１２３４５６７８９", "123  456 789"]
    )
    def test_malformed_reset_code(self, bad: str) -> None:
        """A reset code that is not 9 ASCII digits raises MalformedCode."""
        with pytest.raises(MalformedCode):
            compute_unlock_code(SECRET, SERIAL, bad)

    def test_int_reset_code_is_a_type_error(self) -> None:
        """An int reset code is a TypeError."""
        with pytest.raises(TypeError):
            compute_unlock_code(SECRET, SERIAL, 769764877)  # type: ignore[arg-type]

    @pytest.mark.parametrize("digits", [4, 5, 11])
    def test_digits_out_of_range(self, digits: int) -> None:
        """Unlock codes have 6 to 10 digits."""
        with pytest.raises(InvalidInput):
            compute_unlock_code(SECRET, SERIAL, reset_code("12345678"), digits=digits)

    def test_bool_digits_is_a_type_error(self) -> None:
        """digits=True is a TypeError."""
        with pytest.raises(TypeError):
            compute_unlock_code(SECRET, SERIAL, reset_code("12345678"), digits=True)

    def test_short_secret_needs_the_opt_in(self) -> None:
        """A 10-byte secret raises KeyTooShort unless allow_short_key is given."""
        with pytest.raises(KeyTooShort):
            compute_unlock_code(b"1234567890", SERIAL, reset_code("12345678"))

    def test_seed_reset_code_uses_another_check_scheme(self) -> None:
        """The seed's 769764879 (Entrust, serial 93171-12184) fails the Damm check: Entrust's
        scheme is not ours, and the operator is told it was mistyped."""
        with pytest.raises(MistypedCode):
            compute_unlock_code(SECRET, "93171-12184", "769764879")


# ----------------------------------------------------------------------------------------------
# softtoken's own unlock derivation, pinned by tests/vectors/unlock.txt
# ----------------------------------------------------------------------------------------------

UNLOCK_VECTORS = [row for row in load_vectors("unlock.txt") if row[0].startswith("UNLOCK")]


class TestUnlockVectors:
    """unlock_key and compute_unlock_code give exactly the values of the vector file."""

    @pytest.mark.parametrize("row", UNLOCK_VECTORS, ids=lambda row: f"{row[2]}-{row[4]}")
    def test_key_and_code_match_the_file(self, row: list[str]) -> None:
        """The unlock key and the unlock code for (secret, serial, reset code, digits) are the
        file's."""
        tag, secret_hex, serial, code, digits, key_hex, unlock = row
        secret, short = bytes.fromhex(secret_hex), tag == "UNLOCK_SHORT_KEY"

        assert (key_hex, unlock) == (
            unlock_key(secret, serial, allow_short_key=short).hex(),
            compute_unlock_code(secret, serial, code, digits=int(digits), allow_short_key=short),
        )

    def test_the_file_covers_every_length_and_spelling(self) -> None:
        """The vectors cover 6 to 10 digits, dashed and plain serials, and a legacy key."""
        assert {6, 7, 8, 9, 10} == {int(row[4]) for row in UNLOCK_VECTORS}
        assert any("-" in row[2] for row in UNLOCK_VECTORS)
        assert any("-" not in row[2] for row in UNLOCK_VECTORS)
        assert any(row[0] == "UNLOCK_SHORT_KEY" for row in UNLOCK_VECTORS)


class TestUnlockPolicy:
    """UnlockPolicy: bounded tries, reset codes and digits."""

    def test_defaults(self) -> None:
        """3 tries, 3 reset codes and 8 digits by default; the throttle allows 3 failures."""
        policy = UnlockPolicy()

        assert (3, 3, 8, ThrottlePolicy(max_failures=3)) == (
            policy.max_tries,
            policy.max_reset_codes,
            policy.digits,
            policy.throttle,
        )

    def test_brute_force_bound(self) -> None:
        """The default bound the docs print: 3 x 3 guesses at 10^8 codes, 9 x 10^-8 per lock."""
        policy = UnlockPolicy()

        odds = policy.max_tries * policy.max_reset_codes / 10**policy.digits

        assert "9.0e-08" == f"{odds:.1e}"

    @pytest.mark.parametrize(
        "fields",
        [
            {"max_tries": 0},
            {"max_tries": 11},
            {"max_reset_codes": 0},
            {"max_reset_codes": 11},
            {"digits": 5},
            {"digits": 11},
        ],
    )
    def test_out_of_range(self, fields: dict[str, int]) -> None:
        """Each field has a bounded range; no unlimited tries or reset codes."""
        with pytest.raises(InvalidInput):
            UnlockPolicy(**fields)

    @pytest.mark.parametrize("fields", [{"max_tries": True}, {"digits": 8.0}])
    def test_non_int_is_a_type_error(self, fields: dict[str, Any]) -> None:
        """max_tries=True and digits=8.0 are TypeErrors."""
        with pytest.raises(TypeError):
            UnlockPolicy(**fields)


class TestUnlockCounter:
    """The counter value and its strict encoding."""

    def test_fresh_counter(self) -> None:
        """UnlockCounter() has no tries, the first reset code, no open attempt, not spent."""
        fresh = UnlockCounter()

        assert (ThrottleState(), 0, False, False) == (
            fresh.throttle,
            fresh.reset_code,
            fresh.spent,
            fresh.attempt_open,
        )

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"reset_code": -1},
            {"reset_code": 10},
            {"throttle": ThrottleState(failures=3, blocked=True, episode=1)},
            {"throttle": ThrottleState(failures=1, not_before=5)},
            {"throttle": ThrottleState(failures=256)},
            {"throttle": ThrottleState(attempt_open=True), "spent": True},
        ],
        ids=[
            "negative-index",
            "index-10",
            "blocked",
            "delayed",
            "tries-over-a-byte",
            "spent-with-open-attempt",
        ],
    )
    def test_constructor_refuses_what_cannot_be_stored(self, kwargs: dict[str, Any]) -> None:
        """An index outside 0-9, a blocked or delayed throttle, more tries than a byte holds, or
        an open attempt on a spent exchange are refused."""
        with pytest.raises(InvalidInput):
            UnlockCounter(**kwargs)

    @pytest.mark.parametrize("kwargs", [{"throttle": None}, {"reset_code": True}, {"spent": 1}])
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """The throttle must be a ThrottleState, the index an int and spent a bool."""
        with pytest.raises(TypeError):
            UnlockCounter(**kwargs)

    def test_encoding_layout(self) -> None:
        """The documented layout: "UC", format 1, flags, tries, index, version, big-endian."""
        expected = b"UC\x01\x01\x02\x01" + (7).to_bytes(8, "big")

        assert expected == counter(tries=2, index=1, open_=True, version=7).to_bytes()

    @given(
        tries=st.integers(0, 255),
        index=st.integers(0, 9),
        open_=st.booleans(),
        spent=st.booleans(),
        version=st.integers(0, 2**64 - 1),
    )
    def test_round_trips_through_bytes(
        self, tries: int, index: int, open_: bool, spent: bool, version: int
    ) -> None:
        """Every valid counter decodes to itself from its 14 bytes."""
        assume(not (open_ and spent))
        value = counter(tries=tries, index=index, open_=open_, spent=spent, version=version)

        data = value.to_bytes()

        assert (14, value) == (len(data), UnlockCounter.from_bytes(data))

    @pytest.mark.parametrize(
        "fields",
        [
            (b"XC", 1, 0, 0, 0, 0),
            (b"PL", 1, 0, 0, 0, 0),
            (b"UC", 0, 0, 0, 0, 0),
            (b"UC", 2, 0, 0, 0, 0),
            (b"UC", 1, 0x04, 0, 0, 0),
            (b"UC", 1, 0x80, 0, 0, 0),
            (b"UC", 1, 0, 0, 10, 0),
            (b"UC", 1, 0, 0, 255, 0),
            (b"UC", 1, 0x03, 0, 0, 0),
        ],
        ids=[
            "tag",
            "tag-of-a-lockout-state",
            "format-0",
            "format-2",
            "unknown-flag",
            "high-flag",
            "index-10",
            "index-255",
            "spent-with-open-attempt",
        ],
    )
    def test_bad_fields_are_typed_errors(self, fields: tuple[Any, ...]) -> None:
        """A wrong tag, format or flag, an index past 9, or inconsistent flags raise
        InvalidUnlockRecord."""
        data = struct.pack(">2sBBBBQ", *fields)

        with pytest.raises(InvalidUnlockRecord):
            UnlockCounter.from_bytes(data)

    def test_every_truncation_and_extension_is_refused(self) -> None:
        """Every proper prefix and one extra byte raise InvalidUnlockRecord."""
        data = counter(tries=1, index=2, version=9).to_bytes()

        for bad in [data[:n] for n in range(len(data))] + [data + b"\0"]:
            with pytest.raises(InvalidUnlockRecord):
                UnlockCounter.from_bytes(bad)

    @given(data=st.binary(min_size=13, max_size=15) | st.binary(max_size=30))
    @example(data=b"UC\x01\x03" + bytes(10))
    def test_any_bytes_decode_or_raise_the_record_error(self, data: bytes) -> None:
        """Arbitrary bytes either decode and re-encode to themselves, or raise the record error."""
        try:
            value = UnlockCounter.from_bytes(data)
        except InvalidUnlockRecord:
            return
        assert data == value.to_bytes()

    def test_text_is_a_type_error(self) -> None:
        """A str record is a TypeError."""
        with pytest.raises(TypeError):
            UnlockCounter.from_bytes("UC")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# softtoken's own format, pinned by tests/vectors/unlock-counter.txt
# ----------------------------------------------------------------------------------------------

COUNTER_VECTORS = {
    row[1]: row[2:] for row in load_vectors("unlock-counter.txt") if row[0] == "COUNTER"
}


def vector_counter(row: list[str]) -> UnlockCounter:
    """The counter a vector row describes."""
    tries, index, open_, spent, version = map(int, row[:5])
    return counter(tries=tries, index=index, open_=bool(open_), spent=bool(spent), version=version)


class TestUnlockCounterVectors:
    """UnlockCounter.to_bytes gives exactly the bytes of the vector file, and decodes them."""

    @pytest.mark.parametrize("name", list(COUNTER_VECTORS))
    def test_encoding_matches_the_file(self, name: str) -> None:
        """The counter's 14 bytes are the file's, and the file's bytes decode to the counter."""
        row = COUNTER_VECTORS[name]
        value, data = vector_counter(row), bytes.fromhex(row[5])

        assert (data, value) == (value.to_bytes(), UnlockCounter.from_bytes(data))

    def test_vectors_are_counters_the_exchange_reaches(self) -> None:
        """fresh, open, one-wrong and unlocked are what begin and record produce."""
        policy = UnlockPolicy()
        _, opened = begin_unlock(policy, UnlockCounter())
        _, one_wrong = record_unlock(policy, opened, correct=False)
        _, reopened = begin_unlock(policy, one_wrong)
        _, unlocked = record_unlock(policy, reopened, correct=True)

        assert [
            vector_counter(COUNTER_VECTORS[name])
            for name in ("fresh", "open", "one-wrong", "unlocked")
        ] == [UnlockCounter(), opened, one_wrong, unlocked]


# ----------------------------------------------------------------------------------------------
# The app side: begin_unlock, record_unlock, hold_unlock
# ----------------------------------------------------------------------------------------------


class TestBeginUnlock:
    """begin_unlock opens an attempt, counting an interrupted one first."""

    def test_opens_an_attempt(self) -> None:
        """On a fresh counter: OPENED, attempt open, nothing counted, one version on."""
        assert (UnlockOutcome.OPENED, OPENED) == begin_unlock(UnlockPolicy(), UnlockCounter())

    def test_an_interrupted_attempt_counts_as_a_wrong_code(self) -> None:
        """An attempt left open is counted as one wrong code, then the next one is opened."""
        assert (
            UnlockOutcome.OPENED,
            counter(tries=1, open_=True, version=2),
        ) == begin_unlock(UnlockPolicy(), OPENED)

    def test_an_interrupted_last_try_moves_to_a_new_reset_code(self) -> None:
        """An interrupted attempt that uses up a reset code gives NEW_RESET_CODE and opens
        nothing: the typed code answered a reset code that is gone."""
        last = counter(tries=2, open_=True, version=5)

        assert (UnlockOutcome.NEW_RESET_CODE, counter(index=1, version=6)) == begin_unlock(
            UnlockPolicy(), last
        )

    def test_an_interrupted_last_try_of_the_last_code_wipes(self) -> None:
        """An interrupted attempt that uses up the last reset code gives WIPE, spent."""
        last = counter(tries=2, index=2, open_=True, version=5)

        assert (UnlockOutcome.WIPE, counter(index=2, spent=True, version=6)) == begin_unlock(
            UnlockPolicy(), last
        )

    def test_a_spent_exchange_is_spent(self) -> None:
        """begin_unlock on a spent counter is SPENT and returns that very counter."""
        spent = counter(spent=True, version=4)

        outcome, after = begin_unlock(UnlockPolicy(), spent)

        assert UnlockOutcome.SPENT == outcome
        assert spent is after

    def test_wrong_types_are_type_errors(self) -> None:
        """The policy and the counter are type-checked."""
        with pytest.raises(TypeError):
            begin_unlock(UnlockPolicy(), UnlockCounter().to_bytes())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            begin_unlock(3, UnlockCounter())  # type: ignore[arg-type]


class TestRecordUnlock:
    """record_unlock closes the open attempt with the result of trying the code."""

    def test_a_right_code_unlocks_and_spends_the_exchange(self) -> None:
        """UNLOCKED: spent, attempt closed, one version on."""
        assert (UnlockOutcome.UNLOCKED, counter(spent=True, version=2)) == record_unlock(
            UnlockPolicy(), OPENED, correct=True
        )

    def test_a_wrong_code_is_counted(self) -> None:
        """REJECTED: one more try counted, attempt closed, one version on."""
        assert (UnlockOutcome.REJECTED, counter(tries=1, version=2)) == record_unlock(
            UnlockPolicy(), OPENED, correct=False
        )

    def test_running_out_moves_to_the_next_reset_code(self) -> None:
        """The max_tries-th wrong code gives NEW_RESET_CODE, a fresh count on the next code."""
        last = counter(tries=2, index=0, open_=True, version=5)

        assert (UnlockOutcome.NEW_RESET_CODE, counter(index=1, version=6)) == record_unlock(
            UnlockPolicy(), last, correct=False
        )

    def test_running_out_of_the_last_reset_code_wipes(self) -> None:
        """The last wrong code of the last reset code gives WIPE and spends the exchange."""
        last = counter(tries=1, index=0, open_=True, version=3)
        policy = UnlockPolicy(max_tries=2, max_reset_codes=1)

        assert (UnlockOutcome.WIPE, counter(spent=True, version=4)) == record_unlock(
            policy, last, correct=False
        )

    @pytest.mark.parametrize("correct", [True, False])
    def test_no_open_attempt_counts_nothing(self, correct: bool) -> None:
        """Without an open attempt, a right or wrong result raises AttemptNotOpen."""
        with pytest.raises(AttemptNotOpen):
            record_unlock(UnlockPolicy(), counter(tries=1, version=1), correct=correct)

    @pytest.mark.parametrize("correct", [True, False])
    def test_a_spent_exchange_is_spent(self, correct: bool) -> None:
        """record_unlock on a spent counter is SPENT and returns that very counter."""
        spent = counter(spent=True, version=4)

        outcome, after = record_unlock(UnlockPolicy(), spent, correct=correct)

        assert UnlockOutcome.SPENT == outcome
        assert spent is after

    def test_a_lowered_policy_blocks_at_the_next_wrong_code(self) -> None:
        """Tries already past a lowered max_tries leave one try; the next wrong code moves on."""
        over = counter(tries=3, open_=True, version=7)
        policy = UnlockPolicy(max_tries=2)

        assert 1 == remaining_unlock_tries(policy, counter(tries=3, version=7))
        assert UnlockOutcome.NEW_RESET_CODE == record_unlock(policy, over, correct=False)[0]


class TestHoldUnlock:
    """hold_unlock closes a right code's attempt without spending the exchange."""

    def test_hold_closes_the_attempt_as_a_success(self) -> None:
        """PIN_REFUSED: the attempt is closed as a right code's (the wrong tries before it on
        this reset code start again), and the exchange is not spent."""
        opened = counter(tries=1, index=1, open_=True, version=6)

        assert (UnlockOutcome.PIN_REFUSED, counter(index=1, version=7)) == hold_unlock(
            UnlockPolicy(), opened
        )

    def test_the_same_code_may_be_given_again(self) -> None:
        """After a hold, the next attempt opens on the same reset code and can unlock."""
        policy = UnlockPolicy()
        _, held = hold_unlock(policy, OPENED)
        outcome, reopened = begin_unlock(policy, held)

        assert (UnlockOutcome.OPENED, 0, 0) == (
            outcome,
            reopened.throttle.failures,
            reopened.reset_code,
        )
        assert UnlockOutcome.UNLOCKED == record_unlock(policy, reopened, correct=True)[0]

    def test_no_open_attempt_is_refused(self) -> None:
        """hold_unlock without an open attempt raises AttemptNotOpen."""
        with pytest.raises(AttemptNotOpen):
            hold_unlock(UnlockPolicy(), UnlockCounter())

    def test_a_spent_exchange_is_spent(self) -> None:
        """hold_unlock on a spent counter is SPENT and returns that very counter."""
        spent = counter(spent=True, version=4)

        assert (UnlockOutcome.SPENT, spent) == hold_unlock(UnlockPolicy(), spent)


class TestRemainingUnlockTries:
    """remaining_unlock_tries counts the wrong codes left against the current reset code."""

    def test_counts_down_then_starts_again_on_the_next_code(self) -> None:
        """3, 2, 1, then 3 on the next reset code, and 0 once spent."""
        policy, value, seen = UnlockPolicy(), UnlockCounter(), []
        for _ in range(3):
            seen.append(remaining_unlock_tries(policy, value))
            _, value = begin_unlock(policy, value)
            _, value = record_unlock(policy, value, correct=False)
        seen.append(remaining_unlock_tries(policy, value))
        seen.append(remaining_unlock_tries(policy, counter(spent=True)))

        assert ([3, 2, 1, 3, 0], 1) == (seen, value.reset_code)


# ----------------------------------------------------------------------------------------------
# Properties of the exchange, against a reference model
# ----------------------------------------------------------------------------------------------


@attrs.define
class UnlockModel:
    """The unlock counting rules as plainly as they can be written."""

    max_tries: int
    max_reset_codes: int
    tries: int = 0
    index: int = 0
    open: bool = False
    spent: bool = False
    version: int = 0

    def count_wrong(self) -> str:
        """One wrong code against the current reset code; returns the outcome's name."""
        self.tries += 1
        self.open = False
        if self.tries < self.max_tries:
            return "REJECTED"
        self.tries = 0
        if self.index + 1 < self.max_reset_codes:
            self.index += 1
            return "NEW_RESET_CODE"
        self.spent = True
        return "WIPE"

    def act(self, action: str) -> str:
        """B: begin. R, W: record right, wrong. H: hold. Returns the outcome's name, or
        "NOT_OPEN" where record or hold must raise AttemptNotOpen."""
        if self.spent:
            return "SPENT"
        before = (self.tries, self.index, self.open, self.spent)
        if action == "B":
            outcome = "OPENED"
            if self.open:
                outcome = self.count_wrong()
            if outcome in ("OPENED", "REJECTED"):
                self.open, outcome = True, "OPENED"
        elif not self.open:
            return "NOT_OPEN"
        elif action == "W":
            outcome = self.count_wrong()
        elif action == "R":
            self.tries, self.open, self.spent, outcome = 0, False, True, "UNLOCKED"
        else:
            self.tries, self.open, outcome = 0, False, "PIN_REFUSED"
        self.version += (self.tries, self.index, self.open, self.spent) != before
        return outcome


def act(policy: UnlockPolicy, value: UnlockCounter, action: str) -> tuple[str, UnlockCounter]:
    """Apply a model action to the real counter; AttemptNotOpen becomes "NOT_OPEN"."""
    try:
        if action == "B":
            outcome, value = begin_unlock(policy, value)
        elif action == "H":
            outcome, value = hold_unlock(policy, value)
        else:
            outcome, value = record_unlock(policy, value, correct=action == "R")
    except AttemptNotOpen:
        return "NOT_OPEN", value
    return outcome.name, value


class TestUnlockProperties:
    """Invariants of the exchange over arbitrary runs."""

    @given(
        fields=sts.unlock_policy_fields, script=st.lists(st.sampled_from("BBBWWRH"), max_size=30)
    )
    @example(fields={"max_tries": 1, "max_reset_codes": 1, "digits": 8}, script=list("BB"))
    def test_matches_the_reference_model(self, fields: dict[str, Any], script: list[str]) -> None:
        """Any run of begins, right and wrong results and holds follows the model, including the
        version, and every counter survives its encoding."""
        policy = UnlockPolicy(**fields)
        model = UnlockModel(policy.max_tries, policy.max_reset_codes)
        value = UnlockCounter()
        for action in script:
            before = value
            outcome, value = act(policy, value, action)
            assert model.act(action) == outcome
            if value != before:
                assert before.throttle.version + 1 == value.throttle.version
            else:
                assert before is value
            assert (model.tries, model.index, model.open, model.spent, model.version) == (
                value.throttle.failures,
                value.reset_code,
                value.attempt_open,
                value.spent,
                value.throttle.version,
            )
            assert value == UnlockCounter.from_bytes(value.to_bytes())

    @given(
        fields=sts.unlock_policy_fields,
        script=st.lists(st.sampled_from(["record", "crash"]), min_size=1, max_size=45),
    )
    def test_at_most_max_tries_times_max_reset_codes_codes_are_ever_evaluated(
        self, fields: dict[str, Any], script: list[str]
    ) -> None:
        """A guesser who records every wrong result, or kills the app after trying each code
        and before the result is stored, tries at most max_tries x max_reset_codes codes per
        lock; once they are used up, the exchange is spent (the app wipes)."""
        policy = UnlockPolicy(**fields)
        value, evaluated = UnlockCounter(), 0
        for way in script:
            outcome, value = begin_unlock(policy, value)
            if outcome is not UnlockOutcome.OPENED:
                continue
            evaluated += 1  # The code is tried now: its answer is known, stored or not.
            if way == "record":
                _, value = record_unlock(policy, value, correct=False)

        bound = policy.max_tries * policy.max_reset_codes
        assert evaluated <= bound
        if evaluated == bound:
            # The last try may still be open; the next begin counts it and wipes.
            outcome, value = begin_unlock(policy, value)
            assert outcome in {UnlockOutcome.WIPE, UnlockOutcome.SPENT}
            assert (True, 0) == (value.spent, remaining_unlock_tries(policy, value))

    @given(script=st.lists(st.sampled_from("BWH"), max_size=12))
    def test_an_interrupted_attempt_always_counts(self, script: list[str]) -> None:
        """Wherever a run stops with an attempt open, the next begin counts exactly one more
        wrong code (or moves on to the next reset code, or wipes)."""
        policy = UnlockPolicy()
        value = UnlockCounter()
        for action in script:
            _, value = act(policy, value, action)
        _, value = begin_unlock(policy, value)
        assume(value.attempt_open)

        outcome, after = begin_unlock(policy, value)

        if outcome is UnlockOutcome.OPENED:
            assert value.throttle.failures + 1 == after.throttle.failures
        else:
            assert outcome in {UnlockOutcome.NEW_RESET_CODE, UnlockOutcome.WIPE}
            assert policy.max_tries == value.throttle.failures + 1

    @pytest.mark.parametrize("action", ["B", "R", "W", "H"])
    def test_an_unlocked_exchange_never_unlocks_again(self, action: str) -> None:
        """After UNLOCKED, begin, a right or wrong result and a hold are all SPENT and change
        nothing, so no later call can unlock again: an unlock code works once."""
        policy = UnlockPolicy()
        _, value = begin_unlock(policy, UnlockCounter())
        outcome, unlocked = record_unlock(policy, value, correct=True)

        name, after = act(policy, unlocked, action)

        assert (UnlockOutcome.UNLOCKED, "SPENT") == (outcome, name)
        assert unlocked is after


class TestSeedStory:
    """The Entrust (Produbanco) unlock of identity TESTING ENROLADO, serial 93171-12184."""

    def test_reset_and_unlock_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A 9-digit reset code for 93171-12184 gets an 8-digit unlock code that unlocks once."""
        monkeypatch.setattr(_random, "_source", constant_source(7))
        shown = new_reset_code()
        # The user reads the code out in groups; the operator types it with the dashed serial.
        unlock = compute_unlock_code(SECRET, "93171-12184", display_reset_code(shown))
        # The app knows the code it expects for its own reset code and serial.
        expected = compute_unlock_code(SECRET, SERIAL, shown)
        policy = UnlockPolicy()

        _, value = begin_unlock(policy, UnlockCounter())
        outcome, value = record_unlock(policy, value, correct=unlock == expected)

        assert re.fullmatch(r"[0-9]{8}", unlock)
        assert (UnlockOutcome.UNLOCKED, UnlockOutcome.SPENT) == (
            outcome,
            begin_unlock(policy, value)[0],
        )


class TestNoLeaks:
    """Secrets and codes never appear in errors or reprs."""

    def test_errors_are_softtoken_errors_with_constant_messages(self) -> None:
        """MistypedCode, InvalidUnlockRecord and AttemptNotOpen are softtoken errors with
        fixed messages."""
        assert issubclass(InvalidUnlockRecord, SoftTokenError)
        assert MistypedCode.MESSAGE == str(MistypedCode())
        assert AttemptNotOpen.MESSAGE == str(AttemptNotOpen())

    def test_mistyped_and_record_errors_never_echo_the_input(self) -> None:
        """Neither the typed reset code nor the stored bytes appear in the error."""
        with pytest.raises(MistypedCode) as mistyped_info:
            parse_reset_code("769764879")
        data = b"UC\x09" + bytes(11)
        with pytest.raises(InvalidUnlockRecord) as record_info:
            UnlockCounter.from_bytes(data)

        assert "769764879" not in str(mistyped_info.value)
        assert data.hex() not in str(record_info.value)

    def test_counter_and_policy_reprs_hold_no_code(self) -> None:
        """The counter holds no code; its repr and the policy's show only counts."""
        code = reset_code("76976487")
        unlock = compute_unlock_code(SECRET, SERIAL, code)
        _, value = begin_unlock(UnlockPolicy(), UnlockCounter())

        for text in (repr(value), repr(UnlockPolicy())):
            assert code not in text
            assert unlock not in text
