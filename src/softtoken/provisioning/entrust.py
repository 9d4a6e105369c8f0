"""Entrust-style legacy soft tokens, for migration only: derive their secrets, read their QRs.

**This format is weak.** It is here so that an issuer moving away from Entrust IdentityGuard
soft tokens can keep verifying the apps already in its users' hands while they move; never use
it for a new token. Why it is weak (figures measured on one core of the project's development
machine; the documentation's "Entrust-style migration" page has the details):

- **16 device bits.** The token secret is PBKDF2-HMAC-SHA256 over the activation code and only
  the low 2 bytes of the registration code, with 8 iterations (about 2.3 µs a guess). Whoever
  saw the serial and the activation code (the letter, the e-mail, or the QR and its password)
  and one code with its time tries all 2**16 device values in 0.3 s.
- **An offline-crackable QR.** The QR is encrypted under an 8-digit SMS password with 1,000
  PBKDF2 iterations, and its MAC (or the plaintext's known shape) tells a right guess: a photo
  of the QR gives up the serial and the activation code after at most 10**8 guesses, 3.2
  core-hours (6.2 through the MAC, which needs the whole 64-byte key material).
- **Nothing is checked online**, so no lockout limits either search.
- **The issuer direction only.** The upper bits of a real registration code come from an
  unpublished algorithm, which the Entrust server checks, so softtoken cannot make registration
  codes an Entrust server accepts. It derives the secret of a token that an Entrust app
  registered; it does not act as that app.

softtoken's own activations replace it: offline activation
(:mod:`softtoken.provisioning.offline`) has the same serial-in, registration-code-out flow with
29.9 device bits and a memory-hard scrypt derivation, and QR activation checks its SMS password
online only, with counted attempts, so a photo of its QR gives nothing to search.

The facts come from independent research, ss23/entrust-identityguard-tools (2019, the
``generate-otp.py``, ``decode-qr-uri.py`` and ``crack-qr-uri.go`` tools and the README's
worked examples), as restated in issue 7 §5; the published examples are vectors in
``tests/vectors/entrust-*.txt``.

- :func:`derive_secret` gives the 16-byte token secret from the serial, the activation code and
  the registration code (and, on some deployments, the policy text from the QR).
- :data:`ENTRUST_TOTP` and :data:`ENTRUST_TOTP_8` are the codes' parameters: TOTP, HMAC-SHA256,
  30-second steps, 6 or 8 digits; :func:`totp_params` picks one.
- :func:`decrypt_qr` reads an ``igmobileotp://`` activation QR with its SMS password and
  returns a :class:`LegacyActivation`.

The module is left out of ``softtoken.provisioning``'s names on purpose: importing
``softtoken.provisioning.entrust`` by name is a visible choice of a weak format.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from typing import Any, Final, NamedTuple, TypeVar
from urllib.parse import unquote

import attrs
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from softtoken._checks import check_int, valid_or_none
from softtoken._encoding import utf8_or_none
from softtoken._secret import SECRET
from softtoken.exceptions import ActivationRefused, InvalidInput, InvalidURI
from softtoken.provisioning.identifiers import ActivationCode, RegistrationCode, Serial
from softtoken.provisioning.params import TokenParams

__all__ = [
    "ENTRUST_TOTP",
    "ENTRUST_TOTP_8",
    "MAX_QR_URI_LENGTH",
    "LegacyActivation",
    "decrypt_qr",
    "derive_secret",
    "totp_params",
]

ENTRUST_TOTP: Final = TokenParams(algorithm="sha256", digits=6)
"""The codes of an Entrust-style soft token: TOTP, HMAC-SHA256, 6 digits, 30-second steps
(ss23/entrust-identityguard-tools, README: ``oathtool --totp=sha256 --digits=6``)."""

ENTRUST_TOTP_8: Final = TokenParams(algorithm="sha256", digits=8)
"""The same with 8 digits, for deployments whose policy asks for them (Entrust's administration
guide offers 6 or 8 digits per token policy)."""

MAX_QR_URI_LENGTH: Final = 4096
"""The longest QR text :func:`decrypt_qr` reads. A QR holds at most 2,953 bytes (version 40,
level L); the published QRs are about 300 characters. The bound keeps every parse fast."""

# The secret derivation (issue 7 §5; ss23/entrust-identityguard-tools generate-otp.py).
_SECRET_ITERATIONS: Final = 8
_SECRET_LENGTH: Final = 16
_ACTIVATION_BYTES: Final = 7
_DEVICE_BYTES: Final = 2
_DEVICE_MASK: Final = (1 << (8 * _DEVICE_BYTES)) - 1
# The QR (issue 7 §5; ss23/entrust-identityguard-tools decode-qr-uri.py and crack-qr-uri.go).
_QR_PREFIX: Final = "igmobileotp://?"
_QR_ITERATIONS: Final = 1000
_QR_KEY_MATERIAL: Final = 64
_SALT_LENGTH: Final = 8
_MAC_LENGTH: Final = 12
_AES_BLOCK: Final = 16
_SIGNED_PARAMETERS: Final = frozenset({"action", "enc", "v"})
_PASSWORD: Final = re.compile(r"[0-9]{8}")
# A base64 value as the published QRs write it: "+", "/" and "=" percent-escaped (either case of
# hex digit). "/" and "=" may also stand as they are, as RFC 3986 §3.4 allows in a query; a bare
# "+" is refused, since a form decoder would read it as a space and another reader would not.
_QUERY_BASE64: Final = re.compile(r"(?:[A-Za-z0-9/=]|%2[BbFf]|%3[Dd])+")
_REQUIRED_FIELDS: Final = frozenset({"sn", "ac", "regurl"})
_FIELDS: Final = _REQUIRED_FIELDS | {"policy"}

_QR_SHAPE: Final = "not an Entrust activation QR: igmobileotp://?action=secactivate&enc=…&v=1&mac=…"
_T = TypeVar("_T", Serial, ActivationCode, RegistrationCode)


def derive_secret(
    serial: Serial | str,
    activation_code: ActivationCode | str,
    registration_code: RegistrationCode | str,
    *,
    policy: str | None = None,
) -> bytes:
    """The 16-byte TOTP secret of an Entrust-style token that an Entrust app registered.

    PBKDF2-HMAC-SHA256 with 8 iterations and a 16-byte output, where:

    - the salt is the serial's 10 digits in ASCII (its check digit included);
    - the password is the activation code's first 15 digits, as one integer in 7 big-endian
      bytes; then the registration code's first 9 digits, as one integer, of which only the low
      2 bytes are used, big-endian (``(n & 0xFFFF).to_bytes(2, "big")``, the last 2 of its
      4-byte big-endian form); then, if given, *policy* in UTF-8.

    Whether a deployment appends the policy is not visible from outside; when the first code
    does not verify, try the other way. An empty policy appends nothing, as None does.

    Each identifier is a softtoken value or its text (parsed strictly with its ``parse``). The
    secret is weak: see the module's documentation.

    Raises:
        TypeError: an identifier is neither its value class nor ``str``, or *policy* is neither
            ``str`` nor None.
        InvalidIdentifier: an identifier's text does not have its shape.
        MistypedCode: an identifier's check digit does not hold.
        InvalidInput: *policy* cannot be written in UTF-8 (it holds a lone surrogate).
            No message includes an identifier, the policy or the secret.
    """
    serial = Serial.of(serial)
    activation_code = ActivationCode.of(activation_code)
    registration_code = RegistrationCode.of(registration_code)
    if policy is not None and type(policy) is not str:
        raise TypeError("policy must be str or None")
    policy_bytes = b"" if policy is None else utf8_or_none(policy)
    if policy_bytes is None:
        raise InvalidInput("the policy must be text that UTF-8 can encode")
    # The published tool writes the 9 digits as 4 big-endian bytes and keeps the last 2, the
    # random part a device draws; the upper bits are a check that only an Entrust server knows
    # (ss23/entrust-identityguard-tools, generate-otp.py). Its README's worked example,
    # 48244-13456 / 1745-7712-6942-8698 / 12211-49352 -> 9a8eab5e..., holds only for a
    # 9-byte password (7 + 2): writing the 2 bytes as 4 gives another secret.
    password = (
        activation_code.payload.to_bytes(_ACTIVATION_BYTES, "big")
        + (registration_code.payload & _DEVICE_MASK).to_bytes(_DEVICE_BYTES, "big")
        + policy_bytes
    )
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(),
        length=_SECRET_LENGTH,
        salt=str(serial).encode("ascii"),
        iterations=_SECRET_ITERATIONS,
    )
    return kdf.derive(password)


def totp_params(digits: int = 6) -> TokenParams:
    """:data:`ENTRUST_TOTP` for 6 digits, :data:`ENTRUST_TOTP_8` for 8.

    An Entrust policy may ask for 8-digit codes, but the name of the policy field that says so
    is not published, so the count is the operator's to give (from the Entrust administration
    settings, or from a code the user reads out), never guessed from the policy text.

    Raises:
        TypeError: *digits* is not an ``int``. InvalidInput: it is neither 6 nor 8.
    """
    check_int(digits, "digits", 6, 8)
    if digits == 6:
        return ENTRUST_TOTP
    if digits == 8:
        return ENTRUST_TOTP_8
    raise InvalidInput("Entrust-style tokens make 6- or 8-digit codes")


def _printable(_instance: object, _attribute: object, value: str) -> None:
    if not (value and value.isprintable()):
        raise InvalidInput("the registration URL must be printable text, not empty")


@attrs.frozen
class LegacyActivation:
    """What an Entrust activation QR holds, once decrypted.

    Attributes:
        serial: the token's serial (public).
        activation_code: the activation code. A secret: left out of ``repr`` and the hash, and
            compared in constant time (by :class:`~softtoken.provisioning.ActivationCode`).
        policy: the policy exactly as the QR carried it, a JSON text such as
            ``{"allowUnsecured":"false",...}``, or None when the QR had none. Kept as text, not
            parsed, because :func:`derive_secret` hashes its exact bytes, which a parse and a
            re-serialisation would not keep.
        registration_url: where the app registers, as the QR gave it; the published example
            has no scheme (``myid.umc.edu/igst``), so it is not read as a URL.
    """

    serial: Serial = attrs.field(validator=attrs.validators.instance_of(Serial))
    activation_code: ActivationCode = attrs.field(
        validator=attrs.validators.instance_of(ActivationCode), **SECRET
    )
    policy: str | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )
    registration_url: str = attrs.field(validator=[attrs.validators.instance_of(str), _printable])


class _Parsed(NamedTuple):
    signed: bytes
    salt: bytes
    ciphertext: bytes
    mac: bytes


def _base64(value: str) -> bytes | None:
    """A query value read as strict base64 (see _QUERY_BASE64), or None."""
    if _QUERY_BASE64.fullmatch(value) is None:
        return None
    text = unquote(value)
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    # b64decode accepts non-zero padding bits; re-encoding refuses them, so that one payload
    # has one spelling.
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _parse(uri: str) -> _Parsed | None:
    """The parts of an activation QR, or None for anything that does not have its shape."""
    if not (uri.isascii() and uri.startswith(_QR_PREFIX)):
        return None
    signed, separator, mac_text = uri[len(_QR_PREFIX) :].rpartition("&mac=")
    if not separator:
        return None
    values: dict[str, str] = {}
    for part in signed.split("&"):
        name, equals, value = part.partition("=")
        if not equals or name not in _SIGNED_PARAMETERS or name in values:
            return None
        values[name] = value
    # The published QRs give action, enc and v in that order; any order is read, since the MAC
    # covers the text as written. mac comes last: it is over everything before "&mac=".
    if values.keys() != _SIGNED_PARAMETERS:
        return None
    if values["action"] != "secactivate" or values["v"] != "1":
        return None
    enc, mac = _base64(values["enc"]), _base64(mac_text)
    if enc is None or mac is None or len(mac) != _MAC_LENGTH:
        return None
    ciphertext = enc[_SALT_LENGTH:]
    if not ciphertext or len(ciphertext) % _AES_BLOCK:
        return None
    return _Parsed(signed.encode("ascii"), enc[:_SALT_LENGTH], ciphertext, mac)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _no_constant(_: str) -> None:
    raise ValueError("NaN and Infinity are not JSON")


def _json_object(plaintext: bytes) -> dict[str, Any] | None:
    # Strict UTF-8 and strict JSON: no duplicate keys, no NaN or Infinity. A recursion error
    # (deep nesting) is refused like any other; the caller raises outside this block.
    try:
        value = json.loads(
            plaintext.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _unpad(padded: bytes) -> bytes | None:
    unpadder = padding.PKCS7(8 * _AES_BLOCK).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


def _activation(aes_key: bytes, iv: bytes, ciphertext: bytes) -> LegacyActivation | None:
    """Decrypt and read the plaintext, or None: called only once the MAC has been checked."""
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
    plaintext = _unpad(decryptor.update(ciphertext) + decryptor.finalize())
    fields = None if plaintext is None else _json_object(plaintext)
    if fields is None or not _REQUIRED_FIELDS <= fields.keys() <= _FIELDS:
        return None
    if any(type(value) is not str for value in fields.values()):
        return None
    serial = valid_or_none(lambda: Serial.parse(fields["sn"]))
    activation_code = valid_or_none(lambda: ActivationCode.parse(fields["ac"]))
    if serial is None or activation_code is None:
        return None
    return valid_or_none(
        lambda: LegacyActivation(serial, activation_code, fields.get("policy"), fields["regurl"])
    )


def decrypt_qr(uri: str, password: str) -> LegacyActivation:
    """Read an Entrust activation QR with its 8-digit SMS password.

    The QR text is ``igmobileotp://?action=secactivate&enc=ENC&v=1&mac=MAC`` exactly: these four
    parameters once each, ``mac`` last, ENC and MAC in strict base64 (padding bits zero) with
    ``+``, ``/`` and ``=`` percent-escaped. ENC is an 8-byte salt and the AES-128-CBC
    ciphertext of the JSON plaintext with PKCS#7 padding. PBKDF2-HMAC-SHA256 over the password
    and the salt, 1,000 iterations, gives 64 bytes: the AES key (bytes 0-16), the HMAC key
    (16-48) and the IV (48-64). MAC is HMAC-SHA256 under the HMAC key over the query text
    before ``&mac=``, exactly as written (escapes included), cut to 12 bytes. It is compared
    in constant time before anything is decrypted. The plaintext is a JSON object with ``sn``,
    ``ac``, ``regurl`` and, on some deployments, ``policy``, all strings, and nothing else.

    Text around the URI (a line ending) is not removed: strip it first.

    Raises:
        TypeError: *uri* or *password* is not ``str``.
        InvalidURI: *uri* is longer than :data:`MAX_QR_URI_LENGTH` or does not have the shape
            above. This depends on the text alone, never on the password.
        InvalidInput: *password* is not 8 ASCII digits.
        ActivationRefused: anything that depends on the password: a wrong password, a MAC that
            does not match (a changed or damaged QR), and, past the MAC, a bad padding, a
            plaintext that is not the JSON above, or a serial or activation code without its
            shape or check digit. One constant message for all; none carries another error as
            its cause or context. No message includes the QR text, the password or anything
            decrypted.
    """
    if type(uri) is not str:
        raise TypeError("uri must be str")
    if type(password) is not str:
        raise TypeError("password must be str")
    if len(uri) > MAX_QR_URI_LENGTH:
        raise InvalidURI(f"the QR text is longer than {MAX_QR_URI_LENGTH} characters")
    parsed = _parse(uri)
    if parsed is None:
        raise InvalidURI(_QR_SHAPE)
    if _PASSWORD.fullmatch(password) is None:
        raise InvalidInput("the QR password is 8 ASCII digits")
    material = PBKDF2HMAC(
        algorithm=hashes.SHA256(),
        length=_QR_KEY_MATERIAL,
        salt=parsed.salt,
        iterations=_QR_ITERATIONS,
    ).derive(password.encode("ascii"))
    aes_key, mac_key, iv = material[:16], material[16:48], material[48:]
    # Checked against the published example: the MAC is over the query as written; over the
    # percent-decoded text it does not match. Checking it first means nothing unauthenticated
    # is ever decrypted or parsed, so no padding or JSON error can answer a guess.
    expected = hmac.digest(mac_key, parsed.signed, "sha256")[:_MAC_LENGTH]
    if not hmac.compare_digest(expected, parsed.mac):
        raise ActivationRefused()
    activation = _activation(aes_key, iv, parsed.ciphertext)
    if activation is None:
        raise ActivationRefused()
    return activation
