"""Key rotation on the issuer (SECURITY.md S14): ``Issuer.rotate_keys`` re-seals every token and
code record under the key ring's newest key, in batches, with progress, and can be resumed.

The key ring keeps the old key until the rotation is done; without it, records do not open and
every verification fails closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from softtoken import TOTP
from softtoken.exceptions import InvalidCode, InvalidInput, UnknownKey
from softtoken.issuer import BlockReason, Issuer, RotationReport, TokenState
from softtoken.issuer.stores import MemoryStore
from softtoken.issuer.stores.base import Row, Store
from softtoken.provisioning import Serial
from tests.issuer_support import NOW, STORE_KINDS, keyring, make_store

STEP = NOW // 30
KEYS = {
    Serial.from_number(100_000_001): b"rotation-seed-one-20",
    Serial.from_number(100_000_002): b"rotation-seed-two-20",
    Serial.from_number(100_000_003): b"rotation-seed-three!",
}
ACTIVE, BLOCKED, DELETED = KEYS
ROWS = 7
"""Records in the store that ``populated`` builds: 5 tokens and 2 codes."""
LATER = NOW + 600


class Interrupted(Exception):
    """What the interrupting progress callback raises."""


def code_for(serial: Serial, step: int) -> str:
    """The code of the token *serial* for *step*."""
    return TOTP(KEYS[serial]).generate_step(step)


def populated(store: Store) -> tuple[Issuer, str]:
    """Under a ring of k1 alone: three imported tokens (one active and used, one blocked, one
    deleted), two tokens in stock (one assigned, with its activation pending), and two
    out-of-band codes. Returns the issuer and the code sent to "ana" for "login"."""
    issuer = Issuer(store, keyring("k1"))
    for serial, key in KEYS.items():
        issuer.import_token(serial, key, user=f"user-{serial}", actor="admin", at=NOW)
    issuer.verify(code_for(ACTIVE, STEP), serial=ACTIVE, at=NOW)
    issuer.block(BLOCKED, BlockReason.DEVICE_LOST_OR_STOLEN, actor="admin", at=NOW)
    issuer.delete(DELETED, actor="admin", at=NOW)
    stock = issuer.create_tokens(2, at=NOW)
    issuer.assign(stock[0], user="paula", actor="admin", at=NOW)
    issuer.start_offline_activation(stock[0], actor="admin", at=NOW)
    code = issuer.send_code(user="ana", purpose="login", ttl=3600, at=NOW)
    issuer.send_code(user="ana", purpose="reset", at=NOW)
    return issuer, code


def rows(store: Store) -> list[Row]:
    """Every token and code row."""
    return store.find("token") + store.find("code")


def key_ids(store: Store) -> list[str]:
    """The key id of every row."""
    return [row.key_id for row in rows(store)]


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store kind in turn."""
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


class TestRotation:
    """rotate_keys re-seals everything under the current key."""

    def test_every_row_is_resealed(self, any_store: Store) -> None:
        """After a rotation to k2, every token and code row names k2, on every store."""
        populated(any_store)
        assert ["k1"] * ROWS == key_ids(any_store)
        report = Issuer(any_store, keyring("k1", "k2")).rotate_keys(
            actor="ops", batch_size=2, at=LATER
        )
        assert RotationReport(checked=ROWS, resealed=ROWS, total=ROWS) == report
        assert ["k2"] * ROWS == key_ids(any_store)

    def test_progress_increases_to_the_total(self) -> None:
        """The callback gets (checked, total) after every batch: checked strictly increases,
        total stays the number of records, and the last call is (total, total)."""
        store = MemoryStore()
        populated(store)
        calls: list[tuple[int, int]] = []
        Issuer(store, keyring("k1", "k2")).rotate_keys(
            actor="ops",
            batch_size=2,
            progress=lambda done, total: calls.append((done, total)),
            at=LATER,
        )
        checked = [done for done, _ in calls]
        assert 4 <= len(calls)
        assert sorted(set(checked)) == checked
        assert {ROWS} == {total for _, total in calls}
        assert (ROWS, ROWS) == calls[-1]

    def test_a_batch_as_large_as_the_store_reports_once_per_kind(self) -> None:
        """With a batch larger than the store, progress still ends at (total, total)."""
        store = MemoryStore()
        populated(store)
        calls: list[tuple[int, int]] = []
        Issuer(store, keyring("k1", "k2")).rotate_keys(
            actor="ops",
            batch_size=1000,
            progress=lambda done, total: calls.append((done, total)),
            at=LATER,
        )
        assert (ROWS, ROWS) == calls[-1]

    def test_rekeying_is_audited(self) -> None:
        """Each re-sealed token gains one "rekey" event by the actor, made under k2."""
        store = MemoryStore()
        issuer, _ = populated(store)
        before = {serial: len(issuer.audit(serial)) for serial in KEYS}
        rotated = Issuer(store, keyring("k1", "k2"))
        rotated.rotate_keys(actor="ops", at=LATER)
        for serial in KEYS:
            events = rotated.audit(serial)
            assert (before[serial] + 1, "rekey", "ops", "k2", LATER) == (
                len(events),
                events[-1].action,
                events[-1].actor,
                events[-1].key_id,
                events[-1].at,
            )

    def test_records_keep_their_contents(self) -> None:
        """States, users and floors are the same after the rotation."""
        store = MemoryStore()
        issuer, _ = populated(store)
        rotated = Issuer(store, keyring("k1", "k2"))
        before = [(t.serial, t.state, t.user, t.last_counter, t.failures) for t in issuer.tokens()]
        rotated.rotate_keys(actor="ops", at=LATER)
        after = [(t.serial, t.state, t.user, t.last_counter, t.failures) for t in rotated.tokens()]
        assert before == after

    def test_tokens_and_codes_still_verify(self) -> None:
        """After the rotation, the active token accepts a new code and refuses its old one, and
        a code sent before the rotation is accepted."""
        store = MemoryStore()
        _, code = populated(store)
        rotated = Issuer(store, keyring("k1", "k2"))
        rotated.rotate_keys(actor="ops", at=LATER)
        with pytest.raises(InvalidCode):
            rotated.verify(code_for(ACTIVE, STEP), serial=ACTIVE, at=NOW + 1)
        step = LATER // 30
        assert step == rotated.verify(code_for(ACTIVE, step), serial=ACTIVE, at=LATER).counter
        rotated.check_code(code, user="ana", purpose="login", at=LATER)

    def test_a_second_rotation_reseals_nothing(self) -> None:
        """A rotation after a finished one checks every record and re-seals none."""
        store = MemoryStore()
        populated(store)
        rotated = Issuer(store, keyring("k1", "k2"))
        rotated.rotate_keys(actor="ops", at=LATER)
        events = len(rotated.audit(ACTIVE))
        report = rotated.rotate_keys(actor="ops", at=LATER + 1)
        assert (RotationReport(checked=ROWS, resealed=0, total=ROWS), events) == (
            report,
            len(rotated.audit(ACTIVE)),
        )

    @pytest.mark.parametrize("batch_size", [0, 10_001])
    def test_batch_size_is_bounded(self, batch_size: int) -> None:
        """A batch size outside 1 to 10,000 is refused before anything is touched."""
        store = MemoryStore()
        populated(store)
        with pytest.raises(InvalidInput):
            Issuer(store, keyring("k1", "k2")).rotate_keys(
                actor="ops", batch_size=batch_size, at=LATER
            )
        assert ["k1"] * ROWS == key_ids(store)


class TestResume:
    """A rotation that stopped part-way finishes when run again."""

    def test_an_interrupted_rotation_resumes(self, any_store: Store) -> None:
        """A progress callback that raises after the first batch stops the rotation with that
        batch re-sealed; a second run re-seals only the rest, and every row ends under k2."""
        populated(any_store)
        rotated = Issuer(any_store, keyring("k1", "k2"))

        def interrupt(checked: int, total: int) -> None:
            raise Interrupted

        with pytest.raises(Interrupted):
            rotated.rotate_keys(actor="ops", batch_size=2, progress=interrupt, at=LATER)
        halfway = key_ids(any_store)
        assert (2, ROWS - 2) == (halfway.count("k2"), halfway.count("k1"))
        report = rotated.rotate_keys(actor="ops", batch_size=2, at=LATER + 1)
        assert RotationReport(checked=ROWS, resealed=ROWS - 2, total=ROWS) == report
        assert ["k2"] * ROWS == key_ids(any_store)

    def test_the_service_runs_during_a_rotation(self) -> None:
        """Between an interruption and the resumption, tokens under either key verify."""
        store = MemoryStore()
        populated(store)
        rotated = Issuer(store, keyring("k1", "k2"))

        def interrupt(checked: int, total: int) -> None:
            raise Interrupted

        with pytest.raises(Interrupted):
            rotated.rotate_keys(actor="ops", batch_size=1, progress=interrupt, at=LATER)
        step = LATER // 30
        assert step == rotated.verify(code_for(ACTIVE, step), serial=ACTIVE, at=LATER).counter
        rotated.rotate_keys(actor="ops", at=LATER + 1)
        assert ["k2"] * ROWS == key_ids(store)


class TestAuditAfterRotation:
    """Audit chains keep their old events, which need the old key to verify."""

    def test_chains_verify_with_both_keys(self) -> None:
        """With k1 still in the ring, every token chain and code chain verifies, and each token
        chain holds events under k1 and under k2."""
        store = MemoryStore()
        populated(store)
        rotated = Issuer(store, keyring("k1", "k2"))
        rotated.rotate_keys(actor="ops", at=LATER)
        for serial in KEYS:
            assert len(rotated.audit(serial)) == rotated.verify_audit(serial)
            assert {"k1", "k2"} == {event.key_id for event in rotated.audit(serial)}
        for purpose in ("login", "reset"):
            assert 2 == rotated.verify_code_audit(user="ana", purpose=purpose)

    def test_after_removing_the_old_key_old_events_do_not_verify(self) -> None:
        """Documented behaviour: a rotation re-seals records but never rewrites audit events
        (the trail is append-only). So once k1 is removed from the ring, tokens keep working,
        but verify_audit on a chain holding events MAC'd under k1 raises UnknownKey (not
        AuditChainBroken): keep old keys for as long as their events must verify."""
        store = MemoryStore()
        populated(store)
        Issuer(store, keyring("k1", "k2")).rotate_keys(actor="ops", at=LATER)
        only_new = Issuer(store, keyring("k2"))
        step = LATER // 30
        assert step == only_new.verify(code_for(ACTIVE, step), serial=ACTIVE, at=LATER).counter
        with pytest.raises(UnknownKey):
            only_new.verify_audit(ACTIVE)
        with pytest.raises(UnknownKey):
            only_new.verify_code_audit(user="ana", purpose="login")

    def test_a_code_sent_before_rotation_needs_the_old_key(self) -> None:
        """Documented behaviour: an out-of-band code's keyed hash cannot be re-made without the
        code, so a rotation re-seals the record but keeps the hash under k1. With k1 removed,
        such a code fails closed (InvalidCode) until it is replaced; a new code works."""
        store = MemoryStore()
        _, code = populated(store)
        Issuer(store, keyring("k1", "k2")).rotate_keys(actor="ops", at=LATER)
        only_new = Issuer(store, keyring("k2"))
        with pytest.raises(InvalidCode):
            only_new.check_code(code, user="ana", purpose="login", at=LATER)
        fresh = only_new.send_code(user="ana", purpose="login", at=LATER)
        only_new.check_code(fresh, user="ana", purpose="login", at=LATER)


class TestOldKeyRemovedTooSoon:
    """Without the key its records were sealed under, nothing opens: fail closed."""

    def test_verify_fails_closed(self) -> None:
        """With only k2 in the ring before any rotation, a valid code is refused with the plain
        InvalidCode, and no row changes."""
        store = MemoryStore()
        populated(store)
        before = rows(store)
        only_new = Issuer(store, keyring("k2"))
        step = LATER // 30
        with pytest.raises(InvalidCode) as caught:
            only_new.verify(code_for(ACTIVE, step), serial=ACTIVE, at=LATER)
        assert InvalidCode is type(caught.value)
        with pytest.raises(InvalidCode):
            only_new.verify(code_for(ACTIVE, step), user=f"user-{ACTIVE}", at=LATER)
        assert before == rows(store)

    def test_rotation_raises_unknown_key(self) -> None:
        """rotate_keys cannot open a k1 record with only k2: UnknownKey, nothing re-sealed."""
        store = MemoryStore()
        populated(store)
        with pytest.raises(UnknownKey):
            Issuer(store, keyring("k2")).rotate_keys(actor="ops", at=LATER)
        assert ["k1"] * ROWS == key_ids(store)

    def test_putting_the_key_back_recovers(self) -> None:
        """After the failed rotation, a ring with k1 back finishes it, and the token works."""
        store = MemoryStore()
        populated(store)
        with pytest.raises(UnknownKey):
            Issuer(store, keyring("k2")).rotate_keys(actor="ops", at=LATER)
        rotated = Issuer(store, keyring("k1", "k2"))
        rotated.rotate_keys(actor="ops", at=LATER)
        assert ["k2"] * ROWS == key_ids(store)
        assert TokenState.ACTIVE == rotated.token(ACTIVE).state
