"""Tests for the wallet blob: strict decoding, tamper evidence, and no secret in any output."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from softtoken import _random
from softtoken.app import CodeResult, Wallet, blob_key_id, device_key_id
from softtoken.app.codec import HEADER, pack_header
from softtoken.app.sealing import wallet_key
from softtoken.exceptions import InvalidKey, SoftTokenError, WalletCorrupt
from softtoken.pinlock import Outcome
from tests.utils import load_vectors
from tests.wallets import (
    DEVICE_KEY,
    FAST,
    NEW_PIN,
    NOW,
    OTHER_DEVICE_KEY,
    OTHER_SECRET,
    PIN,
    SECRET,
    SERIAL,
    bank_code,
    canaries,
    locked,
    reload,
    show,
    try_unlock,
    wallet,
    wrong_code,
)

NONCE_AT = HEADER.size - 12


def reseal(body: bytes, device_key: bytes = DEVICE_KEY) -> bytes:
    """A blob with a correct header and tag around an arbitrary *body*."""
    nonce = bytes(12)
    header = pack_header(device_key_id(device_key), bytes(16), 1, nonce)
    return header + AESGCM(wallet_key(device_key)).encrypt(nonce, body, header)


def open_body(blob: bytes, device_key: bytes = DEVICE_KEY) -> bytes:
    """The decrypted body of *blob*."""
    size = HEADER.size
    return AESGCM(wallet_key(device_key)).decrypt(blob[NONCE_AT:size], blob[size:], blob[:size])


def load(blob: bytes, device_key: bytes = DEVICE_KEY) -> Wallet:
    """Open *blob* with the test KDF parameters."""
    return Wallet.from_bytes(blob, device_key=device_key, kdf=FAST)


BLOB = locked(wallet()).to_bytes()
BODY = open_body(BLOB)


class TestRoundTrip:
    """What goes in comes back."""

    def test_round_trip(self) -> None:
        """A wallet read back from its blob equals the original, in every state."""
        w = locked(wallet())
        w, _result = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)
        back = reload(w)
        assert w == back
        assert w.reset_code(SERIAL) == back.reset_code(SERIAL)

    def test_open_attempts_survive_the_blob(self) -> None:
        """An open PIN attempt and an open unlock attempt are both read back."""
        w = locked(wallet()).begin_attempt(SERIAL, now=NOW, unlock=True)
        w = w.begin_attempt("55501-00001", now=NOW)
        back = reload(w)
        assert w == back
        assert [True, True] == [i.attempt_open for i in back.identities()]

    def test_empty_wallet_round_trip(self) -> None:
        """An empty wallet survives the blob, with its id and generation."""
        w = Wallet.create(device_key=DEVICE_KEY, kdf=FAST)
        assert w == reload(w)

    def test_blobs_are_fresh(self) -> None:
        """Two blobs of the same wallet differ (fresh nonce), and carry the device key's id."""
        w = wallet()
        first, second = w.to_bytes(), w.to_bytes()
        assert first != second
        assert device_key_id(DEVICE_KEY) == blob_key_id(first)
        assert device_key_id(DEVICE_KEY) != device_key_id(OTHER_DEVICE_KEY)


class TestStrictness:
    """Anything but an authentic, well-formed blob is WalletCorrupt, and nothing else."""

    def test_other_formats_are_refused(self) -> None:
        """Formats 1 to 3 were never released; neither they nor a future 5 is read."""
        assert 4 == BLOB[8]
        for fmt in (1, 2, 3, 5):
            with pytest.raises(WalletCorrupt):
                load(BLOB[:8] + bytes([fmt]) + BLOB[9:])

    @given(data=st.data())
    def test_any_flipped_bit_is_refused(self, data: st.DataObject) -> None:
        """Flipping any bits of any byte of the blob gives WalletCorrupt, never a wallet."""
        position = data.draw(st.integers(min_value=0, max_value=len(BLOB) - 1))
        mask = data.draw(st.integers(min_value=1, max_value=255))
        tampered = BLOB[:position] + bytes([BLOB[position] ^ mask]) + BLOB[position + 1 :]
        with pytest.raises(WalletCorrupt):
            load(tampered)

    @given(length=st.integers(min_value=0, max_value=10_000))
    def test_truncation_is_refused(self, length: int) -> None:
        """Every proper prefix of the blob gives WalletCorrupt."""
        with pytest.raises(WalletCorrupt):
            load(BLOB[: length % len(BLOB)])

    def test_extension_is_refused(self) -> None:
        """Bytes appended to a blob give WalletCorrupt."""
        with pytest.raises(WalletCorrupt):
            load(BLOB + b"\x00")

    def test_wrong_device_key_is_refused(self) -> None:
        """A blob opened with another device key gives WalletCorrupt, even with a forged id."""
        with pytest.raises(WalletCorrupt):
            load(BLOB, OTHER_DEVICE_KEY)
        forged = BLOB[:9] + device_key_id(OTHER_DEVICE_KEY) + BLOB[17:]
        with pytest.raises(WalletCorrupt):
            load(forged, OTHER_DEVICE_KEY)

    def test_device_key_is_checked(self) -> None:
        """The device key must be 32 bytes, and the blob bytes."""
        with pytest.raises(InvalidKey):
            Wallet.create(device_key=DEVICE_KEY[:16])
        with pytest.raises(TypeError):
            Wallet.from_bytes(BLOB, device_key=DEVICE_KEY.hex())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Wallet.from_bytes(bytearray(BLOB), device_key=DEVICE_KEY)  # type: ignore[arg-type]

    @given(data=st.data())
    def test_resealed_garbage_body_is_refused_or_read(self, data: st.DataObject) -> None:
        """An authentic blob around an edited body is read or gives WalletCorrupt, nothing else."""
        start = data.draw(st.integers(min_value=0, max_value=len(BODY)))
        end = data.draw(st.integers(min_value=start, max_value=min(len(BODY), start + 8)))
        edited = BODY[:start] + data.draw(st.binary(max_size=8)) + BODY[end:]
        # An edit inside a name, say, still gives a valid wallet; anything malformed must be
        # refused cleanly, and no other exception may escape.
        with contextlib.suppress(WalletCorrupt):
            load(reseal(edited))

    def test_resealed_truncated_body_is_refused(self) -> None:
        """Every proper prefix of an authentic body gives WalletCorrupt."""
        for length in range(0, len(BODY), 7):
            with pytest.raises(WalletCorrupt):
                load(reseal(BODY[:length]))

    def test_a_non_canonical_serial_is_refused(self) -> None:
        """An authentic body whose serial is not canonical (here with a non-ASCII letter of the
        same byte length) is refused as corrupt, never decoded into an identity."""
        serial = b"\x00\x0a9317112184"
        assert serial in BODY
        edited = BODY.replace(serial, b"\x00\x0a93171121" + "\u00e9".encode(), 1)
        with pytest.raises(WalletCorrupt):
            load(reseal(edited))

    @pytest.mark.parametrize("spelling", [b"93171-12184", b" 9317112184", b"9317112184\n"])
    def test_a_serial_is_stored_in_one_spelling(self, spelling: bytes) -> None:
        """A stored serial is its 10 digits exactly: another spelling of the same serial, which
        would not re-encode to the same bytes, is refused as corrupt."""
        serial = b"\x00\x0a9317112184"
        edited = BODY.replace(serial, len(spelling).to_bytes(2, "big") + spelling, 1)
        with pytest.raises(WalletCorrupt):
            load(reseal(edited))

    def test_decoding_errors_leave_no_context(self) -> None:
        """A refused body raises WalletCorrupt with no inner error attached, so that nothing
        decoded can be found on __context__."""
        with pytest.raises(WalletCorrupt) as info:
            load(reseal(BODY[:-3]))
        assert (None, None) == (info.value.__context__, info.value.__cause__)


class TestVector:
    """One blob made with the random source pinned: a format change must fail this test."""

    def test_pinned_blob_matches_the_vector_file(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The same wallet, made with the same random bytes, seals to the recorded bytes."""
        (row,) = load_vectors("wallet-blob.txt")
        counter = iter(range(1, 1 << 30))
        monkeypatch.setattr(
            _random, "_source", lambda n: bytes(next(counter) % 256 for _ in range(n))
        )
        w = Wallet.create(device_key=DEVICE_KEY, kdf=FAST)
        w = w.add_key(SERIAL, b"12345678901234567890", name="Banco Ejemplo", pin=PIN)
        assert row[0] == w.to_bytes().hex()

    def test_recorded_blob_opens(self) -> None:
        """The recorded blob opens today, with the recorded identity and PIN."""
        (row,) = load_vectors("wallet-blob.txt")
        w = load(bytes.fromhex(row[0]))
        assert [("9317112184", "Banco Ejemplo")] == [
            (str(i.serial), i.name) for i in w.identities()
        ]
        w, shown = show(w, SERIAL, PIN, now=59)
        assert "287082" == shown.code


class TestNoLeaks:
    """No secret in the blob, in a repr, or in an error."""

    def test_blob_holds_no_canary(self) -> None:
        """The sealed wallet holds no secret in any encoding, nor the device key."""
        for blob in (BLOB, wallet().to_bytes()):
            for canary in [*canaries(SECRET), *canaries(OTHER_SECRET), DEVICE_KEY]:
                assert canary not in blob

    def test_reprs_hold_no_secret(self) -> None:
        """Wallet, results and identity listings never show a key, code or reset code."""
        w = locked(wallet())
        reset_code = w.reset_code(SERIAL)
        w2, shown = show(wallet(), SERIAL, PIN)
        assert shown.code is not None
        texts = [repr(w), str(w), repr(w2), repr(shown), repr(w.identities()), repr(w._identities)]
        forbidden = [
            *(c.decode() for c in canaries(SECRET)),
            DEVICE_KEY.hex(),
            reset_code,
            shown.code,
            repr(DEVICE_KEY),
        ]
        for text in texts:
            for item in forbidden:
                assert item not in text
        assert "PRODUBANCO" in repr(w)

    def test_exception_messages_hold_no_input(self) -> None:
        """Errors raised by the wallet carry constant messages, never the input."""
        w = locked(wallet())
        opened = w.begin_attempt(SERIAL, now=NOW, unlock=True)
        attempts: list[Callable[[], object]] = [
            lambda: load(BLOB[:-1]),
            lambda: load(BLOB, OTHER_DEVICE_KEY),
            lambda: opened.unlock(SERIAL, "99999999", new_pin="1111", now=NOW),
            lambda: opened.unlock(SERIAL, "9999999", new_pin=NEW_PIN, now=NOW),
            lambda: w.unlock(SERIAL, "99999999", new_pin=NEW_PIN, now=NOW),
            lambda: wallet().show_code(SERIAL, "1111", now=NOW),
            lambda: w.rename("77777-1", "x"),
            lambda: w.rename(SERIAL, "bad\nname"),
            lambda: w.add_key(SERIAL, SECRET, name="dup", pin=NEW_PIN),
            lambda: wallet().reset_code(SERIAL),
        ]
        for attempt in attempts:
            with pytest.raises(SoftTokenError) as info:
                attempt()
            text = str(info.value) + repr(info.value.args) + repr(vars(info.value))
            for item in ["99999999", "9999999", "1111", "77777", "bad", SERIAL, "9317112184"]:
                assert item not in text
            for canary in canaries(SECRET):
                assert canary.decode() not in text

    def test_code_result_compares_by_value(self) -> None:
        """A CodeResult is a plain value; accepted is true only for ACCEPTED."""
        assert not CodeResult(Outcome.REJECTED, None, 4).accepted
        assert CodeResult(Outcome.ACCEPTED, "123456", 5).accepted
        assert CodeResult(Outcome.ACCEPTED, "123456", 5) == CodeResult(
            Outcome.ACCEPTED, "123456", 5
        )
