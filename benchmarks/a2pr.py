"""A2PR's claim (card 26) in miniature on the point mass, per seed.

    python benchmarks/a2pr.py                   # 3 seeds, the claim's run (~4 min here)
    python benchmarks/a2pr.py --seeds 0 --iterations 4

Datasets (``polab.algos.offline.datasets.make_dataset``, 20k transitions each, from the
shipped SAC actors): ``point-mass-mixed`` (70 % random + 30 % expert) and
``point-mass-medium`` (a SAC snapshot at ~45 % of the expert). Every method trains on the
same data, seed and budget (``--iterations`` × 250 gradient steps, batch 256, 2×64 nets):
BC, TD3+BC (α 2.5) and A2PR (α 2.5, mask 1, vae_weight 1). The score of a run is D4RL's
normalised score of the deterministic policy, averaged over the last three evaluations
(20 batched episodes each).

The claim and its criteria (fixed before the run):

1. mixed data: mean over seeds A2PR > TD3+BC > BC;
2. medium data: mean A2PR ≥ mean TD3+BC;
3. the share of samples whose BC target is the VAE's rises over training: the mean over
   A2PR runs of the last iteration's share exceeds that of the first iteration.

The last line is the verdict computed from these numbers; ``--json`` writes the per-run
records (curves, shares, mask histograms) for the notebook.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from polab.registry import get
from polab.train import train

METHODS = ("bc", "td3-bc", "a2pr")
DATASETS = ("point-mass-mixed", "point-mass-medium")
LAST = 3


def run(method: str, dataset: str, seed: int, iterations: int) -> dict[str, object]:
    spec = get(method)
    config = spec.make_config(num_iterations=iterations, seed=seed)
    history = train(spec.build(config, dataset, device="cpu"), iterations, progress=False)
    records = history.records
    scores = [r["charts/score"] for r in records]
    out: dict[str, object] = {"method": method, "dataset": dataset, "seed": seed,
                              "scores": scores, "score": sum(scores[-LAST:]) / LAST}
    if method == "a2pr":
        out["vae_share"] = [r["losses/vae_target_share"] for r in records]
        out["mask"] = [[r[f"losses/mask_{k}"] for k in range(3)] for r in records]
    return out


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=8, help="× 250 gradient steps")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = []
    for dataset in DATASETS:
        for seed in args.seeds:
            for method in METHODS:
                start = time.perf_counter()
                runs.append(run(method, dataset, seed, args.iterations))
                print(f"run {dataset:18s} {method:7s} seed {seed}: score "
                      f"{runs[-1]['score']:6.1f}  ({time.perf_counter() - start:.1f} s)",
                      flush=True)

    def scores(method: str, dataset: str) -> list[float]:
        return [r["score"] for r in runs if r["method"] == method and r["dataset"] == dataset]

    print(f"\nnormalised score (mean of the last {LAST} evaluations), per seed "
          f"{args.seeds}; CPU, 1 thread")
    means: dict[tuple[str, str], float] = {}
    for dataset in DATASETS:
        print(f"\n{dataset}")
        for method in METHODS:
            s = scores(method, dataset)
            means[method, dataset] = mean(s)
            print(f"  {method:7s} " + "  ".join(f"{x:6.1f}" for x in s)
                  + f"   mean {mean(s):6.1f}")
    a2pr_runs = [r for r in runs if r["method"] == "a2pr"]
    first = mean([r["vae_share"][0] for r in a2pr_runs])
    last = mean([r["vae_share"][-1] for r in a2pr_runs])
    print(f"\nA2PR VAE-target share: first iteration {first:.3f}, last {last:.3f}")
    mixed, medium = "point-mass-mixed", "point-mass-medium"
    checks = {
        "mixed: A2PR > TD3+BC": means["a2pr", mixed] > means["td3-bc", mixed],
        "mixed: TD3+BC > BC": means["td3-bc", mixed] > means["bc", mixed],
        "medium: A2PR >= TD3+BC": means["a2pr", medium] >= means["td3-bc", medium],
        "VAE-target share rises": last > first,
    }
    for name, ok in checks.items():
        print(f"  {name}: {'yes' if ok else 'no'}")
    failed = [name for name, ok in checks.items() if not ok]
    verdict = "reproduced" if not failed else f"not reproduced ({'; '.join(failed)} fails)"
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seeds": args.seeds, "iterations": args.iterations, "runs": runs,
                       "means": {f"{m}|{d}": v for (m, d), v in means.items()},
                       "vae_share_first": first, "vae_share_last": last,
                       "checks": checks, "verdict": verdict}, f, indent=1)
    print(f"verdict: {verdict}")


if __name__ == "__main__":
    main()
