"""otpauth:// Key URIs: build them, parse them strictly, and turn them into tokens.

The format is Google's Key URI format (github.com/google/google-authenticator/wiki/Key-Uri-Format),
which every mainstream authenticator app reads from a QR code:

    otpauth://TYPE/LABEL?PARAMETERS

- TYPE is ``totp`` or ``hotp``.
- LABEL is ``accountname`` or ``issuer:accountname``. The colon may be literal or ``%3A``, and
  spaces (``%20``) may follow it. Neither the issuer nor the account name may contain a colon.
- PARAMETERS are ``secret`` (required, base32 without padding), ``issuer`` (recommended, and equal
  to the label's prefix when both are present), ``algorithm`` (SHA1, SHA256 or SHA512), ``digits``,
  ``period`` (TOTP only) and ``counter`` (required for HOTP). ``image`` is an extension that
  FreeOTP reads. Any other parameter is kept, in order, so that a round trip loses nothing.

Percent-encoding follows RFC 3986 §2.1, as the format asks. In particular a ``+`` is a plus sign,
never a space: a space is always ``%20``. Values are UTF-8 (RFC 3986 §2.5).

The parser is strict (SECURITY.md S13). It refuses anything the format does not allow or that apps
could read in two ways, it bounds the input to :data:`MAX_URI_LENGTH` characters so that nothing
is slow, and it raises only :class:`~softtoken.InvalidURI`, :class:`~softtoken.InvalidEncoding`
or :class:`~softtoken.KeyTooShort` (all ``ValueError``) with constant messages that never contain
the URI or the secret. No error it raises carries another exception as its cause or context.

The secret follows the library's key rule (RFC 4226 §4 R6): at least 16 bytes, or 10 with the
explicit ``allow_short_key=True`` that old 80-bit deployments need, so that no URI is read or
written, and no QR code drawn, for a key that :class:`~softtoken.HOTP` and
:class:`~softtoken.TOTP` would refuse.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from typing import Any, Final, Literal
from urllib.parse import quote, unquote_to_bytes

import attrs

from softtoken._checks import MAX_DIGITS, MIN_DIGITS, check_counter, check_int, check_key
from softtoken._encoding import b32decode, b32encode
from softtoken._hmac import Algorithm, canonical_algorithm
from softtoken._secret import SECRET
from softtoken.exceptions import InvalidURI
from softtoken.hotp import HOTP, TOTP

__all__ = ["MAX_URI_LENGTH", "KeyURI", "Kind", "build_uri", "parse_uri"]

Kind = Literal["totp", "hotp"]

MAX_URI_LENGTH: Final = 4096
"""The longest URI :meth:`KeyURI.parse` reads. A QR code holds at most 2,953 bytes (version 40,
level L), so no scannable Key URI comes near it; the bound keeps every parse fast.
"""

_SCHEME: Final = "otpauth://"
_KINDS: Final = frozenset({"totp", "hotp"})
_KNOWN: Final = frozenset({"secret", "issuer", "algorithm", "digits", "period", "counter", "image"})
# RFC 3986 §2.2 and §2.3: unreserved characters, sub-delimiters, and the delimiters that may appear
# in a path or query, plus "%" for escapes. Everything else (spaces, non-ASCII text, quotes, "#"
# that would start a fragment, brackets) must arrive percent-encoded.
_URI_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Plain decimal numbers without sign or leading zeros; 20 digits hold 2**64 - 1, the largest
# counter (RFC 4226 §5.2), and keep int() far from its slow path.
_NUMBER: Final = re.compile(r"0|[1-9][0-9]{0,19}")
# Characters refused in any displayed text: controls, format characters (bidirectional overrides
# can make an issuer read as another), surrogates, and line or paragraph separators.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# What stays unescaped when writing: RFC 3986 unreserved characters, which quote() always keeps,
# and "@", which pchar allows and which keeps e-mail addresses readable.
_SAFE: Final = "@"

# The format's defaults, which the writer leaves implicit to keep the QR code small.
_DEFAULT_DIGITS: Final = 6
_DEFAULT_PERIOD: Final = 30


def _check_text(value: str, what: str, *, allow_empty: bool = False) -> None:
    """Refuse text that is empty (unless allowed) or holds a character from _REFUSED_CATEGORIES."""
    if not value and not allow_empty:
        raise InvalidURI(f"the {what} must not be empty")
    # Most text is printable ASCII, which holds none of the refused characters.
    if value.isascii() and value.isprintable():
        return
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value):
        raise InvalidURI(f"the {what} has a control, format or separator character")


def _check_name(value: str, what: str) -> None:
    """Account names and issuers: displayable text, no colon, no surrounding whitespace."""
    _check_text(value, what)
    if ":" in value:
        # The wiki: neither issuer nor account name may contain a colon, which splits the label.
        raise InvalidURI(f"the {what} must not contain a colon")
    if value != value.strip():
        # Spaces may follow the label's colon and are dropped there, so a name that started with
        # one could not survive a round trip; trailing ones only hide in a display.
        raise InvalidURI(f"the {what} must not start or end with whitespace")


def _to_kind(value: str) -> Kind:
    if not isinstance(value, str):
        raise TypeError("kind must be str: 'totp' or 'hotp'")
    kind = value.lower()
    if kind == "totp":
        return "totp"
    if kind == "hotp":
        return "hotp"
    raise InvalidURI("the type must be totp or hotp")


def _to_algorithm(value: str) -> Algorithm:
    return canonical_algorithm(value, error=InvalidURI)


def _to_extra(value: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    # A str is an iterable too, of characters; refuse it rather than fail on its first "pair".
    anything: object = value
    if isinstance(anything, str | bytes):
        raise TypeError("extra must be an iterable of (name, value) pairs")
    pairs: list[tuple[str, str]] = []
    for pair in value:
        items: tuple[object, ...] = tuple(pair)
        if len(items) != 2 or not isinstance(items[0], str) or not isinstance(items[1], str):
            raise TypeError("each extra parameter must be a (name, value) pair of str")
        pairs.append((items[0], items[1]))
    return tuple(pairs)


def _check_secret(_instance: object, _attribute: object, value: bytes) -> None:
    # Only the type here: the length rule depends on allow_short_key, which is checked with it
    # in __attrs_post_init__.
    if not isinstance(value, bytes):
        raise TypeError("secret must be bytes; decode base32 or hex text first")


def _check_flag(_instance: object, _attribute: object, value: bool) -> None:
    if not isinstance(value, bool):
        raise TypeError("allow_short_key must be bool")


def _check_account(_instance: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError("account must be str")
    _check_name(value, "account name")


def _check_issuer(_instance: object, _attribute: object, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError("issuer must be str or None")
    _check_name(value, "issuer")


def _check_digits(_instance: object, _attribute: object, value: int) -> None:
    check_int(value, "digits", MIN_DIGITS, MAX_DIGITS, error=InvalidURI)


def _check_period(_instance: object, _attribute: object, value: int) -> None:
    # bool is an int subclass; period=True is always a bug.
    if type(value) is not int:
        raise TypeError("period must be int")
    if value < 1:
        raise InvalidURI("the period must be at least 1 second")


def _check_counter(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None:
        check_counter(value, error=InvalidURI)


def _check_image(_instance: object, _attribute: object, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError("image must be str or None")
    _check_text(value, "image")


def _check_extra(_instance: object, _attribute: object, value: tuple[tuple[str, str], ...]) -> None:
    for name, text in value:
        _check_text(name, "parameter name")
        _check_text(text, "parameter value", allow_empty=True)
        if name.lower() in _KNOWN:
            # A known name, or one that differs only in case, would be read differently by apps
            # that match names exactly and apps that do not.
            raise InvalidURI("an extra parameter must not reuse a known parameter name")


@attrs.frozen
class KeyURI:
    """One otpauth:// Key URI, parsed or ready to be written.

    Build one directly with keyword arguments, or read one with :meth:`parse`. Every field is
    checked on construction: a wrong type raises ``TypeError``, a secret that is too short raises
    :class:`~softtoken.KeyTooShort`, and any other wrong value raises
    :class:`~softtoken.InvalidURI`.

    Attributes:
        kind: ``"totp"`` or ``"hotp"``.
        secret: the shared key. Never shown by ``repr`` or ``str``, and compared in constant time.
        account: the account name, such as an e-mail address.
        issuer: the provider, or ``None``. Written both as the label prefix and as the ``issuer``
            parameter, as the format recommends.
        algorithm: ``"sha1"``, ``"sha256"`` or ``"sha512"``, lower case here, upper case in the URI.
        digits: code length, 6 to 10.
        period: seconds per TOTP step; HOTP URIs keep the default of 30 and never write it.
        counter: the next HOTP counter; required for HOTP and refused for TOTP.
        image: an image URL for the app to show, or ``None``.
        extra: parameters this library does not know, as ``(name, value)`` pairs in their order.
        allow_short_key: admit a secret of 10 to 15 bytes, as old 80-bit deployments use; off by
            default, when the secret must have at least 16 (RFC 4226 §4 R6). It is a decision
            about this value, not part of the URI: it is never written, and it does not take
            part in equality. :meth:`token` carries it to the token.

    Raises:
        TypeError: a field has the wrong type.
        KeyTooShort: the secret is shorter than 16 bytes, or than 10 with *allow_short_key*.
        InvalidURI: another field has a value the format or this library refuses.
    """

    kind: Kind = attrs.field(converter=_to_kind)
    secret: bytes = attrs.field(validator=_check_secret, **SECRET)
    account: str = attrs.field(validator=_check_account)
    issuer: str | None = attrs.field(default=None, kw_only=True, validator=_check_issuer)
    algorithm: Algorithm = attrs.field(default="sha1", kw_only=True, converter=_to_algorithm)
    digits: int = attrs.field(default=_DEFAULT_DIGITS, kw_only=True, validator=_check_digits)
    period: int = attrs.field(default=_DEFAULT_PERIOD, kw_only=True, validator=_check_period)
    counter: int | None = attrs.field(default=None, kw_only=True, validator=_check_counter)
    image: str | None = attrs.field(default=None, kw_only=True, validator=_check_image)
    extra: tuple[tuple[str, str], ...] = attrs.field(
        default=(), kw_only=True, converter=_to_extra, validator=_check_extra
    )
    allow_short_key: bool = attrs.field(
        default=False, kw_only=True, eq=False, repr=False, validator=_check_flag
    )

    def __attrs_post_init__(self) -> None:
        # The library's one key rule, so that a URI never holds a key the tokens would refuse.
        check_key(self.secret, allow_short_key=self.allow_short_key)
        if self.kind == "hotp":
            if self.counter is None:
                # The wiki: counter is REQUIRED when the type is hotp.
                raise InvalidURI("an hotp URI needs a counter")
            if self.period != _DEFAULT_PERIOD:
                raise InvalidURI("the period applies only to totp")
        elif self.counter is not None:
            raise InvalidURI("the counter applies only to hotp")

    @property
    def label(self) -> str:
        """The label as apps display it: ``"issuer:account"``, or the account alone."""
        return self.account if self.issuer is None else f"{self.issuer}:{self.account}"

    @classmethod
    def parse(cls, uri: str, *, allow_short_key: bool = False) -> KeyURI:
        """Read one Key URI, strictly.

        Accepted: the scheme and the type in any case; a literal or ``%3A`` colon in the label,
        with spaces after it; the base32 secret in either case, with or without padding; the
        algorithm in either case. Everything else must be exactly as the format describes.

        Refused, among others: a URI longer than :data:`MAX_URI_LENGTH`; a character that must
        be percent-encoded, including any whitespace and a ``#`` fragment; a broken ``%`` escape
        or text that is not UTF-8; a missing or empty label; more than one colon in the label; a
        missing or invalid secret; an issuer parameter that differs from the label prefix; digits
        outside 6 to 10; a period below 1 or on an HOTP URI; a missing counter on HOTP, or any
        counter on TOTP; numbers with signs or leading zeros; an empty parameter; a known
        parameter given twice, or an unknown one whose name differs from a known one only in case;
        a secret shorter than 16 bytes, unless *allow_short_key* admits one of 10 to 15.

        Args:
            uri: the URI text.
            allow_short_key: admit a secret of 10 to 15 bytes (see :class:`KeyURI`); the result
                carries the opt-in to :meth:`token`.

        Raises:
            TypeError: *uri* is not a ``str``, or *allow_short_key* is not a ``bool``.
            InvalidURI: the URI breaks a rule above.
            InvalidEncoding: the secret is not valid base32.
            KeyTooShort: the secret is too short.

        The messages are constant: they never contain the URI, the secret or any part of them,
        and no error carries an inner exception as its cause or context.
        """
        if not isinstance(uri, str):
            raise TypeError("uri must be str")
        if len(uri) > MAX_URI_LENGTH:
            raise InvalidURI("the URI is longer than 4096 characters")
        if not _URI_CHARACTERS.issuperset(uri):
            raise InvalidURI("the URI has a character that must be percent-encoded")
        # RFC 3986 §3.1: schemes are case-insensitive.
        if uri[: len(_SCHEME)].lower() != _SCHEME:
            raise InvalidURI("the URI must start with otpauth://")
        head, has_query, query = uri[len(_SCHEME) :].partition("?")
        kind_text, has_slash, raw_label = head.partition("/")
        kind = _to_kind(kind_text)
        if not has_slash or not raw_label:
            raise InvalidURI("the label is missing")
        if "/" in raw_label:
            raise InvalidURI("the label must be a single path segment")
        prefix, account = _split_label(_decode(raw_label))
        known, extra = _split_query(query if has_query else "")

        encoded_secret = known.get("secret")
        if encoded_secret is None:
            raise InvalidURI("the secret parameter is required")
        secret = b32decode(encoded_secret)
        issuer = known.get("issuer")
        if issuer is None:
            issuer = prefix
        elif prefix is not None and prefix != issuer:
            # The wiki: when both are present, the issuer parameter and prefix must be equal.
            raise InvalidURI("the issuer parameter and the label prefix differ")
        if kind == "hotp" and "period" in known:
            # The wiki: period is OPTIONAL only if the type is totp.
            raise InvalidURI("the period applies only to totp")
        if kind == "totp" and "counter" in known:
            raise InvalidURI("the counter applies only to hotp")
        options: dict[str, Any] = {}
        if "algorithm" in known:
            options["algorithm"] = known["algorithm"]
        for name in ("digits", "period", "counter"):
            if name in known:
                options[name] = _number(known[name])
        return cls(
            kind,
            secret,
            account,
            issuer=issuer,
            image=known.get("image"),
            extra=extra,
            allow_short_key=allow_short_key,
            **options,
        )

    def to_uri(self) -> str:
        """Return the canonical URI.

        The label carries the issuer prefix and a literal colon; the secret is upper-case base32
        without padding; ``algorithm``, ``digits`` and ``period`` are written only when they
        differ from the format's defaults (SHA1, 6, 30), which keeps the QR code small. Unknown
        parameters follow, in their order. Everything but RFC 3986 unreserved characters and
        ``@`` is percent-encoded, a space as ``%20``.

        The result contains the secret: treat it as one.
        """
        return self._render(b32encode(self.secret))

    def masked(self) -> str:
        """Return the URI with the secret replaced by ``****``: safe to print or log.

        It is not a valid Key URI, on purpose.
        """
        return self._render("****")

    def token(self) -> HOTP | TOTP:
        """Return the :class:`~softtoken.HOTP` or :class:`~softtoken.TOTP` this URI describes.

        The token gets this URI's :attr:`allow_short_key`, so that every URI that exists makes a
        token: the key rule was already applied when the URI was built or parsed. An HOTP token
        does not hold the counter: read it from :attr:`counter`.
        """
        if self.kind == "hotp":
            return HOTP(
                self.secret,
                digits=self.digits,
                algorithm=self.algorithm,
                allow_short_key=self.allow_short_key,
            )
        return TOTP(
            self.secret,
            digits=self.digits,
            algorithm=self.algorithm,
            period=self.period,
            allow_short_key=self.allow_short_key,
        )

    def _render(self, secret_text: str) -> str:
        if self.issuer is None:
            label = _quote(self.account)
        else:
            label = f"{_quote(self.issuer)}:{_quote(self.account)}"
        # The secret is base32 (or the mask), whose characters need no escaping.
        parts = [f"secret={secret_text}"]
        params: list[tuple[str, str]] = []
        if self.issuer is not None:
            params.append(("issuer", self.issuer))
        if self.algorithm != "sha1":
            params.append(("algorithm", self.algorithm.upper()))
        if self.digits != _DEFAULT_DIGITS:
            params.append(("digits", str(self.digits)))
        if self.kind == "totp" and self.period != _DEFAULT_PERIOD:
            params.append(("period", str(self.period)))
        if self.counter is not None:
            params.append(("counter", str(self.counter)))
        if self.image is not None:
            params.append(("image", self.image))
        params.extend(self.extra)
        parts.extend(f"{_quote(name)}={_quote(value)}" for name, value in params)
        return f"{_SCHEME}{self.kind}/{label}?{'&'.join(parts)}"


def _quote(text: str) -> str:
    return quote(text, safe=_SAFE)


def _decode(text: str) -> str:
    """Undo RFC 3986 §2.1 percent-encoding, strictly: every ``%`` starts an escape, and the
    result must be UTF-8. A ``+`` stays a plus sign."""
    if _BAD_ESCAPE.search(text):
        raise InvalidURI("a percent sign does not start a %XX escape")
    decoded: str | None
    try:
        decoded = unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        # The decode error quotes the bytes, which may be part of the secret. Raising inside this
        # block, even "from None", would keep it as __context__, so the error is raised below.
        decoded = None
    if decoded is None:
        raise InvalidURI("a percent-encoded value is not UTF-8")
    return decoded


def _split_label(label: str) -> tuple[str | None, str]:
    """Return the issuer prefix (or ``None``) and the account name of a decoded label."""
    prefix, colon, account = label.partition(":")
    if not colon:
        return None, label
    if ":" in account:
        raise InvalidURI("the label has more than one colon")
    # The wiki's ABNF lets any number of encoded spaces follow the colon.
    return prefix, account.lstrip(" ")


def _split_query(query: str) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """Return the known parameters by name, and the unknown ones in order, all decoded."""
    known: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    if not query:
        return known, ()
    for part in query.split("&"):
        raw_name, has_equals, raw_value = part.partition("=")
        if not has_equals or not raw_name:
            raise InvalidURI("every parameter must be a name=value pair")
        name = _decode(raw_name)
        value = _decode(raw_value)
        if name in _KNOWN:
            if name in known:
                # Apps disagree on whether the first or the last copy wins.
                raise InvalidURI("a known parameter appears more than once")
            known[name] = value
        else:
            extra.append((name, value))
    return known, tuple(extra)


def _number(text: str) -> int:
    if _NUMBER.fullmatch(text) is None:
        raise InvalidURI("digits, period and counter must be plain decimal numbers")
    return int(text)


def build_uri(
    key: bytes,
    *,
    account: str,
    issuer: str | None = None,
    kind: str = "totp",
    algorithm: str = "sha1",
    digits: int = 6,
    period: int = 30,
    counter: int | None = None,
    image: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    allow_short_key: bool = False,
) -> str:
    """Return the canonical Key URI for *key* and the given parameters.

    An HOTP URI without a *counter* starts at 0. The key must be one that
    :class:`~softtoken.HOTP` / :class:`~softtoken.TOTP` accept: at least 16 bytes, or 10 with
    *allow_short_key*, so that this never provisions a token the library would refuse.

    Raises:
        TypeError: a parameter has the wrong type.
        InvalidURI: a parameter value is refused (see :class:`KeyURI`).
        KeyTooShort: the key is too short.

    The result contains the secret: treat it as one.
    """
    if counter is None and isinstance(kind, str) and kind.lower() == "hotp":
        counter = 0
    uri = KeyURI(
        kind,
        key,
        account,
        issuer=issuer,
        algorithm=algorithm,
        digits=digits,
        period=period,
        counter=counter,
        image=image,
        extra=extra,
        allow_short_key=allow_short_key,
    )
    # KeyURI applies the shared key, digit and algorithm rules; making the token applies any rule
    # that only the token classes have as well, so that no URI provisions a token they refuse.
    uri.token()
    return uri.to_uri()


def parse_uri(uri: str, *, allow_short_key: bool = False) -> KeyURI:
    """Parse *uri* strictly; the same as :meth:`KeyURI.parse`."""
    return KeyURI.parse(uri, allow_short_key=allow_short_key)
