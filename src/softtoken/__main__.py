"""Run the ``softtoken`` command as ``python -m softtoken``."""

from __future__ import annotations

from softtoken.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
