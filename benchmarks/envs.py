"""CartPole-v1 steps per second: polab's batched torch env vs gymnasium's vector envs.

    python benchmarks/envs.py                                  # CPU, N = 1, 64, 1024, 8192
    python benchmarks/envs.py --device cuda --sizes 1 1024 8192 65536 --seconds 2

Three implementations step N copies with random actions sampled inside the timed loop
(polab: ``torch.randint`` on its device, gymnasium: NumPy's generator), same-step auto-reset
where the implementation offers it:

* ``polab``: ``polab.envs.make("CartPole-v1", N)``, torch tensors on ``--device``;
* ``numpy-vec``: ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``, the
  NumPy-vectorized ``CartPoleVectorEnv`` (next-step auto-reset, its only mode);
* ``sync``: ``gymnasium.make_vec(..., vectorization_mode="sync")``, a Python loop over N
  single environments (``SyncVectorEnv``, same-step auto-reset).

Each cell is the median over ``--repeats`` interleaved runs of ``--seconds`` each, in env
steps per second (N times the batched calls per second). NumPy is single-threaded, so torch
runs on ``--threads 1`` by default: a like-for-like comparison on a shared CPU.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from polab.envs import make

ENV = "CartPole-v1"


def polab_stepper(n: int, device: torch.device) -> Callable[[], None]:
    env = make(ENV, n, device=device, seed=0)
    gen = torch.Generator(device).manual_seed(1)

    def step() -> None:
        env.step(torch.randint(0, 2, (n,), generator=gen, device=device))
    return step


def gym_stepper(n: int, mode: str) -> Callable[[], None]:
    kwargs = {"autoreset_mode": AutoresetMode.SAME_STEP} if mode == "sync" else {}
    env = gym.make_vec(ENV, num_envs=n, vectorization_mode=mode, vector_kwargs=kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(1)

    def step() -> None:
        env.step(rng.integers(0, 2, n))
    return step


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device for polab (cpu, cuda, ...)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 8192],
                        help="numbers of environment copies N")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per cell")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip-sync", action="store_true", help="leave out SyncVectorEnv")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"device {device} ({name or platform.machine()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, gymnasium {gym.__version__}, "
          f"numpy {np.__version__}; median of {args.repeats} x {args.seconds:g} s")

    impls = ["polab", "numpy-vec"] + ([] if args.skip_sync else ["sync"])
    print(f"\n{'N':>7} " + " ".join(f"{k:>11}" for k in impls)
          + f" {'polab/numpy':>12}" + ("" if args.skip_sync else f" {'polab/sync':>11}"))
    with torch.inference_mode():
        for n in args.sizes:
            steppers = {"polab": polab_stepper(n, device),
                        "numpy-vec": gym_stepper(n, "vector_entry_point")}
            if not args.skip_sync:
                steppers["sync"] = gym_stepper(n, "sync")
            runs: dict[str, list[float]] = {k: [] for k in impls}
            for _ in range(args.repeats):
                for k in impls:
                    runs[k].append(steps_per_second(steppers[k], n, args.seconds, device))
            rate = {k: statistics.median(v) for k, v in runs.items()}
            row = f"{n:>7} " + " ".join(f"{fmt(rate[k]):>11}" for k in impls)
            row += f" {rate['polab'] / rate['numpy-vec']:>11.2f}x"
            if not args.skip_sync:
                row += f" {rate['polab'] / rate['sync']:>10.1f}x"
            print(row, flush=True)


if __name__ == "__main__":
    main()
