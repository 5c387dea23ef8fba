"""The claims a benchmark measured, one small JSON file per benchmark, in one format.

Every benchmark that tests a card's claim ends by calling :func:`write_claims` with what it
measured: per claim the card, the algorithms, the claim in a sentence, the baseline, the
metric, the per-seed values of each arm, and the verdict computed from them. A benchmark that
tests a *project goal* set by an issue (a speed target, a headline result) writes the same kind
of file with goal claims: ``card=""``, ``issue`` the issue's number, and a verdict from
:data:`GOAL_VERDICTS`. The file goes to
``build/results/<name>.json`` (``--results-dir`` elsewhere); the measurements this repository
ships are the committed copies in ``benchmarks/results/claims/``. :func:`load_claims` reads
both (a fresh run in ``build/results`` wins), and the book's claims page, the README's claims
table and the registry's coverage test are all made from what it returns.

A file::

    {"name": "bgpo", "script": "benchmarks/bgpo.py", "command": "...",
     "machine": "...", "date": "2026-12-04",
     "claims": [{"card": "41_bgpo", "algorithms": ["bgpo"], "notebook": "14_...",
                 "claim": "...", "baseline": "...", "metric": "...", "seeds": [0, 1, 2],
                 "values": {"BGPO n_mc 16": [0.549, 0.494, 0.562], ...},
                 "verdict": "reproduced", "note": "..."}]}
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from polab.machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]
BUILD_RESULTS = ROOT / "build" / "results"
SHIPPED_RESULTS = ROOT / "benchmarks" / "results" / "claims"
RECORDED_MACHINE = "the workplace's 2-core x86_64 box, CPU only, 1 torch thread, torch 2.13.0+cpu"
"""Where the shipped results were measured, for recorded runs that do not name a machine."""
VERDICTS = ("reproduced", "reproduced (weakly)", "partly reproduced", "not reproduced")
"""What a verdict may say: the card's claim held on every seed / only on the mean or within
noise / for some of its parts / did not hold. The claim's ``note`` says why."""
GOAL_VERDICTS = ("met", "not met")
"""What a goal claim's verdict may say: the issue's goal held (by the benchmark's own
criterion) or did not."""


@dataclass(frozen=True)
class Claim:
    """One claim of a card, or one goal of an issue (``card=""``, ``issue`` its number), as a
    benchmark measured it (see the module docstring)."""

    card: str
    algorithms: tuple[str, ...]
    notebook: str
    claim: str
    baseline: str
    metric: str
    seeds: tuple[int, ...]
    values: dict[str, tuple[float, ...]]
    verdict: str
    note: str = ""
    issue: int | None = None

    @property
    def is_goal(self) -> bool:
        """A project goal set by an issue rather than a card's claim."""
        return self.issue is not None

    @property
    def source(self) -> str:
        """``card '41_bgpo'`` or ``issue 19``."""
        return f"issue {self.issue}" if self.is_goal else f"card {self.card!r}"

    def __post_init__(self) -> None:
        problems = []
        allowed = GOAL_VERDICTS if self.is_goal else VERDICTS
        if self.verdict not in allowed:
            problems.append(f"verdict={self.verdict!r} is not one of {list(allowed)}")
        if not self.card and self.issue is None:
            problems.append("card and issue are both empty (a claim comes from a card or an "
                            "issue)")
        if self.card and self.issue is not None:
            problems.append(f"card={self.card!r} and issue={self.issue!r}: a claim comes from "
                            "one of them")
        if not self.algorithms and not self.is_goal:
            problems.append("algorithms is empty")
        expected = len(self.seeds) or 1  # no seeds: one deterministic measurement per arm
        for arm, vals in self.values.items():
            if len(vals) != expected:
                problems.append(f"values[{arm!r}] has {len(vals)} numbers, expected {expected}"
                                f" (seeds {list(self.seeds)})")
        if not self.values:
            problems.append("values is empty")
        if problems:
            raise ValueError(f"Claim of {self.source} ({self.claim!r}): "
                             + "; ".join(problems))

    @classmethod
    def from_dict(cls, d: dict) -> Claim:
        return cls(**{**d, "algorithms": tuple(d["algorithms"]), "seeds": tuple(d["seeds"]),
                      "values": {k: tuple(v) for k, v in d["values"].items()}})


@dataclass(frozen=True)
class ClaimsFile:
    """What one benchmark run wrote: where and when it ran, and its claims."""

    name: str
    script: str
    command: str
    machine: str
    date: str
    claims: tuple[Claim, ...] = field(default_factory=tuple)
    path: str = ""

    @classmethod
    def from_dict(cls, d: dict, path: str = "") -> ClaimsFile:
        claims = tuple(Claim.from_dict(c) for c in d["claims"])
        return cls(**{**d, "claims": claims, "path": path})


def machine() -> str:
    """This machine in words: CPU count, architecture and processor, torch and its device,
    threads."""
    import torch

    device = (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
              else f"CPU only, {torch.get_num_threads()} torch thread(s)")
    return (f"{os.cpu_count()}-core {platform.machine()} ({cpu_name()}), {device}, torch "
            f"{torch.__version__}, Python {platform.python_version()}")


def add_claims_arguments(parser: argparse.ArgumentParser) -> None:
    """A benchmark's ``--results-dir`` (where its claims file goes) and ``--claims-from``
    (derive the claims file from a results JSON the benchmark saved earlier, without a run)."""
    parser.add_argument("--results-dir", type=Path, default=BUILD_RESULTS,
                        help="where the claims file <name>.json goes (default build/results)")
    parser.add_argument("--claims-from", type=Path, default=None, metavar="RESULTS_JSON",
                        help="write the claims file from this saved run's --json output "
                             "instead of running")


def parse_benchmark_args(parser: argparse.ArgumentParser, name: str,
                         claims: Callable[[dict], Sequence[Claim]],
                         argv: Sequence[str] | None = None) -> argparse.Namespace:
    """A benchmark's ``parser.parse_args(argv)`` with :func:`add_claims_arguments`; with
    ``--claims-from`` it writes benchmark ``name``'s claims file from the saved run and exits
    (no run)."""
    add_claims_arguments(parser)
    args = parser.parse_args(argv)
    if args.claims_from:
        print(record_claims(name, claims, args.claims_from, args.results_dir))
        raise SystemExit(0)
    return args


def as_json(res: dict) -> dict:
    """``res`` as it reads back from JSON (integer keys become strings): what a benchmark's
    ``claims(res)`` gets, from a fresh run and from ``--claims-from`` alike."""
    return json.loads(json.dumps(res))


def write_claims(name: str, claims: Sequence[Claim], *,
                 results_dir: str | Path | None = None, machine_text: str | None = None,
                 date: str | None = None) -> Path:
    """Write benchmark ``name``'s claims to ``results_dir/<name>.json`` (default
    ``build/results``) with the command line, the machine and the date (this one and today,
    unless a recorded run's are given); return the path."""
    out = Path(results_dir) if results_dir is not None else BUILD_RESULTS
    out.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).resolve()
    script_name = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else script.name
    record = {"name": name, "script": script_name,
              "command": " ".join(["python", script_name, *sys.argv[1:]]),
              "machine": machine_text or machine(),
              "date": date or datetime.date.today().isoformat(),
              "claims": [_claim_json(c) for c in claims]}
    path = out / f"{name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def save_run(name: str, res: dict, claims: Callable[[dict], Sequence[Claim]],
             args: argparse.Namespace) -> Path | None:
    """A benchmark's last step: its results ``res`` to ``args.json`` (when given) and benchmark
    ``name``'s claims file from ``claims(as_json(res))`` to ``args.results_dir``; no claims
    file when the run measured no claim (an empty one in ``build/results`` would hide the
    shipped one on the book's claims page). Prints where the claims went; returns the path."""
    if getattr(args, "json", None):
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(as_json(res), indent=1) + "\n")
    found = claims(as_json(res))
    if not found:
        print("claims: none (this run measured no claim; no claims file written)")
        return None
    path = write_claims(name, found, results_dir=args.results_dir)
    print("claims:", path)
    return path


def record_claims(name: str, claims: Callable[[dict], Sequence[Claim]], results_json: Path,
                  results_dir: Path | None = None) -> Path:
    """``--claims-from``: the claims of a run recorded in ``results_json`` (a benchmark's own
    ``--json`` output), dated by the file's last commit (else its modification time), on the
    machine the repository's results were measured on (with what the file says of it)."""
    res = json.loads(Path(results_json).read_text())
    return write_claims(name, claims(res), results_dir=results_dir,
                        machine_text=RECORDED_MACHINE + (f" ({res['machine']})"
                                                         if res.get("machine") else ""),
                        date=_recorded_date(Path(results_json)))


def _recorded_date(path: Path) -> str:
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(path)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out = ""
    return out or datetime.date.fromtimestamp(path.stat().st_mtime).isoformat()


def _claim_json(c: Claim) -> dict:
    """``c`` as written to a file: a card's claim without the ``issue`` field (so the card
    files read as before it existed), a goal with it."""
    d = asdict(c)
    if d["issue"] is None:
        del d["issue"]
    return _jsonable(d)


def _jsonable(d: dict) -> dict:
    """NaN and infinities as ``null`` (JSON has neither); tuples as lists."""
    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v
    return fix(d)


def load_claims(dirs: Sequence[Path] = (SHIPPED_RESULTS, BUILD_RESULTS)) -> dict[str, ClaimsFile]:
    """Every claims file in ``dirs``, by benchmark name; a later directory's file replaces an
    earlier one's (a fresh run in ``build/results`` replaces the shipped measurement)."""
    files: dict[str, ClaimsFile] = {}
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.json")):
            try:
                files[path.stem] = ClaimsFile.from_dict(json.loads(path.read_text()),
                                                        str(path))
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}: not a claims file: {err}") from err
    return files


def seed_verdict(per_seed: Sequence[bool], on_mean: bool) -> str:
    """The verdict of a comparison made per seed: ``reproduced`` when it holds on every seed,
    ``reproduced (weakly)`` when only the mean over seeds agrees, else ``not reproduced``."""
    if per_seed and all(per_seed):
        return "reproduced"
    return "reproduced (weakly)" if on_mean else "not reproduced"


def format_values(claim: Claim, digits: int = 3) -> str:
    """``arm: v1 / v2 / v3`` per arm, seeds in order, ``—`` for a missing number."""
    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.{digits}g}"
    return "; ".join(f"{arm}: {' / '.join(fmt(v) for v in vals)}"
                     for arm, vals in claim.values.items())


README_BEGIN = ("<!-- claims: generated from benchmarks/results/claims/ by "
                "scripts/readme_tables.py -->")
README_END = "<!-- /claims -->"


def by_card(files: dict[str, ClaimsFile]) -> dict[str, list[tuple[Claim, ClaimsFile]]]:
    """Every card's claim with the file it came from, grouped by card (cards in number order;
    goal claims are :func:`by_issue`'s)."""
    cards: dict[str, list[tuple[Claim, ClaimsFile]]] = {}
    for f in sorted(files.values(), key=lambda f: f.name):
        for c in f.claims:
            if not c.is_goal:
                cards.setdefault(c.card, []).append((c, f))
    return dict(sorted(cards.items()))


def by_issue(files: dict[str, ClaimsFile]) -> dict[int, list[tuple[Claim, ClaimsFile]]]:
    """Every goal claim with the file it came from, grouped by issue (in number order)."""
    issues: dict[int, list[tuple[Claim, ClaimsFile]]] = {}
    for f in sorted(files.values(), key=lambda f: f.name):
        for c in f.claims:
            if c.is_goal:
                issues.setdefault(c.issue, []).append((c, f))
    return dict(sorted(issues.items()))


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def markdown_table(files: dict[str, ClaimsFile], notebook_link: str = "notebooks/{}.ipynb"
                   ) -> str:
    """The README's claims table: one row per claim (card, claim, baseline, verdict and why,
    benchmark, notebook); the per-seed numbers are on the book's claims page and in the
    files."""
    rows = ["| card | claim | baseline | verdict | benchmark | notebook |",
            "|---|---|---|---|---|---|"]
    for card, claims in by_card(files).items():
        for c, f in claims:
            verdict = f"**{c.verdict}**" + (f" ({c.note})" if c.note else "")
            rows.append(_row([card, c.claim, c.baseline, verdict, f"`{f.script}`",
                              f"[{c.notebook[:2]}]({notebook_link.format(c.notebook)})"]))
    return "\n".join(rows)


README_GOALS_BEGIN = ("<!-- goals: generated from benchmarks/results/claims/ by "
                      "scripts/readme_tables.py -->")
README_GOALS_END = "<!-- /goals -->"


def goals_table(files: dict[str, ClaimsFile]) -> str:
    """The README's goals table: one row per project goal a benchmark measured (issue, goal,
    baseline, verdict and why, benchmark, date); the numbers are on the book's claims page and
    in the files."""
    rows = ["| issue | goal | baseline | verdict | benchmark | date |",
            "|---|---|---|---|---|---|"]
    for issue, claims in by_issue(files).items():
        for c, f in claims:
            verdict = f"**{c.verdict}**" + (f" ({c.note})" if c.note else "")
            rows.append(_row([str(issue), c.claim, c.baseline, verdict, f"`{f.script}`",
                              f.date]))
    return "\n".join(rows)


def readme_goals_table() -> str:
    """The README's goals table, from the shipped measurements only."""
    return goals_table(load_claims((SHIPPED_RESULTS,)))


def readme_table() -> str:
    """The README's claims table, from the shipped measurements only (a local run in
    ``build/results`` changes the book, not the README)."""
    return markdown_table(load_claims((SHIPPED_RESULTS,)))
