"""Tests for softtoken.app.files: the locked, atomic, rollback-guarded wallet file.

The concurrency tests run real processes against one wallet file (SECURITY.md S7 on the app
side): before the lock, five concurrent wrong PINs counted as one, and 28 wrong PINs were
evaluated before the lock at a limit of 5.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections import Counter
from pathlib import Path

import pytest

from softtoken.app import (
    BlobMark,
    FileVersionGuard,
    MemoryVersionGuard,
    VersionGuard,
    WalletFile,
    write_private,
)
from softtoken.exceptions import (
    InvalidInput,
    PINDelayed,
    PINLocked,
    PINRejected,
    PINWiped,
    UnlockCodeRejected,
    WalletLocked,
    WalletRolledBack,
    WrongPIN,
    WrongState,
)
from softtoken.hotp import TOTP
from softtoken.pinlock import Status
from softtoken.unlock import compute_unlock_code
from tests.wallets import (
    DELAYED,
    DEVICE_KEY,
    FAST,
    NEW_PIN,
    NOW,
    PAYSECURE,
    PIN,
    SECRET,
    SERIAL,
    WRONG_PIN,
)

WORKERS = 12


def _store(path: Path, guard: VersionGuard | None = None) -> WalletFile:
    return WalletFile(
        path,
        device_key=DEVICE_KEY,
        guard=FileVersionGuard(path.with_suffix(".version")) if guard is None else guard,
        kdf=FAST,
    )


def _new(path: Path, **kwargs: object) -> WalletFile:
    store = _store(path)
    store.create()
    store.update(lambda w: w.add_key(SERIAL, SECRET, name="Bank", pin=PIN, **kwargs))  # type: ignore[arg-type]
    return store


def _generation(guard: VersionGuard, wallet_id: bytes) -> int:
    mark = guard.newest(wallet_id)
    return 0 if mark is None else mark.generation


def _wrong_pin_on_copy(path: str) -> str:
    """Runs in a worker: one wrong PIN on a copy, whose guard is the original's."""
    guard = FileVersionGuard(Path(path).parent / "w.version")
    try:
        return _wrong_pin(path, guard)
    except WalletRolledBack:
        return "WalletRolledBack"


def _wrong_pin(path: str, guard: FileVersionGuard | None = None) -> str:
    """Runs in a worker process: one wrong PIN through the file layer; the error's name."""
    try:
        _store(Path(path), guard).code(SERIAL, WRONG_PIN, now=NOW)
    except (WrongPIN, PINLocked, PINWiped) as error:
        just_now = getattr(error, "just_now", False)
        return f"{type(error).__name__}{'-now' if just_now else ''}"
    return "accepted"


class _Forgetful(MemoryVersionGuard):
    """A guard that loses its next advance, as a crash right after the blob was written would."""

    forget_next = False

    def advance(self, wallet_id: bytes, seen: BlobMark | None, new: BlobMark) -> None:
        if self.forget_next:
            self.forget_next = False
            return
        super().advance(wallet_id, seen, new)


class TestSafePaths:
    """code() and unlock() store each attempt before evaluating it, and raise after storing."""

    def test_code_and_wrong_pins(self, tmp_path: Path) -> None:
        """The right PIN gives the code; wrong ones raise with the tries left, then lock."""
        store = _new(tmp_path / "w")
        assert TOTP(SECRET).generate(NOW) == store.code(SERIAL, PIN, now=NOW)
        for left in (4, 3, 2, 1):
            with pytest.raises(WrongPIN) as info:
                store.code(SERIAL, WRONG_PIN, now=NOW)
            assert left == info.value.remaining_tries
        with pytest.raises(PINLocked) as locked:
            store.code(SERIAL, WRONG_PIN, now=NOW)
        assert locked.value.just_now
        with pytest.raises(PINLocked) as still:
            store.code(SERIAL, PIN, now=NOW)
        assert not still.value.just_now

    def test_delay_is_reported_with_the_wait(self, tmp_path: Path) -> None:
        """Within a delay, PINDelayed says how long to wait, and nothing is counted."""
        store = _new(tmp_path / "w", policy=DELAYED)
        with pytest.raises(WrongPIN):
            store.code(SERIAL, WRONG_PIN, now=NOW)
        with pytest.raises(PINDelayed) as info:
            store.code(SERIAL, PIN, now=NOW + 10)
        assert (20, 4) == (info.value.retry_after, info.value.remaining_tries)

    def test_wipe_is_reported(self, tmp_path: Path) -> None:
        """Under a wiping policy the fifth wrong PIN raises PINWiped(just_now=True)."""
        store = _new(tmp_path / "w", policy=PAYSECURE)
        for _ in range(4):
            with pytest.raises(WrongPIN):
                store.code(SERIAL, WRONG_PIN, now=NOW)
        with pytest.raises(PINWiped) as info:
            store.code(SERIAL, WRONG_PIN, now=NOW)
        assert info.value.just_now
        with pytest.raises(PINWiped) as again:
            store.code(SERIAL, PIN, now=NOW)
        assert not again.value.just_now

    def test_unlock(self, tmp_path: Path) -> None:
        """Wrong codes say the tries left and when the reset code changed; the right one
        unlocks under the new PIN; the old PIN is refused only after the code is proven."""
        store = _new(tmp_path / "w")
        for _ in range(5):
            with pytest.raises((WrongPIN, PINLocked)):
                store.code(SERIAL, WRONG_PIN, now=NOW)
        reset = store.reset_code(SERIAL)
        with pytest.raises(UnlockCodeRejected) as first:
            store.unlock(SERIAL, "00000000", new_pin=NEW_PIN, now=NOW)
        assert (2, False) == (first.value.remaining_tries, first.value.new_reset_code)
        for _ in range(2):
            with pytest.raises(UnlockCodeRejected) as later:
                store.unlock(SERIAL, "00000000", new_pin=NEW_PIN, now=NOW)
        assert (3, True) == (later.value.remaining_tries, later.value.new_reset_code)
        assert reset != store.reset_code(SERIAL)
        code = compute_unlock_code(SECRET, SERIAL, store.reset_code(SERIAL))
        with pytest.raises(PINRejected):
            store.unlock(SERIAL, code, new_pin=PIN, now=NOW)
        store.unlock(SERIAL, code, new_pin=NEW_PIN, now=NOW)
        assert TOTP(SECRET).generate(NOW) == store.code(SERIAL, NEW_PIN, now=NOW)


class TestConcurrency:
    """N processes on one wallet file never evaluate more wrong PINs than the limit."""

    def test_concurrent_wrong_pins_evaluate_at_most_the_limit(self, tmp_path: Path) -> None:
        """12 processes each give a wrong PIN at once: exactly 4 are told WrongPIN, 1 locks it,
        and the other 7 find it locked without any PIN being evaluated."""
        path = tmp_path / "w"
        _new(path)
        with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
            outcomes = Counter(pool.map(_wrong_pin, [str(path)] * WORKERS))
        assert {"WrongPIN": 4, "PINLocked-now": 1, "PINLocked": WORKERS - 5} == outcomes
        info = _store(path).read().info(SERIAL)
        assert (Status.LOCKED, False) == (info.status, info.attempt_open)

    def test_a_held_lock_makes_others_wait_then_give_up(self, tmp_path: Path) -> None:
        """While one process holds the wallet's lock, another gives up with WalletLocked."""
        path = tmp_path / "w"
        _new(path)
        impatient = WalletFile(
            path,
            device_key=DEVICE_KEY,
            guard=FileVersionGuard(path.with_suffix(".version")),
            kdf=FAST,
            lock_timeout=0.05,
        )
        with _store(path)._session(), pytest.raises(WalletLocked):
            impatient.read()
        assert 1 == len(impatient.identities())


class TestRollback:
    """A blob older than the newest one saved is refused (S17)."""

    def test_restored_older_file_is_refused(self, tmp_path: Path) -> None:
        """Copying back an earlier wallet file gives WalletRolledBack, not a fresh budget."""
        path = tmp_path / "w"
        store = _new(path)
        older = path.read_bytes()
        with pytest.raises(WrongPIN):
            store.code(SERIAL, WRONG_PIN, now=NOW)
        path.write_bytes(older)
        with pytest.raises(WalletRolledBack):
            store.code(SERIAL, PIN, now=NOW)

    def test_spent_unlock_code_cannot_come_back(self, tmp_path: Path) -> None:
        """Restoring the locked wallet after an unlock does not make the code work again."""
        path = tmp_path / "w"
        store = _new(path)
        for _ in range(5):
            with pytest.raises((WrongPIN, PINLocked)):
                store.code(SERIAL, WRONG_PIN, now=NOW)
        locked = path.read_bytes()
        store.unlock(
            SERIAL,
            compute_unlock_code(SECRET, SERIAL, store.reset_code(SERIAL)),
            new_pin=NEW_PIN,
            now=NOW,
        )
        path.write_bytes(locked)
        with pytest.raises(WalletRolledBack):
            store.reset_code(SERIAL)

    def test_guard_catches_up_after_a_crash(self, tmp_path: Path) -> None:
        """A blob one save ahead of the guard (a crash between writing the blob and recording
        it) is accepted and recorded, so that the blob before it is refused from then on."""
        guard = _Forgetful()
        store = _store(tmp_path / "w", guard)
        created = store.create()
        before = (tmp_path / "w").read_bytes()
        guard.forget_next = True
        store.update(lambda w: w.add_key(SERIAL, SECRET, name="Bank", pin=PIN))
        assert 1 == _generation(guard, created.wallet_id)
        assert 2 == store.read().generation
        assert 2 == _generation(guard, created.wallet_id)
        (tmp_path / "w").write_bytes(before)
        with pytest.raises(WalletRolledBack):
            store.read()

    def test_damaged_guard_fails_closed(self, tmp_path: Path) -> None:
        """A guard file that cannot be read refuses the wallet rather than forgetting."""
        path = tmp_path / "w"
        store = _new(path)
        path.with_suffix(".version").write_text("not a guard\n")
        with pytest.raises(WalletRolledBack):
            store.read()

    @pytest.mark.parametrize("how", ["deleted", "another key file name"])
    def test_a_guard_that_never_saw_the_wallet_refuses_it(self, tmp_path: Path, how: str) -> None:
        """Deleting the guard, or opening the wallet with a guard elsewhere, does not make an
        older wallet acceptable: an unknown wallet is accepted only at generation 1."""
        path = tmp_path / "w"
        store = _new(path)
        with pytest.raises(WrongPIN):
            store.code(SERIAL, WRONG_PIN, now=NOW)
        if how == "deleted":
            path.with_suffix(".version").unlink()
            other = store
        else:
            other = _store(path, FileVersionGuard(tmp_path / "other.version"))
        with pytest.raises(WalletRolledBack):
            other.code(SERIAL, WRONG_PIN, now=NOW)

    def test_adopt_is_the_explicit_way_back(self, tmp_path: Path) -> None:
        """adopt() records a wallet an empty guard never saw; a known wallet refuses it."""
        path = tmp_path / "w"
        _new(path)
        moved = _store(path, FileVersionGuard(tmp_path / "new-device.version"))
        with pytest.raises(WalletRolledBack):
            moved.read()
        moved.adopt()
        assert TOTP(SECRET).generate(NOW) == moved.code(SERIAL, PIN, now=NOW)
        with pytest.raises(WrongState):
            moved.adopt()

    def test_one_guard_file_serves_several_wallets(self, tmp_path: Path) -> None:
        """Each wallet id keeps its own mark in a shared guard file."""
        guard = FileVersionGuard(tmp_path / "guard")
        first, second = _store(tmp_path / "a", guard), _store(tmp_path / "b", guard)
        a, b = first.create(), second.create()
        first.update(lambda w: w)
        assert (2, 1) == (_generation(guard, a.wallet_id), _generation(guard, b.wallet_id))


class TestCopies:
    """A copy of a wallet file cannot be used beside the original to multiply the tries."""

    def test_a_copy_used_after_the_original_is_refused(self, tmp_path: Path) -> None:
        """Once the original has saved, a byte-for-byte copy is refused before any PIN."""
        original = _new(tmp_path / "w")
        copy_path = tmp_path / "copy"
        copy_path.write_bytes((tmp_path / "w").read_bytes())
        copy = _store(copy_path, original.guard)
        with pytest.raises(WrongPIN):
            original.code(SERIAL, WRONG_PIN, now=NOW)
        with pytest.raises(WalletRolledBack):
            copy.code(SERIAL, WRONG_PIN, now=NOW)

    def test_a_copy_read_at_the_same_time_loses_the_race(self, tmp_path: Path) -> None:
        """Two copies read together: the first save wins, and the other stops at its first
        save, before it evaluates anything (the guard's compare-and-set)."""
        original = _new(tmp_path / "w")
        copy_path = tmp_path / "copy"
        copy_path.write_bytes((tmp_path / "w").read_bytes())
        copy = _store(copy_path, original.guard)
        evaluated: list[str] = []
        with copy._session() as (load, save):
            stale = load()
            with pytest.raises(WrongPIN):
                original.code(SERIAL, WRONG_PIN, now=NOW)
            with pytest.raises(WalletRolledBack):
                save(stale.begin_attempt(SERIAL, now=NOW))
            evaluated.append("never reached")
        assert ["never reached"] == evaluated
        assert 4 == original.read().info(SERIAL).remaining_tries
        with pytest.raises(WalletRolledBack):
            copy.read()

    def test_concurrent_copies_evaluate_at_most_the_limit(self, tmp_path: Path) -> None:
        """12 processes on 6 copies of one wallet, sharing the guard: at most 5 PINs are
        evaluated in all, however the copies race."""
        path = tmp_path / "w"
        _new(path)
        paths = []
        for n in range(6):
            paths.append(tmp_path / f"copy{n}")
            paths[-1].write_bytes(path.read_bytes())
        with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
            outcomes = Counter(pool.map(_wrong_pin_on_copy, [str(p) for p in paths] * 2))
        evaluated = outcomes["WrongPIN"] + outcomes["PINLocked-now"]
        assert evaluated <= 5
        assert WORKERS == evaluated + outcomes["PINLocked"] + outcomes["WalletRolledBack"]


class TestWritePrivate:
    """Atomic, private writes that never follow a symbolic link."""

    def test_new_file_is_private_and_old_mode_is_not_kept(self, tmp_path: Path) -> None:
        """An existing 0644 file is replaced by a 0600 one."""
        path = tmp_path / "out"
        path.write_bytes(b"old")
        path.chmod(0o644)
        write_private(path, b"new")
        assert (b"new", 0o600) == (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))

    def test_no_replace_refuses_an_existing_file(self, tmp_path: Path) -> None:
        """With replace=False an existing file is refused and kept, and no temporary stays."""
        path = tmp_path / "key"
        path.write_bytes(b"keep")
        with pytest.raises(FileExistsError):
            write_private(path, b"new", replace=False)
        assert b"keep" == path.read_bytes()
        assert ["key"] == sorted(p.name for p in tmp_path.iterdir())
        write_private(tmp_path / "fresh", b"new", replace=False)
        assert 0o600 == stat.S_IMODE((tmp_path / "fresh").stat().st_mode)

    def test_symlink_is_refused(self, tmp_path: Path) -> None:
        """A symbolic link at the path is refused and its target left alone."""
        target = tmp_path / "target"
        target.write_bytes(b"keep")
        link = tmp_path / "link"
        link.symlink_to(target)
        with pytest.raises(InvalidInput):
            write_private(link, b"secret")
        assert b"keep" == target.read_bytes()

    def test_failed_rename_keeps_the_old_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the rename fails, the previous file is intact and no temporary file stays."""
        path = tmp_path / "out"
        path.write_bytes(b"old")

        def broken_replace(src: object, dst: object) -> None:
            raise OSError("injected failure")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError, match="injected failure"):
            write_private(path, b"new")
        assert b"old" == path.read_bytes()
        assert ["out"] == sorted(p.name for p in tmp_path.iterdir())

    def test_failed_second_save_counts_the_attempt(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the result of a right PIN cannot be stored, the stored open attempt counts as a
        wrong PIN next time: failing storage never gives a free guess (S16)."""
        path = tmp_path / "w"
        store = _new(path)
        real_replace = os.replace
        calls = iter(range(100))

        def replace_once(src: str, dst: str) -> None:
            if next(calls) == 1:
                raise OSError("injected failure")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace_once)
        with pytest.raises(OSError, match="injected failure"):
            store.code(SERIAL, PIN, now=NOW)
        monkeypatch.undo()
        assert (True, 5) == (
            store.read().info(SERIAL).attempt_open,
            store.read().info(SERIAL).remaining_tries,
        )
        with pytest.raises(WrongPIN) as info:
            store.code(SERIAL, WRONG_PIN, now=NOW)
        assert 3 == info.value.remaining_tries

    def test_failed_save_keeps_the_wallet(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A save that fails leaves the wallet as it was: the PIN still works afterwards."""
        path = tmp_path / "w"
        store = _new(path)
        before = path.read_bytes()

        def broken_replace(src: object, dst: object) -> None:
            raise OSError("injected failure")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError, match="injected failure"):
            store.code(SERIAL, PIN, now=NOW)
        monkeypatch.undo()
        assert before == path.read_bytes()
        assert TOTP(SECRET).generate(NOW) == store.code(SERIAL, PIN, now=NOW)
