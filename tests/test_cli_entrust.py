"""Tests for ``softtoken entrust derive`` and ``decrypt-qr``: the migration commands for
Entrust-style legacy tokens, their inputs, exit statuses, and that no secret leaks.

Expected values come from the vector files (tests/vectors/entrust-*.txt) and from QRs built
independently in tests/test_entrust.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pytest

from softtoken import TOTP
from softtoken._encoding import b32encode
from softtoken.provisioning import Serial, parse_uri
from tests.test_cli import Runner
from tests.test_entrust import (
    PUBLISHED_ACTIVATION,
    PUBLISHED_PASSWORD,
    PUBLISHED_POLICY,
    PUBLISHED_REGISTRATION,
    PUBLISHED_SERIAL,
    PUBLISHED_URI,
    QR_ROWS,
    REFUSED_ROWS,
    SECRET_ROWS,
    build_qr,
    plaintext_of,
    policy_column,
)
from tests.utils import Result

# The base32 secret of the published example, as the README's oathtool run prints it (less its
# padding, which softtoken's base32 never writes).
PUBLISHED_B32: Final = "TKHKWXWMT7CBG5MKSKWCEPOGUA"
NOT_ACCEPTED: Final = (
    "softtoken: the QR was not accepted: the password is wrong, or the QR text was changed or "
    "damaged\n"
)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return Runner(capsys, monkeypatch)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def spellings(code: str) -> list[str]:
    """*code* as typed, and without its dashes."""
    return [code, code.replace("-", "")]


def shows(result: Result, code: str) -> bool:
    """Whether any spelling of *code* is in the command's output or its errors."""
    return any(text in result.out or text in result.err for text in spellings(code))


class Codes:
    """Files holding the published example's codes, for the derive tests."""

    def __init__(self, tmp_path: Path) -> None:
        self.activation = write(tmp_path, "ac.txt", PUBLISHED_ACTIVATION + "\n")
        self.registration = write(tmp_path, "rc.txt", PUBLISHED_REGISTRATION + "\n")
        self.argv = (
            "entrust",
            "derive",
            "--serial",
            PUBLISHED_SERIAL,
            "--activation-code-file",
            self.activation,
            "--registration-code-file",
            self.registration,
        )


@pytest.fixture
def codes(tmp_path: Path) -> Codes:
    return Codes(tmp_path)


class TestDerive:
    """``entrust derive`` prints the secret, from codes in files or on standard input."""

    def test_published_example(self, run: Runner, codes: Codes) -> None:
        """The README example gives the base32 secret its oathtool run printed."""
        assert (0, PUBLISHED_B32 + "\n", "") == run(*codes.argv)

    @pytest.mark.parametrize(
        ("serial", "activation", "registration", "policy", "secret"), SECRET_ROWS
    )
    def test_vectors(
        self,
        run: Runner,
        tmp_path: Path,
        serial: str,
        activation: str,
        registration: str,
        policy: str,
        secret: str,
    ) -> None:
        """Every SECRET row of tests/vectors/entrust-secret.txt, policy from a file."""
        argv = [
            "entrust",
            "derive",
            "--serial",
            serial,
            "--activation-code-file",
            write(tmp_path, "ac", activation),
            "--registration-code-file",
            write(tmp_path, "rc", registration),
        ]
        text = policy_column(policy)
        if text is not None:
            argv += ["--policy-file", write(tmp_path, "policy", text)]

        assert (0, b32encode(bytes.fromhex(secret)) + "\n", "") == run(*argv)

    @pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
    def test_policy_file_loses_one_line_ending(
        self, run: Runner, codes: Codes, tmp_path: Path, ending: str
    ) -> None:
        """A policy file may end in one line ending; the published policy secret comes out."""
        policy = write(tmp_path, "policy.json", PUBLISHED_POLICY + ending)
        expected = b32encode(bytes.fromhex("bb9b6d72ae99b006de5e106935ec96da"))

        assert (0, expected + "\n", "") == run(*codes.argv, "--policy-file", policy)

    @pytest.mark.parametrize(
        ("option", "text"),
        [
            ("--activation-code-file", PUBLISHED_ACTIVATION),
            ("--registration-code-file", PUBLISHED_REGISTRATION),
        ],
    )
    def test_one_code_from_standard_input(
        self, run: Runner, codes: Codes, option: str, text: str
    ) -> None:
        """Either code may come from standard input, with '-'."""
        argv = list(codes.argv)
        argv[argv.index(option) + 1] = "-"

        assert (0, PUBLISHED_B32 + "\n", "") == run(*argv, stdin=text + "\n")

    def test_policy_from_standard_input(self, run: Runner, codes: Codes) -> None:
        """The policy may come from standard input."""
        result = run(*codes.argv, "--policy-file", "-", stdin=PUBLISHED_POLICY)

        assert (0, "XONW24VOTGYANXS6CBUTL3EW3I\n") == result[:2]

    @pytest.mark.parametrize(
        "options",
        [
            ("--activation-code-file", "--registration-code-file"),
            ("--activation-code-file", "--policy-file"),
            ("--registration-code-file", "--policy-file"),
        ],
    )
    def test_two_inputs_from_standard_input(
        self, run: Runner, codes: Codes, options: tuple[str, str]
    ) -> None:
        """Standard input holds one input: asking it for two is a usage error."""
        argv = [*codes.argv, "--policy-file", "unused"]
        for option in options:
            argv[argv.index(option) + 1] = "-"

        result = run(*argv, stdin=PUBLISHED_ACTIVATION)

        assert (2, "") == result[:2]
        assert f"{options[0]} and {options[1]} cannot both read standard input" in result.err

    def test_terminal_is_not_read(self, run: Runner, codes: Codes) -> None:
        """'-' at a terminal is refused: a code typed there would be shown on the screen."""
        argv = list(codes.argv)
        argv[argv.index("--activation-code-file") + 1] = "-"

        result = run(*argv)

        assert (2, "") == result[:2]
        assert "standard input is a terminal" in result.err

    @pytest.mark.parametrize("digits", [None, "6", "8"])
    def test_uri(self, run: Runner, codes: Codes, digits: str | None) -> None:
        """--uri prints an otpauth URI: the secret, SHA-256, 30 s, and 6 or 8 digits."""
        extra = () if digits is None else ("--digits", digits)

        result = run(*codes.argv, "--uri", "--account", "laura", "--issuer", "Bank", *extra)

        assert (0, "") == (result.status, result.err)
        uri = parse_uri(result.out.strip())
        expected = TOTP(
            bytes.fromhex("9a8eab5ecc9fc413758a92ac223dc6a0"),
            algorithm="sha256",
            digits=int(digits or 6),
        )
        assert ("laura", "Bank", expected.generate(1570351831)) == (
            uri.account,
            uri.issuer,
            uri.token().generate(1570351831),
        )

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (("--uri",), "--uri needs --account"),
            (("--account", "laura"), "--account needs --uri"),
            (("--issuer", "Bank"), "--issuer needs --uri"),
            (("--digits", "8"), "--digits needs --uri"),
            (("--uri", "--account", "a", "--digits", "7"), "argument -d/--digits: invalid choice"),
        ],
    )
    def test_uri_options(
        self, run: Runner, codes: Codes, extra: tuple[str, ...], message: str
    ) -> None:
        """The URI options go together, and only 6 or 8 digits are offered."""
        result = run(*codes.argv, *extra)

        assert (2, "") == result[:2]
        assert message in result.err


class TestDeriveRefusals:
    """Bad codes are named by what is wrong, never repeated; and never read from argv."""

    @pytest.mark.parametrize(
        ("activation", "registration", "message"),
        [
            (
                "1745-7712-6942-8699",
                PUBLISHED_REGISTRATION,
                "--activation-code-file: the activation code's check digit does not match; "
                "read it again",
            ),
            (
                PUBLISHED_ACTIVATION,
                "12211-49353",
                "--registration-code-file: the registration code's check digit does not match; "
                "read it again",
            ),
            (
                "1745-7712-6942-869",
                PUBLISHED_REGISTRATION,
                "--activation-code-file: an activation code has 16 digits, written "
                "NNNN-NNNN-NNNN-NNNN or plain",
            ),
            (
                PUBLISHED_ACTIVATION,
                "1221149352x",
                "--registration-code-file: a registration code has 10 digits, written "
                "NNNNN-NNNNN or plain",
            ),
        ],
    )
    def test_bad_code(
        self, run: Runner, tmp_path: Path, activation: str, registration: str, message: str
    ) -> None:
        """A mistyped or misshapen code: exit 2, the code named, its digits not shown."""
        result = run(
            "entrust",
            "derive",
            "--serial",
            PUBLISHED_SERIAL,
            "--activation-code-file",
            write(tmp_path, "ac", activation),
            "--registration-code-file",
            write(tmp_path, "rc", registration),
        )

        assert (2, "", f"softtoken: error: {message}\n") == result
        assert not shows(result, activation)
        assert not shows(result, registration)

    def test_mistyped_serial(self, run: Runner, codes: Codes) -> None:
        """A mistyped serial is named as the serial's."""
        argv = list(codes.argv)
        argv[argv.index("--serial") + 1] = "48244-13457"

        result = run(*argv)

        assert (2, "") == result[:2]
        assert "argument --serial: the serial's check digit does not match" in result.err

    @pytest.mark.parametrize("option", ["--activation-code", "--registration-code", "--policy"])
    def test_no_option_takes_a_code(self, run: Runner, codes: Codes, option: str) -> None:
        """No option takes a code itself; one typed on the command line is not repeated."""
        canary = "9317-1121-8400-0008"

        result = run(*codes.argv, option, canary)

        assert (2, "") == result[:2]
        assert not shows(result, canary)

    @pytest.mark.parametrize("option", ["--activation-code-file", "--registration-code-file"])
    def test_code_typed_as_a_file_name(self, run: Runner, codes: Codes, option: str) -> None:
        """A code typed where its file name goes is not named in "no such file"."""
        argv = list(codes.argv)
        argv[argv.index(option) + 1] = PUBLISHED_ACTIVATION

        result = run(*argv)

        assert (2, "") == result[:2]
        assert "no such file" in result.err
        assert not shows(result, PUBLISHED_ACTIVATION)


def decrypt(uri_file: str, password_file: str, *extra: str) -> tuple[str, ...]:
    return (
        "entrust",
        "decrypt-qr",
        "--uri-file",
        uri_file,
        "--password-file",
        password_file,
        *extra,
    )


class TestDecryptQR:
    """``entrust decrypt-qr`` prints what the QR holds, but the activation code only on demand."""

    @pytest.mark.parametrize(("uri", "password", "serial", "activation", "policy", "url"), QR_ROWS)
    def test_vectors(
        self,
        run: Runner,
        tmp_path: Path,
        uri: str,
        password: str,
        serial: str,
        activation: str,
        policy: str,
        url: str,
    ) -> None:
        """Every QR row: serial, URL and policy printed; the activation code nowhere."""
        text = policy_column(policy)
        expected = (
            f"serial: {Serial.parse(serial).display}\n"
            f"registration URL: {url}\n"
            f"policy: {'(none)' if text is None else text}\n"
        )

        result = run(
            *decrypt(write(tmp_path, "qr", uri + "\n"), write(tmp_path, "pw", password + "\n"))
        )

        assert (0, expected, "") == result
        assert not shows(result, activation)

    def test_show_activation_code(self, run: Runner, tmp_path: Path) -> None:
        """--show-activation-code adds the activation code, in its display form."""
        argv = decrypt(
            write(tmp_path, "qr", PUBLISHED_URI), write(tmp_path, "pw", PUBLISHED_PASSWORD)
        )

        result = run(*argv, "--show-activation-code")

        assert (0, "") == (result.status, result.err)
        assert f"activation code: {PUBLISHED_ACTIVATION}\n" in result.out

    @pytest.mark.parametrize("which", ["uri", "password"])
    def test_one_from_standard_input(self, run: Runner, tmp_path: Path, which: str) -> None:
        """The QR text or the password may come from standard input, with surrounding
        whitespace."""
        files = {
            "uri": write(tmp_path, "qr", PUBLISHED_URI),
            "password": write(tmp_path, "pw", PUBLISHED_PASSWORD),
        }
        stdin = {"uri": PUBLISHED_URI, "password": PUBLISHED_PASSWORD}[which]
        files[which] = "-"

        result = run(*decrypt(files["uri"], files["password"]), stdin=f"  {stdin}\r\n")

        assert (0, f"serial: {PUBLISHED_SERIAL}\n") == (result.status, result.out[:20])

    def test_both_from_standard_input(self, run: Runner) -> None:
        """The QR text and the password cannot both come from standard input."""
        result = run(*decrypt("-", "-"), stdin=PUBLISHED_URI)

        assert (2, "") == result[:2]
        assert "--uri-file and --password-file cannot both read standard input" in result.err

    def test_policy_that_could_drive_the_terminal(self, run: Runner, tmp_path: Path) -> None:
        """A policy with control characters is printed as a JSON string, escapes and all."""
        policy = "a\x1b[31mb\nc"
        fields = {"sn": "9317112184", "ac": "1234567890123452", "policy": policy, "regurl": "r"}
        uri = build_qr(plaintext_of(fields), "24681357", bytes(8))

        result = run(*decrypt(write(tmp_path, "qr", uri), write(tmp_path, "pw", "24681357")))

        assert (0, "") == (result.status, result.err)
        assert f"policy: {json.dumps(policy)}\n" in result.out
        assert "\x1b" not in result.out


class TestDecryptQRRefusals:
    """A wrong password or a changed QR exits 1 with one message; bad input exits 2."""

    @pytest.mark.parametrize(("why", "uri", "password"), REFUSED_ROWS)
    def test_refused_rows(
        self, run: Runner, tmp_path: Path, why: str, uri: str, password: str
    ) -> None:
        """Every REFUSED row: exit 1, the one message, nothing on standard output."""
        result = run(*decrypt(write(tmp_path, "qr", uri), write(tmp_path, "pw", password)))

        assert (1, "", NOT_ACCEPTED) == result

    def test_wrong_password_is_not_repeated(self, run: Runner, tmp_path: Path) -> None:
        """Neither the password nor the QR text appears in the refusal."""
        result = run(
            *decrypt(write(tmp_path, "qr", PUBLISHED_URI), write(tmp_path, "pw", "13572468"))
        )

        assert (1, "", NOT_ACCEPTED) == result
        assert "13572468" not in result.err

    @pytest.mark.parametrize(
        ("uri", "password", "message"),
        [
            (
                PUBLISHED_URI.replace("&v=1", "&v=2"),
                PUBLISHED_PASSWORD,
                "not an Entrust activation QR: igmobileotp://?action=secactivate&enc=…&v=1&mac=…",
            ),
            ("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", PUBLISHED_PASSWORD, None),
            (PUBLISHED_URI, "5499831", "the QR password is 8 ASCII digits"),
            (PUBLISHED_URI, "5499-8317", "the QR password is 8 ASCII digits"),
        ],
    )
    def test_bad_input(
        self, run: Runner, tmp_path: Path, uri: str, password: str, message: str | None
    ) -> None:
        """A text that is no activation QR, or a password of the wrong shape: exit 2, with a
        constant message that repeats neither."""
        result = run(*decrypt(write(tmp_path, "qr", uri), write(tmp_path, "pw", password)))

        assert (2, "") == result[:2]
        if message is not None:
            assert f"softtoken: error: {message}\n" == result.err
        assert password not in result.err
        assert "GEZDGNBV" not in result.err
        assert "VRUq6IoL" not in result.err

    def test_qr_text_typed_as_a_file_name(self, run: Runner, tmp_path: Path) -> None:
        """The QR text given as --uri-file is refused without being repeated."""
        result = run(*decrypt(PUBLISHED_URI, write(tmp_path, "pw", PUBLISHED_PASSWORD)))

        assert (2, "") == result[:2]
        assert "--uri-file takes the name of a file" in result.err
        assert "VRUq6IoL" not in result.err

    def test_password_typed_as_a_file_name(self, run: Runner, tmp_path: Path) -> None:
        """The password given as --password-file is not named in "no such file"."""
        result = run(*decrypt(write(tmp_path, "qr", PUBLISHED_URI), PUBLISHED_PASSWORD))

        assert (2, "") == result[:2]
        assert "no such file" in result.err
        assert PUBLISHED_PASSWORD not in result.err
