"""A Griffe extension for the docs build: show Sphinx roles in docstrings as inline code.

softtoken's docstrings cross-reference with Sphinx roles (:class:`HOTP`, :meth:`verify`), which
Markdown would print literally. This turns each into plain inline code, as Sphinx shows it: a
leading ``~`` keeps only the last dotted part.
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
