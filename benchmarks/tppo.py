"""T-PPO vs synchronous PPO on long-tailed scratchpad addition (../shared/cards/08_tppo.md).

    python benchmarks/tppo.py                      # seeds 0 1 2: the claim's run
    python benchmarks/tppo.py --seeds 0 --sync-iterations 10

Testbed: the shipped ``addition-scratch`` base, digit counts ∝ 2^-d (1–6 digits, responses
9–63 tokens), pool / batch of 32, L_max 64, the same critic recipe and learning rate for every
arm. Per seed:

1. ``ppo-lm`` (synchronous PPO with a critic) trains ``--sync-iterations`` batches; its final
   held-out greedy pass@1 (geometric digits, 512 problems) is the target, its generation steps
   the budget;
2. ``tppo`` (window 16, refill, EGAE) and its two ablations (``drop`` truncated responses,
   truncated = reward ``zero``) train for the same number of generation steps, evaluated every
   ``--eval-every`` rounds.

Printed per seed: the target, the generation steps T-PPO needed to reach it (and the
speed-up), the mean slot utilisation of both schedulers, and each arm's final pass@1 on 5–6-
digit problems (the uniform task's held-out set grouped by the larger operand's digits). The
card's claims, per seed: speed-up >= 1.5; utilisation > 90% (T-PPO) and < 60% (sync);
"zero" ends below EGAE on 5–6-digit problems. The last line is the verdict.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from polab.algos.token_control.ppo_lm import PPOLM, PPOLMConfig
from polab.algos.token_control.tppo import TPPO, TPPOConfig, pass_at_1_by_digits, steps_to_reach
from polab.lm.tasks import AdditionTask
from polab.train import History, train

ARMS = {"tppo": {}, "drop": {"truncated_adv": "drop"}, "zero": {"truncated_adv": "zero"}}


def curve(h: History) -> tuple[list[float], list[float]]:
    """(generation steps, held-out pass@1) at every evaluation of a run."""
    pts = [(r["global_step"], r["eval/pass@1"]) for r in h.records if "eval/pass@1" in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def long_pass(algo: PPOLM) -> tuple[float, int]:
    """Greedy pass@1 on the uniform task's 5–6-digit held-out problems, and their number."""
    uniform = AdditionTask(digits=6, min_digits=1, scratchpad=True, tokenizer=algo.tokenizer)
    by = pass_at_1_by_digits(algo.model, uniform)
    n = sum(by[d][1] for d in (5, 6))
    return sum(by[d][0] * by[d][1] for d in (5, 6)) / n, n


def run_seed(seed: int, sync_iterations: int, eval_every: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    start = time.perf_counter()
    sync = PPOLM(PPOLMConfig(seed=seed, num_iterations=sync_iterations, eval_every=5))
    h = train(sync, sync_iterations, progress=False)
    budget = sync.global_step
    long, n_long = long_pass(sync)
    out["sync"] = {"curve": curve(h), "util": sum(sync.utilisation) / len(sync.utilisation),
                   "long": long, "n_long": n_long, "steps": budget,
                   "length": sum(h.column("completions/mean_length")[-10:]) / 10}
    print(f"seed {seed} sync: pass@1 {h.last('eval/pass@1'):.3f} after {budget} generation "
          f"steps, utilisation {out['sync']['util']:.2f} ({time.perf_counter() - start:.0f}s)",
          flush=True)
    for name, changes in ARMS.items():
        start = time.perf_counter()
        config = TPPOConfig(seed=seed, eval_every=eval_every).replace(**changes)
        rounds = math.ceil(budget / config.window)
        algo = TPPO(config.replace(num_iterations=rounds))
        h = train(algo, rounds, progress=False)
        lengths = h.column("completions/mean_length")[-20:]
        out[name] = {"curve": curve(h), "util": sum(algo.utilisation) / len(algo.utilisation),
                     "long": long_pass(algo)[0], "steps": algo.global_step,
                     "length": sum(lengths) / len(lengths)}
        print(f"seed {seed} {name}: pass@1 {h.last('eval/pass@1'):.3f} after "
              f"{algo.global_step} steps, utilisation {out[name]['util']:.2f} "
              f"({time.perf_counter() - start:.0f}s)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sync-iterations", type=int, default=40)
    ap.add_argument("--eval-every", type=int, default=8, help="T-PPO rounds between evals")
    args = ap.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    res = {s: run_seed(s, args.sync_iterations, args.eval_every) for s in args.seeds}
    print("\nseed | sync final | T-PPO final / best | T-PPO steps to sync final (sync steps) | "
          "speed-up | util T-PPO / sync | 5-6 digit pass@1 egae / drop / zero / sync | "
          "mean finished length (training) egae / zero")
    ok_speed, ok_util, ok_zero = [], [], []
    for s, r in res.items():
        target = r["sync"]["curve"][1][-1]
        reach = steps_to_reach(*r["tppo"]["curve"], target)
        speed = r["sync"]["steps"] / reach if reach > 0 else math.inf
        ok_speed.append(speed >= 1.5)
        ok_util.append(r["tppo"]["util"] > 0.9 and r["sync"]["util"] < 0.6)
        ok_zero.append(r["zero"]["long"] < r["tppo"]["long"])
        tp = r["tppo"]["curve"][1]
        print(f"{s} | {target:.3f} | {tp[-1]:.3f} / {max(tp):.3f} | {reach:.0f} "
              f"({r['sync']['steps']}) | {speed:.2f}x | "
              f"{r['tppo']['util']:.2f} / {r['sync']['util']:.2f} | {r['tppo']['long']:.3f} / "
              f"{r['drop']['long']:.3f} / {r['zero']['long']:.3f} / {r['sync']['long']:.3f} | "
              f"{r['tppo']['length']:.1f} / {r['zero']['length']:.1f}")
    n = len(res)
    m = next(iter(res.values()))["sync"]["n_long"]
    print(f"(5-6-digit problems: {m} of the uniform task's held-out 512; two standard errors "
          f"of a difference of two arms there: {2 * (2 * 0.2 * 0.8 / m) ** 0.5:.3f})")
    parts = [("speed-up >= 1.5x", ok_speed), ("utilisation > 90% vs < 60%", ok_util),
             ("zero lowers 5-6-digit pass@1", ok_zero)]
    for label, oks in parts:
        print(f"{label}: {sum(oks)}/{n} seeds")
    print(f"total {time.perf_counter() - start:.0f}s")
    failed = [f"{label} on {sum(oks)}/{n} seeds" for label, oks in parts if not all(oks)]
    print("verdict: reproduced" if not failed else f"verdict: not reproduced ({'; '.join(failed)})")


if __name__ == "__main__":
    main()
