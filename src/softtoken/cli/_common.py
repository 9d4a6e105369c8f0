"""What the key-handling commands share: the key and token options, and reading the key.

``code``, ``verify``, ``uri``, ``qr`` and ``unlock-code`` take a key; all but the last describe a
token with the same options, spelt as oathtool spells them where oathtool has them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Final

from softtoken._encoding import b32decode, hexdecode
from softtoken.cli._args import natural, parse_period
from softtoken.cli._input import Usage, read_text, stdin_is_terminal
from softtoken.hotp import ALGORITHMS

__all__ = [
    "KEY_ARGUMENT_HELP",
    "add_key_options",
    "add_token_options",
    "read_key",
    "refuse",
    "refuse_given",
]

KEY_ARGUMENT_HELP: Final = "the key ('-' for standard input); visible in ps, so prefer --key-file"
_POSITIONAL_KEY_WARNING: Final = (
    "softtoken: warning: a key given as an argument is visible to other users in the process "
    "list (ps); prefer --key-file PATH or standard input"
)


def add_key_options(parser: argparse.ArgumentParser, *, file_required: bool = False) -> None:
    """Add ``--key-file``, ``-b/--base32``, ``--hex`` and ``--allow-short-key``."""
    group = parser.add_argument_group("key")
    group.add_argument(
        "--key-file",
        metavar="PATH",
        required=file_required,
        help="read the key from PATH ('-' for standard input)"
        + (
            ""
            if file_required
            else "; without a KEY argument or --key-file, the key is read from standard input "
            "when it is not a terminal"
        ),
    )
    encoding = group.add_mutually_exclusive_group()
    encoding.add_argument(
        "-b",
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


def add_token_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--totp``/``--hotp``, ``-d/--digits``, ``--algorithm`` and ``-s/--period``.

    Every default is None, so that a command can tell which were given: the defaults (TOTP, 6
    digits, SHA-1, 30 seconds) are applied where the token is built.
    """
    group = parser.add_argument_group("token")
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
        "-d", "--digits", type=natural, metavar="N", help="code length, 6 to 10 (default: 6)"
    )
    group.add_argument(
        "--algorithm",
        type=str.lower,
        choices=sorted(ALGORITHMS),
        help="HMAC hash (default: sha1)",
    )
    group.add_argument(
        "-s",
        "--period",
        type=parse_period,
        metavar="SECONDS",
        help="TOTP seconds per step: 30, 30s or 1m (default: 30)",
    )


# Destinations that are not spelt as their option.
_SPELLINGS: Final = {"kind": "--totp/--hotp", "encoding": "--base32/--hex", "key": "KEY"}


def _flags(names: Sequence[str]) -> str:
    """The options for *names* (``last_step`` is ``--last-step``), as a list for messages."""
    return ", ".join(_SPELLINGS.get(name, "--" + name.replace("_", "-")) for name in names)


def _given(value: object) -> bool:
    return value is not None and value is not False


def refuse_given(args: argparse.Namespace, names: Sequence[str], reason: str) -> None:
    """Stop with a usage error if any option in *names* was given: "<flags> <reason>"."""
    # A flag's default is False and an option's None; 0 is a value that was given.
    given = [name for name in names if _given(getattr(args, name, None))]
    if given:
        raise Usage(f"{_flags(given)} {reason}")


def refuse(args: argparse.Namespace, kind: str, *, what: str | None = None) -> None:
    """Stop with a usage error if an option of the other token kind than *kind* was given."""
    if kind == "hotp":
        names: tuple[str, ...] = ("time", "t0", "period", "past", "future", "last_step")
    else:
        names = ("counter", "look_ahead", "last_counter")
    refuse_given(args, names, f"cannot be used with {what or '--' + kind}")


def read_key(args: argparse.Namespace, *, stdin_holds: str | None = None) -> bytes:
    """Find, read and decode the key, from exactly one source.

    The sources are a KEY argument (with a warning, since other users see it in ps; ``-`` is
    standard input), ``--key-file`` (``-`` is standard input), or a piped standard input when
    neither is given. *stdin_holds* names what else standard input holds, such as "the code";
    the key then cannot come from there.
    """
    argument: str | None = getattr(args, "key", None)
    if argument is not None and args.key_file is not None:
        raise Usage("give the key one way only: a KEY argument or --key-file")
    if argument is not None and argument != "-":
        print(_POSITIONAL_KEY_WARNING, file=sys.stderr)
        text = argument
    else:
        path = "-" if argument == "-" else args.key_file
        if path is None:
            if stdin_holds is not None or stdin_is_terminal():
                raise Usage("no key given: use --key-file PATH, or pipe the key on standard input")
            path = "-"
        if path == "-" and stdin_holds is not None:
            raise Usage(f"the key and {stdin_holds} cannot both come from standard input")
        text = read_text(path, option="--key-file")
    return hexdecode(text) if args.encoding == "hex" else b32decode(text)
