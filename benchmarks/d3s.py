"""D^3S's miniature claim (card 15): at equal *backpropagated tokens*, D^3S reaches a target
held-out pass@1 earlier than GRPO and than random down-sampling at the same ratios; the kept
subset's gradient norm exceeds a random subset's; constant aggressive down-sampling ends lower
than the relaxing schedule.

    python benchmarks/d3s.py [--seeds 0 1 2] [--iterations 100] [--eval-every 10]
                             [--target 0.15] [--json benchmarks/results/d3s.json]

Task: the shipped ``addition-scratch`` base (greedy pass@1 from ``shipped_metrics``), 32
prompts × 8 completions, up to 64 tokens, GRPO's optimiser defaults (lr 3e-4, 2 passes per
batch). Arms, same seeds and iterations (= the same sampled completions):

* ``d3s`` — ρ_s 0.25 → 1, ρ_t 0.2 → 1, linear over the first half; the gradient-norm ratio
  kept / random measured every ``--probe-every`` iterations (outside the update);
* ``grpo`` — ρ_s = ρ_t = 1 (identical to ``GRPO``; tests/test_d3s.py checks it);
* ``sample-only`` (ρ_t = 1), ``token-only`` (ρ_s = 1), ``random`` (random rows and random
  tokens at D^3S's ratios), ``constant`` (ρ stays at 0.25 / 0.2).

Per seed: the backpropagated tokens (loss tokens × passes) at the first evaluation with
pass@1 ≥ base + ``--target``, the final pass@1, and D^3S's mean ratio over the probes taken
while ρ_s < 1 (at ρ_s = 1 both subsets are the whole batch). Verdict, every seed: D^3S reaches
the target, with fewer tokens than GRPO and than random (an arm that never reaches it counts
as infinitely many); ratio > 1; constant's final pass@1 < D^3S's.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from polab.algos.token_control.d3s import D3S, D3SConfig
from polab.claims import (
    Claim,
    parse_benchmark_args,
    seed_verdict,
    write_claims,
)
from polab.lm.pretrain import shipped_metrics

ARMS: dict[str, dict] = {
    "d3s": {},
    "grpo": {"rho_s_min": 1.0, "rho_t_min": 1.0},
    "sample-only": {"rho_t_min": 1.0},
    "token-only": {"rho_s_min": 1.0},
    "random": {"sample_selection": "random", "token_score": "random"},
    "constant": {"schedule": "constant"},
}


def run(arm: str, seed: int, iterations: int, eval_every: int, probe_every: int) -> dict:
    config = D3SConfig(seed=seed, num_iterations=iterations, eval_every=eval_every,
                       grad_ratio_every=probe_every if arm == "d3s" else 0, **ARMS[arm])
    algo = D3S(config, "addition-scratch")
    curve: list[tuple[float, float, int]] = []   # (backprop tokens, pass@1, iteration)
    ratios: list[float] = []
    schedule: list[tuple[float, float]] = []
    start = time.perf_counter()
    for _ in range(iterations):
        rho_s = algo.ratios()[0]
        m = algo.step()
        schedule.append((m["d3s/rho_s"], m["d3s/rho_t"]))
        if "d3s/grad_ratio" in m and rho_s < 1.0:
            ratios.append(m["d3s/grad_ratio"])
        if "eval/pass@1" in m:
            curve.append((m["d3s/backprop_tokens"], m["eval/pass@1"], algo.iteration))
    return {"curve": curve, "ratios": ratios, "schedule": schedule,
            "seconds": time.perf_counter() - start, "final": curve[-1][1]}


def tokens_to(curve: list, level: float) -> float:
    return next((t for t, p, _ in curve if p >= level - 1e-9), math.inf)


def fmt_tokens(t: float) -> str:
    return "never" if math.isinf(t) else f"{t / 1e3:.0f}k"


NAME, CARD, NOTEBOOK = "d3s", "15_d3s", "04_token_level_control"
CLAIM_ARMS = ("d3s", "grpo", "random", "constant")
"""The arms the claim needs (a run with fewer writes no claims file)."""


def claims(res: dict) -> list[Claim]:
    """Card 15's claims from a run's ``--json``, one per check of the verdict (each must hold
    on every seed): the target reached, with fewer tokens than GRPO and than random, the
    gradient-norm ratio, constant ρ ending lower."""
    results, level = res["results"], res["target"]
    seeds = sorted(results["d3s"], key=int)
    tokens = {a: tuple(tokens_to(results[a][s]["curve"], level) for s in seeds)
              for a in ("d3s", "grpo", "random")}
    best = tuple(max(p for _, p, _ in results["d3s"][s]["curve"]) for s in seeds)
    ratio = tuple(sum(r) / max(len(r), 1) for r in (results["d3s"][s]["ratios"] for s in seeds))
    final = {a: tuple(results[a][s]["final"] for s in seeds) for a in ("d3s", "constant")}
    iters = res["args"]["iterations"]
    common = {"card": CARD, "algorithms": ("d3s",), "notebook": NOTEBOOK,
              "seeds": tuple(int(s) for s in seeds)}
    tok_metric = (f"backpropagated tokens to pass@1 ≥ {level:.3f} (null: never in {iters} "
                  "iterations)")

    def fewer(base: str) -> Claim:
        ok = [math.isfinite(d) and d < b for d, b in zip(tokens["d3s"], tokens[base], strict=True)]
        return Claim(**common, claim=f"D³S reaches the target with fewer backpropagated tokens "
                     f"than {'GRPO' if base == 'grpo' else 'random down-sampling'}",
                     baseline="GRPO (ρ_s = ρ_t = 1)" if base == "grpo" else
                     "random rows and tokens at D³S's ratios", metric=tok_metric,
                     values={"D³S": tokens["d3s"],
                             "GRPO" if base == "grpo" else "random": tokens[base]},
                     verdict=seed_verdict(ok, False),
                     note="never reached: fewer tokens cannot be shown" if not any(
                         map(math.isfinite, tokens["d3s"])) else "")

    return [
        Claim(**common, claim=f"D³S reaches the base's pass@1 + {level - res['base']:.2f} "
              f"within {iters} iterations", baseline=f"target {level:.3f} (base "
              f"{res['base']:.3f})", metric="best held-out greedy pass@1 over the run",
              values={"D³S": best}, verdict=seed_verdict([b >= level - 1e-9 for b in best],
                                                          False),
              note=f"best {min(best):.3f}–{max(best):.3f} against {level:.3f}"),
        fewer("grpo"),
        fewer("random"),
        Claim(**common, claim="the kept subset's gradient norm exceeds a random subset's of "
              "the same size", baseline="random subset", metric="gradient-norm ratio kept / "
              "random, mean over the probes while ρ_s < 1", values={"D³S": ratio},
              verdict=seed_verdict([r > 1.0 for r in ratio], False)),
        Claim(**common, claim="constant aggressive down-sampling ends lower than the relaxing "
              "schedule", baseline="constant ρ (0.25 / 0.2)", metric="final held-out greedy "
              "pass@1", values={"D³S": final["d3s"], "constant ρ": final["constant"]},
              verdict=seed_verdict([c < d for c, d in zip(final["constant"], final["d3s"],
                                                          strict=True)], False)),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--probe-every", type=int, default=5)
    p.add_argument("--target", type=float, default=0.15, help="points over the base")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--json", type=Path, default=None, help="write the curves here")
    args = parse_benchmark_args(p, NAME, claims)
    torch.set_num_threads(1)
    base = shipped_metrics("addition-scratch")["greedy_pass@1"]
    level = base + args.target
    print(f"addition-scratch base greedy pass@1 {base:.3f}; target {level:.3f}; "
          f"{args.iterations} iterations × 256 completions, seeds {args.seeds}, CPU 1 thread")
    results: dict[str, dict[int, dict]] = {a: {} for a in args.arms}
    for seed in args.seeds:
        for arm in args.arms:
            r = run(arm, seed, args.iterations, args.eval_every, args.probe_every)
            results[arm][seed] = r
            ratio = (f" grad ratio {sum(r['ratios']) / len(r['ratios']):.2f}"
                     if r["ratios"] else "")
            print(f"seed {seed} {arm:<11} final pass@1 {r['final']:.3f}  tokens to target "
                  f"{fmt_tokens(tokens_to(r['curve'], level)):>6}  backprop tokens "
                  f"{r['curve'][-1][0] / 1e3:.0f}k  {r['seconds']:.0f}s{ratio}", flush=True)

    print(f"\nper seed: backpropagated tokens to pass@1 >= {level:.3f} (final pass@1)")
    print("seed  " + "  ".join(f"{a:>18}" for a in args.arms))
    for seed in args.seeds:
        cells = [f"{fmt_tokens(tokens_to(results[a][seed]['curve'], level)):>8} "
                 f"({results[a][seed]['final']:.3f})" for a in args.arms]
        print(f"{seed:<5} " + "  ".join(f"{c:>18}" for c in cells))
    checks: dict[str, list[bool]] = {"reach": [], "fewer_than_grpo": [], "fewer_than_random": [],
                                     "ratio": [], "constant_lower": []}
    if {"d3s", "grpo", "random", "constant"} <= set(args.arms):
        for seed in args.seeds:
            t = {a: tokens_to(results[a][seed]["curve"], level) for a in args.arms}
            d = results["d3s"][seed]
            mean_ratio = sum(d["ratios"]) / max(len(d["ratios"]), 1)
            checks["reach"].append(math.isfinite(t["d3s"]))
            checks["fewer_than_grpo"].append(math.isfinite(t["d3s"]) and t["d3s"] < t["grpo"])
            checks["fewer_than_random"].append(math.isfinite(t["d3s"])
                                               and t["d3s"] < t["random"])
            checks["ratio"].append(bool(d["ratios"]) and mean_ratio > 1.0)
            checks["constant_lower"].append(results["constant"][seed]["final"] < d["final"])
            print(f"seed {seed}: d3s grad norm kept/random {mean_ratio:.2f} over "
                  f"{len(d['ratios'])} probes (min {min(d['ratios'], default=math.nan):.2f}); "
                  f"constant final {results['constant'][seed]['final']:.3f} vs d3s "
                  f"{d['final']:.3f}")
    res = {"base": base, "target": level, "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": {a: {str(s): r for s, r in v.items()} for a, v in results.items()}}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res))
    if set(CLAIM_ARMS) <= set(args.arms):
        print("claims:", write_claims(NAME, claims(json.loads(json.dumps(res))),
                                      results_dir=args.results_dir))
    failed = [f"{name} fails for seeds {[s for s, ok in zip(args.seeds, v, strict=True) if not ok]}"
              for name, v in checks.items() if not all(v)]
    if not checks["reach"]:
        print("verdict: not reproduced (the claim needs the d3s, grpo, random and constant arms)")
    elif failed:
        print(f"verdict: not reproduced ({'; '.join(failed)})")
    else:
        print("verdict: reproduced")


if __name__ == "__main__":
    main()
