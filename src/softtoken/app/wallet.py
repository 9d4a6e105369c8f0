"""The wallet: an app's identities, each behind its own PIN, as one frozen value.

A :class:`Wallet` is what a phone authenticator keeps: several identities (one per bank account
or token serial), each with a canonical serial and an editable display name, its OTP parameters,
its secret (sealed, :mod:`softtoken.app.sealing`), its own PIN verifier, history, lockout state
and unlock counter, and the policy it lives by (:class:`~softtoken.app.IdentityPolicy`), stored
with it so that nobody can weaken it later.

Every change returns a new wallet. Store it before telling the user anything: the file layer
(:class:`softtoken.app.WalletFile`) does that under an exclusive lock, and refuses a blob older
than the newest one saved. Checking a PIN or an unlock code takes three steps:
:meth:`Wallet.begin_attempt`, store; :meth:`Wallet.show_code` or :meth:`Wallet.unlock`, store.
A process killed in between leaves an open attempt that the next ``begin_attempt`` counts as a
wrong try, so that racing the save never gives a free guess (SECURITY.md S7, S10, S11, S17).

Time is always the ``now`` parameter; nothing reads a clock, and all randomness comes from
:mod:`softtoken._random`. No secret (key, data key, device key, PIN, code, reset code) ever
appears in a ``repr``, a ``str`` or an exception message.
"""

from __future__ import annotations

import datetime as dt
from hmac import compare_digest

import attrs

from softtoken import _random
from softtoken._checks import check_counter
from softtoken._encoding import parse_code
from softtoken._secret import SECRET
from softtoken.app import transitions
from softtoken.app.activation import WalletActivation
from softtoken.app.codec import (
    HEADER,
    MAX_IDENTITIES,
    WALLET_ID_LENGTH,
    Body,
    decode_body,
    encode_body,
    pack_header,
    read_header,
)
from softtoken.app.records import (
    KINDS,
    CodeResult,
    Identity,
    IdentityInfo,
    IdentityPolicy,
    Kind,
    UnlockResult,
    check_name,
)
from softtoken.app.sealing import (
    NONCE_LENGTH,
    check_device_key,
    device_key_id,
    encrypt,
    open_sealed,
    wallet_key,
)
from softtoken.exceptions import (
    DuplicateIdentity,
    InvalidInput,
    UnknownIdentity,
    WalletCorrupt,
    WrongIdentityState,
)
from softtoken.hotp import HOTP, TOTP
from softtoken.pinlock import PHONE_KDF, KDFParams, Status
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.qr_activation import AppQRState
from softtoken.provisioning.uri import KeyURI

__all__ = ["Wallet", "blob_key_id"]


def blob_key_id(data: bytes) -> bytes:
    """Return the device key id in the header of a wallet blob, without decrypting it.

    Raises:
        TypeError: *data* is not bytes.
        WalletCorrupt: *data* does not start with a wallet header of a known format.
    """
    return read_header(data).key_id


def _check_kdf(_: object, __: object, value: KDFParams) -> None:
    if not isinstance(value, KDFParams):
        raise TypeError("kdf must be KDFParams")


def _check_policy(_: object, __: object, value: IdentityPolicy) -> None:
    if not isinstance(value, IdentityPolicy):
        raise TypeError("policy must be IdentityPolicy")


@attrs.frozen
class Wallet(WalletActivation):
    """The app's identities, each behind its own PIN. A frozen value: see the module docstring.

    Build one with :meth:`create` or :meth:`from_bytes`; identities come from :meth:`add_key`,
    :meth:`add_uri` or the bank's activation flows (:class:`~softtoken.app.activation.
    WalletActivation`). The ``repr`` shows the identities'
    serials, names and states, never a key, a PIN or a reset code.

    Attributes:
        device_key: the 32-byte key from the device keystore. Never stored, never shown.
        policy: the policy new identities get unless :meth:`add_key` is given another.
        kdf: the scrypt parameters for new PIN verifiers and escrows, and the target to which
            older verifiers are upgraded after a correct PIN. Not stored in the blob.
        wallet_id: 16 random bytes fixed at creation, public, for the version guard.
        generation: grows by one at every save (the file layer sets it).
    """

    device_key: bytes = attrs.field(
        validator=lambda _, __, value: check_device_key(value), **SECRET
    )
    policy: IdentityPolicy = attrs.field(
        factory=IdentityPolicy, kw_only=True, validator=_check_policy
    )
    kdf: KDFParams = attrs.field(default=PHONE_KDF, kw_only=True, validator=_check_kdf)
    wallet_id: bytes = attrs.field(default=b"\x00" * WALLET_ID_LENGTH, kw_only=True)
    generation: int = attrs.field(default=0, kw_only=True)
    _identities: tuple[Identity, ...] = attrs.field(default=(), kw_only=True, alias="identities")
    _scans: tuple[AppQRState, ...] = attrs.field(
        default=(), kw_only=True, alias="scans", repr=False
    )

    def __attrs_post_init__(self) -> None:
        if type(self.wallet_id) is not bytes or len(self.wallet_id) != WALLET_ID_LENGTH:
            raise InvalidInput("wallet_id must be 16 bytes")
        check_counter(self.generation, "generation")

    # ---------------------------------------------------------------- construction and storage

    @classmethod
    def create(
        cls,
        *,
        device_key: bytes,
        policy: IdentityPolicy | None = None,
        kdf: KDFParams = PHONE_KDF,
    ) -> Wallet:
        """Return an empty wallet with a fresh random wallet id.

        Raises:
            TypeError: an argument has the wrong type. InvalidKey: the device key is not 32 bytes.
        """
        return cls(
            device_key,
            policy=IdentityPolicy() if policy is None else policy,
            kdf=kdf,
            wallet_id=_random.random_bytes(WALLET_ID_LENGTH),
        )

    def to_bytes(self) -> bytes:
        """Return the whole wallet as one sealed blob (layout in :mod:`softtoken.app.codec`).

        The blob holds no secret in the clear: secrets are sealed twice (under their data key,
        then under the wallet key), and the device key is not in it.
        """
        nonce = _random.random_bytes(NONCE_LENGTH)
        header = pack_header(device_key_id(self.device_key), self.wallet_id, self.generation, nonce)
        body = encode_body(Body(self.policy, self._identities, self._scans))
        # The nonce is in the header, which is the associated data, so the body is encrypted
        # with it directly rather than through seal(), which draws its own.
        return header + encrypt(wallet_key(self.device_key), nonce, body, header)

    @classmethod
    def from_bytes(cls, data: bytes, *, device_key: bytes, kdf: KDFParams = PHONE_KDF) -> Wallet:
        """Open a blob written by :meth:`to_bytes`, strictly and all or nothing.

        The policies come from the blob; *kdf* is the app's target for new and upgraded PIN
        verifiers.

        Raises:
            TypeError: *data* or *device_key* is not bytes.
            InvalidKey: *device_key* is not 32 bytes.
            WalletCorrupt: the blob is not a wallet, of an unknown format, sealed under another
                device key, truncated, tampered with, or inconsistent inside. No partial wallet
                is ever returned, and the message never includes the data.
        """
        check_device_key(device_key)
        header = read_header(data)
        if not compare_digest(header.key_id, device_key_id(device_key)):
            raise WalletCorrupt("the wallet was sealed under another device key")
        body = open_sealed(wallet_key(device_key), header.nonce + data[HEADER.size :], header.raw)
        if body is None:
            raise WalletCorrupt("the wallet failed authentication: it was damaged or altered")
        decoded = decode_body(body)
        return cls(
            device_key,
            policy=decoded.policy,
            kdf=kdf,
            wallet_id=header.wallet_id,
            generation=header.generation,
            identities=decoded.identities,
            scans=decoded.scans,
        )

    # ---------------------------------------------------------------- listing and editing

    def identities(self) -> tuple[IdentityInfo, ...]:
        """List every identity, in the order added. No secrets."""
        return tuple(transitions.info(identity) for identity in self._identities)

    def info(self, serial: Serial | str) -> IdentityInfo:
        """The listing of one identity. Raises UnknownIdentity."""
        return transitions.info(self._find(serial))

    def add_key(
        self,
        serial: Serial | str,
        key: bytes,
        *,
        name: str,
        pin: str,
        kind: Kind = "totp",
        algorithm: str = "sha1",
        digits: int = 6,
        period: int = 30,
        counter: int = 0,
        policy: IdentityPolicy | None = None,
    ) -> Wallet:
        """Return the wallet with a new identity holding the raw *key*, behind *pin*.

        *policy* defaults to the wallet's :attr:`policy`; it is stored with the identity.

        Raises:
            TypeError: an argument has the wrong type.
            KeyTooShort: the key is shorter than 16 bytes.
            InvalidInput: the serial, the name or an OTP parameter is refused.
            DuplicateIdentity: an identity already has this serial.
            PINRejected: *pin* breaks the policy's PIN rules (with the reasons).
        """
        canonical = Serial.of(serial)
        check_name(name)
        if kind not in KINDS:
            raise InvalidInput("kind must be hotp or totp")
        chosen = self.policy if policy is None else policy
        _check_policy(None, None, chosen)
        # Building the token checks the key, digits, algorithm and period with the token's rules.
        token = (
            HOTP(key, digits=digits, algorithm=algorithm)
            if kind == "hotp"
            else TOTP(key, digits=digits, algorithm=algorithm, period=period)
        )
        check_counter(counter)
        if any(identity.serial == canonical for identity in self._identities):
            raise DuplicateIdentity()
        if len(self._identities) >= MAX_IDENTITIES:
            raise InvalidInput("the wallet is full")
        chosen.pin.check(pin)
        identity = transitions.enroll(
            self.device_key,
            serial=canonical,
            name=name,
            kind=kind,
            algorithm=token.algorithm,
            digits=digits,
            period=period if kind == "totp" else 30,
            counter=counter if kind == "hotp" else 0,
            secret=key,
            pin=pin,
            policy=chosen,
            kdf=self.kdf,
        )
        # An identity made by any route ends a QR activation of its serial still pending.
        return attrs.evolve(
            self,
            identities=(*self._identities, identity),
            scans=tuple(scan for scan in self._scans if scan.offer.serial != canonical),
        )

    def add_uri(
        self,
        uri: str,
        *,
        serial: Serial | str,
        pin: str,
        name: str | None = None,
        policy: IdentityPolicy | None = None,
    ) -> Wallet:
        """Return the wallet with a new identity read from an otpauth:// *uri*.

        The display name defaults to the URI's issuer, or its account name.

        Raises:
            InvalidURI: the URI is refused (:meth:`KeyURI.parse`); so is its secret, with
                InvalidEncoding or KeyTooShort. Everything :meth:`add_key` raises.
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
            policy=policy,
        )

    def rename(self, serial: Serial | str, name: str) -> Wallet:
        """Return the wallet with the identity's display name changed.

        Raises:
            UnknownIdentity: no identity has this serial.
            TypeError, InvalidInput: the name is not 1 to 64 printable characters without
                surrounding spaces.
        """
        identity = self._find(serial)
        check_name(name)
        return self._replace(attrs.evolve(identity, name=name))

    def delete(self, serial: Serial | str) -> Wallet:
        """Return the wallet without this identity. Raises UnknownIdentity."""
        identity = self._find(serial)
        return attrs.evolve(
            self, identities=tuple(i for i in self._identities if i is not identity)
        )

    # ---------------------------------------------------------------- PIN and codes

    def begin_attempt(
        self, serial: Serial | str, *, now: int | dt.datetime, unlock: bool = False
    ) -> Wallet:
        """Open an attempt for the identity, before a PIN or an unlock code is checked.

        Store the returned wallet, then call :meth:`show_code` (a PIN attempt, the default) or,
        with ``unlock=True``, :meth:`unlock`; store their wallet too, and only then tell the
        user. An attempt that was already open was interrupted, and is counted first: as a
        wrong PIN (which may lock or wipe), or as a wrong unlock code (which may replace the
        reset code or wipe). No attempt is opened when the identity then refuses one; the
        next call reports why without evaluating anything. :meth:`info` tells, in
        ``attempt_open``, whether an attempt is open. No PIN or code is needed here.

        Raises:
            UnknownIdentity: no identity has this serial.
            WrongIdentityState: ``unlock=True`` and the identity is not locked.
            TypeError, InvalidTime: bad argument types, or *now* is not a valid time.
        """
        identity = self._find(serial)
        if type(unlock) is not bool:
            raise TypeError("unlock must be bool")
        return self._replace(transitions.begin(identity, now=now, unlock=unlock))

    def show_code(
        self, serial: Serial | str, pin: str, *, now: int | dt.datetime
    ) -> tuple[Wallet, CodeResult]:
        """Enter *pin* for the identity and, when it is right, return its current code.

        Call :meth:`begin_attempt` first and store its wallet. A wrong PIN is counted; at the
        limit the identity locks or is wiped, by its policy. A wipe destroys this identity's
        secret, data key, PIN verifier, history and escrows, and touches no other identity.
        An HOTP identity's counter advances with every code shown. A locked, wiped or waiting
        identity is reported without an open attempt, since nothing is evaluated then.

        Returns:
            The new wallet, to store before showing anything, and a :class:`CodeResult`.

        Raises:
            UnknownIdentity: no identity has this serial.
            AttemptNotOpen: the PIN would be evaluated, but no attempt is open; nothing was
                evaluated or counted.
            TypeError, InvalidTime: *pin* is not a str, or *now* is not a valid time.
            WrongIdentityState: an HOTP identity's counter is exhausted.
        """
        identity = self._find(serial)
        changed, result = transitions.show_code(self.device_key, self.kdf, identity, pin, now=now)
        return self._replace(changed), result

    def reset_code(self, serial: Serial | str) -> str:
        """Return the 9-digit reset code to read to the bank, for a locked identity.

        It changes when its tries run out (``NEW_RESET_CODE``).

        Raises:
            UnknownIdentity: no identity has this serial.
            WrongIdentityState: the identity is not locked.
        """
        identity = self._find(serial)
        if identity.status is not Status.LOCKED or identity.keys is None:
            raise WrongIdentityState("the identity is not locked")
        return identity.keys.escrows[0].reset_code

    def check_new_pin(self, serial: Serial | str, pin: str) -> None:
        """Return if *pin* meets the identity's PIN rules; otherwise raise PINRejected.

        No secret takes part: the PIN history is not consulted (that is only done inside a
        counted unlock attempt, after the unlock code was proven). Call it as the user types a
        new PIN, and before :meth:`begin_attempt` for an unlock.

        Raises:
            UnknownIdentity: no identity has this serial.
            TypeError: an argument has the wrong type.
            PINRejected: the PIN breaks the rules; ``reasons`` says how.
        """
        self._find(serial).policy.pin.check(pin)

    def check_unlock_code(self, serial: Serial | str, unlock_code: str) -> None:
        """Return if *unlock_code* has the shape of the identity's unlock codes.

        Only the shape (``policy.unlock.digits`` ASCII digits, groups allowed) is checked; no
        secret takes part. Call it before :meth:`begin_attempt`, so that a typo costs no try.

        Raises:
            UnknownIdentity: no identity has this serial.
            TypeError: *unlock_code* is not a str. MalformedCode: the shape is wrong.
        """
        parse_code(unlock_code, self._find(serial).policy.unlock.digits)

    def unlock(
        self, serial: Serial | str, unlock_code: str, *, new_pin: str, now: int | dt.datetime
    ) -> tuple[Wallet, UnlockResult]:
        """Try the bank's *unlock_code* for a locked identity and, if right, set *new_pin*.

        Call ``begin_attempt(serial, unlock=True, now=...)`` first and store its wallet.
        *new_pin* is checked against the PIN rules and *unlock_code* for its shape before
        anything is tried: either raises and changes nothing, and the attempt stays open (so
        call :meth:`check_new_pin` before beginning). Then the code is tried against the
        current reset code, which closes the attempt:

        - ``UNLOCKED``: ACTIVE again under *new_pin*, with fresh reset codes for the next lock.
        - ``REJECTED``: a try was counted; the same reset code stays.
        - ``NEW_RESET_CODE``: that reset code ran out of tries and was destroyed; show the next
          one (:meth:`reset_code`).
        - ``WIPE``: the last reset code ran out of tries; the identity was wiped.
        - ``PIN_REFUSED``: the code was right, but *new_pin* was used recently. Nothing was
          counted or spent; begin again with the same code and another PIN.

        Returns:
            The new wallet, to store before telling the user anything, and an
            :class:`UnlockResult`.

        Raises:
            UnknownIdentity: no identity has this serial.
            WrongIdentityState: the identity is not locked.
            PINRejected: *new_pin* breaks the PIN rules; nothing changed.
            MalformedCode: the code is not ``policy.unlock.digits`` ASCII digits; nothing
                changed.
            AttemptNotOpen: no unlock attempt is open; nothing was evaluated or counted.
            TypeError, InvalidTime: bad argument types or time.
        """
        identity = self._find(serial)
        if identity.status is not Status.LOCKED:
            raise WrongIdentityState("the identity is not locked")
        identity.policy.pin.check(new_pin)
        code = parse_code(unlock_code, identity.policy.unlock.digits)
        changed, result = transitions.unlock(
            self.device_key, self.kdf, identity, code, new_pin=new_pin, now=now
        )
        return self._replace(changed), result

    # ---------------------------------------------------------------- internals

    def _find(self, serial: Serial | str) -> Identity:
        canonical = Serial.of(serial)
        for identity in self._identities:
            if identity.serial == canonical:
                return identity
        raise UnknownIdentity()

    def _replace(self, changed: Identity) -> Wallet:
        return attrs.evolve(
            self,
            identities=tuple(
                changed if identity.serial == changed.serial else identity
                for identity in self._identities
            ),
        )
