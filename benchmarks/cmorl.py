"""C-MORL vs linear scalarisation at equal env steps (../shared/cards/04_cmorl.md), 3 seeds.

    python benchmarks/cmorl.py                       # concave DST, then the energy runner
    python benchmarks/cmorl.py --env energy-runner --seeds 0 1 2
    python benchmarks/cmorl.py --env deep-sea-treasure-concave-v0 --update-method cpo
    python benchmarks/cmorl.py --claims-from benchmarks/results/cmorl.json   # no run

For Deep Sea Treasure it also lists the non-supported (concave) Pareto points each method
recovered — linear scalarisation can only reach supported ones — and checks that C-MORL's
hypervolume never decreased over extension rounds. Prints wall and CPU time.

``--json PATH`` saves the per-seed metrics, fronts and concave points; every run writes card 4's
claims file (``polab.claims``) to ``--results-dir`` (default build/results).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from polab.algos.morl.cmorl import compare_with_baseline
from polab.algos.morl.config import CMORLConfig
from polab.claims import Claim, parse_benchmark_args, save_run, seed_verdict
from polab.envs.mo.metrics import supported_mask


def concave_points(front: np.ndarray, true_front: np.ndarray) -> set[tuple[float, ...]]:
    """The points of ``front`` that are non-supported points of the true front."""
    unsupported = {tuple(p) for p in true_front[~supported_mask(true_front)].round(3).tolist()}
    return {tuple(p) for p in front.round(3).tolist()} & unsupported


def report(env: str, seeds: list[int], update_method: str, device: str) -> dict:
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
    keys = ("env_steps", "hypervolume", "expected_utility", "sparsity", "cardinality")
    return {"env": env, "env_steps": config.total_timesteps, "wall_s": wall, "cpu_s": cpu,
            "seeds": list(by_seed), "runs": {
                str(seed): {method: {**{k: float(r[k]) for k in keys},
                                     "round_hypervolumes": [float(h) for h in
                                                            r.get("round_hypervolumes", [])],
                                     "front": np.asarray(r["front"]).tolist(),
                                     "concave": (None if r["concave"] == "n/a" else
                                                 [list(p) for p in r["concave"]])}
                            for method, r in m.items()} for seed, m in by_seed.items()}}


NAME, CARD, NOTEBOOK = "cmorl", "04_cmorl", "09_multi_objective"
ALGOS = ("c-morl", "linear-scalarisation")


def claims(res: dict) -> list[Claim]:
    """Card 4's claims per environment from a run's results (as read back from ``--json``),
    per seed as the run prints them: C-MORL's HV above linear scalarisation's at equal env
    steps; on Deep Sea Treasure, a concave (non-supported) Pareto point C-MORL found and the
    baseline missed; C-MORL's HV never decreasing over extension rounds."""
    out = []
    for r in res["envs"]:
        seeds = tuple(int(s) for s in r["seeds"])
        runs = [r["runs"][str(s)] for s in seeds]
        c_hv = [m["C-MORL"]["hypervolume"] for m in runs]
        b_hv = [m["linear scalarisation"]["hypervolume"] for m in runs]
        env = r["env"]
        common = {"card": CARD, "algorithms": ALGOS, "notebook": NOTEBOOK, "seeds": seeds}
        out.append(Claim(
            **common, claim=f"{env}: C-MORL attains a higher hypervolume than linear "
            "scalarisation with the same env-step budget", baseline="linear scalarisation",
            metric=f"hypervolume after {r['env_steps']:,} env steps",
            values={"C-MORL": tuple(c_hv), "linear scalarisation": tuple(b_hv)},
            verdict=seed_verdict([c > b for c, b in zip(c_hv, b_hv, strict=True)],
                                 float(np.mean(c_hv)) > float(np.mean(b_hv))),
            note=f"mean {np.mean(c_hv):.1f} vs {np.mean(b_hv):.1f}"))
        if all(m["C-MORL"]["concave"] is not None for m in runs):
            found = {method: [len(m[method]["concave"]) for m in runs]
                     for method in ("C-MORL", "linear scalarisation")}
            missed = [len({tuple(p) for p in m["C-MORL"]["concave"]}
                          - {tuple(p) for p in m["linear scalarisation"]["concave"]})
                      for m in runs]
            out.append(Claim(
                **common, claim=f"{env}: C-MORL recovers a concave (non-supported) Pareto point "
                "that linear scalarisation misses", baseline="linear scalarisation",
                metric="concave Pareto points found", values={k: tuple(float(x) for x in v)
                                                              for k, v in found.items()},
                verdict=seed_verdict([n > 0 for n in missed], float(np.mean(missed)) > 0),
                note=f"C-MORL found one the baseline missed on {sum(n > 0 for n in missed)} of "
                     f"{len(seeds)} seeds"))
        drops = [min(np.diff(m["C-MORL"]["round_hypervolumes"]), default=0.0) for m in runs]
        out.append(Claim(
            **common, claim=f"{env}: C-MORL's hypervolume is non-decreasing over extension "
            "rounds", baseline="its own previous round",
            metric="smallest change of hypervolume between rounds (≥ 0: non-decreasing)",
            values={"C-MORL": tuple(float(d) for d in drops)},
            verdict=seed_verdict([d >= 0 for d in drops], all(d >= 0 for d in drops))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="*", default=["deep-sea-treasure-concave-v0",
                                                      "energy-runner"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--update-method", choices=("ipo", "cpo"), default="ipo",
                        help="C-MORL's extension form (barrier or CPO step)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the per-seed HV, EU, SP, fronts and concave points here")
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(1)
    res = {"seeds": args.seeds, "update_method": args.update_method, "machine": "CPU, 1 thread",
           "envs": [report(env, args.seeds, args.update_method, args.device)
                    for env in args.env]}
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
