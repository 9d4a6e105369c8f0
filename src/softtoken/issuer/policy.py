"""The issuer's policy: windows, failure limit, drift bound and the lifecycle options."""

from __future__ import annotations

from typing import Final

import attrs

from softtoken._checks import check_digits, check_int
from softtoken.exceptions import InvalidInput
from softtoken.hotp import MAX_RESYNC_SPAN, MAX_WINDOW
from softtoken.issuer.records import MAX_DRIFT, Window
from softtoken.throttle import MAX_FAILURES, ThrottlePolicy

__all__ = ["DEFAULT_POLICY", "IssuerPolicy"]


@attrs.frozen
class IssuerPolicy:
    """How an :class:`~softtoken.issuer.Issuer` verifies codes and runs the lifecycle.

    Attributes:
        window: the window new tokens get (±1 TOTP step, or an HOTP look-ahead of 1, by
            default), reaching at most 10 forward; ``Issuer.set_window`` changes one token's.
        max_failures: consecutive wrong codes that block a token: 5 (PSD2 RTS Art. 4(3)(b)).
        max_drift: the most TOTP steps a token's learned drift may reach either way, 0 to 100;
            4 by default (two minutes). A resync searches this far (RFC 6238 §6).
        resync_span: HOTP counters a resync searches ahead (RFC 4226 §7.4), 1 to 1000.
        one_device_per_user: activating a token retires the user's other active tokens, with
            the reason "device change", in the same transaction (PaySecure). On by default.
        confirm_release: a release waits for a valid code from the token (Occidente). Off by
            default.
        unlock_digits: the unlock code length; the app's ``UnlockPolicy.digits`` must match.
        retries: how often an operation re-reads and retries when another writer changed its
            record first, 1 to 1000.

    Raises (constructor):
        TypeError, InvalidInput: a value is out of range.
    """

    window: Window = attrs.field(factory=Window, kw_only=True)
    max_failures: int = attrs.field(default=5, kw_only=True)
    max_drift: int = attrs.field(default=4, kw_only=True)
    resync_span: int = attrs.field(default=100, kw_only=True)
    one_device_per_user: bool = attrs.field(default=True, kw_only=True)
    confirm_release: bool = attrs.field(default=False, kw_only=True)
    unlock_digits: int = attrs.field(default=8, kw_only=True)
    retries: int = attrs.field(default=200, kw_only=True)
    throttle: ThrottlePolicy = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.window, Window):
            raise TypeError("window must be Window")
        if self.window.future > MAX_WINDOW:
            # The policy's window is given to TOTP tokens too, whose window is capped at 10.
            raise InvalidInput("the policy's window reaches at most 10 steps forward")
        check_int(self.max_failures, "max_failures", 1, MAX_FAILURES)
        check_int(self.max_drift, "max_drift", 0, min(MAX_DRIFT, MAX_RESYNC_SPAN // 2))
        check_int(self.resync_span, "resync_span", 1, MAX_RESYNC_SPAN)
        check_int(self.retries, "retries", 1, 1000)
        check_digits(self.unlock_digits)
        if type(self.one_device_per_user) is not bool or type(self.confirm_release) is not bool:
            raise TypeError("one_device_per_user and confirm_release must be bool")
        object.__setattr__(self, "throttle", ThrottlePolicy(max_failures=self.max_failures))


DEFAULT_POLICY: Final = IssuerPolicy()
