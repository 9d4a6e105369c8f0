"""The messages of QR activation, and how each is written and strictly read (S13).

Every message carries version 2 (version 1, whose offers were unsigned, is refused), and each
has exactly one spelling:

- the offer (:class:`Offer`): the text ``softtoken://activate?v=2&sn=<serial>&id=<id>&pk=<key>``
  ``&tp=<params>&exp=<expiry>&url=<url>&kid=<key id>&sig=<signature>``, with these nine
  parameters in this order. ``sn`` is the serial's 10 digits; ``id`` (16 bytes), ``pk`` (the
  issuer's X25519 key, 32), ``tp`` (the 8 bytes of ``TokenParams.to_bytes``), ``kid`` (the
  signing key's id, 8) and ``sig`` (64) are base64url without padding (RFC 4648 §5) with zero
  unused bits; ``exp`` is Unix seconds in decimal without leading zeros; ``url`` is an https URL
  with every byte but the RFC 3986 unreserved characters written as ``%XX`` in upper-case hex.
  At most :data:`MAX_OFFER_LENGTH` characters; no whitespace. ``sig`` is the bank's Ed25519
  signature (RFC 8032 §5.1.6) over :meth:`Offer.signed_text`, the exact text before ``&sig=``;
  :mod:`~softtoken.provisioning.qr_activation` makes and checks it.
- the request (:class:`Request`): base64url (no padding) of version (1) || activation id (16)
  || app public key (32) || proof (32): 81 bytes, 108 characters.
- the response (:class:`Response`): base64url (no padding) of version (1) || confirmation (32):
  33 bytes, 44 characters.

X25519 public keys must be canonical (a u-coordinate below 2^255 - 19) and not of small order.
The protocol that produces and checks these messages is
:mod:`softtoken.provisioning.qr_activation`.
"""

from __future__ import annotations

import base64
import re
import struct
import urllib.parse
from typing import Final

import attrs
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from softtoken._checks import check_bytes, check_counter, valid_or_none
from softtoken.exceptions import InvalidInput
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams

__all__ = [
    "ID_BYTES",
    "KEY_BYTES",
    "KEY_ID_BYTES",
    "MAC_BYTES",
    "MAX_OFFER_LENGTH",
    "MAX_URL_LENGTH",
    "SIGNATURE_BYTES",
    "VERSION",
    "Offer",
    "Request",
    "Response",
    "check_public_key",
]

VERSION: Final = 2
"""The protocol version, first in every message. Version 1 offers were unsigned."""
MAX_OFFER_LENGTH: Final = 1024
MAX_URL_LENGTH: Final = 256

ID_BYTES: Final = 16
KEY_BYTES: Final = 32
"""An X25519 key (RFC 7748 §5), and an Ed25519 private or public key (RFC 8032 §5.1.5)."""
MAC_BYTES: Final = 32
KEY_ID_BYTES: Final = 8
SIGNATURE_BYTES: Final = 64
"""An Ed25519 signature: R (32) || S (32), RFC 8032 §5.1.6."""
_PARAMS_BYTES: Final = len(DEFAULT_PARAMS.to_bytes())
_PREFIX: Final = "softtoken://activate?"
_NAMES: Final = ("v", "sn", "id", "pk", "tp", "exp", "url", "kid", "sig")
_SIGNED_NAMES: Final = _NAMES[:-1]
_SIGNATURE_MARK: Final = "&sig="
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
_Y_MASK: Final = (1 << 255) - 1
# A clamped scalar is a multiple of 8, so X25519 with a point of small order gives all zeros
# whatever the private key (RFC 7748 §6.1 and §7); one probe with a fixed key finds such points.
_PROBE_KEY: Final = bytes(KEY_BYTES)


def _b64(data: bytes) -> str:
    """*data* in unpadded base64url (RFC 4648 §5), the one spelling of every binary field."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str, size: int) -> bytes | None:
    """The *size* bytes that *text* spells canonically in unpadded base64url, else None."""
    if len(text) != (4 * size + 2) // 3 or not _B64URL.issuperset(text):
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # RFC 4648 §3.5: the unused bits of the last character must be zero, for one spelling.
    return data if _b64(data) == text else None


def _public_key(private_key: bytes) -> bytes:
    """The X25519 public key of *private_key* (RFC 7748 §6.1)."""
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def _exchange(private_key: bytes, public_key: bytes) -> bytes | None:
    """X25519 (RFC 7748 §5), or None for the all-zero result that OpenSSL refuses."""
    peer = X25519PublicKey.from_public_bytes(public_key)
    try:
        return X25519PrivateKey.from_private_bytes(private_key).exchange(peer)
    except ValueError:
        return None


def check_public_key(value: object, name: str) -> None:
    """Refuse a non-canonical or small-order X25519 public key with InvalidInput."""
    key = check_bytes(value, name, KEY_BYTES)
    if int.from_bytes(key, "little") >= _FIELD_PRIME or _exchange(_PROBE_KEY, key) is None:
        raise InvalidInput(f"{name} is not a usable X25519 public key")


def _check_signing_key(value: object, name: str) -> bytes:
    """*value*, if it is a canonically encoded Ed25519 public key not of small order; TypeError
    or InvalidInput otherwise. A key that cryptography cannot decode never verifies anything,
    and is left to fail there."""
    key = check_bytes(value, name, KEY_BYTES)
    # RFC 8032 §5.1.3: the key is y, 255 bits little-endian, under the sign of x in the top bit.
    # A y from p up is another spelling of a smaller one, and y = 1 is the neutral element.
    y = int.from_bytes(key, "little") & _Y_MASK
    if y >= _FIELD_PRIME or y == 1:
        raise InvalidInput(f"{name} is not a usable Ed25519 public key")
    # RFC 7748 §4.1: u = (1 + y) / (1 - y) is the same point on Curve25519, where the X25519
    # probe finds every small order. Such a key lets anyone forge: with the all-zero key, the
    # all-zero signature verifies for about one message in four.
    u = (1 + y) * pow(1 - y, -1, _FIELD_PRIME) % _FIELD_PRIME
    if _exchange(_PROBE_KEY, u.to_bytes(KEY_BYTES, "little")) is None:
        raise InvalidInput(f"{name} is not a usable Ed25519 public key")
    return key


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Offer:
    """What the QR code holds: public values only, signed by the bank. Build it with
    :func:`~softtoken.provisioning.qr_activation.start` or :meth:`parse`; :meth:`to_text` is the
    one spelling drawn and hashed. Parsing checks the form only: whether the signature is the
    bank's is for :func:`~softtoken.provisioning.qr_activation.respond` to check, against the
    keys the app pins.

    Besides what the issuer offers (serial, activation id, X25519 key, token parameters,
    expiry, URL), an offer names the key that signed it and holds the signature:

    Attributes:
        key_id: the id of the bank's Ed25519 key that signed it
            (:func:`~softtoken.provisioning.qr_activation.signing_key_id`).
        signature: that key's Ed25519 signature over :meth:`signed_text` (RFC 8032 §5.1.6).

    Raises (constructor):
        TypeError: a field has the wrong type.
        InvalidInput: an id, key, key id or signature of the wrong size, a key that is not a
            usable X25519 public key, an expiry out of range, or a URL that is not an https URL
            of at most 256 characters of the allowed set.
    """

    serial: Serial = attrs.field(kw_only=True)
    activation_id: bytes = attrs.field(kw_only=True)
    issuer_key: bytes = attrs.field(kw_only=True)
    params: TokenParams = attrs.field(kw_only=True)
    expires: int = attrs.field(kw_only=True)
    url: str = attrs.field(kw_only=True)
    key_id: bytes = attrs.field(kw_only=True)
    signature: bytes = attrs.field(kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.serial, Serial) or not isinstance(self.params, TokenParams):
            raise TypeError("serial must be Serial and params TokenParams")
        check_bytes(self.activation_id, "activation_id", ID_BYTES)
        check_public_key(self.issuer_key, "issuer_key")
        check_counter(self.expires, "expires")
        if type(self.url) is not str:
            raise TypeError("url must be str")
        if len(self.url) > MAX_URL_LENGTH or _URL.fullmatch(self.url) is None:
            raise InvalidInput("url must be an https URL of at most 256 plain ASCII characters")
        check_bytes(self.key_id, "key_id", KEY_ID_BYTES)
        check_bytes(self.signature, "signature", SIGNATURE_BYTES)

    def signed_text(self) -> str:
        """The text the signature covers: the offer's text before ``&sig=``, every field but
        the signature itself, the key id included."""
        values = (
            str(VERSION),
            str(self.serial),
            _b64(self.activation_id),
            _b64(self.issuer_key),
            _b64(self.params.to_bytes()),
            str(self.expires),
            urllib.parse.quote(self.url, safe=""),
            _b64(self.key_id),
        )
        return _PREFIX + "&".join(f"{n}={v}" for n, v in zip(_SIGNED_NAMES, values, strict=True))

    def to_text(self) -> str:
        """The offer's one spelling, as drawn in the QR code."""
        return self.signed_text() + _SIGNATURE_MARK + _b64(self.signature)

    def to_bytes(self) -> bytes:
        """:meth:`to_text` in ASCII: the bytes the transcript holds."""
        return self.to_text().encode("ascii")

    @classmethod
    def parse(cls, text: str) -> Offer:
        """Read an offer written exactly as :meth:`to_text` writes it. The signature is read,
        not checked.

        Raises:
            TypeError: *text* is not a ``str``.
            InvalidInput: anything else, with a constant message that never quotes the text.
        """
        if type(text) is not str:
            raise TypeError("an offer must be str")
        offer = _read_offer(text)
        if offer is None:
            raise InvalidInput("not a softtoken activation offer, version 2, in canonical form")
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
    version, serial, ident, key, params, expires, url, kid, sig = (v for _, _, v in pairs)
    activation_id, issuer_key = _unb64(ident, ID_BYTES), _unb64(key, KEY_BYTES)
    key_id, signature = _unb64(kid, KEY_ID_BYTES), _unb64(sig, SIGNATURE_BYTES)
    raw_params = _unb64(params, _PARAMS_BYTES)
    token_params = None if raw_params is None else TokenParams.from_bytes(raw_params)
    raw_url = urllib.parse.unquote_to_bytes(url)
    if (
        version != str(VERSION)
        or _DECIMAL.fullmatch(expires) is None
        or activation_id is None
        or issuer_key is None
        or token_params is None
        or key_id is None
        or signature is None
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
            key_id=key_id,
            signature=signature,
        )
    )
    # Only the canonical spelling: one offer, one text, so that both sides hash the same bytes
    # and the signature covers the one text that is read.
    return offer if offer is not None and offer.to_text() == text else None


_REQUEST: Final = struct.Struct(f">B{ID_BYTES}s{KEY_BYTES}s{MAC_BYTES}s")
_RESPONSE: Final = struct.Struct(f">B{MAC_BYTES}s")


@attrs.frozen
class Request:
    """The app's answer to an offer: its public key and a proof that it knows the password."""

    activation_id: bytes = attrs.field(kw_only=True)
    app_key: bytes = attrs.field(kw_only=True)
    proof: bytes = attrs.field(kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        check_bytes(self.activation_id, "activation_id", ID_BYTES)
        check_public_key(self.app_key, "app_key")
        check_bytes(self.proof, "proof", MAC_BYTES)

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
            raise InvalidInput("not a softtoken activation request, version 2")
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
        check_bytes(self.confirmation, "confirmation", MAC_BYTES)

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
            raise InvalidInput("not a softtoken activation response, version 2")
        return cls(confirmation=data[1:])

    @classmethod
    def parse(cls, text: str) -> Response:
        """Read :meth:`to_text` strictly. Raises TypeError, or InvalidInput (constant text)."""
        if type(text) is not str:
            raise TypeError("a response must be str")
        return cls.from_bytes(_unb64(text, _RESPONSE.size) or b"")
