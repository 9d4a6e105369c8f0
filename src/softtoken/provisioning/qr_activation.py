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
token secret (``Label.QR_SECRET``, ``max(20, params.secret_length)`` bytes: 160, 256 or 512
bits). The password verifier is HKDF-SHA256 of the password's ASCII digits, salted with the
activation id, under ``Label.QR_PASSWORD``. ``proof = HMAC-SHA256(K_proof, verifier ||
transcript)`` and ``confirmation = HMAC-SHA256(K_confirm, transcript || "issuer")`` (RFC 2104).

The messages and their one spelling each are in :mod:`softtoken.provisioning.qr_messages`.

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
import enum
import hashlib
import hmac
import struct
from collections.abc import Collection
from hmac import compare_digest
from typing import Any, Final

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from softtoken import _random
from softtoken._checks import MAX_ATTEMPTS, check_counter, check_int, valid_or_none
from softtoken._encoding import parse_code
from softtoken._kdf import Label, hkdf
from softtoken._secret import SECRET
from softtoken._time import to_unix
from softtoken.exceptions import ActivationRefused, InvalidInput, InvalidRecord
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.qr_messages import (
    ID_BYTES,
    KEY_BYTES,
    KEY_ID_BYTES,
    MAC_BYTES,
    MAX_OFFER_LENGTH,
    MAX_URL_LENGTH,
    SIGNATURE_BYTES,
    VERSION,
    Offer,
    Request,
    Response,
    _check_bytes,
    _check_signing_key,
    _exchange,
    _public_key,
)

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
    "MAX_ATTEMPTS",
    "MAX_OFFER_LENGTH",
    "MAX_TTL",
    "MAX_URL_LENGTH",
    "MIN_SECRET_BYTES",
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
DEFAULT_ATTEMPTS: Final = 5
_ISSUER_ROLE: Final = b"issuer"
MIN_SECRET_BYTES: Final = 20
"""RFC 4226 §4 R6 recommends 160 bits; SHA-256 and SHA-512 tokens get 32 and 64 bytes."""


def _secret_length(params: TokenParams) -> int:
    return max(MIN_SECRET_BYTES, params.secret_length)


def _unix(now: int | dt.datetime) -> int:
    at = to_unix(now)
    check_counter(at, "now")
    return at


# --------------------------------------------------------------------------------------------
# The bank's signing key (RFC 8032)
# --------------------------------------------------------------------------------------------


def generate_signing_key() -> bytes:
    """Bank: a new Ed25519 signing key, as its 32-byte seed (RFC 8032 §5.1.5), drawn from
    ``softtoken._random``. A secret: keep it as any signing key (an HSM, or sealed), apart
    from the pending values. Apps pin its :func:`signing_public_key`."""
    return _random.random_bytes(KEY_BYTES)


def signing_public_key(signing_key: bytes) -> bytes:
    """The 32-byte Ed25519 public key of the seed *signing_key* (RFC 8032 §5.1.5): the key an
    app pins, shipped with it or configured by the bank, never taken from an offer.

    Raises:
        TypeError: *signing_key* is not bytes. InvalidInput: it is not 32 bytes.
    """
    _check_bytes(signing_key, "signing_key", KEY_BYTES)
    return Ed25519PrivateKey.from_private_bytes(signing_key).public_key().public_bytes_raw()


def signing_key_id(public_key: bytes) -> bytes:
    """The 8-byte id that an offer names its signing key by: the first 8 bytes of the SHA-256
    of the 32-byte Ed25519 *public_key*. Public, and only a name: the signature is what counts.

    Raises:
        TypeError: *public_key* is not bytes. InvalidInput: it is not 32 bytes.
    """
    _check_bytes(public_key, "public_key", KEY_BYTES)
    return hashlib.sha256(public_key).digest()[:KEY_ID_BYTES]


def _pinned(trusted_keys: object) -> dict[bytes, list[bytes]]:
    """*trusted_keys* by key id, each checked; TypeError or InvalidInput otherwise."""
    # bytes and str are collections too: one key passed bare would be read as 32 integers.
    if isinstance(trusted_keys, bytes | bytearray | str) or not isinstance(
        trusted_keys, Collection
    ):
        raise TypeError("trusted_keys must be a collection of 32-byte Ed25519 public keys")
    if not trusted_keys:
        raise InvalidInput("trusted_keys is empty: pin at least one of the bank's keys")
    pinned: dict[bytes, list[bytes]] = {}
    for key in trusted_keys:
        _check_signing_key(key, "each trusted key")
        pinned.setdefault(signing_key_id(key), []).append(key)
    return pinned


def _verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _signed(offer: Offer, pinned: dict[bytes, list[bytes]]) -> bool:
    message = offer.signed_text().encode("ascii")
    return any(_verifies(key, offer.signature, message) for key in pinned.get(offer.key_id, ()))


def is_trusted(offer: Offer, *, trusted_keys: Collection[bytes]) -> bool:
    """Whether *offer* carries a valid Ed25519 signature (RFC 8032 §5.1.7) by one of
    *trusted_keys*, the bank keys the app pins (32 bytes each), found by the offer's key id.

    :func:`respond` checks this first; an app may also check it before it asks for the
    password, so that a forged offer is never answered with one. Offers are public, so this
    tells nothing secret.

    Raises:
        TypeError: *offer* is not an Offer, or *trusted_keys* is not a collection of bytes
            (a single key passed bare is refused).
        InvalidInput: *trusted_keys* is empty, or holds a key that is not 32 bytes, not
            canonically encoded, or of small order (with such a key anyone can forge).
    """
    if not isinstance(offer, Offer):
        raise TypeError("offer must be Offer")
    return _signed(offer, _pinned(trusted_keys))


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
# The issuer's pending value
# --------------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    """What :func:`accept` did with a request. Only ACCEPTED is a success; the user is told one
    refusal (``ActivationRefused``), and the audit trail records the member."""

    ACCEPTED = "accepted"
    """The proof held: the activation is done, and the secret and response are returned."""
    WRONG_PROOF = "wrong_proof"
    """A wrong password or an altered request: one attempt counted, others remain."""
    SPENT_NOW = "spent_now"
    """A wrong proof that used the last attempt: the activation is closed."""
    SPENT = "spent"
    """Refused unevaluated: the attempts were spent already."""
    EXPIRED = "expired"
    """Refused unevaluated: the offer has expired. The first such refusal erases the keys, so
    that nothing completes the activation afterwards, whatever a clock says."""
    REPLAYED = "replayed"
    """Refused unevaluated: the activation is done already (a replay, or a second device)."""
    FOREIGN = "foreign"
    """Refused unevaluated: the request names another activation id."""


# Stored codes, 1 onwards; append only.
_OUTCOMES: Final = tuple(Outcome)


@attrs.frozen
class PendingQR:
    """The issuer's state of one QR activation. Secret while open: store it sealed.

    Only states that :func:`start` and a sequence of :func:`accept` calls can produce are
    constructed or read back: an activation closes once (done, spent or expired) and then keeps
    no key, the last outcome is one its state can follow, and the version counts exactly the
    changes that could lead there.

    Attributes:
        offer: the offer shown (serial, params, activation id, expiry, public key, URL, and
            the bank's signature).
        private_key: the issuer's X25519 private key; None once closed.
        verifier: what the issuer keeps of the password (never the password); None once
            closed.
        attempts: wrong proofs that close the activation, 1 to :data:`MAX_ATTEMPTS`.
        failures: wrong proofs counted, 0 to *attempts*; at *attempts* the activation is spent.
        done: a request was accepted; every later one is refused.
        expired: a request came at or after the expiry, which closed the activation.
        last_outcome: what :func:`accept` did last, for the audit; None before any change.
        version: grows by one at every change, for a store's compare-and-set.

    Raises (constructor):
        TypeError: wrong types. InvalidInput: out of range, or a state no sequence reaches.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes | None = attrs.field(kw_only=True, **SECRET)
    verifier: bytes | None = attrs.field(kw_only=True, **SECRET)
    attempts: int = attrs.field(default=DEFAULT_ATTEMPTS, kw_only=True)
    failures: int = attrs.field(default=0, kw_only=True)
    done: bool = attrs.field(default=False, kw_only=True)
    expired: bool = attrs.field(default=False, kw_only=True)
    last_outcome: Outcome | None = attrs.field(default=None, kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer):
            raise TypeError("offer must be Offer")
        if type(self.done) is not bool or type(self.expired) is not bool:
            raise TypeError("done and expired must be bool")
        if self.last_outcome is not None and not isinstance(self.last_outcome, Outcome):
            raise TypeError("last_outcome must be Outcome or None")
        check_int(self.attempts, "attempts", 1, MAX_ATTEMPTS)
        check_int(self.failures, "failures", 0, self.attempts)
        check_counter(self.version, "version")
        if self.done + self.expired + self.spent > 1:
            raise InvalidInput("an activation closes once: done, spent or expired")
        for key, name in ((self.private_key, "private_key"), (self.verifier, "verifier")):
            if key is not None:
                _check_bytes(key, name, KEY_BYTES)
            if (key is not None) != self.open:
                raise InvalidInput("the keys are kept exactly while the activation is open")
        if not _reachable(self):
            raise InvalidInput("no sequence of requests leads to this activation state")

    @property
    def serial(self) -> Serial:
        """The serial being activated."""
        return self.offer.serial

    @property
    def spent(self) -> bool:
        """Every attempt was used by a wrong proof."""
        return self.failures == self.attempts

    @property
    def open(self) -> bool:
        """Neither done, nor spent, nor expired: a request may still be evaluated."""
        return not (self.done or self.expired or self.spent)

    @property
    def remaining(self) -> int:
        """Wrong proofs still allowed; 0 once closed."""
        return self.attempts - self.failures if self.open else 0

    def to_bytes(self) -> bytes:
        """``b"QP"``, format 2, flags (1: bit 0 done, bit 1 expired), version (8), attempts
        (1), failures (1), last outcome (1; 0 for none), offer length (2), the offer's text,
        then the private key and verifier (32 each) while open. It holds secrets: seal it."""
        flags = (_DONE if self.done else 0) | (_EXPIRED if self.expired else 0)
        last = 0 if self.last_outcome is None else _OUTCOMES.index(self.last_outcome) + 1
        offer = self.offer.to_bytes()
        head = _PENDING.pack(
            b"QP",
            _PENDING_FORMAT,
            flags,
            self.version,
            self.attempts,
            self.failures,
            last,
            len(offer),
        )
        return head + offer + (self.private_key or b"") + (self.verifier or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingQR:
        """Read :meth:`to_bytes` strictly: the layout, and a state that some sequence of
        requests reaches. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("a pending QR activation must be bytes")
        pending = _read_pending(data)
        if pending is None:
            raise InvalidRecord("not a pending QR activation of a known format")
        return pending


_DONE: Final = 0x01
_EXPIRED: Final = 0x02
# Format 1 (protocol version 1, unsigned offers) kept a throttle state with a version of its
# own; format 2 keeps the failure count, and one version.
_PENDING_FORMAT: Final = 2
_PENDING: Final = struct.Struct(">2sBBQBBBH")


def _reachable(p: PendingQR) -> bool:
    """Whether :func:`start` and some sequence of :func:`accept` calls produce *p*'s counts,
    last outcome and version (the keys, flags and ranges are checked by the constructor).

    Each change adds one to the version, and each wrong proof one failure. A refusal that is
    already the last outcome changes nothing, so repeated refusals of one kind cost a version
    only when another outcome comes between. With f failures, an open value was changed f times
    by wrong proofs and at most once before each, and once after, by a FOREIGN request: from f
    to 2f + 1 changes. Closing adds one change; after it, two refusals may alternate forever.
    """
    f, last, version = p.failures, p.last_outcome, p.version
    bounds: dict[Outcome | None, tuple[int, int | None]]
    if p.done:
        bounds = {
            Outcome.ACCEPTED: (f + 1, 2 * f + 2),
            Outcome.REPLAYED: (f + 2, None),
            Outcome.FOREIGN: (f + 2, None),
        }
    elif p.spent:
        # The last failure was the SPENT_NOW change itself.
        bounds = {
            Outcome.SPENT_NOW: (f, 2 * f),
            Outcome.SPENT: (f + 1, None),
            Outcome.FOREIGN: (f + 1, None),
        }
    elif p.expired:
        bounds = {Outcome.EXPIRED: (f + 1, None), Outcome.FOREIGN: (f + 2, None)}
    elif f == 0:
        bounds = {None: (0, 0), Outcome.FOREIGN: (1, 1)}
    else:
        bounds = {Outcome.WRONG_PROOF: (f, 2 * f), Outcome.FOREIGN: (f + 1, 2 * f + 1)}
    if last not in bounds:
        return False
    low, high = bounds[last]
    return low <= version and (high is None or version <= high)


def _read_pending(data: bytes) -> PendingQR | None:
    if len(data) < _PENDING.size:
        return None
    tag, fmt, flags, version, attempts, failures, last, length = _PENDING.unpack_from(data)
    end = _PENDING.size + length
    if tag != b"QP" or fmt != _PENDING_FORMAT or flags & ~(_DONE | _EXPIRED):
        return None
    keys = data[end:]
    if last > len(_OUTCOMES) or len(data) < end or len(keys) not in (0, 2 * KEY_BYTES):
        return None
    offer = valid_or_none(lambda: Offer.from_bytes(data[_PENDING.size : end]))
    if offer is None:
        return None
    return valid_or_none(
        lambda: PendingQR(
            offer=offer,
            private_key=keys[:KEY_BYTES] or None,
            verifier=keys[KEY_BYTES:] or None,
            attempts=attempts,
            failures=failures,
            done=bool(flags & _DONE),
            expired=bool(flags & _EXPIRED),
            last_outcome=_OUTCOMES[last - 1] if last else None,
            version=version,
        )
    )


# --------------------------------------------------------------------------------------------
# The app's pending value
# --------------------------------------------------------------------------------------------


@attrs.frozen
class AppQRState:
    """The app's state between :func:`respond` and :func:`finish`. Secret: store it sealed.

    Attributes:
        offer: the offer answered, whose signature :func:`respond` checked; its ``params``
            are the token's.
        private_key: the app's X25519 private key (the device key of this activation).
        confirmation: the response the issuer must send.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes = attrs.field(kw_only=True, **SECRET)
    confirmation: bytes = attrs.field(kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer):
            raise TypeError("offer must be Offer")
        _check_bytes(self.private_key, "private_key", KEY_BYTES)
        _check_bytes(self.confirmation, "confirmation", MAC_BYTES)

    @property
    def params(self) -> TokenParams:
        """The token's parameters, from the offer."""
        return self.offer.params

    def to_bytes(self) -> bytes:
        """``b"QA"``, format 2, offer length (2), the offer's text (protocol version 2, signed),
        private key (32), confirmation (32)."""
        offer = self.offer.to_bytes()
        head = _APP.pack(b"QA", _APP_FORMAT, len(offer))
        return head + offer + self.private_key + self.confirmation

    @classmethod
    def from_bytes(cls, data: bytes) -> AppQRState:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("an app QR state must be bytes")
        state = None
        if len(data) >= _APP.size:
            tag, fmt, length = _APP.unpack_from(data)
            end = _APP.size + length
            if tag == b"QA" and fmt == _APP_FORMAT and len(data) == end + KEY_BYTES + MAC_BYTES:
                state = valid_or_none(
                    lambda: AppQRState(
                        offer=Offer.from_bytes(data[_APP.size : end]),
                        private_key=data[end : end + KEY_BYTES],
                        confirmation=data[end + KEY_BYTES :],
                    )
                )
        if state is None:
            raise InvalidRecord("not an app QR activation state of a known format")
        return state


# Format 1 held an unsigned offer (protocol version 1); format 2 holds a signed one.
_APP_FORMAT: Final = 2
_APP: Final = struct.Struct(">2sBH")


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
        response to send and the token secret (``max(20, params.secret_length)`` bytes).
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
        length = _secret_length(pending.offer.params)
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
        The token secret, ``max(20, params.secret_length)`` bytes, the same as the issuer's.

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
    length = _secret_length(state.offer.params)
    return _derive(shared, _transcript(state.offer, app_key), Label.QR_SECRET, length)
