"""Tests for softtoken.pinpolicy: which PINs may be chosen (SECURITY.md S10, S17).

The accepted-space figures the docs quote come from :class:`TestAcceptedSpace`, which checks them
by brute force over every 4-digit PIN against a predicate written here independently of the
library: 9,970 PINs under the default policy, 9,969 once one previous PIN is remembered, and
9,960 with the built-in common-PIN list on. Five tries then succeed with odds 5/9,970, about
5.0 x 10^-4, for a uniformly chosen PIN.
"""

from __future__ import annotations

import inspect
import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken.exceptions import InvalidInput, PINRejected
from softtoken.pinpolicy import COMMON_PINS, MAX_HISTORY, PINPolicy, PINRejection
from softtoken.pinverifier import INSECURE_TEST_KDF, PINVerifier
from tests import strategies
from tests.utils import count_scrypt

R = PINRejection
SECURITY_PAGE = Path(__file__).parent.parent / "docs" / "security.md"


def reasons_for(policy: PINPolicy, pin: str) -> frozenset[PINRejection]:
    """The reasons *policy* gives for refusing *pin* through check(), or the empty set."""
    try:
        policy.check(pin)
    except PINRejected as exc:
        return frozenset(PINRejection(reason) for reason in exc.reasons)
    return frozenset()


def fast_verifier(pin: str) -> PINVerifier:
    """A verifier with the cheap test parameters."""
    return PINVerifier.create(pin, params=INSECURE_TEST_KDF)


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


def accepted(policy: PINPolicy, length: int) -> set[str]:
    """The PINs of *length* that *policy* accepts, by asking it about each one."""
    return {pin for pin in all_pins(length) if not reasons_for(policy, pin)}


def reference_reasons(policy: PINPolicy, pin: str) -> frozenset[PINRejection]:
    """The reasons a PIN is refused, written from the rules in the docs, not from the code."""
    reasons = set()
    if not policy.min_length <= len(pin) <= policy.max_length:
        reasons.add(R.WRONG_LENGTH)
    if not (pin and all(c in "0123456789" for c in pin)):
        return frozenset(reasons | {R.NOT_DIGITS})
    if len(pin) >= 2 and pin in forbidden_by_shape(len(pin)):
        reasons.add(R.REPEATED_DIGIT if len(set(pin)) == 1 else R.SEQUENTIAL)
    if pin in policy.deny_list or (policy.deny_common and pin in COMMON_PINS):
        reasons.add(R.DENY_LISTED)
    return frozenset(reasons)


# The figures the docs quote for the default policy; the tests below recompute them by brute
# force.
DOCUMENTED_DEFAULT_ACCEPTED = 9970
DOCUMENTED_ODDS = "5.0×10⁻⁴"


class TestAcceptedSpace:
    """Exhaustive checks over the whole 4-digit space (SECURITY.md S10)."""

    def test_default_policy_accepts_exactly_the_reference_set(self) -> None:
        """The default policy accepts every 4-digit PIN except repeats and (wrapping) runs:
        9,970 of them."""
        expected = set(all_pins(4)) - forbidden_by_shape(4)

        actual = accepted(PINPolicy(), 4)

        assert expected == actual
        assert DOCUMENTED_DEFAULT_ACCEPTED == len(actual)
        assert len(expected) == PINPolicy().accepted_count()

    def test_one_remembered_pin_removes_exactly_that_pin(self) -> None:
        """With one previous PIN remembered, the space loses exactly that PIN: 9,969."""
        previous = (fast_verifier("2468"),)
        policy = PINPolicy()
        expected = set(all_pins(4)) - forbidden_by_shape(4) - {"2468"}

        actual = {pin for pin in accepted(policy, 4) if not policy.reused(pin, previous)}

        assert expected == actual
        assert DOCUMENTED_DEFAULT_ACCEPTED - 1 == len(actual)

    def test_common_pin_list_removes_its_entries_from_the_space(self) -> None:
        """deny_common takes away exactly the common PINs the shape rules let through: 9,960."""
        policy = PINPolicy(deny_common=True)
        expected = set(all_pins(4)) - forbidden_by_shape(4) - COMMON_PINS

        actual = accepted(policy, 4)

        assert expected == actual
        assert 9960 == len(actual)
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

    def test_deny_list_entries_of_other_lengths_take_nothing_away(self) -> None:
        """A 6-digit deny-list entry does not shrink a 4-digit policy's space."""
        assert DOCUMENTED_DEFAULT_ACCEPTED == PINPolicy(deny_list={"135791"}).accepted_count()


class TestOdds:
    """The brute-force odds the docs print (SECURITY.md, "Brute-force arithmetic")."""

    def test_five_tries_odds_are_five_in_9970(self) -> None:
        """Five uniform guesses at a default-policy PIN succeed with odds 5/9,970, which
        rounds to 5.0 x 10^-4."""
        odds = Fraction(5, PINPolicy().accepted_count())

        assert Fraction(5, DOCUMENTED_DEFAULT_ACCEPTED) == odds
        assert "5.0e-04" == f"{float(odds):.1e}"

    def test_security_page_prints_the_measured_figures(self) -> None:
        """docs/security.md states the accepted count and the odds as this test measures them."""
        text = SECURITY_PAGE.read_text(encoding="utf-8")
        count = f"{PINPolicy().accepted_count():,}"

        assert [] == [
            figure
            for figure in (f"**{count}**", f"5 / {count}", f"**{DOCUMENTED_ODDS}**")
            if figure not in text
        ]


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
        """Under a 4-6 digit policy, 123456 is a run but 123457 and 13579 are not."""
        policy = PINPolicy(min_length=4, max_length=6)

        assert frozenset({R.SEQUENTIAL}) == reasons_for(policy, "123456")
        assert frozenset() == reasons_for(policy, "123457")
        assert frozenset() == reasons_for(policy, "13579")

    def test_every_applicable_reason_is_collected(self) -> None:
        """A PIN that breaks several rules gets all of them, not just the first."""
        policy = PINPolicy(deny_list={"1234"})

        assert frozenset({R.SEQUENTIAL, R.DENY_LISTED}) == reasons_for(policy, "1234")

    def test_rejections_and_check_agree(self) -> None:
        """rejections returns the very reasons check raises with."""
        policy = PINPolicy(deny_list={"1234"})

        assert policy.rejections("1234") == reasons_for(policy, "1234")
        assert frozenset() == policy.rejections("1357")

    def test_common_list_is_off_by_default(self) -> None:
        """1212, 1004, 2000 and 6969 pass unless deny_common is set."""
        for pin in ("1212", "1004", "2000", "6969"):
            assert frozenset() == reasons_for(PINPolicy(), pin)
            assert frozenset({R.DENY_LISTED}) == reasons_for(PINPolicy(deny_common=True), pin)

    def test_common_list_refuses_every_entry(self) -> None:
        """With deny_common, every built-in common PIN is DENY_LISTED."""
        policy = PINPolicy(deny_common=True)

        assert [] == [pin for pin in COMMON_PINS if R.DENY_LISTED not in reasons_for(policy, pin)]

    def test_common_list_holds_4_digit_pins_only(self) -> None:
        """The built-in list is 22 four-digit PINs, 2580 and 0852 among them."""
        assert (22, {4}) == (len(COMMON_PINS), {len(pin) for pin in COMMON_PINS})
        assert {"2580", "0852"} <= COMMON_PINS

    def test_custom_deny_list_refuses_its_entries_only(self) -> None:
        """A custom deny-list refuses what it lists and nothing else."""
        policy = PINPolicy(deny_list=["1987", "0412"])

        assert frozenset({R.DENY_LISTED}) == reasons_for(policy, "1987")
        assert frozenset({R.DENY_LISTED}) == reasons_for(policy, "0412")
        assert frozenset() == reasons_for(policy, "1988")

    def test_pin_as_int_is_a_type_error(self) -> None:
        """An int PIN would lose leading zeros, so it is a TypeError."""
        with pytest.raises(TypeError):
            PINPolicy().check(1357)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            PINPolicy().rejections(1357)  # type: ignore[arg-type]

    def test_rejection_is_invalid_input(self) -> None:
        """PINRejected is an InvalidInput, so a ValueError, with the constant message."""
        with pytest.raises(ValueError, match="PIN policy") as info:
            PINPolicy().check("1111")

        assert isinstance(info.value, InvalidInput)

    def test_reasons_are_str_enum_members(self) -> None:
        """A PINRejection is a str that prints as its value, for an app to explain."""
        assert ("sequential", "sequential") == (R.SEQUENTIAL, str(R.SEQUENTIAL))
        assert {str} == {type(reason.value) for reason in PINRejection}

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
            assert frozenset() == reasons_for(policy, pin)
            return

        with pytest.raises(PINRejected) as info:
            policy.check(pin)

        assert (PINRejected.MESSAGE,) == info.value.args
        assert PINRejected.MESSAGE == str(info.value)
        assert info.value.reasons

    @given(fields=strategies.pin_policy_fields, pin=strategies.pin_texts)
    @example(fields={"min_length": 4, "max_length": 6}, pin="890123")
    @example(fields={"min_length": 4, "max_length": 4}, pin="")
    def test_every_reason_agrees_with_the_reference(self, fields: dict[str, Any], pin: str) -> None:
        """For any policy and text, rejections() gives exactly the reference's reasons."""
        policy = PINPolicy(**fields)

        assert reference_reasons(policy, pin) == policy.rejections(pin)


class TestReused:
    """PINPolicy.reused: the sharp history check, which evaluates secrets."""

    def test_the_previous_pin_is_reused(self) -> None:
        """The previous PIN is reused under the default history of one; another is not."""
        previous = (fast_verifier("2468"),)

        assert (True, False) == (
            PINPolicy().reused("2468", previous),
            PINPolicy().reused("1357", previous),
        )

    def test_only_the_last_history_pins_are_consulted(self) -> None:
        """With history=1, a PIN older than the most recent one may be chosen again."""
        previous = (fast_verifier("1357"), fast_verifier("2468"))

        assert (False, True) == (
            PINPolicy(history=1).reused("2468", previous),
            PINPolicy(history=2).reused("2468", previous),
        )

    def test_history_zero_never_matches(self) -> None:
        """With history=0, the previous PIN may be chosen again."""
        assert not PINPolicy(history=0).reused("2468", (fast_verifier("2468"),))

    def test_every_remembered_verifier_is_hashed_even_after_a_match(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each of the ``history`` verifiers costs one hash, whichever one matches, so the time
        taken does not tell which PIN it was."""
        previous = tuple(fast_verifier(pin) for pin in ("2468", "1357", "3579"))
        calls = count_scrypt(monkeypatch)

        assert PINPolicy(history=3).reused("2468", previous)
        assert 3 == len(calls)

    def test_plaintext_history_is_a_type_error(self) -> None:
        """A history that holds plain PINs instead of verifiers is a TypeError."""
        with pytest.raises(TypeError):
            PINPolicy().reused("1357", ["2468"])  # type: ignore[list-item]

    def test_int_pin_is_a_type_error(self) -> None:
        """An int PIN is a TypeError here too."""
        with pytest.raises(TypeError):
            PINPolicy().reused(2468, ())  # type: ignore[arg-type]


class TestNextHistory:
    """next_history keeps the newest verifiers, never plaintext."""

    def test_keeps_the_newest_first_and_trims(self) -> None:
        """next_history puts the new verifier first and keeps ``history`` of them."""
        a, b, c = fast_verifier("1357"), fast_verifier("2468"), fast_verifier("3579")

        assert (c, b) == PINPolicy(history=2).next_history(c, (b, a))
        assert (c,) == PINPolicy().next_history(c, (b, a))
        assert () == PINPolicy(history=0).next_history(c, (b,))
        assert (c,) == PINPolicy(history=MAX_HISTORY).next_history(c)

    def test_a_plain_new_pin_is_a_type_error(self) -> None:
        """A plain PIN as the new entry is a TypeError."""
        with pytest.raises(TypeError):
            PINPolicy().next_history("2468")  # type: ignore[arg-type]

    def test_a_plain_pin_in_the_history_is_a_type_error(self) -> None:
        """A plain PIN among the previous entries is a TypeError."""
        with pytest.raises(TypeError):
            PINPolicy().next_history(fast_verifier("1357"), ["2468"])  # type: ignore[list-item]


class TestPINPolicyConstruction:
    """The policy validates itself."""

    def test_defaults_follow_the_seeds(self) -> None:
        """Default: exactly 4 digits, one PIN of history, common list off, no deny-list."""
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
            {"history": MAX_HISTORY + 1},
            {"deny_list": ["12a4"]},
            {"deny_list": [""]},
            {"deny_list": ["123"]},
            {"deny_list": ["1234567890123"]},
            {"deny_list": ["１２３４"]},
        ],
    )
    def test_out_of_range_is_invalid_input(self, kwargs: dict[str, Any]) -> None:
        """Lengths outside 4-12, min above max, a bad history and deny-list entries that are not
        4 to 12 ASCII digits are refused."""
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
            {"deny_list": b"1234"},
            {"deny_list": [1234]},
        ],
    )
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, Any]) -> None:
        """Booleans as counts, a bare string as the deny-list and int entries are TypeErrors."""
        with pytest.raises(TypeError):
            PINPolicy(**kwargs)

    def test_deny_list_edges_are_4_and_12_digits(self) -> None:
        """Entries of 4 and of 12 digits are allowed, and kept as a frozenset."""
        policy = PINPolicy(max_length=12, deny_list=["1987", "198706151234"])

        assert frozenset({"1987", "198706151234"}) == policy.deny_list

    def test_twelve_digits_is_the_longest_policy(self) -> None:
        """4 to 12 digits is accepted."""
        assert 12 == PINPolicy(min_length=4, max_length=12).max_length

    def test_deny_list_error_and_repr_never_show_entries(self) -> None:
        """Deny-list entries appear in neither a validation error nor the repr."""
        with pytest.raises(InvalidInput) as info:
            PINPolicy(deny_list=["19x7"])

        assert "19x7" not in str(info.value)
        assert "0412" not in repr(PINPolicy(deny_list=["0412"]))


# ----------------------------------------------------------------------------------------------
# S17: no uncounted oracle. Judging a new PIN evaluates no secret.
# ----------------------------------------------------------------------------------------------


class TestNoUncountedOracle:
    """PINPolicy.check and rejections answer from the typed PIN and the policy alone."""

    def test_check_and_rejections_take_no_secret(self) -> None:
        """Their only parameter is the PIN: there is no history or verifier to compare with."""
        assert (["pin"], ["pin"]) == (
            list(inspect.signature(PINPolicy().check).parameters),
            list(inspect.signature(PINPolicy().rejections).parameters),
        )

    @given(
        fields=strategies.pin_policy_fields,
        guess=strategies.pin_texts,
        stored=st.lists(strategies.pins, min_size=1, max_size=3),
    )
    @example(fields={}, guess="2468", stored=["2468"])
    @example(fields={}, guess="2468", stored=["1357"])
    def test_answers_are_the_same_whatever_pin_is_stored(
        self, fields: dict[str, Any], guess: str, stored: list[str]
    ) -> None:
        """Whatever PINs an app has stored, and whether the guess is one of them, rejections()
        answers what the reference answers from the guess alone, and hashes nothing."""
        policy = PINPolicy(**fields)
        # What an app would keep: the current PIN's verifier and its history.
        current, *older = (fast_verifier(pin) for pin in stored)
        kept = policy.next_history(current, older)
        expected = reference_reasons(policy, guess)
        with pytest.MonkeyPatch.context() as monkeypatch:
            calls = count_scrypt(monkeypatch)

            answer = policy.rejections(guess)
            try:
                policy.check(guess)
            except PINRejected as exc:
                raised = exc.reasons
            else:
                raised = frozenset()

        assert (expected, expected, 0) == (answer, raised, len(calls))
        assert R.RECENTLY_USED not in answer
        assert min(policy.history, len(stored)) == len(kept)
