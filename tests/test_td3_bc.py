"""TD3+BC and BC (polab.algos.offline): the actor loss by hand, TD3's target, state
normalisation, same seed → same numbers, BC learns the data."""

import pytest
import torch

from polab.algos.offline.bc import BC, BCConfig, bc_loss
from polab.algos.offline.td3_bc import TD3BC, TD3BCConfig, regularised_actor_loss
from polab.train import train

SMALL = {"num_iterations": 2, "updates_per_iteration": 4, "batch_size": 32,
         "dataset_size": 600, "eval_episodes": 2, "hidden": 16}


def test_actor_loss_by_hand():
    pi = torch.tensor([[0.5], [-0.5]])
    a = torch.tensor([[0.0], [0.0]])
    q = torch.tensor([2.0, -4.0])  # λ = 2.5 / 3
    terms = regularised_actor_loss(q, pi, a, 1.0, 2.5)
    assert float(terms["loss"]) == pytest.approx(-2.5 / 3 * -1.0 + 0.25)
    assert float(bc_loss(pi, a)) == pytest.approx(0.25)


def test_states_are_normalised_and_runs_repeat():
    algo = TD3BC(TD3BCConfig(**SMALL))
    obs = algo.norm.observations
    torch.testing.assert_close(obs.mean(0), torch.zeros(4), atol=1e-4, rtol=0)
    h1 = train(algo, 2, progress=False)
    h2 = train(TD3BC(TD3BCConfig(**SMALL)), 2, progress=False)
    drop = lambda r: {k: v for k, v in r.items() if k != "time"}  # noqa: E731
    assert drop(h1.records[-1]) == drop(h2.records[-1])
    assert algo.global_step == 8


def test_bc_fits_the_actions():
    algo = BC(BCConfig(**{**SMALL, "updates_per_iteration": 50}), "point-mass-expert")
    history = train(algo, 2, progress=False)
    losses = [r["losses/actor_loss"] for r in history.records]
    assert losses[-1] < losses[0]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="alpha"):
        TD3BC(TD3BCConfig(**SMALL, alpha=-1.0))
    with pytest.raises(ValueError, match="testbed"):
        BC(BCConfig(**SMALL), "hopper-medium")
