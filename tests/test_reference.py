"""Tests for softtoken._reference, and the fast path checked against it.

The reference is checked against the standard library (hashlib, hmac) and the published RFC
vectors; the fast path in softtoken.hotp is then checked against the reference for any input.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken import HOTP, TOTP, InvalidInput, InvalidTime, _reference
from tests import strategies as sts
from tests.utils import RFC_SEED_SHA1, RFC_SEEDS, load_vectors

RFC4226 = load_vectors("rfc4226.txt")
RFC6238 = load_vectors("rfc6238.txt")

HASH_FUNCTIONS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("sha1", _reference.sha1),
    ("sha256", _reference.sha256),
    ("sha512", _reference.sha512),
]
# A time in the year 2200, past 2**32 seconds and the 2038 and 2106 roll-overs.
YEAR_2200 = 7_258_118_400
EXAMPLE_KEY = bytes(range(1, 33))


class TestHashes:
    """FIPS 180-4 SHA-1, SHA-256 and SHA-512."""

    @pytest.mark.parametrize(("name", "function"), HASH_FUNCTIONS)
    @given(message=sts.hash_messages)
    @example(message=b"")
    @example(message=b"abc")
    def test_reference_hash_equals_hashlib(
        self, name: str, function: Callable[[bytes], bytes], message: bytes
    ) -> None:
        """The reference digest of any message, padding edges included, equals hashlib's."""
        assert hashlib.new(name, message).digest() == function(message)

    @given(message=sts.hash_messages, algorithm=sts.algorithms)
    def test_hash_digest_dispatches_by_name(self, message: bytes, algorithm: str) -> None:
        """hash_digest(message, name) is the digest of the hash with that name."""
        assert hashlib.new(algorithm, message).digest() == _reference.hash_digest(
            message, algorithm
        )

    @pytest.mark.parametrize("algorithm", ["md5", "SHA1", "sha-1", "sha384", ""])
    def test_unknown_algorithm_is_refused(self, algorithm: str) -> None:
        """Only the three lower-case names are accepted."""
        with pytest.raises(InvalidInput):
            _reference.hash_digest(b"", algorithm)

    def test_algorithm_name_must_be_str(self) -> None:
        """A bytes algorithm name is a TypeError."""
        with pytest.raises(TypeError):
            _reference.hash_digest(b"", b"sha1")  # type: ignore[arg-type]


class TestHMAC:
    """RFC 2104 HMAC."""

    @given(key=sts.hmac_keys, message=sts.hash_messages, algorithm=sts.algorithms)
    @example(key=bytes(200), message=b"", algorithm="sha512")
    @example(key=b"\x5c" * 129, message=b"what do ya want for nothing?", algorithm="sha512")
    @example(key=b"\x36" * 65, message=b"\x00" * 64, algorithm="sha1")
    def test_reference_hmac_equals_stdlib(self, key: bytes, message: bytes, algorithm: str) -> None:
        """The reference HMAC equals hmac.digest for any key, including keys over a block."""
        assert hmac.digest(key, message, algorithm) == _reference.hmac_digest(
            key, message, algorithm
        )

    @pytest.mark.parametrize(
        ("count", "hmac_sha1"), [(int(r[0]), bytes.fromhex(r[1])) for r in RFC4226]
    )
    def test_rfc4226_intermediate_hmac(self, count: int, hmac_sha1: bytes) -> None:
        """RFC 4226 Appendix D, Table 1: HMAC-SHA-1 of the secret and each counter."""
        assert hmac_sha1 == _reference.hmac_digest(RFC_SEED_SHA1, count.to_bytes(8, "big"), "sha1")


class TestHKDF:
    """RFC 5869 HKDF-SHA256."""

    @pytest.mark.parametrize(
        ("salt", "info", "length", "okm"),
        [
            # RFC 5869 Appendix A.1: the basic case.
            (
                bytes(range(13)),
                bytes(range(0xF0, 0xFA)),
                42,
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            ),
            # RFC 5869 Appendix A.3: no salt and no info.
            (
                b"",
                b"",
                42,
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
            ),
        ],
    )
    def test_rfc5869_vectors(self, salt: bytes, info: bytes, length: int, okm: str) -> None:
        """RFC 5869 Appendix A, test cases 1 and 3 (IKM: 22 bytes of 0x0b)."""
        assert (
            okm == _reference.hkdf_sha256(b"\x0b" * 22, salt=salt, info=info, length=length).hex()
        )

    @given(
        ikm=st.binary(max_size=80),
        salt=st.binary(max_size=80),
        info=st.binary(max_size=40),
        length=st.integers(1, 200),
    )
    def test_equals_cryptography(self, ikm: bytes, salt: bytes, info: bytes, length: int) -> None:
        """The reference HKDF equals cryptography's for any input."""
        expected = HKDF(
            algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info
        ).derive(ikm)
        assert expected == _reference.hkdf_sha256(ikm, salt=salt, info=info, length=length)

    @pytest.mark.parametrize("length", [0, 255 * 32 + 1])
    def test_length_out_of_range_is_refused(self, length: int) -> None:
        """RFC 5869 §2.3: L is at most 255 times HashLen, and nothing is made of nothing."""
        with pytest.raises(InvalidInput):
            _reference.hkdf_sha256(b"k", salt=b"", info=b"", length=length)


class TestTruncate:
    """RFC 4226 §5.3 dynamic truncation."""

    @pytest.mark.parametrize(
        ("hmac_sha1", "truncated"), [(bytes.fromhex(r[1]), int(r[3])) for r in RFC4226]
    )
    def test_rfc4226_intermediate_truncation(self, hmac_sha1: bytes, truncated: int) -> None:
        """RFC 4226 Appendix D, Table 2: the 31-bit value truncated from each HMAC."""
        assert truncated == _reference.truncate(hmac_sha1)

    @given(digest=st.binary(min_size=20, max_size=64))
    @example(digest=b"\xff" * 20)
    def test_truncated_value_fits_in_31_bits(self, digest: bytes) -> None:
        """The truncated value of any digest is below 2**31."""
        assert 0 <= _reference.truncate(digest) < 2**31

    def test_short_digest_is_refused(self) -> None:
        """A digest shorter than 20 bytes cannot be truncated."""
        with pytest.raises(InvalidInput):
            _reference.truncate(bytes(19))


class TestReferenceOTP:
    """The reference HOTP and TOTP against the published vectors, and their input checks."""

    @pytest.mark.parametrize(("count", "code"), [(int(r[0]), r[4]) for r in RFC4226])
    def test_rfc4226_hotp_values(self, count: int, code: str) -> None:
        """RFC 4226 Appendix D: every published HOTP value."""
        assert code == _reference.hotp(RFC_SEED_SHA1, count)

    @pytest.mark.parametrize(
        ("unix", "code", "algorithm"), [(int(r[0]), r[3], r[4].lower()) for r in RFC6238]
    )
    def test_rfc6238_totp_values(self, unix: int, code: str, algorithm: str) -> None:
        """RFC 6238 Appendix B: every published 8-digit TOTP value, with the erratum's seeds."""
        assert code == _reference.totp(RFC_SEEDS[algorithm], unix, digits=8, algorithm=algorithm)

    @pytest.mark.parametrize("counter", [-1, 2**64])
    def test_counter_outside_8_bytes_is_refused(self, counter: int) -> None:
        """RFC 4226 §5.2: the counter is 8 unsigned bytes."""
        with pytest.raises(InvalidInput):
            _reference.hotp(EXAMPLE_KEY, counter)

    @pytest.mark.parametrize("digits", [0, 11])
    def test_digits_outside_1_to_10_are_refused(self, digits: int) -> None:
        """A 31-bit value gives at most 10 digits."""
        with pytest.raises(InvalidInput):
            _reference.hotp(EXAMPLE_KEY, 0, digits=digits)

    def test_wrong_types_are_refused(self) -> None:
        """A str key, a bool counter and a float time are TypeErrors."""
        with pytest.raises(TypeError):
            _reference.hotp("key", 0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            _reference.hotp(EXAMPLE_KEY, True)
        with pytest.raises(TypeError):
            _reference.totp(EXAMPLE_KEY, 59.0)  # type: ignore[arg-type]

    def test_time_before_t0_is_refused(self) -> None:
        """RFC 6238 §4.2 counts steps from T0; earlier times have none."""
        with pytest.raises(InvalidTime):
            _reference.totp(EXAMPLE_KEY, 99, t0=100)

    def test_step_beyond_8_bytes_is_refused(self) -> None:
        """A time step of 2**64 does not fit the 8-byte counter."""
        with pytest.raises(InvalidTime):
            _reference.totp(EXAMPLE_KEY, 2**64, period=1)

    def test_period_below_one_second_is_refused(self) -> None:
        """A period of 0 seconds defines no steps."""
        with pytest.raises(InvalidInput):
            _reference.totp(EXAMPLE_KEY, 59, period=0)


class TestFastPathEqualsReference:
    """softtoken.hotp, the fast path, agrees with the pure-Python reference for any input."""

    @given(key=sts.keys, counter=sts.counters, digits=sts.digits, algorithm=sts.algorithms)
    @example(key=EXAMPLE_KEY, counter=2**64 - 1, digits=10, algorithm="sha512")
    def test_hotp_equals_reference(
        self, key: bytes, counter: int, digits: int, algorithm: str
    ) -> None:
        """HOTP.generate equals the reference HOTP for any key, counter, digits and algorithm."""
        expected = _reference.hotp(key, counter, digits=digits, algorithm=algorithm)
        assert expected == HOTP(key, digits=digits, algorithm=algorithm).generate(counter)

    @given(
        key=sts.keys,
        at=sts.unix_times,
        period=sts.periods,
        t0=st.integers(min_value=0, max_value=2**32),
        digits=sts.digits,
        algorithm=sts.algorithms,
    )
    @example(key=EXAMPLE_KEY, at=YEAR_2200, period=30, t0=0, digits=8, algorithm="sha1")
    @example(key=EXAMPLE_KEY, at=2**32, period=30, t0=0, digits=8, algorithm="sha256")
    @example(key=EXAMPLE_KEY, at=2**32 + 29, period=30, t0=29, digits=6, algorithm="sha512")
    def test_totp_equals_reference(
        self, key: bytes, at: int, period: int, t0: int, digits: int, algorithm: str
    ) -> None:
        """TOTP.generate equals the reference TOTP for any key, time, period, t0 and digits."""
        assume(t0 <= at)
        expected = _reference.totp(
            key, at, digits=digits, algorithm=algorithm, period=period, t0=t0
        )
        token = TOTP(key, digits=digits, algorithm=algorithm, period=period, t0=t0)
        assert expected == token.generate(at)


class TestLongCodes:
    """9- and 10-digit codes (RFC 4226 §5.3 allows any reduction of the 31-bit value)."""

    @given(
        key=sts.keys,
        counter=sts.counters,
        digits=st.sampled_from([9, 10]),
        algorithm=sts.algorithms,
    )
    def test_long_code_is_truncated_value_mod_power_of_ten(
        self, key: bytes, counter: int, digits: int, algorithm: str
    ) -> None:
        """A 9- or 10-digit code is the 31-bit truncated value mod 10**digits, zero-padded."""
        # The digest comes from the standard library, so only the truncation is the reference's.
        snum = _reference.truncate(hmac.digest(key, counter.to_bytes(8, "big"), algorithm))
        expected = str(snum % 10**digits).zfill(digits)
        assert expected == HOTP(key, digits=digits, algorithm=algorithm).generate(counter)
