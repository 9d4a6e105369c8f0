"""Differential tests: softtoken's HOTP and TOTP against pyotp and the oathtool command.

Both are independent implementations (SECURITY.md S1). Times reach the year 3000, past 2**32.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from typing import Any, Final

import pyotp
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from softtoken import HOTP, TOTP
from softtoken._encoding import b32encode
from tests import strategies as sts

# pyotp takes the hash as a hashlib constructor.
PYOTP_DIGESTS: Final[dict[str, Callable[..., Any]]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
# Both pyotp and oathtool produce 6 to 8 digits; oathtool refuses more.
OTHER_DIGITS = st.integers(min_value=6, max_value=8)
# pyotp refuses periods over 120 seconds.
PYOTP_PERIODS = sts.periods.filter(lambda period: period <= 120)
# A time in the year 2200, past 2**32 seconds and the 2038 and 2106 roll-overs.
YEAR_2200: Final = 7_258_118_400
EXAMPLE_KEY: Final = bytes(range(1, 21))
MAX_COUNTER: Final = 2**64 - 1

# Each oathtool run generates WINDOW + 1 consecutive codes, to keep the process count low.
WINDOW: Final = 15
OATHTOOL_EXAMPLES: Final = 30
# oathtool's counter wraps past 2**64 - 1 inside a window, so windows start early enough to end
# at the last counter.
oathtool_counters = sts.counters.map(lambda counter: min(counter, MAX_COUNTER - WINDOW))
# oathtool takes "now" as a signed 64-bit time_t.
oathtool_seconds = st.one_of(
    st.integers(min_value=0, max_value=2**63 - 1 - WINDOW),
    st.sampled_from([0, 2**31 - 1, 2**32 - 1, 2**32, 2**63 - 1 - WINDOW]),
)

requires_oathtool = pytest.mark.skipif(
    shutil.which("oathtool") is None, reason="oathtool is not installed; CI installs it"
)


def oathtool(key: bytes, *options: str) -> list[str]:
    """Return the codes ``oathtool`` prints for *key* with *options*.

    The key goes in on standard input ("-" as the KEY argument), so that it never appears in a
    command line, a process listing, or a CalledProcessError in the test output.
    """
    result = subprocess.run(
        ["oathtool", *options, "-"],
        input=key.hex(),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        pytest.fail(f"oathtool exited with status {result.returncode}: {result.stderr.strip()}")
    return result.stdout.split()


class TestPyotp:
    """pyotp, the common Python implementation."""

    @given(key=sts.keys, counter=sts.counters, digits=OTHER_DIGITS, algorithm=sts.algorithms)
    @example(key=EXAMPLE_KEY, counter=MAX_COUNTER, digits=8, algorithm="sha512")
    @example(key=EXAMPLE_KEY, counter=2**32, digits=6, algorithm="sha1")
    def test_hotp_equals_pyotp(self, key: bytes, counter: int, digits: int, algorithm: str) -> None:
        """HOTP codes equal pyotp's for any key, counter, digits and algorithm."""
        other = pyotp.HOTP(b32encode(key), digits=digits, digest=PYOTP_DIGESTS[algorithm])
        assert other.at(counter) == HOTP(key, digits=digits, algorithm=algorithm).generate(counter)

    @given(
        key=sts.keys,
        at=sts.unix_times,
        period=PYOTP_PERIODS,
        digits=OTHER_DIGITS,
        algorithm=sts.algorithms,
    )
    @example(key=EXAMPLE_KEY, at=YEAR_2200, period=30, digits=6, algorithm="sha1")
    @example(key=EXAMPLE_KEY, at=YEAR_2200 + 29, period=30, digits=8, algorithm="sha256")
    @example(key=EXAMPLE_KEY, at=2**32, period=60, digits=7, algorithm="sha512")
    def test_totp_equals_pyotp(
        self, key: bytes, at: int, period: int, digits: int, algorithm: str
    ) -> None:
        """TOTP codes equal pyotp's for any key, time, period, digits and algorithm."""
        other = pyotp.TOTP(
            b32encode(key), digits=digits, digest=PYOTP_DIGESTS[algorithm], interval=period
        )
        token = TOTP(key, digits=digits, algorithm=algorithm, period=period)
        assert other.at(at) == token.generate(at)


@requires_oathtool
class TestOathtool:
    """The oathtool command from OATH Toolkit, a C implementation."""

    @settings(max_examples=OATHTOOL_EXAMPLES)
    @given(key=sts.keys, counter=oathtool_counters, digits=OTHER_DIGITS)
    @example(key=EXAMPLE_KEY, counter=MAX_COUNTER - WINDOW, digits=6)
    def test_hotp_sha1_equals_oathtool(self, key: bytes, counter: int, digits: int) -> None:
        """HOTP-SHA1 codes for a run of counters equal oathtool --hotp's."""
        expected = oathtool(
            key, "--hotp", f"--digits={digits}", f"--counter={counter}", f"--window={WINDOW}"
        )
        token = HOTP(key, digits=digits)
        assert expected == [token.generate(counter + i) for i in range(WINDOW + 1)]

    @settings(max_examples=OATHTOOL_EXAMPLES)
    @given(key=sts.keys, counter=oathtool_seconds, digits=OTHER_DIGITS, algorithm=sts.algorithms)
    @example(key=EXAMPLE_KEY, counter=2**63 - 1 - WINDOW, digits=8, algorithm="sha512")
    def test_hotp_equals_oathtool_one_second_steps(
        self, key: bytes, counter: int, digits: int, algorithm: str
    ) -> None:
        """HOTP codes for any algorithm equal oathtool's TOTP with 1 s steps from 0 at that time.

        oathtool's --hotp is SHA-1 only. With X = 1 and T0 = 0, RFC 6238 §4.2 makes the time step
        equal to the Unix time, so its TOTP mode computes HOTP-SHA256 and HOTP-SHA512 too.
        """
        expected = oathtool(
            key,
            f"--totp={algorithm.upper()}",
            "--time-step-size=1s",
            "--start-time=@0",
            f"--now=@{counter}",
            f"--digits={digits}",
            f"--window={WINDOW}",
        )
        token = HOTP(key, digits=digits, algorithm=algorithm)
        assert expected == [token.generate(counter + i) for i in range(WINDOW + 1)]

    @settings(max_examples=OATHTOOL_EXAMPLES)
    @given(
        key=sts.keys,
        at=sts.unix_times,
        period=sts.periods,
        t0=st.integers(min_value=0, max_value=2**32),
        digits=OTHER_DIGITS,
        algorithm=sts.algorithms,
    )
    @example(key=EXAMPLE_KEY, at=YEAR_2200, period=30, t0=0, digits=6, algorithm="sha1")
    @example(key=EXAMPLE_KEY, at=YEAR_2200, period=60, t0=0, digits=8, algorithm="sha256")
    @example(key=EXAMPLE_KEY, at=YEAR_2200, period=300, t0=2**32, digits=7, algorithm="sha512")
    def test_totp_equals_oathtool(
        self, key: bytes, at: int, period: int, t0: int, digits: int, algorithm: str
    ) -> None:
        """TOTP codes for a run of steps equal oathtool --totp's, for any time, period and t0."""
        assume(t0 <= at)
        expected = oathtool(
            key,
            f"--totp={algorithm.upper()}",
            f"--time-step-size={period}s",
            f"--start-time=@{t0}",
            f"--now=@{at}",
            f"--digits={digits}",
            f"--window={WINDOW}",
        )
        token = TOTP(key, digits=digits, algorithm=algorithm, period=period, t0=t0)
        assert expected == [token.generate(at + i * period) for i in range(WINDOW + 1)]
