"""The headline of chapter 03: GRPO at its defaults lifts the shipped base's held-out greedy
pass@1 by >= 20 points within 90 s of training (evaluation excluded), median of 3 seeds.

    python benchmarks/grpo.py                       # seeds 0 1 2, 90 s, 1 torch thread
    python benchmarks/grpo.py --seeds 0 --budget 60 --set update_epochs=1 --set loss_type=grpo

Each seed trains ``GRPO(GRPOConfig(seed=s))`` on ``load_base("addition")`` (3-digit sums,
answers in normal digit order) and evaluates greedy pass@1 on the task's 512 held-out
problems — never drawn for SFT or RL — before training, every ``--eval-every`` seconds of
training, and at the budget. Training time is the sum of ``step()`` times (evaluation is
outside them) on two clocks: wall time (``perf_counter``) and this process's CPU time
(``process_time``). On a shared machine the two differ by the share of the cores the process
got, so the run goes on until *both* have used the budget; the pass@1 at each budget is that
of the policy after the last iteration that ended within it. The load average (``os.getloadavg``) is
printed before and after every seed.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch

from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.device import describe, pick_device


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
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    config = GRPOConfig(eval_every=0).with_overrides(args.set)
    print(f"torch {torch.__version__}, device {describe(device)}; GRPOConfig overrides: "
          f"{args.set or 'none (defaults)'}; budget {args.budget:g} s of training")
    gains: dict[str, list[float]] = {"wall": [], "cpu": []}
    for seed in args.seeds:
        print(f"\nseed {seed}: load average before {load()}")
        start = time.perf_counter()
        out = run_seed(config.replace(seed=seed), args.budget, args.eval_every, device)
        print(f"  {'iteration':>9} {'train wall s':>12} {'train CPU s':>11} {'pass@1':>7}")
        for it, wall, cpu, acc in out["points"]:
            print(f"  {it:>9} {wall:>12.1f} {cpu:>11.1f} {acc:>7.3f}")
        for clock in ("wall", "cpu"):
            it, wall, cpu, acc = out["at_budget"][clock]
            gains[clock].append(acc - out["base"])
            print(f"  at {args.budget:g} s {clock:>4}: pass@1 {out['base']:.3f} -> {acc:.3f} "
                  f"({100 * (acc - out['base']):+.1f} points) after {it} iterations "
                  f"(wall {wall:.1f} s, CPU {cpu:.1f} s)")
        print(f"  load average after {load()}; seed took {time.perf_counter() - start:.0f} s "
              "including evaluations")
    for clock, values in gains.items():
        print(f"\nmedian gain within {args.budget:g} s of training ({clock} clock) over seeds "
              f"{args.seeds}: {100 * statistics.median(values):+.1f} points "
              f"({', '.join(f'{100 * v:+.1f}' for v in values)}); acceptance: >= +20")


if __name__ == "__main__":
    main()
