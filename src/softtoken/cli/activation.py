"""``softtoken app activate``, ``app scan`` and what follows it: the app's side of activation.

- ``app activate`` is offline activation: the serial and the activation code the bank shows go
  in, a new identity is made behind a new PIN, and the registration code to type into the
  bank's page comes out (:meth:`softtoken.app.Wallet.activate_offline`).
- ``app scan`` answers a QR activation offer with the SMS password and prints the request to
  send to the bank, if the offer is signed by a bank key given with ``--bank-key-file`` (64 hex
  digits); any other offer is refused before the password is read. The activation's device key
  stays sealed in the wallet. ``app scan-finish`` takes the bank's response, checks its key
  confirmation and makes the identity (:meth:`~softtoken.app.Wallet.scan`,
  :meth:`~softtoken.app.Wallet.finish_scan`); ``app scan-cancel`` drops an unfinished scan and
  its device key (:meth:`~softtoken.app.Wallet.cancel_scan`).

Activation codes, passwords and PINs come from files or standard input, never the command line.
"""

from __future__ import annotations

import argparse

from softtoken._checks import valid_or_none
from softtoken._encoding import hexdecode
from softtoken._kdf import ScryptParams
from softtoken.app import Wallet
from softtoken.cli import _input, app
from softtoken.cli._args import EXIT_OK
from softtoken.cli._input import (
    BadInput,
    Usage,
    read_secret,
    read_text,
    shown_path,
    stdin_is_terminal,
)
from softtoken.cli._wallet import read_new_pin, wallet_file
from softtoken.exceptions import ActivationRefused, InvalidInput, MistypedCode
from softtoken.provisioning import ActivationCode, TokenParams, qr_activation
from softtoken.provisioning.offline import OFFLINE_KDF
from softtoken.provisioning.qr_messages import KEY_BYTES, Offer

__all__ = [
    "ACTIVATION_KDF",
    "run_activate",
    "run_scan",
    "run_scan_cancel",
    "run_scan_finish",
]

ACTIVATION_KDF: ScryptParams = OFFLINE_KDF
"""The scrypt parameters of offline activation (about 0.5 s), which must be the bank's. The test
suite, and nothing else, replaces this attribute with cheap ones (by monkeypatching)."""

_NOT_A_BANK_KEY = "not a usable Ed25519 public key (64 hex digits)"
_UNTRUSTED = (
    "the offer is not signed by the bank's key (--bank-key-file), so it may be forged: it was "
    "not answered, and the password was not read"
)
_REFUSED = (
    "the bank's response does not answer this scan (tampered, another activation's, or not "
    "the bank's); the scan is kept for the right one"
)


def _one_stdin(secret_source: str | None, pin_file: str | None, what: str) -> None:
    # At a terminal each secret gets its own hidden prompt; piped, standard input holds one.
    if secret_source == "-" and pin_file in (None, "-") and not stdin_is_terminal():
        raise Usage(f"{what} and the PIN cannot both come from standard input: use --pin-file")


def _activation_code(text: str) -> ActivationCode:
    """The activation code typed, or a message that names it (the check digit's, or its shape)."""
    problem = None
    try:
        return ActivationCode.parse(text)
    except MistypedCode:
        problem = "the activation code's check digit does not match; read it again"
    except InvalidInput:
        problem = "an activation code is 16 digits, written NNNN-NNNN-NNNN-NNNN or plain"
    raise BadInput(problem)


def run_activate(args: argparse.Namespace) -> int:
    """``app activate``: offline activation; prints the registration code."""
    _one_stdin(args.activation_code_file, args.pin_file, "the activation code")
    params = TokenParams(
        algorithm=args.algorithm or "sha1",
        digits=6 if args.digits is None else args.digits,
        period=30 if args.period is None else args.period,
    )
    stored = wallet_file(args, kdf=app.KDF)
    policy = app.identity_policy(args)
    activation_code = _activation_code(
        read_secret(
            args.activation_code_file, option="--activation-code-file", prompt="Activation code: "
        )
    )
    pin = read_new_pin(args.pin_file, (policy or stored.read().policy).pin)
    shown: list[str] = []

    def activate(wallet: Wallet) -> Wallet:
        changed, registration = wallet.activate_offline(
            args.serial,
            activation_code,
            name=args.name,
            pin=pin,
            params=params,
            policy=policy,
            kdf=ACTIVATION_KDF,
        )
        shown.append(registration.display)
        return changed

    stored.update(activate)
    # The identity is stored before the registration code is shown.
    print(f"registration code: {shown[0]}")
    return EXIT_OK


def _bank_key(path: str) -> bytes:
    """The bank key in the file *path*: 64 hex digits (spaces and a final newline allowed)."""
    text = read_text(path, option="--bank-key-file")
    key = valid_or_none(lambda: hexdecode(text))
    if key is None or len(key) != KEY_BYTES:
        raise BadInput(f"--bank-key-file {shown_path(path)}: {_NOT_A_BANK_KEY}")
    return key


def run_scan(args: argparse.Namespace) -> int:
    """``app scan``: answer an offer signed by the bank's key with the SMS password; prints the
    request for the bank."""
    if args.offer_file == "-" and args.password_file in (None, "-") and not stdin_is_terminal():
        raise Usage(
            "the offer and the password cannot both come from standard input: use --password-file"
        )
    if "-" in args.bank_key_file:
        raise Usage("the bank's key must come from a file, not standard input")
    stored = wallet_file(args, kdf=app.KDF)
    keys = [_bank_key(path) for path in args.bank_key_file]
    offer = Offer.parse(read_text(args.offer_file, option="--offer-file").strip())
    # The signature is checked before the password is read: a forged offer gets nothing.
    trusted = valid_or_none(lambda: qr_activation.is_trusted(offer, trusted_keys=keys))
    if trusted is None:
        raise BadInput(f"--bank-key-file: {_NOT_A_BANK_KEY}")
    if not trusted:
        raise BadInput(_UNTRUSTED)
    password = read_secret(args.password_file, option="--password-file", prompt="SMS password: ")
    requests: list[str] = []

    def scan(wallet: Wallet) -> Wallet:
        changed, request = wallet.scan(offer, password.strip(), now=_input.now(), trusted_keys=keys)
        requests.append(request)
        return changed

    try:
        stored.update(scan)
    except ActivationRefused:
        raise BadInput("the offer has expired; ask the bank for a new one") from None
    # The activation's device key is stored before the request leaves.
    print(requests[0])
    return EXIT_OK


def run_scan_finish(args: argparse.Namespace) -> int:
    """``app scan-finish``: the bank's response; the identity is made behind a new PIN."""
    _one_stdin(args.response_file, args.pin_file, "the response")
    stored = wallet_file(args, kdf=app.KDF)
    policy = app.identity_policy(args)
    response = read_text(args.response_file, option="--response-file")
    pin = read_new_pin(args.pin_file, (policy or stored.read().policy).pin)

    def finish(wallet: Wallet) -> Wallet:
        return wallet.finish_scan(
            args.serial, response.strip(), name=args.name, pin=pin, policy=policy
        )

    try:
        stored.update(finish)
    except ActivationRefused:
        raise BadInput(_REFUSED) from None
    print("activated")
    return EXIT_OK


def run_scan_cancel(args: argparse.Namespace) -> int:
    """``app scan-cancel``: the unfinished scan of the serial is dropped, with its device key."""
    wallet_file(args, kdf=app.KDF).update(lambda wallet: wallet.cancel_scan(args.serial))
    print("cancelled")
    return EXIT_OK
