"""Welch t-test timing check for SECURITY.md S9: a failing verification costs the same work.

Classes of failing input are timed in a random interleaving, so that drift on a shared machine
falls on every class alike. The statistic follows the dudect method: |t| above 4.5 flags a
difference worth a look; below it, no difference was detected at this sample size. This is a
benchmark, not a test: its verdict depends on the machine and is printed, never asserted.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time

from softtoken import TOTP, InvalidCode

KEY = bytes(range(20))
AT = 1_700_000_000
THRESHOLD = 4.5
BATCH = 8


def welch_t(a: list[float], b: list[float]) -> float:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    var_a = sum((x - mean_a) ** 2 for x in a) / (len(a) - 1)
    var_b = sum((x - mean_b) ** 2 for x in b) / (len(b) - 1)
    return (mean_a - mean_b) / math.sqrt(var_a / len(a) + var_b / len(b))


def cropped(samples: list[float], quantile: float = 0.9) -> list[float]:
    """Drop the slowest tail, where interrupts and GC pauses live (as dudect does)."""
    limit = sorted(samples)[int(len(samples) * quantile)]
    return [s for s in samples if s <= limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Welch t-test on failing verifications")
    parser.add_argument("--samples", type=int, default=20_000, help="samples per class")
    args = parser.parse_args(argv)

    token = TOTP(KEY)
    step = token.step(AT)
    # Every class makes the same call with the same window and the same replay floor; only the
    # typed code differs. The replayed code is the previous step's, which the floor refuses.
    floor = step - 1
    replayed = token.generate_step(floor)
    window = {token.generate_step(step + o) for o in (-1, 0, 1)}

    def wrong_at(position: int) -> str:
        digit = str((int(replayed[position]) + 5) % 10)
        code = replayed[:position] + digit + replayed[position + 1 :]
        assert code not in window
        return code

    # One function is timed for every class; only the typed code differs. Separate closures
    # per class were measurably unequal by themselves (their place in memory), which a control
    # class of the same code through its own closure exposed at |t| up to 21.
    def attempt(code: str) -> None:
        try:
            token.verify(code, at=AT, last_step=floor)
        except InvalidCode:
            return
        raise AssertionError("the input was accepted")

    first = wrong_at(0)
    # The control is the same code as another class in a separate string object: any |t| it
    # shows against that class is the noise floor of this harness on this machine.
    inputs = {
        "wrong first digit": first,
        "control (same code)": "".join(list(first)),
        "wrong last digit": wrong_at(5),
        "replayed code": replayed,
    }
    samples: dict[str, list[float]] = {name: [] for name in inputs}
    order = [name for name in inputs for _ in range(args.samples)]
    # Interleaving order only; not security-relevant randomness.
    random.shuffle(order)
    clock = time.perf_counter_ns
    for name in order:
        code = inputs[name]
        start = clock()
        for _ in range(BATCH):
            attempt(code)
        samples[name].append((clock() - start) / BATCH)

    print(f"{args.samples} samples per class, {BATCH} calls per sample, tail above p90 cropped")
    for name, values in samples.items():
        kept = cropped(values)
        print(f"  {name:<18} mean {sum(kept) / len(kept):8.0f} ns")
    names = list(inputs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            t = welch_t(cropped(samples[a]), cropped(samples[b]))
            verdict = "no difference detected" if abs(t) < THRESHOLD else "DIFFERENCE: look closer"
            print(f"  {a} vs {b}: t = {t:+.2f} ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
