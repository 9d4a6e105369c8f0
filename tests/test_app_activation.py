"""The app side of activation: offline activation and QR activation through the wallet.

Each test runs the issuer's half with the provisioning modules themselves, so that the wallet
is checked against the protocol it must interoperate with, end to end.
"""

from __future__ import annotations

import attrs
import pytest

from softtoken._kdf import ScryptParams
from softtoken.app import Wallet
from softtoken.app.codec import MAX_SCANS
from softtoken.exceptions import (
    ActivationRefused,
    DuplicateIdentity,
    InvalidInput,
    MistypedCode,
    PINRejected,
    UnknownIdentity,
    WalletCorrupt,
)
from softtoken.hotp import TOTP
from softtoken.pinlock import Status
from softtoken.provisioning import RegistrationCode, Serial, TokenParams, offline, qr_activation
from softtoken.provisioning.qr_messages import Request, Response
from tests.wallets import DEVICE_KEY, FAST, NOW, OTHER_SERIAL, PIN, SERIAL, reload, show, wallet

# A cheap KDF for the offline derivation; the real one (N = 2^18) is measured in the benchmarks.
CHEAP = ScryptParams(log2_n=4, r=8, p=1)
URL = "https://bank.example/activate"
# The bank's Ed25519 signing key for QR offers, and the public key the app pins (RFC 8032 §7.1,
# TEST 1).
BANK_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
BANK_KEY = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
TRUSTED = (BANK_KEY,)


def empty() -> Wallet:
    return Wallet.create(device_key=DEVICE_KEY, kdf=FAST)


def qr_start(
    serial: str, *, seed: bytes = BANK_SEED
) -> tuple[qr_activation.Offer, str, qr_activation.PendingQR]:
    """The bank starts a QR activation of *serial* at NOW, signing its offer with *seed*."""
    return qr_activation.start(Serial.parse(serial), signing_key=seed, now=NOW, url=URL)


class TestOfflineActivation:
    """Serial + activation code on the app, registration code at the bank, first code confirms."""

    def test_end_to_end(self) -> None:
        """The bank starts, the app answers, the bank completes and the first code confirms:
        both hold the same secret, and the app's identity shows the confirming code."""
        serial = Serial.parse(SERIAL)
        activation, pending = offline.start(serial, now=NOW, kdf=CHEAP)
        w, registration = empty().activate_offline(
            SERIAL, activation.display, name="Banco Ejemplo", pin=PIN, kdf=CHEAP
        )
        w = reload(w)
        typed = RegistrationCode.parse(registration.display)
        outcome, pending, candidate = offline.complete(pending, typed, now=NOW)
        assert offline.Outcome.AWAITING_FIRST_CODE == outcome
        assert candidate is not None
        w, shown = show(w, SERIAL, PIN)
        assert shown.code == TOTP(candidate).generate(NOW)
        outcome, pending, confirmed = offline.confirm(pending, shown.code, now=NOW)
        assert offline.Outcome.CONFIRMED == outcome
        assert confirmed is not None
        # The bank activates the token with the secret the app derived, from the first code on.
        assert confirmed.secret == candidate
        assert confirmed.match.counter == NOW // 30

    def test_parameters_travel(self) -> None:
        """An 8-digit SHA-256 token activates as one on both sides."""
        params = TokenParams(algorithm="sha256", digits=8)
        activation, pending = offline.start(Serial.parse(SERIAL), now=NOW, params=params, kdf=CHEAP)
        w, registration = empty().activate_offline(
            SERIAL, activation, name="Bank", pin=PIN, params=params, kdf=CHEAP
        )
        _, pending, candidate = offline.complete(pending, registration, now=NOW)
        assert candidate is not None
        shown = show(w, SERIAL, PIN)[1].code
        assert TOTP(candidate, algorithm="sha256", digits=8).generate(NOW) == shown

    def test_mistyped_activation_code_draws_nothing(self) -> None:
        """A typo in the activation code is refused before anything is drawn or derived."""
        activation, _ = offline.start(Serial.parse(SERIAL), now=NOW, kdf=CHEAP)
        typo = activation.display[:-1] + str((int(activation.display[-1]) + 1) % 10)
        with pytest.raises(MistypedCode):
            empty().activate_offline(SERIAL, typo, name="Bank", pin=PIN, kdf=CHEAP)

    def test_refusals_come_before_the_derivation(self) -> None:
        """A weak PIN or a serial already held is refused before the slow derivation."""
        activation, _ = offline.start(Serial.parse(SERIAL), now=NOW, kdf=CHEAP)
        with pytest.raises(PINRejected):
            empty().activate_offline(SERIAL, activation, name="Bank", pin="1234", kdf=CHEAP)
        with pytest.raises(DuplicateIdentity):
            wallet().activate_offline(SERIAL, activation, name="Bank", pin=PIN, kdf=CHEAP)


class TestQRActivation:
    """The QR offer and the SMS password on the app; the secret agreed, never sent."""

    def test_end_to_end_with_the_wallet_stored_between(self) -> None:
        """Scan, store, send; the bank accepts; finish: both hold the same secret, and the
        device key of the activation lived only in the sealed wallet meanwhile."""
        offer, password, pending = qr_start(SERIAL)
        w, request = empty().scan(offer.to_text(), password, now=NOW, trusted_keys=TRUSTED)
        w = reload(w)
        assert (Serial.parse(SERIAL),) == w.pending_scans()
        outcome, pending, response, secret = qr_activation.accept(
            pending, Request.parse(request), now=NOW
        )
        assert (qr_activation.Outcome.ACCEPTED, True) == (outcome, response is not None)
        assert response is not None
        assert secret is not None
        w = reload(w.finish_scan(SERIAL, response.to_text(), name="Banco Ejemplo", pin=PIN))
        assert () == w.pending_scans()
        assert TOTP(secret).generate(NOW) == show(w, SERIAL, PIN)[1].code
        assert Status.ACTIVE == w.info(SERIAL).status

    def test_an_offer_not_signed_by_a_pinned_key_is_refused(self) -> None:
        """An offer signed by another key (a forged QR) is refused, and nothing is kept; the
        same offer is answered when its key is pinned, beside the bank's."""
        other_seed = bytes(range(7, 39))
        offer, password, _ = qr_start(SERIAL, seed=other_seed)
        with pytest.raises(ActivationRefused):
            empty().scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        other_key = qr_activation.signing_public_key(other_seed)
        w, _ = empty().scan(offer, password, now=NOW, trusted_keys=[BANK_KEY, other_key])
        assert (Serial.parse(SERIAL),) == w.pending_scans()

    def test_the_pinned_keys_are_required_and_checked(self) -> None:
        """A bare key instead of a collection is a TypeError; no key, or a key of the wrong
        size, is an InvalidInput."""
        offer, password, _ = qr_start(SERIAL)
        with pytest.raises(TypeError):
            empty().scan(offer, password, now=NOW, trusted_keys=BANK_KEY)  # type: ignore[arg-type]
        for keys in ([], [BANK_KEY[:31]]):
            with pytest.raises(InvalidInput):
                empty().scan(offer, password, now=NOW, trusted_keys=keys)

    def test_a_wrong_response_keeps_the_scan(self) -> None:
        """A response that is not the bank's answer is refused, and the scan stays pending
        for the right one."""
        offer, password, pending = qr_start(SERIAL)
        w, request = empty().scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        forged = Response(confirmation=bytes(32))
        with pytest.raises(ActivationRefused):
            w.finish_scan(SERIAL, forged, name="Bank", pin=PIN)
        _, _, response, _ = qr_activation.accept(pending, Request.parse(request), now=NOW)
        assert response is not None
        assert 1 == len(w.finish_scan(SERIAL, response, name="Bank", pin=PIN).identities())

    def test_a_weak_pin_keeps_the_scan(self) -> None:
        """A refused PIN at finish leaves the scan to finish with a good one."""
        offer, password, pending = qr_start(SERIAL)
        w, request = empty().scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        _, _, response, _ = qr_activation.accept(pending, Request.parse(request), now=NOW)
        assert response is not None
        with pytest.raises(PINRejected):
            w.finish_scan(SERIAL, response, name="Bank", pin="1111")
        assert (Serial.parse(SERIAL),) == w.pending_scans()

    def test_expired_offer_and_held_serial_are_refused(self) -> None:
        """An expired offer, or the serial of an identity already held, is refused at scan."""
        offer, password, _ = qr_start(OTHER_SERIAL)
        with pytest.raises(ActivationRefused):
            empty().scan(offer, password, now=offer.expires, trusted_keys=TRUSTED)
        with pytest.raises(DuplicateIdentity):
            wallet().scan(offer, password, now=NOW, trusted_keys=TRUSTED)

    def test_expired_scans_are_dropped_at_the_next_scan(self) -> None:
        """A scan whose offer has expired is dropped when another serial is scanned, with the
        device key it held; one still live is kept."""
        offer, password, _ = qr_start(SERIAL)
        w, _ = empty().scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        later, later_password, _ = qr_activation.start(
            Serial.parse(OTHER_SERIAL), signing_key=BANK_SEED, now=offer.expires, url=URL
        )
        kept, _ = w.scan(later, later_password, now=offer.expires - 1, trusted_keys=TRUSTED)
        assert {Serial.parse(SERIAL), Serial.parse(OTHER_SERIAL)} == set(kept.pending_scans())
        pruned, _ = w.scan(later, later_password, now=offer.expires, trusted_keys=TRUSTED)
        assert (Serial.parse(OTHER_SERIAL),) == pruned.pending_scans()
        assert Serial.parse(SERIAL) not in reload(pruned).pending_scans()

    def test_the_number_of_pending_scans_is_capped(self) -> None:
        """MAX_SCANS scans may wait at once; one more is refused until one is cancelled, and a
        new scan of a pending serial replaces it rather than counting twice."""
        w = empty()
        serials = [Serial.from_number(n) for n in range(1, MAX_SCANS + 2)]
        for serial in serials[:MAX_SCANS]:
            offer, password, _ = qr_activation.start(
                serial, signing_key=BANK_SEED, now=NOW, url=URL
            )
            w, _ = w.scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        assert MAX_SCANS == len(reload(w).pending_scans())
        again, again_password, _ = qr_activation.start(
            serials[0], signing_key=BANK_SEED, now=NOW, url=URL
        )
        replaced, _ = w.scan(again, again_password, now=NOW, trusted_keys=TRUSTED)
        assert MAX_SCANS == len(replaced.pending_scans())
        offer, password, _ = qr_activation.start(
            serials[-1], signing_key=BANK_SEED, now=NOW, url=URL
        )
        with pytest.raises(InvalidInput, match="too many"):
            w.scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        w, _ = w.cancel_scan(serials[0]).scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        assert serials[-1] in w.pending_scans()
        assert serials[0] not in w.pending_scans()

    def test_a_blob_with_more_scans_than_the_cap_is_corrupt(self) -> None:
        """The cap holds when reading too: an authentic blob holding MAX_SCANS + 1 scans (which
        no wallet method writes) is refused whole, while MAX_SCANS are read."""
        states = []
        for number in range(1, MAX_SCANS + 2):
            offer, password, _ = qr_activation.start(
                Serial.from_number(number), signing_key=BANK_SEED, now=NOW, url=URL
            )
            states.append(qr_activation.respond(offer, password, now=NOW, trusted_keys=TRUSTED)[1])
        full = attrs.evolve(empty(), scans=tuple(states[:MAX_SCANS]))
        assert MAX_SCANS == len(reload(full).pending_scans())
        over = attrs.evolve(empty(), scans=tuple(states))
        with pytest.raises(WalletCorrupt):
            reload(over)

    def test_cancel_drops_only_that_scan(self) -> None:
        """Cancelling forgets the scan and its device key (a later response finds nothing);
        cancelling a serial with no scan is UnknownIdentity."""
        offer, password, pending = qr_start(SERIAL)
        w, request = empty().scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        other, other_password, _ = qr_start(OTHER_SERIAL)
        w, _ = w.scan(other, other_password, now=NOW, trusted_keys=TRUSTED)
        cancelled = reload(w.cancel_scan(SERIAL))
        assert (Serial.parse(OTHER_SERIAL),) == cancelled.pending_scans()
        _, _, response, _ = qr_activation.accept(pending, Request.parse(request), now=NOW)
        assert response is not None
        with pytest.raises(UnknownIdentity):
            cancelled.finish_scan(SERIAL, response, name="Bank", pin=PIN)
        with pytest.raises(UnknownIdentity):
            cancelled.cancel_scan(SERIAL)

    def test_adding_the_serial_another_way_ends_its_scan(self) -> None:
        """An identity added for a serial by any route drops that serial's pending scan, so no
        device key waits for an activation that can no longer finish."""
        offer, password, _ = qr_start(OTHER_SERIAL)
        w, _ = empty().scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        added = reload(w.add_key(OTHER_SERIAL, bytes(range(20)), name="Other", pin=PIN))
        assert () == added.pending_scans()

    def test_finish_without_a_scan(self) -> None:
        """Finishing a serial that was never scanned is UnknownIdentity."""
        with pytest.raises(UnknownIdentity):
            empty().finish_scan(SERIAL, Response(confirmation=bytes(32)), name="B", pin=PIN)

    def test_the_scan_holds_no_secret_in_the_clear(self) -> None:
        """The sealed blob of a wallet with a scan pending holds neither the password nor the
        activation's device key."""
        offer, password, _ = qr_start(SERIAL)
        w, _ = empty().scan(offer, password, now=NOW, trusted_keys=TRUSTED)
        blob = w.to_bytes()
        (state,) = w._scans
        assert state.private_key not in blob
        assert password.encode() not in blob
        assert "private" not in repr(w)
