"""Tests for the QR activation protocol (softtoken.provisioning.qr_activation; SECURITY.md S3,
S12, S18).

The protocol is checked end to end, against a reference model of its refusals, against forged
offers (the attack of a phishing page that shows its own key), for its constant-time
comparisons, and against an attacker who holds everything but a private key. The messages'
spellings are in tests/test_qr_messages.py, the stored states in tests/test_qr_states.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken import _random
from softtoken._kdf import Label, hkdf
from softtoken._reference import hkdf_sha256
from softtoken.exceptions import ActivationRefused, InvalidInput, InvalidTime, MalformedCode
from softtoken.provisioning import qr_activation
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import TokenParams
from softtoken.provisioning.qr_activation import (
    MAX_ATTEMPTS,
    Offer,
    Outcome,
    PendingQR,
    Request,
    accept,
    finish,
    generate_signing_key,
    is_trusted,
    respond,
    signing_key_id,
    signing_public_key,
    start,
)
from softtoken.provisioning.qr_messages import _exchange
from softtoken.render import qr_png, qr_svg, qr_text
from tests import strategies as sts
from tests.qr_support import (
    ALICE,
    BANK_KEY,
    BANK_SEED,
    BOB,
    MALLORY_SEED,
    MALLORY_X25519,
    NOW,
    SERIAL,
    TRUSTED,
    URL,
    answer,
    b64,
    derivations,
    ed25519_public,
    exchange,
    key_id,
    leaks,
    offer_field,
    pin,
    public,
    replace_field,
    resign,
    run,
    signed_part,
    unb64,
    wrong,
)

ZBARIMG: Final = shutil.which("zbarimg")


# --------------------------------------------------------------------------------------------
# The flow
# --------------------------------------------------------------------------------------------


class TestFlow:
    """Both sides end with the same secret of at least 160 bits, which never travels."""

    def test_end_to_end(self) -> None:
        """Offer, request, response, each through its text: both sides get the same secret."""
        r = run()

        outcome, pending, response, secret = accept(
            r.pending, Request.parse(r.request.to_text()), now=NOW + 1
        )

        assert (Outcome.ACCEPTED, True) == (outcome, pending.done)
        assert response is not None
        assert secret is not None
        assert secret == finish(qr_activation.AppQRState.from_bytes(r.app.to_bytes()), response)
        assert 20 == len(secret)

    @pytest.mark.parametrize(
        ("algorithm", "length"), [("sha1", 20), ("sha256", 32), ("sha512", 64)]
    )
    def test_secret_length_follows_the_algorithm(self, algorithm: str, length: int) -> None:
        """The secret is 20, 32 or 64 bytes, as the token's hash asks (RFC 6238 §5.1)."""
        r = run(params=TokenParams(algorithm=algorithm))
        _, _, response, secret = accept(r.pending, r.request, now=NOW)
        assert response is not None
        assert length == len(finish(r.app, response)) == len(secret or b"")

    @given(
        fields=sts.token_params_fields,
        number=st.integers(0, 10**9 - 1),
        now=st.integers(0, 2**40),
        ttl=st.integers(1, 72 * 3600),
        attempts=st.integers(1, MAX_ATTEMPTS),
        url=sts.qr_urls,
    )
    def test_every_completed_activation_gives_both_sides_the_same_secret(
        self, fields: dict[str, Any], number: int, now: int, ttl: int, attempts: int, url: str
    ) -> None:
        """Every activation that completes yields the same secret, of at least 20 bytes, on
        both sides."""
        params = TokenParams(**fields)
        offer, password, pending = start(
            Serial.from_number(number),
            signing_key=BANK_SEED,
            now=now,
            url=url,
            params=params,
            ttl=ttl,
            attempts=attempts,
        )
        request, app = respond(
            Offer.parse(offer.to_text()), password, now=now + ttl - 1, trusted_keys=TRUSTED
        )

        outcome, _, response, secret = accept(pending, request, now=now + ttl - 1)

        assert Outcome.ACCEPTED == outcome
        assert response is not None
        assert secret is not None
        assert secret == finish(app, response)
        assert max(20, params.secret_length) == len(secret)

    def test_no_secret_travels(self) -> None:
        """Neither the secret, a private key nor the bank's signing key is in the offer, the
        request or the response, in any common encoding."""
        r = run()
        issuer_key = r.pending.private_key
        _, _, response, secret = accept(r.pending, r.request, now=NOW)
        assert response is not None
        assert secret is not None
        assert issuer_key is not None
        wire = [
            r.offer.to_bytes(),
            r.request.to_bytes(),
            r.request.to_text().encode(),
            response.to_bytes(),
            response.to_text().encode(),
        ]

        assert [] == [
            name
            for name, value in [
                ("secret", secret),
                ("issuer key", issuer_key),
                ("app key", r.app.private_key),
                ("signing key", BANK_SEED),
                ("password", r.password.encode()),
            ]
            if leaks(value, *wire)
        ]

    def test_password_typed_in_groups(self) -> None:
        """The password may be typed as "1234 5678"; a password that is not 8 digits is a
        MalformedCode, and one passed as an int is a TypeError."""
        r = run()
        request = answer(r.offer, f"{r.password[:4]} {r.password[4:]}")
        assert Outcome.ACCEPTED == accept(r.pending, request, now=NOW)[0]
        with pytest.raises(MalformedCode):
            answer(r.offer, r.password[:7])
        with pytest.raises(TypeError):
            answer(r.offer, int(r.password))  # type: ignore[arg-type]

    def test_done_keeps_no_key(self) -> None:
        """Once done, the pending value holds neither the private key nor the verifier."""
        r = run()
        _, pending, _, _ = accept(r.pending, r.request, now=NOW)
        assert (None, None, 1) == (pending.private_key, pending.verifier, pending.version)

    def test_offer_can_be_drawn(self, tmp_path: Path) -> None:
        """qr_png, qr_svg and qr_text draw an Offer; zbarimg reads the offer's text back."""
        offer = run().offer
        png = qr_png(offer)
        assert qr_svg(offer).startswith("<?xml")
        assert qr_text(offer)
        if ZBARIMG is None:
            pytest.skip("zbarimg is not installed")
        image = tmp_path / "offer.png"
        image.write_bytes(png)
        done = subprocess.run(
            [ZBARIMG, "--raw", "-q", str(image)], capture_output=True, check=True, timeout=60
        )
        assert offer.to_text() == done.stdout.decode("ascii").removesuffix("\n")


class TestTime:
    """Every step takes int Unix seconds or an aware datetime, like the rest of the library."""

    def test_aware_datetimes_are_int_seconds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The same run with aware datetimes gives the same offer, request and outcomes as with
        int seconds; a datetime at the expiry is refused like the int."""
        at = dt.datetime.fromtimestamp(NOW, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=2)))
        results = []
        for now in (NOW, at):
            pin(monkeypatch, ALICE, bytes(range(16)), bytes(range(8)), BOB)
            offer, password, pending = start(SERIAL, signing_key=BANK_SEED, now=now, url=URL)
            request, _ = respond(offer, password, now=now, trusted_keys=TRUSTED)
            results.append((offer.to_text(), request.to_text()))
            late = now + dt.timedelta(seconds=900) if isinstance(now, dt.datetime) else now + 900
            assert Outcome.EXPIRED == accept(pending, request, now=late)[0]
            assert Outcome.ACCEPTED == accept(pending, request, now=now)[0]
        assert results[0] == results[1]

    @pytest.mark.parametrize(
        ("now", "error"),
        [
            (dt.datetime(2023, 11, 14, 22, 13, 20), InvalidTime),
            (-1, InvalidTime),
            (2**64, InvalidInput),
            (float(NOW), TypeError),
            (True, TypeError),
        ],
    )
    def test_bad_times_are_refused(self, now: Any, error: type[Exception]) -> None:
        """A naive datetime, a time before 1970 or past 2^64 - 1, a float or a bool is refused
        by each step."""
        r = run()
        steps: list[Callable[[], object]] = [
            lambda: start(SERIAL, signing_key=BANK_SEED, now=now, url=URL),
            lambda: respond(r.offer, r.password, now=now, trusted_keys=TRUSTED),
            lambda: accept(r.pending, r.request, now=now),
        ]
        for step in steps:
            with pytest.raises(error):
                step()


# --------------------------------------------------------------------------------------------
# Refusals at the issuer
# --------------------------------------------------------------------------------------------


class TestRefusals:
    """Each refusal is its own outcome, recorded in the pending value, with nothing returned."""

    def test_wrong_password_costs_one_attempt(self) -> None:
        """A wrong password is WRONG_PROOF, counts one failure, and the right one still works."""
        r = run()
        request = answer(r.offer, wrong(r.password))

        outcome, pending, response, secret = accept(r.pending, request, now=NOW)

        assert (Outcome.WRONG_PROOF, None, None) == (outcome, response, secret)
        assert (1, 4, 1) == (pending.failures, pending.remaining, pending.version)
        assert Outcome.WRONG_PROOF == pending.last_outcome
        assert Outcome.ACCEPTED == accept(pending, r.request, now=NOW)[0]

    def test_budget_runs_out(self) -> None:
        """Three wrong passwords with a budget of 3 spend it; then the right one is refused."""
        r = run(attempts=3)
        pending, outcomes = r.pending, []
        for _ in range(3):
            outcome, pending, _, _ = accept(pending, answer(r.offer, wrong(r.password)), now=NOW)
            outcomes.append(outcome)

        assert [Outcome.WRONG_PROOF, Outcome.WRONG_PROOF, Outcome.SPENT_NOW] == outcomes
        assert (None, None, 0, True) == (
            pending.private_key,
            pending.verifier,
            pending.remaining,
            pending.spent,
        )
        outcome, _, response, secret = accept(pending, r.request, now=NOW)
        assert (Outcome.SPENT, None, None) == (outcome, response, secret)

    def test_attempts_are_capped(self) -> None:
        """An activation allows 1 to MAX_ATTEMPTS (10) wrong passwords, as the other flows do."""
        assert 10 == MAX_ATTEMPTS
        assert 10 == start(SERIAL, signing_key=BANK_SEED, now=NOW, url=URL, attempts=10)[2].attempts
        for attempts in (0, 11):
            with pytest.raises(InvalidInput):
                start(SERIAL, signing_key=BANK_SEED, now=NOW, url=URL, attempts=attempts)

    def test_replay_is_refused(self) -> None:
        """The same request twice: the second is REPLAYED, with no response and no secret."""
        r = run()
        _, pending, _, _ = accept(r.pending, r.request, now=NOW)

        outcome, again, response, secret = accept(pending, r.request, now=NOW)

        assert (Outcome.REPLAYED, None, None) == (outcome, response, secret)
        assert Outcome.REPLAYED == again.last_outcome
        assert pending.version + 1 == again.version

    def test_expired(self) -> None:
        """A request at the expiry is EXPIRED; one second earlier it is accepted."""
        r = run(ttl=600)
        outcome, pending, response, secret = accept(r.pending, r.request, now=NOW + 600)
        assert (Outcome.EXPIRED, None, None) == (outcome, response, secret)
        assert (0, Outcome.EXPIRED) == (pending.failures, pending.last_outcome)
        assert Outcome.ACCEPTED == accept(r.pending, r.request, now=NOW + 599)[0]

    def test_the_first_expired_refusal_erases_the_keys(self) -> None:
        """The first EXPIRED refusal, which writes anyway, erases the private key and the
        verifier: the stored value holds neither, and a later request at a time before the
        expiry (a clock set back) is still EXPIRED."""
        r = run(ttl=600)
        assert r.pending.private_key is not None
        assert r.pending.verifier is not None

        _, pending, _, _ = accept(r.pending, r.request, now=NOW + 600)

        assert (None, None, True, 1) == (
            pending.private_key,
            pending.verifier,
            pending.expired,
            pending.version,
        )
        assert not leaks(r.pending.private_key, pending.to_bytes())
        assert not leaks(r.pending.verifier, pending.to_bytes())
        outcome, again, response, secret = accept(pending, r.request, now=NOW)
        assert (Outcome.EXPIRED, None, None) == (outcome, response, secret)
        assert again is pending

    def test_app_refuses_an_expired_offer(self) -> None:
        """The app refuses to answer an offer at or after its expiry."""
        r = run(ttl=600)
        with pytest.raises(ActivationRefused):
            answer(r.offer, r.password, now=NOW + 600)

    def test_foreign_request(self) -> None:
        """Another offer's request is FOREIGN: nothing counted, and the right one still works."""
        mine, theirs = run(), run()

        outcome, pending, _, secret = accept(mine.pending, theirs.request, now=NOW)

        assert (Outcome.FOREIGN, None) == (outcome, secret)
        assert (0, 1) == (pending.failures, pending.version)
        assert pending.private_key is not None
        assert Outcome.ACCEPTED == accept(pending, mine.request, now=NOW)[0]

    def test_same_refusal_twice_changes_nothing(self) -> None:
        """Refusing unevaluated for the reason already recorded returns the value unchanged."""
        r = run()
        _, once, _, _ = accept(r.pending, r.request, now=NOW + 600)
        _, twice, _, _ = accept(once, r.request, now=NOW + 601)
        assert once is twice

    @given(
        attempts=st.integers(1, 4),
        events=st.lists(st.sampled_from(["right", "wrong", "foreign", "late"]), max_size=8),
    )
    def test_outcomes_follow_the_reference_model(self, attempts: int, events: list[str]) -> None:
        """accept gives, for any sequence of requests, the outcome a short model predicts."""
        r, other = run(attempts=attempts), run()
        pending = r.pending
        done, expired, failures, actual, expected = False, False, 0, [], []
        for event in events:
            typed = wrong(r.password) if event == "wrong" else r.password
            request = other.request if event == "foreign" else answer(r.offer, typed)
            outcome, pending, _, _ = accept(pending, request, now=NOW + 600 * (event == "late"))
            actual.append(outcome)
            if event == "foreign":
                expected.append(Outcome.FOREIGN)
            elif done:
                expected.append(Outcome.REPLAYED)
            elif failures >= attempts:
                expected.append(Outcome.SPENT)
            elif expired or event == "late":
                expired = True
                expected.append(Outcome.EXPIRED)
            elif event == "right":
                done = True
                expected.append(Outcome.ACCEPTED)
            else:
                failures += 1
                expected.append(Outcome.SPENT_NOW if failures == attempts else Outcome.WRONG_PROOF)
        assert expected == actual

    @given(attempts=st.integers(1, 3), extra=st.lists(st.booleans(), min_size=1, max_size=4))
    def test_no_request_is_accepted_twice(self, attempts: int, extra: list[bool]) -> None:
        """After an acceptance, no request (a replay, or a fresh right one) is accepted."""
        r = run(attempts=attempts)
        _, pending, _, _ = accept(r.pending, r.request, now=NOW)
        for replay in extra:
            request = r.request if replay else answer(r.offer, r.password)
            outcome, pending, response, secret = accept(pending, request, now=NOW)
            assert (Outcome.REPLAYED, None, None) == (outcome, response, secret)

    @given(events=st.lists(st.sampled_from(["right", "wrong", "foreign", "late"]), max_size=8))
    def test_version_grows_by_one_per_change(self, events: list[str]) -> None:
        """Each returned pending value is the one given, or differs from it with version + 1."""
        r, other = run(attempts=3), run()
        pending = r.pending
        for event in events:
            typed = wrong(r.password) if event == "wrong" else r.password
            request = other.request if event == "foreign" else answer(r.offer, typed)
            _, after, _, _ = accept(pending, request, now=NOW + 600 * (event == "late"))
            assert after is pending or pending.version + 1 == after.version
            pending = after


# --------------------------------------------------------------------------------------------
# Signed offers (RFC 8032)
# --------------------------------------------------------------------------------------------

NEW_SEED: Final = bytes(range(32))
NEW_KEY: Final = ed25519_public(NEW_SEED)
# Ed25519 public keys of small order, and non-canonical spellings (libsodium's blocklist, and
# the same points with the sign bit set): y = 0 (order 4), y = 1 (the neutral element), the two
# points of order 8, y = p - 1 (order 2), and p and p + 1, other spellings of 0 and 1.
ORDER_8_A: Final = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"
ORDER_8_B: Final = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
SMALL_ORDER_KEYS: Final = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex(ORDER_8_A),
    bytes.fromhex(ORDER_8_B),
    bytes.fromhex(ORDER_8_A[:-2] + "85"),
    bytes.fromhex(ORDER_8_B[:-2] + "fa"),
    (2**255 - 20).to_bytes(32, "little"),
    (2**255 - 19).to_bytes(32, "little"),
    (2**255 - 18).to_bytes(32, "little"),
    (2**255 - 1).to_bytes(32, "little"),
]


def bank_offer(seed: bytes = BANK_SEED) -> tuple[Offer, str, PendingQR]:
    """A fresh activation of SERIAL at NOW, signed with *seed*."""
    return start(SERIAL, signing_key=seed, now=NOW, url=URL)


class TestSignedOffers:
    """An offer is answered only when a pinned bank key signed its exact text."""

    def test_signing_keys(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A signing key is a 32-byte seed from softtoken._random; its public key is RFC 8032's
        (TEST 1), and its id the first 8 bytes of the public key's SHA-256."""
        source = pin(monkeypatch, BANK_SEED)
        assert BANK_SEED == generate_signing_key()
        assert [32] == source.requests
        assert BANK_KEY == signing_public_key(BANK_SEED)
        assert hashlib.sha256(BANK_KEY).digest()[:8] == signing_key_id(BANK_KEY)

    @pytest.mark.parametrize("call", [signing_public_key, signing_key_id])
    def test_signing_key_shapes(self, call: Callable[[bytes], bytes]) -> None:
        """Keys are 32 bytes exactly, and bytes only."""
        with pytest.raises(InvalidInput):
            call(bytes(31))
        with pytest.raises(TypeError):
            call(BANK_SEED.hex())  # type: ignore[arg-type]

    def test_the_offer_is_signed_over_its_text_before_sig(self) -> None:
        """kid names the bank's key, and sig is its Ed25519 signature over the text before
        "&sig=", checked here with cryptography directly."""
        text = bank_offer()[0].to_text()
        assert key_id(BANK_KEY) == offer_field(text, "kid")
        assert text.endswith("&sig=" + b64(offer_field(text, "sig")))
        Ed25519PublicKey.from_public_bytes(BANK_KEY).verify(
            offer_field(text, "sig"), signed_part(text).encode("ascii")
        )

    def test_rotation(self) -> None:
        """An app that pins the old and the new key answers offers signed by either; one that
        pins only the new key refuses the old key's offers."""
        old, old_password, _ = bank_offer(BANK_SEED)
        new, new_password, _ = bank_offer(NEW_SEED)
        both = [BANK_KEY, NEW_KEY]
        assert respond(old, old_password, now=NOW, trusted_keys=both)
        assert respond(new, new_password, now=NOW, trusted_keys=both)
        assert respond(new, new_password, now=NOW, trusted_keys={NEW_KEY})
        with pytest.raises(ActivationRefused):
            respond(old, old_password, now=NOW, trusted_keys={NEW_KEY})

    def test_the_key_id_names_the_one_key_checked(self) -> None:
        """An offer signed by one pinned key under the id of another pinned key is refused."""
        offer, password, _ = bank_offer(NEW_SEED)
        misnamed = Offer.parse(resign(offer.to_text(), NEW_SEED, kid=key_id(BANK_KEY)))
        with pytest.raises(ActivationRefused):
            respond(misnamed, password, now=NOW, trusted_keys=[BANK_KEY, NEW_KEY])

    @pytest.mark.parametrize(
        ("keys", "error"),
        [
            (BANK_KEY, TypeError),
            (BANK_KEY.hex(), TypeError),
            ([BANK_KEY.hex()], TypeError),
            ([bytearray(BANK_KEY)], TypeError),
            (iter([BANK_KEY]), TypeError),
            ([], InvalidInput),
            ([BANK_KEY[:31]], InvalidInput),
            ([BANK_KEY, BANK_KEY + b"\x00"], InvalidInput),
        ],
    )
    def test_trusted_key_shapes(self, keys: Any, error: type[Exception]) -> None:
        """The pinned keys are a non-empty collection of 32-byte keys; one key passed bare is a
        TypeError, not 32 keys of one byte."""
        offer, password, _ = bank_offer()
        with pytest.raises(error):
            respond(offer, password, now=NOW, trusted_keys=keys)
        with pytest.raises(error):
            is_trusted(offer, trusted_keys=keys)

    @pytest.mark.parametrize("keys", [TRUSTED, [BANK_KEY, NEW_KEY], frozenset(TRUSTED)])
    def test_any_collection_of_keys(self, keys: Collection[bytes]) -> None:
        """A tuple, a list or a frozenset of pinned keys is accepted."""
        offer, password, _ = bank_offer()
        assert respond(offer, password, now=NOW, trusted_keys=keys)

    @pytest.mark.parametrize("key", SMALL_ORDER_KEYS)
    def test_small_order_and_non_canonical_keys_cannot_be_pinned(self, key: bytes) -> None:
        """A pinned key of small order, or spelled non-canonically, is refused: with such a key
        anyone could forge (see the next test)."""
        offer, password, _ = bank_offer()
        with pytest.raises(InvalidInput):
            respond(offer, password, now=NOW, trusted_keys=[BANK_KEY, key])

    def test_why_small_order_keys_are_refused(self) -> None:
        """The all-zero key, which cryptography accepts, verifies the all-zero signature over
        some forged offers: about one in four, found by trying activation ids."""
        forged = bank_offer()[0].to_text()
        zero = Ed25519PublicKey.from_public_bytes(bytes(32))
        verified = []
        for n in range(64):
            text = replace_field(forged, "id", b64(n.to_bytes(16, "big")))
            try:
                zero.verify(bytes(64), signed_part(text).encode("ascii"))
            except InvalidSignature:
                continue
            verified.append(n)
        assert 4 <= len(verified) <= 32

    def test_is_trusted_agrees_with_respond(self) -> None:
        """is_trusted answers without a password, as respond decides."""
        offer, password, _ = bank_offer()
        assert is_trusted(offer, trusted_keys=TRUSTED)
        assert not is_trusted(offer, trusted_keys=[NEW_KEY])
        assert respond(offer, password, now=NOW, trusted_keys=TRUSTED)
        with pytest.raises(TypeError):
            is_trusted(offer.to_text(), trusted_keys=TRUSTED)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The forged QR (the review's attack)
# --------------------------------------------------------------------------------------------

MALLORY_KEY: Final = ed25519_public(MALLORY_SEED)
MALLORY_PK: Final = b64(public(MALLORY_X25519))


def forgeries(genuine: str, other: str) -> dict[str, str]:
    """Forged offer texts, made from the *genuine* offer and the *other* genuine offer."""
    own_key = replace_field(genuine, "pk", MALLORY_PK)
    return {
        "own X25519 key, signed by its own key": resign(own_key, MALLORY_SEED),
        "own X25519 key, its own signature under the bank's key id": resign(
            own_key, MALLORY_SEED, kid=key_id(BANK_KEY)
        ),
        "own X25519 key, unsigned (an all-zero signature)": replace_field(
            own_key, "sig", b64(bytes(64))
        ),
        "own X25519 key, the bank's signature of the genuine text": own_key,
        "the bank's signature, a later expiry": replace_field(
            genuine, "exp", str(Offer.parse(genuine).expires + 3600)
        ),
        "the bank's signature, another URL": replace_field(
            genuine, "url", urllib.parse.quote("https://bank-example.example/activate", safe="")
        ),
        "the bank's signature, another key id": replace_field(
            genuine, "kid", b64(key_id(MALLORY_KEY))
        ),
        "another genuine offer's signature": replace_field(
            genuine, "sig", b64(offer_field(other, "sig"))
        ),
    }


def crack(offer_text: str, private_key: bytes, request: Request, guesses: list[str]) -> str | None:
    """The forger's offline search. Its own X25519 key gives it ``shared``, hence K_proof, so
    each guess costs one derivation (written with hmac and hashlib)."""
    shared = exchange(private_key, request.app_key)
    assert shared is not None
    for guess in guesses:
        derived = derivations(offer_text, request.activation_id, request.app_key, guess, shared)
        if hmac.compare_digest(derived["proof"], request.proof):
            return guess
    return None


def near(password: str) -> list[str]:
    """1,000 guesses around *password*: a slice of the 10^8 the forger would try."""
    return [f"{(int(password) + d) % 10**8:08d}" for d in range(-500, 500)]


@attrs.define
class Counts:
    """Calls made inside softtoken.provisioning.qr_activation while a test ran."""

    draws: list[int] = attrs.field(factory=list)
    derivations: list[bytes] = attrs.field(factory=list)
    exchanges: list[bytes] = attrs.field(factory=list)


def count_work(monkeypatch: pytest.MonkeyPatch) -> Counts:
    """Count the draws from softtoken._random, and the HKDF and X25519 calls of the module,
    each still done."""
    counts = Counts()

    def draw(n: int) -> bytes:
        counts.draws.append(n)
        return secrets.token_bytes(n)

    def derive(ikm: bytes, *, info: bytes, salt: bytes | None = None, length: int = 32) -> bytes:
        counts.derivations.append(info)
        return hkdf(ikm, info=info, salt=salt, length=length)

    def agree(private_key: bytes, public_key: bytes) -> bytes | None:
        counts.exchanges.append(public_key)
        return _exchange(private_key, public_key)

    monkeypatch.setattr(_random, "_source", draw)
    monkeypatch.setattr(qr_activation, "hkdf", derive)
    monkeypatch.setattr(qr_activation, "_exchange", agree)
    return counts


class TestForgedQR:
    """A phishing page shows an offer with the attacker's own X25519 key; the user scans it and
    types the real SMS password. Unsigned offers let the attacker search the proof offline
    (7 µs a guess, 10^8 in 12 core-minutes) and register its own device first. Now the app
    refuses any offer no pinned bank key signed, before a proof exists."""

    GENUINE: Final = bank_offer()[0].to_text()
    FORGERIES: Final = forgeries(GENUINE, bank_offer()[0].to_text())

    def test_every_forgery_is_an_offer(self) -> None:
        """Each forgery parses: only the signature check can refuse it."""
        assert len(self.FORGERIES) == len({Offer.parse(t) for t in self.FORGERIES.values()})

    @pytest.mark.parametrize("name", sorted(FORGERIES))
    def test_refused_before_anything_is_drawn_or_derived(
        self, name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """respond refuses each forgery with ActivationRefused, with no draw from
        softtoken._random, no HKDF and no X25519: no key pair, no proof."""
        forged = Offer.parse(self.FORGERIES[name])
        counts = count_work(monkeypatch)

        with pytest.raises(ActivationRefused):
            respond(forged, "31415926", now=NOW, trusted_keys=TRUSTED)

        assert Counts() == counts

    def test_control_the_genuine_offer_draws_and_derives(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Control: the counters see the work of answering the genuine offer."""
        counts = count_work(monkeypatch)
        respond(Offer.parse(self.GENUINE), "31415926", now=NOW, trusted_keys=TRUSTED)
        assert [32] == counts.draws
        assert [Label.QR_PASSWORD, Label.QR_PROOF_KEY, Label.QR_CONFIRM_KEY] == counts.derivations
        assert 1 == len(counts.exchanges)

    def test_control_the_attack_on_an_app_that_trusts_the_forger(self) -> None:
        """Control, the review's attack end to end: an app that trusted the forger's key would
        answer; the forger finds the password offline from the proof, then registers its own
        device at the bank with it."""
        offer, password, pending = bank_offer()
        forged = resign(replace_field(offer.to_text(), "pk", MALLORY_PK), MALLORY_SEED)

        request, _ = respond(Offer.parse(forged), password, now=NOW, trusted_keys=[MALLORY_KEY])
        found = crack(forged, MALLORY_X25519, request, near(password))

        assert password == found
        own = respond(offer, found, now=NOW, trusted_keys=TRUSTED)[0]
        assert Outcome.ACCEPTED == accept(pending, own, now=NOW)[0]

    def test_the_attack_fails_on_an_app_that_pins_the_bank(self) -> None:
        """The same attack on an app that pins the bank's key: the forged offer is refused, so
        there is no request, no proof to search, and nothing reaches the bank; the user's own
        scan of the genuine offer then completes."""
        offer, password, pending = bank_offer()
        forged = resign(replace_field(offer.to_text(), "pk", MALLORY_PK), MALLORY_SEED)

        with pytest.raises(ActivationRefused):
            respond(Offer.parse(forged), password, now=NOW, trusted_keys=TRUSTED)

        assert 0 == pending.version
        assert Outcome.ACCEPTED == accept(pending, answer(offer, password), now=NOW)[0]

    def test_a_relayed_genuine_offer_gives_nothing_to_search(self) -> None:
        """A phishing page that shows the genuine offer gets the user's request, but without a
        private key of the exchange no guess reproduces the proof, the right one included."""
        offer, password, _ = bank_offer()
        request = answer(offer, password)
        assert None is crack(offer.to_text(), MALLORY_X25519, request, near(password))


# --------------------------------------------------------------------------------------------
# Constant-time comparisons (S9)
# --------------------------------------------------------------------------------------------


def count_comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Replace the module's compare_digest with a wrapper that records its arguments."""
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(qr_activation, "compare_digest", compare)
    return calls


class TestConstantTime:
    """The proof and the confirmation are compared with hmac.compare_digest, right or wrong."""

    def test_the_proof(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """accept compares a right and a wrong proof with compare_digest, once each."""
        r = run()
        bad = answer(r.offer, wrong(r.password))
        calls = count_comparisons(monkeypatch)

        assert Outcome.WRONG_PROOF == accept(r.pending, bad, now=NOW)[0]
        assert Outcome.ACCEPTED == accept(r.pending, r.request, now=NOW)[0]

        assert [bad.proof, r.request.proof] == [b for _, b in calls]

    def test_the_confirmation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """finish compares a right and a wrong confirmation with compare_digest, once each."""
        r = run()
        _, _, response, _ = accept(r.pending, r.request, now=NOW)
        assert response is not None
        forged = qr_activation.Response(confirmation=bytes(32))
        calls = count_comparisons(monkeypatch)

        finish(r.app, response)
        with pytest.raises(ActivationRefused):
            finish(r.app, forged)

        assert [
            (r.app.confirmation, response.confirmation),
            (r.app.confirmation, forged.confirmation),
        ] == calls


# --------------------------------------------------------------------------------------------
# S18: only a private key completes the derivation
# --------------------------------------------------------------------------------------------


def attacker(
    offer_text: str, password: str, request_text: str, response_text: str, private_key: bytes
) -> tuple[set[bytes], bool]:
    """The attacker's best offline attempt.

    It is the protocol's whole derivation, written out independently, fed with every public
    value (the offer from a photo of the QR, the request and the response from the wire) and
    with the SMS password, and with *private_key* standing in for the one value the attacker
    lacks. The key is tried in both places a private key goes: against the issuer's public key
    (as the app's key) and against the app's public key (as the issuer's key).

    Returns the candidate secrets, and whether any candidate's derivation reproduces the proof
    or the confirmation seen on the wire (which would be an offline test of a guess).
    """
    request = unb64(request_text)
    activation_id, app_key, proof = request[1:17], request[17:49], request[49:]
    secrets_, tested = set(), False
    for peer in (offer_field(offer_text, "pk"), app_key):
        shared = exchange(private_key, peer)
        if shared is None:
            continue
        derived = derivations(offer_text, activation_id, app_key, password, shared)
        secrets_.add(derived["secret"])
        tested |= derived["proof"] == proof
        tested |= derived["confirmation"] == unb64(response_text)[1:]
    return secrets_, tested


@attrs.frozen
class Seen:
    """What the attacker holds, and, apart, what only the two sides hold."""

    offer: str
    password: str
    request: str
    response: str
    secret: bytes
    app_key: bytes
    issuer_key: bytes

    def attempt(self, private_key: bytes) -> tuple[set[bytes], bool]:
        """The attacker's attempt with *private_key*."""
        return attacker(self.offer, self.password, self.request, self.response, private_key)


def seen() -> Seen:
    """One completed activation, as the attacker and the two sides see it."""
    r = run()
    issuer_key = r.pending.private_key
    _, _, response, secret = accept(r.pending, r.request, now=NOW)
    assert response is not None
    assert secret is not None
    assert issuer_key is not None
    return Seen(
        offer=r.offer.to_text(),
        password=r.password,
        request=r.request.to_text(),
        response=response.to_text(),
        secret=secret,
        app_key=r.app.private_key,
        issuer_key=issuer_key,
    )


SEEN: Final = seen()


def clamp(key: bytes) -> bytes:
    """RFC 7748 §5 decodeScalar25519: two keys are the same key when they clamp alike."""
    k = bytearray(key)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return bytes(k)


class TestOnlyTheDeviceKey:
    """SECURITY.md S18: a photo of the QR, the SMS password and both wire messages yield
    nothing offline without a private key.

    :func:`attacker` is the protocol's whole derivation with a private key as its only free
    input; everything else it uses is public or the password. With the app's or the issuer's
    private key it yields the secret (the control: nothing is missing from it). With any other
    key it yields neither the secret nor a match for the proof or the confirmation. Why: the
    secret is HKDF of X25519(app private key, issuer public key), which equals X25519(issuer
    private key, app public key) and needs one of those two private keys (RFC 7748 §6.1); the
    password is not an input of the secret at all, only of the proof, which is keyed by the same
    shared value. Neither private key travels (:class:`TestFlow` scans the messages), and the
    bank's signing key, which only vouches for the offer, is no input of any of them.
    """

    @pytest.mark.parametrize("side", ["app", "issuer"])
    def test_control_a_real_private_key_completes_it(self, side: str) -> None:
        """With the app's or the issuer's private key the attacker's computation is complete:
        it gives the secret and reproduces the proof and the confirmation."""
        key = SEEN.app_key if side == "app" else SEEN.issuer_key
        secrets_, tested = SEEN.attempt(key)
        assert SEEN.secret in secrets_
        assert tested

    @given(st.binary(min_size=32, max_size=32))
    @example(bytes(32))
    @example(b"\xff" * 32)
    @example(BANK_SEED)
    def test_any_other_key_fails(self, key: bytes) -> None:
        """No other private key gives the secret, or a check value to test a password guess."""
        if clamp(key) in (clamp(SEEN.app_key), clamp(SEEN.issuer_key)):
            return
        secrets_, tested = SEEN.attempt(key)
        assert (False, False) == (SEEN.secret in secrets_, tested)

    def test_the_attackers_own_key_pair_fails(self) -> None:
        """The attacker answering the same offer with the password gets a key pair and a
        secret of its own, never the user's."""
        _, own = respond(Offer.parse(SEEN.offer), SEEN.password, now=NOW, trusted_keys=TRUSTED)
        secrets_, tested = SEEN.attempt(own.private_key)
        assert (False, False) == (SEEN.secret in secrets_, tested)

    def test_keys_made_from_public_values_and_the_password_fail(self) -> None:
        """Keys made from the password, the verifier and every public value (the bank's keys
        and the signature included) all fail."""
        request = unb64(SEEN.request)
        activation_id = request[1:17]
        password = SEEN.password.encode()
        verifier = hkdf_sha256(
            password, salt=activation_id, info=b"softtoken/qr/password/v1", length=32
        )
        candidates = [
            hashlib.sha256(password).digest(),
            hashlib.pbkdf2_hmac("sha256", password, activation_id, 1000),
            verifier,
            password.ljust(32, b"\x00"),
            activation_id * 2,
            request[17:49],
            request[49:],
            unb64(SEEN.response)[1:],
            offer_field(SEEN.offer, "pk"),
            offer_field(SEEN.offer, "sig")[:32],
            offer_field(SEEN.offer, "sig")[32:],
            BANK_KEY,
            hashlib.sha256(SEEN.offer.encode()).digest(),
        ]
        results = [SEEN.attempt(key) for key in candidates]
        assert [(False, False)] * len(candidates) == [
            (SEEN.secret in secrets_, tested) for secrets_, tested in results
        ]

    def test_the_password_does_not_feed_the_secret(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the same random keys, two passwords give the same offer and the same secret:
        the password gates the issuer's acceptance and is no input of anything a photo shows."""
        results = []
        for digits in (bytes([1, 2, 3, 4, 5, 6, 7, 8]), bytes([8, 7, 6, 5, 4, 3, 2, 1])):
            pin(monkeypatch, ALICE, bytes(range(16)), digits, BOB)
            offer, password, pending = bank_offer()
            _, _, _, secret = accept(pending, answer(offer, password), now=NOW)
            results.append((password, offer.to_text(), secret))
        (first, offer_1, secret_1), (second, offer_2, secret_2) = results
        assert first != second
        assert (offer_1, secret_1) == (offer_2, secret_2)


# --------------------------------------------------------------------------------------------
# Randomness (S3)
# --------------------------------------------------------------------------------------------


class TestRandomness:
    """Every random value comes from softtoken._random, in a stated order."""

    def test_draws(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """start draws the issuer key, the id and the password digits (signing draws
        nothing); respond draws the app key."""
        source = pin(monkeypatch, ALICE, bytes(range(16)), bytes(range(8)), BOB)
        offer, password, pending = bank_offer()
        request, app = respond(offer, password, now=NOW, trusted_keys=TRUSTED)

        assert [32, 16, 8, 32] == source.requests
        assert "01234567" == password
        assert (ALICE, bytes(range(16))) == (pending.private_key, offer.activation_id)
        assert (BOB, public(BOB)) == (app.private_key, request.app_key)
