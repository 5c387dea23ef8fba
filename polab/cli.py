"""Command line: ``polab list``, ``polab train ALGO --env NAME --seed S --set key=value`` and
``polab sweep ALGO --grid key=v1,v2 --seeds 0,1,2 --out DIR``.

Examples::

    polab list
    polab train ppo --env CartPole-v1 --seed 0
    polab train reinforce-baseline --set num_envs=64 --set learning_rate=3e-3 --save h.json
    polab train sac --env Pendulum-v1
    polab train dr-grpo --env addition --iterations 40     # a language task and its base
    polab train hdpo --env lost-sales                      # an inventory setting
    polab train c-morl --iterations 10                     # a multi-objective env
    polab sweep reinforce --grid learning_rate=0.01,0.003 --seeds 0,1,2 --out sweeps/lr
    polab sweep --spec recipes.toml --workers 0            # named variants, in this process

Every algorithm comes from :mod:`polab.registry`. No run is lost: Ctrl-C stops training and
writes the history so far to ``--save`` (status ``"interrupted"``, exit code 130); a closed
stdout (``polab train … | head -1``) never stops training nor the save; a ``--save`` path that
cannot be written is refused before training. Errors are one line on stderr (README,
"Commands").
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import torch

from polab import registry

INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT, as a shell reports it)."""
PIPE_CLOSED = 141
"""Exit code when a write to a closed stdout stopped training (128 + SIGPIPE)."""


class CLIError(ValueError):
    """A user error: printed as one line, exit code 2."""


class _Out:
    """stdout that survives its reader going away: after a ``BrokenPipeError`` (``| head``)
    further lines are dropped and ``closed`` is set, so the run and its save go on."""

    closed = False

    def __call__(self, text: str = "") -> bool:
        """Print ``text``; ``False`` when stdout is gone."""
        if self.closed:
            return False
        try:
            print(text, flush=True)
            return True
        except BrokenPipeError:
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush is silent
            return False


out = _Out()


def _threshold(env_name: str) -> float | None:
    import gymnasium as gym

    try:
        return gym.spec(env_name.removeprefix("gym:")).reward_threshold
    except gym.error.Error:
        return None


def cmd_list(_: argparse.Namespace) -> int:
    families: dict[str, list[registry.AlgoSpec]] = {}
    for spec in registry.ALGORITHMS.values():
        families.setdefault(spec.family, []).append(spec)
    for family, specs in families.items():
        out(f"{family}:")
        for spec in specs:
            needs = " (continuous actions)" if spec.actions == "continuous" else ""
            out(f"  {spec.name:<21} {spec.summary}{needs}")
            out(f"  {'':<21} {spec.paper}; notebooks/{spec.notebook}.ipynb; "
                f"on {spec.testbed} (default {spec.default_env})")
    out("testbeds (--env):")
    for testbed in dict.fromkeys(s.testbed for s in registry.ALGORITHMS.values()):
        out(f"  {testbed:<10} {', '.join(registry.testbed_envs(testbed))}")
    out("\nknobs of an algorithm: polab train ALGO --help-config")
    return 0


def _check_save(path: str) -> Path:
    """Create ``path``'s directory and prove it writable now, before any training."""
    target = Path(path)
    if target.is_dir():
        raise CLIError(f"--save {path}: is a directory; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file" if blocker else (err.strerror or str(err))
        raise CLIError(f"--save {path}: cannot write there ({why})") from None
    return target


def _device(name: str) -> torch.device:
    from polab.device import pick_device

    try:
        return pick_device(name)
    except (RuntimeError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CLIError(f"--device {name!r}: {first} (use auto, cpu, cuda, cuda:N or mps)"
                       ) from None


def _config(spec: registry.AlgoSpec, args: argparse.Namespace, env: str) -> Any:
    config = spec.make_config(env=env, seed=args.seed).with_overrides(args.set or [])
    if args.iterations is None:
        return config
    fields = {f.name for f in config.spec()}
    if spec.run_length in fields:
        return config.replace(**{spec.run_length: args.iterations}).validate()
    budget = spec.iterations(config)
    if args.iterations > budget:
        raise CLIError(f"--iterations {args.iterations}: {spec.name} runs {budget} iterations "
                       f"({spec.run_length} follows from its budget fields); --iterations can "
                       "only shorten that: raise the budget with --set")
    return config


def cmd_train(args: argparse.Namespace) -> int:
    spec = registry.get(args.algo)
    env_name = args.env or spec.default_env
    config = _config(spec, args, env_name)
    if args.help_config:
        for f in config.spec():
            rng = list(f.choices) if f.choices else f"[{f.low}, {f.high}]"
            out(f"  {f.name:<20} = {getattr(config, f.name)!r:<12} {f.help} {rng}")
        return 0
    save = _check_save(args.save) if args.save else None
    device = _device(args.device)
    torch.set_num_threads(args.threads)
    algo = _build(spec, config, env_name, device)
    iterations = args.iterations or spec.iterations(config)
    threshold = _threshold(env_name) if spec.testbed == "env" else None
    out(f"polab train {args.algo} on {env_name}, seed {args.seed}, {iterations} iterations, "
        f"device {_describe(device)}, torch {torch.__version__}")
    from polab.train import TrainingRun

    run = TrainingRun(algo, iterations, progress=not args.quiet, desc=args.algo)
    reached_at, code = None, 0
    start = time.perf_counter()
    try:
        for record in run:
            ret = record.get(spec.score, -math.inf)
            if threshold is not None and reached_at is None and ret >= threshold:
                reached_at = (time.perf_counter() - start, int(record["global_step"]))
    except (KeyboardInterrupt, BrokenPipeError) as err:  # keep what was trained so far
        ctrl_c = isinstance(err, KeyboardInterrupt)
        code = INTERRUPTED if ctrl_c else PIPE_CLOSED
        run.history.status = "interrupted"
        run.history.message = (f"interrupted by {'Ctrl-C' if ctrl_c else 'a closed pipe'} "
                               f"after {len(run.history)} iterations")
    wall = time.perf_counter() - start
    hist = run.history
    where = hist.save(save) if save is not None else None
    if code:
        _note(hist.message + (f"; history saved to {where}" if where else
                              "; pass --save FILE to keep the history"), to_stderr=True)
        return code
    _summary(spec, algo, hist, wall, threshold, reached_at)
    if where is not None:
        _note(f"history saved to {where}")
    return 0 if hist.status != "diverged" else 1


def _note(text: str, to_stderr: bool = False) -> None:
    """A line for the user: on stdout, or on stderr when asked or stdout is gone."""
    if to_stderr or not out(text):
        print(f"polab: {text}", file=sys.stderr, flush=True)


def _describe(device: torch.device) -> str:
    from polab.device import describe

    return describe(device)


def _build(spec: registry.AlgoSpec, config: Any, env: str, device: torch.device) -> Any:
    """``spec.build`` with the testbeds' own errors (an unknown gymnasium id) as one line."""
    import gymnasium as gym

    try:
        return spec.build(config, env, device=device)
    except gym.error.Error as err:
        raise CLIError(f"--env {env!r}: {str(err).splitlines()[0]}") from None


def _summary(spec: registry.AlgoSpec, algo: Any, hist: Any, wall: float,
             threshold: float | None, reached_at: tuple[float, int] | None) -> None:
    out(f"status: {hist.status} {hist.message}".rstrip())
    if spec.testbed == "env":
        out(f"final mean return (last 20 episodes): {hist.last(spec.score):.1f}")
    elif spec.testbed == "task":
        out(f"final {spec.score} (held-out, greedy): {hist.last(spec.score):.3f}; "
            f"last batch reward {hist.last('reward'):.3f}")
    else:
        score = hist.last(spec.score)
        out(f"final {spec.score}: " + (f"{score:.4g}" if math.isfinite(score)
                                       else "not evaluated in this run"))
        if spec.testbed == "preference" and math.isfinite(hist.last("eval/pass@1")):
            out(f"final eval/pass@1 (held-out, greedy): {hist.last('eval/pass@1'):.3f}")
    unit = {"env": "env steps", "lqr": "trajectories", "inventory": "simulated periods",
            "mo": "env steps"}.get(spec.testbed) or algo.x_label
    steps = int(algo.global_step)
    out(f"{unit}: {steps}, wall-clock: {wall:.1f} s ({steps / max(wall, 1e-9):,.0f}/s)")
    if threshold is not None:
        out(f"solved threshold {threshold:g}: " + (
            f"reached after {reached_at[0]:.1f} s, {reached_at[1]} env steps" if reached_at
            else "not reached"))


def cmd_sweep(args: argparse.Namespace) -> int:
    from polab.sweep import SweepSpec, load_spec, parse_grid, run_sweep, summary
    from polab.sweep.spec import parse_seeds

    if args.spec is None and args.algo is None:
        raise CLIError("name an algorithm (polab sweep ALGO ...) or a --spec FILE")
    if args.device != "cpu":
        _device(args.device)
    changes = {k: v for k, v in {
        "algo": args.algo, "env": args.env, "iterations": args.iterations,
        "seeds": parse_seeds(args.seeds) if args.seeds else None,
        "workers": args.workers, "address": args.address}.items() if v is not None}
    changes |= {"smoke": True} if args.smoke else {}
    changes |= {"gpus_per_trial": args.gpus_per_trial, "device": args.device}
    if args.spec:
        file_spec = load_spec(args.spec)
        if args.algo and registry.get(args.algo).name != registry.get(file_spec.algo).name:
            raise CLIError(f"--spec {args.spec} sweeps {file_spec.algo}, not {args.algo}")
        algo = file_spec.algo
    else:
        file_spec, algo = None, args.algo
    grid = parse_grid(args.grid or [], algo)
    if file_spec is not None:
        clash = sorted(set(grid) & set(file_spec.grid))
        if clash:
            raise CLIError(f"--grid {clash[0]}: the spec file sweeps it already")
        grid = {**file_spec.grid, **grid}
    out_dir = args.out or str(Path("sweeps") / registry.get(algo).name)
    changes |= {"grid": grid, "out": out_dir}
    spec = load_spec(args.spec, **changes) if args.spec else SweepSpec(**changes)
    trials = spec.trials()
    where = f"Ray at {spec.address}" if spec.address else (
        "this process" if spec.workers == 0 else f"a local Ray, {spec.workers} workers")
    n_variants = max(len(spec.variants), 1)
    out(f"polab sweep {spec.algo} on {spec.env_name}: {len(trials)} trials (variants × grid "
        f"points × seeds = {n_variants} × {len(trials) // n_variants // len(spec.seeds)} × "
        f"{len(spec.seeds)}) in {where}, device {spec.device}")
    try:
        table = run_sweep(spec, progress=not args.quiet)
    except ImportError as err:
        raise CLIError(f"{err.name or 'ray'} is not installed: --workers N needs Ray "
                       "(pip install 'polab[dev]'); --workers 0 runs without it") from None
    rows = summary(table, spec)
    score = registry.get(spec.algo).score
    rows[f"final {score}"] = [f"{m:.4g} ± {s:.2g}" if math.isfinite(m) else "—"
                              for m, s in zip(rows.pop("mean"), rows.pop("std"), strict=True)]
    out(rows.drop(columns="score").to_string(index=False))
    failed = table.loc[table["status"] == "failed", ["trial_id", "error"]]
    for trial_id, error in failed.itertuples(index=False):
        out(f"failed {trial_id}: {error}")
    out(f"ran {len(table.attrs['ran'])} trials, skipped {len(table.attrs['skipped'])} "
        f"already done; table: {Path(spec.out) / 'results.csv'} ({len(table)} rows of this "
        "sweep)")
    return 1 if len(failed) else 0


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``--help`` still prints the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"polab: error: {message}\n")


def _int_at_least(minimum: int, words: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``; otherwise one line, ``"{value} {words}"``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} {words}")
        return value
    return parse


_positive_int = _int_at_least(1, "must be at least 1")
_non_negative_int = _int_at_least(0, "must be 0 or more")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="polab", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list algorithms and testbeds").set_defaults(func=cmd_list)
    p = sub.add_parser("train", help="train an algorithm and print its final metrics")
    p.add_argument("algo", help="algorithm name (see `polab list`)")
    p.add_argument("--env", help="environment, language task, LQR system, inventory setting "
                                 "or multi-objective env (default: the algorithm's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--iterations", type=_positive_int,
                   help="step() calls, at least 1 (default: the config's num_iterations)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="torch CPU threads (default 1: polab's networks are small, and a second "
                        "thread mostly adds synchronisation)")
    p.add_argument("--save", metavar="FILE", help="write the History as one JSON file (also "
                   "after Ctrl-C); its directory is created")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--help-config", action="store_true", help="list the algorithm's knobs")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("sweep", help="train variants × a grid of knobs × seeds (in Ray "
                       "workers) into one table")
    p.add_argument("algo", nargs="?", help="algorithm name (or the --spec file's algo)")
    p.add_argument("--env", help="its environment or task (default: the algorithm's)")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="a knob and its values (repeat for a cartesian product)")
    p.add_argument("--seeds", metavar="S1,S2", help="seeds (default 0)")
    p.add_argument("--out", metavar="DIR", help="where results.csv goes (default sweeps/ALGO); "
                   "a rerun skips the trials already there")
    p.add_argument("--spec", metavar="FILE", help="a TOML spec: algo, env, seeds, iterations, "
                   "[grid] and [variants.NAME] tables")
    p.add_argument("--iterations", type=_positive_int, help="each run's step() calls")
    p.add_argument("--smoke", action="store_true", help="start from the smoke config")
    p.add_argument("--workers", type=_non_negative_int, help="trials at once in Ray workers "
                   "(default: the CPU count; 0 runs them in this process)")
    p.add_argument("--address", metavar="HOST:PORT", help="join this Ray cluster")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPU share of a trial")
    p.add_argument("--device", default="cpu", help="each trial's device (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as err:
        text = " ".join(str(err).split()) or type(err).__name__
        print(f"polab: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before or after training: nothing to keep
        print("polab: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
