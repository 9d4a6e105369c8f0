"""What every issuer store provides: rows in, rows out, and one atomic commit.

A store knows nothing of tokens. It keeps *rows*, each a sealed record with the few columns it
must index in the clear (ARCHITECTURE.md layer 3: a thin store under a pure core), and the audit
events. :meth:`Store.commit` is the only write: every row is written by compare-and-set on the
version its writer read (or inserted where none may exist yet) and every event appended, all or
nothing, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from softtoken.issuer.audit import AuditEvent

__all__ = ["Row", "Store", "Write"]


@attrs.frozen
class Row:
    """One stored record.

    Attributes:
        kind: ``"token"`` or ``"code"``.
        key: the serial's digits for a token; the chain subject for a code.
        version: the record's version, for compare-and-set.
        user, state, pool: the index columns, in the clear (None where they do not apply).
        key_id: the key-ring key that sealed :attr:`sealed`.
        sealed: the whole record, sealed (never in a ``repr``).
    """

    kind: str = attrs.field(kw_only=True)
    key: str = attrs.field(kw_only=True)
    version: int = attrs.field(kw_only=True)
    user: str | None = attrs.field(kw_only=True)
    state: str | None = attrs.field(kw_only=True)
    pool: str | None = attrs.field(kw_only=True)
    key_id: str = attrs.field(kw_only=True)
    sealed: bytes = attrs.field(kw_only=True, repr=False)


@attrs.frozen
class Write:
    """A row to write: *row* replaces the stored row of its kind and key only if that row's
    version is still *seen*; with *seen* None, *row* is inserted only if no such row exists."""

    row: Row
    seen: int | None


class Store(Protocol):
    """The interface both :class:`~softtoken.issuer.stores.MemoryStore` and
    :class:`~softtoken.issuer.stores.SQLStore` implement, and one contract suite tests.

    Every method raises :class:`~softtoken.exceptions.StoreError` when the storage itself fails;
    nothing is then changed.
    """

    def get(self, kind: str, key: str) -> Row | None:
        """The row of *kind* and *key*, or None."""
        ...

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
        """Rows of *kind* matching every given column, ordered by key, with keys greater than
        *after*, at most *limit* of them."""
        ...

    def commit(self, writes: Sequence[Write], events: Sequence[AuditEvent]) -> bool:
        """Apply every write and append every event atomically.

        Returns:
            True when all were applied; False, with nothing applied, when a compare-and-set
            lost (a row's version moved, or an insert found a row), so that the caller reads
            again and recomputes.
        """
        ...

    def events(self, subject: str) -> list[AuditEvent]:
        """The audit events of *subject*, by sequence number."""
        ...

    def close(self) -> None:
        """Release connections. The store may not be used afterwards."""
        ...
