"""The claim of ../shared/cards/10_pg_igt_harpg.md on the exact LQR: optimality gap after T
trajectories, N-HARPG vs N-PG-IGT vs vanilla PG, with fixed seeds.

Claim: the median gap orders as N-HARPG < N-PG-IGT < vanilla PG for T ≥ 5k, and the
log-log slope of gap vs trajectories is steeper for N-HARPG than for vanilla PG. Theory
(sample complexity ε^-2, ε^-2.5, ε^-3) corresponds to reference slopes -1/2, -2/5, -1/3.

Every method runs ``--seeds`` independent runs side by side (one batch), with its default
config (step sizes tuned on seed 1000, not on the seeds reported here). Prints the median
gap (and quartiles) at checkpoints, the fitted slope over the last decade of trajectories,
the tracking error ``‖d_t - ∇J(θ_t)‖`` and the wall-clock per method.

    python benchmarks/igt_harpg.py                     # T = 5000, 20 seeds (≈ 30-60 s CPU)
    python benchmarks/igt_harpg.py --trajectories 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from polab.algos.pg.igt_harpg import (
    NHARPG,
    NPGIGT,
    NHARPGConfig,
    NPGIGTConfig,
    VanillaPG,
    VanillaPGConfig,
)

METHODS = [("N-HARPG", NHARPG, NHARPGConfig, -1 / 2), ("N-PG-IGT", NPGIGT, NPGIGTConfig, -2 / 5),
           ("vanilla PG", VanillaPG, VanillaPGConfig, -1 / 3)]


def run(algo_cls, config) -> tuple[dict[str, np.ndarray], float]:
    """Train to the budget; the exact metrics at every evaluated iteration, and the time."""
    algo = algo_cls(config)
    keys = ("global_step", "optimality_gap", "optimality_gap_q25", "optimality_gap_q75",
            "grad_error", "diverged")
    rows = []
    start = time.perf_counter()
    for _ in range(config.num_iterations):
        metrics = algo.step()
        if "optimality_gap" in metrics:  # global_step: the trajectories each run consumed
            rows.append([float(algo.global_step), *(float(metrics[k]) for k in keys[1:])])
    return dict(zip(keys, np.array(rows).T, strict=True)), time.perf_counter() - start


def at(curve: dict[str, np.ndarray], key: str, trajectories: float) -> float:
    """The metric at the last evaluation with at most ``trajectories`` trajectories."""
    return curve[key][np.searchsorted(curve["global_step"], trajectories, side="right") - 1]


def loglog_slope(curve: dict[str, np.ndarray], lo: float) -> float:
    """Least-squares slope of log(median gap) vs log(trajectories) over ``[lo, end]``."""
    keep = (curve["global_step"] >= lo) & np.isfinite(curve["optimality_gap"])
    return float(np.polyfit(np.log(curve["global_step"][keep]),
                            np.log(curve["optimality_gap"][keep]), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    T = args.trajectories
    checkpoints = [c for c in (1000, 2000, 5000, 10_000, 20_000, 50_000) if c < T] + [T]
    print(f"LQR (double integrator, H=50, γ=0.99, σ=0.5), {args.seeds} seeds from seed "
          f"{args.seed}, torch {torch.__version__}, 1 CPU thread")
    curves, finals = {}, {}
    for name, algo_cls, config_cls, _ in METHODS:
        config = config_cls(num_seeds=args.seeds, total_trajectories=T, seed=args.seed)
        curves[name], seconds = run(algo_cls, config)
        c = curves[name]
        finals[name] = at(c, "optimality_gap", T)
        print(f"\n{name}: gamma_0={config.gamma_0:g}, lr_exponent={config.lr_exponent:.3g}"
              + (f", eta_exponent={config.eta_exponent:.3g}" if hasattr(config, "eta_0") else "")
              + f"  [{seconds:.1f} s, {config.num_iterations} iterations]")
        for cp in checkpoints:
            print(f"  T={cp:>6}: median gap {at(c, 'optimality_gap', cp):9.4g}  "
                  f"(IQR {at(c, 'optimality_gap_q25', cp):.3g}-"
                  f"{at(c, 'optimality_gap_q75', cp):.3g})  tracking error "
                  f"{at(c, 'grad_error', cp):8.3g}  diverged {int(at(c, 'diverged', cp))}")
    print(f"\nlog-log slope of the median gap over T in [{T // 10}, {T}] (theory reference):")
    for name, _, _, reference in METHODS:
        print(f"  {name:>10}: {loglog_slope(curves[name], T / 10):6.2f}   ({reference:.2f})")
    for cp in [c for c in checkpoints if c >= 5000]:
        gaps = {name: at(curves[name], "optimality_gap", cp) for name, *_ in METHODS}
        holds = gaps["N-HARPG"] < gaps["N-PG-IGT"] < gaps["vanilla PG"]
        order = " < ".join(sorted(gaps, key=gaps.get))
        print(f"claim at T={cp}: N-HARPG < N-PG-IGT < vanilla PG {'HOLDS' if holds else 'FAILS'}"
              f" (measured order: {order})")
    steeper = loglog_slope(curves["N-HARPG"], T / 10) < loglog_slope(curves["vanilla PG"], T / 10)
    print(f"claim: N-HARPG's slope steeper than vanilla PG's: {'HOLDS' if steeper else 'FAILS'}")


if __name__ == "__main__":
    main()
