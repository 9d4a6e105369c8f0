"""``softtoken code``, ``verify`` and ``unlock-code``: codes from a key, and the bank's unlock code.

The token comes from the key and token options, or from an otpauth URI (``--uri-file``), so
that the output of ``softtoken uri --generate`` can be fed back. ``--verbose`` prints what was
used to standard error, one item a line, never the key.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Final

from softtoken._checks import MAX_COUNTER
from softtoken.cli import _input
from softtoken.cli._args import (
    EXIT_NOT_ACCEPTED,
    EXIT_OK,
    Parser,
    count,
    natural,
    parse_time,
    serial,
)
from softtoken.cli._common import (
    KEY_ARGUMENT_HELP,
    add_key_options,
    add_token_options,
    read_key,
    refuse_given,
)
from softtoken.cli._input import BadInput, Usage, read_text
from softtoken.cli._messages import MISTYPED_RESET_CODE
from softtoken.cli._token import describe, token
from softtoken.exceptions import InvalidCode, MalformedCode, MistypedCode
from softtoken.hotp import HOTP, Match
from softtoken.unlock import compute_unlock_code, parse_reset_code

__all__ = ["add_parsers"]

_TIME_HELP: Final = (
    "Unix seconds, @SECONDS, now, 'YYYY-MM-DD HH:MM:SS UTC' or ISO 8601 with a zone, such as "
    "2009-02-13T23:31:30Z"
)
_URI_FILE_HELP: Final = (
    "take the token from the otpauth URI in PATH ('-': standard input), such as the output of "
    "'softtoken uri'; the token options then come from the URI"
)
_VERBOSE_HELP: Final = "print the parameters used to standard error (never the key)"


def add_parsers(commands: argparse._SubParsersAction[Parser]) -> None:
    """Add ``code``, ``verify`` and ``unlock-code`` to *commands*."""
    code = commands.add_parser(
        "code",
        help="print the current code, or a list of codes",
        description="Print the code for a counter (--hotp) or a time (--totp, the default).",
    )
    code.add_argument("key", nargs="?", metavar="KEY", help=KEY_ARGUMENT_HELP)
    add_key_options(code)
    add_token_options(code)
    code.add_argument("--uri-file", metavar="PATH", help=_URI_FILE_HELP)
    where = code.add_argument_group("which codes")
    where.add_argument("-c", "--counter", type=natural, help="HOTP counter (default: 0)")
    where.add_argument("-N", "--time", type=parse_time, help=f"TOTP time: {_TIME_HELP}")
    where.add_argument("-S", "--t0", type=parse_time, help="TOTP start time (default: 0)")
    where.add_argument(
        "-w",
        "--window",
        type=count,
        default=0,
        metavar="N",
        help="also list the N codes after this one, with their counter or step",
    )
    where.add_argument("--past", type=count, metavar="N", help="TOTP: also list N steps before")
    where.add_argument("--future", type=count, metavar="N", help="TOTP: also list N steps after")
    code.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    code.set_defaults(handler=_run_code, subparser=code)

    verify = commands.add_parser(
        "verify",
        # argparse cannot draw a required choice between a positional and an option once the
        # usage wraps, so this one line is written by hand.
        usage="%(prog)s [options] (CODE | --code-file PATH) [KEY]",
        help="check a code: exit 0 if accepted, 1 if not, 2 on bad input",
        description="Check a code. Exit status 0: accepted (the matched counter or step and its "
        "offset are printed). 1: not accepted. 2: bad usage or input.",
    )
    given = verify.add_mutually_exclusive_group(required=True)
    given.add_argument("--code-file", metavar="PATH", help="read the code from PATH ('-': stdin)")
    given.add_argument(
        "code", nargs="?", metavar="CODE", help="the code to check ('-': standard input)"
    )
    verify.add_argument("key", nargs="?", metavar="KEY", help=KEY_ARGUMENT_HELP)
    add_key_options(verify)
    add_token_options(verify)
    verify.add_argument("--uri-file", metavar="PATH", help=_URI_FILE_HELP)
    window = verify.add_argument_group("window and replay")
    window.add_argument("-c", "--counter", type=natural, help="HOTP expected counter (default: 0)")
    window.add_argument("-N", "--time", type=parse_time, help=f"TOTP time: {_TIME_HELP}")
    window.add_argument("-S", "--t0", type=parse_time, help="TOTP start time (default: 0)")
    window.add_argument(
        "-w",
        "--window",
        type=natural,
        metavar="N",
        help="as oathtool: TOTP steps accepted either side of now, or HOTP counters ahead",
    )
    window.add_argument(
        "--past", type=natural, metavar="N", help="TOTP steps accepted before now (default: 1)"
    )
    window.add_argument(
        "--future", type=natural, metavar="N", help="TOTP steps accepted after now (default: 1)"
    )
    window.add_argument(
        "--look-ahead", type=natural, metavar="N", help="HOTP counters to try ahead (default: 0)"
    )
    window.add_argument(
        "--last-step", type=natural, metavar="STEP", help="TOTP: the last step accepted; refused"
    )
    window.add_argument(
        "--last-counter", type=natural, metavar="COUNTER", help="HOTP: the last counter accepted"
    )
    verify.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    verify.set_defaults(handler=_run_verify, subparser=verify)

    unlock = commands.add_parser(
        "unlock-code",
        help="the bank's side: print the unlock code that answers a locked app's reset code",
        description="Print the unlock code for a reset code, as the bank computes it from its "
        "copy of the token's key (softtoken.unlock.compute_unlock_code). The reset code comes "
        "from --reset-code, --reset-code-file or standard input.",
    )
    unlock.add_argument("--serial", type=serial, required=True, help="the token's serial")
    reset = unlock.add_mutually_exclusive_group()
    reset.add_argument(
        "--reset-code", metavar="CODE", help="the reset code read out ('-': standard input)"
    )
    reset.add_argument(
        "--reset-code-file", metavar="PATH", help="read the reset code from PATH ('-': stdin)"
    )
    unlock.add_argument(
        "-d", "--digits", type=natural, metavar="N", help="unlock code length (default: 8)"
    )
    add_key_options(unlock, file_required=True)
    unlock.set_defaults(handler=_run_unlock_code, subparser=unlock)


# --- commands -------------------------------------------------------------------------------


def _run_code(args: argparse.Namespace) -> int:
    chosen = token(args)
    otp = chosen.otp
    generate: Callable[[int], str]
    at: int | None = None
    if isinstance(otp, HOTP):
        expected = args.counter if args.counter is not None else (chosen.uri_counter or 0)
        before, after, label = 0, args.window, "counter"
        generate = otp.generate
    else:
        if args.window and args.future is not None:
            raise Usage("--window and --future both set how many codes follow; give one")
        at = _input.now() if args.time is None else args.time
        expected = otp.step(at)
        before = args.past or 0
        after = args.window if args.future is None else args.future
        label = "step"
        generate = otp.generate_step
    if args.verbose:
        describe(chosen, position=expected, before=before, after=after, at=at)
    # Generating the current code first refuses a counter or step past the 8-byte range.
    current = generate(expected)
    if before == 0 and after == 0:
        print(current)
        return EXIT_OK
    # Counters outside the 8-byte range (RFC 4226 §5.2) are left out of a listing.
    first, last = max(0, expected - before), min(MAX_COUNTER, expected + after)
    for counter in range(first, last + 1):
        print(f"{label} {counter} offset {counter - expected:+d}: {generate(counter)}")
    return EXIT_OK


def _run_verify(args: argparse.Namespace) -> int:
    holds = "the code" if "-" in (args.code, args.code_file) else None
    if args.window is not None:
        refuse_given(args, ("past", "future", "look_ahead"), "cannot be used with --window")
    chosen = token(args, stdin_holds=holds)
    if args.code_file is not None:
        code = read_text(args.code_file, option="--code-file")
    else:
        code = read_text("-", option="standard input") if args.code == "-" else args.code
    otp = chosen.otp
    match: Match
    try:
        if isinstance(otp, HOTP):
            counter = args.counter if args.counter is not None else (chosen.uri_counter or 0)
            look_ahead = args.window if args.window is not None else (args.look_ahead or 0)
            if args.verbose:
                describe(chosen, position=counter, before=0, after=look_ahead, at=None)
            match = otp.verify(
                code, counter=counter, look_ahead=look_ahead, last_counter=args.last_counter
            )
            label = "counter"
        else:
            at = _input.now() if args.time is None else args.time
            past = args.window if args.window is not None else args.past
            future = args.window if args.window is not None else args.future
            past, future = 1 if past is None else past, 1 if future is None else future
            if args.verbose:
                describe(chosen, position=otp.step(at), before=past, after=future, at=at)
            match = otp.verify(code, at=at, past=past, future=future, last_step=args.last_step)
            label = "step"
    except MalformedCode:
        # A code of the wrong shape is bad input (status 2); its message depends only on the
        # typed text, never on the key, so it is no oracle.
        raise
    except InvalidCode:
        # One answer for a wrong, replayed or out-of-window code (SECURITY.md S8).
        print("not accepted")
        return EXIT_NOT_ACCEPTED
    print(f"accepted: {label} {match.counter} offset {match.offset:+d}")
    return EXIT_OK


def _run_unlock_code(args: argparse.Namespace) -> int:
    source = args.reset_code_file
    if args.reset_code == "-" or (args.reset_code is None and source is None):
        source = "-"
    if source == "-":
        if args.key_file == "-":
            raise Usage("the key and the reset code cannot both come from standard input")
        if args.reset_code is None and args.reset_code_file is None and _input.stdin_is_terminal():
            raise Usage("no reset code given: use --reset-code CODE or --reset-code-file PATH")
    key = read_key(args)
    text = args.reset_code if source is None else read_text(source, option="--reset-code-file")
    try:
        reset_code = parse_reset_code(text)
    except MistypedCode:
        raise BadInput(MISTYPED_RESET_CODE) from None
    except MalformedCode:
        raise BadInput(
            "a reset code has 9 digits (spaces or dashes between groups are fine)"
        ) from None
    digits = 8 if args.digits is None else args.digits
    print(
        compute_unlock_code(
            key, args.serial, reset_code, digits=digits, allow_short_key=args.allow_short_key
        )
    )
    return EXIT_OK
