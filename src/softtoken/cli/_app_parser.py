"""The parser of ``softtoken app``: its actions and their options (the actions are in
:mod:`softtoken.cli.app`).

``--wallet`` and ``--device-key-file`` default to the environment variables ``SOFTTOKEN_WALLET``
and ``SOFTTOKEN_DEVICE_KEY_FILE``, and are required only when those are unset or empty.
"""

from __future__ import annotations

import argparse
import os
from typing import Final

from softtoken.cli import activation, app
from softtoken.cli._args import Parser, natural, parse_period, serial
from softtoken.hotp import ALGORITHMS

__all__ = ["DEVICE_KEY_VARIABLE", "WALLET_VARIABLE", "add_parsers"]

WALLET_VARIABLE: Final = "SOFTTOKEN_WALLET"
DEVICE_KEY_VARIABLE: Final = "SOFTTOKEN_DEVICE_KEY_FILE"


def add_parsers(commands: argparse._SubParsersAction[Parser]) -> None:
    """Add ``app`` and its actions to *commands*."""
    group = commands.add_parser(
        "app",
        help="an authenticator app's wallet: identities behind PINs, lockout and unlock",
        description="Keep identities in a wallet file, each behind its own PIN, as a phone "
        "authenticator does. Exit status 0: done. 1: PIN or unlock code not accepted, or the "
        "identity is locked or wiped. 2: bad usage or input.",
    )
    actions = group.add_subparsers(dest="app_command", required=True, metavar="ACTION")

    def action(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help, description=description)
        files = parser.add_argument_group("wallet")
        for option, variable, what in (
            ("--wallet", WALLET_VARIABLE, "the wallet file"),
            ("--device-key-file", DEVICE_KEY_VARIABLE, "the file of the 32-byte device key"),
        ):
            # An empty variable counts as unset, so that a blank value is never a path.
            default = os.environ.get(variable) or None
            files.add_argument(
                option,
                metavar="PATH",
                default=default,
                required=default is None,
                help=f"{what} (default: ${variable})",
            )
        if name == "init":
            _add_profile(
                parser, "the wallet's default policy, stored in it (default: entrust)", "entrust"
            )
        elif name in ("add", "activate", "scan-finish"):
            # A new identity's default is the wallet's policy.
            _add_profile(
                parser, "this identity's policy, stored with it (default: the wallet's)", None
            )
        else:
            # The policy is stored in the wallet; this is here only to say so.
            parser.add_argument("--profile", dest="misplaced_profile", help=argparse.SUPPRESS)
        if name not in ("init", "list", "adopt", "scan"):
            parser.add_argument(
                "--serial", type=serial, required=True, help="the identity's serial"
            )
        parser.set_defaults(subparser=parser)
        return parser

    init = action(
        "init",
        "create an empty wallet (and the device key file if it does not exist)",
        "Create an empty wallet. A missing device key file is created with 32 random bytes, "
        "readable by its owner only. An existing wallet is never overwritten.",
    )
    init.set_defaults(handler=app.run_init)

    add = action(
        "add",
        "add an identity from a base32 key or an otpauth URI",
        "Add an identity. The key is read from --key-file or --uri-file; the PIN from "
        "--pin-file or standard input. They cannot both come from standard input.",
    )
    add.add_argument("--name", help="the display name (default for a URI: its issuer or account)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--key-file", metavar="PATH", help="a base32 key ('-': standard input)")
    source.add_argument(
        "--uri-file", metavar="PATH", help="an otpauth:// URI ('-': standard input)"
    )
    _add_pin_file(add)
    otp = add.add_argument_group("token (with --key-file)")
    otp.add_argument("--hotp", action="store_true", help="counter-based codes (default: TOTP)")
    otp.add_argument("-d", "--digits", type=natural, metavar="N", help="code length (default: 6)")
    otp.add_argument(
        "--algorithm", type=str.lower, choices=sorted(ALGORITHMS), help="HMAC hash (default: sha1)"
    )
    otp.add_argument(
        "-s", "--period", type=parse_period, metavar="SECONDS", help="TOTP step (default: 30)"
    )
    otp.add_argument("-c", "--counter", type=natural, help="HOTP initial counter (default: 0)")
    add.set_defaults(handler=app.run_add)

    activate = action(
        "activate",
        "offline activation: the bank's serial and activation code in, a registration code out",
        "Make an identity from the serial and the activation code the bank shows, behind a new "
        "PIN, and print the registration code to type into the bank's page. The activation "
        "code is read from --activation-code-file ('-': standard input), never the command "
        "line; the token options must be the bank's.",
    )
    activate.add_argument("--name", required=True, help="the display name")
    activate.add_argument(
        "--activation-code-file", metavar="PATH", required=True, help="('-': standard input)"
    )
    _add_pin_file(activate)
    token = activate.add_argument_group("token (the bank's; default TOTP, SHA1, 6 digits, 30 s)")
    token.add_argument("-d", "--digits", type=natural, metavar="N", help="code length")
    token.add_argument("--algorithm", type=str.lower, choices=sorted(ALGORITHMS), help="HMAC hash")
    token.add_argument("-s", "--period", type=parse_period, metavar="SECONDS", help="TOTP step")
    activate.set_defaults(handler=activation.run_activate)

    scan = action(
        "scan",
        "QR activation: answer the bank's offer with the SMS password",
        "Answer the offer the bank's QR code holds (its text, from --offer-file) with the "
        "8-digit password sent by SMS (--password-file, or standard input), and print the "
        "request to send to the bank. Only an offer signed by the bank's key (--bank-key-file, "
        "obtained from the bank through a channel you trust, never from the offer's page) is "
        "answered; any other is refused before the password is read. The activation's device "
        "key stays sealed in the wallet until 'app scan-finish'.",
    )
    scan.add_argument(
        "--offer-file", metavar="PATH", required=True, help="the offer's text ('-': stdin)"
    )
    scan.add_argument(
        "--password-file", metavar="PATH", help="the SMS password (default: standard input)"
    )
    scan.add_argument(
        "--bank-key-file",
        metavar="PATH",
        action="append",
        required=True,
        help="the bank's Ed25519 public key, as 64 hex digits; repeat the option to trust "
        "several keys (during a key rotation)",
    )
    scan.set_defaults(handler=activation.run_scan)

    finish = action(
        "scan-finish",
        "QR activation: the bank's response; the identity is made behind a new PIN",
        "Check the bank's response to 'app scan' (its key confirmation) and make the identity "
        "behind a new PIN. A response that does not answer the scan is refused, and the scan "
        "is kept for the right one.",
    )
    finish.add_argument("--name", required=True, help="the display name")
    finish.add_argument(
        "--response-file", metavar="PATH", required=True, help="the bank's response ('-': stdin)"
    )
    _add_pin_file(finish)
    finish.set_defaults(handler=activation.run_scan_finish)

    cancel = action(
        "scan-cancel",
        "QR activation: drop an unfinished scan",
        "Forget the scan of this serial and the device key it holds, when the activation will "
        "not be finished. Scans whose offers have expired are dropped at the next 'app scan'.",
    )
    cancel.set_defaults(handler=activation.run_scan_cancel)

    listing = action(
        "list",
        "list the identities",
        "Print one line per identity, tab-separated: serial, status, PIN tries left, what the "
        "last wrong PIN does (locks or wipes), kind, digits, name. No secret is ever listed.",
    )
    listing.set_defaults(handler=app.run_list)
    action(
        "adopt",
        "record a wallet the version guard has never seen, as the newest copy",
        "For a wallet moved to a new device, or whose guard file was lost: record it in the "
        "guard beside the device key. Only for the newest copy: anything spent after the "
        "copy was made would be spent again.",
    ).set_defaults(handler=app.run_adopt)
    rename = action("rename", "change an identity's display name")
    rename.add_argument("--name", required=True, help="the new display name")
    rename.set_defaults(handler=app.run_rename)
    action("delete", "remove an identity").set_defaults(handler=app.run_delete)
    code = action(
        "code",
        "enter the PIN and print the current code",
        "Print the identity's current code. Exit status 1 for a wrong PIN (with the tries "
        "left) or a locked or wiped identity; every wrong PIN is counted, and so is a run "
        "interrupted after it began checking the PIN.",
    )
    _add_pin_file(code)
    code.set_defaults(handler=app.run_code)
    action("reset-code", "print a locked identity's reset code, to read to the bank").set_defaults(
        handler=app.run_reset_code
    )
    unlock = action(
        "unlock",
        "unlock a locked identity with the bank's unlock code and a new PIN",
        "Try the bank's unlock code; the new PIN is read from --pin-file or standard input. "
        "Exit status 1 when the code is not accepted; 2 when the new PIN is refused (nothing "
        "is counted then). A run interrupted after it began trying the code counts as a wrong "
        "code.",
    )
    given = unlock.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--unlock-code", metavar="CODE", help="the unlock code the bank gave ('-': stdin)"
    )
    given.add_argument(
        "--unlock-code-file", metavar="PATH", help="read the unlock code from PATH ('-': stdin)"
    )
    _add_pin_file(unlock)
    unlock.set_defaults(handler=app.run_unlock)


def _add_profile(parser: argparse.ArgumentParser, help: str, default: str | None) -> None:
    parser.add_argument(
        "--profile",
        choices=sorted(app.PROFILES),
        default=default,
        help=f"PIN rules and what 5 wrong PINs do: entrust locks (an unlock code reopens), "
        f"paysecure wipes the identity; {help}",
    )


def _add_pin_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pin-file",
        metavar="PATH",
        help="read the PIN from PATH; otherwise from standard input (a hidden prompt on a "
        "terminal). Never give a PIN on the command line",
    )
