"""PPO-LM (T-PPO's synchronous baseline) and the critic math: EGAE equals hand-computed GAE
on a finished and on a cut trace, the critic's loss never sees cut rows, the value model
reads V(s_t) at the right positions, and the trainer runs, counts generation steps and
refuses bad input."""

import math

import pytest
import torch

from polab.algos.token_control.critic import ValueModel, egae, value_loss
from polab.algos.token_control.ppo_lm import PPOLM, PPOLMConfig
from polab.lm.generate import Samples
from polab.train import train

torch.set_num_threads(1)

SMALL = PPOLMConfig(generation_batch_size=8, value_warmup=1, eval_every=0, num_iterations=2)


def test_egae_on_a_finished_and_a_cut_trace_equals_hand_gae():
    # row 0: finished after 3 tokens with R = 1; row 1: cut after 3 tokens (bootstrap 0.8);
    # row 2: finished after 1 token with R = 0 (padding after it)
    values = torch.tensor([[0.5, 0.6, 0.7, 9.0], [0.5, 0.6, 0.7, 0.8], [0.4, 9.0, 9.0, 9.0]])
    adv, ret = egae(values, torch.tensor([1.0, 0.0, 0.0]), torch.tensor([3, 3, 1]),
                    torch.tensor([True, False, True]), 1.0, 0.95)
    # finished: δ = (0.1, 0.1, 1 - 0.7); cut: δ = (0.1, 0.1, 0.8 - 0.7)
    a2 = 0.3
    a1 = 0.1 + 0.95 * a2
    finished = [0.1 + 0.95 * a1, a1, a2]
    b2 = 0.1
    b1 = 0.1 + 0.95 * b2
    cut = [0.1 + 0.95 * b1, b1, b2]
    assert torch.allclose(adv, torch.tensor([finished, cut, [-0.4, 0.0, 0.0]]), atol=1e-6)
    assert torch.allclose(ret[:, :1], adv[:, :1] + values[:, :1])
    # "truncated = reward 0": the cut row as terminal with R = 0 drops the bootstrap
    adv0, _ = egae(values, torch.zeros(3), torch.tensor([3, 3, 1]), torch.ones(3, dtype=bool),
                   1.0, 0.95)
    assert math.isclose(float(adv0[1, 2]), -0.7, abs_tol=1e-6)


def test_egae_with_lambda_one_is_reward_or_bootstrap_minus_value():
    values = torch.rand(4, 7)
    lengths = torch.tensor([6, 3, 1, 5])
    term = torch.tensor([True, False, True, False])
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0])
    adv, _ = egae(values, rewards, lengths, term, 1.0, 1.0)
    end = torch.where(term, rewards, values.gather(1, lengths[:, None]).squeeze(1))
    inside = torch.arange(6)[None, :] < lengths[:, None]
    assert torch.allclose(adv[inside], (end[:, None] - values[:, :6])[inside], atol=1e-6)
    assert bool((adv[~inside] == 0).all())


def test_the_critic_never_sees_cut_rows():
    values = torch.rand(3, 5, requires_grad=True)
    mask = torch.ones(3, 5, dtype=torch.bool)
    finished = torch.tensor([True, False, True])
    rewards = torch.tensor([1.0, 0.0, 0.0])
    loss = value_loss(values, rewards, mask, finished)
    (grad,) = torch.autograd.grad(loss, values)
    # change the cut row's values and reward: same loss, same gradient, none on the cut row
    other = values.detach().clone()
    other[1] = 7.0
    other.requires_grad_(True)
    loss2 = value_loss(other, torch.tensor([1.0, 5.0, 0.0]), mask, finished)
    (grad2,) = torch.autograd.grad(loss2, other)
    assert torch.equal(loss, loss2) and torch.equal(grad, grad2)
    assert bool((grad[1] == 0).all()) and bool((grad[0] != 0).all())
    hand = 0.5 * (((values[0] - 1) ** 2).sum() + (values[2] ** 2).sum()) / 10
    assert torch.allclose(loss, hand)


def test_value_model_reads_the_state_before_each_token():
    algo = PPOLM(SMALL)
    batch = algo.draw()[0]
    s = batch.samples
    v = algo.critic(s)
    assert v.shape == (len(s.completion_ids), s.completion_ids.shape[1] + 1)
    # V(s_t) depends on tokens < t only: changing token t leaves V(s_0..s_t) alone
    ids = s.completion_ids.clone()
    ids[:, 3] = (ids[:, 3] + 1) % algo.model.config.vocab_size
    other = Samples(s.prompt_ids, s.prompt_mask, ids, s.completion_mask, s.tool_mask,
                    s.logprobs, s.entropies, s.ended)
    algo.critic.head.weight.data.normal_()
    v, v2 = algo.critic(s), algo.critic(other)
    assert torch.allclose(v[:, :4], v2[:, :4], atol=1e-5)
    assert not torch.allclose(v[:, 4:], v2[:, 4:])
    assert isinstance(algo.critic, ValueModel)
    assert algo.critic.gpt is not algo.model


def test_ppo_lm_trains_counts_generation_steps_and_is_reproducible():
    runs = [PPOLM(SMALL.replace(seed=s)) for s in (0, 0, 1)]
    histories = [train(a, 2, progress=False) for a in runs]
    h = histories[0]
    assert h.status == "finished", h.message
    assert all(math.isfinite(v) for r in h.records for v in r.values())
    steps = runs[0].occupancy_matrix().shape[1]
    assert runs[0].global_step == steps == len(runs[0].utilisation) and steps <= 2 * 64
    assert 0 < h.last("slot_utilisation") <= 1 and h.last("completions") == 16
    assert "losses/value_loss" in h.records[-1]
    same = [{k: v for k, v in r.items() if not k.startswith("time")} for r in h.records]
    assert same == [{k: v for k, v in r.items() if not k.startswith("time")}
                    for r in histories[1].records]
    assert [r.get("loss") for r in h.records] != [r.get("loss") for r in histories[2].records]


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="prefix_grouper"):
        PPOLMConfig(prefix_grouper=True).validate()
    with pytest.raises(ValueError, match="lambda_policy"):
        PPOLMConfig(lambda_policy=1.5).validate()
    with pytest.raises(ValueError, match="critic_learning_rate"):
        PPOLMConfig(critic_learning_rate=0.0).validate()
