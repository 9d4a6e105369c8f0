"""The command's parser and argument types: no abbreviations, and no error that repeats input.

argparse quotes what was typed in several of its messages ("ambiguous option", "unrecognized
arguments", "invalid choice", "invalid value", "ignored explicit argument"). What was typed may be
a key, a code or a PIN given in the wrong place, so :class:`Parser` keeps only the messages it
knows, rewritten without the quoted part, and replaces any other with a generic one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any, Final, NoReturn

from softtoken._time import to_unix
from softtoken.cli import _input
from softtoken.exceptions import InvalidInput, InvalidTime, MistypedCode
from softtoken.provisioning.identifiers import Serial

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ACCEPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_LISTING",
    "Parser",
    "count",
    "natural",
    "parse_period",
    "parse_time",
    "scrub",
]

# Exit statuses, as for oathtool and grep: 0 accepted, 1 not accepted, 2 trouble.
EXIT_OK: Final = 0
EXIT_NOT_ACCEPTED: Final = 1
EXIT_USAGE: Final = 2
# 128 + SIGINT, as shells report an interrupted command.
EXIT_INTERRUPTED: Final = 130

# Listing codes is harmless, but a typo such as --window 1000000000 should not hang the terminal.
MAX_LISTING: Final = 1000
# 2**64 - 1, the largest counter (RFC 4226 §5.2), has 20 digits; longer numbers are typos, and
# Python refuses to convert very long ones with a message of its own.
_MAX_NUMBER_DIGITS: Final = 20

# The messages of the argument types below. Only these pass through Parser.error unchanged.
_TIME_MESSAGE: Final = (
    "expected Unix seconds, @SECONDS, now, 'YYYY-MM-DD HH:MM:SS UTC' or an ISO 8601 time with "
    "a zone, such as 2009-02-13T23:31:30Z"
)
_PERIOD_MESSAGE: Final = "expected whole seconds, at least 1, such as 30, 30s or 1m"
_NATURAL_MESSAGE: Final = "expected a whole number, 0 or more"
_COUNT_MESSAGE: Final = f"expected a whole number from 0 to {MAX_LISTING}"
_SERIAL_MESSAGE: Final = "expected a serial: 10 digits, written NNNNN-NNNNN or plain"
_MISTYPED_SERIAL_MESSAGE: Final = "the serial's check digit does not match; read it again"
_TYPE_MESSAGES: Final = frozenset(
    {
        _TIME_MESSAGE,
        _PERIOD_MESSAGE,
        _NATURAL_MESSAGE,
        _COUNT_MESSAGE,
        _SERIAL_MESSAGE,
        _MISTYPED_SERIAL_MESSAGE,
    }
)

_UNRECOGNIZED: Final = "unrecognized arguments (not shown, in case one of them is a secret)"
_AMBIGUOUS: Final = (
    "an option is abbreviated or misspelt (not shown, in case it holds a secret); "
    "give every option in full"
)
_GENERIC: Final = "invalid usage (details not shown, in case they hold a secret)"

_ARGUMENT: Final = re.compile(r"argument (\S+): (.*)", re.DOTALL)
_REQUIRED: Final = re.compile(
    r"(the following arguments are required: [\w/ ,-]+|one of the arguments [\w/ -]+ is required)"
)
_SAFE_DETAILS: Final = re.compile(
    r"expected (one|at most one|at least one|[0-9]+) arguments?|not allowed with argument [\w/-]+"
)
_CHOICES: Final = re.compile(r" \(choose from '[\w-]+'(, '[\w-]+')*\)")


def scrub(message: str) -> str:
    """Return argparse's *message* without anything the user typed.

    Known messages keep their shape and lose their quoted value; an unknown message, which
    might quote one, becomes a generic one.
    """
    if message.startswith("unrecognized arguments"):
        return _UNRECOGNIZED
    if message.startswith("ambiguous option"):
        return _AMBIGUOUS
    if _REQUIRED.fullmatch(message):
        return message
    match = _ARGUMENT.fullmatch(message)
    if match is None:
        return _GENERIC
    name, detail = match.groups()
    return f"argument {name}: {_scrub_detail(detail)}"


def _scrub_detail(detail: str) -> str:
    if detail.startswith("invalid choice"):
        # The choices come last and are softtoken's own; the value before them may contain
        # anything, including a fake "(choose from", so only the last one is kept.
        tail = detail[detail.rfind(" (choose from ") :] if " (choose from " in detail else ""
        return "invalid choice" + (tail if _CHOICES.fullmatch(tail) else "")
    if detail.startswith("ignored explicit argument"):
        return "takes no value"
    if detail in _TYPE_MESSAGES or _SAFE_DETAILS.fullmatch(detail):
        return detail
    return "invalid value"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that takes no abbreviated options and never repeats what was typed.

    Abbreviations are off for every parser: ``--h=VALUE`` would otherwise be an "ambiguous
    option" quoted back, and an abbreviation that matches a new option later would silently
    change meaning. Subparsers made by ``add_parser`` are of this class too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print the usage and argparse's *message*, scrubbed of typed values; exit 2."""
        super().error(scrub(message))

    def usage_error(self, message: str) -> NoReturn:
        """Print the usage and softtoken's own *message*, which never holds a typed value."""
        super().error(message)


# --- argument types -------------------------------------------------------------------------

_GNU_DATE: Final = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2}) UTC")
_PERIOD: Final = re.compile(r"([0-9]{1,12})([smh]?)")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_time(text: str) -> int:
    """Whole Unix seconds from the forms oathtool, GNU date and ISO 8601 use.

    ``1234567890`` and ``@1234567890`` are Unix seconds; ``now`` reads the command's clock;
    ``2009-02-13 23:31:30 UTC`` is what oathtool and ``date -u`` print; anything else must be
    ISO 8601 with a zone, such as ``2009-02-13T23:31:30Z``.
    """
    if text == "now":
        return _input.now()
    digits = text.removeprefix("@")
    if digits.isascii() and digits.isdigit() and len(digits) <= _MAX_NUMBER_DIGITS:
        return int(digits)
    gnu = _GNU_DATE.fullmatch(text)
    iso = f"{gnu.group(1)}T{gnu.group(2)}+00:00" if gnu else text
    try:
        return to_unix(dt.datetime.fromisoformat(iso))
    except (ValueError, TypeError, InvalidTime):
        raise argparse.ArgumentTypeError(_TIME_MESSAGE) from None


def parse_period(text: str) -> int:
    """A TOTP period in seconds: ``30``, ``30s``, ``1m`` or ``1h``, as oathtool takes it."""
    match = _PERIOD.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(_PERIOD_MESSAGE)
    return int(match.group(1)) * _UNITS[match.group(2)]


def serial(text: str) -> Serial:
    """A token serial (its check digit checked here, so that a typo is named as the serial's)."""
    message = None
    try:
        return Serial.parse(text)
    except MistypedCode:
        message = _MISTYPED_SERIAL_MESSAGE
    except InvalidInput:
        message = _SERIAL_MESSAGE
    raise argparse.ArgumentTypeError(message)


def natural(text: str) -> int:
    """A whole number, 0 or more (the library checks the upper bounds)."""
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_NUMBER_DIGITS):
        raise argparse.ArgumentTypeError(_NATURAL_MESSAGE)
    return int(text)


def count(text: str) -> int:
    """A whole number from 0 to :data:`MAX_LISTING`."""
    if not (text.isascii() and text.isdigit() and len(text) <= 4) or int(text) > MAX_LISTING:
        raise argparse.ArgumentTypeError(_COUNT_MESSAGE)
    return int(text)
