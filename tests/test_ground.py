"""Tests for the ground layer's shared helpers: labels, check digits, secret fields, bounds."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softtoken._checkdigit import damm_digit, damm_valid, luhn_digit, luhn_valid
from softtoken._checks import MAX_COUNTER, check_key
from softtoken._kdf import MAX_SCRYPT_MEMORY, Label, ScryptParams, hkdf
from softtoken._secret import SECRET
from softtoken.exceptions import InvalidInput, KeyTooShort

SRC = Path(__file__).parent.parent / "src" / "softtoken"
DIGITS = "0123456789"


class TestLabels:
    """Every domain-separation label is distinct, and none is a prefix of another."""

    def test_labels_are_distinct(self) -> None:
        """No two purposes share a label (enum.unique also enforces it at import)."""
        values = [label.value for label in Label]
        assert len(values) == len(set(values))

    def test_no_label_is_a_prefix_of_another(self) -> None:
        """Appending a serial to one label can never produce another label's input."""
        pairs = [
            (a.name, b.name)
            for a, b in itertools.permutations(Label, 2)
            if b.value.startswith(a.value)
        ]
        assert [] == pairs

    def test_every_label_is_versioned(self) -> None:
        """Each label names a version, so that a later scheme gets a label of its own."""
        assert all(b"/v" in label.value for label in Label)

    def test_labels_are_only_written_in_the_table(self) -> None:
        """No module spells a "softtoken/..." label outside _kdf.py."""
        offenders = [
            path.relative_to(SRC).as_posix()
            for path in SRC.rglob("*.py")
            if path.name != "_kdf.py" and 'b"softtoken/' in path.read_text("utf-8")
        ]
        assert [] == offenders

    def test_hkdf_separates_labels(self) -> None:
        """The same key under two labels gives unrelated outputs."""
        key = bytes(range(32))
        outputs = {hkdf(key, info=label) for label in Label}
        assert len(Label) == len(outputs)


class TestScryptParams:
    """Parameters are bounded so that a stored blob cannot ask for gigabytes."""

    def test_memory_cap(self) -> None:
        """128 * r * N above the cap is refused; at the cap it is allowed."""
        assert MAX_SCRYPT_MEMORY == ScryptParams(log2_n=18, r=8, p=1).memory
        with pytest.raises(InvalidInput):
            ScryptParams(log2_n=19, r=8, p=1)


class TestCheckDigits:
    """Luhn and Damm catch what they promise, checked over their whole small spaces."""

    @given(st.text(DIGITS, min_size=1, max_size=20))
    def test_appended_digit_validates(self, payload: str) -> None:
        """A payload followed by its own check digit is valid, for both schemes."""
        assert luhn_valid(payload + luhn_digit(payload))
        assert damm_valid(payload + damm_digit(payload))

    def test_luhn_catches_every_single_digit_error(self) -> None:
        """Changing any one digit of any valid 4-digit code makes it invalid."""
        misses = 0
        for payload in map("".join, itertools.product(DIGITS, repeat=3)):
            code = payload + luhn_digit(payload)
            for position, digit in itertools.product(range(4), DIGITS):
                if digit != code[position]:
                    typo = code[:position] + digit + code[position + 1 :]
                    misses += luhn_valid(typo)
        assert 0 == misses

    def test_luhn_misses_only_09_transpositions(self) -> None:
        """Swapping two adjacent different digits is caught, except 09 <-> 90."""
        missed = set()
        for payload in map("".join, itertools.product(DIGITS, repeat=3)):
            code = payload + luhn_digit(payload)
            for i in range(3):
                if code[i] != code[i + 1]:
                    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                    if luhn_valid(swapped):
                        missed.add("".join(sorted(code[i : i + 2])))
        assert {"09"} == missed

    def test_damm_catches_every_single_error_and_transposition(self) -> None:
        """Damm misses no single-digit error and no adjacent transposition (4-digit codes)."""
        misses = 0
        for payload in map("".join, itertools.product(DIGITS, repeat=3)):
            code = payload + damm_digit(payload)
            for position, digit in itertools.product(range(4), DIGITS):
                if digit != code[position]:
                    misses += damm_valid(code[:position] + digit + code[position + 1 :])
            for i in range(3):
                if code[i] != code[i + 1]:
                    misses += damm_valid(code[:i] + code[i + 1] + code[i] + code[i + 2 :])
        assert 0 == misses

    def test_known_luhn_value(self) -> None:
        """The ISO/IEC 7812 worked example: 7992739871 takes check digit 3."""
        assert "3" == luhn_digit("7992739871")


class TestSecretFields:
    """Secret fields stay out of repr and hash, and compare by value in constant time."""

    @attrs.frozen
    class Holder:
        public: int
        secret: bytes = attrs.field(**SECRET)
        maybe: str | None = attrs.field(default=None, **SECRET)

    def test_hidden_from_repr(self) -> None:
        """The repr shows the public field only."""
        text = repr(self.Holder(1, b"canary-secret", "canary-text"))
        assert "canary" not in text
        assert "public=1" in text

    def test_hashable(self) -> None:
        """A class with secret fields hashes, on its public fields only."""
        assert hash(self.Holder(1, b"a")) == hash(self.Holder(1, b"b"))

    def test_a_secret_value_compares_with_its_own_equality(self) -> None:
        """A field holding a value with secret fields of its own (not bytes or str) compares
        by that value's equality, so two equal decodings are equal."""

        @attrs.frozen
        class Outer:
            inner: TestSecretFields.Holder = attrs.field(**SECRET)

        assert Outer(self.Holder(1, b"a")) == Outer(self.Holder(1, b"a"))
        assert Outer(self.Holder(1, b"a")) != Outer(self.Holder(1, b"b"))

    def test_equality_by_value_with_none(self) -> None:
        """Equal secrets compare equal, unequal ones do not, and None equals only None."""
        assert self.Holder(1, b"a", None) == self.Holder(1, b"a", None)
        assert self.Holder(1, b"a", "x") != self.Holder(1, b"a", None)
        assert self.Holder(1, b"a") != self.Holder(1, b"b")


class TestChecks:
    """The shared bounds and the key rule."""

    @pytest.mark.parametrize(
        ("length", "allow", "opt_in"),
        [(9, False, False), (10, False, True), (15, False, True), (9, True, False)],
    )
    def test_short_keys(self, length: int, allow: bool, opt_in: bool) -> None:
        """KeyTooShort says whether the legacy opt-in would have admitted the key."""
        with pytest.raises(KeyTooShort) as info:
            check_key(b"k" * length, allow_short_key=allow)
        assert opt_in == info.value.legacy_opt_in
        assert (10 if allow else 16) == info.value.minimum

    def test_bounds_are_computed_once(self) -> None:
        """Code computes 2**64, 2**32, 2**16 or 2**8 only in _checks.py (and the reference)."""
        offenders = [
            path.relative_to(SRC).as_posix()
            for path in SRC.rglob("*.py")
            if path.name not in ("_checks.py", "_reference.py")
            and any(
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Pow)
                and ast.literal_eval(node.left) == 2
                and ast.literal_eval(node.right) in (8, 16, 32, 64)
                for node in ast.walk(ast.parse(path.read_text("utf-8")))
                if isinstance(node, ast.BinOp)
                and isinstance(node.left, ast.Constant)
                and isinstance(node.right, ast.Constant)
            )
        ]
        assert [] == offenders
        assert 2**64 - 1 == MAX_COUNTER
