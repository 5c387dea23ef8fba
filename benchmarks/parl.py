"""PARL's claim (card 1) in miniature on the 6×6 gridworld, per seed.

    python benchmarks/parl.py                     # 5 seeds × 300 outer iterations
    python benchmarks/parl.py --seeds 0 1 --iterations 100

Two arms on the same seeds and query budget (``pairs_per_iter`` × ``iterations``):
A-PARL (``use_implicit_term=True``) and the PEBBLE-like baseline (the implicit term off:
maximum-likelihood reward fitting on the current policy's pairs). Measured: the preference
queries until π_θ's exact true return first reaches ``--target`` × the oracle's (π*(r*) at the
same entropy coefficient); a run that never does counts as ∞. The claim (card 1, "inferred"
from the paper's "up to 63% fewer samples"): A-PARL's median over seeds is below the
baseline's. The last line is the verdict computed from the numbers; per-iteration true returns
go to ``benchmarks/results/parl.json`` for the notebook.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

from polab.algos.preference.parl import PARL, PARLConfig
from polab.claims import (
    Claim,
    parse_benchmark_args,
    seed_verdict,
    write_claims,
)
from polab.device import describe

ARMS = {"A-PARL": True, "PEBBLE-like": False}


def run(seed: int, implicit: bool, iterations: int, target: float) -> dict:
    """One run: its true-return curve and the queries to ``target`` × oracle (∞ if never)."""
    algo = PARL(PARLConfig(seed=seed, use_implicit_term=implicit, num_iterations=iterations))
    curve, hit = [], math.inf
    for _ in range(iterations):
        record = algo.step()
        curve.append(record["true_return"])
        if hit == math.inf and record["true_return"] >= target * algo.oracle_return:
            hit = algo.global_step
    return {"curve": curve, "queries": hit, "final": curve[-1], "oracle": algo.oracle_return,
            "pairs_per_iter": algo.config.pairs_per_iter}


def fmt(q: float) -> str:
    return "never" if q == math.inf else f"{q:g}"


NAME, CARD, NOTEBOOK = "parl", "01_parl", "08_preferences"


def claims(res: dict) -> list[Claim]:
    """Card 1's claim from a run's saved JSON: A-PARL's median queries to the target below
    the PEBBLE-like baseline's (``reproduced (weakly)`` if it does not hold on every seed)."""
    runs = res["runs"]
    seeds = sorted(runs["A-PARL"], key=int)

    def queries(arm: str) -> tuple[float, ...]:  # None (never) as ∞
        return tuple(math.inf if runs[arm][s]["queries"] is None else runs[arm][s]["queries"]
                     for s in seeds)

    a, b = queries("A-PARL"), queries("PEBBLE-like")
    med_a, med_b = statistics.median(a), statistics.median(b)
    return [Claim(card=CARD, algorithms=("parl",), notebook=NOTEBOOK,
                  claim="the implicit (bilevel) term saves preference queries: A-PARL reaches "
                        f"{res['target']:g} × the oracle's return with fewer queries",
                  baseline="PEBBLE-like (the implicit term off)",
                  metric=f"preference queries to {res['target']:g} × the oracle's true return "
                         f"(null: never within {res['budget']})",
                  seeds=tuple(int(s) for s in seeds), values={"A-PARL": a, "PEBBLE-like": b},
                  verdict=seed_verdict([x < y for x, y in zip(a, b, strict=True)], med_a < med_b),
                  note=f"median {fmt(med_a)} vs {fmt(med_b)}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--json", default="benchmarks/results/parl.json")
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(1)
    print(f"PARL gridworld 6x6: {len(args.seeds)} seeds x {args.iterations} iterations, "
          f"target {args.target:g} x oracle; {describe(torch.device('cpu'))}, "
          f"torch {torch.__version__}", flush=True)
    results: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS}
    for seed in args.seeds:
        for arm, implicit in ARMS.items():
            start = time.perf_counter()
            out = results[arm][seed] = run(seed, implicit, args.iterations, args.target)
            print(f"  seed {seed} {arm:12s} queries to target {fmt(out['queries']):>6s}  "
                  f"final {out['final']:.3f} / oracle {out['oracle']:.3f}  "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)
    budget = args.iterations * results["A-PARL"][args.seeds[0]]["pairs_per_iter"]
    print(f"\nqueries to {args.target:g} x oracle return (budget {budget}):")
    print("seed  A-PARL  PEBBLE-like")
    for seed in args.seeds:
        print(f"{seed:4d}  {fmt(results['A-PARL'][seed]['queries']):>6s}  "
              f"{fmt(results['PEBBLE-like'][seed]['queries']):>11s}")
    med = {arm: statistics.median(r["queries"] for r in results[arm].values()) for arm in ARMS}
    print(f"median  {fmt(med['A-PARL']):>6s}  {fmt(med['PEBBLE-like']):>11s}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    res = {"seeds": args.seeds, "target": args.target, "budget": budget,
           "median": {a: (None if m == math.inf else m) for a, m in med.items()},
           "runs": {a: {str(s): {**r, "queries": None if r["queries"] == math.inf
                                 else r["queries"]} for s, r in rs.items()}
                    for a, rs in results.items()}}
    Path(args.json).write_text(json.dumps(res))
    print("claims:", write_claims(NAME, claims(json.loads(json.dumps(res))),
                                  results_dir=args.results_dir))
    if med["A-PARL"] < med["PEBBLE-like"]:
        saving = 1 - med["A-PARL"] / med["PEBBLE-like"] if med["PEBBLE-like"] < math.inf else 1
        print(f"verdict: reproduced (A-PARL needs {saving:.0%} fewer queries, median)")
    else:
        print(f"verdict: not reproduced (median queries A-PARL {fmt(med['A-PARL'])} vs "
              f"PEBBLE-like {fmt(med['PEBBLE-like'])}: the implicit term does not save "
              "queries here)")


if __name__ == "__main__":
    main()
