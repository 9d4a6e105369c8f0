"""The app side's file I/O: private atomic writes, exclusive locks, and the version guards.

- :func:`write_private` replaces a file atomically with a new one readable by its owner only.
- :func:`exclusive` holds an exclusive ``flock`` for a block.
- A :class:`VersionGuard` remembers, for each wallet, the :class:`BlobMark` of the newest blob
  saved: its generation and its AES-GCM tag, which no other blob shares. It advances only by
  compare-and-set, so that an older blob (a rollback), another blob of the same generation (a
  copy that went its own way) and a concurrent writer that lost the race are all refused
  (SECURITY.md S7, S17). :class:`FileVersionGuard` keeps the marks in a file; a phone app would
  implement the protocol over its secure hardware.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NamedTuple, Protocol

from softtoken.app.sealing import TAG_LENGTH
from softtoken.exceptions import InvalidInput, WalletLocked, WalletRolledBack

__all__ = [
    "BlobMark",
    "FileVersionGuard",
    "MemoryVersionGuard",
    "VersionGuard",
    "exclusive",
    "read_capped",
    "write_private",
]

_LOCK_POLL: Final = 0.01
# A guard file holds one line per wallet; far fewer than this in any real use.
_MAX_GUARD_BYTES: Final = 1 << 20
_STALE: Final = "another copy of the wallet was saved since this one was read"


class BlobMark(NamedTuple):
    """What a guard remembers of a wallet's newest blob."""

    generation: int
    tag: bytes
    """The blob's AES-GCM tag: a fresh nonce makes it differ for every blob, even two of one
    generation."""

    @classmethod
    def of_blob(cls, generation: int, blob: bytes) -> BlobMark:
        """The mark of *blob*, a wallet of *generation*: its tag is its last bytes."""
        return cls(generation, blob[-TAG_LENGTH:])


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def write_private(path: str | os.PathLike[str], data: bytes, *, replace: bool = True) -> None:
    """Write *data* to *path* atomically, readable by its owner only.

    *data* goes to a new temporary file in the same directory, created with mode 0600, which is
    flushed and fsynced, then renamed over *path* (or, with ``replace=False``, linked to *path*,
    which fails if anything is there). A crash leaves the old file or the new one; on any error
    the temporary file is removed and the old file is untouched. An existing *path*'s mode is
    not kept: the new file is private. A symbolic link at *path* is refused, never followed.

    Raises:
        InvalidInput: *path* is a symbolic link.
        FileExistsError: ``replace=False`` and *path* exists.
        OSError: the directory cannot be written.
    """
    target = Path(path)
    if target.is_symlink():
        raise InvalidInput("the output path is a symbolic link; refusing to follow it")
    # mkstemp creates the file with O_EXCL and mode 0600.
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, target)
        else:
            # link() never replaces, unlike rename(): the check and the write are one step.
            os.link(temporary, target)
            os.unlink(temporary)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def read_capped(path: str | os.PathLike[str], limit: int) -> bytes | None:
    """The bytes of *path*, or None when it holds more than *limit* bytes."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


@contextlib.contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock for *path* for the block: on the file beside it named with
    ``.lock`` added (created private if missing), so that *path* itself can be replaced.

    Raises:
        WalletLocked: another process held it for *timeout* seconds.
    """
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise WalletLocked()
            time.sleep(_LOCK_POLL)
        yield
    finally:
        # Closing the descriptor releases the lock; so does the process dying.
        os.close(fd)


class VersionGuard(Protocol):
    """Remembers the newest blob of each wallet, somewhere a rollback cannot reach."""

    def newest(self, wallet_id: bytes) -> BlobMark | None:
        """The mark of the newest blob recorded for *wallet_id*, or None for a wallet never
        recorded."""

    def advance(self, wallet_id: bytes, seen: BlobMark | None, new: BlobMark) -> None:
        """Replace *seen* by *new*, atomically; raise WalletRolledBack if what is recorded is
        not *seen* (another writer got there first, or the caller's blob is stale)."""


class MemoryVersionGuard:
    """A :class:`VersionGuard` in memory, for one process: tests and short-lived tools."""

    def __init__(self) -> None:
        self._marks: dict[bytes, BlobMark] = {}

    def newest(self, wallet_id: bytes) -> BlobMark | None:
        return self._marks.get(wallet_id)

    def advance(self, wallet_id: bytes, seen: BlobMark | None, new: BlobMark) -> None:
        if self._marks.get(wallet_id) != seen:
            raise WalletRolledBack(_STALE)
        self._marks[wallet_id] = new


class FileVersionGuard:
    """A :class:`VersionGuard` kept in a small text file: one ``<wallet id> <generation>
    <tag>`` line per wallet (hex), rewritten atomically under a lock of its own.

    It stops the restore of a wallet file alone, and a copy of a wallet file used beside the
    original. Whoever can also restore or delete this file can roll both back; keep it beside
    the device key, which such a person would need anyway. A missing or damaged file refuses
    every wallet it should know.
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout = lock_timeout

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.path, self._timeout)

    def _read(self) -> dict[bytes, BlobMark]:
        try:
            raw = read_capped(self.path, _MAX_GUARD_BYTES)
        except FileNotFoundError:
            return {}
        entries = None if raw is None else _parse_guard(raw)
        if entries is None:
            # A damaged guard must not silently become "nothing seen": that is a rollback.
            raise WalletRolledBack("the version guard file is damaged")
        return entries

    def newest(self, wallet_id: bytes) -> BlobMark | None:
        with self._lock():
            return self._read().get(wallet_id)

    def advance(self, wallet_id: bytes, seen: BlobMark | None, new: BlobMark) -> None:
        with self._lock():
            entries = self._read()
            if entries.get(wallet_id) != seen:
                raise WalletRolledBack(_STALE)
            entries[wallet_id] = new
            text = "".join(
                f"{key.hex()} {mark.generation} {mark.tag.hex()}\n"
                for key, mark in sorted(entries.items())
            )
            write_private(self.path, text.encode("ascii"))


def _parse_guard(raw: bytes) -> dict[bytes, BlobMark] | None:
    entries: dict[bytes, BlobMark] = {}
    for line in raw.split(b"\n"):
        if not line:
            continue
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 2 * TAG_LENGTH:
            return None
        try:
            key, tag = bytes.fromhex(parts[0].decode("ascii")), bytes.fromhex(parts[2].decode())
        except ValueError:
            return None
        entries[key] = BlobMark(int(parts[1]), tag)
    return entries
