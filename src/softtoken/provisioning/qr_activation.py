"""QR activation with an SMS password: the token secret never travels (SECURITY.md S12, S18).

The bank page shows a QR code holding an :class:`Offer`, and an 8-digit password arrives by SMS.
The app and the issuer agree on the token secret with X25519 (RFC 7748). The password is only
*checked*, online and a few times at most, and the secret itself is never sent.

1. Issuer, :func:`start`: the offer to draw, the password to send, and the :class:`PendingQR`
   to store (sealed at rest).
2. App, :func:`respond`: the :class:`Request` to send, and the :class:`AppQRState` to store
   (sealed) until the answer comes.
3. Issuer, :func:`accept` (with the pending value that the request's ``activation_id`` names):
   an :class:`Outcome`, the pending value to store, and on success the
   :class:`Response` and the secret. Store the new pending value (a compare-and-set on its
   ``version``) *before* answering, so that no answer ever escapes a lost write.
4. App, :func:`finish`: checks the key confirmation, then returns the secret.

Key schedule. ``shared = X25519(app_private, issuer_public) = X25519(issuer_private,
app_public)`` (RFC 7748 §6.1). ``transcript = Label.QR_TRANSCRIPT || version (1) || offer length
(2, big-endian) || offer text || app public key (32)``, and ``salt = SHA-256(transcript)``. With
HKDF-SHA256 (RFC 5869) of ``shared`` under that salt: ``K_proof`` (``Label.QR_PROOF_KEY``, 32
bytes), ``K_confirm`` (``Label.QR_CONFIRM_KEY``, 32 bytes) and the token secret
(``Label.QR_SECRET``, ``max(20, params.secret_length)`` bytes: 160, 256 or 512 bits). The
password verifier is HKDF-SHA256 of the password's ASCII digits, salted with the activation id,
under ``Label.QR_PASSWORD``. ``proof = HMAC-SHA256(K_proof, verifier || transcript)`` and
``confirmation = HMAC-SHA256(K_confirm, transcript || "issuer")`` (RFC 2104).

Messages (every one carries version 1, and each has exactly one spelling):

- offer: the text
  ``softtoken://activate?v=1&sn=<serial>&id=<id>&pk=<key>&tp=<params>&exp=<expiry>&url=<url>``,
  with these seven parameters in this order. ``sn`` is the serial's 10 digits; ``id`` (16 bytes),
  ``pk`` (32) and ``tp`` (the 8 bytes of ``TokenParams.to_bytes``) are base64url without padding
  (RFC 4648 §5) with zero unused bits; ``exp`` is Unix seconds in decimal without leading zeros;
  ``url`` is an https URL with every byte but the RFC 3986 unreserved characters written as
  ``%XX`` in upper-case hex. At most :data:`MAX_OFFER_LENGTH` characters; no whitespace.
- request: base64url (no padding) of version (1) || activation id (16) || app public key (32) ||
  proof (32): 81 bytes, 108 characters.
- response: base64url (no padding) of version (1) || confirmation (32): 33 bytes, 44 characters.

Public keys must be canonical (a u-coordinate below 2^255 - 19) and not of small order.

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
  values must be sealed at rest (the issuer store's job). A done or spent value keeps neither,
  so recorded messages of a finished activation stay useless.
- **A forged QR** that the user scans, then types the real password into: the forger knows
  ``K_proof`` for its own key, so the proof it receives is open to an offline search over the
  10^8 passwords, after which it wins the race. Apps should answer only offers whose ``url``
  they trust. A PAKE would close this, and ``cryptography`` has none.

A lost response cannot be fetched again: the issuer refuses any second request (REPLAYED), so
the user starts a new activation.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import struct
import urllib.parse
from typing import Any, Final

import attrs
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from softtoken import _random, throttle
from softtoken._checks import check_counter, check_int, valid_or_none
from softtoken._encoding import parse_code
from softtoken._kdf import Label, hkdf
from softtoken._secret import SECRET
from softtoken.exceptions import ActivationRefused, InvalidInput, InvalidRecord
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.throttle import MAX_FAILURES, ThrottlePolicy, ThrottleState, Verdict

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
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
    "respond",
    "start",
]

VERSION: Final = 1
"""The protocol version, first in every message."""
PASSWORD_DIGITS: Final = 8
DEFAULT_TTL: Final = 15 * 60
"""An offer lives 15 minutes by default: long enough to install the app, short for a race."""
MAX_TTL: Final = 72 * 3600
DEFAULT_ATTEMPTS: Final = 5
MAX_OFFER_LENGTH: Final = 1024
MAX_URL_LENGTH: Final = 256
MIN_SECRET_BYTES: Final = 20
"""RFC 4226 §4 R6 recommends 160 bits; SHA-256 and SHA-512 tokens get 32 and 64 bytes."""

_ID_BYTES: Final = 16
_KEY_BYTES: Final = 32
_MAC_BYTES: Final = 32
_PARAMS_BYTES: Final = len(DEFAULT_PARAMS.to_bytes())
_PREFIX: Final = "softtoken://activate?"
_NAMES: Final = ("v", "sn", "id", "pk", "tp", "exp", "url")
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,19}")
# An https URL (RFC 3986 §3) with a host of letters, digits, dots and dashes, an optional port,
# and a path or query of unreserved, sub-delimiter, ":", "@", "/", "?" and "%" characters. No
# user info and no fragment.
_URL: Final = re.compile(
    r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?][A-Za-z0-9._~!$&'()*+,;=:@/?%-]*)?"
)
_B64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# RFC 7748 §5: a public key is a little-endian u-coordinate; values from p = 2^255 - 19 up are
# other spellings of smaller ones, refused so that a key has one encoding.
_FIELD_PRIME: Final = 2**255 - 19
# A clamped scalar is a multiple of 8, so X25519 with a point of small order gives all zeros
# whatever the private key (RFC 7748 §6.1 and §7); one probe with a fixed key finds such points.
_PROBE_KEY: Final = bytes(_KEY_BYTES)
_ISSUER_ROLE: Final = b"issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str, size: int) -> bytes | None:
    """The *size* bytes that *text* spells canonically in unpadded base64url, else None."""
    if len(text) != (4 * size + 2) // 3 or not _B64URL.issuperset(text):
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # RFC 4648 §3.5: the unused bits of the last character must be zero, for one spelling.
    return data if _b64(data) == text else None


def _public(private_key: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def _exchange(private_key: bytes, public_key: bytes) -> bytes | None:
    """X25519 (RFC 7748 §5), or None for the all-zero result that OpenSSL refuses."""
    peer = X25519PublicKey.from_public_bytes(public_key)
    try:
        return X25519PrivateKey.from_private_bytes(private_key).exchange(peer)
    except ValueError:
        return None


def _check_bytes(value: object, name: str, size: int) -> bytes:
    if type(value) is not bytes:
        raise TypeError(f"{name} must be bytes")
    if len(value) != size:
        raise InvalidInput(f"{name} must be {size} bytes")
    return value


def _check_public_key(value: object, name: str) -> None:
    key = _check_bytes(value, name, _KEY_BYTES)
    if int.from_bytes(key, "little") >= _FIELD_PRIME or _exchange(_PROBE_KEY, key) is None:
        raise InvalidInput(f"{name} is not a usable X25519 public key")


def _secret_length(params: TokenParams) -> int:
    return max(MIN_SECRET_BYTES, params.secret_length)


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Offer:
    """What the QR code holds: public values only. Build it with :func:`start` or
    :meth:`parse`; :meth:`to_text` is the one spelling drawn and hashed.

    Raises (constructor):
        TypeError: a field has the wrong type.
        InvalidInput: an id or key of the wrong size, a key that is not a usable X25519 public
            key, an expiry out of range, or a URL that is not an https URL of at most 256
            characters of the allowed set.
    """

    serial: Serial = attrs.field(kw_only=True)
    activation_id: bytes = attrs.field(kw_only=True)
    issuer_key: bytes = attrs.field(kw_only=True)
    params: TokenParams = attrs.field(kw_only=True)
    expires: int = attrs.field(kw_only=True)
    url: str = attrs.field(kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.serial, Serial) or not isinstance(self.params, TokenParams):
            raise TypeError("serial must be Serial and params TokenParams")
        _check_bytes(self.activation_id, "activation_id", _ID_BYTES)
        _check_public_key(self.issuer_key, "issuer_key")
        check_counter(self.expires, "expires")
        if type(self.url) is not str:
            raise TypeError("url must be str")
        if len(self.url) > MAX_URL_LENGTH or _URL.fullmatch(self.url) is None:
            raise InvalidInput("url must be an https URL of at most 256 plain ASCII characters")

    def to_text(self) -> str:
        """The offer's one spelling, as drawn in the QR code."""
        values = (
            str(VERSION),
            str(self.serial),
            _b64(self.activation_id),
            _b64(self.issuer_key),
            _b64(self.params.to_bytes()),
            str(self.expires),
            urllib.parse.quote(self.url, safe=""),
        )
        return _PREFIX + "&".join(f"{n}={v}" for n, v in zip(_NAMES, values, strict=True))

    def to_bytes(self) -> bytes:
        """:meth:`to_text` in ASCII: the bytes the transcript holds."""
        return self.to_text().encode("ascii")

    @classmethod
    def parse(cls, text: str) -> Offer:
        """Read an offer written exactly as :meth:`to_text` writes it.

        Raises:
            TypeError: *text* is not a ``str``.
            InvalidInput: anything else, with a constant message that never quotes the text.
        """
        if type(text) is not str:
            raise TypeError("an offer must be str")
        offer = _read_offer(text)
        if offer is None:
            raise InvalidInput("not a softtoken activation offer, version 1, in canonical form")
        return offer

    @classmethod
    def from_bytes(cls, data: bytes) -> Offer:
        """:meth:`parse` of ASCII bytes; the same errors."""
        if type(data) is not bytes:
            raise TypeError("an offer must be bytes")
        return cls.parse(data.decode("ascii") if data.isascii() else "")


def _read_offer(text: str) -> Offer | None:
    if len(text) > MAX_OFFER_LENGTH or not text.isascii() or not text.startswith(_PREFIX):
        return None
    pairs = [pair.partition("=") for pair in text[len(_PREFIX) :].split("&")]
    if [(name, "=") for name, _, _ in pairs] != [(name, "=") for name in _NAMES]:
        return None
    version, serial, ident, key, params, expires, url = (value for _, _, value in pairs)
    activation_id, issuer_key = _unb64(ident, _ID_BYTES), _unb64(key, _KEY_BYTES)
    raw_params = _unb64(params, _PARAMS_BYTES)
    token_params = None if raw_params is None else TokenParams.from_bytes(raw_params)
    raw_url = urllib.parse.unquote_to_bytes(url)
    if (
        version != str(VERSION)
        or _DECIMAL.fullmatch(expires) is None
        or activation_id is None
        or issuer_key is None
        or token_params is None
        or not raw_url.isascii()
    ):
        return None
    offer = valid_or_none(
        lambda: Offer(
            serial=Serial(serial),
            activation_id=activation_id,
            issuer_key=issuer_key,
            params=token_params,
            expires=int(expires),
            url=raw_url.decode("ascii"),
        )
    )
    # Only the canonical spelling: one offer, one text, so that both sides hash the same bytes.
    return offer if offer is not None and offer.to_text() == text else None


_REQUEST: Final = struct.Struct(f">B{_ID_BYTES}s{_KEY_BYTES}s{_MAC_BYTES}s")
_RESPONSE: Final = struct.Struct(f">B{_MAC_BYTES}s")


@attrs.frozen
class Request:
    """The app's answer to an offer: its public key and a proof that it knows the password."""

    activation_id: bytes = attrs.field(kw_only=True)
    app_key: bytes = attrs.field(kw_only=True)
    proof: bytes = attrs.field(kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_bytes(self.activation_id, "activation_id", _ID_BYTES)
        _check_public_key(self.app_key, "app_key")
        _check_bytes(self.proof, "proof", _MAC_BYTES)

    def to_bytes(self) -> bytes:
        """Version (1), activation id (16), app public key (32), proof (32): 81 bytes."""
        return _REQUEST.pack(VERSION, self.activation_id, self.app_key, self.proof)

    def to_text(self) -> str:
        """:meth:`to_bytes` in base64url without padding: 108 characters."""
        return _b64(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Request:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidInput (constant text)."""
        if type(data) is not bytes:
            raise TypeError("a request must be bytes")
        request = None
        if len(data) == _REQUEST.size and data[0] == VERSION:
            _, ident, key, proof = _REQUEST.unpack(data)
            request = valid_or_none(lambda: Request(activation_id=ident, app_key=key, proof=proof))
        if request is None:
            raise InvalidInput("not a softtoken activation request, version 1")
        return request

    @classmethod
    def parse(cls, text: str) -> Request:
        """Read :meth:`to_text` strictly. Raises TypeError, or InvalidInput (constant text)."""
        if type(text) is not str:
            raise TypeError("a request must be str")
        return cls.from_bytes(_unb64(text, _REQUEST.size) or b"")


@attrs.frozen
class Response:
    """The issuer's key confirmation: proof that it derived the same keys."""

    confirmation: bytes = attrs.field(kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_bytes(self.confirmation, "confirmation", _MAC_BYTES)

    def to_bytes(self) -> bytes:
        """Version (1), confirmation (32): 33 bytes."""
        return _RESPONSE.pack(VERSION, self.confirmation)

    def to_text(self) -> str:
        """:meth:`to_bytes` in base64url without padding: 44 characters."""
        return _b64(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Response:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidInput (constant text)."""
        if type(data) is not bytes:
            raise TypeError("a response must be bytes")
        if len(data) != _RESPONSE.size or data[0] != VERSION:
            raise InvalidInput("not a softtoken activation response, version 1")
        return cls(confirmation=data[1:])

    @classmethod
    def parse(cls, text: str) -> Response:
        """Read :meth:`to_text` strictly. Raises TypeError, or InvalidInput (constant text)."""
        if type(text) is not str:
            raise TypeError("a response must be str")
        return cls.from_bytes(_unb64(text, _RESPONSE.size) or b"")


# --------------------------------------------------------------------------------------------
# The key schedule
# --------------------------------------------------------------------------------------------


def _transcript(offer: Offer, app_key: bytes) -> bytes:
    text = offer.to_bytes()
    return bytes(Label.QR_TRANSCRIPT) + struct.pack(">BH", VERSION, len(text)) + text + app_key


def _derive(shared: bytes, transcript: bytes, label: Label, length: int = _MAC_BYTES) -> bytes:
    # RFC 5869 §3.1: a salt strengthens the extraction; the transcript's hash binds every key
    # to this offer and this app key, and the label separates the purposes.
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
    """Refused unevaluated: the offer has expired."""
    REPLAYED = "replayed"
    """Refused unevaluated: the activation is done already (a replay, or a second device)."""
    FOREIGN = "foreign"
    """Refused unevaluated: the request names another activation id."""


# Stored codes, 1 onwards; append only.
_OUTCOMES: Final = tuple(Outcome)


@attrs.frozen
class PendingQR:
    """The issuer's state of one QR activation. Secret while open: store it sealed.

    Attributes:
        offer: the offer shown (serial, params, activation id, expiry, public key, URL).
        private_key: the issuer's X25519 private key; None once done or spent.
        verifier: what the issuer keeps of the password (never the password); None once done
            or spent.
        attempts: wrong proofs that close the activation, 1 to 1000.
        throttle: the wrong proofs counted (never delayed, never open).
        done: a request was accepted; every later one is refused.
        last_outcome: what :func:`accept` did last, for the audit; None before any request.
        version: grows by one at every change, for a store's compare-and-set.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes | None = attrs.field(kw_only=True, **SECRET)
    verifier: bytes | None = attrs.field(kw_only=True, **SECRET)
    attempts: int = attrs.field(default=DEFAULT_ATTEMPTS, kw_only=True)
    throttle: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    done: bool = attrs.field(default=False, kw_only=True)
    last_outcome: Outcome | None = attrs.field(default=None, kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer) or not isinstance(self.throttle, ThrottleState):
            raise TypeError("offer must be Offer and throttle ThrottleState")
        if type(self.done) is not bool:
            raise TypeError("done must be bool")
        if self.last_outcome is not None and not isinstance(self.last_outcome, Outcome):
            raise TypeError("last_outcome must be Outcome or None")
        check_int(self.attempts, "attempts", 1, MAX_FAILURES)
        check_counter(self.version, "version")
        closed = self.done or self.throttle.blocked
        for key, name in ((self.private_key, "private_key"), (self.verifier, "verifier")):
            if key is not None:
                _check_bytes(key, name, _KEY_BYTES)
            if (key is None) is not closed:
                raise InvalidInput("the keys are kept exactly while the activation is open")
        if self.throttle.not_before or self.throttle.attempt_open:
            raise InvalidInput("an activation's attempts are never delayed or left open")
        if self.done and self.throttle.blocked:
            raise InvalidInput("an activation is either done or spent")
        if self.last_outcome is Outcome.ACCEPTED and not self.done:
            raise InvalidInput("an accepted activation is done")

    @property
    def serial(self) -> Serial:
        """The serial being activated."""
        return self.offer.serial

    @property
    def remaining(self) -> int:
        """Wrong proofs still allowed; 0 once spent."""
        return throttle.remaining(ThrottlePolicy(max_failures=self.attempts), self.throttle)

    def to_bytes(self) -> bytes:
        """``b"QP"``, format 1, flags (bit 0 done, bit 1 spent), version (8), attempts (2),
        failures (2), episode (4), throttle version (8), last outcome (1; 0 for none), offer
        length (2), the offer's text, then the private key and verifier (32 each) while open."""
        t = self.throttle
        flags = (_DONE if self.done else 0) | (_SPENT if t.blocked else 0)
        last = 0 if self.last_outcome is None else _OUTCOMES.index(self.last_outcome) + 1
        offer = self.offer.to_bytes()
        head = _PENDING.pack(
            b"QP",
            1,
            flags,
            self.version,
            self.attempts,
            t.failures,
            t.episode,
            t.version,
            last,
            len(offer),
        )
        return head + offer + (self.private_key or b"") + (self.verifier or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingQR:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("a pending QR activation must be bytes")
        pending = _read_pending(data)
        if pending is None:
            raise InvalidRecord("not a pending QR activation of a known format")
        return pending


_DONE: Final = 0x01
_SPENT: Final = 0x02
_PENDING: Final = struct.Struct(">2sBBQHHIQBH")


def _read_pending(data: bytes) -> PendingQR | None:
    if len(data) < _PENDING.size:
        return None
    tag, fmt, flags, version, attempts, failures, episode, t_version, last, length = (
        _PENDING.unpack_from(data)
    )
    end = _PENDING.size + length
    keys = data[end:] if len(data) >= end else None
    if tag != b"QP" or fmt != 1 or flags & ~(_DONE | _SPENT) or last > len(_OUTCOMES):
        return None
    if keys is None or len(keys) != (0 if flags else 2 * _KEY_BYTES):
        return None
    offer = valid_or_none(lambda: Offer.from_bytes(data[_PENDING.size : end]))
    if offer is None:
        return None
    state = valid_or_none(
        lambda: ThrottleState(
            failures=failures, blocked=bool(flags & _SPENT), episode=episode, version=t_version
        )
    )
    if state is None:
        return None
    return valid_or_none(
        lambda: PendingQR(
            offer=offer,
            private_key=keys[:_KEY_BYTES] or None,
            verifier=keys[_KEY_BYTES:] or None,
            attempts=attempts,
            throttle=state,
            done=bool(flags & _DONE),
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
        offer: the offer answered; its ``params`` are the token's.
        private_key: the app's X25519 private key (the device key of this activation).
        confirmation: the response the issuer must send.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes = attrs.field(kw_only=True, **SECRET)
    confirmation: bytes = attrs.field(kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer):
            raise TypeError("offer must be Offer")
        _check_bytes(self.private_key, "private_key", _KEY_BYTES)
        _check_bytes(self.confirmation, "confirmation", _MAC_BYTES)

    @property
    def params(self) -> TokenParams:
        """The token's parameters, from the offer."""
        return self.offer.params

    def to_bytes(self) -> bytes:
        """``b"QA"``, format 1, offer length (2), the offer's text, private key (32),
        confirmation (32)."""
        offer = self.offer.to_bytes()
        return _APP.pack(b"QA", 1, len(offer)) + offer + self.private_key + self.confirmation

    @classmethod
    def from_bytes(cls, data: bytes) -> AppQRState:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("an app QR state must be bytes")
        state = None
        if len(data) >= _APP.size:
            tag, fmt, length = _APP.unpack_from(data)
            end = _APP.size + length
            if tag == b"QA" and fmt == 1 and len(data) == end + _KEY_BYTES + _MAC_BYTES:
                state = valid_or_none(
                    lambda: AppQRState(
                        offer=Offer.from_bytes(data[_APP.size : end]),
                        private_key=data[end : end + _KEY_BYTES],
                        confirmation=data[end + _KEY_BYTES :],
                    )
                )
        if state is None:
            raise InvalidRecord("not an app QR activation state of a known format")
        return state


_APP: Final = struct.Struct(">2sBH")


# --------------------------------------------------------------------------------------------
# The four steps
# --------------------------------------------------------------------------------------------


def start(
    serial: Serial,
    *,
    now: int,
    url: str,
    params: TokenParams = DEFAULT_PARAMS,
    ttl: int = DEFAULT_TTL,
    attempts: int = DEFAULT_ATTEMPTS,
) -> tuple[Offer, str, PendingQR]:
    """Issuer: begin a QR activation of *serial* at *now* (Unix seconds).

    Draws, in this order and only from ``softtoken._random``: the issuer's X25519 private key
    (32 bytes), the activation id (16 bytes) and the 8-digit password.

    Returns:
        The offer to draw (no secret), the password to send by SMS (never stored: the pending
        value keeps a verifier), and the pending value to store sealed. The offer expires at
        ``now + ttl``; *attempts* wrong proofs close it.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidInput: *ttl* is not 1 second to 72 hours, *attempts* not 1 to 1000, *now* out of
            range, or *url* not an https URL of the allowed characters.
    """
    if not isinstance(serial, Serial) or not isinstance(params, TokenParams):
        raise TypeError("serial must be Serial and params TokenParams")
    check_counter(now, "now")
    check_int(ttl, "ttl", 1, MAX_TTL)
    check_int(attempts, "attempts", 1, MAX_FAILURES)
    check_counter(now + ttl, "now + ttl")
    private_key = _random.random_bytes(_KEY_BYTES)
    activation_id = _random.random_bytes(_ID_BYTES)
    password = _random.random_digits(PASSWORD_DIGITS)
    offer = Offer(
        serial=serial,
        activation_id=activation_id,
        issuer_key=_public(private_key),
        params=params,
        expires=now + ttl,
        url=url,
    )
    verifier = _verifier(password, activation_id)
    pending = PendingQR(offer=offer, private_key=private_key, verifier=verifier, attempts=attempts)
    return offer, password, pending


def respond(offer: Offer, password: str, *, now: int) -> tuple[Request, AppQRState]:
    """App: answer *offer* with the typed *password* at *now*.

    Draws the app's X25519 private key (32 bytes) from ``softtoken._random``. A wrong password
    is not detected here; the issuer counts it.

    Returns:
        The request to send, and the state to store sealed until the response.

    Raises:
        TypeError: an argument has the wrong type (a password is ``str``).
        MalformedCode: the password is not 8 ASCII digits (spaces or dashes between groups are
            allowed).
        ActivationRefused: the offer has expired.
    """
    if not isinstance(offer, Offer):
        raise TypeError("offer must be Offer")
    digits = parse_code(password, PASSWORD_DIGITS)
    check_counter(now, "now")
    if now >= offer.expires:
        raise ActivationRefused()
    private_key = _random.random_bytes(_KEY_BYTES)
    app_key = _public(private_key)
    shared = _exchange(private_key, offer.issuer_key)
    if shared is None:
        # Unreachable: the offer's key passed _check_public_key. Failing closed all the same.
        raise ActivationRefused()
    transcript = _transcript(offer, app_key)
    proof = _proof(shared, transcript, _verifier(digits, offer.activation_id))
    request = Request(activation_id=offer.activation_id, app_key=app_key, proof=proof)
    state = AppQRState(
        offer=offer, private_key=private_key, confirmation=_confirmation(shared, transcript)
    )
    return request, state


def accept(
    pending: PendingQR, request: Request, *, now: int
) -> tuple[Outcome, PendingQR, Response | None, bytes | None]:
    """Issuer: check *request* against *pending* at *now*. Pure: nothing is raised for a refusal.

    A request naming another activation (FOREIGN), one after the activation is done
    (REPLAYED), after its attempts are spent (SPENT) or at or after its expiry (EXPIRED) is
    refused unevaluated. Otherwise the proof is compared in constant time: a wrong one costs one
    attempt (WRONG_PROOF, or SPENT_NOW for the last). A right one is ACCEPTED: the activation is
    done, and its keys are dropped from the pending value.

    Returns:
        The outcome; the pending value to store, which records the outcome (and is *pending*
        itself when nothing changed, or else one version later); and, on ACCEPTED only, the
        response to send and the token secret (``max(20, params.secret_length)`` bytes).
        Store the pending value before answering or using the secret.

    Raises:
        TypeError: an argument has the wrong type. InvalidInput: *now* is out of range.
    """
    if not isinstance(pending, PendingQR) or not isinstance(request, Request):
        raise TypeError("pending must be PendingQR and request Request")
    check_counter(now, "now")
    refused = _refusal(pending, request, now)
    if refused is None and pending.private_key is not None and pending.verifier is not None:
        return _evaluate(pending, pending.private_key, pending.verifier, request, now)
    # A value without keys is done or spent, so _refusal refused it already.
    outcome = Outcome.SPENT if refused is None else refused
    return outcome, _changed(pending, last_outcome=outcome), None, None


def _refusal(pending: PendingQR, request: Request, now: int) -> Outcome | None:
    if request.activation_id != pending.offer.activation_id:
        return Outcome.FOREIGN
    if pending.done:
        return Outcome.REPLAYED
    if pending.throttle.blocked:
        return Outcome.SPENT
    if now >= pending.offer.expires:
        return Outcome.EXPIRED
    return None


def _evaluate(
    pending: PendingQR, private_key: bytes, verifier: bytes, request: Request, now: int
) -> tuple[Outcome, PendingQR, Response | None, bytes | None]:
    transcript = _transcript(pending.offer, request.app_key)
    # The request's key passed _check_public_key, so the exchange gives a result; if it ever
    # did not, the request counts as a wrong proof (fail closed).
    shared = _exchange(private_key, request.app_key)
    if shared is not None and hmac.compare_digest(
        _proof(shared, transcript, verifier), request.proof
    ):
        length = _secret_length(pending.offer.params)
        secret = _derive(shared, transcript, Label.QR_SECRET, length)
        response = Response(confirmation=_confirmation(shared, transcript))
        done = _changed(
            pending, done=True, private_key=None, verifier=None, last_outcome=Outcome.ACCEPTED
        )
        return Outcome.ACCEPTED, done, response, secret
    verdict, counted = throttle.fail(
        ThrottlePolicy(max_failures=pending.attempts), pending.throttle, now
    )
    if verdict is Verdict.BLOCKED_NOW:
        # Nothing can complete a spent activation, so its keys are dropped.
        changes: dict[str, Any] = {"private_key": None, "verifier": None}
        outcome = Outcome.SPENT_NOW
    else:
        changes, outcome = {}, Outcome.WRONG_PROOF
    return outcome, _changed(pending, throttle=counted, last_outcome=outcome, **changes), None, None


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
    if not hmac.compare_digest(state.confirmation, response.confirmation):
        raise ActivationRefused()
    app_key = _public(state.private_key)
    shared = _exchange(state.private_key, state.offer.issuer_key)
    if shared is None:
        # Unreachable: the offer's key passed _check_public_key. Failing closed all the same.
        raise ActivationRefused()
    length = _secret_length(state.offer.params)
    return _derive(shared, _transcript(state.offer, app_key), Label.QR_SECRET, length)
