"""Tests for ``softtoken app``: the wallet file, the PIN, lockout and unlock through the command."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from softtoken import HOTP, TOTP, _random, cli
from softtoken._encoding import b32encode
from softtoken.app import CodeResult, IdentityInfo, UnlockResult, Wallet
from softtoken.cli import _input
from softtoken.cli import app as cli_app
from softtoken.cli._args import EXIT_INTERRUPTED
from softtoken.cli._messages import (
    check_pin_shape,
    code_refusal,
    pin_rejected,
    plural,
    unlock_refusal,
)
from softtoken.exceptions import (
    NotAccepted,
    PINDelayed,
    PINLocked,
    PINRejected,
    PINWiped,
    UnlockCodeRejected,
    WrongPIN,
)
from softtoken.pinlock import INSECURE_TEST_KDF, PINRejection
from softtoken.provisioning import build_uri
from softtoken.unlock import compute_unlock_code
from tests.utils import Result, Terminal, mode

# The identity's secret and the device key must never show up in any output.
SECRET = b"app-canary-secret-never-shown"
SERIAL = "93171-12184"
CANONICAL = "9317112184"
PIN = "2580"
NEW_PIN = "7413"
WRONG_PIN = "9753"
NOW = 1_700_000_000
DEVICE_CANARY = b"device-canary-key-never-shown!!!"
RESET_HINT = "run 'softtoken app reset-code' and read the reset code to the bank"
WIPED = "the identity was wiped: its key is gone, and only the bank can enrol it again"


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
        self.tmp_path = tmp_path
        self.wallet = tmp_path / "wallet.bin"
        self.device_key = tmp_path / "device.key"
        self.key_file = tmp_path / "key.txt"
        self.key_file.write_text(b32encode(SECRET) + "\n")
        self.outputs: list[str] = []

    def main(self, *argv: str, stdin: str | None = None) -> Result:
        """Run ``softtoken ARGV``; standard input is *stdin*, or a terminal when None."""
        self.monkeypatch.setattr(sys, "stdin", Terminal() if stdin is None else io.StringIO(stdin))
        status = cli.main(list(argv))
        captured = self.capsys.readouterr()
        self.outputs.append(captured.out + captured.err)
        return Result(status, captured.out, captured.err)

    def __call__(self, action: str, *argv: str, stdin: str | None = None) -> Result:
        files = ("--wallet", str(self.wallet), "--device-key-file", str(self.device_key))
        return self.main("app", action, *files, *argv, stdin=stdin)

    def file(self, name: str, text: str) -> str:
        """Write *text* to a file in the test's folder; return its path."""
        path = self.tmp_path / name
        path.write_text(text)
        return str(path)

    def enrol(self, *init: str, add: tuple[str, ...] = ()) -> None:
        """init (with *init*), then add the test identity behind PIN (with *add*)."""
        assert 0 == self("init", *init).status
        added = self(
            "add", "--serial", SERIAL, "--name", "TESTING ENROLADO", "--key-file",
            str(self.key_file), *add, stdin=PIN + "\n",
        )  # fmt: skip
        assert (0, "") == (added.status, added.err)

    def code(self, pin: str, *argv: str) -> Result:
        return self("code", "--serial", SERIAL, *argv, stdin=pin + "\n")

    def listing(self) -> list[list[str]]:
        result = self("list")
        assert 0 == result.status
        return [line.split("\t") for line in result.out.splitlines()]

    def unlock(self, code: str, pin: str = NEW_PIN) -> Result:
        return self("unlock", "--serial", SERIAL, "--unlock-code", code, stdin=pin + "\n")

    def reset_code(self) -> str:
        result = self("reset-code", "--serial", SERIAL)
        assert 0 == result.status
        assert re.fullmatch(r"\d{9}\n", result.out)
        return result.out.strip()

    def lock(self) -> str:
        """Enrol, lock the identity with five wrong PINs; return its reset code."""
        self.enrol()
        statuses = [self.code(WRONG_PIN).status for _ in range(5)]
        assert [1] * 5 == statuses
        return self.reset_code()

    def stored(self) -> IdentityInfo:
        """The identity as the wallet file holds it now."""
        blob, device_key = self.wallet.read_bytes(), self.device_key.read_bytes()
        return Wallet.from_bytes(blob, device_key=device_key).info(SERIAL)


def new_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> App:
    """An App runner with a fixed clock, fast test KDF parameters and no wallet variables."""
    monkeypatch.setattr(cli_app, "KDF", INSECURE_TEST_KDF)
    monkeypatch.setattr(_input, "now", lambda: NOW)
    monkeypatch.delenv("SOFTTOKEN_WALLET", raising=False)
    monkeypatch.delenv("SOFTTOKEN_DEVICE_KEY_FILE", raising=False)
    return App(tmp_path, capsys, monkeypatch)


@pytest.fixture
def app(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> App:
    """The App runner of :func:`new_app`."""
    return new_app(tmp_path, capsys, monkeypatch)


def wrong_code(code: str) -> str:
    """Another code of the same length."""
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


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

    def test_existing_wallet_keeps_the_device_key_missing(self, app: App) -> None:
        """A refused init creates no device key file."""
        app.wallet.write_bytes(b"not mine")
        assert 2 == app("init").status
        assert not app.device_key.exists()

    def test_wallet_in_a_missing_folder(self, app: App) -> None:
        """A wallet path in a folder that does not exist is refused before a device key is made."""
        folder = app.tmp_path / "missing"
        wallet = str(folder / "wallet.bin")
        result = app.main(
            "app", "init", "--wallet", wallet, "--device-key-file", str(app.device_key)
        )
        assert (2, "", f"softtoken: error: --wallet: no such folder: {str(folder)!r}\n") == result
        assert not app.device_key.exists()

    @pytest.mark.parametrize("size", [0, 31, 33])
    def test_device_key_of_wrong_size(self, app: App, size: int) -> None:
        """A device key file that is not 32 bytes is bad input, and no wallet is made."""
        app.device_key.write_bytes(b"k" * size)
        result = app("init")
        assert (2, "") == result[:2]
        assert "exactly 32 bytes" in result.err
        assert not app.wallet.exists()

    @pytest.mark.parametrize(("profile", "limit"), [("entrust", "locks"), ("paysecure", "wipes")])
    def test_profile_is_the_wallets_default(self, app: App, profile: str, limit: str) -> None:
        """--profile at init is stored as the wallet's policy, which new identities get."""
        app.enrol("--profile", profile)
        assert limit == app.listing()[0][3]


class TestAdd:
    """``app add`` reads the key and the PIN from files or standard input, never argv."""

    def test_key_file_and_stdin_pin(self, app: App) -> None:
        """The identity is listed as active, locking, with its serial, kind, digits and name."""
        app.enrol()
        expected = [[CANONICAL, "active", "5", "locks", "totp", "6", "TESTING ENROLADO"]]
        assert expected == app.listing()

    def test_wallet_stays_private(self, app: App) -> None:
        """The wallet rewritten by a change keeps mode 0600."""
        app.enrol()
        assert 0o600 == mode(app.wallet)

    def test_uri_file_and_pin_file(self, app: App) -> None:
        """An otpauth URI gives the parameters and the name; the PIN comes from --pin-file."""
        app("init")
        uri = build_uri(SECRET, account="alice", issuer="Bank", digits=8)
        uri_file, pin_file = app.file("uri.txt", uri + "\n"), app.file("pin.txt", PIN)
        result = app("add", "--serial", SERIAL, "--uri-file", uri_file, "--pin-file", pin_file)
        assert 0 == result.status
        assert [[CANONICAL, "active", "5", "locks", "totp", "8", "Bank"]] == app.listing()
        code = app("code", "--serial", SERIAL, "--pin-file", pin_file)
        assert (0, TOTP(SECRET, digits=8).generate(NOW) + "\n") == (code.status, code.out)

    def test_profile_per_identity(self, app: App) -> None:
        """--profile at add overrides the wallet's default for that identity only."""
        app.enrol(add=("--profile", "paysecure"))
        argv = ("--serial", "0000000018", "--name", "Other", "--key-file", str(app.key_file))
        assert 0 == app("add", *argv, stdin=PIN).status
        assert [["wipes", "TESTING ENROLADO"], ["locks", "Other"]] == [
            [row[3], row[6]] for row in app.listing()
        ]

    def test_weak_pin_refused_with_reasons(self, app: App) -> None:
        """1234 is refused with its reason in words and machine-readable; nothing is added."""
        app("init")
        result = app(
            "add", "--serial", SERIAL, "--name", "X", "--key-file", str(app.key_file),
            stdin="1234\n",
        )  # fmt: skip
        expected = "the new PIN is refused: it is a run of consecutive digits (sequential)"
        assert (2, "", f"softtoken: error: {expected}\n") == result
        assert [] == app.listing()

    @pytest.mark.parametrize(("pin", "length"), [("123", "3"), ("12345", "5")])
    def test_pin_length_message(self, app: App, pin: str, length: str) -> None:
        """A PIN of the wrong length says what the policy allows and what was typed."""
        app("init")
        argv = ("--serial", SERIAL, "--name", "X", "--key-file", str(app.key_file))
        result = app("add", *argv, stdin=pin)
        assert (2, "", f"softtoken: error: a PIN has 4 digits; this one has {length}\n") == result

    @pytest.mark.parametrize("pin_file", [None, "-"])
    def test_key_and_pin_both_on_stdin(self, app: App, pin_file: str | None) -> None:
        """Only one of the key and the PIN may come from standard input."""
        app("init")
        argv = ["--serial", SERIAL, "--name", "X", "--key-file", "-"]
        if pin_file is not None:
            argv += ["--pin-file", pin_file]
        result = app("add", *argv, stdin="x\n")
        assert (2, "") == result[:2]
        assert "cannot both come from standard input" in result.err

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

    @pytest.mark.parametrize(
        "options", [("--digits", "8"), ("--hotp",), ("-s", "60"), ("--algorithm", "sha1")]
    )
    def test_token_options_refused_with_uri(self, app: App, options: tuple[str, ...]) -> None:
        """The URI carries the token parameters, so token options with --uri-file are refused."""
        app("init")
        uri_file = app.file("uri.txt", build_uri(SECRET, account="alice"))
        result = app("add", "--serial", SERIAL, "--uri-file", uri_file, *options, stdin=PIN)
        assert (2, "") == result[:2]
        assert "the URI describes the token" in result.err

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            (("--counter", "5"), "--counter needs --hotp"),
            (("--hotp", "--period", "60"), "--period cannot be used with --hotp"),
        ],
    )
    def test_options_of_the_other_kind(
        self, app: App, options: tuple[str, ...], message: str
    ) -> None:
        """An option of the other token kind is refused, not ignored."""
        app("init")
        argv = ("--serial", SERIAL, "--name", "H", "--key-file", str(app.key_file))
        result = app("add", *argv, *options, stdin=PIN)
        assert (2, "") == result[:2]
        assert message in result.err

    def test_hotp_counter_advances(self, app: App) -> None:
        """An HOTP identity shows the codes of counters 5 then 6."""
        app("init")
        argv = ("--serial", SERIAL, "--name", "H", "--key-file", str(app.key_file))
        assert 0 == app("add", *argv, "--hotp", "--counter", "5", stdin=PIN).status
        outputs = [app.code(PIN).out for _ in range(2)]
        expected = [HOTP(SECRET).generate(counter) + "\n" for counter in (5, 6)]
        assert expected == outputs

    def test_short_key_names_no_flag(self, app: App) -> None:
        """A short key is refused without a hint at a flag that app add does not have."""
        app("init")
        short = app.file("short.txt", b32encode(SECRET[:10]))
        result = app("add", "--serial", SERIAL, "--name", "X", "--key-file", short, stdin=PIN)
        assert (2, "", "softtoken: error: the key must be at least 16 bytes\n") == result


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
            app("rename", "--serial", "0000000018", "--name", "N").status,
            app("delete", "--serial", "0000000018").status,
            app("code", "--serial", "0000000018", stdin=PIN).status,
            app("reset-code", "--serial", "0000000018").status,
            app("unlock", "--serial", "0000000018", "--unlock-code", "12345678", stdin=PIN).status,
        ]
        assert [2, 2, 2, 2, 2] == statuses

    def test_wrong_device_key(self, app: App) -> None:
        """A wallet opened with another device key is refused with exit 2."""
        app.enrol()
        app.device_key.write_bytes(DEVICE_CANARY)
        result = app("list")
        assert 2 == result.status
        assert "another device key" in result.err

    def test_missing_wallet(self, app: App) -> None:
        """A wallet file that does not exist is named, and init is suggested."""
        app.device_key.write_bytes(DEVICE_CANARY)
        expected = f"--wallet: no such file: {str(app.wallet)!r}; 'softtoken app init' makes one"
        assert (2, "", f"softtoken: error: {expected}\n") == app("list")

    def test_missing_device_key(self, app: App) -> None:
        """A device key file that does not exist is named."""
        app.enrol()
        app.device_key.unlink()
        expected = f"--device-key-file: no such file: {str(app.device_key)!r}"
        assert (2, "", f"softtoken: error: {expected}\n") == app("list")

    @pytest.mark.parametrize(
        "argv",
        [
            ("list",),
            ("rename", "--serial", SERIAL, "--name", "N"),
            ("delete", "--serial", SERIAL),
            ("code", "--serial", SERIAL),
            ("reset-code", "--serial", SERIAL),
            ("unlock", "--serial", SERIAL, "--unlock-code", "12345678"),
        ],
    )
    def test_profile_only_at_init_and_add(self, app: App, argv: tuple[str, ...]) -> None:
        """The policy is stored: --profile on any other action is refused, and changes nothing."""
        app.enrol()
        before = app.wallet.read_bytes()
        result = app(*argv, "--profile", "paysecure", stdin=PIN)
        assert (2, "") == result[:2]
        assert "--profile is stored in the wallet" in result.err
        assert before == app.wallet.read_bytes()


class TestCode:
    """``app code``: exit 0 and the code for the right PIN, 1 otherwise."""

    def test_right_pin(self, app: App) -> None:
        """The printed code is the secret's TOTP code for the clock's time."""
        app.enrol()
        result = app.code(PIN)
        assert (0, TOTP(SECRET).generate(NOW) + "\n", "") == result

    def test_wrong_pins_counted_and_saved(self, app: App) -> None:
        """Each wrong PIN exits 1 with the tries left, and the count is in the saved wallet."""
        app.enrol()
        errors = [app.code(WRONG_PIN).err for _ in range(4)]
        expected = [f"softtoken: wrong PIN; {n} left\n" for n in ("4 tries", "3 tries", "2 tries")]
        assert [*expected, "softtoken: wrong PIN; 1 try left\n"] == errors
        assert "1" == app.listing()[0][2]

    def test_fifth_wrong_pin_locks(self, app: App) -> None:
        """The fifth wrong PIN locks, and says what to do; later runs say it is locked."""
        app.lock()
        assert f"softtoken: wrong PIN; the identity is now locked: {RESET_HINT}\n" in app.outputs
        assert (1, "", f"softtoken: the identity is locked: {RESET_HINT}\n") == app.code(PIN)

    @pytest.mark.parametrize(
        ("pin", "message"),
        [
            ("123", "a PIN has 4 digits; this one has 3"),
            ("12345", "a PIN has 4 digits; this one has 5"),
            ("1234567890123", "a PIN has 4 digits; this one has 13"),
            ("12a4", "a PIN has only the digits 0 to 9 (4 digits); this one has other characters"),
            (
                "２５８０",
                "a PIN has only the digits 0 to 9 (4 digits); this one has other characters",
            ),
            ("", "no PIN was given; a PIN has 4 digits"),
        ],
    )
    def test_malformed_pin_not_counted(self, app: App, pin: str, message: str) -> None:
        """A PIN the policy cannot accept is bad input, says why, and counts no try."""
        app.enrol()
        assert (2, "", f"softtoken: error: {message}\n") == app.code(pin)
        assert "5" == app.listing()[0][2]
        assert not app.stored().attempt_open

    def test_pin_never_from_argv(self, app: App) -> None:
        """A PIN given as an argument is an unrecognised argument, exit 2."""
        app.enrol()
        result = app("code", "--serial", SERIAL, PIN, stdin=PIN)
        assert 2 == result.status
        assert PIN not in result.err

    def test_pin_file_missing(self, app: App) -> None:
        """A missing --pin-file is named; one named like a PIN is not."""
        app.enrol()
        missing = str(app.tmp_path / "pin.txt")
        expected = f"softtoken: error: --pin-file: no such file: {missing!r}\n"
        assert (2, "", expected) == app("code", "--serial", SERIAL, "--pin-file", missing)
        result = app("code", "--serial", SERIAL, "--pin-file", WRONG_PIN)
        assert (2, "") == result[:2]
        assert WRONG_PIN not in result.err

    @pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
    def test_pin_file_endless(self, app: App) -> None:
        """--pin-file /dev/zero is refused after 64 KiB; no try is counted."""
        app.enrol()
        result = app("code", "--serial", SERIAL, "--pin-file", "/dev/zero")
        assert (2, "", "softtoken: error: --pin-file: the file holds more than 64 KiB: too "
                "large to be a key, a PIN, a code or a URI\n") == result  # fmt: skip
        assert "5" == app.listing()[0][2]

    def test_paysecure_wipes(self, app: App) -> None:
        """Under a paysecure wallet, the fifth wrong PIN wipes the identity for good."""
        app.enrol("--profile", "paysecure")
        statuses = [app.code(WRONG_PIN).status for _ in range(5)]
        after = app.code(PIN)
        assert [1] * 5 == statuses
        assert f"softtoken: wrong PIN; {WIPED}\n" == app.outputs[-2]
        assert (1, "", f"softtoken: {WIPED}\n") == after
        assert ["wiped", "0", "wipes"] == app.listing()[0][1:4]
        assert (1, "", f"softtoken: {WIPED}\n") == app("reset-code", "--serial", SERIAL)
        assert (1, "", f"softtoken: {WIPED}\n") == app.unlock("12345678")


class TestLockAndUnlock:
    """The whole Entrust-like story through the command, the bank's side included."""

    def bank(self, app: App, reset_code: str) -> str:
        """The unlock code, as ``softtoken unlock-code`` computes it from the bank's key."""
        argv = ("--serial", SERIAL, "--key-file", str(app.key_file), "--reset-code", reset_code)
        result = app.main("unlock-code", *argv)
        assert (0, "") == (result.status, result.err)
        assert compute_unlock_code(SECRET, SERIAL, reset_code) + "\n" == result.out
        return result.out.strip()

    def test_story(self, app: App) -> None:
        """Lock, read the reset code, unlock with the bank's code and a new PIN, show a code."""
        unlock_code = self.bank(app, app.lock())
        assert "locked" == app.listing()[0][1]
        old_pin = app.unlock(unlock_code, pin=PIN)
        expected = "the new PIN is refused: it was used recently (recently_used)"
        assert (2, "", f"softtoken: error: {expected}\n") == old_pin
        assert (0, "unlocked\n", "") == app.unlock(unlock_code)
        assert [CANONICAL, "active", "5"] == app.listing()[0][:3]
        assert TOTP(SECRET).generate(NOW) + "\n" == app.code(NEW_PIN).out
        assert 1 == app.code(PIN).status

    def test_unlock_code_on_standard_input(self, app: App) -> None:
        """--unlock-code - reads the code from standard input, the PIN from --pin-file."""
        unlock_code = self.bank(app, app.lock())
        pin_file = app.file("new-pin.txt", NEW_PIN)
        argv = ("--serial", SERIAL, "--unlock-code", "-", "--pin-file", pin_file)
        assert (0, "unlocked\n", "") == app("unlock", *argv, stdin=unlock_code + "\n")

    def test_unlock_code_file(self, app: App) -> None:
        """--unlock-code-file reads the code from a file, the PIN from standard input."""
        code_file = app.file("unlock.txt", self.bank(app, app.lock()) + "\n")
        argv = ("--serial", SERIAL, "--unlock-code-file", code_file)
        assert (0, "unlocked\n", "") == app("unlock", *argv, stdin=NEW_PIN + "\n")

    @pytest.mark.parametrize("source", [("--unlock-code", "-"), ("--unlock-code-file", "-")])
    @pytest.mark.parametrize("pin_file", [(), ("--pin-file", "-")])
    def test_code_and_pin_both_on_stdin(
        self, app: App, source: tuple[str, ...], pin_file: tuple[str, ...]
    ) -> None:
        """Standard input cannot hold both the unlock code and the new PIN."""
        reset = app.lock()
        result = app("unlock", "--serial", SERIAL, *source, *pin_file, stdin="x")
        assert (2, "") == result[:2]
        assert "cannot both come from standard input: use --pin-file" in result.err
        assert reset == app.reset_code()

    def test_code_and_pin_given_twice(self, app: App) -> None:
        """The unlock code comes one way only, and one way is required."""
        app.lock()
        both = app("unlock", "--serial", SERIAL, "--unlock-code", "1", "--unlock-code-file", "f")
        neither = app("unlock", "--serial", SERIAL)
        assert (2, 2) == (both.status, neither.status)
        assert "not allowed with argument" in both.err
        assert "one of the arguments --unlock-code --unlock-code-file is required" in neither.err

    def test_unlock_code_works_once(self, app: App) -> None:
        """After an unlock and a new lock, the old unlock code is refused."""
        unlock_code = self.bank(app, app.lock())
        assert 0 == app.unlock(unlock_code).status
        for _ in range(5):
            app.code(WRONG_PIN)
        assert 1 == app.unlock(unlock_code, pin="3691").status

    def test_wrong_unlock_codes(self, app: App) -> None:
        """Wrong codes exit 1 with the tries left; the third uses up the reset code."""
        first = app.lock()
        wrong = wrong_code(self.bank(app, first))
        results = [app.unlock(wrong) for _ in range(3)]
        assert [(1, "")] * 3 == [r[:2] for r in results]
        assert [
            "softtoken: the unlock code was not accepted; 2 tries left with this reset code\n",
            "softtoken: the unlock code was not accepted; 1 try left with this reset code\n",
            "softtoken: the unlock code was not accepted, and that reset code is used up: run "
            "'softtoken app reset-code' for the new one and read it to the bank\n",
        ] == [r.err for r in results]
        assert first != app.reset_code()

    @pytest.mark.parametrize("code", ["12", "123456789", "1234567a"])
    def test_malformed_unlock_code(self, app: App, code: str) -> None:
        """An unlock code that is not 8 digits is bad input and counts no try."""
        reset = app.lock()
        for _ in range(3):
            result = app.unlock(code)
            assert (2, "") == result[:2]
            assert "nothing was counted" in result.err
        assert reset == app.reset_code()

    def test_not_locked(self, app: App) -> None:
        """reset-code and unlock on an active identity exit 2."""
        app.enrol()
        assert 2 == app("reset-code", "--serial", SERIAL).status
        assert 2 == app.unlock("12345678").status

    def test_mistyped_reset_code_at_the_bank(self, app: App) -> None:
        """A reset code read out wrongly is caught by its check digit, at the bank."""
        reset = app.lock()
        typo = reset[:-1] + str((int(reset[-1]) + 1) % 10)
        argv = ("--serial", SERIAL, "--key-file", str(app.key_file), "--reset-code", typo)
        expected = "softtoken: error: the reset code's check digit does not match; read it again\n"
        assert (2, "", expected) == app.main("unlock-code", *argv)

    def test_no_secret_or_pin_in_output(self, app: App) -> None:
        """No spelling of the secret or the device key, and no PIN, appears in any output."""
        self.test_story(app)
        text = "".join(app.outputs)
        device_key = app.device_key.read_bytes()
        assert [] == [s for s in spellings(SECRET) + spellings(device_key) if s in text]
        pins = (PIN, NEW_PIN, WRONG_PIN)
        assert [] == [pin for pin in pins if re.search(rf"(?<!\d){pin}(?!\d)", text)]


class TestSerials:
    """--serial is read as a Serial: its shape and check digit are checked before anything."""

    def test_mistyped_serial_is_named(self, app: App) -> None:
        """A serial with a wrong check digit is a usage error naming the serial, not a code."""
        app.enrol()
        result = app("code", "--serial", "93171-12185", stdin=PIN + "\n")
        assert 2 == result.status
        assert "the serial's check digit does not match; read it again" in result.err
        assert "93171" not in result.err

    def test_other_shapes_are_refused(self, app: App) -> None:
        """A serial in another shape is refused, without being repeated."""
        app.enrol()
        result = app("code", "--serial", "9317-112184", stdin=PIN + "\n")
        assert 2 == result.status
        assert "expected a serial: 10 digits, written NNNNN-NNNNN or plain" in result.err


class TestRollback:
    """The version guard beside the device key refuses a restored older wallet."""

    def test_guard_file(self, app: App) -> None:
        """The guard is a private file of its own, beside the device key."""
        app.enrol()
        guard = app.device_key.with_name("device.key.version")
        assert 0o600 == mode(guard)

    def test_restored_copy_is_refused(self, app: App) -> None:
        """A copy saved before wrong PINs, put back, is refused: spent tries stay spent."""
        app.enrol()
        copy = app.wallet.read_bytes()
        assert [1, 1] == [app.code(WRONG_PIN).status for _ in range(2)]
        app.wallet.write_bytes(copy)
        results = [app.code(PIN), app("list")]
        expected = (
            "softtoken: error: the wallet is older than the newest one saved: it was rolled back:"
            " an older or another copy of the wallet would give back spent tries, so it is "
            "refused\n"
        )
        assert [(2, "", expected)] * 2 == results

    def test_another_key_file_name_is_no_way_around(self, app: App) -> None:
        """The device key copied under another name finds no guard record, and is refused
        with the way back named, until 'app adopt' records the wallet."""
        app.enrol()
        assert 1 == app.code(WRONG_PIN).status
        other = app.tmp_path / "other.key"
        other.write_bytes(app.device_key.read_bytes())
        files = ("--wallet", str(app.wallet), "--device-key-file", str(other))
        refused = app.main("app", "list", *files)
        assert 2 == refused.status
        assert "'softtoken app adopt' records it" in refused.err
        assert (0, "adopted\n", "") == app.main("app", "adopt", *files)
        again = app.main("app", "adopt", *files)
        assert (
            2,
            "softtoken: error: the version guard already knows this wallet; nothing to adopt\n",
        ) == (again.status, again.err)
        listed = app.main("app", "list", *files)
        assert "\t4\t" in listed.out


class TestEnvironment:
    """SOFTTOKEN_WALLET and SOFTTOKEN_DEVICE_KEY_FILE stand for --wallet and --device-key-file."""

    def test_variables_replace_the_options(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        """With both variables set, no action needs the two options."""
        monkeypatch.setenv("SOFTTOKEN_WALLET", str(app.wallet))
        monkeypatch.setenv("SOFTTOKEN_DEVICE_KEY_FILE", str(app.device_key))
        assert 0 == app.main("app", "init").status
        argv = ("--serial", SERIAL, "--name", "N", "--key-file", str(app.key_file))
        assert 0 == app.main("app", "add", *argv, stdin=PIN).status
        assert (0, TOTP(SECRET).generate(NOW) + "\n", "") == app.main(
            "app", "code", "--serial", SERIAL, stdin=PIN
        )
        assert app.wallet.exists()

    def test_options_win(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        """An option given overrides its variable."""
        monkeypatch.setenv("SOFTTOKEN_WALLET", str(app.tmp_path / "other.bin"))
        assert 0 == app("init").status
        assert (app.wallet.exists(), False) == (True, (app.tmp_path / "other.bin").exists())

    @pytest.mark.parametrize(
        ("variables", "usage"),
        [
            ({}, "--wallet PATH --device-key-file PATH"),
            ({"SOFTTOKEN_WALLET": ""}, "--wallet PATH --device-key-file PATH"),
            ({"SOFTTOKEN_WALLET": "w"}, "[--wallet PATH] --device-key-file PATH"),
            (
                {"SOFTTOKEN_WALLET": "w", "SOFTTOKEN_DEVICE_KEY_FILE": "k"},
                "[--wallet PATH] [--device-key-file PATH]",
            ),
        ],
    )
    def test_usage_says_what_is_required(
        self, app: App, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], usage: str
    ) -> None:
        """The options are required, without brackets, only while their variable is unset."""
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        assert f"usage: softtoken app list [-h] {usage}\n" in app.main("app", "list", "--help").out


class TestMessages:
    """Messages come from the exception classes and attributes, with plurals that agree."""

    @pytest.mark.parametrize(
        ("number", "expected"), [(0, "0 tries"), (1, "1 try"), (2, "2 tries"), (5, "5 tries")]
    )
    def test_plural(self, number: int, expected: str) -> None:
        """The noun agrees with the number: 1 try, never 1 tries."""
        assert expected == plural(number, "try", "tries")

    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            (WrongPIN(1), "wrong PIN; 1 try left"),
            (WrongPIN(3), "wrong PIN; 3 tries left"),
            (
                PINDelayed(4, retry_after=1),
                "too soon after a wrong PIN: wait 1 second and try again; this PIN was not "
                "checked or counted",
            ),
            (
                PINDelayed(4, retry_after=30),
                "too soon after a wrong PIN: wait 30 seconds and try again; this PIN was not "
                "checked or counted",
            ),
            (PINLocked(just_now=True), f"wrong PIN; the identity is now locked: {RESET_HINT}"),
            (PINLocked(), f"the identity is locked: {RESET_HINT}"),
            (PINWiped(just_now=True), f"wrong PIN; {WIPED}"),
            (PINWiped(), WIPED),
            (NotAccepted(), "the PIN was not accepted"),
        ],
    )
    def test_code_refusal(self, error: NotAccepted, expected: str) -> None:
        """Each refusal of a PIN says what it did."""
        assert expected == code_refusal(error)

    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            (
                UnlockCodeRejected(1),
                "the unlock code was not accepted; 1 try left with this reset code",
            ),
            (
                UnlockCodeRejected(2),
                "the unlock code was not accepted; 2 tries left with this reset code",
            ),
            (
                UnlockCodeRejected(0, new_reset_code=True),
                "the unlock code was not accepted, and that reset code is used up: run "
                "'softtoken app reset-code' for the new one and read it to the bank",
            ),
            (PINWiped(just_now=True), f"the unlock code was not accepted; {WIPED}"),
            (PINWiped(), WIPED),
        ],
    )
    def test_unlock_refusal(self, error: NotAccepted, expected: str) -> None:
        """Each refusal of an unlock code says what it did, and what to do next."""
        assert expected == unlock_refusal(error)

    @pytest.mark.parametrize(
        ("pin", "low", "high", "expected"),
        [
            ("123", 4, 4, "a PIN has 4 digits; this one has 3"),
            ("12345", 4, 4, "a PIN has 4 digits; this one has 5"),
            ("123", 4, 6, "a PIN has 4 to 6 digits; this one has 3"),
            ("1234567", 4, 6, "a PIN has 4 to 6 digits; this one has 7"),
        ],
    )
    def test_pin_shape(self, pin: str, low: int, high: int, expected: str) -> None:
        """The PIN-length message says what the policy allows and what was typed."""
        with pytest.raises(_input.BadInput) as raised:
            check_pin_shape(pin, low, high)
        assert expected == str(raised.value)

    def test_pin_rejected(self) -> None:
        """Every reason is given in words, then by its name."""
        error = PINRejected(frozenset({PINRejection.SEQUENTIAL, PINRejection.DENY_LISTED}))
        expected = (
            "the new PIN is refused: it is too common; it is a run of consecutive digits "
            "(deny_listed, sequential)"
        )
        assert expected == pin_rejected(error)


class TestUsageLines:
    """Usage lines show required options without brackets, and required choices in parens."""

    @pytest.mark.parametrize(
        ("argv", "parts"),
        [
            (
                ("app", "add"),
                ["--serial SERIAL", "(--key-file PATH | --uri-file PATH)", "[--pin-file PATH]"],
            ),
            (("app", "rename"), ["--serial SERIAL --name NAME"]),
            (("app", "unlock"), ["(--unlock-code CODE | --unlock-code-file PATH)"]),
            (("app", "init"), ["[--profile {entrust,paysecure}]"]),
            (
                ("unlock-code",),
                [
                    "--serial SERIAL [--reset-code CODE | --reset-code-file PATH]",
                    " --key-file PATH ",
                ],
            ),
            (("verify",), ["(CODE | --code-file PATH) [KEY]"]),
        ],
    )
    def test_usage(self, app: App, argv: tuple[str, ...], parts: list[str]) -> None:
        """The usage line of --help holds each part."""
        out = app.main(*argv, "--help").out
        usage = " ".join(out[: out.index("\n\n")].split())
        assert [] == [part for part in parts if part not in usage]
        assert "--wallet PATH --device-key-file PATH" in usage or argv[0] != "app"


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
    ) -> tuple[Wallet, UnlockResult]:
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
        assert (EXIT_INTERRUPTED, "") == (crashed.status, crashed.out)
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
        statuses = [app.code(PIN).status for _ in range(5)]
        crashing(False)

        after = app.code(PIN)

        assert [EXIT_INTERRUPTED] * 5 == statuses
        assert (1, "") == (after.status, after.out)
        assert status == app.listing()[0][1]

    def test_malformed_pin_opens_no_attempt(self, app: App) -> None:
        """A PIN refused for its shape leaves no open attempt behind to be counted later."""
        app.enrol()
        assert 2 == app.code("12a4").status
        assert not app.stored().attempt_open
        assert "wrong PIN; 4 tries left" in app.code(WRONG_PIN).err

    def test_crashed_unlock_counts_as_a_wrong_code(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """A killed unlock run, even with the bank's right code, counts as one wrong code."""
        reset = app.lock()
        right = compute_unlock_code(SECRET, SERIAL, reset)
        crashing(True)
        assert EXIT_INTERRUPTED == app.unlock(right).status
        crashing(False)

        results = [app.unlock(wrong_code(right)) for _ in range(2)]

        assert [1, 1] == [r.status for r in results]
        assert "reset code is used up" in results[-1].err
        assert reset != app.reset_code()

    def test_crashed_unlocks_use_up_reset_codes_then_wipe(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """Killed unlock runs use up each reset code in turn, then wipe the identity."""
        resets, messages = [app.lock()], []
        for round_ in range(3):
            right = compute_unlock_code(SECRET, SERIAL, resets[-1])
            crashing(True)
            assert [EXIT_INTERRUPTED] * 3 == [app.unlock(right).status for _ in range(3)]
            crashing(False)
            result = app.unlock(right)
            assert (1, "") == (result.status, result.out)
            messages.append(result.err)
            if round_ < 2:
                resets.append(app.reset_code())

        assert 3 == len(set(resets))
        assert "reset code is used up" in messages[0]
        assert "reset code is used up" in messages[1]
        assert "the identity was wiped" in messages[2]
        assert "wiped" == app.listing()[0][1]

    def test_bank_code_for_the_new_reset_code_unlocks(
        self, app: App, crashing: Callable[[bool], None]
    ) -> None:
        """After crashed runs used up a reset code, the bank's answer to the new one unlocks."""
        reset = app.lock()
        crashing(True)
        for _ in range(3):
            app.unlock(compute_unlock_code(SECRET, SERIAL, reset))
        crashing(False)
        app.unlock(compute_unlock_code(SECRET, SERIAL, reset))

        result = app.unlock(compute_unlock_code(SECRET, SERIAL, app.reset_code()))

        assert (0, "unlocked\n") == (result.status, result.out)

    def test_refused_new_pin_and_malformed_code_open_no_attempt(self, app: App) -> None:
        """A new PIN the policy refuses, or a malformed code, exits 2 and leaves no attempt."""
        reset = app.lock()
        right = compute_unlock_code(SECRET, SERIAL, reset)

        assert 2 == app.unlock(right, pin=PIN).status
        assert 2 == app.unlock(right, pin="1111").status
        assert 2 == app.unlock("12").status

        assert not app.stored().attempt_open
        assert (0, "unlocked\n") == app.unlock(right)[:2]


class TestAsProcess:
    """``python -m softtoken app`` with the real KDF parameters and the wallet variables."""

    def test_init_add_code(self, tmp_path: Path) -> None:
        """A real run creates private files and prints the current code."""
        key_file = tmp_path / "key"
        key_file.write_text(b32encode(SECRET))
        variables = {
            "SOFTTOKEN_WALLET": str(tmp_path / "w"),
            "SOFTTOKEN_DEVICE_KEY_FILE": str(tmp_path / "dk"),
        }

        def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "softtoken", "app", *argv],
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
                env={"PATH": "/usr/bin:/bin", **variables},
            )

        assert 0 == run("init").returncode
        added = run(
            "add", "--serial", SERIAL, "--name", "N", "--key-file", str(key_file), stdin=PIN
        )
        assert (0, "") == (added.returncode, added.stderr)
        code = run("code", "--serial", SERIAL, stdin=PIN)
        assert (0, "") == (code.returncode, code.stderr)
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
