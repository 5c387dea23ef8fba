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
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from polab.algos.group.grpo import GRPO
from polab.algos.token_control.hapo import HAPO, HAPOConfig, dapo_lite


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--tail", type=int, default=5)
    args = parser.parse_args()
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
        gap = h["entropy"] - d["entropy"]
        closed = (h["entropy"] - a["entropy"]) / gap if gap > 0 else float("nan")
        ratio = h["length"] / d["length"]
        checks["pass@1"].append(h["pass@1"] >= d["pass@1"])
        checks["entropy"].append(gap > 0)
        checks["length"].append(abs(ratio - 1) <= 0.2)
        checks["ablation"].append(gap > 0 and closed >= 0.5)
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
    print("verdict: reproduced" if not failed else
          f"verdict: not reproduced ({'; '.join(failed)})")


if __name__ == "__main__":
    main()
