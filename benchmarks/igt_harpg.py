"""The claim of ../shared/cards/10_pg_igt_harpg.md on the exact LQR: optimality gap after T
trajectories, N-HARPG vs N-PG-IGT vs vanilla PG, with fixed seeds — and why it does not hold.

Claim: the median gap orders as N-HARPG < N-PG-IGT < vanilla PG for T ≥ 5k, and the
log-log slope of gap vs trajectories is steeper for N-HARPG (and for plain HARPG, the card's
headline "(N)-HARPG") than for vanilla PG. Theory (sample complexity ε^-2, ε^-2.5, ε^-3)
corresponds to reference slopes -1/2, -2/5, -1/3.

Every method runs ``--seeds`` independent runs side by side (one batch), with its default
config (step sizes tuned on seed 1000 at T = 5000, not on the seeds reported here; the
schedules' exponents are the authors' code's). Prints the median gap (and quartiles) at
checkpoints up to a long budget, the gap per seed, the fitted log-log slopes, then the
diagnosis: the one-trajectory gradient and Hessian-vector noise at the optimum, N-HARPG's
predicted tracking error (:func:`polab.algos.pg.igt_harpg_diagnosis.recursive_error_rms`), the path
length the normalised steps allow, where the fitted lines would cross, and a sweep of the
step-size scale ``gamma_0`` — and a verdict.

    python benchmarks/igt_harpg.py                        # T = 50k, 20 seeds (≈ 2-3 min CPU)
    python benchmarks/igt_harpg.py --trajectories 100000 --no-sweep
    python benchmarks/igt_harpg.py --claims-from benchmarks/results/igt_harpg.json  # no run

``--json PATH`` saves the per-seed gaps, medians, slopes, diagnosis and sweep; every run writes
card 10's claims file (``polab.claims``) to ``--results-dir`` (default build/results).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from polab.algos.pg.igt_harpg import (
    HARPG,
    NHARPG,
    NPGIGT,
    HARPGConfig,
    NHARPGConfig,
    NPGIGTConfig,
    VanillaPG,
    VanillaPGConfig,
)
from polab.algos.pg.igt_harpg_diagnosis import (
    estimator_spread,
    path_length,
    recursive_error_rms,
)
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.plots.pg import crossover_budget, loglog_fit

METHODS = [("N-HARPG", NHARPG, NHARPGConfig, -1 / 2), ("N-PG-IGT", NPGIGT, NPGIGTConfig, -2 / 5),
           ("vanilla PG", VanillaPG, VanillaPGConfig, -1 / 3),
           ("HARPG", HARPG, HARPGConfig, -1 / 2)]
"""The arms: the card's claim compares the first three; plain HARPG (the card's method without
normalised steps, the same ε^-2 rate) is measured beside them for its own slope."""
SWEEP_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)  # × each method's default gamma_0


def run(algo_cls, config) -> tuple[dict[str, np.ndarray], float]:
    """Train to the budget; the exact metrics at every evaluated iteration (``per_seed``: the
    gap of every run, ``(evaluations, seeds)``), and the wall-clock time."""
    algo = algo_cls(config)
    keys = ("global_step", "optimality_gap", "optimality_gap_q25", "optimality_gap_q75",
            "grad_error", "diverged")
    rows, per_seed = [], []
    start = time.perf_counter()
    for _ in range(config.num_iterations):
        metrics = algo.step()
        if "optimality_gap" in metrics:  # global_step: the trajectories each run consumed
            rows.append([float(algo.global_step), *(float(metrics[k]) for k in keys[1:])])
            per_seed.append(metrics["optimality_gap_per_seed"].cpu().numpy())
    curve = dict(zip(keys, np.array(rows).T, strict=True))
    curve["per_seed"] = np.array(per_seed)
    return curve, time.perf_counter() - start


def index_at(curve: dict[str, np.ndarray], trajectories: float) -> int:
    """The last evaluation with at most ``trajectories`` trajectories."""
    return int(np.searchsorted(curve["global_step"], trajectories, side="right") - 1)


def at(curve: dict[str, np.ndarray], key: str, trajectories: float):
    return curve[key][index_at(curve, trajectories)]


def fit(curve: dict[str, np.ndarray], lo: float) -> tuple[float, float]:
    """Log-log line of the median gap over ``[lo, end]``."""
    keep = curve["global_step"] >= lo
    return loglog_fit(curve["global_step"][keep], curve["optimality_gap"][keep])


def print_curves(curves, configs, seconds, checkpoints) -> None:
    for name, *_ in METHODS:
        c, config = curves[name], configs[name]
        print(f"\n{name}: gamma_0={config.gamma_0:g}, lr_exponent={config.lr_exponent:.3g}"
              + (f", eta_exponent={config.eta_exponent:.3g}" if hasattr(config, "eta_0") else "")
              + f"  [{seconds[name]:.1f} s, {config.num_iterations} iterations]")
        for cp in checkpoints:
            print(f"  T={cp:>6}: median gap {at(c, 'optimality_gap', cp):9.4g}  "
                  f"(IQR {at(c, 'optimality_gap_q25', cp):.3g}-"
                  f"{at(c, 'optimality_gap_q75', cp):.3g})  tracking error "
                  f"{at(c, 'grad_error', cp):8.3g}  diverged {int(at(c, 'diverged', cp))}")


def print_per_seed(curves, seeds: list[int], budgets: list[int]) -> None:
    names = [name for name, *_ in METHODS]
    for T in budgets:
        print(f"\ngap per seed at T={T} ({' | '.join(names)}; lowest marked *):")
        gaps = np.stack([at(curves[n], "per_seed", T) for n in names], -1)
        for seed, row in zip(seeds, gaps, strict=True):
            best = int(np.argmin(row))
            cells = [f"{g:9.4g}{'*' if i == best else ' '}" for i, g in enumerate(row)]
            print(f"  seed {seed:>3}: " + " | ".join(cells))
        wins = (gaps[:, 0] < gaps[:, 1]).sum()
        print(f"  N-HARPG below N-PG-IGT on {wins} of {len(seeds)} seeds")


def diagnose(curves, configs, T: int, seed: int) -> dict[str, float]:
    """Noise of the two estimators at the optimum, N-HARPG's predicted tracking error, the
    normalised methods' path lengths and the extrapolated crossover."""
    harpg, igt = configs["N-HARPG"], configs["N-PG-IGT"]
    lqr = NHARPG(harpg.replace(num_seeds=1, total_trajectories=1)).lqr
    K_star, K0 = lqr.optimal_gain(), lqr.init_gain
    u = (K_star - K0) / (K_star - K0).norm()  # the direction the iterates travel
    grad_std, hvp_std = estimator_spread(lqr, K_star, u, 100_000,
                                         torch.Generator().manual_seed(seed + 12345))
    hessian = torch.autograd.functional.hessian(lqr.expected_return, K_star).reshape(2, 2)
    exact_hvp = (hessian @ u.reshape(-1)).norm().item()
    t = harpg.num_iterations
    rms = recursive_error_rms(t, harpg.gamma_0, hvp_std, grad_std)
    share = (harpg.gamma_0 * hvp_std) ** 2 / ((harpg.gamma_0 * hvp_std) ** 2 + grad_std ** 2)
    print("\ndiagnosis (noise from 100,000 trajectories at K*, along u = (K* - K0)/‖K* - K0‖):")
    print(f"  one-trajectory gradient: spread ‖g - ∇J‖ ≈ {grad_std:.0f}")
    print(f"  Hessian-vector estimate: spread ‖Bu - ∇²J u‖ ≈ {hvp_std:.0f} per unit step, "
          f"{hvp_std / exact_hvp:.0f}× the exact ‖∇²J u‖ = {exact_hvp:.1f}")
    print(f"  N-HARPG's predicted tracking error after {t} iterations (T={T}): RMS {rms:.2f} "
          f"(median ‖·‖ of a 2-D normal ≈ 0.83 RMS = {0.83 * rms:.2f}); measured median "
          f"{at(curves['N-HARPG'], 'grad_error', T):.2f}; the Hessian term is {share:.0%} of it")
    distance = (K_star - K0).norm().item()
    print(f"  distance ‖K* - K0‖ = {distance:.2f}; path length Σγ_t the normalised steps allow "
          "by T:")
    for name, config in (("N-HARPG", harpg), ("N-PG-IGT", igt)):
        for cp in (5000, T):
            its = config.num_iterations * cp // T
            print(f"    {name:>8}: {path_length(its, config.gamma_0, config.lr_exponent):5.2f} "
                  f"at T={cp}")
    lines = {name: fit(curves[name], T / 10) for name in ("N-HARPG", "N-PG-IGT")}
    cross = crossover_budget(lines["N-HARPG"], lines["N-PG-IGT"])
    print(f"  fitted lines over [{T // 10}, {T}]: N-HARPG slope {lines['N-HARPG'][0]:.2f}, "
          f"N-PG-IGT {lines['N-PG-IGT'][0]:.2f}; they would cross at T ≈ "
          + ("never (N-HARPG's is not steeper)" if math.isinf(cross) else f"{cross:.3g}"))
    return {"crossover": cross, "hvp_ratio": hvp_std / exact_hvp, "hessian_share": share}


def sweep(seeds: int, seed: int, T: int) -> dict[str, list[tuple[float, float]]]:
    """Median gap at ``T`` over a grid of step-size scales around each default."""
    print(f"\nstep-size sweep at T={T} ({seeds} seeds from seed {seed}): median gap by gamma_0")
    out = {}
    for name, algo_cls, config_cls, _ in METHODS[:2]:
        base = config_cls(num_seeds=seeds, total_trajectories=T, seed=seed, evals_per_decade=1)
        out[name] = []
        for factor in SWEEP_FACTORS:
            curve, _ = run(algo_cls, base.replace(gamma_0=base.gamma_0 * factor))
            out[name].append((base.gamma_0 * factor, float(curve["optimality_gap"][-1])))
        print(f"  {name:>8}: " + ",  ".join(f"{g:g}: {v:.3g}" for g, v in out[name]))
    best = {name: min(v for _, v in points) for name, points in out.items()}
    print(f"  best over the grid: N-HARPG {best['N-HARPG']:.3g}, N-PG-IGT {best['N-PG-IGT']:.3g}")
    return out


NAME, CARD, NOTEBOOK = "igt_harpg", "10_pg_igt_harpg", "02_variance_and_trust_regions"
ARMS = {"N-HARPG": "n-harpg", "N-PG-IGT": "npg-igt", "vanilla PG": "vanilla-pg"}


def claims(res: dict) -> list[Claim]:
    """Card 10's two claims from a run's results (as read back from ``--json``): the order of
    the median gaps at every checkpoint T ≥ 5k (per-seed gaps at the last one), and N-HARPG's
    log-log slope against vanilla PG's (one fitted number per arm)."""
    seeds, T = tuple(int(s) for s in res["seeds"]), int(res["trajectories"])
    orders = res["orders"]
    held = sum(orders.values())
    order_verdict = ("reproduced" if held == len(orders) and orders else
                     "partly reproduced" if held else "not reproduced")
    medians = "; ".join(f"T={cp}: " + " / ".join(f"{res['median_gap'][n][cp]:.3g}" for n in ARMS)
                        for cp in orders)
    slopes = res["slopes"]
    return [
        Claim(card=CARD, algorithms=tuple(ARMS.values()), notebook=NOTEBOOK,
              claim="the median optimality gap orders N-HARPG < N-PG-IGT < vanilla PG for "
                    "T ≥ 5k trajectories", baseline="N-PG-IGT and vanilla PG",
              metric=f"optimality gap on the exact LQR at T = {T} trajectories", seeds=seeds,
              values={n: tuple(res["gap_per_seed"][n]) for n in ARMS}, verdict=order_verdict,
              note=f"the order holds at {held} of {len(orders)} checkpoints; median gaps "
                   f"N-HARPG / N-PG-IGT / vanilla PG {medians}"),
        Claim(card=CARD, algorithms=("n-harpg", "vanilla-pg"), notebook=NOTEBOOK,
              claim="the log-log slope of the gap vs trajectories is steeper for N-HARPG than "
                    "for vanilla PG", baseline="vanilla PG",
              metric=f"fitted log-log slope of the median gap over [{T // 10}, {T}]", seeds=(),
              values={n: (slopes[n],) for n in ("N-HARPG", "vanilla PG")},
              verdict="reproduced" if res["steeper"] else "not reproduced",
              note="theory's reference slopes -1/2 (N-HARPG), -1/3 (vanilla PG)"),
        *([Claim(card=CARD, algorithms=("harpg", "vanilla-pg"), notebook=NOTEBOOK,
                 claim="the log-log slope of the gap vs trajectories is steeper for plain HARPG "
                       "(no normalised steps) than for vanilla PG", baseline="vanilla PG",
                 metric=f"fitted log-log slope of the median gap over [{T // 10}, {T}]",
                 seeds=(), values={n: (slopes[n],) for n in ("HARPG", "vanilla PG")},
                 verdict="reproduced" if slopes["HARPG"] < slopes["vanilla PG"]
                 else "not reproduced",
                 note="theory's reference slopes -1/2 (HARPG), -1/3 (vanilla PG)")]
          if "HARPG" in slopes else []),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep-trajectories", type=int, default=5000)
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the per-seed gaps, medians, slopes and verdicts here")
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(1)
    T = args.trajectories
    checkpoints = [c for c in (1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000) if c < T] + [T]
    print(f"LQR (double integrator, H=50, γ=0.99, σ=0.5), {args.seeds} seeds from seed "
          f"{args.seed}, T up to {T}, torch {torch.__version__}, 1 CPU thread")
    curves, configs, seconds = {}, {}, {}
    for name, algo_cls, config_cls, _ in METHODS:
        configs[name] = config_cls(num_seeds=args.seeds, total_trajectories=T, seed=args.seed)
        curves[name], seconds[name] = run(algo_cls, configs[name])
    print_curves(curves, configs, seconds, checkpoints)
    print_per_seed(curves, list(range(args.seed, args.seed + args.seeds)),
                   sorted({min(5000, T), T}))
    print("\nlog-log slope of the median gap (theory reference):")
    slopes = {}
    for name, _, _, reference in METHODS:
        slopes[name] = fit(curves[name], T / 10)[0]
        print(f"  {name:>10}: {slopes[name]:6.2f} over [{T // 10}, {T}], "
              f"{fit(curves[name], T / 100)[0]:6.2f} over [{T // 100}, {T}]   ({reference:.2f})")
    orders = {}
    for cp in [c for c in checkpoints if c >= 5000]:
        gaps = {name: at(curves[name], "optimality_gap", cp) for name, *_ in METHODS}
        orders[cp] = bool(gaps["N-HARPG"] < gaps["N-PG-IGT"] < gaps["vanilla PG"])
        print(f"claim at T={cp}: N-HARPG < N-PG-IGT < vanilla PG "
              f"{'HOLDS' if orders[cp] else 'FAILS'} (measured order: "
              f"{' < '.join(sorted(gaps, key=gaps.get))})")
    steeper = slopes["N-HARPG"] < slopes["vanilla PG"]
    print(f"claim: N-HARPG's slope steeper than vanilla PG's: {'HOLDS' if steeper else 'FAILS'}")
    found = diagnose(curves, configs, T, args.seed)
    swept = None if args.no_sweep else sweep(args.seeds, args.seed, args.sweep_trajectories)
    seeds = list(range(args.seed, args.seed + args.seeds))
    res = {"seeds": seeds, "trajectories": T, "machine": "CPU, 1 thread",
           "median_gap": {n: {cp: float(at(curves[n], "optimality_gap", cp)) for cp in checkpoints}
                          for n in ARMS},
           "gap_per_seed": {n: [float(g) for g in at(curves[n], "per_seed", T)] for n in ARMS},
           "gap_per_seed_5000": {n: [float(g) for g in at(curves[n], "per_seed", min(5000, T))]
                                 for n in ARMS},
           "slopes": {n: float(v) for n, v in slopes.items()}, "orders": orders,
           "steeper": bool(steeper),
           "diagnosis": {k: float(v) if math.isfinite(v) else None  # null: never crosses
                         for k, v in found.items()},
           "sweep": swept, "seconds": seconds}
    save_run(NAME, res, claims, args)
    if all(orders.values()) and steeper:
        print("\nVERDICT: reproduced")
        return
    cross = found["crossover"]
    failed = "every checkpoint" if not any(orders.values()) else "some checkpoints"
    reasons = [f"N-HARPG's Hessian-vector estimate is {found['hvp_ratio']:.0f}x noisier than "
               f"the exact ∇²J u (its term is {found['hessian_share']:.0%} of N-HARPG's "
               "predicted tracking error)",
               "N-HARPG takes half as many normalised, 1/t-decaying steps for the same "
               "trajectories (a shorter path length, see above)"]
    beat = [name for name, _, _, ref in METHODS[:2] if slopes[name] < ref]
    if beat:
        reasons.append(f"{' and '.join(beat)} already fall faster than the worst-case "
                       "reference slope (the LQR is locally quadratic), so the theory's rates "
                       "do not order the gaps at these budgets")
    reasons.append("extrapolating the fitted last-decade lines, N-HARPG overtakes N-PG-IGT "
                   + ("never" if math.isinf(cross) else f"only at T ≈ {cross:.2g}"))
    print(f"\nVERDICT: not reproduced — N-HARPG < N-PG-IGT < vanilla PG fails at {failed} "
          f"from 5k to {T} trajectories"
          + ("" if steeper else " and N-HARPG's slope is not steeper than vanilla PG's")
          + ", because " + "; ".join(reasons) + ".")

if __name__ == "__main__":
    main()
