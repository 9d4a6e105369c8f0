"""The softtoken story, told with the library API.

Chapters 1 to 6 follow one TOTP token from creation to a refused replay. Chapters 7 to 13 tell
the app side: an Entrust-like wallet holds an identity behind a PIN, five wrong PINs lock it, the
bank answers the app's reset code with an unlock code, and a new PIN opens it again.

Run it with ``make demo``, or ``python examples/demo.py``. It needs no network and finishes in
about two seconds, most of it the real scrypt PIN hashing (``PHONE_KDF``). Each chapter is a
small function called from :func:`main`.

Keys are drawn from the CSPRNG and never printed: the token's ``repr`` hides the key and the URI
is shown masked. Only the QR code carries it, as it must for an authenticator app to scan it.
The wallet's secret, its device key and the PINs that are accepted are never printed either;
only the example PINs that the policy refuses are shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from softtoken import TOTP, InvalidCode, Match, PINRejected, _random, generate_key
from softtoken.app import DEVICE_KEY_LENGTH, CodeResult, Wallet
from softtoken.pinlock import ENTRUST_LIKE, Outcome, PINProfile, Status
from softtoken.provisioning import build_uri, parse_uri, qr_text
from softtoken.unlock import UnlockOutcome, compute_unlock_code

ACCOUNT = "alice@example.com"
ISSUER = "Example Bank"

# The app side's identity, as printed on the bank's enrolment letter.
SERIAL = "93171-12184"
FIRST_NAME = "TESTING ENROLADO"
NEW_NAME = "PRODUBANCO"
# The profile the wallet runs with. The tests swap in fast KDF parameters; the demo itself uses
# the real ones, which keep the whole story at about two seconds.
APP_PROFILE: PINProfile = ENTRUST_LIKE
# Demo inputs. The refused ones are printed, to show the policy; the accepted ones never are.
WEAK_PINS = ("1111", "1234")
FIRST_PIN = "2580"
WRONG_PIN = "9753"
NEW_PIN = "7413"


def heading(number: int, title: str) -> None:
    """Print a chapter heading."""
    text = f"{number}. {title}"
    print()
    print(text)
    print("=" * len(text))


def expect_refusal(attempt: Callable[[], Match]) -> bool:
    """Run a verification that must fail; print the outcome and return whether it was refused."""
    try:
        match = attempt()
    except InvalidCode as error:
        # The message is the same for every refusal: the error is no oracle (SECURITY.md S8).
        print(f"refused: {error}")
        return True
    print(f"UNEXPECTEDLY ACCEPTED: {match!r}")
    return False


def create_token() -> tuple[TOTP, str]:
    """Chapter 1: make a key and a TOTP token, and the otpauth URI that carries them."""
    heading(1, "Create a TOTP token")
    key = generate_key("sha1")
    token = TOTP(key)
    uri = build_uri(key, account=ACCOUNT, issuer=ISSUER)
    print(f"A new {len(key) * 8}-bit key came from the CSPRNG (RFC 4226 §4 R6); it is not shown.")
    print(f"token: {token!r}")
    return token, uri


def show_provisioning(uri: str) -> None:
    """Chapter 2: the QR code an authenticator app scans, and the URI with its secret masked."""
    heading(2, "Provision an authenticator app")
    print("Scan this with Google Authenticator, FreeOTP, Aegis or another app:")
    print(qr_text(uri))
    print(f"URI (secret masked): {parse_uri(uri).masked()}")


def show_current_code(token: TOTP, now: int) -> str:
    """Chapter 3: the code the app shows right now."""
    heading(3, "The current code")
    code = token.generate(now)
    print(f"At Unix time {now} (step {token.step(now)}) the app shows: {code}")
    return code


def verify_code(token: TOTP, code: str, now: int) -> Match | None:
    """Chapter 4: the server accepts the code and learns its step and the app's drift."""
    heading(4, "Verify it")
    try:
        match = token.verify(code, at=now)
    except InvalidCode as error:
        print(f"UNEXPECTEDLY REFUSED: {error}")
        return None
    print(f"accepted: {match!r}")
    print(f"The server stores last_step = {match.counter} for this token.")
    return match


def show_replay_refused(token: TOTP, code: str, now: int, last_step: int) -> bool:
    """Chapter 5: the same code again, with last_step carried, is refused (RFC 6238 §5.2)."""
    heading(5, "The same code a second time")
    print(f"Verifying {code} again with last_step = {last_step}:")
    return expect_refusal(lambda: token.verify(code, at=now, last_step=last_step))


def show_old_code_refused(token: TOTP, now: int) -> bool:
    """Chapter 6: a code from 3 steps ago falls outside the default window of one step back."""
    heading(6, "A code from 3 steps ago")
    old_step = token.step(now) - 3
    old_code = token.generate_step(old_step)
    print(f"The code of step {old_step} was {old_code}; the window accepts only one step back.")
    # No last_step here: the window alone refuses it, not the replay floor.
    return expect_refusal(lambda: token.verify(old_code, at=now))


def report(ok: bool, what: str) -> bool:
    """Print an unexpected outcome loudly; return *ok*."""
    if not ok:
        print(f"UNEXPECTED: {what}")
    return ok


def persist(wallet: Wallet) -> Wallet:
    """Seal the wallet and open it again, as an app stores it before showing the user anything."""
    return Wallet.from_bytes(
        wallet.to_bytes(), device_key=wallet.device_key, profile=wallet.profile
    )


def type_pin(wallet: Wallet, pin: str, now: int) -> tuple[Wallet, CodeResult]:
    """Type *pin* the safe way: open an attempt and store it, check the PIN, store again.

    Were the app killed between the two stores, the stored wallet would still hold the open
    attempt, and the next ``begin_attempt`` would count it as a wrong PIN: racing the save never
    gives a free guess.
    """
    wallet = persist(wallet.begin_attempt(SERIAL, now=now))
    wallet, result = wallet.show_code(SERIAL, pin, now=now)
    return persist(wallet), result


def list_identities(wallet: Wallet) -> None:
    """Print one line per identity: serial, name, status and PIN tries left. No secret."""
    for info in wallet.identities():
        print(
            f"  {info.serial}  {info.name!r}  {info.kind} {info.digits} digits  "
            f"{info.status.value}, {info.remaining_tries} PIN tries left"
        )


def create_wallet() -> tuple[Wallet, bytes]:
    """Chapter 7: an Entrust-like wallet with one identity, renamed; return it and its secret.

    An identity is enrolled together with its PIN; chapter 8 shows the policy that PIN passed.
    """
    heading(7, "An Entrust-like app wallet")
    # On a phone the device key lives in the hardware keystore; here it is 32 random bytes.
    device_key = _random.random_bytes(DEVICE_KEY_LENGTH)
    secret = generate_key("sha1")
    print("A 32-byte device key and the bank's 160-bit secret came from the CSPRNG; not shown.")
    if APP_PROFILE.kdf != ENTRUST_LIKE.kdf:
        print("(this run uses fast test KDF parameters, not the real PIN hashing cost)")
    wallet = Wallet.create(device_key=device_key, profile=APP_PROFILE)
    wallet = persist(wallet.add_key(SERIAL, secret, name=FIRST_NAME, pin=FIRST_PIN))
    print(f"Enrolled serial {SERIAL} as {FIRST_NAME!r}:")
    list_identities(wallet)
    wallet = persist(wallet.rename(SERIAL, NEW_NAME))
    print(f"Renamed it to {NEW_NAME!r}:")
    list_identities(wallet)
    return wallet, secret


def choose_pin(wallet: Wallet, now: int) -> tuple[Wallet, bool]:
    """Chapter 8: weak PINs are refused with machine-readable reasons; a good one shows a code."""
    heading(8, "Choose a PIN")
    ok = True
    for pin in WEAK_PINS:
        try:
            wallet.check_new_pin(SERIAL, pin)
        except PINRejected as error:
            reasons = sorted(reason.value for reason in error.reasons)
            print(f"PIN {pin} refused: {', '.join(reasons)}")
        else:
            ok = report(False, f"PIN {pin} was accepted")
    try:
        # The PIN is already the identity's, so check_new_pin would refuse it as recently used;
        # the policy alone is what add_key applied at enrolment.
        wallet.profile.pin.check(FIRST_PIN)
    except PINRejected:
        ok = report(False, "the chosen PIN was refused")
    else:
        print("The PIN chosen at enrolment (not shown) meets the policy; add_key checked it.")
    wallet, result = type_pin(wallet, FIRST_PIN, now)
    ok = report(result.accepted, "the right PIN was not accepted") and ok
    print(f"With that PIN the app shows: {result.code} ({result.remaining_tries} tries left)")
    return wallet, ok


def lock_with_wrong_pins(wallet: Wallet, now: int) -> tuple[Wallet, bool]:
    """Chapter 9: five wrong PINs in a row lock the identity."""
    max_failures = wallet.profile.lockout.max_failures
    heading(9, f"{max_failures} wrong PINs")
    print("Each attempt is stored before its PIN is checked, so killing the app mid-check counts.")
    outcomes = []
    for attempt in range(1, max_failures + 1):
        wallet, result = type_pin(wallet, WRONG_PIN, now)
        outcomes.append(result.outcome)
        print(
            f"wrong PIN {attempt}: {result.outcome.value}, "
            f"{result.remaining_tries} tries left, code shown: {result.code is not None}"
        )
    expected = [Outcome.REJECTED] * (max_failures - 1) + [Outcome.LOCKED_NOW]
    ok = report(expected == outcomes, "the wrong PINs did not end in a lock")
    wallet, result = type_pin(wallet, FIRST_PIN, now)
    print(f"Even the right PIN now gets: {result.outcome.value}")
    ok = report(result.outcome is Outcome.STILL_LOCKED, "the locked identity took a PIN") and ok
    list_identities(wallet)
    return wallet, ok and wallet.identities()[0].status is Status.LOCKED


def show_reset_code(wallet: Wallet) -> str:
    """Chapter 10: the locked app shows a 9-digit reset code for the user to read to the bank."""
    heading(10, "The reset code")
    reset_code = wallet.reset_code(SERIAL)
    grouped = " ".join(reset_code[i : i + 3] for i in range(0, len(reset_code), 3))
    print(f"The app shows reset code {grouped}; the user reads it to the bank.")
    return reset_code


def bank_answers(secret: bytes, reset_code: str) -> str:
    """Chapter 11: the bank, which holds the secret, computes the unlock code."""
    heading(11, "The bank computes the unlock code")
    unlock_code = compute_unlock_code(secret, SERIAL, reset_code)
    print(f"compute_unlock_code(secret, {SERIAL!r}, reset code) = {unlock_code}")
    print("(OCRA-1:HOTP-SHA256-8:QN09 over the reset code, RFC 6287, under a key from the secret)")
    return unlock_code


def unlock_with_new_pin(wallet: Wallet, unlock_code: str, now: int) -> tuple[Wallet, bool]:
    """Chapter 12: unlocking needs a new PIN; the previous PIN is refused and counts no try."""
    heading(12, "Unlock with a new PIN")
    ok = True
    # As for a PIN, the unlock attempt is stored before the code is tried.
    wallet = persist(wallet.begin_attempt(SERIAL, now=now, unlock=True))
    try:
        wallet.unlock(SERIAL, unlock_code, new_pin=FIRST_PIN, now=now)
    except PINRejected as error:
        reasons = sorted(reason.value for reason in error.reasons)
        print(f"The previous PIN as the new PIN: refused ({', '.join(reasons)}); no try counted.")
    else:
        ok = report(False, "the previous PIN was accepted as the new one")
    # The refused PIN left the attempt open, so the same attempt goes on with a good new PIN.
    wallet, outcome = wallet.unlock(SERIAL, unlock_code, new_pin=NEW_PIN, now=now)
    wallet = persist(wallet)
    print(f"The unlock code with a good new PIN: {outcome.value}")
    ok = report(outcome is UnlockOutcome.UNLOCKED, "the unlock code was not accepted") and ok
    list_identities(wallet)
    return wallet, ok and wallet.identities()[0].status is Status.ACTIVE


def code_after_unlock(wallet: Wallet, secret: bytes, now: int) -> tuple[Wallet, bool]:
    """Chapter 13: the new PIN shows the code, and it is the bank's TOTP code for this time."""
    heading(13, "A code with the new PIN")
    wallet, result = type_pin(wallet, NEW_PIN, now)
    expected = TOTP(secret).generate(now)
    print(f"With the new PIN the app shows: {result.code}")
    print(f"The bank's TOTP for the same time:  {expected}")
    ok = report(result.accepted and expected == result.code, "the codes differ")
    # A wrong PIN is counted, so the wallet it returns is the one to keep.
    wallet, old_result = type_pin(wallet, FIRST_PIN, now)
    print(f"The old PIN now gets: {old_result.outcome.value}")
    ok = report(old_result.outcome is Outcome.REJECTED, "the old PIN still works") and ok
    return wallet, ok


def app_story(now: int) -> bool:
    """Chapters 7 to 13; return whether every step had its expected outcome."""
    wallet, secret = create_wallet()
    wallet, chose = choose_pin(wallet, now)
    wallet, locked = lock_with_wrong_pins(wallet, now)
    if not locked:
        return False
    reset_code = show_reset_code(wallet)
    unlock_code = bank_answers(secret, reset_code)
    wallet, unlocked = unlock_with_new_pin(wallet, unlock_code, now)
    if not unlocked:
        return False
    _, shown = code_after_unlock(wallet, secret, now)
    return chose and shown


def main() -> int:
    """Tell the story; return 0 if every step had the expected outcome, 1 otherwise."""
    # The demo is an edge, so it reads the wall clock, once: every chapter sees the same time.
    now = int(time.time())
    token, uri = create_token()
    show_provisioning(uri)
    code = show_current_code(token, now)
    match = verify_code(token, code, now)
    if match is None:
        return 1
    outcomes = [
        show_replay_refused(token, code, now, last_step=match.counter),
        show_old_code_refused(token, now),
        app_story(now),
    ]
    print()
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
