"""Tests for the messages of QR activation (softtoken.provisioning.qr_messages; SECURITY.md S12,
S13).

Each message has one spelling, read strictly: fuzzed input raises only softtoken's own error and
quotes nothing. No altered message completes an activation, and no altered offer is even
answered. The recorded runs of ``tests/vectors/qr-activation.txt`` are reproduced by softtoken
and by ``tools/make_qr_vectors.py``, which uses none of softtoken's production code.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from softtoken.exceptions import ActivationRefused, InvalidInput, SoftTokenError
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.qr_activation import (
    MAX_OFFER_LENGTH,
    MAX_URL_LENGTH,
    Offer,
    Outcome,
    Request,
    Response,
    accept,
    finish,
    respond,
    start,
)
from tests import strategies as sts
from tests.qr_support import (
    ALICE,
    BAD_KEYS,
    BANK_KEY,
    BANK_SEED,
    BOB,
    NOW,
    RFC_7748_K,
    SERIAL,
    TRUSTED,
    URL,
    b64,
    key_id,
    offer_of,
    parse_or_error,
    pin,
    public,
    quiet,
    run,
    signed_offer_text,
)
from tests.utils import VECTORS, load_vectors

ROOT: Final = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# The offer
# --------------------------------------------------------------------------------------------


def example_offer() -> str:
    """A fixed offer, signed by the bank (RFC 8032 signatures are deterministic)."""
    draft = Offer(
        serial=SERIAL,
        activation_id=bytes(range(16)),
        issuer_key=public(ALICE),
        params=DEFAULT_PARAMS,
        expires=NOW,
        url=URL,
        key_id=key_id(BANK_KEY),
        signature=bytes(64),
    )
    return signed_offer_text(draft.signed_text(), BANK_SEED)


OFFER_EXAMPLE: Final = example_offer()
KID: Final = "&kid=" + b64(key_id(BANK_KEY))
SIG: Final = "&sig=" + OFFER_EXAMPLE.rsplit("&sig=", 1)[1]
OFFER_TEXTS: Final = st.builds(lambda fields: offer_of(fields).to_text(), sts.qr_offer_fields)


class TestOffer:
    """The offer has one spelling, holds no secret, and is read strictly."""

    def test_layout(self) -> None:
        """The offer is the nine parameters in order, with the URL fully percent-encoded, the
        key id and the signature last; the signature covers the text before "&sig="."""
        offer = Offer(
            serial=SERIAL,
            activation_id=bytes(range(16)),
            issuer_key=public(ALICE),
            params=DEFAULT_PARAMS,
            expires=NOW,
            url="https://bank.example/a?b=c&d=%7E",
            key_id=bytes(range(8)),
            signature=bytes(range(64)),
        )
        signed = (
            "softtoken://activate?v=2&sn=1234567897&id=AAECAwQFBgcICQoLDA0ODw"
            "&pk=hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo&tp=AQEABgAAAB4&exp=1700000000"
            "&url=https%3A%2F%2Fbank.example%2Fa%3Fb%3Dc%26d%3D%257E&kid=AAECAwQFBgc"
        )
        signature = (
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw"
        )
        assert (signed, f"{signed}&sig={signature}") == (offer.signed_text(), offer.to_text())

    @given(sts.qr_offer_fields)
    def test_parse_inverts_to_text(self, fields: dict[str, Any]) -> None:
        """Every offer reads back from its text to itself."""
        offer = offer_of(fields)
        assert offer == Offer.parse(offer.to_text())
        assert offer == Offer.from_bytes(offer.to_bytes())
        assert MAX_OFFER_LENGTH >= len(offer.to_text())

    def test_the_longest_offer_fits(self) -> None:
        """The longest offer (a 256-character URL of characters that are all escaped but its
        one-letter host, the largest expiry) is 1,019 characters: within MAX_OFFER_LENGTH."""
        url = "https://a/" + "/" * (MAX_URL_LENGTH - len("https://a/"))
        offer = attrs.evolve(Offer.parse(OFFER_EXAMPLE), url=url, expires=2**64 - 1)
        assert (1019, offer) == (len(offer.to_text()), Offer.parse(offer.to_text()))
        assert 1024 == MAX_OFFER_LENGTH

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            ("v=2", "v=1"),
            ("v=2", "v=3"),
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
            ("v=2&sn=1234567897", "sn=1234567897&v=2"),
            ("v=2&", "v=2&&"),
            ("v=2", "v=2&x=y"),
            (KID, ""),
            (KID, KID + "AA"),
            (KID, KID[:-1]),
            (KID + SIG, SIG + KID),
            (SIG, ""),
            (SIG, SIG + "=="),
            (SIG, SIG[:-1]),
            (SIG, SIG + "A"),
            (SIG, SIG[:-1] + "B"),
            (SIG, SIG + "&x=y"),
        ],
    )
    def test_refusals(self, old: str, new: str) -> None:
        """A wrong scheme, version (1, unsigned, included), serial, id, key, params, number or
        escape; a reordered, missing, repeated or extra parameter; a key id or signature of the
        wrong size, padded, or with unused bits set: each is refused."""
        assert old in OFFER_EXAMPLE
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
            "softtoken://activate?v=2",
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
        ("field", "value"), [("key_id", bytes(7)), ("signature", bytes(63)), ("key_id", bytes(9))]
    )
    def test_key_id_and_signature_sizes(self, field: str, value: bytes) -> None:
        """A key id is 8 bytes and a signature 64 (RFC 8032 §5.1.6)."""
        changes: dict[str, Any] = {field: value}
        with pytest.raises(InvalidInput):
            attrs.evolve(Offer.parse(OFFER_EXAMPLE), **changes)

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
            start(SERIAL, signing_key=BANK_SEED, now=NOW, url=url)

    def test_wrong_types(self) -> None:
        """Non-str text, non-bytes data, and wrong field types are TypeErrors."""
        with pytest.raises(TypeError):
            Offer.parse(OFFER_EXAMPLE.encode())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Offer.from_bytes(OFFER_EXAMPLE)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            start("1234567897", signing_key=BANK_SEED, now=NOW, url=URL)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            attrs.evolve(Offer.parse(OFFER_EXAMPLE), signature=bytearray(64))  # type: ignore[arg-type]

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


# --------------------------------------------------------------------------------------------
# The request and the response
# --------------------------------------------------------------------------------------------

# A request whose proof is all 0xFF bytes, so that its text has "_" (RFC 4648 §5, value 63).
REQUEST_TEXT: Final = Request(
    activation_id=bytes(16), app_key=public(BOB), proof=b"\xff" * 32
).to_text()
RUN_FOR_TEXT: Final = run()


class TestMessages:
    """Requests and responses have one spelling each and are read strictly."""

    def test_layouts(self) -> None:
        """A request is 81 bytes (108 characters), a response 33 (44), both version 2 first."""
        r = run()
        _, _, response, _ = accept(r.pending, r.request, now=NOW)
        assert response is not None
        assert (81, 108, 2) == (
            len(r.request.to_bytes()),
            len(r.request.to_text()),
            r.request.to_bytes()[0],
        )
        assert (33, 44, 2) == (
            len(response.to_bytes()),
            len(response.to_text()),
            response.to_bytes()[0],
        )
        assert (
            r.offer.activation_id + r.request.app_key + r.request.proof == r.request.to_bytes()[1:]
        )
        assert response.confirmation == response.to_bytes()[1:]

    def test_version_1_is_refused(self) -> None:
        """A request or response of version 1 does not parse."""
        with pytest.raises(InvalidInput):
            Request.from_bytes(b"\x01" + RUN_FOR_TEXT.request.to_bytes()[1:])
        with pytest.raises(InvalidInput):
            Response.from_bytes(b"\x01" + bytes(32))

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
    @example(bytes([2]) + bytes(80))
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

    @given(st.one_of(st.text(max_size=60), sts.mutated(st.just(b64(bytes([2]) + bytes(32))))))
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
# Tampering
# --------------------------------------------------------------------------------------------


class TestTampering:
    """No altered message completes an activation, and no altered offer is answered."""

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
        """Each character of the offer replaced: unreadable, or refused by the app, whose
        signature check covers every character. None is answered."""
        r = run()
        text = r.offer.to_text()
        answered, parsed = [], 0
        for i, replacement in itertools.product(range(len(text)), "0Aa-%"):
            if text[i] == replacement:
                continue
            altered = parse_or_error(Offer.parse, text[:i] + replacement + text[i + 1 :])
            if isinstance(altered, SoftTokenError):
                continue
            assert isinstance(altered, Offer)
            parsed += 1
            outcome = parse_or_error(
                lambda offer: respond(offer, r.password, now=NOW, trusted_keys=TRUSTED), altered
            )
            if not isinstance(outcome, ActivationRefused):
                answered.append(i)
        assert [] == answered
        assert parsed > len(text)

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
# The recorded runs
# --------------------------------------------------------------------------------------------


def vector_runs() -> dict[str, dict[str, str]]:
    """The runs of tests/vectors/qr-activation.txt, by run name."""
    runs: dict[str, dict[str, str]] = {}
    for name, field, value in load_vectors("qr-activation.txt"):
        runs.setdefault(name, {})[field] = value
    return runs


RUNS: Final = vector_runs()
# RFC 8032 §7.1: the public keys of TEST 1 and TEST 2, as the RFC publishes them.
RFC_8032_PUBLIC: Final = {
    "1": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "2": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
}


class TestVectors:
    """The recorded runs, by softtoken with pinned randomness and by an independent generator."""

    def test_the_generator_prints_the_file(self) -> None:
        """tools/make_qr_vectors.py, which uses no production code, prints the file exactly."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "make_qr_vectors.py")],
            capture_output=True,
            check=True,
            text=True,
            timeout=60,
        )
        assert (VECTORS / "qr-activation.txt").read_text(encoding="utf-8") == done.stdout

    @pytest.mark.parametrize("name", sorted(RUNS))
    def test_softtoken_reproduces_the_run(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """softtoken, given the recorded randomness and signing key, writes the recorded texts
        and secret, and its signing key's id and public key are the recorded ones."""
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
            signing_key=bytes.fromhex(v["signing_key"]),
            now=int(v["now"]),
            url=v["url"],
            params=params,
            ttl=int(v["ttl"]),
            attempts=int(v["attempts"]),
        )
        trusted = [bytes.fromhex(v["signing_public"])]
        request, app = respond(
            Offer.parse(v["offer"]), password, now=int(v["now"]), trusted_keys=trusted
        )
        _, _, response, secret = accept(pending, Request.parse(v["request"]), now=int(v["now"]))
        assert response is not None

        assert (v["password"], v["offer"], v["request"]) == (
            password,
            offer.to_text(),
            request.to_text(),
        )
        assert (v["response"], v["secret"]) == (response.to_text(), (secret or b"").hex())
        assert v["secret"] == finish(app, Response.parse(v["response"])).hex()
        assert v["key_id"] == offer.key_id.hex()

    @pytest.mark.parametrize("name", sorted(RUNS))
    def test_the_keys_are_published_ones(self, name: str) -> None:
        """The runs use RFC 7748 §6.1's X25519 key pairs, so their shared secret is the RFC's
        K, and RFC 8032 §7.1's Ed25519 keys, so their public keys are the RFC's."""
        assert (RFC_7748_K, RFC_8032_PUBLIC[name]) == (
            RUNS[name]["shared"],
            RUNS[name]["signing_public"],
        )

    def test_each_run_trusts_only_its_own_key(self) -> None:
        """A run's offer is answered with its own bank key pinned, and refused with the other
        run's."""
        first, second = RUNS["1"], RUNS["2"]
        offer = Offer.parse(first["offer"])
        for v, refused in ((first, False), (second, True)):
            outcome = parse_or_error(
                lambda key: respond(offer, "12345678", now=0, trusted_keys=[key]),
                bytes.fromhex(v["signing_public"]),
            )
            assert refused == isinstance(outcome, ActivationRefused)
