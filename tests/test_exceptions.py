"""Tests for softtoken.exceptions: one tree, importable from anywhere, and every error pickles."""

from __future__ import annotations

import ast
import inspect
import multiprocessing
import pickle
from pathlib import Path
from typing import Any

import pytest

from softtoken import HOTP, exceptions
from softtoken.exceptions import (
    AuditChainBroken,
    IncompatibleURI,
    InvalidCode,
    InvalidInput,
    KeyTooShort,
    MalformedCode,
    NotAccepted,
    PINDelayed,
    PINLocked,
    PINRejected,
    PINWiped,
    SoftTokenError,
    StoreError,
    TokenStateError,
    UnlockCodeRejected,
    WrongPIN,
    WrongState,
)
from softtoken.pinlock import PINRejection

SRC = Path(__file__).parent.parent / "src" / "softtoken"


def _all_errors() -> list[type[SoftTokenError]]:
    return [
        cls
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, SoftTokenError)
    ]


# Constructor arguments for the classes whose __init__ takes some; every other class is built
# with no arguments and with a message.
_ARGUMENTS: dict[type[SoftTokenError], tuple[tuple[Any, ...], dict[str, Any]]] = {
    KeyTooShort: ((16,), {"legacy_opt_in": True}),
    PINRejected: ((frozenset({PINRejection.SEQUENTIAL, PINRejection.WRONG_LENGTH}),), {}),
    IncompatibleURI: ((("Google Authenticator ignores algorithm=SHA256",),), {}),
    WrongPIN: ((3,), {}),
    PINDelayed: ((2,), {"retry_after": 30}),
    PINLocked: ((), {"just_now": True}),
    PINWiped: ((), {"just_now": True}),
    UnlockCodeRejected: ((1,), {"new_reset_code": True}),
    NotAccepted: ((4,), {}),
    AuditChainBroken: ((7,), {}),
    TokenStateError: (("unblock", "active"), {}),
}


def _instance(cls: type[SoftTokenError]) -> SoftTokenError:
    args, kwargs = _ARGUMENTS.get(cls, ((), {}))
    return cls(*args, **kwargs)


# The classes a module may raise with a message of its own (the others build theirs).
_MESSAGE_TAKERS = [
    cls for cls in _all_errors() if cls not in _ARGUMENTS and not issubclass(cls, InvalidCode)
]


def _wrong_code(_: int) -> str:
    """Runs in a pool worker: a wrong code raises InvalidCode, which must reach the parent."""
    return HOTP(b"k" * 20).verify("000000", counter=0).counter.to_bytes(8, "big").hex()


class TestTree:
    """Errors hang under five bases, and the module depends on nothing in softtoken."""

    def test_every_error_has_a_base(self) -> None:
        """Every error is bad input, a refused code, a refused PIN or unlock code, a state, or a
        failed store."""
        bases = (InvalidInput, InvalidCode, NotAccepted, WrongState, StoreError)
        orphans = [
            cls.__name__
            for cls in _all_errors()
            if cls is not SoftTokenError and cls not in bases and not issubclass(cls, bases)
        ]
        assert [] == orphans

    def test_exceptions_imports_nothing_from_softtoken(self) -> None:
        """exceptions.py has no softtoken import, not even under TYPE_CHECKING."""
        tree = ast.parse((SRC / "exceptions.py").read_text("utf-8"))
        imported = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        ]
        assert [] == [name for name in imported if name and name.startswith("softtoken")]

    def test_malformed_code_is_both(self) -> None:
        """A malformed code is caught by `except InvalidCode` and by `except ValueError`."""
        assert issubclass(MalformedCode, InvalidCode)
        assert issubclass(MalformedCode, ValueError)


class TestPickling:
    """Every error survives pickle, so that a multiprocessing pool reports it (issue 6, #4)."""

    @pytest.mark.parametrize("cls", _all_errors(), ids=lambda cls: cls.__name__)
    def test_round_trip_keeps_type_message_and_attributes(self, cls: type[SoftTokenError]) -> None:
        """pickle.loads(pickle.dumps(e)) has e's type, args and attributes."""
        error = _instance(cls)
        copy = pickle.loads(pickle.dumps(error))
        assert type(error) is type(copy)
        assert error.args == copy.args
        assert vars(error) == vars(copy)
        assert str(error) == str(copy)

    @pytest.mark.parametrize("cls", _MESSAGE_TAKERS, ids=lambda cls: cls.__name__)
    def test_round_trip_with_a_message(self, cls: type[SoftTokenError]) -> None:
        """An error built with a module's own constant message keeps it through pickle."""
        error = cls("a rule was broken")
        assert "a rule was broken" == str(pickle.loads(pickle.dumps(error)))

    def test_a_pool_reports_a_wrong_code(self) -> None:
        """A wrong code in a pool worker reaches the parent as InvalidCode, without hanging."""
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pending = pool.map_async(_wrong_code, [0])
            with pytest.raises(InvalidCode):
                pending.get(timeout=60)
