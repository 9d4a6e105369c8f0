"""What the command reads from outside: the clock, files, standard input and the terminal.

Every read is capped at :data:`MAX_INPUT` bytes (characters on standard input), so that
``--key-file /dev/zero`` is refused instead of filling memory. Nothing read here is ever
echoed: messages name a file only when it was given as a path, and not even then when the
name looks like a key, a PIN, a code or a URI typed in the wrong place.
"""

from __future__ import annotations

import getpass
import sys
import time
from typing import Final

__all__ = [
    "MAX_INPUT",
    "BadInput",
    "Usage",
    "now",
    "read_pin",
    "read_text",
    "shown_path",
    "stdin_is_terminal",
]

MAX_INPUT: Final = 64 * 1024
"""The most bytes read from any file or from standard input: far more than any key (a 64-byte
key is 103 base32 characters), PIN, code or otpauth URI (4 KiB at most) needs."""


class Usage(Exception):
    """The command was used wrongly: main prints the usage and the message, and exits 2.

    The message is softtoken's own and never holds a typed value.
    """


class BadInput(Exception):
    """An input cannot be used: main prints the message and exits 2.

    The message is softtoken's own; it may name a file given as a path (see :func:`shown_path`),
    and never holds what was read.
    """


def now() -> int:
    """Return the current Unix time in whole seconds: the command's only clock read."""
    return int(time.time())


def stdin_is_terminal() -> bool:
    """Whether standard input is interactive (or closed), so that nothing should be read from
    it without a prompt."""
    return sys.stdin is None or sys.stdin.isatty()


def shown_path(path: str) -> str:
    """*path* quoted for a message, or a note when the name looks like a secret.

    A key, a PIN, a code or an otpauth URI typed after ``--key-file`` by mistake is the name of
    no file; naming it in "no such file" would print it. So a name without a ``/`` or a ``.``
    that is all digits, or 16 or more letters and digits, is not shown, and neither is a name
    that holds ``otpauth`` or ``secret=``.
    """
    lowered = path.lower()
    compact = path.replace(" ", "").replace("-", "").rstrip("=")
    plain = "/" not in path and "." not in path and compact.isascii()
    if (
        "otpauth" in lowered
        or "secret=" in lowered
        or (plain and compact.isdigit())
        or (plain and len(compact) >= 16 and compact.isalnum())
    ):
        return "(name not shown: it looks like a key, a PIN or a code)"
    # repr escapes control characters, so that a name cannot drive the terminal.
    return repr(path)


def _too_large(where: str) -> BadInput:
    return BadInput(
        f"{where} holds more than {MAX_INPUT // 1024} KiB: too large to be a key, a "
        "PIN, a code or a URI"
    )


def read_text(path: str, *, option: str) -> str:
    """Read the text of *path*, or of standard input for ``-``, at most :data:`MAX_INPUT`.

    Raises:
        BadInput: the file is missing, unreadable, too large or not UTF-8; the message names
            *option* and the path (see :func:`shown_path`).
    """
    if path == "-":
        if sys.stdin is None:
            raise BadInput("standard input is closed")
        text = sys.stdin.read(MAX_INPUT + 1)
        if len(text) > MAX_INPUT:
            raise _too_large("standard input")
        return text
    data = read_capped(path, MAX_INPUT + 1)
    if isinstance(data, str):
        raise BadInput(f"{option}: {data}")
    if len(data) > MAX_INPUT:
        raise _too_large(f"{option}: the file")
    text = _utf8(data)
    if text is None:
        raise BadInput(f"{option}: the file is not UTF-8 text")
    return text


# The readers below catch an error and return a value instead of raising from inside the except
# block, so that the caller's error carries no __context__: a UnicodeDecodeError holds the
# file's bytes (a key, a PIN), and an OSError the name typed.


def read_capped(path: str, limit: int) -> bytes | str:
    """The first *limit* bytes of the file *path*, or why it cannot be read (naming the path
    as :func:`shown_path` does)."""
    shown = shown_path(path)
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except FileNotFoundError:
        return f"no such file: {shown}"
    except IsADirectoryError:
        return f"{shown} is a directory, not a file"
    except OSError as error:
        return f"cannot read {shown}: {error.strerror or 'input/output error'}"
    except ValueError:
        # open() refuses a name with a NUL character; the name is no file's, so it is not shown.
        return "not a file name"


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_secret(path: str | None, *, option: str, prompt: str) -> str:
    """A secret other than a PIN (an activation code, a password) from *path*, from standard
    input, or, when standard input is a terminal, at a hidden prompt: it is never echoed.

    Raises:
        BadInput: as :func:`read_text`.
    """
    if path not in (None, "-"):
        return read_text(path, option=option)
    if stdin_is_terminal():
        return getpass.getpass(prompt)
    return read_text("-", option="standard input")


def read_pin(pin_file: str | None, *, prompt: str, confirm: bool) -> str:
    """Read a PIN from *pin_file*, from standard input, or at a terminal with a hidden prompt.

    Only a line ending is removed: a PIN is exactly the characters typed. Its shape is for the
    caller to check, against the identity's policy.

    Raises:
        Usage: *confirm* is set and the two PINs typed at the terminal differ.
        BadInput: as :func:`read_text`.
    """
    if pin_file is not None:
        text = read_text(pin_file, option="--pin-file")
    elif stdin_is_terminal():
        text = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != text:
            raise Usage("the two PINs typed differ")
    else:
        text = read_text("-", option="standard input")
    return text.removesuffix("\n").removesuffix("\r")
