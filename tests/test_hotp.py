"""Tests for softtoken.hotp: RFC vectors, construction rules, and the verification window."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken import (
    HOTP,
    TOTP,
    InvalidCode,
    InvalidInput,
    InvalidKey,
    InvalidTime,
    KeyTooShort,
    MalformedCode,
    Match,
    generate_key,
)
from softtoken.hotp import MAX_LOOK_AHEAD, MAX_RESYNC_SPAN, MAX_WINDOW
from tests import strategies as sts
from tests.utils import RFC_SEED_SHA1, RFC_SEEDS, load_vectors

RFC4226 = load_vectors("rfc4226.txt")
RFC6238 = load_vectors("rfc6238.txt")


def other_code(code: str) -> str:
    """A code of the same length that differs from *code* in its last digit."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


class CountingMAC:
    """Wraps a prepared HMAC and counts how many codes are computed from it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.copies = 0

    def copy(self) -> Any:
        self.copies += 1
        return self.inner.copy()


def count_macs(token: HOTP | TOTP) -> CountingMAC:
    counter = CountingMAC(token._mac)
    object.__setattr__(token, "_mac", counter)
    return counter


class TestHOTPVectors:
    """RFC 4226 Appendix D."""

    @pytest.mark.parametrize(("count", "hotp"), [(int(r[0]), r[4]) for r in RFC4226])
    def test_codes(self, count: int, hotp: str) -> None:
        """Every published 6-digit HOTP value is reproduced."""
        assert hotp == HOTP(RFC_SEED_SHA1).generate(count)

    @pytest.mark.parametrize(("count", "truncated"), [(int(r[0]), int(r[3])) for r in RFC4226])
    @pytest.mark.parametrize("digits", [7, 8, 9, 10])
    def test_long_codes_come_from_the_31_bit_value(
        self, count: int, truncated: int, digits: int
    ) -> None:
        """7- to 10-digit codes are the published truncated value mod 10**digits, zero-padded."""
        expected = str(truncated % 10**digits).zfill(digits)
        assert expected == HOTP(RFC_SEED_SHA1, digits=digits).generate(count)

    @pytest.mark.parametrize(("count", "hotp"), [(int(r[0]), r[4]) for r in RFC4226])
    def test_vectors_verify(self, count: int, hotp: str) -> None:
        """Every published code verifies at its own counter with offset 0."""
        assert Match(count, 0) == HOTP(RFC_SEED_SHA1).verify(hotp, counter=count)


class TestTOTPVectors:
    """RFC 6238 Appendix B, all 18 rows, with the erratum's 20-, 32- and 64-byte seeds."""

    ROWS: ClassVar = [(int(r[0]), r[1], int(r[2], 16), r[3], r[4].lower()) for r in RFC6238]

    @pytest.mark.parametrize(("unix", "utc", "step", "totp", "algorithm"), ROWS)
    def test_codes_at_unix_seconds(
        self, unix: int, utc: str, step: int, totp: str, algorithm: str
    ) -> None:
        """Every published TOTP value is reproduced from integer Unix seconds."""
        token = TOTP(RFC_SEEDS[algorithm], digits=8, algorithm=algorithm)
        assert totp == token.generate(unix)

    @pytest.mark.parametrize(("unix", "utc", "step", "totp", "algorithm"), ROWS)
    def test_codes_at_aware_datetimes(
        self, unix: int, utc: str, step: int, totp: str, algorithm: str
    ) -> None:
        """The same values come from the published UTC times as aware datetimes."""
        token = TOTP(RFC_SEEDS[algorithm], digits=8, algorithm=algorithm)
        assert totp == token.generate(dt.datetime.fromisoformat(utc))

    @pytest.mark.parametrize(("unix", "utc", "step", "totp", "algorithm"), ROWS)
    def test_steps(self, unix: int, utc: str, step: int, totp: str, algorithm: str) -> None:
        """The time step T matches the published hex value, past 2**32 included."""
        assert step == TOTP(RFC_SEEDS[algorithm], algorithm=algorithm).step(unix)

    @pytest.mark.parametrize(("unix", "utc", "step", "totp", "algorithm"), ROWS)
    def test_vectors_verify(
        self, unix: int, utc: str, step: int, totp: str, algorithm: str
    ) -> None:
        """Every published code verifies at its own time with offset 0."""
        token = TOTP(RFC_SEEDS[algorithm], digits=8, algorithm=algorithm)
        assert Match(step, 0) == token.verify(totp, at=unix)


class TestConstruction:
    """Parameters are checked against allow-lists when a token is made."""

    def test_str_key_is_a_type_error(self) -> None:
        """A text key is refused: keys are bytes, decoded by the caller."""
        with pytest.raises(TypeError):
            HOTP("12345678901234567890")  # type: ignore[arg-type]

    @pytest.mark.parametrize("length", [0, 9, 10, 15])
    def test_short_keys_are_refused(self, length: int) -> None:
        """Keys under 16 bytes are refused by default (RFC 4226 §4 R6)."""
        with pytest.raises(InvalidKey, match="at least 16 bytes"):
            TOTP(b"k" * length)

    @pytest.mark.parametrize("length", [10, 15])
    def test_legacy_keys_need_the_opt_in(self, length: int) -> None:
        """10- to 15-byte keys work with allow_short_key=True."""
        assert 6 == len(HOTP(b"k" * length, allow_short_key=True).generate(0))

    def test_legacy_opt_in_still_refuses_under_80_bits(self) -> None:
        """Even with the opt-in, a key under 10 bytes is refused."""
        with pytest.raises(KeyTooShort, match="at least 10 bytes") as info:
            HOTP(b"k" * 9, allow_short_key=True)
        assert not info.value.legacy_opt_in

    @pytest.mark.parametrize("digits", [0, 5, 11, 20])
    def test_digits_outside_6_to_10_are_refused(self, digits: int) -> None:
        """Only 6 to 10 digits are accepted."""
        with pytest.raises(InvalidInput, match="6 to 10"):
            HOTP(RFC_SEED_SHA1, digits=digits)

    @pytest.mark.parametrize("digits", [True, 6.0, "6"])
    def test_digits_of_the_wrong_type_are_a_type_error(self, digits: Any) -> None:
        """A bool, float or str digit count is a TypeError."""
        with pytest.raises(TypeError):
            HOTP(RFC_SEED_SHA1, digits=digits)

    @pytest.mark.parametrize("algorithm", ["md5", "sha224", "SHA-1", ""])
    def test_unknown_algorithms_are_refused(self, algorithm: str) -> None:
        """Only SHA1, SHA256 and SHA512 are accepted."""
        with pytest.raises(InvalidInput, match="sha1, sha256, sha512"):
            HOTP(RFC_SEED_SHA1, algorithm=algorithm)

    def test_algorithm_names_are_case_insensitive(self) -> None:
        """ "SHA256", as otpauth URIs spell it, is the same algorithm as "sha256"."""
        assert "sha256" == HOTP(RFC_SEED_SHA1, algorithm="SHA256").algorithm

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"period": 0}, InvalidInput),
            ({"period": -30}, InvalidInput),
            ({"t0": -1}, InvalidInput),
            ({"period": 30.0}, TypeError),
            ({"t0": True}, TypeError),
        ],
    )
    def test_totp_period_and_t0_are_checked(self, kwargs: dict[str, Any], error: type) -> None:
        """period must be a positive int and t0 a non-negative int."""
        with pytest.raises(error):
            TOTP(RFC_SEED_SHA1, **kwargs)

    def test_repr_never_shows_the_key(self) -> None:
        """repr and str show the parameters but not the key, in any encoding."""
        key = bytes(range(0x41, 0x41 + 20))
        token = TOTP(key, digits=8, algorithm="sha256", period=60)
        text = repr(token) + str(token)
        assert "TOTP(digits=8, algorithm='sha256', period=60, t0=0)" == repr(token)
        for form in (repr(key), key.hex(), key.decode("ascii")):
            assert form not in text

    def test_equality_compares_keys_and_parameters(self) -> None:
        """Tokens are equal when key and parameters match; hashes agree with equality."""
        a = HOTP(RFC_SEED_SHA1)
        assert a == HOTP(bytes(RFC_SEED_SHA1))
        assert hash(a) == hash(HOTP(bytes(RFC_SEED_SHA1)))
        assert a != HOTP(RFC_SEED_SHA1[::-1])
        assert a != HOTP(RFC_SEED_SHA1, digits=7)

    def test_tokens_are_immutable(self) -> None:
        """A token is frozen: its key cannot be swapped after the HMAC state is prepared."""
        token = HOTP(RFC_SEED_SHA1)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            token.key = b"x" * 20  # type: ignore[misc]


class TestGenerateKey:
    """Fresh keys match the hash output length (RFC 4226 §4 R6, RFC 6238 §5.1)."""

    @pytest.mark.parametrize(
        ("algorithm", "length"), [("sha1", 20), ("sha256", 32), ("sha512", 64)]
    )
    def test_lengths(self, algorithm: Any, length: int) -> None:
        """SHA1 keys are 160 bits, SHA256 256 bits and SHA512 512 bits."""
        assert length == len(generate_key(algorithm))

    @given(algorithm=sts.algorithms)
    def test_generated_keys_are_accepted_without_opt_in(self, algorithm: Any) -> None:
        """Every generated key is long enough for a token without allow_short_key."""
        key = generate_key(algorithm)
        assert 6 == len(HOTP(key, algorithm=algorithm).generate(0))

    def test_unknown_algorithm_is_refused(self) -> None:
        """generate_key checks its algorithm like the tokens do."""
        with pytest.raises(InvalidInput):
            generate_key("md5")  # type: ignore[arg-type]


class TestHOTPVerify:
    """HOTP.verify: look-ahead, replay floor and code shapes."""

    token = HOTP(RFC_SEED_SHA1)
    codes: ClassVar = [r[4] for r in RFC4226]

    def test_look_ahead_finds_a_later_counter(self) -> None:
        """A code 3 counters ahead verifies with look_ahead >= 3 and reports offset 3."""
        assert Match(7, 3) == self.token.verify(self.codes[7], counter=4, look_ahead=3)

    def test_look_ahead_is_bounded(self) -> None:
        """A code just beyond the look-ahead is refused."""
        with pytest.raises(InvalidCode):
            self.token.verify(self.codes[7], counter=4, look_ahead=2)

    def test_codes_behind_the_counter_are_refused(self) -> None:
        """HOTP never looks back: an older code is refused."""
        with pytest.raises(InvalidCode):
            self.token.verify(self.codes[3], counter=4, look_ahead=5)

    def test_last_counter_refuses_a_replay(self) -> None:
        """The code for last_counter is refused even when the window covers it."""
        with pytest.raises(InvalidCode):
            self.token.verify(self.codes[5], counter=5, look_ahead=2, last_counter=5)

    def test_look_ahead_cap(self) -> None:
        """look_ahead above MAX_LOOK_AHEAD is refused before any code is computed."""
        with pytest.raises(InvalidInput):
            self.token.verify(self.codes[0], counter=0, look_ahead=MAX_LOOK_AHEAD + 1)

    @pytest.mark.parametrize("counter", [-1, 2**64])
    def test_counter_range(self, counter: int) -> None:
        """Counters must fit in 8 unsigned bytes (RFC 4226 §5.2)."""
        with pytest.raises(InvalidInput):
            self.token.generate(counter)

    def test_counter_at_the_top_of_the_range(self) -> None:
        """The window is trimmed, not wrapped, at 2**64 - 1."""
        top = 2**64 - 1
        code = self.token.generate(top)
        assert Match(top, 0) == self.token.verify(code, counter=top, look_ahead=5)

    def test_invalid_code_message_is_constant(self) -> None:
        """A wrong code and a replay raise the same type with the same message."""
        with pytest.raises(InvalidCode) as wrong:
            self.token.verify(other_code(self.codes[1]), counter=1)
        with pytest.raises(InvalidCode) as replay:
            self.token.verify(self.codes[1], counter=1, last_counter=1)
        assert type(wrong.value) is type(replay.value)
        assert str(wrong.value) == str(replay.value)
        assert self.codes[1] not in str(replay.value)


class TestCodeShapes:
    """Typed codes are strict: ASCII digits, with light grouping allowed."""

    token = HOTP(RFC_SEED_SHA1)

    @pytest.mark.parametrize(
        "typed", ["755224", " 755224", "755224\n", "755 224", "755-224", "\t755 224 "]
    )
    def test_accepted_shapes(self, typed: str) -> None:
        """Surrounding whitespace and one space or dash between groups are allowed."""
        assert Match(0, 0) == self.token.verify(typed, counter=0)

    @pytest.mark.parametrize(
        "typed",
        [
            "７５５２２４",  # full-width digits
            "٧٥٥٢٢٤",  # Arabic-Indic digits
            "755  224",  # two separators
            "755_224",
            "755224 0",
            "75522",
            "7552240",
            "",
            "-755224",
            "+755224",
            "755224-",
        ],
    )
    def test_refused_shapes(self, typed: str) -> None:
        """Anything else is a MalformedCode, which is also an InvalidCode and a ValueError."""
        with pytest.raises(MalformedCode) as caught:
            self.token.verify(typed, counter=0)
        assert isinstance(caught.value, InvalidCode)
        assert isinstance(caught.value, ValueError)

    @given(st.text("0123456789", min_size=10, max_size=10))
    @example("9999999999")
    @example("4294967296")
    def test_any_ten_digit_code_is_answered(self, code: str) -> None:
        """Every 10-digit string, even above 2**32, is a match or InvalidCode, never
        struct.error (issue 6, #5: 57% of 10-digit strings used to raise it)."""
        token = HOTP(RFC_SEED_SHA1, digits=10)
        try:
            token.verify(code, counter=0, look_ahead=2)
        except InvalidCode:
            return
        assert code in {token.generate(n) for n in range(3)}

    def test_int_codes_are_a_type_error(self) -> None:
        """An int code is refused: it would lose leading zeros."""
        with pytest.raises(TypeError):
            self.token.verify(755224, counter=0)  # type: ignore[arg-type]


class TestTOTPVerify:
    """TOTP.verify: the asymmetric window, the replay floor and times."""

    token = TOTP(RFC_SEED_SHA1)
    now = 1_700_000_000
    step = now // 30

    def test_default_window_is_one_step_each_way(self) -> None:
        """Steps -1 and +1 are accepted by default, -2 and +2 are not (RFC 6238 §5.2)."""
        for offset in (-1, 0, 1):
            code = self.token.generate_step(self.step + offset)
            assert Match(self.step + offset, offset) == self.token.verify(code, at=self.now)
        for offset in (-2, 2):
            with pytest.raises(InvalidCode):
                self.token.verify(self.token.generate_step(self.step + offset), at=self.now)

    def test_asymmetric_window(self) -> None:
        """past and future are independent."""
        old = self.token.generate_step(self.step - 3)
        assert -3 == self.token.verify(old, at=self.now, past=3, future=0).offset
        with pytest.raises(InvalidCode):
            self.token.verify(self.token.generate_step(self.step + 1), at=self.now, future=0)

    def test_last_step_refuses_the_same_code(self) -> None:
        """Carrying last_step refuses the code that was just accepted (RFC 6238 §5.2)."""
        code = self.token.generate(self.now)
        match = self.token.verify(code, at=self.now)
        with pytest.raises(InvalidCode):
            self.token.verify(code, at=self.now, last_step=match.counter)

    def test_last_step_refuses_older_steps_inside_the_window(self) -> None:
        """After step n is used, step n-1 is refused even though the window includes it."""
        previous = self.token.generate_step(self.step - 1)
        with pytest.raises(InvalidCode):
            self.token.verify(previous, at=self.now, last_step=self.step)

    @pytest.mark.parametrize(("past", "future"), [(MAX_WINDOW + 1, 1), (1, MAX_WINDOW + 1)])
    def test_window_cap(self, past: int, future: int) -> None:
        """Windows wider than MAX_WINDOW steps are refused."""
        with pytest.raises(InvalidInput):
            self.token.verify("000000", at=self.now, past=past, future=future)

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"past": -1}, InvalidInput),
            ({"future": True}, TypeError),
            ({"last_step": -5}, InvalidInput),
            ({"last_step": 1.0}, TypeError),
        ],
    )
    def test_window_arguments_are_checked(self, kwargs: dict[str, Any], error: type) -> None:
        """Negative or mistyped window arguments are refused."""
        with pytest.raises(error):
            self.token.verify("000000", at=self.now, **kwargs)

    def test_naive_datetime_is_refused(self) -> None:
        """A naive datetime is ambiguous and refused with a clear error."""
        with pytest.raises(InvalidTime, match="naive"):
            self.token.generate(dt.datetime(2024, 1, 1))

    def test_aware_datetimes_in_any_zone(self) -> None:
        """An aware datetime in another zone gives the code of the same instant."""
        bogota = dt.timezone(dt.timedelta(hours=-5))
        instant = dt.datetime(2024, 5, 1, 7, 0, 0, tzinfo=bogota)
        assert self.token.generate(instant) == self.token.generate(int(instant.timestamp()))

    @pytest.mark.parametrize("at", [1.5, True, "1700000000", None])
    def test_times_of_the_wrong_type(self, at: Any) -> None:
        """Floats, bools and strings are not times."""
        with pytest.raises(TypeError):
            self.token.generate(at)

    def test_times_before_t0_or_1970_are_refused(self) -> None:
        """A time before t0, or before the epoch, has no step."""
        with pytest.raises(InvalidTime):
            TOTP(RFC_SEED_SHA1, t0=1000).generate(999)
        with pytest.raises(InvalidTime):
            self.token.generate(-1)

    def test_t0_and_period_shift_the_steps(self) -> None:
        """With t0 and period, the step is (at - t0) // period (RFC 6238 §4.2)."""
        token = TOTP(RFC_SEED_SHA1, period=60, t0=600)
        assert 0 == token.step(600)
        assert 1 == token.step(660)
        assert HOTP(RFC_SEED_SHA1).generate(1) == token.generate(660)


class TestWorkIsConstantOnFailure:
    """SECURITY.md S9: a failure computes every candidate; a success may stop early."""

    now = 1_700_000_000

    @pytest.mark.parametrize(("past", "future"), [(1, 1), (0, 0), (2, 5), (10, 10)])
    def test_wrong_and_replayed_codes_cost_the_whole_window(self, past: int, future: int) -> None:
        """A wrong code and a replayed code both compute exactly past + future + 1 codes."""
        token = TOTP(RFC_SEED_SHA1)
        step = token.step(self.now)
        good = token.generate_step(step)
        window = past + future + 1
        counter = count_macs(token)
        with pytest.raises(InvalidCode):
            token.verify(other_code(good), at=self.now, past=past, future=future)
        assert window == counter.copies
        counter.copies = 0
        with pytest.raises(InvalidCode):
            token.verify(good, at=self.now, past=past, future=future, last_step=step)
        assert window == counter.copies

    def test_a_current_code_stops_at_the_first_candidate(self) -> None:
        """The expected step is tried first, so a current code costs one HMAC."""
        token = TOTP(RFC_SEED_SHA1)
        good = token.generate(self.now)
        counter = count_macs(token)
        token.verify(good, at=self.now, past=10, future=10)
        assert 1 == counter.copies


class TestProperties:
    """Invariants a reviewer can read, checked over generated inputs."""

    @given(key=sts.keys, counter=sts.counters, digits=sts.digits, algorithm=sts.algorithms)
    def test_generate_then_verify_round_trips(
        self, key: bytes, counter: int, digits: int, algorithm: str
    ) -> None:
        """Any generated HOTP code verifies at its own counter with offset 0."""
        token = HOTP(key, digits=digits, algorithm=algorithm)
        assert Match(counter, 0) == token.verify(token.generate(counter), counter=counter)

    @given(
        key=sts.keys,
        at=sts.unix_times,
        period=sts.periods,
        digits=sts.digits,
        algorithm=sts.algorithms,
    )
    @example(key=RFC_SEED_SHA1, at=20_000_000_000, period=30, digits=8, algorithm="sha1")
    def test_totp_round_trips(
        self, key: bytes, at: int, period: int, digits: int, algorithm: str
    ) -> None:
        """Any generated TOTP code verifies at the same time with offset 0."""
        token = TOTP(key, digits=digits, algorithm=algorithm, period=period)
        assert Match(token.step(at), 0) == token.verify(token.generate(at), at=at)

    @given(
        key=sts.keys,
        at=st.integers(min_value=10**6, max_value=2**40),
        past=st.integers(0, MAX_WINDOW),
        future=st.integers(0, MAX_WINDOW),
        offset=st.integers(-40, 40),
    )
    def test_no_code_outside_the_window_is_accepted(
        self, key: bytes, at: int, past: int, future: int, offset: int
    ) -> None:
        """A code is accepted only if some step inside [-past, +future] produces it."""
        token = TOTP(key)
        step = token.step(at)
        code = token.generate_step(step + offset)
        window = {token.generate_step(step + o): o for o in range(-past, future + 1)}
        if code in window:
            match = token.verify(code, at=at, past=past, future=future)
            assert -past <= match.offset <= future
            assert code == token.generate_step(match.counter)
        else:
            assume(not -past <= offset <= future)
            with pytest.raises(InvalidCode):
                token.verify(code, at=at, past=past, future=future)

    @given(
        key=sts.keys,
        at=st.integers(min_value=10**6, max_value=2**40),
        offset=st.integers(-MAX_WINDOW, MAX_WINDOW),
        behind=st.integers(0, 2 * MAX_WINDOW),
    )
    def test_nothing_at_or_below_last_step_is_accepted(
        self, key: bytes, at: int, offset: int, behind: int
    ) -> None:
        """With last_step = n, every accepted step is above n, even inside the window."""
        token = TOTP(key)
        step = token.step(at)
        last_step = step + MAX_WINDOW - behind
        code = token.generate_step(step + offset)
        try:
            match = token.verify(
                code, at=at, past=MAX_WINDOW, future=MAX_WINDOW, last_step=last_step
            )
        except InvalidCode:
            # Refusal is only allowed for a step at or below the floor: any step above it and
            # inside the window must be found, whatever codes collide below the floor.
            assert step + offset <= last_step
        else:
            assert match.counter > last_step

    @given(
        key=sts.keys,
        start=st.integers(min_value=10**6, max_value=2**36),
        moves=st.lists(st.integers(0, 90), min_size=1, max_size=12),
    )
    def test_a_code_is_never_accepted_twice_when_last_step_is_carried(
        self, key: bytes, start: int, moves: list[int]
    ) -> None:
        """Carrying Match.counter as last_step makes accepted steps strictly increase."""
        token = TOTP(key)
        at = start
        last_step: int | None = None
        accepted: list[int] = []
        for move in moves:
            at += move
            code = token.generate(at)
            try:
                match = token.verify(code, at=at, last_step=last_step)
            except InvalidCode:
                assert last_step is not None
                assert token.step(at) <= last_step
                continue
            accepted.append(match.counter)
            last_step = match.counter
        assert accepted == sorted(set(accepted))

    @given(
        key=sts.keys,
        counter=st.integers(0, 2**40),
        look_ahead=st.integers(0, MAX_LOOK_AHEAD),
        offset=st.integers(-5, MAX_LOOK_AHEAD + 5),
    )
    def test_hotp_accepts_only_inside_its_look_ahead(
        self, key: bytes, counter: int, look_ahead: int, offset: int
    ) -> None:
        """HOTP accepts a code only if a counter in [counter, counter + look_ahead] has it."""
        token = HOTP(key)
        target = counter + offset
        assume(target >= 0)
        code = token.generate(target)
        window = {token.generate(c) for c in range(counter, counter + look_ahead + 1)}
        if code in window:
            match = token.verify(code, counter=counter, look_ahead=look_ahead)
            assert 0 <= match.offset <= look_ahead
        else:
            with pytest.raises(InvalidCode):
                token.verify(code, counter=counter, look_ahead=look_ahead)

    @given(past=st.integers(0, MAX_WINDOW), future=st.integers(0, MAX_WINDOW))
    def test_checking_order_is_expected_first_then_outward(self, past: int, future: int) -> None:
        """Offsets are tried by distance from 0, the past before the future at equal distance."""
        token = TOTP(RFC_SEED_SHA1)
        at = 1_700_000_000
        step = token.step(at)
        tried: list[int] = []

        class RecordingMAC(CountingMAC):
            def copy(self) -> Any:
                mac = self.inner.copy()
                outer = self

                class Recorder:
                    def update(self, data: bytes) -> None:
                        tried.append(int.from_bytes(data, "big") - step)
                        mac.update(data)

                    def finalize(self) -> bytes:
                        outer.copies += 1
                        return bytes(mac.finalize())

                return Recorder()

        object.__setattr__(token, "_mac", RecordingMAC(token._mac))
        with pytest.raises(InvalidCode):
            token.verify(
                "000000" if token.generate(at) != "000000" else "111111",
                at=at,
                past=past,
                future=future,
                last_step=step + future,
            )
        assert sorted(tried, key=lambda o: (abs(o), o)) == tried
        assert set(range(-past, future + 1)) == set(tried)


class TestResync:
    """Resynchronisation needs two consecutive codes (RFC 4226 §7.4, RFC 6238 §6; S6)."""

    hotp = HOTP(RFC_SEED_SHA1)
    totp = TOTP(RFC_SEED_SHA1)
    now = 1_700_000_000

    def test_hotp_finds_a_counter_far_ahead(self) -> None:
        """A device 300 presses ahead is found from two consecutive codes."""
        first, second = self.hotp.generate(1300), self.hotp.generate(1301)
        assert Match(1301, 301) == self.hotp.resync(first, second, counter=1000)

    def test_hotp_needs_consecutive_codes(self) -> None:
        """Two valid codes that are not consecutive are refused."""
        first, third = self.hotp.generate(1300), self.hotp.generate(1302)
        with pytest.raises(InvalidCode):
            self.hotp.resync(first, third, counter=1000)

    def test_hotp_span_is_bounded(self) -> None:
        """A pair beyond the look-ahead is refused, and the look-ahead is capped."""
        first, second = self.hotp.generate(1300), self.hotp.generate(1301)
        with pytest.raises(InvalidCode):
            self.hotp.resync(first, second, counter=1000, look_ahead=299)
        with pytest.raises(InvalidInput):
            self.hotp.resync(first, second, counter=1000, look_ahead=MAX_RESYNC_SPAN + 1)

    def test_hotp_resync_respects_last_counter(self) -> None:
        """A pair whose first code is at or below last_counter is refused."""
        first, second = self.hotp.generate(1300), self.hotp.generate(1301)
        with pytest.raises(InvalidCode):
            self.hotp.resync(first, second, counter=1000, last_counter=1300)

    @pytest.mark.parametrize("drift", [-400, -40, -1, 0, 3, 499])
    def test_totp_measures_drift(self, drift: int) -> None:
        """A device clock off by `drift` steps resyncs with offset == drift."""
        step = self.totp.step(self.now) + drift
        first, second = self.totp.generate_step(step - 1), self.totp.generate_step(step)
        assert Match(step, drift) == self.totp.resync(first, second, at=self.now)

    def test_totp_span_is_capped(self) -> None:
        """past + future may not exceed MAX_RESYNC_SPAN."""
        with pytest.raises(InvalidInput):
            self.totp.resync("000000", "111111", at=self.now, past=600, future=401)

    @given(
        key=sts.keys,
        counter=st.integers(0, 2**40),
        offset=st.integers(0, 60),
        look_ahead=st.integers(0, 50),
    )
    def test_consecutive_pairs_inside_the_span_are_found(
        self, key: bytes, counter: int, offset: int, look_ahead: int
    ) -> None:
        """A consecutive pair is found exactly when its first code lies inside the span."""
        token = HOTP(key)
        first, second = token.generate(counter + offset), token.generate(counter + offset + 1)
        if offset <= look_ahead:
            match = token.resync(first, second, counter=counter, look_ahead=look_ahead)
            assert match.counter <= counter + offset + 1
            assert second == token.generate(match.counter)
        else:
            codes = [token.generate(c) for c in range(counter, counter + look_ahead + 2)]
            assume(not any(a == first and b == second for a, b in itertools.pairwise(codes)))
            with pytest.raises(InvalidCode):
                token.resync(first, second, counter=counter, look_ahead=look_ahead)
