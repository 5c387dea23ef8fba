"""LOOP's ablations (../shared/cards/14_loop.md; ml-loop ``conf/rl/params/default.yaml`` and
``RLOOTrainer._surrogate_loss``): each switch reduces LOOP to the baseline it is named after,
on hand-computed cases run through LOOP's own ``loss`` (its ``score`` hook replaced by a leaf
tensor of log-probs, so the gradient is read per token)."""

import math

import pytest
import torch
from test_grpo import params

from polab.algos.group.grpo import GroupBatch
from polab.algos.group.loop import (
    LOOP,
    LOOP_ABLATIONS,
    LOOPConfig,
    ablation_verdicts,
    pass_at_1_noise,
)
from polab.lm.generate import Samples, completion_logprobs
from polab.train import train

SMALL = LOOPConfig(generation_batch_size=32, num_generations=4, eval_every=0)


def hand_loss(config: LOOPConfig, logp: torch.Tensor, old: torch.Tensor, adv: torch.Tensor,
              mask: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """LOOP's loss terms on a hand batch whose current log-probs are ``logp``, and their
    gradient with respect to ``logp`` (B, T)."""
    b, t = old.shape
    samples = Samples(torch.zeros(b, 1, dtype=torch.long), torch.ones(b, 1, dtype=torch.bool),
                      torch.zeros(b, t, dtype=torch.long), mask, torch.zeros_like(mask), old,
                      torch.zeros(b, t), torch.ones(b, dtype=torch.bool))
    batch = GroupBatch(None, samples, torch.zeros(b), advantages=adv,
                       keep=torch.ones(b, dtype=torch.bool), mask=mask)
    algo = LOOP(config.replace(generation_batch_size=config.num_generations), "addition")
    leaf = logp.clone().requires_grad_(True)
    algo.score = lambda s: (leaf, torch.zeros_like(leaf))  # the hooks are plain methods
    terms = algo.loss(batch)
    terms["loss"].backward()
    return terms, leaf.grad


# --- no baseline: REINFORCE advantages A = R --------------------------------------------

def test_no_baseline_advantages_are_the_rewards():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    batch = GroupBatch(None, None, rewards)
    none = LOOP(SMALL.replace(baseline="none", generation_batch_size=8), "addition")
    assert torch.equal(none.compute_advantages(batch), rewards)
    # LOOP's default on the same rewards, by hand: 1 - 1/3, 0 - 2/3; the all-zero group is 0
    loop = LOOP(SMALL.replace(generation_batch_size=8), "addition")
    torch.testing.assert_close(loop.compute_advantages(batch), torch.tensor(
        [2 / 3, -2 / 3, -2 / 3, 2 / 3, 0.0, 0.0, 0.0, 0.0]))
    # leave-none-out (ml-loop's "leave_none_out") is polab's "group_mean": 1 - 1/2
    lno = LOOP(SMALL.replace(baseline="group_mean", generation_batch_size=8), "addition")
    torch.testing.assert_close(lno.compute_advantages(batch), torch.tensor(
        [0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0, 0.0]))


def test_no_baseline_rules():
    with pytest.raises(ValueError, match="raw rewards"):
        SMALL.replace(baseline="none", scale_rewards="group").validate()
    SMALL.replace(baseline="none").validate()


# --- no clipping: REINFORCE with the LOO baseline (RLOO), no importance ratio ----------------

# two rollouts of 2 and 3 output tokens, A = +1 and -1; the policy has moved since sampling:
# first-token log-ratios 0.3 (ratio 1.35 > 1.1: clipped for A > 0) and -0.3 (0.74 < 1/1.1)
MASK = torch.tensor([[True, True, False], [True, True, True]])
ADV = torch.tensor([1.0, -1.0])
OLD = torch.zeros(2, 3)
MOVED = torch.tensor([[0.3, 0.0, 0.0], [-0.3, 0.0, 0.0]])


def test_clipped_loop_stops_pushing_outside_the_interval():
    _, grad = hand_loss(LOOPConfig(), MOVED, OLD, ADV, MASK)
    assert grad[0, 0] == 0 and grad[1, 0] == 0
    assert grad[0, 1] == -1 / 4  # inside: -A·w / (|y| · B) with w = 1


def test_no_clipping_is_reinforce():
    terms, grad = hand_loss(LOOPConfig(ppo_clip=False), MOVED, OLD, ADV, MASK)
    # ml-loop, do_ppo_clipping: false: loss = -A · mean_t log π(y_t), averaged over the
    # minibatch: d/d log π(y_t) = -A / (|y| · B), whatever the ratio
    torch.testing.assert_close(grad, torch.tensor([[-1 / 4, -1 / 4, 0.0], [1 / 6, 1 / 6, 1 / 6]]))
    assert terms["clip_ratio/region_mean"] == 0
    # the policy's distance from the sampler is still logged (k3 of the token log-ratios)
    k3 = (math.expm1(0.3) - 0.3) + (math.expm1(-0.3) + 0.3)  # the other 3 tokens: 0
    assert float(terms["approx_kl"]) == pytest.approx(k3 / 5, rel=1e-5)


def test_no_clipping_equals_the_unclipped_surrogate_at_the_sampler_only():
    unclipped = LOOPConfig(epsilon=1.0, epsilon_high=1.0)  # w never under 0: A < 0 unclipped
    reinforce = hand_loss(LOOPConfig(ppo_clip=False), OLD, OLD, ADV, MASK)[1]
    at_sampler = hand_loss(unclipped, OLD, OLD, ADV, MASK)[1]
    torch.testing.assert_close(at_sampler, reinforce)  # first minibatch: w = 1 everywhere
    moved = hand_loss(unclipped, MOVED, OLD, ADV, MASK)[1]
    # after a step the importance-weighted surrogate weighs each token by w; REINFORCE does not
    assert moved[1, 0] == pytest.approx(math.exp(-0.3) / 6)


def test_no_clipping_rules():
    with pytest.raises(ValueError, match="importance_sampling_level='token'"):
        LOOPConfig(ppo_clip=False, importance_sampling_level="trajectory").validate()


def test_no_clipping_on_a_real_batch_is_reinforce():
    algo = LOOP(SMALL.replace(ppo_clip=False), "addition")
    before = params(algo)
    algo.step()  # 8 Adam steps: the policy has moved away from the one that sampled the batch
    assert not torch.equal(before, params(algo))
    batch = algo.last_batch.select(algo.last_batch.keep.nonzero().squeeze(1))
    algo.model.zero_grad()
    terms = algo.loss(batch)
    terms["loss"].backward()
    trainer = torch.cat([p.grad.flatten() for p in algo.model.parameters()])
    algo.model.zero_grad()
    logp, _ = completion_logprobs(algo.model, batch.samples, 1.0)
    m = batch.mask
    (-(torch.where(m, logp, 0.0).sum(1) / m.sum(1) * batch.advantages).mean()).backward()
    hand = torch.cat([p.grad.flatten() for p in algo.model.parameters()])
    torch.testing.assert_close(trainer, hand)
    assert terms["approx_kl"] > 0 and terms["logprob_mismatch"] > 0


# --- per-trajectory vs per-token normalisation ---------------------------------------------

def test_per_trajectory_normalisation_is_the_sequence_mean():
    # rollout 1 has 2 output tokens, rollout 2 has 4; w = 1
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    zeros = torch.zeros(2, 4)
    assert LOOPConfig().loss_type == "grpo"
    _, traj = hand_loss(LOOPConfig(), zeros, zeros, ADV, mask)
    # ml-loop pg_per_token: each rollout's loss.mean(), then / minibatch size: -A / (|y| · 2)
    torch.testing.assert_close(traj, torch.tensor(
        [[-1 / 4, -1 / 4, 0, 0], [1 / 8, 1 / 8, 1 / 8, 1 / 8]]))
    # the ablation: one mean over all 6 tokens of the minibatch (bnpo): -A / 6 on every token
    _, token = hand_loss(LOOPConfig(loss_type="bnpo"), zeros, zeros, ADV, mask)
    torch.testing.assert_close(token, torch.tensor(
        [[-1 / 6, -1 / 6, 0, 0], [1 / 6, 1 / 6, 1 / 6, 1 / 6]]))


def test_per_trajectory_ratio_is_ml_loops_pg_per_trajectory():
    # ml-loop: one ratio W = exp(Σ_t log-ratio) per rollout, loss = -min(W A, clip(W) A),
    # no mean over tokens; then the mean over the minibatch's rollouts
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    old = torch.zeros(2, 4)
    logp = torch.tensor([[0.05, 0.05, 0, 0], [-0.01, -0.01, -0.01, -0.01]])
    terms, _ = hand_loss(LOOPConfig(importance_sampling_level="trajectory"), logp, old, ADV, mask)
    w1, w2 = math.exp(0.1), math.exp(-0.04)  # 1.105 > 1.1: clipped; 0.961 inside [1/1.1, 1.1]
    assert float(terms["loss"].detach()) == pytest.approx((-min(w1, 1.1) + w2) / 2, rel=1e-6)


# --- the arms -------------------------------------------------------------------------------

def test_every_ablation_changes_one_field_and_trains():
    assert LOOP_ABLATIONS["LOOP"] == {}
    for name, changes in LOOP_ABLATIONS.items():
        config = SMALL.replace(**changes).validate()
        assert len(changes) <= 1, name
        if changes:
            assert train(LOOP(config, "addition"), 1, progress=False).status == "finished", name


def test_verdicts_by_hand():
    # one seed: 2 · sqrt(0.24 / 512) · sqrt(2) = 0.0613
    assert pass_at_1_noise(1) == pytest.approx(2 * (0.24 / 512) ** 0.5 * 2 ** 0.5)
    s = {"LOOP": {"pass@1": 0.40, "clipped": 0.05},
         "no baseline": {"pass@1": 0.41, "clipped": 0.05},
         "no clipping (RLOO)": {"pass@1": 0.30, "clipped": 0.0},
         "per-trajectory ratio": {"pass@1": 0.50, "clipped": 0.20},
         "per-token normalisation": {"pass@1": 0.39, "clipped": 0.05}}
    lines = ablation_verdicts(s, 1)
    assert lines[0].endswith("not reproduced (LOOP is behind)")
    assert "(4.0x) -> reproduced" in lines[1]
    assert lines[2].endswith("-> reproduced")
    assert "not shown (within noise" in lines[3]
    assert lines[4].endswith("agree")
