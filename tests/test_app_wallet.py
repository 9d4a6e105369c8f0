"""Tests for softtoken.app.Wallet: identities, PINs, lockout, unlock and policies."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from softtoken._checkdigit import damm_valid
from softtoken.app import IdentityPolicy, Wallet
from softtoken.exceptions import (
    AttemptNotOpen,
    DuplicateIdentity,
    InvalidInput,
    InvalidTime,
    KeyTooShort,
    MalformedCode,
    PINRejected,
    UnknownIdentity,
    WrongIdentityState,
)
from softtoken.hotp import HOTP, TOTP
from softtoken.pinlock import (
    INSECURE_TEST_KDF,
    KDFParams,
    LockoutPolicy,
    OnLimit,
    Outcome,
    PINPolicy,
    PINRejection,
    Status,
)
from softtoken.provisioning import build_uri
from softtoken.unlock import UnlockOutcome, UnlockPolicy, compute_unlock_code
from tests.wallets import (
    DELAYED,
    DEVICE_KEY,
    ENTRUST,
    FAST,
    NEW_PIN,
    NOW,
    OTHER_SECRET,
    OTHER_SERIAL,
    PAYSECURE,
    PIN,
    SECRET,
    SERIAL,
    THIRD_SERIAL,
    UNKNOWN_SERIAL,
    WRONG_PIN,
    bank_code,
    info,
    locked,
    reload,
    show,
    try_unlock,
    wallet,
    wrong_code,
)


def keys_of(w: Wallet, serial: str = SERIAL) -> object:
    """The sealed keys of one identity (None once wiped)."""
    return next(i.keys for i in w._identities if i.serial == w.info(serial).serial)


class TestSeedStory:
    """The seed's story, end to end on the pure wallet."""

    def test_full_story(self) -> None:
        """Add, code, rename, lock after 5 wrong PINs, reset code, bank unlock, new PIN, code."""
        w = Wallet.create(device_key=DEVICE_KEY, kdf=FAST)
        w = w.add_key(SERIAL, SECRET, name="TESTING ENROLADO", pin=PIN)
        w, shown = show(w, SERIAL, PIN)
        assert TOTP(SECRET).generate(NOW) == shown.code

        w = w.rename(SERIAL, "PRODUBANCO")
        assert [("9317112184", "PRODUBANCO")] == [(str(i.serial), i.name) for i in w.identities()]

        for expected in (4, 3, 2, 1):
            w, result = show(w, SERIAL, WRONG_PIN)
            assert (Outcome.REJECTED, expected) == (result.outcome, result.remaining_tries)
        w, result = show(w, SERIAL, WRONG_PIN)
        assert Outcome.LOCKED_NOW == result.outcome
        w, result = show(w, SERIAL, PIN)
        assert (Outcome.STILL_LOCKED, None) == (result.outcome, result.code)

        reset_code = w.reset_code(SERIAL)
        assert 9 == len(reset_code)
        assert damm_valid(reset_code)
        unlock_code = compute_unlock_code(SECRET, SERIAL, reset_code)

        # Rule-breaking new PINs are refused before an attempt is opened, and count nothing.
        for refused_pin, reason in (
            ("1111", PINRejection.REPEATED_DIGIT),
            ("1234", PINRejection.SEQUENTIAL),
        ):
            with pytest.raises(PINRejected) as refused:
                w.check_new_pin(SERIAL, refused_pin)
            assert reason in refused.value.reasons
        # The previous PIN is refused only once the unlock code was proven, and spends nothing.
        w, refused_result = try_unlock(w, SERIAL, unlock_code, new_pin=PIN)
        assert (UnlockOutcome.PIN_REFUSED, 3) == (
            refused_result.outcome,
            refused_result.remaining_tries,
        )
        assert frozenset({PINRejection.RECENTLY_USED}) == refused_result.rejections
        w, unlocked = try_unlock(w, SERIAL, unlock_code, new_pin=NEW_PIN)
        assert unlocked.accepted
        assert Status.ACTIVE == info(w).status
        with pytest.raises(WrongIdentityState):
            try_unlock(w, SERIAL, unlock_code, new_pin="8642")

        w, result = show(w, SERIAL, PIN)
        assert Outcome.REJECTED == result.outcome
        w, shown = show(w, SERIAL, NEW_PIN, now=NOW + 30)
        assert TOTP(SECRET).generate(NOW + 30) == shown.code

    def test_default_kdf_parameters_work(self) -> None:
        """The real PHONE_KDF parameters add an identity and show its code."""
        w = Wallet.create(device_key=DEVICE_KEY)
        w = w.add_key(SERIAL, SECRET, name="PRODUBANCO", pin=PIN, policy=UnlockOnce)
        w = Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY)
        w, shown = show(w, SERIAL, PIN)
        assert TOTP(SECRET).generate(NOW) == shown.code


# One reset code keeps the PHONE_KDF test to three slow hashes (enrol, escrow, entry).
UnlockOnce = IdentityPolicy(PINPolicy(), LockoutPolicy(), UnlockPolicy(max_reset_codes=1))


class TestPolicies:
    """Each identity keeps the policy it was added with; nothing given later changes it."""

    def test_paysecure_wipe_leaves_other_identity_intact(self) -> None:
        """Under a wiping policy, 5 wrong PINs wipe that identity only; the other still works."""
        w = locked(wallet(PAYSECURE))
        assert (Status.WIPED, Status.ACTIVE) == (info(w).status, info(w, OTHER_SERIAL).status)
        w, result = show(w, SERIAL, PIN)
        assert (Outcome.WIPED, None) == (result.outcome, result.code)
        with pytest.raises(WrongIdentityState):
            w.reset_code(SERIAL)
        w, shown = show(w, OTHER_SERIAL, PIN)
        assert HOTP(OTHER_SECRET).generate(0) == shown.code

    def test_policy_is_read_back_from_the_blob(self) -> None:
        """A wallet opened with no policy argument still wipes a PaySecure-style identity."""
        w = Wallet.create(device_key=DEVICE_KEY, kdf=FAST)
        w = w.add_key(SERIAL, SECRET, name="Bank", pin=PIN, policy=PAYSECURE)
        w = locked(reload(w))
        assert Status.WIPED == info(w).status
        assert info(w).wipes

    def test_identities_keep_their_own_policies(self) -> None:
        """One wallet holds a locking and a wiping identity side by side."""
        w = wallet(ENTRUST).add_key(THIRD_SERIAL, SECRET, name="Wipes", pin=PIN, policy=PAYSECURE)
        w = locked(locked(reload(w)), THIRD_SERIAL)
        assert (Status.LOCKED, Status.WIPED) == (info(w).status, info(w, THIRD_SERIAL).status)

    def test_the_default_policy_is_stored(self) -> None:
        """The wallet's default policy for new identities survives the blob."""
        w = reload(Wallet.create(device_key=DEVICE_KEY, policy=PAYSECURE, kdf=FAST))
        assert PAYSECURE == w.policy

    def test_lock_keeps_other_identity_usable(self) -> None:
        """Locking one identity leaves the other's PIN and code untouched."""
        w = locked(wallet())
        assert (Status.LOCKED, Status.ACTIVE) == (info(w).status, info(w, OTHER_SERIAL).status)
        assert show(w, OTHER_SERIAL, PIN)[1].accepted

    def test_hotp_counter_advances(self) -> None:
        """Each code shown for an HOTP identity uses the next counter, and it persists."""
        w = wallet()
        codes = []
        for _ in range(3):
            w, shown = show(w, OTHER_SERIAL, PIN)
            w = reload(w)
            codes.append(shown.code)
        assert [HOTP(OTHER_SECRET).generate(n) for n in range(3)] == codes


class TestRehash:
    """A verifier made with older KDF parameters is upgraded after a correct PIN."""

    NEWER = KDFParams(log2_n=5, r=8, p=1)

    def test_correct_pin_upgrades_the_verifier(self) -> None:
        """After the right PIN under new parameters, the verifier and escrows use them."""
        w = attrs.evolve(wallet(), kdf=self.NEWER)
        assert INSECURE_TEST_KDF == keys_of(w).verifier.params  # type: ignore[attr-defined]
        w, shown = show(w, SERIAL, PIN)
        assert shown.accepted
        assert self.NEWER == keys_of(w).verifier.params  # type: ignore[attr-defined]
        assert INSECURE_TEST_KDF == keys_of(w, OTHER_SERIAL).verifier.params  # type: ignore[attr-defined]

    def test_upgraded_identity_still_opens_and_unlocks(self) -> None:
        """The upgraded PIN shows codes, and the remade escrows still unlock."""
        w = attrs.evolve(wallet(), kdf=self.NEWER)
        w, _ = show(w, SERIAL, PIN)
        w = Wallet.from_bytes(w.to_bytes(), device_key=DEVICE_KEY, kdf=self.NEWER)
        assert show(w, SERIAL, PIN)[1].accepted
        w = locked(w)
        w, result = try_unlock(w, SERIAL, bank_code(w), new_pin=NEW_PIN)
        assert result.accepted

    def test_a_wrong_pin_upgrades_nothing(self) -> None:
        """Without the PIN at hand nothing is rehashed."""
        w = attrs.evolve(wallet(), kdf=self.NEWER)
        w, _ = show(w, SERIAL, WRONG_PIN)
        assert INSECURE_TEST_KDF == keys_of(w).verifier.params  # type: ignore[attr-defined]


class TestUnlock:
    """The bank's unlock code reopens a locked identity under a new PIN."""

    def test_wrong_codes_move_to_next_reset_code_then_wipe(self) -> None:
        """max_tries wrong codes replace the reset code; after the last reset code, a wipe."""
        w = locked(wallet())
        seen, outcomes = [], []
        for _ in range(3):
            seen.append(w.reset_code(SERIAL))
            for _ in range(3):
                w, result = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)
                outcomes.append((result.outcome, result.remaining_tries))
        reject, new, wipe = UnlockOutcome.REJECTED, UnlockOutcome.NEW_RESET_CODE, UnlockOutcome.WIPE
        assert [(reject, 2), (reject, 1), (new, 3)] * 2 + [(reject, 2), (reject, 1), (wipe, 0)] == (
            outcomes
        )
        assert 3 == len(set(seen))
        assert (Status.WIPED, Status.ACTIVE) == (info(w).status, info(w, OTHER_SERIAL).status)

    def test_replaced_reset_code_answer_is_refused(self) -> None:
        """The bank's answer to a reset code that ran out of tries no longer unlocks."""
        w = locked(wallet())
        stale = bank_code(w)
        for _ in range(3):
            w, _result = try_unlock(w, SERIAL, wrong_code(stale), new_pin=NEW_PIN)
        w, result = try_unlock(w, SERIAL, stale, new_pin=NEW_PIN)
        assert UnlockOutcome.REJECTED == result.outcome
        w, result = try_unlock(w, SERIAL, bank_code(w), new_pin=NEW_PIN)
        assert UnlockOutcome.UNLOCKED == result.outcome

    def test_used_reset_code_never_works_again(self) -> None:
        """After an unlock and a new lock, the old unlock code is refused; the reset code is new."""
        w = locked(wallet())
        first_reset, first_code = w.reset_code(SERIAL), bank_code(w)
        w, _result = try_unlock(w, SERIAL, first_code, new_pin=NEW_PIN)
        w = locked(w)
        assert first_reset != w.reset_code(SERIAL)
        w, result = try_unlock(w, SERIAL, first_code, new_pin="8642")
        assert UnlockOutcome.REJECTED == result.outcome

    def test_unlock_code_of_other_identity_is_refused(self) -> None:
        """An unlock code computed with another identity's secret does not unlock."""
        w = locked(wallet())
        code = compute_unlock_code(OTHER_SECRET, SERIAL, w.reset_code(SERIAL))
        w, result = try_unlock(w, SERIAL, code, new_pin=NEW_PIN)
        assert UnlockOutcome.REJECTED == result.outcome

    def test_malformed_code_and_bad_pin_count_nothing(self) -> None:
        """A malformed code or a rule-breaking PIN raises, and the attempt stays open."""
        w = locked(wallet()).begin_attempt(SERIAL, now=NOW, unlock=True)
        with pytest.raises(MalformedCode):
            w.unlock(SERIAL, "1234567", new_pin=NEW_PIN, now=NOW)
        with pytest.raises(TypeError):
            w.unlock(SERIAL, 12345678, new_pin=NEW_PIN, now=NOW)  # type: ignore[arg-type]
        with pytest.raises(PINRejected):
            w.unlock(SERIAL, bank_code(w), new_pin="1111", now=NOW)
        w, result = w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)
        assert UnlockOutcome.UNLOCKED == result.outcome

    def test_unlock_needs_a_locked_identity(self) -> None:
        """Unlocking and reading a reset code are refused while the identity is active."""
        w = wallet()
        with pytest.raises(WrongIdentityState):
            w.unlock(SERIAL, "12345678", new_pin=NEW_PIN, now=NOW)
        with pytest.raises(WrongIdentityState):
            w.begin_attempt(SERIAL, now=NOW, unlock=True)
        with pytest.raises(WrongIdentityState):
            w.reset_code(SERIAL)

    def test_smaller_unlock_digits(self) -> None:
        """The unlock code length follows the identity's UnlockPolicy, as the bank's must."""
        policy = IdentityPolicy(unlock=UnlockPolicy(digits=6, max_reset_codes=1))
        w = Wallet.create(device_key=DEVICE_KEY, policy=policy, kdf=FAST)
        w = locked(w.add_key(SERIAL, SECRET, name="PRODUBANCO", pin=PIN))
        code = compute_unlock_code(SECRET, SERIAL, w.reset_code(SERIAL), digits=6)
        w, result = try_unlock(w, SERIAL, code, new_pin=NEW_PIN)
        assert UnlockOutcome.UNLOCKED == result.outcome

    def test_pin_refused_after_the_code_spends_nothing(self) -> None:
        """A recently used PIN after the right code closes the attempt without counting."""
        w = locked(wallet())
        code = bank_code(w)
        for _ in range(5):
            w, result = try_unlock(w, SERIAL, code, new_pin=PIN)
            assert UnlockOutcome.PIN_REFUSED == result.outcome
            assert not info(w).attempt_open
        assert 3 == info(w).unlock_tries
        assert try_unlock(w, SERIAL, code, new_pin=NEW_PIN)[1].accepted


class TestPINAttempts:
    """A PIN attempt is stored open before the PIN is checked."""

    def test_interrupted_attempt_counts_as_a_wrong_pin(self) -> None:
        """begin, store, load, begin again: the first attempt is counted as a wrong PIN."""
        w = reload(wallet().begin_attempt(SERIAL, now=NOW))
        assert (5, True) == (info(w).remaining_tries, info(w).attempt_open)
        w = reload(w.begin_attempt(SERIAL, now=NOW))
        assert (4, True) == (info(w).remaining_tries, info(w).attempt_open)

    def test_right_pin_lost_before_the_save_still_counts(self) -> None:
        """A right PIN whose result was never stored is counted as wrong by the next begin."""
        stored = reload(wallet().begin_attempt(SERIAL, now=NOW))
        assert stored.show_code(SERIAL, PIN, now=NOW)[1].accepted
        w = reload(stored.begin_attempt(SERIAL, now=NOW))
        assert 4 == info(w).remaining_tries

    @pytest.mark.parametrize(
        ("policy", "expected"),
        [(ENTRUST, Status.LOCKED), (PAYSECURE, Status.WIPED)],
        ids=["locks", "wipes"],
    )
    def test_five_interrupted_attempts_reach_the_limit(
        self, policy: IdentityPolicy, expected: Status
    ) -> None:
        """Five attempts begun and never finished lock or wipe at the next begin, and leave the
        other identity alone."""
        w = wallet(policy)
        for _ in range(5):
            w = reload(w.begin_attempt(SERIAL, now=NOW))
        assert (Status.ACTIVE, 1) == (info(w).status, info(w).remaining_tries)
        w = reload(w.begin_attempt(SERIAL, now=NOW))
        assert (expected, False) == (info(w).status, info(w).attempt_open)
        assert (Status.ACTIVE, 5) == (
            info(w, OTHER_SERIAL).status,
            info(w, OTHER_SERIAL).remaining_tries,
        )
        assert None is w.show_code(SERIAL, PIN, now=NOW)[1].code

    def test_interrupted_wipe_destroys_the_keys(self) -> None:
        """A wipe reached through interrupted attempts destroys the verifier and keys too."""
        w = wallet(PAYSECURE)
        for _ in range(6):
            w = reload(w.begin_attempt(SERIAL, now=NOW))
        assert None is keys_of(w)
        assert None is not keys_of(w, OTHER_SERIAL)

    def test_interrupted_lock_gives_a_reset_code_that_unlocks(self) -> None:
        """A lock reached through interrupted attempts unlocks like any other."""
        w = wallet()
        for _ in range(6):
            w = reload(w.begin_attempt(SERIAL, now=NOW))
        assert try_unlock(w, SERIAL, bank_code(w), new_pin=NEW_PIN)[1].accepted

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

    @pytest.mark.parametrize("pin", [PIN, WRONG_PIN])
    def test_show_code_without_an_attempt_evaluates_nothing(self, pin: str) -> None:
        """show_code with no open attempt raises AttemptNotOpen and counts nothing."""
        w = wallet()
        with pytest.raises(AttemptNotOpen):
            w.show_code(SERIAL, pin, now=NOW)
        assert 5 == info(w).remaining_tries

    def test_attempt_is_per_identity(self) -> None:
        """An attempt opened for one identity does not let the other's PIN be checked."""
        with pytest.raises(AttemptNotOpen):
            wallet().begin_attempt(SERIAL, now=NOW).show_code(OTHER_SERIAL, PIN, now=NOW)

    def test_locked_identity_is_reported_without_an_attempt(self) -> None:
        """A locked identity opens no PIN attempt, and show_code reports STILL_LOCKED."""
        w = locked(wallet())
        assert w == w.begin_attempt(SERIAL, now=NOW)
        assert Outcome.STILL_LOCKED == w.show_code(SERIAL, PIN, now=NOW)[1].outcome

    def test_waiting_identity_reports_too_soon_with_the_wait(self) -> None:
        """Within a delay, begin opens nothing and show_code reports TOO_SOON and the wait."""
        w = wallet(DELAYED)
        w, _ = show(w, SERIAL, WRONG_PIN)
        w = w.begin_attempt(SERIAL, now=NOW + 10)
        w, result = w.show_code(SERIAL, PIN, now=NOW + 10)
        assert (Outcome.TOO_SOON, 20, False, 4) == (
            result.outcome,
            result.retry_after,
            info(w).attempt_open,
            info(w).remaining_tries,
        )

    def test_begin_checks_its_arguments(self) -> None:
        """An unknown serial, a non-bool unlock flag and a naive time are refused."""
        w = wallet()
        with pytest.raises(UnknownIdentity):
            w.begin_attempt(UNKNOWN_SERIAL, now=NOW)
        with pytest.raises(TypeError):
            w.begin_attempt(SERIAL, now=NOW, unlock=1)  # type: ignore[arg-type]
        with pytest.raises(InvalidTime):
            w.begin_attempt(SERIAL, now=dt.datetime(2024, 1, 1))


class TestUnlockAttempts:
    """An unlock code attempt is stored open before the code is tried."""

    def test_unlock_without_an_attempt_evaluates_nothing(self) -> None:
        """unlock with no open attempt raises AttemptNotOpen, even for the bank's right code."""
        w = locked(wallet())
        with pytest.raises(AttemptNotOpen):
            w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)
        assert Status.LOCKED == info(w).status

    def test_pin_attempt_is_not_an_unlock_attempt(self) -> None:
        """A PIN attempt cannot be used to try an unlock code."""
        w = locked(wallet())
        with pytest.raises(AttemptNotOpen):
            w.begin_attempt(SERIAL, now=NOW).unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)
        assert info(w.begin_attempt(SERIAL, now=NOW, unlock=True)).attempt_open

    def test_interrupted_unlock_attempts_spend_reset_codes_then_wipe(self) -> None:
        """Each interrupted unlock attempt is one wrong code: three use up a reset code (no
        attempt is then opened), and after the last reset code the identity is wiped."""
        w = locked(wallet())
        seen, opened = [], []
        for _ in range(12):
            if info(w).status is Status.LOCKED:
                seen.append(w.reset_code(SERIAL))
            w = reload(w.begin_attempt(SERIAL, now=NOW, unlock=True))
            opened.append(info(w).attempt_open)
        assert [True, True, True, False] * 3 == opened
        assert 3 == len(set(seen))
        assert (Status.WIPED, Status.ACTIVE) == (info(w).status, info(w, OTHER_SERIAL).status)

    def test_code_lost_before_the_save_still_counts(self) -> None:
        """The right code, tried but never stored, counts as wrong at the next begin; the same
        reset code still unlocks within its tries."""
        stored = reload(locked(wallet()).begin_attempt(SERIAL, now=NOW, unlock=True))
        assert stored.unlock(SERIAL, bank_code(stored), new_pin=NEW_PIN, now=NOW)[1].accepted
        w = reload(stored.begin_attempt(SERIAL, now=NOW, unlock=True))
        assert 2 == info(w).unlock_tries
        assert w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)[1].accepted

    def test_wrong_code_closes_the_attempt(self) -> None:
        """A wrong code is counted and closes the attempt."""
        w = locked(wallet())
        w, result = try_unlock(w, SERIAL, wrong_code(bank_code(w)), new_pin=NEW_PIN)
        assert (UnlockOutcome.REJECTED, False) == (result.outcome, info(w).attempt_open)
        with pytest.raises(AttemptNotOpen):
            w.unlock(SERIAL, bank_code(w), new_pin=NEW_PIN, now=NOW)

    def test_unlock_closes_the_attempt(self) -> None:
        """A successful unlock leaves an ACTIVE identity with no attempt open."""
        w = locked(wallet())
        w, _ = try_unlock(w, SERIAL, bank_code(w), new_pin=NEW_PIN)
        assert (Status.ACTIVE, False) == (info(w).status, info(w).attempt_open)


class TestEditing:
    """Adding, renaming and deleting identities."""

    def test_add_from_uri(self) -> None:
        """An otpauth URI's parameters and secret are kept; the issuer becomes the name."""
        uri = build_uri(SECRET, account="ana", issuer="Produbanco", algorithm="sha256", digits=8)
        w = Wallet.create(device_key=DEVICE_KEY, kdf=FAST).add_uri(uri, serial=SERIAL, pin=PIN)
        assert "Produbanco" == w.identities()[0].name
        w, shown = show(w, SERIAL, PIN)
        assert TOTP(SECRET, algorithm="sha256", digits=8).generate(NOW) == shown.code

    def test_add_hotp_uri_keeps_counter(self) -> None:
        """An HOTP URI's counter is where code generation starts."""
        uri = build_uri(SECRET, account="ana", kind="hotp", counter=7)
        w = Wallet.create(device_key=DEVICE_KEY, kdf=FAST)
        w = w.add_uri(uri, serial=SERIAL, pin=PIN, name="Mine")
        assert HOTP(SECRET).generate(7) == show(w, SERIAL, PIN)[1].code

    def test_add_refuses_bad_pin(self) -> None:
        """The initial PIN must pass the policy."""
        with pytest.raises(PINRejected):
            Wallet.create(device_key=DEVICE_KEY, kdf=FAST).add_key(
                SERIAL, SECRET, name="x", pin="0000"
            )

    def test_add_refuses_duplicate_serial(self) -> None:
        """A serial, in any spelling, can be added once."""
        with pytest.raises(DuplicateIdentity):
            wallet().add_key("9317112184", SECRET, name="again", pin=PIN)

    def test_add_refuses_short_key(self) -> None:
        """Keys under 16 bytes are refused."""
        with pytest.raises(KeyTooShort):
            wallet().add_key(THIRD_SERIAL, SECRET[:10], name="short", pin=PIN)

    @pytest.mark.parametrize("name", ["", " lead", "trail ", "a\nb", "bidi\u202eevil", "x" * 65])
    def test_rename_refuses_bad_names(self, name: str) -> None:
        """Names are 1 to 64 printable characters without surrounding spaces."""
        with pytest.raises(InvalidInput):
            wallet().rename(SERIAL, name)

    def test_rename_accepts_unicode(self) -> None:
        """A printable non-ASCII name is kept, and survives the blob."""
        w = reload(wallet().rename(SERIAL, "Banco Pichincha — ahorros ñ"))
        assert "Banco Pichincha — ahorros ñ" == w.identities()[0].name

    def test_delete(self) -> None:
        """Deleting one identity keeps the other."""
        w = wallet().delete(SERIAL)
        assert ["5550100001"] == [str(i.serial) for i in w.identities()]
        with pytest.raises(UnknownIdentity):
            show(w, SERIAL, PIN)

    def test_unknown_identity(self) -> None:
        """Every operation on an unknown serial raises UnknownIdentity."""
        w = wallet()
        with pytest.raises(UnknownIdentity):
            w.rename(UNKNOWN_SERIAL, "x")
        with pytest.raises(UnknownIdentity):
            w.reset_code(UNKNOWN_SERIAL)
        with pytest.raises(UnknownIdentity):
            w.check_new_pin(UNKNOWN_SERIAL, NEW_PIN)

    def test_wallet_is_hashable(self) -> None:
        """hash() of a wallet works (its secret fields are left out), and equal wallets hash
        alike."""
        w = locked(wallet())
        assert reload(w) == w
        assert hash(w) == hash(reload(w))


class TestWipe:
    """A wipe destroys the PIN verifier and the history with the secret (S17)."""

    def test_wiped_identity_has_no_verifier(self) -> None:
        """After a wipe the blob holds nothing PIN-derived for that identity."""
        w = reload(locked(wallet(PAYSECURE)))
        assert None is keys_of(w)
        w.check_new_pin(SERIAL, PIN)
        with pytest.raises(WrongIdentityState):
            w.begin_attempt(SERIAL, now=NOW, unlock=True)

    def test_wiping_identity_keeps_no_escrows(self) -> None:
        """An identity that wipes at the limit never locks, so it keeps no unlock escrows (and
        pays no slow hash for them); a locking one keeps max_reset_codes of them."""
        w = wallet(PAYSECURE)
        assert () == keys_of(w).escrows  # type: ignore[attr-defined]
        assert 3 == len(keys_of(wallet()).escrows)  # type: ignore[attr-defined]

    def test_lock_policy_value_is_kept(self) -> None:
        """The on-limit choice is part of the stored lockout policy."""
        assert OnLimit.WIPE == PAYSECURE.lockout.on_limit
