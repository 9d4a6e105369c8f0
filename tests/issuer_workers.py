"""Worker processes for the multi-process issuer test (tests/test_issuer_concurrency.py).

Each worker process opens its own :class:`SQLStore` on the shared SQLite file and its own
:class:`Issuer`, with the key ring rebuilt from the same fixed bytes; no engine crosses a process
boundary. Within a process, :func:`storm` runs a few threads that share that one ``Issuer``.

Every phase of a storm starts together in every thread of every process: the threads meet at a
thread barrier whose action meets the other processes at a process barrier. The functions are
module-level so that a "spawn" pool can import them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Final

import attrs

from softtoken.exceptions import InvalidCode
from softtoken.issuer import Issuer, IssuerPolicy
from softtoken.issuer.stores import SQLStore
from tests.issuer_support import keyring

__all__ = ["PhaseResult", "init_worker", "storm"]

BARRIER_TIMEOUT: Final = 120.0
"""Seconds a barrier waits before it breaks, so that a lost worker fails the test, not hangs it."""

_WORKER: dict[str, Any] = {}


@attrs.frozen
class PhaseResult:
    """What one process's threads saw in one phase of a storm.

    Attributes:
        accepted: codes that ``verify`` accepted.
        refused: codes that ``verify`` refused with ``InvalidCode``.
        failed_closed: refusals that the issuer logged as failing closed (a store error or
            every retry lost), a subset of *refused*.
    """

    accepted: int
    refused: int
    failed_closed: int


class _FailedClosed(logging.Handler):
    """Counts the issuer's "failed closed" log records in this process."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self._lock_count = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_count:
            self.count += 1

    def take(self) -> int:
        with self._lock_count:
            taken, self.count = self.count, 0
        return taken


def init_worker(url: str, barrier: Any) -> None:
    """Pool initializer: this process's own store and issuer, and the cross-process barrier."""
    store = SQLStore(url, create=False)
    handler = _FailedClosed()
    logger = logging.getLogger("softtoken.issuer")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    _WORKER.update(store=store, keyring=keyring(), issuers={}, barrier=barrier, handler=handler)


def _issuer(max_failures: int) -> Issuer:
    """This process's issuer with the failure limit *max_failures* (one per limit, all on the
    process's one store)."""
    issuers: dict[int, Issuer] = _WORKER["issuers"]
    if max_failures not in issuers:
        policy = IssuerPolicy(max_failures=max_failures)
        issuers[max_failures] = Issuer(_WORKER["store"], _WORKER["keyring"], policy=policy)
    return issuers[max_failures]


def storm(
    serial: str,
    phases: Sequence[Sequence[str]],
    at: int,
    threads: int,
    *,
    max_failures: int = 5,
) -> list[PhaseResult]:
    """Run every phase in *threads* threads sharing this process's issuer.

    In each phase, thread *i* submits ``phase[i % len(phase)]`` to ``verify`` by serial at
    *at*. Every phase starts when every thread of every process has finished the one before.
    The issuer blocks a token at *max_failures* failures (the default policy's 5 by default).

    Returns:
        One :class:`PhaseResult` per phase, for this process.
    """
    issuer = _issuer(max_failures)
    process_barrier = _WORKER["barrier"]
    handler: _FailedClosed = _WORKER["handler"]
    handler.take()
    closed: list[int] = []
    tally = [[0, 0] for _ in phases]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def across_processes() -> None:
        # Run by one thread once all have finished the previous phase: close its count first.
        closed.append(handler.take())
        process_barrier.wait(BARRIER_TIMEOUT)

    thread_barrier = threading.Barrier(threads, action=across_processes, timeout=BARRIER_TIMEOUT)

    def run(index: int) -> None:
        try:
            for number, phase in enumerate(phases):
                code = phase[index % len(phase)]
                thread_barrier.wait()
                accepted = True
                try:
                    issuer.verify(code, serial=serial, at=at)
                except InvalidCode:
                    accepted = False
                with lock:
                    tally[number][0 if accepted else 1] += 1
        except BaseException as error:
            # Reported to the parent below; a broken barrier releases the other threads.
            with lock:
                errors.append(error)
            thread_barrier.abort()

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"a storm thread failed: {type(errors[0]).__name__}")
    closed.append(handler.take())
    return [
        PhaseResult(accepted=accepted, refused=refused, failed_closed=count)
        for (accepted, refused), count in zip(tally, closed[1:], strict=True)
    ]
