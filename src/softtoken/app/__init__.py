"""The app side: a wallet of identities, each behind its own PIN (SECURITY.md S10, S11, S14, S17).

- :class:`Wallet` is the pure state: identities, their sealed keys, PINs, lockouts and unlock
  counters, as one frozen value that every operation replaces (:mod:`softtoken.app.wallet`).
- :class:`WalletFile` keeps it in a file and runs the safe paths: an exclusive lock, an attempt
  stored before each secret is checked, and a :class:`VersionGuard` against rollback and copies
  (:mod:`softtoken.app.walletfile`; the file I/O and the guards are in
  :mod:`softtoken.app.files`).
- The blob layout is in :mod:`softtoken.app.codec` and the keys in :mod:`softtoken.app.sealing`.
"""

from __future__ import annotations

from softtoken.app.codec import MAX_IDENTITIES
from softtoken.app.files import (
    BlobMark,
    FileVersionGuard,
    MemoryVersionGuard,
    VersionGuard,
    write_private,
)
from softtoken.app.records import (
    MAX_NAME_LENGTH,
    CodeResult,
    IdentityInfo,
    IdentityPolicy,
    UnlockResult,
)
from softtoken.app.sealing import DEVICE_KEY_LENGTH, device_key_id
from softtoken.app.wallet import Wallet, blob_key_id
from softtoken.app.walletfile import WalletFile

__all__ = [
    "DEVICE_KEY_LENGTH",
    "MAX_IDENTITIES",
    "MAX_NAME_LENGTH",
    "BlobMark",
    "CodeResult",
    "FileVersionGuard",
    "IdentityInfo",
    "IdentityPolicy",
    "MemoryVersionGuard",
    "UnlockResult",
    "VersionGuard",
    "Wallet",
    "WalletFile",
    "blob_key_id",
    "device_key_id",
    "write_private",
]
