"""Griffe extensions for the docs build: Sphinx roles as inline code, and no private bases.

softtoken's docstrings cross-reference with Sphinx roles (:class:`HOTP`, :meth:`verify`), which
Markdown would print literally. :class:`SphinxRoles` turns each into plain inline code, as Sphinx
shows it: a leading ``~`` keeps only the last dotted part.

:class:`PrivateBases` drops base classes whose name starts with an underscore (HOTP and TOTP
share ``_OTP``) from what the reference shows, since the reference never documents them; public
bases stay, so that an exception still shows where it sits in the tree.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:attr|class|const|data|exc|func|meth|mod|obj):`(~?)([^`<>]+)`")


def _as_code(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_as_code, obj.docstring.value)


class PrivateBases(griffe.Extension):
    """Leave private base classes out of every class's list of bases."""

    def on_class_instance(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        # A base is an expression such as "_OTP" or "module._Base"; its last dotted part names it.
        cls.bases = [base for base in cls.bases if not str(base).rsplit(".", 1)[-1].startswith("_")]
