"""The wallet on disk, and the app side's safe paths (SECURITY.md S7, S10, S11, S16, S17).

:class:`WalletFile` runs the :class:`~softtoken.app.Wallet` operations on a file:

- **One writer at a time.** Every operation reads, checks and writes under an exclusive lock on
  ``<wallet>.lock``, so that concurrent processes queue instead of racing.
- **No copy and no rollback.** Each save advances a :class:`~softtoken.app.files.VersionGuard`
  by compare-and-set from the blob that was read to the one written. A blob the guard does not
  know as the newest (an older one, or a copy saved elsewhere in the meantime) is refused with
  :class:`~softtoken.exceptions.WalletRolledBack` before anything in it is evaluated, and a
  writer whose compare-and-set fails stops before it evaluates. So N processes, even on N
  copies of one wallet, never evaluate more wrong PINs than the limit.
- **Store before telling.** A PIN or unlock code attempt is saved open before the secret is
  evaluated, and its result is saved before anything is returned or raised. A process killed
  in between leaves an open attempt that the next run counts as a wrong try.

A guard that has never seen a wallet accepts it only at generation 1, as :meth:`create` writes
it; any later wallet needs :meth:`adopt`, an explicit step for a wallet restored on purpose.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import attrs

from softtoken._secret import SECRET
from softtoken.app.files import BlobMark, VersionGuard, exclusive, read_capped, write_private
from softtoken.app.records import CodeResult, IdentityInfo, IdentityPolicy
from softtoken.app.wallet import Wallet
from softtoken.exceptions import (
    NotAccepted,
    PINDelayed,
    PINLocked,
    PINRejected,
    PINWiped,
    UnlockCodeRejected,
    WalletCorrupt,
    WalletNotGuarded,
    WalletRolledBack,
    WrongPIN,
    WrongState,
)
from softtoken.pinlock import PHONE_KDF, KDFParams, Outcome, PINRejection, Status
from softtoken.provisioning.identifiers import Serial
from softtoken.unlock import UnlockOutcome

__all__ = ["WalletFile"]

# A wallet of MAX_IDENTITIES identities is a few MiB; nothing larger is read.
_MAX_WALLET_BYTES: Final = 64 << 20
# The shape rules a typed PIN can break without being compared with anything secret.
_SHAPE: Final = frozenset({PINRejection.NOT_DIGITS, PINRejection.WRONG_LENGTH})


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
    """A wallet in a file, opened and changed only under an exclusive lock and a guard.

    Args:
        path: the wallet file.
        device_key: the 32-byte key that seals it (from the device keystore). Never shown.
        guard: the :class:`~softtoken.app.files.VersionGuard` that knows the newest blob.
            Required: the caller decides where that knowledge lives.
        kdf: the app's scrypt parameters for new and upgraded PIN verifiers.
        lock_timeout: seconds to wait for another process's lock before
            :class:`~softtoken.exceptions.WalletLocked`.
    """

    path: Path = attrs.field(converter=Path)
    device_key: bytes = attrs.field(kw_only=True, **SECRET)
    guard: VersionGuard = attrs.field(repr=False, eq=False, kw_only=True)
    kdf: KDFParams = attrs.field(default=PHONE_KDF, kw_only=True)
    lock_timeout: float = attrs.field(default=10.0, kw_only=True)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.path, self.lock_timeout)

    def _read_blob(self) -> tuple[Wallet, BlobMark]:
        blob = read_capped(self.path, _MAX_WALLET_BYTES)
        if blob is None:
            raise WalletCorrupt("the wallet file is too large to be a wallet")
        wallet = Wallet.from_bytes(blob, device_key=self.device_key, kdf=self.kdf)
        return wallet, BlobMark.of_blob(wallet.generation, blob)

    def _load(self) -> tuple[Wallet, BlobMark]:
        wallet, mark = self._read_blob()
        known = self.guard.newest(wallet.wallet_id)
        if known == mark:
            return wallet, mark
        if known is None:
            if mark.generation != 1:
                raise WalletNotGuarded()
        elif mark.generation != known.generation + 1:
            # Older, or another blob of the newest generation: a rollback or a copy.
            raise WalletRolledBack()
        # A crash between writing a blob and recording it leaves the guard one save behind (or,
        # for a new wallet, empty); the blob is the app's own, one step on, so it is recorded.
        self.guard.advance(wallet.wallet_id, known, mark)
        return wallet, mark

    def _save(self, wallet: Wallet, seen: BlobMark | None) -> tuple[Wallet, BlobMark]:
        saved = attrs.evolve(wallet, generation=wallet.generation + 1)
        blob = saved.to_bytes()
        write_private(self.path, blob)
        mark = BlobMark.of_blob(saved.generation, blob)
        # The compare-and-set fails if another writer (on this path without its lock, or on a
        # copy) saved since this blob was read: then this process stops before it evaluates.
        self.guard.advance(saved.wallet_id, seen, mark)
        return saved, mark

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[Callable[[], Wallet], Callable[[Wallet], Wallet]]]:
        with self._lock():
            current = [self._load()]

            def save(wallet: Wallet) -> Wallet:
                if wallet.generation != current[0][0].generation:
                    raise RuntimeError("a wallet from another session cannot be saved here")
                current[0] = self._save(wallet, current[0][1])
                return current[0][0]

            yield (lambda: current[0][0]), save

    def create(self, *, policy: IdentityPolicy | None = None) -> Wallet:
        """Write a new empty wallet at generation 1; an existing file is never overwritten.

        Raises:
            FileExistsError: the file exists.
        """
        wallet = Wallet.create(device_key=self.device_key, policy=policy, kdf=self.kdf)
        with self._lock():
            # Claiming the name exclusively first means an existing wallet is never replaced.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            try:
                return self._save(wallet, None)[0]
            except BaseException:
                self.path.unlink(missing_ok=True)
                raise

    def adopt(self) -> Wallet:
        """Record the wallet in a guard that has never seen it, as the newest of its kind.

        For a wallet restored on purpose (a new device, a lost guard): whoever calls this vouches
        that the file is the newest copy, since anything spent after it would be spent again.

        Raises:
            WrongState: the guard already knows this wallet.
        """
        with self._lock():
            wallet, mark = self._read_blob()
            if self.guard.newest(wallet.wallet_id) is not None:
                raise WrongState("the version guard already knows this wallet")
            self.guard.advance(wallet.wallet_id, None, mark)
            return wallet

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

    def reset_code(self, serial: Serial | str) -> str:
        """The locked identity's current reset code (see :meth:`Wallet.reset_code`)."""
        return self.read().reset_code(serial)

    def code(self, serial: Serial | str, pin: str, *, now: int | dt.datetime) -> str:
        """The identity's current code, after *pin* is checked in a counted attempt.

        A PIN of the wrong shape for the identity's policy (length, digits) can be no one's
        PIN: it is refused before an attempt is opened, and costs no try.

        Raises:
            WrongPIN: with ``remaining_tries``. PINDelayed: with ``retry_after``.
            PINLocked, PINWiped: with ``just_now``. Each only after the state that counts the
                attempt is stored.
            PINRejected: the PIN's shape is wrong (``NOT_DIGITS``, ``WRONG_LENGTH``).
            UnknownIdentity, WalletCorrupt, WalletRolledBack, WalletLocked, OSError: nothing
                was evaluated.
        """
        with self._session() as (load, save):
            wallet = load()
            shape = wallet.info(serial).policy.pin.rejections(pin) & _SHAPE
            if shape:
                raise PINRejected(shape)
            opened = save(wallet.begin_attempt(serial, now=now))
            changed, result = opened.show_code(serial, pin, now=now)
            save(changed)
        if result.code is not None:
            return result.code
        raise _code_error(result)

    def unlock(
        self, serial: Serial | str, unlock_code: str, *, new_pin: str, now: int | dt.datetime
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
