"""The parser of ``softtoken issuer``: its actions and their options (the actions are in
:mod:`softtoken.cli.issuer`).

``--db``, ``--keyring-file`` and ``--actor`` may be given before the action (``softtoken issuer
--db URL list``) or after it (``softtoken issuer list --db URL``); after it wins. No option
takes a code, a key or a key ring: those come from files, standard input or a hidden prompt.
"""

from __future__ import annotations

import argparse
from typing import Final

from softtoken.cli import issuer
from softtoken.cli._args import Parser, natural, parse_period, serial
from softtoken.hotp import ALGORITHMS

__all__ = ["add_parsers"]

_DB_HELP: Final = (
    f"the issuer database, a SQLAlchemy URL (default: ${issuer.DB_VARIABLE}, else "
    f"{issuer.DEFAULT_DB}); a URL with a password is visible in ps, so prefer the variable"
)
_KEYRING_HELP: Final = (
    f"read the key ring from PATH (default: ${issuer.KEYRING_VARIABLE}); see 'issuer keygen'"
)
_ACTOR_HELP: Final = (
    f"who is acting, for the audit trail (default: ${issuer.ACTOR_VARIABLE}, else the login name)"
)
# The actions that need the database, the key ring, and an actor for the audit trail.
_NO_DATABASE: Final = frozenset({"keygen"})
_NO_KEYRING: Final = frozenset({"init", "keygen"})
_ACTING: Final = frozenset(
    {
        "create",
        "assign-pool",
        "assign",
        "start-activation",
        "resync",
        "reset-drift",
        "block",
        "unblock",
        "release",
        "delete",
        "unlock-code",
        "rotate-keys",
    }
)


def _add_common(parser: argparse.ArgumentParser, name: str | None) -> None:
    """The database, key ring and actor options; on an action (*name*), only those it uses,
    left unset unless given so that the group's value stands."""
    default = None if name is None else argparse.SUPPRESS
    group = parser.add_argument_group("issuer")
    if name not in _NO_DATABASE:
        group.add_argument("--db", metavar="URL", default=default, help=_DB_HELP)
    if name not in _NO_KEYRING:
        group.add_argument("--keyring-file", metavar="PATH", default=default, help=_KEYRING_HELP)
    if name is None or name in _ACTING:
        group.add_argument("--actor", metavar="NAME", default=default, help=_ACTOR_HELP)


def _code_file(parser: argparse.ArgumentParser, what: str, option: str = "--code-file") -> None:
    parser.add_argument(
        option,
        metavar="PATH",
        help=f"read {what} from PATH ('-': standard input); by default from standard input, or "
        "at a hidden prompt on a terminal. Never on the command line",
    )


def add_parsers(commands: argparse._SubParsersAction[Parser]) -> None:
    """Add ``issuer`` and its actions to *commands*."""
    group = commands.add_parser(
        "issuer",
        help="the bank's side: tokens, activation, verification, blocks and the audit trail",
        description="Administer the issuer (softtoken.issuer): create and assign tokens, run "
        "offline activations, verify codes, block, release and delete tokens, and read and "
        "check the audit trail. Exit status 0: done. 1: a code or activation was not "
        "accepted, or the audit trail does not verify. 2: bad usage or input, or an operation "
        "that does not apply to the token's state.",
    )
    _add_common(group, None)
    actions = group.add_subparsers(dest="issuer_command", required=True, metavar="ACTION")

    def action(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help, description=description or help)
        _add_common(parser, name)
        parser.set_defaults(subparser=parser)
        return parser

    def with_serial(
        name: str, help: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        parser = action(name, help, description)
        parser.add_argument("serial", type=serial, metavar="SERIAL", help="the token's serial")
        return parser

    action(
        "init",
        "create the issuer's tables in the database (a new SQLite file is private)",
        "Create the issuer's schema in --db. Running it again on a ready database changes "
        "nothing; a database made by a newer softtoken is refused.",
    ).set_defaults(handler=issuer.run_init)

    keygen = action(
        "keygen",
        "print a new key-ring entry: a secret key",
        "Print a new key-ring entry, '<id>:<32 random bytes in base64>', to add at the end of "
        f"the key ring (${issuer.KEYRING_VARIABLE} or --keyring-file), where it becomes the key "
        "that seals new records. It is a secret: keep it out of the database, of shell history "
        "and of logs.",
    )
    keygen.add_argument("--id", required=True, help="the key's id: 1 to 32 of A-Z a-z 0-9 _ . -")
    keygen.add_argument(
        "--output",
        metavar="PATH",
        help="write the entry to PATH, a new file of mode 0600 (an existing file is never "
        "replaced), instead of standard output",
    )
    keygen.set_defaults(handler=issuer.run_keygen)

    create = action("create", "create tokens in stock or in a company's pool; prints serials")
    create.add_argument("--count", type=natural, required=True, help="how many, 1 to 10000")
    create.add_argument("--pool", help="the company's pool (default: the bank's stock)")
    create.set_defaults(handler=issuer.run_create)

    pool = with_serial("assign-pool", "put a token from stock into a company's pool")
    pool.add_argument("--pool", required=True, help="the company's pool")
    pool.set_defaults(handler=issuer.run_assign_pool)

    assign = with_serial("assign", "assign a token from stock or a pool to a user")
    assign.add_argument("--user", required=True, help="the user")
    assign.set_defaults(handler=issuer.run_assign)

    start = with_serial(
        "start-activation",
        "open an offline activation; prints the activation code once",
        "Open an offline activation for an assigned token (replacing any earlier one) and print "
        "the serial, the activation code and when it expires. Show the code to the user once: "
        "it is not stored, and cannot be printed again.",
    )
    token = start.add_argument_group("token (the app must use the same; TOTP)")
    token.add_argument("-d", "--digits", type=natural, metavar="N", help="code length (default: 6)")
    token.add_argument(
        "--algorithm", type=str.lower, choices=sorted(ALGORITHMS), help="HMAC hash (default: sha1)"
    )
    token.add_argument(
        "-s", "--period", type=parse_period, metavar="SECONDS", help="TOTP step (default: 30)"
    )
    start.add_argument(
        "--ttl",
        type=parse_period,
        metavar="SECONDS",
        help="how long the activation code is valid: 600, 10m or 72h (default: 72h)",
    )
    start.set_defaults(handler=issuer.run_start_activation)

    complete = with_serial(
        "complete-activation",
        "take the registration code the app showed; the token then waits for its first code",
    )
    _code_file(complete, "the registration code")
    complete.set_defaults(handler=issuer.run_complete_activation)

    verify = action(
        "verify",
        "check a code from a user's token, or from one serial: exit 0 if accepted, 1 if not",
        "Check a code, and on success print the step and the device's drift. A token pending "
        "its first code is confirmed by it. Every refusal prints 'not accepted' and exits 1, "
        "whatever its cause; the audit trail records the cause.",
    )
    whose = verify.add_mutually_exclusive_group(required=True)
    whose.add_argument("--user", help="the user whose token answers")
    whose.add_argument("--serial", type=serial, help="the token")
    _code_file(verify, "the code")
    verify.set_defaults(handler=issuer.run_verify)

    resync = with_serial(
        "resync",
        "find a drifted token from two consecutive codes",
        "Read two consecutive codes, one a line, and learn the token's drift. A failed resync "
        "counts one failure, as a wrong code does.",
    )
    _code_file(resync, "the two codes, one a line")
    resync.set_defaults(handler=issuer.run_resync)

    with_serial("reset-drift", "set a token's learned drift back to 0").set_defaults(
        handler=issuer.run_reset_drift
    )

    block = with_serial("block", "block an active token; it refuses every code until unblocked")
    block.add_argument("--reason", required=True, choices=list(issuer.BLOCK_REASONS))
    block.set_defaults(handler=issuer.run_block)

    unblock = with_serial("unblock", "lift a block; its failure count starts again at 0")
    unblock.add_argument(
        "--note", required=True, help="why the block is lifted, for the audit trail (no secrets)"
    )
    unblock.set_defaults(handler=issuer.run_unblock)

    release = with_serial(
        "release",
        "release a token's seed: the seed is destroyed and the token goes back to its pool",
    )
    release.add_argument("--reason", required=True, choices=list(issuer.RELEASE_REASONS))
    release.set_defaults(handler=issuer.run_release)

    with_serial(
        "delete", "delete a token for good: its seed is destroyed, its audit trail kept"
    ).set_defaults(handler=issuer.run_delete)

    unlock = with_serial(
        "unlock-code",
        "print the unlock code that answers a locked app's reset code",
        "Read the reset code the user reads out (9 digits; spaces or dashes between groups are "
        "fine) and print the unlock code for the token's app.",
    )
    _code_file(unlock, "the reset code", "--reset-code-file")
    unlock.set_defaults(handler=issuer.run_unlock_code)

    send = action(
        "send-code",
        "print a new out-of-band code (SMS, e-mail) for the caller to send",
        "Print a new single-use code for a user and a purpose, valid for --ttl; it replaces "
        "the user's earlier code for that purpose. softtoken sends nothing.",
    )
    send.add_argument("--user", required=True, help="the user")
    send.add_argument("--purpose", required=True, help="what the code is for, such as login")
    send.add_argument(
        "--ttl", type=parse_period, metavar="SECONDS", help="how long it is valid (default: 5m)"
    )
    send.add_argument(
        "--digits", type=natural, metavar="N", help="its length, 4 to 10 (default: 6)"
    )
    send.add_argument(
        "--attempts", type=natural, metavar="N", help="wrong entries allowed, 1 to 10 (default: 3)"
    )
    send.set_defaults(handler=issuer.run_send_code)

    check = action(
        "check-code",
        "check an out-of-band code: exit 0 if accepted, 1 if not",
        "Check a code printed by send-code. Every refusal (wrong, used, expired, spent) prints "
        "'not accepted' and exits 1.",
    )
    check.add_argument("--user", required=True, help="the user")
    check.add_argument("--purpose", required=True, help="what the code is for")
    _code_file(check, "the code")
    check.set_defaults(handler=issuer.run_check_code)

    with_serial("show", "print what is known of a token (never its seed)").set_defaults(
        handler=issuer.run_show
    )

    listing = action(
        "list",
        "print a table of tokens",
        "Print a table of tokens: serial, state, pool, user, failures, drift and the block or "
        "release reason. Filters combine.",
    )
    listing.add_argument("--user", help="only this user's tokens")
    listing.add_argument("--state", choices=list(issuer.STATES), help="only tokens in this state")
    listing.add_argument("--pool", help="only this pool's tokens")
    listing.set_defaults(handler=issuer.run_list)

    with_serial(
        "audit",
        "print a token's audit trail and check its chain",
        "Print a token's audit events as a table (times in UTC), then check the chain of MACs: "
        "exit 1 if an event was edited, removed, reordered or inserted.",
    ).set_defaults(handler=issuer.run_audit)

    rotate = action(
        "rotate-keys",
        "re-seal every record under the key ring's newest key",
        "Re-seal every record not sealed under the key ring's last key, in batches, drawing "
        "progress on standard error. Run it again to resume. Keep the old keys in the ring: "
        "audit events made under them are never rewritten.",
    )
    rotate.add_argument(
        "--batch-size",
        type=natural,
        metavar="N",
        default=100,
        help="records a batch (default: 100)",
    )
    rotate.set_defaults(handler=issuer.run_rotate_keys)
