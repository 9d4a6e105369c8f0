"""Tests for softtoken.unlock: reset codes, unlock codes and the app's unlock transition (S11)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken import _random
from softtoken.exceptions import (
    InvalidCode,
    InvalidInput,
    InvalidKey,
    InvalidUnlockRecord,
    MalformedCode,
    MistypedCode,
    SoftTokenError,
)
from softtoken.unlock import (
    _DAMM,
    RESET_CODE_LENGTH,
    UNLOCK_KEY_LABEL,
    PendingUnlock,
    UnlockOutcome,
    UnlockPolicy,
    _damm_digit,
    _damm_valid,
    attempt_unlock,
    canonical_serial,
    compute_unlock_code,
    issue_reset,
    unlock_key,
)
from tests import strategies as sts
from tests.utils import RFC_SEEDS

SECRET = RFC_SEEDS["sha256"]
SERIAL = "9317112184"
DIGITS = "0123456789"


def reset_code(payload: str) -> str:
    """A valid reset code: *payload* and its check digit."""
    return payload + _damm_digit(payload)


def pending_for(code: str, *, serial: str = SERIAL, episode: int = 1) -> PendingUnlock:
    """A fresh challenge showing *code*."""
    return PendingUnlock(serial=serial, episode=episode, reset_code=code)


def other_code(code: str) -> str:
    """A code of the same length that differs from *code* in its first digit."""
    return str((int(code[0]) + 1) % 10) + code[1:]


@contextmanager
def random_source(source: Callable[[int], bytes]) -> Iterator[None]:
    """Replace the CSPRNG behind softtoken._random for the duration of the block."""
    with mock.patch.object(_random, "_source", source):
        yield


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


class TestDamm:
    """The Damm check digit of reset codes."""

    def test_published_example(self) -> None:
        """572 gets the check digit 4, as in Damm's worked example."""
        assert "4" == _damm_digit("572")
        assert _damm_valid("5724")

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
            if _damm_valid(wrong)
        ]
        assert [] == missed

    def test_every_adjacent_transposition_is_caught_exhaustively(self) -> None:
        """No swap of two unequal adjacent digits passes, over all 10,000 4-digit payloads."""
        missed = [
            wrong
            for payload in map("".join, itertools.product(DIGITS, repeat=4))
            for wrong in adjacent_transpositions(reset_code(payload))
            if _damm_valid(wrong)
        ]
        assert [] == missed

    @given(payload=sts.reset_payloads)
    @example(payload="00000000")
    def test_every_single_digit_error_in_a_reset_code_is_caught(self, payload: str) -> None:
        """No single-digit change of a 9-digit reset code keeps its check digit valid."""
        code = reset_code(payload)
        assert _damm_valid(code)
        assert [] == [wrong for wrong in single_digit_errors(code) if _damm_valid(wrong)]

    @given(payload=sts.reset_payloads)
    @example(payload="09090909")
    @example(payload="90909090")
    def test_every_adjacent_transposition_in_a_reset_code_is_caught(self, payload: str) -> None:
        """No adjacent swap of a 9-digit reset code passes, including 09 <-> 90 (Luhn's gap)."""
        code = reset_code(payload)
        assert [] == [wrong for wrong in adjacent_transpositions(code) if _damm_valid(wrong)]


class TestCanonicalSerial:
    """canonical_serial: one canonical form per serial."""

    @pytest.mark.parametrize(
        "spelling", ["93171-12184", "9317112184", "93171 12184", " 93171-12184\n", "93-171-12-184"]
    )
    def test_group_separators_are_ignored(self, spelling: str) -> None:
        """Dashes, spaces and surrounding whitespace do not change the serial."""
        assert SERIAL == canonical_serial(spelling)

    def test_letters_are_upper_cased(self) -> None:
        """Letters are folded to upper case."""
        assert "AB12CD" == canonical_serial("ab12-Cd")

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "  ",
            "-",
            "93171-",
            "-93171",
            "93171--12184",
            "93171 - 12184",
            "93171_12184",
            "93171.12184",
            "９３１７１",
            "9317\u00a012184",
            "1" * 65,
            "1-" * 64 + "1",
        ],
    )
    def test_refused(self, bad: str) -> None:
        """Empty, doubled or unknown separators, non-ASCII and over-long serials are refused."""
        with pytest.raises(InvalidInput) as info:
            canonical_serial(bad)
        assert not bad.strip() or bad.strip() not in str(info.value)

    def test_int_is_a_type_error(self) -> None:
        """An int serial is a TypeError (leading zeros would be lost)."""
        with pytest.raises(TypeError):
            canonical_serial(9317112184)  # type: ignore[arg-type]

    @given(serial=sts.serials)
    def test_canonical_form_is_a_fixed_point(self, serial: str) -> None:
        """A canonical serial is its own canonical form."""
        assert serial == canonical_serial(serial)

    @given(text=st.text(max_size=80))
    def test_raises_only_invalid_input(self, text: str) -> None:
        """Any text is either a serial or refused with InvalidInput, never another error."""
        try:
            canonical = canonical_serial(text)
        except InvalidInput:
            return
        assert canonical == canonical_serial(canonical)


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
        with pytest.raises(InvalidKey):
            unlock_key(b"0123456789", SERIAL)
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

    def test_mistyped_code_is_input_error_not_invalid_code(self) -> None:
        """MistypedCode is an InvalidInput (a ValueError) and not a verification failure."""
        assert issubclass(MistypedCode, InvalidInput)
        assert issubclass(MistypedCode, ValueError)
        assert not issubclass(MistypedCode, InvalidCode)

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


class TestIssueReset:
    """issue_reset and PendingUnlock, the app's challenge."""

    def test_fresh_challenge(self) -> None:
        """A new challenge has a valid 9-digit code, no tries, and the canonical serial."""
        pending = issue_reset("93171-12184", 7)
        assert (SERIAL, 7, 0, 1, False, 0) == (
            pending.serial,
            pending.episode,
            pending.tries,
            pending.reset_codes,
            pending.spent,
            pending.version,
        )
        assert RESET_CODE_LENGTH == len(pending.reset_code)
        assert pending.reset_code.isdigit()
        assert _damm_valid(pending.reset_code)

    @given(byte=st.integers(min_value=0, max_value=249))
    def test_reset_code_comes_from_the_random_helper(self, byte: int) -> None:
        """With softtoken._random's source replaced, the reset code is that source's digits."""
        with random_source(constant_source(byte)):
            pending = issue_reset(SERIAL, 1)
        assert reset_code(str(byte % 10) * 8) == pending.reset_code

    def test_two_sources_give_two_codes(self) -> None:
        """Changing softtoken._random's source changes the reset code."""
        with random_source(constant_source(3)):
            first = issue_reset(SERIAL, 1).reset_code
        with random_source(constant_source(4)):
            second = issue_reset(SERIAL, 1).reset_code
        assert first != second

    def test_display_groups_by_three(self) -> None:
        """display shows the reset code as three groups of three digits."""
        code = reset_code("76976487")
        assert f"{code[:3]} {code[3:6]} {code[6:]}" == pending_for(code).display

    def test_repr_hides_the_reset_code(self) -> None:
        """repr shows the serial and the episode, never the reset code."""
        pending = issue_reset(SERIAL, 1)
        assert pending.reset_code not in repr(pending)
        assert SERIAL in repr(pending)

    @pytest.mark.parametrize("episode", [0, -1, 2**32])
    def test_episode_out_of_range(self, episode: int) -> None:
        """The lock episode is 1 to 2**32 - 1, as in the lockout state."""
        with pytest.raises(InvalidInput):
            issue_reset(SERIAL, episode)

    def test_bool_episode_is_a_type_error(self) -> None:
        """episode=True is a TypeError."""
        with pytest.raises(TypeError):
            issue_reset(SERIAL, True)

    @pytest.mark.parametrize(
        "changes",
        [
            {"reset_code": "123456789"},
            {"reset_code": "12345678"},
            {"reset_code": "12345678a"},
            {"serial": "93171-12184"},
            {"tries": -1},
            {"tries": 256},
            {"reset_codes": 0},
            {"version": -1},
        ],
    )
    def test_constructor_refuses_bad_fields(self, changes: dict[str, Any]) -> None:
        """A wrong check digit, a non-canonical serial or an out-of-range count is refused."""
        fields: dict[str, Any] = {"serial": SERIAL, "episode": 1, "reset_code": "000000000"}
        assert _damm_valid(fields["reset_code"])
        with pytest.raises(InvalidInput) as info:
            PendingUnlock(**(fields | changes))
        assert [] == [v for v in changes.values() if str(v) in str(info.value)]

    def test_spent_must_be_bool(self) -> None:
        """spent=1 is a TypeError."""
        with pytest.raises(TypeError):
            PendingUnlock(serial=SERIAL, episode=1, reset_code="000000000", spent=1)  # type: ignore[arg-type]


class TestAttemptUnlock:
    """attempt_unlock, the app's pure unlock transition."""

    @given(
        secret=sts.keys,
        serial=sts.serials,
        payload=sts.reset_payloads,
        fields=sts.unlock_policy_fields,
    )
    def test_the_issuers_code_unlocks(
        self, secret: bytes, serial: str, payload: str, fields: dict[str, Any]
    ) -> None:
        """The issuer's unlock code for the shown reset code and serial is accepted."""
        policy = UnlockPolicy(**fields)
        pending = pending_for(reset_code(payload), serial=serial)
        code = compute_unlock_code(secret, serial, pending.reset_code, digits=policy.digits)
        outcome, after = attempt_unlock(pending, code, secret, episode=1, policy=policy)
        assert (UnlockOutcome.UNLOCKED, attrs.evolve(pending, spent=True, version=1)) == (
            outcome,
            after,
        )

    @given(secret=sts.keys, shown=sts.reset_payloads, other=sts.reset_payloads)
    def test_an_unlock_code_opens_only_its_own_reset_code(
        self, secret: bytes, shown: str, other: str
    ) -> None:
        """An unlock code computed for another reset code is refused."""
        assume(shown != other)
        pending = pending_for(reset_code(shown))
        code = compute_unlock_code(secret, SERIAL, reset_code(other))
        assume(code != compute_unlock_code(secret, SERIAL, pending.reset_code))
        assert UnlockOutcome.REJECTED == attempt_unlock(pending, code, secret, episode=1)[0]

    @given(secret=sts.keys, shown=sts.serials, other=sts.serials, payload=sts.reset_payloads)
    def test_an_unlock_code_opens_only_its_own_serial(
        self, secret: bytes, shown: str, other: str, payload: str
    ) -> None:
        """An unlock code computed for another serial, same secret and reset code, is refused."""
        assume(shown != other)
        pending = pending_for(reset_code(payload), serial=shown)
        code = compute_unlock_code(secret, other, pending.reset_code)
        assume(code != compute_unlock_code(secret, shown, pending.reset_code))
        assert UnlockOutcome.REJECTED == attempt_unlock(pending, code, secret, episode=1)[0]

    @given(secret=sts.keys, payload=sts.reset_payloads)
    def test_an_unlock_code_works_only_once(self, secret: bytes, payload: str) -> None:
        """After an unlock, the same code is SPENT and the state does not change."""
        pending = pending_for(reset_code(payload))
        code = compute_unlock_code(secret, SERIAL, pending.reset_code)
        outcome, after = attempt_unlock(pending, code, secret, episode=1)
        assert UnlockOutcome.UNLOCKED == outcome
        assert (UnlockOutcome.SPENT, after) == attempt_unlock(after, code, secret, episode=1)

    @given(
        secret=sts.keys,
        payload=sts.reset_payloads,
        fields=sts.unlock_policy_fields,
        wrong=st.data(),
    )
    def test_after_max_tries_the_right_code_no_longer_works(
        self, secret: bytes, payload: str, fields: dict[str, Any], wrong: st.DataObject
    ) -> None:
        """Once max_tries wrong codes are counted, the challenge's right code never unlocks."""
        policy = UnlockPolicy(**fields)
        state = pending_for(reset_code(payload))
        right = compute_unlock_code(secret, SERIAL, state.reset_code, digits=policy.digits)
        codes = st.text(DIGITS, min_size=policy.digits, max_size=policy.digits)
        for _ in range(policy.max_tries):
            typed = wrong.draw(codes.filter(lambda c: c != right))
            state = attempt_unlock(state, typed, secret, episode=1, policy=policy)[1]
        if not state.spent:
            # A new reset code replaced the old one; rule out a computed collision of the two
            # unlock codes, which has probability 10**-digits.
            assume(
                right != compute_unlock_code(secret, SERIAL, state.reset_code, digits=policy.digits)
            )
        assert not attempt_unlock(state, right, secret, episode=1, policy=policy)[0].accepted

    @given(secret=sts.keys, payload=sts.reset_payloads, episode=st.integers(2, 2**32 - 1))
    def test_another_episode_never_unlocks(self, secret: bytes, payload: str, episode: int) -> None:
        """A challenge from lock episode 1 is WRONG_EPISODE in any other episode, unchanged."""
        pending = pending_for(reset_code(payload))
        code = compute_unlock_code(secret, SERIAL, pending.reset_code)
        assert (UnlockOutcome.WRONG_EPISODE, pending) == attempt_unlock(
            pending, code, secret, episode=episode
        )

    @given(fields=sts.unlock_policy_fields, script=st.lists(st.sampled_from("RWE"), max_size=14))
    def test_matches_the_reference_model(self, fields: dict[str, Any], script: list[str]) -> None:
        """Any run of right (R), wrong (W) and other-episode (E) attempts follows the model."""
        policy = UnlockPolicy(**fields)
        state = issue_reset(SERIAL, 5)
        tries, reset_codes, spent, version = 0, 1, False, 0
        for action in script:
            right = compute_unlock_code(SECRET, SERIAL, state.reset_code, digits=policy.digits)
            typed = other_code(right) if action == "W" else right
            episode = 6 if action == "E" else 5
            before = state.reset_code
            outcome, state = attempt_unlock(state, typed, SECRET, episode=episode, policy=policy)
            if spent:
                expected = UnlockOutcome.SPENT
            elif action == "E":
                expected = UnlockOutcome.WRONG_EPISODE
            elif action == "R":
                expected, spent = UnlockOutcome.UNLOCKED, True
            elif tries + 1 < policy.max_tries:
                expected, tries = UnlockOutcome.REJECTED, tries + 1
            elif reset_codes < policy.max_reset_codes:
                expected, tries, reset_codes = UnlockOutcome.NEW_RESET_CODE, 0, reset_codes + 1
            else:
                expected, tries, spent = UnlockOutcome.WIPE, policy.max_tries, True
            changed = expected not in (UnlockOutcome.SPENT, UnlockOutcome.WRONG_EPISODE)
            version += changed
            assert (expected, tries, reset_codes, spent, version) == (
                outcome,
                state.tries,
                state.reset_codes,
                state.spent,
                state.version,
            )
            assert (expected is UnlockOutcome.NEW_RESET_CODE) == (before != state.reset_code)

    def test_wrong_codes_are_counted_in_the_returned_state(self) -> None:
        """A wrong code returns REJECTED and a state with one more try and a higher version."""
        pending = pending_for(reset_code("12345678"))
        right = compute_unlock_code(SECRET, SERIAL, pending.reset_code)
        outcome, after = attempt_unlock(pending, other_code(right), SECRET, episode=1)
        assert (UnlockOutcome.REJECTED, 1, 1) == (outcome, after.tries, after.version)

    def test_exhaustion_reissues_from_the_random_helper(self) -> None:
        """The replacement reset code comes from softtoken._random, in the same episode."""
        pending = pending_for(reset_code("12345678"), episode=9)
        right = compute_unlock_code(SECRET, SERIAL, pending.reset_code)
        policy = UnlockPolicy(max_tries=1, max_reset_codes=2)
        with random_source(constant_source(5)):
            outcome, after = attempt_unlock(
                pending, other_code(right), SECRET, episode=9, policy=policy
            )
        assert UnlockOutcome.NEW_RESET_CODE == outcome
        assert (reset_code("5" * 8), 9, 0, 2) == (
            after.reset_code,
            after.episode,
            after.tries,
            after.reset_codes,
        )

    def test_last_reset_code_exhausted_means_wipe(self) -> None:
        """With one reset code allowed, the last wrong try gives WIPE and spends the challenge."""
        pending = pending_for(reset_code("12345678"))
        right = compute_unlock_code(SECRET, SERIAL, pending.reset_code)
        policy = UnlockPolicy(max_tries=2, max_reset_codes=1)
        state = attempt_unlock(pending, other_code(right), SECRET, episode=1, policy=policy)[1]
        outcome, state = attempt_unlock(state, other_code(right), SECRET, episode=1, policy=policy)
        assert (UnlockOutcome.WIPE, True) == (outcome, state.spent)

    def test_lowered_policy_exhausts_without_evaluating(self) -> None:
        """Tries already at a lowered max_tries exhaust the challenge, even with the right code."""
        pending = attrs.evolve(pending_for(reset_code("12345678")), tries=3)
        right = compute_unlock_code(SECRET, SERIAL, pending.reset_code)
        policy = UnlockPolicy(max_tries=2, max_reset_codes=1)
        assert (
            UnlockOutcome.WIPE
            == attempt_unlock(pending, right, SECRET, episode=1, policy=policy)[0]
        )

    @pytest.mark.parametrize("typed", ["", "1234567", "123456789", "1234567a", "１２３４５６７８"])
    def test_malformed_unlock_code_raises_and_counts_nothing(self, typed: str) -> None:
        """A code that is not 8 ASCII digits raises MalformedCode before any state change."""
        pending = pending_for(reset_code("12345678"))
        with pytest.raises(MalformedCode) as info:
            attempt_unlock(pending, typed, SECRET, episode=1)
        assert InvalidCode.MESSAGE != str(info.value)

    def test_grouped_unlock_code_is_accepted(self) -> None:
        """An unlock code typed as two groups of four is accepted."""
        pending = pending_for(reset_code("12345678"))
        right = compute_unlock_code(SECRET, SERIAL, pending.reset_code)
        typed = f"{right[:4]} {right[4:]}"
        assert UnlockOutcome.UNLOCKED == attempt_unlock(pending, typed, SECRET, episode=1)[0]

    def test_refusals_raise_nothing(self) -> None:
        """Wrong, spent and other-episode attempts are outcomes, and none of them is accepted."""
        pending = pending_for(reset_code("12345678"))
        right = compute_unlock_code(SECRET, SERIAL, pending.reset_code)
        spent = attrs.evolve(pending, spent=True)
        outcomes = [
            attempt_unlock(pending, other_code(right), SECRET, episode=1)[0],
            attempt_unlock(spent, right, SECRET, episode=1)[0],
            attempt_unlock(pending, right, SECRET, episode=2)[0],
        ]
        assert [
            UnlockOutcome.REJECTED,
            UnlockOutcome.SPENT,
            UnlockOutcome.WRONG_EPISODE,
        ] == outcomes
        assert [False, False, False] == [outcome.accepted for outcome in outcomes]

    def test_only_unlocked_is_accepted(self) -> None:
        """UnlockOutcome.accepted is true for UNLOCKED alone."""
        assert [UnlockOutcome.UNLOCKED] == [o for o in UnlockOutcome if o.accepted]

    def test_int_unlock_code_is_a_type_error(self) -> None:
        """An int unlock code is a TypeError."""
        with pytest.raises(TypeError):
            attempt_unlock(pending_for(reset_code("1" * 8)), 12345678, SECRET, episode=1)  # type: ignore[arg-type]

    def test_wrong_argument_types(self) -> None:
        """A pending or policy of the wrong type is a TypeError."""
        pending = pending_for(reset_code("1" * 8))
        with pytest.raises(TypeError):
            attempt_unlock(pending.to_bytes(), "12345678", SECRET, episode=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            attempt_unlock(pending, "12345678", SECRET, episode=1, policy=3)  # type: ignore[arg-type]

    def test_short_secret(self) -> None:
        """A too-short secret raises InvalidKey, as for any key."""
        with pytest.raises(InvalidKey):
            attempt_unlock(pending_for(reset_code("1" * 8)), "12345678", b"short", episode=1)


class TestUnlockPolicy:
    """UnlockPolicy: bounded tries, reset codes and digits."""

    def test_defaults(self) -> None:
        """3 tries, 3 reset codes and 8 digits by default."""
        assert (3, 3, 8) == attrs.astuple(UnlockPolicy())

    @pytest.mark.parametrize(
        "fields",
        [
            {"max_tries": 0},
            {"max_tries": 11},
            {"max_reset_codes": 0},
            {"digits": 5},
            {"digits": 11},
        ],
    )
    def test_out_of_range(self, fields: dict[str, int]) -> None:
        """Each field has a bounded range; no unlimited tries or reset codes."""
        with pytest.raises(InvalidInput):
            UnlockPolicy(**fields)

    def test_bool_is_a_type_error(self) -> None:
        """max_tries=True is a TypeError."""
        with pytest.raises(TypeError):
            UnlockPolicy(max_tries=True)


class TestRecord:
    """PendingUnlock.to_bytes and from_bytes."""

    @given(
        serial=sts.serials,
        episode=st.integers(1, 2**32 - 1),
        payload=sts.reset_payloads,
        tries=st.integers(0, 255),
        reset_codes=st.integers(1, 255),
        spent=st.booleans(),
        version=st.integers(0, 2**64 - 1),
    )
    def test_round_trip(
        self,
        serial: str,
        episode: int,
        payload: str,
        tries: int,
        reset_codes: int,
        spent: bool,
        version: int,
    ) -> None:
        """from_bytes(to_bytes(p)) == p for every valid challenge."""
        pending = PendingUnlock(
            serial=serial,
            episode=episode,
            reset_code=reset_code(payload),
            tries=tries,
            reset_codes=reset_codes,
            spent=spent,
            version=version,
        )
        assert pending == PendingUnlock.from_bytes(pending.to_bytes())

    def test_layout(self) -> None:
        """The record is tag, format, serial length, serial, then the fixed fields."""
        pending = PendingUnlock(serial="AB1", episode=2, reset_code="000000000", tries=1)
        expected = b"UL\x01\x03AB1" + (2).to_bytes(4, "big") + b"000000000\x01\x01\x00"
        assert expected + (0).to_bytes(8, "big") == pending.to_bytes()

    def test_every_truncation_is_refused(self) -> None:
        """Every proper prefix and one extra byte raise InvalidUnlockRecord."""
        data = issue_reset(SERIAL, 1).to_bytes()
        for bad in [data[:n] for n in range(len(data))] + [data + b"\0"]:
            with pytest.raises(InvalidUnlockRecord):
                PendingUnlock.from_bytes(bad)

    @given(data=st.binary(max_size=60))
    @example(data=b"UL\x01\x01A\x00\x00\x00\x01000000000\x00\x01\x02" + b"\0" * 8)
    @example(data=b"UL\x02\x01A\x00\x00\x00\x01000000000\x00\x01\x00" + b"\0" * 8)
    @example(data=b"UL\x01\x01a\x00\x00\x00\x01000000000\x00\x01\x00" + b"\0" * 8)
    @example(data=b"UL\x01\x01A\x00\x00\x00\x01000000001\x00\x01\x00" + b"\0" * 8)
    @example(data=b"UL\x01\x01\xff\x00\x00\x00\x01000000000\x00\x01\x00" + b"\0" * 8)
    def test_any_bytes_decode_or_raise_invalid_record(self, data: bytes) -> None:
        """Arbitrary bytes either decode and re-encode to themselves, or raise the record error."""
        try:
            pending = PendingUnlock.from_bytes(data)
        except InvalidUnlockRecord:
            return
        assert data == pending.to_bytes()

    def test_text_is_a_type_error(self) -> None:
        """A str record is a TypeError."""
        with pytest.raises(TypeError):
            PendingUnlock.from_bytes("UL")  # type: ignore[arg-type]


class TestSeedStory:
    """The Entrust (Produbanco) unlock of identity TESTING ENROLADO, serial 93171-12184."""

    def test_reset_and_unlock_once(self) -> None:
        """A 9-digit reset code for 93171-12184 gets an 8-digit unlock code accepted once."""
        pending = issue_reset("93171-12184", 1)
        assert re.fullmatch(r"[0-9]{9}", pending.reset_code)
        # The user reads the code out in groups; the operator types it with the dashed serial.
        unlock = compute_unlock_code(SECRET, "93171-12184", pending.display)
        assert re.fullmatch(r"[0-9]{8}", unlock)
        outcome, after = attempt_unlock(pending, unlock, SECRET, episode=1)
        assert UnlockOutcome.UNLOCKED == outcome
        assert UnlockOutcome.SPENT == attempt_unlock(after, unlock, SECRET, episode=1)[0]

    def test_seed_reset_code_uses_another_check_scheme(self) -> None:
        """The seed's 769764879 fails the Damm check: Entrust's scheme is not ours."""
        with pytest.raises(MistypedCode):
            compute_unlock_code(SECRET, "93171-12184", "769764879")


class TestNoLeaks:
    """Secrets and codes never appear in errors or reprs."""

    def test_errors_are_softtoken_errors_with_constant_messages(self) -> None:
        """MistypedCode and InvalidUnlockRecord are softtoken errors with fixed messages."""
        assert issubclass(InvalidUnlockRecord, SoftTokenError)
        assert MistypedCode.MESSAGE == str(MistypedCode())

    def test_policy_and_pending_reprs(self) -> None:
        """A challenge's repr names no reset code, even in its spent, evolved states."""
        pending = pending_for(reset_code("76976487"))
        right = compute_unlock_code(SECRET, SERIAL, pending.reset_code)
        after = attempt_unlock(pending, right, SECRET, episode=1)[1]
        for text in (repr(pending), repr(after), repr(UnlockPolicy())):
            assert pending.reset_code not in text
            assert right not in text
