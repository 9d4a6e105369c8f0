"""Tests for ``examples/demo.py``, the story that ``make demo`` tells."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from softtoken import TOTP, _random
from softtoken._encoding import b32encode
from softtoken._kdf import ScryptParams
from softtoken.app import CodeResult, UnlockResult, Wallet, WalletFile
from softtoken.pinlock import INSECURE_TEST_KDF, Status
from softtoken.unlock import compute_unlock_code

DEMO = Path(__file__).parent.parent / "examples" / "demo.py"

# The key the demo is given instead of random bytes; it must never show up in its output.
CANARY = b"demo-canary-key!" * 4
# With the canary source, every key the demo draws is a prefix of it: the TOTP keys (20 bytes)
# and the wallet's device key (32 bytes).
SECRET = CANARY[:20]
DEVICE_KEY = CANARY[:32]
# The wall clock the in-process runs see.
NOW = 1_700_000_000


def canary_source(n: int) -> bytes:
    return CANARY[:n]


def spellings(key: bytes) -> list[str]:
    """Every text form in which a key could leak."""
    encoded = b32encode(key)
    return [encoded, encoded.lower(), key.hex(), key.hex().upper(), key.decode("ascii")]


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The demo module, loaded from its file, with the canary as the randomness source.

    The wallet runs with fast test KDF parameters so that the many in-process runs stay quick;
    ``test_runs_as_a_script`` runs the real ones.
    """
    monkeypatch.setattr(_random, "_source", canary_source)
    spec = importlib.util.spec_from_file_location("softtoken_demo", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "APP_KDF", INSECURE_TEST_KDF)
    monkeypatch.setattr(module, "APP_ACTIVATION_KDF", ScryptParams(log2_n=4, r=8, p=1))
    monkeypatch.setattr(module.time, "time", lambda: float(NOW))
    return module


def chapter(out: str, number: int) -> str:
    """The text of chapter *number*, from its heading to the next one."""
    start = out.index(f"\n{number}. ")
    end = out.find(f"\n{number + 1}. ", start)
    return out[start:] if end == -1 else out[start:end]


class TestDemo:
    """The demo tells the issue's story and never prints the secret."""

    def test_story_succeeds(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """main() returns 0: every chapter had its expected outcome."""
        assert 0 == demo.main()

    def test_chapters_in_order(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """The fifteen chapters appear, with their headings, in the story's order."""
        demo.main()
        out = capsys.readouterr().out
        headings = [f"\n{n}. " for n in range(1, 16)]
        positions = [out.find(heading) for heading in headings]
        assert -1 not in positions
        assert sorted(positions) == positions

    def test_outcomes(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """The code is accepted once; the replay and the 3-step-old code are refused."""
        demo.main()
        out = capsys.readouterr().out
        assert 1 == out.count("accepted: Match(counter=")
        assert 2 == out.count("refused: the code was not accepted")
        assert "UNEXPECTEDLY" not in out

    def test_uri_is_masked(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """The URI is printed with its secret replaced by ****."""
        demo.main()
        out = capsys.readouterr().out
        assert "secret=****" in out
        assert "otpauth://totp/" in out

    def test_key_comes_from_the_randomness_helper(
        self, demo: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The demo's key is the canary, so the secrecy test below checks the real key."""
        token, _uri = demo.create_token()
        assert CANARY[:20] == token.key

    def test_secret_never_printed(
        self, demo: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No spelling of the key appears on stdout or stderr."""
        demo.main()
        captured = capsys.readouterr()
        assert [] == [s for s in spellings(CANARY[:20]) if s in captured.out + captured.err]

    def test_runs_as_a_script(self) -> None:
        """``python examples/demo.py``, what ``make demo`` runs, exits 0 with the real KDF."""
        result = subprocess.run(
            [sys.executable, str(DEMO)], capture_output=True, text=True, check=False, timeout=60
        )
        assert (0, "") == (result.returncode, result.stderr)
        assert "6. A code from 3 steps ago" in result.stdout
        assert "14. An old copy of the wallet" in result.stdout
        assert "15. Offline activation" in result.stdout
        assert "fast test KDF" not in result.stdout
        assert "UNEXPECTED" not in result.stdout


class TestAppChapters:
    """Chapters 7 to 14: the wallet file's PIN, lockout, unlock and rollback story."""

    def test_wallet_listing(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """Chapter 7 lists the identity under its first name, then under the new one."""
        demo.main()
        text = chapter(capsys.readouterr().out, 7)
        first = text.index("9317112184  'TESTING ENROLADO'")
        assert first < text.index("9317112184  'Banco Ejemplo - ahorros'")

    def test_weak_pins_refused(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """Chapter 8 shows 1111 and 1234 refused with their reasons in words, then a code."""
        demo.main()
        text = chapter(capsys.readouterr().out, 8)
        assert "PIN 1111 refused: one digit repeated\n" in text
        assert "PIN 1234 refused: a run of consecutive digits\n" in text
        assert f"the app shows: {TOTP(SECRET).generate(NOW)} (5 tries left)" in text

    def test_wrong_pins_lock(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """Chapter 9: four wrong PINs count down, the fifth locks, and the right PIN is shut out."""
        demo.main()
        text = chapter(capsys.readouterr().out, 9)
        expected = [
            f"wrong PIN {n}: wrong, {5 - n} {'try' if n == 4 else 'tries'} left"
            for n in range(1, 5)
        ]
        assert expected == re.findall(r"wrong PIN \d: wrong, \d tr(?:y|ies) left", text)
        assert "wrong PIN 5: the identity is now locked" in text
        assert "Even the right PIN is now refused" in text
        assert "locked, 0 PIN tries left" in text

    def test_bank_unlock_code(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """The unlock code in chapter 11 answers the reset code of chapter 10 for this secret."""
        demo.main()
        out = capsys.readouterr().out
        found = re.search(r"reset code (\d{3} \d{3} \d{3});", chapter(out, 10))
        assert found is not None
        expected = compute_unlock_code(SECRET, "93171-12184", found.group(1))
        assert f") = {expected}\n" in chapter(out, 11)

    def test_unlock(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """Chapter 12: a wrong code costs a try, the previous PIN is refused after the right
        code, and the good new PIN unlocks."""
        demo.main()
        text = chapter(capsys.readouterr().out, 12)
        assert "A mistyped unlock code: not accepted, 2 tries left." in text
        assert "refused (used recently)." in text
        assert "with a good new PIN: unlocked.\n" in text
        assert "active, 5 PIN tries left" in text

    def test_code_after_unlock(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """Chapter 13: the new PIN shows the secret's TOTP code; the old PIN is wrong."""
        demo.main()
        text = chapter(capsys.readouterr().out, 13)
        assert f"With the new PIN the app shows: {TOTP(SECRET).generate(NOW)}\n" in text
        assert "The old PIN now gets: wrong, 4 tries left" in text

    def test_rollback_refused(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """Chapter 14: the copied-back wallet file is refused."""
        demo.main()
        text = chapter(capsys.readouterr().out, 14)
        assert "The app refuses it: the wallet is older than the newest one saved" in text

    def test_offline_activation(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """Chapter 15: serial and activation code shown, a registration code answered, the
        bank completing and the first code confirming."""
        demo.main()
        text = chapter(capsys.readouterr().out, 15)
        assert "shows serial 55501-00001 and a one-time activation code," in text
        assert re.search(r"registration code \d{5}-\d{5}\.", text)
        assert "caught by its check digit at the bank, and costs nothing" in text
        assert "The bank derives the same secret: awaiting first code." in text
        assert re.search(r"first code, \d{6}, confirms it: confirmed\.", text)

    def test_every_check_is_made_on_a_stored_attempt(
        self, demo: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each PIN and unlock code is checked on exactly the wallet on disk at that moment,
        with its attempt open: the attempt was stored before the secret was evaluated."""
        checked: list[bool] = []
        show_code, unlock = Wallet.show_code, Wallet.unlock
        files: list[WalletFile] = []
        open_app = demo.open_app

        def recording_open_app(folder: Any) -> WalletFile:
            files.append(open_app(folder))
            return files[-1]

        def on_disk(wallet: Wallet) -> bool:
            stored = Wallet.from_bytes(
                files[-1].path.read_bytes(), device_key=wallet.device_key, kdf=wallet.kdf
            )
            opened = any(
                info.attempt_open or info.status is not Status.ACTIVE
                for info in wallet.identities()
            )
            return stored == wallet and opened

        def recording_show_code(
            self: Wallet, serial: str, pin: str, *, now: int | dt.datetime
        ) -> tuple[Wallet, CodeResult]:
            checked.append(on_disk(self))
            return show_code(self, serial, pin, now=now)

        def recording_unlock(
            self: Wallet, serial: str, code: str, *, new_pin: str, now: int | dt.datetime
        ) -> tuple[Wallet, UnlockResult]:
            checked.append(on_disk(self))
            return unlock(self, serial, code, new_pin=new_pin, now=now)

        monkeypatch.setattr(demo, "open_app", recording_open_app)
        monkeypatch.setattr(Wallet, "show_code", recording_show_code)
        monkeypatch.setattr(Wallet, "unlock", recording_unlock)

        assert 0 == demo.main()
        # One right PIN, five wrong and one while locked, three unlock tries, two PINs after,
        # one more wrong PIN before the rollback, and the first code of chapter 15.
        assert [True] * 14 == checked
        assert "stored before its PIN is checked" in chapter(capsys.readouterr().out, 9)

    def test_unexpected_outcome_fails(
        self, demo: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """main() returns 1 when the "wrong" PINs are in fact right and nothing locks."""
        monkeypatch.setattr(demo, "WRONG_PIN", demo.FIRST_PIN)
        assert 1 == demo.main()
        assert "UNEXPECTED: the wrong PINs did not end in a lock" in capsys.readouterr().out

    def test_fast_kdf_is_announced(
        self, demo: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A run with the fast test KDF says so in its output."""
        demo.main()
        assert "(this run uses fast test KDF parameters" in chapter(capsys.readouterr().out, 7)

    def test_device_key_never_printed(
        self, demo: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No spelling of the device key appears on stdout or stderr."""
        demo.main()
        captured = capsys.readouterr()
        assert [] == [s for s in spellings(DEVICE_KEY) if s in captured.out + captured.err]

    def test_accepted_pins_never_printed(
        self, demo: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The PINs the wallet takes, and the wrong PIN typed, never appear in the output."""
        demo.main()
        captured = capsys.readouterr()
        pins = (demo.FIRST_PIN, demo.NEW_PIN, demo.WRONG_PIN)
        text = captured.out + captured.err
        assert [] == [pin for pin in pins if re.search(rf"(?<!\d){pin}(?!\d)", text)]

    def test_no_real_bank_name(self, demo: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        """The story names only an invented bank, and says Entrust-style, not Entrust."""
        demo.main()
        out = capsys.readouterr().out
        for name in ("PRODUBANCO", "Produbanco", "Pichincha", "Internacional", "Occidente"):
            assert name not in out
        assert [] == re.findall(r"Entrust(?!-style)", out)
