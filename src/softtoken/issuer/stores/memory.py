"""An issuer store in memory, for tests and simulators.

It keeps exactly what :class:`~softtoken.issuer.stores.SQLStore` keeps (sealed rows and audit
events) under one lock, so the contract suite runs the same tests against both, and threads
sharing one instance see atomic commits. It persists nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from softtoken.issuer.audit import AuditEvent
from softtoken.issuer.stores.base import Row, Write

__all__ = ["MemoryStore"]


class MemoryStore:
    """A :class:`~softtoken.issuer.stores.base.Store` held in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], Row] = {}
        self._events: dict[str, list[AuditEvent]] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(rows={len(self._rows)})"

    def get(self, kind: str, key: str) -> Row | None:
        with self._lock:
            return self._rows.get((kind, key))

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
        with self._lock:
            rows = sorted(
                (row for (k, _), row in self._rows.items() if k == kind),
                key=lambda row: row.key,
            )
        wanted = [
            row
            for row in rows
            if (user is None or row.user == user)
            and (state is None or row.state == state)
            and (pool is None or row.pool == pool)
            and (after is None or row.key > after)
        ]
        return wanted if limit is None else wanted[:limit]

    def commit(self, writes: Sequence[Write], events: Sequence[AuditEvent]) -> bool:
        with self._lock:
            for write in writes:
                current = self._rows.get((write.row.kind, write.row.key))
                if write.seen is None and current is not None:
                    return False
                if write.seen is not None and (current is None or current.version != write.seen):
                    return False
            # (subject, seq) is unique, as the SQL store's primary key makes it, within the
            # batch as well as against what is stored.
            taken = {(item.subject, item.seq) for item in events}
            if len(taken) != len(events):
                return False
            for event in events:
                chain = self._events.get(event.subject, [])
                if any(stored.seq == event.seq for stored in chain):
                    return False
            for write in writes:
                self._rows[(write.row.kind, write.row.key)] = write.row
            for event in events:
                self._events.setdefault(event.subject, []).append(event)
            return True

    def events(self, subject: str) -> list[AuditEvent]:
        with self._lock:
            return list(self._events.get(subject, ()))

    def close(self) -> None:
        with self._lock:
            self._rows.clear()
            self._events.clear()

    # Test helpers: what an attacker with write access to the storage could do, and a listing.

    def subjects(self) -> list[str]:
        """Every audit chain's subject, sorted (tests only)."""
        with self._lock:
            return sorted(self._events)

    def replace_row(self, row: Row) -> None:
        """Overwrite a row behind the issuer's back (tests of tampering only)."""
        with self._lock:
            self._rows[(row.kind, row.key)] = row

    def replace_events(self, subject: str, events: Sequence[AuditEvent]) -> None:
        """Overwrite a chain behind the issuer's back (tests of tampering only)."""
        with self._lock:
            self._events[subject] = list(events)
