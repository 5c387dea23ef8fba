"""Every environment algorithm of the registry runs a few iterations on every classic-control
env its actions fit (discrete and continuous), changes its parameters and reports finite
metrics; PPO also trains on a gymnasium environment through the adapter. (Every registered
algorithm on its own testbed: tests/test_registry.py; the CLI: tests/test_cli.py.)"""

import copy
import math

import pytest
import torch

from polab import algos
from polab.algos import PPO, PPOConfig
from polab.core.algorithm import Algorithm
from polab.envs import make, names
from polab.registry import ALGORITHMS
from polab.train import train


def flat_params(algo):
    return torch.cat([p.detach().flatten().clone() for p in algo.agent.parameters()])


ENV_ALGOS = sorted(n for n, s in ALGORITHMS.items() if s.testbed == "env")
PAIRS = [(a, e) for a in ENV_ALGOS for e in names()
         if ALGORITHMS[a].actions == "any" or not make(e, 1).is_discrete]


@pytest.mark.parametrize(("algo_name", "env"), PAIRS)
def test_algorithm_runs_and_learns_something(algo_name, env):
    spec = ALGORITHMS[algo_name]
    fields = {s.name for s in spec.config.spec()}
    small = {"num_envs": 4}
    if "num_minibatches" in fields:
        small.update(num_steps=32, num_minibatches=2, update_epochs=2)
    if "learning_starts" in fields:  # off-policy: update from the first iteration
        small.update(num_steps=16, learning_starts=32, batch_size=32)
    algo = spec.cls(spec.make_config(**small), env)
    before = flat_params(algo)
    history = train(algo, 2, progress=False)
    assert history.status == "finished", history.message
    assert all(math.isfinite(v) for r in history.records for v in r.values())
    assert not torch.equal(before, flat_params(algo))
    assert algo.global_step > 0


def test_ppo_trains_on_a_gymnasium_env_through_the_adapter():
    algo = PPO(PPOConfig(num_envs=4, num_steps=32, num_minibatches=2), "gym:CartPole-v1")
    history = train(algo, 2, progress=False)
    assert history.status == "finished" and algo.global_step == 256


PG_AND_DIFFSIM = ["Reinforce", "PPO", "MDPO", "SAC", "MDPOOff", "VanillaPG", "NPGIGT", "HARPG",
                  "NHARPG", "HDPO", "InventoryReinforce"]


@pytest.mark.parametrize("name", PG_AND_DIFFSIM)
def test_trainers_take_their_plumbing_from_the_algorithm_base(name):
    cls = getattr(algos, name)
    assert issubclass(cls, Algorithm)
    assert not {"state_dict", "load_state_dict"} & set(vars(cls))  # from state_parts only


def test_a_checkpoint_resumes_ppo_exactly_given_the_env():
    """Save after 2 iterations, load into a fresh PPO that gets a copy of the env (whose own
    state is not the algorithm's): the next iteration matches number for number."""
    cfg = PPOConfig(num_envs=4, num_steps=16, num_minibatches=2, seed=3)
    a = PPO(cfg, "CartPole-v1", "cpu")
    train(a, 2, progress=False)
    b = PPO(cfg.replace(seed=4), "CartPole-v1", "cpu")
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    b.env = copy.deepcopy(a.env)
    ra, rb = a.step(), b.step()
    assert {k: v for k, v in ra.items() if k != "advantages"} == \
        {k: v for k, v in rb.items() if k != "advantages"}
    assert torch.equal(flat_params(a), flat_params(b)) and a.global_step == b.global_step
