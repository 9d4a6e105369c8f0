"""Tests for QR activation (softtoken.provisioning.qr_activation; SECURITY.md S3, S12, S13, S18).

The protocol is checked end to end, against a reference model of its refusals, against tampering
with every byte of every message, against fuzzed input to every parser, against a fixed run
recorded in ``tests/vectors/qr-activation.txt`` and computed once more here without softtoken,
and against an attacker who holds everything but a private key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken import _random
from softtoken.exceptions import (
    ActivationRefused,
    InvalidInput,
    InvalidRecord,
    MalformedCode,
    SoftTokenError,
)
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.qr_activation import (
    MAX_OFFER_LENGTH,
    AppQRState,
    Offer,
    Outcome,
    PendingQR,
    Request,
    Response,
    accept,
    finish,
    respond,
    start,
)
from softtoken.render import qr_png, qr_svg, qr_text
from softtoken.throttle import ThrottleState
from tests import strategies as sts
from tests.utils import load_vectors

SERIAL: Final = Serial.from_number(123_456_789)
URL: Final = "https://bank.example/activate"
NOW: Final = 1_700_000_000
P: Final = 2**255 - 19
# RFC 7748 §6.1: Alice's and Bob's private keys, and the shared secret K they agree on.
ALICE: Final = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
BOB: Final = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
RFC_7748_K: Final = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
# X25519 public keys that no exchange may use: zero and one (small order, RFC 7748 §7), and
# p and p + 1, the non-canonical spellings of zero and one.
BAD_KEYS: Final = [n.to_bytes(32, "little") for n in (0, 1, P, P + 1)]
SECRET_LENGTHS: Final = {0: 20, 1: 32, 2: 64}
ZBARIMG: Final = shutil.which("zbarimg")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def public(private_key: bytes) -> bytes:
    """The X25519 public key of *private_key*, by cryptography directly."""
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def exchange(private_key: bytes, public_key: bytes) -> bytes | None:
    """X25519 by cryptography directly; None for a public key it refuses."""
    try:
        return X25519PrivateKey.from_private_bytes(private_key).exchange(
            X25519PublicKey.from_public_bytes(public_key)
        )
    except ValueError:
        return None


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 written out from RFC 5869 §2.2 (extract) and §2.3 (expand)."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def b64(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def transcript_of(offer_text: str, app_key: bytes) -> bytes:
    """The transcript, spelled out: label, version, offer length and text, app public key."""
    offer = offer_text.encode("ascii")
    return b"softtoken/qr/transcript/v1\x00\x01" + len(offer).to_bytes(2, "big") + offer + app_key


def offer_field(offer_text: str, name: str) -> bytes:
    """The bytes of a base64url field of an offer's text."""
    return unb64(urllib.parse.parse_qs(offer_text.split("?", 1)[1])[name][0])


def derivations(
    offer_text: str, activation_id: bytes, app_key: bytes, password: str, shared: bytes
) -> dict[str, bytes]:
    """Every value the protocol derives once *shared* is known, from public inputs and the
    password, written with hmac and hashlib only (RFC 5869, RFC 2104)."""
    params = offer_field(offer_text, "tp")
    transcript = transcript_of(offer_text, app_key)
    salt = hashlib.sha256(transcript).digest()

    def key(label: bytes, length: int = 32) -> bytes:
        return hkdf_sha256(shared, salt=salt, info=label, length=length)

    verifier = hkdf_sha256(
        password.encode("ascii"), salt=activation_id, info=b"softtoken/qr/password/v1", length=32
    )
    return {
        "proof": hmac.new(
            key(b"softtoken/qr/proof-key/v1"), verifier + transcript, hashlib.sha256
        ).digest(),
        "confirmation": hmac.new(
            key(b"softtoken/qr/confirm-key/v1"), transcript + b"issuer", hashlib.sha256
        ).digest(),
        "secret": key(b"softtoken/qr/secret/v1", SECRET_LENGTHS[params[2]]),
    }


def wrong(password: str) -> str:
    """Another 8-digit password."""
    return f"{(int(password) + 1) % 10**8:08d}"


@attrs.frozen
class Run:
    """One activation carried out: what each side holds and what travelled."""

    offer: Offer
    password: str
    pending: PendingQR
    request: Request
    app: AppQRState


def run(*, params: TokenParams = DEFAULT_PARAMS, attempts: int = 5, ttl: int = 600) -> Run:
    """Start an activation of SERIAL at NOW and answer it with the right password at NOW."""
    offer, password, pending = start(
        SERIAL, now=NOW, url=URL, params=params, ttl=ttl, attempts=attempts
    )
    request, app = respond(Offer.parse(offer.to_text()), password, now=NOW)
    return Run(offer, password, pending, request, app)


def offer_of(fields: dict[str, Any]) -> Offer:
    """An Offer from sts.qr_offer_fields."""
    return Offer(
        serial=Serial.from_number(fields["serial_number"]),
        activation_id=fields["activation_id"],
        issuer_key=public(fields["issuer_private"]),
        params=TokenParams(**fields["params"]),
        expires=fields["expires"],
        url=fields["url"],
    )


def spellings(data: bytes) -> list[bytes]:
    """*data* as raw bytes and in every text encoding a message or a log might use."""
    texts = [
        data.hex(),
        data.hex().upper(),
        base64.b64encode(data).decode().rstrip("="),
        b64(data),
        base64.b32encode(data).decode().rstrip("="),
    ]
    return [data, *(t.encode("ascii") for t in texts)]


def leaks(secret: bytes, *haystacks: bytes) -> bool:
    """Whether any spelling of *secret*, or of its first 8 bytes, is in any haystack."""
    needles = spellings(secret) + spellings(secret[:8])
    return any(n in h for n, h in itertools.product(needles, haystacks))


def parse_or_error(parse: Callable[[Any], object], value: object) -> object:
    """What *parse* returns, or the softtoken error it raised (anything else propagates)."""
    try:
        return parse(value)
    except SoftTokenError as error:
        return error


def quiet(outcome: object, parse: Callable[[Any], object], blank: str | bytes = "") -> bool:
    """Whether *outcome* is a refusal that cannot quote its input: the same error, with the same
    constant message, that *parse* gives for *blank* input, and no inner exception."""
    reference = parse_or_error(parse, blank)
    assert isinstance(reference, SoftTokenError)
    return (
        isinstance(outcome, SoftTokenError)
        and (type(reference), reference.args) == (type(outcome), outcome.args)
        and (None, None) == (outcome.__cause__, outcome.__context__)
    )


class PinnedSource:
    """A stand-in for softtoken._random._source: hands out a fixed byte stream in order and
    records each request."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream
        self.requests: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.requests.append(n)
        out, self.stream = self.stream[:n], self.stream[n:]
        return out


def pin(monkeypatch: pytest.MonkeyPatch, *chunks: bytes) -> PinnedSource:
    """Replace the CSPRNG with *chunks*, concatenated."""
    source = PinnedSource(b"".join(chunks))
    monkeypatch.setattr(_random, "_source", source)
    return source


# --------------------------------------------------------------------------------------------
# The flow
# --------------------------------------------------------------------------------------------


RUN_FOR_TEXT: Final = run()


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
        assert secret == finish(AppQRState.from_bytes(r.app.to_bytes()), response)
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
        attempts=st.integers(1, 6),
        url=sts.qr_urls,
    )
    def test_every_completed_activation_gives_both_sides_the_same_secret(
        self, fields: dict[str, Any], number: int, now: int, ttl: int, attempts: int, url: str
    ) -> None:
        """Every activation that completes yields the same secret, of at least 20 bytes, on
        both sides, and both make the same codes."""
        params = TokenParams(**fields)
        offer, password, pending = start(
            Serial.from_number(number), now=now, url=url, params=params, ttl=ttl, attempts=attempts
        )
        request, app = respond(Offer.parse(offer.to_text()), password, now=now + ttl - 1)

        outcome, _, response, secret = accept(pending, request, now=now + ttl - 1)

        assert Outcome.ACCEPTED == outcome
        assert response is not None
        assert secret is not None
        assert secret == finish(app, response)
        assert max(20, params.secret_length) == len(secret)

    def test_no_secret_travels(self) -> None:
        """Neither the secret nor a private key is in the offer, the request or the response,
        in any common encoding."""
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
                ("password", r.password.encode()),
            ]
            if leaks(value, *wire)
        ]

    def test_password_typed_in_groups(self) -> None:
        """The password may be typed as "1234 5678"; a password that is not 8 digits is a
        MalformedCode, and one passed as an int is a TypeError."""
        r = run()
        request, _ = respond(r.offer, f"{r.password[:4]} {r.password[4:]}", now=NOW)
        assert Outcome.ACCEPTED == accept(r.pending, request, now=NOW)[0]
        with pytest.raises(MalformedCode):
            respond(r.offer, r.password[:7], now=NOW)
        with pytest.raises(TypeError):
            respond(r.offer, int(r.password), now=NOW)  # type: ignore[arg-type]

    def test_done_keeps_no_key(self) -> None:
        """Once done, the pending value holds neither the private key nor the verifier."""
        r = run()
        _, pending, _, _ = accept(r.pending, r.request, now=NOW)
        assert (None, None) == (pending.private_key, pending.verifier)
        assert 1 == pending.version

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


# --------------------------------------------------------------------------------------------
# Refusals at the issuer
# --------------------------------------------------------------------------------------------


class TestRefusals:
    """Each refusal is its own outcome, recorded in the pending value, with nothing returned."""

    def test_wrong_password_costs_one_attempt(self) -> None:
        """A wrong password is WRONG_PROOF, counts one failure, and the right one still works."""
        r = run()
        request, _ = respond(r.offer, wrong(r.password), now=NOW)

        outcome, pending, response, secret = accept(r.pending, request, now=NOW)

        assert (Outcome.WRONG_PROOF, None, None) == (outcome, response, secret)
        assert (1, 4, 1) == (pending.throttle.failures, pending.remaining, pending.version)
        assert Outcome.WRONG_PROOF == pending.last_outcome
        assert Outcome.ACCEPTED == accept(pending, r.request, now=NOW)[0]

    def test_budget_runs_out(self) -> None:
        """Three wrong passwords with a budget of 3 spend it; then the right one is refused."""
        r = run(attempts=3)
        pending, outcomes = r.pending, []
        for _ in range(3):
            request, _ = respond(r.offer, wrong(r.password), now=NOW)
            outcome, pending, _, _ = accept(pending, request, now=NOW)
            outcomes.append(outcome)

        assert [Outcome.WRONG_PROOF, Outcome.WRONG_PROOF, Outcome.SPENT_NOW] == outcomes
        assert (None, None, 0) == (pending.private_key, pending.verifier, pending.remaining)
        outcome, _, response, secret = accept(pending, r.request, now=NOW)
        assert (Outcome.SPENT, None, None) == (outcome, response, secret)

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
        assert (0, Outcome.EXPIRED) == (pending.throttle.failures, pending.last_outcome)
        assert Outcome.ACCEPTED == accept(r.pending, r.request, now=NOW + 599)[0]

    def test_app_refuses_an_expired_offer(self) -> None:
        """The app refuses to answer an offer at or after its expiry."""
        r = run(ttl=600)
        with pytest.raises(ActivationRefused):
            respond(r.offer, r.password, now=NOW + 600)

    def test_foreign_request(self) -> None:
        """Another offer's request is FOREIGN: nothing counted, and the right one still works."""
        mine, theirs = run(), run()

        outcome, pending, _, secret = accept(mine.pending, theirs.request, now=NOW)

        assert (Outcome.FOREIGN, None) == (outcome, secret)
        assert (0, 1) == (pending.throttle.failures, pending.version)
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
        """accept gives, for any sequence of requests, the outcome a ten-line model predicts."""
        r, other = run(attempts=attempts), run()
        pending = r.pending
        done, failures, actual, expected = False, 0, [], []
        for event in events:
            typed = wrong(r.password) if event == "wrong" else r.password
            request = other.request if event == "foreign" else respond(r.offer, typed, now=NOW)[0]
            outcome, pending, _, _ = accept(pending, request, now=NOW + 600 * (event == "late"))
            actual.append(outcome)
            if event == "foreign":
                expected.append(Outcome.FOREIGN)
            elif done:
                expected.append(Outcome.REPLAYED)
            elif failures >= attempts:
                expected.append(Outcome.SPENT)
            elif event == "late":
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
            request = r.request if replay else respond(r.offer, r.password, now=NOW)[0]
            outcome, pending, response, secret = accept(pending, request, now=NOW)
            assert (Outcome.REPLAYED, None, None) == (outcome, response, secret)

    @given(events=st.lists(st.sampled_from(["right", "wrong", "foreign", "late"]), max_size=8))
    def test_version_grows_by_one_per_change(self, events: list[str]) -> None:
        """Each returned pending value is the one given, or differs from it with version + 1."""
        r, other = run(attempts=3), run()
        pending = r.pending
        for event in events:
            typed = wrong(r.password) if event == "wrong" else r.password
            request = other.request if event == "foreign" else respond(r.offer, typed, now=NOW)[0]
            _, after, _, _ = accept(pending, request, now=NOW + 600 * (event == "late"))
            assert after is pending or pending.version + 1 == after.version
            pending = after


# --------------------------------------------------------------------------------------------
# Tampering
# --------------------------------------------------------------------------------------------


class TestTampering:
    """No altered message completes an activation."""

    @pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
    def test_every_request_byte(self, mask: int) -> None:
        """Each byte of the request altered: the version is unreadable, the id is FOREIGN, the
        key unreadable or a WRONG_PROOF, the proof a WRONG_PROOF."""
        r = run()
        data = r.request.to_bytes()
        results: list[object] = []
        for i in range(len(data)):
            altered = data[:i] + bytes([data[i] ^ mask]) + data[i + 1 :]
            parsed = parse_or_error(Request.from_bytes, altered)
            if isinstance(parsed, Request):
                results.append(accept(r.pending, parsed, now=NOW)[0])
            else:
                assert isinstance(parsed, InvalidInput)
                results.append("unreadable")

        assert ["unreadable"] == results[:1]
        assert [Outcome.FOREIGN] * 16 == results[1:17]
        assert {"unreadable", Outcome.WRONG_PROOF} >= set(results[17:49])
        assert [Outcome.WRONG_PROOF] * 32 == results[49:]

    @pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
    def test_every_response_byte(self, mask: int) -> None:
        """Each byte of the response altered: unreadable, or refused by finish."""
        r = run()
        _, _, response, _ = accept(r.pending, r.request, now=NOW)
        assert response is not None
        data = response.to_bytes()
        for i in range(len(data)):
            altered = data[:i] + bytes([data[i] ^ mask]) + data[i + 1 :]
            parsed = parse_or_error(Response.from_bytes, altered)
            if isinstance(parsed, Response):
                with pytest.raises(ActivationRefused):
                    finish(r.app, parsed)
            else:
                assert (0, InvalidInput) == (i, type(parsed))

    def test_every_offer_character(self) -> None:
        """Each character of the offer replaced: unreadable, refused by the app as expired, or
        refused by the issuer; never accepted."""
        r = run()
        text = r.offer.to_text()
        accepted = []
        for i, replacement in itertools.product(range(len(text)), "0Aa-%"):
            if text[i] == replacement:
                continue
            altered = parse_or_error(Offer.parse, text[:i] + replacement + text[i + 1 :])
            if isinstance(altered, SoftTokenError):
                continue
            assert isinstance(altered, Offer)
            answered = parse_or_error(lambda offer: respond(offer, r.password, now=NOW), altered)
            if isinstance(answered, tuple):
                outcome = accept(r.pending, answered[0], now=NOW)[0]
                if outcome is Outcome.ACCEPTED:
                    accepted.append(i)
        assert [] == accepted

    def test_response_to_another_activation(self) -> None:
        """The response of another activation is refused by finish."""
        mine, theirs = run(), run()
        _, _, response, _ = accept(theirs.pending, theirs.request, now=NOW)
        assert response is not None
        with pytest.raises(ActivationRefused):
            finish(mine.app, response)

    @given(sts.mutated(st.just(RUN_FOR_TEXT.request.to_text())))
    def test_no_other_request_text_is_accepted(self, text: str) -> None:
        """A corrupted request text either is refused, or is the request's own text."""
        r = RUN_FOR_TEXT
        parsed = parse_or_error(Request.parse, text)
        if isinstance(parsed, Request):
            outcome = accept(r.pending, parsed, now=NOW)[0]
            assert (outcome is Outcome.ACCEPTED) == (text == r.request.to_text())


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
    secrets, tested = set(), False
    for peer in (offer_field(offer_text, "pk"), app_key):
        shared = exchange(private_key, peer)
        if shared is None:
            continue
        derived = derivations(offer_text, activation_id, app_key, password, shared)
        secrets.add(derived["secret"])
        tested |= derived["proof"] == proof
        tested |= derived["confirmation"] == unb64(response_text)[1:]
    return secrets, tested


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
    shared value. Neither private key travels (:class:`TestFlow` scans the messages).
    """

    @pytest.mark.parametrize("side", ["app", "issuer"])
    def test_control_a_real_private_key_completes_it(self, side: str) -> None:
        """With the app's or the issuer's private key the attacker's computation is complete:
        it gives the secret and reproduces the proof and the confirmation."""
        key = SEEN.app_key if side == "app" else SEEN.issuer_key
        secrets, tested = SEEN.attempt(key)
        assert SEEN.secret in secrets
        assert tested

    @given(st.binary(min_size=32, max_size=32))
    @example(bytes(32))
    @example(b"\xff" * 32)
    def test_any_other_key_fails(self, key: bytes) -> None:
        """No other private key gives the secret, or a check value to test a password guess."""
        if clamp(key) in (clamp(SEEN.app_key), clamp(SEEN.issuer_key)):
            return
        secrets, tested = SEEN.attempt(key)
        assert (False, False) == (SEEN.secret in secrets, tested)

    def test_the_attackers_own_key_pair_fails(self) -> None:
        """The attacker answering the same offer with the password gets a key pair and a
        secret of its own, never the user's."""
        offer = Offer.parse(SEEN.offer)
        _, own = respond(offer, SEEN.password, now=NOW)
        secrets, tested = SEEN.attempt(own.private_key)
        assert (False, False) == (SEEN.secret in secrets, tested)

    def test_keys_made_from_public_values_and_the_password_fail(self) -> None:
        """Keys made from the password, the verifier and every public value all fail."""
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
            hashlib.sha256(SEEN.offer.encode()).digest(),
        ]
        results = [SEEN.attempt(key) for key in candidates]
        assert [(False, False)] * len(candidates) == [
            (SEEN.secret in secrets, tested) for secrets, tested in results
        ]

    def test_the_password_does_not_feed_the_secret(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the same random keys, two passwords give the same offer and the same secret:
        the password gates the issuer's acceptance and is no input of anything a photo shows."""
        results = []
        for digits in (bytes([1, 2, 3, 4, 5, 6, 7, 8]), bytes([8, 7, 6, 5, 4, 3, 2, 1])):
            pin(monkeypatch, ALICE, bytes(range(16)), digits, BOB)
            offer, password, pending = start(SERIAL, now=NOW, url=URL)
            request, _ = respond(offer, password, now=NOW)
            _, _, _, secret = accept(pending, request, now=NOW)
            results.append((password, offer.to_text(), secret))
        (first, offer_1, secret_1), (second, offer_2, secret_2) = results
        assert first != second
        assert (offer_1, secret_1) == (offer_2, secret_2)


# --------------------------------------------------------------------------------------------
# Parsers (S13)
# --------------------------------------------------------------------------------------------


OFFER_TEXTS: Final = st.builds(lambda fields: offer_of(fields).to_text(), sts.qr_offer_fields)


OFFER_EXAMPLE: Final = Offer(
    serial=SERIAL,
    activation_id=bytes(range(16)),
    issuer_key=public(ALICE),
    params=DEFAULT_PARAMS,
    expires=NOW,
    url=URL,
).to_text()


class TestOffer:
    """The offer has one spelling, holds no secret, and is read strictly."""

    def test_layout(self) -> None:
        """The offer is the seven parameters in order, with the URL fully percent-encoded."""
        offer = Offer(
            serial=SERIAL,
            activation_id=bytes(range(16)),
            issuer_key=public(ALICE),
            params=DEFAULT_PARAMS,
            expires=NOW,
            url="https://bank.example/a?b=c&d=%7E",
        )
        expected = (
            "softtoken://activate?v=1&sn=1234567897&id=AAECAwQFBgcICQoLDA0ODw"
            "&pk=hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo&tp=AQEABgAAAB4&exp=1700000000"
            "&url=https%3A%2F%2Fbank.example%2Fa%3Fb%3Dc%26d%3D%257E"
        )
        assert expected == offer.to_text()

    @given(sts.qr_offer_fields)
    def test_parse_inverts_to_text(self, fields: dict[str, Any]) -> None:
        """Every offer reads back from its text to itself."""
        offer = offer_of(fields)
        assert offer == Offer.parse(offer.to_text())
        assert offer == Offer.from_bytes(offer.to_bytes())
        assert MAX_OFFER_LENGTH >= len(offer.to_text())

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            ("v=1", "v=2"),
            ("softtoken://activate?", "SOFTTOKEN://activate?"),
            ("softtoken://activate?", "softtoken://register?"),
            ("&sn=1234567897", "&sn=1234567898"),
            ("&sn=1234567897", "&sn=12345-67897"),
            ("&exp=", "&exp=0"),
            ("&exp=", "&exp=+"),
            ("&id=AAECAwQFBgcICQoLDA0ODw", "&id=AAECAwQFBgcICQoLDA0ODx"),
            ("&id=AAECAwQFBgcICQoLDA0ODw", "&id=AAECAwQFBgcICQoLDA0ODw=="),
            ("&id=AAECAwQFBgcICQoLDA0ODw", "&id=AAECAwQFBgcICQoLDA0OD"),
            ("&tp=AQEABgAAAB4", "&tp=AQEABgAAAAA"),
            ("&tp=AQEABgAAAB4", "&tp=AQEEBgAAAB4"),
            ("%2F", "%2f"),
            ("%2F", "/"),
            ("bank", "%62ank"),
            ("https%3A", "http%3A"),
            ("&url=", "&id=AAECAwQFBgcICQoLDA0ODw&url="),
            ("v=1&sn=1234567897", "sn=1234567897&v=1"),
            ("v=1&", "v=1&&"),
            ("v=1", "v=1&x=y"),
        ],
    )
    def test_refusals(self, old: str, new: str) -> None:
        """A wrong scheme, version, serial, id, key, params, number or escape, a reordered,
        missing, repeated or extra parameter: each is refused."""
        text = OFFER_EXAMPLE.replace(old, new, 1)
        assert text != OFFER_EXAMPLE
        with pytest.raises(InvalidInput) as caught:
            Offer.parse(text)
        assert quiet(caught.value, Offer.parse)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "x",
            "softtoken://activate?v=1",
            OFFER_EXAMPLE + "&" + "x" * MAX_OFFER_LENGTH,
        ],
    )
    def test_other_refusals(self, text: str) -> None:
        """Empty, truncated and over-long texts are refused."""
        with pytest.raises(InvalidInput):
            Offer.parse(text)

    @pytest.mark.parametrize("whitespace", [" ", "\n", "\t"])
    def test_no_surrounding_whitespace(self, whitespace: str) -> None:
        """Whitespace around the offer is refused: the caller strips what it reads."""
        with pytest.raises(InvalidInput):
            Offer.parse(OFFER_EXAMPLE + whitespace)

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_unusable_keys_are_refused(self, key: bytes) -> None:
        """A small-order or non-canonical issuer key is refused, in the constructor and the
        parser."""
        text = OFFER_EXAMPLE.replace(OFFER_EXAMPLE.split("&pk=")[1].split("&")[0], b64(key))
        with pytest.raises(InvalidInput):
            Offer.parse(text)
        with pytest.raises(InvalidInput):
            attrs.evolve(Offer.parse(OFFER_EXAMPLE), issuer_key=key)

    @pytest.mark.parametrize(
        "url",
        [
            "http://bank.example/",
            "https://",
            "https://user@bank.example/",
            "https://bank.example/#fragment",
            "https://bank.example/ space",
            "https://bänk.example/",
            "https://bank.example/" + "a" * 300,
        ],
    )
    def test_urls_are_https_of_plain_characters(self, url: str) -> None:
        """Only https URLs of plain ASCII characters, with no user info or fragment."""
        with pytest.raises(InvalidInput):
            start(SERIAL, now=NOW, url=url)

    def test_wrong_types(self) -> None:
        """Non-str text, non-bytes data, and wrong field types are TypeErrors."""
        with pytest.raises(TypeError):
            Offer.parse(OFFER_EXAMPLE.encode())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Offer.from_bytes(OFFER_EXAMPLE)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            start("1234567897", now=NOW, url=URL)  # type: ignore[arg-type]

    @given(st.text(max_size=300))
    @example("softtoken://activate?")
    def test_arbitrary_text_raises_only_invalid_input(self, text: str) -> None:
        """Any text either parses or raises InvalidInput, quoting nothing of it."""
        outcome = parse_or_error(Offer.parse, text)
        assert isinstance(outcome, Offer) or quiet(outcome, Offer.parse)

    @given(sts.mutated(OFFER_TEXTS))
    def test_whatever_parses_is_canonical(self, text: str) -> None:
        """A corrupted offer either is refused, quoting nothing, or is its own canonical text."""
        outcome = parse_or_error(Offer.parse, text)
        if isinstance(outcome, Offer):
            assert text == outcome.to_text()
        else:
            assert quiet(outcome, Offer.parse)


# A request whose proof is all 0xFF bytes, so that its text has "_" (RFC 4648 §5, value 63).
REQUEST_TEXT: Final = Request(
    activation_id=bytes(16), app_key=public(BOB), proof=b"\xff" * 32
).to_text()


class TestMessages:
    """Requests and responses have one spelling each and are read strictly."""

    def test_layouts(self) -> None:
        """A request is 81 bytes (108 characters), a response 33 (44), both version 1 first."""
        r = run()
        _, _, response, _ = accept(r.pending, r.request, now=NOW)
        assert response is not None
        assert (81, 108, 1) == (
            len(r.request.to_bytes()),
            len(r.request.to_text()),
            r.request.to_bytes()[0],
        )
        assert (33, 44, 1) == (
            len(response.to_bytes()),
            len(response.to_text()),
            response.to_bytes()[0],
        )
        assert (
            r.offer.activation_id + r.request.app_key + r.request.proof == r.request.to_bytes()[1:]
        )
        assert response.confirmation == response.to_bytes()[1:]

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_unusable_app_keys_are_refused(self, key: bytes) -> None:
        """A request with a small-order or non-canonical app key does not parse."""
        data = RUN_FOR_TEXT.request.to_bytes()
        with pytest.raises(InvalidInput):
            Request.from_bytes(data[:17] + key + data[49:])

    @pytest.mark.parametrize(
        "text",
        [
            "",
            REQUEST_TEXT + "=",
            REQUEST_TEXT[:-1],
            REQUEST_TEXT + "_",
            REQUEST_TEXT.replace("_", "/"),
            " " + REQUEST_TEXT[1:],
            REQUEST_TEXT + "\n",
        ],
    )
    def test_request_text_refusals(self, text: str) -> None:
        """Padding, a missing or extra character, the standard alphabet and whitespace are
        refused."""
        with pytest.raises(InvalidInput):
            Request.parse(text)

    def test_request_example_parses(self) -> None:
        """The example the refusals alter is itself a request, with "_" in its proof."""
        assert "____" in REQUEST_TEXT
        assert REQUEST_TEXT == Request.parse(REQUEST_TEXT).to_text()

    @given(st.binary(max_size=120))
    @example(bytes([1]) + bytes(80))
    def test_arbitrary_request_bytes(self, data: bytes) -> None:
        """Any bytes either read as a request or raise InvalidInput, quoting nothing."""
        outcome = parse_or_error(Request.from_bytes, data)
        assert isinstance(outcome, Request) or quiet(outcome, Request.from_bytes, b"")

    @given(st.text(max_size=150))
    def test_arbitrary_request_text(self, text: str) -> None:
        """Any text either reads as a request or raises InvalidInput, quoting nothing."""
        outcome = parse_or_error(Request.parse, text)
        assert isinstance(outcome, Request) or quiet(outcome, Request.parse)

    @given(st.binary(max_size=60))
    def test_arbitrary_response_bytes(self, data: bytes) -> None:
        """Any bytes either read as a response or raise InvalidInput, quoting nothing."""
        outcome = parse_or_error(Response.from_bytes, data)
        assert isinstance(outcome, Response) or quiet(outcome, Response.from_bytes, b"")

    @given(st.one_of(st.text(max_size=60), sts.mutated(st.just(b64(bytes([1]) + bytes(32))))))
    def test_arbitrary_response_text(self, text: str) -> None:
        """Any text either reads as a response, spelled canonically, or raises InvalidInput."""
        outcome = parse_or_error(Response.parse, text)
        if isinstance(outcome, Response):
            assert text == outcome.to_text()
        else:
            assert quiet(outcome, Response.parse)

    def test_wrong_types(self) -> None:
        """Messages are read from str or bytes only, and the steps take their own types."""
        r = RUN_FOR_TEXT
        with pytest.raises(TypeError):
            Request.parse(r.request.to_bytes())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Response.from_bytes(bytearray(33))  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            accept(r.pending, r.request.to_text(), now=NOW)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            finish(r.app, b"")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Stored states
# --------------------------------------------------------------------------------------------


def states() -> Iterator[PendingQR]:
    """A pending value in each shape: open, counted, spent, expired-refused, done, replayed."""
    r = run(attempts=2)
    yield r.pending
    bad, _ = respond(r.offer, wrong(r.password), now=NOW)
    counted = accept(r.pending, bad, now=NOW)[1]
    yield counted
    yield accept(counted, bad, now=NOW)[1]
    yield accept(r.pending, r.request, now=NOW + 600)[1]
    done = accept(counted, r.request, now=NOW)[1]
    yield done
    yield accept(done, r.request, now=NOW)[1]


STATES: Final = list(states())


class TestStates:
    """Pending values read back exactly, and anything else is an InvalidRecord."""

    @pytest.mark.parametrize("pending", STATES)
    def test_pending_round_trip(self, pending: PendingQR) -> None:
        """Every shape of pending value reads back to itself."""
        assert pending == PendingQR.from_bytes(pending.to_bytes())

    def test_app_state_round_trip(self) -> None:
        """The app's state reads back to itself."""
        app = RUN_FOR_TEXT.app
        assert app == AppQRState.from_bytes(app.to_bytes())
        assert DEFAULT_PARAMS == app.params

    @pytest.mark.parametrize(
        "data", [STATES[0].to_bytes(), STATES[4].to_bytes(), RUN_FOR_TEXT.app.to_bytes()]
    )
    def test_every_truncation_and_extension_is_refused(self, data: bytes) -> None:
        """Every prefix of a stored state, and the state with a byte added, is refused."""
        read = PendingQR.from_bytes if data[:2] == b"QP" else AppQRState.from_bytes
        for cut in [*range(len(data)), -1]:
            altered = data[:cut] if cut >= 0 else data + b"\x00"
            with pytest.raises(InvalidRecord):
                read(altered)

    @given(st.binary(max_size=400))
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Any bytes either read as a state or raise InvalidRecord."""
        for read in (PendingQR.from_bytes, AppQRState.from_bytes):
            outcome = parse_or_error(read, data)
            assert isinstance(outcome, PendingQR | AppQRState | InvalidRecord)

    @given(
        index=st.sampled_from(range(len(STATES))),
        position=st.integers(0, 400),
        value=st.integers(0, 255),
    )
    def test_altered_bytes_read_canonically_or_not_at_all(
        self, index: int, position: int, value: int
    ) -> None:
        """A stored state with one byte changed is refused, or reads to a value that writes
        the same bytes back."""
        data = bytearray(STATES[index].to_bytes())
        data[position % len(data)] = value
        outcome = parse_or_error(PendingQR.from_bytes, bytes(data))
        if isinstance(outcome, PendingQR):
            assert bytes(data) == outcome.to_bytes()
        else:
            assert isinstance(outcome, InvalidRecord)
            assert (None, None) == (outcome.__cause__, outcome.__context__)

    @pytest.mark.parametrize(
        "changes",
        [
            {"done": True},
            {"private_key": None},
            {"verifier": None},
            {"last_outcome": Outcome.ACCEPTED},
            {"throttle": ThrottleState(attempt_open=True)},
            {"throttle": ThrottleState(not_before=5)},
            {"throttle": ThrottleState(failures=5, blocked=True, episode=1)},
            {"attempts": 0},
            {"private_key": b"k" * 31},
        ],
    )
    def test_pending_invariants(self, changes: dict[str, Any]) -> None:
        """Keys are kept exactly while open, an accepted value is done, attempts are never
        delayed or open, and sizes are exact."""
        with pytest.raises(InvalidInput):
            attrs.evolve(STATES[0], **changes)

    def test_secrets_stay_out_of_repr(self) -> None:
        """No repr shows a private key, the verifier or the password."""
        r = RUN_FOR_TEXT
        assert r.pending.private_key is not None
        assert r.pending.verifier is not None
        text = repr(r.pending) + repr(r.app) + repr(r.request)
        for secret in (r.pending.private_key, r.pending.verifier, r.app.private_key):
            assert repr(secret)[2:-1][:16] not in text
            assert secret.hex()[:16] not in text
        assert r.password not in text

    def test_the_password_is_not_stored(self) -> None:
        """The issuer's stored value holds a verifier, not the password."""
        r = RUN_FOR_TEXT
        assert not leaks(r.password.encode(), r.pending.to_bytes())


# --------------------------------------------------------------------------------------------
# Randomness (S3) and the recorded run
# --------------------------------------------------------------------------------------------


class TestRandomness:
    """Every random value comes from softtoken._random, in a stated order."""

    def test_draws(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """start draws the issuer key, the id and the password digits; respond the app key."""
        source = pin(monkeypatch, ALICE, bytes(range(16)), bytes(range(8)), BOB)
        offer, password, pending = start(SERIAL, now=NOW, url=URL)
        request, app = respond(offer, password, now=NOW)

        assert [32, 16, 8, 32] == source.requests
        assert "01234567" == password
        assert (ALICE, bytes(range(16))) == (pending.private_key, offer.activation_id)
        assert (BOB, public(BOB)) == (app.private_key, request.app_key)


def vector_runs() -> dict[str, dict[str, str]]:
    """The runs of tests/vectors/qr-activation.txt, by run name."""
    runs: dict[str, dict[str, str]] = {}
    for name, field, value in load_vectors("qr-activation.txt"):
        runs.setdefault(name, {})[field] = value
    return runs


RUNS: Final = vector_runs()


def independent_run(v: dict[str, str]) -> dict[str, str]:
    """The recorded run's outputs, computed from its inputs without softtoken: X25519 by
    cryptography, HKDF and HMAC with hmac and hashlib, the texts with base64 and urllib."""
    issuer_private, app_private = (
        bytes.fromhex(v["issuer_private"]),
        bytes.fromhex(v["app_private"]),
    )
    activation_id = bytes.fromhex(v["activation_id"])
    # softtoken._random.random_digits: each byte below 250, mod 10, the first 8.
    password = "".join(str(b % 10) for b in bytes.fromhex(v["password_bytes"]) if b < 250)[:8]
    issuer_public, app_public = public(issuer_private), public(app_private)
    shared = exchange(app_private, issuer_public)
    assert shared is not None
    offer = (
        f"softtoken://activate?v=1&sn={v['serial']}&id={b64(activation_id)}"
        f"&pk={b64(issuer_public)}&tp={b64(bytes.fromhex(v['params']))}"
        f"&exp={int(v['now']) + int(v['ttl'])}&url={urllib.parse.quote(v['url'], safe='')}"
    )
    derived = derivations(offer, activation_id, app_public, password, shared)
    return {
        "password": password,
        "issuer_public": issuer_public.hex(),
        "app_public": app_public.hex(),
        "shared": shared.hex(),
        "offer": offer,
        "request": b64(b"\x01" + activation_id + app_public + derived["proof"]),
        "response": b64(b"\x01" + derived["confirmation"]),
        "secret": derived["secret"].hex(),
    }


OUTPUTS: Final = (
    "password",
    "issuer_public",
    "app_public",
    "shared",
    "offer",
    "request",
    "response",
    "secret",
)


class TestVectors:
    """The recorded runs, by softtoken with pinned randomness and by an independent computation."""

    @pytest.mark.parametrize("name", sorted(RUNS))
    def test_softtoken_reproduces_the_run(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """softtoken, given the recorded randomness, writes the recorded texts and secret."""
        v = RUNS[name]
        pin(
            monkeypatch,
            *(bytes.fromhex(v[k]) for k in ("issuer_private", "activation_id", "password_bytes")),
            bytes.fromhex(v["app_private"]),
        )
        params = TokenParams.from_bytes(bytes.fromhex(v["params"]))
        assert params is not None
        offer, password, pending = start(
            Serial.parse(v["serial"]),
            now=int(v["now"]),
            url=v["url"],
            params=params,
            ttl=int(v["ttl"]),
        )
        request, app = respond(Offer.parse(v["offer"]), password, now=int(v["now"]))
        _, _, response, secret = accept(pending, Request.parse(v["request"]), now=int(v["now"]))
        assert response is not None

        assert (v["password"], v["offer"], v["request"]) == (
            password,
            offer.to_text(),
            request.to_text(),
        )
        assert (v["response"], v["secret"]) == (response.to_text(), (secret or b"").hex())
        assert v["secret"] == finish(app, Response.parse(v["response"])).hex()

    @pytest.mark.parametrize("name", sorted(RUNS))
    def test_independent_computation_agrees(self, name: str) -> None:
        """The outputs computed without softtoken are the recorded ones."""
        v = RUNS[name]
        assert {k: v[k] for k in OUTPUTS} == independent_run(v)

    @pytest.mark.parametrize("name", sorted(RUNS))
    def test_shared_secret_is_rfc_7748s(self, name: str) -> None:
        """The runs use RFC 7748 §6.1's key pairs, so their shared secret is the RFC's K."""
        assert RFC_7748_K == RUNS[name]["shared"]
