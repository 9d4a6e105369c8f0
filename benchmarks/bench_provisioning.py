"""Measure what activation costs an attacker offline, for docs/provisioning.md.

Run with ``make bench``. Each figure is the best of several timings on this machine, and the
searches are that cost times the size of the space searched:

1. softtoken's offline activation (scrypt ``OFFLINE_KDF``): whoever saw the activation code but
   not the registration code must try the 10^9 registration codes;
2. the Entrust-style derivation (PBKDF2-SHA256, 8 iterations) over its 2^16 device values;
3. the Entrust-style QR (PBKDF2-SHA256, 1000 iterations) over the 10^8 SMS passwords;
4. softtoken's QR activation, which has no offline search: the figure printed is the cost of
   the whole honest exchange, for comparison.

Nothing here is asserted; the unit tests prove the protocols, this prints their costs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import timeit
from collections.abc import Callable

from softtoken.provisioning import ActivationCode, RegistrationCode, Serial, offline, qr_activation
from softtoken.provisioning.entrust import derive_secret

YEAR = 365.25 * 24 * 3600
SERIAL = Serial.parse("93171-12184")


def best(func: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Seconds per call: the minimum over *repeat* runs of *number* calls."""
    return min(timeit.repeat(func, repeat=repeat, number=number)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")

    code = ActivationCode.generate()
    scrypt = best(lambda: offline.respond(SERIAL, code), 2 if args.quick else 5)
    print(f"offline activation, one scrypt derivation (N=2^18, r=8, p=1): {scrypt:.3f} s")
    print(
        f"  10^9 registration codes, with the activation code known: "
        f"{scrypt * 1e9 / YEAR:.1f} core-years"
    )

    registration = RegistrationCode.generate()
    entrust = best(lambda: derive_secret(SERIAL, code, registration), repeat, number=200)
    pbkdf2_8 = best(
        lambda: hashlib.pbkdf2_hmac("sha256", b"x" * 9, b"9317112184", 8, 16), repeat, 2000
    )
    print(f"Entrust-style derivation: {entrust * 1e6:.1f} us ({pbkdf2_8 * 1e6:.1f} us of PBKDF2)")
    print(f"  2^16 device values, with the activation code known: {entrust * 2**16:.2f} s")
    qr = best(lambda: hashlib.pbkdf2_hmac("sha256", b"12345678", b"s" * 8, 1000, 64), repeat, 50)
    print(f"Entrust-style QR key, PBKDF2 1000 iterations: {qr * 1e6:.0f} us")
    print(f"  10^8 SMS passwords, from a photo of the QR: {qr * 1e8 / 3600:.1f} core-hours")

    signing_key = qr_activation.generate_signing_key()
    pinned = [qr_activation.signing_public_key(signing_key)]

    def exchange() -> None:
        offer, password, pending = qr_activation.start(
            SERIAL, signing_key=signing_key, now=0, url="https://b.example"
        )
        request, state = qr_activation.respond(offer, password, now=0, trusted_keys=pinned)
        _, _, response, _ = qr_activation.accept(pending, request, now=0)
        assert response is not None
        qr_activation.finish(state, response)

    print(
        f"softtoken QR activation, the whole exchange: {best(exchange, repeat, 20) * 1e3:.2f} ms"
        " (no offline search exists: the secret needs a private key)"
    )


if __name__ == "__main__":
    main()
