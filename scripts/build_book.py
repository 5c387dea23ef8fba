"""Build the polab book: the executed notebooks, the claims page and the algorithm reference,
as a static site in ``build/book/`` (Sphinx, myst-nb, the book theme; ``make book``).

    python scripts/build_book.py                       # from make run's build/notebooks/
    python scripts/build_book.py --notebooks DIR --out DIR

The sources are generated into ``build/book-src/``: ``book/conf.py``; the landing page (the
README's introduction and series table, links pointing at the book's pages); one page per
executed notebook (plotly figures drawn by the site's own plotly.js, papermill's injected
parameters cell left out); ``claims.md`` from the benchmarks' claims files
(:mod:`polab.claims`); ``reference.md`` from the registry and the Config fields' metadata.
Nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import plotly

from polab.claims import Claim, ClaimsFile, by_card, by_issue, format_values, load_claims
from polab.config import describe_range
from polab.registry import ALGORITHMS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebooks import PLOTLY_MIME, add_html_figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
CARD_LINK = re.compile(r"\[(\d+)\]\(\.\./shared/cards/([\w.-]+)\.md\)")
NOTEBOOK_LINK = re.compile(r"\]\(notebooks/([\w-]+)\.ipynb\)")


def notebook_page(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An executed notebook as the book shows it: each plotly figure as HTML drawn by the
    site's plotly.js (its JSON and any widget view dropped), papermill's injected-parameters
    cell removed from the page (the ``parameters`` cell shows what the run used)."""
    add_html_figures(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            data.pop(PLOTLY_MIME, None)
            data.pop(WIDGET_MIME, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata.setdefault("tags", []).append("remove-cell")
    nb.metadata.pop("widgets", None)
    return nb


def readme_section(readme: str, heading: str) -> str:
    """The body of the README's ``## heading`` section."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## )", readme, re.S | re.M)
    if match is None:
        raise SystemExit(f"README.md has no '## {heading}' section")
    return match.group(1).strip()


def book_links(markdown: str) -> str:
    """README links made book links: notebooks to their pages, cards (outside the repository)
    to plain text naming the card."""
    markdown = NOTEBOOK_LINK.sub(r"](notebooks/\1.ipynb)", markdown)
    return CARD_LINK.sub(lambda m: f"card {int(m.group(1))} (`{m.group(2)}`)", markdown)


def landing_page(readme: str, notebooks: list[str]) -> str:
    intro = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    toc = "\n".join(f"notebooks/{name}" for name in notebooks)
    return (f"# polab — a Policy-Optimization Lab\n\n{intro}\n\n## The series\n\n"
            f"{book_links(readme_section(readme, 'The series'))}\n\n"
            "The [claims](claims.md) page lists every paper claim the benchmarks measured, "
            "with its verdict, and the project goals the others measured; the [algorithm "
            "reference](reference.md) every registered algorithm with its Config.\n\n"
            f"```{{toctree}}\n:caption: The series\n:maxdepth: 1\n:hidden:\n\n{toc}\n```\n\n"
            "```{toctree}\n:caption: Reference\n:maxdepth: 1\n:hidden:\n\nclaims\nreference\n```\n")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference_page() -> str:
    """One section per registered algorithm: family, card, paper, notebook, code, and its
    Config's fields with default, allowed values and help (from ``polab.config.param``)."""
    parts = ["# Algorithm reference\n",
             "Generated from the registry (`polab/registry/entries.py`) and each Config's field "
             "metadata: what `polab train NAME --help-config` prints and the panels are built "
             "from. Values a named variant fixes are listed under *preset*.\n"]
    for spec in ALGORITHMS.values():
        path = spec.module.replace(".", "/") + ".py"
        card = f"card {int(spec.card[:2])} (`{spec.card}`)" if spec.card else "—"
        config = spec.make_config()
        preset = ", ".join(f"`{k}={v!r}`" for k, v in spec.overrides) or "—"
        rows = "\n".join(
            f"| `{f.name}` | `{getattr(config, f.name)!r}` | {_cell(describe_range(f))} | "
            f"{_cell(f.help)}{f' ({_cell(f.paper)})' if f.paper else ''} |"
            for f in config.spec())
        parts.append(
            f"## `{spec.name}`\n\n{_cell(spec.summary)}\n\n"
            f"- family: {spec.family}; testbed: {spec.testbed} (default `{spec.default_env}`)\n"
            f"- paper: {spec.paper}\n- card: {card}\n"
            f"- notebook: [{spec.notebook}](notebooks/{spec.notebook}.ipynb)\n"
            f"- code: `{path}` (`{spec.trainer_ref}`), config `{spec.config_ref}`\n"
            f"- preset: {preset}\n\n"
            "```{table}\n:class: polab-fields\n\n"
            "| field | default | allowed | what it does |\n|---|---|---|---|\n"
            f"{rows}\n```\n")
    return "\n".join(parts)


def claims_page() -> str:
    """Every claim the benchmarks measured (``polab.claims.load_claims``), one section per
    card: its claims with baseline, metric, per-seed values and verdict; where each ran. Then
    the project goals the other benchmarks measured, one table per issue."""
    files = load_claims()
    parts = ["# Claims\n",
             "Each row is a claim of a paper's card as a benchmark in `benchmarks/` measured it "
             "on the card's miniature, per seed beside its baseline, with the verdict the "
             "benchmark computed from those numbers: *reproduced* (on every seed), *reproduced "
             "(weakly)* (on the mean only), *partly reproduced*, or *not reproduced*, with why. "
             "Generated from the benchmarks' claims files (`build/results/<name>.json` from a "
             "fresh run, else the measurements shipped in `benchmarks/results/claims/`).\n"]
    for card, claims in by_card(files).items():
        notebooks = sorted({c.notebook for c, _ in claims})
        scripts = sorted({_provenance(f) for _, f in claims})
        rows = "\n".join(
            f"| {_cell(c.claim)} | {_cell(c.baseline)}; {_cell(c.metric)} | "
            f"{_cell(', '.join(map(str, c.seeds)) or '—')} | {_cell(format_values(c))} | "
            f"{_verdict(c)} |" for c, _ in claims)
        parts.append(
            f"## Card {int(card[:2])} · `{card}`\n\n"
            f"Notebook: {', '.join(f'[{n}](notebooks/{n}.ipynb)' for n in notebooks)}; "
            f"measured by {', '.join(scripts)}.\n\n"
            "```{table}\n:class: polab-claims\n\n"
            "| claim | baseline; metric | seeds | per seed | verdict |\n|---|---|---|---|---|\n"
            f"{rows}\n```\n")
    goals = by_issue(files)
    if goals:
        parts.append(
            "## Project goals\n\n"
            "The benchmarks that test no card's claim measure a goal an issue set for the "
            "project (a speed target, a chapter's headline result); each writes a claims file "
            "of the same format, with the verdict *met* or *not met* computed by the "
            "benchmark's own criterion from the numbers beside it.\n")
    for issue, claims in goals.items():
        parts.append(f"### Issue {issue}\n")
        tables: dict[str, tuple[ClaimsFile, list[Claim]]] = {}  # one table per benchmark
        for c, f in claims:
            tables.setdefault(f.name, (f, []))[1].append(c)
        for f, ours in tables.values():
            rows = "\n".join(f"| {_cell(c.claim)} | {_goal_measured(c)} | {_verdict(c)} |"
                             for c in ours)
            parts.append(
                f"Measured by {_provenance(f)}:\n\n"
                "```{table}\n:class: polab-goals\n\n"
                "| goal | measured | verdict |\n|---|---|---|\n"
                f"{rows}\n```\n")
    return "\n".join(parts)


def _provenance(f: ClaimsFile) -> str:
    """Which benchmark wrote a claims file, when and on which machine."""
    return f"`{f.script}` ({f.date}; {f.machine})"


def _verdict(c: Claim) -> str:
    """A claim's or a goal's verdict in bold, then why."""
    return f"**{c.verdict}**{_cell(': ' + c.note) if c.note else ''}"


def _goal_measured(c: Claim) -> str:
    """A goal's metric, its seeds and its values, as one table cell."""
    seeds = f" (seeds {', '.join(map(str, c.seeds))})" if c.seeds else ""
    return _cell(f"{c.metric}{seeds}: {format_values(c)}")


def write_sources(notebooks_dir: Path, src: Path) -> list[str]:
    """Generate the book's sources into ``src``; return the notebook page names."""
    names = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    missing = [n for n in names if not (notebooks_dir / f"{n}.ipynb").exists()]
    if missing:
        raise SystemExit(f"no executed notebook in {notebooks_dir} for {missing}: run "
                         "`make run` (or `make book`, which runs it) first")
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "book" / "conf.py", src / "conf.py")
    shutil.copytree(ROOT / "book" / "_static", src / "_static")
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", src / "_static")
    for name in names:
        nb = nbformat.read(notebooks_dir / f"{name}.ipynb", as_version=4)
        nbformat.write(notebook_page(nb), src / "notebooks" / f"{name}.ipynb")
    readme = (ROOT / "README.md").read_text()
    (src / "index.md").write_text(landing_page(readme, names))
    (src / "reference.md").write_text(reference_page())
    (src / "claims.md").write_text(claims_page())
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", default=str(ROOT / "build" / "notebooks"),
                        help="executed notebooks (make run's output)")
    parser.add_argument("--src", default=str(ROOT / "build" / "book-src"))
    parser.add_argument("--out", default=str(ROOT / "build" / "book"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    names = write_sources(Path(args.notebooks), Path(args.src))
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    result = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", args.src,
                             str(out)], check=False)
    if result.returncode:
        return result.returncode
    print(f"book: {len(names)} notebooks, {out / 'index.html'} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
