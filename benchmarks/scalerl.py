"""Card 24 (ScaleRL): sigmoid fits of validation pass rate against compute, per recipe and seed.

    python benchmarks/scalerl.py                          # 7 variants x seeds 0 1 2, bandit
    python benchmarks/scalerl.py --seeds 0,1 --variants ScaleRL,DAPO --json /tmp/s.json
    python benchmarks/scalerl.py --env addition-reverse --iterations 1200 --workers 2

Each (variant, seed) is one trial of a sweep (:func:`run_variants`, through
``polab.sweep.run_sweep``; ``--workers 2`` runs two at a time): ``ScaleRL`` on the 64-arm contextual
bandit (``polab.envs.contextual_bandit``) at the config's defaults with the variant's knobs
(``polab.algos.group.scalerl.VARIANTS``: the recipe, the DAPO-style baseline, leave-one-out
ablations of aggregation, advantage normalisation and curriculum, k = 8 without IS, and a
bf16 generator head, reported beside claim 3 but not part of the verdict),
logging the cumulative compute (2N FLOPs per generated token, 6N per trained one) and the
exact held-out pass rate every 2 iterations; or with ``--env addition-reverse`` on the tiny
LM at ``scalerl_testbeds.LM_SCALE`` (300 iterations, pass rate of 4 samples per held-out sum
every 10). Then, per run:

* a fit of card 24's sigmoid (``polab.sweep.curves.fit_sigmoid``, R0 fixed to the measured
  start) on the first ``--fit-prefix`` (40 %) of the run's compute, extrapolated to the end:
  ``|pred - final|`` (claim 1: < 0.05 for every run of a stable variant);
* a fit on the whole run: A, B, C_mid per seed; and per variant ``bootstrap_fits`` over the
  seeds (curves interpolated onto one compute grid) for A and C_mid with 90 % intervals.

Claims (issue 18): (2) across the efficiency ablations {ScaleRL, sample-mean, prompt-std,
no-curriculum} the relative spread ``max/min - 1`` of C_mid exceeds that of A; (3) k = 8
without IS has a lower A than ScaleRL (90 % intervals apart) or diverges; (4) ScaleRL vs
DAPO on A and C_mid (expected: higher A, smaller C_mid). A verdict line per claim, and a last
line ``verdict: ...`` computed from the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile

import numpy as np
import torch

from polab.algos.group.scalerl import EFFICIENCY_ABLATIONS, VARIANTS, variant_knobs
from polab.claims import Claim, add_claims_arguments, record_claims, write_claims
from polab.sweep import SweepSpec, run_sweep
from polab.sweep.curves import bootstrap_fits, fit_sigmoid

TOLERANCE = 0.05
UNSTABLE = ("k8-no-IS", "bf16-head")


def run_variants(names: list[str], seeds: list[int], iterations: int | None, env: str,
                 workers: int, out: str | None) -> dict[tuple[str, int], list[dict]]:
    """Every (variant, seed) run as one sweep (:func:`polab.sweep.run_sweep`: ``scalerl`` with
    the variants' knobs, :func:`~polab.algos.group.scalerl.variant_knobs`), in ``workers``
    Ray workers (0: in this process; the numbers are the same) into ``out`` (a rerun skips the
    done trials); each run's scalar records (``compute/flops``, ``eval/pass_rate`` every
    ``eval_every`` iterations, ``eval/pass_rate_start`` in the first), ``status`` and
    ``seconds`` (its wall-clock)."""
    spec = SweepSpec("scalerl", env, variants={n: variant_knobs(n) for n in names},
                     seeds=tuple(seeds), iterations=iterations,
                     out=out or tempfile.mkdtemp(prefix="polab-scalerl-"), workers=workers)
    table = run_sweep(spec)
    runs = {}
    for (name, seed), rows in table.groupby(["variant", "seed"], sort=False):
        records = [{k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))}
                   for r in rows.sort_values("step").to_dict("records")]
        runs[name, int(seed)] = records
    return runs


def curve(records: list[dict]) -> tuple[np.ndarray, np.ndarray, float]:
    """(compute, pass rate) at the evaluated iterations, and the measured start R0."""
    points = [(r["compute/flops"], r["eval/pass_rate"]) for r in records
              if not math.isnan(r.get("eval/pass_rate", math.nan))]
    c, p = (np.array(x) for x in zip(*points, strict=True))
    return c, p, float(records[0]["eval/pass_rate_start"])


def analyse_run(records: list[dict], fit_prefix: float) -> dict:
    c, p, r0 = curve(records)
    prefix = fit_sigmoid(c, p, fit_prefix, r0=r0)
    full = fit_sigmoid(c, p, 1.0, r0=r0)
    pred = float(prefix.predict(c[-1]))
    return {"r0": r0, "final": float(p[-1]), "pred": pred, "err": abs(pred - float(p[-1])),
            "rmse_prefix": prefix.rmse, "a": full.a, "b": full.b, "c_mid": full.c_mid,
            "rmse_full": full.rmse, "prefix_a": prefix.a, "prefix_c_mid": prefix.c_mid,
            "status": records[-1]["status"], "compute": c.tolist(), "pass_rate": p.tolist()}


def bootstrap(runs: list[dict]) -> dict:
    """A and C_mid with 90 % intervals over seeds: curves on the common compute grid."""
    top = min(r["compute"][-1] for r in runs)
    grid = np.geomspace(max(r["compute"][0] for r in runs), top, 60)
    rates = np.array([np.interp(grid, r["compute"], r["pass_rate"]) for r in runs])
    r0 = float(np.mean([r["r0"] for r in runs]))
    out = bootstrap_fits(grid, rates, fit_prefix=1.0, r0=r0, resamples=200)
    return {k: list(v) for k, v in out.items()}


def spread(values: list[float]) -> float:
    return max(values) / min(values) - 1.0


NAME, CARD, NOTEBOOK = "scalerl", "24_scalerl", "14_scaling_and_diffusion"
ENV_NAMES = {"bandit": NAME, "addition-reverse": f"{NAME}_lm"}
"""The claims file's name per testbed: ``scalerl`` (bandit), ``scalerl_lm`` (the tiny LM)."""
ENV_WORDS = {"bandit": "64-arm bandit", "addition-reverse": "tiny LM, addition-reverse"}


def claims_name(env: str) -> str:
    return ENV_NAMES.get(env, f"{NAME}_{env.replace('-', '_')}")


def claims(res: dict) -> list[Claim]:
    """Card 24's claims from a run's ``--json`` (the four verdict lines; a claim whose variants
    were not run is left out, as in the verdict)."""
    seeds = tuple(int(s) for s in res["seeds"])
    runs, fits = res["runs"], res["fits"]
    where = ENV_WORDS.get(res["env"], res["env"])
    common = {"card": CARD, "algorithms": ("scalerl",), "notebook": NOTEBOOK}
    out = []
    stable = [n for n in runs if n not in UNSTABLE]
    if stable:
        per = {n: {int(r["seed"]): r for r in runs[n]} for n in stable}
        every = [r for n in stable for r in per[n].values()]
        ok = all(r["err"] < TOLERANCE and r["status"] == "finished" for r in every)
        out.append(Claim(
            **common, seeds=seeds, claim=f"a sigmoid fitted on the first {res['fit_prefix']:.0%} "
            f"of a run's compute predicts its final pass rate within {TOLERANCE} ({where})",
            baseline="the run's measured final pass rate", metric="|predicted − final| pass rate",
            values={n: tuple(per[n][s]["err"] if s in per[n] else None for s in seeds)
                    for n in stable},
            verdict="reproduced" if ok else "not reproduced",
            note=f"{sum(r['err'] < TOLERANCE for r in every)} of {len(every)} stable runs within "
                 f"{TOLERANCE}; worst {max(r['err'] for r in every):.3f}"))
    ablations = [n for n in EFFICIENCY_ABLATIONS if n in fits]
    if len(ablations) >= 2:
        sa = spread([fits[n]["a"][0] for n in ablations])
        sc = spread([fits[n]["c_mid"][0] for n in ablations])
        out.append(Claim(
            **common, seeds=(), claim=f"efficiency ablations move C_mid more than the ceiling A "
            f"({where})", baseline="the spread of A", metric="relative spread max/min − 1 over "
            + ", ".join(ablations) + " (fit of the seeds' mean curve)",
            values={"C_mid": (sc,), "A": (sa,)},
            verdict="reproduced" if sc > sa else "not reproduced",
            note=f"C_mid spread {sc:.3f} vs A spread {sa:.3f}"))
    if "k8-no-IS" in fits and "ScaleRL" in fits:
        a_no, a_sr = fits["k8-no-IS"]["a"], fits["ScaleRL"]["a"]
        diverged = any(r["status"] == "diverged" for r in runs["k8-no-IS"])
        out.append(Claim(
            **common, seeds=(), claim=f"k = 8 stale updates without importance-sampling "
            f"correction lower the ceiling A or diverge ({where})",
            baseline="ScaleRL (CISPO-truncated IS)", metric="fitted ceiling A (seeds' mean "
            "curve; 90 % bootstrap intervals apart)",
            values={"k8-no-IS": (a_no[0],), "ScaleRL": (a_sr[0],)},
            verdict="reproduced" if diverged or a_no[2] < a_sr[1] else "not reproduced",
            note=f"A {a_no[0]:.3f} [{a_no[1]:.3f}, {a_no[2]:.3f}] vs {a_sr[0]:.3f} "
                 f"[{a_sr[1]:.3f}, {a_sr[2]:.3f}]" + (", diverged" if diverged else
                                                      ", no divergence")))
    if "DAPO" in fits and "ScaleRL" in fits:
        sr, d = fits["ScaleRL"], fits["DAPO"]
        ok = sr["a"][0] > d["a"][0] and sr["c_mid"][0] < d["c_mid"][0]
        out.append(Claim(
            **common, seeds=(), claim=f"the ScaleRL recipe beats a DAPO-style recipe: higher "
            f"ceiling A and smaller C_mid ({where})", baseline="DAPO-style recipe",
            metric="fitted A and C_mid (FLOPs), seeds' mean curve",
            values={"ScaleRL A": (sr["a"][0],), "DAPO A": (d["a"][0],),
                    "ScaleRL C_mid": (sr["c_mid"][0],), "DAPO C_mid": (d["c_mid"][0],)},
            verdict="reproduced" if ok else "not reproduced",
            note=f"A {sr['a'][0]:.3f} vs {d['a'][0]:.3f}, C_mid {sr['c_mid'][0]:.3g} vs "
                 f"{d['c_mid'][0]:.3g} FLOPs"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--iterations", type=int, default=None,
                        help="iterations per run (default: the testbed's, 900 on the bandit)")
    parser.add_argument("--fit-prefix", type=float, default=0.4)
    parser.add_argument("--env", default="bandit")
    parser.add_argument("--json", default=None, help="write every number here")
    parser.add_argument("--workers", type=int, default=0,
                        help="Ray worker processes for the runs (0: in this process)")
    parser.add_argument("--out", default=None,
                        help="the sweep's directory (default: a new temporary one); a rerun "
                        "into it skips the runs already done")
    add_claims_arguments(parser)
    args = parser.parse_args(argv)
    if args.claims_from:
        env = json.loads(args.claims_from.read_text())["env"]
        print(record_claims(claims_name(env), claims, args.claims_from, args.results_dir))
        return 0
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.variants.split(",")
    print(f"ScaleRL benchmark on {args.env}: variants {names}, seeds {seeds}, fit prefix "
          f"{args.fit_prefix}, torch {torch.__version__}, 1 thread, cpu")
    runs = run_variants(names, seeds, args.iterations, args.env, args.workers, args.out)
    results: dict[str, list[dict]] = {}
    for name in names:
        for seed in seeds:
            records = runs[name, seed]
            if records[-1]["status"] == "failed":
                print(f"  {name:<14} seed {seed}: failed: {records[-1]['error']}")
                continue
            run = analyse_run(records, args.fit_prefix)
            run["seed"], run["seconds"] = seed, records[-1].get("time", math.nan)
            results.setdefault(name, []).append(run)
            print(f"  {name:<14} seed {seed}: {run['status']}, R0 {run['r0']:.3f} final "
                  f"{run['final']:.3f} pred@40% {run['pred']:.3f} |err| {run['err']:.3f}  "
                  f"A {run['a']:.3f} B {run['b']:.2f} C_mid {run['c_mid']:.3g}  "
                  f"({run['seconds']:.1f} s)", flush=True)
    fits = {name: bootstrap(runs) for name, runs in results.items() if len(runs) >= 2}

    print("\nper variant (whole-run fit of the seeds' mean curve, 90 % bootstrap intervals):")
    print(f"  {'variant':<14} {'A':>22} {'C_mid (FLOPs)':>32}  max |pred-final|")
    for name, runs in results.items():
        worst = max(r["err"] for r in runs)
        if name in fits:
            a, m = fits[name]["a"], fits[name]["c_mid"]
            print(f"  {name:<14} {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}]   "
                  f"{m[0]:.3g} [{m[1]:.3g}, {m[2]:.3g}]   {worst:.3f}")

    verdicts: list[tuple[str, bool | None, str]] = []
    stable = [r for n, runs in results.items() if n not in UNSTABLE for r in runs]
    if stable:
        ok = all(r["err"] < TOLERANCE and r["status"] == "finished" for r in stable)
        worst = max(r["err"] for r in stable)
        verdicts.append(("1 prefix fit predicts the final value", ok,
                         f"max |pred - final| = {worst:.3f} over {len(stable)} stable runs "
                         f"(tolerance {TOLERANCE})"))
    ablations = [n for n in EFFICIENCY_ABLATIONS if n in fits]
    if len(ablations) >= 2:
        sa = spread([fits[n]["a"][0] for n in ablations])
        sc = spread([fits[n]["c_mid"][0] for n in ablations])
        verdicts.append(("2 efficiency ablations move C_mid more than A", sc > sa,
                         f"relative spread max/min - 1: A {sa:.3f}, C_mid {sc:.3f} over "
                         f"{', '.join(ablations)}"))
    if "k8-no-IS" in fits and "ScaleRL" in fits:
        a_no, a_sr = fits["k8-no-IS"]["a"], fits["ScaleRL"]["a"]
        diverged = any(r["status"] == "diverged" for r in results["k8-no-IS"])
        ok = diverged or a_no[2] < a_sr[1]
        verdicts.append(("3 k = 8 without IS: lower A or divergence", ok,
                         f"A {a_no[0]:.3f} [{a_no[1]:.3f}, {a_no[2]:.3f}] vs ScaleRL "
                         f"{a_sr[0]:.3f} [{a_sr[1]:.3f}, {a_sr[2]:.3f}]"
                         + (", diverged" if diverged else ", no divergence")))
    if "bf16-head" in fits and "ScaleRL" in fits:  # reported, not part of the verdict
        a_bf, a_sr = fits["bf16-head"]["a"], fits["ScaleRL"]["a"]
        print(f"extra (card 24's other destabiliser, not in the verdict): bf16 generator head "
              f"A {a_bf[0]:.3f} [{a_bf[1]:.3f}, {a_bf[2]:.3f}] vs ScaleRL {a_sr[0]:.3f}; "
              f"C_mid {fits['bf16-head']['c_mid'][0]:.3g} vs {fits['ScaleRL']['c_mid'][0]:.3g}")
    if "DAPO" in fits and "ScaleRL" in fits:
        s, d = fits["ScaleRL"], fits["DAPO"]
        ok = s["a"][0] > d["a"][0] and s["c_mid"][0] < d["c_mid"][0]
        verdicts.append(("4 ScaleRL beats DAPO on A and C_mid", ok,
                         f"A {s['a'][0]:.3f} vs {d['a'][0]:.3f}, C_mid {s['c_mid'][0]:.3g} vs "
                         f"{d['c_mid'][0]:.3g} FLOPs"))
    print()
    for claim, ok, why in verdicts:
        print(f"claim {claim}: {'reproduced' if ok else 'not reproduced'} ({why})")
    res = {"seeds": seeds, "fit_prefix": args.fit_prefix, "env": args.env, "runs": results,
           "fits": fits, "verdicts": [{"claim": c, "reproduced": ok, "why": w}
                                      for c, ok, w in verdicts]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)
    print("claims:", write_claims(claims_name(args.env), claims(json.loads(json.dumps(res))),
                                  results_dir=args.results_dir))
    failed = [c.split()[0] for c, ok, _ in verdicts if not ok]
    print("verdict: reproduced" if not failed else
          f"verdict: not reproduced (claims {', '.join(failed)} fail; "
          f"{len(verdicts) - len(failed)} of {len(verdicts)} reproduced)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
