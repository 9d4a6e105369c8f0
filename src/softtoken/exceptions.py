"""The one exception tree of softtoken.

Every error the library raises on purpose derives from :class:`SoftTokenError`. Errors about bad
input also derive from :class:`ValueError`, so that callers who validate input generically keep
working. Messages are constant strings: no exception ever carries a key, a code, a PIN or a URI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from softtoken.pinlock import LockoutState, Outcome, PINRejection

__all__ = [
    "AttemptNotOpen",
    "CompatibilityWarning",
    "DuplicateIdentity",
    "IncompatibleURI",
    "InvalidCode",
    "InvalidEncoding",
    "InvalidInput",
    "InvalidKey",
    "InvalidPINRecord",
    "InvalidSuite",
    "InvalidTime",
    "InvalidURI",
    "InvalidUnlockRecord",
    "MalformedCode",
    "MistypedCode",
    "PINDelayed",
    "PINLocked",
    "PINNotAccepted",
    "PINRejected",
    "PINWiped",
    "SoftTokenError",
    "UnknownIdentity",
    "WalletCorrupt",
    "WrongIdentityState",
    "WrongPIN",
]


class SoftTokenError(Exception):
    """Base class of every error softtoken raises on purpose."""


class InvalidInput(SoftTokenError, ValueError):
    """A value given to softtoken is not acceptable.

    The message says which rule was broken, never what the value was.
    """


class InvalidKey(InvalidInput):
    """A key is too short, or otherwise unusable."""


class InvalidEncoding(InvalidInput):
    """Text is not valid base32 or hex."""


class InvalidTime(InvalidInput):
    """A time is naive, negative, before the TOTP epoch, or out of range."""


class InvalidURI(InvalidInput):
    """An otpauth:// URI is malformed or has an unacceptable parameter."""


class InvalidCode(SoftTokenError):
    """A one-time code was not accepted.

    This is deliberately opaque: a wrong code, a replayed code and a code outside the window all
    raise it with the same message, so that the error is no oracle. Audit trails, not exceptions,
    record the real cause.
    """

    MESSAGE = "the code was not accepted"

    def __init__(self) -> None:
        # Setting args directly, rather than through super().__init__, saves about 100 ns on the
        # failure path, which every wrong code takes.
        self.args = (self.MESSAGE,)


class MalformedCode(InvalidCode, InvalidInput):
    """The code is not made of the expected number of ASCII digits.

    It is an :class:`InvalidCode`, so that one ``except InvalidCode`` covers every rejection, and
    an :class:`InvalidInput`, so that an app may tell the user to check what they typed. The check
    depends only on the typed text, never on the secret, so it reveals nothing about the key.
    """

    MESSAGE = "the code must be the expected number of ASCII digits"


class InvalidSuite(InvalidInput):
    """An OCRA suite is malformed, not in its canonical spelling, or outside RFC 6287 §6."""


class InvalidPINRecord(InvalidInput):
    """Stored PIN data (a PIN verifier or a lockout state) is truncated, of an unknown version,
    out of range or inconsistent. The message never includes the data."""


class PINRejected(InvalidInput):
    """A new PIN does not meet the PIN policy.

    ``reasons`` is a frozenset of :class:`softtoken.pinlock.PINRejection`, every rule the PIN
    broke, for the app to explain. The message is constant and never contains the PIN.
    """

    MESSAGE = "the PIN does not meet the PIN policy"

    def __init__(self, reasons: frozenset[PINRejection]) -> None:
        super().__init__(self.MESSAGE)
        self.reasons = reasons


class PINNotAccepted(SoftTokenError):
    """A PIN entry was not accepted; the subclass says why.

    ``outcome`` is the :class:`softtoken.pinlock.Outcome` and ``state`` the
    :class:`softtoken.pinlock.LockoutState` to store before telling the user anything. The
    message is constant per subclass and never contains the PIN.
    """

    MESSAGE = "the PIN was not accepted"

    def __init__(self, outcome: Outcome, state: LockoutState) -> None:
        super().__init__(self.MESSAGE)
        self.outcome = outcome
        self.state = state


class WrongPIN(PINNotAccepted):
    """The PIN was wrong and was counted; tries remain."""

    MESSAGE = "the PIN is wrong"


class PINDelayed(PINNotAccepted):
    """The PIN came too soon after a wrong one; it was neither checked nor counted."""

    MESSAGE = "too soon after a wrong PIN; try again later"


class PINLocked(PINNotAccepted):
    """Too many wrong PINs: the PIN is locked until an unlock code is entered."""

    MESSAGE = "the PIN is locked; an unlock code is needed"


class PINWiped(PINNotAccepted):
    """The PIN's identity has been wiped; nothing can be entered any more."""

    MESSAGE = "the identity was wiped"


class IncompatibleURI(InvalidURI):
    """A Key URI uses a parameter that the target authenticator app ignores or refuses.

    The message is constant. :attr:`problems` lists what is wrong, one sentence each, naming the
    app and the parameter (such as ``algorithm=SHA256``), never the secret or the account.
    """

    MESSAGE = "the URI uses a parameter that the target app does not honour"

    def __init__(self, problems: tuple[str, ...] = ()) -> None:
        super().__init__(self.MESSAGE)
        self.problems = tuple(problems)

    def __reduce__(self) -> tuple[type[IncompatibleURI], tuple[tuple[str, ...]]]:
        # Pickling rebuilds the exception from its problems, not from the constant message.
        return type(self), (self.problems,)


class CompatibilityWarning(UserWarning):
    """A Key URI uses a parameter that the target authenticator app ignores or refuses.

    A warning, not an error: :func:`softtoken.provisioning.check_compatibility` raises
    :class:`IncompatibleURI` instead when called with ``strict=True``. The message names the app
    and the parameter, never the secret or the account.
    """


class MistypedCode(InvalidInput):
    """A typed code has the right shape, but its check digit does not hold: it was mistyped.

    Raised for a PIN reset code given to the issuer (``softtoken.unlock``). A check digit is a
    public function of the other digits, so saying so reveals no secret, and the operator can ask
    the user to read the code again. The message is constant and never contains the code.
    """

    MESSAGE = "the code's check digit does not match; it was probably mistyped"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class InvalidUnlockRecord(InvalidInput):
    """A stored pending unlock (``softtoken.unlock.PendingUnlock``) is truncated, of an unknown
    format, out of range or inconsistent. The message never includes the data."""


class WalletCorrupt(InvalidInput):
    """An app wallet blob (``softtoken.app``) is not a wallet, of an unknown format, truncated,
    tampered with, or sealed under another device key. No partial data is ever returned, and the
    message never includes the data."""


class UnknownIdentity(InvalidInput):
    """No identity in the app wallet has this serial. The message never includes the serial."""


class DuplicateIdentity(InvalidInput):
    """The app wallet already holds an identity with this serial."""


class WrongIdentityState(InvalidInput):
    """The operation does not apply to the identity in its current state, such as an unlock
    code for an identity that is not locked, or any use of a wiped identity."""


class AttemptNotOpen(InvalidInput):
    """A PIN or unlock code was to be evaluated, but no attempt of that kind is open.

    The safe paths (``softtoken.pinlock.enter_pin``, ``softtoken.app.Wallet.show_code`` and
    ``Wallet.unlock``) evaluate a secret only inside an attempt that ``begin_attempt`` opened and
    the caller stored first, so that a process killed mid-check loses no failure. Nothing was
    evaluated or counted. The message is constant.
    """
