"""Steps per second of the four classic environments: polab's batched torch envs vs
gymnasium's vector envs.

    python benchmarks/envs.py                        # all four environments, N = 1 … 65536
    python benchmarks/envs.py --envs CartPole-v1      # one of them (split long runs this way)
    python benchmarks/envs.py --device cuda --sizes 1 1024 8192 65536 --seconds 2
    python benchmarks/envs.py --json benchmarks/results/envs.json \
        --results-dir benchmarks/results/claims   # the shipped measurement of issue 19's goals

Up to three implementations step N copies with uniformly random actions, same-step auto-reset
where the implementation offers it. The actions are drawn before timing (a cycle of
``ACTION_BATCHES`` batches: polab's with ``torch.randint`` / ``torch.rand`` on its device,
gymnasium's with NumPy's generator), so a cell measures the environment's step alone, not the
speed of a random number generator:

* ``polab``: ``polab.envs.make("CartPole-v1", N)``, torch tensors on ``--device``;
* ``numpy-vec``: ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``, the
  NumPy-vectorized version where gymnasium has one (only ``CartPoleVectorEnv``; next-step
  auto-reset, its only mode);
* ``sync``: ``gymnasium.make_vec(..., vectorization_mode="sync")``, a Python loop over N
  single environments (``SyncVectorEnv``, same-step auto-reset), up to ``--sync-max`` copies
  (building 65536 gymnasium environments takes minutes).

Each cell is the median over ``--repeats`` interleaved runs of ``--seconds`` each (polab,
numpy-vec, sync, polab, ... so that load from other processes hits all alike), in env steps
per second (N times the batched calls per second). NumPy is single-threaded, so torch runs on
``--threads 1`` by default: a like-for-like comparison on a shared CPU. The header gives the
machine and its load average; the last lines give issue 19's goals, each ``met`` or ``NOT met``
as computed from the cells above (CartPole ≥ numpy-vec at every N ≥ 256 and ≥ 2x at every
N ≥ 8192; every environment ≥ 50x SyncVectorEnv at every measured N ≥ 1024; with
``--device cuda``, ≥ 10^8 CartPole steps/s at N = 65536). ``--json`` saves every cell's rates
and ratios; the claims file (``build/results/envs.json``, ``--results-dir`` elsewhere;
``--claims-from`` rebuilds it from a saved ``--json``) holds one goal claim per goal line, with
the ratio of every cell the goal judges (a deterministic measurement: no seeds).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from polab.claims import Claim, parse_benchmark_args, save_run
from polab.envs import make
from polab.machine import cpu_name

NAME, ISSUE = "envs", 19
ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0")
ACTION_BATCHES = 16


def polab_stepper(name: str, n: int, device: torch.device) -> Callable[[], None]:
    env = make(name, n, device=device, seed=0)
    gen = torch.Generator(device).manual_seed(1)
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        actions = torch.randint(0, int(space.n), (ACTION_BATCHES, n), generator=gen,
                                device=device)
    else:
        low, high = (torch.as_tensor(bound, device=device) for bound in (space.low, space.high))
        actions = torch.rand((ACTION_BATCHES, n, *space.shape), generator=gen,
                             device=device) * (high - low) + low
    batches = itertools.cycle(actions.unbind(0))

    def step() -> None:
        env.step(next(batches))
    return step


def gym_stepper(name: str, n: int, mode: str) -> Callable[[], None]:
    kwargs = {"autoreset_mode": AutoresetMode.SAME_STEP} if mode == "sync" else {}
    env = gym.make_vec(name, num_envs=n, vectorization_mode=mode, vector_kwargs=kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        actions = rng.integers(0, int(space.n), (ACTION_BATCHES, n))
    else:
        actions = rng.uniform(space.low, space.high,
                              (ACTION_BATCHES, n, *space.shape)).astype(np.float32)
    batches = itertools.cycle(list(actions))

    def step() -> None:
        env.step(next(batches))
    return step


def has_numpy_vec(name: str) -> bool:
    return gym.spec(name).vector_entry_point is not None


def steps_per_second(step: Callable[[], None], n: int, seconds: float,
                     device: torch.device) -> float:
    """Batched steps for at least ``seconds`` (and at least 2 calls) → env steps per second."""
    for _ in range(3):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    calls, start = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - start < seconds:
        step()
        calls += 1
    sync()
    return calls * n / (time.perf_counter() - start)


def fmt(rate: float) -> str:
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.2f} {unit}"
    return f"{rate:.0f}"


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def goals(ratios: dict[str, dict[int, dict[str, float]]],
          cartpole_gpu: float | None = None) -> list[dict]:
    """Issue 19's goals judged from the measured ratios ``ratios[env][N][impl]`` (polab's rate
    over ``impl``'s) and, on a GPU, polab's CartPole steps/s at N = 65536: per goal its text,
    the cells it judges (``{(env, N, impl): ratio}``, or the GPU rate), the threshold, and
    ``met`` (``None`` when no cell judges it: a size or an implementation left out)."""
    def judge(goal: str, env: str, impl: str, least_n: int, least_ratio: float) -> dict:
        cells = {(env, int(n), impl): r[impl] for n, r in ratios.get(env, {}).items()
                 if int(n) >= least_n and impl in r}
        return {"goal": goal, "cells": cells, "least": least_ratio,
                "met": min(cells.values()) >= least_ratio if cells else None}

    out = []
    if "CartPole-v1" in ratios:
        out += [judge("CartPole >= numpy-vec at N >= 256", "CartPole-v1", "numpy-vec", 256, 1.0),
                judge("CartPole >= 2x numpy-vec at N >= 8192", "CartPole-v1", "numpy-vec",
                      8192, 2.0)]
    out += [judge(f"{env} >= 50x SyncVectorEnv at N >= 1024", env, "sync", 1024, 50.0)
            for env in ratios]
    if cartpole_gpu is not None:
        out.append({"goal": "CartPole >= 1e8 steps/s at N = 65536 on the GPU",
                    "cells": {("CartPole-v1", 65536, "GPU steps/s"): cartpole_gpu},
                    "least": 1e8, "met": cartpole_gpu >= 1e8})
    return out


def verdicts(ratios: dict[str, dict[int, dict[str, float]]],
             cartpole_gpu: float | None = None) -> list[str]:
    """Issue 19's goals (:func:`goals`) as lines ``goal ...: met`` / ``NOT met``; a goal with no
    cell to judge it says so."""
    lines = []
    for g in goals(ratios, cartpole_gpu):
        if g["met"] is None:
            lines.append(f"goal {g['goal']}: not measured")
            continue
        met = "met" if g["met"] else "NOT met"
        (env, n, impl), worst = min(g["cells"].items(), key=lambda kv: kv[1])
        if impl == "GPU steps/s":
            lines.append(f"goal {g['goal']}: {met} ({fmt(worst)})")
        else:
            lines.append(f"goal {g['goal']}: {met} (lowest {worst:.2f}x at N = {n})")
    return lines


def claims(res: dict) -> list[Claim]:
    """Issue 19's environment goals from a run's results (as read back from ``--json``): one
    claim per goal that a measured cell judges, one number per cell."""
    ratios = {env: {int(n): r for n, r in by_n.items()} for env, by_n in res["ratios"].items()}
    out = []
    for g in goals(ratios, res.get("cartpole_gpu")):
        if g["met"] is None:
            continue
        values = {(f"{env} N={n} steps/s" if impl == "GPU steps/s" else
                   f"{env} N={n} vs {impl}"): (v,) for (env, n, impl), v in g["cells"].items()}
        (_, n, _), worst = min(g["cells"].items(), key=lambda kv: kv[1])
        gpu = "GPU steps/s" in next(iter(g["cells"]))
        out.append(Claim(
            card="", issue=ISSUE, algorithms=(), notebook="00_tour", claim=g["goal"],
            baseline="polab's own rate" if gpu else
            ("gymnasium's numpy-vectorized CartPoleVectorEnv" if "numpy" in g["goal"]
             else "gymnasium's SyncVectorEnv (same-step auto-reset)"),
            metric="polab's env steps/s" if gpu else
            "ratio of env steps/s, polab / baseline (random actions, one thread)",
            seeds=(), values=values, verdict="met" if g["met"] else "not met",
            note=(f"{fmt(worst)} steps/s" if gpu else f"lowest {worst:.2f}x at N = {n}")
            + f"; {res['device']}; load average {res['load'][0]} at start, "
              f"{res['load'][1]} at the end"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS,
                        help="environments (default all four)")
    parser.add_argument("--device", default="cpu", help="torch device for polab (cpu, cuda, ...)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 256, 1024, 8192, 65536],
                        help="numbers of environment copies N")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per cell")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip-sync", action="store_true", help="leave out SyncVectorEnv")
    parser.add_argument("--sync-max", type=int, default=8192,
                        help="largest N for SyncVectorEnv (one Python env per copy)")
    parser.add_argument("--json", type=Path, default=None,
                        help="save every cell's rates and ratios to this file")
    args = parse_benchmark_args(parser, NAME, claims)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    load_start = load()
    print(f"device {device} ({name}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, gymnasium {gym.__version__}, "
          f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average "
          f"{load_start}; median of {args.repeats} interleaved runs x {args.seconds:g} s")
    ratios: dict[str, dict[int, dict[str, float]]] = {}
    rates: dict[str, dict[int, dict[str, float]]] = {}
    cartpole_gpu: float | None = None
    for env_name in args.envs:
        impls = ["polab"] + (["numpy-vec"] if has_numpy_vec(env_name) else []) \
            + ([] if args.skip_sync else ["sync"])
        print(f"\n{env_name}\n{'N':>7} " + " ".join(f"{k:>11}" for k in impls)
              + "".join(f" {'polab/' + k.split('-')[0]:>12}" for k in impls[1:]))
        with torch.inference_mode():
            for n in args.sizes:
                steppers = {"polab": polab_stepper(env_name, n, device)}
                if "numpy-vec" in impls:
                    steppers["numpy-vec"] = gym_stepper(env_name, n, "vector_entry_point")
                if "sync" in impls and n <= args.sync_max:
                    steppers["sync"] = gym_stepper(env_name, n, "sync")
                runs: dict[str, list[float]] = {k: [] for k in steppers}
                for _ in range(args.repeats):
                    for k, stepper in steppers.items():
                        runs[k].append(steps_per_second(stepper, n, args.seconds, device))
                rate = {k: statistics.median(v) for k, v in runs.items()}
                row = f"{n:>7} " + " ".join(
                    f"{fmt(rate[k]) if k in rate else '—':>11}" for k in impls)
                row += "".join(f" {rate['polab'] / rate[k]:>11.2f}x" if k in rate
                               else f" {'—':>12}" for k in impls[1:])
                print(row, flush=True)
                ratios.setdefault(env_name, {})[n] = {k: rate["polab"] / rate[k]
                                                       for k in rate if k != "polab"}
                rates.setdefault(env_name, {})[n] = rate
                if env_name == "CartPole-v1" and n == 65536 and device.type == "cuda":
                    cartpole_gpu = rate["polab"]
    load_end = load()
    print(f"\nload average at the end {load_end}")
    print("\n".join(verdicts(ratios, cartpole_gpu)))
    res = {"device": f"device {device} ({name}), "
                     f"{torch.get_num_threads()} torch thread(s)",
           "sizes": args.sizes, "seconds": args.seconds, "repeats": args.repeats,
           "load": [load_start, load_end], "rates": rates, "ratios": ratios,
           "cartpole_gpu": cartpole_gpu}
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
