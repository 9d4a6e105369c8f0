"""Opening the issuer for ``softtoken issuer``, and reading the secrets its actions take.

The database (``--db``, ``$SOFTTOKEN_ISSUER_DB``, else a SQLite file in the current folder), the
key ring (``--keyring-file`` or ``$SOFTTOKEN_KEYRING``) and the actor (``--actor``,
``$SOFTTOKEN_ACTOR``, else the login name) are resolved here, once for every action of
:mod:`softtoken.cli.issuer`. Codes are read from a file, standard input or a hidden prompt, never
from the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import stat
import sys
from collections.abc import Iterator
from typing import Final

from softtoken.cli import _input
from softtoken.cli._input import BadInput, read_secret, read_text, shown_path
from softtoken.cli._messages import MISTYPED_RESET_CODE
from softtoken.exceptions import (
    InvalidInput,
    MalformedCode,
    MistypedCode,
    SchemaMismatch,
    StoreError,
    TokenStateError,
)
from softtoken.issuer import Issuer, Keyring
from softtoken.issuer.keyring import ENVIRONMENT_VARIABLE
from softtoken.issuer.stores.base import Store
from softtoken.provisioning import RegistrationCode
from softtoken.unlock import parse_reset_code

__all__ = [
    "ACTOR_VARIABLE",
    "DB_VARIABLE",
    "DEFAULT_DB",
    "KEYRING_VARIABLE",
    "NO_SCHEMA",
    "actor",
    "code",
    "database_url",
    "open_issuer",
    "open_store",
    "registration_code",
    "require_sqlalchemy",
    "reset_code",
    "sqlite_file",
    "two_codes",
    "word",
]

DB_VARIABLE: Final = "SOFTTOKEN_ISSUER_DB"
KEYRING_VARIABLE: Final = ENVIRONMENT_VARIABLE
ACTOR_VARIABLE: Final = "SOFTTOKEN_ACTOR"
DEFAULT_DB: Final = "sqlite:///softtoken-issuer.db"

NO_SCHEMA: Final = (
    "the database has no issuer schema this softtoken can use: run 'softtoken issuer init' to "
    "create it (a schema made by a newer softtoken is refused)"
)


def word(value: str) -> str:
    """A library value (``device_lost_or_stolen``) as the command spells it."""
    return value.replace("_", "-")


# --- opening the issuer ---------------------------------------------------------------------


def database_url(args: argparse.Namespace) -> str:
    # An empty variable counts as unset, so that a blank value is never a URL.
    return args.db or os.environ.get(DB_VARIABLE) or DEFAULT_DB


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL, or None (another database, an in-memory one, a bad URL)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    parsed = None
    with contextlib.suppress(ArgumentError, ValueError):
        parsed = make_url(url)
    if parsed is None or parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("uri") == "true":
        return None
    return database


def require_sqlalchemy() -> None:
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        missing = True
    else:
        missing = False
    if missing:
        raise BadInput("the issuer commands need SQLAlchemy: install softtoken[issuer]")


def open_store(url: str, *, create: bool) -> Store:
    """The SQL store at *url*; a missing schema is reported with the cure."""
    from softtoken.issuer.stores.sql import SQLStore

    problem: str | None = None
    try:
        return SQLStore(url, create=create)
    except SchemaMismatch:
        problem = NO_SCHEMA
    except StoreError as error:
        if create:
            raise
        # Some databases fail before the schema can be asked for; the cure may be the same.
        problem = (
            f"cannot open the issuer database ({error}); if it was never set up, run "
            "'softtoken issuer init'"
        )
    raise BadInput(problem)


def _keyring(args: argparse.Namespace) -> Keyring:
    """The key ring of --keyring-file, or of $SOFTTOKEN_KEYRING."""
    path: str | None = args.keyring_file
    if path is None:
        if not os.environ.get(KEYRING_VARIABLE, "").strip():
            raise BadInput(
                f"no key ring: set {KEYRING_VARIABLE} or give --keyring-file PATH (see "
                "'softtoken issuer keygen')"
            )
        return Keyring.from_env(KEYRING_VARIABLE)
    problem = _unreadable(path)
    if problem is not None:
        raise BadInput(f"--keyring-file: {problem}")
    with contextlib.suppress(OSError):
        if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(
                "softtoken: warning: other users may read the key ring file; make it private "
                "(chmod 600)",
                file=sys.stderr,
            )
    return Keyring.from_file(path)


def _unreadable(path: str) -> str | None:
    """Why the file *path* cannot be read, or None (naming it only as shown_path does)."""
    shown = shown_path(path)
    if not os.path.lexists(path):
        return f"no such file: {shown}"
    if os.path.isdir(path):
        return f"{shown} is a directory, not a file"
    if not os.access(path, os.R_OK):
        return f"cannot read {shown}: permission denied"
    return None


def actor(args: argparse.Namespace) -> str:
    """--actor, $SOFTTOKEN_ACTOR, or the login name."""
    chosen: str | None = args.actor or os.environ.get(ACTOR_VARIABLE)
    if chosen:
        return chosen
    name: str | None = None
    with contextlib.suppress(KeyError, OSError):
        name = getpass.getuser()
    if not name:
        raise BadInput(f"no actor for the audit trail: give --actor NAME or set {ACTOR_VARIABLE}")
    return name


def _clock() -> int:
    # Looked up at each call, so that the command's one clock read stays in _input.
    return _input.now()


@contextlib.contextmanager
def open_issuer(args: argparse.Namespace) -> Iterator[Issuer]:
    """The issuer over --db, with the key ring; the database is closed afterwards."""
    require_sqlalchemy()
    keyring = _keyring(args)
    url = database_url(args)
    database = sqlite_file(url)
    if database is not None and not os.path.exists(database):
        raise BadInput(
            f"--db: no such database file: {shown_path(database)}; 'softtoken issuer init' "
            "creates it"
        )
    store = open_store(url, create=False)
    problem: str | None = None
    try:
        yield Issuer(store, keyring, clock=_clock)
    except TokenStateError as error:
        # The library names its method and state; the administrator typed an action.
        problem = (
            f"{args.issuer_command} does not apply to a token that is {word(error.state)} "
            "(see 'softtoken issuer show SERIAL')"
        )
    finally:
        store.close()
    if problem is not None:
        raise BadInput(problem)


# --- reading secrets --------------------------------------------------------------------------


def code(path: str | None, *, option: str, prompt: str) -> str:
    """One code, from *path*, standard input or a hidden prompt; surrounding spaces dropped."""
    return read_secret(path, option=option, prompt=prompt).strip()


def registration_code(args: argparse.Namespace) -> RegistrationCode:
    text = code(args.code_file, option="--code-file", prompt="Registration code: ")
    problem = None
    try:
        return RegistrationCode.parse(text)
    except MistypedCode:
        problem = "the registration code's check digit does not match; read it again"
    except InvalidInput:
        problem = "a registration code has 10 digits, written NNNNN-NNNNN or plain"
    raise BadInput(problem)


def reset_code(args: argparse.Namespace) -> str:
    text = code(args.reset_code_file, option="--reset-code-file", prompt="Reset code: ")
    problem = None
    try:
        return parse_reset_code(text)
    except MistypedCode:
        problem = MISTYPED_RESET_CODE
    except MalformedCode:
        problem = "a reset code has 9 digits (spaces or dashes between groups are fine)"
    raise BadInput(problem)


def two_codes(args: argparse.Namespace) -> tuple[str, str]:
    """The two consecutive codes of a resync: two lines of a file or of standard input, or two
    hidden prompts on a terminal."""
    path: str | None = args.code_file
    if path in (None, "-") and _input.stdin_is_terminal():
        return getpass.getpass("First code: ").strip(), getpass.getpass("Next code: ").strip()
    option = "standard input" if path in (None, "-") else "--code-file"
    lines = [line.strip() for line in read_text(path or "-", option=option).splitlines()]
    codes = [line for line in lines if line]
    if len(codes) != 2:
        raise BadInput("a resync takes two consecutive codes, one a line")
    return codes[0], codes[1]
