"""Wallets for the app tests: fixed keys, fast KDF parameters, and the safe sequences."""

from __future__ import annotations

from softtoken._encoding import b32encode
from softtoken.app import CodeResult, IdentityInfo, IdentityPolicy, UnlockResult, Wallet
from softtoken.pinlock import INSECURE_TEST_KDF, PAYSECURE_LIKE, LockoutPolicy, PINPolicy
from softtoken.unlock import UnlockPolicy, compute_unlock_code

DEVICE_KEY = bytes(range(32))
OTHER_DEVICE_KEY = bytes(range(1, 33))
SERIAL = "93171-12184"
OTHER_SERIAL = "55501-00001"
THIRD_SERIAL = "00000-00018"
FOURTH_SERIAL = "00000-00026"
# A well-formed serial no wallet in the tests holds.
UNKNOWN_SERIAL = "00001-23455"
# Canaries: recognisable secrets that must never show up in a repr, a message or a blob.
SECRET = b"CANARY-SECRET-7c1d0e-0123456789!"
OTHER_SECRET = b"OTHER-CANARY-SECRET-0123456789ab"
PIN = "2468"
NEW_PIN = "3579"
WRONG_PIN = "1357"
NOW = 1_700_000_000
FAST = INSECURE_TEST_KDF
ENTRUST = IdentityPolicy()
PAYSECURE = IdentityPolicy.from_profile(PAYSECURE_LIKE)
DELAYED = IdentityPolicy(PINPolicy(), LockoutPolicy(delays=(30,)), UnlockPolicy())


def wallet(policy: IdentityPolicy = ENTRUST) -> Wallet:
    """A wallet with the seed identity (TOTP) and a second one (HOTP), both behind PIN."""
    empty = Wallet.create(device_key=DEVICE_KEY, policy=policy, kdf=FAST)
    one = empty.add_key(SERIAL, SECRET, name="PRODUBANCO", pin=PIN)
    return one.add_key(OTHER_SERIAL, OTHER_SECRET, name="Other bank", pin=PIN, kind="hotp")


def reload(w: Wallet) -> Wallet:
    """*w* stored and read back, as an app does between the steps of the safe sequence."""
    return Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, kdf=FAST)


def show(w: Wallet, serial: str, pin: str, *, now: int = NOW) -> tuple[Wallet, CodeResult]:
    """The safe sequence for a PIN: begin an attempt, then show the code."""
    return w.begin_attempt(serial, now=now).show_code(serial, pin, now=now)


def try_unlock(
    w: Wallet, serial: str, code: str, *, new_pin: str, now: int = NOW
) -> tuple[Wallet, UnlockResult]:
    """The safe sequence for an unlock code: begin an unlock attempt, then unlock."""
    return w.begin_attempt(serial, now=now, unlock=True).unlock(
        serial, code, new_pin=new_pin, now=now
    )


def locked(w: Wallet, serial: str = SERIAL) -> Wallet:
    """*w* after five wrong PINs on *serial*."""
    for _ in range(5):
        w, _result = show(w, serial, WRONG_PIN)
    return w


def info(w: Wallet, serial: str = SERIAL) -> IdentityInfo:
    """The listing of one identity."""
    return w.info(serial)


def bank_code(w: Wallet, serial: str = SERIAL, secret: bytes = SECRET) -> str:
    """What the bank answers to the reset code the app shows now."""
    return compute_unlock_code(secret, serial, w.reset_code(serial))


def wrong_code(code: str) -> str:
    """Another 8-digit code than *code*."""
    return f"{(int(code) + 1) % 10**8:08d}"


def canaries(secret: bytes) -> list[bytes]:
    """The forms in which *secret* could leak: raw, hex (both cases) and base32."""
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b32encode(secret).encode(),
        b32encode(secret).lower().encode(),
    ]
