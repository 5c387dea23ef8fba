"""SAC on Pendulum-v1 at its default config and budget, seeds 0, 1, 2, against the return a
reference SAC reaches there; off-policy MDPO at the same budget and seeds beside it
(../shared/cards/20_mdpo.md).

The reference, "about -200 or better": CleanRL's SAC benchmark page
(docs.cleanrl.dev/rl-algorithms/sac, docs/rl-algorithms/sac.md in vwxyzjn/cleanrl) reports
MuJoCo tasks only (HalfCheetah, Walker2d, Hopper, InvertedPendulum, Humanoid, Pusher) and no
Pendulum number. The published Pendulum-v1 numbers for a stock SAC are the RL Zoo's
(rl-baselines3-zoo ``hyperparams/sac.yml``: 20k steps, lr 1e-3; its agents on the Hugging Face
hub: -173.68 ± 97.07 for ``qgallouedec/sac-Pendulum-v1-1194698695`` and -184.35 ± 106.90 for
``qgallouedec/sac-Pendulum-v1-3135132532``). Those are evaluation returns of the deterministic
policy after training; the number here is the training return of the stochastic policy (what
the histories report, as CleanRL's ``charts/episodic_return``), which is the harsher measure.

Per seed: the final mean episodic return, i.e. the history's last ``charts/episodic_return``
(the mean of the last ``4 · num_envs`` = 16 finished episodes at the defaults), the first
env step at which that mean reached -200, and the wall-clock and CPU seconds of the run (1
torch thread). Verdict: "reproduced" when every seed's final return is -200 or better.

Measured (a shared 2-core CPU box, 1 torch thread, torch 2.13): SAC -152.0, -169.6, -163.9
(mean -161.8; ≈ 36 CPU s per run), MDPO-off -173.5, -179.1, -164.4 (mean -172.3; ≈ 41 CPU s):
reproduced for both, on every seed.

    python benchmarks/sac_pendulum.py            # ≈ 4 min of CPU time (6 runs of 15k steps)
    python benchmarks/sac_pendulum.py --seeds 0 --no-mdpo
    python benchmarks/sac_pendulum.py --json benchmarks/results/sac_pendulum.json \
        --results-dir benchmarks/results/claims   # the shipped measurement

``--json`` saves the per-seed results; the claims file (``build/results/sac_pendulum.json``,
``--results-dir`` elsewhere; ``--claims-from`` rebuilds it from a saved ``--json``) holds issue
14's goal for each algorithm run, with every seed's final return.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from polab.algos.pg.mdpo_off import MDPOOff, MDPOOffConfig
from polab.algos.pg.sac import SAC, SACConfig
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.core.algorithm import Algorithm
from polab.train import History, train

REFERENCE = -200.0
"""A stock SAC's Pendulum-v1 return, rounded (RL Zoo: -174 and -184; see the docstring)."""
NAME, ISSUE = "sac_pendulum", 14
ALGORITHMS = {"SAC": "sac", "MDPO-off": "mdpo-off"}
"""The benchmark's names for the algorithms and their registered names."""


def reaches(finals: list[float]) -> bool:
    """The verdict: every seed's final return is ``REFERENCE`` or better."""
    return all(f >= REFERENCE for f in finals)


def run(algo: Algorithm) -> tuple[History, float, float]:
    """Train ``algo`` for its config's full budget: the history, wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    history = train(algo, algo.config.num_iterations, progress=False)
    return history, time.perf_counter() - wall, time.process_time() - cpu


def steps_to(history: History, target: float) -> float:
    """Env steps at the first iteration whose mean return reaches ``target`` (inf if never)."""
    returns, steps = history.column("charts/episodic_return"), history.column("global_step")
    hit = np.flatnonzero(returns >= target)
    return float(steps[hit[0]]) if len(hit) else math.inf


def benchmark(name: str, build: Callable[[int], Algorithm], seeds: list[int]) -> dict:
    """Run ``build(seed)`` for every seed, print one line each; per seed the final return,
    the env steps to ``REFERENCE``, the status, wall and CPU seconds."""
    print(f"\n{name}: {'seed':>4} {'final return':>13} {'steps to -200':>14} {'status':>9} "
          f"{'wall s':>7} {'CPU s':>7}")
    out: dict[str, list] = {"final": [], "steps_to": [], "status": [], "wall": [], "cpu": []}
    finals = out["final"]
    for seed in seeds:
        history, wall, cpu = run(build(seed))
        final = history.last("charts/episodic_return")
        hit = steps_to(history, REFERENCE)
        for key, value in (("final", final), ("steps_to", hit if math.isfinite(hit) else None),
                           ("status", history.status),
                           ("wall", wall), ("cpu", cpu)):
            out[key].append(value)
        hit_text = f"{hit:,.0f}" if math.isfinite(hit) else "never"
        print(f"{'':>{len(name) + 1}} {seed:>4} {final:>13.1f} {hit_text:>14} "
              f"{history.status:>9} {wall:>7.1f} {cpu:>7.1f}")
    good = reaches(finals)
    print(f"{'':>{len(name) + 1}} mean {statistics.fmean(finals):>13.1f}   verdict vs "
          f"{REFERENCE:g} on every seed: {'reproduced' if good else 'NOT reproduced'}")
    return out


def claims(res: dict) -> list[Claim]:
    """Issue 14's goal per algorithm run, from a run's results (as read back from ``--json``)."""
    seeds = tuple(int(s) for s in res["seeds"])
    out = []
    for name, runs in res["runs"].items():
        finals, cpu = runs["final"], runs["cpu"]
        out.append(Claim(
            card="", issue=ISSUE, algorithms=(ALGORITHMS[name],),
            notebook="02_variance_and_trust_regions",
            claim=f"{name} at its default config and budget reaches a final return of "
                  f"{REFERENCE:g} or better on Pendulum-v1 on every seed",
            baseline=f"{REFERENCE:g}, a stock SAC's return there (RL Zoo: -174, -184)",
            metric="final training return (mean of the last 16 episodes, stochastic policy)",
            seeds=seeds, values={name: tuple(finals)},
            verdict="met" if reaches(finals) else "not met",
            note=f"mean {statistics.fmean(finals):.1f}, worst {min(finals):.1f}; "
                 f"{statistics.fmean(cpu):.0f} CPU s per run"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-mdpo", action="store_true", help="SAC only")
    parser.add_argument("--json", type=Path, default=None,
                        help="save the per-seed results to this file")
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(1)
    sac_config = SACConfig()
    print(f"Pendulum-v1, default configs: {sac_config.total_timesteps:,} env steps, "
          f"{sac_config.num_envs} envs × {sac_config.num_steps} steps per iteration, "
          f"learning_starts {sac_config.learning_starts}, lr {sac_config.learning_rate:g}; "
          f"seeds {args.seeds}; torch {torch.__version__}, 1 CPU thread")
    runs = {"SAC": benchmark("SAC", lambda s: SAC(SACConfig(seed=s)), args.seeds)}
    sac = runs["SAC"]["final"]
    if not args.no_mdpo:
        runs["MDPO-off"] = benchmark("MDPO-off", lambda s: MDPOOff(MDPOOffConfig(seed=s)),
                                     args.seeds)
        off = runs["MDPO-off"]["final"]
        gap = abs(statistics.fmean(off) - statistics.fmean(sac)) / abs(statistics.fmean(sac))
        print(f"\nMDPO-off vs SAC, mean final return: {statistics.fmean(off):.1f} vs "
              f"{statistics.fmean(sac):.1f} (gap {100 * gap:.0f}%; the card's claim, within "
              "10%, is checked in benchmarks/mdpo.py)")
    res = {"seeds": args.seeds, "reference": REFERENCE, "machine": "CPU, 1 thread",
           "total_timesteps": sac_config.total_timesteps, "runs": runs}
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
