"""BGPO's claims (card 41) in miniature on the shipped ``addition-diffusion`` base, per seed.

    python benchmarks/bgpo.py                          # 3 seeds: the claim's run (≈ 8 min)
    python benchmarks/bgpo.py --seeds 0 --iterations 10 --json /tmp/b.json   # a quick look

Task: 3-digit addition, answer span 5 tokens, a 105k-parameter bidirectional GPT SFT-ed as a
masked-diffusion LM to greedy pass@1 ≈ 0.31 (``polab.lm.diffusion_base``). Every learning arm:
16 prompts × G = 8 answers sampled at T = 1 with 5 confidence-ordered unmasking steps, group
advantages, Adam lr 3e-4, ``--iterations`` (60) iterations; held-out greedy pass@1 on 512
problems after the last one. Arms: BGPO at n_mc 16 and at n_mc 1, d1's diffu-GRPO (μ = 4
inner updates, prompt masking 0.15, β 0.04). Measurements beside them:

* the equivalence (card 41, claim 1): max relative difference of value and gradient between the
  bound and the exact ELBO ratio at θ = θ_old, fp64, on the base and 16 sampled answers;
* ELBO-estimate variance vs n_mc: per seed, 128 answers sampled from the base, 16 independent
  n-sample ELBO estimates each; the variance over the 16, averaged over answers;
* saved bytes vs n_mc ∈ {1, 4, 16, 64} (card 41, claim 2): one update of BGPO and of the exact
  objective each, parameters excluded (``polab.algos.diffusion.memory``);
* the gap exact − bound vs the number of inner updates (claim 4): BGPO at n_mc 4 with
  ``inner_updates`` 4 for ``--gap-iterations`` (10) iterations; after each update k = 1…4
  the gap on the first update's masks (θ_old's own; same batch, same masks for every k), the
  median over iterations (one iteration with a large δ would dominate a mean: exp is steep).

Criteria (fixed before the run; "mean" is over seeds):

1. equivalence: max relative difference < 1e-5;
2. memory: exact's saved bytes at n_mc 64 / at 1 ≥ 0.8 · 64; BGPO's ≤ 1.1;
3a. variance: the n_mc 16 estimate's variance below the n_mc 1 estimate's for every seed;
3b. accuracy: mean final pass@1 of BGPO n_mc 16 > that of n_mc 1;
4. gap: the mean over seeds of the median gap rises strictly from k = 1 to 4, and is > 0;
5. headline (BGPO > diffu-GRPO): mean final pass@1 of BGPO n_mc 16 > diffu-GRPO's.

The last line is the verdict computed from these numbers; ``--json`` writes the per-seed numbers
and the pass@1 curves for the notebook.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from polab.algos.diffusion.bgpo import BGPO, BGPOConfig
from polab.algos.diffusion.diffu_grpo import DiffuGRPO, DiffuGRPOConfig
from polab.algos.diffusion.memory import peak_saved_bytes
from polab.algos.diffusion.objectives import backward_objective
from polab.claims import Claim, parse_benchmark_args, save_run, seed_verdict
from polab.lm.diffusion import (
    answer_len,
    denoise,
    elbo_term,
    elbo_terms,
    encode,
    load_diffusion_base,
    sample_masks,
)


def learn(kind: str, seed: int, iterations: int, **kw) -> dict:
    """One training run; the pass@1 curve and the last iteration's logs."""
    if kind == "diffu-grpo":
        algo = DiffuGRPO(DiffuGRPOConfig(seed=seed, num_iterations=iterations, **kw))
    else:
        algo = BGPO(BGPOConfig(seed=seed, num_iterations=iterations, **kw))
    start = time.perf_counter()
    records = [algo.step() for _ in range(iterations)]
    curve = [(i + 1, r["eval/pass@1"]) for i, r in enumerate(records) if "eval/pass@1" in r]
    gaps = {k: median([r[f"bound_gap/after_{k}"] for r in records])
            for k in range(1, kw.get("inner_updates", 1) + 1)} if kind == "bgpo" else {}
    return {"final": curve[-1][1] if curve else None, "curve": curve,
            "seconds": time.perf_counter() - start, "gap": gaps,
            "reward": [r["reward"] for r in records]}


def sampled_batch(seed: int, rows: int = 128):
    """Prompts and answers sampled from the base at T = 1 (what an RL step scores)."""
    model, task = load_diffusion_base()
    g = torch.Generator().manual_seed(seed)
    L = answer_len(task)
    prompt, _ = encode(task, task.sample_prompts(rows, g), L)
    answer, _ = denoise(model, prompt, L, L, 1.0, g)
    return model, prompt, answer, g


@torch.no_grad()
def elbo_variance(seed: int, n_mc: int, repeats: int = 16) -> float:
    model, prompt, answer, g = sampled_batch(seed)
    estimates = torch.stack([elbo_terms(model, prompt, answer,
                                        *sample_masks(len(prompt), answer.shape[1], n_mc, g)
                                        ).mean(0) for _ in range(repeats)])
    return float(estimates.var(0).mean())


def equivalence(seed: int) -> float:
    model, prompt, answer, g = sampled_batch(seed, rows=16)
    model = model.double()
    t, masked = sample_masks(len(prompt), answer.shape[1], 8, g)
    adv = torch.randn(len(prompt), generator=g, dtype=torch.float64)
    with torch.no_grad():
        old = elbo_terms(model, prompt, answer, t.double(), masked)
    out = []
    for objective in ("exact", "bgpo"):
        model.zero_grad()
        v = backward_objective(objective, lambda j: elbo_term(model, prompt, answer,
                                                              t[j].double(), masked[j]),
                               old, adv)
        out.append((v, torch.cat([p.grad.flatten() for p in model.parameters()])))
    (ve, ge), (vb, gb) = out
    return max(float((ve - vb).abs().max() / ve.abs().max()),
               float((ge - gb).abs().max() / ge.abs().max()))


def saved_bytes(objective: str, n_mc: int) -> int:
    model, prompt, answer, g = sampled_batch(0)
    t, masked = sample_masks(len(prompt), answer.shape[1], n_mc, g)
    adv = torch.randn(len(prompt), generator=g)
    with torch.no_grad():
        old = elbo_terms(model, prompt, answer, t, masked)
    _, peak = peak_saved_bytes(lambda: backward_objective(
        objective, lambda j: elbo_term(model, prompt, answer, t[j], masked[j]), old, adv,
        1 / len(adv)), exclude=model.parameters())
    return peak


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def mean(xs) -> float:
    return sum(xs) / len(xs)


NAME, CARD, ALGOS, NOTEBOOK = "bgpo", "41_bgpo", ("bgpo", "diffu-grpo"), "14_scaling_and_diffusion"


def claims(res: dict) -> list[Claim]:
    """Card 41's claims from a run's results (as read back from ``--json``)."""
    seeds = [int(s) for s in res["seeds"]]
    final = res["final"]
    memory, variance = res["memory"], res["variance"]
    n_lo, n_hi = min(memory["exact"], key=int), max(memory["exact"], key=int)
    mib = {obj: [memory[obj][n] / 2**20 for n in (n_lo, n_hi)] for obj in ("exact", "bgpo")}
    var = {n: [variance[n][str(s)] for s in seeds] for n in ("1", "16")}

    def versus(arm: str, base: str) -> str:
        return seed_verdict([a > b for a, b in zip(final[arm], final[base], strict=True)],
                            mean(final[arm]) > mean(final[base]))

    common = {"card": CARD, "notebook": NOTEBOOK}
    return [
        Claim(**common, algorithms=("bgpo",), claim="the bound equals the exact ELBO ratio "
              "objective at θ_old, in value and gradient", baseline="exact ratio (fp64)",
              metric="max relative difference", seeds=tuple(seeds),
              values={"bound vs exact": tuple(res["equivalence"][str(s)] for s in seeds)},
              verdict="reproduced" if res["verdicts"]["1 equivalence"] else "not reproduced"),
        Claim(**common, algorithms=("bgpo",), claim="memory autograd saves grows linearly in "
              "n_mc for the exact objective and stays flat for BGPO",
              baseline="exact ratio (VRPO-style)",
              metric=f"saved bytes at n_mc {n_hi} / at n_mc {n_lo}", seeds=(),
              values={"exact": (mib["exact"][1] / mib["exact"][0],),
                      "BGPO": (mib["bgpo"][1] / mib["bgpo"][0],)},
              verdict="reproduced" if res["verdicts"]["2 memory"] else "not reproduced",
              note=f"exact {mib['exact'][0]:.1f} → {mib['exact'][1]:.1f} MiB, BGPO "
                   f"{mib['bgpo'][0]:.1f} → {mib['bgpo'][1]:.1f} MiB"),
        Claim(**common, algorithms=("bgpo",), claim="the ELBO estimate's variance is lower at "
              "n_mc 16 than at n_mc 1", baseline="n_mc 1", metric="variance of the ELBO "
              "estimate", seeds=tuple(seeds), values={"n_mc 16": tuple(var["16"]),
                                                      "n_mc 1": tuple(var["1"])},
              verdict=seed_verdict([a < b for a, b in zip(var["16"], var["1"], strict=True)],
                                   mean(var["16"]) < mean(var["1"]))),
        Claim(**common, algorithms=("bgpo",), claim="pass@1 is higher at n_mc 16 than at 1",
              baseline="BGPO n_mc 1", metric="held-out greedy pass@1", seeds=tuple(seeds),
              values={"BGPO n_mc 16": tuple(final["bgpo n_mc=16"]),
                      "BGPO n_mc 1": tuple(final["bgpo n_mc=1"])},
              verdict=versus("bgpo n_mc=16", "bgpo n_mc=1")),
        Claim(**common, algorithms=("bgpo", "diffu-grpo"), claim="BGPO beats diffu-GRPO",
              baseline="diffu-GRPO (μ = 4)", metric="held-out greedy pass@1",
              seeds=tuple(seeds), values={"BGPO n_mc 16": tuple(final["bgpo n_mc=16"]),
                                          "diffu-GRPO": tuple(final["diffu-grpo"])},
              verdict=versus("bgpo n_mc=16", "diffu-grpo"),
              note="one pass@1 on 512 sums has a standard error of about 0.022"),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--gap-iterations", type=int, default=10)
    p.add_argument("--memory-n-mc", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--json", type=Path, default=None)
    args = parse_benchmark_args(p, NAME, claims)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    seeds = args.seeds
    res: dict = {"seeds": seeds, "iterations": args.iterations, "machine": "CPU, 1 thread"}

    res["equivalence"] = {s: equivalence(s) for s in seeds}
    print("equivalence (max rel diff, fp64):", {s: f"{v:.1e}" for s, v in
                                                 res["equivalence"].items()}, flush=True)

    res["memory"] = {obj: {n: saved_bytes(obj, n) for n in args.memory_n_mc}
                     for obj in ("exact", "bgpo")}
    for obj, row in res["memory"].items():
        print(f"saved bytes {obj:5s}:", {n: f"{b / 2**20:.1f} MiB" for n, b in row.items()},
              flush=True)

    res["variance"] = {n: {s: elbo_variance(s, n) for s in seeds} for n in (1, 4, 16)}
    for n, row in res["variance"].items():
        print(f"ELBO-estimate variance n_mc={n:2d}:", {s: round(v, 3) for s, v in row.items()},
              flush=True)

    arms = {"bgpo n_mc=16": ("bgpo", {"n_mc": 16}), "bgpo n_mc=1": ("bgpo", {"n_mc": 1}),
            "diffu-grpo": ("diffu-grpo", {})}
    res["runs"] = {}
    for name, (kind, kw) in arms.items():
        res["runs"][name] = {}
        for s in seeds:
            r = learn(kind, s, args.iterations, **kw)
            res["runs"][name][s] = r
            print(f"{name:13s} seed {s}: final pass@1 {r['final']:.3f} (from "
                  f"{r['curve'][0][1]:.3f} after 1)  {r['seconds']:.0f} s", flush=True)

    res["gap"] = {}
    for s in seeds:
        g = learn("bgpo", s, args.gap_iterations, n_mc=4, inner_updates=4, eval_every=0)["gap"]
        res["gap"][s] = g
        print(f"gap exact-bound after k = 1..4 inner updates, seed {s}:",
              " ".join(f"{v:.2e}" for v in g.values()), flush=True)

    # --- verdicts ---------------------------------------------------------------------------
    final = {name: [res["runs"][name][s]["final"] for s in seeds] for name in arms}
    mem = res["memory"]
    lo, hi = min(args.memory_n_mc), max(args.memory_n_mc)
    exact_ratio, bgpo_ratio = mem["exact"][hi] / mem["exact"][lo], mem["bgpo"][hi] / mem["bgpo"][lo]
    gaps = [mean([res["gap"][s][k] for s in seeds]) for k in (1, 2, 3, 4)]
    verdicts = {
        "1 equivalence": max(res["equivalence"].values()) < 1e-5,
        "2 memory": exact_ratio >= 0.8 * hi / lo and bgpo_ratio <= 1.1,
        "3a variance": all(res["variance"][16][s] < res["variance"][1][s] for s in seeds),
        "3b accuracy n_mc 16 > 1": mean(final["bgpo n_mc=16"]) > mean(final["bgpo n_mc=1"]),
        "4 gap grows": all(gaps[k] > gaps[k - 1] for k in (1, 2, 3)) and gaps[0] > 0,
        "5 bgpo > diffu-grpo": mean(final["bgpo n_mc=16"]) > mean(final["diffu-grpo"]),
    }
    res["final"], res["gap_means"], res["verdicts"] = final, gaps, verdicts
    res["memory_ratio"] = {"exact": exact_ratio, "bgpo": bgpo_ratio}
    print("\nfinal held-out greedy pass@1 per seed", seeds)
    for name, xs in final.items():
        print(f"  {name:13s} " + "  ".join(f"{x:.3f}" for x in xs) + f"   mean {mean(xs):.3f}")
    print(f"saved bytes n_mc {hi} / n_mc {lo}: exact {exact_ratio:.1f}x, bgpo {bgpo_ratio:.2f}x")
    print("mean gap after inner updates 1..4:", " ".join(f"{g:.2e}" for g in gaps))
    for name, ok in verdicts.items():
        print(f"claim {name}: {'reproduced' if ok else 'not reproduced'}")
    res["seconds"] = time.perf_counter() - t0
    print(f"total {res['seconds']:.0f} s")
    save_run(NAME, res, claims, args)
    failed = [name for name, ok in verdicts.items() if not ok]
    print("verdict: reproduced" if not failed else
          f"verdict: not reproduced ({', '.join(failed)} failed; see above)")


if __name__ == "__main__":
    main()
