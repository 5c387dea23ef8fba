"""The claim of ../shared/cards/03_hdpo.md: HDPO (pathwise gradient) vs REINFORCE (score
function) on the one-store inventory problem, against the exact optimum; and, with
``--network``, gap vs training scenarios for the vanilla MLP and the symmetry-aware policy in
the one-warehouse network.

Claim: with fixed seeds HDPO reaches ≤ 2% test-cost gap to the exact optimum
(backlogged: base-stock; lost sales: DP) while REINFORCE with the same simulated
scenario-period budget stays clearly worse; in the network, the symmetry-aware policy needs
fewer training scenarios for a given gap.

Every run uses the default configs (``HDPOConfig()``, ``InventoryReinforceConfig()``: 200
steps × 256 scenarios × 50 periods, Adam 3e-2 annealed, MLP 2×32) with ``eval_every=50``.
The reported gap is the cost of the best-on-dev policy on 2048 fresh test scenarios × 500
periods (300 warm-up) over the exact optimal cost; the exact optimal policy simulated on the
same test set shows the test set's own noise. Also prints the gradient spread of the two
estimators at initialisation (same batch size) and the wall-clock.

    python benchmarks/hdpo.py                 # one seed, both stores (≈ 30-70 s on 2 CPUs)
    python benchmarks/hdpo.py --seeds 3
    python benchmarks/hdpo.py --sweep         # learning-rate sweep of both estimators
    python benchmarks/hdpo.py --network       # + the one-warehouse data-efficiency sweep
    python benchmarks/hdpo.py --network --no-stores --n-stores 10 --network-steps 400  # GPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from polab.algos.diffsim.hdpo import (
    HDPO,
    SPLIT_SEEDS,
    HDPOConfig,
    InventoryReinforceConfig,
    data_efficiency,
    gradient_spread,
    make_algo,
)
from polab.envs.inventory.reference import base_stock_level, base_stock_policy, lost_sales_dp
from polab.envs.inventory.sim import Scenarios, evaluate, sample_scenarios

BENCH = {"eval_every": 50}
TEST = 2048


def test_set(algo: HDPO) -> Scenarios:
    """The final test set: ``TEST`` scenarios × ``test_horizon`` periods, seeded as the
    algorithm's own (smaller) test set, the same for every run of a setting."""
    c = algo.config
    return sample_scenarios(algo.setting, TEST, c.test_horizon, SPLIT_SEEDS["test"])


def run(config: HDPOConfig) -> tuple[float, float]:
    """Train to ``num_iterations``; the best-on-dev policy's test gap (%) and the seconds."""
    start = time.perf_counter()
    algo = make_algo(config)
    for _ in range(config.num_iterations):
        algo.step()
    cost = evaluate(algo.setting, algo.snapshot(), test_set(algo), config.test_warmup)
    return 100 * (cost / algo.optimum - 1), time.perf_counter() - start


def optimal_policy_gap(algo: HDPO, config: HDPOConfig) -> float:
    """The exact optimal policy on the final test set (its gap is the test set's noise)."""
    if config.lost_sales:
        policy = lost_sales_dp(config.lead_time, config.underage_cost, config.holding_cost).policy()
    else:
        policy = base_stock_policy(float(base_stock_level(5.0, config.lead_time,
                                                          config.underage_cost,
                                                          config.holding_cost)))
    cost = evaluate(algo.setting, policy, test_set(algo), config.test_warmup)
    return 100 * (cost / algo.optimum - 1)


def compare(lost: bool, seeds: int) -> None:
    name = "lost sales" if lost else "backlogged"
    hdpo_cfg = HDPOConfig(lost_sales=lost, **BENCH)
    rf_cfg = InventoryReinforceConfig(lost_sales=lost, **BENCH)
    algo = make_algo(hdpo_cfg)
    print(f"\n{name} store (L={hdpo_cfg.lead_time}, p={hdpo_cfg.underage_cost:g}, h=1, "
          f"Poisson(5)): exact optimal cost {algo.optimum:.4f}; exact policy on the test set: "
          f"gap {optimal_policy_gap(algo, hdpo_cfg):+.2f}%")
    budget = hdpo_cfg.num_iterations * hdpo_cfg.batch_size * hdpo_cfg.horizon
    print(f"  budget: {budget:,} scenario-periods each; gap = best-on-dev test cost vs optimum")
    print(f"  {'seed':>4}  {'HDPO gap %':>10}  {'REINFORCE gap %':>15}  {'s (HDPO/RF)':>12}")
    gaps = {"HDPO": [], "REINFORCE": []}
    for seed in range(seeds):
        g_h, t_h = run(hdpo_cfg.replace(seed=seed))
        g_r, t_r = run(rf_cfg.replace(seed=seed))
        gaps["HDPO"].append(g_h)
        gaps["REINFORCE"].append(g_r)
        print(f"  {seed:>4}  {g_h:>10.2f}  {g_r:>15.2f}  {t_h:>5.1f}/{t_r:<5.1f}")
    print(f"  mean  {np.mean(gaps['HDPO']):>10.2f}  {np.mean(gaps['REINFORCE']):>15.2f}"
          f"   (max {np.max(gaps['HDPO']):.2f} / {np.max(gaps['REINFORCE']):.2f})")
    spreads = {label: gradient_spread(make_algo(cfg).gradient_samples(8))
               for label, cfg in (("pathwise", hdpo_cfg), ("score function", rf_cfg))}
    print("  gradient spread at initialisation, 8 batches of 256 scenarios: "
          + "; ".join(f"{k} E‖g-ḡ‖²/‖ḡ‖² = {v['relative']:.3g}" for k, v in spreads.items()))


def sweep(lost: bool) -> None:
    """Each estimator's test gap over learning rates (seed 0): how the defaults were chosen."""
    print(f"\nlearning-rate sweep ({'lost sales' if lost else 'backlogged'}, seed 0), gap %:")
    for label, cfg in (("HDPO", HDPOConfig(lost_sales=lost, **BENCH)),
                       ("REINFORCE", InventoryReinforceConfig(lost_sales=lost, **BENCH))):
        row = [f"{lr:g}: {run(cfg.replace(learning_rate=lr))[0]:.2f}"
               for lr in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)]
        print(f"  {label:>9}  " + "   ".join(row))


def network(steps: int, sizes: tuple[int, ...], n_stores: int) -> None:
    config = HDPOConfig(network="one_warehouse", n_stores=n_stores, num_iterations=steps,
                        learning_rate=1e-2, eval_every=25, test_scenarios=512)
    print(f"\none warehouse + {n_stores} stores (lost sales, correlated normal demand), "
          f"{steps} HDPO steps, Adam {config.learning_rate:g}; gap vs the best of the sweep")
    start = time.perf_counter()
    rows = data_efficiency(config, n_scenarios=sizes, steps=steps)
    print(f"  {'arch':>9}  " + "  ".join(f"{n:>9}" for n in sizes) + "   (training scenarios)")
    for arch in ("mlp", "symmetric"):
        gaps = [r["gap_pct"] for r in rows if r["arch"] == arch]
        print(f"  {arch:>9}  " + "  ".join(f"{g:>8.1f}%" for g in gaps))
    print(f"  best test cost {min(r['test_cost'] for r in rows):.3f}; "
          f"{time.perf_counter() - start:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--sweep", action="store_true", help="learning-rate sweep")
    parser.add_argument("--network", action="store_true", help="one-warehouse sweep")
    parser.add_argument("--no-stores", action="store_true", help="skip the one-store part")
    parser.add_argument("--network-steps", type=int, default=150)
    parser.add_argument("--n-stores", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 256, 4096])
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    print(f"HDPO vs REINFORCE, torch {torch.__version__}, 1 CPU thread, {args.seeds} seed(s)")
    for lost in () if args.no_stores else (False, True):
        compare(lost, args.seeds)
        if args.sweep:
            sweep(lost)
    if args.network:
        network(args.network_steps, tuple(args.sizes), args.n_stores)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
