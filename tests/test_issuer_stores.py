"""The store contract suite: one set of tests that MemoryStore and SQLStore (on a SQLite file)
both pass, through the Store protocol and through Issuer, plus what only SQLStore promises
(issue 8 section 5; SECURITY.md S4, S14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from softtoken import TOTP
from softtoken.exceptions import InvalidCode, InvalidRecord, SchemaMismatch, StoreError
from softtoken.issuer import AuditEvent, Issuer, Keyring, TokenState
from softtoken.issuer.rows import open_token
from softtoken.issuer.stores import MemoryStore, Row, SQLStore, Store, Write
from softtoken.provisioning import Serial
from tests import issuer_support
from tests.issuer_support import NOW, keyring

store = issuer_support.store
"""Every contract test runs against each store kind (the fixture of tests/issuer_support.py)."""

_SEED = bytes(range(40, 60))
"""A fixed test seed (never printed)."""


def _row(
    key: str,
    *,
    version: int = 1,
    kind: str = "token",
    user: str | None = None,
    state: str | None = "available",
    pool: str | None = None,
    sealed: bytes = b"sealed-bytes",
) -> Row:
    return Row(
        kind=kind,
        key=key,
        version=version,
        user=user,
        state=state,
        pool=pool,
        key_id="k1",
        sealed=sealed,
    )


def _event(subject: str, seq: int, *, outcome: str = "created") -> AuditEvent:
    return AuditEvent(
        subject=subject,
        seq=seq,
        at=NOW + seq,
        action="create",
        actor="admin",
        reason=None,
        before=None,
        after="available",
        outcome=outcome,
        key_id="k1",
        mac=bytes([seq]) * 32,
    )


def _insert(target: Store, *rows: Row) -> None:
    assert target.commit([Write(row, None) for row in rows], [])


class TestGet:
    """Store.get: one row by kind and key."""

    def test_missing_row_is_none(self, store: Store) -> None:
        """A key never written gives None."""
        assert store.get("token", "0000000000") is None

    def test_inserted_row_comes_back_whole(self, store: Store) -> None:
        """A committed insert reads back equal, sealed bytes included."""
        row = _row("1000000016", user="ana", state="active", pool="acme", sealed=b"\x00\xff" * 9)
        _insert(store, row)
        got = store.get("token", "1000000016")
        assert row == got
        assert got is not None
        assert row.sealed == got.sealed

    def test_kinds_are_separate(self, store: Store) -> None:
        """A token and a code row with the same key are two rows."""
        token, code = _row("k", kind="token"), _row("k", kind="code", state=None)
        _insert(store, token, code)
        assert (token, code) == (store.get("token", "k"), store.get("code", "k"))


class TestFind:
    """Store.find: filters, order by key, after and limit."""

    @pytest.fixture
    def filled(self, store: Store) -> Store:
        """Six token rows inserted out of order, and one code row."""
        _insert(
            store,
            _row("50", user="ana", state="active", pool="acme"),
            _row("10", state="available"),
            _row("40", user="bob", state="active", pool="acme"),
            _row("20", state="in_pool", pool="acme"),
            _row("60", user="ana", state="blocked", pool="zeta"),
            _row("30", state="in_pool", pool="zeta"),
            _row("35", kind="code", user="ana", state=None),
        )
        return store

    def test_all_of_a_kind_ordered_by_key(self, filled: Store) -> None:
        """With no filter, every row of the kind comes back, ordered by key."""
        assert ["10", "20", "30", "40", "50", "60"] == [row.key for row in filled.find("token")]
        assert ["35"] == [row.key for row in filled.find("code")]

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"user": "ana"}, ["50", "60"]),
            ({"state": "active"}, ["40", "50"]),
            ({"pool": "acme"}, ["20", "40", "50"]),
            ({"user": "ana", "state": "active"}, ["50"]),
            ({"pool": "zeta", "state": "in_pool"}, ["30"]),
            ({"user": "nobody"}, []),
        ],
    )
    def test_filters_combine(
        self, filled: Store, filters: dict[str, Any], expected: list[str]
    ) -> None:
        """Every filter given must match; the rows still come back ordered by key."""
        assert expected == [row.key for row in filled.find("token", **filters)]

    def test_after_and_limit_page_through(self, filled: Store) -> None:
        """Keys greater than *after*, at most *limit* of them: pages cover every row once."""
        pages: list[list[str]] = []
        after: str | None = None
        while page := filled.find("token", after=after, limit=4):
            pages.append([row.key for row in page])
            after = page[-1].key
        assert [["10", "20", "30", "40"], ["50", "60"]] == pages

    def test_after_with_a_filter(self, filled: Store) -> None:
        """*after* applies together with the filters."""
        assert ["40", "50"] == [
            row.key for row in filled.find("token", pool="acme", after="20", limit=10)
        ]


class TestCommit:
    """Store.commit: compare-and-set, inserts, and all or nothing."""

    def test_update_on_the_seen_version_wins(self, store: Store) -> None:
        """A write whose *seen* is the stored version replaces the row."""
        _insert(store, _row("1"))
        moved = _row("1", version=2, state="in_pool", pool="acme")
        assert store.commit([Write(moved, 1)], [])
        assert moved == store.get("token", "1")

    def test_update_on_a_moved_version_loses(self, store: Store) -> None:
        """A write whose *seen* is no longer the stored version changes nothing."""
        _insert(store, _row("1"))
        assert store.commit([Write(_row("1", version=2), 1)], [])
        assert not store.commit([Write(_row("1", version=2, state="deleted"), 1)], [])
        assert _row("1", version=2) == store.get("token", "1")

    def test_update_of_a_missing_row_loses(self, store: Store) -> None:
        """A compare-and-set on a row that does not exist changes nothing."""
        assert not store.commit([Write(_row("1", version=2), 1)], [])
        assert store.get("token", "1") is None

    def test_insert_over_an_existing_row_loses(self, store: Store) -> None:
        """An insert (*seen* None) where the row exists changes nothing."""
        _insert(store, _row("1"))
        assert not store.commit([Write(_row("1", state="in_pool", pool="acme"), None)], [])
        assert _row("1") == store.get("token", "1")

    @pytest.mark.parametrize("losing_first", [False, True])
    def test_a_losing_write_applies_nothing(self, store: Store, losing_first: bool) -> None:
        """A batch with one losing write applies none of its writes and none of its events."""
        _insert(store, _row("1"), _row("2"))
        assert store.commit([Write(_row("2", version=2), 1)], [_event("2", 1)])
        good = Write(_row("1", version=2, state="in_pool", pool="acme"), 1)
        losing = Write(_row("2", version=3, state="deleted"), 1)
        fresh = Write(_row("3"), None)
        writes = [losing, good, fresh] if losing_first else [good, fresh, losing]
        assert not store.commit(writes, [_event("1", 1), _event("2", 2), _event("3", 1)])
        assert _row("1") == store.get("token", "1")
        assert _row("2", version=2) == store.get("token", "2")
        assert store.get("token", "3") is None
        assert ([], [_event("2", 1)], []) == (
            store.events("1"),
            store.events("2"),
            store.events("3"),
        )

    def test_a_batch_applies_every_write_and_event(self, store: Store) -> None:
        """A batch whose every write wins applies them all, with its events."""
        _insert(store, _row("1"))
        writes = [Write(_row("1", version=2, state="deleted"), 1), Write(_row("2"), None)]
        assert store.commit(writes, [_event("1", 1), _event("2", 1), _event("1", 2)])
        assert (_row("1", version=2, state="deleted"), _row("2")) == (
            store.get("token", "1"),
            store.get("token", "2"),
        )
        assert ([_event("1", 1), _event("1", 2)], [_event("2", 1)]) == (
            store.events("1"),
            store.events("2"),
        )


class TestEvents:
    """Store.events: append-only chains, ordered by sequence number, unique per subject."""

    def test_events_come_back_by_seq(self, store: Store) -> None:
        """Events appended over several commits come back in seq order, per subject."""
        for seq in range(1, 6):
            assert store.commit([], [_event("a", seq), _event("b", seq, outcome="other")])
        assert list(range(1, 6)) == [event.seq for event in store.events("a")]
        assert [_event("b", seq, outcome="other") for seq in range(1, 6)] == store.events("b")
        assert [] == store.events("c")

    def test_a_duplicate_seq_is_refused(self, store: Store) -> None:
        """An event whose (subject, seq) exists is refused, and its whole batch with it."""
        assert store.commit([], [_event("a", 1)])
        assert not store.commit([Write(_row("9"), None)], [_event("a", 1, outcome="forged")])
        assert [_event("a", 1)] == store.events("a")
        assert store.get("token", "9") is None

    def test_a_duplicate_seq_within_one_batch_is_refused(self, store: Store) -> None:
        """A batch holding two events with the same (subject, seq) applies nothing."""
        assert not store.commit([Write(_row("9"), None)], [_event("a", 1), _event("a", 1)])
        assert [] == store.events("a")
        assert store.get("token", "9") is None

    def test_the_same_seq_in_another_subject_is_fine(self, store: Store) -> None:
        """Sequence numbers are unique per subject, not across subjects."""
        assert store.commit([], [_event("a", 1)])
        assert store.commit([], [_event("b", 1)])
        assert ([_event("a", 1)], [_event("b", 1)]) == (store.events("a"), store.events("b"))


class TestSharedStore:
    """Two Issuer instances on one store behave as one issuer (S4, S15)."""

    def test_each_instance_sees_the_others_writes(self, store: Store) -> None:
        """Tokens created, assigned and blocked through one instance read the same through the
        other."""
        first, second = Issuer(store, keyring()), Issuer(store, keyring())
        serials = first.create_tokens(3, pool="acme", actor="admin", at=NOW)
        second.assign(serials[1], user="laura", actor="admin", at=NOW)
        assert [TokenState.POOL, TokenState.ASSIGNED, TokenState.POOL] == [
            first.token(serial).state for serial in serials
        ]
        assert [serials[1]] == [info.serial for info in first.tokens(user="laura")]
        assert first.audit(serials[1]) == second.audit(serials[1])
        assert 2 == second.verify_audit(serials[1])

    @pytest.mark.parametrize("accepting", [0, 1])
    def test_an_accepted_code_is_never_accepted_by_the_other(
        self, store: Store, accepting: int
    ) -> None:
        """A code one instance accepted is refused by the other, and by itself, afterwards."""
        issuers = (Issuer(store, keyring()), Issuer(store, keyring()))
        serial = Serial.from_number(123_456_789)
        issuers[0].import_token(serial, _SEED, user="ana", at=NOW)
        code = TOTP(_SEED).generate(NOW)
        match = issuers[accepting].verify(code, user="ana", at=NOW)
        assert TOTP(_SEED).step(NOW) == match.counter
        for issuer in (issuers[1 - accepting], issuers[accepting]):
            with pytest.raises(InvalidCode):
                issuer.verify(code, serial=serial, at=NOW + 1)
        outcomes = [event.outcome for event in issuers[0].audit(serial)]
        assert ["created", "imported", "accepted", "replay", "replay"] == outcomes


# --------------------------------------------------------------------------------------------
# What only SQLStore promises
# --------------------------------------------------------------------------------------------


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file URL under the test's directory."""
    return f"sqlite:///{tmp_path / 'issuer.db'}"


def _raw(url: str, statement: str) -> list[dict[str, Any]]:
    """Run *statement* on the database behind the store's back; the rows it returns."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(statement)
            rows = [dict(row._mapping) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()
    return rows


class TestSQLStore:
    """The SQL store's schema, settings and error hygiene."""

    def test_sqlite_runs_in_wal_mode(self, db_url: str) -> None:
        """Every SQLite connection of the store uses the write-ahead log."""
        sql = SQLStore(db_url)
        try:
            with sql.engine.connect() as conn:
                assert "wal" == conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        finally:
            sql.close()

    def test_a_newer_schema_is_refused(self, db_url: str) -> None:
        """A database whose schema row says a newer version raises SchemaMismatch."""
        SQLStore(db_url).close()
        _raw(db_url, "UPDATE softtoken_meta SET value = '2' WHERE name = 'schema'")
        with pytest.raises(SchemaMismatch):
            SQLStore(db_url)
        with pytest.raises(SchemaMismatch):
            SQLStore(db_url, create=False)

    def test_the_current_schema_opens_without_create(self, db_url: str) -> None:
        """A database made by the store opens again with create=False."""
        SQLStore(db_url).close()
        reopened = SQLStore(db_url, create=False)
        try:
            assert [{"name": "schema", "value": "1"}] == _raw(
                db_url, "SELECT name, value FROM softtoken_meta"
            )
        finally:
            reopened.close()

    def test_a_missing_schema_is_refused_without_create(self, db_url: str) -> None:
        """With create=False, an empty database raises SchemaMismatch and is left empty."""
        with pytest.raises(SchemaMismatch):
            SQLStore(db_url, create=False)
        assert [] == _raw(db_url, "SELECT name FROM sqlite_master WHERE type = 'table'")

    @pytest.mark.parametrize(
        "url",
        [
            "nosuchdb://admin:hunter2-secret@db.example:5432/issuer",
            "not a url at all hunter2-secret",
            "sqlite:////nonexistent-dir-hunter2-secret/issuer.db",
        ],
    )
    def test_an_unusable_url_is_a_store_error_without_the_url(self, url: str) -> None:
        """An unusable URL raises StoreError; neither it nor any chained error shows the URL."""
        with pytest.raises(StoreError) as caught:
            SQLStore(url)
        assert type(caught.value) is StoreError
        chain: list[BaseException] = []
        error: BaseException | None = caught.value
        while error is not None:
            chain.append(error)
            error = error.__cause__ or error.__context__
        text = " ".join(f"{item!s} {item!r} {item.args!r}" for item in chain)
        assert "hunter2" not in text
        assert "db.example" not in text

    def test_repr_shows_no_path(self, tmp_path: Path, db_url: str) -> None:
        """The store's repr names the dialect, never the URL or the file's path."""
        sql = SQLStore(db_url)
        try:
            shown = repr(sql) + str(sql)
        finally:
            sql.close()
        assert "SQLStore(dialect='sqlite')" == repr(sql)
        assert str(tmp_path) not in shown
        assert "issuer.db" not in shown

    def test_only_the_index_columns_are_in_the_clear(self, db_url: str) -> None:
        """A token's row shows its serial, user, state, pool, version and key id; the rest is
        the sealed column, which opens only with the key ring."""
        sql = SQLStore(db_url)
        try:
            issuer = Issuer(sql, keyring())
            (serial,) = issuer.create_tokens(1, pool="acme", actor="admin", at=NOW)
            issuer.import_token(serial, _SEED, user="laura", at=NOW)
            rows = _raw(db_url, "SELECT * FROM softtoken_records WHERE kind = 'token'")
            guards = _raw(db_url, "SELECT * FROM softtoken_records WHERE kind = 'user'")
            stored = sql.get("token", str(serial))
        finally:
            sql.close()
        # The user's guard row (one device per user) holds the user and a version, nothing else.
        assert [("user", "laura", 1, "laura", None, None, "", b"")] == [
            tuple(dict(row).values()) for row in guards
        ]
        assert 1 == len(rows)
        clear = dict(rows[0])
        sealed = clear.pop("sealed")
        assert {
            "kind": "token",
            "key": str(serial),
            "version": 2,
            "user_name": "laura",
            "state": "active",
            "pool": "acme",
            "key_id": "k1",
        } == clear
        assert isinstance(sealed, bytes)
        for hidden in (_SEED, _SEED.hex().encode(), b"laura", b"acme", b"seed", b'"serial"'):
            assert hidden not in sealed
        assert stored is not None
        assert _SEED == open_token(keyring(), stored).seed
        other = Keyring({"k1": b"another key of thirty-two bytes!"})
        with pytest.raises(InvalidRecord):
            open_token(other, stored)

    def test_a_memory_store_repr_shows_no_content(self) -> None:
        """MemoryStore's repr counts rows and shows none of them."""
        memory = MemoryStore()
        _insert(memory, _row("1", user="laura"))
        assert "MemoryStore(rows=1)" == repr(memory)
