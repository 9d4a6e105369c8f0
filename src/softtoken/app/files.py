"""The wallet on disk: one exclusive lock, atomic saves, and a guard against rollback.

This is the app side's only file I/O. :class:`WalletFile` runs the safe paths of
:class:`~softtoken.app.Wallet` (SECURITY.md S7, S10, S11, S17):

- **One writer at a time.** Every operation reads, checks and writes under an exclusive
  ``flock`` on ``<wallet>.lock``, so that N concurrent processes can never evaluate more wrong
  PINs than the limit, nor lose a failure count.
- **Store before telling.** A PIN or unlock code attempt is saved open before the secret is
  evaluated, and its result is saved before anything is returned or raised. A process killed
  in between leaves an open attempt that the next run counts as a wrong try.
- **No rollback.** Each save increments the blob's generation and records it with a
  :class:`VersionGuard`; a blob older than the newest generation the guard has seen is refused
  with :class:`~softtoken.exceptions.WalletRolledBack`. The guard must live where whoever can
  replace the wallet file cannot roll it back too: on a phone, its secure hardware. The
  :class:`FileVersionGuard` keeps it in a file beside the device key, which protects against
  restoring the wallet file alone (docs/security.md states the limit).

Saves go to a new private temporary file in the same directory, which is fsynced and renamed
over the old one, so that a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Protocol

import attrs

from softtoken.app.records import CodeResult, IdentityInfo, IdentityPolicy
from softtoken.app.wallet import Wallet
from softtoken.exceptions import (
    InvalidInput,
    NotAccepted,
    PINDelayed,
    PINLocked,
    PINRejected,
    PINWiped,
    UnlockCodeRejected,
    WalletLocked,
    WalletRolledBack,
    WrongPIN,
)
from softtoken.pinlock import PHONE_KDF, KDFParams, Outcome, PINRejection, Status
from softtoken.unlock import UnlockOutcome

__all__ = [
    "FileVersionGuard",
    "MemoryVersionGuard",
    "VersionGuard",
    "WalletFile",
    "write_private",
]

_LOCK_POLL: Final = 0.01
# A guard file holds one line per wallet; far fewer than this in any real use.
_MAX_GUARD_BYTES: Final = 1 << 20


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


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace *path* with *data* atomically, readable by its owner only.

    *data* goes to a new temporary file in the same directory, created with mode 0600, which is
    flushed, fsynced and renamed over *path*. A crash leaves the old file or the new one; on any
    error the temporary file is removed and the old file is untouched. An existing *path*'s mode
    is not kept: the new file is private. A symbolic link at *path* is refused, never followed.

    Raises:
        InvalidInput: *path* is a symbolic link.
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
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


@contextlib.contextmanager
def _exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock on *path* (created private if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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
    """Remembers the newest generation saved of each wallet, somewhere a rollback cannot reach.

    A phone app implements it over its secure hardware (a monotonic counter, or a key-value
    store in the secure element); :class:`FileVersionGuard` and :class:`MemoryVersionGuard`
    are the ones softtoken ships.
    """

    def highest(self, wallet_id: bytes) -> int:
        """The newest generation recorded for *wallet_id*; 0 when none was."""

    def record(self, wallet_id: bytes, generation: int) -> None:
        """Remember that *wallet_id* reached *generation* (never lower what is kept)."""


class MemoryVersionGuard:
    """A :class:`VersionGuard` in memory, for one process: tests and short-lived tools."""

    def __init__(self) -> None:
        self._highest: dict[bytes, int] = {}

    def highest(self, wallet_id: bytes) -> int:
        return self._highest.get(wallet_id, 0)

    def record(self, wallet_id: bytes, generation: int) -> None:
        self._highest[wallet_id] = max(generation, self.highest(wallet_id))


class FileVersionGuard:
    """A :class:`VersionGuard` kept in a small text file: one ``<wallet id hex> <generation>``
    line per wallet, rewritten atomically under a lock of its own.

    It stops a rollback of the wallet file alone. Whoever can also restore this file can roll
    both back; keep it beside the device key, which such a person would need anyway.
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout = lock_timeout

    def _read(self) -> dict[bytes, int]:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read(_MAX_GUARD_BYTES + 1)
        except FileNotFoundError:
            return {}
        entries = _parse_guard(raw) if len(raw) <= _MAX_GUARD_BYTES else None
        if entries is None:
            # A damaged guard must not silently become "nothing seen": that is a rollback.
            raise WalletRolledBack("the version guard file is damaged")
        return entries

    def highest(self, wallet_id: bytes) -> int:
        with _exclusive(self.path.with_name(self.path.name + ".lock"), self._timeout):
            return self._read().get(wallet_id, 0)

    def record(self, wallet_id: bytes, generation: int) -> None:
        with _exclusive(self.path.with_name(self.path.name + ".lock"), self._timeout):
            entries = self._read()
            if entries.get(wallet_id, 0) >= generation:
                return
            entries[wallet_id] = generation
            text = "".join(f"{key.hex()} {value}\n" for key, value in sorted(entries.items()))
            write_private(self.path, text.encode("ascii"))


def _parse_guard(raw: bytes) -> dict[bytes, int] | None:
    entries: dict[bytes, int] = {}
    for line in raw.split(b"\n"):
        if not line:
            continue
        parts = line.split(b" ")
        if len(parts) != 2 or not parts[1].isdigit() or len(parts[0]) != 32:
            return None
        try:
            entries[bytes.fromhex(parts[0].decode("ascii"))] = int(parts[1])
        except ValueError:
            return None
    return entries


def _code_error(result: CodeResult) -> NotAccepted:
    """The error that tells the user what a refused PIN entry did."""
    outcome = result.outcome
    if outcome is Outcome.REJECTED:
        return WrongPIN(result.remaining_tries)
    if outcome is Outcome.TOO_SOON:
        return PINDelayed(result.remaining_tries, retry_after=result.retry_after)
    if outcome in (Outcome.LOCKED_NOW, Outcome.STILL_LOCKED):
        return PINLocked(just_now=outcome is Outcome.LOCKED_NOW)
    return PINWiped(just_now=outcome is Outcome.WIPED_NOW)


@attrs.define
class WalletFile:
    """A wallet in a file, opened and changed only under an exclusive lock.

    Args:
        path: the wallet file.
        device_key: the 32-byte key that seals it (from the device keystore).
        guard: the :class:`VersionGuard` that refuses older blobs. Required: the caller decides
            where the newest generation lives.
        kdf: the app's scrypt parameters for new and upgraded PIN verifiers.
        lock_timeout: seconds to wait for another process's lock before
            :class:`~softtoken.exceptions.WalletLocked`.
    """

    path: Path = attrs.field(converter=Path)
    device_key: bytes = attrs.field(repr=False, kw_only=True)
    guard: VersionGuard = attrs.field(repr=False, kw_only=True)
    kdf: KDFParams = attrs.field(default=PHONE_KDF, kw_only=True)
    lock_timeout: float = attrs.field(default=10.0, kw_only=True)

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def create(self, *, policy: IdentityPolicy | None = None) -> Wallet:
        """Write a new empty wallet; an existing file is never overwritten.

        Raises:
            FileExistsError: the file exists.
        """
        wallet = Wallet.create(device_key=self.device_key, policy=policy, kdf=self.kdf)
        with _exclusive(self._lock_path, self.lock_timeout):
            # Claiming the name exclusively first means an existing wallet is never replaced.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            try:
                return self._save(wallet)
            except BaseException:
                self.path.unlink(missing_ok=True)
                raise

    def _load(self) -> Wallet:
        wallet = Wallet.from_bytes(self.path.read_bytes(), device_key=self.device_key, kdf=self.kdf)
        highest = self.guard.highest(wallet.wallet_id)
        if wallet.generation < highest:
            raise WalletRolledBack()
        if wallet.generation > highest:
            # A crash between writing the blob and recording it leaves the guard one behind.
            self.guard.record(wallet.wallet_id, wallet.generation)
        return wallet

    def _save(self, wallet: Wallet) -> Wallet:
        saved = attrs.evolve(wallet, generation=wallet.generation + 1)
        write_private(self.path, saved.to_bytes())
        self.guard.record(saved.wallet_id, saved.generation)
        return saved

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[Callable[[], Wallet], Callable[[Wallet], Wallet]]]:
        with _exclusive(self._lock_path, self.lock_timeout):
            current = [self._load()]

            def save(wallet: Wallet) -> Wallet:
                if wallet.generation != current[0].generation:
                    raise RuntimeError("a wallet from another session cannot be saved here")
                current[0] = self._save(wallet)
                return current[0]

            yield (lambda: current[0]), save

    def read(self) -> Wallet:
        """The wallet, as stored (checked against the guard)."""
        with self._session() as (load, _):
            return load()

    def update(self, change: Callable[[Wallet], Wallet]) -> Wallet:
        """Apply *change* to the stored wallet under the lock and store the result."""
        with self._session() as (load, save):
            return save(change(load()))

    def identities(self) -> tuple[IdentityInfo, ...]:
        """List the identities. No secrets."""
        return self.read().identities()

    def reset_code(self, serial: str) -> str:
        """The locked identity's current reset code (see :meth:`Wallet.reset_code`)."""
        return self.read().reset_code(serial)

    def code(self, serial: str, pin: str, *, now: int | dt.datetime) -> str:
        """The identity's current code, after *pin* is checked in a counted attempt.

        Raises:
            WrongPIN: with ``remaining_tries``. PINDelayed: with ``retry_after``.
            PINLocked, PINWiped: with ``just_now``. Each only after the state that counts the
                attempt is stored.
            UnknownIdentity, WalletCorrupt, WalletRolledBack, WalletLocked, OSError: nothing
                was evaluated.
        """
        with self._session() as (load, save):
            opened = save(load().begin_attempt(serial, now=now))
            wallet, result = opened.show_code(serial, pin, now=now)
            save(wallet)
        if result.code is not None:
            return result.code
        raise _code_error(result)

    def unlock(
        self, serial: str, unlock_code: str, *, new_pin: str, now: int | dt.datetime
    ) -> None:
        """Unlock a locked identity with the bank's *unlock_code*, under *new_pin*.

        *new_pin* (its rules) and *unlock_code* (its shape) are checked before an attempt is
        opened, so that a typo costs no try.

        Raises:
            PINRejected: *new_pin* breaks the rules (nothing counted), or, after the code was
                proven right, was used recently (``RECENTLY_USED``; nothing spent).
            UnlockCodeRejected: with ``remaining_tries`` and ``new_reset_code``; also when an
                interrupted earlier attempt used up the reset code the code answers.
            PINWiped: the last reset code ran out of tries.
            MalformedCode, WrongIdentityState, UnknownIdentity: nothing was counted.
        """
        with self._session() as (load, save):
            wallet = load()
            wallet.check_new_pin(serial, new_pin)
            wallet.check_unlock_code(serial, unlock_code)
            opened = save(wallet.begin_attempt(serial, now=now, unlock=True))
            info = opened.info(serial)
            if not info.attempt_open:
                # An interrupted attempt was counted first and ended this reset code: the code
                # typed now answers a reset code that is gone.
                if info.status is Status.WIPED:
                    raise PINWiped(just_now=True)
                raise UnlockCodeRejected(info.unlock_tries, new_reset_code=True)
            changed, result = opened.unlock(serial, unlock_code, new_pin=new_pin, now=now)
            save(changed)
        outcome = result.outcome
        if outcome is UnlockOutcome.UNLOCKED:
            return
        if outcome is UnlockOutcome.WIPE:
            raise PINWiped(just_now=True)
        if outcome is UnlockOutcome.PIN_REFUSED:
            raise PINRejected(frozenset({PINRejection.RECENTLY_USED}))
        raise UnlockCodeRejected(
            result.remaining_tries, new_reset_code=outcome is UnlockOutcome.NEW_RESET_CODE
        )
