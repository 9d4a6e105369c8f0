"""Opening the wallet of ``softtoken app``: the device key file, the wallet file, its guard.

The version guard is a file of its own beside the device key, ``<device key file>.version``:
whoever can restore an older wallet file must also reach that file to roll the wallet back.
"""

from __future__ import annotations

import argparse
import os

from softtoken import _random
from softtoken.app import DEVICE_KEY_LENGTH, FileVersionGuard, WalletFile
from softtoken.cli._input import BadInput, Usage, read_capped, read_pin, shown_path
from softtoken.cli._messages import check_pin_shape
from softtoken.pinlock import KDFParams, PINPolicy

__all__ = ["create_device_key", "read_new_pin", "wallet_file"]


def create_device_key(path: str) -> None:
    """Create *path* with 32 random bytes, owner-only; never replace an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_random.random_bytes(DEVICE_KEY_LENGTH))
        handle.flush()
        os.fsync(handle.fileno())


def _read_device_key(path: str) -> bytes:
    # One byte more than needed shows a file that is too long without reading it all.
    data = read_capped(path, DEVICE_KEY_LENGTH + 1)
    if isinstance(data, str):
        raise BadInput(f"--device-key-file: {data}")
    if len(data) != DEVICE_KEY_LENGTH:
        raise BadInput(f"--device-key-file: the file must hold exactly {DEVICE_KEY_LENGTH} bytes")
    return data


def wallet_file(args: argparse.Namespace, *, kdf: KDFParams, existing: bool = True) -> WalletFile:
    """The wallet of --wallet, sealed under --device-key-file, guarded beside the device key."""
    if getattr(args, "misplaced_profile", None) is not None:
        raise Usage(
            "--profile is stored in the wallet by 'app init' (the default) and 'app add' (each "
            "identity's); no other action takes it"
        )
    if existing and not os.path.lexists(args.wallet):
        raise BadInput(
            f"--wallet: no such file: {shown_path(args.wallet)}; 'softtoken app init' makes one"
        )
    return WalletFile(
        args.wallet,
        device_key=_read_device_key(args.device_key_file),
        guard=FileVersionGuard(args.device_key_file + ".version"),
        kdf=kdf,
    )


def read_new_pin(pin_file: str | None, rules: PINPolicy) -> str:
    """A new PIN (typed twice at a terminal), refused at once if its shape breaks *rules*."""
    pin = read_pin(pin_file, prompt="New PIN: ", confirm=True)
    check_pin_shape(pin, rules.min_length, rules.max_length)
    return pin
