"""Tests for softtoken.pinverifier: how a PIN is stored, and the key it yields (S10, S14, S17).

Every test uses the cheap INSECURE_TEST_KDF parameters except one: the PHONE_KDF vector of
tests/vectors/pin-verifier.txt, the only PHONE_KDF hash in these tests (about 0.27 s).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken import _random, pinverifier
from softtoken._kdf import ScryptParams
from softtoken.exceptions import InvalidInput, InvalidPINRecord
from softtoken.pinverifier import (
    INSECURE_TEST_KDF,
    MAX_PIN_LENGTH,
    MIN_PIN_LENGTH,
    PHONE_KDF,
    PIN_KEY_LENGTH,
    KDFParams,
    PINVerifier,
)
from tests import strategies
from tests.utils import load_vectors

FAST = INSECURE_TEST_KDF


def fast_verifier(pin: str) -> PINVerifier:
    """A verifier with the cheap test parameters."""
    return PINVerifier.create(pin, params=FAST)


def count_stretches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every PIN that softtoken.pinverifier stretches with scrypt, still computing it."""
    calls: list[str] = []
    original = pinverifier._stretch

    def counting(pin: str, salt: bytes, params: KDFParams) -> bytes:
        calls.append(pin)
        return original(pin, salt, params)

    monkeypatch.setattr(pinverifier, "_stretch", counting)
    return calls


class TestKDFParams:
    """scrypt parameters are versioned and bounded."""

    def test_kdf_params_are_the_shared_scrypt_params(self) -> None:
        """KDFParams is softtoken._kdf.ScryptParams, so that one type is stored everywhere."""
        assert ScryptParams is KDFParams

    def test_phone_default_is_n_2_17_r_8_p_1(self) -> None:
        """The phone parameters are N=2^17, r=8, p=1, 16-byte salt, 32-byte hash: 128 MiB."""
        assert (17, 8, 1, 16, 32, 1, 128 * 2**20) == (
            PHONE_KDF.log2_n,
            PHONE_KDF.r,
            PHONE_KDF.p,
            PHONE_KDF.salt_length,
            PHONE_KDF.hash_length,
            PHONE_KDF.version,
            PHONE_KDF.memory,
        )

    def test_insecure_test_parameters_are_n_2_4(self) -> None:
        """The test parameters are N=2^4, r=8, p=1, with the phone's lengths."""
        assert KDFParams(log2_n=4, r=8, p=1) == INSECURE_TEST_KDF

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"log2_n": 0, "r": 8, "p": 1},
            {"log2_n": 21, "r": 8, "p": 1},
            {"log2_n": 16, "r": 1, "p": 1},
            {"log2_n": 19, "r": 8, "p": 1},
            {"log2_n": 18, "r": 16, "p": 1},
            {"log2_n": 4, "r": 0, "p": 1},
            {"log2_n": 4, "r": 33, "p": 1},
            {"log2_n": 4, "r": 8, "p": 0},
            {"log2_n": 4, "r": 8, "p": 17},
            {"log2_n": 4, "r": 8, "p": 1, "salt_length": 15},
            {"log2_n": 4, "r": 8, "p": 1, "salt_length": 65},
            {"log2_n": 4, "r": 8, "p": 1, "hash_length": 15},
            {"log2_n": 4, "r": 8, "p": 1, "hash_length": 65},
            {"log2_n": 4, "r": 8, "p": 1, "version": 0},
            {"log2_n": 4, "r": 8, "p": 1, "version": 2},
        ],
    )
    def test_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """N too big for r (RFC 7914 §2), over 256 MiB, or any field out of range is refused."""
        with pytest.raises(InvalidInput):
            KDFParams(**kwargs)

    def test_the_memory_cap_is_256_mib(self) -> None:
        """N=2^18 with r=8 asks for exactly 256 MiB, the most allowed."""
        assert 256 * 2**20 == KDFParams(log2_n=18, r=8, p=1).memory

    @pytest.mark.parametrize("kwargs", [{"r": True}, {"r": 8.0}, {"p": "1"}])
    def test_non_int_parameters_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """A bool, a float or a string is not an int parameter."""
        with pytest.raises(TypeError):
            KDFParams(**{"log2_n": 4, "r": 8, "p": 1, **kwargs})

    def test_scrypt_parameters_reach_scrypt_in_order(self) -> None:
        """RFC 7914 §12, second vector: log2_n, r and p map to N, r and p."""
        params = KDFParams(log2_n=10, r=8, p=16, hash_length=64)
        expected = bytes.fromhex(
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        )

        assert expected == pinverifier._stretch("password", b"NaCl", params)


class TestPINVerifier:
    """Salted scrypt verifiers: creation and comparison."""

    def test_matches_its_own_pin(self) -> None:
        """A verifier matches the PIN it was made from."""
        assert fast_verifier("2468").matches("2468")

    @given(pin=strategies.pins, other=strategies.pins)
    @example(pin="0123", other="123")
    def test_never_matches_another_pin(self, pin: str, other: str) -> None:
        """A verifier matches no PIN other than its own (leading zeros matter)."""
        assume(pin != other)

        assert not fast_verifier(pin).matches(other)

    def test_salt_comes_from_the_randomness_helper(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The salt is exactly what softtoken._random supplies."""
        monkeypatch.setattr(_random, "_source", lambda n: b"\xa5" * n)

        assert b"\xa5" * 16 == fast_verifier("2468").salt

    def test_same_pin_gives_different_verifiers(self) -> None:
        """Two verifiers of one PIN differ in salt and digest, and give different keys."""
        (first, first_key), (second, second_key) = (
            PINVerifier.enroll("2468", params=FAST),
            PINVerifier.enroll("2468", params=FAST),
        )

        assert first != second
        assert first.digest != second.digest
        assert first_key != second_key

    def test_compare_goes_through_compare_digest(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """matches compares the digests with hmac.compare_digest and returns its answer."""
        verifier = fast_verifier("2468")
        calls: list[tuple[bytes, bytes]] = []

        def spy(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return False

        monkeypatch.setattr(pinverifier, "compare_digest", spy)

        assert not verifier.matches("2468")
        assert [(verifier.digest, verifier.digest)] == calls

    @pytest.mark.parametrize("pin", ["", "246", "1234567890123", "24a8", "２４６８", " 2468"])
    def test_impossible_pins_match_nothing_without_hashing(
        self, pin: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Text that is not 4-12 ASCII digits is answered None and never hashed: the shortcut
        depends on the typed text alone."""
        verifier = fast_verifier("2468")
        hashed = count_stretches(monkeypatch)

        assert (None, False, []) == (verifier.derive_key(pin), verifier.matches(pin), hashed)

    def test_one_entry_costs_exactly_one_slow_hash(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """derive_key runs scrypt once, right or wrong, and the digest and key come from it."""
        verifier = fast_verifier("2468")
        hashed = count_stretches(monkeypatch)

        verifier.derive_key("2468")
        verifier.derive_key("1357")

        assert ["2468", "1357"] == hashed

    @pytest.mark.parametrize("pin", ["", "246", "1234567890123", "24a8", "２４６８"])
    def test_enroll_refuses_what_is_not_a_pin(self, pin: str) -> None:
        """enroll takes 4 to 12 ASCII digits only, and its error never echoes the input."""
        with pytest.raises(InvalidInput) as info:
            PINVerifier.enroll(pin, params=FAST)

        assert "4 to 12 ASCII digits" in str(info.value)
        assert not pin or pin not in str(info.value)

    def test_pin_lengths_are_4_to_12(self) -> None:
        """The shortest and longest PINs both enroll and match."""
        pins = ["0" * MIN_PIN_LENGTH, "9" * MAX_PIN_LENGTH]

        assert [True, True] == [fast_verifier(pin).matches(pin) for pin in pins]

    def test_int_pins_are_type_errors(self) -> None:
        """Neither enroll nor matches nor derive_key takes an int."""
        verifier = fast_verifier("2468")
        for call in (
            lambda: PINVerifier.enroll(2468, params=FAST),  # type: ignore[arg-type]
            lambda: verifier.matches(2468),  # type: ignore[arg-type]
            lambda: verifier.derive_key(2468),  # type: ignore[arg-type]
        ):
            with pytest.raises(TypeError):
                call()

    def test_params_must_be_kdf_params(self) -> None:
        """Parameters given as a dict are a TypeError, at enroll and in the constructor."""
        with pytest.raises(TypeError):
            PINVerifier.enroll("2468", params={"log2_n": 4})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            PINVerifier({"log2_n": 4}, b"\x00" * 16, b"\x00" * 32)  # type: ignore[arg-type]

    def test_repr_hides_salt_and_digest(self) -> None:
        """The repr shows the parameters and neither the salt nor the digest."""
        verifier = fast_verifier("2468")
        text = repr(verifier)

        assert "log2_n=4" in text
        assert [] == [
            hidden
            for hidden in ("salt=", "digest=", verifier.salt.hex(), repr(verifier.salt))
            if hidden in text
        ]

    def test_needs_rehash_when_parameters_change(self) -> None:
        """needs_rehash is true exactly when the parameters differ; PHONE_KDF by default."""
        verifier = fast_verifier("2468")

        assert (True, True, False) == (
            verifier.needs_rehash(),
            verifier.needs_rehash(PHONE_KDF),
            verifier.needs_rehash(FAST),
        )

    @pytest.mark.parametrize(("salt", "digest"), [(15, 32), (16, 31), (17, 32), (16, 33)])
    def test_constructor_checks_lengths(self, salt: int, digest: int) -> None:
        """A salt or digest that does not fit the parameters is refused."""
        with pytest.raises(InvalidInput):
            PINVerifier(FAST, b"\x00" * salt, b"\x00" * digest)

    def test_constructor_takes_bytes_only(self) -> None:
        """A bytearray salt is a TypeError, not a silent copy."""
        with pytest.raises(TypeError):
            PINVerifier(FAST, bytearray(16), b"\x00" * 32)  # type: ignore[arg-type]


class TestPINKey:
    """derive_key gives the PIN key, and only for the right PIN."""

    def test_enroll_key_is_the_derived_key(self) -> None:
        """The key enroll returns is the one derive_key gives for the same PIN."""
        verifier, key = PINVerifier.enroll("2468", params=FAST)

        assert (PIN_KEY_LENGTH, key) == (len(key), verifier.derive_key("2468"))

    def test_wrong_pin_gives_no_key(self) -> None:
        """A wrong PIN gives None, never a wrong key."""
        assert fast_verifier("2468").derive_key("1357") is None

    def test_key_is_not_the_stored_digest(self) -> None:
        """The key is a separate HKDF output: reading the stored digest does not give it."""
        verifier, key = PINVerifier.enroll("2468", params=FAST)

        assert key != verifier.digest
        assert key not in verifier.to_bytes()


class TestEncoding:
    """to_bytes and from_bytes: format 2, decoded strictly."""

    def test_round_trips_through_bytes(self) -> None:
        """from_bytes(to_bytes()) gives an equal verifier that still matches."""
        verifier = fast_verifier("2468")

        decoded = PINVerifier.from_bytes(verifier.to_bytes())

        assert verifier == decoded
        assert decoded.matches("2468")

    def test_encoding_layout(self) -> None:
        """The encoding is b"PV", format 2, KDF version, six parameter bytes, salt and digest."""
        verifier = fast_verifier("2468")

        expected = b"PV" + bytes([2, 1, 4, 8, 1, 16, 32]) + verifier.salt + verifier.digest

        assert expected == verifier.to_bytes()

    def test_every_truncation_is_a_typed_error(self) -> None:
        """Every proper prefix of an encoding raises InvalidPINRecord."""
        data = fast_verifier("2468").to_bytes()

        for end in range(len(data)):
            with pytest.raises(InvalidPINRecord):
                PINVerifier.from_bytes(data[:end])

    @pytest.mark.parametrize(
        ("index", "value"),
        [
            (0, ord("X")),
            (1, ord("L")),
            (2, 1),
            (2, 3),
            (3, 0),
            (3, 2),
            (4, 0),
            (4, 21),
            (5, 0),
            (6, 17),
            (7, 8),
            (8, 99),
        ],
        ids=[
            "tag",
            "tag-of-a-lockout-state",
            "format-1",
            "format-3",
            "kdf-version-0",
            "kdf-version-2",
            "log2-n-0",
            "log2-n-21",
            "r-0",
            "p-17",
            "salt-length-8",
            "hash-length-99",
        ],
    )
    def test_tampered_header_is_a_typed_error(self, index: int, value: int) -> None:
        """A changed tag, format, KDF version or parameter byte raises InvalidPINRecord."""
        data = bytearray(fast_verifier("2468").to_bytes())
        data[index] = value

        with pytest.raises(InvalidPINRecord):
            PINVerifier.from_bytes(bytes(data))

    def test_lengths_that_disagree_with_the_body_are_typed_errors(self) -> None:
        """A salt length of 17 over a 16-byte salt shifts the body: InvalidPINRecord."""
        data = bytearray(fast_verifier("2468").to_bytes())
        data[7] = 17

        with pytest.raises(InvalidPINRecord):
            PINVerifier.from_bytes(bytes(data))

    def test_a_memory_bomb_is_refused_before_hashing(self) -> None:
        """Stored parameters asking for 1 GiB (N=2^20, r=8) are refused when decoding."""
        data = bytearray(fast_verifier("2468").to_bytes())
        data[4] = 20

        with pytest.raises(InvalidPINRecord):
            PINVerifier.from_bytes(bytes(data))

    def test_extra_bytes_are_a_typed_error(self) -> None:
        """A trailing byte raises InvalidPINRecord."""
        with pytest.raises(InvalidPINRecord):
            PINVerifier.from_bytes(fast_verifier("2468").to_bytes() + b"\x00")

    def test_tampered_digest_decodes_but_matches_nothing(self) -> None:
        """A flipped digest bit cannot be seen without a MAC, so the verifier fails closed."""
        data = bytearray(fast_verifier("2468").to_bytes())
        data[-1] ^= 1

        assert PINVerifier.from_bytes(bytes(data)).derive_key("2468") is None

    def test_only_bytes_are_decoded(self) -> None:
        """A bytearray is a TypeError, not a silent copy."""
        with pytest.raises(TypeError):
            PINVerifier.from_bytes(bytearray(fast_verifier("2468").to_bytes()))  # type: ignore[arg-type]

    def test_errors_never_include_the_data(self) -> None:
        """A decoding error has a constant message, without the salt or digest."""
        data = fast_verifier("2468").to_bytes()

        with pytest.raises(InvalidPINRecord) as info:
            PINVerifier.from_bytes(data + b"\x00")

        assert data.hex() not in str(info.value)
        assert repr(data) not in str(info.value)

    @given(data=st.binary(max_size=140))
    @example(data=b"PV\x02\x01\x04\x08\x01\x10\x20")
    @example(data=b"PV\x02\x01\x04\x08\x01\x10\x20" + bytes(48))
    @example(data=b"PV\x01\x04\x08\x01\x10\x20" + bytes(48))
    def test_from_bytes_raises_only_its_own_error(self, data: bytes) -> None:
        """Arbitrary bytes decode to a verifier that re-encodes the same, or raise
        InvalidPINRecord; nothing else escapes."""
        try:
            verifier = PINVerifier.from_bytes(data)
        except InvalidPINRecord:
            return
        assert data == verifier.to_bytes()


# ----------------------------------------------------------------------------------------------
# softtoken's own format, pinned by tests/vectors/pin-verifier.txt
# ----------------------------------------------------------------------------------------------

VECTORS = {row[1]: row[2:] for row in load_vectors("pin-verifier.txt") if row[0] == "VERIFIER"}


def vector_params(row: list[str]) -> KDFParams:
    """The KDF parameters of a vector row."""
    log2_n, r, p, salt_length, hash_length = map(int, row[1:6])
    return KDFParams(log2_n=log2_n, r=r, p=p, salt_length=salt_length, hash_length=hash_length)


def other_pin(pin: str) -> str:
    """A PIN of the same length that differs from *pin* in its first digit."""
    return str((int(pin[0]) + 1) % 10) + pin[1:]


def pin_salt(monkeypatch: pytest.MonkeyPatch, salt: bytes) -> None:
    """Make softtoken._random return *salt* for the next salt it is asked for."""

    def source(n: int) -> bytes:
        assert len(salt) == n
        return salt

    monkeypatch.setattr(_random, "_source", source)


class TestPINVerifierVectors:
    """enroll with a pinned salt gives the bytes and the key of the vector file."""

    def test_the_file_has_every_shape(self) -> None:
        """The file holds the four cheap vectors and the phone one."""
        expected = ["test-4-digits", "test-leading-zeros", "test-12-digits", "test-wide", "phone"]
        assert expected == list(VECTORS)

    @pytest.mark.parametrize("name", [name for name in VECTORS if name != "phone"])
    def test_cheap_vectors(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """The verifier's bytes and the PIN key match the file, and the bytes decode back to a
        verifier that gives the same key for that PIN and none for another."""
        row = VECTORS[name]
        pin, salt = row[0], bytes.fromhex(row[6])
        stored, key = bytes.fromhex(row[7]), bytes.fromhex(row[8])
        pin_salt(monkeypatch, salt)

        verifier, derived = PINVerifier.enroll(pin, params=vector_params(row))

        assert (stored, key) == (verifier.to_bytes(), derived)
        decoded = PINVerifier.from_bytes(stored)
        assert (verifier, key, None) == (
            decoded,
            decoded.derive_key(pin),
            decoded.derive_key(other_pin(pin)),
        )

    def test_phone_vector_is_the_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """enroll's default parameters are PHONE_KDF, whose verifier and key match the file
        (the one PHONE_KDF hash of these tests)."""
        row = VECTORS["phone"]
        pin, salt = row[0], bytes.fromhex(row[6])
        stored, key = bytes.fromhex(row[7]), bytes.fromhex(row[8])
        pin_salt(monkeypatch, salt)

        verifier, derived = PINVerifier.enroll(pin)

        assert (PHONE_KDF, stored, key) == (verifier.params, verifier.to_bytes(), derived)
        assert verifier == PINVerifier.from_bytes(stored)
