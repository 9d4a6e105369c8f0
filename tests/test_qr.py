"""Tests for softtoken.render's QR codes: PNG, SVG and terminal text.

The PNG and the terminal text are decoded with the real ``zbarimg`` (from zbar-tools), an
independent QR reader, and must give back exactly the URI they were drawn from.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest

from softtoken import InvalidEncoding, InvalidInput, InvalidURI, KeyTooShort
from softtoken.provisioning import KeyURI, build_uri, parse_uri
from softtoken.render import qr_png, qr_svg, qr_text

ZBARIMG: Final = shutil.which("zbarimg")
requires_zbarimg = pytest.mark.skipif(
    ZBARIMG is None, reason="zbarimg is not installed (Debian/Ubuntu: apt-get install zbar-tools)"
)

# URIs to draw. The keys are the Key URI format wiki's published example keys and fixed byte
# patterns, never real secrets, so that a failure may print them. The first is the wiki's basic
# example with its 10-byte key written twice, so that it parses without the short-key opt-in.
URIS: Final = [
    "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    "&issuer=Example",
    "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"
    "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
    build_uri(
        bytes(range(64)),
        account="Zoë+test@example.com",
        issuer="Banque Été",
        kind="hotp",
        algorithm="sha512",
        digits=8,
        counter=2**64 - 1,
        image="https://bank.example/logo.png",
        extra=[("lock", "true"), ("note", "x" * 200)],
    ),
]
# The wiki's basic example as published: its key has 10 bytes, a legacy length.
LEGACY_URI: Final = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
DRAWERS: Final[list[Callable[[str], object]]] = [qr_png, qr_svg, qr_text]
BLOCKS: Final = frozenset(" \u2580\u2584\u2588")
# Each half-block character, as (upper module inked, lower module inked).
INKED: Final = {" ": (False, False), "\u2580": (True, False), "\u2584": (False, True)}
INKED["\u2588"] = (True, True)


def zbarimg(image: Path) -> str:
    """Return what ``zbarimg`` reads from *image*: the data of the one symbol in it."""
    assert ZBARIMG is not None
    done = subprocess.run(
        [ZBARIMG, "--raw", "-q", str(image)], capture_output=True, check=True, timeout=60
    )
    # zbarimg ends each symbol's data with a newline.
    return done.stdout.decode("utf-8").removesuffix("\n")


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (ISO/IEC 15948 §11.2.2), which comes first."""
    assert PNG_SIGNATURE == png[:8]
    assert b"IHDR" == png[12:16]
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def text_to_pgm(text: str, *, dark_background: bool, pixels: int = 4) -> bytes:
    """Turn terminal text back into a binary PGM image (Netpbm P5): inked cells are the light
    modules on a dark background and the dark modules otherwise; each module is *pixels* wide."""
    rows: list[list[bool]] = []
    for line in text.split("\n"):
        upper, lower = zip(*(INKED[char] for char in line), strict=True)
        rows.extend([list(upper), list(lower)])
    # A module is dark unless it is inked on a dark background, or uninked on a light one.
    dark = [[inked is not dark_background for inked in row] for row in rows]
    body = bytearray()
    for row in dark:
        pixel_row = bytes(0 if module else 255 for module in row for _ in range(pixels))
        body += pixel_row * pixels
    header = f"P5 {len(dark[0]) * pixels} {len(dark) * pixels} 255\n".encode("ascii")
    return header + bytes(body)


class TestPNG:
    """qr_png draws a PNG that an independent reader decodes."""

    @requires_zbarimg
    @pytest.mark.parametrize("uri", URIS)
    def test_zbarimg_reads_the_uri_back(self, uri: str, tmp_path: Path) -> None:
        """zbarimg decodes exactly the URI that was drawn."""
        image = tmp_path / "code.png"
        image.write_bytes(qr_png(uri))

        assert uri == zbarimg(image)

    @requires_zbarimg
    def test_key_uri_draws_its_canonical_uri(self, tmp_path: Path) -> None:
        """A KeyURI is drawn as its to_uri()."""
        uri = KeyURI("totp", bytes(range(20)), "alice", issuer="Bank", digits=8)
        image = tmp_path / "code.png"
        image.write_bytes(qr_png(uri, scale=3, border=4))

        assert uri.to_uri() == zbarimg(image)

    @requires_zbarimg
    def test_legacy_key_uri_parsed_with_the_opt_in(self, tmp_path: Path) -> None:
        """A 10-byte key is drawn when its URI was parsed with the explicit opt-in."""
        image = tmp_path / "code.png"
        image.write_bytes(qr_png(parse_uri(LEGACY_URI, allow_short_key=True)))

        assert LEGACY_URI == zbarimg(image)

    @pytest.mark.parametrize(("scale", "border"), [(1, 0), (5, 4), (7, 2)])
    def test_size_follows_scale_and_border(self, scale: int, border: int) -> None:
        """The image is square, and scale and border change it by whole modules."""
        base_width, _ = png_size(qr_png(URIS[0], scale=1, border=0))

        width, height = png_size(qr_png(URIS[0], scale=scale, border=border))

        assert (width, width) == (width, height)
        assert (base_width + 2 * border) * scale == width


class TestSVG:
    """qr_svg writes a well-formed SVG document."""

    @pytest.mark.parametrize("uri", URIS)
    def test_well_formed_svg(self, uri: str) -> None:
        """The text parses as XML whose root is an SVG element of the PNG's size."""
        # Our own output, parsed in memory: no untrusted XML is involved.
        root = ET.fromstring(qr_svg(uri, scale=3, border=4))  # noqa: S314

        assert "{http://www.w3.org/2000/svg}svg" == root.tag
        width, height = png_size(qr_png(uri, scale=3, border=4))
        assert (str(width), str(height)) == (root.get("width"), root.get("height"))

    def test_no_title_or_description(self) -> None:
        """The document holds the code and nothing that names the account."""
        svg = qr_svg(URIS[0])

        assert "alice" not in svg
        assert "<title" not in svg


class TestText:
    """qr_text draws the code with half blocks for a terminal."""

    @pytest.mark.parametrize("uri", URIS)
    @pytest.mark.parametrize("dark_background", [True, False])
    def test_shape(self, uri: str, dark_background: bool) -> None:
        """Non-empty lines of block characters only, all of the same width, with no final
        newline; a square code of n modules and border b gives ceil((n + 2b) / 2) lines of
        n + 2b characters."""
        text = qr_text(uri, dark_background=dark_background)
        lines = text.split("\n")
        width = len(lines[0])

        assert set(text) <= BLOCKS | {"\n"}
        assert 0 < width
        assert [width] * len(lines) == [len(line) for line in lines]
        assert (width + 1) // 2 == len(lines)

    def test_border_adds_modules(self) -> None:
        """Each module of border adds two characters across."""
        narrow = qr_text(URIS[0], border=0).split("\n")
        wide = qr_text(URIS[0], border=3).split("\n")

        assert len(narrow[0]) + 6 == len(wide[0])

    @pytest.mark.parametrize("dark_background", [True, False])
    def test_padding_is_quiet_zone(self, dark_background: bool) -> None:
        """The lower half of the last line, which an odd module count leaves over, is drawn
        like the quiet zone of the top row."""
        lines = qr_text(URIS[0], dark_background=dark_background).split("\n")

        top = [INKED[char][0] for char in lines[0]]
        padding = [INKED[char][1] for char in lines[-1]]

        assert [dark_background] * len(top) == top
        assert top == padding

    def test_backgrounds_are_inverses(self) -> None:
        """The two renderings ink exactly the opposite modules, the padding half-line that an
        odd module count leaves at the bottom included (it is quiet zone, light, in both)."""
        light = qr_text(URIS[0], dark_background=False).split("\n")
        dark = qr_text(URIS[0], dark_background=True).split("\n")
        flip = {(not upper, not lower): char for char, (upper, lower) in INKED.items()}

        inverted = ["".join(flip[INKED[char]] for char in line) for line in light]

        assert dark == inverted

    @requires_zbarimg
    @pytest.mark.parametrize("uri", URIS)
    @pytest.mark.parametrize("dark_background", [True, False])
    def test_zbarimg_reads_the_text(self, uri: str, dark_background: bool, tmp_path: Path) -> None:
        """The text, turned back into pixels as a terminal shows it, decodes to the URI."""
        text = qr_text(uri, dark_background=dark_background)
        image = tmp_path / "code.pgm"
        image.write_bytes(text_to_pgm(text, dark_background=dark_background))

        assert uri == zbarimg(image)


class TestRefusals:
    """Bad input raises before anything is drawn."""

    @pytest.mark.parametrize("draw", DRAWERS)
    def test_invalid_uri_is_not_drawn(self, draw: Callable[[str], object]) -> None:
        """Text that is not a valid Key URI raises InvalidURI or InvalidEncoding."""
        with pytest.raises(InvalidURI):
            draw("https://example.com/")
        with pytest.raises(InvalidEncoding):
            draw("otpauth://totp/alice?secret=NOT-BASE32")

    @pytest.mark.parametrize("draw", DRAWERS)
    @pytest.mark.parametrize(
        ("text", "legacy_opt_in"),
        [
            ("otpauth://totp/B:a?secret=AE", False),
            ("otpauth://totp/B:a?secret=AEBAGBAFAYDQQCI", False),
            (LEGACY_URI, True),
            ("otpauth://hotp/B:a?secret=AEBAGBAFAYDQQCIKBMGA2DQP&counter=0", True),
        ],
    )
    def test_short_secret_text_is_not_drawn(
        self, draw: Callable[[str], object], text: str, legacy_opt_in: bool
    ) -> None:
        """A URI given as text is parsed without the opt-in, so a secret under 16 bytes (1, 9,
        10 and 15 bytes here) raises KeyTooShort and nothing is drawn."""
        with pytest.raises(KeyTooShort) as caught:
            draw(text)

        assert (16, legacy_opt_in) == (caught.value.minimum, caught.value.legacy_opt_in)

    def test_too_long_for_a_qr_code(self) -> None:
        """A valid URI beyond a QR code's capacity raises InvalidURI, carrying no inner
        exception as its cause or context."""
        uri = build_uri(bytes(20), account="a", extra=[("pad", "x" * 3000)])

        with pytest.raises(InvalidURI, match="too long for a QR code") as caught:
            qr_png(uri)

        assert (None, None) == (caught.value.__cause__, caught.value.__context__)

    @pytest.mark.parametrize("draw", DRAWERS)
    def test_undecodable_text_carries_no_context(self, draw: Callable[[str], object]) -> None:
        """A '%FF' secret raises InvalidURI without the UnicodeDecodeError, which quotes the
        bytes, as its context."""
        with pytest.raises(InvalidURI) as caught:
            draw("otpauth://totp/alice?secret=%FF")

        assert (None, None) == (caught.value.__cause__, caught.value.__context__)

    @pytest.mark.parametrize(
        ("scale", "border", "error"),
        [
            (0, 4, InvalidInput),
            (41, 4, InvalidInput),
            (5, -1, InvalidInput),
            (5, 17, InvalidInput),
            (5.0, 4, TypeError),
            (True, 4, TypeError),
            (5, "4", TypeError),
        ],
    )
    def test_scale_and_border(self, scale: object, border: object, error: type[Exception]) -> None:
        """Scale and border are int within 1-40 and 0-16."""
        with pytest.raises(error):
            qr_png(URIS[0], scale=scale, border=border)  # type: ignore[arg-type]

    def test_wrong_types(self) -> None:
        """A URI of the wrong type, or a non-bool background, raises TypeError."""
        with pytest.raises(TypeError):
            qr_svg(URIS[0].encode())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            qr_text(URIS[0], dark_background=1)  # type: ignore[arg-type]


class TestImports:
    """Only softtoken.render loads segno."""

    @pytest.mark.parametrize(
        ("modules", "loaded"),
        [
            ("softtoken.app, softtoken.provisioning", False),
            ("softtoken", False),
            # A control: the check does see segno when the module that draws is imported.
            ("softtoken.render", True),
        ],
    )
    def test_segno_is_loaded_only_for_drawing(self, modules: str, loaded: bool) -> None:
        """A fresh interpreter that imports the provisioning and app modules has not loaded
        segno; one that imports softtoken.render has."""
        script = f"import sys, {modules}; print('segno' in sys.modules)"

        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, check=True, timeout=60
        )

        assert str(loaded) == done.stdout.decode("ascii").strip()
