"""The ``softtoken`` command: one-time codes, verification, otpauth URIs and QR codes.

The command is an edge of the library (ARCHITECTURE.md, layer 4), so it is the one place that may
read the clock and the terminal. Everything it computes goes through the public API.

Promises:

- The key is never printed: not in results, not in errors, not in argparse's usage messages.
  Only ``softtoken uri`` (without ``--masked``) and ``softtoken qr`` output it, on purpose.
- ``softtoken verify`` exits 0 when the code is accepted, 1 when it is not, and 2 on bad usage
  or bad input. A refusal prints only "not accepted", never whether the code was wrong,
  replayed or outside the window (SECURITY.md S8).
- User errors give a one-line message on standard error and exit status 2, never a traceback.
- ``softtoken app ...`` keeps an app wallet (:class:`softtoken.app.Wallet`) in a file, sealed
  under a 32-byte device key kept in another file; both are created readable by their owner
  only. PINs are read from standard input (with a hidden prompt on a terminal) or from
  ``--pin-file``, never from the command line, and are never printed. Every change is saved
  before anything is printed. ``app code`` and ``app unlock`` save an open attempt before they
  check the PIN or the unlock code, and save again after: a run killed in between is counted as
  a wrong PIN or a wrong unlock code by the next run, so interrupting the command never gives a
  free guess. ``app code`` and ``app unlock`` exit 0 on success, 1 when the PIN
  or the unlock code is not accepted (or the identity is locked or wiped), and 2 on bad usage
  or input. The PIN profile (``--profile``) is the app's configuration, not stored in the
  wallet, so give the same one every time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final, NoReturn

from softtoken import __version__, _random
from softtoken._encoding import b32decode, hexdecode, parse_code
from softtoken._time import to_unix
from softtoken.app import DEVICE_KEY_LENGTH, IdentityInfo, Wallet
from softtoken.exceptions import (
    InvalidCode,
    InvalidKey,
    MalformedCode,
    PINRejected,
    SoftTokenError,
)
from softtoken.hotp import ALGORITHMS, HOTP, TOTP, Match, generate_key
from softtoken.pinlock import (
    ENTRUST_LIKE,
    MAX_PIN_LENGTH,
    MIN_PIN_LENGTH,
    PAYSECURE_LIKE,
    Outcome,
    PINProfile,
    Status,
)
from softtoken.provisioning import KeyURI, parse_uri, qr_png, qr_svg, qr_text
from softtoken.unlock import UnlockOutcome, canonical_serial

__all__ = ["main"]

# Exit statuses, as for oathtool and grep: 0 accepted, 1 not accepted, 2 trouble.
EXIT_OK: Final = 0
EXIT_NOT_ACCEPTED: Final = 1
EXIT_USAGE: Final = 2
# 128 + SIGINT, as shells report an interrupted command.
EXIT_INTERRUPTED: Final = 130

# Listing codes is harmless, but a typo such as --window 1000000000 should not hang the terminal.
_MAX_LISTING: Final = 1000
# RFC 4226 §5.2: counters and time steps are 8-byte unsigned integers.
_MAX_COUNTER: Final = 2**64 - 1

_POSITIONAL_KEY_WARNING: Final = (
    "softtoken: warning: a key given as an argument is visible to other users in the process "
    "list (ps); prefer --key-file PATH or standard input"
)
_NOT_ACCEPTED: Final = "not accepted"
_KEY_ARGUMENT_HELP: Final = "the key ('-' for standard input); visible in ps, so prefer --key-file"

_Handler = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


def _now() -> int:
    """Return the current Unix time in whole seconds; the command's only clock read."""
    return int(time.time())


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose error messages never repeat what the user typed.

    argparse quotes unrecognised arguments and invalid values back, and the text quoted may be a
    key typed in the wrong place, so those parts are dropped from the message.
    """

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments (not shown, in case one of them is a key)"
        # Each pattern cuts from the quoted value to the end of the clause that holds it.
        message = re.sub(
            r"invalid choice: .*?(?= \(choose from|\Z)", "invalid choice", message, flags=re.DOTALL
        )
        message = re.sub(r"(invalid \S+ value): .*\Z", r"\1", message, flags=re.DOTALL)
        message = re.sub(
            r"ignored explicit argument .*\Z", "takes no value", message, flags=re.DOTALL
        )
        super().error(message)


# --- argument types -------------------------------------------------------------------------


def _parse_time(text: str) -> int:
    """Unix seconds, or an ISO-8601 datetime with a zone, as whole Unix seconds."""
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        return to_unix(dt.datetime.fromisoformat(text))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            "expected Unix seconds or an ISO-8601 datetime with a zone, "
            "such as 2009-02-13T23:31:30Z"
        ) from None


def _count(text: str) -> int:
    """A whole number from 0 to _MAX_LISTING."""
    if not (text.isascii() and text.isdigit()) or int(text) > _MAX_LISTING:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {_MAX_LISTING}")
    return int(text)


def _natural(text: str) -> int:
    """A whole number, 0 or more (the library checks the upper bounds)."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError("expected a whole number, 0 or more")
    return int(text)


# --- the parser -----------------------------------------------------------------------------


def _key_options() -> _Parser:
    options = _Parser(add_help=False)
    group = options.add_argument_group("key")
    group.add_argument(
        "--key-file",
        metavar="PATH",
        help="read the key from PATH ('-' for standard input); without a key argument or "
        "--key-file, the key is read from standard input when it is not a terminal",
    )
    encoding = group.add_mutually_exclusive_group()
    encoding.add_argument(
        "--base32",
        dest="encoding",
        action="store_const",
        const="base32",
        help="the key is base32 text (the default)",
    )
    encoding.add_argument(
        "--hex", dest="encoding", action="store_const", const="hex", help="the key is hex text"
    )
    group.add_argument(
        "--allow-short-key",
        action="store_true",
        help="accept legacy keys of 10 to 15 bytes, below RFC 4226's 128 bits",
    )
    options.set_defaults(encoding="base32")
    return options


def _token_options() -> _Parser:
    options = _Parser(add_help=False)
    group = options.add_argument_group("token")
    kind = group.add_mutually_exclusive_group()
    kind.add_argument(
        "--totp",
        dest="kind",
        action="store_const",
        const="totp",
        help="time-based codes, RFC 6238 (the default)",
    )
    kind.add_argument(
        "--hotp", dest="kind", action="store_const", const="hotp", help="counter-based, RFC 4226"
    )
    group.add_argument(
        "--digits", type=_natural, default=6, help="code length, 6 to 10 (default: 6)"
    )
    group.add_argument(
        "--algorithm",
        type=str.lower,
        choices=sorted(ALGORITHMS),
        default="sha1",
        help="HMAC hash (default: sha1)",
    )
    group.add_argument(
        "--period", type=_natural, default=None, help="TOTP seconds per step (default: 30)"
    )
    options.set_defaults(kind="totp")
    return options


def _uri_options() -> _Parser:
    options = _Parser(add_help=False)
    group = options.add_argument_group("otpauth URI")
    group.add_argument("--account", help="the account name shown in the app, such as an email")
    group.add_argument("--issuer", help="the service name shown in the app")
    group.add_argument("--image", metavar="URL", help="an image URL for apps that show one")
    group.add_argument(
        "--counter", type=_natural, default=None, help="HOTP initial counter (default: 0)"
    )
    group.add_argument(
        "--generate",
        action="store_true",
        help="make a new random key (sized for --algorithm) instead of reading one",
    )
    return options


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="softtoken",
        description="Generate and verify HOTP/TOTP one-time codes; build otpauth URIs and QRs.",
        epilog="Keys are base32 by default. Prefer --key-file or standard input for keys: "
        "command-line arguments are visible to other users.",
    )
    parser.add_argument("--version", action="version", version=f"softtoken {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    key, token, uri = _key_options(), _token_options(), _uri_options()
    time_help = "Unix seconds or ISO-8601 with a zone, such as 2009-02-13T23:31:30Z (default: now)"

    code = commands.add_parser(
        "code",
        parents=[key, token],
        help="print the current code, or a list of codes",
        description="Print the code for a counter (--hotp) or a time (--totp, the default).",
    )
    code.add_argument("key", nargs="?", metavar="KEY", help=_KEY_ARGUMENT_HELP)
    code.add_argument("--counter", type=_natural, default=None, help="HOTP counter (default: 0)")
    code.add_argument("--time", type=_parse_time, default=None, help=f"TOTP time; {time_help}")
    code.add_argument("--t0", type=_parse_time, default=None, help="TOTP start time (default: 0)")
    code.add_argument(
        "--window",
        type=_count,
        default=0,
        metavar="N",
        help="also list the N codes after this one, with their counter or step",
    )
    code.add_argument(
        "--past", type=_count, default=None, metavar="N", help="TOTP: also list N steps before"
    )
    code.add_argument(
        "--future", type=_count, default=None, metavar="N", help="TOTP: also list N steps after"
    )
    code.set_defaults(handler=_run_code, subparser=code)

    verify = commands.add_parser(
        "verify",
        parents=[key, token],
        help="check a code: exit 0 if accepted, 1 if not, 2 on bad input",
        description="Check CODE. Exit status 0: accepted (the matched counter or step and its "
        "offset are printed). 1: not accepted. 2: bad usage or input.",
    )
    verify.add_argument("code", metavar="CODE", help="the one-time code to check")
    verify.add_argument("key", nargs="?", metavar="KEY", help=_KEY_ARGUMENT_HELP)
    verify.add_argument("--counter", type=_natural, default=None, help="HOTP expected counter")
    verify.add_argument("--time", type=_parse_time, default=None, help=f"TOTP time; {time_help}")
    verify.add_argument("--t0", type=_parse_time, default=None, help="TOTP start time")
    verify.add_argument(
        "--past", type=_natural, default=None, help="TOTP steps accepted before now (default: 1)"
    )
    verify.add_argument(
        "--future", type=_natural, default=None, help="TOTP steps accepted after now (default: 1)"
    )
    verify.add_argument(
        "--look-ahead", type=_natural, default=None, help="HOTP counters to try ahead (default: 0)"
    )
    verify.add_argument(
        "--last-step", type=_natural, default=None, help="TOTP: the last step accepted; refused"
    )
    verify.add_argument(
        "--last-counter", type=_natural, default=None, help="HOTP: the last counter accepted"
    )
    verify.set_defaults(handler=_run_verify, subparser=verify)

    uri_command = commands.add_parser(
        "uri",
        parents=[key, token, uri],
        help="build an otpauth:// URI",
        description="Build an otpauth:// Key URI for authenticator apps. It contains the key: "
        "use --masked to print it with the secret hidden.",
    )
    uri_command.add_argument("key", nargs="?", metavar="KEY", help=_KEY_ARGUMENT_HELP)
    uri_command.add_argument(
        "--masked", action="store_true", help="print the URI with the secret replaced by ****"
    )
    uri_command.set_defaults(handler=_run_uri, subparser=uri_command)

    qr = commands.add_parser(
        "qr",
        parents=[key, token, uri],
        help="draw an otpauth:// URI as a QR code",
        description="Draw a QR code for a URI read from --uri-file or standard input, or for one "
        "built from --account and the key options.",
    )
    qr.add_argument("--uri-file", metavar="PATH", help="read the URI from PATH ('-': stdin)")
    qr.add_argument(
        "--format",
        choices=("terminal", "png", "svg"),
        default="terminal",
        help="terminal text, PNG or SVG (default: terminal)",
    )
    qr.add_argument(
        "--output", metavar="PATH", help="write to PATH, created private (required for png)"
    )
    qr.add_argument("--scale", type=_natural, default=5, help="pixels per module (png, svg)")
    qr.set_defaults(handler=_run_qr, subparser=qr)
    _add_app_parser(commands)
    return parser


def _add_app_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """The ``app`` command and its subcommands, over a wallet file and a device key file."""
    files = _Parser(add_help=False)
    group = files.add_argument_group("wallet")
    group.add_argument("--wallet", metavar="PATH", required=True, help="the wallet file")
    group.add_argument(
        "--device-key-file",
        metavar="PATH",
        required=True,
        help="the file holding the 32-byte device key that seals the wallet",
    )
    group.add_argument(
        "--profile",
        choices=sorted(_APP_PROFILES),
        default="entrust",
        help="PIN rules and what 5 wrong PINs do: entrust locks (an unlock code reopens), "
        "paysecure wipes the identity; not stored in the wallet (default: entrust)",
    )
    pin = _Parser(add_help=False)
    pin.add_argument(
        "--pin-file",
        metavar="PATH",
        help="read the PIN from PATH; otherwise from standard input (a hidden prompt on a "
        "terminal). Never give a PIN on the command line",
    )
    serial = _Parser(add_help=False)
    serial.add_argument("--serial", required=True, help="the identity's serial")

    app = commands.add_parser(
        "app",
        help="an authenticator app's wallet: identities behind PINs, lockout and unlock",
        description="Keep identities in a wallet file, each behind its own PIN, as a phone "
        "authenticator does. Exit status 0: done. 1: PIN or unlock code not accepted, or the "
        "identity is locked or wiped. 2: bad usage or input.",
    )
    actions = app.add_subparsers(dest="app_command", required=True, metavar="ACTION")

    init = actions.add_parser(
        "init",
        parents=[files],
        help="create an empty wallet (and the device key file if it does not exist)",
        description="Create an empty wallet. A missing device key file is created with 32 "
        "random bytes, readable by its owner only. An existing wallet is never overwritten.",
    )
    init.set_defaults(handler=_run_app_init, subparser=init)

    add = actions.add_parser(
        "add",
        parents=[files, serial, pin],
        help="add an identity from a base32 key or an otpauth URI",
        description="Add an identity. The key is read from --key-file or --uri-file; the PIN "
        "from --pin-file or standard input. They cannot both come from standard input.",
    )
    add.add_argument("--name", help="the display name (default for a URI: its issuer or account)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--key-file", metavar="PATH", help="a base32 key ('-': standard input)")
    source.add_argument(
        "--uri-file", metavar="PATH", help="an otpauth:// URI ('-': standard input)"
    )
    otp = add.add_argument_group("token (with --key-file)")
    otp.add_argument("--hotp", action="store_true", help="counter-based codes (default: TOTP)")
    otp.add_argument("--digits", type=_natural, default=None, help="code length (default: 6)")
    otp.add_argument(
        "--algorithm", type=str.lower, choices=sorted(ALGORITHMS), help="HMAC hash (default: sha1)"
    )
    otp.add_argument("--period", type=_natural, help="TOTP seconds per step (default: 30)")
    otp.add_argument("--counter", type=_natural, help="HOTP initial counter (default: 0)")
    add.set_defaults(handler=_run_app_add, subparser=add)

    listing = actions.add_parser(
        "list",
        parents=[files],
        help="list the identities",
        description="Print one line per identity, tab-separated: serial, status, PIN tries "
        "left, kind, digits, name. No secret is ever listed.",
    )
    listing.set_defaults(handler=_run_app_list, subparser=listing)

    rename = actions.add_parser(
        "rename", parents=[files, serial], help="change an identity's display name"
    )
    rename.add_argument("--name", required=True, help="the new display name")
    rename.set_defaults(handler=_run_app_rename, subparser=rename)

    delete = actions.add_parser("delete", parents=[files, serial], help="remove an identity")
    delete.set_defaults(handler=_run_app_delete, subparser=delete)

    code = actions.add_parser(
        "code",
        parents=[files, serial, pin],
        help="enter the PIN and print the current code",
        description="Print the identity's current code. Exit status 1 for a wrong PIN (with "
        "the tries left) or a locked or wiped identity; every wrong PIN is counted, and so is "
        "a run interrupted after it began checking the PIN.",
    )
    code.set_defaults(handler=_run_app_code, subparser=code)

    reset = actions.add_parser(
        "reset-code",
        parents=[files, serial],
        help="print a locked identity's reset code, to read to the bank",
    )
    reset.set_defaults(handler=_run_app_reset_code, subparser=reset)

    unlock = actions.add_parser(
        "unlock",
        parents=[files, serial, pin],
        help="unlock a locked identity with the bank's unlock code and a new PIN",
        description="Try the bank's unlock code; the new PIN is read from --pin-file or "
        "standard input. Exit status 1 when the code is not accepted; 2 when the new PIN is "
        "refused (nothing is counted then). A run interrupted after it began trying the code "
        "counts as a wrong code.",
    )
    unlock.add_argument(
        "--unlock-code", required=True, metavar="CODE", help="the unlock code the bank gave"
    )
    unlock.set_defaults(handler=_run_app_unlock, subparser=unlock)


# --- reading input --------------------------------------------------------------------------


def _stdin_is_terminal() -> bool:
    return sys.stdin is None or sys.stdin.isatty()


def _read_text(path: str) -> str:
    """Read a whole text file, or standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _read_key(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, generate: bool = False
) -> bytes:
    """Find, read and decode the key, from exactly one source, or make a new one."""
    argument: str | None = getattr(args, "key", None)
    if sum([argument is not None, args.key_file is not None, generate]) > 1:
        parser.error("give the key one way only: an argument, --key-file or --generate")
    if generate:
        return generate_key(args.algorithm)
    if argument is not None and argument != "-":
        print(_POSITIONAL_KEY_WARNING, file=sys.stderr)
        text = argument
    elif argument == "-" or args.key_file is not None:
        text = _read_text(args.key_file or "-")
    elif not _stdin_is_terminal():
        text = sys.stdin.read()
    else:
        parser.error("no key given: use --key-file PATH, or pipe the key on standard input")
    return b32decode(text) if args.encoding == "base32" else hexdecode(text)


def _refuse(
    args: argparse.Namespace, parser: argparse.ArgumentParser, names: Sequence[str], kind: str
) -> None:
    """Stop with a usage error if any of *names* was given but does not apply to *kind*."""
    given = [name for name in names if getattr(args, name, None) is not None]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        parser.error(f"{flags} cannot be used with --{kind}")


def _token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> HOTP | TOTP:
    """Build the token the options describe, refusing options of the other kind."""
    if args.kind == "hotp":
        _refuse(args, parser, ("time", "t0", "period", "past", "future", "last_step"), "hotp")
    else:
        _refuse(args, parser, ("counter", "look_ahead", "last_counter"), "totp")
    key = _read_key(args, parser)
    if args.kind == "hotp":
        return HOTP(
            key,
            digits=args.digits,
            algorithm=args.algorithm,
            allow_short_key=args.allow_short_key,
        )
    return TOTP(
        key,
        digits=args.digits,
        algorithm=args.algorithm,
        allow_short_key=args.allow_short_key,
        period=30 if args.period is None else args.period,
        t0=0 if args.t0 is None else args.t0,
    )


# --- commands -------------------------------------------------------------------------------


def _run_code(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    token = _token(args, parser)
    generate: Callable[[int], str]
    if isinstance(token, HOTP):
        expected = 0 if args.counter is None else args.counter
        before, after, label = 0, args.window, "counter"
        generate = token.generate
    else:
        if args.window and args.future is not None:
            parser.error("--window and --future both set how many codes follow; give one")
        expected = token.step(_now() if args.time is None else args.time)
        before = args.past or 0
        after = args.window if args.future is None else args.future
        label = "step"
        generate = token.generate_step
    # Generating the current code first refuses a counter or step past the 8-byte range.
    current = generate(expected)
    if before == 0 and after == 0:
        print(current)
        return EXIT_OK
    # Counters outside the 8-byte range (RFC 4226 §5.2) are left out of a listing.
    first, last = max(0, expected - before), min(_MAX_COUNTER, expected + after)
    for counter in range(first, last + 1):
        print(f"{label} {counter} offset {counter - expected:+d}: {generate(counter)}")
    return EXIT_OK


def _run_verify(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    token = _token(args, parser)
    match: Match
    try:
        if isinstance(token, HOTP):
            match = token.verify(
                args.code,
                counter=0 if args.counter is None else args.counter,
                look_ahead=0 if args.look_ahead is None else args.look_ahead,
                last_counter=args.last_counter,
            )
            label = "counter"
        else:
            match = token.verify(
                args.code,
                at=_now() if args.time is None else args.time,
                past=1 if args.past is None else args.past,
                future=1 if args.future is None else args.future,
                last_step=args.last_step,
            )
            label = "step"
    except MalformedCode:
        # A code of the wrong shape is bad input (status 2); its message depends only on the
        # typed text, never on the key, so it is no oracle.
        raise
    except InvalidCode:
        print(_NOT_ACCEPTED)
        return EXIT_NOT_ACCEPTED
    print(f"accepted: {label} {match.counter} offset {match.offset:+d}")
    return EXIT_OK


def _built_uri(args: argparse.Namespace, parser: argparse.ArgumentParser) -> KeyURI:
    """Build the otpauth Key URI the options describe, checked as the token would be."""
    if args.account is None:
        parser.error("--account is required to build a URI")
    if args.kind == "hotp":
        _refuse(args, parser, ("period",), "hotp")
    else:
        _refuse(args, parser, ("counter",), "totp")
    key = _read_key(args, parser, generate=args.generate)
    uri = KeyURI(
        args.kind,
        key,
        args.account,
        issuer=args.issuer,
        algorithm=args.algorithm,
        digits=args.digits,
        period=30 if args.period is None else args.period,
        # The Key URI format requires a counter for HOTP; a new token starts at 0.
        counter=(args.counter or 0) if args.kind == "hotp" else None,
        image=args.image,
    )
    # Making the token applies the library's key-length rule, so that no URI provisions a key
    # that softtoken itself would refuse.
    uri.token(allow_short_key=args.allow_short_key)
    return uri


def _run_uri(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.masked and args.generate:
        parser.error("--masked with --generate would throw the new key away")
    uri = _built_uri(args, parser)
    print(uri.masked() if args.masked else uri.to_uri())
    return EXIT_OK


def _write_private(path: str, data: bytes) -> None:
    """Write *data* to *path*, creating it readable by its owner only: it holds a key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _run_qr(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    building = args.account is not None or args.generate
    if building and args.uri_file is not None:
        parser.error("give either --uri-file or the options to build a URI, not both")
    if args.format == "png" and args.output is None:
        parser.error("--format png needs --output PATH")
    if args.scale < 1:
        parser.error("--scale must be at least 1")
    if building:
        uri = _built_uri(args, parser).to_uri()
    else:
        if args.key_file is not None:
            parser.error("--account is required to build a URI from --key-file")
        if args.uri_file is None and _stdin_is_terminal():
            parser.error("no URI given: use --uri-file PATH, pipe one in, or give --account")
        # Parsing first means only a well-formed otpauth URI is ever drawn.
        uri = parse_uri(_read_text(args.uri_file or "-").strip()).to_uri()
    if args.format == "png":
        _write_private(args.output, qr_png(uri, scale=args.scale))
        return EXIT_OK
    text = qr_svg(uri, scale=args.scale) if args.format == "svg" else qr_text(uri)
    if not text.endswith("\n"):
        text += "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_private(args.output, text.encode("utf-8"))
    return EXIT_OK


# --- the app wallet -------------------------------------------------------------------------

# The profiles ``--profile`` names. They are the app's configuration: the wallet does not store
# them, and the PIN verifiers keep their own KDF parameters.
_APP_PROFILES: Final[dict[str, PINProfile]] = {
    "entrust": ENTRUST_LIKE,
    "paysecure": PAYSECURE_LIKE,
}

_CODE_REFUSALS: Final = {
    Outcome.REJECTED: "wrong PIN",
    Outcome.TOO_SOON: "too soon after a wrong PIN; try again later",
    Outcome.LOCKED_NOW: "wrong PIN; the identity is now locked: see 'softtoken app reset-code'",
    Outcome.STILL_LOCKED: "the identity is locked: see 'softtoken app reset-code'",
    Outcome.WIPED_NOW: "wrong PIN; the identity was wiped",
    Outcome.WIPED: "the identity was wiped",
}
_UNLOCK_REFUSALS: Final = {
    UnlockOutcome.REJECTED: "the unlock code was not accepted",
    UnlockOutcome.NEW_RESET_CODE: "the unlock code was not accepted, and that reset code is "
    "used up: see 'softtoken app reset-code' for the new one",
    UnlockOutcome.WIPE: "the unlock code was not accepted; the identity was wiped",
}
# When an interrupted earlier run is counted as a wrong code and that ends the reset code the
# user answered, the code given now is not tried: it answers a reset code that is gone.
_INTERRUPTED_UNLOCK: Final = {
    UnlockOutcome.NEW_RESET_CODE: "an interrupted unlock was counted as a wrong code, and that "
    "reset code is used up: see 'softtoken app reset-code' for the new one",
    UnlockOutcome.WIPE: "an interrupted unlock was counted as a wrong code; the identity was wiped",
}


def _not_accepted(message: str) -> int:
    print(f"softtoken: {message}", file=sys.stderr)
    return EXIT_NOT_ACCEPTED


def _create_device_key(path: str) -> None:
    """Create *path* with 32 random bytes, owner-only; never replace an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_random.random_bytes(DEVICE_KEY_LENGTH))
        handle.flush()
        os.fsync(handle.fileno())


def _read_device_key(path: str, parser: argparse.ArgumentParser) -> bytes:
    with open(path, "rb") as handle:
        # One byte more than needed shows a file that is too long without reading it all.
        data = handle.read(DEVICE_KEY_LENGTH + 1)
    if len(data) != DEVICE_KEY_LENGTH:
        parser.error(f"the device key file must hold exactly {DEVICE_KEY_LENGTH} bytes")
    return data


def _open_wallet(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Wallet:
    device_key = _read_device_key(args.device_key_file, parser)
    return Wallet.load(args.wallet, device_key=device_key, profile=_APP_PROFILES[args.profile])


def _read_pin(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, prompt: str, confirm: bool
) -> str:
    """Read a PIN from --pin-file, standard input or a hidden prompt; check only its shape.

    Only a line ending is removed: a PIN is exactly the characters typed. A PIN that is not
    4 to 12 ASCII digits is refused here, before the wallet is touched, as a phone keypad would:
    such a typo is not counted as a wrong PIN.
    """
    if args.pin_file is not None:
        text = _read_text(args.pin_file)
    elif _stdin_is_terminal():
        text = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != text:
            parser.error("the two PINs typed differ")
    else:
        text = sys.stdin.read()
    pin = text.removesuffix("\n").removesuffix("\r")
    if not (MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH and pin.isascii() and pin.isdigit()):
        parser.error(f"a PIN is {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} ASCII digits")
    return pin


def _pin_rejected(error: PINRejected) -> int:
    reasons = ", ".join(sorted(reason.value for reason in error.reasons))
    return _fail(f"{error} ({reasons})")


def _run_app_init(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    profile = _APP_PROFILES[args.profile]
    if not os.path.exists(args.device_key_file):
        _create_device_key(args.device_key_file)
    device_key = _read_device_key(args.device_key_file, parser)
    # Claiming the name first, exclusively, means an existing wallet is never overwritten.
    try:
        os.close(os.open(args.wallet, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        parser.error("the wallet file already exists")
    try:
        Wallet.create(device_key=device_key, profile=profile).save(args.wallet)
    except BaseException:
        os.unlink(args.wallet)
        raise
    print("created an empty wallet")
    return EXIT_OK


def _run_app_add(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    source = args.key_file if args.key_file is not None else args.uri_file
    if source == "-" and args.pin_file is None:
        parser.error("the key and the PIN cannot both come from standard input: use --pin-file")
    token_options = ("digits", "algorithm", "period", "counter")
    if args.uri_file is not None and (
        args.hotp or any(getattr(args, name) is not None for name in token_options)
    ):
        parser.error("the token options come from the URI; give them only with --key-file")
    if args.hotp and args.period is not None:
        parser.error("--period cannot be used with --hotp")
    if not args.hotp and args.counter is not None:
        parser.error("--counter needs --hotp")
    if args.key_file is not None and args.name is None:
        parser.error("--name is required with --key-file")
    wallet = _open_wallet(args, parser)
    text = _read_text(source)
    pin = _read_pin(args, parser, prompt="New PIN: ", confirm=True)
    try:
        if args.uri_file is not None:
            wallet = wallet.add_uri(text.strip(), serial=args.serial, pin=pin, name=args.name)
        else:
            wallet = wallet.add_key(
                args.serial,
                b32decode(text),
                name=args.name,
                pin=pin,
                kind="hotp" if args.hotp else "totp",
                algorithm=args.algorithm or "sha1",
                digits=6 if args.digits is None else args.digits,
                period=30 if args.period is None else args.period,
                counter=args.counter or 0,
            )
    except PINRejected as error:
        return _pin_rejected(error)
    wallet.save(args.wallet)
    print("added")
    return EXIT_OK


def _run_app_list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    for info in _open_wallet(args, parser).identities():
        fields = (info.serial, info.status.value, info.remaining_tries, info.kind, info.digits)
        print("\t".join(str(field) for field in (*fields, info.name)))
    return EXIT_OK


def _run_app_rename(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _open_wallet(args, parser).rename(args.serial, args.name).save(args.wallet)
    print("renamed")
    return EXIT_OK


def _run_app_delete(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _open_wallet(args, parser).delete(args.serial).save(args.wallet)
    print("deleted")
    return EXIT_OK


def _info(wallet: Wallet, serial: str) -> IdentityInfo:
    """The listing of the identity with *serial*, which the caller knows to be in *wallet*."""
    canonical = canonical_serial(serial)
    return next(info for info in wallet.identities() if info.serial == canonical)


def _run_app_code(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    wallet = _open_wallet(args, parser)
    # The PIN is read, and its shape checked, before an attempt is opened: a typo is no try.
    pin = _read_pin(args, parser, prompt="PIN: ", confirm=False)
    now = _now()
    # The attempt is saved open before the PIN is checked. If this process dies before the
    # second save, the next run counts the attempt as a wrong PIN: no guess is ever free.
    wallet = wallet.begin_attempt(args.serial, now=now)
    wallet.save(args.wallet)
    wallet, result = wallet.show_code(args.serial, pin, now=now)
    # The counted try (or the advanced HOTP counter) is stored before anything is shown.
    wallet.save(args.wallet)
    if result.code is None:
        message = _CODE_REFUSALS[result.outcome]
        if result.outcome is Outcome.REJECTED:
            message += f"; {result.remaining_tries} tries left"
        return _not_accepted(message)
    print(result.code)
    return EXIT_OK


def _run_app_reset_code(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    print(_open_wallet(args, parser).reset_code(args.serial))
    return EXIT_OK


def _run_app_unlock(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    wallet = _open_wallet(args, parser)
    pin = _read_pin(args, parser, prompt="New PIN: ", confirm=True)
    # What can be refused without trying the code is checked before an attempt is opened: a
    # refused new PIN or a malformed code must not leave behind an open attempt, which the
    # next run would count as a wrong code.
    try:
        wallet.check_new_pin(args.serial, pin)
    except PINRejected as error:
        return _pin_rejected(error)
    parse_code(args.unlock_code, wallet.unlock_policy.digits)
    now = _now()
    # The attempt is saved open before the code is tried, as for the PIN in ``app code``.
    wallet = wallet.begin_attempt(args.serial, now=now, unlock=True)
    wallet.save(args.wallet)
    info = _info(wallet, args.serial)
    if not info.attempt_open:
        wiped = info.status is Status.WIPED
        return _not_accepted(
            _INTERRUPTED_UNLOCK[UnlockOutcome.WIPE if wiped else UnlockOutcome.NEW_RESET_CODE]
        )
    wallet, outcome = wallet.unlock(args.serial, args.unlock_code, new_pin=pin, now=now)
    wallet.save(args.wallet)
    if outcome is not UnlockOutcome.UNLOCKED:
        return _not_accepted(_UNLOCK_REFUSALS[outcome])
    print("unlocked")
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------


def _place_late_key(args: argparse.Namespace, extra: list[str]) -> None:
    """Take a KEY argument that came after options, or stop with a usage error.

    argparse fills optional positionals at the first positional it meets, so in
    ``verify CODE --hotp KEY`` the KEY would be left over. getopt, which oathtool uses, permutes
    the arguments instead; one leftover argument is taken as the key when none was given.
    """
    if (
        len(extra) == 1
        and getattr(args, "key", "") is None
        and (extra[0] == "-" or not extra[0].startswith("-"))
    ):
        args.key = extra[0]
        return
    args.subparser.error("unrecognized arguments")


def _fail(message: str) -> int:
    print(f"softtoken: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``softtoken`` command with *argv* (default: ``sys.argv[1:]``); return its status.

    Never raises for a user error and never prints a key: softtoken's own errors carry constant
    messages, and any other ValueError is reported without its text, which might quote input.
    """
    parser = _build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            _place_late_key(args, extra)
        handler: _Handler = args.handler
        return handler(args, args.subparser)
    except SystemExit as exit_:
        # argparse exits on --help, --version and usage errors; main returns the status instead.
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    except InvalidKey as error:
        message = str(error)
        if "allow_short_key" in message:
            # The library names its keyword argument; the command user needs the flag.
            message = message.split(";")[0] + "; use --allow-short-key for 10-byte legacy keys"
        return _fail(message)
    except SoftTokenError as error:
        return _fail(str(error))
    except UnicodeDecodeError:
        return _fail("the input is not UTF-8 text")
    except ValueError:
        # Not softtoken's own, so its message may quote the input: report it without the text.
        return _fail("invalid input")
    except OSError as error:
        # The file name is left out: a key typed after --key-file by mistake would be quoted.
        return _fail(f"cannot use the file given: {error.strerror or 'input/output error'}")
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
