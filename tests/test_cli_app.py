"""Tests for ``softtoken app``: the wallet file, the PIN, lockout and unlock through the command."""

from __future__ import annotations

import datetime as dt
import io
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from softtoken import HOTP, TOTP, _random, cli
from softtoken._encoding import b32encode
from softtoken.app import CodeResult, IdentityInfo, Wallet
from softtoken.pinlock import ENTRUST_LIKE, INSECURE_TEST_KDF, PAYSECURE_LIKE
from softtoken.provisioning import build_uri
from softtoken.unlock import UnlockOutcome, compute_unlock_code
from tests.utils import Result, Terminal

# The identity's secret and the device key must never show up in any output.
SECRET = b"app-canary-secret-never-shown"
SERIAL = "93171-12184"
CANONICAL = "9317112184"
PIN = "2580"
NEW_PIN = "7413"
WRONG_PIN = "9753"
NOW = 1_700_000_000
DEVICE_CANARY = b"device-canary-key-never-shown!!!"


def spellings(key: bytes) -> list[str]:
    """Every text form in which a key could leak."""
    encoded = b32encode(key)
    return [encoded, encoded.lower(), key.hex(), key.hex().upper(), key.decode("latin-1")]


class App:
    """Runs ``softtoken app ACTION`` in-process on one wallet; keeps every output for checks."""

    def __init__(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.wallet = tmp_path / "wallet.bin"
        self.device_key = tmp_path / "device.key"
        self.key_file = tmp_path / "key.txt"
        self.key_file.write_text(b32encode(SECRET) + "\n")
        self.outputs: list[str] = []

    def __call__(self, action: str, *argv: str, stdin: str | None = None) -> Result:
        self.monkeypatch.setattr(sys, "stdin", Terminal() if stdin is None else io.StringIO(stdin))
        files = ("--wallet", str(self.wallet), "--device-key-file", str(self.device_key))
        status = cli.main(["app", action, *files, *argv])
        captured = self.capsys.readouterr()
        self.outputs.append(captured.out + captured.err)
        return Result(status, captured.out, captured.err)

    def enrol(self, *argv: str) -> None:
        """init, then add the test identity behind PIN."""
        assert 0 == self("init", *argv).status
        added = self(
            "add", "--serial", SERIAL, "--name", "TESTING ENROLADO", "--key-file",
            str(self.key_file), *argv, stdin=PIN + "\n",
        )  # fmt: skip
        assert (0, "") == (added.status, added.err)

    def code(self, pin: str, *argv: str) -> Result:
        return self("code", "--serial", SERIAL, *argv, stdin=pin + "\n")

    def listing(self, *argv: str) -> list[list[str]]:
        result = self("list", *argv)
        assert 0 == result.status
        return [line.split("\t") for line in result.out.splitlines()]

    def unlock(self, code: str, pin: str = NEW_PIN) -> Result:
        return self("unlock", "--serial", SERIAL, "--unlock-code", code, stdin=pin + "\n")

    def stored(self, profile: str = "entrust") -> IdentityInfo:
        """The identity as the wallet file holds it now."""
        device_key = self.device_key.read_bytes()
        wallet = Wallet.load(self.wallet, device_key=device_key, profile=cli._APP_PROFILES[profile])
        (info,) = wallet.identities()
        return info


@pytest.fixture
def app(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> App:
    """An App runner with a fixed clock and fast test KDF parameters for both profiles."""
    fast = {
        "entrust": attrs.evolve(ENTRUST_LIKE, kdf=INSECURE_TEST_KDF),
        "paysecure": attrs.evolve(PAYSECURE_LIKE, kdf=INSECURE_TEST_KDF),
    }
    monkeypatch.setattr(cli, "_APP_PROFILES", fast)
    monkeypatch.setattr(cli, "_now", lambda: NOW)
    return App(tmp_path, capsys, monkeypatch)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestInit:
    """``app init`` creates the device key and an empty wallet, privately."""

    def test_creates_private_files(self, app: App) -> None:
        """Both files are created with mode 0600 and the wallet is empty."""
        assert 0 == app("init").status
        assert (0o600, 0o600) == (mode(app.wallet), mode(app.device_key))
        assert [] == app.listing()

    def test_device_key_from_randomness_helper(
        self, app: App, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The device key file holds 32 bytes from softtoken's randomness source."""
        monkeypatch.setattr(_random, "_source", lambda n: DEVICE_CANARY[:n])
        app("init")
        assert DEVICE_CANARY == app.device_key.read_bytes()

    def test_existing_device_key_is_kept(self, app: App) -> None:
        """An existing device key file is used, not replaced."""
        app.device_key.write_bytes(DEVICE_CANARY)
        assert 0 == app("init").status
        assert DEVICE_CANARY == app.device_key.read_bytes()

    def test_existing_wallet_is_not_overwritten(self, app: App) -> None:
        """A second init exits 2 and leaves the wallet as it was."""
        app.enrol()
        before = app.wallet.read_bytes()
        result = app("init")
        assert 2 == result.status
        assert "already exists" in result.err
        assert before == app.wallet.read_bytes()

    @pytest.mark.parametrize("size", [0, 31, 33])
    def test_device_key_of_wrong_size(self, app: App, size: int) -> None:
        """A device key file that is not 32 bytes is bad input, and no wallet is made."""
        app.device_key.write_bytes(b"k" * size)
        assert 2 == app("init").status
        assert not app.wallet.exists()


class TestAdd:
    """``app add`` reads the key and the PIN from files or standard input, never argv."""

    def test_key_file_and_stdin_pin(self, app: App) -> None:
        """The identity is listed as active, with its serial, kind, digits and name."""
        app.enrol()
        expected = [[CANONICAL, "active", "5", "totp", "6", "TESTING ENROLADO"]]
        assert expected == app.listing()

    def test_wallet_stays_private(self, app: App) -> None:
        """The wallet rewritten by a change keeps mode 0600."""
        app.enrol()
        assert 0o600 == mode(app.wallet)

    def test_uri_file_and_pin_file(self, app: App, tmp_path: Path) -> None:
        """An otpauth URI gives the parameters and the name; the PIN comes from --pin-file."""
        app("init")
        uri_file, pin_file = tmp_path / "uri.txt", tmp_path / "pin.txt"
        uri_file.write_text(build_uri(SECRET, account="alice", issuer="Bank", digits=8) + "\n")
        pin_file.write_text(PIN)
        result = app(
            "add", "--serial", SERIAL, "--uri-file", str(uri_file), "--pin-file", str(pin_file)
        )
        assert 0 == result.status
        assert [[CANONICAL, "active", "5", "totp", "8", "Bank"]] == app.listing()
        code = app("code", "--serial", SERIAL, "--pin-file", str(pin_file))
        assert (0, TOTP(SECRET, digits=8).generate(NOW) + "\n") == (code.status, code.out)

    def test_weak_pin_refused_with_reasons(self, app: App) -> None:
        """1234 is refused with its machine-readable reason; nothing is added."""
        app("init")
        result = app(
            "add", "--serial", SERIAL, "--name", "X", "--key-file", str(app.key_file),
            stdin="1234\n",
        )  # fmt: skip
        assert 2 == result.status
        assert "(sequential)" in result.err
        assert [] == app.listing()

    def test_key_and_pin_both_on_stdin(self, app: App) -> None:
        """Only one of the key and the PIN may come from standard input."""
        app("init")
        result = app("add", "--serial", SERIAL, "--name", "X", "--key-file", "-", stdin="x\n")
        assert 2 == result.status

    def test_duplicate_serial(self, app: App) -> None:
        """A second identity with the same serial, spelt differently, is refused."""
        app.enrol()
        result = app(
            "add", "--serial", CANONICAL, "--name", "X", "--key-file", str(app.key_file),
            stdin=PIN,
        )  # fmt: skip
        assert 2 == result.status
        assert 1 == len(app.listing())

    def test_name_required_with_key_file(self, app: App) -> None:
        """A raw key has no name to default to."""
        app("init")
        result = app("add", "--serial", SERIAL, "--key-file", str(app.key_file), stdin=PIN)
        assert 2 == result.status

    def test_token_options_refused_with_uri(self, app: App, tmp_path: Path) -> None:
        """The URI carries the token parameters, so --digits with --uri-file is a usage error."""
        app("init")
        uri_file = tmp_path / "uri.txt"
        uri_file.write_text(build_uri(SECRET, account="alice"))
        argv = ("--serial", SERIAL, "--uri-file", str(uri_file), "--digits", "8")
        assert 2 == app("add", *argv, stdin=PIN).status

    def test_hotp_counter_advances(self, app: App) -> None:
        """An HOTP identity shows the codes of counters 5 then 6."""
        app("init")
        argv = ("--serial", SERIAL, "--name", "H", "--key-file", str(app.key_file))
        assert 0 == app("add", *argv, "--hotp", "--counter", "5", stdin=PIN).status
        outputs = [app.code(PIN).out for _ in range(2)]
        expected = [HOTP(SECRET).generate(counter) + "\n" for counter in (5, 6)]
        assert expected == outputs


class TestEditing:
    """``app rename``, ``app delete`` and ``app list``."""

    def test_rename(self, app: App) -> None:
        """The new name is listed."""
        app.enrol()
        assert 0 == app("rename", "--serial", SERIAL, "--name", "PRODUBANCO").status
        assert "PRODUBANCO" == app.listing()[0][-1]

    def test_delete(self, app: App) -> None:
        """A deleted identity is no longer listed, and its code cannot be shown."""
        app.enrol()
        assert 0 == app("delete", "--serial", SERIAL).status
        assert [] == app.listing()
        assert 2 == app.code(PIN).status

    def test_unknown_serial(self, app: App) -> None:
        """Every action on a serial the wallet lacks exits 2."""
        app.enrol()
        statuses = [
            app("rename", "--serial", "1", "--name", "N").status,
            app("delete", "--serial", "1").status,
            app("code", "--serial", "1", stdin=PIN).status,
            app("reset-code", "--serial", "1").status,
        ]
        assert [2, 2, 2, 2] == statuses

    def test_wrong_device_key(self, app: App) -> None:
        """A wallet opened with another device key is refused with exit 2."""
        app.enrol()
        app.device_key.write_bytes(DEVICE_CANARY)
        result = app("list")
        assert 2 == result.status
        assert "another device key" in result.err

    def test_missing_wallet(self, app: App) -> None:
        """A wallet file that does not exist is bad input, not a traceback."""
        app.device_key.write_bytes(DEVICE_CANARY)
        assert 2 == app("list").status


class TestCode:
    """``app code``: exit 0 and the code for the right PIN, 1 otherwise."""

    def test_right_pin(self, app: App) -> None:
        """The printed code is the secret's TOTP code for the clock's time."""
        app.enrol()
        result = app.code(PIN)
        assert (0, TOTP(SECRET).generate(NOW) + "\n", "") == result

    def test_wrong_pin_counted_and_saved(self, app: App) -> None:
        """A wrong PIN exits 1 with the tries left, and the count is in the saved wallet."""
        app.enrol()
        result = app.code(WRONG_PIN)
        assert (1, "") == (result.status, result.out)
        assert "wrong PIN; 4 tries left" in result.err
        assert "4" == app.listing()[0][2]

    @pytest.mark.parametrize("pin", ["12a4", "123", "", "1234567890123", "２５８０"])
    def test_malformed_pin_not_counted(self, app: App, pin: str) -> None:
        """A PIN that is not 4 to 12 ASCII digits is bad input and counts no try."""
        app.enrol()
        assert 2 == app.code(pin).status
        assert "5" == app.listing()[0][2]

    def test_pin_never_from_argv(self, app: App) -> None:
        """A PIN given as an argument is an unrecognised argument, exit 2."""
        app.enrol()
        result = app("code", "--serial", SERIAL, PIN, stdin=PIN)
        assert 2 == result.status
        assert PIN not in result.err

    def test_paysecure_wipes(self, app: App) -> None:
        """Under the paysecure profile, the fifth wrong PIN wipes the identity for good."""
        app.enrol("--profile", "paysecure")
        statuses = [app.code(WRONG_PIN, "--profile", "paysecure").status for _ in range(5)]
        last = app.outputs[-1]
        after = app.code(PIN, "--profile", "paysecure")
        assert [1] * 5 == statuses
        assert "the identity was wiped" in last
        assert (1, "") == (after.status, after.out)
        assert "wiped" == app.listing("--profile", "paysecure")[0][1]


class TestLockAndUnlock:
    """The whole Entrust-like story through the command, with the bank side computed here."""

    def lock(self, app: App) -> None:
        app.enrol()
        statuses = [app.code(WRONG_PIN).status for _ in range(5)]
        assert [1] * 5 == statuses
        assert "now locked" in app.outputs[-1]

    def reset_code(self, app: App) -> str:
        result = app("reset-code", "--serial", SERIAL)
        assert 0 == result.status
        assert re.fullmatch(r"\d{9}\n", result.out)
        return result.out.strip()

    def test_story(self, app: App) -> None:
        """Lock, read the reset code, unlock with the bank's code and a new PIN, show a code."""
        self.lock(app)
        assert "locked" == app.listing()[0][1]
        locked = app.code(PIN)
        assert (1, "") == (locked.status, locked.out)
        unlock_code = compute_unlock_code(SECRET, SERIAL, self.reset_code(app))
        unlock_argv = ("--serial", SERIAL, "--unlock-code", unlock_code)
        old_pin = app("unlock", *unlock_argv, stdin=PIN + "\n")
        assert 2 == old_pin.status
        assert old_pin.err.endswith(" (recently_used)\n")
        unlocked = app("unlock", *unlock_argv, stdin=NEW_PIN + "\n")
        assert (0, "unlocked\n") == (unlocked.status, unlocked.out)
        assert [CANONICAL, "active", "5"] == app.listing()[0][:3]
        assert TOTP(SECRET).generate(NOW) + "\n" == app.code(NEW_PIN).out
        assert 1 == app.code(PIN).status

    def test_unlock_code_works_once(self, app: App) -> None:
        """After an unlock and a new lock, the old unlock code is refused."""
        self.lock(app)
        unlock_code = compute_unlock_code(SECRET, SERIAL, self.reset_code(app))
        argv = ("--serial", SERIAL, "--unlock-code", unlock_code)
        assert 0 == app("unlock", *argv, stdin=NEW_PIN).status
        for _ in range(5):
            app.code(WRONG_PIN)
        assert 1 == app("unlock", *argv, stdin="3691").status

    def test_wrong_unlock_codes(self, app: App) -> None:
        """Wrong codes exit 1; three use up a reset code, and the next one is shown."""
        self.lock(app)
        first = self.reset_code(app)
        wrong = compute_unlock_code(SECRET, SERIAL, first)
        wrong = str((int(wrong) + 1) % 10**8).zfill(8)
        argv = ("--serial", SERIAL, "--unlock-code", wrong)
        results = [app("unlock", *argv, stdin=NEW_PIN) for _ in range(3)]
        assert [1, 1, 1] == [r.status for r in results]
        assert "reset code is used up" in results[-1].err
        assert first != self.reset_code(app)

    def test_malformed_unlock_code(self, app: App) -> None:
        """An unlock code that is not 8 digits is bad input and counts no try."""
        self.lock(app)
        reset = self.reset_code(app)
        for _ in range(3):
            assert 2 == app("unlock", "--serial", SERIAL, "--unlock-code", "12", stdin=NEW_PIN)[0]
        assert reset == self.reset_code(app)

    def test_not_locked(self, app: App) -> None:
        """reset-code and unlock on an active identity exit 2."""
        app.enrol()
        assert 2 == app("reset-code", "--serial", SERIAL).status
        argv = ("--serial", SERIAL, "--unlock-code", "12345678")
        assert 2 == app("unlock", *argv, stdin=NEW_PIN).status

    def test_no_secret_or_pin_in_output(self, app: App) -> None:
        """No spelling of the secret or the device key, and no PIN, appears in any output."""
        self.test_story(app)
        text = "".join(app.outputs)
        device_key = app.device_key.read_bytes()
        assert [] == [s for s in spellings(SECRET) + spellings(device_key) if s in text]
        pins = (PIN, NEW_PIN, WRONG_PIN)
        assert [] == [pin for pin in pins if re.search(rf"(?<!\d){pin}(?!\d)", text)]


def crash_after_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make show_code and unlock check the secret, then die before the command saves."""
    show_code, unlock = Wallet.show_code, Wallet.unlock

    def show_then_die(
        self: Wallet, serial: str, pin: str, *, now: int | dt.datetime
    ) -> tuple[Wallet, CodeResult]:
        show_code(self, serial, pin, now=now)
        raise KeyboardInterrupt

    def unlock_then_die(
        self: Wallet, serial: str, code: str, *, new_pin: str, now: int | dt.datetime
    ) -> tuple[Wallet, UnlockOutcome]:
        unlock(self, serial, code, new_pin=new_pin, now=now)
        raise KeyboardInterrupt

    monkeypatch.setattr(Wallet, "show_code", show_then_die)
    monkeypatch.setattr(Wallet, "unlock", unlock_then_die)


class TestInterruptedRuns:
    """A run killed between its two saves is counted by the next run (no free guesses)."""

    @pytest.fixture
    def crashing(self, app: App) -> Callable[[bool], None]:
        """Turns the crash after the check on (True) or off (False)."""
        originals = (Wallet.show_code, Wallet.unlock)

        def switch(on: bool) -> None:
            if on:
                crash_after_the_check(app.monkeypatch)
            else:
                app.monkeypatch.setattr(Wallet, "show_code", originals[0])
                app.monkeypatch.setattr(Wallet, "unlock", originals[1])

        return switch

    def test_crashed_code_run_is_counted_as_a_wrong_pin(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """The PIN checked by a killed run is stored as an open attempt, counted by the next."""
        app.enrol()
        crashing(True)
        crashed = app.code(WRONG_PIN)
        assert (cli.EXIT_INTERRUPTED, "") == (crashed.status, crashed.out)
        assert app.stored().attempt_open
        crashing(False)

        result = app.code(WRONG_PIN)

        assert "wrong PIN; 3 tries left" in result.err
        assert not app.stored().attempt_open

    def test_right_pin_works_after_a_crash(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """After a killed run, the right PIN still shows the code and clears the count."""
        app.enrol()
        crashing(True)
        app.code(PIN)
        crashing(False)

        result = app.code(PIN)

        assert (0, TOTP(SECRET).generate(NOW) + "\n") == (result.status, result.out)
        assert "5" == app.listing()[0][2]

    @pytest.mark.parametrize(("profile", "status"), [("entrust", "locked"), ("paysecure", "wiped")])
    def test_five_crashed_runs_reach_the_limit(
        self, app: App, crashing: Callable[[bool], None], profile: str, status: str
    ) -> None:
        """Five killed runs, even with the right PIN, lock (entrust) or wipe (paysecure)."""
        app.enrol("--profile", profile)
        crashing(True)
        statuses = [app.code(PIN, "--profile", profile).status for _ in range(5)]
        crashing(False)

        after = app.code(PIN, "--profile", profile)

        assert [cli.EXIT_INTERRUPTED] * 5 == statuses
        assert (1, "") == (after.status, after.out)
        assert status == app.listing("--profile", profile)[0][1]

    def test_malformed_pin_opens_no_attempt(self, app: App) -> None:
        """A PIN refused for its shape leaves no open attempt behind to be counted later."""
        app.enrol()
        assert 2 == app.code("12a4").status
        assert not app.stored().attempt_open
        assert "wrong PIN; 4 tries left" in app.code(WRONG_PIN).err

    def lock(self, app: App) -> str:
        """Lock the identity; return its reset code."""
        app.enrol()
        for _ in range(5):
            app.code(WRONG_PIN)
        return app("reset-code", "--serial", SERIAL).out.strip()

    def test_crashed_unlock_counts_as_a_wrong_code(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """A killed unlock run, even with the bank's right code, is one wrong code: with two
        wrong codes after it, the reset code is used up."""
        reset = self.lock(app)
        right = compute_unlock_code(SECRET, SERIAL, reset)
        wrong = f"{(int(right) + 1) % 10**8:08d}"
        crashing(True)
        assert cli.EXIT_INTERRUPTED == app.unlock(right).status
        crashing(False)

        results = [app.unlock(wrong) for _ in range(2)]

        assert [1, 1] == [r.status for r in results]
        assert "reset code is used up" in results[-1].err
        assert reset != app("reset-code", "--serial", SERIAL).out.strip()

    def test_crashed_unlocks_use_up_reset_codes_then_wipe(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """Three killed unlock runs use up a reset code; the run after says so and tries
        nothing; after the last reset code the identity is wiped."""
        resets, messages = [self.lock(app)], []
        for round_ in range(3):
            right = compute_unlock_code(SECRET, SERIAL, resets[-1])
            crashing(True)
            assert [cli.EXIT_INTERRUPTED] * 3 == [app.unlock(right).status for _ in range(3)]
            crashing(False)
            result = app.unlock(right)
            assert (1, "") == (result.status, result.out)
            messages.append(result.err)
            if round_ < 2:
                resets.append(app("reset-code", "--serial", SERIAL).out.strip())

        assert 3 == len(set(resets))
        assert "reset code is used up" in messages[0]
        assert "reset code is used up" in messages[1]
        assert "the identity was wiped" in messages[2]
        assert "wiped" == app.listing()[0][1]

    def test_bank_code_for_the_new_reset_code_unlocks(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """After crashed runs used up a reset code, the bank's answer to the new one unlocks."""
        reset = self.lock(app)
        crashing(True)
        for _ in range(3):
            app.unlock(compute_unlock_code(SECRET, SERIAL, reset))
        crashing(False)
        app.unlock(compute_unlock_code(SECRET, SERIAL, reset))
        new_reset = app("reset-code", "--serial", SERIAL).out.strip()

        result = app.unlock(compute_unlock_code(SECRET, SERIAL, new_reset))

        assert (0, "unlocked\n") == (result.status, result.out)

    def test_refused_new_pin_and_malformed_code_open_no_attempt(self, app: App) -> None:
        """A new PIN the policy refuses, or a malformed code, exits 2 and leaves no attempt."""
        reset = self.lock(app)
        right = compute_unlock_code(SECRET, SERIAL, reset)

        assert 2 == app.unlock(right, pin=PIN).status
        assert 2 == app.unlock("12").status

        assert not app.stored().attempt_open
        assert (0, "unlocked\n") == app.unlock(right)[:2]


class TestAsProcess:
    """``python -m softtoken app`` with the real KDF parameters."""

    def test_init_add_code(self, tmp_path: Path) -> None:
        """A real run creates private files and prints the current code."""
        files = ["--wallet", str(tmp_path / "w"), "--device-key-file", str(tmp_path / "dk")]
        key_file = tmp_path / "key"
        key_file.write_text(b32encode(SECRET))

        def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "softtoken", "app", *argv, *files]
            return subprocess.run(
                command, input=stdin, capture_output=True, text=True, check=False, timeout=60
            )

        assert 0 == run("init").returncode
        added = run(
            "add", "--serial", SERIAL, "--name", "N", "--key-file", str(key_file), stdin=PIN
        )
        assert (0, "") == (added.returncode, added.stderr)
        code = run("code", "--serial", SERIAL, stdin=PIN)
        assert 0 == code.returncode
        assert re.fullmatch(r"\d{6}\n", code.stdout)
        assert (0o600, 0o600) == (mode(tmp_path / "w"), mode(tmp_path / "dk"))


class TestHelp:
    """Every app action has its own help."""

    @pytest.mark.parametrize(
        "action", ["init", "add", "list", "rename", "delete", "code", "reset-code", "unlock"]
    )
    def test_action_help(self, app: App, action: str) -> None:
        """``softtoken app ACTION --help`` prints its usage and exits 0."""
        result = app(action, "--help")
        assert 0 == result.status
        assert f"usage: softtoken app {action}" in result.out
