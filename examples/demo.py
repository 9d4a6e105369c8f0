"""The softtoken story, told with the library API.

Chapters 1 to 6 follow one TOTP token from creation to a refused replay. Chapters 7 to 14 tell
the app side: an Entrust-style wallet file holds an identity behind a PIN, five wrong PINs lock
it, the bank answers the app's reset code with an unlock code, a new PIN opens it again, and an
old copy of the wallet file is refused. Chapter 15 activates a token offline: a serial and an
activation code in, a registration code out, and the first code confirms.

Run it with ``make demo``, or ``python examples/demo.py``. It needs no network and finishes in
about eight seconds, most of it the real scrypt hashing (``PHONE_KDF``, about 0.25 s a PIN;
``OFFLINE_KDF``, 0.5 s an activation). Each chapter is a small function called from
:func:`main`. The bank and the people are invented.

Keys are drawn from the CSPRNG and never printed: the token's ``repr`` hides the key and the URI
is shown masked. Only the QR code carries it, as it must for an authenticator app to scan it.
The wallet's secret, its device key and the PINs that are accepted are never printed either;
only the example PINs that the policy refuses are shown.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from softtoken import TOTP, InvalidCode, Match, _random, generate_key
from softtoken._kdf import ScryptParams
from softtoken.app import DEVICE_KEY_LENGTH, FileVersionGuard, IdentityPolicy, Wallet, WalletFile
from softtoken.exceptions import (
    MistypedCode,
    NotAccepted,
    PINLocked,
    PINRejected,
    UnlockCodeRejected,
    WalletRolledBack,
    WrongPIN,
)
from softtoken.pinlock import ENTRUST_LIKE, PHONE_KDF, KDFParams, PINRejection, Status
from softtoken.provisioning import RegistrationCode, Serial, build_uri, offline, parse_uri
from softtoken.provisioning.offline import OFFLINE_KDF
from softtoken.render import qr_text
from softtoken.unlock import compute_unlock_code, display_reset_code

ACCOUNT = "alice@example.com"
ISSUER = "Banco Ejemplo"

# The app side's identity, as printed on the bank's enrolment letter.
SERIAL = "93171-12184"
FIRST_NAME = "TESTING ENROLADO"
NEW_NAME = "Banco Ejemplo - ahorros"
# The app's PIN hashing cost. The tests swap in fast test parameters; the demo itself uses the
# real ones.
APP_KDF: KDFParams = PHONE_KDF
# The cost of offline activation's derivation, which the bank's must match (0.5 s each side).
APP_ACTIVATION_KDF: ScryptParams = OFFLINE_KDF
# The token the bank activates offline in chapter 15.
ACTIVATION_SERIAL = "55501-00001"
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


# How the demo says each PIN rule in words.
RULES = {
    PINRejection.NOT_DIGITS: "not only digits",
    PINRejection.WRONG_LENGTH: "the wrong length",
    PINRejection.REPEATED_DIGIT: "one digit repeated",
    PINRejection.SEQUENTIAL: "a run of consecutive digits",
    PINRejection.RECENTLY_USED: "used recently",
    PINRejection.DENY_LISTED: "on the deny list",
}


def rules(error: PINRejected) -> str:
    """The rules a refused PIN broke, in words."""
    return ", ".join(sorted(RULES[PINRejection(reason)] for reason in error.reasons))


def tries(count: int) -> str:
    """*count* tries, in words."""
    return f"{count} {'try' if count == 1 else 'tries'} left"


def list_identities(app: WalletFile) -> None:
    """Print one line per identity: serial, name, status and PIN tries left. No secret."""
    for info in app.identities():
        print(
            f"  {info.serial}  {info.name!r}  {info.kind} {info.digits} digits  "
            f"{info.status.value}, {info.remaining_tries} PIN tries left"
        )


def open_app(folder: Path) -> WalletFile:
    """The app's wallet file, with a version guard beside the device key."""
    # On a phone the device key and the guard live in the secure hardware; here, files.
    device_key = _random.random_bytes(DEVICE_KEY_LENGTH)
    guard = FileVersionGuard(folder / "device-key.version")
    return WalletFile(folder / "wallet", device_key=device_key, guard=guard, kdf=APP_KDF)


def create_wallet(app: WalletFile) -> bytes:
    """Chapter 7: an Entrust-style wallet with one identity, renamed; return its secret."""
    heading(7, "An Entrust-style app wallet")
    secret = generate_key("sha1")
    print("A 32-byte device key and the bank's 160-bit secret came from the CSPRNG; not shown.")
    if APP_KDF != PHONE_KDF:
        print("(this run uses fast test KDF parameters, not the real PIN hashing cost)")
    app.create(policy=IdentityPolicy.from_profile(ENTRUST_LIKE))
    app.update(lambda w: w.add_key(SERIAL, secret, name=FIRST_NAME, pin=FIRST_PIN))
    print(f"Enrolled serial {SERIAL} as {FIRST_NAME!r}; 5 wrong PINs will lock it:")
    list_identities(app)
    app.update(lambda w: w.rename(SERIAL, NEW_NAME))
    print(f"Renamed it to {NEW_NAME!r}:")
    list_identities(app)
    return secret


def choose_pin(app: WalletFile, now: int) -> bool:
    """Chapter 8: weak PINs are refused with their reasons; the enrolled PIN shows a code."""
    heading(8, "Choose a PIN")
    ok = True
    wallet = app.read()
    for pin in WEAK_PINS:
        try:
            wallet.check_new_pin(SERIAL, pin)
        except PINRejected as error:
            print(f"PIN {pin} refused: {rules(error)}")
        else:
            ok = report(False, f"PIN {pin} was accepted")
    print("The PIN chosen at enrolment (not shown) met the same rules.")
    code = app.code(SERIAL, FIRST_PIN, now=now)
    print(f"With that PIN the app shows: {code} ({tries(app.read().info(SERIAL).remaining_tries)})")
    return ok


def lock_with_wrong_pins(app: WalletFile, now: int) -> bool:
    """Chapter 9: five wrong PINs in a row lock the identity."""
    heading(9, "5 wrong PINs")
    print("Each attempt is stored before its PIN is checked, so killing the app mid-check counts.")
    said = []
    for attempt in range(1, 6):
        try:
            app.code(SERIAL, WRONG_PIN, now=now)
        except WrongPIN as error:
            said.append("wrong")
            print(f"wrong PIN {attempt}: wrong, {tries(error.remaining_tries)}")
        except PINLocked as error:
            said.append("locked" if error.just_now else "already locked")
            print(f"wrong PIN {attempt}: the identity is now locked")
        else:
            said.append("accepted")
    ok = report(["wrong"] * 4 + ["locked"] == said, "the wrong PINs did not end in a lock")
    try:
        app.code(SERIAL, FIRST_PIN, now=now)
    except PINLocked:
        print("Even the right PIN is now refused: the identity is locked.")
    else:
        ok = report(False, "the locked identity took a PIN")
    list_identities(app)
    return ok and app.read().info(SERIAL).status is Status.LOCKED


def show_reset_code(app: WalletFile) -> str:
    """Chapter 10: the locked app shows a 9-digit reset code for the user to read to the bank."""
    heading(10, "The reset code")
    reset_code = app.reset_code(SERIAL)
    print(f"The app shows reset code {display_reset_code(reset_code)}; the user reads it out.")
    return reset_code


def bank_answers(secret: bytes, reset_code: str) -> str:
    """Chapter 11: the bank, which holds the secret, computes the unlock code."""
    heading(11, "The bank computes the unlock code")
    unlock_code = compute_unlock_code(secret, SERIAL, reset_code)
    print(f"compute_unlock_code(secret, {SERIAL!r}, reset code) = {unlock_code}")
    print("(OCRA-1:HOTP-SHA256-8:QN09 over the reset code, RFC 6287, under a key from the secret)")
    return unlock_code


def unlock_with_new_pin(app: WalletFile, unlock_code: str, now: int) -> bool:
    """Chapter 12: a wrong code counts a try; the right one with the old PIN spends nothing;
    the right one with a new PIN unlocks."""
    heading(12, "Unlock with a new PIN")
    ok = True
    wrong = f"{(int(unlock_code) + 1) % 10**8:08d}"
    try:
        app.unlock(SERIAL, wrong, new_pin=NEW_PIN, now=now)
    except UnlockCodeRejected as error:
        print(f"A mistyped unlock code: not accepted, {tries(error.remaining_tries)}.")
    else:
        ok = report(False, "a wrong unlock code was accepted")
    try:
        app.unlock(SERIAL, unlock_code, new_pin=FIRST_PIN, now=now)
    except PINRejected as error:
        print(f"The right code with the previous PIN as the new one: refused ({rules(error)}).")
        print("The PIN history is consulted only now, after the code was proven; nothing spent.")
    else:
        ok = report(False, "the previous PIN was accepted as the new one")
    try:
        app.unlock(SERIAL, unlock_code, new_pin=NEW_PIN, now=now)
    except NotAccepted:
        ok = report(False, "the unlock code was not accepted")
    else:
        print("The right code with a good new PIN: unlocked.")
    list_identities(app)
    return ok and app.read().info(SERIAL).status is Status.ACTIVE


def code_after_unlock(app: WalletFile, secret: bytes, now: int) -> bool:
    """Chapter 13: the new PIN shows the code, and it is the bank's TOTP code for this time."""
    heading(13, "A code with the new PIN")
    code = app.code(SERIAL, NEW_PIN, now=now)
    expected = TOTP(secret).generate(now)
    print(f"With the new PIN the app shows: {code}")
    print(f"The bank's TOTP for the same time:  {expected}")
    ok = report(expected == code, "the codes differ")
    try:
        app.code(SERIAL, FIRST_PIN, now=now)
    except WrongPIN as error:
        print(f"The old PIN now gets: wrong, {tries(error.remaining_tries)}")
    else:
        ok = report(False, "the old PIN still works")
    return ok


def refuse_rollback(app: WalletFile, now: int) -> bool:
    """Chapter 14: copying back an older wallet file would restore spent tries; it is refused."""
    heading(14, "An old copy of the wallet")
    older = app.path.read_bytes()
    try:
        app.code(SERIAL, WRONG_PIN, now=now)
    except WrongPIN as error:
        print(f"Another wrong PIN: wrong, {tries(error.remaining_tries)}")
    app.path.write_bytes(older)
    print("Someone copies back the wallet file as it was before that wrong PIN.")
    try:
        app.code(SERIAL, NEW_PIN, now=now)
    except WalletRolledBack as error:
        print(f"The app refuses it: {error}.")
        return True
    return report(False, "the rolled-back wallet was accepted")


def app_story(now: int) -> bool:
    """Chapters 7 to 14; return whether every step had its expected outcome."""
    with tempfile.TemporaryDirectory(prefix="softtoken-demo-") as folder:
        app = open_app(Path(folder))
        secret = create_wallet(app)
        chose = choose_pin(app, now)
        if not lock_with_wrong_pins(app, now):
            return False
        unlock_code = bank_answers(secret, show_reset_code(app))
        if not unlock_with_new_pin(app, unlock_code, now):
            return False
        shown = code_after_unlock(app, secret, now)
        return chose and shown and refuse_rollback(app, now)


def offline_activation(now: int) -> bool:
    """Chapter 15: the bank shows a serial and an activation code, the app answers with a
    registration code, the bank completes, and the app's first code confirms the token."""
    heading(15, "Offline activation")
    serial = Serial.parse(ACTIVATION_SERIAL)
    activation_code, pending = offline.start(serial, now=now, kdf=APP_ACTIVATION_KDF)
    print(f"The bank's page shows serial {serial.display} and a one-time activation code,")
    print(f"{activation_code.display}, which expires in 72 hours.")
    with tempfile.TemporaryDirectory(prefix="softtoken-demo-") as folder:
        app = open_app(Path(folder))
        app.create(policy=IdentityPolicy.from_profile(ENTRUST_LIKE))
        shown: list[RegistrationCode] = []

        def activate(wallet: Wallet) -> Wallet:
            changed, registration = wallet.activate_offline(
                serial,
                activation_code.display,
                name="Banco Ejemplo",
                pin=FIRST_PIN,
                kdf=APP_ACTIVATION_KDF,
            )
            shown.append(registration)
            return changed

        app.update(activate)
        registration = shown[0]
        print(f"The app derives the secret and shows registration code {registration.display}.")
        typo = registration.display[:-1] + str((int(registration.display[-1]) + 1) % 10)
        try:
            RegistrationCode.parse(typo)
        except MistypedCode:
            print("A typo in it is caught by its check digit at the bank, and costs nothing.")
        outcome, pending, secret = offline.complete(
            pending, RegistrationCode.parse(registration.display), now=now
        )
        print(f"The bank derives the same secret: {outcome.value.replace('_', ' ')}.")
        first = app.code(serial, FIRST_PIN, now=now)
        outcome, pending, confirmed = offline.confirm(pending, first, now=now)
        print(f"The app's first code, {first}, confirms it: {outcome.value}.")
        return report(
            confirmed is not None
            and confirmed.secret == secret
            and TOTP(confirmed.secret).generate(now) == first,
            "the offline activation did not confirm",
        )


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
        offline_activation(now),
    ]
    print()
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
