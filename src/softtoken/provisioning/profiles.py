"""What common authenticator apps honour in a Key URI, and a check against it.

Many apps accept a QR code for parameters they do not support and then show codes that never
verify. A profile records what one app honours, so that an issuer can warn before showing the QR.

The profiles record public reports, and apps change. Each profile cites what it rests on. Where the
reports disagree about the current release, the profile keeps the stricter reading, because old
releases stay installed for years.
"""

from __future__ import annotations

import warnings
from typing import Final, Literal

import attrs

from softtoken._hmac import ALGORITHMS
from softtoken.exceptions import CompatibilityWarning, IncompatibleURI
from softtoken.provisioning.uri import KeyURI

__all__ = [
    "AEGIS",
    "FREEOTP",
    "GOOGLE_AUTHENTICATOR",
    "MICROSOFT_AUTHENTICATOR",
    "PROFILES",
    "CompatibilityProfile",
    "check_compatibility",
]

_CONSEQUENCE: Final = {
    "ignore": "and will show wrong codes",
    "refuse": "and will not add the account",
}


@attrs.frozen
class CompatibilityProfile:
    """What one authenticator app honours in a Key URI.

    Attributes:
        name: the app's name, as messages show it.
        short_name: a lower-case identifier, such as a command-line option takes.
        kinds: the URI types the app implements.
        algorithms: the algorithms it computes, lower case.
        digits: the code lengths it shows.
        periods: the TOTP periods it honours, or ``None`` for any period.
        on_unsupported: what the app does with a value outside the above: ``"ignore"`` (it falls
            back to its default and shows wrong codes) or ``"refuse"`` (it rejects the QR code).
    """

    name: str
    short_name: str
    kinds: frozenset[str]
    algorithms: frozenset[str]
    digits: frozenset[int]
    periods: frozenset[int] | None
    on_unsupported: Literal["ignore", "refuse"]

    def problems(self, uri: KeyURI) -> tuple[str, ...]:
        """Return one sentence per parameter of *uri* this app would not honour.

        Each sentence names the app, the parameter and its value, and what happens, for example
        ``"Google Authenticator ignores algorithm=SHA256 and will show wrong codes"``. No sentence
        contains the secret or the account name. An empty tuple means no known problem.
        """
        if not isinstance(uri, KeyURI):
            raise TypeError("uri must be a KeyURI")
        verb = "ignores" if self.on_unsupported == "ignore" else "refuses"
        consequence = _CONSEQUENCE[self.on_unsupported]
        found: list[str] = []

        def problem(parameter: str, value: object) -> None:
            found.append(f"{self.name} {verb} {parameter}={value} {consequence}")

        if uri.kind not in self.kinds:
            problem("type", uri.kind)
        if uri.algorithm not in self.algorithms:
            problem("algorithm", uri.algorithm.upper())
        if uri.digits not in self.digits:
            problem("digits", uri.digits)
        if uri.kind == "totp" and self.periods is not None and uri.period not in self.periods:
            problem("period", uri.period)
        return tuple(found)


_BOTH_KINDS: Final = frozenset({"totp", "hotp"})

GOOGLE_AUTHENTICATOR: Final = CompatibilityProfile(
    name="Google Authenticator",
    short_name="google-authenticator",
    kinds=_BOTH_KINDS,
    algorithms=frozenset({"sha1"}),
    digits=frozenset({6}),
    periods=frozenset({30}),
    on_unsupported="ignore",
)
"""Google Authenticator, taken as SHA1, 6 digits and a 30-second period.

The Key URI format's own wiki once said the app ignores ``algorithm``, ``digits`` and
``period``. Issue reports agree for Android: google/google-authenticator-android#29 (the
algorithm, still open), google/google-authenticator#521 and google/google-authenticator-libpam#3
(the period), google/google-authenticator-android#111 (8 digits), privacyidea/privacyidea#3812
and #3634 (SHA256 and a 60-second period, 2023). keycloak/keycloak#27349 (2024) reports that
newer releases honour SHA256, SHA512 and 8 digits; the profile keeps the stricter reading
because older releases remain installed. The app reads both TOTP and HOTP URIs
(winauth/winauth#201).
"""

MICROSOFT_AUTHENTICATOR: Final = CompatibilityProfile(
    name="Microsoft Authenticator",
    short_name="microsoft-authenticator",
    kinds=frozenset({"totp"}),
    algorithms=frozenset({"sha1"}),
    digits=frozenset({6}),
    periods=frozenset({30}),
    on_unsupported="ignore",
)
"""Microsoft Authenticator, for third-party (non-Microsoft) accounts: TOTP only, with SHA1, 6
digits and a 30-second period.

It computes SHA1 whatever the URI says (kspearrin/Otp.NET#54, privacyidea/privacyidea#3812,
BrandonPotter/GoogleAuthenticator#228), ignores ``digits`` (puddly/android-otp-extractor#33) and
a 60-second period (privacyidea/privacyidea#3634), and treats an HOTP URI as TOTP
(privacyidea/privacyidea#709).
"""

FREEOTP: Final = CompatibilityProfile(
    name="FreeOTP",
    short_name="freeotp",
    kinds=_BOTH_KINDS,
    algorithms=ALGORITHMS,
    digits=frozenset({6, 8}),
    periods=None,
    on_unsupported="refuse",
)
"""FreeOTP (Red Hat): TOTP and HOTP with SHA1, SHA256 and SHA512 and any period, but only 6- or
8-digit codes. Its URI reader refuses other digit counts rather than ignoring them
(freeotp/freeotp-android ``Token.java``; issue #187 asks for 7 digits). SHA256 works
(samdjstevens/java-totp#30, privacyidea/privacyidea#3812), and so do other periods
(springframeworkguru/ssc-brewery#6).
"""

AEGIS: Final = CompatibilityProfile(
    name="Aegis",
    short_name="aegis",
    kinds=_BOTH_KINDS,
    algorithms=ALGORITHMS,
    digits=frozenset(range(6, 11)),
    periods=None,
    on_unsupported="refuse",
)
"""Aegis Authenticator: everything this library writes. Its URI reader accepts SHA1, SHA256 and
SHA512, 1 to 10 digits and any positive period, for TOTP and HOTP, and refuses anything else
(beemdevelopment/Aegis ``OtpInfo.java`` and ``TotpInfo.java``; samdjstevens/java-totp#30).
"""

PROFILES: Final = (GOOGLE_AUTHENTICATOR, MICROSOFT_AUTHENTICATOR, FREEOTP, AEGIS)
"""Every profile above, for listing or lookup by :attr:`CompatibilityProfile.short_name`."""


def check_compatibility(
    uri: KeyURI | str, profile: CompatibilityProfile, *, strict: bool = False
) -> tuple[str, ...]:
    """Check *uri* against what *profile*'s app honours.

    A ``str`` is parsed first, strictly (see :meth:`KeyURI.parse`).

    With ``strict=False`` each problem is emitted as a :class:`~softtoken.CompatibilityWarning`
    and all are returned. With ``strict=True`` any problem raises instead.

    Returns:
        The problems, as :meth:`CompatibilityProfile.problems` words them; empty if none.

    Raises:
        TypeError: *uri* or *profile* has the wrong type.
        InvalidURI, InvalidEncoding, KeyTooShort: *uri* is a ``str`` that does not parse (a
            ``str`` is parsed without ``allow_short_key``; parse a legacy URI first).
        IncompatibleURI: ``strict=True`` and there is a problem; its ``problems`` lists them.

    Neither the warnings nor the error ever contain the secret or the account name.
    """
    if isinstance(uri, str):
        uri = KeyURI.parse(uri)
    if not isinstance(profile, CompatibilityProfile):
        raise TypeError("profile must be a CompatibilityProfile")
    found = profile.problems(uri)
    if strict and found:
        raise IncompatibleURI(found)
    for message in found:
        # stacklevel=2 points the warning at the caller, who chose the URI and the app.
        warnings.warn(message, CompatibilityWarning, stacklevel=2)
    return found
