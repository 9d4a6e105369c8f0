"""Where the issuer keeps its records: :class:`MemoryStore` for tests and simulators, and
:class:`SQLStore` (SQLAlchemy Core; SQLite by default, PostgreSQL by URL).

``SQLStore`` needs SQLAlchemy, which the ``softtoken[issuer]`` extra installs; it is imported
only when asked for, so that ``MemoryStore`` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softtoken.issuer.stores.base import Row, Store, Write
from softtoken.issuer.stores.memory import MemoryStore

if TYPE_CHECKING:
    from softtoken.issuer.stores.sql import SQLStore

__all__ = ["MemoryStore", "Row", "SQLStore", "Store", "Write"]


def __getattr__(name: str) -> Any:
    if name == "SQLStore":
        from softtoken.issuer.stores.sql import SQLStore

        return SQLStore
    raise AttributeError(name)
