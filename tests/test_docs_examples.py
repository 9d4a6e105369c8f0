"""The Python examples in the documentation run as they are, in the order given.

Each page's ```python blocks run one after the other in one namespace, as a reader would paste
them; a block that raises fails the test and names the page and the block. The pages' asserts
(such as pyotp and softtoken giving the same code) are checked on the way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import pytest

from softtoken import HOTP, TOTP

DOCS: Final = Path(__file__).resolve().parent.parent / "docs"
# A fenced block opened by ```python at the start of a line and closed by the next ``` there.
PYTHON_BLOCK: Final = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Pages whose Python blocks make up one runnable program each.
RUNNABLE_PAGES: Final = [
    "from-pyotp.md",
    "getting-started.md",
    "index.md",
    "issuer.md",
    "provisioning.md",
]


def python_blocks(page: str) -> list[str]:
    """The source of each ```python block of docs/*page*, in order."""
    return PYTHON_BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))


def run_blocks(page: str) -> dict[str, object]:
    """Run every Python block of *page* in order, in one namespace, and return the namespace."""
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for number, source in enumerate(python_blocks(page), start=1):
        # The file name that tracebacks show names the page and the block.
        code = compile(source, f"docs/{page}, python block {number}", "exec")
        # Only this repository's own documentation is executed.
        exec(code, namespace)  # noqa: S102
    return namespace


class TestRunnablePages:
    """Every Python block of the pages that promise to run, runs."""

    @pytest.mark.parametrize("page", RUNNABLE_PAGES)
    def test_blocks_run_in_order(self, page: str, capsys: pytest.CaptureFixture[str]) -> None:
        """The page's blocks run in order without an error."""
        run_blocks(page)

        assert "" == capsys.readouterr().err

    @pytest.mark.parametrize("page", RUNNABLE_PAGES)
    def test_page_has_python_blocks(self, page: str) -> None:
        """The block pattern finds the page's examples, so that an empty run cannot pass."""
        assert [] != python_blocks(page)


class TestFromPyotp:
    """docs/from-pyotp.md sets the pyotp calls it names beside softtoken code that works."""

    @pytest.mark.parametrize(
        "call",
        [
            "pyotp.random_base32()",
            "totp.now()",
            "totp.verify(code, valid_window=1)",
            "totp.provisioning_uri(",
            "hotp.at(0)",
        ],
    )
    def test_each_pyotp_call_is_shown_in_an_example(self, call: str) -> None:
        """Each pyotp call the page compares appears in one of its runnable blocks."""
        assert any(call in block for block in python_blocks("from-pyotp.md"))

    def test_both_libraries_agree_in_the_examples(self) -> None:
        """After the page's blocks run, the pyotp and softtoken objects they made give the same
        codes for the same keys."""
        namespace = run_blocks("from-pyotp.md")
        # pyotp ships no type information, and the namespace holds whatever the page made.
        totp: Any = namespace["totp"]
        hotp: Any = namespace["hotp"]
        migrated = namespace["migrated"]
        counter_token = namespace["counter_token"]

        assert isinstance(migrated, TOTP)
        assert isinstance(counter_token, HOTP)
        assert totp.at(1_234_567_890) == migrated.generate(1_234_567_890)
        assert hotp.at(9) == counter_token.generate(9)

    def test_replay_floor_was_stored(self) -> None:
        """The page's verify example ends with the accepted step stored as last_step."""
        namespace = run_blocks("from-pyotp.md")

        assert namespace["match"] is not None
        assert isinstance(namespace["last_step"], int)
