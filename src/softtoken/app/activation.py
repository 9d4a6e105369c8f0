"""How a wallet gains identities from a bank: offline activation and QR activation.

These are :class:`~softtoken.app.Wallet` methods, kept in their own module because they speak
the provisioning protocols (:mod:`softtoken.provisioning.offline`,
:mod:`softtoken.provisioning.qr_activation`) while the wallet module keeps identities and PINs.

A QR activation spans two messages, so its state (the app's half of the key agreement) waits in
the wallet between :meth:`~WalletActivation.scan` and :meth:`~WalletActivation.finish_scan`. It
is sealed under the wallet key alone, which the device key derives: anyone holding an old copy of
the wallet blob, the device key and the bank's response could finish the activation. That window
is the offer's lifetime; expired scans are dropped at the next scan and can be cancelled at any
time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import TYPE_CHECKING, cast

import attrs

from softtoken._kdf import ScryptParams
from softtoken._time import to_unix
from softtoken.app.codec import MAX_SCANS
from softtoken.app.records import IdentityPolicy, check_name
from softtoken.exceptions import DuplicateIdentity, InvalidInput, UnknownIdentity
from softtoken.provisioning import offline, qr_activation
from softtoken.provisioning.identifiers import ActivationCode, RegistrationCode, Serial
from softtoken.provisioning.offline import OFFLINE_KDF
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.qr_messages import Offer, Response

if TYPE_CHECKING:
    from softtoken.app.wallet import Wallet

__all__ = ["WalletActivation"]


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a message must be str or its parsed value")
    return value


def _wallet(mixin: WalletActivation) -> Wallet:
    # WalletActivation is only ever a base of Wallet, which mypy cannot see from here. The methods
    # below reach into the wallet's own fields: they are Wallet's methods, only filed apart.
    return cast("Wallet", mixin)


def _add_token(
    wallet: Wallet,
    serial: Serial,
    secret: bytes,
    params: TokenParams,
    *,
    name: str,
    pin: str,
    policy: IdentityPolicy | None,
) -> Wallet:
    """The wallet with a new identity for an activated token: *secret* made as *params* say."""
    return wallet.add_key(
        serial,
        secret,
        name=name,
        pin=pin,
        kind=params.kind,
        algorithm=params.algorithm,
        digits=params.digits,
        period=params.period,
        policy=policy,
    )


class WalletActivation:
    """The activation methods of :class:`~softtoken.app.Wallet` (its base class)."""

    __slots__ = ()

    def activate_offline(
        self,
        serial: Serial | str,
        activation_code: ActivationCode | str,
        *,
        name: str,
        pin: str,
        params: TokenParams = DEFAULT_PARAMS,
        policy: IdentityPolicy | None = None,
        kdf: ScryptParams = OFFLINE_KDF,
    ) -> tuple[Wallet, RegistrationCode]:
        """Offline activation, the app's side: a new identity, and the registration code to show.

        The registration code is drawn here and the token secret derived from it, the activation
        code, the serial and *params* (:func:`softtoken.provisioning.offline.respond`); the
        issuer derives the same secret from the registration code the user types into its page,
        and the first code confirms it. *params* and *kdf* must be the issuer's. Store the
        returned wallet before showing the registration code.

        Raises:
            InvalidIdentifier, MistypedCode: a serial or activation code given as text is not
                one, or was mistyped (nothing is drawn then).
            DuplicateIdentity, PINRejected, InvalidInput: as :meth:`add_key`, checked before
                the slow derivation.
        """
        wallet = _wallet(self)
        wanted = Serial.of(serial)
        code = ActivationCode.of(activation_code)
        check_name(name)
        if any(identity.serial == wanted for identity in wallet._identities):
            raise DuplicateIdentity()
        (wallet.policy if policy is None else policy).pin.check(pin)
        registration, secret = offline.respond(wanted, code, params=params, kdf=kdf)
        added = _add_token(wallet, wanted, secret, params, name=name, pin=pin, policy=policy)
        return added, registration

    def scan(
        self,
        offer: Offer | str,
        password: str,
        *,
        now: int | dt.datetime,
        trusted_keys: Collection[bytes],
    ) -> tuple[Wallet, str]:
        """Answer a QR activation offer with the SMS *password*; return the request to send.

        Only an offer signed by one of *trusted_keys* is answered: the bank's Ed25519 public
        keys (32 bytes each) that the app pins, shipped with it or configured by the bank,
        never taken from an offer. The app's half of the key agreement
        (:mod:`softtoken.provisioning.qr_activation`) is kept, sealed in the wallet, until
        :meth:`finish_scan` gets the issuer's response. A new scan of the same serial replaces
        an unfinished one, and scans whose offers have expired are dropped. Store the returned
        wallet before sending the request.

        Raises:
            InvalidInput: the offer does not parse, or *trusted_keys* is empty or holds an
                unusable key. MalformedCode: the password is not 8 digits.
            DuplicateIdentity: an identity already has the offer's serial.
            InvalidInput: :data:`~softtoken.app.codec.MAX_SCANS` other activations are pending.
            ActivationRefused: no trusted key signed the offer, or it has expired.
        """
        wallet = _wallet(self)
        parsed = offer if isinstance(offer, Offer) else Offer.parse(_text(offer).strip())
        at = to_unix(now)
        if any(identity.serial == parsed.serial for identity in wallet._identities):
            raise DuplicateIdentity()
        # Scans whose offer has expired can never finish at the issuer: dropping them here keeps
        # their device keys out of the wallet no longer than the offer lived.
        others = tuple(
            scan
            for scan in wallet._scans
            if scan.offer.serial != parsed.serial and scan.offer.expires > at
        )
        if len(others) >= MAX_SCANS:
            raise InvalidInput("too many QR activations in progress: finish or cancel one")
        request, state = qr_activation.respond(parsed, password, now=at, trusted_keys=trusted_keys)
        return attrs.evolve(wallet, scans=(*others, state)), request.to_text()

    def pending_scans(self) -> tuple[Serial, ...]:
        """The serials of QR activations answered and not yet finished."""
        wallet = _wallet(self)
        return tuple(scan.offer.serial for scan in wallet._scans)

    def finish_scan(
        self,
        serial: Serial | str,
        response: Response | str,
        *,
        name: str,
        pin: str,
        policy: IdentityPolicy | None = None,
    ) -> Wallet:
        """Finish a QR activation with the issuer's *response*: a new identity behind *pin*.

        The name and the PIN are checked first, so that a refusal there leaves the scan to
        finish later. The issuer's key confirmation is then checked in constant time; only
        then is the identity made, with the token parameters of the offer.

        Raises:
            UnknownIdentity: no scan of this serial is pending.
            InvalidInput: the response does not parse. PINRejected, InvalidInput: the PIN or
                the name is refused; the scan stays pending.
            ActivationRefused: the response is not the issuer's answer to this scan; the scan
                stays pending.
        """
        wallet = _wallet(self)
        wanted = Serial.of(serial)
        state = next((scan for scan in wallet._scans if scan.offer.serial == wanted), None)
        if state is None:
            raise UnknownIdentity("no QR activation of this serial is pending")
        check_name(name)
        (wallet.policy if policy is None else policy).pin.check(pin)
        parsed = (
            response if isinstance(response, Response) else Response.parse(_text(response).strip())
        )
        secret = qr_activation.finish(state, parsed)
        # add_key drops the pending scan of the serial it adds.
        return _add_token(wallet, wanted, secret, state.params, name=name, pin=pin, policy=policy)

    def cancel_scan(self, serial: Serial | str) -> Wallet:
        """Drop an unfinished QR activation, and with it the device key it holds.

        Raises:
            InvalidIdentifier: *serial* is not a serial. UnknownIdentity: no scan of it is
                pending.
        """
        wallet = _wallet(self)
        wanted = Serial.of(serial)
        kept = tuple(scan for scan in wallet._scans if scan.offer.serial != wanted)
        if len(kept) == len(wallet._scans):
            raise UnknownIdentity("no QR activation of this serial is pending")
        return attrs.evolve(wallet, scans=kept)
