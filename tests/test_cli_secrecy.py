"""Tests that the ``softtoken`` command never repeats a secret, and reads only bounded input.

A key, a code or a PIN typed in the wrong place must not come back in argparse's messages, in a
"no such file" error, or anywhere else; no option may be abbreviated; and no input, from a file
or from standard input, is read past 64 KiB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softtoken import cli
from softtoken.cli import app as cli_app
from softtoken.cli._args import scrub
from softtoken.cli._input import MAX_INPUT, BadInput, read_text, shown_path
from softtoken.cli._main import build_parser
from softtoken.pinlock import INSECURE_TEST_KDF
from tests.test_cli import CANARY_B32, CANARY_KEY, RFC_B32, Runner, leaks

# A well-formed serial (softtoken.provisioning.Serial) for commands that need one.
SN = "0000000018"

# A canary starts with this marker, which the command never prints by itself. Its "9" is in
# neither the base32 nor the hex alphabet, so a canary is never a valid key either.
MARKER: Final = "Zq9Wv"
SERIAL: Final = "93171-12184"
PIN: Final = "2580"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return Runner(capsys, monkeypatch)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.txt"
    path.write_text(RFC_B32 + "\n")
    return path


def all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """*parser* and every subparser under it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from all_parsers(child)


class TestNoAbbreviations:
    """No option may be abbreviated, so that no "ambiguous option" message quotes a value."""

    def test_every_parser_refuses_abbreviations(self) -> None:
        """allow_abbrev is off for the command and every subcommand and app action."""
        parsers = list(all_parsers(build_parser()))
        # The walk reaches the app actions, two levels down, so it is not vacuous.
        assert "softtoken app code" in {parser.prog for parser in parsers}
        assert len(parsers) > 16
        assert [] == [parser.prog for parser in parsers if parser.allow_abbrev]

    @pytest.mark.parametrize("option", ["--hot", "--dig=8", "--alg", "--all"])
    def test_abbreviation_is_refused(self, run: Runner, option: str) -> None:
        """An abbreviated option is an unrecognised argument, exit 2."""
        result = run("code", "--hotp", option, stdin=RFC_B32)
        assert (2, "") == result[:2]
        assert "unrecognized arguments (not shown" in result.err

    def test_abbreviation_holding_a_key(self, run: Runner) -> None:
        """``code --h=KEY --key-file k`` (the reported leak) does not print the key."""
        result = run("code", f"--h={CANARY_B32}", "--key-file", "k")
        assert (2, "") == result[:2]
        assert [] == leaks(result)


class TestScrub:
    """Parser.error keeps the shape of argparse's messages and drops every typed value."""

    C = MARKER + "-secret"

    @pytest.mark.parametrize(
        ("message", "expected"),
        [
            (
                f"ambiguous option: --h={C} could match --hotp, --hex",
                "an option is abbreviated or misspelt (not shown, in case it holds a secret); "
                "give every option in full",
            ),
            (
                f"unrecognized arguments: {C} {C}",
                "unrecognized arguments (not shown, in case one of them is a secret)",
            ),
            (
                f"argument --algorithm: invalid choice: '{C}' (choose from 'sha1', 'sha256')",
                "argument --algorithm: invalid choice (choose from 'sha1', 'sha256')",
            ),
            (
                f"argument --algorithm: invalid choice: 'x (choose from {C}' (choose from 'sha1')",
                "argument --algorithm: invalid choice (choose from 'sha1')",
            ),
            (
                f"argument --format: invalid choice: '{C} (choose from {C})'",
                "argument --format: invalid choice",
            ),
            (
                f"argument -d/--digits: invalid int value: '{C}'",
                "argument -d/--digits: invalid value",
            ),
            (
                f"argument -v/--verbose: ignored explicit argument '{C}'",
                "argument -v/--verbose: takes no value",
            ),
            (f"argument COMMAND: unknown parser '{C}'", "argument COMMAND: invalid value"),
            (f"argument -d/--digits: {C}", "argument -d/--digits: invalid value"),
            (
                f"unexpected option string: {C}",
                "invalid usage (details not shown, in case they hold a secret)",
            ),
            ("argument -d/--digits: expected one argument", None),
            ("argument --hex: not allowed with argument -b/--base32", None),
            ("the following arguments are required: --wallet, --device-key-file", None),
            ("one of the arguments --code-file CODE is required", None),
            ("argument -d/--digits: expected a whole number, 0 or more", None),
        ],
    )
    def test_message(self, message: str, expected: str | None) -> None:
        """Each kind of argparse message comes out without the value (None: unchanged)."""
        assert (message if expected is None else expected) == scrub(message)


def run_captured(argv: list[str]) -> str:
    """Run the command in-process, the RFC key on standard input; return all it printed."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.object(sys, "stdin", io.StringIO(RFC_B32)),
        mock.patch.object(cli_app, "KDF", INSECURE_TEST_KDF),
        mock.patch.dict(os.environ),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        os.environ.pop("SOFTTOKEN_WALLET", None)
        os.environ.pop("SOFTTOKEN_DEVICE_KEY_FILE", None)
        cli.main(argv)
    return out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """A wallet with one identity, as the --wallet and --device-key-file options."""
    folder = tmp_path_factory.mktemp("wallet")
    files = ("--wallet", str(folder / "w"), "--device-key-file", str(folder / "dk"))
    (folder / "key").write_text(RFC_B32)
    (folder / "pin").write_text(PIN)
    run_captured(["app", "init", *files])
    add = ["--serial", SERIAL, "--name", "N", "--key-file", str(folder / "key")]
    run_captured(["app", "add", *files, *add, "--pin-file", str(folder / "pin")])
    assert f"{SERIAL.replace('-', '')}\t" in run_captured(["app", "list", *files])
    return files


# Where a canary C goes. Only positions that do not name an input file: a missing file is named
# on purpose (unless its name looks like a secret, see TestNamedFiles).
TEMPLATES: Final = [
    ("C",),
    ("code", "C"),
    ("code", "--hotp", "C", "C"),
    ("code", "--C"),
    ("code", "-C"),
    ("code", "--h=C"),
    ("code", "--hotp=C"),
    ("code", "-vC"),
    ("code", "-dC"),
    ("code", "--digits", "C"),
    ("code", "--digits=C"),
    ("code", "-N", "C"),
    ("code", "--time", "C"),
    ("code", "-S", "C"),
    ("code", "-s", "C"),
    ("code", "-w", "C"),
    ("code", "-c", "C", "--hotp"),
    ("code", "--algorithm", "C"),
    ("code", "--algorithm=C"),
    ("verify", "C"),
    ("verify", "000000", "C", "C"),
    ("verify", "--hotp", "C", "000000"),
    ("verify", "--code-file", "/nonexistent", "C"),
    ("verify", "--past", "C", "000000"),
    ("verify", "--last-step", "C", "000000"),
    ("uri", "--account", "a", "--masked", "C"),
    ("uri", "--account", "a", "--masked", "--bogus=C"),
    ("qr", "--format", "C"),
    ("qr", "--background", "C"),
    ("qr", "--scale", "C"),
    ("qr", "C"),
    ("unlock-code", "--serial", "C", "--key-file", "-", "--reset-code", "123456782"),
    ("unlock-code", "--serial", SN, "--key-file", "-", "--reset-code", "C"),
    ("unlock-code", "--serial", SN, "--key-file", "-", "--reset-code", "1", "-dC"),
    ("app", "C"),
    ("app", "code", "W", "--serial", "C"),
    ("app", "code", "W", "--serial", SERIAL, "C"),
    ("app", "code", "W", "--serial", SERIAL, "--profile", "C"),
    ("app", "reset-code", "W", "--serial", "C"),
    ("app", "delete", "W", "--serial", SERIAL, "--C"),
    ("app", "init", "W", "--profile", "C"),
    ("app", "unlock", "W", "--serial", SERIAL, "--unlock-code", "C", "--pin-file", "/nonexistent"),
]


class TestCanaries:
    """Whatever is typed, in any position, never comes back on stdout or stderr."""

    # Each of the 42 positions is one case; 50 canaries per position keep the whole sweep at a few
    # seconds where the CI profile's 300 would spend a minute on the same argparse paths.
    @pytest.mark.parametrize("template", TEMPLATES, ids=" ".join)
    @settings(max_examples=50)
    @given(tail=st.text(st.characters(codec="utf-8"), max_size=40))
    def test_never_repeated(
        self, wallet: tuple[str, ...], template: tuple[str, ...], tail: str
    ) -> None:
        """A canary as an option value, a stray argument or part of an option is not printed."""
        canary = MARKER + tail
        argv: list[str] = []
        for part in template:
            argv.extend(wallet if part == "W" else [part.replace("C", canary)])
        assert canary not in run_captured(argv)


class TestSecrecy:
    """No key is ever printed, whatever the user types, on the command line or standard input."""

    @pytest.mark.parametrize(
        "argv",
        [
            ("code", CANARY_B32),
            ("verify", "000000", CANARY_B32),
            ("verify", CANARY_B32),
            ("verify", "--hotp", CANARY_B32, "000000"),
            (CANARY_B32,),
            ("code", "--digits", CANARY_B32),
            ("code", "--algorithm", CANARY_B32),
            ("code", "--time", CANARY_B32),
            ("code", "--window", CANARY_B32),
            ("code", "--hex", CANARY_B32),
            ("code", "x", CANARY_B32),
            ("code", "--bogus", CANARY_B32),
            ("code", f"--hotp={CANARY_B32}"),
            ("code", "--key-file", CANARY_B32),
            ("qr", "--uri-file", CANARY_B32),
            (
                "qr",
                "--generate",
                "--account",
                "a",
                "--format",
                "png",
                "--output",
                f"/nonexistent/{CANARY_B32}",
            ),
            ("uri", "--account", "alice", "--masked", CANARY_B32),
        ],
    )
    def test_key_on_the_command_line(self, run: Runner, argv: tuple[str, ...]) -> None:
        """A key typed anywhere on the command line is never repeated on stdout or stderr."""
        assert [] == leaks(run(*argv))

    @pytest.mark.parametrize(
        "argv",
        [
            ("code",),
            ("code", "--window", "3", "--past", "2"),
            ("verify", "000000"),
            ("verify", "123"),
            ("code", "--hex"),
            ("code", "--digits", "11"),
            ("uri", "--account", "alice", "--masked"),
            ("qr", "--format", "png"),
        ],
    )
    def test_key_on_stdin(self, run: Runner, argv: tuple[str, ...]) -> None:
        """A key read from standard input is never repeated on stdout or stderr."""
        assert [] == leaks(run(*argv, stdin=CANARY_B32))


class TestNoContext:
    """Input errors carry no inner error: a UnicodeDecodeError would hold the file's bytes."""

    @pytest.mark.parametrize(
        "content", [RFC_B32.encode() + b"\xff", b"\xc3" + RFC_B32.encode(), b"2468\xed\xa0\x80"]
    )
    def test_undecodable_file(self, tmp_path: Path, content: bytes) -> None:
        """A key or PIN file that is not UTF-8 raises BadInput with no context or cause."""
        path = tmp_path / "key"
        path.write_bytes(content)
        with pytest.raises(BadInput) as caught:
            read_text(str(path), option="--key-file")
        assert (None, None) == (caught.value.__context__, caught.value.__cause__)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file raises BadInput with no OSError (which holds the name) attached."""
        with pytest.raises(BadInput) as caught:
            read_text(str(tmp_path / "GEZDGNBVGY3TQOJQ"), option="--key-file")
        assert (None, None) == (caught.value.__context__, caught.value.__cause__)


class TestInputLimits:
    """No file and no standard input is read past 64 KiB; a larger input is refused."""

    def test_key_file_of_exactly_the_limit(self, run: Runner, tmp_path: Path) -> None:
        """A key file of 64 KiB (a key padded with spaces) is read whole."""
        key_file = tmp_path / "key"
        key_file.write_text(RFC_B32.ljust(MAX_INPUT))
        assert (0, "755224\n", "") == run("code", "--hotp", "--key-file", str(key_file))

    def test_key_file_over_the_limit(self, run: Runner, tmp_path: Path) -> None:
        """One byte more is refused with a usage error, naming the option."""
        key_file = tmp_path / "key"
        key_file.write_text(RFC_B32.ljust(MAX_INPUT + 1))
        result = run("code", "--hotp", "--key-file", str(key_file))
        assert (2, "") == result[:2]
        assert "--key-file: the file holds more than 64 KiB" in result.err

    @pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
    @pytest.mark.parametrize(
        "argv",
        [
            ("code", "--key-file", "/dev/zero"),
            ("code", "--uri-file", "/dev/zero"),
            ("verify", "--code-file", "/dev/zero", "--key-file", "KEY"),
            ("verify", "755224", "--uri-file", "/dev/zero"),
            ("qr", "--uri-file", "/dev/zero"),
            ("uri", "--account", "a", "--key-file", "/dev/zero"),
            ("unlock-code", "--serial", SN, "--key-file", "/dev/zero", "--reset-code", "1"),
            ("unlock-code", "--serial", SN, "--key-file", "KEY", "--reset-code-file", "/dev/zero"),
        ],
    )
    def test_endless_file(self, run: Runner, key_file: Path, argv: tuple[str, ...]) -> None:
        """/dev/zero as any input is refused after 64 KiB, instead of filling memory."""
        result = run(*(str(key_file) if part == "KEY" else part for part in argv))
        assert (2, "") == result[:2]
        assert "holds more than 64 KiB" in result.err

    @pytest.mark.parametrize(
        "argv",
        [
            ("code",),
            ("code", "-"),
            ("verify", "-", "--key-file", "KEY"),
            ("qr",),
            ("unlock-code", "--serial", SN, "--key-file", "KEY"),
        ],
    )
    def test_standard_input_over_the_limit(
        self, run: Runner, key_file: Path, argv: tuple[str, ...]
    ) -> None:
        """More than 64 KiB on standard input is refused too."""
        argv = tuple(str(key_file) if part == "KEY" else part for part in argv)
        result = run(*argv, stdin=" " * (MAX_INPUT + 1))
        assert (2, "") == result[:2]
        assert "standard input holds more than 64 KiB" in result.err


class TestNamedFiles:
    """A missing input file is named, unless its name looks like a secret typed in its place."""

    @pytest.mark.parametrize(
        ("option", "argv"),
        [
            ("--key-file", ("code", "--key-file", "PATH")),
            ("--uri-file", ("code", "--uri-file", "PATH")),
            ("--uri-file", ("qr", "--uri-file", "PATH")),
            ("--code-file", ("verify", "--code-file", "PATH", "--key-file", "KEY")),
            (
                "--key-file",
                ("unlock-code", "--serial", SN, "--key-file", "PATH", "--reset-code", "1"),
            ),
            (
                "--reset-code-file",
                ("unlock-code", "--serial", SN, "--key-file", "KEY", "--reset-code-file", "PATH"),
            ),
        ],
    )
    def test_missing_file_is_named(
        self, run: Runner, tmp_path: Path, key_file: Path, option: str, argv: tuple[str, ...]
    ) -> None:
        """The error says which option's file is missing, and names it."""
        missing = str(tmp_path / "no such.txt")
        names = {"PATH": missing, "KEY": str(key_file)}
        result = run(*(names.get(part, part) for part in argv))
        assert (2, "", f"softtoken: error: {option}: no such file: {missing!r}\n") == result

    @pytest.mark.parametrize(
        "name",
        [
            CANARY_B32,
            CANARY_B32.lower(),
            CANARY_KEY.hex(),
            f"otpauth://totp/a?secret={CANARY_B32}",
            "2580",
            "755224",
            "9428 7082",
            "769-764-879",
        ],
    )
    def test_secret_looking_name_is_not_shown(self, run: Runner, name: str) -> None:
        """A key, PIN, code or URI typed after --key-file is the name of no file; not shown."""
        result = run("code", "--key-file", name)
        assert (2, "") == result[:2]
        assert "--key-file: no such file: (name not shown" in result.err
        assert name not in result.err

    @pytest.mark.parametrize(
        ("path", "shown"),
        [
            ("key.txt", "'key.txt'"),
            ("keyfile", "'keyfile'"),
            ("keys/2580", "'keys/2580'"),
            ("secrets/key", "'secrets/key'"),
            ("a?secret=x", None),
            ("bank\x1b[2Jkey.b32", "'bank\\x1b[2Jkey.b32'"),
            ("GEZDGNBVGY3TQOJQ", None),
            ("GEZDGNBVGY3TQOJ", "'GEZDGNBVGY3TQOJ'"),
        ],
    )
    def test_shown_path(self, path: str, shown: str | None) -> None:
        """Ordinary names are quoted, control characters escaped; secret-like ones hidden."""
        expected = shown or "(name not shown: it looks like a key, a PIN or a code)"
        assert expected == shown_path(path)

    def test_output_path_is_never_named(self, run: Runner, tmp_path: Path) -> None:
        """A file the command writes is not named in its error, whatever its name."""
        output = tmp_path / "missing" / "qr.png"
        uri = f"otpauth://totp/a?secret={RFC_B32}"
        result = run("qr", "--format", "png", "--output", str(output), stdin=uri)
        assert (
            2,
            "",
            "softtoken: error: --output: cannot write the file: No such file or directory\n",
        ) == result
