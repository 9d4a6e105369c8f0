"""Provisioning: the identifiers people type, token parameters, and otpauth:// Key URIs.

- :class:`Serial`, :class:`ActivationCode` and :class:`RegistrationCode` are the identifiers
  of an activation, each with a Luhn check digit (:mod:`softtoken.provisioning.identifiers`).
- :class:`TokenParams` says what codes a provisioned token makes.
- :class:`KeyURI`, :func:`build_uri` and :func:`parse_uri` write and strictly read Key URIs.
- :mod:`~softtoken.provisioning.offline` (serial and activation code in, registration code
  out), :mod:`~softtoken.provisioning.qr_activation` (a QR offer and an SMS password; the
  secret never travels) and :mod:`~softtoken.provisioning.enrollment` (standard apps, with a
  first code to confirm) are the activation flows, as pure functions of values.
- :mod:`softtoken.provisioning.entrust` reads Entrust-style tokens for migration. It is weak,
  and is imported explicitly only.
- :class:`CompatibilityProfile` and :func:`check_compatibility` warn when an app is known to
  ignore or refuse a parameter, with profiles for common apps.

QR codes are drawn by :mod:`softtoken.render` (``qr_png``, ``qr_svg``, ``qr_text``), the only
module that imports segno, so that importing provisioning or the app side never loads it.
"""

from __future__ import annotations

from softtoken.provisioning import enrollment, offline, qr_activation
from softtoken.provisioning.identifiers import ActivationCode, RegistrationCode, Serial
from softtoken.provisioning.params import DEFAULT_PARAMS, TokenParams
from softtoken.provisioning.profiles import (
    AEGIS,
    FREEOTP,
    GOOGLE_AUTHENTICATOR,
    MICROSOFT_AUTHENTICATOR,
    PROFILES,
    CompatibilityProfile,
    check_compatibility,
)
from softtoken.provisioning.uri import MAX_URI_LENGTH, KeyURI, build_uri, parse_uri

__all__ = [
    "AEGIS",
    "DEFAULT_PARAMS",
    "FREEOTP",
    "GOOGLE_AUTHENTICATOR",
    "MAX_URI_LENGTH",
    "MICROSOFT_AUTHENTICATOR",
    "PROFILES",
    "ActivationCode",
    "CompatibilityProfile",
    "KeyURI",
    "RegistrationCode",
    "Serial",
    "TokenParams",
    "build_uri",
    "check_compatibility",
    "enrollment",
    "offline",
    "parse_uri",
    "qr_activation",
]
