"""C-MORL vs linear scalarisation at equal env steps (../shared/cards/04_cmorl.md), 3 seeds.

    python benchmarks/cmorl.py                       # concave DST, then the energy runner
    python benchmarks/cmorl.py --env energy-runner --seeds 0 1 2
    python benchmarks/cmorl.py --env deep-sea-treasure-concave-v0 --update-method cpo

For Deep Sea Treasure it also lists the non-supported (concave) Pareto points each method
recovered — linear scalarisation can only reach supported ones — and checks that C-MORL's
hypervolume never decreased over extension rounds. Prints wall and CPU time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from polab.algos.morl.cmorl import compare_with_baseline
from polab.algos.morl.config import CMORLConfig
from polab.envs.mo.metrics import supported_mask


def concave_points(front: np.ndarray, true_front: np.ndarray) -> set[tuple[float, ...]]:
    """The points of ``front`` that are non-supported points of the true front."""
    unsupported = {tuple(p) for p in true_front[~supported_mask(true_front)].round(3).tolist()}
    return {tuple(p) for p in front.round(3).tolist()} & unsupported


def report(env: str, seeds: list[int], update_method: str, device: str) -> None:
    config = CMORLConfig(env=env, update_method=update_method)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = compare_with_baseline(config, seeds, device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\n== {env}: {config.total_timesteps:,} env steps per method, seeds {seeds}, "
          f"C-MORL extension form {update_method}, device {device} ==")
    print(f"{'method':<22}{'seed':>5}{'env steps':>11}{'HV':>10}{'EU':>9}{'SP':>9}{'#front':>7}"
          "  concave points")
    by_seed: dict[int, dict[str, dict]] = {}
    for r in rows:
        algo = r["algo"]
        true = algo.true_front if algo.true_front is not None and env != "energy-runner" \
            else None
        concave = sorted(concave_points(r["front"], true)) if true is not None else "n/a"
        by_seed.setdefault(r["seed"], {})[r["method"]] = {**r, "concave": concave}
        print(f"{r['method']:<22}{r['seed']:>5}{r['env_steps']:>11,}{r['hypervolume']:>10.1f}"
              f"{r['expected_utility']:>9.2f}{r['sparsity']:>9.2f}{r['cardinality']:>7.0f}"
              f"  {concave}")
    for seed, m in by_seed.items():
        c, b = m["C-MORL"], m["linear scalarisation"]
        hv = c["round_hypervolumes"]
        verdict = "higher" if c["hypervolume"] > b["hypervolume"] else "not higher"
        line = (f"seed {seed}: HV C-MORL {c['hypervolume']:.1f} vs baseline "
                f"{b['hypervolume']:.1f} ({verdict})"
                f"; HV over rounds {[round(h, 1) for h in hv]} "
                f"({'non-decreasing' if all(np.diff(hv) >= 0) else 'DECREASED'})")
        if c["concave"] != "n/a":
            missed = sorted(set(c["concave"]) - set(b["concave"]))
            line += f"; concave points C-MORL found and the baseline missed: {missed}"
        print(line)
    hv_c = [m["C-MORL"]["hypervolume"] for m in by_seed.values()]
    hv_b = [m["linear scalarisation"]["hypervolume"] for m in by_seed.values()]
    print(f"mean HV: C-MORL {np.mean(hv_c):.1f} ± {np.std(hv_c):.1f}, baseline "
          f"{np.mean(hv_b):.1f} ± {np.std(hv_b):.1f}")
    print(f"time for {env}: wall {wall:.1f} s, CPU {cpu:.1f} s (torch threads "
          f"{torch.get_num_threads()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="*", default=["deep-sea-treasure-concave-v0",
                                                      "energy-runner"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--update-method", choices=("ipo", "cpo"), default="ipo",
                        help="C-MORL's extension form (barrier or CPO step)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for env in args.env:
        report(env, args.seeds, args.update_method, args.device)


if __name__ == "__main__":
    main()
