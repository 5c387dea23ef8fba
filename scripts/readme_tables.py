"""Rewrite the README's generated tables: the algorithms (from the registry, ``polab/registry/``),
the claims and the project goals (from the benchmarks' claims files, :mod:`polab.claims`).

    python scripts/readme_tables.py          # rewrite README.md in place
    python scripts/readme_tables.py --check  # exit 1 when a table is stale

tests/test_registry.py and tests/test_claims.py fail when they disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from polab import claims, registry

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS: list[tuple[str, str, Callable[[], str]]] = [
    (registry.README_BEGIN, registry.README_END, registry.markdown_table),
    (claims.README_BEGIN, claims.README_END, claims.readme_table),
    (claims.README_GOALS_BEGIN, claims.README_GOALS_END, claims.readme_goals_table),
]


def replace_block(text: str, begin: str, end: str, table: str) -> str:
    """``text`` with the block between ``begin`` and ``end`` replaced by ``table``."""
    head, sep, rest = text.partition(begin)
    _, sep_end, tail = rest.partition(end)
    if not sep or not sep_end:
        raise SystemExit(f"{README}: the markers {begin!r} … {end!r} are missing")
    return f"{head}{begin}\n{table}\n{end}{tail}"


def render(text: str) -> str:
    """``text`` with every generated table replaced by its source's."""
    for begin, end, table in BLOCKS:
        text = replace_block(text, begin, end, table())
    return text


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("README.md's generated tables are stale: run python scripts/readme_tables.py")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
