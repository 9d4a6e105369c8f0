"""Tests for softtoken.app: the wallet of identities, its PINs, unlocks and sealed blob."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from softtoken import app, unlock
from softtoken._encoding import b32encode
from softtoken.app import CodeResult, IdentityInfo, Wallet, blob_key_id, device_key_id
from softtoken.exceptions import (
    AttemptNotOpen,
    DuplicateIdentity,
    InvalidInput,
    InvalidKey,
    InvalidTime,
    MalformedCode,
    PINRejected,
    SoftTokenError,
    UnknownIdentity,
    WalletCorrupt,
    WrongIdentityState,
)
from softtoken.hotp import HOTP, TOTP
from softtoken.pinlock import (
    ENTRUST_LIKE,
    INSECURE_TEST_KDF,
    PAYSECURE_LIKE,
    LockoutPolicy,
    Outcome,
    PINProfile,
    PINRejection,
    Status,
)
from softtoken.provisioning import build_uri
from softtoken.unlock import UnlockOutcome, UnlockPolicy

DEVICE_KEY = bytes(range(32))
OTHER_DEVICE_KEY = bytes(range(1, 33))
SERIAL = "93171-12184"
OTHER_SERIAL = "55501-00007"
# A canary: 32 recognisable bytes that must never show up in a repr, a message or a blob.
SECRET = b"CANARY-SECRET-7c1d0e-0123456789!"
OTHER_SECRET = b"OTHER-CANARY-SECRET-0123456789ab"
PIN = "2468"
NEW_PIN = "3579"
WRONG_PIN = "1357"
ENTRUST = attrs.evolve(ENTRUST_LIKE, kdf=INSECURE_TEST_KDF)
PAYSECURE = attrs.evolve(PAYSECURE_LIKE, kdf=INSECURE_TEST_KDF)
NOW = 1_700_000_000


def show(w: Wallet, serial: str, pin: str, *, now: int = NOW) -> tuple[Wallet, CodeResult]:
    """The safe sequence for a PIN: begin an attempt, then show the code."""
    return w.begin_attempt(serial, now=now).show_code(serial, pin, now=now)


def try_unlock(
    w: Wallet, serial: str, code: str, *, new_pin: str, now: int = NOW
) -> tuple[Wallet, UnlockOutcome]:
    """The safe sequence for an unlock code: begin an unlock attempt, then unlock."""
    return w.begin_attempt(serial, now=now, unlock=True).unlock(
        serial, code, new_pin=new_pin, now=now
    )


def reload(w: Wallet) -> Wallet:
    """*w* stored and read back, as an app does between the steps of the safe sequence."""
    return Wallet.from_bytes(
        w.to_bytes(), device_key=DEVICE_KEY, profile=w.profile, unlock_policy=w.unlock_policy
    )


def info(w: Wallet, serial: str = SERIAL) -> IdentityInfo:
    """The listing of one identity."""
    canonical = unlock.canonical_serial(serial)
    return next(i for i in w.identities() if i.serial == canonical)


def tries(w: Wallet, serial: str = SERIAL) -> list[int]:
    """The tries spent on each of the identity's reset codes, current first."""
    canonical = unlock.canonical_serial(serial)
    keys = next(i.keys for i in w._identities if i.serial == canonical)
    assert keys is not None
    return [escrow.tries for escrow in keys.escrows]


def wallet(profile: PINProfile = ENTRUST) -> Wallet:
    """A wallet with the seed identity (TOTP) and a second one (HOTP)."""
    empty = Wallet.create(device_key=DEVICE_KEY, profile=profile)
    one = empty.add_key(SERIAL, SECRET, name="PRODUBANCO", pin=PIN)
    return one.add_key(OTHER_SERIAL, OTHER_SECRET, name="Other bank", pin=PIN, kind="hotp")


def locked(w: Wallet, serial: str = SERIAL) -> Wallet:
    """*w* after five wrong PINs on *serial*."""
    for _ in range(5):
        w, _result = show(w, serial, WRONG_PIN)
    return w


def status(w: Wallet, serial: str) -> Status:
    canonical = unlock.canonical_serial(serial)
    return next(i.status for i in w.identities() if i.serial == canonical)


def bank_code(w: Wallet, serial: str = SERIAL, secret: bytes = SECRET) -> str:
    """What the bank answers to the reset code the app shows now."""
    return unlock.compute_unlock_code(secret, serial, w.reset_code(serial))


def wrong_code(code: str) -> str:
    """Another 8-digit code than *code*."""
    return f"{(int(code) + 1) % 10**8:08d}"


def reseal(body: bytes, device_key: bytes = DEVICE_KEY) -> bytes:
    """A blob with a correct header and tag around an arbitrary *body*."""
    nonce = bytes(12)
    header = app._HEADER.pack(app._MAGIC, app._FORMAT, device_key_id(device_key), nonce)
    key = app._hkdf(device_key, salt=None, info=app._WALLET_INFO)
    return header + AESGCM(key).encrypt(nonce, body, header)


def open_body(blob: bytes, device_key: bytes = DEVICE_KEY) -> bytes:
    """The decrypted body of *blob*."""
    size = app._HEADER.size
    key = app._hkdf(device_key, salt=None, info=app._WALLET_INFO)
    return AESGCM(key).decrypt(blob[size - 12 : size], blob[size:], blob[:size])


class TestSeedStory:
    def test_full_story(self) -> None:
        """Add, code, rename, lock after 5 wrong PINs, reset code, bank unlock, new PIN, code."""
        w = Wallet.create(device_key=DEVICE_KEY, profile=ENTRUST)
        w = w.add_key(SERIAL, SECRET, name="TESTING ENROLADO", pin=PIN)
        w, shown = show(w, SERIAL, PIN)
        assert shown.accepted
        assert TOTP(SECRET).generate(NOW) == shown.code

        w = w.rename(SERIAL, "PRODUBANCO")
        assert [("9317112184", "PRODUBANCO")] == [(i.serial, i.name) for i in w.identities()]

        for expected in (4, 3, 2, 1):
            w, result = show(w, SERIAL, WRONG_PIN)
            assert (Outcome.REJECTED, expected) == (result.outcome, result.remaining_tries)
        w, result = show(w, SERIAL, WRONG_PIN)
        assert Outcome.LOCKED_NOW == result.outcome
        assert Status.LOCKED == status(w, SERIAL)
        w, result = show(w, SERIAL, PIN)
        assert (Outcome.STILL_LOCKED, None) == (result.outcome, result.code)

        reset_code = w.reset_code(SERIAL)
        assert 9 == len(reset_code)
        assert reset_code.isdigit()
        assert unlock._damm_valid(reset_code)
        unlock_code = unlock.compute_unlock_code(SECRET, SERIAL, reset_code)

        # Refused new PINs count no try: the one open attempt goes on to the good new PIN.
        w = w.begin_attempt(SERIAL, now=NOW, unlock=True)
        for refused_pin, reason in (
            ("1111", PINRejection.REPEATED_DIGIT),
            ("1234", PINRejection.SEQUENTIAL),
            (PIN, PINRejection.RECENTLY_USED),
        ):
            with pytest.raises(PINRejected) as refused:
                w.unlock(SERIAL, unlock_code, new_pin=refused_pin, now=NOW)
            assert reason in refused.value.reasons
        w, outcome = w.unlock(SERIAL, unlock_code, new_pin=NEW_PIN, now=NOW)
        assert UnlockOutcome.UNLOCKED == outcome
        assert Status.ACTIVE == status(w, SERIAL)
        with pytest.raises(WrongIdentityState):
            try_unlock(w, SERIAL, unlock_code, new_pin="8642")

        w, result = show(w, SERIAL, PIN)
        assert Outcome.REJECTED == result.outcome
        w, shown = show(w, SERIAL, NEW_PIN, now=NOW + 30)
        assert TOTP(SECRET).generate(NOW + 30) == shown.code

    def test_default_kdf_parameters_work(self) -> None:
        """The real ENTRUST_LIKE profile (PHONE_KDF scrypt) adds an identity and shows its code."""
        w = Wallet.create(device_key=DEVICE_KEY, profile=ENTRUST_LIKE)
        w = w.add_key(SERIAL, SECRET, name="PRODUBANCO", pin=PIN)
        w = Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, profile=ENTRUST_LIKE)
        w, shown = show(w, SERIAL, PIN)
        assert TOTP(SECRET).generate(NOW) == shown.code


class TestLockout:
    def test_paysecure_wipe_leaves_other_identity_intact(self) -> None:
        """Under PAYSECURE_LIKE, 5 wrong PINs wipe that identity only; the other still works."""
        w = locked(wallet(PAYSECURE))
        assert Status.WIPED == status(w, SERIAL)
        assert Status.ACTIVE == status(w, OTHER_SERIAL)
        w, result = show(w, SERIAL, PIN)
        assert (Outcome.WIPED, None) == (result.outcome, result.code)
        with pytest.raises(WrongIdentityState):
            w.reset_code(SERIAL)
        w, shown = show(w, OTHER_SERIAL, PIN)
        assert HOTP(OTHER_SECRET).generate(0) == shown.code

    def test_wipe_erases_keys_in_the_stored_wallet(self) -> None:
        """A wiped identity keeps no encrypted secret, wrapped key or escrow after a reload."""
        w = locked(wallet(PAYSECURE))
        reloaded = Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, profile=PAYSECURE)
        keys = {i.serial: i.keys for i in reloaded._identities}
        assert None is keys["9317112184"]
        assert None is not keys["5550100007"]

    def test_lock_under_entrust_keeps_other_identity_usable(self) -> None:
        """Locking one identity leaves the other's PIN and code untouched."""
        w = locked(wallet())
        assert (Status.LOCKED, Status.ACTIVE) == (status(w, SERIAL), status(w, OTHER_SERIAL))
        w, shown = show(w, OTHER_SERIAL, PIN)
        assert shown.accepted

    def test_hotp_counter_advances(self) -> None:
        """Each code shown for an HOTP identity uses the next counter, and it persists."""
        w = wallet()
        codes = []
        for _ in range(3):
            w, shown = show(w, OTHER_SERIAL, PIN)
            w = Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, profile=ENTRUST)
            codes.append(shown.code)
        assert [HOTP(OTHER_SECRET).generate(n) for n in range(3)] == codes


class TestUnlock:
    def test_wrong_codes_move_to_next_reset_code_then_wipe(self) -> None:
        """max_tries wrong codes replace the reset code; after the last reset code, a wipe."""
        w = locked(wallet())
        seen = []
        outcomes = []
        for _ in range(3):
            seen.append(w.reset_code(SERIAL))
            for _ in range(3):
                w, outcome = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)
                outcomes.append(outcome)
        reject, new, wipe = UnlockOutcome.REJECTED, UnlockOutcome.NEW_RESET_CODE, UnlockOutcome.WIPE
        assert [reject, reject, new, reject, reject, new, reject, reject, wipe] == outcomes
        assert 3 == len(set(seen))
        assert Status.WIPED == status(w, SERIAL)
        assert Status.ACTIVE == status(w, OTHER_SERIAL)

    def test_replaced_reset_code_answer_is_refused(self) -> None:
        """The bank's answer to a reset code that ran out of tries no longer unlocks."""
        w = locked(wallet())
        stale = bank_code(w)
        for _ in range(3):
            w, _outcome = try_unlock(w, SERIAL, wrong_code(stale), new_pin=NEW_PIN)
        w, outcome = try_unlock(w, SERIAL, stale, new_pin=NEW_PIN)
        assert UnlockOutcome.REJECTED == outcome
        w, outcome = try_unlock(w, SERIAL, bank_code(w), new_pin=NEW_PIN)
        assert UnlockOutcome.UNLOCKED == outcome

    def test_used_reset_code_never_works_again(self) -> None:
        """After an unlock and a new lock, the old unlock code is refused; the reset code is new."""
        w = locked(wallet())
        first_reset, first_code = w.reset_code(SERIAL), bank_code(w)
        w, _outcome = try_unlock(w, SERIAL, first_code, new_pin=NEW_PIN)
        w = locked(w)
        assert first_reset not in {
            e.reset_code for i in w._identities if i.keys for e in i.keys.escrows
        }
        w, outcome = try_unlock(w, SERIAL, first_code, new_pin="8642")
        assert UnlockOutcome.REJECTED == outcome

    def test_unlock_code_of_other_identity_is_refused(self) -> None:
        """An unlock code computed with another identity's secret does not unlock."""
        w = locked(wallet())
        code = unlock.compute_unlock_code(OTHER_SECRET, SERIAL, w.reset_code(SERIAL))
        w, outcome = try_unlock(w, SERIAL, code, new_pin=NEW_PIN)
        assert UnlockOutcome.REJECTED == outcome

    def test_malformed_code_counts_nothing(self) -> None:
        """A code that is not 8 digits raises MalformedCode and leaves no trace."""
        w = locked(wallet()).begin_attempt(SERIAL, now=NOW, unlock=True)
        with pytest.raises(MalformedCode):
            w.unlock(SERIAL, "1234567", new_pin=NEW_PIN, now=NOW)
        with pytest.raises(TypeError):
            w.unlock(SERIAL, 12345678, new_pin=NEW_PIN, now=NOW)  # type: ignore[arg-type]
        # The attempt is still open, and the bank's code still unlocks in it.
        w, outcome = w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)
        assert UnlockOutcome.UNLOCKED == outcome

    def test_unlock_needs_a_locked_identity(self) -> None:
        """Unlocking and reading a reset code are refused while the identity is active."""
        w = wallet()
        with pytest.raises(WrongIdentityState):
            w.unlock(SERIAL, "12345678", new_pin=NEW_PIN, now=NOW)
        with pytest.raises(WrongIdentityState):
            w.begin_attempt(SERIAL, now=NOW, unlock=True)
        with pytest.raises(WrongIdentityState):
            w.reset_code(SERIAL)

    def test_check_new_pin(self) -> None:
        """check_new_pin applies the policy and the history without changing anything."""
        w = wallet()
        w.check_new_pin(SERIAL, NEW_PIN)
        with pytest.raises(PINRejected) as info:
            w.check_new_pin(SERIAL, PIN)
        assert frozenset({PINRejection.RECENTLY_USED}) == info.value.reasons

    def test_smaller_unlock_digits(self) -> None:
        """The unlock code length follows the UnlockPolicy, as the bank's digits must."""
        policy = UnlockPolicy(digits=6, max_reset_codes=1)
        w = Wallet.create(device_key=DEVICE_KEY, profile=ENTRUST, unlock_policy=policy)
        w = locked(w.add_key(SERIAL, SECRET, name="PRODUBANCO", pin=PIN))
        code = unlock.compute_unlock_code(SECRET, SERIAL, w.reset_code(SERIAL), digits=6)
        w, outcome = try_unlock(w, SERIAL, code, new_pin=NEW_PIN)
        assert UnlockOutcome.UNLOCKED == outcome


LOCKOUT_WITH_DELAY = PINProfile(
    ENTRUST.pin, LockoutPolicy(max_failures=5, delays=[30]), kdf=INSECURE_TEST_KDF
)


class TestPINAttempts:
    """A PIN attempt is stored open before the PIN is checked (decision 7)."""

    def test_interrupted_attempt_counts_as_a_wrong_pin(self) -> None:
        """begin, store, load, begin again: the first attempt is counted as a wrong PIN."""
        w = reload(wallet().begin_attempt(SERIAL, now=NOW))
        assert (5, True) == (info(w).remaining_tries, info(w).attempt_open)

        w = reload(w.begin_attempt(SERIAL, now=NOW))

        assert (4, True) == (info(w).remaining_tries, info(w).attempt_open)

    def test_right_pin_lost_before_the_save_still_counts(self) -> None:
        """A right PIN whose result was never stored is counted as wrong by the next begin."""
        stored = reload(wallet().begin_attempt(SERIAL, now=NOW))
        _lost, shown = stored.show_code(SERIAL, PIN, now=NOW)
        assert shown.accepted

        w = reload(stored.begin_attempt(SERIAL, now=NOW))

        assert 4 == info(w).remaining_tries

    @pytest.mark.parametrize(
        ("profile", "expected"),
        [(ENTRUST, Status.LOCKED), (PAYSECURE, Status.WIPED)],
        ids=["entrust-locks", "paysecure-wipes"],
    )
    def test_five_interrupted_attempts_reach_the_limit(
        self, profile: PINProfile, expected: Status
    ) -> None:
        """Five attempts begun and never finished lock (ENTRUST_LIKE) or wipe (PAYSECURE_LIKE)
        the identity at the next begin, and leave the other identity alone."""
        w = wallet(profile)
        for _ in range(5):
            w = reload(w.begin_attempt(SERIAL, now=NOW))
        assert (Status.ACTIVE, 1) == (status(w, SERIAL), info(w).remaining_tries)

        w = reload(w.begin_attempt(SERIAL, now=NOW))

        assert (expected, False) == (status(w, SERIAL), info(w).attempt_open)
        assert (Status.ACTIVE, 5) == (
            status(w, OTHER_SERIAL),
            info(w, OTHER_SERIAL).remaining_tries,
        )
        w, result = w.show_code(SERIAL, PIN, now=NOW)
        assert None is result.code

    def test_interrupted_wipe_erases_the_keys(self) -> None:
        """A wipe reached through interrupted attempts erases the identity's keys too."""
        w = wallet(PAYSECURE)
        for _ in range(6):
            w = reload(w.begin_attempt(SERIAL, now=NOW))

        keys = {i.serial: i.keys for i in w._identities}
        assert None is keys["9317112184"]
        assert None is not keys["5550100007"]

    def test_interrupted_lock_gives_a_reset_code_that_unlocks(self) -> None:
        """A lock reached through interrupted attempts unlocks like any other."""
        w = wallet()
        for _ in range(6):
            w = reload(w.begin_attempt(SERIAL, now=NOW))

        w, outcome = try_unlock(w, SERIAL, bank_code(w), new_pin=NEW_PIN)

        assert UnlockOutcome.UNLOCKED == outcome

    def test_right_pin_after_begin_resets_and_closes(self) -> None:
        """After two wrong PINs, begin and the right PIN give the code, 5 tries and no attempt."""
        w, _ = show(wallet(), SERIAL, WRONG_PIN)
        w, _ = show(w, SERIAL, WRONG_PIN)
        assert 3 == info(w).remaining_tries

        w, shown = reload(w.begin_attempt(SERIAL, now=NOW)).show_code(SERIAL, PIN, now=NOW)

        assert TOTP(SECRET).generate(NOW) == shown.code
        assert (5, False) == (info(w).remaining_tries, info(w).attempt_open)
        with pytest.raises(AttemptNotOpen):
            w.show_code(SERIAL, PIN, now=NOW)

    def test_wrong_pin_closes_the_attempt(self) -> None:
        """A wrong PIN is counted and closes the attempt, so the next check needs a new one."""
        w, result = show(wallet(), SERIAL, WRONG_PIN)

        assert (Outcome.REJECTED, False) == (result.outcome, info(w).attempt_open)
        with pytest.raises(AttemptNotOpen):
            w.show_code(SERIAL, WRONG_PIN, now=NOW)

    @pytest.mark.parametrize("pin", [PIN, WRONG_PIN])
    def test_show_code_without_an_attempt_evaluates_nothing(self, pin: str) -> None:
        """show_code with no open attempt raises AttemptNotOpen and counts nothing."""
        w = wallet()

        with pytest.raises(AttemptNotOpen):
            w.show_code(SERIAL, pin, now=NOW)

        assert 5 == info(w).remaining_tries

    def test_attempt_is_per_identity(self) -> None:
        """An attempt opened for one identity does not let the other's PIN be checked."""
        w = wallet().begin_attempt(SERIAL, now=NOW)

        with pytest.raises(AttemptNotOpen):
            w.show_code(OTHER_SERIAL, PIN, now=NOW)

    def test_locked_identity_is_reported_without_an_attempt(self) -> None:
        """A locked identity opens no PIN attempt, and show_code reports STILL_LOCKED anyway."""
        w = locked(wallet())

        assert w == w.begin_attempt(SERIAL, now=NOW)
        w, result = w.show_code(SERIAL, PIN, now=NOW)
        assert (Outcome.STILL_LOCKED, None) == (result.outcome, result.code)

    def test_waiting_identity_opens_nothing_and_reports_too_soon(self) -> None:
        """Within a delay, begin opens nothing and show_code reports TOO_SOON unevaluated."""
        w = Wallet.create(device_key=DEVICE_KEY, profile=LOCKOUT_WITH_DELAY)
        w = w.add_key(SERIAL, SECRET, name="PRODUBANCO", pin=PIN)
        w, _ = show(w, SERIAL, WRONG_PIN)

        w = w.begin_attempt(SERIAL, now=NOW + 10)
        w, result = w.show_code(SERIAL, PIN, now=NOW + 10)

        assert (Outcome.TOO_SOON, False, 4) == (
            result.outcome,
            info(w).attempt_open,
            info(w).remaining_tries,
        )

    def test_begin_checks_its_arguments(self) -> None:
        """An unknown serial, a non-bool unlock flag and a naive time are refused."""
        w = wallet()
        with pytest.raises(UnknownIdentity):
            w.begin_attempt("12345", now=NOW)
        with pytest.raises(TypeError):
            w.begin_attempt(SERIAL, now=NOW, unlock=1)  # type: ignore[arg-type]
        with pytest.raises(InvalidTime):
            w.begin_attempt(SERIAL, now=dt.datetime(2024, 1, 1))

    def test_check_new_pin_needs_no_attempt(self) -> None:
        """check_new_pin evaluates no secret, so it works without an attempt and opens none."""
        w = wallet()
        w.check_new_pin(SERIAL, NEW_PIN)
        assert not info(w).attempt_open


class TestUnlockAttempts:
    """An unlock code attempt is stored open before the code is tried (decision 7)."""

    def test_unlock_without_an_attempt_evaluates_nothing(self) -> None:
        """unlock with no open attempt raises AttemptNotOpen, even for the bank's right code."""
        w = locked(wallet())

        with pytest.raises(AttemptNotOpen):
            w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)

        assert Status.LOCKED == status(w, SERIAL)

    def test_pin_attempt_is_not_an_unlock_attempt(self) -> None:
        """A PIN attempt cannot be used to try an unlock code, nor the reverse."""
        w = locked(wallet())
        with pytest.raises(AttemptNotOpen):
            w.begin_attempt(SERIAL, now=NOW).unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)
        opened = w.begin_attempt(SERIAL, now=NOW, unlock=True)
        assert info(opened).attempt_open
        with pytest.raises(WrongIdentityState):
            wallet().begin_attempt(SERIAL, now=NOW, unlock=True)

    def test_interrupted_unlock_attempts_spend_reset_codes_then_wipe(self) -> None:
        """Each interrupted unlock attempt is one wrong code: three use up a reset code (no
        attempt is then opened), and after the last reset code the identity is wiped."""
        w = locked(wallet())
        seen, opened = [], []
        for _ in range(12):
            if status(w, SERIAL) is Status.LOCKED:
                seen.append(w.reset_code(SERIAL))
            w = reload(w.begin_attempt(SERIAL, now=NOW, unlock=True))
            opened.append(info(w).attempt_open)

        assert [True, True, True, False] * 2 + [True, True, True, False] == opened
        assert 3 == len(set(seen))
        assert Status.WIPED == status(w, SERIAL)
        assert Status.ACTIVE == status(w, OTHER_SERIAL)

    def test_interrupted_and_wrong_codes_share_the_tries(self) -> None:
        """One interrupted attempt and two wrong codes use up a reset code, as three wrong do."""
        w = locked(wallet())
        first = w.reset_code(SERIAL)
        w = reload(w.begin_attempt(SERIAL, now=NOW, unlock=True))

        w, second = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)
        w, third = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)

        assert (UnlockOutcome.REJECTED, UnlockOutcome.NEW_RESET_CODE) == (second, third)
        assert first != w.reset_code(SERIAL)

    def test_code_lost_before_the_save_still_counts(self) -> None:
        """The bank's right code, tried but never stored, is counted as wrong at the next begin;
        the same reset code still unlocks within its tries."""
        stored = reload(locked(wallet()).begin_attempt(SERIAL, now=NOW, unlock=True))
        _lost, outcome = stored.unlock(SERIAL, bank_code(stored), new_pin=NEW_PIN, now=NOW)
        assert UnlockOutcome.UNLOCKED == outcome

        w = reload(stored.begin_attempt(SERIAL, now=NOW, unlock=True))

        assert [1, 0, 0] == tries(w)
        w, outcome = w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)
        assert UnlockOutcome.UNLOCKED == outcome

    def test_refused_new_pin_keeps_the_attempt_and_counts_nothing(self) -> None:
        """A refused new PIN leaves the attempt open for the next code, and spends no try."""
        w = reload(locked(wallet()).begin_attempt(SERIAL, now=NOW, unlock=True))
        with pytest.raises(PINRejected):
            w.unlock(SERIAL, bank_code(w), new_pin=PIN, now=NOW)

        w, outcome = w.unlock(SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN, now=NOW)

        assert UnlockOutcome.REJECTED == outcome
        assert [1, 0, 0] == tries(w)

    def test_wrong_code_closes_the_attempt(self) -> None:
        """A wrong code is counted and closes the attempt."""
        w = locked(wallet())
        w, outcome = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)

        assert (UnlockOutcome.REJECTED, False) == (outcome, info(w).attempt_open)
        with pytest.raises(AttemptNotOpen):
            w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)

    def test_unlock_closes_the_attempt(self) -> None:
        """A successful unlock leaves an ACTIVE identity with no attempt open."""
        w = locked(wallet())
        w, _ = try_unlock(w, SERIAL, bank_code(w), new_pin=NEW_PIN)

        assert (Status.ACTIVE, False) == (status(w, SERIAL), info(w).attempt_open)


class TestEditing:
    def test_add_from_uri(self) -> None:
        """An otpauth URI's parameters and secret are kept; the issuer becomes the name."""
        uri = build_uri(SECRET, account="ana", issuer="Produbanco", algorithm="sha256", digits=8)
        w = Wallet.create(device_key=DEVICE_KEY, profile=ENTRUST).add_uri(
            uri, serial=SERIAL, pin=PIN
        )
        assert "Produbanco" == w.identities()[0].name
        w, shown = show(w, SERIAL, PIN)
        assert TOTP(SECRET, algorithm="sha256", digits=8).generate(NOW) == shown.code

    def test_add_hotp_uri_keeps_counter(self) -> None:
        """An HOTP URI's counter is where code generation starts."""
        uri = build_uri(SECRET, account="ana", kind="hotp", counter=7)
        w = Wallet.create(device_key=DEVICE_KEY, profile=ENTRUST)
        w = w.add_uri(uri, serial=SERIAL, pin=PIN, name="Mine")
        w, shown = show(w, SERIAL, PIN)
        assert HOTP(SECRET).generate(7) == shown.code

    def test_add_refuses_bad_pin(self) -> None:
        """The initial PIN must pass the policy."""
        with pytest.raises(PINRejected):
            Wallet.create(device_key=DEVICE_KEY, profile=ENTRUST).add_key(
                SERIAL, SECRET, name="x", pin="0000"
            )

    def test_add_refuses_duplicate_serial(self) -> None:
        """A serial, in any spelling, can be added once."""
        with pytest.raises(DuplicateIdentity):
            wallet().add_key("9317112184", SECRET, name="again", pin=PIN)

    def test_add_refuses_short_key(self) -> None:
        """Keys under 16 bytes are refused."""
        with pytest.raises(InvalidKey):
            wallet().add_key("1", SECRET[:10], name="short", pin=PIN)

    @pytest.mark.parametrize("name", ["", " lead", "trail ", "a\nb", "bidi\u202eevil", "x" * 65])
    def test_rename_refuses_bad_names(self, name: str) -> None:
        """Names are 1 to 64 printable characters without surrounding spaces."""
        with pytest.raises(InvalidInput):
            wallet().rename(SERIAL, name)

    def test_rename_accepts_unicode(self) -> None:
        """A printable non-ASCII name is kept, and survives the blob."""
        w = wallet().rename(SERIAL, "Banco Pichincha — ahorros ñ")
        w = Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, profile=ENTRUST)
        assert "Banco Pichincha — ahorros ñ" == w.identities()[0].name

    def test_delete(self) -> None:
        """Deleting one identity keeps the other."""
        w = wallet().delete(SERIAL)
        assert ["5550100007"] == [i.serial for i in w.identities()]
        with pytest.raises(UnknownIdentity):
            show(w, SERIAL, PIN)

    def test_unknown_identity(self) -> None:
        """Every operation on an unknown serial raises UnknownIdentity."""
        w = wallet()
        with pytest.raises(UnknownIdentity):
            w.rename("12345", "x")
        with pytest.raises(UnknownIdentity):
            w.reset_code("12345")


class TestBlob:
    def test_round_trip(self) -> None:
        """A wallet read back from its blob equals the original, in every state."""
        w = locked(wallet())
        w, _outcome = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)
        back = Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, profile=ENTRUST)
        assert w == back
        assert w.reset_code(SERIAL) == back.reset_code(SERIAL)

    def test_open_attempts_survive_the_blob(self) -> None:
        """An open PIN attempt and an open unlock attempt are both read back from the blob."""
        w = locked(wallet()).begin_attempt(SERIAL, now=NOW, unlock=True)
        w = w.begin_attempt(OTHER_SERIAL, now=NOW)

        back = reload(w)

        assert w == back
        assert [True, True] == [i.attempt_open for i in back.identities()]

    @pytest.mark.parametrize("value", [1, 2, 255])
    def test_unlock_attempt_flag_is_parsed_strictly(self, value: int) -> None:
        """An unlock attempt flag on an active identity, or a flag other than 0 or 1, is
        refused as WalletCorrupt."""
        body = open_body(wallet().to_bytes())
        # The flag follows each identity's 27-byte lockout state, itself prefixed by its length.
        state = b"\x00\x1bPL\x02"
        position = body.index(state) + 2 + 27
        assert 0 == body[position]
        edited = body[:position] + bytes([value]) + body[position + 1 :]

        with pytest.raises(WalletCorrupt):
            Wallet.from_bytes(reseal(edited), device_key=DEVICE_KEY, profile=ENTRUST)

    def test_unlock_attempt_flag_round_trips_when_locked(self) -> None:
        """The same byte set to 1 on a locked identity reads back as an open unlock attempt."""
        w = locked(wallet())
        body = open_body(w.to_bytes())
        position = body.index(b"\x00\x1bPL\x02") + 2 + 27
        edited = body[:position] + b"\x01" + body[position + 1 :]

        back = Wallet.from_bytes(reseal(edited), device_key=DEVICE_KEY, profile=ENTRUST)

        assert back == w.begin_attempt(SERIAL, now=NOW, unlock=True)

    def test_format_one_is_refused(self) -> None:
        """A blob of format 1, from before open attempts were stored, is refused."""
        blob = BLOB[:8] + b"\x01" + BLOB[9:]
        assert 2 == BLOB[8]

        with pytest.raises(WalletCorrupt):
            Wallet.from_bytes(blob, device_key=DEVICE_KEY, profile=ENTRUST)

    def test_blobs_are_fresh(self) -> None:
        """Two blobs of the same wallet differ (fresh nonce), and carry the device key's id."""
        w = wallet()
        first, second = w.to_bytes(), w.to_bytes()
        assert first != second
        assert device_key_id(DEVICE_KEY) == blob_key_id(first)
        assert device_key_id(DEVICE_KEY) != device_key_id(OTHER_DEVICE_KEY)

    @given(data=st.data())
    def test_any_flipped_bit_is_refused(self, data: st.DataObject) -> None:
        """Flipping any bits of any byte of the blob gives WalletCorrupt, never a wallet."""
        blob = BLOB
        position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
        mask = data.draw(st.integers(min_value=1, max_value=255))
        tampered = blob[:position] + bytes([blob[position] ^ mask]) + blob[position + 1 :]
        with pytest.raises(WalletCorrupt):
            Wallet.from_bytes(tampered, device_key=DEVICE_KEY, profile=ENTRUST)

    @given(length=st.integers(min_value=0, max_value=10_000))
    def test_truncation_is_refused(self, length: int) -> None:
        """Every proper prefix of the blob gives WalletCorrupt."""
        prefix = BLOB[: length % len(BLOB)]
        with pytest.raises(WalletCorrupt):
            Wallet.from_bytes(prefix, device_key=DEVICE_KEY, profile=ENTRUST)

    def test_extension_is_refused(self) -> None:
        """Bytes appended to a blob give WalletCorrupt."""
        with pytest.raises(WalletCorrupt):
            Wallet.from_bytes(BLOB + b"\x00", device_key=DEVICE_KEY, profile=ENTRUST)

    def test_wrong_device_key_is_refused(self) -> None:
        """A blob opened with another device key gives WalletCorrupt."""
        with pytest.raises(WalletCorrupt):
            Wallet.from_bytes(BLOB, device_key=OTHER_DEVICE_KEY, profile=ENTRUST)

    def test_wrong_key_with_forged_key_id_is_refused(self) -> None:
        """Even with the key id rewritten to match, another device key fails authentication."""
        size = app._HEADER.size
        forged = BLOB[:9] + device_key_id(OTHER_DEVICE_KEY) + BLOB[17:]
        assert size > 17
        with pytest.raises(WalletCorrupt):
            Wallet.from_bytes(forged, device_key=OTHER_DEVICE_KEY, profile=ENTRUST)

    def test_device_key_is_checked(self) -> None:
        """The device key must be 32 bytes."""
        with pytest.raises(InvalidKey):
            Wallet.create(device_key=DEVICE_KEY[:16])
        with pytest.raises(TypeError):
            Wallet.from_bytes(BLOB, device_key=DEVICE_KEY.hex())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Wallet.from_bytes(bytearray(BLOB), device_key=DEVICE_KEY)  # type: ignore[arg-type]

    @given(data=st.data())
    def test_resealed_garbage_body_is_refused_or_read(self, data: st.DataObject) -> None:
        """An authentic blob around an edited body is read or gives WalletCorrupt, nothing else."""
        body = BODY
        start = data.draw(st.integers(min_value=0, max_value=len(body)))
        end = data.draw(st.integers(min_value=start, max_value=min(len(body), start + 8)))
        insert = data.draw(st.binary(max_size=8))
        edited = body[:start] + insert + body[end:]
        # The assertion is that nothing but WalletCorrupt escapes: an edit inside a name, say,
        # still gives a valid wallet, while anything malformed must be refused cleanly.
        with contextlib.suppress(WalletCorrupt):
            Wallet.from_bytes(reseal(edited), device_key=DEVICE_KEY, profile=ENTRUST)

    def test_resealed_truncated_body_is_refused(self) -> None:
        """Every proper prefix of an authentic body gives WalletCorrupt."""
        for length in range(0, len(BODY), 7):
            with pytest.raises(WalletCorrupt):
                Wallet.from_bytes(reseal(BODY[:length]), device_key=DEVICE_KEY, profile=ENTRUST)

    def test_empty_wallet_round_trip(self) -> None:
        """An empty wallet survives the blob."""
        w = Wallet.create(device_key=DEVICE_KEY, profile=ENTRUST)
        assert w == Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, profile=ENTRUST)


BLOB = locked(wallet()).to_bytes()
BODY = open_body(BLOB)


class TestSave:
    def test_save_and_load(self, tmp_path: Path) -> None:
        """A saved wallet loads back equal, and no temporary file stays behind."""
        path = tmp_path / "wallet.bin"
        w = wallet()
        w.save(path)
        assert w == Wallet.load(path, device_key=DEVICE_KEY, profile=ENTRUST)
        assert ["wallet.bin"] == sorted(p.name for p in tmp_path.iterdir())

    def test_failed_save_keeps_old_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the rename fails, the previous file is intact and the temporary file is gone."""
        path = tmp_path / "wallet.bin"
        old = wallet()
        old.save(path)
        before = path.read_bytes()

        def broken_replace(src: object, dst: object) -> None:
            raise OSError("injected failure")

        monkeypatch.setattr(os, "replace", broken_replace)
        new, _result = show(old, SERIAL, WRONG_PIN)
        with pytest.raises(OSError, match="injected failure"):
            new.save(path)
        assert before == path.read_bytes()
        assert ["wallet.bin"] == sorted(p.name for p in tmp_path.iterdir())
        assert old == Wallet.load(path, device_key=DEVICE_KEY, profile=ENTRUST)


def canaries(secret: bytes) -> list[bytes]:
    """The forms in which *secret* could leak: raw, hex (both cases) and base32."""
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b32encode(secret).encode(),
        b32encode(secret).lower().encode(),
    ]


class TestNoLeaks:
    def test_blob_holds_no_canary(self) -> None:
        """The serialized wallet holds no secret, PIN-free form of it, or the device key."""
        for blob in (BLOB, wallet().to_bytes()):
            for canary in [*canaries(SECRET), *canaries(OTHER_SECRET), DEVICE_KEY]:
                assert canary not in blob

    def test_reprs_hold_no_secret(self) -> None:
        """Wallet, results and identity listings never show a key, code or reset code."""
        w = locked(wallet())
        reset_code = w.reset_code(SERIAL)
        w2, shown = show(wallet(), SERIAL, PIN)
        assert shown.code is not None
        texts = [repr(w), str(w), repr(w2), repr(shown), repr(w.identities()), repr(w._identities)]
        forbidden = [
            *(c.decode() for c in canaries(SECRET)),
            DEVICE_KEY.hex(),
            reset_code,
            shown.code,
            repr(DEVICE_KEY),
        ]
        for text in texts:
            for item in forbidden:
                assert item not in text
        assert "PRODUBANCO" in repr(w)

    def test_exception_messages_hold_no_input(self) -> None:
        """Errors raised by the wallet carry constant messages, never the input."""
        w = locked(wallet())
        errors: list[SoftTokenError] = []
        attempts: list[Callable[[], object]] = [
            lambda: Wallet.from_bytes(BLOB[:-1], device_key=DEVICE_KEY),
            lambda: Wallet.from_bytes(BLOB, device_key=OTHER_DEVICE_KEY),
            lambda: w.unlock(SERIAL, "99999999", new_pin="1111", now=NOW),
            lambda: w.unlock(SERIAL, "9999999", new_pin=NEW_PIN, now=NOW),
            lambda: w.unlock(SERIAL, "99999999", new_pin=NEW_PIN, now=NOW),
            lambda: wallet().show_code(SERIAL, "1111", now=NOW),
            lambda: w.rename("77777-1", "x"),
            lambda: w.rename(SERIAL, "bad\nname"),
            lambda: w.add_key(SERIAL, SECRET, name="dup", pin=NEW_PIN),
            lambda: wallet().reset_code(SERIAL),
        ]
        for attempt in attempts:
            with pytest.raises(SoftTokenError) as info:
                attempt()
            errors.append(info.value)
        for error in errors:
            text = str(error) + repr(error.args)
            for item in ["99999999", "9999999", "1111", "77777", "bad", SERIAL, "9317112184"]:
                assert item not in text
            for canary in canaries(SECRET):
                assert canary.decode() not in text

    def test_code_result_compares_by_value(self) -> None:
        """A CodeResult is a plain value; accepted is true only for ACCEPTED."""
        assert not CodeResult(Outcome.REJECTED, None, 4).accepted
        assert CodeResult(Outcome.ACCEPTED, "123456", 5).accepted
