"""Records to stored rows and back: each record sealed whole under the key ring.

The associated data binds the ciphertext to its kind, key and every clear column (version, user,
state, pool) and, through :meth:`Keyring.seal`, to its key id. A sealed record copied into
another row, or a row whose clear columns were edited, does not open (SECURITY.md S14).
"""

from __future__ import annotations

import json

from softtoken._kdf import Label
from softtoken.exceptions import InvalidRecord
from softtoken.issuer.keyring import Keyring
from softtoken.issuer.records import CodeRecord, TokenRecord, decode_code, decode_token, encode
from softtoken.issuer.stores.base import Row

__all__ = ["code_key", "open_code", "open_token", "seal"]


def code_key(user: str, purpose: str) -> str:
    """The row key and audit subject of a user's out-of-band code for *purpose*."""
    return "code:" + json.dumps([user, purpose], ensure_ascii=True, separators=(",", ":"))


def _aad(
    kind: str, key: str, version: int, user: str | None, state: str | None, pool: str | None
) -> bytes:
    columns = [kind, key, version, user, state, pool]
    return Label.ISSUER_RECORD_AAD + json.dumps(columns, separators=(",", ":")).encode("utf-8")


def seal(keyring: Keyring, record: TokenRecord | CodeRecord) -> Row:
    """*record* as a row, sealed under the key ring's current key."""
    if isinstance(record, TokenRecord):
        kind, key = "token", str(record.serial)
        user, state, pool = record.user, record.state.value, record.pool
    else:
        kind, key = "code", code_key(record.user, record.purpose)
        user, state, pool = record.user, None, None
    aad = _aad(kind, key, record.version, user, state, pool)
    key_id, sealed = keyring.seal(encode(record), aad)
    return Row(
        kind=kind,
        key=key,
        version=record.version,
        user=user,
        state=state,
        pool=pool,
        key_id=key_id,
        sealed=sealed,
    )


def _open(keyring: Keyring, row: Row) -> bytes:
    aad = _aad(row.kind, row.key, row.version, row.user, row.state, row.pool)
    return keyring.open(row.key_id, row.sealed, aad)


def open_token(keyring: Keyring, row: Row) -> TokenRecord:
    """The token record in *row*.

    Raises:
        UnknownKey: the ring lacks the row's key. InvalidRecord: the row was altered, moved or
            is not a token.
    """
    if row.kind != "token":
        raise InvalidRecord("the row is not a token")
    record = decode_token(_open(keyring, row))
    if str(record.serial) != row.key or record.version != row.version:
        raise InvalidRecord("a sealed token does not match its row")
    return record


def open_code(keyring: Keyring, row: Row) -> CodeRecord:
    """The out-of-band code record in *row* (raises as :func:`open_token`)."""
    if row.kind != "code":
        raise InvalidRecord("the row is not a code")
    record = decode_code(_open(keyring, row))
    if code_key(record.user, record.purpose) != row.key or record.version != row.version:
        raise InvalidRecord("a sealed code does not match its row")
    return record
