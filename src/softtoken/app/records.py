"""The values a wallet is made of: identities, their sealed keys, and what the wallet reports.

Every class is frozen, and every secret field is declared through
:func:`softtoken._secret.secret_field`: never in a ``repr``, compared in constant time, not hashed.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from softtoken._checks import MAX_COUNTER, MAX_U8, check_counter, check_digits, check_int
from softtoken._hmac import ALGORITHMS
from softtoken._secret import SECRET
from softtoken.exceptions import InvalidInput
from softtoken.pinlock import (
    ENTRUST_LIKE,
    LockoutPolicy,
    LockoutState,
    OnLimit,
    Outcome,
    PINPolicy,
    PINProfile,
    PINRejection,
    PINVerifier,
    Status,
)
from softtoken.provisioning.identifiers import Serial
from softtoken.unlock import RESET_CODE_LENGTH, UnlockCounter, UnlockOutcome, UnlockPolicy

__all__ = [
    "MAX_NAME_LENGTH",
    "CodeResult",
    "Escrow",
    "Identity",
    "IdentityInfo",
    "IdentityPolicy",
    "Keys",
    "Kind",
    "UnlockResult",
    "check_name",
]

Kind = Literal["hotp", "totp"]
KINDS: Final[tuple[Kind, ...]] = ("hotp", "totp")
MAX_NAME_LENGTH: Final = 64


def check_name(name: str) -> None:
    """A display name: 1 to 64 printable characters, without surrounding spaces."""
    if type(name) is not str:
        raise TypeError("name must be str")
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidInput("a display name must have 1 to 64 characters")
    # isprintable() refuses control, format (bidirectional overrides), surrogate and separator
    # characters other than the plain space.
    if not name.isprintable() or name != name.strip():
        raise InvalidInput("a display name must be printable, without surrounding spaces")


@attrs.frozen
class IdentityPolicy:
    """The rules an identity lives by, stored with it in the wallet so that no caller (and no
    command-line flag) can weaken them later.

    Attributes:
        pin: what a new PIN must meet. lockout: what wrong PINs do (lock or wipe).
        unlock: tries per reset code, reset codes per lock, unlock code length.
    """

    pin: PINPolicy = attrs.field(
        factory=PINPolicy, validator=attrs.validators.instance_of(PINPolicy)
    )
    lockout: LockoutPolicy = attrs.field(
        factory=LockoutPolicy, validator=attrs.validators.instance_of(LockoutPolicy)
    )
    unlock: UnlockPolicy = attrs.field(
        factory=UnlockPolicy, validator=attrs.validators.instance_of(UnlockPolicy)
    )

    @classmethod
    def from_profile(
        cls, profile: PINProfile = ENTRUST_LIKE, unlock: UnlockPolicy | None = None
    ) -> IdentityPolicy:
        """The policy of a :class:`~softtoken.pinlock.PINProfile` preset (its KDF parameters
        are not part of it: they belong to the app that runs, see ``Wallet.kdf``)."""
        if not isinstance(profile, PINProfile):
            raise TypeError("profile must be PINProfile")
        return cls(profile.pin, profile.lockout, UnlockPolicy() if unlock is None else unlock)


@attrs.frozen
class Escrow:
    """One reset code, and the identity's data key wrapped under its future unlock code."""

    reset_code: str = attrs.field(**SECRET)
    salt: bytes = attrs.field(**SECRET)
    wrapped: bytes = attrs.field(**SECRET)

    def __attrs_post_init__(self) -> None:
        code = self.reset_code
        if not (len(code) == RESET_CODE_LENGTH and code.isascii() and code.isdigit()):
            raise InvalidInput("a reset code must be 9 ASCII digits")


@attrs.frozen
class Keys:
    """What a wipe destroys: the sealed secret, the PIN verifier and history, the PIN-wrapped
    data key, and the unlock escrows of the next (or current) lock episode. The escrows are
    made with the verifier's KDF parameters."""

    secret_box: bytes = attrs.field(**SECRET)
    verifier: PINVerifier = attrs.field(repr=False)
    history: tuple[PINVerifier, ...] = attrs.field(repr=False)
    pin_wrap: bytes = attrs.field(**SECRET)
    escrow_episode: int
    escrows: tuple[Escrow, ...] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Identity:
    """One identity of the wallet; see :class:`softtoken.app.Wallet` for what the fields mean.

    The constructor checks every invariant, so that a blob that decodes into an inconsistent
    identity is refused as corrupt.
    """

    serial: Serial
    name: str
    kind: Kind
    algorithm: str
    digits: int
    period: int
    counter: int
    policy: IdentityPolicy
    lockout: LockoutState
    unlock: UnlockCounter
    keys: Keys | None = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.serial, Serial):
            raise TypeError("serial must be Serial")
        check_name(self.name)
        if self.kind not in KINDS or self.algorithm not in ALGORITHMS:
            raise InvalidInput("unknown token kind or algorithm")
        check_digits(self.digits)
        check_int(self.period, "period", 1, MAX_COUNTER)
        check_counter(self.counter)
        # add_key stores the other kind's parameter at its neutral value.
        if (self.kind == "totp" and self.counter) or (self.kind == "hotp" and self.period != 30):
            raise InvalidInput("a parameter of the other token kind is set")
        status = self.lockout.status
        if (status is Status.WIPED) != (self.keys is None):
            raise InvalidInput("a wiped identity, and only that, has no keys")
        if status is not Status.LOCKED and self.unlock != UnlockCounter():
            raise InvalidInput("only a locked identity counts unlock tries")
        if self.keys is not None:
            keys = self.keys
            expected = self.lockout.episode + (status is Status.ACTIVE)
            # An identity that wipes at the limit never locks, so it keeps no escrows.
            left = (
                0
                if self.policy.lockout.on_limit is OnLimit.WIPE
                else self.policy.unlock.max_reset_codes - self.unlock.reset_code
            )
            if keys.escrow_episode != expected or len(keys.escrows) != left:
                raise InvalidInput("the escrows do not match the lock episode")
            if len(keys.history) > min(self.policy.pin.history, MAX_U8):
                raise InvalidInput("the PIN history is longer than the policy keeps")

    @property
    def status(self) -> Status:
        """ACTIVE, LOCKED or WIPED."""
        return self.lockout.status


@attrs.frozen
class IdentityInfo:
    """What :meth:`Wallet.identities` lists for one identity: never a secret.

    Attributes:
        serial: the :class:`~softtoken.provisioning.Serial`. name: the display name.
        kind: ``"hotp"`` or ``"totp"``. digits: the code length.
        status: ACTIVE, LOCKED or WIPED (:class:`softtoken.pinlock.Status`).
        remaining_tries: wrong PINs left before the limit; 0 unless ACTIVE.
        unlock_tries: while LOCKED, wrong unlock codes left against the current reset code.
        wipes: True when the limit wipes the identity rather than locking it.
        policy: the rules the identity lives by (PIN lengths, limits, unlock code length);
            public, so that an app can tell the user what it expects.
        attempt_open: an attempt begun by :meth:`Wallet.begin_attempt` is open: a PIN attempt
            while ACTIVE, an unlock code attempt while LOCKED. If the app did not just open it,
            it was interrupted, and the next ``begin_attempt`` counts it as a wrong try.
    """

    serial: Serial
    name: str
    kind: Kind
    digits: int
    status: Status
    remaining_tries: int
    unlock_tries: int = 0
    wipes: bool = False
    policy: IdentityPolicy = attrs.field(factory=IdentityPolicy, repr=False)
    attempt_open: bool = False


@attrs.frozen
class CodeResult:
    """The outcome of :meth:`Wallet.show_code`.

    Attributes:
        outcome: the :class:`softtoken.pinlock.Outcome` of the PIN entry. Only ``ACCEPTED``
            carries a code; ``LOCKED_NOW`` and ``STILL_LOCKED`` mean a reset code is to be
            shown; ``WIPED_NOW`` and ``WIPED`` mean the identity is gone.
        code: the one-time code, or ``None``. Hidden from ``repr``.
        remaining_tries: wrong PINs left before the limit; 0 unless the identity is ACTIVE.
        retry_after: for ``TOO_SOON``, the seconds to wait; otherwise 0.
    """

    outcome: Outcome
    code: str | None = attrs.field(**SECRET)
    remaining_tries: int
    retry_after: int = 0

    @property
    def accepted(self) -> bool:
        """True only when the PIN was right and :attr:`code` holds the code."""
        return self.outcome is Outcome.ACCEPTED


@attrs.frozen
class UnlockResult:
    """The outcome of :meth:`Wallet.unlock`.

    Attributes:
        outcome: UNLOCKED, REJECTED, NEW_RESET_CODE, WIPE, or PIN_REFUSED (the code was right
            but the new PIN was used recently; nothing is spent, the same code may be given
            again with another PIN).
        remaining_tries: wrong unlock codes left against the current reset code.
        rejections: for PIN_REFUSED, why the new PIN was refused.
    """

    outcome: UnlockOutcome
    remaining_tries: int
    rejections: frozenset[PINRejection] = frozenset()

    @property
    def accepted(self) -> bool:
        """True only when the identity is unlocked under the new PIN."""
        return self.outcome is UnlockOutcome.UNLOCKED
