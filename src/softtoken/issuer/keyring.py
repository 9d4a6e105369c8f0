"""The issuer's key ring: the keys that seal records and chain the audit trail (SECURITY.md S14).

A key ring maps short key ids to 32-byte keys. The *current* key (by default the last one listed)
seals every new write; older keys stay in the ring so that records and audit events made under
them still open and verify, until ``Issuer.rotate_keys`` has re-sealed every record. Each key is
never used directly: HKDF-SHA256 (RFC 5869) derives one key per purpose from it, under the labels
of :class:`softtoken._kdf.Label`, so that the sealing key, the audit key and the code-hash key
are independent.

The key ring comes from outside the database, never from the store: the environment variable
``SOFTTOKEN_KEYRING`` or a file, in this text form (entries separated by commas or new lines,
``#`` starting a comment, the last entry current)::

    k1:<the key in standard base64>
    k2:<the key in standard base64>

A key ring's ``repr`` shows its ids and never a key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from softtoken import _random
from softtoken._kdf import Label, hkdf
from softtoken.exceptions import InvalidKeyring, InvalidRecord, UnknownKey

__all__ = ["ENVIRONMENT_VARIABLE", "KEY_LENGTH", "NONCE_LENGTH", "Keyring"]

ENVIRONMENT_VARIABLE: Final = "SOFTTOKEN_KEYRING"
KEY_LENGTH: Final = 32
"""Every key-ring key is 32 bytes (256 bits)."""
NONCE_LENGTH: Final = 12
"""AES-GCM nonces are 96 bits, drawn at random for every seal (NIST SP 800-38D §8.2.2)."""
_KEY_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_MAX_TEXT: Final = 64 * 1024


class Keyring:
    """Key ids and their 32-byte keys; the current one seals, every one opens.

    Args:
        keys: key id (1 to 32 of ``A-Z a-z 0-9 _ . -``) to 32-byte key, at least one.
        current: the id that seals new writes; the last of *keys* by default.

    Raises:
        TypeError: wrong types. InvalidKeyring: an id or a key is not acceptable, or *current*
            is not in *keys*. The message never includes a key.
    """

    __slots__ = ("_audit", "_code", "_current", "_ids", "_seal")

    def __init__(self, keys: Mapping[str, bytes], *, current: str | None = None) -> None:
        if not isinstance(keys, Mapping):
            raise TypeError("keys must be a mapping of key id to bytes")
        if not keys:
            raise InvalidKeyring("a key ring needs at least one key")
        seal: dict[str, AESGCM] = {}
        audit: dict[str, bytes] = {}
        code: dict[str, bytes] = {}
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or type(key) is not bytes:
                raise TypeError("key ids must be str and keys bytes")
            if not _KEY_ID.fullmatch(key_id):
                raise InvalidKeyring("a key id is 1 to 32 letters, digits, '_', '.' or '-'")
            if len(key) != KEY_LENGTH:
                raise InvalidKeyring("every key in a key ring is 32 bytes")
            seal[key_id] = AESGCM(hkdf(key, info=Label.ISSUER_SEAL, length=KEY_LENGTH))
            audit[key_id] = hkdf(key, info=Label.ISSUER_AUDIT, length=KEY_LENGTH)
            code[key_id] = hkdf(key, info=Label.ISSUER_CODE, length=KEY_LENGTH)
        chosen = list(keys)[-1] if current is None else current
        if chosen not in seal:
            raise InvalidKeyring("the current key id is not in the key ring")
        self._seal = seal
        self._audit = audit
        self._code = code
        self._current = chosen
        self._ids = tuple(keys)

    def __repr__(self) -> str:
        return f"Keyring(ids={list(self._ids)!r}, current={self._current!r})"

    @property
    def current(self) -> str:
        """The id of the key that seals new writes."""
        return self._current

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, in the order given."""
        return self._ids

    # ----------------------------------------------------------------------------------------
    # Loading
    # ----------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read the text form (see the module docstring); the last entry is current.

        Raises:
            TypeError: *text* is not a str. InvalidKeyring: an entry is malformed, an id is
                repeated, or there is no entry. No message includes a key.
        """
        if not isinstance(text, str):
            raise TypeError("a key ring's text must be str")
        if len(text) > _MAX_TEXT:
            raise InvalidKeyring("a key ring's text is at most 64 KiB")
        keys: dict[str, bytes] = {}
        for line in text.splitlines():
            for entry in line.split("#", 1)[0].split(","):
                entry = entry.strip()
                if not entry:
                    continue
                key_id, _, encoded = entry.partition(":")
                key = _decode_key(encoded.strip())
                if key is None:
                    raise InvalidKeyring("each entry is <id>:<32-byte key in base64>")
                if key_id.strip() in keys:
                    raise InvalidKeyring("a key id appears twice in the key ring")
                keys[key_id.strip()] = key
        return cls(keys)

    @classmethod
    def from_env(cls, name: str = ENVIRONMENT_VARIABLE) -> Keyring:
        """The key ring in the environment variable *name* (``SOFTTOKEN_KEYRING``).

        Raises:
            InvalidKeyring: the variable is unset or empty, or its text is not a key ring.
        """
        text = os.environ.get(name, "")
        if not text.strip():
            raise InvalidKeyring(f"set {name} to a key ring (see softtoken issuer keygen)")
        return cls.parse(text)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        """The key ring in the file at *path*.

        Raises:
            OSError: the file cannot be read. InvalidKeyring: it is not a key ring.
        """
        with Path(path).open("rb") as handle:
            data = handle.read(_MAX_TEXT + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None:
            raise InvalidKeyring("a key ring file is UTF-8 text")
        return cls.parse(text)

    @staticmethod
    def new_entry(key_id: str) -> str:
        """A fresh ``<id>:<base64>`` entry with a key from the CSPRNG, to append to a key ring's
        text. Treat the text as a secret.

        Raises:
            InvalidKeyring: *key_id* is not an acceptable id.
        """
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise InvalidKeyring("a key id is 1 to 32 letters, digits, '_', '.' or '-'")
        encoded = base64.b64encode(_random.random_bytes(KEY_LENGTH)).decode("ascii")
        return f"{key_id}:{encoded}"

    # ----------------------------------------------------------------------------------------
    # Use
    # ----------------------------------------------------------------------------------------

    def seal(self, data: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt *data* with AES-GCM under the current key, bound to *aad*.

        Returns:
            The key id, and the nonce followed by the ciphertext and its tag.
        """
        nonce = _random.random_bytes(NONCE_LENGTH)
        key_id = self._current
        return key_id, nonce + self._seal[key_id].encrypt(nonce, data, key_id.encode() + aad)

    def open(self, key_id: str, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt what :meth:`seal` returned, under the key *key_id*, bound to *aad*.

        Raises:
            UnknownKey: the ring has no key *key_id*.
            InvalidRecord: the ciphertext, its tag or *aad* was altered, or it was sealed for
                another record.
        """
        cipher = self._seal.get(key_id)
        if cipher is None:
            raise UnknownKey()
        plain = _open_or_none(cipher, sealed, key_id.encode() + aad)
        if plain is None:
            raise InvalidRecord("a sealed issuer record does not open: altered or misplaced")
        return plain

    def audit_key(self, key_id: str) -> bytes:
        """The HMAC key of audit events chained under *key_id*.

        Raises:
            UnknownKey: the ring has no key *key_id*.
        """
        return _derived(self._audit, key_id)

    def code_key(self, key_id: str) -> bytes:
        """The HMAC key of out-of-band code hashes made under *key_id*.

        Raises:
            UnknownKey: the ring has no key *key_id*.
        """
        return _derived(self._code, key_id)


def _derived(keys: dict[str, bytes], key_id: str) -> bytes:
    key = keys.get(key_id)
    if key is None:
        raise UnknownKey()
    return key


def _decode_key(encoded: str) -> bytes | None:
    try:
        key = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return key if len(key) == KEY_LENGTH else None


def _open_or_none(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes | None:
    if type(sealed) is not bytes or len(sealed) < NONCE_LENGTH + 16:
        return None
    try:
        return cipher.decrypt(sealed[:NONCE_LENGTH], sealed[NONCE_LENGTH:], aad)
    except InvalidTag:
        return None
