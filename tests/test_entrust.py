"""Tests for softtoken.provisioning.entrust: the Entrust-style secret, codes and activation QR,
kept for migration only (weak by design: see docs/entrust.md).

Every expected value comes from outside the module: the vector files (published examples and
rows computed once by a stand-alone script), or an independent computation in the test itself
with ``hashlib.pbkdf2_hmac``, ``hmac`` and cryptography's AES used directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final
from unittest import mock
from urllib.parse import quote, unquote

import attrs
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from hypothesis import assume, example, given
from hypothesis import strategies as st

from softtoken._checkdigit import luhn_digit
from softtoken.exceptions import (
    ActivationRefused,
    InvalidIdentifier,
    InvalidInput,
    InvalidURI,
    MistypedCode,
    SoftTokenError,
)
from softtoken.provisioning import ActivationCode, RegistrationCode, Serial, TokenParams, entrust
from softtoken.provisioning.entrust import (
    ENTRUST_TOTP,
    ENTRUST_TOTP_8,
    MAX_QR_URI_LENGTH,
    LegacyActivation,
    decrypt_qr,
    derive_secret,
    totp_params,
)
from tests.strategies import mutated, serials
from tests.utils import load_vectors

SECRET_ROWS: Final = [row[1:] for row in load_vectors("entrust-secret.txt") if row[0] == "SECRET"]
CODE_ROWS: Final = [row[1:] for row in load_vectors("entrust-secret.txt") if row[0] == "CODE"]
QR_ROWS: Final = [row[1:] for row in load_vectors("entrust-qr.txt") if row[0] == "QR"]
REFUSED_ROWS: Final = [row[1:] for row in load_vectors("entrust-qr.txt") if row[0] == "REFUSED"]
# The refusals that the MAC itself catches; every other REFUSED row has a valid MAC.
MAC_REFUSALS: Final = frozenset({"wrong-password", "mac-changed"})

# The README example of ss23/entrust-identityguard-tools (the first rows of both vector files).
PUBLISHED_SERIAL: Final = "48244-13456"
PUBLISHED_ACTIVATION: Final = "1745-7712-6942-8698"
PUBLISHED_REGISTRATION: Final = "12211-49352"
PUBLISHED_POLICY: Final = '{"allowUnsecured":"false","trustedExecution":"NOT_ALLOWED"}'
PUBLISHED_URI: Final = QR_ROWS[0][0]
PUBLISHED_PASSWORD: Final = "54998317"

# Every message decrypt_qr may raise, written out here: a message outside this set would be
# one made from the input.
QR_MESSAGES: Final = frozenset(
    {
        "not an Entrust activation QR: igmobileotp://?action=secactivate&enc=…&v=1&mac=…",
        f"the QR text is longer than {MAX_QR_URI_LENGTH} characters",
        "the QR password is 8 ASCII digits",
        "the activation was not accepted",
    }
)

# Identifiers as text: 15 or 9 random digits and a Luhn check digit.
activation_texts = st.integers(min_value=0, max_value=10**15 - 1).map(
    lambda n: f"{n:015d}" + luhn_digit(f"{n:015d}")
)
registration_texts = st.integers(min_value=0, max_value=10**9 - 1).map(
    lambda n: f"{n:09d}" + luhn_digit(f"{n:09d}")
)
passwords = st.text(alphabet="0123456789", min_size=8, max_size=8)
salts = st.binary(min_size=8, max_size=8)
# Any text, with the published policy likely; st.text never draws a lone surrogate.
policies = st.none() | st.just(PUBLISHED_POLICY) | st.text(max_size=120)
spellings = st.sampled_from(["value", "digits", "display"])
# Printable text: letters, marks, numbers, punctuation and symbols (str.isprintable's rule).
registration_urls = st.text(
    st.characters(categories=["L", "M", "N", "P", "S"]), min_size=1, max_size=60
)


def spelt(
    cls: type[Serial] | type[ActivationCode] | type[RegistrationCode], digits: str, how: str
) -> Any:
    """The identifier *digits* as a value, as its plain digits, or in its display form."""
    value = cls.parse(digits)
    return value if how == "value" else digits if how == "digits" else value.display


def policy_column(text: str) -> str | None:
    """A vector file's policy column: "-" for none, else "0x" and the UTF-8 bytes in hex."""
    return None if text == "-" else bytes.fromhex(text.removeprefix("0x")).decode("utf-8")


def pbkdf2_secret(serial: str, activation: str, registration: str, policy: str | None) -> bytes:
    """The secret as issue 7 §5 describes it, with hashlib.pbkdf2_hmac (bare digit strings)."""
    password = (
        int(activation[:15]).to_bytes(7, "big") + int(registration[:9]).to_bytes(4, "big")[2:]
    )
    if policy is not None:
        password += policy.encode("utf-8")
    return hashlib.pbkdf2_hmac("sha256", password, serial.encode("ascii"), 8, 16)


def escape(raw: bytes) -> str:
    """base64 of *raw* with "+", "/" and "=" percent-escaped, as the published QR writes it."""
    return quote(base64.b64encode(raw).decode("ascii"), safe="")


def build_qr(
    plaintext: bytes,
    password: str,
    salt: bytes,
    *,
    padded: bytes | None = None,
    plain: bool = False,
) -> str:
    """An activation QR built independently of the module: hashlib's PBKDF2, PKCS#7 by hand,
    cryptography's AES-CBC, hmac's HMAC. *padded* replaces the padded plaintext as given;
    *plain* leaves "/" and "=" unescaped (a bare "+" would be refused)."""
    material = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, 1000, 64)
    if padded is None:
        count = 16 - len(plaintext) % 16
        padded = plaintext + bytes([count]) * count
    encryptor = Cipher(algorithms.AES(material[:16]), modes.CBC(material[48:])).encryptor()
    enc = escape(salt + encryptor.update(padded) + encryptor.finalize())
    if plain:
        enc = enc.replace("%2F", "/").replace("%3D", "=")
    signed = f"action=secactivate&enc={enc}&v=1"
    mac = hmac.new(material[16:48], signed.encode("ascii"), hashlib.sha256).digest()[:12]
    return f"igmobileotp://?{signed}&mac={escape(mac)}"


def plaintext_of(fields: dict[str, str]) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode("utf-8")


def with_enc(uri: str, change: Any) -> str:
    """*uri* with its decoded ENC passed through *change*, re-escaped; the MAC is kept."""
    head, rest = uri.split("&enc=", 1)
    enc, tail = rest.split("&v=", 1)
    raw = base64.b64decode(enc.replace("%2B", "+").replace("%2F", "/").replace("%3D", "="))
    return f"{head}&enc={escape(change(raw))}&v={tail}"


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


@contextmanager
def counting_decryptions() -> Iterator[list[int]]:
    """Count the decryptors entrust makes: each AES decryption, while the context is open."""
    calls: list[int] = []
    real = Cipher

    class Counting:
        def __init__(self, algorithm: Any, mode: Any) -> None:
            self._cipher = real(algorithm, mode)

        def decryptor(self) -> Any:
            calls.append(1)
            return self._cipher.decryptor()

    with mock.patch.object(entrust, "Cipher", Counting):
        yield calls


@contextmanager
def counting_key_derivations() -> Iterator[list[int]]:
    """Count the PBKDF2 derivations entrust starts, while the context is open."""
    calls: list[int] = []
    real = PBKDF2HMAC

    def counting(**kwargs: Any) -> Any:
        calls.append(1)
        return real(**kwargs)

    with mock.patch.object(entrust, "PBKDF2HMAC", counting):
        yield calls


def refusal(uri: str, password: str) -> SoftTokenError:
    """The error decrypt_qr raises, checked to be softtoken's, constant and without context."""
    with pytest.raises(SoftTokenError) as caught:
        decrypt_qr(uri, password)
    error = caught.value
    assert str(error) in QR_MESSAGES
    assert (None, None) == (error.__cause__, error.__context__)
    return error


class TestSecretVectors:
    """The secret and the codes match the published example and softtoken's vector file."""

    @pytest.mark.parametrize(
        ("serial", "activation", "registration", "policy", "secret"), SECRET_ROWS
    )
    def test_secret(
        self, serial: str, activation: str, registration: str, policy: str, secret: str
    ) -> None:
        """tests/vectors/entrust-secret.txt: each SECRET row, from the text as written."""
        actual = derive_secret(serial, activation, registration, policy=policy_column(policy))

        assert secret == actual.hex()

    @pytest.mark.parametrize(("secret", "at", "six", "eight"), CODE_ROWS)
    def test_codes(self, secret: str, at: str, six: str, eight: str) -> None:
        """Each CODE row: the 6-digit preset and the 8-digit preset at that time."""
        key = bytes.fromhex(secret)

        assert (six, eight) == (
            ENTRUST_TOTP.token(key).generate(int(at)),
            ENTRUST_TOTP_8.token(key).generate(int(at)),
        )

    def test_published_example_end_to_end(self) -> None:
        """The README example: identifiers to secret to the code oathtool printed."""
        secret = derive_secret(PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION)

        assert "814835" == ENTRUST_TOTP.token(secret).generate(1570351831)

    def test_the_device_part_is_two_bytes_not_four(self) -> None:
        """The published secret holds for 2 device bytes; writing them as 4 gives another."""
        four = int("174577126942869").to_bytes(7, "big") + (122114935 & 0xFFFF).to_bytes(4, "big")
        other = hashlib.pbkdf2_hmac("sha256", four, b"4824413456", 8, 16)

        assert other != derive_secret(
            PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION
        )


class TestSecretProperties:
    """derive_secret is the published PBKDF2 for every valid input, and shows its weakness."""

    @given(serials, activation_texts, registration_texts, policies, spellings)
    @example("4824413456", "1745771269428698", "1221149352", PUBLISHED_POLICY, "display")
    @example("0000000000", "0000000000000000", "0000000000", None, "value")
    @example("9999999999", "9999999999999995", "9999999999", "", "digits")
    def test_matches_pbkdf2_computed_directly(
        self, serial: str, activation: str, registration: str, policy: str | None, how: str
    ) -> None:
        """For any identifiers, in any spelling, and any policy: hashlib.pbkdf2_hmac's value."""
        expected = pbkdf2_secret(serial, activation, registration, policy)

        actual = derive_secret(
            spelt(Serial, serial, how),
            spelt(ActivationCode, activation, how),
            spelt(RegistrationCode, registration, how),
            policy=policy,
        )

        assert expected == actual

    @given(serials, activation_texts, st.integers(0, 2**16 - 1), st.integers(0, 10**9 // 2**16))
    def test_only_the_low_16_device_bits_count(
        self, serial: str, activation: str, low: int, high: int
    ) -> None:
        """Registration codes that differ only above their low 16 bits give the same secret."""
        assume(low + high * 2**16 < 10**9)
        base = RegistrationCode.parse(f"{low:09d}" + luhn_digit(f"{low:09d}"))
        other_payload = f"{low + high * 2**16:09d}"
        other = RegistrationCode.parse(other_payload + luhn_digit(other_payload))

        assert derive_secret(serial, activation, base) == derive_secret(serial, activation, other)

    @given(serials, activation_texts, st.integers(0, 2**16 - 1), st.integers(0, 15))
    def test_every_low_device_bit_counts(
        self, serial: str, activation: str, low: int, bit: int
    ) -> None:
        """Flipping any one of the low 16 bits of the registration payload changes the secret."""
        codes = [
            RegistrationCode.parse(f"{n:09d}" + luhn_digit(f"{n:09d}"))
            for n in (low, low ^ 1 << bit)
        ]

        assert derive_secret(serial, activation, codes[0]) != derive_secret(
            serial, activation, codes[1]
        )

    def test_empty_policy_is_no_policy(self) -> None:
        """An empty policy appends nothing, so it gives the secret of no policy."""
        args = (PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION)

        assert derive_secret(*args) == derive_secret(*args, policy="")

    def test_secret_is_16_bytes_and_makes_a_token(self) -> None:
        """The secret is 16 bytes, which the TOTP presets accept without an opt-in."""
        secret = derive_secret(PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION)

        assert 16 == len(secret)
        assert 6 == len(ENTRUST_TOTP.token(secret).generate(0))


class TestSecretInputs:
    """derive_secret refuses what is not an identifier, and never repeats one."""

    @pytest.mark.parametrize(
        ("serial", "activation", "registration"),
        [
            ("48244-13457", PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION),
            (PUBLISHED_SERIAL, "1745-7712-6942-8699", PUBLISHED_REGISTRATION),
            (PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, "12211-49353"),
        ],
    )
    def test_mistyped_identifier(self, serial: str, activation: str, registration: str) -> None:
        """A wrong check digit is a MistypedCode with the constant message."""
        with pytest.raises(MistypedCode) as caught:
            derive_secret(serial, activation, registration)

        assert MistypedCode.MESSAGE == str(caught.value)

    @pytest.mark.parametrize(
        ("serial", "activation", "registration"),
        [
            ("4824-413456", PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION),
            (PUBLISHED_SERIAL, "174577126942869", PUBLISHED_REGISTRATION),
            (PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, "12211 49352"),
            (PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, "１２２１１４９３５２"),
        ],
    )
    def test_wrong_shape(self, serial: str, activation: str, registration: str) -> None:
        """A text without the identifier's shape is an InvalidIdentifier that quotes nothing."""
        with pytest.raises(InvalidIdentifier) as caught:
            derive_secret(serial, activation, registration)

        typed = [part for text in (serial, activation, registration) for part in text.split("-")]
        assert [] == [part for part in typed if part in str(caught.value)]

    @pytest.mark.parametrize(
        ("args", "policy"),
        [
            ((4824413456, PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION), None),
            ((PUBLISHED_SERIAL, b"1745771269428698", PUBLISHED_REGISTRATION), None),
            (
                (
                    RegistrationCode.parse(PUBLISHED_SERIAL),
                    PUBLISHED_ACTIVATION,
                    PUBLISHED_REGISTRATION,
                ),
                None,
            ),
            ((PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, Serial.parse(PUBLISHED_REGISTRATION)), None),
            ((PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION), b"{}"),
        ],
    )
    def test_wrong_types(self, args: tuple[Any, ...], policy: Any) -> None:
        """Another type, or another identifier's class, is a TypeError."""
        with pytest.raises(TypeError):
            derive_secret(*args, policy=policy)

    def test_policy_that_utf8_cannot_encode(self) -> None:
        """A lone surrogate in the policy is InvalidInput, with no encoding error as context."""
        with pytest.raises(InvalidInput) as caught:
            derive_secret(
                PUBLISHED_SERIAL, PUBLISHED_ACTIVATION, PUBLISHED_REGISTRATION, policy="{\udc80}"
            )

        assert (None, None) == (caught.value.__cause__, caught.value.__context__)


class TestPresets:
    """The presets are TOTP, HMAC-SHA256, 30-second steps, 6 or 8 digits."""

    def test_six_digits(self) -> None:
        """ENTRUST_TOTP is what the published oathtool line uses."""
        expected = TokenParams(kind="totp", algorithm="sha256", digits=6, period=30)

        assert expected == ENTRUST_TOTP

    def test_eight_digits(self) -> None:
        """ENTRUST_TOTP_8 differs only in its digits."""
        assert attrs.evolve(ENTRUST_TOTP, digits=8) == ENTRUST_TOTP_8

    def test_totp_params_picks_the_preset(self) -> None:
        """totp_params gives the 6- or 8-digit preset, 6 by default."""
        assert (ENTRUST_TOTP, ENTRUST_TOTP, ENTRUST_TOTP_8) == (
            totp_params(),
            totp_params(6),
            totp_params(8),
        )

    @pytest.mark.parametrize("digits", [5, 7, 9, 10])
    def test_other_lengths_are_refused(self, digits: int) -> None:
        """Only 6 and 8 are Entrust code lengths."""
        with pytest.raises(InvalidInput):
            totp_params(digits)

    @pytest.mark.parametrize("digits", ["6", 6.0, True])
    def test_non_int_is_a_type_error(self, digits: Any) -> None:
        """A str, a float or a bool is a TypeError."""
        with pytest.raises(TypeError):
            totp_params(digits)


class TestQRVectors:
    """decrypt_qr reads the published QR and softtoken's rows, and refuses the bad ones."""

    @pytest.mark.parametrize(("uri", "password", "serial", "activation", "policy", "url"), QR_ROWS)
    def test_qr(
        self, uri: str, password: str, serial: str, activation: str, policy: str, url: str
    ) -> None:
        """Each QR row decrypts to its serial, activation code, policy and URL."""
        expected = LegacyActivation(
            Serial.parse(serial), ActivationCode.parse(activation), policy_column(policy), url
        )

        assert expected == decrypt_qr(uri, password)

    @pytest.mark.parametrize(("why", "uri", "password"), REFUSED_ROWS)
    def test_refused(self, why: str, uri: str, password: str) -> None:
        """Each REFUSED row is one ActivationRefused with the constant message."""
        assert isinstance(refusal(uri, password), ActivationRefused)

    def test_published_qr_gives_the_published_secrets(self) -> None:
        """The README QR, then its registration code: both published secrets, by policy."""
        activation = decrypt_qr(PUBLISHED_URI, PUBLISHED_PASSWORD)
        args = (activation.serial, activation.activation_code, PUBLISHED_REGISTRATION)

        assert ("9a8eab5ecc9fc413758a92ac223dc6a0", "bb9b6d72ae99b006de5e106935ec96da") == (
            derive_secret(*args).hex(),
            derive_secret(*args, policy=activation.policy).hex(),
        )


class TestMACFirst:
    """The MAC is checked, in constant time, before anything is decrypted."""

    GOOD: Final = build_qr(
        plaintext_of({"sn": "93171-12184", "ac": "1234-5678-9012-3452", "regurl": "r"}),
        "24681357",
        bytes(range(8)),
    )

    def test_a_good_qr_is_decrypted_once(self) -> None:
        """The counting seam sees the one decryption a good QR needs."""
        with counting_decryptions() as calls:
            decrypt_qr(self.GOOD, "24681357")

        assert 1 == len(calls)

    @pytest.mark.parametrize(
        "tamper",
        [
            pytest.param(lambda uri: uri[:-1] + ("A" if uri[-1] != "A" else "B"), id="mac"),
            pytest.param(
                lambda uri: with_enc(uri, lambda raw: flip(raw, len(raw) - 1)), id="last-block"
            ),
            pytest.param(lambda uri: with_enc(uri, lambda raw: flip(raw, 8)), id="first-block"),
            pytest.param(lambda uri: with_enc(uri, lambda raw: flip(raw, 0)), id="salt"),
            pytest.param(lambda uri: with_enc(uri, lambda raw: raw[:-16]), id="block-dropped"),
        ],
    )
    def test_tampering_is_refused_before_decryption(self, tamper: Any) -> None:
        """A changed MAC, ciphertext, salt or escape is refused with no decryption at all."""
        tampered = tamper(self.GOOD)
        assert tampered != self.GOOD

        with counting_decryptions() as calls:
            error = refusal(tampered, "24681357")

        assert (True, 0) == (isinstance(error, ActivationRefused), len(calls))

    def test_escapes_are_signed_as_written(self) -> None:
        """The published QR with one escape in lower case (%2f for %2F) fails its MAC: the MAC
        covers the text as written, not as decoded."""
        changed = PUBLISHED_URI.replace("%2F", "%2f", 1)
        assert changed != PUBLISHED_URI

        with counting_decryptions() as calls:
            error = refusal(changed, PUBLISHED_PASSWORD)

        assert (True, 0) == (isinstance(error, ActivationRefused), len(calls))

    def test_wrong_password_is_refused_before_decryption(self) -> None:
        """A wrong password fails the MAC: no decryption."""
        with counting_decryptions() as calls:
            error = refusal(self.GOOD, "24681358")

        assert (True, 0) == (isinstance(error, ActivationRefused), len(calls))

    @pytest.mark.parametrize(("why", "uri", "password"), REFUSED_ROWS)
    def test_refusals_past_the_mac_decrypt_once(self, why: str, uri: str, password: str) -> None:
        """Bad padding, JSON or fields are found only after a valid MAC: one decryption; the
        MAC refusals none. Either way the error is the same."""
        with counting_decryptions() as calls:
            refusal(uri, password)

        assert (0 if why in MAC_REFUSALS else 1) == len(calls)

    @given(st.integers(1, 8).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n)))
    @example(b"\x10" * 16)
    @example(b'{"sn":"9317112184","ac":"1234567890123452","regurl":"r"}\x00' + b"\x07" * 7)
    def test_any_authenticated_garbage_is_refused_after_one_decryption(self, padded: bytes) -> None:
        """A QR whose MAC holds but whose padded plaintext is arbitrary bytes is refused with
        the same error, after exactly one decryption."""
        uri = build_qr(b"", "24681357", bytes(8), padded=padded)

        with counting_decryptions() as calls:
            error = refusal(uri, "24681357")

        assert (True, 1) == (isinstance(error, ActivationRefused), len(calls))

    def test_the_mac_is_compared_in_constant_time(self) -> None:
        """The comparison goes through hmac.compare_digest."""
        with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as compare:
            refusal(self.GOOD, "24681358")

        assert 1 == compare.call_count


class TestQRRoundTrip:
    """An independently built QR decrypts to what was put in it."""

    @given(
        serials,
        activation_texts,
        policies,
        registration_urls,
        passwords,
        salts,
        st.booleans(),
        st.booleans(),
    )
    def test_round_trip(
        self,
        serial: str,
        activation: str,
        policy: str | None,
        url: str,
        password: str,
        salt: bytes,
        display: bool,
        plain: bool,
    ) -> None:
        """Any identifiers, policy, URL, password and salt come back, with either spelling of
        the identifiers and with "/" and "=" escaped or not."""
        fields = {
            "sn": Serial.parse(serial).display if display else serial,
            "ac": ActivationCode.parse(activation).display if display else activation,
            "regurl": url,
        }
        if policy is not None:
            fields["policy"] = policy
        uri = build_qr(plaintext_of(fields), password, salt, plain=plain)
        expected = LegacyActivation(
            Serial.parse(serial), ActivationCode.parse(activation), policy, url
        )

        assert expected == decrypt_qr(uri, password)

    @given(passwords, passwords, salts)
    def test_any_other_password_is_refused(self, right: str, wrong: str, salt: bytes) -> None:
        """Every password but the right one gets the one refusal."""
        assume(right != wrong)
        uri = build_qr(
            plaintext_of({"sn": "9317112184", "ac": "1234567890123452", "regurl": "r"}), right, salt
        )

        assert isinstance(refusal(uri, wrong), ActivationRefused)


class TestQRParser:
    """The QR text is parsed strictly, from the text alone, before any key is derived."""

    GOOD: Final = TestMACFirst.GOOD
    ENC: Final = GOOD.split("&enc=")[1].split("&v=")[0]
    MAC: Final = GOOD.rsplit("&mac=", 1)[1]

    @pytest.mark.parametrize(
        "uri",
        [
            "",
            "igmobileotp://",
            GOOD.upper(),
            GOOD.replace("igmobileotp://?", "IGMOBILEOTP://?"),
            GOOD.replace("igmobileotp://?", "igmobileotp:?"),
            GOOD.replace("igmobileotp://?", "igmobileotp:///?"),
            " " + GOOD,
            GOOD + "\n",
            GOOD + "#",
            GOOD + "&x=1",
            GOOD.replace("&v=1", "&v=1&x=1"),
            GOOD.replace("&v=1", "&v=1&action=secactivate"),
            GOOD.replace("&v=1", "&v=1&v=1"),
            GOOD.replace("&v=1", ""),
            GOOD.replace("&v=1", "&v=2"),
            GOOD.replace("&v=1", "&v=01"),
            GOOD.replace("&v=1", "&v"),
            GOOD.replace("action=secactivate", "action=activate"),
            GOOD.replace("action=secactivate&", ""),
            GOOD.replace("&mac=", "&MAC="),
            GOOD.rsplit("&mac=", 1)[0],
            GOOD + "&mac=" + MAC,
            f"igmobileotp://?action=secactivate&mac={MAC}&enc={ENC}&v=1",
            GOOD.replace(ENC, "+" + ENC[1:]),
            GOOD.replace(ENC, escape(bytes(40)).replace("%3D", "")),
            GOOD.replace(ENC, ENC + "%3D"),
            GOOD.replace(ENC, "%41" + ENC),
            GOOD.replace(ENC, escape(bytes(8))),
            GOOD.replace(ENC, escape(bytes(8 + 15))),
            GOOD.replace(ENC, escape(bytes(8 + 17))),
            GOOD.replace(MAC, escape(bytes(11))),
            GOOD.replace(MAC, escape(bytes(16))),
            GOOD.replace(MAC, ""),
            GOOD.replace("enc=", "enc=é"),
        ],
    )
    def test_malformed_is_refused_before_any_key_is_derived(self, uri: str) -> None:
        """Each malformed text is an InvalidURI, and no PBKDF2 runs for it."""
        with counting_key_derivations() as calls:
            error = refusal(uri, "24681357")

        assert (True, 0) == (isinstance(error, InvalidURI), len(calls))

    def test_non_canonical_base64_is_refused(self) -> None:
        """Non-zero padding bits, a second spelling of the same bytes, are refused."""
        canonical = escape(bytes(40))
        bent = canonical.replace("AA%3D%3D", "AB%3D%3D")
        assert base64.b64decode(unquote(bent)) == base64.b64decode(unquote(canonical))

        error = refusal(self.GOOD.replace(self.ENC, bent), "24681357")

        assert isinstance(error, InvalidURI)

    def test_too_long_is_refused_by_length(self) -> None:
        """A text over MAX_QR_URI_LENGTH is refused on its length alone, quickly."""
        text = self.GOOD + "A" * (10 * 2**20)
        start = time.perf_counter()

        error = refusal(text, "24681357")

        assert isinstance(error, InvalidURI)
        assert f"the QR text is longer than {MAX_QR_URI_LENGTH} characters" == str(error)
        assert time.perf_counter() - start < 0.5

    @pytest.mark.parametrize(
        "password",
        ["", "2468135", "246813579", " 24681357", "24681357\n", "２４６８１３５７", "2468-1357"],
    )
    def test_password_shape(self, password: str) -> None:
        """A password that is not 8 ASCII digits is InvalidInput, before any key is derived."""
        with counting_key_derivations() as calls:
            error = refusal(self.GOOD, password)

        assert (InvalidInput, 0) == (type(error), len(calls))

    @pytest.mark.parametrize(("uri", "password"), [(GOOD.encode(), "24681357"), (GOOD, 24681357)])
    def test_non_str_is_a_type_error(self, uri: Any, password: Any) -> None:
        """The URI and the password are str."""
        with pytest.raises(TypeError):
            decrypt_qr(uri, password)


class TestQRFuzz:
    """Arbitrary and mutated text raises only softtoken's errors, constant and context-free."""

    @given(st.text(max_size=400), passwords)
    @example("igmobileotp://?action=secactivate&enc=&v=1&mac=", "00000000")
    def test_arbitrary_text(self, text: str, password: str) -> None:
        """Any text is refused with one of the constant messages, never quoting the input."""
        refusal(text, password)

    @given(mutated(st.sampled_from([row[0] for row in QR_ROWS])), st.data())
    def test_mutated_qrs(self, text: str, data: st.DataObject) -> None:
        """A mutated QR is refused with a constant message, or (if the edit changed nothing
        that counts) decrypts to the original's values."""
        originals = {row[0]: row[1] for row in QR_ROWS}
        if text in originals:
            decrypt_qr(text, originals[text])
            return
        password = data.draw(st.sampled_from(sorted(set(originals.values()))))
        refusal(text, password)

    @given(passwords)
    def test_no_message_holds_the_password(self, password: str) -> None:
        """A wrong password never appears in the refusal (nor does the QR text)."""
        assume(password != "24681357")
        error = refusal(TestMACFirst.GOOD, password)

        assert password not in str(error)
        assert "secactivate" not in str(error)


class TestLegacyActivation:
    """The decrypted value keeps its activation code secret, and compares by value."""

    def test_repr_hides_the_activation_code(self) -> None:
        """repr shows the serial, policy and URL, never the activation code's digits."""
        activation = decrypt_qr(PUBLISHED_URI, PUBLISHED_PASSWORD)

        text = repr(activation)

        assert "4824413456" in text
        assert "myid.umc.edu/igst" in text
        assert not any(part in text for part in ("1745", "7712", "6942", "8698"))

    def test_equal_by_value_and_hashable(self) -> None:
        """Two decryptions are equal and hash alike; another activation code is not equal."""
        first = decrypt_qr(PUBLISHED_URI, PUBLISHED_PASSWORD)
        second = decrypt_qr(PUBLISHED_URI, PUBLISHED_PASSWORD)
        other = attrs.evolve(first, activation_code=ActivationCode.parse("0000000000000000"))

        assert (True, True, False) == (first == second, hash(first) == hash(second), first == other)

    @pytest.mark.parametrize("url", ["", "a\nb", "a\u202eb"])
    def test_registration_url_must_be_printable(self, url: str) -> None:
        """An empty URL or one with a control or format character is refused."""
        with pytest.raises(InvalidInput):
            LegacyActivation(
                Serial.parse(PUBLISHED_SERIAL),
                ActivationCode.parse(PUBLISHED_ACTIVATION),
                None,
                url,
            )

    def test_fields_are_typed(self) -> None:
        """A serial given as text is a TypeError: the value is built from parsed identifiers."""
        with pytest.raises(TypeError):
            LegacyActivation(
                PUBLISHED_SERIAL,  # type: ignore[arg-type]
                ActivationCode.parse(PUBLISHED_ACTIVATION),
                None,
                "r",
            )
