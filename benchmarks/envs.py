"""Steps per second of the four classic environments: polab's batched torch envs vs
gymnasium's vector envs.

    python benchmarks/envs.py                                  # CartPole, N = 1 … 65536
    python benchmarks/envs.py --envs CartPole-v1 Acrobot-v1 Pendulum-v1 MountainCarContinuous-v0
    python benchmarks/envs.py --device cuda --sizes 1 1024 8192 65536 --seconds 2

Up to three implementations step N copies with random actions sampled inside the timed loop
(polab: ``torch.randint`` / ``torch.rand`` on its device, gymnasium: NumPy's generator),
same-step auto-reset where the implementation offers it:

* ``polab``: ``polab.envs.make("CartPole-v1", N)``, torch tensors on ``--device``;
* ``numpy-vec``: ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``, the
  NumPy-vectorized version where gymnasium has one (only ``CartPoleVectorEnv``; next-step
  auto-reset, its only mode);
* ``sync``: ``gymnasium.make_vec(..., vectorization_mode="sync")``, a Python loop over N
  single environments (``SyncVectorEnv``, same-step auto-reset), up to ``--sync-max`` copies
  (building 65536 gymnasium environments takes minutes).

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

ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0")


def polab_stepper(name: str, n: int, device: torch.device) -> Callable[[], None]:
    env = make(name, n, device=device, seed=0)
    gen = torch.Generator(device).manual_seed(1)
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        def action() -> torch.Tensor:
            return torch.randint(0, int(space.n), (n,), generator=gen, device=device)
    else:
        low = torch.as_tensor(space.low, device=device)
        width = torch.as_tensor(space.high - space.low, device=device)

        def action() -> torch.Tensor:
            return torch.rand((n, *space.shape), generator=gen, device=device) * width + low

    def step() -> None:
        env.step(action())
    return step


def gym_stepper(name: str, n: int, mode: str) -> Callable[[], None]:
    kwargs = {"autoreset_mode": AutoresetMode.SAME_STEP} if mode == "sync" else {}
    env = gym.make_vec(name, num_envs=n, vectorization_mode=mode, vector_kwargs=kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        def step() -> None:
            env.step(rng.integers(0, int(space.n), n))
    else:
        def step() -> None:
            env.step(rng.uniform(space.low, space.high, (n, *space.shape)).astype(np.float32))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"], choices=ENVS,
                        help="environments (default CartPole-v1)")
    parser.add_argument("--device", default="cpu", help="torch device for polab (cpu, cuda, ...)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 256, 1024, 8192, 65536],
                        help="numbers of environment copies N")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per cell")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip-sync", action="store_true", help="leave out SyncVectorEnv")
    parser.add_argument("--sync-max", type=int, default=8192,
                        help="largest N for SyncVectorEnv (one Python env per copy)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"device {device} ({name or platform.machine()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, gymnasium {gym.__version__}, "
          f"numpy {np.__version__}; median of {args.repeats} x {args.seconds:g} s")
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


if __name__ == "__main__":
    main()
