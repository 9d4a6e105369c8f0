"""``softtoken uri`` and ``softtoken qr``: otpauth Key URIs for authenticator apps, and their QRs.

Both output the key on purpose, in the URI or drawn in the QR; ``uri --masked`` hides it. A new
key (``--generate``) is never only drawn or masked: ``--key-out`` must keep it. Every file they
write (``qr --output``, ``--key-out``) goes through :func:`softtoken.app.write_private`: a new
private file (mode 0600) in the same folder, renamed into place, never through a symbolic link.
"""

from __future__ import annotations

import argparse
import sys

from softtoken._encoding import b32encode
from softtoken.app import write_private
from softtoken.cli._args import EXIT_OK, Parser, natural
from softtoken.cli._common import (
    KEY_ARGUMENT_HELP,
    add_key_options,
    add_token_options,
    read_key,
    refuse,
    refuse_given,
)
from softtoken.cli._input import BadInput, Usage, read_text, stdin_is_terminal
from softtoken.exceptions import InvalidInput
from softtoken.hotp import Algorithm, generate_key
from softtoken.provisioning import KeyURI
from softtoken.render import qr_png, qr_svg, qr_text

__all__ = ["add_parsers"]


def add_parsers(commands: argparse._SubParsersAction[Parser]) -> None:
    """Add ``uri`` and ``qr`` to *commands*."""
    uri = commands.add_parser(
        "uri",
        help="build an otpauth:// URI",
        description="Build an otpauth:// Key URI for authenticator apps. It contains the key: "
        "use --masked to print it with the secret hidden.",
    )
    uri.add_argument("key", nargs="?", metavar="KEY", help=KEY_ARGUMENT_HELP)
    add_key_options(uri)
    add_token_options(uri)
    _add_uri_options(uri)
    uri.add_argument(
        "--masked", action="store_true", help="print the URI with the secret replaced by ****"
    )
    uri.set_defaults(handler=_run_uri, subparser=uri)

    qr = commands.add_parser(
        "qr",
        help="draw an otpauth:// URI as a QR code",
        description="Draw a QR code for a URI read from --uri-file or standard input, or for one "
        "built from --account and the key options.",
    )
    add_key_options(qr)
    add_token_options(qr)
    _add_uri_options(qr)
    drawing = qr.add_argument_group("drawing")
    drawing.add_argument("--uri-file", metavar="PATH", help="read the URI from PATH ('-': stdin)")
    drawing.add_argument(
        "--format",
        choices=("terminal", "png", "svg"),
        default="terminal",
        help="terminal text, PNG or SVG (default: terminal)",
    )
    drawing.add_argument(
        "--background",
        choices=("dark", "light"),
        help="the terminal's background, which the light modules are drawn against "
        "(--format terminal only; default: dark)",
    )
    drawing.add_argument(
        "--output",
        metavar="PATH",
        help="write to PATH, replaced by a new private file (required for png)",
    )
    drawing.add_argument(
        "--scale", type=natural, default=5, metavar="N", help="pixels per module (png, svg)"
    )
    qr.set_defaults(handler=_run_qr, subparser=qr)


def _add_uri_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("otpauth URI")
    group.add_argument("--account", help="the account name shown in the app, such as an email")
    group.add_argument("--issuer", help="the service name shown in the app")
    group.add_argument("--image", metavar="URL", help="an image URL for apps that show one")
    group.add_argument("-c", "--counter", type=natural, help="HOTP initial counter (default: 0)")
    group.add_argument(
        "--generate",
        action="store_true",
        help="make a new random key (sized for --algorithm) instead of reading one",
    )
    group.add_argument(
        "--key-out",
        metavar="PATH",
        help="with --generate: write the new key (base32) to PATH, created private; an "
        "existing file is never replaced",
    )


def _write(path: str, data: bytes, *, option: str, replace: bool = True) -> None:
    """Write *data* to *path* privately (see the module docstring); the path is not named.

    With ``replace=False`` an existing file is refused, in the same step as the write.
    """
    problem = _write_problem(path, data, replace=replace)
    if problem is not None:
        raise BadInput(f"{option}: {problem}")


def _write_problem(path: str, data: bytes, *, replace: bool) -> str | None:
    # Returning the problem, rather than raising inside the except block, leaves no OSError
    # (which holds the name typed) on the raised error's __context__.
    try:
        write_private(path, data, replace=replace)
    except InvalidInput:
        return "the path is a symbolic link; it is refused, not followed"
    except FileExistsError:
        return "the file exists; a key file is never replaced"
    except OSError as error:
        return f"cannot write the file: {error.strerror or 'input/output error'}"
    return None


def _built_uri(args: argparse.Namespace) -> KeyURI:
    """Build the otpauth Key URI the options describe, checked as the token would be."""
    if args.account is None:
        raise Usage("--account is required to build a URI")
    kind = args.kind or "totp"
    refuse(args, kind)
    # Any option left out is None; the Key URI format's defaults apply.
    algorithm: Algorithm = "sha1" if args.algorithm is None else args.algorithm
    if args.generate:
        refuse_given(args, ("key", "key_file"), "cannot be used with --generate")
        key = generate_key(algorithm)
    else:
        refuse_given(args, ("key_out",), "needs --generate")
        key = read_key(args)
    uri = KeyURI(
        kind,
        key,
        args.account,
        issuer=args.issuer,
        algorithm=algorithm,
        digits=6 if args.digits is None else args.digits,
        period=30 if args.period is None else args.period,
        # The Key URI format requires a counter for HOTP; a new token starts at 0.
        counter=(args.counter or 0) if kind == "hotp" else None,
        image=args.image,
        allow_short_key=args.allow_short_key,
    )
    # Making the token applies the token classes' rules too, so that no URI provisions a key
    # that softtoken itself would refuse.
    uri.token()
    if args.key_out is not None:
        # The key is kept before anything shows it: a failure here loses nothing. Linking the
        # new file into place refuses an existing one in the same step, with no window between.
        _write(
            args.key_out,
            (b32encode(key) + "\n").encode("ascii"),
            option="--key-out",
            replace=False,
        )
    return uri


def _run_uri(args: argparse.Namespace) -> int:
    if args.masked and args.generate and args.key_out is None:
        raise Usage("--masked with --generate would throw the new key away; add --key-out PATH")
    uri = _built_uri(args)
    print(uri.masked() if args.masked else uri.to_uri())
    return EXIT_OK


def _run_qr(args: argparse.Namespace) -> int:
    building = args.account is not None or args.generate
    if building and args.uri_file is not None:
        raise Usage("give either --uri-file or the options to build a URI, not both")
    if args.generate and args.key_out is None:
        raise Usage("--generate would lose the new key once the QR is drawn; add --key-out PATH")
    if args.format == "png" and args.output is None:
        raise Usage("--format png needs --output PATH")
    if args.background is not None and args.format != "terminal":
        raise Usage("--background applies to --format terminal only")
    if args.scale < 1:
        raise Usage("--scale must be at least 1")
    if building:
        uri = _built_uri(args)
    else:
        if args.key_file is not None:
            raise Usage("--account is required to build a URI from --key-file")
        refuse_given(args, ("key_out",), "needs --generate")
        if args.uri_file is None and stdin_is_terminal():
            raise Usage("no URI given: use --uri-file PATH, pipe one in, or give --account")
        text = read_text(args.uri_file or "-", option="--uri-file")
        # Parsing first means only a well-formed otpauth URI is ever drawn.
        uri = KeyURI.parse(text.strip(), allow_short_key=args.allow_short_key)
    if args.format == "png":
        _write(args.output, qr_png(uri, scale=args.scale), option="--output")
        return EXIT_OK
    if args.format == "svg":
        drawn = qr_svg(uri, scale=args.scale)
    else:
        drawn = qr_text(uri, dark_background=args.background != "light")
    if not drawn.endswith("\n"):
        drawn += "\n"
    if args.output is None:
        sys.stdout.write(drawn)
    else:
        _write(args.output, drawn.encode("utf-8"), option="--output")
    return EXIT_OK
