"""Fault injection: the issuer fails closed (SECURITY.md S16, issue 8 section 3).

A store wrapper delegates to a real store (each kind in turn) and fails at a chosen step: a read,
a search, a commit before it applies, or a commit that applies and then fails, as a connection
lost before the answer came back would. Verification then raises the one ``InvalidCode``, accepts
nothing, and leaves the stored record and its audit trail exactly as they were, except where the
commit really applied. So do a missing key-ring key, a corrupt or misplaced sealed row, and a
clock that fails. Administrator operations raise ``StoreError`` and change nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from softtoken import TOTP, Match
from softtoken._checkdigit import damm_digit
from softtoken.exceptions import InvalidCode, InvalidRecord, StoreError, UnknownKey
from softtoken.issuer import AuditEvent, BlockReason, Issuer, ReleaseReason, Window
from softtoken.issuer.engine import Clock
from softtoken.issuer.stores import MemoryStore, Row, SQLStore, Store, Write
from softtoken.provisioning import Serial
from tests import issuer_support
from tests.issuer_support import NOW, keyring

store = issuer_support.store
"""Every test runs against each store kind (the fixture of tests/issuer_support.py)."""

_SEED = bytes(range(100, 120))
"""A fixed test seed (never printed)."""
SERIAL = Serial.from_number(314_159_265)
OTHER = Serial.from_number(271_828_182)
USER = "ana"
_ERRORS: dict[str, Callable[[], Exception]] = {
    "StoreError": StoreError,
    "RuntimeError": lambda: RuntimeError("the storage broke"),
    "sqlite3.OperationalError": lambda: sqlite3.OperationalError("disk I/O error"),
}


class FaultyStore:
    """A store that delegates to *inner* and raises at chosen steps.

    The steps, in the order a call makes them: ``get``, ``find``, ``events``, ``commit`` (before
    the inner commit) and ``commit_after`` (after the inner commit applied). A step fails when
    its name is in :attr:`failing`, or when it is the step numbered :attr:`fail_at` since the
    store was made (counting from 0).
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.failing: set[str] = set()
        self.fail_at: int | None = None
        self.error: Callable[[], Exception] = StoreError
        self.steps: list[str] = []

    def _step(self, name: str) -> None:
        number = len(self.steps)
        self.steps.append(name)
        if name in self.failing or number == self.fail_at:
            raise self.error()

    def get(self, kind: str, key: str) -> Row | None:
        self._step("get")
        return self.inner.get(kind, key)

    def find(
        self,
        kind: str,
        *,
        user: str | None = None,
        state: str | None = None,
        pool: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        self._step("find")
        return self.inner.find(kind, user=user, state=state, pool=pool, after=after, limit=limit)

    def commit(self, writes: Sequence[Write], events: Sequence[AuditEvent]) -> bool:
        self._step("commit")
        applied = self.inner.commit(writes, events)
        self._step("commit_after")
        return applied

    def events(self, subject: str) -> list[AuditEvent]:
        self._step("events")
        return self.inner.events(subject)

    def close(self) -> None:
        self.inner.close()


@attrs.frozen
class Snapshot:
    """Everything a store holds: every row (sealed bytes included) and every audit chain."""

    rows: list[Row]
    events: dict[str, list[AuditEvent]]


def _snapshot(inner: Store) -> Snapshot:
    rows = inner.find("token") + inner.find("code")
    return Snapshot(rows, {row.key: inner.events(row.key) for row in rows})


def _rig(inner: Store) -> tuple[FaultyStore, Issuer]:
    """A faulty wrapper around *inner*, an issuer over it, and an active imported token."""
    faulty = FaultyStore(inner)
    issuer = Issuer(faulty, keyring())
    issuer.import_token(SERIAL, _SEED, user=USER, actor="admin", at=NOW)
    return faulty, issuer


def _code(at: int = NOW) -> str:
    return TOTP(_SEED).generate(at)


def _verify_at(issuer: Issuer, at: int, by: str = "serial") -> Match:
    """Verify the token's own code for *at*, at *at*, naming the token *by* serial or user."""
    if by == "user":
        return issuer.verify(_code(at), user=USER, at=at)
    return issuer.verify(_code(at), serial=SERIAL, at=at)


def _refused(call: Callable[[], object]) -> InvalidCode:
    """Run *call*, which must raise exactly InvalidCode with its one message."""
    with pytest.raises(InvalidCode) as caught:
        call()
    assert InvalidCode is type(caught.value)
    assert (InvalidCode.MESSAGE,) == caught.value.args
    return caught.value


def _wrong_code_message(issuer: Issuer) -> tuple[object, ...]:
    """The args of the error a plain wrong code gets (on a token made for the purpose)."""
    seed = _SEED[::-1]
    issuer.import_token(OTHER, seed, user="control", at=NOW)
    near = {TOTP(seed).generate(NOW + 30 * offset) for offset in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in near)
    with pytest.raises(InvalidCode) as caught:
        issuer.verify(wrong, serial=OTHER, at=NOW)
    return caught.value.args


def _replace_row(inner: Store, row: Row) -> None:
    """Overwrite a stored row behind the issuer's back, as an attacker with database access."""
    if isinstance(inner, MemoryStore):
        inner.replace_row(row)
        return
    assert isinstance(inner, SQLStore)
    update = sa.text(
        "UPDATE softtoken_records SET version = :version, user_name = :user, state = :state,"
        " pool = :pool, key_id = :key_id, sealed = :sealed WHERE kind = :kind AND key = :key"
    )
    values = attrs.asdict(row)
    with inner.engine.begin() as conn:
        assert 1 == conn.execute(update, values).rowcount


class TestVerifyFailsClosed:
    """A store failing at any step of a verification accepts nothing and changes nothing."""

    @pytest.mark.parametrize("error", sorted(_ERRORS))
    @pytest.mark.parametrize("step", ["get", "commit"])
    def test_a_failing_step_by_serial(self, store: Store, step: str, error: str) -> None:
        """A failing read or commit refuses a valid code with the wrong code's error, records
        nothing, and leaves the code usable once the store recovers."""
        faulty, issuer = _rig(store)
        wrong = _wrong_code_message(issuer)
        before = _snapshot(store)
        faulty.failing, faulty.error = {step}, _ERRORS[error]
        refused = _refused(lambda: issuer.verify(_code(), serial=SERIAL, at=NOW))
        assert wrong == refused.args
        assert before == _snapshot(store)
        faulty.failing = set()
        assert TOTP(_SEED).step(NOW) == issuer.verify(_code(), serial=SERIAL, at=NOW).counter

    @pytest.mark.parametrize("error", sorted(_ERRORS))
    def test_a_failing_search_by_user(self, store: Store, error: str) -> None:
        """A failing search for the user's token refuses the code and changes nothing."""
        faulty, issuer = _rig(store)
        before = _snapshot(store)
        faulty.failing, faulty.error = {"find"}, _ERRORS[error]
        _refused(lambda: issuer.verify(_code(), user=USER, at=NOW))
        assert before == _snapshot(store)

    @pytest.mark.parametrize("error", sorted(_ERRORS))
    def test_a_commit_that_applies_then_fails(self, store: Store, error: str) -> None:
        """A commit that applied but whose answer was lost refuses the code; the store holds
        the acceptance, so the code is never accepted afterwards either."""
        faulty, issuer = _rig(store)
        before = _snapshot(store)
        faulty.failing, faulty.error = {"commit_after"}, _ERRORS[error]
        _refused(lambda: issuer.verify(_code(), serial=SERIAL, at=NOW))
        after = _snapshot(store)
        (old_row,), (new_row,) = before.rows, after.rows
        assert old_row.version + 1 == new_row.version
        assert ["accepted"] == [
            event.outcome for event in after.events[str(SERIAL)][len(before.events[str(SERIAL)]) :]
        ]
        faulty.failing = set()
        _refused(lambda: issuer.verify(_code(), serial=SERIAL, at=NOW))
        assert 0 == sum(
            event.outcome == "accepted"
            for event in issuer.audit(SERIAL)[len(after.events[str(SERIAL)]) :]
        )
        assert "replay" == issuer.audit(SERIAL)[-1].outcome

    @pytest.mark.parametrize("by", ["serial", "user"])
    def test_every_step_in_turn(self, store: Store, by: str) -> None:
        """Failing each step of a successful verification in turn: each is refused, and only a
        commit that applied leaves a trace (which then refuses the code for good)."""
        faulty, issuer = _rig(store)
        start = len(faulty.steps)
        _verify_at(issuer, NOW - 30, by)
        steps = faulty.steps[start:]
        assert "commit" in steps
        assert "commit_after" == steps[-1]
        for number, step in enumerate(steps):
            at = NOW + 60 * number
            before = _snapshot(store)
            faulty.fail_at = len(faulty.steps) + number
            _refused(functools.partial(_verify_at, issuer, at, by))
            faulty.fail_at = None
            applied = step == "commit_after"
            if applied:
                assert before != _snapshot(store)
                _refused(functools.partial(_verify_at, issuer, at, by))
            else:
                assert before == _snapshot(store)
                assert TOTP(_SEED).step(at) == _verify_at(issuer, at, by).counter

    def test_a_failure_is_logged_by_class_only(
        self, store: Store, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The issuer logs that it failed closed and the error's class, not the error's text."""
        faulty, issuer = _rig(store)
        faulty.failing, faulty.error = {"get"}, _ERRORS["RuntimeError"]
        with caplog.at_level(logging.DEBUG):
            _refused(lambda: issuer.verify(_code(), serial=SERIAL, at=NOW))
        (record,) = caplog.records
        assert ("softtoken.issuer", logging.ERROR) == (record.name, record.levelno)
        assert "failed closed" in record.getMessage()
        assert record.getMessage().endswith(": RuntimeError")
        assert "broke" not in record.getMessage()

    def test_check_code_fails_closed(self, store: Store) -> None:
        """An out-of-band code check under a failing store raises InvalidCode and changes
        nothing; the code still works once the store recovers."""
        faulty, issuer = _rig(store)
        code = issuer.send_code(user=USER, purpose="login", at=NOW)
        before = _snapshot(store)
        faulty.failing = {"commit"}
        _refused(lambda: issuer.check_code(code, user=USER, purpose="login", at=NOW))
        assert before == _snapshot(store)
        faulty.failing = set()
        issuer.check_code(code, user=USER, purpose="login", at=NOW)


class TestKeysAndRecords:
    """A missing key, a corrupt row or a misplaced row refuses the code and changes nothing."""

    def test_a_key_ring_without_the_records_key(self, store: Store) -> None:
        """An issuer whose key ring lacks the record's key id refuses the code, changes nothing,
        and reports UnknownKey to an administrator."""
        _, issuer = _rig(store)
        before = _snapshot(store)
        stranger = Issuer(store, keyring("k2"))
        _refused(lambda: stranger.verify(_code(), serial=SERIAL, at=NOW))
        _refused(lambda: stranger.verify(_code(), user=USER, at=NOW))
        with pytest.raises(UnknownKey):
            stranger.token(SERIAL)
        with pytest.raises(UnknownKey):
            stranger.block(SERIAL, BlockReason.CUSTOMER_REQUEST, actor="admin", at=NOW)
        assert before == _snapshot(store)
        assert TOTP(_SEED).step(NOW) == issuer.verify(_code(), serial=SERIAL, at=NOW).counter

    @pytest.mark.parametrize("position", [0, 11, 12, 40, -16, -1])
    def test_a_corrupt_sealed_row(self, store: Store, position: int) -> None:
        """A sealed row with one byte flipped (nonce, ciphertext or tag) refuses every code and
        stays exactly as it was corrupted."""
        _, issuer = _rig(store)
        row = store.get("token", str(SERIAL))
        assert row is not None
        flipped = bytearray(row.sealed)
        flipped[position] ^= 0x01
        _replace_row(store, attrs.evolve(row, sealed=bytes(flipped)))
        before = _snapshot(store)
        _refused(lambda: issuer.verify(_code(), serial=SERIAL, at=NOW))
        _refused(lambda: issuer.verify(_code(), user=USER, at=NOW))
        with pytest.raises(InvalidRecord):
            issuer.token(SERIAL)
        assert before == _snapshot(store)

    @pytest.mark.parametrize(
        "edit",
        [{"user": "mallory"}, {"state": "blocked"}, {"pool": "acme"}, {"key_id": "k2"}],
        ids=["user", "state", "pool", "key_id"],
    )
    def test_an_edited_clear_column(self, store: Store, edit: dict[str, Any]) -> None:
        """A row whose clear columns were edited no longer opens: the codes are refused."""
        _, issuer = _rig(store)
        row = store.get("token", str(SERIAL))
        assert row is not None
        _replace_row(store, attrs.evolve(row, **edit))
        before = _snapshot(store)
        _refused(lambda: issuer.verify(_code(), serial=SERIAL, at=NOW))
        with pytest.raises(InvalidRecord):
            issuer.token(SERIAL)
        assert before == _snapshot(store)

    def test_a_row_copied_into_another_token(self, store: Store) -> None:
        """One token's sealed blob copied into another token's row does not open there: the
        copy refuses the first token's codes, and an administrator gets InvalidRecord."""
        _, issuer = _rig(store)
        issuer.import_token(OTHER, bytes(range(200, 220)), user="bea", at=NOW)
        source = store.get("token", str(SERIAL))
        assert source is not None
        _replace_row(store, attrs.evolve(source, key=str(OTHER)))
        before = _snapshot(store)
        _refused(lambda: issuer.verify(_code(), serial=OTHER, at=NOW))
        _refused(lambda: issuer.verify(_code(), user=USER, at=NOW + 30))
        with pytest.raises(InvalidRecord):
            issuer.token(OTHER)
        assert before == _snapshot(store)
        assert TOTP(_SEED).step(NOW) == issuer.verify(_code(), serial=SERIAL, at=NOW).counter


def _raising_clock() -> int:
    raise RuntimeError("the clock broke")


class TestClockFailsClosed:
    """A clock that fails or returns a bad time refuses the code and changes nothing."""

    @pytest.mark.parametrize(
        "clock",
        [
            _raising_clock,
            lambda: dt.datetime(2027, 1, 15, 8, 0),  # naive on purpose
            lambda: -1,
            lambda: float(NOW),
            lambda: True,
        ],
        ids=["raises", "naive", "negative", "float", "bool"],
    )
    def test_a_bad_clock(self, store: Store, clock: Clock) -> None:
        """Verification and code checks without at= refuse, and nothing is written."""
        _, setup = _rig(store)
        code = setup.send_code(user=USER, purpose="login", at=NOW)
        before = _snapshot(store)
        issuer = Issuer(store, keyring(), clock=clock)
        _refused(lambda: issuer.verify(_code(), serial=SERIAL))
        _refused(lambda: issuer.verify(_code(), user=USER))
        _refused(lambda: issuer.check_code(code, user=USER, purpose="login"))
        assert before == _snapshot(store)

    def test_a_good_clock_accepts(self, store: Store) -> None:
        """The control: the same calls with a sound clock accept."""
        _, setup = _rig(store)
        code = setup.send_code(user=USER, purpose="login", at=NOW)
        issuer = Issuer(store, keyring(), clock=lambda: NOW)
        assert TOTP(_SEED).step(NOW) == issuer.verify(_code(), serial=SERIAL).counter
        issuer.check_code(code, user=USER, purpose="login")


_RESET_CODE = "12345678" + damm_digit("12345678")
"""A well-formed PIN reset code, so that only the store can fail the unlock operation."""
_ADMIN: dict[str, Callable[[Issuer, Serial], object]] = {
    "create_tokens": lambda issuer, _: issuer.create_tokens(1, actor="admin", at=NOW),
    "assign_pool": lambda issuer, spare: issuer.assign_pool(spare, "acme", actor="admin", at=NOW),
    "assign": lambda issuer, spare: issuer.assign(spare, user="bea", actor="admin", at=NOW),
    "import_token": lambda issuer, spare: issuer.import_token(
        spare, bytes(range(20)), user="carl", at=NOW
    ),
    "block": lambda issuer, _: issuer.block(
        SERIAL, BlockReason.DEVICE_LOST_OR_STOLEN, actor="admin", at=NOW
    ),
    "release": lambda issuer, _: issuer.release(
        SERIAL, ReleaseReason.SEED_RELEASE, actor="admin", at=NOW
    ),
    "delete": lambda issuer, _: issuer.delete(SERIAL, actor="admin", at=NOW),
    "set_window": lambda issuer, _: issuer.set_window(
        SERIAL, Window(past=2, future=2), actor="admin", at=NOW
    ),
    "reset_drift": lambda issuer, _: issuer.reset_drift(SERIAL, actor="admin", at=NOW),
    "unlock_code": lambda issuer, _: issuer.unlock_code(SERIAL, _RESET_CODE, actor="admin", at=NOW),
    "resync": lambda issuer, _: issuer.resync(
        SERIAL, _code(NOW + 90), _code(NOW + 120), actor="admin", at=NOW
    ),
    "send_code": lambda issuer, _: issuer.send_code(user=USER, purpose="login", at=NOW),
    "rotate_keys": lambda issuer, _: issuer.rotate_keys(actor="admin", at=NOW),
}
"""Every administrator operation, given an issuer and a token in stock."""


class TestAdministrationFailsWhole:
    """An administrator's operation under a failing store raises StoreError, changes nothing."""

    @pytest.mark.parametrize("mode", ["every_call", "commit"])
    @pytest.mark.parametrize("operation", sorted(_ADMIN))
    def test_a_failing_store(self, store: Store, operation: str, mode: str) -> None:
        """The operation raises StoreError, and every row and audit chain is as before; with
        the store back, the same operation succeeds (so it was the store that failed it)."""
        faulty, issuer = _rig(store)
        (spare,) = issuer.create_tokens(1, actor="admin", at=NOW)
        if operation == "rotate_keys":
            issuer = Issuer(faulty, keyring("k1", "k2"))
        before = _snapshot(store)
        faulty.failing = {"get", "find", "events", "commit"} if mode == "every_call" else {"commit"}
        with pytest.raises(StoreError) as caught:
            _ADMIN[operation](issuer, spare)
        assert StoreError is type(caught.value)
        assert before == _snapshot(store)
        faulty.failing = set()
        _ADMIN[operation](issuer, spare)
        assert before != _snapshot(store)
