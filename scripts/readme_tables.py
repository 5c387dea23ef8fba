"""Rewrite the README's algorithm table from the registry (``polab/registry/``).

    python scripts/readme_tables.py          # rewrite README.md in place
    python scripts/readme_tables.py --check  # exit 1 when the README's table is stale

tests/test_registry.py fails when the two disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from polab.registry import README_BEGIN, README_END, markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def render(text: str) -> str:
    """``text`` with the block between the markers replaced by the registry's table."""
    head, sep, rest = text.partition(README_BEGIN)
    _, sep_end, tail = rest.partition(README_END)
    if not sep or not sep_end:
        raise SystemExit(f"{README}: the markers {README_BEGIN!r} … {README_END!r} are missing")
    return f"{head}{README_BEGIN}\n{markdown_table()}\n{README_END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("README.md's algorithm table is stale: run python scripts/readme_tables.py")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
