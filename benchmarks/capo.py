"""CAPO's claim (card 6) in miniature on the shipped ``addition`` base, per seed.

    python benchmarks/capo.py                          # 5 seeds, the claim's run
    python benchmarks/capo.py --seeds 0 --samples 20480 --set delta=0.02

Three arms on the same seeds, held-out greedy pass@1 (512 problems) against completions
sampled:

* GRPO conservative — polab's defaults (lr 3e-4, 64 prompts × 8);
* GRPO aggressive   — lr 3e-3, 16 prompts × 8;
* CAPO              — the same aggressive lr and batch, tokens masked to the trust region
  ``delta`` on the mean predicted KL before every step (``CAPOConfig`` defaults).

Every arm samples the same budget ``--samples`` (default 61440 = 120 iterations of the
conservative arm, 480 of the aggressive ones). The claim, per seed: aggressive GRPO ends below
its starting pass@1 (in >= 3 of 5 seeds); CAPO reaches conservative GRPO's final pass@1 within
a third of its samples (>= 4 of 5); CAPO's mean rejection rate <= 10%. ``--set`` changes
``CAPOConfig`` (e.g. ``delta``); the last line is the verdict computed from the numbers.

    python benchmarks/capo.py --json benchmarks/results/capo.json \
        --results-dir benchmarks/results/claims        # the shipped run (≈ 10 min)
    python benchmarks/capo.py --claims-from benchmarks/results/capo.json   # no run

``--json PATH`` saves the per-seed rows and the pass@1 curves; every run writes card 6's claims
file (``polab.claims``) to ``--results-dir`` (default build/results).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import torch

from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.token_control.capo import CAPO, CAPOConfig
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.device import describe, pick_device

ARMS = ("grpo-conservative", "grpo-aggressive", "capo")


def configs(seed: int, capo_overrides: list[str]) -> dict[str, GRPOConfig]:
    """The three arms' configs for one seed (no in-run evaluation: the driver evaluates)."""
    capo = CAPOConfig(seed=seed, eval_every=0).with_overrides(capo_overrides)
    return {"grpo-conservative": GRPOConfig(seed=seed, eval_every=0),
            "grpo-aggressive": GRPOConfig(seed=seed, eval_every=0,
                                          learning_rate=capo.learning_rate,
                                          generation_batch_size=capo.generation_batch_size),
            "capo": capo}


def run_arm(config: GRPOConfig, samples: int, eval_every: int, device: torch.device
            ) -> dict:
    """Train until ``samples`` completions are drawn; pass@1 at 0 and every ``eval_every``."""
    algo = (CAPO if isinstance(config, CAPOConfig) else GRPO)(config, "addition", device=device)
    curve = [(0, algo.evaluate()["eval/pass@1"])]
    next_eval = eval_every
    while algo.global_step < samples:
        algo.step()
        if algo.global_step >= next_eval or algo.global_step >= samples:
            curve.append((algo.global_step, algo.evaluate()["eval/pass@1"]))
            next_eval += eval_every
    out = {"curve": curve, "seconds": algo.train_seconds}
    if isinstance(algo, CAPO):
        out["steps"] = algo.steps
    return out


def first_reaching(curve: list[tuple[int, float]], target: float) -> int | None:
    """Completions sampled at the first evaluation with pass@1 >= target (None: never)."""
    return next((s for s, acc in curve if acc >= target), None)


NAME, CARD, NOTEBOOK = "capo", "06_capo", "04_token_level_control"


def claims(res: dict) -> list[Claim]:
    """Card 6's three claims from a run's results (as read back from ``--json``): each with the
    benchmark's own criterion (>= 3 of 5 seeds collapse, >= 4 of 5 fast, mean rejection
    <= 10 %)."""
    rows = res["rows"]
    seeds = tuple(int(r["seed"]) for r in rows)
    n = len(rows)
    need_collapse, need_fast = -(-3 * n // 5), -(-4 * n // 5)
    collapsed = sum(bool(r["collapsed"]) for r in rows)
    fast = sum(bool(r["fast"]) for r in rows)
    reject = statistics.fmean(r["reject"] for r in rows)
    capo_fell = sum(r["capo"] < r["start"] for r in rows)
    reached = tuple(math.nan if r["reached"] is None else r["reached"] / r["cons_samples"]
                    for r in rows)
    common = {"card": CARD, "notebook": NOTEBOOK, "seeds": seeds}
    return [
        Claim(**common, algorithms=("capo",), claim="at the aggressive learning rate (3e-3, 16 "
              "prompts) GRPO's pass@1 collapses below its start, in >= 3 of 5 seeds",
              baseline="its own starting pass@1", metric="held-out greedy pass@1 after "
              f"{res['samples']} sampled completions",
              values={"start": tuple(r["start"] for r in rows),
                      "GRPO aggressive": tuple(r["agg"] for r in rows)},
              verdict="reproduced" if collapsed >= need_collapse else "not reproduced",
              note=f"ends below its start on {collapsed}/{n} seeds, {need_collapse} needed"),
        Claim(**common, algorithms=("capo",), claim="CAPO at the aggressive learning "
              "rate reaches conservative GRPO's final pass@1 within a third of its samples, in "
              ">= 4 of 5 seeds", baseline="GRPO conservative (lr 3e-4, 64 prompts)",
              metric="samples CAPO needs to reach conservative GRPO's final pass@1, as a "
                     "fraction of GRPO's (— = never)",
              values={"CAPO": reached},
              verdict="reproduced" if fast >= need_fast else "not reproduced",
              note=f"within 1/3 on {fast}/{n} seeds, {need_fast} needed; final pass@1 CAPO "
                   + " / ".join(f"{r['capo']:.3f}" for r in rows) + ", GRPO conservative "
                   + " / ".join(f"{r['cons']:.3f}" for r in rows)),
        Claim(**common, algorithms=("capo",), claim="CAPO rejects at most 10 % of tokens on "
              "average", baseline="10 %", metric="CAPO's mean token rejection rate",
              values={"CAPO": tuple(r["reject"] for r in rows)},
              verdict="reproduced" if reject <= 0.10 else "not reproduced",
              note=f"mean {100 * reject:.1f} %"
                   + (f"; CAPO also ended below its start on {capo_fell}/{n} seeds, so a low "
                      "rate is no sign of stability here" if capo_fell else "")),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--samples", type=int, default=61440,
                        help="completions sampled per arm (120 × 512)")
    parser.add_argument("--eval-every", type=int, default=2048,
                        help="completions between evaluations")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="CAPOConfig override (repeatable)")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the per-seed rows and pass@1 curves here")
    args = parse_benchmark_args(parser, NAME, claims, argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"torch {torch.__version__}, device {describe(device)}, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.1f}; budget {args.samples} completions per arm; "
          f"CAPOConfig overrides: {args.set or 'none (defaults)'}")
    rows, curves = [], {}
    for seed in args.seeds:
        runs = {}
        for arm, config in configs(seed, args.set).items():
            start = time.perf_counter()
            runs[arm] = run_arm(config, args.samples, args.eval_every, device)
            curve = runs[arm]["curve"]
            print(f"seed {seed} {arm:>17}: pass@1 {curve[0][1]:.3f} -> {curve[-1][1]:.3f} "
                  f"(max {max(a for _, a in curve):.3f}) in {curve[-1][0]} completions, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
        curves[seed] = {arm: runs[arm]["curve"] for arm in ARMS}
        cons, agg, capo = (runs[a]["curve"] for a in ARMS)
        target, cons_samples = cons[-1][1], cons[-1][0]
        reached = first_reaching(capo, target)
        steps = runs["capo"]["steps"]
        reject = statistics.fmean(s["capo/reject_rate"] for s in steps)
        moved = [s["capo/realised_kl"] / s["capo/predicted_kl"] for s in steps
                 if s["capo/realised_kl"] >= 1e-4 and s["capo/predicted_kl"] > 0]
        ratio = statistics.median(moved) if moved else float("nan")
        rows.append(dict(seed=seed, start=cons[0][1], cons=target, agg=agg[-1][1],
                         agg_min=min(a for _, a in agg), capo=capo[-1][1], reached=reached,
                         cons_samples=cons_samples, reject=reject, kl_ratio=ratio,
                         collapsed=agg[-1][1] < agg[0][1],
                         fast=reached is not None and reached <= cons_samples / 3))
        for arm in ARMS:
            print(f"  {arm} curve: " + " ".join(f"{s}:{a:.3f}" for s, a in runs[arm]["curve"]))

    print(f"\n{'seed':>4} {'start':>6} {'GRPO-cons':>9} {'GRPO-aggr':>9} {'(min)':>6} "
          f"{'CAPO':>6} {'CAPO reaches cons. at':>22} {'reject':>7} {'real/pred KL':>12}")
    print("(real/pred KL: CAPO's median realised / predicted KL over the steps that moved the "
          "policy, realised >= 1e-4)")
    for r in rows:
        at = "never" if r["reached"] is None else (
            f"{r['reached']} ({r['reached'] / r['cons_samples']:.2f}x)")
        print(f"{r['seed']:>4} {r['start']:>6.3f} {r['cons']:>9.3f} {r['agg']:>9.3f} "
              f"{r['agg_min']:>6.3f} {r['capo']:>6.3f} {at:>22} {100 * r['reject']:>6.1f}% "
              f"{r['kl_ratio']:>12.2f}")
    n = len(rows)
    collapsed = sum(r["collapsed"] for r in rows)
    fast = sum(r["fast"] for r in rows)
    reject = statistics.fmean(r["reject"] for r in rows)
    need_collapse, need_fast = -(-3 * n // 5), -(-4 * n // 5)
    print(f"\naggressive GRPO ends below its start: {collapsed}/{n} (need >= {need_collapse})")
    print(f"CAPO reaches conservative GRPO's final pass@1 within 1/3 of its samples: {fast}/{n} "
          f"(need >= {need_fast})")
    print(f"CAPO mean rejection rate: {100 * reject:.1f}% (need <= 10%)")
    fails = [why for ok, why in [
        (collapsed >= need_collapse, f"aggressive GRPO collapsed in only {collapsed}/{n}"),
        (fast >= need_fast, f"CAPO was fast enough in only {fast}/{n}"),
        (reject <= 0.10, f"mean rejection {100 * reject:.1f}% > 10%")] if not ok]
    res = {"seeds": args.seeds, "samples": args.samples, "eval_every": args.eval_every,
           "overrides": args.set, "machine": f"{describe(device)}, {args.threads} thread(s)",
           "rows": rows, "curves": curves,
           "verdicts": {"collapse": collapsed >= need_collapse, "fast": fast >= need_fast,
                        "reject": reject <= 0.10}}
    save_run(NAME, res, claims, args)
    print("verdict: reproduced" if not fails else f"verdict: not reproduced ({'; '.join(fails)})")


if __name__ == "__main__":
    main()
