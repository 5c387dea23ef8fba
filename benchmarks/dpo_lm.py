"""Chapter 08 on the tiny LM: offline DPO, iterative DPO and APO (α = 0.5) from graded-oracle
pairs each raise held-out greedy pass@1 of the shipped addition base, and iterative ≥ offline.

    python benchmarks/dpo_lm.py                     # seeds 0 1 2, 6 rounds × 256 prompts
    python benchmarks/dpo_lm.py --seeds 0 --rounds 3

Every arm is :class:`~polab.algos.preference.trainer.PreferenceTrainer` on the ``addition``
pairs testbed (:mod:`polab.lm.preference`) at the registry's LM fields
(:data:`polab.algos.preference.testbeds.ENV_FIELDS`: lr 2e-5, β 0.5, 40 Adam steps of 64 pairs per
round): each round draws the same number of prompts (K = 4 samples each, best vs worst by the
graded score, ties dropped, Bradley–Terry labels with 10% flips). Offline DPO samples from and
anchors on π_0; iterative DPO samples from and anchors on π_t; APO extrapolates the anchor
(α = 0.5, log space). Held-out greedy pass@1 is on the task's 512 held-out problems. Verdict:
every arm's final pass@1 is above the base's on every seed, and iterative DPO's mean over
seeds is at least offline DPO's. Writes ``benchmarks/results/dpo_lm.json`` (per-round records)
next to the log ``dpo_lm.txt``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from polab.algos.preference.testbeds import ENV_FIELDS
from polab.algos.preference.trainer import PreferenceConfig, PreferenceTrainer
from polab.claims import (
    Claim,
    parse_benchmark_args,
    seed_verdict,
    write_claims,
)

ARMS = {"offline DPO": {"sampler": "initial", "reference": "initial"},
        "iterative DPO": {},
        "APO α=0.5": {"alpha": 0.5}}
"""The three arms as :class:`PreferenceConfig` changes (card 30)."""

KEEP = ("eval/pass@1", "true_reward", "kl_to_initial", "pairs", "loss", "rewards/chosen",
        "rewards/rejected", "rewards/margins", "rewards/accuracies")


def run_arm(arm: str, seed: int, rounds: int) -> dict:
    """Train one arm; the base's pass@1 and the per-round records."""
    config = PreferenceConfig(seed=seed, rounds=rounds).replace(
        **ENV_FIELDS["addition"], **ARMS[arm])
    algo = PreferenceTrainer(config, "addition")
    base = algo.testbed.metrics(algo.policy, algo.initial)["eval/pass@1"]
    records = [{k: float(v) for k, v in algo.step().items() if k in KEEP} for _ in range(rounds)]
    return {"base": base, "records": records}


NAME, CARD, NOTEBOOK = "dpo_lm", "30_apo", "08_preferences"
ALGOS = {"offline DPO": "dpo", "iterative DPO": "iterative-dpo", "APO α=0.5": "apo-accel"}


def claims(res: dict) -> list[Claim]:
    """Chapter 08's LM claims from a run's saved JSON (``--out``): each arm above the base on
    every seed, and iterative DPO's mean at least offline DPO's."""
    seeds = [str(s) for s in res["seeds"]]
    base = tuple(res["base"][s] for s in seeds)
    final = {arm: tuple(res["runs"][arm][s]["records"][-1]["eval/pass@1"] for s in seeds)
             for arm in ARMS}
    metric = "held-out greedy pass@1 after the last round (512 problems)"
    common = {"card": CARD, "notebook": NOTEBOOK, "seeds": tuple(int(s) for s in seeds),
              "metric": metric}
    out = [Claim(**common, algorithms=(ALGOS[arm],), claim=f"{arm} on graded-oracle pairs raises "
                 "the tiny LM's pass@1 above the base's", baseline="the SFT base",
                 values={arm: final[arm], "base": base},
                 verdict=seed_verdict([f > b for f, b in zip(final[arm], base, strict=True)],
                                      False),
                 note=f"mean {statistics.mean(final[arm]):.3f} vs base "
                      f"{statistics.mean(base):.3f}")
           for arm in ARMS]
    it, off = final["iterative DPO"], final["offline DPO"]
    out.append(Claim(**common, algorithms=("iterative-dpo", "dpo"), claim="on the tiny LM "
                     "iterative DPO ends at least as high as offline DPO", baseline="offline DPO",
                     values={"iterative DPO": it, "offline DPO": off},
                     verdict=seed_verdict([a >= b for a, b in zip(it, off, strict=True)],
                                          statistics.mean(it) >= statistics.mean(off)),
                     note=f"mean {statistics.mean(it):.3f} vs {statistics.mean(off):.3f}"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "dpo_lm.json"))
    args = parse_benchmark_args(parser, NAME, claims, argv)
    torch.set_num_threads(1)
    print(f"LM pairs (addition base), {args.rounds} rounds, fields "
          f"{ENV_FIELDS['addition']}, torch {torch.__version__}, 1 thread", flush=True)
    runs: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS}
    for seed in args.seeds:
        for arm in ARMS:
            start = time.perf_counter()
            runs[arm][seed] = out = run_arm(arm, seed, args.rounds)
            curve = " ".join(f"{r['eval/pass@1']:.3f}" for r in out["records"])
            print(f"seed {seed} {arm:>13}: base {out['base']:.3f} -> per round {curve} "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)
    base = {s: runs["iterative DPO"][s]["base"] for s in args.seeds}
    final = {arm: {s: runs[arm][s]["records"][-1]["eval/pass@1"] for s in args.seeds}
             for arm in ARMS}
    print("\nheld-out greedy pass@1 after the last round (512 problems)")
    print(f"{'seed':>4} {'base':>6} " + " ".join(f"{arm:>13}" for arm in ARMS))
    for s in args.seeds:
        print(f"{s:>4} {base[s]:>6.3f} " + " ".join(f"{final[arm][s]:>13.3f}" for arm in ARMS))
    means = {arm: statistics.mean(final[arm].values()) for arm in ARMS}
    print(f"{'mean':>4} {statistics.mean(base.values()):>6.3f} "
          + " ".join(f"{means[arm]:>13.3f}" for arm in ARMS))
    failed = [f"{arm} seed {s}: {final[arm][s]:.3f} <= base {base[s]:.3f}"
              for arm in ARMS for s in args.seeds if final[arm][s] <= base[s]]
    if means["iterative DPO"] < means["offline DPO"]:
        failed.append(f"iterative mean {means['iterative DPO']:.3f} < offline mean "
                      f"{means['offline DPO']:.3f}")
    res = {"rounds": args.rounds, "seeds": args.seeds, "base": base, "runs": runs}
    Path(args.out).write_text(json.dumps(res, indent=1))
    print("claims:", write_claims(NAME, claims(json.loads(json.dumps(res))),
                                  results_dir=args.results_dir))
    print("verdict: reproduced" if not failed else f"verdict: not reproduced ({'; '.join(failed)})")


if __name__ == "__main__":
    main()
