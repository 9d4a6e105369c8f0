"""SECURITY.md S17: no public call tells anything about a PIN unless a counted attempt is spent.

The method: two wallets that differ only in their identity's true PIN, in the same state
(active, locked or wiped). Every public method that takes a PIN is called on both with the same
guess, which is often the first wallet's true PIN. Without a counted attempt, both answers must
be the same, and no try may be spent: otherwise the difference is an oracle on the PIN. This
found the landed wallet's flaw, where ``check_new_pin`` and ``unlock`` answered RECENTLY_USED
for the current PIN only (153 guesses, none counted).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from softtoken.app import MemoryVersionGuard, Wallet, WalletFile
from softtoken.exceptions import SoftTokenError
from softtoken.pinlock import PINPolicy
from softtoken.provisioning import build_uri
from tests.wallets import (
    DEVICE_KEY,
    ENTRUST,
    FAST,
    FOURTH_SERIAL,
    NOW,
    PAYSECURE,
    SECRET,
    SERIAL,
    THIRD_SERIAL,
    WRONG_PIN,
    bank_code,
    show,
    wrong_code,
)

_POLICY = PINPolicy()
accepted_pins = st.text("0123456789", min_size=4, max_size=4).filter(
    lambda pin: not _POLICY.rejections(pin)
)
# Guesses: mostly PINs, sometimes text no keypad would send.
guesses = st.one_of(st.text("0123456789", min_size=4, max_size=4), st.text(max_size=6))
STATES = ("active", "locked", "wiped")


def _wallet(pin: str, state: str) -> Wallet:
    policy = PAYSECURE if state == "wiped" else ENTRUST
    w = Wallet.create(device_key=DEVICE_KEY, policy=policy, kdf=FAST)
    w = w.add_key(SERIAL, SECRET, name="Bank", pin=pin)
    if state != "active":
        wrong = WRONG_PIN if pin != WRONG_PIN else "9753"
        for _ in range(5):
            w, _ = show(w, SERIAL, wrong)
    return w


def _enrol(wallet: Wallet, *, pin: str) -> Wallet:
    return wallet.add_key(SERIAL, SECRET, name="Bank", pin=pin)


def _answer(call: Callable[[], Any]) -> tuple[object, ...]:
    """What a caller can observe: the error's type, message and attributes, or the result."""
    try:
        result = call()
    except SoftTokenError as error:
        return (type(error).__name__, str(error), sorted(vars(error).items()))
    if isinstance(result, Wallet):
        return ("wallet", result.identities())
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Wallet):
        return ("result", result[0].identities(), result[1])
    return ("value", result)


def _uncounted_calls(w: Wallet, guess: str) -> list[Callable[[], Any]]:
    """Every public call that takes a PIN and spends no counted attempt."""
    uri = build_uri(SECRET, account="ana", issuer="Bank")
    calls: list[Callable[[], Any]] = [
        lambda: w.check_new_pin(SERIAL, guess),
        lambda: w.show_code(SERIAL, guess, now=NOW),
        lambda: w.unlock(SERIAL, "12345678", new_pin=guess, now=NOW),
        lambda: w.add_key(THIRD_SERIAL, SECRET, name="Other", pin=guess).identities(),
        lambda: w.add_uri(uri, serial=FOURTH_SERIAL, pin=guess).identities(),
    ]
    if w.info(SERIAL).status.value == "locked":
        opened = w.begin_attempt(SERIAL, now=NOW, unlock=True)
        # An open attempt with a malformed code is refused before anything is evaluated.
        calls.append(lambda: opened.unlock(SERIAL, "1234", new_pin=guess, now=NOW))
    return calls


class TestNoUncountedOracle:
    """Answers to a PIN guess do not depend on the true PIN until a counted try is spent."""

    @settings(max_examples=60)
    @given(st.data(), st.sampled_from(STATES))
    def test_uncounted_answers_ignore_the_true_pin(self, data: st.DataObject, state: str) -> None:
        """The same guess gets the same answer from wallets whose PINs differ, and spends
        nothing, whether or not it is the current PIN."""
        first = data.draw(accepted_pins)
        second = data.draw(accepted_pins.filter(lambda pin: pin != first))
        guess = data.draw(st.one_of(st.just(first), guesses))
        a, b = _wallet(first, state), _wallet(second, state)
        for call_a, call_b in zip(
            _uncounted_calls(a, guess), _uncounted_calls(b, guess), strict=True
        ):
            assert _answer(call_a) == _answer(call_b)
        assert a.identities() == b.identities()

    @settings(max_examples=30)
    @given(st.data())
    def test_a_wrong_unlock_code_tells_nothing_about_the_new_pin(self, data: st.DataObject) -> None:
        """With a wrong unlock code, the counted answer is the same whether the new PIN is the
        old one or not: the PIN history is consulted only after the code is proven."""
        first = data.draw(accepted_pins)
        second = data.draw(accepted_pins.filter(lambda pin: pin != first))
        answers = []
        for true_pin in (first, second):
            w = _wallet(true_pin, "locked").begin_attempt(SERIAL, now=NOW, unlock=True)
            code = wrong_code(bank_code(w))
            answers.append(_answer(partial(w.unlock, SERIAL, code, new_pin=first, now=NOW)))
        assert answers[0] == answers[1]

    def test_the_file_layer_checks_rules_before_counting(self, tmp_path: Path) -> None:
        """WalletFile.unlock refuses a rule-breaking PIN before opening an attempt: no try is
        spent, for the current PIN and any other."""
        for name, true_pin in (("a", "2468"), ("b", "3579")):
            store = WalletFile(
                tmp_path / name, device_key=DEVICE_KEY, guard=MemoryVersionGuard(), kdf=FAST
            )
            store.create()
            store.update(partial(_enrol, pin=true_pin))
            answers = [
                _answer(partial(store.unlock, SERIAL, "12345678", new_pin=guess, now=NOW))
                for guess in ("1111", "2468", "3579")
            ]
            assert [
                (
                    "PINRejected",
                    "the PIN does not meet the PIN policy",
                    [("reasons", frozenset({"repeated_digit"}))],
                ),
                ("WrongIdentityState", "the identity is not locked", []),
                ("WrongIdentityState", "the identity is not locked", []),
            ] == answers
            assert 5 == store.read().info(SERIAL).remaining_tries
