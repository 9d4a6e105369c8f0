"""Tests for the stored states of QR activation: the issuer's PendingQR and the app's AppQRState
(softtoken.provisioning.qr_activation; SECURITY.md S13, S14).

Both read back exactly, and strictly: anything else is an InvalidRecord. A pending value is
built or read only in a state that some sequence of requests reaches, checked against every
state that ``accept`` itself reaches from ``start``.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from typing import Any, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softtoken._checks import valid_or_none
from softtoken.exceptions import InvalidInput, InvalidRecord
from softtoken.provisioning.params import DEFAULT_PARAMS
from softtoken.provisioning.qr_activation import (
    MAX_ATTEMPTS,
    AppQRState,
    Outcome,
    PendingQR,
    accept,
)
from tests.qr_support import NOW, answer, leaks, parse_or_error, run, wrong

# The pending value's header: tag, format, flags, version, attempts, failures, last outcome,
# offer length.
HEADER: Final = struct.Struct(">2sBBQBBBH")
FIELDS: Final = ("tag", "format", "flags", "version", "attempts", "failures", "last", "length")


def states() -> Iterator[PendingQR]:
    """A pending value in each shape: open, counted, spent, spent and refused again, expired,
    done, replayed, and foreign after done."""
    r, other = run(attempts=2), run()
    yield r.pending
    bad = answer(r.offer, wrong(r.password))
    counted = accept(r.pending, bad, now=NOW)[1]
    yield counted
    spent = accept(counted, bad, now=NOW)[1]
    yield spent
    yield accept(spent, r.request, now=NOW)[1]
    yield accept(r.pending, r.request, now=NOW + 600)[1]
    done = accept(counted, r.request, now=NOW)[1]
    yield done
    yield accept(done, r.request, now=NOW)[1]
    yield accept(done, other.request, now=NOW)[1]


STATES: Final = list(states())
APP: Final = run().app


def patched(pending: PendingQR, *, keys: bytes | None = None, **fields: int) -> bytes:
    """*pending*'s bytes with header *fields* replaced, and its keys replaced by *keys*."""
    data = pending.to_bytes()
    header = dict(zip(FIELDS, HEADER.unpack_from(data), strict=True))
    end = HEADER.size + header["length"]
    header.update(fields)
    tail = data[end:] if keys is None else keys
    return HEADER.pack(*header.values()) + data[HEADER.size : end] + tail


class TestStates:
    """Pending values and app states read back exactly, and anything else is an InvalidRecord."""

    @pytest.mark.parametrize("pending", STATES)
    def test_pending_round_trip(self, pending: PendingQR) -> None:
        """Every shape of pending value reads back to itself."""
        assert pending == PendingQR.from_bytes(pending.to_bytes())

    def test_pending_layout(self) -> None:
        """b"QP", format 2, flags, one version (8 bytes: the throttle's own counter is gone),
        attempts, failures, last outcome, offer length, offer, then the keys while open."""
        counted = STATES[1]
        data = counted.to_bytes()
        offer = counted.offer.to_bytes()
        assert (b"QP", 2, 0, 1, 2, 1, 2, len(offer)) == HEADER.unpack_from(data)
        assert offer == data[HEADER.size : HEADER.size + len(offer)]
        assert (counted.private_key or b"") + (counted.verifier or b"") == data[-64:]
        assert HEADER.size + len(offer) + 64 == len(data)
        assert HEADER.size + len(offer) == len(STATES[2].to_bytes())

    def test_app_state_round_trip(self) -> None:
        """The app's state reads back to itself: b"QA", format 2, the signed offer, the keys."""
        assert APP == AppQRState.from_bytes(APP.to_bytes())
        assert DEFAULT_PARAMS == APP.params
        assert (b"QA", 2) == (APP.to_bytes()[:2], APP.to_bytes()[2])
        assert APP.offer.to_bytes() in APP.to_bytes()

    @pytest.mark.parametrize("data", [STATES[0].to_bytes(), STATES[5].to_bytes(), APP.to_bytes()])
    def test_every_truncation_and_extension_is_refused(self, data: bytes) -> None:
        """Every prefix of a stored state, and the state with a byte added, is refused."""
        read = PendingQR.from_bytes if data[:2] == b"QP" else AppQRState.from_bytes
        for cut in [*range(len(data)), -1]:
            altered = data[:cut] if cut >= 0 else data + b"\x00"
            with pytest.raises(InvalidRecord):
                read(altered)

    def test_format_1_is_refused(self) -> None:
        """A stored value of format 1 (unsigned offers, two version counters) is refused."""
        with pytest.raises(InvalidRecord):
            PendingQR.from_bytes(patched(STATES[0], format=1))
        data = APP.to_bytes()
        with pytest.raises(InvalidRecord):
            AppQRState.from_bytes(data[:2] + b"\x01" + data[3:])

    @given(st.binary(max_size=400))
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Any bytes either read as a state or raise InvalidRecord."""
        for read in (PendingQR.from_bytes, AppQRState.from_bytes):
            outcome = parse_or_error(read, data)
            assert isinstance(outcome, PendingQR | AppQRState | InvalidRecord)

    @given(
        index=st.sampled_from(range(len(STATES))),
        position=st.integers(0, 600),
        value=st.integers(0, 255),
    )
    def test_altered_bytes_read_canonically_or_not_at_all(
        self, index: int, position: int, value: int
    ) -> None:
        """A stored state with one byte changed is refused, or reads to a value that writes
        the same bytes back."""
        data = bytearray(STATES[index].to_bytes())
        data[position % len(data)] = value
        outcome = parse_or_error(PendingQR.from_bytes, bytes(data))
        if isinstance(outcome, PendingQR):
            assert bytes(data) == outcome.to_bytes()
        else:
            assert isinstance(outcome, InvalidRecord)
            assert (None, None) == (outcome.__cause__, outcome.__context__)

    def test_secrets_stay_out_of_repr(self) -> None:
        """No repr shows a private key, the verifier or the password."""
        r = run()
        assert r.pending.private_key is not None
        assert r.pending.verifier is not None
        text = repr(r.pending) + repr(r.app) + repr(r.request)
        for secret in (r.pending.private_key, r.pending.verifier, r.app.private_key):
            assert repr(secret)[2:-1][:16] not in text
            assert secret.hex()[:16] not in text
        assert r.password not in text

    def test_the_password_is_not_stored(self) -> None:
        """The issuer's stored value holds a verifier, not the password."""
        r = run()
        assert not leaks(r.password.encode(), r.pending.to_bytes())


# --------------------------------------------------------------------------------------------
# Only reachable states
# --------------------------------------------------------------------------------------------

Key = tuple[int, int, bool, bool, Outcome | None, int]
DEPTH: Final = 8


def key(pending: PendingQR) -> Key:
    """What distinguishes pending values of one offer: attempts, failures, flags, last outcome
    and version (the keys follow from the flags)."""
    return (
        pending.attempts,
        pending.failures,
        pending.done,
        pending.expired,
        pending.last_outcome,
        pending.version,
    )


def reached(attempts: int) -> dict[Key, PendingQR]:
    """Every pending value that start and up to DEPTH changes by accept reach, with a right, a
    wrong, a foreign or a late request each time."""
    r, other = run(attempts=attempts), run()
    requests = [
        (r.request, NOW),
        (answer(r.offer, wrong(r.password)), NOW),
        (other.request, NOW),
        (r.request, NOW + 600),
    ]
    seen = {key(r.pending): r.pending}
    frontier = [r.pending]
    for _ in range(DEPTH):
        found = [accept(p, request, now=now)[1] for p in frontier for request, now in requests]
        frontier = [p for p in found if key(p) not in seen]
        seen.update((key(p), p) for p in frontier)
    return seen


def constructible(attempts: int) -> set[Key]:
    """Every combination of counts, flags, last outcome and version up to DEPTH that the
    constructor accepts, with the keys present exactly when the flags say open."""
    start = run(attempts=attempts).pending
    built = (_built(start, changes) for changes in _grid(attempts))
    return {key(pending) for pending in built if pending is not None}


def _built(start: PendingQR, changes: dict[str, Any]) -> PendingQR | None:
    shut = changes["done"] or changes["expired"] or changes["failures"] >= start.attempts
    if shut:
        changes = {**changes, "private_key": None, "verifier": None}
    return valid_or_none(lambda: attrs.evolve(start, **changes))


def _grid(attempts: int) -> Iterator[dict[str, Any]]:
    for failures, done, expired, last, version in itertools.product(
        range(attempts + 2), (False, True), (False, True), (None, *Outcome), range(DEPTH + 1)
    ):
        yield {
            "failures": failures,
            "done": done,
            "expired": expired,
            "last_outcome": last,
            "version": version,
        }


class TestReachability:
    """A pending value exists only in a state that some sequence of requests reaches."""

    @pytest.mark.parametrize("attempts", [1, 2, 3])
    def test_the_constructor_accepts_exactly_the_reached_states(self, attempts: int) -> None:
        """Over every count, flag, last outcome and version up to 8, the constructor accepts
        exactly the states that accept reaches from start in as many changes."""
        assert set(reached(attempts)) == constructible(attempts)

    @pytest.mark.parametrize("attempts", [1, 3])
    def test_every_reached_state_reads_back(self, attempts: int) -> None:
        """Every reached state is stored and read back to itself."""
        states = list(reached(attempts).values())
        assert states == [PendingQR.from_bytes(p.to_bytes()) for p in states]

    @pytest.mark.parametrize(
        ("changes", "why"),
        [
            ({"failures": 3}, "failures > attempts and not spent"),
            ({"last": 3}, "SPENT_NOW on a fresh open value"),
            ({"last": 2}, "WRONG_PROOF with no failure counted"),
            ({"last": 1}, "ACCEPTED on an open value"),
            ({"last": 5}, "EXPIRED on an open value"),
            ({"version": 1}, "a change with no outcome recorded"),
            ({"flags": 1, "keys": b""}, "done at version 0"),
            ({"flags": 2, "keys": b"", "last": 5, "version": 1, "failures": 1}, "expired, v1"),
            ({"flags": 3, "keys": b"", "last": 1, "version": 1}, "done and expired"),
            ({"flags": 4}, "an unknown flag"),
            ({"attempts": MAX_ATTEMPTS + 1}, "more attempts than MAX_ATTEMPTS"),
            ({"attempts": 0}, "no attempt"),
            ({"failures": 2, "last": 3, "version": 2}, "spent, and still holding its keys"),
        ],
    )
    def test_unreachable_stored_states_are_refused(self, changes: dict[str, Any], why: str) -> None:
        """Stored values that no sequence of requests produces are an InvalidRecord."""
        with pytest.raises(InvalidRecord):
            PendingQR.from_bytes(patched(STATES[0], **changes))

    @pytest.mark.parametrize(
        ("index", "changes"),
        [
            (1, {"failures": 0}),
            (1, {"version": 3}),
            (2, {"last": 2}),
            (2, {"version": 1}),
            (4, {"last": 1}),
            (5, {"last": 3}),
            (5, {"version": 5}),
            (5, {"failures": 2}),
        ],
    )
    def test_altered_counts_of_reached_states_are_refused(
        self, index: int, changes: dict[str, Any]
    ) -> None:
        """A reached state with a count, outcome or version its history cannot give is
        refused."""
        with pytest.raises(InvalidRecord):
            PendingQR.from_bytes(patched(STATES[index], **changes))

    @pytest.mark.parametrize(
        "changes",
        [
            {"done": True},
            {"expired": True},
            {"private_key": None},
            {"verifier": None},
            {"last_outcome": Outcome.ACCEPTED},
            {"last_outcome": Outcome.SPENT_NOW},
            {"failures": 6},
            {"failures": 5},
            {"attempts": 0},
            {"attempts": 11},
            {"private_key": b"k" * 31},
        ],
    )
    def test_constructor_invariants(self, changes: dict[str, Any]) -> None:
        """Keys are kept exactly while open, outcomes and counts follow the history, the
        attempts are 1 to MAX_ATTEMPTS, and sizes are exact."""
        with pytest.raises(InvalidInput):
            attrs.evolve(STATES[0], **changes)

    def test_wrong_types(self) -> None:
        """Flags are bool, counts int, the outcome an Outcome."""
        for changes in ({"done": 1}, {"expired": None}, {"failures": True}, {"last_outcome": 1}):
            with pytest.raises(TypeError):
                attrs.evolve(STATES[0], **changes)
        with pytest.raises(TypeError):
            PendingQR.from_bytes(bytearray(STATES[0].to_bytes()))  # type: ignore[arg-type]
