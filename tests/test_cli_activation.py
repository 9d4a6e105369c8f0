"""Tests for ``softtoken app activate``, ``app scan``, ``app scan-finish`` and ``app scan-cancel``.

The bank's half runs with the provisioning modules, so that the command is checked against the
protocol it must interoperate with.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import pytest

from softtoken import TOTP
from softtoken._kdf import ScryptParams
from softtoken.cli import _input, activation
from softtoken.provisioning import RegistrationCode, Serial, offline, qr_activation
from softtoken.provisioning.qr_messages import Offer, Request
from tests.test_cli_app import NOW, PIN, SERIAL, App, new_app
from tests.utils import Result

CHEAP = ScryptParams(log2_n=4, r=8, p=1)
URL = "https://bank.example/activate"
# The bank's Ed25519 signing key for QR offers, and the public key the app pins (RFC 8032 §7.1,
# TEST 1).
BANK_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
BANK_KEY = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


@pytest.fixture
def app(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> App:
    """The App runner, with offline activation on cheap parameters (the bank's side below uses
    them too)."""
    monkeypatch.setattr(activation, "ACTIVATION_KDF", CHEAP)
    return new_app(tmp_path, capsys, monkeypatch)


class TestActivate:
    """``app activate``: serial and activation code in, registration code out."""

    def test_end_to_end(self, app: App) -> None:
        """The printed registration code completes the bank's activation, and the identity's
        first code confirms it."""
        assert 0 == app("init").status
        code, pending = offline.start(Serial.parse(SERIAL), now=NOW, kdf=CHEAP)
        codes = app.file("activation.txt", code.display + "\n")
        result = app(
            "activate", "--serial", SERIAL, "--name", "Banco Ejemplo",
            "--activation-code-file", codes, stdin=PIN + "\n",
        )  # fmt: skip
        assert 0 == result.status
        found = re.fullmatch(r"registration code: (\d{5}-\d{5})\n", result.out)
        assert found is not None
        _, pending, secret = offline.complete(
            pending, RegistrationCode.parse(found.group(1)), now=NOW
        )
        assert secret is not None
        shown = app.code(PIN)
        assert (0, TOTP(secret).generate(NOW) + "\n") == (shown.status, shown.out)
        assert offline.Outcome.CONFIRMED == offline.confirm(pending, shown.out.strip(), now=NOW)[0]

    def test_the_activation_code_is_never_an_argument(self, app: App) -> None:
        """There is no option that takes the activation code itself."""
        assert 0 == app("init").status
        result = app(
            "activate", "--serial", SERIAL, "--name", "B", "--activation-code", "1234",
            stdin=PIN + "\n",
        )  # fmt: skip
        assert 2 == result.status
        assert "1234" not in result.err

    def test_mistyped_activation_code(self, app: App) -> None:
        """A typo in the activation code is refused, costs nothing, and is not repeated."""
        assert 0 == app("init").status
        code, _ = offline.start(Serial.parse(SERIAL), now=NOW, kdf=CHEAP)
        typo = code.display[:-1] + str((int(code.display[-1]) + 1) % 10)
        result = app(
            "activate", "--serial", SERIAL, "--name", "B",
            "--activation-code-file", app.file("a.txt", typo), stdin=PIN + "\n",
        )  # fmt: skip
        assert 2 == result.status
        assert "the activation code's check digit does not match; read it again" in result.err
        assert typo[:4] not in result.err
        assert [] == app.listing()

    def test_a_terminal_gets_hidden_prompts(
        self, app: App, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At a terminal the activation code is asked for at a hidden prompt, like the PIN,
        and is never echoed or read from the terminal as plain text."""
        assert 0 == app("init").status
        code, _ = offline.start(Serial.parse(SERIAL), now=NOW, kdf=CHEAP)
        answers = iter([code.display, PIN, PIN])
        prompts: list[str] = []

        def hidden(prompt: str = "") -> str:
            prompts.append(prompt)
            return next(answers)

        monkeypatch.setattr(getpass, "getpass", hidden)
        result = app("activate", "--serial", SERIAL, "--name", "B", "--activation-code-file", "-")
        assert 0 == result.status
        assert ["Activation code: ", "New PIN: ", "Again: "] == prompts
        assert code.display not in result.out + result.err

    def test_code_and_pin_not_both_on_stdin(self, app: App) -> None:
        """Standard input cannot carry both the activation code and the PIN."""
        assert 0 == app("init").status
        result = app(
            "activate", "--serial", SERIAL, "--name", "B", "--activation-code-file", "-",
            stdin="x",
        )  # fmt: skip
        assert 2 == result.status
        assert "--pin-file" in result.err


class TestScan:
    """``app scan`` then ``app scan-finish``: the QR offer, the SMS password, the response."""

    def test_end_to_end(self, app: App, tmp_path: Path) -> None:
        """The printed request is accepted by the bank; its response makes the identity, whose
        codes are the bank's."""
        assert 0 == app("init").status
        offer, password, pending = qr_start(SERIAL)
        result = app(
            "scan", "--offer-file", app.file("offer.txt", offer.to_text() + "\n"),
            "--bank-key-file", bank_key_file(app), stdin=password + "\n",
        )  # fmt: skip
        assert (0, "") == (result.status, result.err)
        assert password not in result.out
        outcome, pending, response, secret = qr_activation.accept(
            pending, Request.parse(result.out.strip()), now=NOW
        )
        assert qr_activation.Outcome.ACCEPTED == outcome
        assert response is not None
        assert secret is not None
        finished = app(
            "scan-finish", "--serial", SERIAL, "--name", "Banco Ejemplo",
            "--response-file", app.file("response.txt", response.to_text()), stdin=PIN + "\n",
        )  # fmt: skip
        assert (0, "activated\n") == (finished.status, finished.out)
        assert TOTP(secret).generate(NOW) + "\n" == app.code(PIN).out

    def test_a_terminal_gets_a_hidden_password_prompt(
        self, app: App, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At a terminal the SMS password is asked for at a hidden prompt, never echoed."""
        assert 0 == app("init").status
        offer, password, _ = qr_start(SERIAL)
        prompts: list[str] = []

        def hidden(prompt: str = "") -> str:
            prompts.append(prompt)
            return password

        monkeypatch.setattr(getpass, "getpass", hidden)
        result = app(
            "scan", "--offer-file", app.file("offer.txt", offer.to_text()),
            "--bank-key-file", bank_key_file(app),
        )  # fmt: skip
        assert (0, ["SMS password: "]) == (result.status, prompts)
        assert password not in result.out + result.err

    def test_a_wrong_response_is_refused_and_the_scan_kept(self, app: App) -> None:
        """A response to another activation is refused; the right one still finishes."""
        assert 0 == app("init").status
        offer, password, pending = qr_start(SERIAL)
        other, other_password, other_pending = qr_start("55501-00001")
        scanned = scan(app, offer, password)
        _, _, response, _ = qr_activation.accept(
            pending, Request.parse(scanned.out.strip()), now=NOW
        )
        request, _ = qr_activation.respond(other, other_password, now=NOW, trusted_keys=[BANK_KEY])
        _, _, foreign, _ = qr_activation.accept(other_pending, request, now=NOW)
        assert response is not None
        assert foreign is not None
        argv = ("scan-finish", "--serial", SERIAL, "--name", "B", "--response-file")
        refused = app(*argv, app.file("f.txt", foreign.to_text()), stdin=PIN + "\n")
        assert 2 == refused.status
        assert "the scan is kept for the right one" in refused.err
        assert 0 == app(*argv, app.file("r.txt", response.to_text()), stdin=PIN + "\n").status

    def test_cancel_drops_the_scan(self, app: App) -> None:
        """``app scan-cancel`` forgets the scan, so the bank's response no longer finishes it;
        a second cancel, with nothing pending, is refused."""
        assert 0 == app("init").status
        offer, password, pending = qr_start(SERIAL)
        scanned = scan(app, offer, password)
        _, _, response, _ = qr_activation.accept(
            pending, Request.parse(scanned.out.strip()), now=NOW
        )
        assert response is not None
        cancelled = app("scan-cancel", "--serial", SERIAL)
        assert (0, "cancelled\n") == (cancelled.status, cancelled.out)
        finish = app(
            "scan-finish", "--serial", SERIAL, "--name", "B",
            "--response-file", app.file("r.txt", response.to_text()), stdin=PIN + "\n",
        )  # fmt: skip
        assert 2 == finish.status
        assert "pending" in finish.err
        assert 2 == app("scan-cancel", "--serial", SERIAL).status

    def test_expired_offer(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        """An offer scanned after its expiry is refused with a word on what to do."""
        assert 0 == app("init").status
        offer, password, _ = qr_start(SERIAL)
        monkeypatch.setattr(_input, "now", lambda: offer.expires)
        result = scan(app, offer, password)
        assert (2, "softtoken: error: the offer has expired; ask the bank for a new one\n") == (
            result.status,
            result.err,
        )

    def test_a_forged_offer_is_refused_before_the_password_is_read(self, app: App) -> None:
        """An offer signed by another key (a forged QR) is refused with a warning, before the
        password is read, and the wallet keeps no scan."""
        assert 0 == app("init").status
        offer, _, _ = qr_start(SERIAL, seed=bytes(range(7, 39)))
        result = app(
            "scan", "--offer-file", app.file("o.txt", offer.to_text()),
            "--bank-key-file", bank_key_file(app), stdin=None,
        )  # fmt: skip
        assert (2, "") == (result.status, result.out)
        assert "not signed by the bank's key (--bank-key-file), so it may be forged" in result.err
        assert [] == app.listing()

    def test_keys_rotate(self, app: App) -> None:
        """With the old and the new bank key pinned (the option repeated), an offer signed by
        the new key is answered."""
        assert 0 == app("init").status
        new_seed = bytes(range(7, 39))
        offer, password, _ = qr_start(SERIAL, seed=new_seed)
        new_key = app.file("new.hex", qr_activation.signing_public_key(new_seed).hex())
        result = app(
            "scan", "--offer-file", app.file("o.txt", offer.to_text()),
            "--bank-key-file", bank_key_file(app), "--bank-key-file", new_key, stdin=password,
        )  # fmt: skip
        assert (0, "") == (result.status, result.err)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "d75a9801",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a00",
            "1_qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "0" * 64,
        ],
    )
    def test_a_bad_bank_key_file(self, app: App, text: str) -> None:
        """A key file that is not 64 hex digits of a usable Ed25519 key is refused, naming
        the file, never its content."""
        assert 0 == app("init").status
        offer, password, _ = qr_start(SERIAL)
        result = app(
            "scan", "--offer-file", app.file("o.txt", offer.to_text()),
            "--bank-key-file", app.file("bank.hex", text), stdin=password,
        )  # fmt: skip
        assert 2 == result.status
        assert "--bank-key-file" in result.err
        assert "not a usable Ed25519 public key (64 hex digits)" in result.err
        assert not text or text not in result.err

    def test_the_bank_key_is_required(self, app: App) -> None:
        """app scan without --bank-key-file is a usage error, and so is the key on stdin."""
        assert 0 == app("init").status
        offer, password, _ = qr_start(SERIAL)
        offer_file = app.file("o.txt", offer.to_text())
        missing = app("scan", "--offer-file", offer_file, stdin=password)
        assert 2 == missing.status
        assert "--bank-key-file" in missing.err
        on_stdin = app(
            "scan", "--offer-file", offer_file, "--password-file", app.file("p", password),
            "--bank-key-file", "-", stdin=BANK_KEY.hex(),
        )  # fmt: skip
        assert 2 == on_stdin.status
        assert "the bank's key must come from a file" in on_stdin.err


def qr_start(serial: str, *, seed: bytes = BANK_SEED) -> tuple[Offer, str, qr_activation.PendingQR]:
    """The bank starts a QR activation of *serial* at NOW, signing its offer with *seed*."""
    return qr_activation.start(Serial.parse(serial), signing_key=seed, now=NOW, url=URL)


def scan(app: App, offer: Offer, password: str) -> Result:
    """``app scan`` of *offer* with *password* on standard input, the bank's key pinned."""
    return app(
        "scan", "--offer-file", app.file("o.txt", offer.to_text()),
        "--bank-key-file", bank_key_file(app), stdin=password,
    )  # fmt: skip


def bank_key_file(app: App) -> str:
    """A --bank-key-file holding the bank's public key in hex, as the bank publishes it."""
    return app.file("bank.hex", BANK_KEY.hex() + "\n")
