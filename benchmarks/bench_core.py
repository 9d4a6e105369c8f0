"""Benchmark the OTP core against its peers, measured in the same run.

Run with ``make bench``. Prints nanoseconds per operation for softtoken, pyotp, cryptography's
``twofactor`` module and softtoken's pure-Python reference, the ratio of each peer to softtoken,
and the targets from the issue. Timings are the minimum over several repeats, which is the least
noisy estimate on a shared machine; they are never asserted in the unit tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import cryptography
import pyotp
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor import hotp as crypto_hotp
from cryptography.hazmat.primitives.twofactor import totp as crypto_totp

from softtoken import HOTP, TOTP, InvalidCode, _reference
from softtoken._encoding import b32encode

KEY = bytes(range(20))
AT = 1_700_000_000
COUNTER = 123_456
PERIOD = 30
MEMORY_TOKENS = 20_000


@dataclass
class Row:
    name: str
    ours: float
    peers: dict[str, float | None]
    target: tuple[str, float] | None  # (peer, minimum ratio)


def best_ns(func: Callable[[], object], repeat: int) -> float:
    """Minimum time per call in ns over *repeat* runs of an auto-sized loop."""
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    # autorange aims at 0.2 s; halve it so that the whole table stays under a minute.
    number = max(1, number // 2)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def expect_failure(
    func: Callable[[], object], errors: tuple[type[Exception], ...]
) -> Callable[[], None]:
    def run() -> None:
        try:
            func()
        except errors:
            return
        raise AssertionError("a wrong code was accepted")

    return run


def crypto_window(token: crypto_totp.TOTP, code: bytes, at: int, window: int) -> Callable[[], None]:
    """cryptography has no window: emulate ±window by one verify per step, current step first."""
    offsets = [0]
    for distance in range(1, window + 1):
        offsets += [-distance, distance]
    times = [at + offset * PERIOD for offset in offsets]

    def run() -> None:
        for moment in times:
            try:
                token.verify(code, moment)
            except InvalidToken:
                continue
            return

    return run


def reference_window(code: str, at: int, window: int) -> Callable[[], None]:
    """The pure-Python reference, checking the same window in the same order."""
    offsets = [0]
    for distance in range(1, window + 1):
        offsets += [-distance, distance]

    def run() -> None:
        for offset in offsets:
            if _reference.totp(KEY, at + offset * PERIOD) == code:
                return

    return run


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_per_token(make: Callable[[bytes], object]) -> float:
    """Resident memory added per prepared token, averaged over many tokens.

    Resident-set growth includes OpenSSL's HMAC contexts, which tracemalloc cannot see.
    """
    keys = [os.urandom(20) for _ in range(MEMORY_TOKENS)]
    gc.collect()
    before = rss_bytes()
    tokens = [make(key) for key in keys]
    after = rss_bytes()
    del tokens
    return (after - before) / MEMORY_TOKENS


def measure(repeat: int, with_reference: bool) -> list[Row]:
    hotp = HOTP(KEY)
    totp = TOTP(KEY)
    p_hotp = pyotp.HOTP(b32encode(KEY))
    p_totp = pyotp.TOTP(b32encode(KEY))
    c_hotp = crypto_hotp.HOTP(KEY, 6, SHA1())
    c_totp = crypto_totp.TOTP(KEY, 6, SHA1(), PERIOD)

    good = totp.generate(AT)
    bad = str((int(good) + 1) % 10**6).zfill(6)
    for offset in range(-10, 11):
        # The wrong code must be wrong across the widest window measured.
        assert bad != totp.generate(AT + offset * PERIOD)

    def ref(func: Callable[[], object]) -> float | None:
        return best_ns(func, repeat) if with_reference else None

    return [
        Row(
            "HOTP generate",
            best_ns(lambda: hotp.generate(COUNTER), repeat),
            {
                "pyotp": best_ns(lambda: p_hotp.at(COUNTER), repeat),
                "twofactor": best_ns(lambda: c_hotp.generate(COUNTER), repeat),
                "reference": ref(lambda: _reference.hotp(KEY, COUNTER)),
            },
            ("pyotp", 5.0),
        ),
        Row(
            "TOTP generate",
            best_ns(lambda: totp.generate(AT), repeat),
            {
                "pyotp": best_ns(lambda: p_totp.at(AT), repeat),
                "twofactor": best_ns(lambda: c_totp.generate(AT), repeat),
                "reference": ref(lambda: _reference.totp(KEY, AT)),
            },
            ("pyotp", 5.0),
        ),
        Row(
            "TOTP verify ±1, valid current code",
            best_ns(lambda: totp.verify(good, at=AT), repeat),
            {
                "pyotp": best_ns(lambda: p_totp.verify(good, for_time=AT, valid_window=1), repeat),
                "twofactor": best_ns(crypto_window(c_totp, good.encode(), AT, 1), repeat),
                "reference": ref(reference_window(good, AT, 1)),
            },
            ("pyotp", 10.0),
        ),
        Row(
            "TOTP verify ±1, invalid code",
            best_ns(expect_failure(lambda: totp.verify(bad, at=AT), (InvalidCode,)), repeat),
            {
                "pyotp": best_ns(lambda: p_totp.verify(bad, for_time=AT, valid_window=1), repeat),
                "twofactor": best_ns(crypto_window(c_totp, bad.encode(), AT, 1), repeat),
                "reference": ref(reference_window(bad, AT, 1)),
            },
            ("pyotp", 6.0),
        ),
        Row(
            "TOTP verify ±10, invalid code",
            best_ns(
                expect_failure(lambda: totp.verify(bad, at=AT, past=10, future=10), (InvalidCode,)),
                repeat,
            ),
            {
                "pyotp": best_ns(lambda: p_totp.verify(bad, for_time=AT, valid_window=10), repeat),
                "twofactor": best_ns(crypto_window(c_totp, bad.encode(), AT, 10), repeat),
                "reference": ref(reference_window(bad, AT, 10)),
            },
            None,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7, help="timing repeats per cell")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the slow pure-Python reference column"
    )
    args = parser.parse_args(argv)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(
        f"python: {platform.python_implementation()} {platform.python_version()}; "
        f"cryptography {cryptography.__version__}; pyotp {version('pyotp')}"
    )
    print()
    rows = measure(args.repeat, not args.no_reference)
    peers = ["pyotp", "twofactor", "reference"]
    header = f"{'operation':<36} {'softtoken':>10}" + "".join(
        f" {p:>10} {'ratio':>7}" for p in peers
    )
    print(header + "  target")
    print("-" * (len(header) + 16))
    misses = 0
    twofactor_misses = 0
    for row in rows:
        line = f"{row.name:<36} {row.ours:>8.0f}ns"
        for peer in peers:
            value = row.peers.get(peer)
            if value is None:
                line += f" {'-':>10} {'-':>7}"
            else:
                line += f" {value:>8.0f}ns {value / row.ours:>6.1f}x"
        if row.target is not None:
            peer, minimum = row.target
            value = row.peers[peer]
            assert value is not None
            met = value / row.ours >= minimum
            misses += not met
            line += f"  >={minimum:.0f}x vs {peer}: {'met' if met else 'MISSED'}"
        twofactor = row.peers["twofactor"]
        if twofactor is not None and row.name != "TOTP verify ±10, invalid code":
            twofactor_misses += twofactor / row.ours < 3.0
        print(line)
    print()
    print(
        "against cryptography's twofactor (>=3x, ±1 emulated by one verify per step): "
        + ("met" if not twofactor_misses else f"MISSED on {twofactor_misses} rows")
    )
    ours = memory_per_token(TOTP)
    theirs = memory_per_token(lambda key: pyotp.TOTP(b32encode(key)))
    crypto = memory_per_token(lambda key: crypto_totp.TOTP(key, 6, SHA1(), PERIOD))
    print(
        f"memory per prepared token (RSS growth over {MEMORY_TOKENS} tokens): "
        f"softtoken {ours:.0f} B, pyotp {theirs:.0f} B, twofactor {crypto:.0f} B; "
        f"target <= 1024 B: {'met' if ours <= 1024 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
