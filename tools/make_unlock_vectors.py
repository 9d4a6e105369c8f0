"""Print rows for tests/vectors/unlock.txt, computed without softtoken's production code.

HMAC and HKDF are softtoken._reference's (the pure-Python FIPS 180-4, RFC 2104 and RFC 5869
transcriptions that the differential tests check against the standard library and
cryptography); the OCRA data input (RFC 6287 §5.1) is written out here.

Run: python tools/make_unlock_vectors.py
"""

from __future__ import annotations

from softtoken._reference import hkdf_sha256, hmac_digest

LABEL = b"softtoken/unlock/v1\x00"
SUITE = "OCRA-1:HOTP-SHA256-{digits}:QN09"


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
    key = hkdf_sha256(secret, salt=b"", info=LABEL + canonical.encode("ascii"), length=32)
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
