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

    python benchmarks/tppo.py --json benchmarks/results/tppo.json \
        --results-dir benchmarks/results/claims     # the shipped run (5–9 min)
    python benchmarks/tppo.py --claims-from benchmarks/results/tppo.json   # no run

``--json PATH`` saves every arm's curve, utilisation and 5–6-digit pass@1 per seed; every run
writes card 8's claims file (``polab.claims``) to ``--results-dir`` (default build/results).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from polab.algos.token_control.ppo_lm import PPOLM, PPOLMConfig
from polab.algos.token_control.tppo import TPPO, TPPOConfig, pass_at_1_by_digits, steps_to_reach
from polab.claims import Claim, parse_benchmark_args, save_run, seed_verdict
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


def speed_up(r: dict) -> tuple[float, float, float]:
    """One seed's (sync final pass@1, T-PPO's generation steps to reach it, speed-up): ``inf``
    steps and speed-up 0 when T-PPO never reached it."""
    target = r["sync"]["curve"][1][-1]
    reach = steps_to_reach(*r["tppo"]["curve"], target)
    return target, reach, r["sync"]["steps"] / reach if reach > 0 else math.inf


NAME, CARD, NOTEBOOK = "tppo", "08_tppo", "04_token_level_control"


def claims(res: dict) -> list[Claim]:
    """Card 8's three claims from a run's results (as read back from ``--json``), each judged per
    seed with the benchmark's own thresholds (``seed_verdict``: every seed, else the mean)."""
    runs = res["runs"]
    seeds = sorted(runs, key=int)
    speed = [speed_up(runs[s])[2] for s in seeds]
    util = {arm: [runs[s][arm]["util"] for s in seeds] for arm in ("tppo", "sync")}
    long = {arm: [runs[s][arm]["long"] for s in seeds] for arm in ("tppo", "zero")}
    m = runs[seeds[0]]["sync"]["n_long"]
    two_se = 2 * (2 * 0.2 * 0.8 / m) ** 0.5  # as printed under the table
    beyond = sum(e - z > two_se for z, e in zip(long["zero"], long["tppo"], strict=True))
    common = {"card": CARD, "notebook": NOTEBOOK, "seeds": tuple(int(s) for s in seeds)}
    return [
        Claim(**common, algorithms=("tppo", "ppo-lm"), claim="T-PPO reaches synchronous PPO's "
              "final pass@1 with >= 1.5x fewer generation steps",
              baseline="synchronous PPO (ppo-lm)", metric="speed-up: sync PPO's generation "
              "steps / T-PPO's to reach sync's final held-out pass@1 (0 = never reached)",
              values={"T-PPO": tuple(speed)},
              verdict=seed_verdict([x >= 1.5 for x in speed], statistics.fmean(speed) >= 1.5),
              note="final pass@1 sync / T-PPO " + ", ".join(
                  f"{runs[s]['sync']['curve'][1][-1]:.3f} / {runs[s]['tppo']['curve'][1][-1]:.3f}"
                  for s in seeds)),
        Claim(**common, algorithms=("tppo", "ppo-lm"), claim="T-PPO's slot utilisation is "
              "> 90 % and synchronous PPO's < 60 %", baseline="synchronous PPO (ppo-lm)",
              metric="mean slot utilisation during generation",
              values={"T-PPO": tuple(util["tppo"]), "sync PPO": tuple(util["sync"])},
              verdict=seed_verdict([t > 0.9 and y < 0.6 for t, y in
                                    zip(util["tppo"], util["sync"], strict=True)],
                                   statistics.fmean(util["tppo"]) > 0.9
                                   and statistics.fmean(util["sync"]) < 0.6),
              note=f"T-PPO's above sync's on "
                   f"{sum(t > y for t, y in zip(util['tppo'], util['sync'], strict=True))}/"
                   f"{len(seeds)} seeds, > 0.9 on {sum(t > 0.9 for t in util['tppo'])}/"
                   f"{len(seeds)}"),
        Claim(**common, algorithms=("tppo",), claim="the 'truncated = reward 0' ablation ends "
              "below EGAE on long (5–6-digit) problems", baseline="T-PPO with EGAE",
              metric=f"greedy pass@1 on the {m} 5–6-digit held-out problems",
              values={"zero": tuple(long["zero"]), "EGAE": tuple(long["tppo"])},
              verdict=seed_verdict([z < e for z, e in zip(long["zero"], long["tppo"],
                                                          strict=True)],
                                   statistics.fmean(long["zero"])
                                   < statistics.fmean(long["tppo"])),
              note=f"beyond two standard errors of a difference ({two_se:.3f}) on "
                   f"{beyond}/{len(seeds)} seeds; the card's length bias is not in the "
                   "verdict (mean finished length zero / EGAE " + ", ".join(
                       f"{runs[s]['zero']['length']:.1f} / {runs[s]['tppo']['length']:.1f}"
                       for s in seeds) + ")"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sync-iterations", type=int, default=40)
    ap.add_argument("--eval-every", type=int, default=8, help="T-PPO rounds between evals")
    ap.add_argument("--json", type=Path, default=None,
                    help="write every arm's curve, utilisation and long-problem pass@1 here")
    args = parse_benchmark_args(ap, NAME, claims)
    torch.set_num_threads(1)
    start = time.perf_counter()
    res = {s: run_seed(s, args.sync_iterations, args.eval_every) for s in args.seeds}
    print("\nseed | sync final | T-PPO final / best | T-PPO steps to sync final (sync steps) | "
          "speed-up | util T-PPO / sync | 5-6 digit pass@1 egae / drop / zero / sync | "
          "mean finished length (training) egae / zero")
    ok_speed, ok_util, ok_zero = [], [], []
    for s, r in res.items():
        target, reach, speed = speed_up(r)
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
    out = {"seeds": args.seeds, "sync_iterations": args.sync_iterations,
           "eval_every": args.eval_every, "machine": "CPU, 1 thread", "runs": res,
           "verdicts": {label: sum(oks) for label, oks in parts}}
    save_run(NAME, out, claims, args)
    failed = [f"{label} on {sum(oks)}/{n} seeds" for label, oks in parts if not all(oks)]
    print("verdict: reproduced" if not failed else f"verdict: not reproduced ({'; '.join(failed)})")


if __name__ == "__main__":
    main()
