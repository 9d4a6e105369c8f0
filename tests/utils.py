"""Small helpers shared by the tests."""

from __future__ import annotations

import io
import stat
from pathlib import Path
from typing import NamedTuple

import pytest

from softtoken import _kdf, pinverifier
from softtoken._kdf import ScryptParams

VECTORS = Path(__file__).parent / "vectors"

# RFC 4226 Appendix D and RFC 6238 Appendix B seeds (RFC 6238 per erratum 2866).
RFC_SEED_SHA1 = b"12345678901234567890"
RFC_SEEDS = {
    "sha1": RFC_SEED_SHA1,
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}


def mode(path: Path) -> int:
    """The permission bits of *path*."""
    return stat.S_IMODE(path.stat().st_mode)


def load_vectors(name: str) -> list[list[str]]:
    """Return the whitespace-split rows of ``tests/vectors/<name>``, without comments."""
    rows = []
    for line in (VECTORS / name).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            rows.append(stripped.split())
    return rows


class Result(NamedTuple):
    """What a CLI run returned: its exit status and its captured output."""

    status: int
    out: str
    err: str


class Terminal(io.StringIO):
    """Standard input that is an interactive terminal: the command must not read from it."""

    def isatty(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise AssertionError("the command read from a terminal")


def count_scrypt(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every scrypt run softtoken.pinverifier makes (by salt), still computing it."""
    calls: list[bytes] = []
    original = _kdf.scrypt

    def counting(secret: bytes, salt: bytes, params: ScryptParams) -> bytes:
        calls.append(salt)
        return original(secret, salt, params)

    monkeypatch.setattr(pinverifier, "scrypt", counting)
    return calls
