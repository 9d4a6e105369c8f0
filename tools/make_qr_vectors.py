"""Print tests/vectors/qr-activation.txt, computed without softtoken's production code.

Ed25519 (RFC 8032) and X25519 (RFC 7748) are cryptography's, called directly; HKDF (RFC 5869)
is softtoken._reference's pure-Python transcription, which shares no code with the production
path; HMAC (RFC 2104) is the standard library's; the offer, request and response texts are
written with base64 and urllib.parse. The key pairs are published ones: RFC 8032 §7.1
TEST 1 and TEST 2 for the bank's signing keys, RFC 7748 §6.1 Alice and Bob for X25519. The
randomness the runs pin is listed with them, in the order softtoken draws it.

Run: python tools/make_qr_vectors.py > tests/vectors/qr-activation.txt
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from softtoken._reference import hkdf_sha256

HEADER = """\
# QR activation (softtoken.provisioning.qr_activation), protocol version 2: two fixed runs.
#
# Source: softtoken's own format; nothing is published for it. Written by
# tools/make_qr_vectors.py, which uses none of softtoken's production code: Ed25519
# (RFC 8032) and X25519 (RFC 7748) by cryptography directly, HKDF-SHA256 (RFC 5869) by the
# pure-Python transcription in softtoken._reference, HMAC-SHA256 (RFC 2104) with hmac, the
# texts with base64 and urllib.parse. tests/test_qr_messages.py checks
# that the generator still prints this file exactly, and that softtoken, given the same inputs,
# writes the same offer, request, response and secret.
#
# Keys. The bank's Ed25519 signing keys are RFC 8032 section 7.1's TEST 1 (run 1) and TEST 2
# (run 2) secret keys, so that signing_public is the RFC's published public key. The X25519 key
# pairs are Alice's and Bob's from RFC 7748 section 6.1, swapped between the runs, so that
# `shared` is the RFC's published shared secret K in both.
#
# Randomness. The tests replace softtoken._random._source with the bytes below, in order:
# issuer_private, activation_id, password_bytes (start), then app_private (respond). Signing
# draws nothing (Ed25519 is deterministic, RFC 8032 section 5.1.6). The password digits come from
# password_bytes as softtoken._random.random_digits takes them: each byte below 250, mod 10, the
# first 8; run 2 starts with two bytes at or above 250, which are dropped, and draws 8 more.
#
# Inputs: signing_key (the 32-byte Ed25519 seed), issuer_private, activation_id,
# password_bytes, app_private (hex); serial (10 digits); params (hex of TokenParams.to_bytes:
# format, kind, algorithm, digits, period); now, ttl (seconds); attempts; url.
# Outputs: password; signing_public and key_id (the first 8 bytes of its SHA-256), hex; the
# X25519 public keys and shared (hex); the offer, whose kid is key_id and whose sig is the
# Ed25519 signature over its text before "&sig="; the request and response texts; and the
# secret (hex; 20 bytes for SHA-1 in run 1, 64 for SHA-512 in run 2).
#
# run field           value"""

# RFC 8032 §7.1, TEST 1 and TEST 2: secret keys, and the public keys the RFC publishes.
RFC_8032 = {
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60": (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    ),
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb": (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
    ),
}
# RFC 7748 §6.1: Alice's and Bob's private keys.
ALICE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
BOB = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
SECRET_LENGTHS = {0: 20, 1: 32, 2: 64}

RUNS = [
    {
        "signing_key": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "issuer_private": ALICE,
        "activation_id": "000102030405060708090a0b0c0d0e0f",
        "password_bytes": "0301040105090206",
        "app_private": BOB,
        "serial": "1234567897",
        "params": "010100060000001e",
        "now": "1700000000",
        "ttl": "900",
        "attempts": "5",
        "url": "https://bank.example/activate",
    },
    {
        "signing_key": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "issuer_private": BOB,
        "activation_id": "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
        "password_bytes": "faff0207010802080108284590452353",
        "app_private": ALICE,
        "serial": "0000000018",
        "params": "010102080000003c",
        "now": "4102444800",
        "ttl": "259200",
        "attempts": "3",
        "url": "https://bank.example:8443/qr/activate?lang=es&ref=a%2Fb~c",
    },
]


def b64(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def x25519_public(private_key: bytes) -> bytes:
    """The X25519 public key of *private_key* (RFC 7748 §6.1)."""
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def outputs(v: dict[str, str]) -> dict[str, str]:
    """Every output of the run *v*, from its inputs."""
    seed = bytes.fromhex(v["signing_key"])
    signer = Ed25519PrivateKey.from_private_bytes(seed)
    signing_public = signer.public_key().public_bytes_raw()
    assert RFC_8032[v["signing_key"]] == signing_public.hex()
    key_id = hashlib.sha256(signing_public).digest()[:8]
    issuer_private = bytes.fromhex(v["issuer_private"])
    app_private = bytes.fromhex(v["app_private"])
    activation_id, params = bytes.fromhex(v["activation_id"]), bytes.fromhex(v["params"])
    password = "".join(str(b % 10) for b in bytes.fromhex(v["password_bytes"]) if b < 250)[:8]
    issuer_public, app_public = x25519_public(issuer_private), x25519_public(app_private)
    shared = X25519PrivateKey.from_private_bytes(app_private).exchange(
        X25519PublicKey.from_public_bytes(issuer_public)
    )
    signed = (
        f"softtoken://activate?v=2&sn={v['serial']}&id={b64(activation_id)}"
        f"&pk={b64(issuer_public)}&tp={b64(params)}&exp={int(v['now']) + int(v['ttl'])}"
        f"&url={urllib.parse.quote(v['url'], safe='')}&kid={b64(key_id)}"
    )
    offer = f"{signed}&sig={b64(signer.sign(signed.encode('ascii')))}"
    text = offer.encode("ascii")
    transcript = (
        b"softtoken/qr/transcript/v1\x00\x02" + len(text).to_bytes(2, "big") + text + app_public
    )
    salt = hashlib.sha256(transcript).digest()

    def key(label: bytes, length: int = 32) -> bytes:
        return hkdf_sha256(shared, salt=salt, info=label, length=length)

    verifier = hkdf_sha256(
        password.encode("ascii"), salt=activation_id, info=b"softtoken/qr/password/v1", length=32
    )
    proof = hmac.new(key(b"softtoken/qr/proof-key/v1"), verifier + transcript, "sha256")
    confirmation = hmac.new(key(b"softtoken/qr/confirm-key/v1"), transcript + b"issuer", "sha256")
    return {
        "password": password,
        "signing_public": signing_public.hex(),
        "key_id": key_id.hex(),
        "issuer_public": issuer_public.hex(),
        "app_public": app_public.hex(),
        "shared": shared.hex(),
        "offer": offer,
        "request": b64(b"\x02" + activation_id + app_public + proof.digest()),
        "response": b64(b"\x02" + confirmation.digest()),
        "secret": key(b"softtoken/qr/secret/v1", SECRET_LENGTHS[params[2]]).hex(),
    }


def main() -> None:
    print(HEADER)
    for number, run in enumerate(RUNS, start=1):
        if number > 1:
            print()
        for field, value in {**run, **outputs(run)}.items():
            print(f"{number} {field:<15} {value}")


if __name__ == "__main__":
    main()
