"""The issuer's key ring (SECURITY.md S14): loading it from code, text, the environment or a file,
refusing bad input without echoing a key, sealing records with AES-GCM, and deriving one key per
purpose with HKDF."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from softtoken import _random
from softtoken._kdf import Label, hkdf
from softtoken.exceptions import InvalidKeyring, InvalidRecord, UnknownKey
from softtoken.issuer import Keyring
from softtoken.issuer.keyring import ENVIRONMENT_VARIABLE, NONCE_LENGTH

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
B1 = base64.b64encode(K1).decode()
B2 = base64.b64encode(K2).decode()
AAD = b"token:0000000018"


def key_forms(key: bytes) -> list[str]:
    """Ways a key could leak into a message: hex, base64 and base32."""
    return [key.hex(), base64.b64encode(key).decode(), base64.b32encode(key).decode()]


def refusal(text: str) -> InvalidKeyring:
    """Parse *text*, which must be refused, and return the error."""
    with pytest.raises(InvalidKeyring) as caught:
        Keyring.parse(text)
    return caught.value


class TestConstructor:
    """Keyring(mapping) checks its ids and keys; the last key is current by default."""

    def test_one_key_is_current(self) -> None:
        """A ring of one key has that key current."""
        ring = Keyring({"k1": K1})
        assert (("k1",), "k1") == (ring.ids, ring.current)

    def test_last_key_is_current(self) -> None:
        """With several keys, the last one given is current."""
        ring = Keyring({"k1": K1, "k2": K2})
        assert (("k1", "k2"), "k2") == (ring.ids, ring.current)

    def test_current_can_be_chosen(self) -> None:
        """current= picks another key to seal with."""
        assert "k1" == Keyring({"k1": K1, "k2": K2}, current="k1").current

    def test_current_must_be_in_the_ring(self) -> None:
        """A current id that the ring lacks is refused."""
        with pytest.raises(InvalidKeyring):
            Keyring({"k1": K1}, current="k9")

    def test_empty_is_refused(self) -> None:
        """A ring needs at least one key."""
        with pytest.raises(InvalidKeyring):
            Keyring({})

    @pytest.mark.parametrize("key_id", ["", "a b", "k/1", "ké", "k:1", "x" * 33, "k1\n"])
    def test_bad_ids_are_refused(self, key_id: str) -> None:
        """An id outside 1 to 32 of A-Z a-z 0-9 _ . - is refused."""
        with pytest.raises(InvalidKeyring):
            Keyring({key_id: K1})

    @pytest.mark.parametrize("key_id", ["k", "K_1.old-2", "x" * 32])
    def test_good_ids_are_accepted(self, key_id: str) -> None:
        """Letters, digits, '_', '.' and '-', up to 32 of them, make an id."""
        assert (key_id,) == Keyring({key_id: K1}).ids

    @pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
    def test_keys_are_32_bytes(self, length: int) -> None:
        """A key of any other length is refused, and the message holds no key."""
        key = K1[:length] if length <= 32 else K1 + bytes(length - 32)
        with pytest.raises(InvalidKeyring) as caught:
            Keyring({"k1": key})
        assert all(form not in str(caught.value) for form in key_forms(key) if form)

    @pytest.mark.parametrize("keys", [{"k1": "x" * 32}, {"k1": bytearray(K1)}, {1: K1}])
    def test_wrong_types_are_type_errors(self, keys: dict[object, object]) -> None:
        """A key that is not bytes, or an id that is not str, is a TypeError."""
        with pytest.raises(TypeError):
            Keyring(keys)  # type: ignore[arg-type]

    def test_a_mapping_is_required(self) -> None:
        """A list of pairs is a TypeError."""
        with pytest.raises(TypeError):
            Keyring([("k1", K1)])  # type: ignore[arg-type]

    def test_repr_shows_ids_only(self) -> None:
        """The repr names the ids and the current one, never a key in any form."""
        text = repr(Keyring({"k1": K1, "k2": K2}))
        assert "k1" in text
        assert "k2" in text
        assert all(form not in text for key in (K1, K2) for form in key_forms(key))
        assert repr(K1) not in text


class TestParse:
    """Keyring.parse reads ``id:base64`` entries separated by commas or new lines."""

    def test_comma_separated(self) -> None:
        """Comma-separated entries; the last is current."""
        ring = Keyring.parse(f"k1:{B1},k2:{B2}")
        assert (("k1", "k2"), "k2") == (ring.ids, ring.current)

    def test_newline_separated_with_comments(self) -> None:
        """New lines, blank lines, whole-line and trailing comments and spaces are allowed."""
        text = f"# issuer keys\n\n  k1 : {B1}  # retired 2026\nk2:{B2}\n# end\n"
        ring = Keyring.parse(text)
        assert (("k1", "k2"), "k2") == (ring.ids, ring.current)

    def test_parsed_keys_are_the_given_keys(self) -> None:
        """A parsed ring seals like the ring built from the same keys."""
        parsed = Keyring.parse(f"k1:{B1}")
        key_id, sealed = Keyring({"k1": K1}).seal(b"data", AAD)
        assert b"data" == parsed.open(key_id, sealed, AAD)

    def test_order_decides_current(self) -> None:
        """Listing k2 before k1 makes k1 current."""
        assert "k1" == Keyring.parse(f"k2:{B2}\nk1:{B1}").current

    @pytest.mark.parametrize(
        "text",
        ["", "   ", "\n\n", "# only a comment", ",,"],
        ids=["empty", "spaces", "newlines", "comment", "commas"],
    )
    def test_empty_is_refused(self, text: str) -> None:
        """A text without an entry is refused."""
        refusal(text)

    def test_duplicate_ids_are_refused(self) -> None:
        """An id listed twice is refused, without either key in the message."""
        message = str(refusal(f"k1:{B1}\nk1:{B2}"))
        assert all(form not in message for key in (K1, K2) for form in key_forms(key))

    @pytest.mark.parametrize(
        "entry",
        [
            "k1",
            f"k1{B1}",
            "k1:!!!notbase64!!!",
            f"k1:{B1[:-4]}",
            f"k1:{base64.b64encode(K1 + b'x').decode()}",
            f"k1:{base64.urlsafe_b64encode(bytes([251] * 32)).decode()}",
            f"k1:{B1}extra",
            f"k 1:{B1}",
            f":{B1}",
        ],
        ids=[
            "no_colon",
            "glued",
            "not_base64",
            "short_key",
            "long_key",
            "urlsafe_alphabet",
            "trailing_junk",
            "bad_id",
            "no_id",
        ],
    )
    def test_malformed_entries_are_refused(self, entry: str) -> None:
        """A malformed entry is refused; the message holds no part of the entry's key."""
        message = str(refusal(f"k0:{B2}\n{entry}"))
        encoded = entry.partition(":")[2]
        assert B2 not in message
        assert not encoded or encoded not in message
        assert all(form not in message for form in key_forms(K1))

    def test_text_must_be_str(self) -> None:
        """Bytes are a TypeError."""
        with pytest.raises(TypeError):
            Keyring.parse(f"k1:{B1}".encode())  # type: ignore[arg-type]

    def test_overlong_text_is_refused(self) -> None:
        """More than 64 KiB of text is refused before it is read."""
        refusal(f"k1:{B1}\n" + "#" * (64 * 1024))


class TestFromEnvironment:
    """Keyring.from_env reads SOFTTOKEN_KEYRING (or a named variable)."""

    def test_reads_the_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The variable's text is parsed."""
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"k1:{B1},k2:{B2}")
        assert ("k1", "k2") == Keyring.from_env().ids

    def test_the_variable_is_softtoken_keyring(self) -> None:
        """The default variable is SOFTTOKEN_KEYRING."""
        assert "SOFTTOKEN_KEYRING" == ENVIRONMENT_VARIABLE

    @pytest.mark.parametrize("value", [None, "", "  \n"], ids=["unset", "empty", "blank"])
    def test_unset_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, value: str | None
    ) -> None:
        """An unset or blank variable is refused with a message naming it."""
        if value is None:
            monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
        with pytest.raises(InvalidKeyring, match=ENVIRONMENT_VARIABLE):
            Keyring.from_env()

    def test_another_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A named variable is read instead, and named when it is missing."""
        monkeypatch.setenv("BANK_KEYS", f"k7:{B1}")
        assert ("k7",) == Keyring.from_env("BANK_KEYS").ids
        monkeypatch.delenv("BANK_KEYS")
        with pytest.raises(InvalidKeyring, match="BANK_KEYS"):
            Keyring.from_env("BANK_KEYS")

    def test_a_bad_value_is_not_echoed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A malformed variable is refused without its text in the message."""
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"k1:{B1[:-4]}")
        with pytest.raises(InvalidKeyring) as caught:
            Keyring.from_env()
        assert B1[:-4] not in str(caught.value)


class TestFromFile:
    """Keyring.from_file reads the same text from a file."""

    def test_reads_the_file(self, tmp_path: Path) -> None:
        """A file of entries and comments is parsed."""
        path = tmp_path / "keyring"
        path.write_text(f"# keys\nk1:{B1}\nk2:{B2}\n", encoding="utf-8")
        ring = Keyring.from_file(path)
        assert (("k1", "k2"), "k2") == (ring.ids, ring.current)

    def test_accepts_a_str_path(self, tmp_path: Path) -> None:
        """A path given as str works too."""
        path = tmp_path / "keyring"
        path.write_text(f"k1:{B1}", encoding="utf-8")
        assert ("k1",) == Keyring.from_file(str(path)).ids

    def test_a_missing_file_is_an_os_error(self, tmp_path: Path) -> None:
        """A file that does not exist raises OSError."""
        with pytest.raises(OSError, match=r"."):
            Keyring.from_file(tmp_path / "absent")

    def test_not_utf8_is_refused(self, tmp_path: Path) -> None:
        """A file that is not UTF-8 is refused."""
        path = tmp_path / "keyring"
        path.write_bytes(b"k1:\xff\xfe" + K1)
        with pytest.raises(InvalidKeyring):
            Keyring.from_file(path)

    def test_an_empty_file_is_refused(self, tmp_path: Path) -> None:
        """An empty file is refused."""
        path = tmp_path / "keyring"
        path.write_text("", encoding="utf-8")
        with pytest.raises(InvalidKeyring):
            Keyring.from_file(path)


class TestNewEntry:
    """Keyring.new_entry makes a fresh ``id:base64`` line from the CSPRNG."""

    def test_an_entry_parses(self) -> None:
        """The entry parses to a ring with that id current."""
        ring = Keyring.parse(Keyring.new_entry("k3"))
        assert (("k3",), "k3") == (ring.ids, ring.current)

    def test_entries_can_be_appended(self) -> None:
        """Appending a new entry to a ring's text makes it current."""
        ring = Keyring.parse(f"k1:{B1}\n{Keyring.new_entry('k2')}")
        assert "k2" == ring.current

    def test_two_entries_differ(self) -> None:
        """Each call draws a new key."""
        assert Keyring.new_entry("k1") != Keyring.new_entry("k1")

    def test_the_key_comes_from_the_random_helper(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """S3: the key is the random helper's 32 bytes."""
        monkeypatch.setattr(_random, "_source", lambda n: bytes([9]) * n)
        assert "k1:" + base64.b64encode(bytes([9]) * 32).decode() == Keyring.new_entry("k1")

    @pytest.mark.parametrize("key_id", ["", "a b", "x" * 33])
    def test_bad_ids_are_refused(self, key_id: str) -> None:
        """An unacceptable id is refused."""
        with pytest.raises(InvalidKeyring):
            Keyring.new_entry(key_id)


class TestSealing:
    """seal and open: AES-GCM under the current key, bound to the associated data."""

    RING = Keyring({"k1": K1, "k2": K2})

    def test_round_trip(self) -> None:
        """What seal returns opens to the same bytes, under the current key's id."""
        key_id, sealed = self.RING.seal(b"a token record", AAD)
        assert ("k2", b"a token record") == (key_id, self.RING.open(key_id, sealed, AAD))

    def test_each_seal_has_a_fresh_nonce(self) -> None:
        """Sealing the same data twice gives different bytes."""
        assert self.RING.seal(b"same", AAD)[1] != self.RING.seal(b"same", AAD)[1]

    def test_ciphertext_hides_the_data(self) -> None:
        """The sealed bytes do not contain the data."""
        _, sealed = self.RING.seal(b"canary-seed-bytes", AAD)
        assert b"canary-seed-bytes" not in sealed

    def test_an_older_key_still_opens(self) -> None:
        """A record sealed under k1 opens in a ring whose current key is k2."""
        old = Keyring({"k1": K1})
        key_id, sealed = old.seal(b"old record", AAD)
        assert b"old record" == self.RING.open(key_id, sealed, AAD)

    def test_wrong_aad_is_refused(self) -> None:
        """Other associated data (another row) does not open."""
        key_id, sealed = self.RING.seal(b"data", AAD)
        with pytest.raises(InvalidRecord) as caught:
            self.RING.open(key_id, sealed, b"token:0000000026")
        assert InvalidRecord is type(caught.value)

    def test_another_key_id_is_refused(self) -> None:
        """Sealed under k2, opened as k1 (a key the ring holds): refused."""
        _, sealed = self.RING.seal(b"data", AAD)
        with pytest.raises(InvalidRecord) as caught:
            self.RING.open("k1", sealed, AAD)
        assert InvalidRecord is type(caught.value)

    @pytest.mark.parametrize("where", [0, NONCE_LENGTH, NONCE_LENGTH + 3, -1])
    def test_tampered_bytes_are_refused(self, where: int) -> None:
        """A flipped bit in the nonce, the ciphertext or the tag is refused."""
        key_id, sealed = self.RING.seal(b"some record", AAD)
        tampered = bytearray(sealed)
        tampered[where] ^= 0x01
        with pytest.raises(InvalidRecord) as caught:
            self.RING.open(key_id, bytes(tampered), AAD)
        assert InvalidRecord is type(caught.value)

    @pytest.mark.parametrize("length", [0, NONCE_LENGTH, NONCE_LENGTH + 15])
    def test_truncated_bytes_are_refused(self, length: int) -> None:
        """Bytes too short to hold a nonce and a tag are refused."""
        key_id, sealed = self.RING.seal(b"some record", AAD)
        with pytest.raises(InvalidRecord):
            self.RING.open(key_id, sealed[:length], AAD)

    def test_an_unknown_id_is_unknown_key(self) -> None:
        """A key id the ring lacks is UnknownKey, whose message names no key."""
        key_id, sealed = self.RING.seal(b"data", AAD)
        with pytest.raises(UnknownKey) as caught:
            Keyring({"k3": K1}).open(key_id, sealed, AAD)
        assert all(form not in str(caught.value) for form in key_forms(K2))

    def test_the_key_id_is_bound(self) -> None:
        """A record sealed under id "a" does not open as id "b" with the same key bytes."""
        key_id, sealed = Keyring({"a": K1}).seal(b"data", AAD)
        assert "a" == key_id
        with pytest.raises(InvalidRecord):
            Keyring({"b": K1}).open("b", sealed, AAD)


class TestDerivedKeys:
    """Each key-ring key gives independent keys for sealing, audit and code hashes (HKDF)."""

    RING = Keyring({"k1": K1, "k2": K2})

    def test_audit_and_code_keys_differ(self) -> None:
        """The audit key and the code key of one id differ, and neither is the raw key."""
        audit, code = self.RING.audit_key("k1"), self.RING.code_key("k1")
        assert 4 == len({audit, code, K1, K2})
        assert 32 == len(audit) == len(code)

    def test_derived_keys_differ_per_id(self) -> None:
        """Each id has its own audit and code keys."""
        assert self.RING.audit_key("k1") != self.RING.audit_key("k2")
        assert self.RING.code_key("k1") != self.RING.code_key("k2")

    def test_the_labels_are_the_issuer_labels(self) -> None:
        """The audit and code keys are HKDF of the raw key under their own labels."""
        assert hkdf(K1, info=Label.ISSUER_AUDIT, length=32) == self.RING.audit_key("k1")
        assert hkdf(K1, info=Label.ISSUER_CODE, length=32) == self.RING.code_key("k1")

    def test_sealing_uses_its_own_derived_key(self) -> None:
        """A sealed record opens under HKDF(key, ISSUER_SEAL) and under no other key: not the
        raw key, not the audit key, not the code key."""
        key_id, sealed = self.RING.seal(b"data", AAD)
        nonce, body = sealed[:NONCE_LENGTH], sealed[NONCE_LENGTH:]
        aad = key_id.encode() + AAD
        seal_key = hkdf(K2, info=Label.ISSUER_SEAL, length=32)
        assert b"data" == AESGCM(seal_key).decrypt(nonce, body, aad)
        for other in (K2, self.RING.audit_key("k2"), self.RING.code_key("k2")):
            with pytest.raises(InvalidTag):
                AESGCM(other).decrypt(nonce, body, aad)

    @pytest.mark.parametrize("which", ["audit_key", "code_key"])
    def test_unknown_ids_are_unknown_key(self, which: str) -> None:
        """Asking for a derived key of an id the ring lacks is UnknownKey."""
        with pytest.raises(UnknownKey):
            getattr(self.RING, which)("k9")
