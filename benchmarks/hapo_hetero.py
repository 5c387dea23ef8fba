"""HAPO vs DAPO-lite on addition-scratch (card 11's miniature claim), per seed.

Claim (../shared/cards/11_hapo_hetero.md, issue 15): with 3 seeds, HAPO's final held-out greedy
pass@1 >= DAPO-lite's, its mean token entropy at the end is higher, its mean completion length
stays within ±20% of DAPO-lite's, and HAPO with the adaptive clip off (α = 0) closes most of
the entropy gap (its entropy ends at most half-way from DAPO-lite's to HAPO's).

Arms on the same task, budget (iterations × 32 prompts × 8) and seeds: HAPO (all four
components, ``HAPOConfig`` defaults), DAPO-lite (``dapo_lite``: the DAPO preset, clip-higher
0.2/0.28, dynamic sampling, no overlong penalty) and HAPO with ``clip_alpha = 0``. "Final"
entropy and length are means over the last ``--tail`` iterations (on the sampled tokens, at the
base temperature); pass@1 is greedy on the task's held-out problems after the last update.
Each sub-claim must hold in at least 2 of the seeds. A fourth arm, not in the verdict, runs
HAPO "as coded": ĥ with the authors' sign below the pivot (``low_entropy_sign="as_code"``,
see ``polab.algos.token_control.hapo``), where low-entropy tokens score positive too.

    python benchmarks/hapo_hetero.py [--seeds 0 1 2] [--iterations 30] [--tail 5]
    python benchmarks/hapo_hetero.py --json benchmarks/results/hapo_hetero.json \
        --results-dir benchmarks/results/claims     # the shipped run (7–20 min)
    python benchmarks/hapo_hetero.py --claims-from benchmarks/results/hapo_hetero.json  # no run

``--json PATH`` saves every arm's per-seed pass@1, entropy and length; every run writes card
11's claims file (``polab.claims``) to ``--results-dir`` (default build/results).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from polab.algos.group.grpo import GRPO
from polab.algos.token_control.hapo import HAPO, HAPOConfig, dapo_lite
from polab.claims import Claim, parse_benchmark_args, save_run


def run(arm: str, seed: int, iterations: int, tail: int) -> dict[str, float]:
    """One run; returns final pass@1, tail-mean entropy and length, and seconds."""
    config = HAPOConfig(seed=seed, num_iterations=iterations, eval_every=0)
    if arm == "HAPO α=0":
        config = config.replace(clip_alpha=0.0)
    if arm == "HAPO as coded":
        config = config.replace(low_entropy_sign="as_code")
    start = time.perf_counter()
    algo = (GRPO(dapo_lite(config), "addition-scratch") if arm == "DAPO-lite"
            else HAPO(config, "addition-scratch"))
    history = [algo.step() for _ in range(iterations)]
    last = history[-tail:]
    return {"pass@1": algo.evaluate()["eval/pass@1"],
            "entropy": statistics.fmean(h["entropy"] for h in last),
            "length": statistics.fmean(h["completions/mean_length"] for h in last),
            "seconds": time.perf_counter() - start}


def check(h: dict, d: dict, a: dict) -> dict[str, bool | float]:
    """One seed's four sub-claims from HAPO's, DAPO-lite's and HAPO α=0's results, and the
    fraction of the entropy gap α = 0 closes (NaN when HAPO's entropy is not above DAPO-lite's)."""
    gap = h["entropy"] - d["entropy"]
    closed = (h["entropy"] - a["entropy"]) / gap if gap > 0 else float("nan")
    return {"pass@1": h["pass@1"] >= d["pass@1"], "entropy": gap > 0,
            "length": abs(h["length"] / d["length"] - 1) <= 0.2,
            "ablation": gap > 0 and closed >= 0.5, "closed": closed}


NAME, CARD, NOTEBOOK = "hapo_hetero", "11_hapo_hetero", "04_token_level_control"


def claims(res: dict) -> list[Claim]:
    """Card 11's four sub-claims from a run's results (as read back from ``--json``), each with
    the benchmark's criterion: it holds on a majority of the seeds."""
    runs = res["runs"]
    seeds = [str(s) for s in res["seeds"]]
    n, need = len(seeds), len(seeds) // 2 + 1
    checks = [check(*(runs[arm][s] for arm in ("HAPO", "DAPO-lite", "HAPO α=0"))) for s in seeds]

    def of(arm: str, key: str) -> tuple[float, ...]:
        return tuple(runs[arm][s][key] for s in seeds)

    def verdict(key: str) -> tuple[str, str]:
        k = sum(bool(c[key]) for c in checks)
        return ("reproduced" if k >= need else "not reproduced"), f"holds on {k}/{n} seeds, " \
            f"{need} needed"

    common = {"card": CARD, "notebook": NOTEBOOK, "seeds": tuple(int(s) for s in seeds)}
    algos, base = ("hapo-hetero",), "DAPO-lite (clip-higher, dynamic sampling)"
    pass_v, pass_n = verdict("pass@1")
    ent_v, ent_n = verdict("entropy")
    len_v, len_n = verdict("length")
    abl_v, abl_n = verdict("ablation")
    closed = ", ".join("—" if math.isnan(c["closed"]) else f"{c['closed']:.2f}" for c in checks)
    return [
        Claim(**common, algorithms=algos, claim="HAPO's final pass@1 >= DAPO-lite's",
              baseline=base, metric=f"held-out greedy pass@1 after {res['iterations']} "
              "iterations", values={"HAPO": of("HAPO", "pass@1"),
                                    "DAPO-lite": of("DAPO-lite", "pass@1")},
              verdict=pass_v, note=pass_n),
        Claim(**common, algorithms=algos, claim="HAPO's mean token entropy ends higher than "
              "DAPO-lite's", baseline=base,
              metric=f"mean token entropy over the last {res['tail']} iterations",
              values={"HAPO": of("HAPO", "entropy"), "DAPO-lite": of("DAPO-lite", "entropy")},
              verdict=ent_v, note=ent_n),
        Claim(**common, algorithms=algos, claim="HAPO's completion length stays within ±20 % of "
              "DAPO-lite's", baseline=base,
              metric=f"mean completion length over the last {res['tail']} iterations",
              values={"HAPO": of("HAPO", "length"), "DAPO-lite": of("DAPO-lite", "length")},
              verdict=len_v, note=len_n),
        Claim(**common, algorithms=("hapo-hetero",), claim="turning the adaptive clip off "
              "(α = 0) closes at least half of HAPO's entropy gap over DAPO-lite",
              baseline="HAPO and DAPO-lite",
              metric=f"mean token entropy over the last {res['tail']} iterations",
              values={"HAPO": of("HAPO", "entropy"), "HAPO α=0": of("HAPO α=0", "entropy"),
                      "DAPO-lite": of("DAPO-lite", "entropy")},
              verdict=abl_v, note=f"{abl_n}; fraction of the gap closed per seed: {closed} (— "
                                  "= no gap: HAPO's entropy not above DAPO-lite's)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--tail", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None,
                        help="write every arm's per-seed pass@1, entropy and length here")
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(1)
    arms = ("HAPO", "DAPO-lite", "HAPO α=0", "HAPO as coded")
    res: dict[tuple[str, int], dict[str, float]] = {}
    for seed in args.seeds:
        for arm in arms:
            r = res[arm, seed] = run(arm, seed, args.iterations, args.tail)
            print(f"seed {seed} {arm:13s} pass@1 {r['pass@1']:.3f}  entropy {r['entropy']:.4f}  "
                  f"length {r['length']:.1f}  ({r['seconds']:.0f} s)", flush=True)

    print(f"\naddition-scratch, {args.iterations} iterations x 256 completions, CPU, one "
          f"thread; entropy and length: mean of the last {args.tail} iterations")
    print(f"{'seed':>4}  {'pass@1 HAPO':>11} {'DAPO-lite':>9} {'α=0':>6}   "
          f"{'entropy HAPO':>12} {'DAPO-lite':>9} {'α=0':>7}   {'length H/D':>10}  "
          f"{'gap closed':>10}")
    checks: dict[str, list[bool]] = {"pass@1": [], "entropy": [], "length": [], "ablation": []}
    for seed in args.seeds:
        h, d, a = (res[arm, seed] for arm in arms[:3])
        c = check(h, d, a)
        closed, ratio = c["closed"], h["length"] / d["length"]
        for key in checks:
            checks[key].append(c[key])
        print(f"{seed:>4}  {h['pass@1']:>11.3f} {d['pass@1']:>9.3f} {a['pass@1']:>6.3f}   "
              f"{h['entropy']:>12.4f} {d['entropy']:>9.4f} {a['entropy']:>7.4f}   "
              f"{ratio:>10.2f}  {closed:>10.2f}")
    need = len(args.seeds) // 2 + 1
    names = {"pass@1": "HAPO pass@1 >= DAPO-lite", "entropy": "HAPO final entropy higher",
             "length": "length within ±20%", "ablation": "α=0 closes >= half the entropy gap"}
    failed = []
    for key, name in names.items():
        n = sum(checks[key])
        print(f"{name}: {n}/{len(args.seeds)} seeds")
        if n < need:
            failed.append(f"{name} in {n}/{len(args.seeds)} seeds")
    coded = [res["HAPO as coded", seed] for seed in args.seeds]
    print("HAPO as coded (ĥ >= 0 below the pivot too; not in the verdict): pass@1 "
          + ", ".join(f"{r['pass@1']:.3f}" for r in coded) + "; entropy "
          + ", ".join(f"{r['entropy']:.4f}" for r in coded) + "; length "
          + ", ".join(f"{r['length']:.1f}" for r in coded))
    out = {"seeds": args.seeds, "iterations": args.iterations, "tail": args.tail,
           "machine": "CPU, 1 thread",
           "runs": {arm: {seed: res[arm, seed] for seed in args.seeds} for arm in arms},
           "checks": checks}
    save_run(NAME, out, claims, args)
    print("verdict: reproduced" if not failed else
          f"verdict: not reproduced ({'; '.join(failed)})")


if __name__ == "__main__":
    main()
