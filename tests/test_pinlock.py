"""Tests for softtoken.pinlock: the PIN policy, PIN verifiers and the lockout state machine (S10).

The accepted-space figures the docs quote come from :class:`TestAcceptedSpace`, which checks them
by brute force over every 4-digit PIN against a predicate written here independently of the
library: 9,970 PINs under the default policy, 9,969 once one previous PIN is remembered, and
9,960 with the built-in common-PIN list on. Five tries then succeed with odds 5/9,970, about
5.0 x 10^-4, for a uniformly chosen PIN.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import struct
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from softtoken import _random, pinlock
from softtoken.exceptions import (
    AttemptNotOpen,
    InvalidInput,
    InvalidPINRecord,
    InvalidTime,
    PINDelayed,
    PINLocked,
    PINNotAccepted,
    PINRejected,
    PINWiped,
    SoftTokenError,
    WrongPIN,
)
from softtoken.pinlock import (
    COMMON_PINS,
    ENTRUST_LIKE,
    INSECURE_TEST_KDF,
    PAYSECURE_LIKE,
    PHONE_KDF,
    Event,
    KDFParams,
    LockoutPolicy,
    LockoutState,
    OnLimit,
    Outcome,
    PINPolicy,
    PINRejection,
    PINVerifier,
    Status,
    begin_attempt,
    enter_pin,
    refusal,
    remaining_tries,
    step,
)
from tests import strategies

R = PINRejection
FAST = INSECURE_TEST_KDF
T0 = 1_700_000_000


def reasons_for(policy: PINPolicy, pin: str, **kwargs: Any) -> frozenset[PINRejection]:
    """The reasons *policy* gives for refusing *pin*, or the empty set when it accepts it."""
    try:
        policy.check(pin, **kwargs)
    except PINRejected as exc:
        return exc.reasons
    return frozenset()


def fast_verifier(pin: str) -> PINVerifier:
    """A verifier with the cheap test parameters."""
    return PINVerifier.create(pin, params=FAST)


# ----------------------------------------------------------------------------------------------
# The independent reference for the 4-digit space: the forbidden PINs are built, not recognised.
# ----------------------------------------------------------------------------------------------


def forbidden_by_shape(length: int) -> set[str]:
    """Every one-digit-repeated PIN and every run, up or down, with 0 following 9."""
    repeated = {str(d) * length for d in range(10)}
    ascending = {"".join(str((start + i) % 10) for i in range(length)) for start in range(10)}
    descending = {pin[::-1] for pin in ascending}
    return repeated | ascending | descending


def all_pins(length: int) -> list[str]:
    """Every string of *length* ASCII digits."""
    return ["".join(digits) for digits in itertools.product("0123456789", repeat=length)]


def accepted(policy: PINPolicy, length: int, **kwargs: Any) -> set[str]:
    """The PINs of *length* that *policy* accepts, by asking it about each one."""
    return {pin for pin in all_pins(length) if not reasons_for(policy, pin, **kwargs)}


# The figure the docs quote for the default policy; the tests below recompute it by brute force.
DOCUMENTED_DEFAULT_ACCEPTED = 9970


class TestAcceptedSpace:
    """Exhaustive checks over the whole 4-digit space."""

    def test_default_policy_accepts_exactly_the_reference_set(self) -> None:
        """The default policy accepts every 4-digit PIN except repeats and (wrapping) runs."""
        expected = set(all_pins(4)) - forbidden_by_shape(4)

        actual = accepted(PINPolicy(), 4)

        assert expected == actual
        assert DOCUMENTED_DEFAULT_ACCEPTED == len(actual)
        assert len(expected) == PINPolicy().accepted_count()

    def test_one_remembered_pin_removes_exactly_that_pin(self) -> None:
        """With one previous PIN remembered, the accepted space loses exactly that PIN."""
        previous_pin = "2468"
        expected = set(all_pins(4)) - forbidden_by_shape(4) - {previous_pin}

        actual = accepted(PINPolicy(), 4, previous=(fast_verifier(previous_pin),))

        assert expected == actual
        assert DOCUMENTED_DEFAULT_ACCEPTED - 1 == len(actual)

    def test_common_pin_list_removes_its_entries_from_the_space(self) -> None:
        """deny_common takes away exactly the common PINs the shape rules let through."""
        policy = PINPolicy(deny_common=True)
        expected = set(all_pins(4)) - forbidden_by_shape(4) - COMMON_PINS

        actual = accepted(policy, 4)

        assert expected == actual
        assert len(expected) == policy.accepted_count()

    def test_accepted_count_matches_brute_force_for_five_digits(self) -> None:
        """accepted_count agrees with brute force over all 100,000 five-digit PINs."""
        policy = PINPolicy(min_length=5, max_length=5, deny_list={"13579", "24680", "12345"})
        expected = set(all_pins(5)) - forbidden_by_shape(5) - {"13579", "24680"}

        actual = accepted(policy, 5)

        assert expected == actual
        assert len(expected) == policy.accepted_count()

    def test_accepted_count_sums_over_lengths(self) -> None:
        """A policy of 4 to 6 digits accepts the sum of what each length accepts."""
        expected = sum(10**n - len(forbidden_by_shape(n)) for n in (4, 5, 6))

        assert expected == PINPolicy(min_length=4, max_length=6).accepted_count()

    def test_five_tries_odds_match_security_md(self) -> None:
        """Five uniform guesses at a default-policy PIN succeed with odds of about 5 x 10^-4."""
        odds = Fraction(5, PINPolicy().accepted_count())

        assert Fraction(5, DOCUMENTED_DEFAULT_ACCEPTED) == odds
        assert Fraction(49, 100_000) < odds < Fraction(51, 100_000)


class TestPINPolicyRules:
    """Each rule of PINPolicy.check and the reasons it reports."""

    @pytest.mark.parametrize("pin", ["1357", "2468", "1235", "0246", "9753", "1122", "0852"])
    def test_ordinary_pins_are_accepted(self, pin: str) -> None:
        """PINs that are neither repeats nor runs pass the default policy."""
        assert frozenset() == reasons_for(PINPolicy(), pin)

    @pytest.mark.parametrize("pin", ["0000", "1111", "9999"])
    def test_one_repeated_digit_is_refused(self, pin: str) -> None:
        """A PIN made of one digit repeated is REPEATED_DIGIT."""
        assert frozenset({R.REPEATED_DIGIT}) == reasons_for(PINPolicy(), pin)

    @pytest.mark.parametrize("pin", ["0123", "1234", "6789", "3210", "4321", "9876"])
    def test_runs_in_either_direction_are_refused(self, pin: str) -> None:
        """Ascending and descending runs of consecutive digits are SEQUENTIAL."""
        assert frozenset({R.SEQUENTIAL}) == reasons_for(PINPolicy(), pin)

    @pytest.mark.parametrize("pin", ["7890", "8901", "9012", "0987", "1098", "2109"])
    def test_runs_wrap_around_from_nine_to_zero(self, pin: str) -> None:
        """Runs wrap: 0 follows 9, so 8901 and 1098 are SEQUENTIAL (the documented decision)."""
        assert frozenset({R.SEQUENTIAL}) == reasons_for(PINPolicy(), pin)

    @pytest.mark.parametrize("pin", ["12a4", "１２３４", "١٢٣٤", "12.4", "1²34"])
    def test_anything_but_ascii_digits_is_refused(self, pin: str) -> None:
        """Letters, punctuation and non-ASCII digits (full-width, Arabic-Indic) are NOT_DIGITS."""
        assert frozenset({R.NOT_DIGITS}) == reasons_for(PINPolicy(), pin)

    @pytest.mark.parametrize("pin", [" 1357", "1357\n", "", "１２３"])
    def test_wrong_length_non_digits_get_both_reasons(self, pin: str) -> None:
        """Nothing is stripped: surrounding space and emptiness are NOT_DIGITS and WRONG_LENGTH."""
        assert frozenset({R.NOT_DIGITS, R.WRONG_LENGTH}) == reasons_for(PINPolicy(), pin)

    @pytest.mark.parametrize(
        ("pin", "expected"),
        [
            ("135", {R.WRONG_LENGTH}),
            ("13579", {R.WRONG_LENGTH}),
            ("123", {R.WRONG_LENGTH, R.SEQUENTIAL}),
            ("11111", {R.WRONG_LENGTH, R.REPEATED_DIGIT}),
        ],
    )
    def test_length_is_checked_alongside_the_digit_rules(
        self, pin: str, expected: set[PINRejection]
    ) -> None:
        """A PIN of the wrong length also gets every digit rule it breaks."""
        assert frozenset(expected) == reasons_for(PINPolicy(), pin)

    def test_longer_policies_judge_runs_over_the_whole_pin(self) -> None:
        """Under a 4-6 digit policy, 123456 is a run but 123457 is not."""
        policy = PINPolicy(min_length=4, max_length=6)

        assert frozenset({R.SEQUENTIAL}) == reasons_for(policy, "123456")
        assert frozenset() == reasons_for(policy, "123457")
        assert frozenset() == reasons_for(policy, "13579")

    def test_every_applicable_reason_is_collected(self) -> None:
        """A PIN that breaks several rules gets all of them, not just the first."""
        policy = PINPolicy(deny_list={"1234"})

        reasons = reasons_for(policy, "1234", previous=(fast_verifier("1234"),))

        assert frozenset({R.SEQUENTIAL, R.DENY_LISTED, R.RECENTLY_USED}) == reasons

    def test_common_list_is_off_by_default(self) -> None:
        """1212, 1004, 2000 and 6969 pass unless deny_common is set."""
        for pin in ("1212", "1004", "2000", "6969"):
            assert frozenset() == reasons_for(PINPolicy(), pin)
            assert frozenset({R.DENY_LISTED}) == reasons_for(PINPolicy(deny_common=True), pin)

    def test_common_list_refuses_every_entry(self) -> None:
        """With deny_common, every built-in common PIN is DENY_LISTED."""
        policy = PINPolicy(deny_common=True)

        for pin in COMMON_PINS:
            assert R.DENY_LISTED in reasons_for(policy, pin)

    def test_custom_deny_list_refuses_its_entries_only(self) -> None:
        """A custom deny-list refuses what it lists and nothing else."""
        policy = PINPolicy(deny_list=["1987", "0412"])

        assert frozenset({R.DENY_LISTED}) == reasons_for(policy, "1987")
        assert frozenset({R.DENY_LISTED}) == reasons_for(policy, "0412")
        assert frozenset() == reasons_for(policy, "1988")

    def test_previous_pin_is_recently_used(self) -> None:
        """The previous PIN is RECENTLY_USED under the default history of one."""
        assert frozenset({R.RECENTLY_USED}) == reasons_for(
            PINPolicy(), "2468", previous=(fast_verifier("2468"),)
        )

    def test_only_the_last_history_pins_are_consulted(self) -> None:
        """With history=1, a PIN older than the most recent one may be chosen again."""
        previous = (fast_verifier("1357"), fast_verifier("2468"))

        assert frozenset() == reasons_for(PINPolicy(history=1), "2468", previous=previous)
        assert frozenset({R.RECENTLY_USED}) == reasons_for(
            PINPolicy(history=2), "2468", previous=previous
        )

    def test_history_zero_ignores_previous_pins(self) -> None:
        """With history=0, the previous PIN may be chosen again."""
        assert frozenset() == reasons_for(
            PINPolicy(history=0), "2468", previous=(fast_verifier("2468"),)
        )

    def test_next_history_keeps_the_newest_first_and_trims(self) -> None:
        """next_history puts the new verifier first and keeps ``history`` of them."""
        a, b, c = fast_verifier("1357"), fast_verifier("2468"), fast_verifier("3579")

        assert (c, b) == PINPolicy(history=2).next_history(c, (b, a))
        assert (c,) == PINPolicy().next_history(c, (b, a))
        assert () == PINPolicy(history=0).next_history(c, (b,))

    def test_pin_as_int_is_a_type_error(self) -> None:
        """An int PIN would lose leading zeros, so it is a TypeError."""
        with pytest.raises(TypeError):
            PINPolicy().check(1357)  # type: ignore[arg-type]

    def test_previous_must_hold_verifiers(self) -> None:
        """Plaintext PINs in the history are a TypeError."""
        with pytest.raises(TypeError):
            PINPolicy().check("1357", previous=["2468"])  # type: ignore[list-item]

    def test_rejection_is_invalid_input(self) -> None:
        """PINRejected is an InvalidInput, so a ValueError."""
        with pytest.raises(ValueError, match="PIN policy") as info:
            PINPolicy().check("1111")

        assert isinstance(info.value, InvalidInput)

    @given(pin=st.text(max_size=16))
    @example(pin="1111")
    @example(pin="2468")
    @example(pin="１２３４")
    def test_rejection_is_constant_and_agrees_with_the_reference(self, pin: str) -> None:
        """Any text is accepted exactly when the reference allows it, and a rejection's message
        is the constant one, never containing the PIN."""
        policy = PINPolicy(deny_common=True)
        allowed = (
            pin.isascii()
            and pin.isdigit()
            and len(pin) == 4
            and pin not in forbidden_by_shape(4) | COMMON_PINS
        )
        if allowed:
            policy.check(pin)
            return

        with pytest.raises(PINRejected) as info:
            policy.check(pin)

        assert (PINRejected.MESSAGE,) == info.value.args
        assert PINRejected.MESSAGE == str(info.value)
        assert info.value.reasons


class TestPINPolicyConstruction:
    """The policy validates itself."""

    def test_defaults_follow_the_seeds(self) -> None:
        """Default: exactly 4 digits, one PIN of history, common list off."""
        policy = PINPolicy()

        assert (4, 4, 1, False, frozenset()) == (
            policy.min_length,
            policy.max_length,
            policy.history,
            policy.deny_common,
            policy.deny_list,
        )

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"min_length": 3},
            {"max_length": 13},
            {"min_length": 13, "max_length": 13},
            {"min_length": 6, "max_length": 5},
            {"history": -1},
            {"history": 11},
            {"deny_list": ["12a4"]},
            {"deny_list": [""]},
            {"deny_list": ["１２３４"]},
        ],
    )
    def test_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """Lengths outside 4-12, min above max, bad history and bad deny entries are refused."""
        with pytest.raises(InvalidInput):
            PINPolicy(**kwargs)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"min_length": True},
            {"max_length": 4.0},
            {"history": "1"},
            {"deny_common": 1},
            {"deny_list": "1234"},
            {"deny_list": [1234]},
        ],
    )
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """Booleans as counts, a bare string as the deny-list and int entries are TypeErrors."""
        with pytest.raises(TypeError):
            PINPolicy(**kwargs)

    def test_twelve_digits_is_the_longest_policy(self) -> None:
        """4 to 12 digits is accepted."""
        assert 12 == PINPolicy(min_length=4, max_length=12).max_length

    def test_deny_list_error_and_repr_never_show_entries(self) -> None:
        """Deny-list entries appear in neither a validation error nor the repr."""
        with pytest.raises(InvalidInput) as info:
            PINPolicy(deny_list=["19x7"])
        assert "19x7" not in str(info.value)
        assert "0412" not in repr(PINPolicy(deny_list=["0412"]))


class TestKDFParams:
    """scrypt parameters are versioned and bounded."""

    def test_phone_default_is_n_2_15_r_8_p_1(self) -> None:
        """The default phone parameters are N=2^15, r=8, p=1, 16-byte salt, 32-byte hash."""
        assert (15, 8, 1, 16, 32, 1) == (
            PHONE_KDF.log2_n,
            PHONE_KDF.r,
            PHONE_KDF.p,
            PHONE_KDF.salt_length,
            PHONE_KDF.hash_length,
            PHONE_KDF.version,
        )

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"log2_n": 0, "r": 8, "p": 1},
            {"log2_n": 21, "r": 8, "p": 1},
            {"log2_n": 16, "r": 1, "p": 1},
            {"log2_n": 20, "r": 8, "p": 1},
            {"log2_n": 4, "r": 0, "p": 1},
            {"log2_n": 4, "r": 33, "p": 1},
            {"log2_n": 4, "r": 8, "p": 0},
            {"log2_n": 4, "r": 8, "p": 17},
            {"log2_n": 4, "r": 8, "p": 1, "salt_length": 15},
            {"log2_n": 4, "r": 8, "p": 1, "hash_length": 65},
            {"log2_n": 4, "r": 8, "p": 1, "version": 2},
        ],
    )
    def test_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """N too big for r (RFC 7914 §2), over 128 MiB, or any field out of range is refused."""
        with pytest.raises(InvalidInput):
            KDFParams(**kwargs)

    def test_booleans_are_type_errors(self) -> None:
        """A bool is not an int parameter."""
        with pytest.raises(TypeError):
            KDFParams(log2_n=4, r=True, p=1)

    def test_scrypt_parameters_reach_scrypt_in_order(self) -> None:
        """RFC 7914 §12, second vector: log2_n, r and p map to N, r and p."""
        params = KDFParams(log2_n=10, r=8, p=16, hash_length=64)
        expected = bytes.fromhex(
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        )

        assert expected == pinlock._derive("password", b"NaCl", params)


class TestPINVerifier:
    """Salted scrypt verifiers: creation, comparison and encoding."""

    def test_matches_its_own_pin(self) -> None:
        """A verifier matches the PIN it was made from."""
        assert fast_verifier("2468").matches("2468")

    @given(pin=strategies.pins, other=strategies.pins)
    def test_never_matches_another_pin(self, pin: str, other: str) -> None:
        """A verifier matches no PIN other than its own."""
        assume(pin != other)

        assert not fast_verifier(pin).matches(other)

    def test_default_phone_parameters_work(self) -> None:
        """The default PHONE_KDF parameters create and match a verifier."""
        verifier = PINVerifier.create("2468")

        assert PHONE_KDF == verifier.params
        assert verifier.matches("2468")
        assert not verifier.matches("2469")

    def test_salt_comes_from_the_randomness_helper(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The salt is exactly what softtoken._random supplies."""
        monkeypatch.setattr(_random, "_source", lambda n: b"\xa5" * n)

        assert b"\xa5" * 16 == fast_verifier("2468").salt

    def test_same_pin_gives_different_verifiers(self) -> None:
        """Two verifiers of one PIN differ in salt and hash."""
        first, second = fast_verifier("2468"), fast_verifier("2468")

        assert first != second
        assert first.digest != second.digest

    def test_compare_goes_through_compare_digest(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """matches compares the hashes with hmac.compare_digest and returns its answer."""
        verifier = fast_verifier("2468")
        calls: list[tuple[bytes, bytes]] = []

        def spy(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return False

        monkeypatch.setattr(pinlock, "compare_digest", spy)

        assert not verifier.matches("2468")
        assert [(verifier.digest, verifier.digest)] == calls

    @pytest.mark.parametrize("pin", ["", "246", "1234567890123", "24a8", "２４６８"])
    def test_impossible_pins_match_nothing_without_hashing(
        self, pin: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Text that is not 4-12 ASCII digits is answered False and never hashed."""
        verifier = fast_verifier("2468")
        hashed: list[str] = []

        def recording(pin: str, salt: bytes, params: KDFParams) -> bytes:
            hashed.append(pin)
            return b""

        monkeypatch.setattr(pinlock, "_derive", recording)

        assert not verifier.matches(pin)
        assert [] == hashed

    @pytest.mark.parametrize("pin", ["", "246", "1234567890123", "24a8", "２４６８"])
    def test_create_refuses_what_is_not_a_pin(self, pin: str) -> None:
        """create takes 4 to 12 ASCII digits only, and its error never echoes the input."""
        with pytest.raises(InvalidInput) as info:
            PINVerifier.create(pin, params=FAST)

        assert "4 to 12 ASCII digits" in str(info.value)

    def test_int_pins_are_type_errors(self) -> None:
        """Neither create nor matches takes an int."""
        with pytest.raises(TypeError):
            PINVerifier.create(2468, params=FAST)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            fast_verifier("2468").matches(2468)  # type: ignore[arg-type]

    def test_repr_hides_salt_and_hash(self) -> None:
        """The repr shows the parameters and neither the salt nor the hash."""
        verifier = fast_verifier("2468")
        text = repr(verifier)

        assert "log2_n=4" in text
        assert "salt=" not in text
        assert "digest=" not in text
        assert verifier.salt.hex() not in text
        assert repr(verifier.salt) not in text

    def test_round_trips_through_bytes(self) -> None:
        """from_bytes(to_bytes()) gives an equal verifier that still matches."""
        verifier = fast_verifier("2468")

        decoded = PINVerifier.from_bytes(verifier.to_bytes())

        assert verifier == decoded
        assert decoded.matches("2468")

    def test_encoding_layout(self) -> None:
        """The encoding is b"PV", six parameter bytes, the salt and the hash."""
        verifier = fast_verifier("2468")

        expected = b"PV" + bytes([1, 4, 8, 1, 16, 32]) + verifier.salt + verifier.digest

        assert expected == verifier.to_bytes()

    def test_every_truncation_is_a_typed_error(self) -> None:
        """Every proper prefix of an encoding raises InvalidPINRecord."""
        data = fast_verifier("2468").to_bytes()

        for end in range(len(data)):
            with pytest.raises(InvalidPINRecord):
                PINVerifier.from_bytes(data[:end])

    @pytest.mark.parametrize(
        ("index", "value"),
        [(0, ord("X")), (2, 0), (2, 2), (3, 0), (3, 21), (4, 0), (5, 17), (6, 8), (7, 99)],
    )
    def test_tampered_header_is_a_typed_error(self, index: int, value: int) -> None:
        """A changed tag, version or parameter byte raises InvalidPINRecord."""
        data = bytearray(fast_verifier("2468").to_bytes())
        data[index] = value

        with pytest.raises(InvalidPINRecord):
            PINVerifier.from_bytes(bytes(data))

    def test_extra_bytes_are_a_typed_error(self) -> None:
        """A trailing byte raises InvalidPINRecord."""
        with pytest.raises(InvalidPINRecord):
            PINVerifier.from_bytes(fast_verifier("2468").to_bytes() + b"\x00")

    def test_tampered_hash_decodes_but_matches_nothing(self) -> None:
        """A flipped hash bit cannot be seen without a MAC, so the verifier fails closed."""
        data = bytearray(fast_verifier("2468").to_bytes())
        data[-1] ^= 1

        assert not PINVerifier.from_bytes(bytes(data)).matches("2468")

    def test_only_bytes_are_decoded(self) -> None:
        """A bytearray is a TypeError, not a silent copy."""
        with pytest.raises(TypeError):
            PINVerifier.from_bytes(bytearray(fast_verifier("2468").to_bytes()))  # type: ignore[arg-type]

    @given(data=st.binary(max_size=120))
    @example(data=b"PV\x01\x14\x08\x01\x10\x20")
    def test_from_bytes_raises_only_its_own_error(self, data: bytes) -> None:
        """Arbitrary bytes decode or raise InvalidPINRecord; nothing else escapes."""
        try:
            verifier = PINVerifier.from_bytes(data)
        except InvalidPINRecord:
            return
        assert data == verifier.to_bytes()

    def test_needs_rehash_when_parameters_change(self) -> None:
        """needs_rehash is true exactly when the parameters differ."""
        verifier = fast_verifier("2468")

        assert verifier.needs_rehash(PHONE_KDF)
        assert not verifier.needs_rehash(FAST)

    def test_constructor_checks_lengths(self) -> None:
        """A salt or hash that does not fit the parameters is refused."""
        with pytest.raises(InvalidInput):
            PINVerifier(FAST, b"\x00" * 15, b"\x00" * 32)


class TestLockoutPolicy:
    """The lockout policy validates itself and describes its delays."""

    def test_defaults_are_five_failures_then_lock_without_delay(self) -> None:
        """Default: 5 wrong PINs, then LOCK, no delays."""
        policy = LockoutPolicy()

        assert (5, OnLimit.LOCK, ()) == (policy.max_failures, policy.on_limit, policy.delays)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"max_failures": 0},
            {"max_failures": 11},
            {"delays": (-1,)},
            {"delays": (86_401,)},
            {"max_failures": 2, "delays": (1, 2)},
            {"max_failures": 1, "delays": (1,)},
        ],
    )
    def test_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """Failures outside 1-10, bad delays and too long a schedule are refused."""
        with pytest.raises(InvalidInput):
            LockoutPolicy(**kwargs)

    @pytest.mark.parametrize(
        "kwargs", [{"max_failures": True}, {"on_limit": "lock"}, {"delays": (1.5,)}]
    )
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """A bool count, a plain string for on_limit and float delays are TypeErrors."""
        with pytest.raises(TypeError):
            LockoutPolicy(**kwargs)

    def test_delay_schedule_repeats_its_last_entry(self) -> None:
        """delays[k - 1] follows failure k, and the last entry repeats past the end."""
        policy = LockoutPolicy(max_failures=6, delays=[0, 30, 60])

        assert [0, 0, 30, 60, 60, 60] == [policy.delay_after(k) for k in range(6)]
        assert 0 == LockoutPolicy().delay_after(3)


class TestLockoutState:
    """The persisted lockout state and its strict encoding."""

    def test_fresh_state_is_active_and_clean(self) -> None:
        """LockoutState() is ACTIVE with no failures, episode, delay, open attempt or version."""
        assert (Status.ACTIVE, 0, 0, 0, False, 0) == attrs.astuple(LockoutState(), recurse=False)

    @given(
        status=st.sampled_from(Status),
        failures=st.integers(0, 2**16 - 1),
        episode=st.integers(1, 2**32 - 1),
        not_before=st.integers(0, 2**64 - 1),
        attempt_open=st.booleans(),
        version=st.integers(0, 2**64 - 1),
    )
    def test_round_trips_through_bytes(
        self,
        status: Status,
        failures: int,
        episode: int,
        not_before: int,
        attempt_open: bool,
        version: int,
    ) -> None:
        """Every valid state decodes to itself from its 27-byte encoding."""
        if status is not Status.ACTIVE:
            not_before = 0
            attempt_open = False
        if attempt_open:
            not_before = 0
        state = LockoutState(
            status=status,
            failures=failures,
            episode=episode,
            not_before=not_before,
            attempt_open=attempt_open,
            version=version,
        )

        data = state.to_bytes()

        assert 27 == len(data)
        assert state == LockoutState.from_bytes(data)

    def test_encoding_layout(self) -> None:
        """The documented layout: tag, format 2, status, flags, failures, episode, not_before,
        version, big-endian."""
        state = LockoutState(failures=2, episode=3, attempt_open=True, version=7)

        expected = b"PL" + bytes([2, 0, 1]) + (2).to_bytes(2, "big") + (3).to_bytes(4, "big")
        expected += (0).to_bytes(8, "big") + (7).to_bytes(8, "big")
        assert expected == state.to_bytes()

    @pytest.mark.parametrize(
        "fields",
        [
            ("XL", 2, 0, 0, 0, 0, 0, 0),
            ("PL", 1, 0, 0, 0, 0, 0, 0),
            ("PL", 3, 0, 0, 0, 0, 0, 0),
            ("PL", 2, 3, 0, 0, 0, 0, 0),
            ("PL", 2, 0, 2, 0, 0, 0, 0),
            ("PL", 2, 0, 0x81, 0, 0, 0, 0),
            ("PL", 2, 1, 0, 5, 0, 0, 0),
            ("PL", 2, 2, 0, 5, 1, 7, 0),
            ("PL", 2, 1, 1, 5, 1, 0, 0),
            ("PL", 2, 2, 1, 5, 0, 0, 0),
            ("PL", 2, 0, 1, 1, 0, 9, 0),
        ],
        ids=[
            "tag",
            "format-1",
            "format-3",
            "status",
            "unknown-flag",
            "flag-bits-beyond-the-first",
            "locked-without-episode",
            "wiped-with-delay",
            "locked-with-open-attempt",
            "wiped-with-open-attempt",
            "open-attempt-with-delay",
        ],
    )
    def test_bad_fields_are_typed_errors(self, fields: tuple[Any, ...]) -> None:
        """A wrong tag, format, status or flags, or inconsistent fields raise InvalidPINRecord."""
        tag, *rest = fields
        data = struct.pack(">2sBBBHIQQ", tag.encode(), *rest)

        with pytest.raises(InvalidPINRecord):
            LockoutState.from_bytes(data)

    def test_format_one_is_refused(self) -> None:
        """A 26-byte format-1 state, from before open attempts were recorded, is refused."""
        data = struct.pack(">2sBBHIQQ", b"PL", 1, 0, 0, 0, 0, 0)

        with pytest.raises(InvalidPINRecord):
            LockoutState.from_bytes(data)

    def test_wrong_length_is_a_typed_error(self) -> None:
        """One byte too few or too many raises InvalidPINRecord."""
        data = LockoutState().to_bytes()

        for bad in (data[:-1], data + b"\x00", b""):
            with pytest.raises(InvalidPINRecord):
                LockoutState.from_bytes(bad)

    @given(data=st.binary(max_size=40))
    def test_from_bytes_raises_only_its_own_error(self, data: bytes) -> None:
        """Arbitrary bytes decode to a state that re-encodes the same, or raise InvalidPINRecord."""
        try:
            state = LockoutState.from_bytes(data)
        except InvalidPINRecord:
            return
        assert data == state.to_bytes()

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"failures": -1},
            {"episode": 2**32},
            {"status": Status.LOCKED},
            {"version": 2**64},
            {"status": Status.LOCKED, "episode": 1, "attempt_open": True},
            {"status": Status.WIPED, "attempt_open": True},
            {"not_before": 5, "attempt_open": True},
        ],
    )
    def test_constructor_refuses_out_of_range(self, kwargs: dict[str, Any]) -> None:
        """Values that cannot be encoded, a lock without an episode, or an open attempt that is
        not ACTIVE or has a delay, are refused."""
        with pytest.raises(InvalidInput):
            LockoutState(**kwargs)

    def test_attempt_open_must_be_bool(self) -> None:
        """attempt_open=1 is a TypeError, not a truthy flag."""
        with pytest.raises(TypeError):
            LockoutState(attempt_open=1)  # type: ignore[arg-type]


def run(
    policy: LockoutPolicy, state: LockoutState, *events: tuple[Event, int]
) -> tuple[list[Outcome], LockoutState]:
    """Step through (event, time) pairs; return the outcomes and the final state."""
    outcomes = []
    for event, now in events:
        outcome, state = step(policy, state, event, now)
        outcomes.append(outcome)
    return outcomes, state


WRONG = Event.WRONG_PIN
GOOD = Event.GOOD_PIN
BEGIN = Event.BEGIN
OPEN = LockoutState(attempt_open=True, version=1)


class TestStep:
    """The lockout transition function, case by case."""

    def test_fifth_wrong_pin_locks_in_a_new_episode(self) -> None:
        """Four wrong PINs are REJECTED; the fifth gives LOCKED_NOW and episode 1."""
        outcomes, state = run(LockoutPolicy(), LockoutState(), *[(WRONG, T0)] * 5)

        assert [Outcome.REJECTED] * 4 + [Outcome.LOCKED_NOW] == outcomes
        assert (Status.LOCKED, 5, 1) == (state.status, state.failures, state.episode)

    def test_fifth_wrong_pin_wipes_under_wipe_policy(self) -> None:
        """Under OnLimit.WIPE, the fifth wrong PIN gives WIPED_NOW."""
        outcomes, state = run(PAYSECURE_LIKE.lockout, LockoutState(), *[(WRONG, T0)] * 5)

        assert Outcome.WIPED_NOW == outcomes[-1]
        assert Status.WIPED == state.status

    def test_good_pin_resets_the_count(self) -> None:
        """A good PIN after four wrong ones clears the count, so five more are needed to lock."""
        events = [(WRONG, T0)] * 4 + [(GOOD, T0)] + [(WRONG, T0)] * 4

        outcomes, state = run(LockoutPolicy(), LockoutState(), *events)

        assert Outcome.ACCEPTED == outcomes[4]
        assert (Status.ACTIVE, 4) == (state.status, state.failures)

    def test_locked_state_ignores_pins(self) -> None:
        """While LOCKED, good and wrong PINs are STILL_LOCKED and change nothing."""
        locked = LockoutState(status=Status.LOCKED, failures=5, episode=1, version=5)

        for event in (GOOD, WRONG):
            assert (Outcome.STILL_LOCKED, locked) == step(LockoutPolicy(), locked, event, T0)

    def test_unlock_reopens_and_keeps_the_episode(self) -> None:
        """UNLOCK on a LOCKED state gives ACTIVE, no failures, the same episode."""
        locked = LockoutState(status=Status.LOCKED, failures=5, episode=3, version=9)

        outcome, state = step(LockoutPolicy(), locked, Event.UNLOCK, T0)

        assert Outcome.UNLOCKED == outcome
        assert LockoutState(status=Status.ACTIVE, failures=0, episode=3, version=10) == state

    def test_next_lock_is_a_new_episode(self) -> None:
        """Lock, unlock, lock again: the episode goes 1, 1, 2."""
        policy = LockoutPolicy(max_failures=2)
        _, first = run(policy, LockoutState(), (WRONG, T0), (WRONG, T0))
        _, unlocked = run(policy, first, (Event.UNLOCK, T0))
        _, second = run(policy, unlocked, (WRONG, T0), (WRONG, T0))

        assert [1, 1, 2] == [first.episode, unlocked.episode, second.episode]

    def test_unlock_while_active_changes_nothing(self) -> None:
        """UNLOCK on an ACTIVE state is NOT_LOCKED and returns the same state."""
        state = LockoutState(failures=2, version=2)

        assert (Outcome.NOT_LOCKED, state) == step(LockoutPolicy(), state, Event.UNLOCK, T0)

    @pytest.mark.parametrize("status", [Status.ACTIVE, Status.LOCKED])
    def test_wipe_event_wipes(self, status: Status) -> None:
        """WIPE wipes an ACTIVE or LOCKED state."""
        state = LockoutState(status=status, episode=1)

        outcome, wiped = step(LockoutPolicy(), state, Event.WIPE, T0)

        assert (Outcome.WIPED_NOW, Status.WIPED) == (outcome, wiped.status)

    @pytest.mark.parametrize("event", list(Event))
    def test_wiped_is_terminal(self, event: Event) -> None:
        """Every event on a WIPED state gives WIPED and the same state."""
        wiped = LockoutState(status=Status.WIPED, failures=5)

        assert (Outcome.WIPED, wiped) == step(LockoutPolicy(), wiped, event, T0)

    def test_delay_refuses_attempts_until_it_passes(self) -> None:
        """After a wrong PIN with a 30 s delay, attempts are TOO_SOON until 30 s have passed."""
        policy = LockoutPolicy(delays=[30])
        _, waiting = run(policy, LockoutState(), (WRONG, T0))

        assert T0 + 30 == waiting.not_before
        for event in (GOOD, WRONG):
            assert (Outcome.TOO_SOON, waiting) == step(policy, waiting, event, T0 + 29)
        outcome, after = step(policy, waiting, GOOD, T0 + 30)
        assert (Outcome.ACCEPTED, 0, 0) == (outcome, after.failures, after.not_before)

    def test_clock_moved_back_caps_the_wait(self) -> None:
        """If the clock goes back a year, the wait is capped at the delay counted from now."""
        policy = LockoutPolicy(delays=[30])
        _, waiting = run(policy, LockoutState(), (WRONG, T0))
        earlier = T0 - 365 * 86_400

        outcome, capped = step(policy, waiting, WRONG, earlier)

        assert (Outcome.TOO_SOON, earlier + 30) == (outcome, capped.not_before)
        assert waiting.version + 1 == capped.version

    def test_version_grows_only_on_change(self) -> None:
        """A change bumps the version by one; a no-op returns the identical state."""
        fresh = LockoutState()

        _, accepted_state = step(LockoutPolicy(), fresh, GOOD, T0)
        _, rejected_state = step(LockoutPolicy(), fresh, WRONG, T0)

        assert fresh is accepted_state
        assert 1 == rejected_state.version

    def test_aware_datetime_is_accepted_as_time(self) -> None:
        """now may be an aware datetime, read as Unix seconds."""
        policy = LockoutPolicy(delays=[30])
        at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

        _, state = step(policy, LockoutState(), WRONG, at)

        assert int(at.timestamp()) + 30 == state.not_before

    def test_naive_datetime_is_invalid_time(self) -> None:
        """A naive datetime is refused."""
        with pytest.raises(InvalidTime):
            step(LockoutPolicy(), LockoutState(), WRONG, dt.datetime(2024, 1, 1))

    @pytest.mark.parametrize(
        "args",
        [
            ("policy", LockoutState(), WRONG, T0),
            (LockoutPolicy(), "state", WRONG, T0),
            (LockoutPolicy(), LockoutState(), "wrong_pin", T0),
            (LockoutPolicy(), LockoutState(), WRONG, 1.5),
        ],
    )
    def test_wrong_types_are_type_errors(self, args: tuple[Any, ...]) -> None:
        """Every argument is type-checked."""
        with pytest.raises(TypeError):
            step(*args)

    def test_tightened_policy_locks_on_the_next_wrong_pin(self) -> None:
        """A stored count above a lowered limit locks at the next wrong PIN, not later."""
        state = LockoutState(failures=7)

        assert 1 == remaining_tries(LockoutPolicy(), state)
        assert Outcome.LOCKED_NOW == step(LockoutPolicy(), state, WRONG, T0)[0]

    def test_remaining_tries_counts_down_to_zero(self) -> None:
        """remaining_tries goes 5, 4, 3, 2, 1, then 0 once locked."""
        policy, state, seen = LockoutPolicy(), LockoutState(), []
        for _ in range(5):
            seen.append(remaining_tries(policy, state))
            _, state = step(policy, state, WRONG, T0)
        seen.append(remaining_tries(policy, state))

        assert [5, 4, 3, 2, 1, 0] == seen

    def test_refusal_matches_step(self) -> None:
        """refusal is None when step would evaluate, and step's answer when it would not."""
        policy = LockoutPolicy(delays=[30])
        _, waiting = run(policy, LockoutState(), (WRONG, T0))

        assert step(policy, waiting, WRONG, T0 + 1) == refusal(policy, waiting, T0 + 1)
        assert refusal(policy, waiting, T0 + 30) is None


class TestBeginEvent:
    """BEGIN opens an attempt before a PIN is compared, and counts an interrupted one."""

    def test_begin_opens_an_attempt(self) -> None:
        """BEGIN on a clean state is OPENED: attempt_open, nothing counted, one version on."""
        outcome, state = step(LockoutPolicy(), LockoutState(), BEGIN, T0)

        assert (Outcome.OPENED, OPEN) == (outcome, state)

    def test_interrupted_attempt_counts_as_a_wrong_pin(self) -> None:
        """BEGIN on an open attempt counts it as one wrong PIN, then opens the next, as one
        change."""
        outcome, state = step(LockoutPolicy(), OPEN, BEGIN, T0)

        assert Outcome.OPENED == outcome
        assert LockoutState(failures=1, attempt_open=True, version=2) == state

    @pytest.mark.parametrize(
        ("policy", "last", "status"),
        [
            (ENTRUST_LIKE.lockout, Outcome.LOCKED_NOW, Status.LOCKED),
            (PAYSECURE_LIKE.lockout, Outcome.WIPED_NOW, Status.WIPED),
        ],
        ids=["entrust-locks", "paysecure-wipes"],
    )
    def test_five_interrupted_attempts_reach_the_limit(
        self, policy: LockoutPolicy, last: Outcome, status: Status
    ) -> None:
        """Five attempts opened and never finished lock (or wipe) at the sixth BEGIN, which
        opens nothing."""
        outcomes, state = run(policy, LockoutState(), *[(BEGIN, T0)] * 6)

        assert [Outcome.OPENED] * 5 + [last] == outcomes
        assert (status, 5, False) == (state.status, state.failures, state.attempt_open)

    def test_interrupted_attempts_lock_in_a_new_episode(self) -> None:
        """A lock reached through interrupted attempts is a new episode, like any other."""
        _, state = run(ENTRUST_LIKE.lockout, LockoutState(), *[(BEGIN, T0)] * 6)

        assert 1 == state.episode

    @pytest.mark.parametrize(
        ("state", "outcome"),
        [
            (LockoutState(status=Status.LOCKED, failures=5, episode=1), Outcome.STILL_LOCKED),
            (LockoutState(status=Status.WIPED, failures=5), Outcome.WIPED),
            (LockoutState(failures=1, not_before=T0 + 30), Outcome.TOO_SOON),
        ],
        ids=["locked", "wiped", "waiting"],
    )
    def test_refused_states_open_nothing(self, state: LockoutState, outcome: Outcome) -> None:
        """BEGIN is refused exactly as refusal() refuses a PIN, and changes nothing."""
        policy = LockoutPolicy(delays=[30])

        assert (outcome, state) == step(policy, state, BEGIN, T0)
        assert refusal(policy, state, T0) == step(policy, state, BEGIN, T0)

    def test_interrupted_attempt_starts_the_delay(self) -> None:
        """Counting an interrupted attempt starts its delay, so the new attempt is TOO_SOON."""
        policy = LockoutPolicy(delays=[30])

        outcome, state = step(policy, OPEN, BEGIN, T0)

        assert (Outcome.TOO_SOON, 1, T0 + 30, False) == (
            outcome,
            state.failures,
            state.not_before,
            state.attempt_open,
        )

    def test_begin_after_the_delay_clears_it(self) -> None:
        """Once the wait has passed, BEGIN opens an attempt and clears the stale not_before."""
        waiting = LockoutState(failures=1, not_before=T0 + 30)

        outcome, state = step(LockoutPolicy(delays=[30]), waiting, BEGIN, T0 + 30)

        assert (Outcome.OPENED, 0, True) == (outcome, state.not_before, state.attempt_open)

    @pytest.mark.parametrize(
        ("event", "outcome", "failures"),
        [(GOOD, Outcome.ACCEPTED, 0), (WRONG, Outcome.REJECTED, 3)],
    )
    def test_evaluating_a_pin_closes_the_attempt(
        self, event: Event, outcome: Outcome, failures: int
    ) -> None:
        """A good or wrong PIN closes the open attempt, counting as it always does."""
        opened = LockoutState(failures=2, attempt_open=True, version=4)

        result, state = step(LockoutPolicy(), opened, event, T0)

        assert (outcome, failures, False, 5) == (
            result,
            state.failures,
            state.attempt_open,
            state.version,
        )

    def test_step_does_not_require_an_open_attempt(self) -> None:
        """The low-level step still evaluates PINs without an attempt; enter_pin does not."""
        assert Outcome.REJECTED == step(LockoutPolicy(), LockoutState(), WRONG, T0)[0]

    def test_wipe_closes_the_attempt(self) -> None:
        """WIPE from an open attempt leaves a WIPED state with no attempt open."""
        outcome, state = step(LockoutPolicy(), OPEN, Event.WIPE, T0)

        assert (Outcome.WIPED_NOW, Status.WIPED, False) == (
            outcome,
            state.status,
            state.attempt_open,
        )

    def test_clock_moved_back_never_refuses_an_open_attempt(self) -> None:
        """An open attempt has no delay, so a PIN typed at an earlier clock is still evaluated."""
        policy = LockoutPolicy(delays=[30])
        _, opened = step(policy, LockoutState(failures=1, not_before=T0), BEGIN, T0)

        assert Outcome.REJECTED == step(policy, opened, WRONG, T0 - 86_400)[0]


# States in which no PIN may be evaluated, with the error and outcome each must give.
REFUSED_STATES = [
    (LockoutState(status=Status.LOCKED, episode=1), PINLocked, Outcome.STILL_LOCKED),
    (LockoutState(status=Status.WIPED), PINWiped, Outcome.WIPED),
    (LockoutState(failures=1, not_before=T0 + 30), PINDelayed, Outcome.TOO_SOON),
]


class TestBeginAttempt:
    """The safe path's first half: open, or raise as enter_pin raises, with the state to store."""

    def test_returns_the_opened_state(self) -> None:
        """On a usable state it returns what step(BEGIN) gives."""
        assert OPEN == begin_attempt(LockoutPolicy(), LockoutState(), T0)

    @pytest.mark.parametrize(("state", "error", "outcome"), REFUSED_STATES)
    def test_refusals_raise_like_enter_pin(
        self, state: LockoutState, error: type[PINNotAccepted], outcome: Outcome
    ) -> None:
        """Locked, wiped and waiting states raise the error enter_pin raises, with the state."""
        with pytest.raises(error) as info:
            begin_attempt(LockoutPolicy(delays=[30]), state, T0)

        assert (outcome, state) == (info.value.outcome, info.value.state)

    @pytest.mark.parametrize(
        ("policy", "error", "outcome"),
        [
            (ENTRUST_LIKE.lockout, PINLocked, Outcome.LOCKED_NOW),
            (PAYSECURE_LIKE.lockout, PINWiped, Outcome.WIPED_NOW),
        ],
    )
    def test_interrupted_last_attempt_raises_with_the_limit_state(
        self, policy: LockoutPolicy, error: type[PINNotAccepted], outcome: Outcome
    ) -> None:
        """An interrupted fifth attempt raises LOCKED_NOW or WIPED_NOW, carrying the state."""
        opened = LockoutState(failures=4, attempt_open=True, version=8)

        with pytest.raises(error) as info:
            begin_attempt(policy, opened, T0)

        assert (outcome, 5, 9) == (
            info.value.outcome,
            info.value.state.failures,
            info.value.state.version,
        )

    def test_wrong_types_are_type_errors(self) -> None:
        """The policy and the state are type-checked."""
        with pytest.raises(TypeError):
            begin_attempt("policy", LockoutState(), T0)  # type: ignore[arg-type]


class TestLockoutProperties:
    """Invariants of step over random event sequences."""

    @given(
        fields=strategies.lockout_policy_fields,
        gaps=st.lists(st.integers(-60, 120), min_size=1, max_size=40),
    )
    def test_only_max_failures_wrong_pins_are_evaluated_before_the_limit(
        self, fields: dict[str, Any], gaps: list[int]
    ) -> None:
        """An attacker entering only wrong PINs gets exactly max_failures evaluated, whatever
        the timing; everything after is refused unevaluated."""
        policy = LockoutPolicy(**{**fields, "on_limit": OnLimit(fields["on_limit"])})
        state, now, evaluated = LockoutState(), T0, 0
        for gap in gaps:
            now = max(0, now + gap)
            outcome, state = step(policy, state, WRONG, now)
            if outcome in {Outcome.REJECTED, Outcome.LOCKED_NOW, Outcome.WIPED_NOW}:
                evaluated += 1

        assert evaluated <= policy.max_failures
        assert (evaluated == policy.max_failures) == (state.status is not Status.ACTIVE)

    @given(
        fields=strategies.lockout_policy_fields,
        gaps=st.lists(st.integers(-60, 120), min_size=1, max_size=40),
    )
    def test_only_max_failures_attempts_open_when_no_result_is_ever_stored(
        self, fields: dict[str, Any], gaps: list[int]
    ) -> None:
        """An attacker who opens attempts and kills the app before any result is stored gets
        at most max_failures attempts (so PIN checks), whatever the timing."""
        policy = LockoutPolicy(**{**fields, "on_limit": OnLimit(fields["on_limit"])})
        state, now, opened = LockoutState(), T0, 0
        for gap in gaps:
            now = max(0, now + gap)
            outcome, state = step(policy, state, BEGIN, now)
            opened += outcome is Outcome.OPENED

        assert opened <= policy.max_failures

    @given(
        fields=strategies.lockout_policy_fields,
        gaps=st.lists(st.integers(-60, 120), min_size=1, max_size=40),
    )
    def test_every_abandoned_attempt_is_counted_or_still_open(
        self, fields: dict[str, Any], gaps: list[int]
    ) -> None:
        """After any run of BEGINs, each attempt opened is a counted failure or the open one."""
        policy = LockoutPolicy(**{**fields, "on_limit": OnLimit(fields["on_limit"])})
        state, now, opened = LockoutState(), T0, 0
        for gap in gaps:
            now = max(0, now + gap)
            outcome, state = step(policy, state, BEGIN, now)
            opened += outcome is Outcome.OPENED

        assert opened == state.failures + state.attempt_open


class TestEnterPIN:
    """The safe path: refuse before hashing, require an open attempt, compare, step, raise with
    the state to store."""

    @pytest.fixture
    def verifier(self) -> PINVerifier:
        """A cheap verifier of 2468."""
        return fast_verifier("2468")

    @pytest.fixture
    def hashed(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        """Records every PIN that PINVerifier.matches is asked about."""
        calls: list[str] = []
        original: Callable[[PINVerifier, str], bool] = PINVerifier.matches

        def counting(self: PINVerifier, pin: str) -> bool:
            calls.append("called")
            return original(self, pin)

        monkeypatch.setattr(PINVerifier, "matches", counting)
        return calls

    def test_good_pin_returns_the_reset_state(self, verifier: PINVerifier) -> None:
        """A good PIN returns the next state, with the count cleared and the attempt closed."""
        state = LockoutState(failures=3, attempt_open=True, version=3)

        new = enter_pin("2468", verifier=verifier, policy=LockoutPolicy(), state=state, now=T0)

        assert LockoutState(failures=0, version=4) == new

    def test_wrong_pin_raises_with_the_counted_state(self, verifier: PINVerifier) -> None:
        """A wrong PIN raises WrongPIN carrying REJECTED and the counted, closed state."""
        with pytest.raises(WrongPIN) as info:
            enter_pin("1357", verifier=verifier, policy=LockoutPolicy(), state=OPEN, now=T0)

        assert (Outcome.REJECTED, 1, False) == (
            info.value.outcome,
            info.value.state.failures,
            info.value.state.attempt_open,
        )
        assert "1357" not in str(info.value)

    def test_last_wrong_pin_raises_locked(self, verifier: PINVerifier) -> None:
        """The fifth wrong PIN raises PINLocked with the LOCKED state."""
        with pytest.raises(PINLocked) as info:
            enter_pin(
                "1357",
                verifier=verifier,
                policy=LockoutPolicy(),
                state=LockoutState(failures=4, attempt_open=True),
                now=T0,
            )

        assert (Outcome.LOCKED_NOW, Status.LOCKED) == (
            info.value.outcome,
            info.value.state.status,
        )

    def test_last_wrong_pin_raises_wiped_under_wipe(self, verifier: PINVerifier) -> None:
        """Under a PaySecure-like policy, the fifth wrong PIN raises PINWiped."""
        with pytest.raises(PINWiped) as info:
            enter_pin(
                "1357",
                verifier=verifier,
                policy=PAYSECURE_LIKE.lockout,
                state=LockoutState(failures=4, attempt_open=True),
                now=T0,
            )

        assert Outcome.WIPED_NOW == info.value.outcome

    @pytest.mark.parametrize(("state", "error", "outcome"), REFUSED_STATES)
    def test_refused_states_never_hash_the_pin(
        self,
        verifier: PINVerifier,
        hashed: list[str],
        state: LockoutState,
        error: type[PINNotAccepted],
        outcome: Outcome,
    ) -> None:
        """Locked, wiped and waiting states refuse even the right PIN without evaluating it."""
        policy = LockoutPolicy(delays=[30])

        with pytest.raises(error) as info:
            enter_pin("2468", verifier=verifier, policy=policy, state=state, now=T0)

        assert [] == hashed
        assert (outcome, state) == (info.value.outcome, info.value.state)

    def test_every_refusal_is_a_softtoken_error(self, verifier: PINVerifier) -> None:
        """PINNotAccepted and its subclasses are SoftTokenErrors, not ValueErrors."""
        with pytest.raises(SoftTokenError) as info:
            enter_pin("1357", verifier=verifier, policy=LockoutPolicy(), state=OPEN, now=T0)

        assert not isinstance(info.value, ValueError)

    @pytest.mark.parametrize("pin", ["2468", "1357"])
    def test_no_open_attempt_evaluates_nothing(
        self, verifier: PINVerifier, hashed: list[str], pin: str
    ) -> None:
        """Without an open attempt, the right or a wrong PIN raises AttemptNotOpen unhashed."""
        with pytest.raises(AttemptNotOpen) as info:
            enter_pin(pin, verifier=verifier, policy=LockoutPolicy(), state=LockoutState(), now=T0)

        assert [] == hashed
        assert isinstance(info.value, InvalidInput)
        assert pin not in str(info.value)

    def test_safe_sequence_survives_a_lost_result(self, verifier: PINVerifier) -> None:
        """begin, store, check, lose the result: the stored state counts the check when the
        next attempt begins."""
        stored = begin_attempt(LockoutPolicy(), LockoutState(), T0)
        # The app checks the right PIN, then dies before storing what enter_pin returned.
        enter_pin("2468", verifier=verifier, policy=LockoutPolicy(), state=stored, now=T0)

        stored = begin_attempt(LockoutPolicy(), stored, T0)

        assert (1, 4) == (stored.failures, remaining_tries(LockoutPolicy(), stored))

    def test_int_pin_is_a_type_error(self, verifier: PINVerifier) -> None:
        """An int PIN is a TypeError."""
        with pytest.raises(TypeError):
            enter_pin(2468, verifier=verifier, policy=LockoutPolicy(), state=LockoutState(), now=T0)  # type: ignore[arg-type]


class TestPresets:
    """Presets are frozen module constants named after the apps they imitate."""

    def test_entrust_like_locks_after_five(self) -> None:
        """ENTRUST_LIKE: default PIN rules, 5 wrong PINs lock, phone KDF."""
        assert (PINPolicy(), LockoutPolicy(max_failures=5, on_limit=OnLimit.LOCK), PHONE_KDF) == (
            ENTRUST_LIKE.pin,
            ENTRUST_LIKE.lockout,
            ENTRUST_LIKE.kdf,
        )

    def test_paysecure_like_wipes_after_five(self) -> None:
        """PAYSECURE_LIKE: default PIN rules, 5 wrong PINs wipe, phone KDF."""
        assert (PINPolicy(), LockoutPolicy(max_failures=5, on_limit=OnLimit.WIPE), PHONE_KDF) == (
            PAYSECURE_LIKE.pin,
            PAYSECURE_LIKE.lockout,
            PAYSECURE_LIKE.kdf,
        )

    def test_presets_are_frozen(self) -> None:
        """A preset cannot be changed in place."""
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            ENTRUST_LIKE.pin = PINPolicy(history=0)  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------
# Stateful test: step against a tiny reference model
# ----------------------------------------------------------------------------------------------


@attrs.define
class Model:
    """The lockout rules as plainly as they can be written."""

    max_failures: int
    wipe_at_limit: bool
    schedule: list[int]
    status: str = "active"
    failures: int = 0
    episode: int = 0
    wait_until: int = 0
    attempt_open: bool = False

    def wait_after(self, failures: int) -> int:
        """The scheduled wait after *failures* wrong PINs; the last entry repeats."""
        if failures == 0 or not self.schedule:
            return 0
        padded = self.schedule + [self.schedule[-1]] * self.max_failures
        return padded[failures - 1]

    def too_soon(self, now: int) -> bool:
        """Whether an attempt at *now* must wait; a clock gone back shortens the stored wait."""
        if now < self.wait_until:
            self.wait_until = min(self.wait_until, now + self.wait_after(self.failures))
        return now < self.wait_until

    def count_wrong(self, now: int) -> str:
        """One more wrong PIN; returns the outcome's name."""
        self.failures += 1
        self.wait_until = 0
        self.attempt_open = False
        if self.failures == self.max_failures:
            if self.wipe_at_limit:
                self.status = "wiped"
                return "WIPED_NOW"
            self.status = "locked"
            self.episode += 1
            return "LOCKED_NOW"
        if self.wait_after(self.failures):
            self.wait_until = now + self.wait_after(self.failures)
        return "REJECTED"

    def attempt(self, good: bool, now: int) -> str:
        """A PIN attempt at *now*; returns the outcome's name."""
        if self.status != "active":
            return {"locked": "STILL_LOCKED", "wiped": "WIPED"}[self.status]
        if self.too_soon(now):
            return "TOO_SOON"
        if good:
            self.failures, self.wait_until, self.attempt_open = 0, 0, False
            return "ACCEPTED"
        return self.count_wrong(now)

    def begin(self, now: int) -> str:
        """An attempt is opened at *now*; one left open was interrupted and is a wrong PIN."""
        if self.status != "active":
            return {"locked": "STILL_LOCKED", "wiped": "WIPED"}[self.status]
        if self.attempt_open:
            counted = self.count_wrong(now)
            if counted != "REJECTED":
                return counted
        if self.too_soon(now):
            return "TOO_SOON"
        self.attempt_open, self.wait_until = True, 0
        return "OPENED"

    def unlock(self) -> str:
        """An unlock code was accepted."""
        if self.status == "locked":
            self.status, self.failures = "active", 0
            return "UNLOCKED"
        return {"active": "NOT_LOCKED", "wiped": "WIPED"}[self.status]

    def wipe(self) -> str:
        """A wipe was requested."""
        if self.status == "wiped":
            return "WIPED"
        self.status, self.wait_until, self.attempt_open = "wiped", 0, False
        return "WIPED_NOW"


# The PIN the stateful machine's app knows; any other is wrong.
MACHINE_PIN = "2468"
MACHINE_WRONG_PIN = "1357"


class LockoutMachine(RuleBasedStateMachine):
    """Drives step and the Model side by side, with a clock that can also go backwards.

    ``self.state`` is what the app has stored. Besides plain events, the machine runs the safe
    path as an app does (begin_attempt, store, enter_pin, store) and can kill it after the PIN
    was checked and before the result was stored: the attacker then knows the answer, and the
    restarted app begins a new attempt on the stored state.
    """

    def __init__(self) -> None:
        super().__init__()
        self.policy = LockoutPolicy()
        self.model = Model(5, wipe_at_limit=False, schedule=[])
        self.state = LockoutState()
        self.now = T0
        self.verifier = fast_verifier(MACHINE_PIN)
        self.wrong_evaluated_in_episode = 0
        self.evaluated_in_episode = 0
        # (failures before, failures after) for each BEGIN that found an attempt open.
        self.abandoned: list[tuple[int, int]] = []
        self.was_wiped = False
        self.last_episode = 0

    @initialize(fields=strategies.lockout_policy_fields)
    def choose_policy(self, fields: dict[str, Any]) -> None:
        """Pick a lockout policy for this run."""
        self.policy = LockoutPolicy(**{**fields, "on_limit": OnLimit(fields["on_limit"])})
        self.model = Model(
            fields["max_failures"],
            wipe_at_limit=fields["on_limit"] == "wipe",
            schedule=list(fields["delays"]),
        )

    def store(self, before: LockoutState, after: LockoutState, *, begun: bool = False) -> None:
        """Store *after*, checking version bookkeeping; note what a BEGIN did to an open one."""
        if after == before:
            assert before is after
        else:
            assert before.version + 1 == after.version
        if begun and before.attempt_open:
            self.abandoned.append((before.failures, after.failures))
        self.state = after

    def apply(self, event: Event, gap: int) -> Outcome:
        """Advance the clock by *gap* (maybe negative), step, and check version bookkeeping."""
        self.now = max(0, self.now + gap)
        before = self.state
        outcome, after = step(self.policy, before, event, self.now)
        self.store(before, after, begun=event is BEGIN)
        return outcome

    def count_evaluation(self, good: bool) -> None:
        """A PIN was compared; whoever typed it learnt the answer."""
        self.evaluated_in_episode += 1
        self.wrong_evaluated_in_episode += int(not good)

    def end_episode(self) -> None:
        """A stored ACCEPTED or UNLOCKED starts a new count of guesses."""
        self.evaluated_in_episode = 0
        self.wrong_evaluated_in_episode = 0

    # Hypothesis picks rules evenly, and a wipe ends the interesting part of a run. One rule
    # with weighted kinds makes wrong PINs common and wipes rare, so runs often lock and unlock.
    @rule(
        kind=st.sampled_from(
            ["wrong"] * 6
            + ["good"] * 2
            + ["unlock"] * 2
            + ["wipe"]
            + ["begin"] * 3
            + ["interrupted-wrong"] * 3
            + ["interrupted-good"]
        ),
        gap=st.integers(-40, 90),
    )
    def happen(self, kind: str, gap: int) -> None:
        """An event at a clock moved by *gap* (maybe backwards) agrees with the model."""
        if kind == "unlock":
            outcome = self.apply(Event.UNLOCK, gap)
            assert self.model.unlock() == outcome.name
        elif kind == "wipe":
            outcome = self.apply(Event.WIPE, gap)
            assert self.model.wipe() == outcome.name
        elif kind == "begin":
            outcome = self.apply(BEGIN, gap)
            assert self.model.begin(self.now) == outcome.name
        elif kind.startswith("interrupted"):
            self.interrupted_attempt(kind == "interrupted-good", gap)
            return
        else:
            good = kind == "good"
            outcome = self.apply(GOOD if good else WRONG, gap)
            assert self.model.attempt(good, self.now) == outcome.name
            # After any PIN attempt the wait is at most the longest delay, even if the clock
            # went backwards.
            assert self.state.not_before <= self.now + max(self.policy.delays, default=0)
            if outcome in {Outcome.REJECTED, Outcome.LOCKED_NOW, Outcome.WIPED_NOW}:
                self.count_evaluation(good)
        if outcome in {Outcome.ACCEPTED, Outcome.UNLOCKED}:
            self.end_episode()

    def interrupted_attempt(self, good: bool, gap: int) -> None:
        """The safe path killed between the check and the second store, then restarted."""
        self.now = max(0, self.now + gap)
        before = self.state
        try:
            opened = begin_attempt(self.policy, before, self.now)
        except PINNotAccepted as refused:
            outcome, opened = refused.outcome, refused.state
        else:
            outcome = Outcome.OPENED
        self.store(before, opened, begun=True)
        assert self.model.begin(self.now) == outcome.name
        if outcome is not Outcome.OPENED:
            return
        # The PIN is checked and the answer seen; the state enter_pin returns is never stored.
        pin = MACHINE_PIN if good else MACHINE_WRONG_PIN
        with contextlib.suppress(PINNotAccepted):
            enter_pin(pin, verifier=self.verifier, policy=self.policy, state=opened, now=self.now)
        self.count_evaluation(good)
        # The app starts again and opens the next attempt on what was stored.
        outcome = self.apply(BEGIN, 0)
        assert self.model.begin(self.now) == outcome.name

    @invariant()
    def state_matches_model(self) -> None:
        """status, failures, episode, not_before and attempt_open are what the model says."""
        m = self.model
        assert (m.status, m.failures, m.episode, m.wait_until, m.attempt_open) == (
            self.state.status.value,
            self.state.failures,
            self.state.episode,
            self.state.not_before,
            self.state.attempt_open,
        )

    @invariant()
    def never_more_than_max_failures_wrong_pins_evaluated_per_episode(self) -> None:
        """Between good PINs and unlocks, at most max_failures wrong PINs are evaluated, counting
        those whose result the app never stored."""
        assert self.wrong_evaluated_in_episode <= self.policy.max_failures

    @invariant()
    def an_attempt_opened_and_never_finished_counts_as_a_wrong_pin(self) -> None:
        """A BEGIN that finds an attempt open counts it: exactly one more failure."""
        assert [(before, before + 1) for before, _ in self.abandoned] == self.abandoned
        self.abandoned = []

    @invariant()
    def abandoned_attempts_never_give_more_than_max_failures_evaluations_per_episode(
        self,
    ) -> None:
        """Between stored good PINs and unlocks, no sequence of opened-and-abandoned attempts
        yields more than max_failures PIN checks, right or wrong."""
        assert self.evaluated_in_episode <= self.policy.max_failures

    @invariant()
    def every_check_not_accepted_is_counted_in_the_stored_state(self) -> None:
        """Each PIN checked since the episode began is a failure in the stored state."""
        assert self.evaluated_in_episode <= self.state.failures

    @invariant()
    def wiped_is_terminal(self) -> None:
        """Once WIPED, always WIPED."""
        if self.was_wiped:
            assert Status.WIPED == self.state.status
        self.was_wiped = self.state.status is Status.WIPED

    @invariant()
    def episode_never_decreases(self) -> None:
        """The lock episode number only grows."""
        assert self.last_episode <= self.state.episode
        self.last_episode = self.state.episode

    @invariant()
    def state_round_trips_through_bytes(self) -> None:
        """Every reachable state survives persistence unchanged."""
        assert self.state == LockoutState.from_bytes(self.state.to_bytes())


TestLockoutMachine = LockoutMachine.TestCase
