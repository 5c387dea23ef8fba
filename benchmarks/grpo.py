"""The headline of chapter 03: GRPO at its defaults lifts the shipped base's held-out greedy
pass@1 by >= 20 points within 90 s of training (evaluation excluded), median of 3 seeds.

    python benchmarks/grpo.py                       # seeds 0 1 2, 90 s, 1 torch thread
    python benchmarks/grpo.py --seeds 0 --budget 60 --set update_epochs=1 --set loss_type=grpo
    python benchmarks/grpo.py --json benchmarks/results/grpo.json \
        --results-dir benchmarks/results/claims   # the shipped measurement

Each seed trains ``GRPO(GRPOConfig(seed=s))`` on ``load_base("addition")`` (3-digit sums,
answers in normal digit order) and evaluates greedy pass@1 on the task's 512 held-out
problems — never drawn for SFT or RL — before training, every ``--eval-every`` seconds of
training, and at the budget. Training time is the sum of ``step()`` times (evaluation is
outside them) on two clocks: wall time (``perf_counter``) and this process's CPU time
(``process_time``). On a shared machine the two differ by the share of the cores the process
got, so the run goes on until *both* have used the budget; the pass@1 at each budget is that
of the policy after the last iteration that ended within it. The load average (``os.getloadavg``) is
printed before and after every seed.

Issue 4's goal, the last lines: the median gain over the seeds is >= 20 points, judged on each
clock. ``--json`` saves the per-seed results; the claims file (``build/results/grpo.json``,
``--results-dir`` elsewhere; ``--claims-from`` rebuilds it from a saved ``--json``) holds the goal
once per clock, with every seed's gain, base and final pass@1.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path

import torch

from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.device import describe, pick_device

NAME, ISSUE, GOAL = "grpo", 4, 0.20
"""The goal: a median gain of >= 20 points of held-out greedy pass@1 (issue 4)."""


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run_seed(config: GRPOConfig, budget: float, eval_every: float, device: torch.device
             ) -> dict:
    """Train until both clocks have used ``budget``; evaluate on the wall-clock grid and, for
    each clock, the policy after the last iteration that ended within the budget."""
    algo = GRPO(config, "addition", device=device)
    clocks = {"wall": lambda: algo.train_seconds, "cpu": lambda: algo.train_cpu_seconds}
    base = algo.evaluate()["eval/pass@1"]
    points = [(0, 0.0, 0.0, base)]
    at_budget: dict[str, tuple[int, float, float, float]] = {}
    next_eval = eval_every
    while len(at_budget) < len(clocks):
        before = (algo.iteration, algo.train_seconds, algo.train_cpu_seconds,
                  copy.deepcopy(algo.model.state_dict()))
        algo.step()
        for name, clock in clocks.items():
            if name not in at_budget and clock() > budget:  # read the policy before this step
                now = copy.deepcopy(algo.model.state_dict())
                algo.model.load_state_dict(before[3])
                at_budget[name] = (*before[:3], algo.evaluate()["eval/pass@1"])
                algo.model.load_state_dict(now)
        if algo.train_seconds >= next_eval:
            points.append((algo.iteration, algo.train_seconds, algo.train_cpu_seconds,
                           algo.evaluate()["eval/pass@1"]))
            next_eval += eval_every
    return {"base": base, "points": points, "at_budget": at_budget}


def met(gains: list[float]) -> bool:
    """Issue 4's criterion: the median gain over the seeds is at least ``GOAL``."""
    return statistics.median(gains) >= GOAL


def claims(res: dict) -> list[Claim]:
    """Issue 4's goal on each clock, from a run's results (as read back from ``--json``)."""
    seeds = tuple(int(s) for s in res["seeds"])
    runs = [res["runs"][str(s)] for s in seeds]
    budget, overrides = res["budget"], res.get("overrides") or []
    setting = f"; not the defaults: {', '.join(overrides)}" if overrides else ""
    out = []
    for clock in ("wall", "cpu"):
        gains = res["gains"][clock]
        out.append(Claim(
            card="", issue=ISSUE, algorithms=("grpo",), notebook="03_grpo_family",
            claim=f"GRPO at its defaults lifts the shipped base's held-out greedy pass@1 by "
                  f">= {100 * GOAL:.0f} points within {budget:g} s of training "
                  f"({'wall-clock' if clock == 'wall' else 'CPU'} time, evaluation excluded), "
                  "median of the seeds",
            baseline="the shipped addition base (load_base('addition'))",
            metric=f"held-out greedy pass@1 (512 problems) at {budget:g} s of training, "
                   f"{'wall-clock' if clock == 'wall' else 'CPU'} time",
            seeds=seeds,
            values={"gain (points)": tuple(100 * g for g in gains),
                    "base": tuple(r["base"] for r in runs),
                    f"at {budget:g} s": tuple(r["at_budget"][clock][3] for r in runs)},
            verdict="met" if met(gains) else "not met",
            note=f"median {100 * statistics.median(gains):+.1f} points; load average "
                 f"{min(res['loads'])}–{max(res['loads'])} (1-min) over the seeds{setting}"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=90.0, help="training seconds")
    parser.add_argument("--eval-every", type=float, default=10.0,
                        help="training seconds (wall) between evaluations")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="GRPOConfig override (repeatable)")
    parser.add_argument("--json", type=Path, default=None,
                        help="save the per-seed results to this file")
    args = parse_benchmark_args(parser, NAME, claims, argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    config = GRPOConfig(eval_every=0).with_overrides(args.set)
    print(f"torch {torch.__version__}, device {describe(device)}; GRPOConfig overrides: "
          f"{args.set or 'none (defaults)'}; budget {args.budget:g} s of training")
    gains: dict[str, list[float]] = {"wall": [], "cpu": []}
    runs: dict[int, dict] = {}
    loads: list[float] = []
    for seed in args.seeds:
        print(f"\nseed {seed}: load average before {load()}")
        loads.append(os.getloadavg()[0])
        start = time.perf_counter()
        out = run_seed(config.replace(seed=seed), args.budget, args.eval_every, device)
        runs[seed] = out
        print(f"  {'iteration':>9} {'train wall s':>12} {'train CPU s':>11} {'pass@1':>7}")
        for it, wall, cpu, acc in out["points"]:
            print(f"  {it:>9} {wall:>12.1f} {cpu:>11.1f} {acc:>7.3f}")
        for clock in ("wall", "cpu"):
            it, wall, cpu, acc = out["at_budget"][clock]
            gains[clock].append(acc - out["base"])
            print(f"  at {args.budget:g} s {clock:>4}: pass@1 {out['base']:.3f} -> {acc:.3f} "
                  f"({100 * (acc - out['base']):+.1f} points) after {it} iterations "
                  f"(wall {wall:.1f} s, CPU {cpu:.1f} s)")
        loads.append(os.getloadavg()[0])
        print(f"  load average after {load()}; seed took {time.perf_counter() - start:.0f} s "
              "including evaluations")
    for clock, values in gains.items():
        print(f"\nmedian gain within {args.budget:g} s of training ({clock} clock) over seeds "
              f"{args.seeds}: {100 * statistics.median(values):+.1f} points "
              f"({', '.join(f'{100 * v:+.1f}' for v in values)}); acceptance: "
              f">= +{100 * GOAL:.0f}: {'met' if met(values) else 'NOT met'}")
    res = {"seeds": args.seeds, "budget": args.budget, "overrides": args.set,
           "machine": f"{describe(device)}, {torch.get_num_threads()} thread(s)",
           "loads": [round(x, 2) for x in loads], "runs": runs, "gains": gains}
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
