"""What the QR activation tests share: fixed keys, a run of the protocol, an independent
derivation written with hmac, hashlib and the pure-Python HKDF of softtoken._reference (no
production code), and stand-ins for the randomness source.

Used by tests/test_qr_activation.py, tests/test_qr_messages.py and tests/test_qr_states.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import urllib.parse
from collections.abc import Callable
from typing import Any, Final

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from softtoken import _random
from softtoken._reference import hkdf_sha256
from softtoken.exceptions import SoftTokenError
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.qr_activation import (
    AppQRState,
    Offer,
    PendingQR,
    Request,
    respond,
    start,
)

SERIAL: Final = Serial.from_number(123_456_789)
URL: Final = "https://bank.example/activate"
NOW: Final = 1_700_000_000
P: Final = 2**255 - 19
# RFC 7748 §6.1: Alice's and Bob's private keys, and the shared secret K they agree on.
ALICE: Final = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
BOB: Final = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
RFC_7748_K: Final = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
# RFC 8032 §7.1 TEST 1: the bank's signing key (its seed) and the public key the RFC publishes.
BANK_SEED: Final = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
BANK_KEY: Final = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
TRUSTED: Final = (BANK_KEY,)
# The attacker's own Ed25519 seed and X25519 private key: any 32 bytes are either.
MALLORY_SEED: Final = bytes(range(100, 132))
MALLORY_X25519: Final = bytes(range(200, 232))
# X25519 public keys that no exchange may use: zero and one (small order, RFC 7748 §7), and
# p and p + 1, the non-canonical spellings of zero and one.
BAD_KEYS: Final = [n.to_bytes(32, "little") for n in (0, 1, P, P + 1)]
SECRET_LENGTHS: Final = {0: 20, 1: 32, 2: 64}


# --------------------------------------------------------------------------------------------
# Primitives, by cryptography, hmac and hashlib directly
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


def ed25519_public(seed: bytes) -> bytes:
    """The Ed25519 public key of *seed* (RFC 8032 §5.1.5), by cryptography directly."""
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def key_id(public_key: bytes) -> bytes:
    """An offer's ``kid``: the first 8 bytes of the SHA-256 of the Ed25519 public key."""
    return hashlib.sha256(public_key).digest()[:8]


def b64(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------------------------
# Offers signed, forged and altered
# --------------------------------------------------------------------------------------------


def signed_offer_text(signed_text: str, seed: bytes) -> str:
    """*signed_text* (an offer's text before ``&sig=``) with the Ed25519 signature of *seed*
    appended, by cryptography directly (RFC 8032 §5.1.6)."""
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(signed_text.encode("ascii"))
    return f"{signed_text}&sig={b64(signature)}"


def replace_field(offer_text: str, name: str, value: str) -> str:
    """*offer_text* with the value of parameter *name* replaced (the signature is kept)."""
    head, query = offer_text.split("?", 1)
    pairs = [pair.split("=", 1) for pair in query.split("&")]
    return head + "?" + "&".join(f"{n}={value if n == name else v}" for n, v in pairs)


def signed_part(offer_text: str) -> str:
    """The text an offer's signature covers: everything before ``&sig=``."""
    return offer_text.rsplit("&sig=", 1)[0]


def resign(offer_text: str, seed: bytes, *, kid: bytes | None = None) -> str:
    """*offer_text* signed again with *seed*, its ``kid`` set to *kid* (by default, the id of
    *seed*'s public key)."""
    named = replace_field(offer_text, "kid", b64(kid or key_id(ed25519_public(seed))))
    return signed_offer_text(signed_part(named), seed)


def offer_of(fields: dict[str, Any], seed: bytes = BANK_SEED) -> Offer:
    """An Offer from sts.qr_offer_fields, signed with *seed*."""
    draft = Offer(
        serial=Serial.from_number(fields["serial_number"]),
        activation_id=fields["activation_id"],
        issuer_key=public(fields["issuer_private"]),
        params=TokenParams(**fields["params"]),
        expires=fields["expires"],
        url=fields["url"],
        key_id=key_id(ed25519_public(seed)),
        signature=bytes(64),
    )
    return Offer.parse(signed_offer_text(draft.signed_text(), seed))


# --------------------------------------------------------------------------------------------
# The derivation, written out
# --------------------------------------------------------------------------------------------


def transcript_of(offer_text: str, app_key: bytes) -> bytes:
    """The transcript, spelled out: label, version 2, offer length and text, app public key."""
    offer = offer_text.encode("ascii")
    return b"softtoken/qr/transcript/v1\x00\x02" + len(offer).to_bytes(2, "big") + offer + app_key


def offer_field(offer_text: str, name: str) -> bytes:
    """The bytes of a base64url field of an offer's text."""
    return unb64(urllib.parse.parse_qs(offer_text.split("?", 1)[1])[name][0])


def verifier_of(password: str, activation_id: bytes) -> bytes:
    """What the issuer keeps of a password (HKDF-SHA256 under its label, RFC 5869)."""
    return hkdf_sha256(
        password.encode("ascii"), salt=activation_id, info=b"softtoken/qr/password/v1", length=32
    )


def derivations(
    offer_text: str, activation_id: bytes, app_key: bytes, password: str, shared: bytes
) -> dict[str, bytes]:
    """Every value the protocol derives once *shared* is known, from public inputs and the
    password, with hmac and softtoken._reference's HKDF only (RFC 2104, RFC 5869)."""
    params = offer_field(offer_text, "tp")
    transcript = transcript_of(offer_text, app_key)
    salt = hashlib.sha256(transcript).digest()

    def key(label: bytes, length: int = 32) -> bytes:
        return hkdf_sha256(shared, salt=salt, info=label, length=length)

    verifier = verifier_of(password, activation_id)
    return {
        "proof": hmac.new(
            key(b"softtoken/qr/proof-key/v1"), verifier + transcript, hashlib.sha256
        ).digest(),
        "confirmation": hmac.new(
            key(b"softtoken/qr/confirm-key/v1"), transcript + b"issuer", hashlib.sha256
        ).digest(),
        "secret": key(b"softtoken/qr/secret/v1", SECRET_LENGTHS[params[2]]),
    }


# --------------------------------------------------------------------------------------------
# Runs of the protocol
# --------------------------------------------------------------------------------------------


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
    """Start an activation of SERIAL at NOW, signed with BANK_SEED, and answer it with the right
    password at NOW, trusting BANK_KEY."""
    offer, password, pending = start(
        SERIAL,
        signing_key=BANK_SEED,
        now=NOW,
        url=URL,
        params=params,
        ttl=ttl,
        attempts=attempts,
    )
    request, app = respond(Offer.parse(offer.to_text()), password, now=NOW, trusted_keys=TRUSTED)
    return Run(offer, password, pending, request, app)


def answer(offer: Offer, password: str, now: int = NOW) -> Request:
    """The request an app trusting BANK_KEY sends for *offer* and *password*."""
    return respond(offer, password, now=now, trusted_keys=TRUSTED)[0]


# --------------------------------------------------------------------------------------------
# Leaks and quiet refusals
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The randomness source
# --------------------------------------------------------------------------------------------


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
