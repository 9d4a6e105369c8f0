"""Tests for ``softtoken code``, ``verify`` and ``unlock-code``: oathtool's options and time
forms, ``--verbose``, tokens from otpauth URIs, codes from files or standard input, and the
bank's unlock codes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import ClassVar, Final

import pytest

from softtoken import TOTP
from softtoken._encoding import b32encode
from softtoken.cli import _input
from softtoken.provisioning import build_uri, parse_uri
from softtoken.unlock import compute_unlock_code, display_reset_code
from tests.test_cli import CANARY_B32, CANARY_KEY, RFC_B32, RFC_HEX, Runner, leaks
from tests.utils import RFC_SEED_SHA1, RFC_SEEDS, load_vectors

# A well-formed serial (softtoken.provisioning.Serial) for commands that need one.
SN = "0000000018"

UNLOCK_VECTORS: Final = load_vectors("unlock.txt")
OATHTOOL: Final = shutil.which("oathtool")
requires_oathtool = pytest.mark.skipif(OATHTOOL is None, reason="oathtool is not installed")


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    # A fixed clock, so that runs without --time agree with each other.
    monkeypatch.setattr(_input, "now", lambda: 1234567890)
    return Runner(capsys, monkeypatch)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.txt"
    path.write_text(RFC_B32 + "\n")
    return path


def oathtool(*argv: str) -> list[str]:
    """The codes oathtool prints for *argv* and the RFC key in hex."""
    assert OATHTOOL is not None
    done = subprocess.run(
        [OATHTOOL, *argv, RFC_HEX], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


class TestShortOptions:
    """oathtool's short options mean what they mean in oathtool."""

    @pytest.mark.parametrize(
        ("short", "long"),
        [
            (("-d", "8"), ("--digits", "8")),
            (("--hotp", "-c", "3"), ("--hotp", "--counter", "3")),
            (("-s", "60"), ("--period", "60")),
            (("-w", "2"), ("--window", "2")),
            (("-N", "59"), ("--time", "59")),
            (("-S", "100", "-N", "1000"), ("--t0", "100", "--time", "1000")),
            (("-b",), ("--base32",)),
            (("-d8", "-s60", "-w2"), ("--digits=8", "--period=60", "--window=2")),
        ],
    )
    def test_same_as_long(self, run: Runner, short: tuple[str, ...], long: tuple[str, ...]) -> None:
        """Each short option gives the output of its long form."""
        expected = run("code", *long, stdin=RFC_B32)
        assert (0, "") == (expected.status, expected.err)
        assert expected == run("code", *short, stdin=RFC_B32)

    def test_verbose(self, run: Runner) -> None:
        """-v is --verbose."""
        assert run("code", "--verbose", stdin=RFC_B32) == run("code", "-v", stdin=RFC_B32)

    @requires_oathtool
    @pytest.mark.parametrize(
        ("theirs", "ours"),
        [
            (("--totp", "-N", "@1234567890", "-d", "8"), ("-N", "@1234567890", "-d", "8")),
            (
                ("--totp", "-N", "2009-02-13 23:31:30 UTC", "-s", "1m", "-w", "3"),
                ("-N", "2009-02-13 23:31:30 UTC", "-s", "1m", "-w", "3"),
            ),
            (
                ("--totp=SHA256", "-N", "@1000000", "-S", "@1000", "-s", "45s"),
                ("--algorithm", "sha256", "-N", "@1000000", "-S", "@1000", "-s", "45s"),
            ),
            (
                ("--hotp", "-c", "5", "-w", "3", "-d", "7"),
                ("--hotp", "-c", "5", "-w", "3", "-d", "7"),
            ),
        ],
    )
    def test_matches_oathtool(
        self, run: Runner, theirs: tuple[str, ...], ours: tuple[str, ...]
    ) -> None:
        """The same options give oathtool's codes, in order."""
        result = run("code", "--hex", *ours, stdin=RFC_HEX)
        assert 0 == result.status
        assert oathtool(*theirs) == [line.split()[-1] for line in result.out.splitlines()]


class TestTimeForms:
    """--time and --t0 take Unix seconds, @SECONDS, now, GNU date's UTC form and ISO 8601."""

    @pytest.mark.parametrize(
        "time",
        [
            "59",
            "@59",
            "now",
            "1970-01-01 00:00:59 UTC",
            "1970-01-01T00:00:59Z",
            "1970-01-01T01:00:59+01:00",
        ],
    )
    def test_same_instant(self, run: Runner, monkeypatch: pytest.MonkeyPatch, time: str) -> None:
        """Every spelling of Unix time 59 gives RFC 6238's code for it."""
        monkeypatch.setattr(_input, "now", lambda: 59)
        assert (0, "94287082\n", "") == run("code", "-d", "8", "-N", time, stdin=RFC_B32)

    def test_t0_forms(self, run: Runner) -> None:
        """--t0 takes the same forms as --time."""
        expected = TOTP(RFC_SEED_SHA1, t0=100).generate(1000)
        result = run("code", "-S", "1970-01-01 00:01:40 UTC", "-N", "@1000", stdin=RFC_B32)
        assert (0, expected + "\n", "") == result

    @pytest.mark.parametrize(
        "time",
        [
            "1970-01-01 00:00:59",
            "1970-01-01 00:00:59 CET",
            "1970-01-01 0:00:59 UTC",
            "@",
            "@-5",
            "@1.5",
            "59.0",
            "tomorrow",
            "NOW",
            "１２３",
        ],
    )
    def test_refused(self, run: Runner, time: str) -> None:
        """A naive, unknown or malformed time is a usage error that does not repeat it."""
        result = run("code", "-N", time, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "argument -N/--time: expected Unix seconds" in result.err


class TestPeriodForms:
    """--period takes seconds as oathtool does: 30, 30s, 1m."""

    @pytest.mark.parametrize(
        ("period", "seconds"), [("60", 60), ("60s", 60), ("1m", 60), ("1h", 3600)]
    )
    def test_forms(self, run: Runner, period: str, seconds: int) -> None:
        """Each form gives the code of a TOTP with that period."""
        expected = TOTP(RFC_SEED_SHA1, period=seconds).generate(1234567890)
        assert (0, expected + "\n", "") == run("code", "-s", period, stdin=RFC_B32)

    @pytest.mark.parametrize("period", ["0", "0s", "1.5m", "m", "60 s", "-1", "1d", "60S"])
    def test_refused(self, run: Runner, period: str) -> None:
        """A zero, fractional or unknown period is a usage error."""
        result = run("code", "-s", period, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "argument -s/--period" in result.err


class TestVerbose:
    """--verbose prints the parameters to standard error, never the key; stdout is unchanged."""

    def test_totp(self, run: Runner) -> None:
        """Key length, kind, algorithm, digits, period, t0, time, step and window."""
        result = run(
            "code", "-v", "-N", "59", "-d", "8", "--past", "1", "--hex", stdin=CANARY_KEY.hex()
        )
        expected_err = (
            f"key length: {len(CANARY_KEY)} bytes\n"
            "kind: totp\nalgorithm: sha1\ndigits: 8\nperiod: 30 seconds\n"
            "start time (t0): 0 (1970-01-01 00:00:00 UTC)\n"
            "time: 59 (1970-01-01 00:00:59 UTC)\nstep: 1\nwindow: 1 before, 0 after\n"
        )
        quiet = run("code", "-N", "59", "-d", "8", "--past", "1", "--hex", stdin=CANARY_KEY.hex())
        assert (0, quiet.out, expected_err) == result
        assert [] == leaks(result)

    def test_hotp(self, run: Runner) -> None:
        """For HOTP, the counter instead of the time and step."""
        result = run(
            "code", "-v", "--hotp", "-c", "7", "-w", "2", "--algorithm", "sha256", stdin=CANARY_B32
        )
        expected_err = (
            f"key length: {len(CANARY_KEY)} bytes\n"
            "kind: hotp\nalgorithm: sha256\ndigits: 6\ncounter: 7\nwindow: 0 before, 2 after\n"
        )
        assert (0, expected_err) == (result.status, result.err)
        assert 3 == len(result.out.splitlines())
        assert [] == leaks(result)

    @pytest.mark.parametrize(
        ("options", "window"),
        [
            ((), "window: 1 before, 1 after"),
            (("-w", "3"), "window: 3 before, 3 after"),
            (("--past", "2", "--future", "0"), "window: 2 before, 0 after"),
            (("--hotp", "-w", "3"), "window: 0 before, 3 after"),
        ],
    )
    def test_verify_window(self, run: Runner, options: tuple[str, ...], window: str) -> None:
        """verify -v states the window it searches; the verdict stays on stdout."""
        result = run("verify", "000000", "-v", *options, stdin=CANARY_B32)
        assert (1, "not accepted\n") == result[:2]
        assert window == result.err.splitlines()[-1]
        assert [] == leaks(result)


class TestVerifyWindow:
    """verify -w N is oathtool's window: N steps either side, or N HOTP counters ahead."""

    def test_totp(self, run: Runner) -> None:
        """A code 2 steps old is accepted with -w 2, not with the default window."""
        old = TOTP(RFC_SEED_SHA1).generate(1234567890 - 60)
        assert (1, "not accepted\n", "") == run("verify", old, stdin=RFC_B32)
        assert (0, "accepted: step 41152261 offset -2\n", "") == run(
            "verify", old, "-w", "2", stdin=RFC_B32
        )

    def test_hotp(self, run: Runner) -> None:
        """An HOTP code 3 counters ahead is accepted with -w 3."""
        result = run("verify", "969429", "--hotp", "-w", "3", stdin=RFC_B32)
        assert (0, "accepted: counter 3 offset +3\n", "") == result

    @pytest.mark.parametrize("option", ["--past", "--future", "--look-ahead"])
    def test_with_another_window(self, run: Runner, option: str) -> None:
        """-w with another window option is a usage error."""
        result = run("verify", "755224", "-w", "1", option, "1", stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "cannot be used with --window" in result.err


class TestURIInput:
    """code and verify take the token from an otpauth URI, such as ``uri --generate`` prints."""

    def test_generated_uri_fed_back(self, run: Runner, tmp_path: Path) -> None:
        """The output of ``uri --generate`` gives, through --uri-file, the URI token's codes."""
        made = run(
            "uri", "--generate", "--account", "a", "-d", "8", "--algorithm", "sha256", "-s", "1m"
        )
        uri_file = tmp_path / "uri.txt"
        uri_file.write_text(made.out)
        result = run("code", "--uri-file", str(uri_file), "-N", "1234567890")
        assert (0, parse_uri(made.out.strip()).token().generate(1234567890) + "\n", "") == result

    def test_uri_on_standard_input(self, run: Runner) -> None:
        """--uri-file - reads the URI from standard input."""
        uri = build_uri(RFC_SEED_SHA1, account="a", digits=8)
        assert (0, "94287082\n", "") == run("code", "--uri-file", "-", "-N", "59", stdin=uri)

    def test_hotp_uri_counter(self, run: Runner) -> None:
        """An HOTP URI's counter is where codes start; --counter chooses another."""
        uri = build_uri(RFC_SEED_SHA1, account="a", kind="hotp", counter=3)
        assert (0, "969429\n", "") == run("code", "--uri-file", "-", stdin=uri)
        assert (0, "338314\n", "") == run("code", "--uri-file", "-", "-c", "4", stdin=uri)

    def test_verify(self, run: Runner, tmp_path: Path) -> None:
        """verify --uri-file accepts the URI token's code, and refuses another."""
        uri_file = tmp_path / "uri.txt"
        uri_file.write_text(build_uri(RFC_SEED_SHA1, account="a", digits=8))
        argv = ("--uri-file", str(uri_file), "-N", "59")
        assert (0, "accepted: step 1 offset +0\n", "") == run("verify", "94287082", *argv)
        assert (1, "not accepted\n", "") == run("verify", "94287083", *argv)

    @pytest.mark.parametrize(
        "options",
        [
            ("--digits", "6"),
            ("--totp",),
            ("--hotp",),
            ("--algorithm", "sha1"),
            ("--period", "30"),
            ("-S", "5"),
            ("--hex",),
            ("-b",),
            ("--key-file", "key.txt"),
            (RFC_B32,),
        ],
    )
    def test_token_options_conflict(self, run: Runner, options: tuple[str, ...]) -> None:
        """The URI describes the token, so every token or key option is refused with it."""
        uri = build_uri(RFC_SEED_SHA1, account="a")
        result = run("code", "--uri-file", "-", *options, stdin=uri)
        assert (2, "") == result[:2]
        assert "cannot be given with --uri-file: the URI describes the token" in result.err

    @pytest.mark.parametrize(
        ("kind", "options", "message"),
        [
            ("totp", ("-c", "1"), "--counter cannot be used with a TOTP URI"),
            ("hotp", ("-N", "59"), "--time cannot be used with an HOTP URI"),
        ],
    )
    def test_options_of_the_other_kind(
        self, run: Runner, kind: str, options: tuple[str, ...], message: str
    ) -> None:
        """Options of the other token kind than the URI's are refused."""
        uri = build_uri(RFC_SEED_SHA1, account="a", kind=kind)
        result = run("code", "--uri-file", "-", *options, stdin=uri)
        assert (2, "") == result[:2]
        assert message in result.err

    def test_masked_uri_is_refused(self, run: Runner) -> None:
        """A masked URI has no key: it is refused, status 2."""
        result = run("code", "--uri-file", "-", stdin="otpauth://totp/a?secret=****")
        assert (2, "") == result[:2]

    def test_short_key_needs_opt_in(self, run: Runner) -> None:
        """A URI with a 10-byte key needs --allow-short-key, as a key does."""
        uri = build_uri(RFC_SEED_SHA1[:10], account="a", allow_short_key=True)
        refused = run("code", "--uri-file", "-", stdin=uri)
        assert (2, "") == refused[:2]
        assert "--allow-short-key" in refused.err
        expected = TOTP(RFC_SEED_SHA1[:10], allow_short_key=True).generate(1234567890)
        assert (0, expected + "\n", "") == run(
            "code", "--uri-file", "-", "--allow-short-key", stdin=uri
        )


class TestCodeSources:
    """verify reads the code from the command line, standard input (-) or --code-file."""

    def test_code_on_standard_input(self, run: Runner, key_file: Path) -> None:
        """``verify -`` reads the code from standard input."""
        result = run("verify", "-", "--key-file", str(key_file), "-N", "59", stdin="287082\n")
        assert (0, "accepted: step 1 offset +0\n", "") == result

    def test_code_file(self, run: Runner, key_file: Path, tmp_path: Path) -> None:
        """--code-file reads the code from a file; groups and a line ending are fine."""
        code_file = tmp_path / "code.txt"
        code_file.write_text("287 082\n")
        argv = ("--code-file", str(code_file), "--key-file", str(key_file), "-N", "59")
        assert (0, "accepted: step 1 offset +0\n", "") == run("verify", *argv)

    def test_code_file_and_key_on_standard_input(self, run: Runner, tmp_path: Path) -> None:
        """With the code in a file, the key may be piped in."""
        code_file = tmp_path / "code.txt"
        code_file.write_text("287082")
        result = run("verify", "--code-file", str(code_file), "-N", "59", stdin=RFC_B32)
        assert (0, "accepted: step 1 offset +0\n", "") == result

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("verify", "-", "-"), "the key and the code cannot both come from standard input"),
            (("verify", "-", "--key-file", "-"), "the key and the code cannot both come"),
            (("verify", "--code-file", "-", "--key-file", "-"), "cannot both come"),
            (("verify", "-"), "no key given"),
            (("verify", "-", "--uri-file", "-"), "the URI and the code cannot both come"),
            (("verify",), "one of the arguments --code-file CODE is required"),
            (("verify", "--code-file", "c.txt", "755224"), "not allowed with argument --code-file"),
        ],
    )
    def test_usage_errors(self, run: Runner, argv: tuple[str, ...], message: str) -> None:
        """Standard input holds one input; the code comes one way only."""
        result = run(*argv, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert message in result.err

    def test_usage_line(self, run: Runner) -> None:
        """The usage line shows that the code is required, one way or the other."""
        result = run("verify", "--help")
        assert result.out.startswith(
            "usage: softtoken verify [options] (CODE | --code-file PATH) [KEY]\n"
        )


class TestUnlockCode:
    """``softtoken unlock-code``: the bank's side of the unlock exchange."""

    @pytest.mark.parametrize(
        ("label", "secret", "serial", "reset", "digits", "_key", "unlock"), UNLOCK_VECTORS
    )
    def test_vectors(
        self,
        run: Runner,
        tmp_path: Path,
        label: str,
        secret: str,
        serial: str,
        reset: str,
        digits: str,
        _key: str,
        unlock: str,
    ) -> None:
        """softtoken's unlock vectors (tests/vectors/unlock.txt) come out of the command."""
        key_file = tmp_path / "key.hex"
        key_file.write_text(secret)
        argv = ["--serial", serial, "--key-file", str(key_file), "--hex", "-d", digits]
        if label == "UNLOCK_SHORT_KEY":
            argv.append("--allow-short-key")
        assert (0, unlock + "\n", "") == run("unlock-code", *argv, "--reset-code", reset)

    RESET: ClassVar = "769764877"
    SECRET: ClassVar = RFC_SEEDS["sha256"]

    def expected(self, digits: int = 8) -> str:
        return compute_unlock_code(self.SECRET, "93171-12184", self.RESET, digits=digits)

    @pytest.fixture
    def secret_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "secret.b32"
        path.write_text(b32encode(self.SECRET))
        return path

    @pytest.mark.parametrize(
        "source",
        [
            ("--reset-code", RESET),
            ("--reset-code", display_reset_code(RESET)),
            ("--reset-code", "769-764-877"),
            ("--reset-code", "-"),
            ("--reset-code-file", "-"),
            (),
        ],
    )
    def test_sources(self, run: Runner, secret_file: Path, source: tuple[str, ...]) -> None:
        """The reset code comes from the command line (grouped or not) or standard input."""
        argv = ("--serial", "93171-12184", "--key-file", str(secret_file), *source)
        assert (0, self.expected() + "\n", "") == run("unlock-code", *argv, stdin=self.RESET + "\n")

    def test_reset_code_file(self, run: Runner, secret_file: Path, tmp_path: Path) -> None:
        """--reset-code-file reads it from a file; --digits sets the unlock code's length."""
        reset_file = tmp_path / "reset.txt"
        reset_file.write_text(self.RESET + "\n")
        argv = ("--serial", "9317112184", "--key-file", str(secret_file), "-d", "10")
        result = run("unlock-code", *argv, "--reset-code-file", str(reset_file))
        assert (0, self.expected(10) + "\n", "") == result

    def test_mistyped_reset_code(self, run: Runner, secret_file: Path) -> None:
        """A reset code whose check digit fails says so, status 2, without repeating it."""
        argv = ("--serial", SN, "--key-file", str(secret_file), "--reset-code", "769764878")
        expected = "softtoken: error: the reset code's check digit does not match; read it again\n"
        assert (2, "", expected) == run("unlock-code", *argv)

    @pytest.mark.parametrize("reset", ["76976487", "7697648770", "769  764 877", "abc", ""])
    def test_malformed_reset_code(self, run: Runner, secret_file: Path, reset: str) -> None:
        """A reset code that is not 9 digits is refused, status 2."""
        argv = ("--serial", SN, "--key-file", str(secret_file), "--reset-code", reset)
        result = run("unlock-code", *argv)
        assert (2, "") == result[:2]
        assert "a reset code has 9 digits" in result.err

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("--key-file", "-", "--reset-code", "-"), "the key and the reset code cannot both"),
            (("--key-file", "-"), "the key and the reset code cannot both"),
            (("--reset-code", RESET), "the following arguments are required: --key-file"),
            (("--key-file", "SECRET"), "no reset code given"),
        ],
    )
    def test_usage_errors(
        self, run: Runner, secret_file: Path, argv: tuple[str, ...], message: str
    ) -> None:
        """The key comes from --key-file; standard input holds one input at a time."""
        argv = tuple(str(secret_file) if part == "SECRET" else part for part in argv)
        result = run("unlock-code", "--serial", SN, *argv)
        assert (2, "") == result[:2]
        assert message in result.err

    def test_short_key(self, run: Runner, tmp_path: Path) -> None:
        """A 10-byte legacy secret needs --allow-short-key, as for codes."""
        key_file = tmp_path / "short.hex"
        key_file.write_text(RFC_SEED_SHA1[:10].hex())
        argv = ("--serial", SN, "--key-file", str(key_file), "--hex", "--reset-code", self.RESET)
        refused = run("unlock-code", *argv)
        assert (2, "") == refused[:2]
        assert "--allow-short-key" in refused.err
        expected = compute_unlock_code(RFC_SEED_SHA1[:10], SN, self.RESET, allow_short_key=True)
        assert (0, expected + "\n", "") == run("unlock-code", *argv, "--allow-short-key")

    def test_bad_serial(self, run: Runner, secret_file: Path) -> None:
        """A serial that is not one is refused without being repeated."""
        argv = (
            "--serial",
            "93171_12184",
            "--key-file",
            str(secret_file),
            "--reset-code",
            self.RESET,
        )
        result = run("unlock-code", *argv)
        assert (2, "") == result[:2]
        assert "93171" not in result.err

    def test_no_key_in_output(self, run: Runner, tmp_path: Path) -> None:
        """Only the unlock code is printed."""
        key_file = tmp_path / "canary"
        key_file.write_text(CANARY_B32)
        result = run(
            "unlock-code", "--serial", SN, "--key-file", str(key_file), "--reset-code", self.RESET
        )
        assert 0 == result.status
        assert [] == leaks(result)
