"""Tests for softtoken.provisioning.identifiers: serials, activation and registration codes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken import _random
from softtoken.exceptions import InvalidIdentifier, InvalidInput, MistypedCode, SoftTokenError
from softtoken.provisioning import ActivationCode, RegistrationCode, Serial

KINDS = (Serial, ActivationCode, RegistrationCode)
DIGITS = "0123456789"


def valid(kind: type[Serial | ActivationCode | RegistrationCode], payload: int) -> str:
    """The digits of the identifier of *kind* whose payload is *payload*, with its Luhn digit,
    computed here from the ISO/IEC 7812-1 definition rather than by the library."""
    body = f"{payload:0{kind.LENGTH - 1}d}"
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        # Counted from the check digit's right, every digit at an even distance is doubled.
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit * 2 > 9 else digit * 2
        total += digit
    return body + str(-total % 10)


class TestShapes:
    """Lengths, display groupings and the canonical form."""

    def test_the_seeds_serial(self) -> None:
        """The seed's serial 93171-12184 carries a valid Luhn digit and reads both ways."""
        assert Serial.parse("93171-12184") == Serial.parse("9317112184")
        assert ("9317112184", "93171-12184") == (
            str(Serial.parse(" 93171-12184\n")),
            Serial.parse("9317112184").display,
        )

    @pytest.mark.parametrize(
        ("kind", "display"),
        [(Serial, "12345-67897"), (ActivationCode, "1234-5678-9012-3452"),
         (RegistrationCode, "00000-00018")],
    )  # fmt: skip
    def test_display_round_trip(self, kind: type[Serial], display: str) -> None:
        """Each kind reads its own display form and writes it back."""
        assert display == kind.parse(display).display
        assert display.replace("-", "") == str(kind.parse(display))

    @pytest.mark.parametrize(
        "text",
        [
            "93171 12184",
            "9317-112184",
            "93171--12184",
            "93171-12184-",
            "-9317112184",
            "93171_12184",
            "９３１７１１２１８４",
            "931711218",
            "93171121840",
            "",
            "93171-12184\u00a0x",
        ],
    )
    def test_other_shapes_are_refused(self, text: str) -> None:
        """Only the display form or the plain digits, with surrounding whitespace, are read."""
        with pytest.raises(InvalidIdentifier) as info:
            Serial.parse(text)
        assert not text.strip() or text.strip() not in str(info.value)

    def test_types(self) -> None:
        """An int is a TypeError: leading zeros would be lost."""
        with pytest.raises(TypeError):
            Serial.parse(9317112184)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Serial(9317112184)  # type: ignore[arg-type]

    def test_from_number(self) -> None:
        """from_number pads to 9 digits and appends the check digit; bounds are checked."""
        assert Serial.parse("00000-00018") == Serial.from_number(1)
        assert "9317112184" == str(Serial.from_number(931711218))
        for bad in (-1, 10**9):
            with pytest.raises(InvalidInput):
                Serial.from_number(bad)

    def test_of(self) -> None:
        """Serial.of keeps a Serial and parses text."""
        serial = Serial.parse("93171-12184")
        assert serial is Serial.of(serial)
        assert serial == Serial.of("9317112184")


class TestCheckDigit:
    """Luhn refuses typos as MistypedCode, checked over the check digit's own space."""

    @pytest.mark.parametrize("kind", KINDS)
    def test_every_single_digit_error_is_caught(
        self, kind: type[Serial | ActivationCode | RegistrationCode]
    ) -> None:
        """For a sample of valid identifiers, every one-digit change is refused."""
        missed = 0
        for payload in range(0, 10 ** (kind.LENGTH - 1), 10 ** (kind.LENGTH - 1) // 997):
            code = valid(kind, payload)
            for position, digit in itertools.product(range(kind.LENGTH), DIGITS):
                if digit != code[position]:
                    typo = code[:position] + digit + code[position + 1 :]
                    try:
                        kind.parse(typo)
                    except MistypedCode:
                        continue
                    missed += 1
        assert 0 == missed

    def test_transpositions_missed_are_exactly_09(self) -> None:
        """Swapping two different adjacent digits is caught, except 09 <-> 90 (over every
        4-digit code and position, through Serial's own rule on its last digits)."""
        missed = set()
        for payload in range(10**3):
            code = valid(Serial, payload)
            for i in range(Serial.LENGTH - 1):
                if code[i] != code[i + 1]:
                    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                    try:
                        Serial.parse(swapped)
                    except MistypedCode:
                        continue
                    missed.add("".join(sorted(code[i : i + 2])))
        assert {"09"} == missed

    @pytest.mark.parametrize("kind", KINDS)
    def test_exactly_one_check_digit_fits(
        self, kind: type[Serial | ActivationCode | RegistrationCode]
    ) -> None:
        """Of the ten possible last digits of a payload, exactly one is accepted."""
        body = valid(kind, 123456)[:-1]
        accepted = []
        for last in DIGITS:
            try:
                kind.parse(body + last)
            except MistypedCode:
                continue
            accepted.append(last)
        assert [valid(kind, 123456)[-1]] == accepted

    def test_mistyped_is_not_invalid_code(self) -> None:
        """A mistyped identifier is bad input (a ValueError), safe to report as a typo."""
        assert issubclass(MistypedCode, InvalidInput)
        with pytest.raises(MistypedCode) as info:
            ActivationCode.parse("1234-5678-9012-3456")
        assert "3456" not in str(info.value)


class TestSecrets:
    """Activation and registration codes are secrets; serials are not."""

    def test_repr(self) -> None:
        """Codes never show their digits in a repr; a serial does."""
        activation = ActivationCode.parse("1234-5678-9012-3452")
        registration = RegistrationCode.parse("00000-00018")
        assert "1234" not in repr(activation)
        assert "00018" not in repr(registration)
        assert "9317112184" in repr(Serial.parse("9317112184"))

    def test_equality_and_hash(self) -> None:
        """Equal codes compare equal (in constant time) and hash alike, without the digits."""
        first = ActivationCode.parse("1234-5678-9012-3452")
        assert first == ActivationCode.parse("1234567890123452")
        assert hash(first) == hash(ActivationCode.parse("1234567890123452"))
        assert first != ActivationCode.parse(valid(ActivationCode, 1))

    def test_generated_codes_come_from_the_helper(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """generate() draws from softtoken's one randomness helper, and is well formed."""
        monkeypatch.setattr(_random, "_source", lambda n: bytes([7] * n))
        assert "777777777777777" == str(ActivationCode.generate())[:15]
        assert "777777777" == str(RegistrationCode.generate())[:9]
        assert 777777777777777 == ActivationCode.generate().payload

    @given(st.integers(0, 10**15 - 1))
    def test_payload_round_trip(self, payload: int) -> None:
        """The payload of a parsed code is the number its first digits spell."""
        assert payload == ActivationCode.parse(valid(ActivationCode, payload)).payload


_MESSAGES = {
    kind: {
        MistypedCode.MESSAGE,
        f"{kind.NAME} is {kind.LENGTH} ASCII digits",
        f"{kind.NAME} is written as its digits or {'-'.join('N' * size for size in kind.GROUPS)}",
    }
    for kind in KINDS
}


class TestFuzz:
    """Any text is read or refused with softtoken's own errors, never echoed (S13)."""

    @pytest.mark.parametrize("kind", KINDS)
    @given(text=st.text(max_size=40))
    @example("1234-5678-9012-3452")
    def test_arbitrary_text(
        self, kind: type[Serial | ActivationCode | RegistrationCode], text: str
    ) -> None:
        """parse returns a value that prints back to the same digits, or raises only
        InvalidIdentifier or MistypedCode, whose messages never hold the text."""
        refusal: SoftTokenError | None = None
        try:
            parsed = kind.parse(text)
        except (InvalidIdentifier, MistypedCode) as error:
            refusal = error
        if refusal is not None:
            # The message is one of the constant texts, whatever the input (a slice of the
            # input may happen to occur inside one, as "regi" does in "a registration code").
            assert str(refusal) in _MESSAGES[kind]
            return
        assert str(parsed) == text.strip().replace("-", "")

    @pytest.mark.parametrize("kind", KINDS)
    @given(payload=st.integers(0, 10**9 - 1))
    def test_valid_round_trip(
        self, kind: type[Serial | ActivationCode | RegistrationCode], payload: int
    ) -> None:
        """Every valid identifier parses from its display form and from its digits."""
        digits = valid(kind, payload)
        parsed = kind.parse(digits)
        assert parsed == kind.parse(parsed.display)
        assert digits == str(parsed)
