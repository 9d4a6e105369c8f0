"""The multi-process issuer test on one SQLite file (SECURITY.md S4 and S7, issue 8 section 5).

8 processes, each with its own ``SQLStore`` and ``Issuer`` on one SQLite file, run 8 threads each
that share their process's ``Issuer``. Round after round, all 64 threads submit the same valid
code at once: exactly one is accepted. Then they submit wrong codes at once: exactly 5 failures
are counted, the token is blocked, and nothing is accepted after the block, not even the valid
codes submitted in the same storm.

The figures are gathered in :data:`FIGURES` for docs/security.md; the tests assert them.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Final

import attrs
import pytest

from softtoken import TOTP
from softtoken.issuer import Issuer, TokenState
from softtoken.issuer.records import BlockReason
from softtoken.issuer.stores import SQLStore
from softtoken.provisioning import Serial
from softtoken.throttle import MAX_FAILURES
from tests.issuer_support import NOW, keyring
from tests.issuer_workers import PhaseResult, init_worker, storm

PROCESSES: Final = 8
THREADS: Final = 8
ROUNDS: Final = 15
"""Rounds of the valid-code storm; each round is one TOTP step (30 s) after the one before."""
LENIENT: Final = MAX_FAILURES
"""The failure limit of the valid-code rounds. A replay counts as a failure (S7), so under the
default limit of 5 the 63 losers of a round would block the token after 5 of them; with this
limit every loser runs the whole check against the replay floor, which is what S4 is about."""
STEP: Final = 30
VALID_SERIAL: Final = Serial.from_number(100_000_001)
WRONG_SERIAL: Final = Serial.from_number(100_000_002)
_KEY: Final = bytes(range(1, 21))
"""The shared test token's seed (a fixed test value, never printed)."""

FIGURES: dict[str, Any] = {}
"""What the tests measured, for the report; the tests assert every figure."""


@attrs.frozen
class Rig:
    """The shared SQLite file, a persistent spawn pool of worker processes, and an issuer in
    this process to set up and inspect tokens."""

    url: str
    pool: ProcessPoolExecutor
    issuer: Issuer

    def storm(
        self, serial: Serial, phases: list[list[str]], at: int, *, max_failures: int = 5
    ) -> list[list[PhaseResult]]:
        """Run *phases* in every worker process at once; one list of results per process."""
        futures = [
            self.pool.submit(storm, str(serial), phases, at, THREADS, max_failures=max_failures)
            for _ in range(PROCESSES)
        ]
        return [future.result(timeout=300) for future in futures]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Eight worker processes on one fresh SQLite file, started once for the module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('concurrency') / 'issuer.db'}"
    store = SQLStore(url)
    issuer = Issuer(store, keyring())
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    pool = ProcessPoolExecutor(
        max_workers=PROCESSES,
        mp_context=context,
        initializer=init_worker,
        initargs=(url, barrier),
    )
    made = Rig(url, pool, issuer)
    try:
        # Start every worker (its imports, store and issuer) before anything is timed: a code
        # for a serial no token has is refused in every thread and writes nothing.
        started = time.perf_counter()
        warm_up = made.storm(Serial.from_number(999), [["000000"]], NOW)
        FIGURES["pool_start_seconds"] = round(time.perf_counter() - started, 2)
        assert PhaseResult(accepted=0, refused=64, failed_closed=0) == _totals(warm_up, 0)
        yield made
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        store.close()


def _totals(results: list[list[PhaseResult]], phase: int) -> PhaseResult:
    """One phase's results summed over every process."""
    picked = [per_process[phase] for per_process in results]
    return PhaseResult(
        accepted=sum(item.accepted for item in picked),
        refused=sum(item.refused for item in picked),
        failed_closed=sum(item.failed_closed for item in picked),
    )


def _wrong_codes(token: TOTP, at: int, count: int) -> list[str]:
    """*count* distinct codes that no step near *at* produces (none can be accepted)."""
    near = {token.generate(at + offset * STEP) for offset in range(-10, 11)}
    wrong: list[str] = []
    candidate = 0
    while len(wrong) < count:
        code = f"{candidate * 7919 % 1_000_000:06d}"
        if code not in near and code not in wrong:
            wrong.append(code)
        candidate += 1
    return wrong


class TestOneAcceptancePerRound:
    """8 processes x 8 threads, one valid code: exactly one acceptance per round (S4)."""

    def test_exactly_one_acceptance_per_round(self, rig: Rig) -> None:
        """Over every round, 64 concurrent submissions of one valid code give exactly one
        acceptance and 63 refused replays; nothing fails closed, and the audit trail agrees."""
        token = TOTP(_KEY)
        rig.issuer.import_token(VALID_SERIAL, _KEY, user="racer", at=NOW)
        rounds: list[PhaseResult] = []
        started = time.perf_counter()
        for number in range(ROUNDS):
            at = NOW + STEP * (number + 1)
            results = rig.storm(VALID_SERIAL, [[token.generate(at)]], at, max_failures=LENIENT)
            rounds.append(_totals(results, 0))
        elapsed = time.perf_counter() - started
        events = rig.issuer.audit(VALID_SERIAL)
        audited = [
            Counter(event.outcome for event in events if event.at == NOW + STEP * (number + 1))
            for number in range(ROUNDS)
        ]
        FIGURES.update(
            rounds=ROUNDS,
            submissions_per_round=PROCESSES * THREADS,
            acceptances_per_round=[item.accepted for item in rounds],
            refusals_per_round=[item.refused for item in rounds],
            failed_closed_in_rounds=sum(item.failed_closed for item in rounds),
            rounds_wall_seconds=round(elapsed, 2),
        )
        assert [PhaseResult(accepted=1, refused=63, failed_closed=0)] * ROUNDS == rounds
        assert [Counter(accepted=1, replay=63)] * ROUNDS == audited
        assert 2 + ROUNDS * PROCESSES * THREADS == len(events)
        assert len(events) == rig.issuer.verify_audit(VALID_SERIAL)
        info = rig.issuer.token(VALID_SERIAL)
        assert (TokenState.ACTIVE, token.step(NOW + STEP * ROUNDS)) == (
            info.state,
            info.last_counter,
        )


class TestBlockUnderConcurrency:
    """8 processes x 8 threads of wrong codes: exactly 5 failures counted, then a block (S7)."""

    def test_failures_reach_exactly_five_then_nothing_is_accepted(self, rig: Rig) -> None:
        """64 concurrent wrong codes: exactly 5 are evaluated and counted, the fifth blocks,
        and no increment is lost; the valid and wrong codes that follow in the same storm
        accept nothing and count nothing."""
        token = TOTP(_KEY)
        rig.issuer.import_token(WRONG_SERIAL, _KEY, user="guesser", at=NOW)
        at = NOW + STEP
        valid = token.generate(at)
        wrong = _wrong_codes(token, at, PROCESSES * THREADS)
        started = time.perf_counter()
        results = rig.storm(WRONG_SERIAL, [wrong, [valid], [valid, *wrong]], at)
        elapsed = time.perf_counter() - started
        guessed, after_block, mixed = (_totals(results, phase) for phase in range(3))
        info = rig.issuer.token(WRONG_SERIAL)
        events = rig.issuer.audit(WRONG_SERIAL)
        verifies = [event for event in events if event.action == "verify"]
        counted = [event.reason for event in verifies if event.outcome == "wrong_code"]
        FIGURES.update(
            wrong_submissions=guessed.accepted + guessed.refused,
            failures_counted=info.failures,
            outcomes_in_block_storm=dict(Counter(event.outcome for event in verifies)),
            acceptances_after_block=after_block.accepted + mixed.accepted,
            submissions_after_block=(
                after_block.accepted + after_block.refused + mixed.accepted + mixed.refused
            ),
            failed_closed_in_block_storm=(
                guessed.failed_closed + after_block.failed_closed + mixed.failed_closed
            ),
            block_storm_wall_seconds=round(elapsed, 2),
        )
        assert PhaseResult(accepted=0, refused=64, failed_closed=0) == guessed
        assert PhaseResult(accepted=0, refused=64, failed_closed=0) == after_block
        assert PhaseResult(accepted=0, refused=64, failed_closed=0) == mixed
        assert 5 == info.failures
        assert (TokenState.BLOCKED, BlockReason.TOO_MANY_FAILURES) == (
            info.state,
            info.block_reason,
        )
        assert [None] * 4 + ["too_many_failures"] == counted
        assert Counter(wrong_code=5, blocked=3 * 64 - 5) == Counter(
            event.outcome for event in verifies
        )
        assert -1 == info.last_counter
        assert len(events) == rig.issuer.verify_audit(WRONG_SERIAL)
