"""The app side: a wallet of identities, each behind its own PIN, in one sealed blob.

It covers SECURITY.md S10, S11 and S14 for the app. A :class:`Wallet` is what a phone
authenticator such as Entrust Identity or BI PaySecure keeps: several identities (one per bank
account or token serial), each with

- a canonical serial (:func:`softtoken.unlock.canonical_serial`) and an editable display name;
- its OTP parameters (HOTP or TOTP, digits, algorithm, period, and the next HOTP counter);
- its secret, encrypted;
- its own PIN verifier and PIN history, and its own lockout state (:mod:`softtoken.pinlock`);
- its unlock escrows (below).

Design decisions, and why:

1. **The PIN belongs to each identity.** Entrust locks one identity, and PaySecure's wipe erases
   one identity and leaves the others intact, so the lockout state and the PIN are per identity.
   The PIN and lockout policies (a :class:`~softtoken.pinlock.PINProfile`, such as
   ``ENTRUST_LIKE`` or ``PAYSECURE_LIKE``) and the :class:`~softtoken.unlock.UnlockPolicy` are the
   app's configuration: they are given to :meth:`Wallet.create` and :meth:`Wallet.from_bytes`, and
   are not stored in the blob.

2. **Secrets at rest** (S14). Each identity's secret is encrypted with AES-GCM under its own
   32-byte data key (DEK). The DEK is wrapped with AES-GCM under a key-encryption key derived from
   the PIN and the device key::

       KEK_pin = HKDF-SHA256(ikm=device_key, salt=scrypt(PIN, pin_salt),
                             info=b"softtoken/app/pin-kek/v1\\x00" + serial)

   scrypt runs with the identity's PIN verifier parameters (``PINProfile.kdf``). The device key is
   32 bytes that the caller keeps outside the blob, in a hardware keystore on a phone; the wallet
   never writes it anywhere.

3. **Unlock without the PIN** (S11). A locked identity must be recoverable although its PIN is
   forgotten, and the app cannot keep the secret in the clear for that. So whenever the app holds
   the secret (at add time, after a correct PIN when escrows are missing, right after an unlock),
   it prepares K = ``UnlockPolicy.max_reset_codes`` reset codes R for the *next* lock episode
   (9 digits ending in a Damm check digit, made by :func:`softtoken.unlock.issue_reset`), computes
   for each the unlock code U = :func:`softtoken.unlock.compute_unlock_code` (secret, serial, R),
   exactly what the bank will compute, and stores an *escrow*: the DEK wrapped under::

       KEK_R = HKDF-SHA256(ikm=device_key, salt=scrypt(U, escrow_salt),
                           info=b"softtoken/app/unlock-kek/v1\\x00" + serial + R)

   with the lock episode in the associated data. It stores R, never U. When locked, the app shows
   the first unused R (:meth:`Wallet.reset_code`). The code the user types is tried by unwrapping
   that escrow: AES-GCM authentication is the comparison, constant-time by construction. A wrong
   code counts a try in the returned wallet, which the caller persists before telling the user
   (and the try is already at stake before the code is tried: decision 7).
   After ``max_tries`` wrong codes the reset code is deleted and the next one is shown; after the
   last one the identity is wiped. A reset code that unlocked is deleted at once, so it works once.

   Why this does not weaken the blob: an attacker holding the blob *and* the device key can try
   PINs offline against the PIN-wrapped DEK, 10**4 guesses for a 4-digit PIN. Each escrow needs
   the 8-digit unlock code, 10**8 guesses at the same scrypt cost. The escrows therefore never
   lower the bound the PIN already sets, and confidentiality at rest rests on the device key.

4. **Unlock and the new PIN are one step.** :meth:`Wallet.unlock` takes the unlock code and the
   new PIN together. The new PIN is checked against the PIN policy and the PIN history first; a
   refused PIN raises :class:`~softtoken.exceptions.PINRejected` and counts no try: the open
   attempt (decision 7) stays open, and the same attempt may go on with another new PIN. Only
   then is the code tried, and on success the DEK is wrapped under the new PIN and fresh
   escrows are made for the next episode, in the same transition. So the DEK never waits in a
   stored state with no PIN on it, and a crash between "unlocked" and "new PIN chosen" cannot
   strand an identity. An app may call :meth:`Wallet.check_new_pin` to validate the PIN as the
   user types it, and should before :meth:`Wallet.begin_attempt` if it may stop at a refusal.

5. **One authenticated blob.** :meth:`Wallet.to_bytes` writes::

       magic b"STWALLET" | format 2 (1 byte) | key id (8 bytes) | nonce (12 bytes) | AES-GCM body

   The body is encrypted under HKDF-SHA256(device_key, info=b"softtoken/app/wallet/v1") with the
   29 header bytes as associated data. The key id is HKDF-SHA256(device_key,
   info=b"softtoken/app/key-id/v1"), 8 bytes, so that an app can tell which device key sealed a
   blob (:func:`blob_key_id`). Inside, a strict length-prefixed binary layout holds the
   identities (see ``_encode_identity``). :meth:`Wallet.from_bytes` raises
   :class:`~softtoken.exceptions.WalletCorrupt` for anything tampered, truncated, of another
   format or sealed under another key, and never returns partial data. :meth:`Wallet.save` writes
   a temporary file in the same directory, fsyncs it and renames it over the old one, so a crash
   or an error leaves the previous file whole. Format 2 records open attempts (decision 7);
   format 1, which did not, was never released and is refused.

6. **Pure transitions.** A :class:`Wallet` is a frozen value. Every operation that changes state
   returns a new wallet (and an outcome); persist it before showing the user anything. Time is
   always the ``now`` parameter (int Unix seconds or an aware datetime); nothing reads a clock,
   and all randomness comes from :mod:`softtoken._random`.

7. **An attempt is stored before its secret is checked** (S7, S10, S11), as a smart card
   decrements its retry counter before it verifies. Checking a PIN or an unlock code takes
   three steps: :meth:`Wallet.begin_attempt` returns a wallet with an attempt open for the
   identity, which the caller persists; then :meth:`Wallet.show_code` or :meth:`Wallet.unlock`
   checks the secret and closes the attempt, and the caller persists that wallet before telling
   the user. If the app is killed between the two saves, the stored wallet still holds the open
   attempt, and the next :meth:`Wallet.begin_attempt` counts it as a wrong PIN (which may lock
   or wipe) or a wrong unlock code (one try of the current reset code, which may move to the
   next reset code or wipe). Racing the save therefore never gives a free guess, and the bounds
   of 5 PINs and 3 tries x 3 reset codes hold. ``show_code`` and ``unlock`` raise
   :class:`~softtoken.exceptions.AttemptNotOpen` when no attempt of their kind is open (a PIN
   attempt while ACTIVE, an unlock attempt while LOCKED); ``show_code`` still reports a locked,
   wiped or waiting identity without one, since it evaluates nothing then.
   :meth:`Wallet.check_new_pin` evaluates no secret and needs no attempt. Restoring an older
   blob (a rollback by someone holding the file) is outside what the blob can prevent.

No secret (key, DEK, device key, PIN, code, reset code) ever appears in a ``repr``, a ``str`` or
an exception message.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import tempfile
from hmac import compare_digest
from pathlib import Path
from typing import Final, Literal

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from softtoken import _random
from softtoken._encoding import parse_code
from softtoken._time import to_unix
from softtoken.exceptions import (
    AttemptNotOpen,
    DuplicateIdentity,
    InvalidInput,
    InvalidKey,
    PINNotAccepted,
    UnknownIdentity,
    WalletCorrupt,
    WrongIdentityState,
)
from softtoken.hotp import ALGORITHMS, HOTP, TOTP
from softtoken.pinlock import (
    ENTRUST_LIKE,
    Event,
    KDFParams,
    LockoutState,
    Outcome,
    PINProfile,
    PINVerifier,
    Status,
    enter_pin,
    remaining_tries,
    step,
)
from softtoken.provisioning import KeyURI
from softtoken.unlock import (
    RESET_CODE_LENGTH,
    UnlockOutcome,
    UnlockPolicy,
    canonical_serial,
    compute_unlock_code,
    issue_reset,
)

__all__ = [
    "DEVICE_KEY_LENGTH",
    "MAX_IDENTITIES",
    "MAX_NAME_LENGTH",
    "CodeResult",
    "IdentityInfo",
    "Wallet",
    "blob_key_id",
    "device_key_id",
]

DEVICE_KEY_LENGTH: Final = 32
MAX_NAME_LENGTH: Final = 64
MAX_IDENTITIES: Final = 1000

_MAGIC: Final = b"STWALLET"
# Format 2 added the open unlock attempt to each identity and the open PIN attempt to the
# lockout state. Format 1 was never released.
_FORMAT: Final = 2
_KEY_ID_LENGTH: Final = 8
# SP 800-38D §8.2.2: random 96-bit nonces; each key here seals far fewer than 2**32 messages.
_NONCE_LENGTH: Final = 12
_TAG_LENGTH: Final = 16
_HEADER: Final = struct.Struct(f">{len(_MAGIC)}sB{_KEY_ID_LENGTH}s{_NONCE_LENGTH}s")
_DEK_LENGTH: Final = 32
_MAX_COUNTER: Final = 2**64 - 1

_WALLET_INFO: Final = b"softtoken/app/wallet/v1"
_KEY_ID_INFO: Final = b"softtoken/app/key-id/v1"
_PIN_KEK_INFO: Final = b"softtoken/app/pin-kek/v1\x00"
_UNLOCK_KEK_INFO: Final = b"softtoken/app/unlock-kek/v1\x00"
_SECRET_AAD: Final = b"softtoken/app/secret/v1\x00"
_PIN_WRAP_AAD: Final = b"softtoken/app/pin-wrap/v1\x00"
_ESCROW_AAD: Final = b"softtoken/app/escrow/v1\x00"

_KINDS: Final[tuple[Literal["hotp", "totp"], ...]] = ("hotp", "totp")
_ALGORITHM_ORDER: Final = ("sha1", "sha256", "sha512")
_STATUS_ORDER: Final = (Status.ACTIVE, Status.LOCKED, Status.WIPED)

_CORRUPT: Final = "the wallet is damaged or truncated"
_DEFAULT_UNLOCK_POLICY: Final = UnlockPolicy()


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _check_device_key(device_key: bytes) -> None:
    if type(device_key) is not bytes:
        raise TypeError("device_key must be bytes")
    if len(device_key) != DEVICE_KEY_LENGTH:
        raise InvalidKey("device_key must be 32 bytes")


def _hkdf(ikm: bytes, *, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    # RFC 5869: the device key is the input keying material; the slow PIN or code hash is the
    # salt, which RFC 5869 §3.1 allows to be secret; info binds the purpose and the serial.
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def _scrypt(text: str, salt: bytes, params: KDFParams) -> bytes:
    kdf = Scrypt(salt=salt, length=params.hash_length, n=1 << params.log2_n, r=params.r, p=params.p)
    return kdf.derive(text.encode("ascii"))


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = _random.random_bytes(_NONCE_LENGTH)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    """The plaintext, or None when authentication fails (a wrong key or damaged data)."""
    if len(sealed) < _NONCE_LENGTH + _TAG_LENGTH:
        return None
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_LENGTH], sealed[_NONCE_LENGTH:], aad)
    except InvalidTag:
        return None


def device_key_id(device_key: bytes) -> bytes:
    """Return the 8-byte key id that :meth:`Wallet.to_bytes` writes for *device_key*.

    It is a one-way function of the key, safe to log.

    Raises:
        TypeError: *device_key* is not bytes. InvalidKey: it is not 32 bytes.
    """
    _check_device_key(device_key)
    return _hkdf(device_key, salt=None, info=_KEY_ID_INFO, length=_KEY_ID_LENGTH)


def blob_key_id(data: bytes) -> bytes:
    """Return the key id in the header of a wallet blob, without decrypting it.

    Raises:
        TypeError: *data* is not bytes.
        WalletCorrupt: *data* does not start with a wallet header of a known format.
    """
    return _read_header(data)[1]


def _read_header(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The header bytes, key id and nonce of *data*; raises WalletCorrupt."""
    if type(data) is not bytes:
        raise TypeError("data must be bytes")
    if len(data) < _HEADER.size + _TAG_LENGTH:
        raise WalletCorrupt("the data is too short to be a wallet")
    magic, fmt, key_id, nonce = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise WalletCorrupt("the data is not a softtoken wallet")
    if fmt != _FORMAT:
        raise WalletCorrupt("the wallet format is not supported")
    return data[: _HEADER.size], key_id, nonce


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if type(name) is not str:
        raise TypeError("name must be str")
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidInput("a display name must have 1 to 64 characters")
    # isprintable() refuses control, format (bidirectional overrides), surrogate and separator
    # characters other than the plain space.
    if not name.isprintable() or name != name.strip():
        raise InvalidInput("a display name must be printable, without surrounding spaces")


@attrs.frozen
class _Escrow:
    """One reset code and the DEK wrapped under its unlock code."""

    reset_code: str = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest))
    tries: int
    salt: bytes = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest))
    wrapped: bytes = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest))

    def __attrs_post_init__(self) -> None:
        code = self.reset_code
        if not (len(code) == RESET_CODE_LENGTH and code.isascii() and code.isdigit()):
            raise InvalidInput("a reset code must be 9 ASCII digits")
        if not 0 <= self.tries <= 255:
            raise InvalidInput("escrow tries out of range")


@attrs.frozen
class _Keys:
    """What a wipe erases: the encrypted secret, the PIN-wrapped DEK and the escrows."""

    secret_box: bytes = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest))
    pin_salt: bytes = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest))
    pin_wrap: bytes = attrs.field(repr=False, eq=attrs.cmp_using(eq=compare_digest))
    escrow_episode: int
    escrows: tuple[_Escrow, ...] = attrs.field(repr=False)


@attrs.frozen
class _Identity:
    serial: str
    name: str
    kind: Literal["hotp", "totp"]
    algorithm: str
    digits: int
    period: int
    counter: int
    verifier: PINVerifier = attrs.field(repr=False)
    history: tuple[PINVerifier, ...] = attrs.field(repr=False)
    lockout: LockoutState
    keys: _Keys | None = attrs.field(repr=False)
    # An unlock code attempt was begun and not finished; only while LOCKED. The open PIN
    # attempt lives in the lockout state, and only while ACTIVE, so the two never meet.
    unlock_attempt: bool = False

    def __attrs_post_init__(self) -> None:
        if canonical_serial(self.serial) != self.serial:
            raise InvalidInput("serial must be canonical")
        _check_name(self.name)
        if self.kind not in _KINDS or self.algorithm not in ALGORITHMS:
            raise InvalidInput("unknown token kind or algorithm")
        if not 6 <= self.digits <= 10 or self.period < 1 or not 0 <= self.counter <= _MAX_COUNTER:
            raise InvalidInput("OTP parameters out of range")
        wiped = self.lockout.status is Status.WIPED
        if wiped != (self.keys is None):
            raise InvalidInput("a wiped identity, and only that, has no keys")
        if self.unlock_attempt and self.lockout.status is not Status.LOCKED:
            raise InvalidInput("only a locked identity has an open unlock attempt")
        if self.keys is not None:
            expected = self.lockout.episode + (self.lockout.status is Status.ACTIVE)
            if self.keys.escrow_episode != expected or not self.keys.escrows:
                raise InvalidInput("the escrows do not match the lock episode")


@attrs.frozen
class IdentityInfo:
    """What :meth:`Wallet.identities` lists for one identity: never a secret.

    Attributes:
        serial: the canonical serial. name: the display name.
        kind: ``"hotp"`` or ``"totp"``. digits: the code length.
        status: ACTIVE, LOCKED or WIPED (:class:`softtoken.pinlock.Status`).
        remaining_tries: wrong PINs left before the profile's limit; 0 unless ACTIVE.
        attempt_open: an attempt begun by :meth:`Wallet.begin_attempt` is open: a PIN attempt
            while ACTIVE, an unlock code attempt while LOCKED. If the app did not just open it,
            it was interrupted, and the next ``begin_attempt`` counts it as a wrong try.
    """

    serial: str
    name: str
    kind: Literal["hotp", "totp"]
    digits: int
    status: Status
    remaining_tries: int
    attempt_open: bool = False


@attrs.frozen
class CodeResult:
    """The outcome of :meth:`Wallet.show_code`.

    Attributes:
        outcome: the :class:`softtoken.pinlock.Outcome` of the PIN entry. Only ``ACCEPTED``
            carries a code; ``LOCKED_NOW`` and ``STILL_LOCKED`` mean a reset code is to be
            shown; ``WIPED_NOW`` and ``WIPED`` mean the identity is gone.
        code: the one-time code, or ``None``. Hidden from ``repr``.
        remaining_tries: wrong PINs left before the limit; 0 unless the identity is ACTIVE.
    """

    outcome: Outcome
    code: str | None = attrs.field(repr=False)
    remaining_tries: int

    @property
    def accepted(self) -> bool:
        """True only when the PIN was right and :attr:`code` holds the code."""
        return self.outcome is Outcome.ACCEPTED


# --------------------------------------------------------------------------------------------
# Binary layout (inside the authenticated encryption)
# --------------------------------------------------------------------------------------------


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

    def blob(self, size: int = 2) -> bytes:
        return self.take(self.uint(size))

    def text(self) -> str:
        return self.blob().decode("utf-8")

    def end(self) -> None:
        if self._pos != len(self._data):
            raise _Malformed


def _encode_identity(identity: _Identity, out: _Writer) -> None:
    """Layout of one identity (all integers big-endian, blobs prefixed by a 2-byte length):

    serial (text), name (text), kind (1: 0 hotp, 1 totp), algorithm (1: 0 sha1, 1 sha256,
    2 sha512), digits (1), period (8), counter (8), PIN verifier (blob), history count (1) and
    each verifier (blob), lockout state (blob, 27 bytes: ``LockoutState.to_bytes``), unlock
    attempt open (1: 0 or 1), keys flag (1), then when the flag is 1: secret
    box, PIN salt, PIN wrap (blobs), escrow episode (8), escrow count (1), and per escrow: reset
    code (blob), tries (1), salt (blob), wrapped DEK (blob).
    """
    out.text(identity.serial)
    out.text(identity.name)
    out.uint(_KINDS.index(identity.kind), 1)
    out.uint(_ALGORITHM_ORDER.index(identity.algorithm), 1)
    out.uint(identity.digits, 1)
    out.uint(identity.period, 8)
    out.uint(identity.counter, 8)
    out.blob(identity.verifier.to_bytes())
    out.uint(len(identity.history), 1)
    for old in identity.history:
        out.blob(old.to_bytes())
    out.blob(identity.lockout.to_bytes())
    out.uint(identity.unlock_attempt, 1)
    keys = identity.keys
    out.uint(keys is not None, 1)
    if keys is not None:
        out.blob(keys.secret_box)
        out.blob(keys.pin_salt)
        out.blob(keys.pin_wrap)
        out.uint(keys.escrow_episode, 8)
        out.uint(len(keys.escrows), 1)
        for escrow in keys.escrows:
            out.blob(escrow.reset_code.encode("ascii"))
            out.uint(escrow.tries, 1)
            out.blob(escrow.salt)
            out.blob(escrow.wrapped)


def _decode_identity(data: _Reader) -> _Identity:
    serial = data.text()
    name = data.text()
    kind_code, algorithm_code = data.uint(1), data.uint(1)
    if kind_code >= len(_KINDS) or algorithm_code >= len(_ALGORITHM_ORDER):
        raise _Malformed
    digits, period, counter = data.uint(1), data.uint(8), data.uint(8)
    verifier = PINVerifier.from_bytes(data.blob())
    history = tuple(PINVerifier.from_bytes(data.blob()) for _ in range(data.uint(1)))
    lockout = LockoutState.from_bytes(data.blob())
    unlock_attempt = data.uint(1)
    if unlock_attempt > 1:
        raise _Malformed
    flag = data.uint(1)
    keys = None
    if flag == 1:
        secret_box, pin_salt, pin_wrap = data.blob(), data.blob(), data.blob()
        episode = data.uint(8)
        escrows = tuple(
            _Escrow(
                reset_code=data.blob().decode("ascii"),
                tries=data.uint(1),
                salt=data.blob(),
                wrapped=data.blob(),
            )
            for _ in range(data.uint(1))
        )
        keys = _Keys(secret_box, pin_salt, pin_wrap, episode, escrows)
    elif flag != 0:
        raise _Malformed
    return _Identity(
        serial=serial,
        name=name,
        kind=_KINDS[kind_code],
        algorithm=_ALGORITHM_ORDER[algorithm_code],
        digits=digits,
        period=period,
        counter=counter,
        verifier=verifier,
        history=history,
        lockout=lockout,
        keys=keys,
        unlock_attempt=bool(unlock_attempt),
    )


# --------------------------------------------------------------------------------------------
# The wallet
# --------------------------------------------------------------------------------------------


def _check_profile(_: object, __: object, value: PINProfile) -> None:
    if not isinstance(value, PINProfile):
        raise TypeError("profile must be PINProfile")


def _check_unlock_policy(_: object, __: object, value: UnlockPolicy) -> None:
    if not isinstance(value, UnlockPolicy):
        raise TypeError("unlock_policy must be UnlockPolicy")


def _check_device_key_field(_: object, __: object, value: bytes) -> None:
    _check_device_key(value)


@attrs.frozen
class Wallet:
    """The app's identities, each behind its own PIN. A frozen value: see the module docstring.

    Build one with :meth:`create` or :meth:`from_bytes` (or :meth:`load`). The ``repr`` shows
    the identities' serials, names and states, never a key, a PIN or a reset code.

    Attributes:
        device_key: the 32-byte key from the device keystore. Never stored, never shown.
        profile: the PIN and lockout policies and the KDF parameters for new PINs.
        unlock_policy: tries per reset code, reset codes per lock, unlock code length.
    """

    device_key: bytes = attrs.field(
        repr=False,
        eq=attrs.cmp_using(eq=compare_digest),
        validator=_check_device_key_field,
    )
    profile: PINProfile = attrs.field(default=ENTRUST_LIKE, kw_only=True, validator=_check_profile)
    unlock_policy: UnlockPolicy = attrs.field(
        default=_DEFAULT_UNLOCK_POLICY, kw_only=True, validator=_check_unlock_policy
    )
    _identities: tuple[_Identity, ...] = attrs.field(default=(), kw_only=True, alias="identities")

    # ---------------------------------------------------------------- construction and storage

    @classmethod
    def create(
        cls,
        *,
        device_key: bytes,
        profile: PINProfile = ENTRUST_LIKE,
        unlock_policy: UnlockPolicy = _DEFAULT_UNLOCK_POLICY,
    ) -> Wallet:
        """Return an empty wallet.

        Raises:
            TypeError: an argument has the wrong type. InvalidKey: the device key is not 32 bytes.
        """
        return cls(device_key, profile=profile, unlock_policy=unlock_policy)

    def to_bytes(self) -> bytes:
        """Return the whole wallet as one sealed blob (layout in the module docstring).

        The blob holds no secret in the clear: secrets are sealed twice (under their DEK, then
        under the wallet key), and the device key is not in it.
        """
        body = _Writer()
        body.uint(len(self._identities), 2)
        for identity in self._identities:
            record = _Writer()
            _encode_identity(identity, record)
            body.blob(record.value(), 4)
        nonce = _random.random_bytes(_NONCE_LENGTH)
        header = _HEADER.pack(_MAGIC, _FORMAT, device_key_id(self.device_key), nonce)
        key = _hkdf(self.device_key, salt=None, info=_WALLET_INFO)
        return header + AESGCM(key).encrypt(nonce, body.value(), header)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        device_key: bytes,
        profile: PINProfile = ENTRUST_LIKE,
        unlock_policy: UnlockPolicy = _DEFAULT_UNLOCK_POLICY,
    ) -> Wallet:
        """Open a blob written by :meth:`to_bytes`, strictly and all or nothing.

        Raises:
            TypeError: *data* or *device_key* is not bytes.
            InvalidKey: *device_key* is not 32 bytes.
            WalletCorrupt: the blob is not a wallet, of an unknown format, sealed under another
                device key, truncated, tampered with, or inconsistent inside. No partial wallet
                is ever returned, and the message never includes the data.
        """
        _check_device_key(device_key)
        header, key_id, nonce = _read_header(data)
        if not compare_digest(key_id, device_key_id(device_key)):
            raise WalletCorrupt("the wallet was sealed under another device key")
        key = _hkdf(device_key, salt=None, info=_WALLET_INFO)
        body = _open(key, nonce + data[_HEADER.size :], header)
        if body is None:
            raise WalletCorrupt("the wallet failed authentication: it was damaged or altered")
        try:
            reader = _Reader(body)
            count = reader.uint(2)
            if count > MAX_IDENTITIES:
                raise _Malformed
            identities = []
            for _ in range(count):
                record = _Reader(reader.blob(4))
                identities.append(_decode_identity(record))
                record.end()
            reader.end()
            if len({identity.serial for identity in identities}) != len(identities):
                raise _Malformed
        except (_Malformed, InvalidInput, UnicodeDecodeError):
            raise WalletCorrupt(_CORRUPT) from None
        return cls(
            device_key, profile=profile, unlock_policy=unlock_policy, identities=tuple(identities)
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_bytes` to *path* atomically.

        The blob goes to a new temporary file in the same directory, which is flushed, fsynced
        and then renamed over *path* with :func:`os.replace`. A crash leaves either the old
        file or the new one, never half of one; on any error the temporary file is removed,
        the old file is untouched, and the error propagates.
        """
        target = Path(path)
        blob = self.to_bytes()
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        device_key: bytes,
        profile: PINProfile = ENTRUST_LIKE,
        unlock_policy: UnlockPolicy = _DEFAULT_UNLOCK_POLICY,
    ) -> Wallet:
        """Read *path* and open it with :meth:`from_bytes` (which see for the errors)."""
        data = Path(path).read_bytes()
        return cls.from_bytes(
            data, device_key=device_key, profile=profile, unlock_policy=unlock_policy
        )

    # ---------------------------------------------------------------- listing and editing

    def identities(self) -> tuple[IdentityInfo, ...]:
        """List every identity, in the order added: serial, name, kind, status. No secrets."""
        lockout = self.profile.lockout
        return tuple(
            IdentityInfo(
                serial=identity.serial,
                name=identity.name,
                kind=identity.kind,
                digits=identity.digits,
                status=identity.lockout.status,
                remaining_tries=remaining_tries(lockout, identity.lockout),
                attempt_open=identity.lockout.attempt_open or identity.unlock_attempt,
            )
            for identity in self._identities
        )

    def add_key(
        self,
        serial: str,
        key: bytes,
        *,
        name: str,
        pin: str,
        kind: Literal["hotp", "totp"] = "totp",
        algorithm: str = "sha1",
        digits: int = 6,
        period: int = 30,
        counter: int = 0,
    ) -> Wallet:
        """Return the wallet with a new identity holding the raw *key*, behind *pin*.

        Raises:
            TypeError: an argument has the wrong type.
            InvalidKey: the key is shorter than 16 bytes.
            InvalidInput: the serial, the name or an OTP parameter is refused.
            DuplicateIdentity: an identity already has this serial.
            PINRejected: *pin* breaks the profile's PIN policy (with the reasons).
        """
        canonical = canonical_serial(serial)
        _check_name(name)
        if kind not in _KINDS:
            raise InvalidInput("kind must be hotp or totp")
        # Building the token checks the key, digits, algorithm and period with the token's rules.
        token = (
            HOTP(key, digits=digits, algorithm=algorithm)
            if kind == "hotp"
            else TOTP(key, digits=digits, algorithm=algorithm, period=period)
        )
        if type(counter) is not int or not 0 <= counter <= _MAX_COUNTER:
            raise InvalidInput("counter must fit in 8 unsigned bytes")
        if any(identity.serial == canonical for identity in self._identities):
            raise DuplicateIdentity("an identity with this serial already exists")
        if len(self._identities) >= MAX_IDENTITIES:
            raise InvalidInput("the wallet is full")
        self.profile.pin.check(pin)
        dek = _random.random_bytes(_DEK_LENGTH)
        lockout = LockoutState()
        verifier, history, pin_salt, pin_wrap = self._new_pin(canonical, pin, dek, ())
        keys = _Keys(
            secret_box=_seal(dek, key, _SECRET_AAD + canonical.encode("ascii")),
            pin_salt=pin_salt,
            pin_wrap=pin_wrap,
            escrow_episode=lockout.episode + 1,
            escrows=self._new_escrows(canonical, key, dek, verifier.params, lockout.episode + 1),
        )
        identity = _Identity(
            serial=canonical,
            name=name,
            kind=kind,
            algorithm=token.algorithm,
            digits=digits,
            period=period if kind == "totp" else 30,
            counter=counter if kind == "hotp" else 0,
            verifier=verifier,
            history=history,
            lockout=lockout,
            keys=keys,
        )
        return attrs.evolve(self, identities=(*self._identities, identity))

    def add_uri(self, uri: str, *, serial: str, pin: str, name: str | None = None) -> Wallet:
        """Return the wallet with a new identity read from an otpauth:// *uri*.

        The display name defaults to the URI's issuer, or its account name.

        Raises:
            InvalidURI: the URI is refused (:meth:`KeyURI.parse`); so is its secret, with
                InvalidEncoding.

        Everything :meth:`add_key` raises is raised here too.
        """
        parsed = KeyURI.parse(uri)
        return self.add_key(
            serial,
            parsed.secret,
            name=name if name is not None else (parsed.issuer or parsed.account),
            pin=pin,
            kind=parsed.kind,
            algorithm=parsed.algorithm,
            digits=parsed.digits,
            period=parsed.period,
            counter=parsed.counter or 0,
        )

    def rename(self, serial: str, name: str) -> Wallet:
        """Return the wallet with the identity's display name changed.

        Raises:
            UnknownIdentity: no identity has this serial.
            TypeError, InvalidInput: the name is not 1 to 64 printable characters without
                surrounding spaces.
        """
        identity = self._find(serial)
        _check_name(name)
        return self._replace(attrs.evolve(identity, name=name))

    def delete(self, serial: str) -> Wallet:
        """Return the wallet without this identity. Raises UnknownIdentity."""
        identity = self._find(serial)
        return attrs.evolve(
            self, identities=tuple(i for i in self._identities if i is not identity)
        )

    # ---------------------------------------------------------------- PIN and codes

    def begin_attempt(self, serial: str, *, now: int | dt.datetime, unlock: bool = False) -> Wallet:
        """Open an attempt for the identity, before a PIN or an unlock code is checked.

        Persist the returned wallet, then call :meth:`show_code` (a PIN attempt, the default)
        or, with ``unlock=True``, :meth:`unlock` (an unlock code attempt); persist their wallet
        too, and only then tell the user. An attempt that was already open was interrupted: it
        is counted first, so that killing the app between a check and its save never gives a
        free guess (module docstring, decision 7). Nothing secret is read; no PIN or code is
        needed.

        - A PIN attempt on an ACTIVE identity goes through ``softtoken.pinlock.Event.BEGIN``:
          an interrupted PIN attempt counts as a wrong PIN, which may lock or wipe (a wipe
          erases this identity's keys). No attempt is opened if the identity ends up locked,
          wiped or waiting out a delay; :meth:`show_code` then reports that without evaluating
          the PIN. A locked or wiped identity is returned unchanged.
        - An unlock attempt on a LOCKED identity: an interrupted unlock attempt counts as one
          wrong unlock code, with the same consequences (``REJECTED``, ``NEW_RESET_CODE`` or
          ``WIPE``). If that used up the current reset code, or wiped the identity, no attempt
          is opened: the code the user typed answers a reset code that is gone. Show the new
          :meth:`reset_code` and begin again with the bank's answer to it.

        :meth:`identities` tells, in ``attempt_open``, whether an attempt is open.

        Returns:
            The new wallet, to persist before any :meth:`show_code` or :meth:`unlock`.

        Raises:
            UnknownIdentity: no identity has this serial.
            WrongIdentityState: ``unlock=True`` and the identity is not locked.
            TypeError, InvalidTime: bad argument types, or *now* is not a valid time.
        """
        identity = self._find(serial)
        if type(unlock) is not bool:
            raise TypeError("unlock must be bool")
        if not unlock:
            _, state = step(self.profile.lockout, identity.lockout, Event.BEGIN, now)
            # A wipe erases this identity's secret, DEK and escrows together with the new state.
            keys = None if state.status is Status.WIPED else identity.keys
            return self._replace(attrs.evolve(identity, lockout=state, keys=keys))
        if identity.lockout.status is not Status.LOCKED:
            raise WrongIdentityState("the identity is not locked")
        to_unix(now)
        if identity.unlock_attempt:
            identity, outcome = self._count_wrong_code(identity, now)
            if outcome is not UnlockOutcome.REJECTED:
                return self._replace(identity)
        return self._replace(attrs.evolve(identity, unlock_attempt=True))

    def show_code(
        self, serial: str, pin: str, *, now: int | dt.datetime
    ) -> tuple[Wallet, CodeResult]:
        """Enter *pin* for the identity and, when it is right, return its current code.

        Call :meth:`begin_attempt` first and persist its wallet. The PIN goes through
        :func:`softtoken.pinlock.enter_pin` with the profile's lockout policy: a wrong PIN is
        counted, and at the limit the identity is locked (``ENTRUST_LIKE``) or wiped
        (``PAYSECURE_LIKE``). A wipe erases this identity's secret, DEK and escrows and touches
        no other identity. An HOTP identity's counter advances with every code shown. The
        attempt is closed either way. A locked, wiped or waiting identity is reported (with
        ``STILL_LOCKED``, ``WIPED`` or ``TOO_SOON``) without an open attempt, since nothing is
        evaluated then.

        Returns:
            The new wallet, to persist before showing anything, and a :class:`CodeResult`.

        Raises:
            UnknownIdentity: no identity has this serial.
            AttemptNotOpen: the PIN would be evaluated, but no PIN attempt is open; nothing
                was evaluated or counted.
            TypeError, InvalidTime: *pin* is not a str, or *now* is not a valid time.
            WrongIdentityState: an HOTP identity's counter is exhausted.
        """
        identity = self._find(serial)
        lockout = self.profile.lockout
        try:
            state = enter_pin(
                pin, verifier=identity.verifier, policy=lockout, state=identity.lockout, now=now
            )
        except PINNotAccepted as refused:
            # A wipe erases this identity's secret, DEK and escrows together with the new state.
            wiped = refused.state.status is Status.WIPED
            keys = None if wiped else identity.keys
            changed = attrs.evolve(identity, lockout=refused.state, keys=keys)
            result = CodeResult(refused.outcome, None, remaining_tries(lockout, refused.state))
            return self._replace(changed), result
        keys = self._keys(identity)
        params = identity.verifier.params
        dek = _open(
            self._pin_kek(identity.serial, pin, keys.pin_salt, params),
            keys.pin_wrap,
            _PIN_WRAP_AAD + identity.serial.encode("ascii"),
        )
        secret = None if dek is None else self._open_secret(identity, keys, dek)
        if dek is None or secret is None:
            # The verifier and the wrap are sealed together; a mismatch is damage, not a PIN.
            raise WalletCorrupt(_CORRUPT)
        if identity.kind == "hotp":
            if identity.counter >= _MAX_COUNTER:
                raise WrongIdentityState("the HOTP counter is exhausted")
            hotp = HOTP(secret, digits=identity.digits, algorithm=identity.algorithm)
            code = hotp.generate(identity.counter)
            changed = attrs.evolve(identity, lockout=state, counter=identity.counter + 1)
        else:
            totp = TOTP(
                secret, digits=identity.digits, algorithm=identity.algorithm, period=identity.period
            )
            code = totp.generate(to_unix(now))
            changed = attrs.evolve(identity, lockout=state)
        if len(keys.escrows) < self.unlock_policy.max_reset_codes:
            # The unlock policy may have grown since the escrows were made; the secret is at
            # hand, so top them up for the next lock.
            escrows = self._new_escrows(identity.serial, secret, dek, params, keys.escrow_episode)
            changed = attrs.evolve(changed, keys=attrs.evolve(keys, escrows=escrows))
        return self._replace(changed), CodeResult(
            Outcome.ACCEPTED, code, remaining_tries(lockout, state)
        )

    def reset_code(self, serial: str) -> str:
        """Return the 9-digit reset code to read to the bank, for a locked identity.

        It is the first reset code that still has tries; it changes when its tries run out.

        Raises:
            UnknownIdentity: no identity has this serial.
            WrongIdentityState: the identity is not locked.
        """
        identity = self._find(serial)
        if identity.lockout.status is not Status.LOCKED:
            raise WrongIdentityState("the identity is not locked")
        live = self._live_escrows(self._keys(identity))
        if not live:
            raise WrongIdentityState("no reset code is left; the next unlock attempt wipes")
        return live[0].reset_code

    def check_new_pin(self, serial: str, pin: str) -> None:
        """Return if *pin* may become the identity's new PIN; otherwise raise PINRejected.

        The PIN is checked against the profile's PIN policy and the identity's PIN history.
        Nothing is stored or counted.

        Raises:
            UnknownIdentity: no identity has this serial.
            TypeError: an argument has the wrong type.
            PINRejected: the PIN breaks the policy or the history; ``reasons`` says how.
        """
        identity = self._find(serial)
        self.profile.pin.check(pin, previous=identity.history)

    def unlock(
        self, serial: str, unlock_code: str, *, new_pin: str, now: int | dt.datetime
    ) -> tuple[Wallet, UnlockOutcome]:
        """Try the bank's *unlock_code* for a locked identity and, if right, set *new_pin*.

        Call ``begin_attempt(serial, unlock=True, now=...)`` first and persist its wallet.
        *new_pin* is checked first (policy and history); a refused PIN raises and counts no
        try, and the attempt stays open, so the same attempt may go on with another new PIN.
        (If the app stops there instead, the stored attempt is counted as a wrong code by the
        next ``begin_attempt``: call :meth:`check_new_pin` before beginning when that may
        happen.) Likewise for a malformed code. Then the code is tried against the current
        reset code's escrow, which closes the attempt:

        - ``UNLOCKED``: the identity is ACTIVE again under *new_pin*. The reset code used is
          deleted, and fresh reset codes are prepared for the next lock.
        - ``REJECTED``: a try was counted; the same reset code stays.
        - ``NEW_RESET_CODE``: that reset code ran out of tries and was deleted; show the next
          one (:meth:`reset_code`).
        - ``WIPE``: the last reset code ran out of tries; the identity was wiped.

        Returns:
            The new wallet, to persist before telling the user anything, and the outcome.

        Raises:
            UnknownIdentity: no identity has this serial.
            WrongIdentityState: the identity is not locked.
            PINRejected: *new_pin* is refused; nothing changed.
            MalformedCode: the code is not ``unlock_policy.digits`` ASCII digits; nothing
                counted.
            AttemptNotOpen: no unlock attempt is open; nothing was evaluated or counted.
            TypeError, InvalidTime: bad argument types or time.
        """
        identity = self._find(serial)
        if identity.lockout.status is not Status.LOCKED:
            raise WrongIdentityState("the identity is not locked")
        to_unix(now)
        self.profile.pin.check(new_pin, previous=identity.history)
        given = parse_code(unlock_code, self.unlock_policy.digits)
        if not identity.unlock_attempt:
            raise AttemptNotOpen("no unlock attempt is open: call begin_attempt and store it")
        keys = self._keys(identity)
        live = self._live_escrows(keys)
        if not live:
            return self._replace(self._wiped(identity, now)), UnlockOutcome.WIPE
        escrow = live[0]
        params = identity.verifier.params
        kek = self._unlock_kek(identity.serial, given, escrow.reset_code, escrow.salt, params)
        dek = _open(kek, escrow.wrapped, self._escrow_aad(identity.serial, keys.escrow_episode))
        if dek is None:
            changed, outcome = self._count_wrong_code(identity, now)
            return self._replace(changed), outcome
        secret = self._open_secret(identity, keys, dek)
        if secret is None:
            raise WalletCorrupt(_CORRUPT)
        _, state = step(self.profile.lockout, identity.lockout, Event.UNLOCK, now)
        verifier, history, pin_salt, pin_wrap = self._new_pin(
            identity.serial, new_pin, dek, identity.history
        )
        episode = state.episode + 1
        new_keys = _Keys(
            secret_box=keys.secret_box,
            pin_salt=pin_salt,
            pin_wrap=pin_wrap,
            escrow_episode=episode,
            escrows=self._new_escrows(identity.serial, secret, dek, verifier.params, episode),
        )
        changed = attrs.evolve(
            identity,
            verifier=verifier,
            history=history,
            lockout=state,
            keys=new_keys,
            unlock_attempt=False,
        )
        return self._replace(changed), UnlockOutcome.UNLOCKED

    # ---------------------------------------------------------------- internals

    def _find(self, serial: str) -> _Identity:
        canonical = canonical_serial(serial)
        for identity in self._identities:
            if identity.serial == canonical:
                return identity
        raise UnknownIdentity("no identity has this serial")

    def _replace(self, changed: _Identity) -> Wallet:
        return attrs.evolve(
            self,
            identities=tuple(
                changed if identity.serial == changed.serial else identity
                for identity in self._identities
            ),
        )

    @staticmethod
    def _keys(identity: _Identity) -> _Keys:
        if identity.keys is None:
            raise WrongIdentityState("the identity was wiped")
        return identity.keys

    def _live_escrows(self, keys: _Keys) -> tuple[_Escrow, ...]:
        # A reset code whose tries already reach the limit (the policy was lowered) is spent
        # without evaluating anything, as softtoken.unlock.attempt_unlock does.
        return tuple(e for e in keys.escrows if e.tries < self.unlock_policy.max_tries)

    def _wiped(self, identity: _Identity, now: int | dt.datetime) -> _Identity:
        _, state = step(self.profile.lockout, identity.lockout, Event.WIPE, now)
        return attrs.evolve(identity, lockout=state, keys=None, unlock_attempt=False)

    def _count_wrong_code(
        self, identity: _Identity, now: int | dt.datetime
    ) -> tuple[_Identity, UnlockOutcome]:
        """Count one wrong unlock code against the current reset code; close the attempt.

        Used for a code that failed and for an interrupted attempt alike, so that both cost the
        same: one try, then the next reset code, then a wipe.
        """
        keys = self._keys(identity)
        live = self._live_escrows(keys)
        if not live:
            return self._wiped(identity, now), UnlockOutcome.WIPE
        escrow, rest = live[0], live[1:]
        tries = escrow.tries + 1
        if tries < self.unlock_policy.max_tries:
            escrows = (attrs.evolve(escrow, tries=tries), *rest)
            changed = attrs.evolve(
                identity, keys=attrs.evolve(keys, escrows=escrows), unlock_attempt=False
            )
            return changed, UnlockOutcome.REJECTED
        if not rest:
            return self._wiped(identity, now), UnlockOutcome.WIPE
        changed = attrs.evolve(
            identity, keys=attrs.evolve(keys, escrows=rest), unlock_attempt=False
        )
        return changed, UnlockOutcome.NEW_RESET_CODE

    def _pin_kek(self, serial: str, pin: str, salt: bytes, params: KDFParams) -> bytes:
        return _hkdf(
            self.device_key,
            salt=_scrypt(pin, salt, params),
            info=_PIN_KEK_INFO + serial.encode("ascii"),
        )

    def _unlock_kek(
        self, serial: str, unlock_code: str, reset_code: str, salt: bytes, params: KDFParams
    ) -> bytes:
        return _hkdf(
            self.device_key,
            salt=_scrypt(unlock_code, salt, params),
            info=_UNLOCK_KEK_INFO + serial.encode("ascii") + reset_code.encode("ascii"),
        )

    @staticmethod
    def _escrow_aad(serial: str, episode: int) -> bytes:
        return _ESCROW_AAD + serial.encode("ascii") + b"\x00" + episode.to_bytes(8, "big")

    @staticmethod
    def _open_secret(identity: _Identity, keys: _Keys, dek: bytes) -> bytes | None:
        return _open(dek, keys.secret_box, _SECRET_AAD + identity.serial.encode("ascii"))

    def _new_pin(
        self, serial: str, pin: str, dek: bytes, previous: tuple[PINVerifier, ...]
    ) -> tuple[PINVerifier, tuple[PINVerifier, ...], bytes, bytes]:
        """A verifier, the next history, and the DEK wrapped under a KEK from *pin*."""
        params = self.profile.kdf
        verifier = PINVerifier.create(pin, params=params)
        history = self.profile.pin.next_history(verifier, previous)
        salt = _random.random_bytes(params.salt_length)
        wrap = _seal(
            self._pin_kek(serial, pin, salt, params), dek, _PIN_WRAP_AAD + serial.encode("ascii")
        )
        return verifier, history, salt, wrap

    def _new_escrows(
        self, serial: str, secret: bytes, dek: bytes, params: KDFParams, episode: int
    ) -> tuple[_Escrow, ...]:
        """K fresh reset codes for lock *episode*, each with the DEK under its unlock code."""
        escrows = []
        aad = self._escrow_aad(serial, episode)
        for _ in range(self.unlock_policy.max_reset_codes):
            # issue_reset makes the reset code exactly as the unlock exchange defines it: 8
            # random digits and a Damm check digit. Its episode field is not kept; the escrow's
            # episode is bound through the associated data instead.
            reset = issue_reset(serial, episode).reset_code
            expected = compute_unlock_code(secret, serial, reset, digits=self.unlock_policy.digits)
            salt = _random.random_bytes(params.salt_length)
            kek = self._unlock_kek(serial, expected, reset, salt, params)
            escrows.append(_Escrow(reset, 0, salt, _seal(kek, dek, aad)))
        return tuple(escrows)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)
