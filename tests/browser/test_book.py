"""The book (``make book``) read in Chromium the way a reader reads it.

Built once per module from the SMOKE executions of the series (``build/test-notebooks/``:
tests/test_notebooks.py's copies when they are fresh, which is why tests/conftest.py runs this
module last; otherwise ``scripts/run_notebooks.py --reuse`` executes what is missing), then
served on 127.0.0.1. A reader starts on the landing page, follows the sidebar to every chapter
and finds on each its figures drawn with data; on the site a typeset equation and search
results for "GRPO"; nowhere raw ``$$`` LaTeX, a widget repr or an nbval marker.
"""

from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402
import run_notebooks  # noqa: E402

NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
EXECUTED = ROOT / "build" / "test-notebooks"
WIDGET_REPR = re.compile(r"\b(?:V|H|Grid)Box\(children=|\b(?:Int|Float)(?:Slider|Progress)\(")
# What the page shows a reader, as plain data: visible prose (outside code and typeset math),
# every output and code text, the plotly figures' point counts, the math elements and how
# many MathJax has typeset.
READ_PAGE = """() => {
  const main = document.querySelector('main') || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  let prose = '';
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement.closest('pre, code, mjx-container, script, style')) {
      prose += node.textContent + '\\n';
    }
  }
  const size = a => !a ? 0 : a.length !== undefined ? a.length
      : a._inputArray ? Object.keys(a._inputArray).length : 0;  // plotly's decoded bdata
  const count = t => typeof t._length === 'number' ? t._length
      : Math.max(size(t.cells && t.cells.values),  // a table trace
                 ...['x', 'y', 'z', 'values', 'r'].map(k => size(t[k])));
  const figures = [...main.querySelectorAll('.js-plotly-plot')].map(
      d => (d._fullData || []).reduce((n, t) => n + count(t), 0));
  const math = [...main.querySelectorAll('.math')];
  return {prose, text: main.innerText, figures, math: math.length,
          typeset: math.filter(m => m.querySelector('mjx-container')).length,
          title: (main.querySelector('h1') || {}).textContent || ''};
}"""


def page_problems(page: dict, name: str) -> list[str]:
    """What is wrong with a page as ``READ_PAGE`` saw it, in plain sentences."""
    problems = []
    if "$$" in page["prose"]:
        problems.append(f"{name}: raw $$ LaTeX in the text")
    if WIDGET_REPR.search(page["text"]):
        problems.append(f"{name}: a widget repr ({WIDGET_REPR.search(page['text']).group()})")
    if "NBVAL" in page["text"]:
        problems.append(f"{name}: an nbval marker")
    empty = [i for i, n in enumerate(page["figures"]) if n == 0]
    if empty:
        problems.append(f"{name}: figure(s) {empty} of {len(page['figures'])} drew no data")
    if page["typeset"] < page["math"]:
        problems.append(f"{name}: {page['math'] - page['typeset']} of {page['math']} equations "
                        "not typeset")
    return problems


def test_page_problems_names_what_a_reader_would_see_wrong():
    good = {"prose": "the ratio r", "text": "x = 1", "figures": [12, 3], "math": 2,
            "typeset": 2, "title": "t"}
    assert page_problems(good, "ok") == []
    bad = {"prose": "$$\\hat A$$", "text": "VBox(children=(HTML(value='<b>C-MORL</b>'),\n"
           "# NBVAL_CHECK_OUTPUT", "figures": [5, 0], "math": 3, "typeset": 1, "title": "t"}
    problems = " | ".join(page_problems(bad, "bad"))
    for expected in ("raw $$", "VBox(children=", "nbval marker", "figure(s) [1] of 2",
                     "2 of 3 equations"):
        assert expected in problems


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """The built book served on 127.0.0.1: its base URL."""
    assert run_notebooks.main(["--smoke", "True", "--out", str(EXECUTED), "--reuse"]) == 0
    out = tmp_path_factory.mktemp("book")
    assert build_book.main(["--notebooks", str(EXECUTED), "--src", str(out / "src"),
                            "--out", str(out / "html")]) == 0
    handler = functools.partial(_Quiet, directory=str(out / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    yield context.new_page()
    context.close()


def read(page, url: str | None = None) -> dict:
    """Wait until the page's plotly figures are drawn and MathJax is done, then read it."""
    if url is not None:
        page.goto(url)
    page.wait_for_load_state("load")
    page.wait_for_function("""() => {
      const math = document.querySelectorAll('main .math');
      const typeset = [...math].filter(m => m.querySelector('mjx-container')).length;
      return typeset === math.length;
    }""", timeout=60_000)
    return page.evaluate(READ_PAGE)


def test_sidebar_reaches_every_chapter_with_figures_equations_and_no_leftovers(book, page):
    landing = read(page, f"{book}/index.html")
    problems = page_problems(landing, "index")
    assert "notebook" in landing["text"] and "what it teaches" in landing["text"]
    typeset = 0
    for name in NOTEBOOKS:
        link = page.locator(f"nav.bd-links a[href$='notebooks/{name}.html'], "
                            f"nav.bd-links a[href$='{name}.html']").first
        assert link.count() == 1, f"the sidebar has no link to {name}"
        link.click()
        page.wait_for_url(re.compile(rf"{name}\.html"))
        chapter = read(page)
        assert chapter["title"].startswith(name[:2]), (name, chapter["title"])
        problems += page_problems(chapter, name)
        if not chapter["figures"]:
            problems.append(f"{name}: no plotly figure")
        typeset += chapter["typeset"]
        assert page.locator(".prev-next-area a").count() >= 1, f"{name}: no previous/next link"
    assert not problems, "\n".join(problems)
    assert typeset > 0, "no typeset equation anywhere in the series"


def test_reference_page_lists_every_registered_algorithm(book, page):
    from polab.registry import ALGORITHMS

    reference = read(page, f"{book}/reference.html")
    assert not page_problems(reference, "reference")
    for name in ALGORITHMS:
        assert name in reference["text"], f"the reference does not list {name}"
    assert "learning_rate" in reference["text"]


def test_claims_page_lists_every_benchmark_with_its_verdicts(book, page):
    from polab.claims import load_claims

    text = read(page, f"{book}/claims.html")["text"]
    files = load_claims()
    assert files
    for f in files.values():
        assert f.script in text, f"the claims page does not list {f.script}"
        for c in f.claims:
            assert c.claim in text, f"the claims page lacks {f.name}'s claim {c.claim!r}"
    verdicts = sum(not c.is_goal for f in files.values() for c in f.claims)
    assert len(re.findall(r"\b(?:not |partly )?reproduced\b", text)) >= verdicts
    goals = sum(c.is_goal for f in files.values() for c in f.claims)
    assert "Project goals" in text, "the claims page lacks the project goals section"
    assert len(re.findall(r"\b(?:not )?met\b", text)) >= goals


def test_search_finds_grpo(book, page):
    page.goto(f"{book}/search.html?q=GRPO")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=60_000)
    assert results.count() >= 3
    assert any("03" in t for t in results.all_inner_texts())
