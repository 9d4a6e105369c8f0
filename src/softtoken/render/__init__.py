"""Drawing for people: QR codes of Key URIs (the only part of softtoken that imports segno)."""

from __future__ import annotations

from softtoken.render.qr import qr_png, qr_svg, qr_text

__all__ = ["qr_png", "qr_svg", "qr_text"]
