"""Fixtures of the real-browser tests: one JupyterLab server per session, one Chromium per
test module, one browser context and kernel per notebook.

Without Chromium the browser tests fail (they never skip silently): the run says so once
after collection, before any test, and the terminal summary says in capitals that they did not
run. `make test` installs Chromium before pytest starts (`make browser-deps`); `make test-fast`
leaves the browser tests out on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labdriver import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LabNotebook,
    LabServer,
    chromium_missing_message,
    have_chromium,
)

_missing: list[str] = []


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> LabServer:
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """Chromium through playwright's sync API. Module scope: while playwright runs, its event
    loop is the main thread's running loop, which breaks ``asyncio.run`` and ``is_live()`` in
    any later test of the session (measured: tests/test_widgets.py failed)."""
    if not have_chromium():
        _missing.append(chromium_missing_message())
        pytest.fail(chromium_missing_message(), pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def open_notebook(browser, lab):
    """``open_notebook(name, screenshot)``: a notebook in the lab root, opened in its own
    browser context; screenshot taken and kernel shut down at the end of the test."""
    opened = []

    def open_(name: str, screenshot: Path) -> LabNotebook:
        nb = LabNotebook(lab, browser, name, screenshot)
        opened.append(nb)
        nb.open()
        return nb

    yield open_
    for nb in opened:
        try:
            nb.screenshot()
        finally:
            nb.close()
        print(f"{nb.notebook}: timings {nb.timings}")


def pytest_collection_modifyitems(config, items):
    """Say it at the start, once, when browser tests were collected and cannot run."""
    here = Path(__file__).parent
    if not any(here in Path(str(item.path)).parents for item in items) or have_chromium():
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(chromium_missing_message(), red=True, bold=True)


def pytest_terminal_summary(terminalreporter):
    if _missing:
        terminalreporter.section("BROWSER TESTS DID NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.write_line(_missing[0], red=True, bold=True)
