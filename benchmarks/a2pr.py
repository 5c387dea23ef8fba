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

from polab.claims import (
    Claim,
    as_json,
    parse_benchmark_args,
    seed_verdict,
    write_claims,
)
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


NAME, CARD, NOTEBOOK = "a2pr", "26_a2pr", "11_robust_and_offline"
MIXED, MEDIUM = "point-mass-mixed", "point-mass-medium"


def claims(res: dict) -> list[Claim]:
    """Card 26's claims from a run's results (as read back from ``--json``): one per check.
    The checks are on the mean over seeds, so a check that holds on the mean but not on every
    seed is ``reproduced (weakly)``."""
    seeds = [int(s) for s in res["seeds"]]
    runs = res["runs"]

    def score(method: str, dataset: str) -> tuple[float, ...]:
        by_seed = {int(r["seed"]): r["score"] for r in runs
                   if r["method"] == method and r["dataset"] == dataset}
        return tuple(by_seed[s] for s in seeds)

    def versus(a: tuple[float, ...], b: tuple[float, ...], strict: bool = True) -> str:
        def beats(x: float, y: float) -> bool:
            return x > y if strict else x >= y
        return seed_verdict([beats(x, y) for x, y in zip(a, b, strict=True)],
                            beats(mean(list(a)), mean(list(b))))

    def share(at: int) -> tuple[float, ...]:  # per seed, the mean over both datasets
        return tuple(mean([r["vae_share"][at] for r in runs
                           if r["method"] == "a2pr" and int(r["seed"]) == s]) for s in seeds)

    sc = {(m, d): score(m, d) for m in METHODS for d in (MIXED, MEDIUM)}
    first, last = share(0), share(-1)
    metric = f"D4RL-normalised score, mean of the last {LAST} evaluations"
    common = {"card": CARD, "notebook": NOTEBOOK, "seeds": tuple(seeds), "metric": metric}
    note_means = "mean {:.1f} vs {:.1f}".format
    return [
        Claim(**common, algorithms=("a2pr", "td3-bc"), claim="on mixed data (70 % random, 30 % "
              "expert) A2PR beats TD3+BC", baseline="TD3+BC (α 2.5)",
              values={"A2PR": sc["a2pr", MIXED], "TD3+BC": sc["td3-bc", MIXED]},
              verdict=versus(sc["a2pr", MIXED], sc["td3-bc", MIXED]),
              note=note_means(mean(list(sc["a2pr", MIXED])), mean(list(sc["td3-bc", MIXED])))),
        Claim(**common, algorithms=("td3-bc", "bc"), claim="on mixed data TD3+BC beats BC",
              baseline="BC", values={"TD3+BC": sc["td3-bc", MIXED], "BC": sc["bc", MIXED]},
              verdict=versus(sc["td3-bc", MIXED], sc["bc", MIXED]),
              note=note_means(mean(list(sc["td3-bc", MIXED])), mean(list(sc["bc", MIXED])))),
        Claim(**common, algorithms=("a2pr", "td3-bc"), claim="on medium data A2PR is at least "
              "as good as TD3+BC", baseline="TD3+BC (α 2.5)",
              values={"A2PR": sc["a2pr", MEDIUM], "TD3+BC": sc["td3-bc", MEDIUM]},
              verdict=versus(sc["a2pr", MEDIUM], sc["td3-bc", MEDIUM], strict=False),
              note=note_means(mean(list(sc["a2pr", MEDIUM])),
                              mean(list(sc["td3-bc", MEDIUM])))),
        Claim(card=CARD, notebook=NOTEBOOK, seeds=tuple(seeds), algorithms=("a2pr",),
              claim="the share of samples whose BC target is the VAE's rises over training",
              baseline="the first iteration's share", metric="share of VAE targets (mean of "
              "both datasets' runs)", values={"last iteration": last, "first iteration": first},
              verdict=versus(last, first),
              note=f"mean {mean(list(first)):.3f} → {mean(list(last)):.3f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=8, help="× 250 gradient steps")
    parser.add_argument("--json", type=str, default=None)
    args = parse_benchmark_args(parser, NAME, claims)
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
    res = {"seeds": args.seeds, "iterations": args.iterations, "runs": runs,
           "means": {f"{m}|{d}": v for (m, d), v in means.items()},
           "vae_share_first": first, "vae_share_last": last,
           "checks": checks, "verdict": verdict}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    print("claims:", write_claims(NAME, claims(as_json(res)), results_dir=args.results_dir))
    print(f"verdict: {verdict}")


if __name__ == "__main__":
    main()
