"""The wallet blob's layout: a public header, then one AES-GCM body (SECURITY.md S13, S14).

Header (53 bytes, all of it the body's associated data)::

    magic b"STWALLET" (8) | format 4 (1) | device key id (8) | wallet id (16) |
    generation (8) | nonce (12)

The wallet id is random and fixed when the wallet is made; the generation grows by one at
every save. Both are public, and authenticated, so that a version guard can refuse an older
blob before anything inside it is trusted.

Body, after decryption (integers big-endian; a *blob* is prefixed by its 2-byte length, an
identity record by a 4-byte one): the default policy (blob), the identity count (2), then each
identity, then the count of QR activations in progress (1) and each one's state (blob,
``softtoken.provisioning.qr_activation.AppQRState.to_bytes``).

An identity is: serial, name (UTF-8 blobs), kind (1: 0 hotp, 1 totp), algorithm
(1: 0 sha1, 1 sha256, 2 sha512), digits (1), period (8), counter (8), policy (blob), lockout
state (blob, ``LockoutState.to_bytes``), unlock counter (blob, ``UnlockCounter.to_bytes``), keys
flag (1), and when the flag is 1: sealed secret, PIN verifier (blobs), history count (1) and
each verifier (blob), PIN-wrapped key (blob), escrow episode (8), escrow count (1), and per
escrow: reset code, salt, wrapped key (blobs).

A policy is: PIN min length, max length, history, deny-common flag (1 each), deny-list count (2)
and each entry (blob); lockout max failures, on-limit (0 lock, 1 wipe), delay count (1 each)
and each delay (4); unlock max tries, max reset codes, digits (1 each).

Decoding is strict and all or nothing: anything that does not follow the layout, or that the
value constructors refuse, raises :class:`~softtoken.exceptions.WalletCorrupt`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final, NamedTuple, TypeVar

import attrs

from softtoken._hmac import ALGORITHM_CODES
from softtoken.app.records import KINDS, Escrow, Identity, IdentityPolicy, Keys
from softtoken.app.sealing import KEY_ID_LENGTH, NONCE_LENGTH, TAG_LENGTH
from softtoken.exceptions import InvalidInput, WalletCorrupt
from softtoken.pinlock import LockoutPolicy, LockoutState, OnLimit, PINPolicy, PINVerifier
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.qr_activation import AppQRState
from softtoken.unlock import UnlockCounter, UnlockPolicy

__all__ = [
    "HEADER",
    "MAX_IDENTITIES",
    "MAX_SCANS",
    "WALLET_ID_LENGTH",
    "Body",
    "Header",
    "decode_body",
    "encode_body",
    "read_header",
]

MAGIC: Final = b"STWALLET"
# Format 3 stored each identity's policy, the unlock counter, and the wallet id and generation;
# format 4 adds the QR activations in progress. None was released before format 4.
FORMAT: Final = 4
WALLET_ID_LENGTH: Final = 16
HEADER: Final = struct.Struct(f">{len(MAGIC)}sB{KEY_ID_LENGTH}s{WALLET_ID_LENGTH}sQ{NONCE_LENGTH}s")
MAX_IDENTITIES: Final = 1000
# A pending scan holds a device key and an offer; a handful is all a user can have in flight,
# and the cap keeps a wallet from growing by scans that are never finished.
MAX_SCANS: Final = 8

# The stored codes of the on-limit choices (and of the hashes, _hmac.ALGORITHM_CODES): their
# positions are the format, so these lists only ever grow at the end.
_ON_LIMIT: Final = (OnLimit.LOCK, OnLimit.WIPE)


class _Malformed(Exception):
    """Internal: the decrypted body does not follow the layout."""


class _Writer:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def uint(self, value: int, size: int) -> None:
        self._parts.append(value.to_bytes(size, "big"))

    def blob(self, value: bytes, size: int = 2) -> None:
        self.uint(len(value), size)
        self._parts.append(value)

    def text(self, value: str) -> None:
        self.blob(value.encode("utf-8"))

    def value(self) -> bytes:
        return b"".join(self._parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise _Malformed
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def flag(self) -> bool:
        value = self.uint(1)
        if value > 1:
            raise _Malformed
        return bool(value)

    def blob(self, size: int = 2) -> bytes:
        return self.take(self.uint(size))

    def text(self) -> str:
        # Strict UTF-8; a decoding error is caught by decode_body like any other.
        return self.blob().decode("utf-8")

    def end(self) -> None:
        if self._pos != len(self._data):
            raise _Malformed


_T = TypeVar("_T")


def _many(data: _Reader, count_size: int, read: Callable[[], _T]) -> tuple[_T, ...]:
    return tuple(read() for _ in range(data.uint(count_size)))


# -------------------------------------------------------------------------------- policies


def _encode_policy(policy: IdentityPolicy) -> bytes:
    out = _Writer()
    pin, lockout, unlock = policy.pin, policy.lockout, policy.unlock
    for value in (pin.min_length, pin.max_length, pin.history, pin.deny_common):
        out.uint(value, 1)
    out.uint(len(pin.deny_list), 2)
    for entry in sorted(pin.deny_list):
        out.text(entry)
    out.uint(lockout.max_failures, 1)
    out.uint(_ON_LIMIT.index(lockout.on_limit), 1)
    out.uint(len(lockout.delays), 1)
    for delay in lockout.delays:
        out.uint(delay, 4)
    for value in (unlock.max_tries, unlock.max_reset_codes, unlock.digits):
        out.uint(value, 1)
    return out.value()


def _decode_policy(raw: bytes) -> IdentityPolicy:
    data = _Reader(raw)
    min_length, max_length, history = data.uint(1), data.uint(1), data.uint(1)
    deny_common = data.flag()
    deny_list = _many(data, 2, data.text)
    pin = PINPolicy(
        min_length=min_length,
        max_length=max_length,
        history=history,
        deny_common=deny_common,
        deny_list=deny_list,
    )
    max_failures, on_limit = data.uint(1), data.uint(1)
    if on_limit >= len(_ON_LIMIT):
        raise _Malformed
    delays = _many(data, 1, lambda: data.uint(4))
    lockout = LockoutPolicy(max_failures=max_failures, on_limit=_ON_LIMIT[on_limit], delays=delays)
    unlock = UnlockPolicy(max_tries=data.uint(1), max_reset_codes=data.uint(1), digits=data.uint(1))
    data.end()
    return IdentityPolicy(pin, lockout, unlock)


# -------------------------------------------------------------------------------- identities


def _encode_keys(keys: Keys, out: _Writer) -> None:
    out.blob(keys.secret_box)
    out.blob(keys.verifier.to_bytes())
    out.uint(len(keys.history), 1)
    for old in keys.history:
        out.blob(old.to_bytes())
    out.blob(keys.pin_wrap)
    out.uint(keys.escrow_episode, 8)
    out.uint(len(keys.escrows), 1)
    for escrow in keys.escrows:
        out.blob(escrow.reset_code.encode("ascii"))
        out.blob(escrow.salt)
        out.blob(escrow.wrapped)


def _decode_keys(data: _Reader) -> Keys:
    secret_box = data.blob()
    verifier = PINVerifier.from_bytes(data.blob())
    history = _many(data, 1, lambda: PINVerifier.from_bytes(data.blob()))
    pin_wrap = data.blob()
    episode = data.uint(8)
    escrows = _many(data, 1, lambda: Escrow(data.blob().decode("ascii"), data.blob(), data.blob()))
    return Keys(secret_box, verifier, history, pin_wrap, episode, escrows)


def _encode_identity(identity: Identity) -> bytes:
    out = _Writer()
    out.text(str(identity.serial))
    out.text(identity.name)
    out.uint(KINDS.index(identity.kind), 1)
    out.uint(ALGORITHM_CODES.index(identity.algorithm), 1)
    out.uint(identity.digits, 1)
    out.uint(identity.period, 8)
    out.uint(identity.counter, 8)
    out.blob(_encode_policy(identity.policy))
    out.blob(identity.lockout.to_bytes())
    out.blob(identity.unlock.to_bytes())
    out.uint(identity.keys is not None, 1)
    if identity.keys is not None:
        _encode_keys(identity.keys, out)
    return out.value()


def _decode_identity(raw: bytes) -> Identity:
    data = _Reader(raw)
    serial, name = data.text(), data.text()
    kind, algorithm = data.uint(1), data.uint(1)
    if kind >= len(KINDS) or algorithm >= len(ALGORITHM_CODES):
        raise _Malformed
    digits, period, counter = data.uint(1), data.uint(8), data.uint(8)
    policy = _decode_policy(data.blob())
    lockout = LockoutState.from_bytes(data.blob())
    unlock = UnlockCounter.from_bytes(data.blob())
    keys = _decode_keys(data) if data.flag() else None
    data.end()
    return Identity(
        serial=Serial(serial),
        name=name,
        kind=KINDS[kind],
        algorithm=ALGORITHM_CODES[algorithm],
        digits=digits,
        period=period,
        counter=counter,
        policy=policy,
        lockout=lockout,
        unlock=unlock,
        keys=keys,
    )


# -------------------------------------------------------------------------------- the wallet


class Body(NamedTuple):
    """What a wallet's sealed body holds."""

    policy: IdentityPolicy
    identities: tuple[Identity, ...]
    scans: tuple[AppQRState, ...]
    """QR activations answered and not yet finished (each holds its device key)."""


def encode_body(body: Body) -> bytes:
    """The plaintext body: the default policy for new identities, the identities, and the QR
    activations in progress."""
    out = _Writer()
    out.blob(_encode_policy(body.policy))
    out.uint(len(body.identities), 2)
    for identity in body.identities:
        out.blob(_encode_identity(identity), 4)
    out.uint(len(body.scans), 1)
    for scan in body.scans:
        out.blob(scan.to_bytes())
    return out.value()


def _decode_body(raw: bytes) -> Body:
    data = _Reader(raw)
    default = _decode_policy(data.blob())
    count = data.uint(2)
    if count > MAX_IDENTITIES:
        raise _Malformed
    identities = tuple(_decode_identity(data.blob(4)) for _ in range(count))
    scans = _many(data, 1, lambda: AppQRState.from_bytes(data.blob()))
    data.end()
    if len(scans) > MAX_SCANS:
        raise _Malformed
    if len({identity.serial for identity in identities}) != len(identities):
        raise _Malformed
    if len({scan.offer.serial for scan in scans}) != len(scans):
        raise _Malformed
    return Body(default, identities, scans)


def decode_body(body: bytes) -> Body:
    """Read what :func:`encode_body` wrote; raise WalletCorrupt for anything else."""
    try:
        decoded = _decode_body(body)
    except (_Malformed, InvalidInput, UnicodeDecodeError, struct.error):
        # The error is raised outside this block, so that none of the decoded data can be
        # found on its __context__.
        decoded = None
    if decoded is None:
        raise WalletCorrupt()
    return decoded


@attrs.frozen
class Header:
    """The public part of a blob: which device key sealed it, which wallet it is, how new."""

    raw: bytes = attrs.field(repr=False)
    key_id: bytes
    wallet_id: bytes
    generation: int
    nonce: bytes = attrs.field(repr=False)


def pack_header(key_id: bytes, wallet_id: bytes, generation: int, nonce: bytes) -> bytes:
    """The header bytes for a new blob."""
    return HEADER.pack(MAGIC, FORMAT, key_id, wallet_id, generation, nonce)


def read_header(data: bytes) -> Header:
    """The header of *data*.

    Raises:
        TypeError: *data* is not bytes.
        WalletCorrupt: *data* does not start with a wallet header of a known format.
    """
    if type(data) is not bytes:
        raise TypeError("data must be bytes")
    if len(data) < HEADER.size + TAG_LENGTH:
        raise WalletCorrupt("the data is too short to be a wallet")
    magic, fmt, key_id, wallet_id, generation, nonce = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WalletCorrupt("the data is not a softtoken wallet")
    if fmt != FORMAT:
        raise WalletCorrupt("the wallet format is not supported")
    return Header(data[: HEADER.size], key_id, wallet_id, generation, nonce)
