"""Command line: ``polab list`` and ``polab train ALGO --env NAME --seed S --set key=value``.

Examples::

    polab list
    polab train ppo --env CartPole-v1 --seed 0
    polab train reinforce-baseline --set num_envs=64 --set learning_rate=3e-3 --save h.json
    polab train sac --env Pendulum-v1
    polab train dr-grpo --env addition --iterations 40     # a language task and its base
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import gymnasium as gym
import torch

from polab import envs, registry
from polab.device import describe, pick_device
from polab.lm.pretrain import shipped_bases
from polab.train import TrainingRun


def _threshold(env_name: str) -> float | None:
    try:
        return gym.spec(env_name).reward_threshold
    except gym.error.Error:
        return None


def cmd_list(_: argparse.Namespace) -> int:
    for testbed, heading in (("env", "algorithms on environments"),
                             ("task", "algorithms on language tasks")):
        print(f"{heading}:")
        for name, spec in registry.ALGORITHMS.items():
            if spec.testbed == testbed:
                needs = " (continuous actions)" if spec.actions == "continuous" else ""
                print(f"  {name:<20} {spec.summary}{needs} (default {spec.default_env})")
    print("environments:")
    for name in envs.names():
        print(f"  {name}")
    print("  gym:<id>             any gymnasium environment")
    print("language tasks (a shipped base model each): " + ", ".join(shipped_bases()))
    print("\nknobs of an algorithm: polab train ALGO --help-config")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    spec = registry.get(args.algo)
    config = spec.make_config(seed=args.seed).with_overrides(args.set or [])
    if args.iterations and "num_iterations" in {f.name for f in config.spec()}:
        config = config.replace(num_iterations=args.iterations)
    if args.help_config:
        for f in config.spec():
            rng = list(f.choices) if f.choices else f"[{f.low}, {f.high}]"
            print(f"  {f.name:<20} = {getattr(config, f.name)!r:<12} {f.help} {rng}")
        return 0
    env_name = args.env or spec.default_env
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    algo = spec.cls(config, env_name, device=device)
    iterations = args.iterations or spec.iterations(config)
    threshold = _threshold(env_name)
    print(f"polab train {args.algo} on {env_name}, seed {args.seed}, {iterations} iterations, "
          f"device {describe(device)}, torch {torch.__version__}")
    run = TrainingRun(algo, iterations, progress=not args.quiet, desc=args.algo)
    reached_at = None
    start = time.perf_counter()
    for record in run:
        ret = record.get(spec.score, -math.inf)
        if threshold is not None and reached_at is None and ret >= threshold:
            reached_at = (time.perf_counter() - start, int(record["global_step"]))
    wall = time.perf_counter() - start
    hist = run.history
    print(f"status: {hist.status} {hist.message}".rstrip())
    if spec.testbed == "env":
        final = hist.last("charts/episodic_return")
        print(f"final mean return (last 20 episodes): {final:.1f}")
    else:
        print(f"final {spec.score} (held-out, greedy): {hist.last(spec.score):.3f}; "
              f"last batch reward {hist.last('reward'):.3f}")
    unit = "env steps" if spec.testbed == "env" else "completions sampled"
    print(f"{unit}: {int(algo.global_step)}, wall-clock: {wall:.1f} s "
          f"({algo.global_step / wall:,.0f}/s)")
    if threshold is not None:
        print(f"solved threshold {threshold:g}: " + (
            f"reached after {reached_at[0]:.1f} s, {reached_at[1]} env steps" if reached_at
            else "not reached"))
    if args.save:
        print(f"history saved to {hist.save(args.save)}")
    return 0 if hist.status != "diverged" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list algorithms and environments").set_defaults(func=cmd_list)
    p = sub.add_parser("train", help="train an algorithm and print its final metrics")
    p.add_argument("algo", help="algorithm name (see `polab list`)")
    p.add_argument("--env", help="environment, or language task for the LM algorithms "
                                 "(default: the algorithm's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--iterations", type=int, help="iterations (default: from the config)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: polab's networks are small, and a second "
                        "thread mostly adds synchronisation)")
    p.add_argument("--save", metavar="FILE", help="write the History as one JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--help-config", action="store_true", help="list the algorithm's knobs")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"polab: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
