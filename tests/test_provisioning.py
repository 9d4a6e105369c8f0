"""Tests for softtoken.provisioning: otpauth:// Key URIs and app compatibility profiles.

The Key URI format is github.com/google/google-authenticator/wiki/Key-Uri-Format. The parser is
strict and never echoes its input (SECURITY.md S13).
"""

from __future__ import annotations

import hashlib
import pickle
import string
import warnings
from collections.abc import Callable
from typing import Any, Final

import attrs
import pyotp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken import (
    HOTP,
    TOTP,
    InvalidEncoding,
    InvalidKey,
    InvalidURI,
    KeyTooShort,
    SoftTokenError,
)
from softtoken._encoding import b32encode
from softtoken.exceptions import CompatibilityWarning, IncompatibleURI
from softtoken.provisioning import (
    AEGIS,
    FREEOTP,
    GOOGLE_AUTHENTICATOR,
    MAX_URI_LENGTH,
    MICROSOFT_AUTHENTICATOR,
    PROFILES,
    CompatibilityProfile,
    KeyURI,
    build_uri,
    check_compatibility,
    parse_uri,
)
from tests import strategies as sts

# The two complete examples of the Key URI format's wiki page, and the secret it decodes the
# first one to ("Hello!" followed by 0xDEADBEEF): an old 10-byte key, which needs the opt-in.
WIKI_EXAMPLE: Final = (
    "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
)
WIKI_EXAMPLE_KEY: Final = b"Hello!\xde\xad\xbe\xef"
WIKI_FULL_EXAMPLE: Final = (
    "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"
    "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
)
WIKI_FULL_SECRET: Final = "HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"
# A well-formed 20-byte secret for URIs written by hand below.
S: Final = WIKI_FULL_SECRET

# Canaries: values that must never appear in a repr, a message or a warning.
CANARY_KEY: Final = b"canary-secret-\x00\x01\x02-0123456789"
CANARY_B32: Final = b32encode(CANARY_KEY)
CANARY_ACCOUNT: Final = "canary-account-7f3a"
CANARY_ISSUER: Final = "canary-issuer-91c2"

PYOTP_DIGESTS: Final[dict[str, Callable[..., Any]]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
# A time past 2**32 seconds, for comparing codes.
LATE: Final = 7_258_118_400
# KeyURI keyword arguments; KeyURI itself checks their types. The shared strategy draws secrets
# from 1 byte up, so each gets a key of 16 bytes or more, which every parser reads without the
# short-key opt-in.
FIELDS: st.SearchStrategy[dict[str, Any]] = st.tuples(sts.key_uri_fields, sts.keys).map(
    lambda pair: {**pair[0], "secret": pair[1]}
)
# What a parse may give: a KeyURI, or one of the errors the parser raises (each a ValueError).
PARSE_OUTCOMES: Final = (KeyURI, InvalidURI, InvalidEncoding, KeyTooShort)


def leaks(text: str) -> bool:
    """Whether *text* holds any part of the canaries: an 8-character window of the base32 secret,
    its hex or bytes, or the canary account or issuer."""
    windows = {CANARY_B32[i : i + 8] for i in range(len(CANARY_B32) - 7)}
    return (
        any(window in text for window in windows)
        or CANARY_KEY.hex() in text
        or repr(CANARY_KEY)[2:-1] in text
        or "canary" in text.lower()
    )


def parse_or_error(text: str) -> KeyURI | SoftTokenError:
    """The parsed URI, or the softtoken error the parser raised; any other exception escapes."""
    try:
        return parse_uri(text)
    except SoftTokenError as exc:
        return exc


def short_key(length: int) -> bytes:
    """A fixed, non-zero key of *length* bytes, never a real secret."""
    return bytes(range(1, length + 1))


def short_key_uri(length: int) -> str:
    """A hand-written TOTP URI whose secret is short_key(*length*)."""
    return f"otpauth://totp/Bank:alice?secret={b32encode(short_key(length))}&issuer=Bank"


def canary_uri(**changes: Any) -> KeyURI:
    """A KeyURI holding the canaries, with *changes* applied."""
    fields: dict[str, Any] = {
        "kind": "totp",
        "secret": CANARY_KEY,
        "account": CANARY_ACCOUNT,
        "issuer": CANARY_ISSUER,
    }
    fields.update(changes)
    return KeyURI(**fields)


def percent_encode(text: str, *, also: str, upper_hex: bool) -> str:
    """An independent RFC 3986 §2.1 encoder: UTF-8 bytes, every byte outside the unreserved set
    escaped, and any character in *also* escaped too, with hex digits in either case."""
    unreserved = set(string.ascii_letters + string.digits + "-._~")
    out = []
    for char in text:
        if char in unreserved and char not in also:
            out.append(char)
        else:
            for byte in char.encode("utf-8"):
                escape = f"%{byte:02X}"
                out.append(escape if upper_hex else escape.lower())
    return "".join(out)


@st.composite
def respellings(draw: st.DrawFn) -> tuple[KeyURI, str]:
    """A KeyURI and one of the many ways the format lets a URI for it be written, built here
    without the library's writer: scheme and type in any case, a literal or encoded colon with
    spaces after it, the issuer in the label, the parameter or both, the secret in any case with
    optional padding, the algorithm in any case, defaults written or not, any escapes."""
    uri = KeyURI(**draw(FIELDS))
    also = draw(st.text(string.ascii_letters + string.digits + "-._~", max_size=5))
    upper_hex = draw(st.booleans())

    def enc(text: str) -> str:
        return percent_encode(text, also=also, upper_hex=upper_hex)

    scheme = "".join(draw(st.sampled_from([c, c.upper()])) for c in "otpauth")
    kind = "".join(draw(st.sampled_from([c, c.upper()])) for c in uri.kind)
    in_label, in_param = draw(st.sampled_from([(True, True), (True, False), (False, True)]))
    if uri.issuer is not None and in_label:
        colon = draw(st.sampled_from([":", "%3A", "%3a"]))
        spaces = "%20" * draw(st.integers(min_value=0, max_value=2))
        label = f"{enc(uri.issuer)}{colon}{spaces}{enc(uri.account)}"
    else:
        label = enc(uri.account)
    secret = b32encode(uri.secret)
    if draw(st.booleans()):
        secret += "=" * (-len(secret) % 8)
    if draw(st.booleans()):
        secret = secret.lower()
    params = [("secret", secret)]
    if uri.issuer is not None and (in_param or not in_label):
        params.append(("issuer", enc(uri.issuer)))
    algorithm = draw(st.sampled_from([uri.algorithm, uri.algorithm.upper()]))
    if uri.algorithm != "sha1" or draw(st.booleans()):
        params.append(("algorithm", algorithm))
    if uri.digits != 6 or draw(st.booleans()):
        params.append(("digits", str(uri.digits)))
    if uri.kind == "totp" and (uri.period != 30 or draw(st.booleans())):
        params.append(("period", str(uri.period)))
    if uri.counter is not None:
        params.append(("counter", str(uri.counter)))
    if uri.image is not None:
        params.append(("image", enc(uri.image)))
    known = draw(st.permutations(params))
    extra = [(enc(name), enc(value)) for name, value in uri.extra]
    query = "&".join(f"{name}={value}" for name, value in [*known, *extra])
    return uri, f"{scheme}://{kind}/{label}?{query}"


class TestPublishedExamples:
    """The examples of the Key URI format's wiki page."""

    def test_basic_example_fields(self) -> None:
        """The first example reads as issuer Example, account alice@google.com, 'Hello!' key."""
        uri = parse_uri(WIKI_EXAMPLE, allow_short_key=True)

        assert ("totp", "Example", "alice@google.com") == (uri.kind, uri.issuer, uri.account)
        assert WIKI_EXAMPLE_KEY == uri.secret
        assert ("sha1", 6, 30, None) == (uri.algorithm, uri.digits, uri.period, uri.counter)

    def test_basic_example_is_written_identically(self) -> None:
        """Building the first example's parameters writes exactly the wiki's URI."""
        written = build_uri(
            WIKI_EXAMPLE_KEY, account="alice@google.com", issuer="Example", allow_short_key=True
        )

        assert WIKI_EXAMPLE == written

    def test_full_example_fields(self) -> None:
        """The example with every optional parameter reads as written."""
        uri = parse_uri(WIKI_FULL_EXAMPLE)

        assert ("ACME Co", "john.doe@email.com") == (uri.issuer, uri.account)
        assert b32encode(uri.secret) == WIKI_FULL_SECRET
        assert ("sha1", 6, 30) == (uri.algorithm, uri.digits, uri.period)

    @pytest.mark.parametrize(
        ("label", "issuer", "account"),
        [
            ("Example:alice@gmail.com", "Example", "alice@gmail.com"),
            ("Provider1:Alice%20Smith", "Provider1", "Alice Smith"),
            ("Big%20Corporation%3A%20alice%40bigco.com", "Big Corporation", "alice@bigco.com"),
        ],
    )
    def test_label_examples(self, label: str, issuer: str, account: str) -> None:
        """The wiki's sample labels split into issuer and account, whichever colon they use."""
        uri = parse_uri(f"otpauth://totp/{label}?secret={S}")

        assert (issuer, account) == (uri.issuer, uri.account)

    def test_short_example_key_needs_the_opt_in(self) -> None:
        """The first example's 10-byte key parses only with allow_short_key, and its token then
        agrees."""
        with pytest.raises(KeyTooShort) as caught:
            parse_uri(WIKI_EXAMPLE)

        assert (16, True) == (caught.value.minimum, caught.value.legacy_opt_in)
        assert isinstance(parse_uri(WIKI_EXAMPLE, allow_short_key=True).token(), TOTP)


class TestBuild:
    """build_uri writes the canonical URI."""

    def test_defaults_are_not_written(self) -> None:
        """SHA1, 6 digits and 30 seconds are the format's defaults and stay implicit."""
        written = build_uri(bytes(range(20)), account="alice")

        assert f"otpauth://totp/alice?secret={b32encode(bytes(range(20)))}" == written

    def test_everything_is_written_in_order(self) -> None:
        """Non-default parameters follow the secret and issuer in a fixed order, extras last."""
        key = bytes(range(32))
        written = build_uri(
            key,
            account="alice",
            issuer="Bank",
            algorithm="SHA256",
            digits=8,
            period=60,
            image="https://bank.example/logo.png",
            extra=[("z", "1"), ("a", "2")],
        )

        expected = (
            f"otpauth://totp/Bank:alice?secret={b32encode(key)}&issuer=Bank&algorithm=SHA256"
            "&digits=8&period=60&image=https%3A%2F%2Fbank.example%2Flogo.png&z=1&a=2"
        )
        assert expected == written

    def test_space_plus_and_non_ascii_are_escaped(self) -> None:
        """A space is %20, never '+'; a plus is %2B; other text is UTF-8 escaped; '@' stays."""
        written = build_uri(
            bytes(20), account="alice+tag@example.com", issuer="Banque Été", kind="hotp"
        )

        assert written.startswith(
            "otpauth://hotp/Banque%20%C3%89t%C3%A9:alice%2Btag@example.com?secret="
        )
        assert written.endswith("&issuer=Banque%20%C3%89t%C3%A9&counter=0")

    def test_hotp_counter_defaults_to_zero(self) -> None:
        """An HOTP URI built without a counter starts at counter 0."""
        assert 0 == parse_uri(build_uri(bytes(20), account="a", kind="hotp")).counter

    @pytest.mark.parametrize(
        "changes",
        [
            {"kind": "totp", "counter": 1},
            {"kind": "hotp", "period": 60},
            {"digits": 11},
            {"algorithm": "md5"},
            {"issuer": "a:b"},
        ],
    )
    def test_refused_parameters(self, changes: dict[str, Any]) -> None:
        """Parameters the format or the library refuses raise InvalidURI."""
        with pytest.raises(InvalidURI):
            build_uri(bytes(20), account="alice", **changes)

    @given(fields=FIELDS, key=sts.keys)
    def test_build_then_parse_gives_the_parameters_back(
        self, fields: dict[str, Any], key: bytes
    ) -> None:
        """Whatever build_uri writes, parse_uri reads back as the same parameters."""
        expected = KeyURI(**{**fields, "secret": key})
        del fields["secret"]

        written = build_uri(key, **fields)

        assert expected == parse_uri(written)


class TestKeyLength:
    """Every Key URI, built, parsed or constructed, follows the library's key rule (RFC 4226 §4
    R6): 16 bytes or more, or 10 to 15 with an explicit allow_short_key."""

    @pytest.mark.parametrize(
        ("length", "legacy_opt_in"), [(0, False), (1, False), (9, False), (10, True), (15, True)]
    )
    def test_short_keys_are_refused_by_default(self, length: int, legacy_opt_in: bool) -> None:
        """Without the opt-in, build_uri, parse_uri and KeyURI refuse a key under 16 bytes, and
        the error says whether the opt-in would admit it."""
        key = short_key(length)
        attempts: list[Callable[[], object]] = [
            lambda: build_uri(key, account="alice"),
            lambda: KeyURI("totp", key, "alice"),
            lambda: KeyURI("hotp", key, "alice", counter=0),
        ]
        if length:
            # base32 text cannot be empty, so a 0-byte secret never reaches the key rule.
            attempts.append(lambda: parse_uri(short_key_uri(length)))
            attempts.append(lambda: KeyURI.parse(short_key_uri(length)))

        for attempt in attempts:
            with pytest.raises(KeyTooShort) as caught:
                attempt()

            assert (16, legacy_opt_in) == (caught.value.minimum, caught.value.legacy_opt_in)
            assert isinstance(caught.value, InvalidKey)

    @pytest.mark.parametrize("length", [1, 9])
    def test_opt_in_admits_nothing_under_10_bytes(self, length: int) -> None:
        """With the opt-in, a key under 10 bytes is still refused, naming the 10-byte floor."""
        attempts: list[Callable[[], object]] = [
            lambda: build_uri(short_key(length), account="alice", allow_short_key=True),
            lambda: parse_uri(short_key_uri(length), allow_short_key=True),
            lambda: KeyURI.parse(short_key_uri(length), allow_short_key=True),
            lambda: KeyURI("totp", short_key(length), "alice", allow_short_key=True),
        ]

        for attempt in attempts:
            with pytest.raises(KeyTooShort) as caught:
                attempt()

            assert (10, False) == (caught.value.minimum, caught.value.legacy_opt_in)

    @pytest.mark.parametrize("length", [10, 15, 16])
    @pytest.mark.parametrize("kind", ["totp", "hotp"])
    def test_opt_in_admits_legacy_keys(self, length: int, kind: str) -> None:
        """With the opt-in, a 10- to 16-byte key is built, read back, and makes a token that gives
        the codes HOTP or TOTP give for that key."""
        key = short_key(length)
        written = build_uri(key, account="alice", kind=kind, allow_short_key=True)

        uri = parse_uri(written, allow_short_key=True)
        token = uri.token()

        assert key == uri.secret
        assert uri.allow_short_key
        if isinstance(token, TOTP):
            assert TOTP(key, allow_short_key=True).generate(LATE) == token.generate(LATE)
        else:
            assert HOTP(key, allow_short_key=True).generate(7) == token.generate(7)

    @pytest.mark.parametrize("length", [16, 20, 64])
    def test_full_length_keys_need_no_opt_in(self, length: int) -> None:
        """A key of 16 bytes or more is built, parsed and turned into a token without the
        opt-in."""
        written = build_uri(short_key(length), account="alice")

        uri = parse_uri(written)

        assert short_key(length) == uri.secret
        assert isinstance(uri.token(), TOTP)

    def test_the_brief_one_byte_uri_is_refused(self) -> None:
        """A one-byte secret ('AE' in base32), which the parser once accepted, is refused with
        and without the opt-in."""
        text = "otpauth://totp/B:a?secret=AE"

        with pytest.raises(KeyTooShort):
            parse_uri(text)
        with pytest.raises(KeyTooShort):
            parse_uri(text, allow_short_key=True)

    def test_opt_in_is_not_part_of_the_value(self) -> None:
        """The opt-in is never written, does not change equality, and does not show in repr."""
        key = short_key(20)
        plain = KeyURI("totp", key, "alice")
        opted = KeyURI("totp", key, "alice", allow_short_key=True)

        assert plain == opted
        assert plain.to_uri() == opted.to_uri()
        assert repr(plain) == repr(opted)

    def test_evolve_keeps_the_opt_in(self) -> None:
        """attrs.evolve carries the opt-in, and a short key evolved into a URI without it is
        refused."""
        opted = KeyURI("totp", short_key(10), "alice", allow_short_key=True)
        plain = KeyURI("totp", short_key(20), "alice")

        assert 8 == attrs.evolve(opted, digits=8).token().digits
        with pytest.raises(KeyTooShort):
            attrs.evolve(plain, secret=short_key(10))

    def test_compatibility_check_of_text_applies_the_rule(self) -> None:
        """check_compatibility parses text without the opt-in, so a short secret is refused."""
        with pytest.raises(KeyTooShort):
            check_compatibility(short_key_uri(10), AEGIS)

    def test_opt_in_must_be_a_bool(self) -> None:
        """A truthy non-bool is no opt-in: it raises TypeError."""
        with pytest.raises(TypeError):
            parse_uri(short_key_uri(10), allow_short_key=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            build_uri(short_key(10), account="a", allow_short_key="yes")  # type: ignore[arg-type]


class TestParse:
    """What the strict parser accepts."""

    @pytest.mark.parametrize(
        "text",
        [
            f"otpauth://totp/Example:alice?secret={S}&issuer=Example",
            f"OTPAUTH://TOTP/Example:alice?secret={S}&issuer=Example",
            f"otpauth://totp/Example%3Aalice?secret={S}&issuer=Example",
            f"otpauth://totp/Example%3a%20%20alice?secret={S}",
            f"otpauth://totp/Example:%20alice?secret={S}",
            f"otpauth://totp/alice?issuer=Example&secret={S.lower()}",
            f"otpauth://totp/%45xample:%61lice?secret={S}&issuer=%45xample",
            f"otpauth://totp/Example:alice?secret={S}&algorithm=sha1&digits=6&period=30",
        ],
    )
    def test_equivalent_spellings(self, text: str) -> None:
        """Case, colon spelling, spaces after the colon and explicit defaults do not matter."""
        expected = KeyURI("totp", parse_uri(WIKI_FULL_EXAMPLE).secret, "alice", issuer="Example")

        assert expected == parse_uri(text)

    def test_padded_secret(self) -> None:
        """A secret with its base32 padding reads the same as without."""
        uri = parse_uri("otpauth://totp/a?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4======")

        assert bytes(range(16)) == uri.secret

    def test_plus_is_a_plus(self) -> None:
        """A '+' is a literal plus sign, as in RFC 3986, not a space."""
        uri = parse_uri(f"otpauth://totp/alice+tag@example.com?secret={S}&note=a+b")

        assert "alice+tag@example.com" == uri.account
        assert (("note", "a+b"),) == uri.extra

    def test_unknown_parameters_are_kept_in_order(self) -> None:
        """Unknown parameters survive, decoded, in their order, repeats included."""
        text = f"otpauth://totp/a?z=1&secret={S}&lock=true&z=%E2%82%AC&empty="

        uri = parse_uri(text)

        assert (("z", "1"), ("lock", "true"), ("z", "€"), ("empty", "")) == uri.extra
        assert uri.extra == parse_uri(uri.to_uri()).extra

    def test_hotp(self) -> None:
        """An HOTP URI carries its counter, up to 2**64 - 1 (RFC 4226 §5.2)."""
        uri = parse_uri(f"otpauth://hotp/a?secret={S}&counter=18446744073709551615")

        assert ("hotp", 2**64 - 1) == (uri.kind, uri.counter)

    def test_non_str_is_a_type_error(self) -> None:
        """Bytes are refused with TypeError, not decoded."""
        with pytest.raises(TypeError):
            parse_uri(WIKI_EXAMPLE.encode())  # type: ignore[arg-type]

    @given(pair=respellings())
    def test_every_spelling_parses_to_its_value(self, pair: tuple[KeyURI, str]) -> None:
        """Any spelling the format allows parses to the value it spells."""
        expected, text = pair

        assert expected == parse_uri(text)


class TestRefusals:
    """Every rule of the strict parser, one URI each."""

    @pytest.mark.parametrize(
        "text",
        [
            # Length, characters and structure.
            "otpauth://totp/a?secret=" + "A" * MAX_URI_LENGTH,
            f"otpauth://totp/a b?secret={S}",
            f"otpauth://totp/alice?secret={S}#fragment",
            f"otpauth://totp/alicé?secret={S}",
            f" otpauth://totp/alice?secret={S}",
            f"otpauth://totp/alice?secret={S}\n",
            f"otpauth://totp/alice?secret={S}&digits=٦",
            f"http://totp/alice?secret={S}",
            f"otpauth:/totp/alice?secret={S}",
            f"otpauth://motp/alice?secret={S}",
            f"otpauth://totp:80/alice?secret={S}",
            f"otpauth://%74otp/alice?secret={S}",
            f"otpauth://totp?secret={S}",
            f"otpauth://totp/?secret={S}",
            f"otpauth://totp/a/b?secret={S}",
            # The label.
            f"otpauth://totp/a:b:c?secret={S}",
            f"otpauth://totp/a%3Ab%3Ac?secret={S}",
            f"otpauth://totp/:alice?secret={S}",
            f"otpauth://totp/Example:?secret={S}",
            f"otpauth://totp/Example:%20%20?secret={S}",
            f"otpauth://totp/alice%20?secret={S}",
            f"otpauth://totp/%20alice?secret={S}",
            f"otpauth://totp/al%00ice?secret={S}",
            f"otpauth://totp/al%0Aice?secret={S}",
            f"otpauth://totp/al%E2%80%AEice?secret={S}",
            f"otpauth://totp/al%E2%80%A8ice?secret={S}",
            # Escapes.
            f"otpauth://totp/al%ZZice?secret={S}",
            f"otpauth://totp/alice%?secret={S}",
            f"otpauth://totp/alice%4?secret={S}",
            f"otpauth://totp/al%C3ice?secret={S}",
            f"otpauth://totp/al%ED%A0%80ice?secret={S}",
            # The query.
            "otpauth://totp/alice",
            "otpauth://totp/alice?",
            "otpauth://totp/alice?issuer=x",
            f"otpauth://totp/alice?secret={S}&",
            f"otpauth://totp/alice?secret={S}&&issuer=x",
            f"otpauth://totp/alice?secret={S}&flag",
            f"otpauth://totp/alice?secret={S}&=value",
            f"otpauth://totp/alice?secret={S}&secret={S}",
            f"otpauth://totp/alice?secret={S}&digits=6&digits=6",
            f"otpauth://totp/alice?secret={S}&Digits=8",
            f"otpauth://totp/alice?secret={S}&SECRET={S}",
            f"otpauth://totp/alice?secret={S}&note=%00",
            # The issuer.
            f"otpauth://totp/A:alice?secret={S}&issuer=B",
            f"otpauth://totp/A:alice?secret={S}&issuer=a",
            f"otpauth://totp/alice?secret={S}&issuer=",
            f"otpauth://totp/alice?secret={S}&issuer=a%3Ab",
            f"otpauth://totp/alice?secret={S}&issuer=%20A",
            # The algorithm.
            f"otpauth://totp/alice?secret={S}&algorithm=MD5",
            f"otpauth://totp/alice?secret={S}&algorithm=SHA-256",
            f"otpauth://totp/alice?secret={S}&algorithm=",
            # Digits.
            f"otpauth://totp/alice?secret={S}&digits=5",
            f"otpauth://totp/alice?secret={S}&digits=11",
            f"otpauth://totp/alice?secret={S}&digits=",
            f"otpauth://totp/alice?secret={S}&digits=+6",
            f"otpauth://totp/alice?secret={S}&digits=-6",
            f"otpauth://totp/alice?secret={S}&digits=06",
            f"otpauth://totp/alice?secret={S}&digits=6.0",
            f"otpauth://totp/alice?secret={S}&digits=0x6",
            # The period.
            f"otpauth://totp/alice?secret={S}&period=0",
            f"otpauth://totp/alice?secret={S}&period=",
            f"otpauth://totp/alice?secret={S}&period=-30",
            f"otpauth://totp/alice?secret={S}&period=030",
            f"otpauth://hotp/alice?secret={S}&counter=0&period=30",
            # The counter.
            f"otpauth://hotp/alice?secret={S}",
            f"otpauth://totp/alice?secret={S}&counter=0",
            f"otpauth://hotp/alice?secret={S}&counter=-1",
            f"otpauth://hotp/alice?secret={S}&counter=01",
            f"otpauth://hotp/alice?secret={S}&counter=18446744073709551616",
            f"otpauth://hotp/alice?secret={S}&counter={'9' * 21}",
            f"otpauth://hotp/alice?secret={S}&counter={'9' * 4000}",
            # The image.
            f"otpauth://totp/alice?secret={S}&image=",
            f"otpauth://totp/alice?secret={S}&image=https://x/%0A",
        ],
    )
    def test_invalid_uri(self, text: str) -> None:
        """Each of these breaks one rule and raises InvalidURI, a ValueError."""
        with pytest.raises(InvalidURI) as caught:
            parse_uri(text)

        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, SoftTokenError)

    @pytest.mark.parametrize(
        "secret",
        ["", "%20", "MZXW1", "MZXW8", "M", "MZXW6=", "MZ-XW6"],
    )
    def test_invalid_secret(self, secret: str) -> None:
        """A secret that is not base32 raises InvalidEncoding, a ValueError."""
        with pytest.raises(InvalidEncoding) as caught:
            parse_uri(f"otpauth://totp/alice?secret={secret}")

        assert isinstance(caught.value, ValueError)

    def test_huge_input_is_refused_by_length(self) -> None:
        """A megabyte of text is refused by the length bound before anything else is read."""
        with pytest.raises(InvalidURI, match="longer than 4096"):
            parse_uri("otpauth://totp/a?secret=" + "%" * 1_000_000)


class TestNonASCIISecrets:
    """A percent-encoded secret that upper-cases into base32 is refused, not decoded (S13)."""

    @pytest.mark.parametrize("letter", ["\u00df", "\u0131", "\u017f", "\ufb01", "\ufb06"])
    def test_percent_encoded_letters_are_refused(self, letter: str) -> None:
        """The sharp s, dotless i, long s and ligatures, written as UTF-8 escapes inside the
        secret, raise InvalidEncoding instead of spelling the key a second way."""
        escaped = "".join(f"%{byte:02X}" for byte in letter.encode("utf-8"))
        with pytest.raises(InvalidEncoding):
            parse_uri(f"otpauth://totp/alice?secret={S[:8]}{escaped}{S[8:]}")


class TestErrorContext:
    """Parser errors carry no inner exception: neither a cause nor a context that a traceback or
    a log would print (a UnicodeDecodeError quotes the undecodable bytes)."""

    @pytest.mark.parametrize(
        "text",
        [
            "otpauth://totp/alice?secret=%FF",
            f"otpauth://totp/alice?secret=%FF{S}",
            f"otpauth://totp/al%FFice?secret={S}",
            f"otpauth://totp/Bank%C3:alice?secret={S}",
            f"otpauth://totp/alice?secret={S}&issuer=%ED%A0%80",
            f"otpauth://totp/alice?secret={S}&%FF=1",
            f"otpauth://totp/alice?secret={S}&note=%C3%28",
        ],
    )
    def test_undecodable_escape(self, text: str) -> None:
        """A %XX escape that is not UTF-8 raises InvalidURI with no cause and no context."""
        with pytest.raises(InvalidURI) as caught:
            parse_uri(text)

        assert (None, None) == (caught.value.__cause__, caught.value.__context__)
        assert not caught.value.__suppress_context__

    @pytest.mark.parametrize(
        "text",
        [
            "otpauth://totp/alice?secret=%",
            f"otpauth://totp/alice?secret={S}&digits=x",
            "otpauth://totp/alice?secret=MZXW1",
            short_key_uri(10),
        ],
    )
    def test_other_refusals(self, text: str) -> None:
        """Other refusals (a broken escape, a bad number, bad base32, a short key) carry no
        inner exception either."""
        with pytest.raises(SoftTokenError) as caught:
            parse_uri(text)

        assert (None, None) == (caught.value.__cause__, caught.value.__context__)


class TestFuzz:
    """Arbitrary and corrupted input raises only softtoken's own errors (SECURITY.md S13)."""

    @given(st.text(max_size=300))
    @example("")
    @example("otpauth://")
    @example("otpauth://totp/")
    def test_arbitrary_text_raises_only_softtoken_errors(self, text: str) -> None:
        """Any text either parses or raises InvalidURI, InvalidEncoding or KeyTooShort, all
        ValueError."""
        outcome = parse_or_error(text)

        assert isinstance(outcome, PARSE_OUTCOMES)
        assert isinstance(outcome, KeyURI | ValueError)

    @given(st.text(alphabet=string.printable, max_size=200))
    def test_otpauth_shaped_text_raises_only_softtoken_errors(self, tail: str) -> None:
        """Text behind a valid scheme and type reaches the deeper rules and still raises only
        InvalidURI, InvalidEncoding or KeyTooShort."""
        outcome = parse_or_error("otpauth://totp/" + tail)

        assert isinstance(outcome, PARSE_OUTCOMES)

    @given(sts.mutated(st.just(canary_uri(extra=(("lock", "1"),)).to_uri())))
    def test_corrupted_uri_errors_never_echo_the_uri(self, text: str) -> None:
        """A corrupted URI either parses or raises a softtoken error whose message holds no part
        of the secret, the account or the issuer, and which carries no inner exception."""
        outcome = parse_or_error(text)

        assert isinstance(outcome, PARSE_OUTCOMES)
        if isinstance(outcome, SoftTokenError):
            leaked = leaks(str(outcome)) or leaks(repr(outcome.args))
            assert not leaked
            assert (None, None) == (outcome.__cause__, outcome.__context__)

    @given(sts.mutated(FIELDS.map(lambda fields: KeyURI(**fields).to_uri())))
    def test_whatever_parses_is_stable(self, text: str) -> None:
        """Whatever a corrupted URI parses to writes a URI that parses to the same value."""
        outcome = parse_or_error(text)

        assert isinstance(outcome, PARSE_OUTCOMES)
        if isinstance(outcome, KeyURI):
            assert outcome == parse_uri(outcome.to_uri())


class TestRoundTrip:
    """Writing and reading are inverse."""

    @given(fields=FIELDS)
    def test_parse_inverts_to_uri(self, fields: dict[str, Any]) -> None:
        """Reading what to_uri wrote gives the same value back."""
        uri = KeyURI(**fields)

        assert uri == parse_uri(uri.to_uri())

    @given(pair=respellings())
    def test_canonical_form_is_stable(self, pair: tuple[KeyURI, str]) -> None:
        """parse -> to_uri -> parse is stable: the canonical URI of any spelling reads back the
        same, and writing it again changes nothing."""
        _, text = pair
        first = parse_uri(text)
        canonical = first.to_uri()

        assert first == parse_uri(canonical)
        assert canonical == parse_uri(canonical).to_uri()

    @given(fields=FIELDS)
    def test_uri_is_within_the_parser_alphabet(self, fields: dict[str, Any]) -> None:
        """to_uri writes only RFC 3986 characters and never a '+' or a space."""
        written = KeyURI(**fields).to_uri()

        assert set(written) <= set(string.ascii_letters + string.digits + "-._~!$&'()*,;=:@/?%")


class TestKeyURI:
    """The KeyURI value: checks, secrecy, equality, tokens."""

    @pytest.mark.parametrize(
        "changes",
        [
            {"secret": "JBSWY3DPEHPK3PXP"},
            {"account": b"alice"},
            {"issuer": 1},
            {"kind": 1},
            {"algorithm": None},
            {"digits": True},
            {"digits": "6"},
            {"period": 30.0},
            {"kind": "hotp", "counter": "1"},
            {"image": b"x"},
            {"extra": "ab"},
            {"extra": (("a",),)},
            {"extra": (("a", 1),)},
            {"allow_short_key": 1},
            {"allow_short_key": None},
        ],
    )
    def test_wrong_types(self, changes: dict[str, Any]) -> None:
        """A field of the wrong type raises TypeError."""
        with pytest.raises(TypeError):
            canary_uri(**changes)

    @pytest.mark.parametrize(
        "changes",
        [
            {"kind": "motp"},
            {"algorithm": "md5"},
            {"digits": 5},
            {"digits": 11},
            {"period": 0},
            {"kind": "hotp"},
            {"kind": "hotp", "counter": -1},
            {"kind": "hotp", "counter": 2**64},
            {"kind": "hotp", "counter": 0, "period": 60},
            {"counter": 0},
            {"account": ""},
            {"account": "a:b"},
            {"account": " alice"},
            {"account": "alice\n"},
            {"account": "al\u202eice"},
            {"issuer": ""},
            {"issuer": "x:y"},
            {"image": ""},
            {"extra": (("secret", "x"),)},
            {"extra": (("Digits", "8"),)},
            {"extra": (("", "x"),)},
            {"extra": (("n", "\x00"),)},
        ],
    )
    def test_wrong_values(self, changes: dict[str, Any]) -> None:
        """A field with a refused value raises InvalidURI."""
        with pytest.raises(InvalidURI):
            canary_uri(**changes)

    def test_kind_and_algorithm_are_canonical(self) -> None:
        """Kind and algorithm are stored lower case, whatever case they came in."""
        uri = canary_uri(kind="TOTP", algorithm="SHA512")

        assert ("totp", "sha512") == (uri.kind, uri.algorithm)

    def test_repr_and_str_hide_the_secret(self) -> None:
        """Neither repr nor str shows the secret in any encoding."""
        uri = canary_uri(account="alice", issuer=None)

        leaked = leaks(repr(uri)) or leaks(str(uri))
        assert not leaked
        assert "alice" in repr(uri)

    def test_masked_replaces_only_the_secret(self) -> None:
        """masked() is to_uri() with the secret replaced by ****."""
        uri = canary_uri(account="alice", issuer="Bank", digits=8)

        masked = uri.masked()

        assert uri.to_uri().replace(CANARY_B32, "****") == masked
        leaked = leaks(masked)
        assert not leaked

    def test_masked_does_not_parse(self) -> None:
        """A masked URI is not a usable Key URI."""
        with pytest.raises(InvalidEncoding):
            parse_uri(canary_uri().masked())

    def test_equality(self) -> None:
        """Equal fields and keys compare equal and hash alike; another key compares unequal."""
        assert canary_uri() == canary_uri()
        assert hash(canary_uri()) == hash(canary_uri())
        assert canary_uri() != canary_uri(secret=CANARY_KEY[:-1] + b"!")

    def test_evolve_rechecks(self) -> None:
        """attrs.evolve builds a checked copy."""
        with pytest.raises(InvalidURI):
            attrs.evolve(canary_uri(), digits=4)

    def test_label(self) -> None:
        """The label is issuer:account, or the account alone."""
        assert "Bank:alice" == canary_uri(issuer="Bank", account="alice").label
        assert "alice" == canary_uri(issuer=None, account="alice").label

    def test_token_types_and_parameters(self) -> None:
        """token() builds an HOTP or TOTP with the URI's algorithm, digits and period."""
        totp = canary_uri(algorithm="sha256", digits=8, period=60).token()
        hotp = canary_uri(kind="hotp", counter=5, digits=7).token()

        assert isinstance(totp, TOTP)
        assert ("sha256", 8, 60) == (totp.algorithm, totp.digits, totp.period)
        assert isinstance(hotp, HOTP)
        assert ("sha1", 7) == (hotp.algorithm, hotp.digits)


class TestDifferential:
    """pyotp, an independent implementation, agrees on what the URIs mean."""

    @given(
        fields=FIELDS.filter(lambda f: f["digits"] <= 8 and f["period"] <= 120),
        key=sts.keys,
    )
    def test_pyotp_reads_our_uris_to_the_same_codes(
        self, fields: dict[str, Any], key: bytes
    ) -> None:
        """pyotp.parse_uri of our URI gives the codes our token gives."""
        fields.update(secret=key, image=None, extra=())
        uri = KeyURI(**fields)

        # pyotp's own annotations say OTP, which lacks the at() both subclasses have.
        theirs: Any = pyotp.parse_uri(uri.to_uri())
        ours = uri.token()

        if isinstance(ours, TOTP):
            assert theirs.at(LATE) == ours.generate(LATE)
        else:
            assert uri.counter is not None
            # pyotp counts from the URI's counter: its step 0 is our counter.
            assert theirs.at(0) == ours.generate(uri.counter)

    def test_we_read_pyotp_totp_uris(self) -> None:
        """Our parser reads pyotp's TOTP URI to the same parameters and codes."""
        key = bytes(range(40, 72))
        other = pyotp.TOTP(b32encode(key), digits=8, digest=hashlib.sha256, interval=60)
        text = other.provisioning_uri(name="alice+tag@example.com", issuer_name="ACME Co")

        uri = parse_uri(text)

        assert (key, "alice+tag@example.com", "ACME Co") == (uri.secret, uri.account, uri.issuer)
        assert ("sha256", 8, 60) == (uri.algorithm, uri.digits, uri.period)
        assert other.at(LATE) == uri.token().generate(LATE)

    def test_we_read_pyotp_hotp_uris(self) -> None:
        """Our parser reads pyotp's HOTP URI to the same parameters and codes."""
        key = bytes(range(40, 104))
        other = pyotp.HOTP(b32encode(key), digits=7, digest=hashlib.sha512)
        text = other.provisioning_uri(
            name="alice+tag@example.com", issuer_name="ACME Co", initial_count=9
        )

        uri = parse_uri(text)
        token = uri.token()

        assert (key, "ACME Co", 9) == (uri.secret, uri.issuer, uri.counter)
        assert isinstance(token, HOTP)
        assert other.at(9) == token.generate(9)


class TestProfiles:
    """Compatibility profiles and check_compatibility."""

    @pytest.mark.parametrize(
        ("profile", "changes", "expected"),
        [
            (
                GOOGLE_AUTHENTICATOR,
                {"algorithm": "sha256"},
                ("Google Authenticator ignores algorithm=SHA256 and will show wrong codes",),
            ),
            (
                GOOGLE_AUTHENTICATOR,
                {"digits": 8, "period": 60},
                (
                    "Google Authenticator ignores digits=8 and will show wrong codes",
                    "Google Authenticator ignores period=60 and will show wrong codes",
                ),
            ),
            (GOOGLE_AUTHENTICATOR, {"kind": "hotp", "counter": 0}, ()),
            (
                MICROSOFT_AUTHENTICATOR,
                {"kind": "hotp", "counter": 0, "algorithm": "sha512"},
                (
                    "Microsoft Authenticator ignores type=hotp and will show wrong codes",
                    "Microsoft Authenticator ignores algorithm=SHA512 and will show wrong codes",
                ),
            ),
            (
                FREEOTP,
                {"digits": 7, "algorithm": "sha512", "period": 90},
                ("FreeOTP refuses digits=7 and will not add the account",),
            ),
            (FREEOTP, {"digits": 8, "kind": "hotp", "counter": 3}, ()),
            (AEGIS, {"digits": 10, "algorithm": "sha512", "period": 1}, ()),
        ],
    )
    def test_problems(
        self, profile: CompatibilityProfile, changes: dict[str, Any], expected: tuple[str, ...]
    ) -> None:
        """Each profile names exactly the parameters its app would not honour."""
        assert expected == profile.problems(canary_uri(**changes))

    @given(fields=FIELDS)
    def test_defaults_suit_every_app(self, fields: dict[str, Any]) -> None:
        """A TOTP URI with SHA1, 6 digits and 30 seconds has no problem with any app."""
        fields.update(kind="totp", algorithm="sha1", digits=6, period=30, counter=None)
        uri = KeyURI(**fields)

        assert [()] * len(PROFILES) == [profile.problems(uri) for profile in PROFILES]

    @given(fields=FIELDS)
    def test_aegis_honours_everything_we_write(self, fields: dict[str, Any]) -> None:
        """Aegis honours every URI this library can write."""
        assert () == AEGIS.problems(KeyURI(**fields))

    @given(fields=FIELDS)
    def test_problems_never_mention_secret_or_names(self, fields: dict[str, Any]) -> None:
        """No problem sentence holds the secret, the account or the issuer."""
        fields.update(secret=CANARY_KEY, account=CANARY_ACCOUNT, issuer=CANARY_ISSUER)
        uri = KeyURI(**fields)

        sentences = " ".join(" ".join(profile.problems(uri)) for profile in PROFILES)

        leaked = leaks(sentences)
        assert not leaked

    def test_warns_once_per_problem(self) -> None:
        """strict=False emits one CompatibilityWarning per problem and returns them."""
        uri = canary_uri(algorithm="sha256", digits=8)

        with pytest.warns(CompatibilityWarning) as record:
            found = check_compatibility(uri, GOOGLE_AUTHENTICATOR)

        assert GOOGLE_AUTHENTICATOR.problems(uri) == found
        assert list(found) == [str(warning.message) for warning in record]
        assert 2 == len(found)

    def test_no_problem_no_warning(self) -> None:
        """A compatible URI returns no problems and emits no warning, even when strict."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert () == check_compatibility(canary_uri(), MICROSOFT_AUTHENTICATOR)
            assert () == check_compatibility(canary_uri(), FREEOTP, strict=True)

    def test_strict_raises(self) -> None:
        """strict=True raises IncompatibleURI, with a constant message and the problems."""
        uri = canary_uri(period=60)

        with pytest.raises(IncompatibleURI) as caught:
            check_compatibility(uri, MICROSOFT_AUTHENTICATOR, strict=True)

        assert MICROSOFT_AUTHENTICATOR.problems(uri) == caught.value.problems
        assert IncompatibleURI.MESSAGE == str(caught.value)
        assert isinstance(caught.value, InvalidURI)

    def test_incompatible_uri_pickles(self) -> None:
        """IncompatibleURI survives pickling with its problems and message."""
        error = IncompatibleURI(("one", "two"))

        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object, in memory

        assert (("one", "two"), IncompatibleURI.MESSAGE) == (copy.problems, str(copy))

    def test_accepts_text(self) -> None:
        """A URI given as text is parsed strictly first."""
        text = canary_uri(digits=7).to_uri()

        with pytest.raises(IncompatibleURI):
            check_compatibility(text, FREEOTP, strict=True)
        with pytest.raises(InvalidURI):
            check_compatibility(text + "&digits=7", FREEOTP)

    def test_wrong_types(self) -> None:
        """A profile or URI of the wrong type raises TypeError."""
        with pytest.raises(TypeError):
            check_compatibility(canary_uri(), "google")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            GOOGLE_AUTHENTICATOR.problems(canary_uri().to_uri())  # type: ignore[arg-type]

    def test_profiles_are_frozen_and_named_uniquely(self) -> None:
        """Profiles cannot be changed, and their short names are distinct."""
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            GOOGLE_AUTHENTICATOR.digits = frozenset({6, 8})  # type: ignore[misc]
        assert len(PROFILES) == len({profile.short_name for profile in PROFILES})
