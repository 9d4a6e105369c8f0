"""The token ``code`` and ``verify`` use: from the key and token options, or from an otpauth URI,
and its description for ``--verbose``, which never includes the key."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import NamedTuple

from softtoken.cli._common import read_key, refuse, refuse_given
from softtoken.cli._input import Usage, read_text
from softtoken.hotp import HOTP, TOTP
from softtoken.provisioning import KeyURI

__all__ = ["Token", "describe", "token"]


class Token(NamedTuple):
    """The token to use, what may be said about its key, and an HOTP URI's counter."""

    otp: HOTP | TOTP
    key_length: int
    uri_counter: int | None


def token(args: argparse.Namespace, *, stdin_holds: str | None = None) -> Token:
    """Build the token from an otpauth URI or from the key and token options."""
    if args.uri_file is not None:
        names = ("kind", "digits", "algorithm", "period", "t0", "encoding", "key", "key_file")
        refuse_given(args, names, "cannot be given with --uri-file: the URI describes the token")
        if args.uri_file == "-" and stdin_holds is not None:
            raise Usage(f"the URI and {stdin_holds} cannot both come from standard input")
        text = read_text(args.uri_file, option="--uri-file").strip()
        uri = KeyURI.parse(text, allow_short_key=args.allow_short_key)
        refuse(args, uri.kind, what="an HOTP URI" if uri.kind == "hotp" else "a TOTP URI")
        return Token(uri.token(), len(uri.secret), uri.counter)
    kind = args.kind or "totp"
    refuse(args, kind)
    key = read_key(args, stdin_holds=stdin_holds)
    digits = 6 if args.digits is None else args.digits
    algorithm = args.algorithm or "sha1"
    otp: HOTP | TOTP
    if kind == "hotp":
        otp = HOTP(key, digits=digits, algorithm=algorithm, allow_short_key=args.allow_short_key)
    else:
        otp = TOTP(
            key,
            digits=digits,
            algorithm=algorithm,
            allow_short_key=args.allow_short_key,
            period=30 if args.period is None else args.period,
            t0=0 if args.t0 is None else args.t0,
        )
    return Token(otp, len(key), None)


def _when(seconds: int) -> str:
    """Unix seconds, with the UTC time as oathtool prints it."""
    try:
        text = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return str(seconds)
    return f"{seconds} ({text})"


def describe(token: Token, *, position: int, before: int, after: int, at: int | None) -> None:
    """Print the parameters used, for --verbose, to standard error. Never the key."""
    otp = token.otp
    lines = [
        f"key length: {token.key_length} bytes",
        f"kind: {'hotp' if isinstance(otp, HOTP) else 'totp'}",
        f"algorithm: {otp.algorithm}",
        f"digits: {otp.digits}",
    ]
    if isinstance(otp, TOTP) and at is not None:
        lines += [
            f"period: {otp.period} seconds",
            f"start time (t0): {_when(otp.t0)}",
            f"time: {_when(at)}",
            f"step: {position}",
        ]
    else:
        lines.append(f"counter: {position}")
    lines.append(f"window: {before} before, {after} after")
    print("\n".join(lines), file=sys.stderr)
