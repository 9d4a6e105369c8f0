"""Measure the app side's security figures: PIN hashing cost, the PIN oracle, concurrent PINs.

Run with ``make bench``. Prints, for docs/security.md:

1. the cost of one PIN hash at the default parameters (``PHONE_KDF``) and of the whole 4-digit
   space at that cost, on one core;
2. the PIN oracle (SECURITY.md S17): every 4-digit guess is put to every public call that takes
   a PIN without a counted attempt, on two wallets whose true PINs differ, active, locked (with
   an unlock attempt open) and wiped; it counts the guesses whose answers differ (an oracle)
   and the tries spent;
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
import timeit
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from softtoken.app import FileVersionGuard, IdentityPolicy, Wallet, WalletFile
from softtoken.exceptions import PINLocked, SoftTokenError, WrongPIN
from softtoken.pinlock import (
    ENTRUST_LIKE,
    INSECURE_TEST_KDF,
    PAYSECURE_LIKE,
    PHONE_KDF,
    KDFParams,
    PINVerifier,
)

DEVICE_KEY = bytes(range(32))
SERIAL = "93171-12184"
SECRET = b"bench-secret-0123456789"
NOW = 1_700_000_000


def pin_hash_cost(repeat: int) -> float:
    """Seconds per PIN hash at PHONE_KDF: the best of *repeat*."""
    verifier = PINVerifier.create("2580", params=PHONE_KDF)
    return min(timeit.repeat(lambda: verifier.derive_key("1357"), repeat=repeat, number=1))


def _answer(call: Callable[[], Any]) -> object:
    try:
        result = call()
    except SoftTokenError as error:
        return (type(error).__name__, str(error), sorted(vars(error).items()))
    if isinstance(result, tuple) and isinstance(result[0], Wallet):
        # What a caller learns: the listing and the result, not the wallets' own random ids.
        return ("ok", result[0].identities(), result[1])
    return ("ok", result)


def _wallet(pin: str, state: str, kdf: KDFParams) -> Wallet:
    """A wallet whose identity has *pin*, active, locked (5 wrong PINs) or wiped."""
    policy = IdentityPolicy.from_profile(PAYSECURE_LIKE if state == "wiped" else ENTRUST_LIKE)
    w = Wallet.create(device_key=DEVICE_KEY, policy=policy, kdf=kdf)
    w = w.add_key(SERIAL, SECRET, name="B", pin=pin)
    for _ in range(0 if state == "active" else 5):
        w = w.begin_attempt(SERIAL, now=NOW).show_code(SERIAL, "1357", now=NOW)[0]
    return w


def oracle(kdf: KDFParams, state: str) -> tuple[int, int, int]:
    """(guesses, guesses whose answers differ between two PINs, tries spent) in *state*."""
    wallets = [_wallet(pin, state, kdf) for pin in ("2580", "7413")]
    before = [w.identities() for w in wallets]
    # While locked, an unlock attempt is open, so the unlock call reaches its PIN checks.
    if state == "locked":
        wallets = [w.begin_attempt(SERIAL, now=NOW, unlock=True) for w in wallets]
    differing = 0
    guesses = ["".join(digits) for digits in itertools.product("0123456789", repeat=4)]
    for guess in guesses:
        answers = [
            [
                _answer(partial(w.check_new_pin, SERIAL, guess)),
                _answer(partial(w.show_code, SERIAL, guess, now=NOW)),
                _answer(partial(w.unlock, SERIAL, "1234", new_pin=guess, now=NOW)),
            ]
            for w in wallets
        ]
        differing += answers[0] != answers[1]
    spent = sum(
        a.remaining_tries - b.remaining_tries + a.unlock_tries - b.unlock_tries
        for w, was in zip(wallets, before, strict=True)
        for a, b in zip(was, w.identities(), strict=True)
    )
    return len(guesses), differing, spent


def _store(path: Path, kdf: KDFParams) -> WalletFile:
    guard = FileVersionGuard(path.with_name("guard"))
    return WalletFile(path, device_key=DEVICE_KEY, guard=guard, kdf=kdf)


def _wrong_pin(args: tuple[str, int]) -> str:
    path, log2_n = args
    store = _store(Path(path), KDFParams(log2_n=log2_n, r=8, p=1))
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
        store = _store(path, kdf)
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

    for state in ("active", "locked", "wiped"):
        guesses, differing, spent = oracle(INSECURE_TEST_KDF, state)
        print(
            f"PIN oracle, {state}: {guesses} guesses x 3 uncounted calls on two wallets; "
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
