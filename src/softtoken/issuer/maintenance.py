"""Key rotation: re-seal every record under the key ring's current key (SECURITY.md S14).

A mixin of :class:`~softtoken.issuer.Issuer`. :meth:`rotate_keys` walks the records in key order,
in batches; a record already sealed under the current key is skipped, so a rotation that stopped
part-way is resumed by running it again (or from the cursor it reported). Each re-seal is its
own compare-and-set, audited as ``rekey``, so the service keeps running during a rotation. Keep
the old keys in the ring until the rotation is done, for as long as the audit events made
under them must verify (events are never rewritten), and for a day after it: an out-of-band
code's keyed hash cannot be recomputed without the code, so a code sent before the rotation is
checked under the key it was hashed with until it expires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import attrs

from softtoken._checks import check_int
from softtoken.issuer.audit import Action
from softtoken.issuer.engine import CodeChange, Engine
from softtoken.issuer.lifecycle import Change, Entry, changed
from softtoken.issuer.records import CodeRecord, TokenRecord, check_name
from softtoken.issuer.rows import open_code
from softtoken.provisioning.identifiers import Serial

__all__ = ["KeyRotation", "Progress", "RotationReport"]

Progress = Callable[[int, int], None]
"""Called after every batch with (records checked, records in all)."""


@attrs.frozen
class RotationReport:
    """What :meth:`KeyRotation.rotate_keys` did.

    Attributes:
        checked: records looked at. resealed: records re-sealed under the current key.
        total: records in the store when the rotation started.
    """

    checked: int
    resealed: int
    total: int


class KeyRotation:
    """Re-seal records under the newest key."""

    _engine: Engine

    def rotate_keys(
        self,
        *,
        actor: str,
        batch_size: int = 100,
        progress: Progress | None = None,
        at: int | dt.datetime | None = None,
    ) -> RotationReport:
        """Re-seal every token and code record not sealed under ``keyring.current``.

        Raises:
            UnknownKey: a record is sealed under a key the ring no longer holds; the records
                before it are re-sealed already, so put the key back and run it again.
            StoreError, StoreConflict: as any operation; run it again to resume.
        """
        check_name(actor, "actor")
        check_int(batch_size, "batch_size", 1, 10_000)
        store = self._engine.store
        current = self._engine.keyring.current
        total = len(store.find("token")) + len(store.find("code"))
        checked = resealed = 0
        for kind in ("token", "code"):
            after: str | None = None
            while batch := store.find(kind, after=after, limit=batch_size):
                for row in batch:
                    checked += 1
                    if row.key_id != current:
                        resealed += self._reseal(kind, row.key, actor, at)
                after = batch[-1].key
                if progress is not None:
                    progress(checked, total)
        return RotationReport(checked=checked, resealed=resealed, total=max(total, checked))

    def _reseal(self, kind: str, key: str, actor: str, at: int | dt.datetime | None) -> int:
        engine = self._engine
        current = engine.keyring.current
        if kind == "token":

            def plan(record: TokenRecord, now: int) -> tuple[int, list[Change]]:
                change = Change(record, changed(record, now), Entry(Action.REKEY, current, actor))
                return 1, [change]

            row = engine.store.get(kind, key)
            if row is None or row.key_id == current:
                return 0
            return engine.apply(Serial.parse(key), plan, at, row=row)

        def code_plan(record: CodeRecord | None, now: int) -> tuple[int, CodeChange | None]:
            row = engine.store.get(kind, key)
            if record is None or row is None or row.key_id == current:
                return 0, None
            after = attrs.evolve(record, version=record.version + 1)
            return 1, CodeChange(record, after, Action.REKEY, current)

        row = engine.store.get(kind, key)
        if row is None:
            return 0
        record = open_code(engine.keyring, row)
        return engine.apply_code(record.user, record.purpose, code_plan, at)
