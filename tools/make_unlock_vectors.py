"""Print rows for tests/vectors/unlock.txt, computed without softtoken's production code.

HMAC is softtoken._reference.hmac_digest (the pure-Python FIPS 180-4 / RFC 2104 transcription
the differential tests check against the standard library); HKDF (RFC 5869 §2.2-2.3) and the
OCRA data input (RFC 6287 §5.1) are written out here. Run: python tools/make_unlock_vectors.py
"""

from __future__ import annotations

from softtoken._reference import hmac_digest

LABEL = b"softtoken/unlock/v1\x00"
SUITE = "OCRA-1:HOTP-SHA256-{digits}:QN09"


def hkdf_sha256(ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869: extract with an all-zero salt of hash length, then expand."""
    prk = hmac_digest(b"\x00" * 32, ikm, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac_digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def ocra(key: bytes, reset_code: str, digits: int) -> str:
    """RFC 6287 §5.1-5.2 for a QN09 suite: suite, NUL, the question as hex, 128 bytes."""
    suite = SUITE.format(digits=digits).encode("ascii")
    question = bytes.fromhex(f"{int(reset_code):x}".ljust(256, "0"))
    mac = hmac_digest(key, suite + b"\x00" + question, "sha256")
    offset = mac[-1] & 0x0F
    word = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{word % 10**digits:0{digits}d}"


def row(tag: str, secret: bytes, serial: str, reset_code: str, digits: int) -> str:
    canonical = serial.replace("-", "")
    key = hkdf_sha256(secret, LABEL + canonical.encode("ascii"), 32)
    code = ocra(key, reset_code, digits)
    return f"{tag} {secret.hex()} {serial} {reset_code} {digits} {key.hex()} {code}"


def main() -> None:
    seed20 = b"12345678901234567890"
    seed64 = seed20 * 3 + b"1234"
    counting = bytes(range(16))
    for line in (
        row("UNLOCK", seed20, "55501-00001", "314159266", 6),
        row("UNLOCK", seed20, "5550100001", "314159266", 7),
        row("UNLOCK", seed64, "0000000000", "999999999", 10),
        row("UNLOCK", counting, "1234567897", "271828189", 9),
        row("UNLOCK", counting, "1234567806", "271828189", 9),
    ):
        print(line)


if __name__ == "__main__":
    main()
