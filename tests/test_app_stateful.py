"""A Hypothesis stateful test of the wallet with the process killed between its saves.

The machine keeps what is on disk (the last stored blob) and runs the safe sequences: load,
begin an attempt, store, evaluate, store. Any run may be killed after its first store, so that
its result is lost. Every PIN or unlock code the library evaluates is counted by spying on the
one place that evaluates each (the PIN verifier's slow hash, the escrow opening). The invariants
are the bounds of SECURITY.md S7, S10 and S11: however the kills fall, one lock episode never
evaluates more wrong PINs than the limit, nor more unlock codes than tries times reset codes.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from softtoken.app import IdentityPolicy, Wallet, sealing, transitions
from softtoken.pinlock import Status
from softtoken.pinverifier import PINVerifier
from softtoken.unlock import compute_unlock_code
from tests.wallets import (
    DEVICE_KEY,
    ENTRUST,
    FAST,
    NEW_PIN,
    NOW,
    PAYSECURE,
    PIN,
    SECRET,
    SERIAL,
    WRONG_PIN,
    wrong_code,
)

PIN_LIMIT = 5
UNLOCK_LIMIT = 3 * 3


class KilledWallet(RuleBasedStateMachine):
    """The stored wallet, runs that may die after their first save, and evaluation counts."""

    def __init__(self) -> None:
        super().__init__()
        self.evaluations = {"pin": 0, "unlock": 0}
        real_derive, real_open = PINVerifier.derive_key, sealing.open_escrow

        def derive_key(verifier: PINVerifier, pin: str) -> bytes | None:
            self.evaluations["pin"] += 1
            return real_derive(verifier, pin)

        def open_escrow(*args: Any, **kwargs: Any) -> bytes | None:
            self.evaluations["unlock"] += 1
            return real_open(*args, **kwargs)

        self._spies = [
            mock.patch.object(PINVerifier, "derive_key", derive_key),
            mock.patch.object(transitions, "open_escrow", open_escrow),
        ]
        for spy in self._spies:
            spy.start()
        self.stored = b""
        self.pin = PIN
        # Evaluations since the count was last cleared by a stored success.
        self.pin_run = 0
        self.unlock_run = 0

    def teardown(self) -> None:
        for spy in self._spies:
            spy.stop()

    def load(self) -> Wallet:
        return Wallet.from_bytes(self.stored, device_key=DEVICE_KEY, kdf=FAST)

    @initialize(policy=st.sampled_from([ENTRUST, PAYSECURE]))
    def create(self, policy: IdentityPolicy) -> None:
        w = Wallet.create(device_key=DEVICE_KEY, policy=policy, kdf=FAST)
        self.stored = w.add_key(SERIAL, SECRET, name="Bank", pin=PIN).to_bytes()

    @rule(right=st.booleans(), killed=st.booleans())
    def enter_pin(self, right: bool, killed: bool) -> None:
        """A PIN attempt; when *killed*, the process dies before its result is stored."""
        opened = self.load().begin_attempt(SERIAL, now=NOW)
        self.stored = opened.to_bytes()
        before = self.evaluations["pin"]
        done, result = opened.show_code(SERIAL, self.pin if right else WRONG_PIN, now=NOW)
        self.pin_run += self.evaluations["pin"] - before
        if not killed:
            self.stored = done.to_bytes()
            if result.accepted:
                self.pin_run = 0

    @precondition(lambda self: self.load().info(SERIAL).status is Status.LOCKED)
    @rule(right=st.booleans(), killed=st.booleans())
    def enter_unlock_code(self, right: bool, killed: bool) -> None:
        """An unlock attempt with the bank's code or a wrong one; *killed* as for the PIN."""
        wallet = self.load()
        opened = wallet.begin_attempt(SERIAL, now=NOW, unlock=True)
        self.stored = opened.to_bytes()
        if not opened.info(SERIAL).attempt_open:
            return
        code = compute_unlock_code(SECRET, SERIAL, opened.reset_code(SERIAL))
        before = self.evaluations["unlock"]
        new_pin = NEW_PIN if self.pin == PIN else PIN
        done, result = opened.unlock(
            SERIAL, code if right else wrong_code(code), new_pin=new_pin, now=NOW
        )
        self.unlock_run += self.evaluations["unlock"] - before
        if not killed:
            self.stored = done.to_bytes()
            if result.accepted:
                self.pin, self.pin_run, self.unlock_run = new_pin, 0, 0

    @invariant()
    def pins_evaluated_within_the_limit(self) -> None:
        """No sequence of kills evaluates more PINs than the limit without a stored success."""
        assert self.pin_run <= PIN_LIMIT

    @invariant()
    def unlock_codes_evaluated_within_the_limit(self) -> None:
        """One lock episode never evaluates more unlock codes than tries times reset codes."""
        assert self.unlock_run <= UNLOCK_LIMIT

    @invariant()
    def nothing_is_evaluated_once_wiped(self) -> None:
        """A wiped identity has no verifier left to evaluate."""
        if self.stored and self.load().info(SERIAL).status is Status.WIPED:
            assert None is self.load()._find(SERIAL).keys


KilledWallet.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestKilledWallet = KilledWallet.TestCase
