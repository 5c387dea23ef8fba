"""APO's claim (card 30) in miniature on the preference bandit, per seed.

    python benchmarks/apo.py                     # 5 seeds, the claim's run
    python benchmarks/apo.py --seeds 0 --set lr=0.01

The bandit: 64 prompts × 32 responses, r* ~ N(0, 1), π_0 random logits, Bradley–Terry oracle
with label flips (``label_noise`` 0.1). Every arm runs ``--rounds`` rounds of 512 pairs
(best vs worst of K = 4 samples), 200 Adam steps each (``PreferenceConfig`` defaults: β 0.5,
lr 0.05), on the same seeds:

* APO α ∈ {0 (iterative DPO), 0.5, 0.9} (log-space extrapolation of the reference);
* offline DPO (pairs from π_0, anchored to π_0 every round) and SPPO (iterative, squared
  loss with hard labels, η = 1/β so its per-round step ``π_t·exp(η(P − ½))`` has DPO's
  scale; at the config's η = 0.1 it barely moves), the card's baselines.

Measured per seed, from the exact metrics: the round at which the true reward first reaches
90% of the way from π_0's to the best reward (``never`` = not within the rounds); the 50%
mark is printed too, as a secondary measure outside the verdict.

The claim and its criteria (fixed before the run):

1. α = 0.5 reaches the 90% mark in strictly fewer rounds than iterative DPO on a majority
   of seeds (a run that never reaches it counts as rounds + 1; both never is not "fewer");
2. α = 0.9 *overshoots* on a majority of seeds and on more seeds than α = 0.5, where a run
   overshoots if its true reward or win rate falls by more than 0.01 from one round to the
   next (not monotone), or it ends with entropy < 0.1 nats while its gap to the best reward
   is > 0.1 (collapsed onto a response that is not the best).

The last line is the verdict computed from these numbers. ``--set`` changes every arm's
``PreferenceConfig``; ``--json`` writes the per-round records for the notebook.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from polab.algos.preference.trainer import PreferenceConfig, PreferenceTrainer
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.device import describe, pick_device

ARMS: dict[str, dict] = {
    "iterative DPO (α=0)": {},
    "APO α=0.5": {"alpha": 0.5},
    "APO α=0.9": {"alpha": 0.9},
    "offline DPO": {"sampler": "initial", "reference": "initial"},
    "SPPO": {"loss_type": "sppo"},  # η set to 1/β in main: SPPO's step π_t·exp(η·P)
}
DROP, ENTROPY_FLOOR, GAP_FLOOR = 0.01, 0.1, 0.1


def run_arm(config: PreferenceConfig, device: torch.device) -> dict:
    """One run: π_0's metrics then one record per round, plus the best reward."""
    algo = PreferenceTrainer(config, "bandit", device=device)
    records = [algo.testbed.metrics(algo.policy, algo.initial)]
    records += [algo.step() for _ in range(config.rounds)]
    keys = ("true_reward", "win_rate", "kl", "entropy", "gap", "pairs", "rewards/chosen",
            "rewards/rejected", "rewards/margins", "rewards/accuracies")
    return {"best": algo.testbed.best_reward(),
            "records": [{k: float(r[k]) for k in keys if k in r} for r in records]}


def rounds_to_reach(run: dict, share: float = 0.9) -> int | None:
    """The first round whose true reward is ``share`` of the way from π_0's (round 0) to the
    best reward; ``None`` if none is."""
    rewards = [r["true_reward"] for r in run["records"]]
    target = rewards[0] + share * (run["best"] - rewards[0])
    return next((t for t, r in enumerate(rewards) if t > 0 and r >= target), None)


def overshoots(run: dict) -> bool:
    """True reward or win rate drops by > ``DROP`` between rounds, or the run ends collapsed
    (entropy < ``ENTROPY_FLOOR``) with a gap > ``GAP_FLOOR`` (module docstring, criterion 2)."""
    recs = run["records"]
    drop = any(b[k] < a[k] - DROP for a, b in zip(recs[:-1], recs[1:], strict=True) for k in
               ("true_reward", "win_rate"))
    last = recs[-1]
    return drop or (last["entropy"] < ENTROPY_FLOOR and last["gap"] > GAP_FLOOR)


NAME, CARD, NOTEBOOK = "apo", "30_apo", "08_preferences"
FAST, SLOW, OVER = "APO α=0.5", "iterative DPO (α=0)", "APO α=0.9"


def claims(res: dict) -> list[Claim]:
    """Card 30's two claims from a run's ``--json`` (criteria 1 and 2 of the docstring: each on
    a majority of seeds)."""
    results = res["results"]
    seeds = sorted(results, key=int)
    never = int(res["config"]["rounds"]) + 1
    steps = {arm: tuple(float(rounds_to_reach(results[s][arm]) or never) for s in seeds)
             for arm in (FAST, SLOW)}
    over = {arm: tuple(float(overshoots(results[s][arm])) for s in seeds) for arm in (OVER, FAST)}
    n, majority = len(seeds), len(seeds) // 2 + 1
    faster = sum(a < b for a, b in zip(steps[FAST], steps[SLOW], strict=True))
    over9, over5 = int(sum(over[OVER])), int(sum(over[FAST]))
    common = {"card": CARD, "notebook": NOTEBOOK, "seeds": tuple(int(s) for s in seeds)}
    return [
        Claim(**common, algorithms=("apo-accel", "iterative-dpo"), claim="APO (α = 0.5) reaches "
              "90 % of the way to the best reward in fewer rounds than iterative DPO, on a "
              "majority of seeds", baseline="iterative DPO (α = 0)",
              metric=f"rounds to 90 % of the way from π_0's to the best true reward ({never} = "
                     f"never within {never - 1})",
              values={"APO α=0.5": steps[FAST], "iterative DPO": steps[SLOW]},
              verdict="reproduced" if faster >= majority else "not reproduced",
              note=f"fewer rounds on {faster}/{n} seeds , {majority} needed"),
        Claim(**common, algorithms=("apo-accel",), claim="APO at α = 0.9 overshoots, on a "
              "majority of seeds and on more than α = 0.5", baseline="APO α = 0.5",
              metric="overshoots (1 = true reward or win rate drops > 0.01 between rounds, or "
                     "collapsed below the best)",
              values={"APO α=0.9": over[OVER], "APO α=0.5": over[FAST]},
              verdict="reproduced" if over9 >= majority and over9 > over5 else "not reproduced",
              note=f"α = 0.9 on {over9}/{n} seeds, α = 0.5 on {over5}/{n}"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--label-noise", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="PreferenceConfig override for every arm (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help="write per-round records here")
    args = parse_benchmark_args(parser, NAME, claims, argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    base = PreferenceConfig(rounds=args.rounds, label_noise=args.label_noise
                            ).with_overrides(args.set)
    print(f"torch {torch.__version__}, device {describe(device)}, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.1f}; bandit 64×32, {base.rounds} rounds × "
          f"{base.pairs_per_round} pairs (K = {base.samples_per_prompt}), "
          f"{base.steps_per_round} Adam steps (lr {base.lr}), β {base.beta}, label noise "
          f"{base.label_noise}; overrides: {args.set or 'none (defaults)'}")
    results: dict[int, dict[str, dict]] = {}
    for seed in args.seeds:
        results[seed] = {}
        for arm, changes in ARMS.items():
            start = time.perf_counter()
            if changes.get("loss_type") == "sppo":
                changes = {**changes, "eta": 1.0 / base.beta}
            run = results[seed][arm] = run_arm(base.replace(seed=seed, **changes), device)
            curve = " ".join(f"{r['true_reward']:.2f}" for r in run["records"])
            print(f"seed {seed} {arm:>19}: true reward {curve} (best {run['best']:.2f}), "
                  f"win {run['records'][-1]['win_rate']:.3f}, entropy "
                  f"{run['records'][-1]['entropy']:.2f}, reaches 90% at "
                  f"{rounds_to_reach(run) or 'never'}, overshoots {overshoots(run)}, "
                  f"{time.perf_counter() - start:.1f} s", flush=True)

    never = base.rounds + 1
    print(f"\nrounds to 90% of the way from π_0's to the best reward (never = not within "
          f"{base.rounds}); final true reward / best; * = overshoots")
    print(f"{'seed':>4} " + " ".join(f"{arm:>21}" for arm in ARMS))
    for seed, runs in results.items():
        cells = []
        for run in runs.values():
            reach = rounds_to_reach(run)
            cells.append(f"{reach or 'never':>5} {run['records'][-1]['true_reward']:5.2f}/"
                         f"{run['best']:.2f}{'*' if overshoots(run) else ' ':1}")
        print(f"{seed:>4} " + " ".join(f"{c:>21}" for c in cells))
    print("\nsecondary (not the claim): rounds to 50% of the way, per seed")
    for arm in ARMS:
        print(f"{arm:>21}: " + " ".join(f"{rounds_to_reach(results[s][arm], 0.5) or 'never':>5}"
                                        for s in results))
    n = len(results)
    steps = {arm: [rounds_to_reach(results[s][arm]) or never for s in results] for arm in ARMS}
    faster = sum(a < b for a, b in zip(steps["APO α=0.5"], steps["iterative DPO (α=0)"],
                                       strict=True))
    over9 = sum(overshoots(results[s]["APO α=0.9"]) for s in results)
    over5 = sum(overshoots(results[s]["APO α=0.5"]) for s in results)
    majority = n // 2 + 1
    print(f"\nα = 0.5 reaches 90% in fewer rounds than iterative DPO: {faster}/{n} seeds "
          f"(need >= {majority})")
    print(f"α = 0.9 overshoots: {over9}/{n} seeds (need >= {majority} and > α = 0.5's "
          f"{over5}/{n})")
    res = json.loads(json.dumps({"config": base.to_dict(), "results": results}))
    save_run(NAME, res, claims, args)
    fails = [why for ok, why in [
        (faster >= majority, f"α = 0.5 was faster than iterative DPO on only {faster}/{n} "
         f"seeds (rounds to 90%: α=0.5 {steps['APO α=0.5']}, α=0 "
         f"{steps['iterative DPO (α=0)']}, {never} = never)"),
        (over9 >= majority and over9 > over5, f"α = 0.9 overshot on {over9}/{n} seeds, "
         f"α = 0.5 on {over5}/{n}")] if not ok]
    print("verdict: reproduced" if not fails else f"verdict: not reproduced ({'; '.join(fails)})")


if __name__ == "__main__":
    main()
