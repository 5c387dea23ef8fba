"""Wall-clock to solve CartPole-v1: polab's PPO at its defaults vs a CleanRL-style single-file PPO.

    python benchmarks/ppo_cartpole.py                            # seeds 0 1 2, cap 900 s
    python benchmarks/ppo_cartpole.py --seeds 0 --max-seconds 120 --threads 1
    python benchmarks/ppo_cartpole.py --skip-reference

Solved = the mean return of the last 20 finished episodes reaches 475 (CartPole-v1's
``reward_threshold``), for both implementations:

* ``polab``: ``PPO(PPOConfig(seed=s), "CartPole-v1")`` driven by ``TrainingRun`` for its
  ``num_iterations``; checked on every iteration's ``charts/episodic_return``;
* ``reference``: benchmarks/reference_ppo.py, CleanRL's ``ppo.py`` at its CartPole defaults
  (4 envs in a gymnasium ``SyncVectorEnv``, 128 steps, lr 2.5e-4, 500k steps); checked after
  every env step on which an episode ends (a finer check than polab's, which favours it), and
  stopped after ``--max-seconds``.

Each time counts from building the env and the networks to the moment 475 is reached. Seeds
run interleaved (polab 0, reference 0, polab 1, ...) in one process on the same device and
torch thread count, so a change in the machine's load hits both alike. A reference run stopped
by the cap counts as ``> cap``: its median and the ratio are then lower bounds, and say so.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from dataclasses import dataclass

import reference_ppo
import torch

from polab.algos.pg.ppo import PPO, PPOConfig
from polab.device import describe, pick_device
from polab.train import TrainingRun

ENV, TARGET = "CartPole-v1", 475.0


@dataclass(frozen=True)
class Result:
    """Time to ``TARGET``; when not ``reached``, ``seconds`` and ``steps`` are where it stopped."""

    reached: bool
    seconds: float
    steps: int
    why: str = ""  # when not reached: "> cap" or "not reached"

    def cell(self) -> str:
        time_s = f"{self.seconds:.1f}" if self.reached else f"{self.why} ({self.seconds:.0f})"
        return f"{time_s:>16} {self.steps:>10,}"


def time_polab(seed: int, device: torch.device) -> Result:
    start = time.perf_counter()
    algo = PPO(PPOConfig(seed=seed), ENV, device=device)
    for record in TrainingRun(algo, algo.config.num_iterations, progress=False):
        if record.get("charts/episodic_return", -math.inf) >= TARGET:
            return Result(True, time.perf_counter() - start, int(record["global_step"]))
    return Result(False, time.perf_counter() - start, algo.global_step, "not reached")


def time_reference(seed: int, device: torch.device, max_seconds: float) -> Result:
    reached, seconds, steps = reference_ppo.train(seed, device, TARGET, max_seconds)
    why = "" if reached else "> cap" if seconds > max_seconds else "not reached"
    return Result(reached, seconds, steps, why)


def median(results: list[Result]) -> tuple[float, bool]:
    """Median seconds and whether it is exact. Unreached runs count with the time they ran,
    a lower bound of their time to 475, so the median is then a lower bound too."""
    return (statistics.median(r.seconds for r in results), all(r.reached for r in results))


def fmt_median(seconds: float, exact: bool) -> str:
    return f"{seconds:.1f}" if exact else f"> {seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for both implementations (default 1: the "
                             "networks are tiny; a second thread only adds sync cost)")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="cap per reference run (default 900)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"CartPole-v1, time to mean return (last 20 episodes) >= {TARGET:g}\n"
          f"device {describe(device)}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")

    polab, reference = [], []
    for seed in args.seeds:
        polab.append(time_polab(seed, device))
        print(f"  polab     seed {seed}: {polab[-1].cell()}", flush=True)
        if not args.skip_reference:
            reference.append(time_reference(seed, device, args.max_seconds))
            print(f"  reference seed {seed}: {reference[-1].cell()}", flush=True)

    print(f"\nload average {os.getloadavg()[0]:.2f} at end\n")
    print(f"{'seed':>6} {'polab s':>16} {'polab steps':>10}"
          + (f" {'reference s':>16} {'ref. steps':>10}" if reference else ""))
    for i, seed in enumerate(args.seeds):
        print(f"{seed:>6} {polab[i].cell()}" + (f" {reference[i].cell()}" if reference else ""))
    polab_med, polab_exact = median(polab)
    ref_med, ref_exact = median(reference) if reference else (math.nan, False)
    print((f"{'median':>6} {fmt_median(polab_med, polab_exact):>16} {'':>10}"
           + (f" {fmt_median(ref_med, ref_exact):>16}" if reference else "")).rstrip())

    polab_ok = polab_exact and polab_med <= 30
    print(f"\ntarget polab median <= 30 s: {'met' if polab_ok else 'NOT met'}"
          + ("" if polab_exact else " (polab did not reach 475 on every seed)"))
    if reference:
        ratio = ref_med / polab_med
        if not polab_exact:
            note = ", not a bound: polab did not reach 475 on every seed"
        elif not ref_exact:
            note = ", a lower bound: the reference did not reach 475 on every seed"
        else:
            note = ""
        print(f"ratio of the medians reference/polab: {'>= ' if not ref_exact else ''}"
              f"{ratio:.1f}x{note}")
        print(f"target ratio >= 10x: {'met' if polab_exact and ratio >= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
