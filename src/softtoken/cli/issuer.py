"""``softtoken issuer``: the bank's administrators drive :class:`softtoken.issuer.Issuer`.

Every action opens the issuer database (``--db``, a SQLAlchemy URL: ``$SOFTTOKEN_ISSUER_DB``, else
``sqlite:///softtoken-issuer.db`` in the current folder) with the key ring from
``--keyring-file`` or ``$SOFTTOKEN_KEYRING``, and records ``--actor`` (``$SOFTTOKEN_ACTOR``, else
the login name) in the audit trail. Only ``issuer init`` creates the schema; every other action
refuses a database without it, and says to run ``init``.

- Codes, reset codes, registration codes and keys never come from the command line: they are
  read from ``--code-file`` (``--reset-code-file``), from standard input, or at a hidden prompt
  on a terminal. The only secrets printed are the ones an action exists to print: the key-ring
  entry of ``keygen``, the activation code of ``start-activation``, the unlock code of
  ``unlock-code`` and the out-of-band code of ``send-code``. No seed is ever printed.
- ``verify`` and ``check-code`` print "not accepted" and exit 1 for every refusal (SECURITY.md
  S8); the audit trail records the cause. ``audit`` exits 1 when the chain does not verify.
- Words the command prints (states, reasons, actions, outcomes) are spelt with hyphens, as the
  options take them; names the administrators chose (users, pools, actors, notes) are printed
  with any unprintable character escaped, so that none can drive the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
from collections.abc import Sequence
from typing import Final

from softtoken.app import write_private
from softtoken.cli import _issuer_session as _session
from softtoken.cli import activation
from softtoken.cli._args import EXIT_NOT_ACCEPTED, EXIT_OK
from softtoken.cli._input import BadInput, shown_path
from softtoken.cli._issuer_session import (
    ACTOR_VARIABLE,
    DB_VARIABLE,
    DEFAULT_DB,
    KEYRING_VARIABLE,
)
from softtoken.exceptions import (
    ActivationRefused,
    AuditChainBroken,
    InvalidCode,
    InvalidInput,
    UnknownKey,
)
from softtoken.issuer import (
    AuditEvent,
    BlockReason,
    Issuer,
    Keyring,
    ReleaseReason,
    TokenInfo,
    TokenState,
)
from softtoken.provisioning import TokenParams

__all__ = [
    "ACTOR_VARIABLE",
    "BLOCK_REASONS",
    "DB_VARIABLE",
    "DEFAULT_DB",
    "KEYRING_VARIABLE",
    "RELEASE_REASONS",
    "STATES",
    "run_assign",
    "run_assign_pool",
    "run_audit",
    "run_block",
    "run_check_code",
    "run_complete_activation",
    "run_create",
    "run_delete",
    "run_init",
    "run_keygen",
    "run_list",
    "run_release",
    "run_reset_drift",
    "run_resync",
    "run_rotate_keys",
    "run_send_code",
    "run_show",
    "run_start_activation",
    "run_unblock",
    "run_unlock_code",
    "run_verify",
]

BLOCK_REASONS: Final = {
    _session.word(reason.value): reason
    for reason in BlockReason
    if reason is not BlockReason.TOO_MANY_FAILURES
}
"""The reasons ``block --reason`` takes; the automatic one is the issuer's alone."""
RELEASE_REASONS: Final = {_session.word(reason.value): reason for reason in ReleaseReason}
STATES: Final = {_session.word(state.value): state for state in TokenState}

_NOT_ACCEPTED: Final = "not accepted"
_KEYGEN_NOTE: Final = (
    "softtoken: this entry is a secret key: add it as the last line of the key ring, where it "
    "seals new records; keep it out of the database, shell history and logs"
)
_ACTIVATION_NOTE: Final = (
    "softtoken: show the activation code to the user once; it is not stored and cannot be "
    "printed again"
)
_BAR_WIDTH: Final = 30


# --- what the command prints ----------------------------------------------------------------


def _iso(seconds: int) -> str:
    """Unix *seconds* as ISO 8601 in UTC, such as ``2027-01-15T08:00:00Z``."""
    try:
        moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, ValueError, OSError):
        return f"@{seconds}"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: str | None) -> str:
    """A name for display: "-" for none, unprintable characters escaped."""
    if value is None:
        return "-"
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print *rows* under *header*, in columns two spaces apart."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _reason(info: TokenInfo) -> str:
    reason = info.block_reason or info.release_reason
    return "-" if reason is None else _session.word(reason.value)


def _not_accepted(message: str = _NOT_ACCEPTED) -> int:
    print(message)
    return EXIT_NOT_ACCEPTED


# --- the actions ----------------------------------------------------------------------------


def run_init(args: argparse.Namespace) -> int:
    """``issuer init``: the schema, in a new private SQLite file if need be."""
    _session.require_sqlalchemy()
    url = _session.database_url(args)
    database = _session.sqlite_file(url)
    if database is not None:
        folder = os.path.dirname(os.path.abspath(database))
        if not os.path.isdir(folder):
            raise BadInput(f"--db: no such folder: {shown_path(folder)}")
        with contextlib.suppress(FileExistsError):
            # The store and its audit trail are readable by their owner only; SQLite gives its
            # journal files the database file's mode.
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    _session.open_store(url, create=True).close()
    print("the issuer database is ready")
    return EXIT_OK


def run_keygen(args: argparse.Namespace) -> int:
    """``issuer keygen``: a new key-ring entry, on standard output or in a new private file."""
    entry = Keyring.new_entry(args.id)
    if args.output is None:
        print(entry)
        print(_KEYGEN_NOTE, file=sys.stderr)
        return EXIT_OK
    problem = _write_problem(args.output, (entry + "\n").encode("ascii"))
    if problem is not None:
        raise BadInput(f"--output: {problem}")
    print(f"wrote the entry of key {args.id!r} (a secret key) to a new file of mode 0600")
    return EXIT_OK


def _write_problem(path: str, data: bytes) -> str | None:
    # Returning the problem, rather than raising inside the except block, leaves no OSError
    # (which holds the name typed) on the raised error's __context__.
    try:
        write_private(path, data, replace=False)
    except InvalidInput:
        return "the path is a symbolic link; it is refused, not followed"
    except FileExistsError:
        return "the file exists; a key file is never replaced (append the entry yourself)"
    except OSError as error:
        return f"cannot write the file: {error.strerror or 'input/output error'}"
    return None


def run_create(args: argparse.Namespace) -> int:
    """``issuer create``: new tokens; one serial a line."""
    with _session.open_issuer(args) as issuer:
        serials = issuer.create_tokens(args.count, pool=args.pool, actor=_session.actor(args))
    for made in serials:
        print(made.display)
    return EXIT_OK


def run_assign_pool(args: argparse.Namespace) -> int:
    """``issuer assign-pool``: stock to a company's pool."""
    with _session.open_issuer(args) as issuer:
        issuer.assign_pool(args.serial, args.pool, actor=_session.actor(args))
    print("assigned to the pool")
    return EXIT_OK


def run_assign(args: argparse.Namespace) -> int:
    """``issuer assign``: a token to a user; its activation is then pending."""
    with _session.open_issuer(args) as issuer:
        issuer.assign(args.serial, user=args.user, actor=_session.actor(args))
    print("assigned; next: 'softtoken issuer start-activation'")
    return EXIT_OK


def run_start_activation(args: argparse.Namespace) -> int:
    """``issuer start-activation``: the activation code, printed once."""
    params = TokenParams(
        algorithm=args.algorithm or "sha1",
        digits=6 if args.digits is None else args.digits,
        period=30 if args.period is None else args.period,
    )
    options = {} if args.ttl is None else {"ttl": args.ttl}
    with _session.open_issuer(args) as issuer:
        started = issuer.start_offline_activation(
            args.serial,
            actor=_session.actor(args),
            params=params,
            # The app's side (app activate) uses the same parameters, as it must.
            kdf=activation.ACTIVATION_KDF,
            **options,
        )
    print(f"serial: {started.serial.display}")
    print(f"activation code: {started.activation_code.display}")
    print(f"expires: {_iso(started.expires_at)}")
    print(_ACTIVATION_NOTE, file=sys.stderr)
    return EXIT_OK


def run_complete_activation(args: argparse.Namespace) -> int:
    """``issuer complete-activation``: the registration code; the first code confirms later."""
    with _session.open_issuer(args) as issuer:
        code = _session.registration_code(args)
        try:
            issuer.complete_offline_activation(args.serial, code)
        except ActivationRefused:
            return _not_accepted(
                "not accepted: the activation has expired, was used up, or was never started; "
                "the audit trail says which"
            )
    print(
        "registration code taken; the token's first code confirms the activation: "
        f"'softtoken issuer verify --serial {args.serial.display}'"
    )
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """``issuer verify``: accepted (exit 0) or not (exit 1), never why."""
    with _session.open_issuer(args) as issuer:
        code = _session.code(args.code_file, option="--code-file", prompt="Code: ")
        try:
            match = issuer.verify(code, user=args.user, serial=args.serial)
        except InvalidCode:
            return _not_accepted()
    print(f"accepted: step {match.counter} drift {match.offset:+d}")
    return EXIT_OK


def run_resync(args: argparse.Namespace) -> int:
    """``issuer resync``: two consecutive codes; the drift is learned."""
    with _session.open_issuer(args) as issuer:
        actor = _session.actor(args)
        first, second = _session.two_codes(args)
        try:
            match = issuer.resync(args.serial, first, second, actor=actor)
        except InvalidCode:
            return _not_accepted()
    print(f"resynchronised: step {match.counter} drift {match.offset:+d}")
    return EXIT_OK


def run_reset_drift(args: argparse.Namespace) -> int:
    """``issuer reset-drift``."""
    with _session.open_issuer(args) as issuer:
        issuer.reset_drift(args.serial, actor=_session.actor(args))
    print("drift reset to 0")
    return EXIT_OK


def run_block(args: argparse.Namespace) -> int:
    """``issuer block``: with one of the administrators' reasons."""
    with _session.open_issuer(args) as issuer:
        issuer.block(args.serial, BLOCK_REASONS[args.reason], actor=_session.actor(args))
    print("blocked")
    return EXIT_OK


def run_unblock(args: argparse.Namespace) -> int:
    """``issuer unblock``: with a note for the audit trail."""
    with _session.open_issuer(args) as issuer:
        issuer.unblock(args.serial, actor=_session.actor(args), note=args.note)
    print("unblocked")
    return EXIT_OK


def run_release(args: argparse.Namespace) -> int:
    """``issuer release``: the seed is destroyed (or the release waits for a code)."""
    with _session.open_issuer(args) as issuer:
        issuer.release(args.serial, RELEASE_REASONS[args.reason], actor=_session.actor(args))
        state = issuer.token(args.serial).state
    if state is TokenState.RELEASE_PENDING:
        print("the release waits for a code from the token")
    else:
        print(f"released; the token is {_session.word(state.value)}")
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    """``issuer delete``."""
    with _session.open_issuer(args) as issuer:
        issuer.delete(args.serial, actor=_session.actor(args))
    print("deleted")
    return EXIT_OK


def run_unlock_code(args: argparse.Namespace) -> int:
    """``issuer unlock-code``: the unlock code that answers a reset code."""
    with _session.open_issuer(args) as issuer:
        actor = _session.actor(args)
        reset_code = _session.reset_code(args)
        answer = issuer.unlock_code(args.serial, reset_code, actor=actor)
    print(answer)
    return EXIT_OK


def run_send_code(args: argparse.Namespace) -> int:
    """``issuer send-code``: the code, for the caller to send."""
    options: dict[str, int] = {}
    for name in ("ttl", "digits", "attempts"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    with _session.open_issuer(args) as issuer:
        code = issuer.send_code(user=args.user, purpose=args.purpose, **options)
    print(code)
    return EXIT_OK


def run_check_code(args: argparse.Namespace) -> int:
    """``issuer check-code``: accepted (exit 0) or not (exit 1), never why."""
    with _session.open_issuer(args) as issuer:
        code = _session.code(args.code_file, option="--code-file", prompt="Code: ")
        try:
            issuer.check_code(code, user=args.user, purpose=args.purpose)
        except InvalidCode:
            return _not_accepted()
    print("accepted")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """``issuer show``: one token, field by field, never its seed."""
    with _session.open_issuer(args) as issuer:
        info = issuer.token(args.serial)
    params = info.params
    if params is None:
        made = "-"
    elif params.kind == "totp":
        made = f"TOTP, {params.algorithm}, {params.digits} digits, {params.period} s"
    else:
        made = f"HOTP, {params.algorithm}, {params.digits} digits"
    fields = (
        ("serial", info.serial.display),
        ("state", _session.word(info.state.value)),
        ("reason", _reason(info)),
        ("pool", _cell(info.pool)),
        ("user", _cell(info.user)),
        ("codes", made),
        ("activation in progress", "yes" if info.activating else "no"),
        ("seeds issued", str(info.generation)),
        ("last accepted", "-" if info.last_counter < 0 else str(info.last_counter)),
        ("drift", f"{info.drift:+d}"),
        ("window", f"{info.window.past} back, {info.window.future} ahead"),
        ("failures", str(info.failures)),
        ("version", str(info.version)),
        ("updated", _iso(info.updated_at)),
    )
    for name, value in fields:
        print(f"{name}: {value}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """``issuer list``: a table of the tokens that match every filter."""
    state = None if args.state is None else STATES[args.state]
    with _session.open_issuer(args) as issuer:
        found = issuer.tokens(user=args.user, state=state, pool=args.pool)
    rows = [
        (
            info.serial.display,
            _session.word(info.state.value),
            _cell(info.pool),
            _cell(info.user),
            str(info.failures),
            f"{info.drift:+d}",
            _reason(info),
        )
        for info in found
    ]
    _table(("SERIAL", "STATE", "POOL", "USER", "FAILURES", "DRIFT", "REASON"), rows)
    return EXIT_OK


def _event_row(event: AuditEvent) -> tuple[str, ...]:
    before = "-" if event.before is None else _session.word(event.before)
    after = "-" if event.after is None else _session.word(event.after)
    return (
        str(event.seq),
        _iso(event.at),
        _cell(_session.word(event.action)),
        _cell(event.actor),
        _cell(None if event.reason is None else _session.word(event.reason)),
        _cell(f"{before} -> {after}"),
        _cell(_session.word(event.outcome)),
    )


def _events(issuer: Issuer, args: argparse.Namespace) -> list[AuditEvent] | None:
    """The token's events, or None when a stored event cannot even be read back."""
    try:
        return issuer.audit(args.serial)
    except (InvalidInput, TypeError):
        # A row edited into a shape no event has (a sequence number of 0, a short MAC).
        return None


def run_audit(args: argparse.Namespace) -> int:
    """``issuer audit``: the events as a table, then the chain check (exit 1 if broken)."""
    with _session.open_issuer(args) as issuer:
        issuer.token(args.serial)
        events = _events(issuer, args)
        if events is None:
            print(
                "softtoken: the audit trail does not verify: a stored event is malformed",
                file=sys.stderr,
            )
            return EXIT_NOT_ACCEPTED
        header = ("SEQ", "TIME (UTC)", "ACTION", "ACTOR", "REASON", "STATE", "OUTCOME")
        _table(header, [_event_row(event) for event in events])
        position: int | None = None
        unknown_key = False
        try:
            checked = issuer.verify_audit(args.serial)
        except AuditChainBroken as error:
            position = error.position
        except UnknownKey:
            unknown_key = True
    if unknown_key:
        raise BadInput(
            "an audit event was chained under a key the key ring no longer holds: put that key "
            "back in the ring (anywhere but last) to check the trail"
        )
    if position is not None:
        where = (
            f"from event {position}"
            if position <= len(events)
            else f"after event {len(events)}: events are missing at the end"
        )
        print(
            f"softtoken: the audit trail does not verify {where}: an event was edited, removed, "
            "reordered or inserted",
            file=sys.stderr,
        )
        return EXIT_NOT_ACCEPTED
    print(f"chain verified ({checked} events)")
    return EXIT_OK


def run_rotate_keys(args: argparse.Namespace) -> int:
    """``issuer rotate-keys``: every record re-sealed under the newest key, with a progress
    bar on standard error."""
    drawn = False

    def progress(done: int, total: int) -> None:
        nonlocal drawn
        filled = _BAR_WIDTH if total <= 0 else min(_BAR_WIDTH, _BAR_WIDTH * done // total)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        print(f"\r[{bar}] {done}/{total}", end="", file=sys.stderr, flush=True)
        drawn = True

    with _session.open_issuer(args) as issuer:
        actor = _session.actor(args)
        current = issuer.engine.keyring.current
        try:
            report = issuer.rotate_keys(actor=actor, batch_size=args.batch_size, progress=progress)
        finally:
            if drawn:
                print(file=sys.stderr)
    print(
        f"checked {report.checked} of {report.total} records; re-sealed {report.resealed} "
        f"under key {current!r}"
    )
    return EXIT_OK
