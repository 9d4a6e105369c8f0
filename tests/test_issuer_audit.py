"""The issuer's tamper-evident audit trail (SECURITY.md S14, S15).

Each token's events, and each user's out-of-band code events, form an HMAC chain. These tests
edit, delete, reorder and forge events behind the issuer's back, through
``MemoryStore.replace_events`` and through SQL on an ``SQLStore``, and check that
``verify_audit`` finds the first bad event. They also check that no event carries a secret or a
code, and that the trail follows the order of the operations.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa

from softtoken import TOTP
from softtoken.exceptions import AuditChainBroken, InvalidCode
from softtoken.issuer import BlockReason, Issuer, Keyring, ReleaseReason, Window
from softtoken.issuer.audit import Action as AuditAction
from softtoken.issuer.audit import AuditEvent, chain
from softtoken.issuer.rows import code_key
from softtoken.issuer.stores import MemoryStore, SQLStore
from softtoken.issuer.stores.base import Store
from softtoken.provisioning import Serial
from softtoken.unlock import new_reset_code
from tests.issuer_support import NOW, keyring

CANARY = bytes.fromhex("c0ffee00deadbeef5ca1ab1e0ddba11f00d5eed5")
"""A recognisable 20-byte seed, to search for in every event."""
SERIAL = Serial.from_number(313_131_313)
SUBJECT = str(SERIAL)
USER = "marta"
STEP = NOW // 30
APP = TOTP(CANARY)


def code_at(step: int) -> str:
    """The app's code for *step*."""
    return APP.generate_step(step)


def _wrong() -> str:
    taken = {code_at(step) for step in range(STEP - 50, STEP + 50)}
    return next(code for code in (f"{n:06d}" for n in range(918_273, 10**6)) if code not in taken)


WRONG = _wrong()
"""A wrong code that matches no step near NOW, and looks like no time or serial used here."""


def with_trail(store: Store) -> Issuer:
    """An issuer whose token has a trail of 9 events: create, import, accepted, wrong, replay,
    block, unblock, set_window, reset_drift."""
    issuer = Issuer(store, keyring())
    issuer.import_token(SERIAL, CANARY, user=USER, actor="admin", at=NOW)
    issuer.verify(code_at(STEP), serial=SERIAL, at=NOW)
    for code in (WRONG, code_at(STEP)):
        with pytest.raises(InvalidCode):
            issuer.verify(code, serial=SERIAL, at=NOW + 1)
    issuer.block(SERIAL, BlockReason.CUSTOMER_REQUEST, actor="admin", at=NOW + 2)
    issuer.unblock(SERIAL, actor="admin", note="customer asked", at=NOW + 3)
    issuer.set_window(SERIAL, Window(past=1, future=2), actor="ops", at=NOW + 4)
    issuer.reset_drift(SERIAL, actor="ops", at=NOW + 5)
    return issuer


def position(issuer: Issuer) -> int:
    """verify_audit must fail: the position it names."""
    with pytest.raises(AuditChainBroken) as caught:
        issuer.verify_audit(SERIAL)
    return caught.value.position


@pytest.fixture
def memory() -> MemoryStore:
    """A fresh MemoryStore."""
    return MemoryStore()


@pytest.fixture
def sql(tmp_path: Path) -> Iterator[SQLStore]:
    """A fresh SQLite store in a file."""
    store = SQLStore(f"sqlite:///{tmp_path / 'issuer.db'}")
    yield store
    store.close()


def execute(store: SQLStore, statement: str, **values: object) -> int:
    """Run one SQL statement on the store's database behind the issuer; the rows it changed."""
    with store.engine.begin() as conn:
        return conn.execute(sa.text(statement), values).rowcount


class TestIntact:
    """An untouched trail verifies, and lists the operations in order."""

    def test_an_untouched_trail_verifies(self, memory: MemoryStore) -> None:
        """verify_audit checks every event of the trail and returns how many."""
        issuer = with_trail(memory)
        assert 9 == len(issuer.audit(SERIAL))
        assert 9 == issuer.verify_audit(SERIAL)

    def test_an_untouched_sql_trail_verifies(self, sql: SQLStore) -> None:
        """The same trail on SQLite verifies too."""
        assert 9 == with_trail(sql).verify_audit(SERIAL)

    def test_the_trail_is_in_the_order_of_operations(self, memory: MemoryStore) -> None:
        """Actions, outcomes, actors and times follow the operations, with seq 1, 2, 3, ..."""
        events = with_trail(memory).audit(SERIAL)
        assert list(range(1, 10)) == [event.seq for event in events]
        assert [
            ("create", "created", "admin", NOW),
            ("import", "imported", "admin", NOW),
            ("verify", "accepted", None, NOW),
            ("verify", "wrong_code", None, NOW + 1),
            ("verify", "replay", None, NOW + 1),
            ("block", "blocked", "admin", NOW + 2),
            ("unblock", "unblocked", "admin", NOW + 3),
            ("set_window", "window_1_2", "ops", NOW + 4),
            ("reset_drift", "drift_reset", "ops", NOW + 5),
        ] == [(event.action, event.outcome, event.actor, event.at) for event in events]

    def test_states_before_and_after_are_recorded(self, memory: MemoryStore) -> None:
        """The block event records active before and blocked after, with its reason."""
        block = with_trail(memory).audit(SERIAL)[5]
        assert ("active", "blocked", "customer_request") == (
            block.before,
            block.after,
            block.reason,
        )

    def test_the_trail_grows_past_deletion(self, memory: MemoryStore) -> None:
        """Release and delete append to the same chain, which still verifies."""
        issuer = with_trail(memory)
        issuer.release(SERIAL, ReleaseReason.CUSTOMER_REQUEST, actor="admin", at=NOW + 6)
        issuer.delete(SERIAL, actor="admin", at=NOW + 7)
        assert ["release", "delete"] == [event.action for event in issuer.audit(SERIAL)[-2:]]
        assert 11 == issuer.verify_audit(SERIAL)


class TestEditedInMemory:
    """An event changed through MemoryStore.replace_events is found."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [("outcome", "accepted"), ("actor", "somebody"), ("at", NOW + 999), ("reason", "x")],
    )
    @pytest.mark.parametrize("seq", [1, 4, 9])
    def test_an_edited_field_is_found(
        self, memory: MemoryStore, field: str, value: object, seq: int
    ) -> None:
        """Changing one field of event *seq* breaks the chain at *seq*."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        events[seq - 1] = attrs.evolve(events[seq - 1], **{field: value})  # type: ignore[arg-type]
        memory.replace_events(SUBJECT, events)
        assert seq == position(issuer)

    def test_a_replaced_mac_is_found(self, memory: MemoryStore) -> None:
        """Swapping in another event's MAC is found at that event."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        events[3] = attrs.evolve(events[3], mac=events[2].mac)
        memory.replace_events(SUBJECT, events)
        assert 4 == position(issuer)

    def test_a_relabelled_key_id_is_found(self, memory: MemoryStore) -> None:
        """Changing an event's key id to another key of the ring is found."""
        store = memory
        issuer = with_trail(store)
        events = issuer.audit(SERIAL)
        events[1] = attrs.evolve(events[1], key_id="k2")
        store.replace_events(SUBJECT, events)
        wider = Issuer(store, keyring("k2", "k1"))
        with pytest.raises(AuditChainBroken) as caught:
            wider.verify_audit(SERIAL)
        assert 2 == caught.value.position


class TestDeletedReorderedForged:
    """Removed, reordered and inserted events are found in memory."""

    def test_a_deleted_middle_event_is_found(self, memory: MemoryStore) -> None:
        """Removing event 5 breaks the chain at 5."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        memory.replace_events(SUBJECT, events[:4] + events[5:])
        assert 5 == position(issuer)

    def test_a_deleted_middle_event_with_renumbering_is_found(self, memory: MemoryStore) -> None:
        """Removing event 5 and renumbering the rest still breaks the chain at 5."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        rest = [attrs.evolve(event, seq=event.seq - 1) for event in events[5:]]
        memory.replace_events(SUBJECT, events[:4] + rest)
        assert 5 == position(issuer)

    def test_a_deleted_last_event_is_found(self, memory: MemoryStore) -> None:
        """Removing the last event (9) is found at 9: the record's head is ahead of the trail."""
        issuer = with_trail(memory)
        memory.replace_events(SUBJECT, issuer.audit(SERIAL)[:-1])
        assert 9 == position(issuer)

    def test_a_deleted_first_event_is_found(self, memory: MemoryStore) -> None:
        """Removing event 1 is found at 1."""
        issuer = with_trail(memory)
        memory.replace_events(SUBJECT, issuer.audit(SERIAL)[1:])
        assert 1 == position(issuer)

    def test_an_emptied_trail_is_found(self, memory: MemoryStore) -> None:
        """Removing every event is found at 1."""
        issuer = with_trail(memory)
        memory.replace_events(SUBJECT, [])
        assert 1 == position(issuer)

    def test_a_swapped_pair_is_found(self, memory: MemoryStore) -> None:
        """Swapping the seq values of events 3 and 4 (so they are stored in swapped order) is
        found at 3."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        third, fourth = events[2], events[3]
        events[2], events[3] = attrs.evolve(fourth, seq=3), attrs.evolve(third, seq=4)
        memory.replace_events(SUBJECT, events)
        assert 3 == position(issuer)

    def test_a_pair_out_of_order_is_found(self, memory: MemoryStore) -> None:
        """Events 6 and 7 stored in swapped order, with their own seq values, are found at 6."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        events[5], events[6] = events[6], events[5]
        memory.replace_events(SUBJECT, events)
        assert 6 == position(issuer)

    def test_an_inserted_forged_event_is_found(self, memory: MemoryStore) -> None:
        """A forged "unblock" made under a key the attacker holds, inserted as event 6 with the
        rest renumbered, is found at 6."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        attacker = Keyring({"k1": b"attacker".ljust(32, b"!")})
        forged = chain(
            attacker,
            head=(5, events[4].mac),
            subject=SUBJECT,
            at=NOW + 2,
            action=AuditAction.UNBLOCK,
            actor="admin",
            outcome="unblocked",
            before="blocked",
            after="active",
        )
        rest = [attrs.evolve(event, seq=event.seq + 1) for event in events[5:]]
        memory.replace_events(SUBJECT, [*events[:5], forged, *rest])
        assert 6 == position(issuer)

    def test_an_event_appended_after_the_head_is_found(self, memory: MemoryStore) -> None:
        """An extra event appended after the record's head, even one MAC'd correctly by the
        issuer's own key, is found: the head names the last genuine event."""
        issuer = with_trail(memory)
        events = issuer.audit(SERIAL)
        extra = chain(
            keyring(),
            head=(9, events[-1].mac),
            subject=SUBJECT,
            at=NOW + 9,
            action=AuditAction.VERIFY,
            actor=None,
            outcome="accepted",
        )
        memory.replace_events(SUBJECT, [*events, extra])
        assert 10 == position(issuer)


class TestTamperedInSQL:
    """The same attacks through SQL on the SQLite file are found."""

    def test_an_updated_outcome_is_found(self, sql: SQLStore) -> None:
        """UPDATE of event 4's outcome breaks the chain at 4."""
        issuer = with_trail(sql)
        changed = execute(
            sql,
            "UPDATE softtoken_audit SET outcome = 'accepted' WHERE subject = :s AND seq = 4",
            s=SUBJECT,
        )
        assert (1, 4) == (changed, position(issuer))

    @pytest.mark.parametrize(("column", "value"), [("actor", "mallory"), ("at", NOW - 100)])
    def test_an_updated_actor_or_time_is_found(
        self, sql: SQLStore, column: str, value: object
    ) -> None:
        """UPDATE of event 6's actor or time breaks the chain at 6."""
        issuer = with_trail(sql)
        execute(
            sql,
            f"UPDATE softtoken_audit SET {column} = :v WHERE subject = :s AND seq = 6",  # noqa: S608
            v=value,
            s=SUBJECT,
        )
        assert 6 == position(issuer)

    @pytest.mark.parametrize("seq", [5, 9])
    def test_a_deleted_row_is_found(self, sql: SQLStore, seq: int) -> None:
        """DELETE of a middle row (5) or the last row (9) is found at that row."""
        issuer = with_trail(sql)
        execute(
            sql, "DELETE FROM softtoken_audit WHERE subject = :s AND seq = :n", s=SUBJECT, n=seq
        )
        assert seq == position(issuer)

    def test_swapped_seq_values_are_found(self, sql: SQLStore) -> None:
        """Swapping the seq of rows 3 and 4 is found at 3."""
        issuer = with_trail(sql)
        for old, new in ((3, -3), (4, 3), (-3, 4)):
            execute(
                sql,
                "UPDATE softtoken_audit SET seq = :new WHERE subject = :s AND seq = :old",
                new=new,
                s=SUBJECT,
                old=old,
            )
        assert 3 == position(issuer)

    def test_a_trail_moved_from_another_token_is_found(self, sql: SQLStore) -> None:
        """Another token's genuine rows relabelled with this token's serial, in place of its
        own, are found at 1: every MAC covers its subject."""
        issuer = with_trail(sql)
        other = Serial.from_number(818_181_818)
        issuer.import_token(other, bytes(20), user="someone", actor="admin", at=NOW)
        execute(sql, "DELETE FROM softtoken_audit WHERE subject = :s", s=SUBJECT)
        execute(
            sql,
            "UPDATE softtoken_audit SET subject = :s WHERE subject = :o",
            s=SUBJECT,
            o=str(other),
        )
        assert 1 == position(issuer)

    def test_an_inserted_row_is_found(self, sql: SQLStore) -> None:
        """A forged row inserted as seq 4 (the later rows shifted up) is found at 4."""
        issuer = with_trail(sql)
        for seq in range(9, 3, -1):
            execute(
                sql,
                "UPDATE softtoken_audit SET seq = :new WHERE subject = :s AND seq = :old",
                new=seq + 1,
                s=SUBJECT,
                old=seq,
            )
        execute(
            sql,
            "INSERT INTO softtoken_audit (subject, seq, at, action, actor, reason, before_state,"
            " after_state, outcome, key_id, mac) VALUES (:s, 4, :at, 'verify', NULL, NULL,"
            " 'active', 'active', 'accepted', 'k1', :mac)",
            s=SUBJECT,
            at=NOW + 1,
            mac=bytes(32),
        )
        assert 4 == position(issuer)


class TestNoSecrets:
    """No event holds the seed, in any encoding, or a code that was used."""

    def test_events_hold_no_seed_and_no_code(self, memory: MemoryStore) -> None:
        """After every kind of operation, no field of any event holds the canary seed (raw, hex,
        base32, base64) or any code submitted, including the unlock exchange's codes."""
        issuer = with_trail(memory)
        codes = [code_at(STEP), WRONG, code_at(STEP + 1), code_at(STEP + 2), code_at(STEP + 4)]
        issuer.resync(SERIAL, code_at(STEP + 1), code_at(STEP + 2), actor="ops", at=NOW + 6)
        issuer.verify(code_at(STEP + 4), user=USER, at=NOW + 40)
        reset = new_reset_code()
        unlock = issuer.unlock_code(SERIAL, reset, actor="helpdesk", at=NOW + 41)
        codes += [reset, unlock]
        issuer.release(SERIAL, ReleaseReason.SEED_RELEASE, actor="admin", at=NOW + 42)
        issuer.delete(SERIAL, actor="admin", at=NOW + 43)
        text_forms = [
            CANARY.hex(),
            CANARY.hex().upper(),
            base64.b32encode(CANARY).decode(),
            base64.b32encode(CANARY).decode().lower(),
            base64.b64encode(CANARY).decode(),
        ]
        events = issuer.audit(SERIAL)
        assert 13 <= len(events)
        for event in events:
            fields = attrs.asdict(event)
            texts = [str(value) for name, value in fields.items() if name != "mac"]
            texts.append(event.mac.hex())
            assert CANARY not in event.mac
            for text in texts:
                assert not any(form in text for form in text_forms)
            words = [event.action, event.actor, event.reason, event.outcome, event.key_id]
            for word in words:
                assert not any(code in (word or "") for code in codes)
            assert not any(code in repr(event) for code in codes)

    def test_the_event_repr_hides_the_mac(self, memory: MemoryStore) -> None:
        """An event's repr shows its fields but not its MAC."""
        event = with_trail(memory).audit(SERIAL)[0]
        assert event.mac.hex() not in repr(event)
        assert "mac=" not in repr(event)


class TestCodeChains:
    """Out-of-band codes have their own chain per user and purpose."""

    def test_a_code_chain_verifies(self, memory: MemoryStore) -> None:
        """send, wrong, right: a chain of three that verifies."""
        issuer = Issuer(memory, keyring())
        code = issuer.send_code(user=USER, purpose="login", at=NOW)
        with pytest.raises(InvalidCode):
            issuer.check_code(
                "0" * 6 if code != "0" * 6 else "1" * 6, user=USER, purpose="login", at=NOW
            )
        issuer.check_code(code, user=USER, purpose="login", at=NOW + 1)
        events = issuer.code_audit(user=USER, purpose="login")
        assert [
            ("send_code", "issued"),
            ("check_code", "wrong_code"),
            ("check_code", "accepted"),
        ] == [(event.action, event.outcome) for event in events]
        assert 3 == issuer.verify_code_audit(user=USER, purpose="login")
        assert all(code not in repr(event) for event in events)

    def test_an_edited_code_event_is_found(self, memory: MemoryStore) -> None:
        """Changing a code event's outcome is found at that event."""
        issuer = Issuer(memory, keyring())
        code = issuer.send_code(user=USER, purpose="login", at=NOW)
        issuer.check_code(code, user=USER, purpose="login", at=NOW + 1)
        subject = code_key(USER, "login")
        events = memory.events(subject)
        events[1] = attrs.evolve(events[1], outcome="wrong_code")
        memory.replace_events(subject, events)
        with pytest.raises(AuditChainBroken) as caught:
            issuer.verify_code_audit(user=USER, purpose="login")
        assert 2 == caught.value.position

    def test_a_deleted_last_code_event_is_found(self, memory: MemoryStore) -> None:
        """Removing the last code event is found one past the remaining trail."""
        issuer = Issuer(memory, keyring())
        issuer.send_code(user=USER, purpose="login", at=NOW)
        issuer.send_code(user=USER, purpose="login", at=NOW + 1)
        subject = code_key(USER, "login")
        memory.replace_events(subject, memory.events(subject)[:-1])
        with pytest.raises(AuditChainBroken) as caught:
            issuer.verify_code_audit(user=USER, purpose="login")
        assert 2 == caught.value.position

    def test_code_chains_are_separate(self, memory: MemoryStore) -> None:
        """Two purposes of one user have two chains, each of its own events."""
        issuer = Issuer(memory, keyring())
        issuer.send_code(user=USER, purpose="login", at=NOW)
        issuer.send_code(user=USER, purpose="reset", at=NOW)
        issuer.send_code(user=USER, purpose="reset", at=NOW + 1)
        assert (1, 2) == (
            issuer.verify_code_audit(user=USER, purpose="login"),
            issuer.verify_code_audit(user=USER, purpose="reset"),
        )

    def test_a_code_chain_in_sql_is_checked(self, sql: SQLStore) -> None:
        """On SQLite, an UPDATE of a code event is found."""
        issuer = Issuer(sql, keyring())
        issuer.send_code(user=USER, purpose="login", at=NOW)
        assert 1 == issuer.verify_code_audit(user=USER, purpose="login")
        execute(
            sql,
            "UPDATE softtoken_audit SET at = :at WHERE subject = :s",
            at=NOW + 1,
            s=code_key(USER, "login"),
        )
        with pytest.raises(AuditChainBroken) as caught:
            issuer.verify_code_audit(user=USER, purpose="login")
        assert 1 == caught.value.position


def _events_equal(left: list[AuditEvent], right: list[AuditEvent]) -> bool:
    return [attrs.astuple(event) for event in left] == [attrs.astuple(event) for event in right]


class TestStoresAgree:
    """The two stores keep the same events for the same operations."""

    def test_memory_and_sql_trails_are_equal(self, memory: MemoryStore, sql: SQLStore) -> None:
        """The same operations give equal trails on both stores, MACs included: the chain is a
        function of the key ring and the events alone."""
        left = with_trail(memory).audit(SERIAL)
        right = with_trail(sql).audit(SERIAL)
        assert _events_equal(left, right)
