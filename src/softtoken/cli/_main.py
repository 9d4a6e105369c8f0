"""The entry point: the whole parser, and one mapping from errors to messages and statuses."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from softtoken import __version__
from softtoken.cli import _app_parser, _issuer_parser, entrust, otp, uri
from softtoken.cli._args import EXIT_INTERRUPTED, EXIT_USAGE, Parser
from softtoken.cli._input import BadInput, Usage, shown_path
from softtoken.cli._messages import pin_rejected
from softtoken.exceptions import (
    KeyTooShort,
    PINRejected,
    SoftTokenError,
    WalletNotGuarded,
    WalletRolledBack,
)

__all__ = ["build_parser", "main"]

_Handler = Callable[[argparse.Namespace], int]


def build_parser() -> Parser:
    """The ``softtoken`` parser with every command; every parser in it is a :class:`Parser`."""
    parser = Parser(
        prog="softtoken",
        description="Generate and verify HOTP/TOTP one-time codes; build otpauth URIs and QRs; "
        "keep an authenticator app's wallet; compute the bank's unlock codes.",
        epilog="Keys are base32 by default. Prefer --key-file or standard input for keys: "
        "command-line arguments are visible to other users.",
    )
    parser.add_argument("--version", action="version", version=f"softtoken {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    otp.add_parsers(commands)
    uri.add_parsers(commands)
    _app_parser.add_parsers(commands)
    entrust.add_parsers(commands)
    _issuer_parser.add_parsers(commands)
    return parser


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


def _key_too_short(error: KeyTooShort, args: argparse.Namespace | None) -> str:
    message = f"the key must be at least {error.minimum} bytes"
    # The library names its keyword argument; the command user needs the flag, where it exists.
    if error.legacy_opt_in and args is not None and hasattr(args, "allow_short_key"):
        message += "; use --allow-short-key for 10-byte legacy keys"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``softtoken`` command with *argv* (default: ``sys.argv[1:]``); return its status.

    Never raises for a user error and never prints a key: messages come from softtoken's own
    constant texts and from the exception classes and their attributes, never from parsing a
    message, and any other ValueError is reported without its text, which might quote input.
    """
    parser = build_parser()
    args: argparse.Namespace | None = None
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            _place_late_key(args, extra)
        handler: _Handler = args.handler
        subparser: Parser = args.subparser
        try:
            return handler(args)
        except Usage as error:
            subparser.usage_error(str(error))
    except SystemExit as exit_:
        # argparse exits on --help, --version and usage errors; main returns the status instead.
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    except BadInput as error:
        return _fail(str(error))
    except KeyTooShort as error:
        return _fail(_key_too_short(error, args))
    except WalletNotGuarded:
        return _fail(
            "the version guard beside the device key has no record of this wallet, so an older "
            "copy could not be told apart; if this file is the newest copy (a new device, a "
            "lost guard), 'softtoken app adopt' records it"
        )
    except WalletRolledBack as error:
        return _fail(
            f"{error}: an older or another copy of the wallet would give back spent tries, so "
            "it is refused"
        )
    except PINRejected as error:
        # A new PIN the identity's rules refuse, from any command that sets one.
        return _fail(pin_rejected(error))
    except SoftTokenError as error:
        # softtoken's own messages are constant texts that never hold a value.
        return _fail(str(error))
    except UnicodeDecodeError:
        return _fail("the input is not UTF-8 text")
    except ValueError:
        # Not softtoken's own, so its message may quote the input: report it without the text.
        return _fail("invalid input")
    except OSError as error:
        reason = error.strerror or "input/output error"
        if isinstance(error.filename, str):
            return _fail(f"cannot use {shown_path(error.filename)}: {reason}")
        return _fail(f"cannot use a file: {reason}")
    except EOFError:
        return _fail("the input ended before anything was typed")
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
