"""An issuer store on SQLAlchemy Core: SQLite by default, any database SQLAlchemy reaches by URL.

Three tables: ``softtoken_meta`` (the schema version), ``softtoken_records`` (sealed rows and
their index columns) and ``softtoken_audit`` (append-only events, unique per subject and
sequence number). :meth:`SQLStore.commit` runs one transaction: each row written with
``UPDATE ... WHERE kind = :kind AND key = :key AND version = :seen`` (or an ``INSERT`` that the
primary key refuses when the row exists), each event inserted; if any statement changes no row
or hits a key already taken, the whole transaction rolls back and the call returns False
(ARCHITECTURE.md, "How the issuer scales").

On SQLite the store turns on WAL (readers never wait for the writer), waits up to
``busy_timeout`` seconds for the write lock, keeps ``synchronous=FULL`` (a committed failure
count survives a power cut), and starts each commit with ``BEGIN IMMEDIATE``, so that a
transaction takes the write lock before its first statement rather than failing to upgrade a
read lock part-way.

No error from the database leaves this module as it came: SQLAlchemy's messages quote the
statement's parameters, which hold sealed records. Every failure is one
:class:`~softtoken.exceptions.StoreError`, raised outside the ``except`` block.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from softtoken.exceptions import SchemaMismatch, StoreError
from softtoken.issuer.audit import AuditEvent
from softtoken.issuer.stores.base import Row, Write

__all__ = ["SCHEMA_VERSION", "SQLStore"]

SCHEMA_VERSION: Final = 1
"""The schema this code writes. A database with a newer one is refused."""
DEFAULT_BUSY_TIMEOUT: Final = 30.0

_metadata = sa.MetaData()
_meta = sa.Table(
    "softtoken_meta",
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
)
_records = sa.Table(
    "softtoken_records",
    _metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("user_name", sa.String(128), nullable=True),
    sa.Column("state", sa.String(32), nullable=True),
    sa.Column("pool", sa.String(128), nullable=True),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Index("softtoken_records_user", "kind", "user_name"),
    sa.Index("softtoken_records_state", "kind", "state"),
    sa.Index("softtoken_records_pool", "kind", "pool"),
)
_audit = sa.Table(
    "softtoken_audit",
    _metadata,
    sa.Column("subject", sa.String(300), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("before_state", sa.String(32), nullable=True),
    sa.Column("after_state", sa.String(32), nullable=True),
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("mac", sa.LargeBinary, nullable=False),
)


# Every statement is built once, with bound parameters, so that a call only binds values:
# building and hashing a new statement costs more than SQLite's own work for these rows.
_GET: Final = sa.select(_records).where(
    _records.c.kind == sa.bindparam("b_kind"), _records.c.key == sa.bindparam("b_key")
)
_INSERT: Final = sa.insert(_records)
_UPDATE: Final = (
    sa.update(_records)
    .where(
        _records.c.kind == sa.bindparam("b_kind"),
        _records.c.key == sa.bindparam("b_key"),
        _records.c.version == sa.bindparam("b_seen"),
    )
    .values(
        version=sa.bindparam("b_version"),
        user_name=sa.bindparam("b_user"),
        state=sa.bindparam("b_state"),
        pool=sa.bindparam("b_pool"),
        key_id=sa.bindparam("b_key_id"),
        sealed=sa.bindparam("b_sealed"),
    )
)
_INSERT_EVENTS: Final = sa.insert(_audit)
_EVENTS: Final = (
    sa.select(_audit).where(_audit.c.subject == sa.bindparam("b_subject")).order_by(_audit.c.seq)
)
_FILTERS: Final = {
    "user": _records.c.user_name,
    "state": _records.c.state,
    "pool": _records.c.pool,
}


@functools.lru_cache(maxsize=64)
def _find_statement(filters: tuple[str, ...], after: bool, limit: bool) -> sa.Select[Any]:
    """The query of :meth:`SQLStore.find` for this combination of filters, built once."""
    query = sa.select(_records).where(_records.c.kind == sa.bindparam("b_kind"))
    for name in filters:
        query = query.where(_FILTERS[name] == sa.bindparam(f"b_{name}"))
    if after:
        query = query.where(_records.c.key > sa.bindparam("b_after"))
    if limit:
        query = query.limit(sa.bindparam("b_limit", type_=sa.Integer))
    return query.order_by(_records.c.key)


class _Lost(Exception):
    """A compare-and-set changed no row: roll the transaction back."""


class SQLStore:
    """A :class:`~softtoken.issuer.stores.base.Store` in a SQL database.

    Args:
        url: a SQLAlchemy URL, such as ``"sqlite:///issuer.db"``.
        create: create the schema when the database has none (``softtoken issuer init`` does
            this explicitly). With False, a database without the schema is refused.
        busy_timeout: seconds a SQLite writer waits for the write lock.

    Raises:
        SchemaMismatch: the database's schema is newer than this code's, or missing with
            *create* False.
        StoreError: the database cannot be reached or the URL is unusable. The message never
            includes the URL, which may hold a password.
    """

    def __init__(
        self, url: str, *, create: bool = True, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> None:
        if not isinstance(url, str):
            raise TypeError("url must be str")
        engine = _engine_or_none(url, busy_timeout)
        if engine is None:
            raise StoreError("the database URL is not usable")
        self._engine: Engine = engine
        self._check_schema(create=create)

    def __repr__(self) -> str:
        # The dialect only: a URL may carry a password.
        return f"SQLStore(dialect={self._engine.dialect.name!r})"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (to share its pool, or to inspect the database in tests)."""
        return self._engine

    # ----------------------------------------------------------------------------------------

    def _check_schema(self, *, create: bool) -> None:
        with self._guard():
            if create:
                _metadata.create_all(self._engine, tables=[_meta, _records, _audit])
            with self._engine.begin() as conn:
                found = (
                    _schema_version(conn) if sa.inspect(conn).has_table("softtoken_meta") else None
                )
                if found is None and create:
                    conn.execute(sa.insert(_meta).values(name="schema", value=str(SCHEMA_VERSION)))
                    found = SCHEMA_VERSION
        if found != SCHEMA_VERSION:
            raise SchemaMismatch()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        failed = False
        try:
            yield
        except SQLAlchemyError:
            failed = True
        if failed:
            raise StoreError()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn = conn.execution_options(softtoken_immediate=True)
            with conn.begin():
                yield conn

    def get(self, kind: str, key: str) -> Row | None:
        with self._guard(), self._engine.connect() as conn:
            found = conn.execute(_GET, {"b_kind": kind, "b_key": key}).first()
        return None if found is None else _row(found)

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
        given = {"user": user, "state": state, "pool": pool}
        filters = tuple(name for name, value in given.items() if value is not None)
        query = _find_statement(filters, after is not None, limit is not None)
        values: dict[str, Any] = {"b_kind": kind, "b_after": after, "b_limit": limit}
        values.update({f"b_{name}": given[name] for name in filters})
        with self._guard(), self._engine.connect() as conn:
            found = conn.execute(query, values).all()
        return [_row(item) for item in found]

    def commit(self, writes: Sequence[Write], events: Sequence[AuditEvent]) -> bool:
        with self._guard():
            try:
                with self._writing() as conn:
                    if not _apply(conn, writes, events):
                        raise _Lost
            except (_Lost, IntegrityError):
                # A version moved, an insert found its row, or an event its sequence number:
                # another writer won, and leaving the block rolled everything back.
                return False
        return True

    def events(self, subject: str) -> list[AuditEvent]:
        with self._guard(), self._engine.connect() as conn:
            found = conn.execute(_EVENTS, {"b_subject": subject}).all()
        return [
            AuditEvent(
                subject=item.subject,
                seq=item.seq,
                at=item.at,
                action=item.action,
                actor=item.actor,
                reason=item.reason,
                before=item.before_state,
                after=item.after_state,
                outcome=item.outcome,
                key_id=item.key_id,
                mac=bytes(item.mac),
            )
            for item in found
        ]

    def close(self) -> None:
        self._engine.dispose()


def _apply(conn: Connection, writes: Sequence[Write], events: Sequence[AuditEvent]) -> bool:
    for write in writes:
        row = write.row
        if write.seen is None:
            conn.execute(_INSERT, _values(row))
            continue
        values = {
            "b_kind": row.kind,
            "b_key": row.key,
            "b_seen": write.seen,
            "b_version": row.version,
            "b_user": row.user,
            "b_state": row.state,
            "b_pool": row.pool,
            "b_key_id": row.key_id,
            "b_sealed": row.sealed,
        }
        if conn.execute(_UPDATE, values).rowcount != 1:
            return False
    if events:
        conn.execute(_INSERT_EVENTS, [_event_values(item) for item in events])
    return True


def _values(row: Row) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "key": row.key,
        "version": row.version,
        "user_name": row.user,
        "state": row.state,
        "pool": row.pool,
        "key_id": row.key_id,
        "sealed": row.sealed,
    }


def _event_values(item: AuditEvent) -> dict[str, Any]:
    return {
        "subject": item.subject,
        "seq": item.seq,
        "at": item.at,
        "action": item.action,
        "actor": item.actor,
        "reason": item.reason,
        "before_state": item.before,
        "after_state": item.after,
        "outcome": item.outcome,
        "key_id": item.key_id,
        "mac": item.mac,
    }


def _row(found: Any) -> Row:
    return Row(
        kind=found.kind,
        key=found.key,
        version=found.version,
        user=found.user_name,
        state=found.state,
        pool=found.pool,
        key_id=found.key_id,
        sealed=bytes(found.sealed),
    )


def _schema_version(conn: Connection) -> int | None:
    value = conn.execute(sa.select(_meta.c.value).where(_meta.c.name == "schema")).scalar()
    if value is None:
        return None
    return int(value) if str(value).isdigit() else -1


def _engine_or_none(url: str, busy_timeout: float) -> Engine | None:
    try:
        parsed = sa.engine.make_url(url)
    except (SQLAlchemyError, ValueError):
        return None
    options: dict[str, Any] = {}
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database in (None, "", ":memory:"):
        # One shared connection, or every connection would see its own empty database.
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif sqlite:
        options = {"connect_args": {"timeout": busy_timeout}}
    try:
        engine = sa.create_engine(parsed, **options)
    except (SQLAlchemyError, ValueError, ImportError):
        return None
    if sqlite:
        _tune_sqlite(engine, busy_timeout)
    return engine


def _tune_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        # Take transaction control from the sqlite3 module, so that "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A write takes the write lock first. A read is one statement, which SQLite runs on one
        # snapshot without an explicit transaction, so it opens none.
        if conn.get_execution_options().get("softtoken_immediate", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
