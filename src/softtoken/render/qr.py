"""QR codes for Key URIs and activation offers, drawn locally with segno (SECURITY.md S12).

A QR code of a Key URI holds the secret. It is drawn here, in memory, and never sent to a chart
service. Every function takes a :class:`~softtoken.provisioning.KeyURI`, or a ``str`` that must
parse as one, so that no QR code ever carries a URI that apps or this library would refuse.
Every function also takes a QR activation
:class:`~softtoken.provisioning.qr_activation.Offer`, drawn as its one spelling
(:meth:`~softtoken.provisioning.qr_activation.Offer.to_text`); an offer holds no secret.

A ``str`` is parsed without ``allow_short_key``, so its secret needs at least 16 bytes. To draw
an old 10- to 15-byte key, parse the URI with ``parse_uri(text, allow_short_key=True)`` and pass
the :class:`~softtoken.provisioning.KeyURI`: the opt-in is then explicit where the URI is read.

The error-correction level is at least M (ISO/IEC 18004: about 15 % of the code words can be
restored), and segno raises it for free when the data still fits the same symbol size.
"""

from __future__ import annotations

import io
from typing import Final

import segno

from softtoken._checks import check_int
from softtoken.exceptions import InvalidURI
from softtoken.provisioning.qr_activation import Offer
from softtoken.provisioning.uri import KeyURI

__all__ = ["qr_png", "qr_svg", "qr_text"]

_ERROR_LEVEL: Final = "m"
_MAX_SCALE: Final = 40
_MAX_BORDER: Final = 16
# Half blocks: each text line shows two module rows, keyed by (upper row inked, lower row inked).
_HALF_BLOCKS: Final = {
    (True, True): "\u2588",  # full block
    (True, False): "\u2580",  # upper half block
    (False, True): "\u2584",  # lower half block
    (False, False): " ",
}


def _symbol(uri: KeyURI | Offer | str) -> segno.QRCode:
    if isinstance(uri, KeyURI):
        payload = uri.to_uri()
    elif isinstance(uri, Offer):
        # An offer's text is ASCII and at most MAX_OFFER_LENGTH characters, which always fits.
        payload = uri.to_text()
    elif isinstance(uri, str):
        KeyURI.parse(uri)
        payload = uri
    else:
        raise TypeError("uri must be a KeyURI, an Offer or str")
    symbol: segno.QRCode | None
    try:
        # A Key URI is ASCII, so segno encodes it in byte mode with no ECI header, which every
        # scanner reads.
        symbol = segno.make_qr(payload, error=_ERROR_LEVEL, boost_error=True)
    except segno.DataOverflowError:
        # Raising inside this block, even "from None", would keep segno's error as __context__,
        # where tracebacks and logs still reach it; softtoken's errors carry nothing but their
        # own constant message, so the error is raised below, outside the block.
        symbol = None
    if symbol is None:
        raise InvalidURI("the URI is too long for a QR code")
    return symbol


def qr_png(uri: KeyURI | Offer | str, *, scale: int = 5, border: int = 4) -> bytes:
    """Return a PNG image of the QR code for *uri*.

    Args:
        uri: a :class:`~softtoken.provisioning.KeyURI`, drawn as its canonical
            :meth:`~softtoken.provisioning.KeyURI.to_uri`, or a ``str`` that
            :meth:`~softtoken.provisioning.KeyURI.parse` accepts without ``allow_short_key``,
            drawn exactly as given; or an activation
            :class:`~softtoken.provisioning.qr_activation.Offer`, drawn as its text.
        scale: pixels per module, 1 to 40.
        border: the quiet zone in modules, 0 to 16; ISO/IEC 18004 asks for 4.

    Raises:
        TypeError: an argument has the wrong type.
        InvalidURI, InvalidEncoding: *uri* does not parse, or is too long for a QR code.
        KeyTooShort: *uri* is a ``str`` whose secret is shorter than 16 bytes.
        InvalidInput: *scale* or *border* is out of range.

    No error carries an inner exception as its cause or context.

    The image of a Key URI holds the secret: treat the bytes as one. An offer's holds none.
    """
    check_int(scale, "scale", 1, _MAX_SCALE)
    check_int(border, "border", 0, _MAX_BORDER)
    out = io.BytesIO()
    _symbol(uri).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def qr_svg(uri: KeyURI | Offer | str, *, scale: int = 5, border: int = 4) -> str:
    """Return an SVG document of the QR code for *uri*, as text.

    Arguments and errors as for :func:`qr_png`. The document has no title or description, so it
    carries nothing but the code itself. A Key URI's holds the secret: treat it as one.
    """
    check_int(scale, "scale", 1, _MAX_SCALE)
    check_int(border, "border", 0, _MAX_BORDER)
    out = io.BytesIO()
    _symbol(uri).save(out, kind="svg", scale=scale, border=border, xmldecl=True)
    return out.getvalue().decode("utf-8")


def qr_text(uri: KeyURI | Offer | str, *, border: int = 2, dark_background: bool = True) -> str:
    """Return the QR code for *uri* as lines of Unicode half-block characters, for a terminal.

    Each character covers one module across and two down, so the code looks square in common
    terminal fonts. No ANSI escape sequences are used. Lines are joined by ``"\\n"``, with no
    final newline, and all have the same length.

    Args:
        uri: as for :func:`qr_png`.
        border: the quiet zone in modules, 0 to 16.
        dark_background: ``True`` (the default) draws the light modules, for light text on a dark
            terminal; ``False`` draws the dark modules, for dark text on a light background.

    Raises:
        TypeError, InvalidURI, InvalidEncoding, KeyTooShort, InvalidInput: as for
            :func:`qr_png`.

    A Key URI's text holds the secret: show it only on the user's own screen.
    """
    check_int(border, "border", 0, _MAX_BORDER)
    if not isinstance(dark_background, bool):
        raise TypeError("dark_background must be bool")
    # matrix_iter yields a truthy value for each dark module, quiet zone included.
    rows = [
        [bool(module) is not dark_background for module in row]
        for row in _symbol(uri).matrix_iter(scale=1, border=border)
    ]
    if len(rows) % 2:
        # An odd row count leaves the last line's lower half: fill it as quiet zone (light).
        rows.append([dark_background] * len(rows[0]))
    lines = [
        "".join(_HALF_BLOCKS[pair] for pair in zip(upper, lower, strict=True))
        for upper, lower in zip(rows[::2], rows[1::2], strict=True)
    ]
    return "\n".join(lines)
