"""Tests for the ``softtoken`` command: vectors, key sources, exit statuses, URIs and QRs.

The app wallet is tested in test_cli_app.py, secrecy and input limits in test_cli_secrecy.py,
and oathtool's options and the verbose output in test_cli_otp.py; they share the Runner
defined here.
"""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from softtoken import HOTP, TOTP, _random, cli
from softtoken._encoding import b32encode
from softtoken.cli import _input
from softtoken.provisioning import parse_uri
from softtoken.render import qr_text
from tests.test_qr import requires_zbarimg, text_to_pgm, zbarimg
from tests.utils import RFC_SEED_SHA1, RFC_SEEDS, Result, Terminal, load_vectors, mode

RFC4226 = load_vectors("rfc4226.txt")
RFC6238 = load_vectors("rfc6238.txt")

# A key that must never show up in any output. Every spelling the command could leak is checked.
CANARY_KEY = b"canary-key-must-not-leak"
CANARY_SPELLINGS = (
    b32encode(CANARY_KEY),
    b32encode(CANARY_KEY).lower(),
    CANARY_KEY.hex(),
    CANARY_KEY.hex().upper(),
    CANARY_KEY.decode("ascii"),
)
CANARY_B32 = b32encode(CANARY_KEY)
RFC_B32 = b32encode(RFC_SEED_SHA1)
RFC_HEX = RFC_SEED_SHA1.hex()


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return Runner(capsys, monkeypatch)


class Runner:
    """Calls ``cli.main`` in-process with a given standard input; returns status and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *argv: str, stdin: str | None = None) -> Result:
        self.monkeypatch.setattr(sys, "stdin", Terminal() if stdin is None else io.StringIO(stdin))
        status = cli.main(list(argv))
        captured = self.capsys.readouterr()
        return Result(status, captured.out, captured.err)


def leaks(result: Result) -> list[str]:
    """The spellings of the canary key found in the command's output."""
    return [s for s in CANARY_SPELLINGS if s in result.out or s in result.err]


class TestCodeVectors:
    """Published vectors come out of ``softtoken code``."""

    ROWS_6238: ClassVar = [(r[0], r[1], r[3], r[4]) for r in RFC6238]

    @pytest.mark.parametrize(("count", "hotp"), [(r[0], r[4]) for r in RFC4226])
    def test_rfc4226_hex_key_from_file(
        self, run: Runner, tmp_path: Path, count: str, hotp: str
    ) -> None:
        """RFC 4226 Appendix D: hex key from a file, --hotp --counter."""
        key_file = tmp_path / "key"
        key_file.write_text(RFC_HEX + "\n")
        result = run("code", "--hotp", "--hex", "--counter", count, "--key-file", str(key_file))
        assert (0, hotp + "\n", "") == result

    @pytest.mark.parametrize(("unix", "utc", "totp", "mode"), ROWS_6238)
    def test_rfc6238_unix_seconds(
        self, run: Runner, unix: str, utc: str, totp: str, mode: str
    ) -> None:
        """RFC 6238 Appendix B at Unix seconds, base32 key on stdin, upper-case algorithm."""
        key = b32encode(RFC_SEEDS[mode.lower()])
        result = run("code", "--time", unix, "--digits", "8", "--algorithm", mode, stdin=key)
        assert (0, totp + "\n", "") == result

    @pytest.mark.parametrize(("unix", "utc", "totp", "mode"), ROWS_6238)
    def test_rfc6238_iso_times(
        self, run: Runner, unix: str, utc: str, totp: str, mode: str
    ) -> None:
        """The same codes at the published ISO-8601 UTC times."""
        key = b32encode(RFC_SEEDS[mode.lower()])
        result = run("code", "--time", utc, "--digits", "8", "--algorithm", mode, stdin=key)
        assert (0, totp + "\n", "") == result

    def test_iso_time_with_offset(self, run: Runner) -> None:
        """An ISO-8601 time in another zone means the same instant."""
        result = run("code", "--time", "2009-02-14T01:31:30+02:00", "--digits", "8", stdin=RFC_B32)
        assert (0, "89005924\n", "") == result

    def test_default_time_is_now(self, run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --time, the code is for the command's clock reading."""
        monkeypatch.setattr(_input, "now", lambda: 1111111109)
        assert (0, "07081804\n", "") == run("code", "--digits", "8", stdin=RFC_B32)

    def test_period_and_t0(self, run: Runner) -> None:
        """--period and --t0 select the step as RFC 6238 §4.2 defines it."""
        expected = TOTP(RFC_SEED_SHA1, period=60, t0=1000).generate(1_000_000)
        result = run("code", "--period", "60", "--t0", "1000", "--time", "1000000", stdin=RFC_B32)
        assert (0, expected + "\n", "") == result

    @pytest.mark.skipif(shutil.which("oathtool") is None, reason="oathtool is not installed")
    def test_totp_window_matches_oathtool(self, run: Runner) -> None:
        """The codes of a --window listing are oathtool's, in order."""
        oathtool = subprocess.run(
            ["oathtool", "--totp=SHA256", "-N", "@1234567890", "-w", "4", "-d", "7", "-"],
            input=RFC_SEEDS["sha256"].hex(),
            capture_output=True,
            text=True,
            check=True,
        )
        result = run(
            "code",
            "--time",
            "1234567890",
            "--window",
            "4",
            "--digits",
            "7",
            "--algorithm",
            "sha256",
            "--hex",
            stdin=RFC_SEEDS["sha256"].hex(),
        )
        assert 0 == result.status
        assert oathtool.stdout.split() == [line.split()[-1] for line in result.out.splitlines()]


class TestWindowListing:
    """``--window``, ``--past`` and ``--future`` list codes with their counter or step."""

    def test_hotp_window(self, run: Runner) -> None:
        """--window N lists the counter and the N after it, with offsets."""
        result = run("code", "--hotp", "--counter", "2", "--window", "3", stdin=RFC_B32)
        expected = "".join(f"counter {c} offset +{c - 2}: {RFC4226[c][4]}\n" for c in range(2, 6))
        assert (0, expected, "") == result

    def test_totp_past_and_future(self, run: Runner) -> None:
        """--past and --future list the steps around now, oldest first."""
        token = TOTP(RFC_SEED_SHA1)
        step = token.step(1234567890)
        result = run("code", "--time", "1234567890", "--past", "2", "--future", "1", stdin=RFC_B32)
        expected = "".join(
            f"step {step + o} offset {o:+d}: {token.generate_step(step + o)}\n"
            for o in (-2, -1, 0, 1)
        )
        assert (0, expected, "") == result

    def test_totp_window_is_future(self, run: Runner) -> None:
        """For TOTP, --window N lists the same codes as --future N."""
        window = run("code", "--time", "1234567890", "--window", "3", stdin=RFC_B32)
        future = run("code", "--time", "1234567890", "--future", "3", stdin=RFC_B32)
        assert 4 == len(window.out.splitlines())
        assert future == window

    def test_listing_stops_at_step_zero(self, run: Runner) -> None:
        """Steps before 0 do not exist and are left out."""
        result = run("code", "--time", "59", "--digits", "8", "--past", "3", stdin=RFC_B32)
        lines = result.out.splitlines()
        assert ["step 0 offset -1:", "step 1 offset +0: 94287082"] == [lines[0][:17], lines[1]]
        assert 2 == len(lines)

    def test_listing_stops_at_the_last_counter(self, run: Runner) -> None:
        """Counters past 2**64 - 1 do not exist and are left out."""
        result = run("code", "--hotp", "--counter", str(2**64 - 2), "--window", "5", stdin=RFC_B32)
        counters = [line.split()[1] for line in result.out.splitlines()]
        assert [str(2**64 - 2), str(2**64 - 1)] == counters

    @pytest.mark.parametrize("window", ["0", "3"])
    def test_counter_past_the_range(self, run: Runner, window: str) -> None:
        """A counter beyond 8 bytes is bad input, listed or not (RFC 4226 §5.2)."""
        result = run("code", "--hotp", "--counter", str(2**64), "--window", window, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "8 unsigned bytes" in result.err

    def test_window_and_future_together_are_refused(self, run: Runner) -> None:
        """Two ways of saying how many codes follow are a usage error."""
        assert 2 == run("code", "--window", "2", "--future", "2", stdin=RFC_B32).status

    @pytest.mark.parametrize("value", ["-1", "1001", "x", "1.5"])
    def test_window_must_be_a_small_whole_number(self, run: Runner, value: str) -> None:
        """A negative, huge or non-integer window is a usage error."""
        assert 2 == run("code", "--hotp", "--window", value, stdin=RFC_B32).status


class TestKeySources:
    """The key comes from exactly one place: a file, standard input, or (with a warning) argv."""

    def test_stdin_when_not_a_terminal(self, run: Runner) -> None:
        """With no key given, a piped standard input is read."""
        assert (0, "755224\n", "") == run("code", "--hotp", stdin=RFC_B32 + "\n")

    def test_key_file_dash_is_stdin(self, run: Runner) -> None:
        """--key-file - reads standard input."""
        assert (0, "755224\n", "") == run("code", "--hotp", "--key-file", "-", stdin=RFC_B32)

    def test_dash_argument_is_stdin(self, run: Runner) -> None:
        """A key argument of - reads standard input, with no warning."""
        assert (0, "755224\n", "") == run("code", "--hotp", "-", stdin=RFC_B32)

    def test_key_file(self, run: Runner, tmp_path: Path) -> None:
        """--key-file PATH reads the key from PATH; spaces and case do not matter in base32."""
        key_file = tmp_path / "key"
        key_file.write_text(" ".join([RFC_B32[:16].lower(), RFC_B32[16:]]) + "\n")
        result = run("code", "--hotp", "--counter", "9", "--key-file", str(key_file))
        assert (0, "520489\n", "") == result

    def test_argument_works_but_warns(self, run: Runner) -> None:
        """A key argument is accepted, as by oathtool, with a warning about ps."""
        result = run("code", "--hotp", "--hex", RFC_HEX)
        assert (0, "755224\n") == result[:2]
        assert "visible" in result.err
        assert "ps" in result.err

    def test_key_argument_after_options(self, run: Runner) -> None:
        """As with oathtool's getopt, the key may follow the options: ``verify CODE --hotp KEY``."""
        result = run("verify", "755224", "--hotp", "--hex", RFC_HEX)
        assert (0, "accepted: counter 0 offset +0\n") == result[:2]

    def test_two_leftover_arguments(self, run: Runner) -> None:
        """More arguments than CODE and KEY are a usage error."""
        result = run("verify", "755224", "--hotp", RFC_B32, RFC_B32)
        assert (2, "") == result[:2]
        assert "unrecognized arguments" in result.err

    def test_no_key_at_a_terminal(self, run: Runner) -> None:
        """With no key and an interactive standard input, the command explains and exits 2."""
        result = run("code")
        assert 2 == result.status
        assert "no key given" in result.err

    @pytest.mark.parametrize(
        "argv",
        [
            ("code", "--key-file", "-", "-"),
            ("code", "--key-file", "k", RFC_B32),
            ("uri", "--account", "a", "--generate", "--key-file", "-"),
        ],
    )
    def test_one_source_only(self, run: Runner, argv: tuple[str, ...]) -> None:
        """Giving the key twice is a usage error."""
        assert 2 == run(*argv, stdin=RFC_B32).status

    def test_missing_key_file(self, run: Runner, tmp_path: Path) -> None:
        """A missing key file is named in a one-line error, status 2, no traceback."""
        missing = str(tmp_path / "missing")
        result = run("code", "--key-file", missing)
        assert (2, "", f"softtoken: error: --key-file: no such file: {missing!r}\n") == result

    def test_key_file_not_text(self, run: Runner, tmp_path: Path) -> None:
        """A key file that is not UTF-8 is refused without quoting it."""
        key_file = tmp_path / "key"
        key_file.write_bytes(b"\xff\xfe" + CANARY_B32.encode())
        result = run("code", "--key-file", str(key_file))
        assert (2, "") == result[:2]
        assert "UTF-8" in result.err
        assert [] == leaks(result)

    @pytest.mark.parametrize(
        ("encoding", "text"),
        [("--base32", CANARY_B32 + "1"), ("--hex", CANARY_KEY.hex() + "zz"), ("--hex", "")],
    )
    def test_malformed_key(self, run: Runner, encoding: str, text: str) -> None:
        """A malformed key gives status 2 and a message that does not quote it."""
        result = run("code", encoding, stdin=text)
        assert (2, "") == result[:2]
        assert result.err.startswith("softtoken: error: ")
        assert [] == leaks(result)

    def test_hex_key(self, run: Runner) -> None:
        """--hex decodes hex text, in either case."""
        assert (0, "287082\n", "") == run(
            "code", "--hotp", "--hex", "--counter", "1", stdin=RFC_HEX.upper()
        )

    def test_short_key_needs_opt_in(self, run: Runner) -> None:
        """A 10-byte key is refused, naming the flag, and accepted with --allow-short-key."""
        short = b32encode(RFC_SEED_SHA1[:10])
        refused = run("code", "--hotp", stdin=short)
        assert 2 == refused.status
        assert "--allow-short-key" in refused.err
        expected = HOTP(RFC_SEED_SHA1[:10], allow_short_key=True).generate(0)
        assert (0, expected + "\n", "") == run("code", "--hotp", "--allow-short-key", stdin=short)


class TestVerify:
    """``softtoken verify``: 0 accepted, 1 not accepted, 2 bad usage or input."""

    def test_accepts_a_vector(self, run: Runner) -> None:
        """An RFC 6238 code is accepted at its time; the step and offset are printed."""
        result = run("verify", "94287082", "--digits", "8", "--time", "59", stdin=RFC_B32)
        assert (0, "accepted: step 1 offset +0\n", "") == result

    def test_reports_drift(self, run: Runner) -> None:
        """A code one step old is accepted by default, with offset -1."""
        result = run("verify", "37359152", "--digits", "8", "--time", "89", stdin=RFC_B32)
        assert (0, "accepted: step 2 offset +0\n", "") == result
        result = run("verify", "94287082", "--digits", "8", "--time", "89", stdin=RFC_B32)
        assert (0, "accepted: step 1 offset -1\n", "") == result

    def test_default_time_is_now(self, run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --time, the command's clock reading is used."""
        monkeypatch.setattr(_input, "now", lambda: 59)
        result = run("verify", "94287082", "--digits", "8", stdin=RFC_B32)
        assert (0, "accepted: step 1 offset +0\n", "") == result

    def test_hotp_look_ahead(self, run: Runner) -> None:
        """An HOTP code ahead of the counter, within --look-ahead, reports its counter."""
        result = run(
            "verify", "969429", "--hotp", "--counter", "1", "--look-ahead", "2", "-", stdin=RFC_B32
        )
        assert (0, "accepted: counter 3 offset +2\n", "") == result

    def test_hotp_beyond_look_ahead(self, run: Runner) -> None:
        """An HOTP code past the look-ahead is not accepted."""
        result = run(
            "verify", "969429", "--hotp", "--counter", "1", "--look-ahead", "1", stdin=RFC_B32
        )
        assert (1, "not accepted\n", "") == result

    def test_wrong_code(self, run: Runner) -> None:
        """A wrong code exits 1 and prints only "not accepted"."""
        result = run("verify", "94287083", "--digits", "8", "--time", "59", stdin=RFC_B32)
        assert (1, "not accepted\n", "") == result

    def test_last_step_refuses_replay(self, run: Runner) -> None:
        """Carrying the accepted step as --last-step refuses the same code, like a wrong one."""
        argv = ("verify", "94287082", "--digits", "8", "--time", "59")
        first = run(*argv, stdin=RFC_B32)
        step = first.out.split()[2]
        replay = run(*argv, "--last-step", step, stdin=RFC_B32)
        assert (0, 1) == (first.status, replay.status)
        assert run("verify", "00000000", *argv[2:], stdin=RFC_B32) == replay

    def test_last_counter_refuses_replay(self, run: Runner) -> None:
        """--last-counter refuses an HOTP code at or below it, even inside the look-ahead."""
        argv = ("verify", "287082", "--hotp", "--look-ahead", "3", "--last-counter")
        assert (1, "not accepted\n", "") == run(*argv, "1", stdin=RFC_B32)
        assert (0, "accepted: counter 1 offset +1\n", "") == run(*argv, "0", stdin=RFC_B32)

    def test_code_outside_window(self, run: Runner) -> None:
        """A code from 3 steps ago is not accepted with the default window."""
        old = TOTP(RFC_SEED_SHA1).generate(1234567890 - 90)
        result = run("verify", old, "--time", "1234567890", stdin=RFC_B32)
        assert (1, "not accepted\n", "") == result

    @pytest.mark.parametrize("code", ["9428708", "94287082x", "", "9428 7082 1"])
    def test_malformed_code_is_bad_input(self, run: Runner, code: str) -> None:
        """A code of the wrong shape is bad input: status 2, and the code is not quoted."""
        result = run("verify", code, "--digits", "8", "--time", "59", stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "ASCII digits" in result.err

    def test_grouped_code_is_accepted(self, run: Runner) -> None:
        """A code typed in groups, as apps show it, is accepted."""
        result = run("verify", "9428 7082", "--digits", "8", "--time", "59", stdin=RFC_B32)
        assert 0 == result.status

    @pytest.mark.parametrize(
        "options",
        [
            ("--hotp", "--time", "59"),
            ("--hotp", "--past", "1"),
            ("--hotp", "--last-step", "1"),
            ("--hotp", "--period", "60"),
            ("--look-ahead", "1"),
            ("--counter", "1"),
            ("--last-counter", "1"),
        ],
    )
    def test_options_of_the_other_kind(self, run: Runner, options: tuple[str, ...]) -> None:
        """An option that belongs to the other token kind is a usage error, not ignored."""
        result = run("verify", "755224", *options, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "cannot be used with" in result.err

    @pytest.mark.parametrize(
        "options", [("--past", "11"), ("--look-ahead", "51", "--hotp"), ("--digits", "5")]
    )
    def test_library_limits(self, run: Runner, options: tuple[str, ...]) -> None:
        """The library's caps on windows and digits become status 2 with its message."""
        result = run("verify", "755224", *options, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert result.err.startswith("softtoken: error: ")
        assert "Traceback" not in result.err

    @pytest.mark.parametrize("time", ["2009-02-13T23:31:30", "yesterday", "-5", "1.5"])
    def test_bad_time(self, run: Runner, time: str) -> None:
        """A naive, unparseable or negative time is a usage error."""
        result = run("verify", "755224", "--time", time, stdin=RFC_B32)
        assert 2 == result.status
        assert "argument -N/--time" in result.err


class TestURI:
    """``softtoken uri`` builds Key URIs that parse back to the same token."""

    def test_totp_uri(self, run: Runner) -> None:
        """The URI carries the key, the account, the issuer and the parameters given."""
        result = run(
            "uri",
            "--account",
            "alice@example.com",
            "--issuer",
            "Example Bank",
            "--algorithm",
            "sha256",
            "--digits",
            "8",
            "--period",
            "60",
            stdin=RFC_B32,
        )
        assert (0, "") == (result.status, result.err)
        uri = parse_uri(result.out.strip())
        fields = (uri.kind, uri.secret, uri.account, uri.issuer, uri.algorithm, uri.digits)
        assert ("totp", RFC_SEED_SHA1, "alice@example.com", "Example Bank", "sha256", 8) == fields
        assert 60 == uri.period

    def test_hotp_uri_starts_at_counter_zero(self, run: Runner) -> None:
        """An HOTP URI needs a counter; without --counter it is 0."""
        result = run("uri", "--hotp", "--account", "bob", stdin=RFC_B32)
        uri = parse_uri(result.out.strip())
        assert ("hotp", 0) == (uri.kind, uri.counter)

    def test_hotp_uri_counter(self, run: Runner) -> None:
        """--counter sets an HOTP URI's counter."""
        result = run("uri", "--hotp", "--account", "bob", "--counter", "42", stdin=RFC_B32)
        assert 42 == parse_uri(result.out.strip()).counter

    def test_uri_codes_match_code_command(self, run: Runner) -> None:
        """The token the URI describes gives the same code as ``softtoken code``."""
        uri = parse_uri(run("uri", "--account", "a", "--digits", "7", stdin=RFC_B32).out.strip())
        code = run("code", "--digits", "7", "--time", "1234567890", stdin=RFC_B32).out.strip()
        assert code == uri.token().generate(1234567890)

    def test_masked(self, run: Runner) -> None:
        """--masked prints the URI with the secret replaced by ****, and nothing of the key."""
        result = run("uri", "--account", "alice", "--issuer", "Bank", "--masked", stdin=CANARY_B32)
        assert (0, "") == (result.status, result.err)
        assert "secret=****" in result.out
        assert "alice" in result.out
        assert [] == leaks(result)

    def test_generate_uses_the_randomness_helper(
        self, run: Runner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--generate makes a key sized for the algorithm through softtoken's one random source."""
        monkeypatch.setattr(_random, "_source", lambda n: (CANARY_KEY * 3)[:n])
        result = run("uri", "--account", "a", "--generate", "--algorithm", "sha512")
        assert (CANARY_KEY * 3)[:64] == parse_uri(result.out.strip()).secret

    @pytest.mark.parametrize(
        "argv",
        [
            ("uri",),
            ("uri", "--account", "a", "--generate", "--masked"),
            ("uri", "--account", "a", "--key-out", "k"),
            ("uri", "--account", "a", "--counter", "1"),
            ("uri", "--account", "a", "--hotp", "--period", "60"),
        ],
    )
    def test_usage_errors(self, run: Runner, argv: tuple[str, ...]) -> None:
        """A missing account, a masked new key or options of the other kind exit 2."""
        result = run(*argv, stdin=RFC_B32)
        assert (2, "") == result[:2]

    @pytest.mark.parametrize("account", ["a:b", " alice", "tab\there"])
    def test_refused_account(self, run: Runner, account: str) -> None:
        """An account the Key URI format cannot carry is refused with the library's message."""
        result = run("uri", "--account", account, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "account name" in result.err

    def test_generate_masked_with_key_out(
        self, run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--generate --masked is allowed when --key-out keeps the key: the URI shows ****."""
        monkeypatch.setattr(_random, "_source", lambda n: (CANARY_KEY * 3)[:n])
        key_out = tmp_path / "new.key"
        result = run("uri", "--account", "a", "--generate", "--masked", "--key-out", str(key_out))
        assert (0, "otpauth://totp/a?secret=****\n", "") == result
        assert b32encode((CANARY_KEY * 3)[:20]) + "\n" == key_out.read_text()
        assert 0o600 == mode(key_out)

    def test_short_key_needs_opt_in(self, run: Runner) -> None:
        """A URI is never built for a key the library would refuse, unless opted in."""
        short = b32encode(RFC_SEED_SHA1[:10])
        assert 2 == run("uri", "--account", "a", stdin=short).status
        result = run("uri", "--account", "a", "--allow-short-key", stdin=short)
        assert RFC_SEED_SHA1[:10] == parse_uri(result.out.strip(), allow_short_key=True).secret


class TestQR:
    """``softtoken qr`` draws a Key URI as terminal text, SVG or PNG."""

    URI: ClassVar = f"otpauth://totp/Example:alice?secret={RFC_B32}&issuer=Example"

    def test_short_key_uri_with_opt_in(self, run: Runner) -> None:
        """A legacy 10-byte URI is drawn with --allow-short-key and refused without it."""
        uri = f"otpauth://totp/a?secret={b32encode(RFC_SEED_SHA1[:10])}"
        assert 2 == run("qr", stdin=uri).status
        result = run("qr", "--allow-short-key", stdin=uri)
        expected = qr_text(parse_uri(uri, allow_short_key=True))
        assert (0, expected, "") == (result.status, result.out.rstrip("\n"), result.err)

    def test_terminal_from_stdin(self, run: Runner) -> None:
        """A URI piped in is drawn as the library's terminal rendering."""
        result = run("qr", stdin=self.URI + "\n")
        assert (0, qr_text(self.URI), "") == (result.status, result.out.rstrip("\n"), result.err)

    def test_terminal_from_options(self, run: Runner) -> None:
        """With --account, the URI is built from the options and the key."""
        result = run("qr", "--account", "alice", "--issuer", "Example", stdin=RFC_B32)
        assert qr_text(self.URI) == result.out.rstrip("\n")

    def test_svg_from_uri_file(self, run: Runner, tmp_path: Path) -> None:
        """--uri-file reads the URI; --format svg prints an SVG document."""
        uri_file = tmp_path / "uri"
        uri_file.write_text(self.URI)
        result = run("qr", "--uri-file", str(uri_file), "--format", "svg")
        assert 0 == result.status
        assert "<svg" in result.out
        assert RFC_B32 not in result.out

    def test_png_needs_output(self, run: Runner) -> None:
        """PNG bytes are never written to the terminal."""
        result = run("qr", "--format", "png", stdin=self.URI)
        assert (2, "") == result[:2]
        assert "--output" in result.err

    def test_png_file_is_private(self, run: Runner, tmp_path: Path) -> None:
        """The PNG is written to --output, readable by its owner only, since it holds a key."""
        output = tmp_path / "token.png"
        assert (0, "", "") == run("qr", "--format", "png", "--output", str(output), stdin=self.URI)
        assert b"\x89PNG\r\n\x1a\n" == output.read_bytes()[:8]
        assert 0o600 == stat.S_IMODE(output.stat().st_mode)

    @requires_zbarimg
    def test_png_decodes(self, run: Runner, tmp_path: Path) -> None:
        """zbarimg reads the same URI back from the PNG."""
        output = tmp_path / "token.png"
        run(
            "qr",
            "--account",
            "alice",
            "--issuer",
            "Example",
            "--format",
            "png",
            "--output",
            str(output),
            stdin=RFC_B32,
        )
        assert self.URI == zbarimg(output)

    @pytest.mark.parametrize(
        "text",
        [
            f"otpauth://totp/alice?secret={CANARY_B32}1",
            f"https://example.com/?secret={CANARY_B32}",
            f"otpauth://totp/alice?secret={CANARY_B32}&digits=5",
        ],
    )
    def test_bad_uri(self, run: Runner, text: str) -> None:
        """A URI that does not parse is refused, status 2, without quoting it."""
        result = run("qr", stdin=text)
        assert (2, "") == result[:2]
        assert result.err.startswith("softtoken: error: ")
        assert [] == leaks(result)

    @pytest.mark.parametrize(
        "argv",
        [
            ("qr", "--key-file", "-"),
            ("qr", "--account", "a", "--uri-file", "-"),
            ("qr", "--scale", "0"),
        ],
    )
    def test_usage_errors(self, run: Runner, argv: tuple[str, ...]) -> None:
        """Conflicting or incomplete sources are usage errors."""
        assert 2 == run(*argv, stdin=self.URI).status

    def test_no_uri_at_a_terminal(self, run: Runner) -> None:
        """With nothing to draw and an interactive standard input, the command exits 2."""
        result = run("qr")
        assert 2 == result.status
        assert "no URI given" in result.err

    def test_output_replaces_a_readable_file_with_a_private_one(
        self, run: Runner, tmp_path: Path
    ) -> None:
        """An existing 0644 file at --output is replaced by a new file of mode 0600."""
        output = tmp_path / "token.svg"
        output.write_text("old")
        output.chmod(0o644)
        result = run("qr", "--format", "svg", "--output", str(output), stdin=self.URI)
        assert (0, "", "") == result
        assert 0o600 == stat.S_IMODE(output.stat().st_mode)
        assert output.read_text().startswith("<?xml")

    @pytest.mark.parametrize("fmt", ["png", "svg", "terminal"])
    def test_output_refuses_a_symlink(self, run: Runner, tmp_path: Path, fmt: str) -> None:
        """A symbolic link at --output is refused, not followed: its target is untouched."""
        target, link = tmp_path / "target", tmp_path / "link"
        target.write_text("untouched")
        link.symlink_to(target)
        result = run("qr", "--format", fmt, "--output", str(link), stdin=self.URI)
        assert (2, "") == result[:2]
        assert "symbolic link" in result.err
        assert ("untouched", True) == (target.read_text(), link.is_symlink())

    def test_output_in_a_missing_folder(self, run: Runner, tmp_path: Path) -> None:
        """A folder that does not exist gives a one-line error that does not name the path."""
        output = tmp_path / "missing" / CANARY_B32
        result = run("qr", "--format", "png", "--output", str(output), stdin=self.URI)
        assert (2, "") == result[:2]
        assert "--output: cannot write the file" in result.err
        assert [] == leaks(result)

    @pytest.mark.parametrize(
        "argv", [(), ("--format", "png", "--output", "qr.png"), ("--format", "svg")]
    )
    def test_generate_needs_key_out(
        self, run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
    ) -> None:
        """A new key only drawn would be lost: --generate without --key-out draws nothing."""
        monkeypatch.chdir(tmp_path)
        result = run("qr", "--generate", "--account", "a", *argv)
        assert (2, "") == result[:2]
        assert "--key-out" in result.err
        assert [] == list(tmp_path.iterdir())

    def test_generate_with_key_out(
        self, run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--key-out keeps the new key, base32 in a private file; the QR draws the same key."""
        monkeypatch.setattr(_random, "_source", lambda n: (CANARY_KEY * 3)[:n])
        key_out = tmp_path / "new.key"
        result = run("qr", "--generate", "--account", "alice", "--key-out", str(key_out))
        key = (CANARY_KEY * 3)[:20]
        expected = f"otpauth://totp/alice?secret={b32encode(key)}"
        assert (0, qr_text(expected) + "\n", "") == result
        assert (b32encode(key) + "\n", 0o600) == (key_out.read_text(), mode(key_out))

    def test_key_out_never_replaces_a_file(self, run: Runner, tmp_path: Path) -> None:
        """An existing file at --key-out may be another key: it is kept, and nothing is drawn."""
        key_out = tmp_path / "old.key"
        key_out.write_text("old key\n")
        result = run("qr", "--generate", "--account", "a", "--key-out", str(key_out))
        assert (2, "") == result[:2]
        assert "old key\n" == key_out.read_text()

    @pytest.mark.parametrize(
        "argv",
        [
            ("--key-out", "k"),
            ("--account", "a", "--key-out", "k"),
            ("--format", "svg", "--background", "light"),
            ("--format", "png", "--output", "x.png", "--background", "dark"),
        ],
    )
    def test_options_that_do_not_apply(
        self, run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
    ) -> None:
        """--key-out without --generate, and --background for a file format, are usage errors."""
        monkeypatch.chdir(tmp_path)
        stdin = RFC_B32 if "--account" in argv else self.URI
        assert (2, "") == run("qr", *argv, stdin=stdin)[:2]
        assert [] == list(tmp_path.iterdir())

    @pytest.mark.parametrize(
        ("background", "dark"), [(None, True), ("dark", True), ("light", False)]
    )
    def test_background(self, run: Runner, background: str | None, dark: bool) -> None:
        """--background light draws the dark modules, for a light terminal; dark is the default."""
        argv = () if background is None else ("--background", background)
        result = run("qr", *argv, stdin=self.URI)
        assert (0, qr_text(self.URI, dark_background=dark) + "\n", "") == result

    @requires_zbarimg
    @pytest.mark.parametrize("background", ["dark", "light"])
    def test_terminal_text_decodes(self, run: Runner, tmp_path: Path, background: str) -> None:
        """zbarimg reads the URI back from the text, painted as a terminal of that background."""
        result = run("qr", "--background", background, stdin=self.URI)
        image = tmp_path / "terminal.pgm"
        painted = text_to_pgm(result.out.rstrip("\n"), dark_background=background == "dark")
        image.write_bytes(painted)
        assert self.URI == zbarimg(image)


class TestUsage:
    """Help, version and usage errors."""

    def test_help(self, run: Runner) -> None:
        """--help prints usage and exits 0 from main."""
        result = run("--help")
        assert 0 == result.status
        assert result.out.startswith("usage: softtoken")

    @pytest.mark.parametrize("command", ["code", "verify", "uri", "qr", "unlock-code"])
    def test_subcommand_help(self, run: Runner, command: str) -> None:
        """Every subcommand has its own help."""
        result = run(command, "--help")
        assert 0 == result.status
        assert f"usage: softtoken {command}" in result.out

    def test_version(self, run: Runner) -> None:
        """--version prints the installed version."""
        from softtoken import __version__

        assert (0, f"softtoken {__version__}\n", "") == run("--version")

    def test_no_command(self, run: Runner) -> None:
        """A command is required."""
        assert 2 == run().status

    def test_python_m_softtoken(self) -> None:
        """``python -m softtoken --help`` runs the command."""
        result = subprocess.run(
            [sys.executable, "-m", "softtoken", "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert (0, "") == (result.returncode, result.stderr)
        assert result.stdout.startswith("usage: softtoken")
