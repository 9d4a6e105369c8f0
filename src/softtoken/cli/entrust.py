"""``softtoken entrust derive`` and ``decrypt-qr``: Entrust-style legacy tokens, for migration.

The format is weak (see :mod:`softtoken.provisioning.entrust`); these commands exist so that a
bank moving away from Entrust IdentityGuard soft tokens can compute, on its side, the secrets of
the apps already registered.

- ``derive`` prints a token's secret (base32), or its otpauth URI with ``--uri``: that output is
  the point of the command. The activation and registration codes come from files or standard
  input, never from the command line, where other users could read them in ``ps``.
- ``decrypt-qr`` reads an activation QR's text and its SMS password, from files or standard
  input, and prints the serial, the registration URL and the policy. The activation code is a
  secret: it is printed only with ``--show-activation-code``. A wrong password, or a changed or
  damaged QR, exits 1 with one message for all.

At most one input comes from standard input, and never from a terminal, where it would be
echoed as it is typed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Final, TypeVar

from softtoken._encoding import b32encode
from softtoken.cli import _input
from softtoken.cli._args import EXIT_NOT_ACCEPTED, EXIT_OK, Parser, natural, serial
from softtoken.cli._common import refuse_given
from softtoken.cli._input import BadInput, Usage, read_text
from softtoken.exceptions import ActivationRefused, InvalidInput, MistypedCode
from softtoken.provisioning import ActivationCode, KeyURI, RegistrationCode
from softtoken.provisioning.entrust import decrypt_qr, derive_secret, totp_params

__all__ = ["add_parsers"]

_WEAK: Final = (
    "The format is weak (16 device bits, 8 PBKDF2 iterations, a QR that a photo and 10^8 "
    "guesses open): use it only to keep existing tokens working while users move."
)
_NOT_ACCEPTED: Final = (
    "the QR was not accepted: the password is wrong, or the QR text was changed or damaged"
)
_Code = TypeVar("_Code", ActivationCode, RegistrationCode)
_SHAPES: Final[dict[type[ActivationCode] | type[RegistrationCode], str]] = {
    ActivationCode: "an activation code has 16 digits, written NNNN-NNNN-NNNN-NNNN or plain",
    RegistrationCode: "a registration code has 10 digits, written NNNNN-NNNNN or plain",
}


def add_parsers(commands: argparse._SubParsersAction[Parser]) -> None:
    """Add ``entrust`` and its actions, ``derive`` and ``decrypt-qr``, to *commands*."""
    group = commands.add_parser(
        "entrust",
        help="Entrust-style legacy tokens, for migration only: derive secrets, read QRs",
        description="Work with Entrust IdentityGuard-style soft tokens on the bank's side, to "
        f"migrate away from them. {_WEAK}",
    )
    actions = group.add_subparsers(dest="entrust_command", required=True, metavar="ACTION")

    derive = actions.add_parser(
        "derive",
        help="print the secret of a registered token, from its three codes",
        description="Print the TOTP secret (base32) of a token an Entrust app registered, from "
        "its serial, activation code and registration code; with --uri, an otpauth URI for it "
        "(TOTP, SHA-256, 30 s). The codes are read from files or standard input, never from "
        f"the command line. {_WEAK}",
    )
    derive.add_argument("--serial", type=serial, required=True, help="the token's serial")
    codes = derive.add_argument_group("codes (files, or '-' for standard input; one at most)")
    codes.add_argument(
        "--activation-code-file", metavar="PATH", required=True, help="the activation code"
    )
    codes.add_argument(
        "--registration-code-file",
        metavar="PATH",
        required=True,
        help="the registration code the app showed",
    )
    codes.add_argument(
        "--policy-file",
        metavar="PATH",
        help="the policy text from the QR, on deployments that derive with it (one line ending "
        "at the end is dropped); if the first code does not verify, try the other way",
    )
    output = derive.add_argument_group("output")
    output.add_argument(
        "--uri", action="store_true", help="print an otpauth URI instead of the base32 secret"
    )
    output.add_argument("--account", help="with --uri: the account name shown in the app")
    output.add_argument("--issuer", help="with --uri: the service name shown in the app")
    output.add_argument(
        "-d",
        "--digits",
        type=natural,
        choices=(6, 8),
        help="with --uri: the code length the Entrust policy set (default: 6)",
    )
    derive.set_defaults(handler=_run_derive, subparser=derive)

    decrypt = actions.add_parser(
        "decrypt-qr",
        help="read an igmobileotp:// activation QR with its SMS password",
        description="Decrypt an Entrust activation QR's text (igmobileotp://?action=secactivate"
        "&enc=...) with its 8-digit password, and print the serial, the registration URL and "
        "the policy. Exit status 0: done. 1: the password is wrong, or the QR was changed. 2: "
        f"bad usage or input. {_WEAK}",
    )
    inputs = decrypt.add_argument_group("inputs (files, or '-' for standard input; one at most)")
    inputs.add_argument("--uri-file", metavar="PATH", required=True, help="the QR's text")
    inputs.add_argument(
        "--password-file", metavar="PATH", required=True, help="the 8-digit password"
    )
    decrypt.add_argument(
        "--show-activation-code",
        action="store_true",
        help="also print the activation code, a secret (to standard output)",
    )
    decrypt.set_defaults(handler=_run_decrypt_qr, subparser=decrypt)


def _one_from_stdin(args: argparse.Namespace, *names: str) -> None:
    """Refuse two inputs from standard input, or one from a terminal."""
    from_stdin = ["--" + name.replace("_", "-") for name in names if getattr(args, name) == "-"]
    if len(from_stdin) > 1:
        raise Usage(f"{' and '.join(from_stdin)} cannot both read standard input")
    if from_stdin and _input.stdin_is_terminal():
        raise Usage(
            f"{from_stdin[0]} -: standard input is a terminal, which would show what is typed; "
            "pipe it in or give a file"
        )


def _code(cls: type[_Code], path: str, option: str) -> _Code:
    """The activation or registration code read from *path*, or stop with BadInput that names
    the option and what is wrong (never the code)."""
    text = read_text(path, option=option)
    what = "activation code" if cls is ActivationCode else "registration code"
    problem = ""
    try:
        return cls.parse(text)
    except MistypedCode:
        problem = f"the {what}'s check digit does not match; read it again"
    except InvalidInput:
        problem = _SHAPES[cls]
    # Raised here, outside the except blocks, so that no parse error is left as its context.
    raise BadInput(f"{option}: {problem}")


def _run_derive(args: argparse.Namespace) -> int:
    if args.uri:
        if args.account is None:
            raise Usage("--uri needs --account")
    else:
        refuse_given(args, ("account", "issuer", "digits"), "needs --uri")
    _one_from_stdin(args, "activation_code_file", "registration_code_file", "policy_file")
    activation = _code(ActivationCode, args.activation_code_file, "--activation-code-file")
    registration = _code(RegistrationCode, args.registration_code_file, "--registration-code-file")
    policy = None
    if args.policy_file is not None:
        text = read_text(args.policy_file, option="--policy-file")
        policy = text.removesuffix("\n").removesuffix("\r")
    secret = derive_secret(args.serial, activation, registration, policy=policy)
    if not args.uri:
        print(b32encode(secret))
        return EXIT_OK
    params = totp_params(6 if args.digits is None else args.digits)
    uri = KeyURI(
        "totp",
        secret,
        args.account,
        issuer=args.issuer,
        algorithm=params.algorithm,
        digits=params.digits,
        period=params.period,
    )
    print(uri.to_uri())
    return EXIT_OK


def _shown(text: str) -> str:
    """*text* as is when printable; otherwise as a JSON string, so that it cannot drive the
    terminal."""
    return text if text.isprintable() else json.dumps(text)


def _run_decrypt_qr(args: argparse.Namespace) -> int:
    # The QR text typed where its file name goes would be named in "no such file"; it is
    # refused here, unnamed, since with the password it gives up the activation code.
    if "igmobileotp:" in args.uri_file.lower():
        raise Usage("--uri-file takes the name of a file that holds the QR text, or '-'")
    _one_from_stdin(args, "uri_file", "password_file")
    text = read_text(args.uri_file, option="--uri-file").strip()
    password = read_text(args.password_file, option="--password-file").strip()
    try:
        activation = decrypt_qr(text, password)
    except ActivationRefused:
        print(f"softtoken: {_NOT_ACCEPTED}", file=sys.stderr)
        return EXIT_NOT_ACCEPTED
    print(f"serial: {activation.serial.display}")
    if args.show_activation_code:
        print(f"activation code: {activation.activation_code.display}")
    # LegacyActivation holds only a printable registration URL.
    print(f"registration URL: {activation.registration_url}")
    policy = "(none)" if activation.policy is None else _shown(activation.policy)
    print(f"policy: {policy}")
    return EXIT_OK
