"""The softtoken story, told with the library API.

Chapters 1 to 6 follow one TOTP token from creation to a refused replay. Chapters 7 to 14 tell
the app side: an Entrust-style wallet file holds an identity behind a PIN, five wrong PINs lock
it, the bank answers the app's reset code with an unlock code, a new PIN opens it again, and an
old copy of the wallet file is refused.

Chapters 15 to 23 tell the bank's story with the issuer service (``softtoken.issuer``) on a
SQLite file and the same app: a company's pool of tokens, an administrator's assignment, offline
activation (a serial and an activation code in, a registration code out), the first code that
confirms, a login and its refused replay, five wrong codes that block the token and the
administrator who unblocks it, a PIN reset answered by the issuer's unlock code, the seed's
release, and the audit trail, whose chain is checked.

Run it with ``make demo``, or ``python examples/demo.py``. It needs no network and finishes in
about twelve seconds, most of it the real scrypt hashing (``PHONE_KDF``, about 0.25 s a PIN;
``OFFLINE_KDF``, 0.5 s on each side of the one activation). Each chapter is a small function called
from :func:`main`. The bank, the company and the people are invented.

Keys are drawn from the CSPRNG and never printed: the token's ``repr`` hides the key and the URI
is shown masked. Only the QR code carries it, as it must for an authenticator app to scan it.
The wallet's secret, its device key and the PINs that are accepted are never printed either;
only the example PINs that the policy refuses are shown. The issuer's key ring is drawn fresh for
each run and only its ids are shown; the issuer never returns a seed.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from softtoken import TOTP, InvalidCode, Match, _random, generate_key
from softtoken._kdf import ScryptParams
from softtoken.app import DEVICE_KEY_LENGTH, FileVersionGuard, IdentityPolicy, Wallet, WalletFile
from softtoken.exceptions import (
    AuditChainBroken,
    MistypedCode,
    NotAccepted,
    PINLocked,
    PINRejected,
    UnlockCodeRejected,
    WalletRolledBack,
    WrongPIN,
)
from softtoken.issuer import (
    BlockReason,
    Issuer,
    Keyring,
    ReleaseReason,
    TokenInfo,
    TokenState,
)
from softtoken.issuer.stores import SQLStore
from softtoken.pinlock import ENTRUST_LIKE, PHONE_KDF, KDFParams, PINRejection, Status
from softtoken.provisioning import RegistrationCode, Serial, build_uri, parse_uri
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
# Demo inputs. The refused ones are printed, to show the policy; the accepted ones never are.
WEAK_PINS = ("1111", "1234")
FIRST_PIN = "2580"
WRONG_PIN = "9753"
NEW_PIN = "7413"
# The bank's story (chapters 15 to 23): an invented company, its user and the bank's staff.
COMPANY = "Comercial Andina"
USER = "laura.gomez"
ADMIN = "admin-sofia"
HELP_DESK = "helpdesk-diego"
POOL_SIZE = 3
# Seconds between the bank's scenes, so that each login falls in a later TOTP step than the
# one before it (nothing at or below the last accepted step is accepted, RFC 6238 §5.2).
STEP = 30


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


# How the demo says the issuer's states and reasons in words: long for sentences, short for the
# audit table.
STATES = {
    TokenState.AVAILABLE: "in the bank's stock",
    TokenState.POOL: "in the company's pool",
    TokenState.ASSIGNED: "assigned, activation pending",
    TokenState.PENDING_CONFIRMATION: "waiting for its first code",
    TokenState.ACTIVE: "active",
    TokenState.BLOCKED: "blocked",
    TokenState.RELEASE_PENDING: "release pending",
    TokenState.DELETED: "deleted",
}
SHORT_STATES = {
    TokenState.AVAILABLE: "stock",
    TokenState.POOL: "pool",
    TokenState.ASSIGNED: "assigned",
    TokenState.PENDING_CONFIRMATION: "first code",
    TokenState.ACTIVE: "active",
    TokenState.BLOCKED: "blocked",
    TokenState.RELEASE_PENDING: "release pending",
    TokenState.DELETED: "deleted",
}
REASONS = {
    BlockReason.USER_INACTIVE.value: "user inactive",
    BlockReason.CUSTOMER_REQUEST.value: "customer request",
    BlockReason.DEVICE_LOST_OR_STOLEN.value: "device lost or stolen",
    BlockReason.DEVICE_CHANGE.value: "device change",
    BlockReason.TECHNICAL_FAILURE.value: "technical failure",
    BlockReason.TOO_MANY_FAILURES.value: "too many failures",
    ReleaseReason.ASSIGNMENT_ERROR.value: "assignment error",
    ReleaseReason.USER_LEFT_COMPANY.value: "user no longer with the company",
    ReleaseReason.SEED_RELEASE.value: "seed release",
}
# The widths of the audit table's columns.
COLUMNS = (("seq", 3), ("time", 8), ("action", 19), ("actor", 14), ("reason", 25))


def describe(info: TokenInfo) -> str:
    """One line for a token: serial, state (and why), and user. Never a secret."""
    state = STATES[info.state]
    if info.block_reason is not None:
        state += f" ({REASONS[info.block_reason.value]})"
    user = "" if info.user is None else f", user {info.user}"
    return f"{info.serial.display}  {state}{user}"


def login(issuer: Issuer, code: str, at: int) -> bool:
    """The bank's login page checks *code* for the user; print the outcome, return acceptance."""
    try:
        match = issuer.verify(code, user=USER, at=at)
    except InvalidCode as error:
        # The same message for a wrong code, a replay and a blocked token (SECURITY.md S8).
        print(f"login with {code}: refused: {error}")
        return False
    print(f"login with {code}: accepted (step {match.counter}, drift {match.offset})")
    return True


@contextmanager
def bank(folder: Path) -> Iterator[Issuer]:
    """The bank's issuer service on a SQLite file in *folder*, with a fresh key ring."""
    # In production the key ring comes from outside the database (SOFTTOKEN_KEYRING or a file);
    # here a fresh one is drawn for the run, and only its ids are ever shown.
    keyring = Keyring.parse(Keyring.new_entry("k1"))
    store = SQLStore(f"sqlite:///{folder / 'issuer.db'}")
    try:
        yield Issuer(store, keyring)
    finally:
        store.close()


def company_pool(issuer: Issuer, now: int) -> Serial:
    """Chapter 15: the bank puts a company's tokens in its pool; return the first serial."""
    heading(15, "A company's pool of tokens")
    print("The bank's issuer runs on a SQLite file (WAL mode); a key ring seals its records.")
    print(f"{issuer!r}: the key ring shows its ids, never a key.")
    serials = issuer.create_tokens(POOL_SIZE, pool=COMPANY, actor=ADMIN, at=now)
    print(f"issuer.create_tokens({POOL_SIZE}, pool={COMPANY!r}) puts {len(serials)} new tokens")
    print("in the company's pool ('Asignado Empresa' in Spanish-language bank consoles):")
    for info in issuer.tokens(pool=COMPANY):
        print(f"  {describe(info)}")
    return serials[0]


def assign_token(issuer: Issuer, serial: Serial, now: int) -> bool:
    """Chapter 16: the company's administrator assigns one token to a user."""
    heading(16, "The administrator assigns one")
    issuer.assign(serial, user=USER, actor=ADMIN, at=now)
    info = issuer.token(serial)
    print(f"{ADMIN} assigns {serial.display} to {USER}:")
    print(f"  {describe(info)}")
    return report(TokenState.ASSIGNED is info.state, "the token was not assigned")


def activate_with_app(issuer: Issuer, app: WalletFile, serial: Serial, now: int) -> bool:
    """Chapter 17: offline activation. The bank shows a serial and an activation code, the app
    answers with a registration code, and the bank derives the same seed."""
    heading(17, "Offline activation")
    started = issuer.start_offline_activation(serial, actor=ADMIN, kdf=APP_ACTIVATION_KDF, at=now)
    print(f"The bank's page shows serial {serial.display} and a one-time activation code,")
    print(f"{started.activation_code.display}, which expires in 72 hours.")
    print("The issuer keeps only a key derived from it, sealed.")
    app.create(policy=IdentityPolicy.from_profile(ENTRUST_LIKE))
    shown: list[RegistrationCode] = []

    def activate(wallet: Wallet) -> Wallet:
        changed, registration = wallet.activate_offline(
            serial,
            started.activation_code.display,
            name=ISSUER,
            pin=FIRST_PIN,
            kdf=APP_ACTIVATION_KDF,
        )
        shown.append(registration)
        return changed

    app.update(activate)
    registration = shown[0].display
    print(f"{USER} types both into the app, which derives the seed and shows")
    print(f"registration code {registration}.")
    typo = registration[:-1] + str((int(registration[-1]) + 1) % 10)
    try:
        issuer.complete_offline_activation(serial, typo, at=now)
    except MistypedCode:
        print("A typo in it is caught by its check digit at the bank, and costs nothing.")
    issuer.complete_offline_activation(serial, registration, at=now)
    info = issuer.token(serial)
    print("Typed right, the issuer derives the same seed, and waits for the first code:")
    print(f"  {describe(info)}")
    return report(TokenState.PENDING_CONFIRMATION is info.state, "the activation did not complete")


def first_code(issuer: Issuer, app: WalletFile, serial: Serial, now: int) -> bool:
    """Chapter 18: the app's first code confirms the activation; the token is active."""
    heading(18, "The first code confirms")
    code = app.code(serial, FIRST_PIN, now=now)
    print(f"With her PIN (not shown) the app shows {code}; she types it into the bank's page.")
    try:
        match = issuer.confirm_activation(serial, code, at=now)
    except InvalidCode:
        return report(False, "the first code was refused")
    print(f"issuer.confirm_activation: accepted at step {match.counter}")
    info = issuer.token(serial)
    print(f"  {describe(info)}")
    return report(TokenState.ACTIVE is info.state, "the token is not active")


def login_and_replay(issuer: Issuer, app: WalletFile, serial: Serial, at: int) -> bool:
    """Chapter 19: a login code is accepted once; the same code again is refused."""
    heading(19, "A login, and its replay")
    code = app.code(serial, FIRST_PIN, now=at)
    ok = report(login(issuer, code, at), "the login code was refused")
    print("Someone who saw the code types it again, within the same 30 seconds:")
    ok = report(not login(issuer, code, at), "the replayed code was accepted") and ok
    failures = issuer.token(serial).failures
    print(f"The audit trail records it as a replay; it counts as a failure ({failures} so far).")
    return ok


def block_and_unblock(issuer: Issuer, app: WalletFile, serial: Serial, at: int) -> bool:
    """Chapter 20: five wrong codes block the token; an administrator unblocks it with a note."""
    heading(20, "Five wrong codes block it")
    ok = report(login(issuer, app.code(serial, FIRST_PIN, now=at), at), "the login was refused")
    print("A success sets the failure count back to 0. Then someone guesses:")
    limit = issuer.policy.max_failures
    for attempt in range(1, limit + 1):
        # A guess matches by chance about once in a million tries (s·v/10^d, SECURITY.md S6).
        guess = f"{(123_457 * attempt) % 10**6:06d}"
        try:
            issuer.verify(guess, user=USER, at=at)
        except InvalidCode:
            info = issuer.token(serial)
            print(f"wrong code {attempt}: refused, {info.failures} of {limit} failures counted")
        else:
            ok = report(False, "a guessed code was accepted")
    info = issuer.token(serial)
    print(f"  {describe(info)}")
    ok = report(BlockReason.TOO_MANY_FAILURES is info.block_reason, "not blocked") and ok
    later = at + STEP
    print("Even the app's right code is now refused:")
    code = app.code(serial, FIRST_PIN, now=later)
    ok = report(not login(issuer, code, later), "the blocked token took a code") and ok
    note = "identity checked by phone"
    issuer.unblock(serial, actor=ADMIN, note=note, at=later)
    info = issuer.token(serial)
    print(f"{ADMIN} unblocks it, with the note {note!r}:")
    print(f"  {describe(info)}, {info.failures} failures")
    return report(TokenState.ACTIVE is info.state, "the token was not unblocked") and ok


def pin_reset(issuer: Issuer, app: WalletFile, serial: Serial, at: int) -> bool:
    """Chapter 21: the app locks after wrong PINs; the issuer's unlock code answers its reset
    code, and a new PIN is set."""
    heading(21, "A PIN reset, answered by the issuer")
    said = []
    for _ in range(5):
        try:
            app.code(serial, WRONG_PIN, now=at)
        except WrongPIN:
            said.append("wrong")
        except PINLocked:
            said.append("locked")
    print(f"{USER} forgets her PIN: {', '.join(said)}.")
    if not report(["wrong"] * 4 + ["locked"] == said, "the wrong PINs did not lock the app"):
        return False
    reset_code = app.reset_code(serial)
    print(f"The app shows reset code {display_reset_code(reset_code)}; she reads it to the bank.")
    unlock_code = issuer.unlock_code(serial, reset_code, actor=HELP_DESK, at=at)
    print(f"issuer.unlock_code(serial, reset code, actor={HELP_DESK!r}) = {unlock_code}")
    try:
        app.unlock(serial, unlock_code, new_pin=NEW_PIN, now=at)
    except NotAccepted:
        return report(False, "the app refused the issuer's unlock code")
    print("The app accepts the unlock code, and she sets a new PIN (not shown).")
    later = at + STEP
    code = app.code(serial, NEW_PIN, now=later)
    return report(login(issuer, code, later), "the code under the new PIN was refused")


def release_seed(issuer: Issuer, app: WalletFile, serial: Serial, at: int) -> bool:
    """Chapter 22: the seed is released with a reason; the token goes back to the company's pool
    and the app's codes are refused."""
    heading(22, "The seed is released")
    reason = ReleaseReason.SEED_RELEASE
    issuer.release(serial, reason, actor=ADMIN, at=at)
    info = issuer.token(serial)
    print(f"{ADMIN} releases it with the reason {REASONS[reason.value]!r}:")
    print(f"  {describe(info)}")
    print("Its seed is destroyed; a new activation would make a new one.")
    later = at + STEP
    code = app.code(serial, NEW_PIN, now=later)
    print("The app still shows codes, and the bank refuses them:")
    ok = report(not login(issuer, code, later), "a released token's code was accepted")
    try:
        issuer.verify(code, serial=serial, at=later)
    except InvalidCode as error:
        print(f"by serial {serial.display}: refused: {error}")
    else:
        ok = report(False, "a released token's code was accepted by serial")
    released = TokenState.POOL is info.state and info.user is None
    return report(released, "the token is not back in the pool") and ok


def state_word(value: str | None) -> str:
    """A state as stored in an audit event, in the table's short words."""
    return "-" if value is None else SHORT_STATES[TokenState(value)]


def audit_row(cells: tuple[str, ...], states: str, outcome: str) -> str:
    """One line of the audit table."""
    padded = [
        f"{cell:>{width}}" if name == "seq" else f"{cell:<{width}}"
        for cell, (name, width) in zip(cells, COLUMNS, strict=True)
    ]
    return "  ".join([*padded, f"{states:<29}", outcome]).rstrip()


def audit_trail(issuer: Issuer, serial: Serial, database: Path) -> bool:
    """Chapter 23: the token's audit trail as a table; its chain verifies, and an edit made in
    the database is found."""
    heading(23, "The audit trail")
    print(f"issuer.audit({str(serial)!r}), times in UTC. No event holds a seed, code or PIN.")
    print(audit_row(tuple(name for name, _ in COLUMNS), "before -> after", "outcome"))
    events = issuer.audit(serial)
    for event in events:
        at = dt.datetime.fromtimestamp(event.at, dt.UTC).strftime("%H:%M:%S")
        reason = REASONS.get(event.reason or "", event.reason or "-")
        cells = (str(event.seq), at, event.action.replace("_", " "), event.actor or "-", reason)
        states = f"{state_word(event.before)} -> {state_word(event.after)}"
        print(audit_row(cells, states, event.outcome.replace("_", " ")))
    checked = issuer.verify_audit(serial)
    print(f"issuer.verify_audit: the chain of {checked} events verifies (an HMAC per event).")
    ok = report(len(events) == checked, "the chain did not cover every event")
    # Someone with write access to the database rewrites who assigned the token.
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "UPDATE softtoken_audit SET actor = 'someone-else' WHERE subject = ? AND seq = 2",
            (str(serial),),
        )
    print("Someone edits event 2's actor in the database:")
    try:
        issuer.verify_audit(serial)
    except AuditChainBroken as error:
        print(f"issuer.verify_audit: {error} (from event {error.position})")
        return ok
    return report(False, "the edited trail verified")


def bank_story(now: int) -> bool:
    """Chapters 15 to 23; return whether every step had its expected outcome. The story stops
    at the first chapter that went wrong, since each builds on the one before."""
    with tempfile.TemporaryDirectory(prefix="softtoken-demo-") as name:
        folder = Path(name)
        with bank(folder) as issuer:
            app = open_app(folder)
            serial = company_pool(issuer, now)
            # Each scene happens a little later than the one before, one TOTP step or more.
            chapters: list[Callable[[], bool]] = [
                lambda: assign_token(issuer, serial, now),
                lambda: activate_with_app(issuer, app, serial, now),
                lambda: first_code(issuer, app, serial, now),
                lambda: login_and_replay(issuer, app, serial, now + STEP),
                lambda: block_and_unblock(issuer, app, serial, now + 2 * STEP),
                lambda: pin_reset(issuer, app, serial, now + 4 * STEP),
                lambda: release_seed(issuer, app, serial, now + 6 * STEP),
                lambda: audit_trail(issuer, serial, folder / "issuer.db"),
            ]
            return all(chapter() for chapter in chapters)


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
        bank_story(now),
    ]
    print()
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
