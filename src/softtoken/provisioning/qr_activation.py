"""QR activation with an SMS password: the token secret never travels (SECURITY.md S12, S18).

The bank page shows a QR code holding an :class:`Offer`, signed with the bank's long-term
Ed25519 key (RFC 8032), and an 8-digit password arrives by SMS. The app answers only offers
signed by a key it pins. The app and the issuer agree on the token secret with X25519
(RFC 7748). The password is only *checked*, online and a few times at most, and the secret
itself is never sent.

0. Bank, once per signing key: :func:`generate_signing_key` (a 32-byte Ed25519 seed, kept as any
   signing key is, apart from the pending values) and :func:`signing_public_key`, the key that
   apps pin.
1. Issuer, :func:`start` (with the signing key): the signed offer to draw, the password to send,
   and the :class:`PendingQR` to store (sealed at rest).
2. App, :func:`respond` (with the pinned keys): first checks the offer's signature, and refuses
   an offer that no pinned key signed before it draws or derives anything. Then the
   :class:`Request` to send, and the :class:`AppQRState` to store (sealed) until the answer.
3. Issuer, :func:`accept` (with the pending value that the request's ``activation_id`` names):
   an :class:`Outcome`, the pending value to store, and on success the :class:`Response` and
   the secret. Store the new pending value (a compare-and-set on its ``version``) *before*
   answering, so that no answer ever escapes a lost write.
4. App, :func:`finish`: checks the key confirmation, then returns the secret.

Every ``now`` is int Unix seconds or an aware :class:`~datetime.datetime`.

Signature. ``kid``, the first 8 bytes of SHA-256 of the bank's Ed25519 public key
(:func:`signing_key_id`), names the key, so that an app may pin several (a key rotation).
``sig`` is the Ed25519 signature (RFC 8032 §5.1.6) over the offer's text before ``&sig=``,
which holds every other field, ``kid`` included. Both are in the offer's text, so both are in
the transcript below.

Key schedule. ``shared = X25519(app_private, issuer_public) = X25519(issuer_private,
app_public)`` (RFC 7748 §6.1). ``transcript = Label.QR_TRANSCRIPT || version (1, the value 2) ||
offer length (2, big-endian) || offer text || app public key (32)``, and ``salt =
SHA-256(transcript)``. With HKDF-SHA256 (RFC 5869) of ``shared`` under that salt: ``K_proof``
(``Label.QR_PROOF_KEY``, 32 bytes), ``K_confirm`` (``Label.QR_CONFIRM_KEY``, 32 bytes) and the
token secret (``Label.QR_SECRET``, ``params.secret_length`` bytes: 160, 256 or 512
bits). The password verifier is HKDF-SHA256 of the password's ASCII digits, salted with the
activation id, under ``Label.QR_PASSWORD``. ``proof = HMAC-SHA256(K_proof, verifier ||
transcript)`` and ``confirmation = HMAC-SHA256(K_confirm, transcript || "issuer")`` (RFC 2104).

The messages and their one spelling each are in :mod:`softtoken.provisioning.qr_messages`,
the bank's signature and the pinned keys in :mod:`~softtoken.provisioning.qr_signing`, and the
stored states in :mod:`~softtoken.provisioning.qr_states`; this module re-exports their names.

Threats (what each attacker gets):

- **A photo of the QR**: nothing secret. The offer holds public values only, and nothing in it
  depends on the password, so an offline search over the 10^8 passwords has nothing to test
  against (an Entrust-style QR, encrypted under the password, falls to exactly that search).
- **The photo and the SMS password**: an online race to register before the user, bounded by the
  one-time activation id, the expiry and the attempt budget. Nothing offline: the secret needs a
  private key, and the password is no input of it.
- **The request and the response on the wire** (with the photo and the password): nothing.
  Every key, MAC and the secret are derived from ``shared``, which needs one of the two private
  keys; neither ever travels.
- **A stolen issuer database**: an open pending value's private key and verifier (the 8-digit
  password falls to its verifier at once) let the thief complete that activation, so pending
  values must be sealed at rest (the issuer store's job). A done, spent or expired value keeps
  neither, so recorded messages of a finished activation stay useless.
- **A forged QR** that the user scans, then types the real password into: refused. The forger
  needs its own X25519 key in the offer, so the offer is signed by its own Ed25519 key, by none,
  or by the bank over another text, and :func:`respond` raises ``ActivationRefused`` before it
  draws a key or derives anything. So no proof exists to search (unsigned, the forger would know
  ``K_proof``, search the 10^8 passwords at about 7 µs a guess, and win the race).
- **A genuine offer relayed** by a phishing page: nothing. The app answers with its own key, so
  the relay cannot compute ``K_proof`` to test a guess, nor the secret; it can forward the
  request or drop it.
- **The bank's signing key**: forged offers again, and the search above. Keep it in an HSM or
  sealed, and rotate it: the key id lets apps pin the old and the new key meanwhile.

The limit is the pinning: an app trusts whatever key it pins, so it must get the bank's public
key from a trusted channel (shipped with the app, or configured by the bank), never from an
offer or from the page that shows one.

A lost response cannot be fetched again: the issuer refuses any second request (REPLAYED), so
the user starts a new activation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import struct
from collections.abc import Collection
from hmac import compare_digest
from typing import Any, Final

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from softtoken import _random
from softtoken._checks import MAX_ATTEMPTS, check_counter, check_int
from softtoken._encoding import parse_code
from softtoken._kdf import Label, hkdf
from softtoken._time import to_unix
from softtoken.exceptions import ActivationRefused
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.qr_messages import (
    ID_BYTES,
    KEY_BYTES,
    MAC_BYTES,
    MAX_OFFER_LENGTH,
    MAX_URL_LENGTH,
    SIGNATURE_BYTES,
    VERSION,
    Offer,
    Request,
    Response,
    _exchange,
    _public_key,
)
from softtoken.provisioning.qr_signing import (
    _pinned,
    _signed,
    generate_signing_key,
    is_trusted,
    signing_key_id,
    signing_public_key,
)
from softtoken.provisioning.qr_states import DEFAULT_ATTEMPTS, AppQRState, Outcome, PendingQR

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
    "MAX_ATTEMPTS",
    "MAX_OFFER_LENGTH",
    "MAX_TTL",
    "MAX_URL_LENGTH",
    "PASSWORD_DIGITS",
    "VERSION",
    "AppQRState",
    "Offer",
    "Outcome",
    "PendingQR",
    "Request",
    "Response",
    "accept",
    "finish",
    "generate_signing_key",
    "is_trusted",
    "respond",
    "signing_key_id",
    "signing_public_key",
    "start",
]

PASSWORD_DIGITS: Final = 8
DEFAULT_TTL: Final = 15 * 60
"""An offer lives 15 minutes by default: long enough to install the app, short for a race."""
MAX_TTL: Final = 72 * 3600
_ISSUER_ROLE: Final = b"issuer"


def _unix(now: int | dt.datetime) -> int:
    at = to_unix(now)
    check_counter(at, "now")
    return at


# --------------------------------------------------------------------------------------------
# The key schedule
# --------------------------------------------------------------------------------------------


def _transcript(offer: Offer, app_key: bytes) -> bytes:
    text = offer.to_bytes()
    return bytes(Label.QR_TRANSCRIPT) + struct.pack(">BH", VERSION, len(text)) + text + app_key


def _derive(shared: bytes, transcript: bytes, label: Label, length: int = MAC_BYTES) -> bytes:
    # RFC 5869 §3.1: a salt strengthens the extraction; the transcript's hash binds every key
    # to this offer (its signature included) and this app key, and the label separates the
    # purposes.
    salt = hashlib.sha256(transcript).digest()
    return hkdf(shared, salt=salt, info=label, length=length)


def _verifier(password: str, activation_id: bytes) -> bytes:
    return hkdf(password.encode("ascii"), salt=activation_id, info=Label.QR_PASSWORD)


def _proof(shared: bytes, transcript: bytes, verifier: bytes) -> bytes:
    # The verifier has a fixed length, so verifier || transcript has one reading (RFC 2104).
    key = _derive(shared, transcript, Label.QR_PROOF_KEY)
    return hmac.digest(key, verifier + transcript, "sha256")


def _confirmation(shared: bytes, transcript: bytes) -> bytes:
    key = _derive(shared, transcript, Label.QR_CONFIRM_KEY)
    return hmac.digest(key, transcript + _ISSUER_ROLE, "sha256")


# --------------------------------------------------------------------------------------------
# The four steps
# --------------------------------------------------------------------------------------------

# The draft offer's signature: the signed text holds every field but this one, so the draft is
# only ever read for that text, and never shown or stored.
_UNSIGNED: Final = bytes(SIGNATURE_BYTES)


def start(
    serial: Serial,
    *,
    signing_key: bytes,
    now: int | dt.datetime,
    url: str,
    params: TokenParams = DEFAULT_PARAMS,
    ttl: int = DEFAULT_TTL,
    attempts: int = DEFAULT_ATTEMPTS,
) -> tuple[Offer, str, PendingQR]:
    """Issuer: begin a QR activation of *serial* at *now*, signed with *signing_key*.

    Draws, in this order and only from ``softtoken._random``: the issuer's X25519 private key
    (32 bytes), the activation id (16 bytes) and the 8-digit password. The Ed25519 signature
    (RFC 8032 §5.1.6) draws nothing.

    Args:
        signing_key: the bank's 32-byte Ed25519 seed (:func:`generate_signing_key`), whose
            public key the apps pin.

    Returns:
        The offer to draw (no secret), the password to send by SMS (never stored: the pending
        value keeps a verifier), and the pending value to store sealed. The offer expires at
        ``now + ttl``; *attempts* wrong proofs close it.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidInput: *signing_key* is not 32 bytes, *ttl* is not 1 second to 72 hours,
            *attempts* not 1 to :data:`MAX_ATTEMPTS`, *now* out of range (InvalidTime), or *url*
            not an https URL of the allowed characters.
    """
    if not isinstance(serial, Serial) or not isinstance(params, TokenParams):
        raise TypeError("serial must be Serial and params TokenParams")
    verifying_key = signing_public_key(signing_key)
    at = _unix(now)
    check_int(ttl, "ttl", 1, MAX_TTL)
    check_int(attempts, "attempts", 1, MAX_ATTEMPTS)
    check_counter(at + ttl, "now + ttl")
    private_key = _random.random_bytes(KEY_BYTES)
    activation_id = _random.random_bytes(ID_BYTES)
    password = _random.random_digits(PASSWORD_DIGITS)
    draft = Offer(
        serial=serial,
        activation_id=activation_id,
        issuer_key=_public_key(private_key),
        params=params,
        expires=at + ttl,
        url=url,
        key_id=signing_key_id(verifying_key),
        signature=_UNSIGNED,
    )
    signed = draft.signed_text().encode("ascii")
    signature = Ed25519PrivateKey.from_private_bytes(signing_key).sign(signed)
    offer = attrs.evolve(draft, signature=signature)
    verifier = _verifier(password, activation_id)
    pending = PendingQR(offer=offer, private_key=private_key, verifier=verifier, attempts=attempts)
    return offer, password, pending


def respond(
    offer: Offer, password: str, *, now: int | dt.datetime, trusted_keys: Collection[bytes]
) -> tuple[Request, AppQRState]:
    """App: answer *offer* with the typed *password* at *now*, if a pinned key signed it.

    First checks the offer's signature against *trusted_keys* (:func:`is_trusted`), then its
    expiry; either refusal comes before anything is drawn or derived, so a forged offer never
    gets a proof. Then draws the app's X25519 private key (32 bytes) from
    ``softtoken._random``. A wrong password is not detected here; the issuer counts it.

    Args:
        trusted_keys: the bank's Ed25519 public keys (32 bytes each) that the app pins, from a
            trusted channel (shipped with the app, or configured by the bank); several during a
            key rotation.

    Returns:
        The request to send, and the state to store sealed until the response.

    Raises:
        TypeError: an argument has the wrong type (a password is ``str``; *trusted_keys* a
            collection of bytes).
        InvalidInput: *trusted_keys* is empty or holds an unusable key (see
            :func:`is_trusted`), or *now* is out of range (InvalidTime).
        ActivationRefused: no trusted key signed the offer (forged, altered, or signed by a key
            not pinned), or the offer has expired.
        MalformedCode: the password is not 8 ASCII digits (spaces or dashes between groups are
            allowed).
    """
    if not isinstance(offer, Offer):
        raise TypeError("offer must be Offer")
    pinned = _pinned(trusted_keys)
    at = _unix(now)
    # The signature first: the forger of an offer knows K_proof for its own X25519 key, so any
    # proof made for it could be searched offline over the 10^8 passwords.
    if not _signed(offer, pinned) or at >= offer.expires:
        raise ActivationRefused()
    digits = parse_code(password, PASSWORD_DIGITS)
    private_key = _random.random_bytes(KEY_BYTES)
    app_key = _public_key(private_key)
    shared = _exchange(private_key, offer.issuer_key)
    if shared is None:
        # Unreachable: the offer's key passed check_public_key. Failing closed all the same.
        raise ActivationRefused()
    transcript = _transcript(offer, app_key)
    proof = _proof(shared, transcript, _verifier(digits, offer.activation_id))
    request = Request(activation_id=offer.activation_id, app_key=app_key, proof=proof)
    state = AppQRState(
        offer=offer, private_key=private_key, confirmation=_confirmation(shared, transcript)
    )
    return request, state


def accept(
    pending: PendingQR, request: Request, *, now: int | dt.datetime
) -> tuple[Outcome, PendingQR, Response | None, bytes | None]:
    """Issuer: check *request* against *pending* at *now*. Pure: nothing is raised for a refusal.

    A request naming another activation (FOREIGN), one after the activation is done
    (REPLAYED), after its attempts are spent (SPENT) or at or after its expiry (EXPIRED) is
    refused unevaluated; the first EXPIRED also erases the private key and the verifier, as
    the write happens anyway. Otherwise the proof is compared in constant time: a wrong one
    costs one attempt (WRONG_PROOF, or SPENT_NOW for the last, which erases the keys). A right
    one is ACCEPTED: the activation is done, and its keys are erased.

    Returns:
        The outcome; the pending value to store, which records the outcome (and is *pending*
        itself when nothing changed, or else one version later); and, on ACCEPTED only, the
        response to send and the token secret (``params.secret_length`` bytes).
        Store the pending value before answering or using the secret.

    Raises:
        TypeError: an argument has the wrong type. InvalidInput: *now* is out of range
            (InvalidTime).
    """
    if not isinstance(pending, PendingQR) or not isinstance(request, Request):
        raise TypeError("pending must be PendingQR and request Request")
    at = _unix(now)
    refused = _refusal(pending, request, at)
    if refused is None and pending.private_key is not None and pending.verifier is not None:
        return _evaluate(pending, pending.private_key, pending.verifier, request)
    # A value without keys is closed, so _refusal refused it already; SPENT fails closed.
    outcome = Outcome.SPENT if refused is None else refused
    changes: dict[str, Any] = {"last_outcome": outcome}
    if outcome is Outcome.EXPIRED:
        # Nothing can complete an expired activation, so what could is erased at once.
        changes.update(expired=True, private_key=None, verifier=None)
    return outcome, _changed(pending, **changes), None, None


def _refusal(pending: PendingQR, request: Request, now: int) -> Outcome | None:
    if request.activation_id != pending.offer.activation_id:
        return Outcome.FOREIGN
    if pending.done:
        return Outcome.REPLAYED
    if pending.spent:
        return Outcome.SPENT
    if pending.expired or now >= pending.offer.expires:
        return Outcome.EXPIRED
    return None


def _evaluate(
    pending: PendingQR, private_key: bytes, verifier: bytes, request: Request
) -> tuple[Outcome, PendingQR, Response | None, bytes | None]:
    transcript = _transcript(pending.offer, request.app_key)
    # The request's key passed check_public_key, so the exchange gives a result; if it ever
    # did not, the request counts as a wrong proof (fail closed).
    shared = _exchange(private_key, request.app_key)
    if shared is not None and compare_digest(_proof(shared, transcript, verifier), request.proof):
        length = pending.offer.params.secret_length
        secret = _derive(shared, transcript, Label.QR_SECRET, length)
        response = Response(confirmation=_confirmation(shared, transcript))
        done = _changed(
            pending, done=True, private_key=None, verifier=None, last_outcome=Outcome.ACCEPTED
        )
        return Outcome.ACCEPTED, done, response, secret
    failures = pending.failures + 1
    if failures < pending.attempts:
        counted = _changed(pending, failures=failures, last_outcome=Outcome.WRONG_PROOF)
        return Outcome.WRONG_PROOF, counted, None, None
    # Nothing can complete a spent activation, so its keys are erased.
    spent = _changed(
        pending,
        failures=failures,
        private_key=None,
        verifier=None,
        last_outcome=Outcome.SPENT_NOW,
    )
    return Outcome.SPENT_NOW, spent, None, None


def _changed(pending: PendingQR, **changes: Any) -> PendingQR:
    """*pending* with *changes* and the next version, or *pending* itself if nothing changes."""
    if all(getattr(pending, name) == value for name, value in changes.items()):
        return pending
    return attrs.evolve(pending, version=pending.version + 1, **changes)


def finish(state: AppQRState, response: Response) -> bytes:
    """App: check the issuer's key confirmation in constant time, then return the secret.

    Returns:
        The token secret, ``params.secret_length`` bytes, the same as the issuer's.

    Raises:
        TypeError: an argument has the wrong type.
        ActivationRefused: the response is not the one the issuer would send for this state
            (tampered, another activation's, or made without the issuer's key). Store nothing.
    """
    if not isinstance(state, AppQRState) or not isinstance(response, Response):
        raise TypeError("state must be AppQRState and response Response")
    if not compare_digest(state.confirmation, response.confirmation):
        raise ActivationRefused()
    app_key = _public_key(state.private_key)
    shared = _exchange(state.private_key, state.offer.issuer_key)
    if shared is None:
        # Unreachable: the offer's key passed check_public_key. Failing closed all the same.
        raise ActivationRefused()
    length = state.offer.params.secret_length
    return _derive(shared, _transcript(state.offer, app_key), Label.QR_SECRET, length)
