"""LOOP's ablations on the tiny-LM addition task (../shared/cards/14_loop.md), equal samples.

    python benchmarks/loop_ablations.py            # seeds 0 1 2, 12 iterations: notebook 03's cell
    python benchmarks/loop_ablations.py --seeds 0 1 2 3 4 --iterations 30
    python benchmarks/loop_ablations.py --claims-from benchmarks/results/loop_ablations.json

``--json PATH`` saves the per-seed numbers of every arm; every run writes card 14's claims
file (``polab.claims``) to ``--results-dir`` (default build/results).

Every arm of ``polab.algos.group.loop.LOOP_ABLATIONS`` (LOOP, no baseline, no clipping =
RLOO, per-trajectory ratio, per-token normalisation) trains from the shipped base with the
same seeds for the same number of iterations (512 completions each), so every arm samples the
same number of completions. Printed per seed and arm: held-out greedy pass@1 at the end, the
mean share of clipped tokens (or rollouts, with a per-trajectory ratio) and of kept rollouts;
then, per card expectation, what was measured and a verdict:

* Chen et al. 2025 (LOOP) and the card: per-token ratios beat per-trajectory ones, and the
  per-trajectory ratio is clipped far more often;
* the card: without clipping (RLOO) LOOP's several epochs per batch buy less;
* the card: the leave-one-out baseline lowers variance against no baseline, so LOOP should
  not learn slower than "no baseline";
* per-token vs per-trajectory normalisation: on this task every answer has almost the same
  length, so the two should agree (a sanity check, not a claim of the paper).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from polab.algos.group.loop import (
    LOOP,
    LOOP_ABLATIONS,
    LOOPConfig,
    ablation_verdicts,
    pass_at_1_noise,
)
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.train import History, train


def run_arms(seeds: list[int], iterations: int, eval_every: int,
             arms: dict[str, dict] | None = None, **common) -> dict[str, list[History]]:
    """``{arm: [history per seed]}``; every run evaluates after its first and last update."""
    out: dict[str, list[History]] = {}
    for name, changes in (arms or LOOP_ABLATIONS).items():
        out[name] = []
        for seed in seeds:
            config = LOOPConfig(seed=seed, num_iterations=iterations, eval_every=eval_every,
                                **common).replace(**changes)
            out[name].append(train(LOOP(config, "addition"), iterations, progress=False,
                                   desc=f"{name} seed {seed}"))
    return out


def summary(runs: dict[str, list[History]]) -> dict[str, dict[str, float]]:
    """Per arm: median final pass@1 over seeds, and mean clipped and kept shares."""
    return {name: {
        "pass@1": statistics.median(h.last("eval/pass@1") for h in hs),
        "clipped": float(np.mean([np.nanmean(h.column("clip_ratio/region_mean")) for h in hs])),
        "kept": float(np.mean([np.mean(h.column("frac_rows_kept")) for h in hs])),
    } for name, hs in runs.items()}


NAME, CARD, NOTEBOOK = "loop_ablations", "14_loop", "03_grpo_family"


def claims(res: dict) -> list[Claim]:
    """Card 14's expectations from a run's results (as read back from ``--json``), with
    ``ablation_verdicts``' criteria: LOOP's median final pass@1 over seeds beats an ablation's
    when ahead by more than two binomial standard errors (``tol``); within them, ahead on the
    median is "reproduced (weakly)", not ahead "not reproduced"; the per-trajectory ratio is
    "clipped far more often" at more than twice LOOP's mean clipped share."""
    seeds, arms, tol = tuple(int(s) for s in res["seeds"]), res["arms"], res["tol"]
    loop = statistics.median(arms["LOOP"]["pass@1"])
    common = {"card": CARD, "algorithms": ("loop",), "notebook": NOTEBOOK, "seeds": seeds,
              "metric": f"held-out greedy pass@1 after {res['iterations']} iterations"}

    def beats(claim: str, other: str) -> Claim:
        theirs = statistics.median(arms[other]["pass@1"])
        d = loop - theirs
        verdict = ("reproduced" if d > tol else "reproduced (weakly)" if d > 0
                   else "not reproduced")
        return Claim(**common, claim=claim, baseline=f"LOOP with {other}",
                     values={"LOOP": tuple(arms["LOOP"]["pass@1"]),
                             other: tuple(arms[other]["pass@1"])}, verdict=verdict,
                     note=f"median {loop:.3f} vs {theirs:.3f}"
                          + (f", within noise (±{tol:.3f})" if abs(d) <= tol else ""))

    traj, ours = (statistics.fmean(arms[a]["clipped"]) for a in ("per-trajectory ratio", "LOOP"))
    ratio = traj / max(ours, 1e-12)
    return [
        beats("per-token ratios beat one ratio per trajectory", "per-trajectory ratio"),
        Claim(**{**common, "metric": "mean share of clipped tokens (rollouts, per trajectory)"},
              claim="the per-trajectory ratio is clipped far more often than per-token ones",
              baseline="LOOP with per-trajectory ratio",
              values={"LOOP": tuple(arms["LOOP"]["clipped"]),
                      "per-trajectory ratio": tuple(arms["per-trajectory ratio"]["clipped"])},
              verdict="reproduced" if ratio > 2 else "not reproduced",
              note=f"{ratio:.1f}x LOOP's clipped share (criterion > 2x)"),
        beats("clipping with several PPO epochs per batch beats RLOO (no clipping)",
              "no clipping (RLOO)"),
        beats("a leave-one-out baseline beats no baseline", "no baseline"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--eval-every", type=int, default=4)
    ap.add_argument("--json", type=Path, default=None,
                    help="write the per-seed pass@1, clipped and kept shares here")
    args = parse_benchmark_args(ap, NAME, claims)
    torch.set_num_threads(1)
    start = time.perf_counter()
    runs = run_arms(args.seeds, args.iterations, args.eval_every)
    for name, hs in runs.items():
        for seed, h in zip(args.seeds, hs, strict=True):
            print(f"{name:24s} seed {seed}: pass@1 {h.last('eval/pass@1'):.3f}  clipped "
                  f"{np.nanmean(h.column('clip_ratio/region_mean')):.3f}  kept "
                  f"{np.mean(h.column('frac_rows_kept')):.2f}  samples "
                  f"{int(h.last('global_step'))}  train {h.last('time/train_s'):.0f}s")
    verdicts = ablation_verdicts(summary(runs), len(args.seeds))
    print("\n".join(verdicts))
    seconds = time.perf_counter() - start
    print(f"total {seconds:.0f}s")
    res = {"seeds": args.seeds, "iterations": args.iterations, "machine": "CPU, 1 thread",
           "tol": pass_at_1_noise(len(args.seeds)), "verdict_lines": verdicts,
           "seconds": seconds, "arms": {name: {
               "pass@1": [h.last("eval/pass@1") for h in hs],
               "clipped": [float(np.nanmean(h.column("clip_ratio/region_mean"))) for h in hs],
               "kept": [float(np.mean(h.column("frac_rows_kept"))) for h in hs],
               "samples": [int(h.last("global_step")) for h in hs]} for name, hs in runs.items()}}
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
