"""The claims of ../shared/cards/20_mdpo.md for MDPO, with fixed seeds: on-policy MDPO vs PPO on
CartPole-v1, the effect of the number of inner steps m, the KL between successive policies as
t_k anneals, and off-policy MDPO vs SAC on Pendulum-v1.

Claims: on-policy MDPO (m = 5) reaches an average return ≥ 450 on CartPole within
the same budget as PPO (within ±20% of PPO's steps), while m = 1 is clearly slower; the KL
between successive policies shrinks as t_k anneals; on Pendulum, MDPO-off's final return is
within 10% of SAC's.

Every run uses its algorithm's default config at the same ``total_timesteps`` (PPO's default
budget, 200k, unless ``--steps``) and the same seeds, except PPO's learning rate and value-loss
clipping: the baseline is PPO with the on-policy defaults MDPO was compared against
(``PPO_BASELINE``: lr 2.5e-3, clipped value loss). PPO's own CartPole defaults since issue 19
(lr 1e-2, no value clipping) were tuned for wall-clock, a tuning MDPO did not get; against them
the comparison would measure the tuning, not the trust region. "Steps to 450" is the first
iteration at which the mean return of the last 20 finished episodes reaches 450. The KL claim
compares the exact mean KL(π_{k+1} ‖ π_k) in the last quarter of the iterations to the first
quarter, for the annealed step size and a constant one (both without learning-rate annealing,
so only t_k changes). Pendulum's final return is the mean of the last 16 finished episodes.

    python benchmarks/mdpo.py                        # ≈ 7 min of CPU time
    python benchmarks/mdpo.py --seeds 0 --pendulum-steps 0
    python benchmarks/mdpo.py --claims-from benchmarks/results/mdpo.json   # no run

``--json PATH`` saves the per-seed numbers; every run writes card 20's claims file
(``polab.claims``) to ``--results-dir`` (default build/results).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from polab.algos.pg.mdpo import MDPO, MDPOConfig
from polab.algos.pg.mdpo_off import MDPOOff, MDPOOffConfig
from polab.algos.pg.ppo import PPO, PPOConfig
from polab.algos.pg.sac import SAC, SACConfig
from polab.claims import Claim, parse_benchmark_args, save_run, seed_verdict
from polab.train import History, train

TARGET = 450.0


def run(algo) -> tuple[History, float]:
    start = time.process_time()
    history = train(algo, algo.config.num_iterations, progress=False)
    return history, time.process_time() - start


def steps_to(history: History, target: float) -> float:
    """Env steps at the first iteration whose return reaches ``target`` (inf if never)."""
    returns, steps = history.column("charts/episodic_return"), history.column("global_step")
    hit = np.flatnonzero(returns >= target)
    return float(steps[hit[0]]) if len(hit) else math.inf


def fmt(steps: float) -> str:
    return f"{steps:>9,.0f}" if math.isfinite(steps) else "    never"


PPO_BASELINE = {"learning_rate": 2.5e-3, "clip_vloss": True}
"""PPO's settings in the comparison with MDPO (module docstring): the on-policy defaults."""


def cartpole(seeds: list[int], total: int) -> dict:
    variants = [("PPO", lambda s: PPO(PPOConfig(seed=s, total_timesteps=total, **PPO_BASELINE),
                                      "CartPole-v1")),
                ("MDPO m=5", lambda s: MDPO(MDPOConfig(seed=s, total_timesteps=total))),
                ("MDPO m=1", lambda s: MDPO(MDPOConfig(seed=s, total_timesteps=total,
                                                       sgd_steps=1)))]
    print(f"\nCartPole-v1, {total:,} env steps per run, steps to mean return ≥ {TARGET:g}:")
    print(f"{'':>10}" + "".join(f"{f'seed {s}':>11}" for s in seeds)
          + f"{'mean':>11}{'final return':>15}{'CPU s/run':>11}")
    means, out = {}, {"steps": total, "steps_to_target": {}, "final": {}, "cpu_s": {}}
    for name, build in variants:
        results = [run(build(s)) for s in seeds]
        hits = [steps_to(h, TARGET) for h, _ in results]
        out["steps_to_target"][name] = [x if math.isfinite(x) else None for x in hits]  # never
        out["final"][name] = [float(h.last("charts/episodic_return")) for h, _ in results]
        out["cpu_s"][name] = [sec for _, sec in results]
        means[name] = statistics.fmean(hits)
        finals = [h.last("charts/episodic_return") for h, _ in results]
        print(f"{name:>10}" + "".join(f"  {fmt(x)}" for x in hits) + f"  {fmt(means[name])}"
              + f"{statistics.fmean(finals):>15.1f}"
              + f"{statistics.fmean(sec for _, sec in results):>11.1f}")
    ppo, m5, m1 = means["PPO"], means["MDPO m=5"], means["MDPO m=1"]
    within = math.isfinite(m5) and m5 <= 1.2 * ppo
    print(f"claim: MDPO m=5 reaches {TARGET:g} within PPO's steps +20% "
          f"({fmt(m5).strip()} vs {fmt(ppo).strip()} × 1.2): {'HOLDS' if within else 'FAILS'}")
    print(f"claim: m=1 clearly slower than m=5 ({fmt(m1).strip()} vs {fmt(m5).strip()}): "
          f"{'HOLDS' if m1 > 1.2 * m5 else 'FAILS'}")
    return out


def kl_shrinkage(seeds: list[int], total: int) -> dict:
    print(f"\nKL(π_k+1 ‖ π_k) on CartPole-v1, {total:,} steps, no learning-rate annealing: "
          "mean over the last quarter of the iterations / the first quarter")
    ratios = {}
    for schedule in ("annealed", "constant"):
        ratios[schedule] = []
        for s in seeds:
            h, _ = run(MDPO(MDPOConfig(seed=s, total_timesteps=total, t_schedule=schedule,
                                       anneal_lr=False)))
            kl = h.column("losses/kl")
            q = len(kl) // 4
            ratios[schedule].append(float(np.mean(kl[-q:]) / np.mean(kl[:q])))
        print(f"  t {schedule:>8}: " + ", ".join(f"{r:.3f}" for r in ratios[schedule])
              + f"  (mean {statistics.fmean(ratios[schedule]):.3f})")
    holds = statistics.fmean(ratios["annealed"]) < statistics.fmean(ratios["constant"])
    print(f"claim: the KL shrinks more with annealed t_k: {'HOLDS' if holds else 'FAILS'}")
    return {"steps": total, "ratios": ratios}


def pendulum(seeds: list[int], total: int) -> dict:
    print(f"\nPendulum-v1, {total:,} env steps per run, final return (last 16 episodes):")
    finals = {}
    for name, build in [("SAC", lambda s: SAC(SACConfig(seed=s, total_timesteps=total))),
                        ("MDPO-off", lambda s: MDPOOff(MDPOOffConfig(seed=s,
                                                                     total_timesteps=total)))]:
        results = [run(build(s)) for s in seeds]
        finals[name] = [h.last("charts/episodic_return") for h, _ in results]
        print(f"{name:>10}: " + ", ".join(f"{f:8.1f}" for f in finals[name])
              + f"   mean {statistics.fmean(finals[name]):8.1f}"
              + f"   [{statistics.fmean(sec for _, sec in results):.1f} CPU s/run]")
    sac, off = statistics.fmean(finals["SAC"]), statistics.fmean(finals["MDPO-off"])
    gap = abs(off - sac) / abs(sac)
    print(f"claim: MDPO-off's final return within 10% of SAC's (gap {100 * gap:.0f}%): "
          f"{'HOLDS' if gap <= 0.1 else 'FAILS'}")
    return {"steps": total, "final": finals}


NAME, CARD, NOTEBOOK = "mdpo", "20_mdpo", "02_variance_and_trust_regions"


def claims(res: dict) -> list[Claim]:
    """Card 20's claims from a run's results (as read back from ``--json``), with the criteria
    the run prints (on the means over seeds), and per seed through ``seed_verdict``."""
    seeds = tuple(int(s) for s in res["seeds"])
    fmean = statistics.fmean
    cp = res["cartpole"]
    hits = {k: [math.inf if v is None else v for v in vs]
            for k, vs in cp["steps_to_target"].items()}
    ppo, m5, m1 = hits["PPO"], hits["MDPO m=5"], hits["MDPO m=1"]
    within = [math.isfinite(a) and a <= 1.2 * b for a, b in zip(m5, ppo, strict=True)]
    slower = [a > 1.2 * b for a, b in zip(m1, m5, strict=True)]
    def mean_steps(xs: list[float]) -> str:
        never = sum(not math.isfinite(x) for x in xs)
        return f"{fmean(xs):,.0f}" if not never else f"never on {never} of {len(xs)} seeds"

    cart = {"card": CARD, "algorithms": ("mdpo",), "notebook": NOTEBOOK, "seeds": seeds,
            "metric": f"env steps to a mean return ≥ {TARGET:g} on CartPole-v1 "
                      f"({cp['steps']:,} steps per run)"}
    out = [
        Claim(**cart, claim=f"on-policy MDPO (m = 5) reaches {TARGET:g} on CartPole within PPO's "
              "steps + 20%", baseline="PPO", values={"MDPO m=5": tuple(m5), "PPO": tuple(ppo)},
              verdict=seed_verdict(within, math.isfinite(fmean(m5))
                                   and fmean(m5) <= 1.2 * fmean(ppo)),
              note=f"mean {mean_steps(m5)} vs {mean_steps(ppo)} steps; within PPO's + 20% on "
                   f"{sum(within)} of {len(seeds)} seeds"),
        Claim(**cart, claim="MDPO with m = 1 inner step is clearly (> 20%) slower than m = 5",
              baseline="MDPO m=5", values={"MDPO m=1": tuple(m1), "MDPO m=5": tuple(m5)},
              verdict=seed_verdict(slower, fmean(m1) > 1.2 * fmean(m5)),
              note=f"mean {mean_steps(m1)} vs {mean_steps(m5)} steps"),
    ]
    kl = res["kl"]["ratios"]
    out.append(Claim(
        card=CARD, algorithms=("mdpo",), notebook=NOTEBOOK, seeds=seeds,
        claim="the KL between successive policies shrinks as t_k anneals",
        baseline="constant t_k", metric="mean KL(π_k+1 ‖ π_k) over the last quarter of the "
        "iterations / the first quarter", values={"annealed": tuple(kl["annealed"]),
                                                 "constant": tuple(kl["constant"])},
        verdict=seed_verdict([a < c for a, c in zip(kl["annealed"], kl["constant"], strict=True)],
                             fmean(kl["annealed"]) < fmean(kl["constant"])),
        note=f"mean {fmean(kl['annealed']):.3f} vs {fmean(kl['constant']):.3f}"))
    if res.get("pendulum"):
        pend = res["pendulum"]["final"]
        sac, off = pend["SAC"], pend["MDPO-off"]
        gap = abs(fmean(off) - fmean(sac)) / abs(fmean(sac))
        out.append(Claim(
            card=CARD, algorithms=("mdpo-off",), notebook=NOTEBOOK, seeds=seeds,
            claim="on Pendulum, off-policy MDPO's final return is within 10% of SAC's",
            baseline="SAC", metric=f"final return (last 16 episodes) on Pendulum-v1, "
            f"{res['pendulum']['steps']:,} steps", values={"MDPO-off": tuple(off),
                                                           "SAC": tuple(sac)},
            verdict=seed_verdict([abs(o - s) / abs(s) <= 0.1 for o, s in zip(off, sac,
                                                                              strict=True)],
                                 gap <= 0.1),
            note=f"means {fmean(off):.1f} vs {fmean(sac):.1f}, gap {100 * gap:.0f}%; within 10% "
                 f"on {sum(abs(o - s) <= 0.1 * abs(s) for o, s in zip(off, sac, strict=True))} "
                 f"of {len(seeds)} seeds"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=PPOConfig().total_timesteps)
    parser.add_argument("--kl-steps", type=int, default=100_000)
    parser.add_argument("--pendulum-steps", type=int, default=15_000, help="0 skips Pendulum")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the per-seed steps to 450, KL ratios and returns here")
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(1)
    print(f"seeds {args.seeds}, torch {torch.__version__}, 1 CPU thread")
    start = time.perf_counter()
    res = {"seeds": args.seeds, "machine": "CPU, 1 thread",
           "cartpole": cartpole(args.seeds, args.steps),
           "kl": kl_shrinkage(args.seeds, args.kl_steps),
           "pendulum": pendulum(args.seeds, args.pendulum_steps) if args.pendulum_steps else None}
    res["seconds"] = time.perf_counter() - start
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
