"""Shared helpers for the issuer tests: a fast activation cost, key rings, stores, and a token
taken through offline activation the way the bank and the app would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from softtoken import HOTP, TOTP
from softtoken._kdf import ScryptParams
from softtoken.issuer import Issuer, Keyring
from softtoken.issuer.stores import MemoryStore, SQLStore
from softtoken.issuer.stores.base import Store
from softtoken.provisioning import Serial, TokenParams, offline

FAST_KDF = ScryptParams(log2_n=4, r=1, p=1)
"""Offline activation's scrypt at a test cost; the real cost is OFFLINE_KDF (0.5 s)."""
NOW = 1_800_000_000
"""A fixed time (2027-01-15) that every test passes as ``at=``."""
STORE_KINDS = ("memory", "sqlite")


def keyring(*ids: str) -> Keyring:
    """A key ring with a fixed key per id (derived from the id, so two calls agree)."""
    chosen = ids or ("k1",)
    return Keyring({key_id: key_id.encode().ljust(32, b"#")[:32] for key_id in chosen})


def make_store(kind: str, tmp_path: Path) -> Store:
    """A fresh store of *kind* ("memory" or "sqlite", a file under *tmp_path*)."""
    if kind == "memory":
        return MemoryStore()
    return SQLStore(f"sqlite:///{tmp_path / 'issuer.db'}")


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store kind in turn: the contract suite runs every test against both."""
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


def activate(
    issuer: Issuer,
    serial: Serial,
    *,
    user: str,
    at: int = NOW,
    params: TokenParams | None = None,
) -> HOTP | TOTP:
    """Assign *serial* (in stock or a pool) to *user*, run the offline activation with the app's
    half in between, and confirm with the first code. Returns the app's token."""
    chosen = params or TokenParams()
    issuer.assign(serial, user=user, actor="admin", at=at)
    started = issuer.start_offline_activation(
        serial, actor="admin", params=chosen, kdf=FAST_KDF, at=at
    )
    registration, secret = offline.respond(
        serial, started.activation_code, params=chosen, kdf=FAST_KDF
    )
    issuer.complete_offline_activation(serial, registration, at=at)
    token = chosen.token(secret)
    first = token.generate(at) if isinstance(token, TOTP) else token.generate(0)
    issuer.confirm_activation(serial, first, at=at)
    return token
