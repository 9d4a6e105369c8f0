"""``softtoken app``: a phone authenticator's wallet in a file, driven from the command line.

Every action goes through :class:`softtoken.app.WalletFile`, which holds an exclusive lock,
stores each PIN or unlock attempt before it checks the secret, and refuses a rolled-back wallet
with the version guard kept in ``<device key file>.version``. The policy of each identity (lock
or wipe, PIN rules) is stored in the wallet: ``--profile`` chooses it only when the wallet is
created (its default) and when an identity is added, and no option can weaken it later.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from softtoken._encoding import b32decode
from softtoken.app import IdentityPolicy, Wallet
from softtoken.cli import _input
from softtoken.cli._args import EXIT_NOT_ACCEPTED, EXIT_OK
from softtoken.cli._common import refuse_given
from softtoken.cli._input import BadInput, Usage, read_pin, read_text, shown_path
from softtoken.cli._messages import (
    WIPED,
    check_pin_shape,
    code_refusal,
    status_refusal,
    unlock_refusal,
)
from softtoken.cli._wallet import create_device_key, read_new_pin, wallet_file
from softtoken.exceptions import MalformedCode, NotAccepted, WrongState
from softtoken.pinlock import ENTRUST_LIKE, PAYSECURE_LIKE, PHONE_KDF, KDFParams, PINProfile, Status

__all__ = [
    "KDF",
    "PROFILES",
    "run_add",
    "run_code",
    "run_delete",
    "run_init",
    "run_list",
    "run_rename",
    "run_reset_code",
    "run_unlock",
]

KDF: KDFParams = PHONE_KDF
"""The scrypt parameters of new PIN verifiers (about 0.25 s a hash). The test suite, and nothing
else, replaces this attribute with ``softtoken.pinlock.INSECURE_TEST_KDF`` (by monkeypatching), so
that a test enters a PIN in microseconds; there is no option or variable for it."""

PROFILES: Final[dict[str, PINProfile]] = {"entrust": ENTRUST_LIKE, "paysecure": PAYSECURE_LIKE}
"""The presets ``--profile`` names: entrust locks after 5 wrong PINs, paysecure wipes."""


def _not_accepted(message: str) -> int:
    print(f"softtoken: {message}", file=sys.stderr)
    return EXIT_NOT_ACCEPTED


def identity_policy(args: argparse.Namespace) -> IdentityPolicy | None:
    """The policy ``--profile`` gives a new identity, or None for the wallet's own."""
    if args.profile is None:
        return None
    return IdentityPolicy.from_profile(PROFILES[args.profile])


# --- the actions ----------------------------------------------------------------------------


def run_init(args: argparse.Namespace) -> int:
    """``app init``: the device key file if missing, then an empty wallet with its policy."""
    # Checked first, so that a refused init leaves no new device key behind; WalletFile.create
    # claims the name exclusively all the same.
    if os.path.lexists(args.wallet):
        raise Usage("the wallet file already exists")
    folder = os.path.dirname(os.path.abspath(args.wallet))
    if not os.path.isdir(folder):
        raise BadInput(f"--wallet: no such folder: {shown_path(folder)}")
    if not os.path.lexists(args.device_key_file):
        create_device_key(args.device_key_file)
    policy = IdentityPolicy.from_profile(PROFILES[args.profile])
    try:
        wallet_file(args, kdf=KDF, existing=False).create(policy=policy)
    except FileExistsError:
        raise Usage("the wallet file already exists") from None
    print("created an empty wallet")
    return EXIT_OK


def run_add(args: argparse.Namespace) -> int:
    """``app add``: a new identity from a key file or an otpauth URI, behind a new PIN."""
    source = args.key_file if args.key_file is not None else args.uri_file
    if source == "-" and args.pin_file in (None, "-"):
        raise Usage("the key and the PIN cannot both come from standard input: use --pin-file")
    if args.uri_file is not None:
        names = ("hotp", "digits", "algorithm", "period", "counter")
        refuse_given(args, names, "cannot be given with --uri-file: the URI describes the token")
    if args.hotp:
        refuse_given(args, ("period",), "cannot be used with --hotp")
    else:
        refuse_given(args, ("counter",), "needs --hotp")
    if args.key_file is not None and args.name is None:
        raise Usage("--name is required with --key-file")
    stored = wallet_file(args, kdf=KDF)
    wallet = stored.read()
    policy = identity_policy(args)
    option = "--key-file" if args.key_file is not None else "--uri-file"
    text = read_text(source, option=option)
    pin = read_new_pin(args.pin_file, (policy or wallet.policy).pin)

    def add(wallet: Wallet) -> Wallet:
        if args.uri_file is not None:
            return wallet.add_uri(
                text.strip(), serial=args.serial, pin=pin, name=args.name, policy=policy
            )
        return wallet.add_key(
            args.serial,
            b32decode(text),
            name=args.name,
            pin=pin,
            kind="hotp" if args.hotp else "totp",
            algorithm=args.algorithm or "sha1",
            digits=6 if args.digits is None else args.digits,
            period=30 if args.period is None else args.period,
            counter=args.counter or 0,
            policy=policy,
        )

    stored.update(add)
    print("added")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """``app list``: one tab-separated line per identity, never a secret."""
    for info in wallet_file(args, kdf=KDF).identities():
        limit = "wipes" if info.wipes else "locks"
        fields = (info.serial, info.status.value, info.remaining_tries, limit, info.kind)
        print("\t".join(str(field) for field in (*fields, info.digits, info.name)))
    return EXIT_OK


def run_adopt(args: argparse.Namespace) -> int:
    """``app adopt``: the guard records a wallet it never saw."""
    try:
        wallet_file(args, kdf=KDF).adopt()
    except WrongState:
        raise BadInput("the version guard already knows this wallet; nothing to adopt") from None
    print("adopted")
    return EXIT_OK


def run_rename(args: argparse.Namespace) -> int:
    """``app rename``: a new display name."""
    wallet_file(args, kdf=KDF).update(lambda wallet: wallet.rename(args.serial, args.name))
    print("renamed")
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    """``app delete``: the identity is removed."""
    wallet_file(args, kdf=KDF).update(lambda wallet: wallet.delete(args.serial))
    print("deleted")
    return EXIT_OK


def run_code(args: argparse.Namespace) -> int:
    """``app code``: the PIN, checked in a counted attempt, then the current code."""
    stored = wallet_file(args, kdf=KDF)
    wallet = stored.read()
    # A locked or wiped identity is reported before a PIN is asked for, which would be in vain.
    refusal = status_refusal(wallet.info(args.serial))
    if refusal is not None:
        return _not_accepted(refusal)
    rules = wallet.info(args.serial).policy.pin
    pin = read_pin(args.pin_file, prompt="PIN: ", confirm=False)
    # A PIN of the wrong shape cannot be right: it is refused before an attempt is opened.
    check_pin_shape(pin, rules.min_length, rules.max_length)
    try:
        code = stored.code(args.serial, pin, now=_input.now())
    except NotAccepted as error:
        return _not_accepted(code_refusal(error))
    print(code)
    return EXIT_OK


def run_reset_code(args: argparse.Namespace) -> int:
    """``app reset-code``: the locked identity's reset code, to read to the bank."""
    wallet = wallet_file(args, kdf=KDF).read()
    info = wallet.info(args.serial)
    if info.status is Status.WIPED:
        return _not_accepted(WIPED)
    if info.status is not Status.LOCKED:
        raise BadInput("the identity is not locked, so it has no reset code")
    print(wallet.reset_code(args.serial))
    return EXIT_OK


def run_unlock(args: argparse.Namespace) -> int:
    """``app unlock``: the bank's unlock code and a new PIN, tried in a counted attempt."""
    code_source = args.unlock_code_file
    if args.unlock_code == "-":
        code_source = "-"
    if code_source == "-" and args.pin_file in (None, "-"):
        raise Usage(
            "the unlock code and the new PIN cannot both come from standard input: use --pin-file"
        )
    stored = wallet_file(args, kdf=KDF)
    wallet = stored.read()
    info = wallet.info(args.serial)
    if info.status is Status.WIPED:
        return _not_accepted(WIPED)
    if info.status is not Status.LOCKED:
        raise BadInput("the identity is not locked, so there is nothing to unlock")
    if code_source is None:
        unlock_code = args.unlock_code
    else:
        unlock_code = read_text(code_source, option="--unlock-code-file")
    # What can be refused without a try is refused before the new PIN is asked for; the
    # WalletFile checks both again before it opens an attempt.
    try:
        wallet.check_unlock_code(args.serial, unlock_code)
    except MalformedCode:
        raise BadInput(
            "the unlock code does not have the number of digits the bank gives; nothing was counted"
        ) from None
    pin = read_new_pin(args.pin_file, wallet.info(args.serial).policy.pin)
    try:
        stored.unlock(args.serial, unlock_code, new_pin=pin, now=_input.now())
    except NotAccepted as error:
        return _not_accepted(unlock_refusal(error))
    print("unlocked")
    return EXIT_OK
