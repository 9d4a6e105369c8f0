"""Measure the app side's security figures: PIN hashing cost, the PIN oracle, concurrent PINs.

Run with ``make bench``. Prints, for docs/security.md:

1. the cost of one PIN hash at the default parameters (``PHONE_KDF``) and of the whole 4-digit
   space at that cost, on one core;
2. the PIN oracle (SECURITY.md S17): every 4-digit guess is put to every public call that takes
   a PIN without a counted attempt, on two wallets whose true PINs differ; it counts the guesses
   whose answers differ (an oracle) and the tries spent;
3. concurrent wrong PINs (S7, app side): N real processes each enter one wrong PIN into the same
   wallet file at once; it counts how many PINs were evaluated (the limit is 5).

Nothing here is asserted: the unit tests prove the bounds, this prints the figures.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from softtoken.app import MemoryVersionGuard, Wallet, WalletFile
from softtoken.exceptions import PINLocked, SoftTokenError, WrongPIN
from softtoken.pinlock import INSECURE_TEST_KDF, PHONE_KDF, KDFParams, PINVerifier

DEVICE_KEY = bytes(range(32))
SERIAL = "93171-12184"
SECRET = b"bench-secret-0123456789"
NOW = 1_700_000_000


def pin_hash_cost(repeat: int) -> float:
    """Seconds per PIN hash at PHONE_KDF: the best of *repeat*."""
    verifier = PINVerifier.create("2580", params=PHONE_KDF)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        verifier.derive_key("1357")
        best = min(best, time.perf_counter() - start)
    return best


def _answer(call: Callable[[], Any]) -> object:
    try:
        result = call()
    except SoftTokenError as error:
        return (type(error).__name__, str(error), sorted(vars(error).items()))
    return ("ok", repr(result))


def oracle(kdf: KDFParams) -> tuple[int, int, int]:
    """(guesses, guesses whose answers differ between two PINs, tries spent)."""
    wallets = [
        Wallet.create(device_key=DEVICE_KEY, kdf=kdf).add_key(SERIAL, SECRET, name="B", pin=pin)
        for pin in ("2580", "7413")
    ]
    differing = 0
    guesses = ["".join(digits) for digits in itertools.product("0123456789", repeat=4)]
    for guess in guesses:
        answers = [
            [
                _answer(partial(w.check_new_pin, SERIAL, guess)),
                _answer(partial(w.show_code, SERIAL, guess, now=NOW)),
                _answer(partial(w.unlock, SERIAL, "12345678", new_pin=guess, now=NOW)),
            ]
            for w in wallets
        ]
        differing += answers[0] != answers[1]
    spent = sum(5 - w.info(SERIAL).remaining_tries for w in wallets)
    return len(guesses), differing, spent


def _wrong_pin(args: tuple[str, int]) -> str:
    path, log2_n = args
    kdf = KDFParams(log2_n=log2_n, r=8, p=1)
    store = WalletFile(Path(path), device_key=DEVICE_KEY, guard=MemoryVersionGuard(), kdf=kdf)
    try:
        store.code(SERIAL, "1357", now=NOW)
    except WrongPIN:
        return "evaluated"
    except PINLocked as error:
        return "evaluated" if error.just_now else "refused unevaluated"
    return "accepted"


def concurrent(processes: int, kdf: KDFParams) -> Counter[str]:
    """Outcomes of *processes* concurrent wrong PINs on one wallet file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wallet"
        store = WalletFile(path, device_key=DEVICE_KEY, guard=MemoryVersionGuard(), kdf=kdf)
        store.create()
        store.update(lambda w: w.add_key(SERIAL, SECRET, name="B", pin="2580"))
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            return Counter(pool.map(_wrong_pin, [(str(path), kdf.log2_n)] * processes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and processes")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")

    cost = pin_hash_cost(2 if args.quick else 5)
    print(f"PIN hash at PHONE_KDF (N=2^17, r=8, p=1, 128 MiB): {cost:.3f} s")
    print(f"  the whole 4-digit space on one core: {cost * 10_000 / 60:.0f} minutes")

    guesses, differing, spent = oracle(INSECURE_TEST_KDF)
    print(
        f"PIN oracle: {guesses} guesses x 3 uncounted calls on two wallets; "
        f"answers that differ: {differing}; tries spent: {spent}"
    )

    for processes in (5, 12) if args.quick else (5, 12, 24):
        outcomes = concurrent(processes, PHONE_KDF)
        print(
            f"{processes:2d} concurrent wrong PINs (PHONE_KDF): "
            f"{outcomes['evaluated']} evaluated, "
            f"{outcomes['refused unevaluated']} refused unevaluated (limit 5)"
        )


if __name__ == "__main__":
    main()
