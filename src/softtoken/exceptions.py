"""The one exception tree of softtoken.

Every error the library raises on purpose derives from :class:`SoftTokenError`, under five
bases:

- :class:`InvalidInput` (also :class:`ValueError`): a value given to softtoken, or read back from
  storage, is not acceptable. Nothing was evaluated or changed.
- :class:`InvalidCode`: a one-time code was not accepted. Deliberately opaque (no oracle).
- :class:`NotAccepted`: a PIN or an unlock code was tried, inside a counted attempt, and
  refused. The subclass says what the refusal did (a try counted, a lock, a wipe), and its
  attributes say how many tries remain; that is what the user must be told.
- :class:`WrongState`: the operation does not apply to the object in its current state.
- :class:`StoreError`: the issuer's store failed, and nothing was changed.

Messages are constant strings and attributes are plain numbers, words or flags: no exception
ever carries a key, a code, a PIN, a URI or a state to store. A caller never needs to read an
exception's message to know what happened; the class and its attributes say it.

Every exception here survives :mod:`pickle` (so that a ``multiprocessing`` pool reports it
instead of hanging), and this module imports nothing from softtoken, so that any module may
import it.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ActivationRefused",
    "AttemptNotOpen",
    "AuditChainBroken",
    "CompatibilityWarning",
    "DuplicateIdentity",
    "IncompatibleURI",
    "InvalidCode",
    "InvalidEncoding",
    "InvalidIdentifier",
    "InvalidInput",
    "InvalidKey",
    "InvalidKeyring",
    "InvalidPINRecord",
    "InvalidRecord",
    "InvalidSuite",
    "InvalidTime",
    "InvalidURI",
    "InvalidUnlockRecord",
    "KeyTooShort",
    "MalformedCode",
    "MistypedCode",
    "NotAccepted",
    "PINDelayed",
    "PINLocked",
    "PINRejected",
    "PINWiped",
    "SchemaMismatch",
    "SoftTokenError",
    "StoreConflict",
    "StoreError",
    "TokenStateError",
    "UnknownIdentity",
    "UnknownKey",
    "UnknownToken",
    "UnlockCodeRejected",
    "WalletCorrupt",
    "WalletLocked",
    "WalletNotGuarded",
    "WalletRolledBack",
    "WrongIdentityState",
    "WrongPIN",
    "WrongState",
]


def _restore(cls: type[SoftTokenError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Rebuild a pickled error without calling its ``__init__``, whose signature varies."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class SoftTokenError(Exception):
    """Base class of every error softtoken raises on purpose.

    ``SoftTokenError()`` takes the class's constant :attr:`MESSAGE`; a module may pass a more
    precise constant message that names the rule broken, never the value.
    """

    MESSAGE: ClassVar[str] = "softtoken refused the operation"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(self.MESSAGE if message is None else message)

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as cls(*args), which fails for subclasses whose __init__ takes
        # other arguments; rebuilding from args and __dict__ works for every class in the tree.
        return _restore, (type(self), self.args, dict(self.__dict__))


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


class InvalidInput(SoftTokenError, ValueError):
    """A value given to softtoken is not acceptable.

    The message says which rule was broken, never what the value was.
    """

    MESSAGE = "the input is not acceptable"


class InvalidKey(InvalidInput):
    """A key is unusable: the wrong length for its purpose."""

    MESSAGE = "the key is not acceptable"


class KeyTooShort(InvalidKey):
    """A key is shorter than RFC 4226 §4 R6 allows.

    Attributes:
        minimum: the fewest bytes that were allowed.
        legacy_opt_in: True when the key would pass with ``allow_short_key=True`` (an old
            80-bit key), so that a front end can name its own switch for it.
    """

    def __init__(self, minimum: int, *, legacy_opt_in: bool) -> None:
        hint = "; 10-byte legacy keys need allow_short_key=True" if legacy_opt_in else ""
        super().__init__(f"key must be at least {minimum} bytes{hint}")
        self.minimum = minimum
        self.legacy_opt_in = legacy_opt_in


class InvalidEncoding(InvalidInput):
    """Text is not valid base32 or hex."""

    MESSAGE = "the text is not valid base32 or hex"


class InvalidTime(InvalidInput):
    """A time is naive, negative, before the TOTP epoch, or out of range."""

    MESSAGE = "the time is not acceptable"


class InvalidURI(InvalidInput):
    """An otpauth:// URI is malformed or has an unacceptable parameter."""

    MESSAGE = "the URI is not acceptable"


class IncompatibleURI(InvalidURI):
    """A Key URI uses a parameter that the target authenticator app ignores or refuses.

    The message is constant. :attr:`problems` lists what is wrong, one sentence each, naming the
    app and the parameter (such as ``algorithm=SHA256``), never the secret or the account.
    """

    MESSAGE = "the URI uses a parameter that the target app does not honour"

    def __init__(self, problems: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.problems = tuple(problems)


class InvalidSuite(InvalidInput):
    """An OCRA suite is malformed, not in its canonical spelling, or outside RFC 6287 §6."""

    MESSAGE = "not an RFC 6287 OCRA suite"


class InvalidRecord(InvalidInput):
    """Stored data is truncated, of an unknown format, out of range, inconsistent or altered.

    No partial data is ever returned, and the message never includes the data.
    """

    MESSAGE = "the stored data is damaged or of an unknown format"


class InvalidPINRecord(InvalidRecord):
    """Stored PIN data (a PIN verifier or a lockout state) is not valid."""


class InvalidUnlockRecord(InvalidRecord):
    """A stored unlock counter (``softtoken.unlock.UnlockCounter``) is not valid."""


class WalletCorrupt(InvalidRecord):
    """An app wallet blob is not a wallet, of an unknown format, truncated, tampered with, or
    sealed under another device key."""

    MESSAGE = "the wallet is damaged or truncated"


class WalletRolledBack(WalletCorrupt):
    """A wallet blob is older than the newest one its version guard has seen.

    Someone restored an earlier copy of the wallet, which would restore spent tries and spent
    reset codes (SECURITY.md S17). The wallet is refused; the previous good state is whatever
    the newest blob held.
    """

    MESSAGE = "the wallet is older than the newest one saved: it was rolled back"


class WalletNotGuarded(WalletRolledBack):
    """The version guard has no record of this wallet, which is past its first save.

    Accepting it would accept any older copy too. If the file is known to be the newest copy
    (a new device, a lost guard), ``WalletFile.adopt`` records it, on the caller's word.
    """

    MESSAGE = "the version guard has no record of this wallet"


class UnknownKey(InvalidRecord):
    """A sealed record names a key id that the key ring does not hold. The message never
    includes the id's key, only that it is missing."""

    MESSAGE = "the key ring has no key with the id this record was sealed under"


class AuditChainBroken(InvalidRecord):
    """An issuer's audit trail was edited, cut, reordered or forged.

    Attributes:
        position: the sequence number (from 1) of the first event that does not verify; one past
            the last event when events are missing at the end.
    """

    MESSAGE = "the audit trail does not verify"

    def __init__(self, position: int = 0) -> None:
        super().__init__()
        self.position = position


class InvalidKeyring(InvalidInput):
    """A key ring's text, or a key or key id in it, is not acceptable. The message names the
    rule, never a key."""

    MESSAGE = "the key ring is not valid"


class UnknownToken(InvalidInput):
    """An administrator's operation names a serial (or user) that the issuer has no token for."""

    MESSAGE = "no token matches"


class InvalidIdentifier(InvalidInput):
    """A serial, activation code or registration code does not have its shape: its digits, or
    its display grouping. The message never includes the text."""

    MESSAGE = "not a valid identifier"


class MistypedCode(InvalidInput):
    """A typed code has the right shape, but its check digit does not hold: it was mistyped.

    A check digit is a public function of the other digits, so saying so reveals no secret, and
    the user or the operator can read the code again. The message is constant and never
    contains the code.
    """

    MESSAGE = "the code's check digit does not match; it was probably mistyped"


class PINRejected(InvalidInput):
    """A new PIN does not meet the PIN policy.

    ``reasons`` is a frozenset of ``softtoken.pinlock.PINRejection`` (a ``str`` enum), every rule
    the PIN broke, for the app to explain. The message is constant and never contains the PIN.
    """

    MESSAGE = "the PIN does not meet the PIN policy"

    def __init__(self, reasons: frozenset[str]) -> None:
        super().__init__()
        self.reasons = frozenset(reasons)


class UnknownIdentity(InvalidInput):
    """No identity in the app wallet has this serial. The message never includes the serial."""

    MESSAGE = "no identity has this serial"


class DuplicateIdentity(InvalidInput):
    """The app wallet already holds an identity with this serial."""

    MESSAGE = "an identity with this serial already exists"


# --------------------------------------------------------------------------------------------
# Refused codes
# --------------------------------------------------------------------------------------------


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


class ActivationRefused(InvalidCode):
    """An activation step was not accepted.

    Opaque, like :class:`InvalidCode`: an expired, spent, replayed, tampered or foreign message,
    a wrong password and a wrong registration code all raise it with the same message. The
    issuer's pending value records the real cause.
    """

    MESSAGE = "the activation was not accepted"


class MalformedCode(InvalidCode, InvalidInput):
    """The code is not made of the expected number of ASCII digits.

    It is an :class:`InvalidCode`, so that one ``except InvalidCode`` covers every rejection, and
    an :class:`InvalidInput`, so that an app may tell the user to check what they typed. The check
    depends only on the typed text, never on the secret, so it reveals nothing about the key.
    """

    MESSAGE = "the code must be the expected number of ASCII digits"


# --------------------------------------------------------------------------------------------
# Refused PINs and unlock codes, after a counted attempt
# --------------------------------------------------------------------------------------------


class NotAccepted(SoftTokenError):
    """A PIN or an unlock code was not accepted. The state that counts it is already stored.

    Attributes:
        remaining_tries: wrong entries left before the next lock or wipe; 0 when locked or
            wiped.
    """

    MESSAGE = "not accepted"

    def __init__(self, remaining_tries: int = 0) -> None:
        super().__init__()
        self.remaining_tries = remaining_tries


class WrongPIN(NotAccepted):
    """The PIN was wrong and was counted; ``remaining_tries`` more are allowed."""

    MESSAGE = "the PIN is wrong"


class PINDelayed(NotAccepted):
    """The PIN came too soon after a wrong one; it was neither checked nor counted.

    Attributes:
        retry_after: whole seconds to wait before the next attempt is evaluated.
    """

    MESSAGE = "too soon after a wrong PIN; try again later"

    def __init__(self, remaining_tries: int = 0, *, retry_after: int = 0) -> None:
        super().__init__(remaining_tries)
        self.retry_after = retry_after


class PINLocked(NotAccepted):
    """Too many wrong PINs: the identity is locked until an unlock code is entered.

    Attributes:
        just_now: True when this attempt caused the lock, False when it was locked already.
    """

    MESSAGE = "the PIN is locked; an unlock code is needed"

    def __init__(self, *, just_now: bool = False) -> None:
        super().__init__(0)
        self.just_now = just_now


class PINWiped(NotAccepted):
    """The identity has been wiped (too many wrong PINs or unlock codes); nothing can be entered
    any more.

    Attributes:
        just_now: True when this attempt caused the wipe, False when it was wiped already.
    """

    MESSAGE = "the identity was wiped"

    def __init__(self, *, just_now: bool = False) -> None:
        super().__init__(0)
        self.just_now = just_now


class UnlockCodeRejected(NotAccepted):
    """The unlock code was wrong and was counted.

    Attributes:
        remaining_tries: wrong unlock codes left against the current reset code.
        new_reset_code: True when this reset code's tries ran out and a new reset code replaced
            it: show the new one, since the bank must answer that one.
    """

    MESSAGE = "the unlock code was not accepted"

    def __init__(self, remaining_tries: int = 0, *, new_reset_code: bool = False) -> None:
        super().__init__(remaining_tries)
        self.new_reset_code = new_reset_code


# --------------------------------------------------------------------------------------------
# Wrong state
# --------------------------------------------------------------------------------------------


class WrongState(SoftTokenError):
    """The operation does not apply to the object in its current state."""

    MESSAGE = "the operation does not apply in the current state"


class WrongIdentityState(WrongState):
    """The operation does not apply to the identity in its current state, such as an unlock
    code for an identity that is not locked, or any use of a wiped identity."""


class AttemptNotOpen(WrongState):
    """A PIN or unlock code was to be evaluated, but no attempt of that kind is open.

    The safe paths evaluate a secret only inside an attempt that ``begin_attempt`` opened and
    the caller stored first, so that a process killed mid-check loses no failure. Nothing was
    evaluated or counted.
    """

    MESSAGE = "no attempt is open: call begin_attempt and store its result first"


class TokenStateError(WrongState):
    """An issuer operation does not apply to a token in its current state.

    Attributes:
        operation: the operation's name, such as ``"unblock"``.
        state: the token's state, such as ``"active"``.

    Both are words from fixed lists, never a secret, so the message names them.
    """

    def __init__(self, operation: str = "", state: str = "") -> None:
        super().__init__(
            f"{operation or 'the operation'} does not apply to a token that is "
            f"{state or 'in this state'}"
        )
        self.operation = operation
        self.state = state


class WalletLocked(WrongState):
    """Another process holds the wallet file's lock for longer than the wait allowed."""

    MESSAGE = "the wallet is in use by another process"


# --------------------------------------------------------------------------------------------
# The issuer's store
# --------------------------------------------------------------------------------------------


class StoreError(SoftTokenError):
    """The issuer's store failed: the database was unreachable, or a statement failed. Nothing
    was changed: the transaction was rolled back. A verification that meets this rejects the
    code (fail closed, SECURITY.md S16)."""

    MESSAGE = "the issuer's store failed"


class StoreConflict(StoreError):
    """Other writers changed the same record every time this operation tried to apply, up to
    the retry bound. Nothing was changed; the operation may be tried again."""

    MESSAGE = "the record kept changing under this operation; nothing was changed"


class SchemaMismatch(StoreError):
    """The database holds an issuer schema that this version of softtoken does not know (a newer
    one), or none where one was required. Nothing was read or written."""

    MESSAGE = "the database's issuer schema is not one this softtoken can use"


# --------------------------------------------------------------------------------------------
# Warnings
# --------------------------------------------------------------------------------------------


class CompatibilityWarning(UserWarning):
    """A Key URI uses a parameter that the target authenticator app ignores or refuses.

    A warning, not an error: ``softtoken.provisioning.check_compatibility`` raises
    :class:`IncompatibleURI` instead when called with ``strict=True``. The message names the app
    and the parameter, never the secret or the account.
    """
