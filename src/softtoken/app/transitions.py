"""What happens to one identity: pure transitions ``(identity, input, now) -> (identity, result)``.

:class:`softtoken.app.Wallet` finds the identity and puts the result back; the file layer
(:mod:`softtoken.app.files`) stores it and decides what to raise. Nothing here reads a clock or
a file, and every refusal is a returned result, never an exception that carries a state.

The rule for secrets (SECURITY.md S10, S17): a PIN or an unlock code is evaluated only inside an
attempt that :func:`begin` opened and the caller stored first. Nothing else here compares a
guess with anything secret: whether a new PIN was used recently is asked only after the current
unlock code has been proven, and a wipe destroys the PIN verifier and its history with the rest
of the keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import attrs

from softtoken import _random
from softtoken._checks import MAX_COUNTER
from softtoken._kdf import Label
from softtoken._time import to_unix
from softtoken.app.records import (
    CodeResult,
    Identity,
    IdentityInfo,
    IdentityPolicy,
    Keys,
    Kind,
    UnlockResult,
)
from softtoken.app.sealing import DEK_LENGTH, make_escrows, open_escrow, open_sealed, pin_kek, seal
from softtoken.exceptions import AttemptNotOpen, WalletCorrupt, WrongIdentityState
from softtoken.hotp import HOTP, TOTP
from softtoken.pinlock import (
    Event,
    KDFParams,
    LockoutState,
    OnLimit,
    Outcome,
    PINRejection,
    PINVerifier,
    Status,
    enter_pin,
    remaining_tries,
    retry_after,
    step,
)
from softtoken.provisioning.identifiers import Serial
from softtoken.unlock import (
    UnlockCounter,
    UnlockOutcome,
    begin_unlock,
    hold_unlock,
    record_unlock,
    remaining_unlock_tries,
)

__all__ = ["begin", "enroll", "info", "show_code", "unlock", "wipe"]

_FRESH_COUNTER: Final = UnlockCounter()


def _aad(label: Label, serial: Serial) -> bytes:
    return label + str(serial).encode("ascii")


def _keys(identity: Identity) -> Keys:
    if identity.keys is None:
        raise WrongIdentityState("the identity was wiped")
    return identity.keys


def _pin_keys(
    device_key: bytes,
    serial: Serial,
    policy: IdentityPolicy,
    kdf: KDFParams,
    *,
    pin: str,
    secret: bytes,
    dek: bytes,
    secret_box: bytes,
    previous: tuple[PINVerifier, ...],
    episode: int,
) -> Keys:
    """Keys for an identity under a new *pin*: a verifier, the PIN wrap, escrows for *episode*.

    One slow hash for the PIN and one per escrow; the escrows use the verifier's parameters.
    An identity that wipes at the limit gets no escrows.
    """
    verifier, pin_key = PINVerifier.enroll(pin, params=kdf)
    wrap = seal(pin_kek(device_key, serial, pin_key), dek, _aad(Label.PIN_WRAP_AAD, serial))
    # An identity that wipes at the limit never locks, so an unlock escrow could never be used.
    escrows = (
        ()
        if policy.lockout.on_limit is OnLimit.WIPE
        else make_escrows(
            device_key, serial, secret, dek, params=kdf, policy=policy.unlock, episode=episode
        )
    )
    history = policy.pin.next_history(verifier, previous)
    return Keys(secret_box, verifier, history, wrap, episode, escrows)


def enroll(
    device_key: bytes,
    *,
    serial: Serial,
    name: str,
    kind: Kind,
    algorithm: str,
    digits: int,
    period: int,
    counter: int,
    secret: bytes,
    pin: str,
    policy: IdentityPolicy,
    kdf: KDFParams,
) -> Identity:
    """A new identity holding *secret* behind *pin*; the caller has checked every argument."""
    dek = _random.random_bytes(DEK_LENGTH)
    secret_box = seal(dek, secret, _aad(Label.SECRET_AAD, serial))
    lockout = LockoutState()
    keys = _pin_keys(
        device_key,
        serial,
        policy,
        kdf,
        pin=pin,
        secret=secret,
        dek=dek,
        secret_box=secret_box,
        previous=(),
        episode=lockout.episode + 1,
    )
    return Identity(
        serial=serial,
        name=name,
        kind=kind,
        algorithm=algorithm,
        digits=digits,
        period=period,
        counter=counter,
        policy=policy,
        lockout=lockout,
        unlock=_FRESH_COUNTER,
        keys=keys,
    )


def info(identity: Identity) -> IdentityInfo:
    """What may be listed about *identity*: never a secret."""
    policy = identity.policy
    locked = identity.status is Status.LOCKED
    return IdentityInfo(
        serial=identity.serial,
        name=identity.name,
        kind=identity.kind,
        digits=identity.digits,
        status=identity.status,
        remaining_tries=remaining_tries(policy.lockout, identity.lockout),
        unlock_tries=remaining_unlock_tries(policy.unlock, identity.unlock) if locked else 0,
        wipes=policy.lockout.on_limit is OnLimit.WIPE,
        policy=policy,
        attempt_open=identity.lockout.attempt_open or identity.unlock.attempt_open,
    )


def wipe(identity: Identity, now: int | dt.datetime) -> Identity:
    """*identity* wiped: its secret, data key, PIN verifier, history and escrows destroyed."""
    _, state = step(identity.policy.lockout, identity.lockout, Event.WIPE, now)
    return _with_lockout(identity, state)


def _with_lockout(identity: Identity, state: LockoutState) -> Identity:
    """*identity* with a new lockout state from a PIN attempt; a wipe destroys the keys."""
    if state.status is Status.WIPED:
        return attrs.evolve(identity, lockout=state, unlock=_FRESH_COUNTER, keys=None)
    return attrs.evolve(identity, lockout=state)


def begin(identity: Identity, *, now: int | dt.datetime, unlock: bool) -> Identity:
    """Open a PIN attempt (or, with *unlock*, an unlock code attempt), to be stored first.

    An attempt already open was interrupted and is counted first: as a wrong PIN (which may lock
    or wipe) or as a wrong unlock code (which may move to the next reset code or wipe). No
    attempt is opened when that, or the state, refuses one.

    Raises:
        WrongIdentityState: *unlock* and the identity is not locked.
    """
    if not unlock:
        _, state = step(identity.policy.lockout, identity.lockout, Event.BEGIN, now)
        return _with_lockout(identity, state)
    if identity.status is not Status.LOCKED:
        raise WrongIdentityState("the identity is not locked")
    to_unix(now)
    outcome, counter = begin_unlock(identity.policy.unlock, identity.unlock)
    return _after_unlock_count(identity, outcome, counter, now)


def _after_unlock_count(
    identity: Identity, outcome: UnlockOutcome, counter: UnlockCounter, now: int | dt.datetime
) -> Identity:
    """*identity* after the unlock counter moved: the next reset code, or a wipe."""
    if outcome is UnlockOutcome.WIPE:
        return wipe(identity, now)
    if outcome is UnlockOutcome.NEW_RESET_CODE:
        # The used-up reset code's escrow is destroyed: it can never be tried again.
        keys = _keys(identity)
        return attrs.evolve(
            identity, unlock=counter, keys=attrs.evolve(keys, escrows=keys.escrows[1:])
        )
    return attrs.evolve(identity, unlock=counter)


def show_code(
    device_key: bytes, kdf: KDFParams, identity: Identity, pin: str, *, now: int | dt.datetime
) -> tuple[Identity, CodeResult]:
    """Enter *pin* in the open attempt and, when it is right, compute the current code.

    A correct PIN whose verifier was made with other parameters than *kdf* is rehashed, and its
    escrows remade, while the PIN is at hand.

    Raises:
        AttemptNotOpen: the PIN would be evaluated, but no attempt is open.
        WrongIdentityState: an HOTP identity's counter is exhausted.
        WalletCorrupt: the PIN matched but its data key does not open (fail closed).
    """
    lockout = identity.policy.lockout
    if identity.keys is None:
        to_unix(now)
        return identity, CodeResult(Outcome.WIPED, None, 0)
    keys = identity.keys
    entry = enter_pin(pin, verifier=keys.verifier, policy=lockout, state=identity.lockout, now=now)
    if entry.key is None:
        changed = _with_lockout(identity, entry.state)
        wait = retry_after(entry.state, now) if entry.outcome is Outcome.TOO_SOON else 0
        return changed, CodeResult(
            entry.outcome, None, remaining_tries(lockout, entry.state), retry_after=wait
        )
    serial = identity.serial
    dek = open_sealed(
        pin_kek(device_key, serial, entry.key), keys.pin_wrap, _aad(Label.PIN_WRAP_AAD, serial)
    )
    secret = (
        None if dek is None else open_sealed(dek, keys.secret_box, _aad(Label.SECRET_AAD, serial))
    )
    if dek is None or secret is None:
        # The verifier and the wrap are sealed together; a mismatch is damage, not a PIN.
        raise WalletCorrupt()
    changed = attrs.evolve(identity, lockout=entry.state)
    if identity.kind == "hotp":
        if identity.counter >= MAX_COUNTER:
            raise WrongIdentityState("the HOTP counter is exhausted")
        code = HOTP(secret, digits=identity.digits, algorithm=identity.algorithm).generate(
            identity.counter
        )
        changed = attrs.evolve(changed, counter=identity.counter + 1)
    else:
        totp = TOTP(
            secret, digits=identity.digits, algorithm=identity.algorithm, period=identity.period
        )
        code = totp.generate(to_unix(now))
    if keys.verifier.needs_rehash(kdf):
        rehashed = _pin_keys(
            device_key,
            serial,
            identity.policy,
            kdf,
            pin=pin,
            secret=secret,
            dek=dek,
            secret_box=keys.secret_box,
            previous=keys.history[1:],
            episode=keys.escrow_episode,
        )
        changed = attrs.evolve(changed, keys=rehashed)
    return changed, CodeResult(Outcome.ACCEPTED, code, remaining_tries(lockout, entry.state))


def unlock(
    device_key: bytes,
    kdf: KDFParams,
    identity: Identity,
    unlock_code: str,
    *,
    new_pin: str,
    now: int | dt.datetime,
) -> tuple[Identity, UnlockResult]:
    """Try *unlock_code* in the open unlock attempt; when it is right, set *new_pin*.

    The caller has checked *new_pin* against the PIN rules and the shape of *unlock_code*.
    Only after the code opens the current reset code's escrow is *new_pin* compared with the
    PIN history; a recently used PIN then gives PIN_REFUSED: the attempt closes as a success, and
    nothing is spent.

    Raises:
        WrongIdentityState: the identity is not locked.
        AttemptNotOpen: no unlock attempt is open; nothing was evaluated.
        WalletCorrupt: the escrow opened but the secret does not (fail closed).
    """
    if identity.status is not Status.LOCKED:
        raise WrongIdentityState("the identity is not locked")
    to_unix(now)
    if not identity.unlock.attempt_open:
        raise AttemptNotOpen()
    policy, keys, serial = identity.policy, _keys(identity), identity.serial
    dek = open_escrow(
        device_key,
        serial,
        keys.escrows[0],
        unlock_code,
        params=keys.verifier.params,
        episode=keys.escrow_episode,
    )
    if dek is None:
        outcome, counter = record_unlock(policy.unlock, identity.unlock, correct=False)
        changed = _after_unlock_count(identity, outcome, counter, now)
        return changed, UnlockResult(outcome, remaining_unlock_tries(policy.unlock, counter))
    secret = open_sealed(dek, keys.secret_box, _aad(Label.SECRET_AAD, serial))
    if secret is None:
        raise WalletCorrupt()
    if policy.pin.reused(new_pin, keys.history):
        outcome, counter = hold_unlock(policy.unlock, identity.unlock)
        tries = remaining_unlock_tries(policy.unlock, counter)
        result = UnlockResult(outcome, tries, frozenset({PINRejection.RECENTLY_USED}))
        return attrs.evolve(identity, unlock=counter), result
    # The code is proven: the identity starts the next lock episode with a fresh unlock counter,
    # so nothing is recorded on the old one.
    _, state = step(policy.lockout, identity.lockout, Event.UNLOCK, now)
    new_keys = _pin_keys(
        device_key,
        serial,
        policy,
        kdf,
        pin=new_pin,
        secret=secret,
        dek=dek,
        secret_box=keys.secret_box,
        previous=keys.history,
        episode=state.episode + 1,
    )
    changed = attrs.evolve(identity, lockout=state, unlock=_FRESH_COUNTER, keys=new_keys)
    return changed, UnlockResult(UnlockOutcome.UNLOCKED, 0)
