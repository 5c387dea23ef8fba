"""Execute every notebook headless with papermill into build/ and write an HTML index.

    python scripts/run_notebooks.py                      # defaults
    python scripts/run_notebooks.py --smoke True         # every cell in seconds
    python scripts/run_notebooks.py -p SEED 1 -p SMOKE True notebooks/01_policy_gradients.ipynb
    python scripts/run_notebooks.py --smoke True --reuse  # keep fresh executed copies

Each executed notebook is saved as ``build/notebooks/NAME.ipynb`` (the 5 MB widget state
papermill stores is dropped) and as ``NAME.html`` whose plotly figures load
``plotly.min.js`` from the same folder, so the report works offline.
"""

from __future__ import annotations

import argparse
import ast
import html
import json
import os
import shutil
import sys
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

ROOT = Path(__file__).resolve().parents[1]
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class IPCKernelManager(AsyncKernelManager):
    """The kernel manager papermill starts its kernels with: Unix-domain (IPC) sockets in the
    runtime directory instead of plain TCP on localhost, so the kernel's traffic never touches
    the network stack and ipykernel has no "running over TCP without encryption" to warn about
    on every notebook."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**{"transport": "ipc", **kwargs})

    async def _async_interrupt_kernel(self) -> None:
        """jupyter_client interrupts every kernel before asking it to shut down; when papermill
        is done no cell runs, and the SIGINT only made ipykernel log "KeyboardInterrupt caught
        in kernel" as an ERROR now and then. Interrupts while running (a cell timeout) stay."""
        if not self.shutting_down:
            await super()._async_interrupt_kernel()


def add_html_figures(nb) -> None:
    """Give every plotly output a ``text/html`` twin that nbconvert's HTML can show."""
    for i, cell in enumerate(nb.cells):
        for j, out in enumerate(cell.get("outputs", [])):
            fig = out.get("data", {}).get(PLOTLY_MIME)
            if fig is None:
                continue
            div = f"fig-{i}-{j}"
            out["data"]["text/html"] = (
                f'<div id="{div}"></div><script>Plotly.newPlot("{div}", '
                f'{json.dumps(fig.get("data", []))}, {json.dumps(fig.get("layout", {}))});'
                "</script>")


def export_html(nb_path: Path, html_path: Path) -> None:
    import nbconvert
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    add_html_figures(nb)
    for cell in nb.cells:  # keep the plotly JSON out of the HTML (the twin draws it)
        for out in cell.get("outputs", []):
            out.get("data", {}).pop(PLOTLY_MIME, None)
    body, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(nb)
    body = body.replace("<head>", '<head><script src="plotly.min.js"></script>', 1)
    html_path.write_text(body)


def library_mtime() -> float:
    """When the code the notebooks run (``polab/``, ``widgets/``) last changed."""
    return max(p.stat().st_mtime for folder in ("polab", "widgets")
               for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".pt", ".json"))


def up_to_date(source: Path, target: Path, params: dict) -> bool:
    """Whether ``target`` is an executed copy of ``source`` made after the last change of the
    notebook and of the library, with ``params``, that ran without an error (``--reuse``;
    ``make book`` reuses ``make run``'s outputs)."""
    import nbformat

    if not target.exists() or target.stat().st_mtime <= max(source.stat().st_mtime,
                                                             library_mtime()):
        return False
    nb = nbformat.read(target, as_version=4)
    if nb.metadata.get("papermill", {}).get("parameters") != params:
        return False
    return not any(out.get("output_type") == "error"
                   for cell in nb.cells for out in cell.get("outputs", []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--smoke", default="False", help="value of the SMOKE parameter")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a papermill parameter (value parsed as a Python literal)")
    parser.add_argument("--out", default=str(ROOT / "build" / "notebooks"))
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--reuse", action="store_true",
                        help="skip a notebook whose executed copy is newer than it and was run "
                             "with the same parameters")
    args = parser.parse_args(argv)

    import nbformat
    import papermill
    import plotly

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", out_dir)
    params = {"SMOKE": ast.literal_eval(args.smoke)}
    for name, value in args.p:
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name] = value
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    os.environ["POLAB_HEADLESS"] = "1"
    rows, failed = [], 0
    for path in paths:
        target = out_dir / path.name
        if args.reuse and up_to_date(path, target, params):
            print(f"{path.name:<40} {'reused':<10} {0.0:6.1f} s")
            rows.append((path.stem, "reused", 0.0))
            continue
        start = time.perf_counter()
        error = ""
        try:
            papermill.execute_notebook(str(path), str(target), parameters=params,
                                       cwd=str(path.parent), execution_timeout=args.timeout,
                                       progress_bar=False, kernel_name="python3",
                                       kernel_manager_class=IPCKernelManager)
        except Exception as err:  # papermill still wrote the notebook up to the failing cell
            lines = [line for line in str(err).splitlines() if line.strip()]
            error = lines[0].strip() if lines else type(err).__name__  # papermill's start "\n"
            failed += 1
        seconds = time.perf_counter() - start
        if target.exists():
            nb = nbformat.read(target, as_version=4)
            nb.metadata.pop("widgets", None)
            nbformat.write(nb, target)
            export_html(target, target.with_suffix(".html"))
        status = "failed: " + error if error else "ok"
        print(f"{path.name:<40} {status:<10} {seconds:6.1f} s")
        rows.append((path.stem, status, seconds))
    total = sum(t for _, _, t in rows)
    table = "".join(
        f"<tr><td><a href='{html.escape(n)}.html'>{html.escape(n)}</a></td>"
        f"<td>{html.escape(s)}</td><td>{t:.1f} s</td>"
        f"<td><a href='{html.escape(n)}.ipynb'>.ipynb</a></td></tr>" for n, s, t in rows)
    (out_dir / "index.html").write_text(
        "<html><head><meta charset='utf-8'><title>polab notebooks</title></head><body>"
        f"<h1>polab notebooks</h1><p>parameters: {html.escape(repr(params))}</p>"
        f"<table border=1 cellpadding=4><tr><th>notebook</th><th>status</th><th>time</th>"
        f"<th>executed</th></tr>{table}<tr><td><b>total</b></td><td>{len(rows) - failed}/"
        f"{len(rows)} ok</td><td>{total:.1f} s</td><td></td></tr></table></body></html>")
    print(f"{'total':<40} {f'{len(rows) - failed}/{len(rows)} ok':<10} {total:6.1f} s")
    print(f"index: {out_dir / 'index.html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
