"""Provisioning for standard authenticator apps: otpauth:// Key URIs, app profiles, QR codes.

- :class:`KeyURI`, :func:`build_uri` and :func:`parse_uri` write and strictly read Key URIs.
- :class:`CompatibilityProfile` and :func:`check_compatibility` warn when an app is known to
  ignore or refuse a parameter, with profiles for common apps.

QR codes are drawn by :mod:`softtoken.render` (``qr_png``, ``qr_svg``, ``qr_text``), the only
module that imports segno, so that importing provisioning or the app side never loads it.
"""

from __future__ import annotations

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
    "FREEOTP",
    "GOOGLE_AUTHENTICATOR",
    "MAX_URI_LENGTH",
    "MICROSOFT_AUTHENTICATOR",
    "PROFILES",
    "CompatibilityProfile",
    "KeyURI",
    "build_uri",
    "check_compatibility",
    "parse_uri",
]
