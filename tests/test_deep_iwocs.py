"""Deep IWOCS on Pendulum (card 39, "Deep version"): the min-over-Q action choice, the
worst-case search, per-copy physics in the batched evaluation, one tiny loop, bad input."""

import pytest
import torch

from polab.algos.robust.deep_iwocs import (
    DeepIWOCS,
    DeepIWOCSConfig,
    evaluate_on_kernels,
    kernel_grid,
    pick_min_q,
    robust_policy,
    worst_kernel,
)
from polab.core.continuous import SquashedGaussianActor


def constant_actor(value: float) -> SquashedGaussianActor:
    """An actor whose mean action is ``value`` everywhere (bias of the last layer)."""
    actor = SquashedGaussianActor(3, 1, 4, torch.tensor([-2.0]), torch.tensor([2.0]))
    last = actor.net[-1]
    torch.nn.init.zeros_(last.weight)
    with torch.no_grad():
        last.bias.zero_()
        last.bias[0] = torch.atanh(torch.tensor(value / 2.0))
    return actor


def test_pick_min_q_takes_the_proposal_with_the_best_pessimistic_value():
    proposals = torch.tensor([[[1.0], [1.0]], [[-1.0], [-1.0]]])      # [K=2, N=2, A=1]
    q = torch.tensor([[[5.0, 0.0], [1.0, 2.0]],                      # critic 0: [K, N]
                      [[0.0, 3.0], [2.0, 1.0]]])                     # critic 1
    # min over critics: actor 0 → (0, 0), actor 1 → (1, 1): actor 1 in both states;
    # the max over critics (or critic 0 alone) would pick actor 0 in state 0
    assert pick_min_q(proposals, q).tolist() == [[-1.0], [-1.0]]
    assert pick_min_q(proposals, q[:1]).tolist() == [[1.0], [-1.0]]


def test_robust_policy_with_two_fake_critics_and_two_actors():
    actors = [constant_actor(1.0), constant_actor(-1.0)]
    # critic A likes positive actions, critic B dislikes |a| > 0.5 only for obs[0] > 0
    def critic_a(obs, act):
        return torch.stack([act[:, 0], act[:, 0] + 1])                # twin: [2, N]
    def critic_b(obs, act):
        return (-(obs[:, 0] > 0).float() * act[:, 0] * 10)[None]
    obs = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    actions = robust_policy(actors, [critic_a, critic_b])(obs)
    # state 0: actor +1 → min(1, 2, -10) = -10; actor -1 → min(-1, 0, 10) = -1 → -1
    # state 1: critic B says 0: actor +1 → 0, actor -1 → -1 → +1
    assert torch.allclose(actions, torch.tensor([[-1.0], [1.0]]), atol=1e-5)


def test_worst_kernel_picks_the_lowest_cell_of_a_hand_table():
    table = torch.tensor([[-200.0, -150.0, -400.0], [-390.0, -100.0, -401.0]])
    assert worst_kernel(table.flatten()) == 5
    assert kernel_grid(3, 0.3)[5].tolist() == pytest.approx([1.0, 1.3])


def test_batched_evaluation_uses_each_copys_physics():
    """Two kernels in one batch: different returns, and each the same as evaluated alone (the
    first copies share their start states under one seed)."""
    kernels = torch.tensor([[0.7, 0.7], [1.3, 1.3]], dtype=torch.float64)
    push = lambda obs: torch.full((len(obs), 1), 2.0)  # noqa: E731
    both = evaluate_on_kernels(push, kernels, 1, seed=3)
    alone = evaluate_on_kernels(push, kernels[:1], 1, seed=3)
    assert not torch.isclose(both[0], both[1])
    assert torch.allclose(alone, both[:1], atol=1e-4)


def test_one_tiny_iteration_trains_and_adds_a_kernel():
    algo = DeepIWOCS(DeepIWOCSConfig(iterations=2, grid=3, first_steps=100, resolve_steps=100,
                                     eval_episodes=1, learning_starts=0))
    m = algo.step()
    assert len(algo.actors) == 1 and len(algo.kernels) == 2 and not algo.done
    assert algo.kernels[1] == (m["worst_mass"], m["worst_length"])
    assert algo.global_step == 100
    algo.step()
    assert algo.done and len(algo.actors) == 2 and algo.step() == {}


@pytest.mark.parametrize("field,value", [("grid", 4), ("radius", 1.5), ("iterations", 0),
                                         ("first_steps", 10)])
def test_bad_config_is_named(field, value):
    with pytest.raises(ValueError, match=field):
        DeepIWOCSConfig(**{field: value}).validate()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="Pendulum-v1 only"):
        DeepIWOCS(DeepIWOCSConfig(), "CartPole-v1")
    with pytest.raises(ValueError, match="one critic per actor"):
        robust_policy([constant_actor(0.0)], [])
    with pytest.raises(ValueError, match="non-empty"):
        worst_kernel(torch.zeros(0))
    with pytest.raises(ValueError, match="episodes"):
        evaluate_on_kernels(lambda o: o[:, :1], torch.ones(1, 2), 0, seed=0)


def test_heatmap_marks_worst_cells_and_kernels_and_names_bad_input():
    from polab.plots.robust.deep_iwocs import return_over_physics_grid
    grid = [[-100.0, -200.0, -150.0], [-120.0, -110.0, -300.0], [-90.0, -95.0, -99.0]]
    fig = return_over_physics_grid({"a": grid, "b": grid}, 0.3, [(1.0, 1.0), (1.3, 0.7)])
    worst = [t for t in fig.data if t.type == "scatter" and t.marker.symbol == "x"]
    assert [(t.x[0], t.y[0]) for t in worst] == [pytest.approx((1.3, 1.0))] * 2
    with pytest.raises(ValueError, match="square"):
        return_over_physics_grid({"a": [[1.0, 2.0]]}, 0.3)
