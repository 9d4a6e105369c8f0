"""Tests for ``softtoken issuer``: the administrators' verbs over a SQLite file, their inputs,
exit statuses and messages, the audit table and its chain check, and that no seed, key or code
typed in ever comes back.

The app's half of offline activation runs with :mod:`softtoken.provisioning.offline`, at the
test cost (``FAST_KDF``), which the command picks up from ``softtoken.cli.activation``.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import io
import re
import sqlite3
import sys
from pathlib import Path
from typing import Final

import pytest

from softtoken import TOTP, cli
from softtoken._encoding import b32encode
from softtoken.cli import _input, _issuer_session, activation
from softtoken.cli._main import build_parser
from softtoken.exceptions import SchemaMismatch
from softtoken.issuer import Keyring
from softtoken.issuer.stores import SQLStore
from softtoken.provisioning import ActivationCode, RegistrationCode, Serial, TokenParams, offline
from softtoken.provisioning.offline import OFFLINE_KDF
from softtoken.unlock import compute_unlock_code, display_reset_code
from tests.issuer_support import FAST_KDF, NOW
from tests.utils import Result, Terminal, mode

KEY_ONE: Final = b"keyring-canary-one-never-shown!!"
KEY_TWO: Final = b"keyring-canary-two-never-shown!!"
RING_ONE: Final = "k1:" + base64.b64encode(KEY_ONE).decode()
RING_TWO: Final = "k2:" + base64.b64encode(KEY_TWO).decode()
ACTOR: Final = "admin-1"
USER: Final = "laura"
# A reset code whose Damm check digit holds (softtoken.unlock), and the same with a typo.
RESET_CODE: Final = "769764877"
MISTYPED_RESET: Final = "769764878"
NOT_ACCEPTED: Final = Result(1, "not accepted\n", "")


def spellings(secret: bytes) -> list[str]:
    """Every text form in which a seed or a key could leak."""
    encoded = b32encode(secret)
    return [
        encoded,
        encoded.lower(),
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        secret.decode("latin-1"),
    ]


class Admin:
    """Runs ``softtoken issuer ACTION`` in-process on one SQLite file, with the key ring, the
    actor and the database in the environment, at a fixed time; keeps every output."""

    def __init__(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.path = tmp_path / "issuer.db"
        self.now = NOW
        self.outputs: list[str] = []
        self.secrets: list[bytes] = [KEY_ONE, KEY_TWO]
        monkeypatch.setenv("SOFTTOKEN_ISSUER_DB", f"sqlite:///{self.path}")
        monkeypatch.setenv("SOFTTOKEN_KEYRING", RING_ONE)
        monkeypatch.setenv("SOFTTOKEN_ACTOR", ACTOR)
        monkeypatch.setattr(_input, "now", lambda: self.now)
        monkeypatch.setattr(activation, "ACTIVATION_KDF", FAST_KDF)

    def main(self, *argv: str, stdin: str | None = None) -> Result:
        """Run ``softtoken ARGV``; standard input is *stdin*, or a terminal when None."""
        self.monkeypatch.setattr(sys, "stdin", Terminal() if stdin is None else io.StringIO(stdin))
        status = cli.main(list(argv))
        captured = self.capsys.readouterr()
        self.outputs.append(captured.out + captured.err)
        return Result(status, captured.out, captured.err)

    def __call__(self, action: str, *argv: str, stdin: str | None = None) -> Result:
        return self.main("issuer", action, *argv, stdin=stdin)

    def ok(self, action: str, *argv: str, stdin: str | None = None) -> str:
        """Run an action that must succeed; its standard output."""
        result = self(action, *argv, stdin=stdin)
        assert 0 == result.status
        return result.out

    def file(self, name: str, text: str) -> str:
        path = self.tmp_path / name
        path.write_text(text)
        return str(path)

    def create(self, *argv: str) -> str:
        """One new token (in *argv*'s pool, if given); its serial as printed."""
        return self.ok("create", "--count", "1", *argv).strip()

    def activate(self, serial: str, *, user: str = USER) -> TOTP:
        """Assign *serial* to *user* and take it through offline activation and its first code,
        the app's half computed here; returns the app's token."""
        self.ok("assign", serial, "--user", user)
        started = self.ok("start-activation", serial, "--ttl", "10m").splitlines()
        code = ActivationCode.parse(started[1].removeprefix("activation code: "))
        registration, secret = offline.respond(Serial.parse(serial), code, kdf=FAST_KDF)
        self.secrets.append(secret)
        self.ok("complete-activation", serial, stdin=registration.display + "\n")
        token = TOTP(secret)
        assert "accepted: step 60000000 drift +0\n" == self.ok(
            "verify", "--serial", serial, stdin=token.generate(self.now)
        )
        return token

    def state(self, serial: str) -> str:
        for line in self.ok("show", serial).splitlines():
            if line.startswith("state: "):
                return line.removeprefix("state: ")
        raise AssertionError("show printed no state")

    def sql(self, statement: str, *parameters: str) -> None:
        """Run *statement* on the database file directly, as someone with the file would."""
        with sqlite3.connect(self.path) as connection:
            connection.execute(statement, parameters)
        connection.close()

    def leaks(self) -> list[str]:
        """Every spelling of a seed or a key-ring key found in any output so far."""
        return [
            text
            for secret in self.secrets
            for text in spellings(secret)
            if any(text in output for output in self.outputs)
        ]


@pytest.fixture
def admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Admin:
    """An Admin on a database that ``issuer init`` made."""
    made = Admin(tmp_path, capsys, monkeypatch)
    assert "the issuer database is ready\n" == made.ok("init")
    return made


@pytest.fixture
def bare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Admin:
    """An Admin whose database does not exist yet."""
    return Admin(tmp_path, capsys, monkeypatch)


def table(out: str) -> list[list[str]]:
    """The rows of a table the command printed (header first), split on runs of 2+ spaces."""
    return [re.split(r" {2,}", line) for line in out.splitlines()]


# --------------------------------------------------------------------------------------------


class TestInit:
    """``issuer init`` makes the schema; every other action needs it."""

    def test_makes_a_private_database(self, bare: Admin) -> None:
        """init creates the SQLite file with mode 0600."""
        assert "the issuer database is ready\n" == bare.ok("init")
        assert 0o600 == mode(bare.path)

    def test_is_idempotent(self, admin: Admin) -> None:
        """A second init on a ready database changes nothing and keeps its tokens."""
        serial = admin.create()
        assert "the issuer database is ready\n" == admin.ok("init")
        assert serial in admin.ok("list")

    def test_missing_database_names_init(self, bare: Admin) -> None:
        """Without a database file, an action says to run init and creates no file."""
        result = bare("list")
        assert (2, "") == result[:2]
        assert "no such database file" in result.err
        assert "'softtoken issuer init' creates it" in result.err
        assert not bare.path.exists()

    def test_empty_database_names_init(self, bare: Admin) -> None:
        """A database file without the schema is refused, with the advice to run init."""
        sqlite3.connect(bare.path).close()
        result = bare("list")
        assert (2, "") == result[:2]
        assert "run 'softtoken issuer init'" in result.err

    def test_newer_schema_is_refused(self, admin: Admin) -> None:
        """A schema made by a newer softtoken is refused by name, with status 2."""
        admin.sql("UPDATE softtoken_meta SET value = '99' WHERE name = 'schema'")
        result = admin("list")
        assert (2, "", f"softtoken: error: {_issuer_session.NO_SCHEMA}\n") == result

    def test_missing_folder(self, bare: Admin) -> None:
        """init in a folder that does not exist is refused, naming the folder."""
        missing = bare.tmp_path / "nowhere"
        result = bare.main("issuer", "--db", f"sqlite:///{missing}/x.db", "init")
        assert (2, "", f"softtoken: error: --db: no such folder: {str(missing)!r}\n") == result

    def test_unusable_url(self, bare: Admin) -> None:
        """A URL SQLAlchemy cannot use is refused without being repeated."""
        url = "nosuchdialect://user:pa55word-canary@host/db"
        result = bare("list", "--db", url)
        assert (2, "") == result[:2]
        assert "pa55word-canary" not in result.err

    def test_store_refuses_a_missing_schema_as_documented(self, tmp_path: Path) -> None:
        """SQLStore(create=False) on an empty database raises SchemaMismatch, as its
        docstring says (the command relies on either error, so it reports both alike)."""
        path = tmp_path / "empty.db"
        sqlite3.connect(path).close()
        with pytest.raises(SchemaMismatch):
            SQLStore(f"sqlite:///{path}", create=False)


class TestOptions:
    """The group's options: --db, the key ring, --actor, before or after the action."""

    def test_options_before_or_after_the_action(self, admin: Admin) -> None:
        """--db and --actor work before the action and after it; after it wins."""
        other = admin.tmp_path / "other.db"
        url = f"sqlite:///{other}"
        assert 0 == admin.main("issuer", "--db", url, "init").status
        made = admin.main("issuer", "--db", url, "--actor", "ana", "create", "--count", "1")
        serial = made.out.strip()
        assert 0 == made.status
        assert serial in admin("list", "--db", url).out
        assert serial not in admin("list").out
        listed = admin.main("issuer", "--db", "sqlite:///nowhere.db", "list", "--db", url)
        assert (0, True) == (listed.status, serial in listed.out)
        assert "ana" == table(admin("audit", serial, "--db", url).out)[1][3]

    def test_default_database_is_in_the_current_folder(
        self, bare: Admin, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without --db or $SOFTTOKEN_ISSUER_DB, the database is softtoken-issuer.db here."""
        monkeypatch.delenv("SOFTTOKEN_ISSUER_DB")
        monkeypatch.chdir(bare.tmp_path)
        bare.ok("init")
        assert 0o600 == mode(bare.tmp_path / "softtoken-issuer.db")

    def test_no_key_ring(self, admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without $SOFTTOKEN_KEYRING or --keyring-file, the action says how to give one."""
        monkeypatch.delenv("SOFTTOKEN_KEYRING")
        result = admin("list")
        assert (2, "") == result[:2]
        assert "no key ring: set SOFTTOKEN_KEYRING or give --keyring-file PATH" in result.err

    def test_key_ring_file(self, admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
        """--keyring-file is read when given, and a private file draws no warning."""
        serial = admin.create()
        monkeypatch.delenv("SOFTTOKEN_KEYRING")
        ring = admin.tmp_path / "ring"
        ring.write_text(RING_ONE + "\n")
        ring.chmod(0o600)
        assert serial in admin.ok("list", "--keyring-file", str(ring))

    def test_readable_key_ring_file_is_warned_about(self, admin: Admin) -> None:
        """A key ring file other users may read draws a warning on standard error."""
        ring = admin.tmp_path / "ring"
        ring.write_text(RING_ONE)
        ring.chmod(0o644)
        result = admin("list", "--keyring-file", str(ring))
        assert 0 == result.status
        assert "other users may read the key ring file" in result.err

    def test_missing_key_ring_file_is_named(self, admin: Admin) -> None:
        """A missing key ring file is named in the error."""
        missing = str(admin.tmp_path / "ring.txt")
        result = admin("list", "--keyring-file", missing)
        assert (2, "", f"softtoken: error: --keyring-file: no such file: {missing!r}\n") == result

    def test_malformed_key_ring_is_not_echoed(self, admin: Admin) -> None:
        """A key ring file that is not one is refused without repeating its text."""
        ring = admin.file("ring", "k1:" + base64.b64encode(KEY_ONE[:31]).decode())
        result = admin("list", "--keyring-file", ring)
        assert (2, "") == result[:2]
        assert "each entry is <id>:<32-byte key in base64>" in result.err
        assert [] == admin.leaks()

    def test_wrong_key_ring_opens_nothing(
        self, admin: Admin, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Records sealed under another key ring's key are refused, with status 2."""
        admin.create()
        monkeypatch.setenv("SOFTTOKEN_KEYRING", "k1:" + base64.b64encode(KEY_TWO).decode())
        result = admin("list")
        assert (2, "") == result[:2]
        assert "does not open" in result.err
        assert [] == admin.leaks()

    def test_actor_option_and_login_name(
        self, admin: Admin, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--actor beats $SOFTTOKEN_ACTOR; without either, the login name is the actor."""
        serial = admin.create()
        admin.ok("assign-pool", serial, "--pool", "acme", "--actor", "ana")
        monkeypatch.delenv("SOFTTOKEN_ACTOR")
        monkeypatch.setattr(getpass, "getuser", lambda: "login-name")
        admin.ok("assign", serial, "--user", USER)
        actors = [row[3] for row in table(admin("audit", serial).out)[1:-1]]
        assert [ACTOR, "ana", "login-name"] == actors


class TestKeygen:
    """``issuer keygen``: a new key-ring entry, a secret."""

    def test_prints_an_entry_with_a_note(self, bare: Admin) -> None:
        """The entry parses as a key ring with its id; a note on stderr says it is secret."""
        result = bare("keygen", "--id", "k7")
        assert 0 == result.status
        assert ("k7",) == Keyring.parse(result.out).ids
        assert "this entry is a secret key" in result.err
        assert result.out != bare("keygen", "--id", "k7").out

    def test_output_file_is_private_and_never_replaced(self, bare: Admin) -> None:
        """--output writes a new 0600 file and prints no key; an existing file is refused."""
        path = bare.tmp_path / "ring"
        result = bare("keygen", "--id", "k2", "--output", str(path))
        assert (0, "") == (result.status, result.err)
        entry = path.read_text()
        assert ("k2", 0o600) == (Keyring.parse(entry).ids[0], mode(path))
        assert entry.strip() not in result.out
        again = bare("keygen", "--id", "k3", "--output", str(path))
        assert (2, "") == again[:2]
        assert "the file exists" in again.err
        assert entry == path.read_text()

    def test_bad_id(self, bare: Admin) -> None:
        """An id outside the allowed characters is refused with the rule."""
        result = bare("keygen", "--id", "k 1")
        expected = "a key id is 1 to 32 letters, digits, '_', '.' or '-'"
        assert (2, "", f"softtoken: error: {expected}\n") == result


class TestStock:
    """create, assign-pool, assign, list and show."""

    def test_create_in_a_pool(self, admin: Admin) -> None:
        """create prints one serial a line; list shows them in the pool."""
        serials = admin.ok("create", "--count", "3", "--pool", "acme").split()
        assert 3 == len({Serial.parse(serial) for serial in serials})
        rows = table(admin.ok("list"))
        assert ["SERIAL", "STATE", "POOL", "USER", "FAILURES", "DRIFT", "REASON"] == rows[0]
        assert sorted(serials) == [row[0] for row in rows[1:]]
        assert {("in-pool", "acme", "-", "0", "+0", "-")} == {tuple(row[1:]) for row in rows[1:]}

    def test_assign_pool_then_user(self, admin: Admin) -> None:
        """A token goes from stock to a pool, then to a user."""
        serial = admin.create()
        assert "available" == admin.state(serial)
        assert "assigned to the pool\n" == admin.ok("assign-pool", serial, "--pool", "acme")
        assert "in-pool" == admin.state(serial)
        admin.ok("assign", serial, "--user", USER)
        assert [serial, "assigned", "acme", USER, "0", "+0", "-"] == table(admin.ok("list"))[1]

    def test_list_filters(self, admin: Admin) -> None:
        """--user, --state and --pool each narrow the table, and combine."""
        one, two = admin.create("--pool", "acme"), admin.create()
        admin.ok("assign", one, "--user", USER)

        def listed(*argv: str) -> list[str]:
            return [row[0] for row in table(admin.ok("list", *argv))[1:]]

        assert [one] == listed("--user", USER)
        assert [two] == listed("--state", "available")
        assert [one] == listed("--pool", "acme", "--state", "assigned")
        assert [] == listed("--pool", "acme", "--state", "available")

    def test_show(self, admin: Admin) -> None:
        """show prints every public field of the token, its times in ISO 8601 UTC."""
        serial = admin.create("--pool", "acme")
        assert (
            f"serial: {serial}\nstate: in-pool\nreason: -\npool: acme\nuser: -\ncodes: -\n"
            "activation in progress: no\nseeds issued: 0\nlast accepted: -\ndrift: +0\n"
            "window: 1 back, 1 ahead\nfailures: 0\nversion: 1\nupdated: 2027-01-15T08:00:00Z\n"
        ) == admin.ok("show", serial)

    def test_wrong_state_is_named(self, admin: Admin) -> None:
        """An operation the token's state does not allow names both, with status 2."""
        serial = admin.create("--pool", "acme")
        result = admin("assign-pool", serial, "--pool", "other")
        expected = "assign-pool does not apply to a token that is in-pool"
        assert (2, "", f"softtoken: error: {expected} (see 'softtoken issuer show SERIAL')\n") == (
            result
        )

    def test_unknown_serial(self, admin: Admin) -> None:
        """A well-formed serial no token has is refused with status 2."""
        assert (2, "", "softtoken: error: no token matches\n") == admin("show", "93171-12184")

    def test_mistyped_serial(self, admin: Admin) -> None:
        """A serial whose check digit is wrong is refused by the parser, not repeated."""
        result = admin("show", "93171-12185")
        assert (2, "") == result[:2]
        assert "the serial's check digit does not match" in result.err
        assert "93171-12185" not in result.err

    def test_bad_count(self, admin: Admin) -> None:
        """A count outside 1 to 10000 is refused with the bounds."""
        result = admin("create", "--count", "0")
        assert (2, "", "softtoken: error: count must be from 1 to 10000\n") == result


class TestActivation:
    """start-activation and complete-activation, with the app's half, then the first code."""

    def test_end_to_end(self, admin: Admin) -> None:
        """The printed activation code activates the app; its first code makes the token active,
        and no seed or key shows up in any output."""
        serial = admin.create("--pool", "acme")
        admin.activate(serial)
        assert "active" == admin.state(serial)
        assert "codes: TOTP, sha1, 6 digits, 30 s" in admin.ok("show", serial)
        assert [] == admin.leaks()

    def test_start_prints_the_code_once_with_its_expiry(self, admin: Admin) -> None:
        """start-activation prints the serial, the code and the expiry (72 h by default), and
        a note on standard error."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        result = admin("start-activation", serial)
        assert 0 == result.status
        lines = result.out.splitlines()
        assert [f"serial: {serial}", "expires: 2027-01-18T08:00:00Z"] == [lines[0], lines[2]]
        assert re.fullmatch(r"activation code: \d{4}-\d{4}-\d{4}-\d{4}", lines[1])
        assert "show the activation code to the user once" in result.err

    def test_token_options_reach_the_app(self, admin: Admin) -> None:
        """--digits, --algorithm and --period make the token the app must make too."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        out = admin.ok("start-activation", serial, "-d", "8", "--algorithm", "SHA256", "-s", "60")
        code = ActivationCode.parse(out.splitlines()[1].removeprefix("activation code: "))
        params = TokenParams(algorithm="sha256", digits=8, period=60)
        registration, secret = offline.respond(
            Serial.parse(serial), code, params=params, kdf=FAST_KDF
        )
        admin.ok("complete-activation", serial, stdin=registration.display)
        first = TOTP(secret, algorithm="sha256", digits=8, period=60).generate(NOW)
        assert 0 == admin("verify", "--serial", serial, stdin=first).status
        assert "codes: TOTP, sha256, 8 digits, 60 s" in admin.ok("show", serial)

    def test_hidden_prompts_at_a_terminal(
        self, admin: Admin, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At a terminal the registration code and the first code are asked for at hidden
        prompts, never read as echoed text."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        out = admin.ok("start-activation", serial)
        code = ActivationCode.parse(out.splitlines()[1].removeprefix("activation code: "))
        registration, secret = offline.respond(Serial.parse(serial), code, kdf=FAST_KDF)
        answers = iter([registration.display, TOTP(secret).generate(NOW)])
        prompts: list[str] = []

        def hidden(prompt: str = "") -> str:
            prompts.append(prompt)
            return next(answers)

        monkeypatch.setattr(getpass, "getpass", hidden)
        assert 0 == admin("complete-activation", serial).status
        assert 0 == admin("verify", "--serial", serial).status
        assert ["Registration code: ", "Code: "] == prompts

    def test_code_file(self, admin: Admin) -> None:
        """--code-file gives the registration code from a file."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        out = admin.ok("start-activation", serial)
        code = ActivationCode.parse(out.splitlines()[1].removeprefix("activation code: "))
        registration, _ = offline.respond(Serial.parse(serial), code, kdf=FAST_KDF)
        path = admin.file("registration.txt", registration.display + "\n")
        assert 0 == admin("complete-activation", serial, "--code-file", path).status
        assert "pending-confirmation" == admin.state(serial)

    def test_mistyped_registration_code(self, admin: Admin) -> None:
        """A registration code with a wrong check digit is refused by name, not repeated, and
        nothing is counted."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        admin.ok("start-activation", serial)
        good = RegistrationCode.generate().digits
        typo = good[:-1] + str((int(good[-1]) + 1) % 10)
        result = admin("complete-activation", serial, stdin=typo)
        expected = "the registration code's check digit does not match; read it again"
        assert (2, "", f"softtoken: error: {expected}\n") == result
        assert "assigned" == admin.state(serial)

    def test_no_activation_open_is_not_accepted(self, admin: Admin) -> None:
        """complete-activation without a started activation exits 1."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        result = admin("complete-activation", serial, stdin=RegistrationCode.generate().display)
        assert (1, "") == (result.status, result.err)
        assert result.out.startswith("not accepted: the activation has expired")

    def test_expired_activation_is_not_accepted(self, admin: Admin) -> None:
        """A registration code after the activation's --ttl exits 1."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        admin.ok("start-activation", serial, "--ttl", "60")
        admin.now = NOW + 60
        result = admin("complete-activation", serial, stdin=RegistrationCode.generate().display)
        assert 1 == result.status

    def test_activation_kdf_is_the_real_one_by_default(self) -> None:
        """Unpatched, the command's activations use OFFLINE_KDF, which the app side uses too."""
        assert OFFLINE_KDF is activation.ACTIVATION_KDF


class TestVerify:
    """``issuer verify``: accepted (0) or "not accepted" (1), the same for every refusal."""

    def test_by_user_then_replay(self, admin: Admin) -> None:
        """A user's next code is accepted with its step; the same code again is refused."""
        token = admin.activate(admin.create())
        admin.now = NOW + 30
        code = token.generate(admin.now)
        accepted = admin.ok("verify", "--user", USER, stdin=code)
        assert "accepted: step 60000001 drift +0\n" == accepted
        assert NOT_ACCEPTED == admin("verify", "--user", USER, stdin=code)

    def test_drift_is_printed_and_reset(self, admin: Admin) -> None:
        """A code one step ahead is accepted with drift +1, which reset-drift clears."""
        serial = admin.create()
        token = admin.activate(serial)
        admin.now = NOW + 60
        ahead = token.generate(admin.now + 30)
        assert "accepted: step 60000003 drift +1\n" == admin.ok(
            "verify", "--serial", serial, stdin=ahead
        )
        assert "drift: +1" in admin.ok("show", serial)
        assert "drift reset to 0\n" == admin.ok("reset-drift", serial)
        assert "drift: +0" in admin.ok("show", serial)

    @pytest.mark.parametrize("user", [USER, "nobody"])
    @pytest.mark.parametrize("code", ["000000", "abc", "1234567890123"])
    def test_every_refusal_looks_alike(self, admin: Admin, user: str, code: str) -> None:
        """A wrong code, a malformed one and an unknown user all print "not accepted", exit 1."""
        admin.activate(admin.create())
        admin.now = NOW + 30
        assert NOT_ACCEPTED == admin("verify", "--user", user, stdin=code)

    def test_five_failures_block_and_unblock_reopens(self, admin: Admin) -> None:
        """Five wrong codes block the token (reason too-many-failures); unblock reopens it."""
        serial = admin.create()
        token = admin.activate(serial)
        admin.now = NOW + 30
        wrong = "000000" if token.generate(admin.now) != "000000" else "111111"
        for _ in range(5):
            assert NOT_ACCEPTED == admin("verify", "--serial", serial, stdin=wrong)
        row = table(admin.ok("list"))[1]
        assert ["blocked", "5", "too-many-failures"] == [row[1], row[4], row[6]]
        assert NOT_ACCEPTED == admin("verify", "--serial", serial, stdin=token.generate(admin.now))
        assert "unblocked\n" == admin.ok("unblock", serial, "--note", "called the user")
        admin.now = NOW + 60
        assert 0 == admin("verify", "--serial", serial, stdin=token.generate(admin.now)).status

    def test_code_is_never_an_argument(self, admin: Admin) -> None:
        """There is no option or argument for the code; one typed is not repeated."""
        admin.activate(admin.create())
        for argv in (("--code", "246813"), ("246813",), ("--code=246813",)):
            result = admin("verify", "--user", USER, *argv, stdin="")
            assert (2, "") == result[:2]
            assert "246813" not in result.err

    def test_user_or_serial_is_required(self, admin: Admin) -> None:
        """verify needs exactly one of --user and --serial."""
        assert 2 == admin("verify", stdin="123456").status
        assert 2 == admin("verify", "--user", "u", "--serial", "93171-12184", stdin="1").status


class TestResync:
    """``issuer resync``: two consecutive codes from a drifted device."""

    def test_two_codes_on_standard_input(self, admin: Admin) -> None:
        """Two codes from a device three steps ahead, the second one current, set the drift to
        +3."""
        serial = admin.create()
        token = admin.activate(serial)
        admin.now = NOW + 300
        first, second = token.generate(admin.now + 60), token.generate(admin.now + 90)
        out = admin.ok("resync", serial, stdin=f"{first}\n{second}\n")
        assert "resynchronised: step 60000013 drift +3\n" == out
        assert "drift: +3" in admin.ok("show", serial)

    def test_hidden_prompts_at_a_terminal(
        self, admin: Admin, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At a terminal the two codes are asked for at two hidden prompts."""
        serial = admin.create()
        token = admin.activate(serial)
        admin.now = NOW + 300
        answers = iter([token.generate(admin.now + 30), token.generate(admin.now + 60)])
        prompts: list[str] = []

        def hidden(prompt: str = "") -> str:
            prompts.append(prompt)
            return next(answers)

        monkeypatch.setattr(getpass, "getpass", hidden)
        assert 0 == admin("resync", serial).status
        assert ["First code: ", "Next code: "] == prompts

    def test_one_code_is_not_enough(self, admin: Admin) -> None:
        """Standard input with one code is bad input, and nothing is counted."""
        serial = admin.create()
        admin.activate(serial)
        result = admin("resync", serial, stdin="123456\n")
        expected = "a resync takes two consecutive codes, one a line"
        assert (2, "", f"softtoken: error: {expected}\n") == result
        assert "failures: 0" in admin.ok("show", serial)

    def test_wrong_codes_are_not_accepted(self, admin: Admin) -> None:
        """Two codes that are not consecutive codes of the token exit 1 and count a failure."""
        serial = admin.create()
        admin.activate(serial)
        codes = admin.file("codes.txt", "000000\n000001\n")
        assert NOT_ACCEPTED == admin("resync", serial, "--code-file", codes)
        assert "failures: 1" in admin.ok("show", serial)


class TestBlockReleaseDelete:
    """block, unblock, release and delete, with their reasons."""

    def test_block_with_reason_then_unblock(self, admin: Admin) -> None:
        """A blocked token refuses its codes and shows its reason; unblock reopens it."""
        serial = admin.create()
        token = admin.activate(serial)
        assert "blocked\n" == admin.ok("block", serial, "--reason", "device-lost-or-stolen")
        assert "reason: device-lost-or-stolen" in admin.ok("show", serial)
        admin.now = NOW + 30
        assert NOT_ACCEPTED == admin("verify", "--serial", serial, stdin=token.generate(admin.now))
        admin.ok("unblock", serial, "--note", "found it")
        admin.now = NOW + 60
        assert 0 == admin("verify", "--serial", serial, stdin=token.generate(admin.now)).status

    def test_automatic_reason_cannot_be_given(self, admin: Admin) -> None:
        """too-many-failures is not a reason an administrator can give."""
        serial = admin.create()
        result = admin("block", serial, "--reason", "too-many-failures")
        assert (2, "") == result[:2]
        assert "argument --reason: invalid choice (choose from 'user-inactive'," in result.err

    def test_unblock_needs_a_block(self, admin: Admin) -> None:
        """Unblocking an active token is refused by state, with status 2."""
        serial = admin.create()
        admin.activate(serial)
        result = admin("unblock", serial, "--note", "n")
        assert (2, "") == result[:2]
        assert "softtoken: error: unblock does not apply to a token that is active" in result.err

    def test_release_destroys_the_seed(self, admin: Admin) -> None:
        """A released token is back in its pool, without codes, and refuses its old codes."""
        serial = admin.create("--pool", "acme")
        token = admin.activate(serial)
        out = admin.ok("release", serial, "--reason", "user-left-company")
        assert "released; the token is in-pool\n" == out
        shown = admin.ok("show", serial)
        assert ("codes: -" in shown, "user: -" in shown) == (True, True)
        admin.now = NOW + 30
        assert NOT_ACCEPTED == admin("verify", "--serial", serial, stdin=token.generate(admin.now))

    def test_delete(self, admin: Admin) -> None:
        """A deleted token stays as a tombstone; deleting it again is refused by state."""
        serial = admin.create()
        admin.activate(serial)
        assert "deleted\n" == admin.ok("delete", serial)
        assert "deleted" == admin.state(serial)
        assert 2 == admin("delete", serial).status


class TestUnlockCode:
    """``issuer unlock-code``: the bank's answer to an app's reset code."""

    def test_answers_the_reset_code(self, admin: Admin) -> None:
        """The unlock code is the one the app's key gives for the reset code, in any grouping."""
        serial = admin.create()
        admin.activate(serial)
        expected = compute_unlock_code(admin.secrets[-1], serial, RESET_CODE)
        assert expected + "\n" == admin.ok("unlock-code", serial, stdin=RESET_CODE)
        grouped = display_reset_code(RESET_CODE)
        path = admin.file("reset.txt", grouped + "\n")
        assert expected + "\n" == admin.ok("unlock-code", serial, "--reset-code-file", path)

    def test_mistyped_reset_code(self, admin: Admin) -> None:
        """A reset code with a wrong check digit is refused by name, not repeated."""
        serial = admin.create()
        admin.activate(serial)
        result = admin("unlock-code", serial, stdin=MISTYPED_RESET)
        assert (2, "") == result[:2]
        assert "the reset code's check digit does not match" in result.err
        assert MISTYPED_RESET not in result.err

    def test_only_for_an_active_token(self, admin: Admin) -> None:
        """A token without a seed has no unlock code."""
        serial = admin.create()
        result = admin("unlock-code", serial, stdin=RESET_CODE)
        assert (2, "") == result[:2]
        assert "unlock-code does not apply to a token that is available" in result.err


class TestOutOfBand:
    """send-code and check-code."""

    def test_send_then_check_once(self, admin: Admin) -> None:
        """A sent code is accepted once, then refused."""
        code = admin.ok("send-code", "--user", USER, "--purpose", "login").strip()
        assert re.fullmatch(r"\d{6}", code)
        argv = ("--user", USER, "--purpose", "login")
        assert "accepted\n" == admin.ok("check-code", *argv, stdin=code)
        assert NOT_ACCEPTED == admin("check-code", *argv, stdin=code)

    def test_digits_and_ttl(self, admin: Admin) -> None:
        """--digits sets the length; after --ttl the code is refused."""
        code = admin.ok(
            "send-code", "--user", USER, "--purpose", "p", "--digits", "8", "--ttl", "1m"
        ).strip()
        assert 8 == len(code)
        admin.now = NOW + 60
        assert NOT_ACCEPTED == admin("check-code", "--user", USER, "--purpose", "p", stdin=code)

    def test_wrong_and_unknown_look_alike(self, admin: Admin) -> None:
        """A wrong code and a user with no code both print "not accepted", exit 1."""
        code = admin.ok("send-code", "--user", USER, "--purpose", "p").strip()
        wrong = "000000" if code != "000000" else "111111"
        assert NOT_ACCEPTED == admin("check-code", "--user", USER, "--purpose", "p", stdin=wrong)
        assert NOT_ACCEPTED == admin("check-code", "--user", "ana", "--purpose", "p", stdin=code)

    def test_bad_digits(self, admin: Admin) -> None:
        """A length outside 4 to 10 is refused with the bounds."""
        result = admin("send-code", "--user", USER, "--purpose", "p", "--digits", "3")
        assert (2, "", "softtoken: error: digits must be from 4 to 10\n") == result


class TestAudit:
    """``issuer audit``: the events as a table, then the chain check."""

    def test_table_and_chain(self, admin: Admin) -> None:
        """Every event is a row (seq, UTC time, action, actor, reason, states, outcome), then
        the chain is verified."""
        serial = admin.create("--pool", "acme")
        admin.ok("assign", serial, "--user", USER)
        admin.now = NOW + 61
        admin.ok("release", serial, "--reason", "assignment-error")
        rows = table(admin.ok("audit", serial))
        assert [
            ["SEQ", "TIME (UTC)", "ACTION", "ACTOR", "REASON", "STATE", "OUTCOME"],
            ["1", "2027-01-15T08:00:00Z", "create", ACTOR, "-", "- -> in-pool", "created"],
            ["2", "2027-01-15T08:00:00Z", "assign", ACTOR, "-", "in-pool -> assigned", "assigned"],
            [
                "3",
                "2027-01-15T08:01:01Z",
                "release",
                ACTOR,
                "assignment-error",
                "assigned -> in-pool",
                "released",
            ],
            ["chain verified (3 events)"],
        ] == rows

    def test_refusal_causes_are_in_the_trail(self, admin: Admin) -> None:
        """The trail records what the caller never saw: a replay and a wrong code."""
        serial = admin.create()
        token = admin.activate(serial)
        admin.now = NOW + 30
        code = token.generate(admin.now)
        admin.ok("verify", "--serial", serial, stdin=code)
        admin("verify", "--serial", serial, stdin=code)
        outcomes = [row[-1] for row in table(admin.ok("audit", serial))[1:-1]]
        assert ["accepted", "replay"] == outcomes[-2:]

    def test_names_cannot_drive_the_terminal(self, admin: Admin) -> None:
        """An unprintable character in a note is printed escaped."""
        serial = admin.create()
        admin.activate(serial)
        admin.ok("block", serial, "--reason", "customer-request")
        admin.ok("unblock", serial, "--note", "call\x9b2J back")
        out = admin.ok("audit", serial)
        assert ("\x9b" in out, "call\\x9b2J back" in out) == (False, True)

    def test_edited_event_fails_with_its_position(self, admin: Admin) -> None:
        """An audit row edited in the database makes audit exit 1, naming the event."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        admin.sql(
            "UPDATE softtoken_audit SET actor = 'someone' WHERE seq = 2 AND subject = ?",
            str(Serial.parse(serial)),
        )
        result = admin("audit", serial)
        assert 1 == result.status
        assert "someone" in result.out
        assert (
            "softtoken: the audit trail does not verify from event 2: an event was edited, "
            "removed, reordered or inserted\n"
        ) == result.err

    def test_removed_last_event(self, admin: Admin) -> None:
        """A trail cut short at the end fails after its last remaining event."""
        serial = admin.create()
        admin.ok("assign", serial, "--user", USER)
        admin.sql("DELETE FROM softtoken_audit WHERE seq = 2")
        result = admin("audit", serial)
        assert 1 == result.status
        assert "does not verify after event 1: events are missing at the end" in result.err

    def test_malformed_event(self, admin: Admin) -> None:
        """A row edited into no event's shape (a short MAC) fails with status 1."""
        serial = admin.create()
        admin.sql("UPDATE softtoken_audit SET mac = X'00' WHERE seq = 1")
        result = admin("audit", serial)
        assert (1, "") == result[:2]
        assert "a stored event is malformed" in result.err

    def test_unknown_serial(self, admin: Admin) -> None:
        """A serial no token has is refused before any table, with status 2."""
        assert (2, "", "softtoken: error: no token matches\n") == admin("audit", "93171-12184")


class TestRotateKeys:
    """``issuer rotate-keys``: re-seal under the newest key, with a progress bar."""

    def test_reseals_under_the_new_key(self, admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
        """After a rotation to k2 the records open with k2 alone; the bar ends full on stderr."""
        serials = admin.ok("create", "--count", "3").split()
        monkeypatch.setenv("SOFTTOKEN_KEYRING", f"{RING_ONE},{RING_TWO}")
        result = admin("rotate-keys", "--batch-size", "2")
        assert (0, "checked 3 of 3 records; re-sealed 3 under key 'k2'\n") == result[:2]
        assert result.err.endswith(f"\r[{'#' * 30}] 3/3\n")
        assert 2 == result.err.count("\r")
        monkeypatch.setenv("SOFTTOKEN_KEYRING", RING_TWO)
        assert sorted(serials) == [row[0] for row in table(admin.ok("list"))[1:]]

    def test_audit_needs_the_old_key(self, admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
        """After a rotation, the trail's old events still need the old key: without it, audit
        says so (status 2); with it back in the ring, the chain verifies."""
        serial = admin.create()
        monkeypatch.setenv("SOFTTOKEN_KEYRING", f"{RING_ONE},{RING_TWO}")
        admin.ok("rotate-keys")
        monkeypatch.setenv("SOFTTOKEN_KEYRING", RING_TWO)
        result = admin("audit", serial)
        assert 2 == result.status
        assert "chained under a key the key ring no longer holds" in result.err
        monkeypatch.setenv("SOFTTOKEN_KEYRING", f"{RING_ONE},{RING_TWO}")
        assert admin.ok("audit", serial).endswith("chain verified (2 events)\n")

    def test_second_run_reseals_nothing(
        self, admin: Admin, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A rotation run again finds every record sealed already."""
        admin.create()
        monkeypatch.setenv("SOFTTOKEN_KEYRING", f"{RING_ONE},{RING_TWO}")
        admin("rotate-keys")
        assert "re-sealed 0 under key 'k2'" in admin("rotate-keys").out


class TestSecrecy:
    """No option takes a code or a key, and no output holds a seed or a key-ring key."""

    def test_no_option_takes_a_secret(self) -> None:
        """The issuer actions' options are exactly these: secrets come from files or stdin."""
        found: set[str] = set()
        for parser in issuer_parsers():
            for item in parser._actions:
                found.update(item.option_strings)
        assert {
            "-h", "--help", "--db", "--keyring-file", "--actor", "--id", "--output", "--count",
            "--pool", "--user", "--serial", "--state", "--purpose", "--ttl", "--digits", "-d",
            "--attempts", "--algorithm", "--period", "-s", "--reason", "--note", "--batch-size",
            "--code-file", "--reset-code-file",
        } == found  # fmt: skip

    def test_lifecycle_outputs_hold_no_seed(self, admin: Admin) -> None:
        """A whole token life, error paths included, prints no seed and no key-ring key."""
        serial = admin.create("--pool", "acme")
        token = admin.activate(serial)
        admin.now = NOW + 30
        admin("verify", "--user", USER, stdin="000000")
        admin("verify", "--user", USER, stdin=token.generate(admin.now))
        admin("resync", serial, stdin="000000\n000001\n")
        admin("unlock-code", serial, stdin=RESET_CODE)
        admin("block", serial, "--reason", "technical-failure")
        admin("unblock", serial, "--note", "fixed")
        admin("show", serial)
        admin("list")
        admin("audit", serial)
        admin("release", serial, "--reason", "seed-release")
        admin("delete", serial)
        assert 16 < len(admin.outputs)
        assert [] == admin.leaks()

    def test_canary_in_the_wrong_place_is_not_repeated(self, admin: Admin) -> None:
        """A seed typed where a name or a serial goes is not repeated in the error."""
        canary = b32encode(KEY_ONE)
        for argv in (
            ("show", canary),
            ("verify", "--user", USER, canary),
            ("list", "--state", canary),
            ("block", "93171-12184", "--reason", canary),
            ("list", f"--{canary}"),
        ):
            admin(*argv, stdin="")
        assert [] == admin.leaks()


def issuer_parsers() -> list[argparse.ArgumentParser]:
    """The ``issuer`` parser and each of its actions' parsers."""
    group = next(
        child
        for item in build_parser()._actions
        if isinstance(item, argparse._SubParsersAction)
        for name, child in item.choices.items()
        if name == "issuer"
    )
    actions = [
        child
        for item in group._actions
        if isinstance(item, argparse._SubParsersAction)
        for child in item.choices.values()
    ]
    assert 21 == len(actions)
    return [group, *actions]
