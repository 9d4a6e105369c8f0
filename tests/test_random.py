"""SECURITY.md S3: every random value comes from the one helper in softtoken._random."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softtoken import _random, generate_key

SRC = Path(__file__).parent.parent / "src" / "softtoken"


@pytest.fixture
def fixed_source(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the CSPRNG with a counter-driven source and record each request."""
    requests: list[int] = []

    def source(n: int) -> bytes:
        requests.append(n)
        return bytes((len(requests) + i) % 256 for i in range(n))

    monkeypatch.setattr(_random, "_source", source)
    return requests


class TestRandomHelper:
    """The helper is the only door to randomness, and tests can replace it."""

    def test_generated_keys_come_from_the_helper(self, fixed_source: list[int]) -> None:
        """Replacing the helper's source changes generate_key's output to the source's bytes."""
        assert bytes((1 + i) % 256 for i in range(20)) == generate_key("sha1")
        assert [20] == fixed_source

    def test_digits_use_rejection_sampling(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Bytes at or above 250 are dropped, so that no digit is favoured."""
        chunks = iter([bytes([255, 250, 7, 249]), bytes([13, 0, 100, 42])])
        monkeypatch.setattr(_random, "_source", lambda n: next(chunks)[:n])
        assert "7930" == _random.random_digits(4)

    def test_a_short_source_is_a_loud_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A replacement source that returns too few bytes is refused, not silently used."""
        monkeypatch.setattr(_random, "_source", lambda n: b"\x00")
        with pytest.raises(RuntimeError):
            _random.random_bytes(16)

    @given(st.integers(1, 40))
    def test_random_digits_shape(self, n: int) -> None:
        """random_digits(n) returns exactly n ASCII digits."""
        digits = _random.random_digits(n)
        assert n == len(digits)
        assert digits.isascii()
        assert digits.isdigit()

    @pytest.mark.parametrize("n", [0, -1])
    def test_sizes_must_be_positive(self, n: int) -> None:
        """Asking for zero or fewer bytes or digits is a ValueError."""
        with pytest.raises(ValueError, match="positive"):
            _random.random_bytes(n)
        with pytest.raises(ValueError, match="positive"):
            _random.random_digits(n)

    def test_no_other_randomness_in_the_library(self) -> None:
        """No module but _random imports random, secrets or os.urandom."""
        pattern = re.compile(r"^\s*(import random|from random|import secrets|from secrets)|urandom")
        offenders = [
            path.name
            for path in SRC.rglob("*.py")
            if path.name != "_random.py"
            and any(pattern.search(line) for line in path.read_text("utf-8").splitlines())
        ]
        assert [] == offenders
