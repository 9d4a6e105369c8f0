"""QR activation with an SMS password: the token secret never travels (SECURITY.md S12, S18).

The bank page shows a QR code holding an :class:`Offer`, and an 8-digit password arrives by SMS.
The app and the issuer agree on the token secret with X25519 (RFC 7748). The password is only
*checked*, online and a few times at most, and the secret itself is never sent.

1. Issuer, :func:`start`: the offer to draw, the password to send, and the :class:`PendingQR`
   to store (sealed at rest).
2. App, :func:`respond`: the :class:`Request` to send, and the :class:`AppQRState` to store
   (sealed) until the answer comes.
3. Issuer, :func:`accept` (with the pending value that the request's ``activation_id`` names):
   an :class:`Outcome`, the pending value to store, and on success the
   :class:`Response` and the secret. Store the new pending value (a compare-and-set on its
   ``version``) *before* answering, so that no answer ever escapes a lost write.
4. App, :func:`finish`: checks the key confirmation, then returns the secret.

Key schedule. ``shared = X25519(app_private, issuer_public) = X25519(issuer_private,
app_public)`` (RFC 7748 §6.1). ``transcript = Label.QR_TRANSCRIPT || version (1) || offer length
(2, big-endian) || offer text || app public key (32)``, and ``salt = SHA-256(transcript)``. With
HKDF-SHA256 (RFC 5869) of ``shared`` under that salt: ``K_proof`` (``Label.QR_PROOF_KEY``, 32
bytes), ``K_confirm`` (``Label.QR_CONFIRM_KEY``, 32 bytes) and the token secret
(``Label.QR_SECRET``, ``max(20, params.secret_length)`` bytes: 160, 256 or 512 bits). The
password verifier is HKDF-SHA256 of the password's ASCII digits, salted with the activation id,
under ``Label.QR_PASSWORD``. ``proof = HMAC-SHA256(K_proof, verifier || transcript)`` and
``confirmation = HMAC-SHA256(K_confirm, transcript || "issuer")`` (RFC 2104).

The messages and their one spelling each are in :mod:`softtoken.provisioning.qr_messages`.

Threats (what each attacker gets):

- **A photo of the QR**: nothing secret. The offer holds public values only, and nothing in it
  depends on the password, so an offline search over the 10^8 passwords has nothing to test
  against (an Entrust-style QR, encrypted under the password, falls to exactly that search).
- **The photo and the SMS password**: an online race to register before the user, bounded by the
  one-time activation id, the expiry and the attempt budget. Nothing offline: the secret needs a
  private key, and the password is no input of it.
- **The request and the response on the wire** (with the photo and the password): nothing.
  Every key, MAC and the secret are derived from ``shared``, which needs one of the two private
  keys; neither ever travels.
- **A stolen issuer database**: an open pending value's private key and verifier (the 8-digit
  password falls to its verifier at once) let the thief complete that activation, so pending
  values must be sealed at rest (the issuer store's job). A done or spent value keeps neither,
  so recorded messages of a finished activation stay useless.
- **A forged QR** that the user scans, then types the real password into: the forger knows
  ``K_proof`` for its own key, so the proof it receives is open to an offline search over the
  10^8 passwords, after which it wins the race. Apps should answer only offers whose ``url``
  they trust. A PAKE would close this, and ``cryptography`` has none.

A lost response cannot be fetched again: the issuer refuses any second request (REPLAYED), so
the user starts a new activation.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from typing import Any, Final

import attrs

from softtoken import _random, throttle
from softtoken._checks import check_counter, check_int, valid_or_none
from softtoken._encoding import parse_code
from softtoken._kdf import Label, hkdf
from softtoken._secret import SECRET
from softtoken.exceptions import ActivationRefused, InvalidInput, InvalidRecord
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.qr_messages import (
    ID_BYTES,
    KEY_BYTES,
    MAC_BYTES,
    MAX_OFFER_LENGTH,
    MAX_URL_LENGTH,
    VERSION,
    Offer,
    Request,
    Response,
    check_bytes,
    exchange,
    public_key,
)
from softtoken.throttle import MAX_FAILURES, ThrottlePolicy, ThrottleState, Verdict

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TTL",
    "MAX_OFFER_LENGTH",
    "MAX_TTL",
    "MAX_URL_LENGTH",
    "MIN_SECRET_BYTES",
    "PASSWORD_DIGITS",
    "VERSION",
    "AppQRState",
    "Offer",
    "Outcome",
    "PendingQR",
    "Request",
    "Response",
    "accept",
    "finish",
    "respond",
    "start",
]

PASSWORD_DIGITS: Final = 8
DEFAULT_TTL: Final = 15 * 60
"""An offer lives 15 minutes by default: long enough to install the app, short for a race."""
MAX_TTL: Final = 72 * 3600
DEFAULT_ATTEMPTS: Final = 5
_ISSUER_ROLE: Final = b"issuer"
MIN_SECRET_BYTES: Final = 20
"""RFC 4226 §4 R6 recommends 160 bits; SHA-256 and SHA-512 tokens get 32 and 64 bytes."""


def _secret_length(params: TokenParams) -> int:
    return max(MIN_SECRET_BYTES, params.secret_length)


# --------------------------------------------------------------------------------------------
# The key schedule
# --------------------------------------------------------------------------------------------


def _transcript(offer: Offer, app_key: bytes) -> bytes:
    text = offer.to_bytes()
    return bytes(Label.QR_TRANSCRIPT) + struct.pack(">BH", VERSION, len(text)) + text + app_key


def _derive(shared: bytes, transcript: bytes, label: Label, length: int = MAC_BYTES) -> bytes:
    # RFC 5869 §3.1: a salt strengthens the extraction; the transcript's hash binds every key
    # to this offer and this app key, and the label separates the purposes.
    salt = hashlib.sha256(transcript).digest()
    return hkdf(shared, salt=salt, info=label, length=length)


def _verifier(password: str, activation_id: bytes) -> bytes:
    return hkdf(password.encode("ascii"), salt=activation_id, info=Label.QR_PASSWORD)


def _proof(shared: bytes, transcript: bytes, verifier: bytes) -> bytes:
    # The verifier has a fixed length, so verifier || transcript has one reading (RFC 2104).
    key = _derive(shared, transcript, Label.QR_PROOF_KEY)
    return hmac.digest(key, verifier + transcript, "sha256")


def _confirmation(shared: bytes, transcript: bytes) -> bytes:
    key = _derive(shared, transcript, Label.QR_CONFIRM_KEY)
    return hmac.digest(key, transcript + _ISSUER_ROLE, "sha256")


# --------------------------------------------------------------------------------------------
# The issuer's pending value
# --------------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    """What :func:`accept` did with a request. Only ACCEPTED is a success; the user is told one
    refusal (``ActivationRefused``), and the audit trail records the member."""

    ACCEPTED = "accepted"
    """The proof held: the activation is done, and the secret and response are returned."""
    WRONG_PROOF = "wrong_proof"
    """A wrong password or an altered request: one attempt counted, others remain."""
    SPENT_NOW = "spent_now"
    """A wrong proof that used the last attempt: the activation is closed."""
    SPENT = "spent"
    """Refused unevaluated: the attempts were spent already."""
    EXPIRED = "expired"
    """Refused unevaluated: the offer has expired."""
    REPLAYED = "replayed"
    """Refused unevaluated: the activation is done already (a replay, or a second device)."""
    FOREIGN = "foreign"
    """Refused unevaluated: the request names another activation id."""


# Stored codes, 1 onwards; append only.
_OUTCOMES: Final = tuple(Outcome)


@attrs.frozen
class PendingQR:
    """The issuer's state of one QR activation. Secret while open: store it sealed.

    Attributes:
        offer: the offer shown (serial, params, activation id, expiry, public key, URL).
        private_key: the issuer's X25519 private key; None once done or spent.
        verifier: what the issuer keeps of the password (never the password); None once done
            or spent.
        attempts: wrong proofs that close the activation, 1 to 1000.
        throttle: the wrong proofs counted (never delayed, never open).
        done: a request was accepted; every later one is refused.
        last_outcome: what :func:`accept` did last, for the audit; None before any request.
        version: grows by one at every change, for a store's compare-and-set.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes | None = attrs.field(kw_only=True, **SECRET)
    verifier: bytes | None = attrs.field(kw_only=True, **SECRET)
    attempts: int = attrs.field(default=DEFAULT_ATTEMPTS, kw_only=True)
    throttle: ThrottleState = attrs.field(factory=ThrottleState, kw_only=True)
    done: bool = attrs.field(default=False, kw_only=True)
    last_outcome: Outcome | None = attrs.field(default=None, kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer) or not isinstance(self.throttle, ThrottleState):
            raise TypeError("offer must be Offer and throttle ThrottleState")
        if type(self.done) is not bool:
            raise TypeError("done must be bool")
        if self.last_outcome is not None and not isinstance(self.last_outcome, Outcome):
            raise TypeError("last_outcome must be Outcome or None")
        check_int(self.attempts, "attempts", 1, MAX_FAILURES)
        check_counter(self.version, "version")
        closed = self.done or self.throttle.blocked
        for key, name in ((self.private_key, "private_key"), (self.verifier, "verifier")):
            if key is not None:
                check_bytes(key, name, KEY_BYTES)
            if (key is None) is not closed:
                raise InvalidInput("the keys are kept exactly while the activation is open")
        if self.throttle.not_before or self.throttle.attempt_open:
            raise InvalidInput("an activation's attempts are never delayed or left open")
        if self.done and self.throttle.blocked:
            raise InvalidInput("an activation is either done or spent")
        if self.last_outcome is Outcome.ACCEPTED and not self.done:
            raise InvalidInput("an accepted activation is done")

    @property
    def serial(self) -> Serial:
        """The serial being activated."""
        return self.offer.serial

    @property
    def remaining(self) -> int:
        """Wrong proofs still allowed; 0 once spent."""
        return throttle.remaining(ThrottlePolicy(max_failures=self.attempts), self.throttle)

    def to_bytes(self) -> bytes:
        """``b"QP"``, format 1, flags (bit 0 done, bit 1 spent), version (8), attempts (2),
        failures (2), episode (4), throttle version (8), last outcome (1; 0 for none), offer
        length (2), the offer's text, then the private key and verifier (32 each) while open."""
        t = self.throttle
        flags = (_DONE if self.done else 0) | (_SPENT if t.blocked else 0)
        last = 0 if self.last_outcome is None else _OUTCOMES.index(self.last_outcome) + 1
        offer = self.offer.to_bytes()
        head = _PENDING.pack(
            b"QP",
            1,
            flags,
            self.version,
            self.attempts,
            t.failures,
            t.episode,
            t.version,
            last,
            len(offer),
        )
        return head + offer + (self.private_key or b"") + (self.verifier or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingQR:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("a pending QR activation must be bytes")
        pending = _read_pending(data)
        if pending is None:
            raise InvalidRecord("not a pending QR activation of a known format")
        return pending


_DONE: Final = 0x01
_SPENT: Final = 0x02
_PENDING: Final = struct.Struct(">2sBBQHHIQBH")


def _read_pending(data: bytes) -> PendingQR | None:
    if len(data) < _PENDING.size:
        return None
    tag, fmt, flags, version, attempts, failures, episode, t_version, last, length = (
        _PENDING.unpack_from(data)
    )
    end = _PENDING.size + length
    keys = data[end:] if len(data) >= end else None
    if tag != b"QP" or fmt != 1 or flags & ~(_DONE | _SPENT) or last > len(_OUTCOMES):
        return None
    if keys is None or len(keys) != (0 if flags else 2 * KEY_BYTES):
        return None
    offer = valid_or_none(lambda: Offer.from_bytes(data[_PENDING.size : end]))
    if offer is None:
        return None
    state = valid_or_none(
        lambda: ThrottleState(
            failures=failures, blocked=bool(flags & _SPENT), episode=episode, version=t_version
        )
    )
    if state is None:
        return None
    return valid_or_none(
        lambda: PendingQR(
            offer=offer,
            private_key=keys[:KEY_BYTES] or None,
            verifier=keys[KEY_BYTES:] or None,
            attempts=attempts,
            throttle=state,
            done=bool(flags & _DONE),
            last_outcome=_OUTCOMES[last - 1] if last else None,
            version=version,
        )
    )


# --------------------------------------------------------------------------------------------
# The app's pending value
# --------------------------------------------------------------------------------------------


@attrs.frozen
class AppQRState:
    """The app's state between :func:`respond` and :func:`finish`. Secret: store it sealed.

    Attributes:
        offer: the offer answered; its ``params`` are the token's.
        private_key: the app's X25519 private key (the device key of this activation).
        confirmation: the response the issuer must send.
    """

    offer: Offer = attrs.field(kw_only=True)
    private_key: bytes = attrs.field(kw_only=True, **SECRET)
    confirmation: bytes = attrs.field(kw_only=True, **SECRET)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.offer, Offer):
            raise TypeError("offer must be Offer")
        check_bytes(self.private_key, "private_key", KEY_BYTES)
        check_bytes(self.confirmation, "confirmation", MAC_BYTES)

    @property
    def params(self) -> TokenParams:
        """The token's parameters, from the offer."""
        return self.offer.params

    def to_bytes(self) -> bytes:
        """``b"QA"``, format 1, offer length (2), the offer's text, private key (32),
        confirmation (32)."""
        offer = self.offer.to_bytes()
        return _APP.pack(b"QA", 1, len(offer)) + offer + self.private_key + self.confirmation

    @classmethod
    def from_bytes(cls, data: bytes) -> AppQRState:
        """Read :meth:`to_bytes` strictly. Raises TypeError, or InvalidRecord."""
        if type(data) is not bytes:
            raise TypeError("an app QR state must be bytes")
        state = None
        if len(data) >= _APP.size:
            tag, fmt, length = _APP.unpack_from(data)
            end = _APP.size + length
            if tag == b"QA" and fmt == 1 and len(data) == end + KEY_BYTES + MAC_BYTES:
                state = valid_or_none(
                    lambda: AppQRState(
                        offer=Offer.from_bytes(data[_APP.size : end]),
                        private_key=data[end : end + KEY_BYTES],
                        confirmation=data[end + KEY_BYTES :],
                    )
                )
        if state is None:
            raise InvalidRecord("not an app QR activation state of a known format")
        return state


_APP: Final = struct.Struct(">2sBH")


# --------------------------------------------------------------------------------------------
# The four steps
# --------------------------------------------------------------------------------------------


def start(
    serial: Serial,
    *,
    now: int,
    url: str,
    params: TokenParams = DEFAULT_PARAMS,
    ttl: int = DEFAULT_TTL,
    attempts: int = DEFAULT_ATTEMPTS,
) -> tuple[Offer, str, PendingQR]:
    """Issuer: begin a QR activation of *serial* at *now* (Unix seconds).

    Draws, in this order and only from ``softtoken._random``: the issuer's X25519 private key
    (32 bytes), the activation id (16 bytes) and the 8-digit password.

    Returns:
        The offer to draw (no secret), the password to send by SMS (never stored: the pending
        value keeps a verifier), and the pending value to store sealed. The offer expires at
        ``now + ttl``; *attempts* wrong proofs close it.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidInput: *ttl* is not 1 second to 72 hours, *attempts* not 1 to 1000, *now* out of
            range, or *url* not an https URL of the allowed characters.
    """
    if not isinstance(serial, Serial) or not isinstance(params, TokenParams):
        raise TypeError("serial must be Serial and params TokenParams")
    check_counter(now, "now")
    check_int(ttl, "ttl", 1, MAX_TTL)
    check_int(attempts, "attempts", 1, MAX_FAILURES)
    check_counter(now + ttl, "now + ttl")
    private_key = _random.random_bytes(KEY_BYTES)
    activation_id = _random.random_bytes(ID_BYTES)
    password = _random.random_digits(PASSWORD_DIGITS)
    offer = Offer(
        serial=serial,
        activation_id=activation_id,
        issuer_key=public_key(private_key),
        params=params,
        expires=now + ttl,
        url=url,
    )
    verifier = _verifier(password, activation_id)
    pending = PendingQR(offer=offer, private_key=private_key, verifier=verifier, attempts=attempts)
    return offer, password, pending


def respond(offer: Offer, password: str, *, now: int) -> tuple[Request, AppQRState]:
    """App: answer *offer* with the typed *password* at *now*.

    Draws the app's X25519 private key (32 bytes) from ``softtoken._random``. A wrong password
    is not detected here; the issuer counts it.

    Returns:
        The request to send, and the state to store sealed until the response.

    Raises:
        TypeError: an argument has the wrong type (a password is ``str``).
        MalformedCode: the password is not 8 ASCII digits (spaces or dashes between groups are
            allowed).
        ActivationRefused: the offer has expired.
    """
    if not isinstance(offer, Offer):
        raise TypeError("offer must be Offer")
    digits = parse_code(password, PASSWORD_DIGITS)
    check_counter(now, "now")
    if now >= offer.expires:
        raise ActivationRefused()
    private_key = _random.random_bytes(KEY_BYTES)
    app_key = public_key(private_key)
    shared = exchange(private_key, offer.issuer_key)
    if shared is None:
        # Unreachable: the offer's key passed _check_public_key. Failing closed all the same.
        raise ActivationRefused()
    transcript = _transcript(offer, app_key)
    proof = _proof(shared, transcript, _verifier(digits, offer.activation_id))
    request = Request(activation_id=offer.activation_id, app_key=app_key, proof=proof)
    state = AppQRState(
        offer=offer, private_key=private_key, confirmation=_confirmation(shared, transcript)
    )
    return request, state


def accept(
    pending: PendingQR, request: Request, *, now: int
) -> tuple[Outcome, PendingQR, Response | None, bytes | None]:
    """Issuer: check *request* against *pending* at *now*. Pure: nothing is raised for a refusal.

    A request naming another activation (FOREIGN), one after the activation is done
    (REPLAYED), after its attempts are spent (SPENT) or at or after its expiry (EXPIRED) is
    refused unevaluated. Otherwise the proof is compared in constant time: a wrong one costs one
    attempt (WRONG_PROOF, or SPENT_NOW for the last). A right one is ACCEPTED: the activation is
    done, and its keys are dropped from the pending value.

    Returns:
        The outcome; the pending value to store, which records the outcome (and is *pending*
        itself when nothing changed, or else one version later); and, on ACCEPTED only, the
        response to send and the token secret (``max(20, params.secret_length)`` bytes).
        Store the pending value before answering or using the secret.

    Raises:
        TypeError: an argument has the wrong type. InvalidInput: *now* is out of range.
    """
    if not isinstance(pending, PendingQR) or not isinstance(request, Request):
        raise TypeError("pending must be PendingQR and request Request")
    check_counter(now, "now")
    refused = _refusal(pending, request, now)
    if refused is None and pending.private_key is not None and pending.verifier is not None:
        return _evaluate(pending, pending.private_key, pending.verifier, request, now)
    # A value without keys is done or spent, so _refusal refused it already.
    outcome = Outcome.SPENT if refused is None else refused
    return outcome, _changed(pending, last_outcome=outcome), None, None


def _refusal(pending: PendingQR, request: Request, now: int) -> Outcome | None:
    if request.activation_id != pending.offer.activation_id:
        return Outcome.FOREIGN
    if pending.done:
        return Outcome.REPLAYED
    if pending.throttle.blocked:
        return Outcome.SPENT
    if now >= pending.offer.expires:
        return Outcome.EXPIRED
    return None


def _evaluate(
    pending: PendingQR, private_key: bytes, verifier: bytes, request: Request, now: int
) -> tuple[Outcome, PendingQR, Response | None, bytes | None]:
    transcript = _transcript(pending.offer, request.app_key)
    # The request's key passed _check_public_key, so the exchange gives a result; if it ever
    # did not, the request counts as a wrong proof (fail closed).
    shared = exchange(private_key, request.app_key)
    if shared is not None and hmac.compare_digest(
        _proof(shared, transcript, verifier), request.proof
    ):
        length = _secret_length(pending.offer.params)
        secret = _derive(shared, transcript, Label.QR_SECRET, length)
        response = Response(confirmation=_confirmation(shared, transcript))
        done = _changed(
            pending, done=True, private_key=None, verifier=None, last_outcome=Outcome.ACCEPTED
        )
        return Outcome.ACCEPTED, done, response, secret
    verdict, counted = throttle.fail(
        ThrottlePolicy(max_failures=pending.attempts), pending.throttle, now
    )
    if verdict is Verdict.BLOCKED_NOW:
        # Nothing can complete a spent activation, so its keys are dropped.
        changes: dict[str, Any] = {"private_key": None, "verifier": None}
        outcome = Outcome.SPENT_NOW
    else:
        changes, outcome = {}, Outcome.WRONG_PROOF
    return outcome, _changed(pending, throttle=counted, last_outcome=outcome, **changes), None, None


def _changed(pending: PendingQR, **changes: Any) -> PendingQR:
    """*pending* with *changes* and the next version, or *pending* itself if nothing changes."""
    if all(getattr(pending, name) == value for name, value in changes.items()):
        return pending
    return attrs.evolve(pending, version=pending.version + 1, **changes)


def finish(state: AppQRState, response: Response) -> bytes:
    """App: check the issuer's key confirmation in constant time, then return the secret.

    Returns:
        The token secret, ``max(20, params.secret_length)`` bytes, the same as the issuer's.

    Raises:
        TypeError: an argument has the wrong type.
        ActivationRefused: the response is not the one the issuer would send for this state
            (tampered, another activation's, or made without the issuer's key). Store nothing.
    """
    if not isinstance(state, AppQRState) or not isinstance(response, Response):
        raise TypeError("state must be AppQRState and response Response")
    if not hmac.compare_digest(state.confirmation, response.confirmation):
        raise ActivationRefused()
    app_key = public_key(state.private_key)
    shared = exchange(state.private_key, state.offer.issuer_key)
    if shared is None:
        # Unreachable: the offer's key passed _check_public_key. Failing closed all the same.
        raise ActivationRefused()
    length = _secret_length(state.offer.params)
    return _derive(shared, _transcript(state.offer, app_key), Label.QR_SECRET, length)
