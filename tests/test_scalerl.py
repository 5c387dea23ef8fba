"""ScaleRL (card 24): the recipe's pure functions on hand cases, the bandit loop's mechanisms
(k = 0 on-policy, bf16 head, filters, compute), presets and bad input."""

import math

import pytest
import torch

from polab.algos.group.losses import aggregate, clipped_surrogate_loss
from polab.algos.group.scalerl import (
    PRESETS,
    VARIANTS,
    PromptPool,
    ScaleRL,
    ScaleRLConfig,
    cispo_loss,
    generator_copy,
    refresh_due,
    scalerl_advantages,
    scalerl_loss,
    variant_config,
    zero_variance_keep,
)
from polab.algos.group.scalerl_bandit import BanditPolicy, ScaleRLBandit
from polab.core.compute import lm_flops
from polab.envs.contextual_bandit import ContextualBandit
from polab.train import train

SMALL = dict(generation_batch_size=32, num_train_prompts=256, num_iterations=12)


def small(name="ScaleRL", **changes):
    return variant_config(name, **{**SMALL, **changes})


# --- CISPO vs PPO's clip -------------------------------------------------------------------


def test_cispo_keeps_the_gradient_pposclip_zeroes():
    """One token with ρ = 1.5 > 1 + ε_high (0.28) and A = +1: the clip has no gradient,
    CISPO's is −min(ρ, ε_max)·A = −1.5 on log π."""
    gen = torch.tensor([[math.log(0.2)]])
    mask = torch.ones(1, 1, dtype=torch.bool)
    adv = torch.tensor([1.0])
    logp = torch.tensor([[math.log(0.3)]], requires_grad=True)
    clipped_surrogate_loss(logp, gen, adv, mask, epsilon=0.2, epsilon_high=0.28)["loss"].backward()
    assert logp.grad.item() == 0.0
    logp.grad = None
    out = cispo_loss(logp, gen, adv, mask, eps_max=4.0, loss_type="dapo")
    out["loss"].backward()
    assert logp.grad.item() == pytest.approx(-1.5)
    assert out["is/truncated"].item() == 0.0
    logp.grad = None  # ε_max = 1.2 truncates the weight, the gradient stays
    out = cispo_loss(logp, gen, adv, mask, eps_max=1.2, loss_type="dapo")
    out["loss"].backward()
    assert logp.grad.item() == pytest.approx(-1.2)
    assert out["is/truncated"].item() == 1.0


def test_cispo_reduces_to_the_clip_on_policy():
    """Reduction: at ρ = 1 (on-policy, one update) CISPO and the clipped surrogate are both
    REINFORCE: same gradient."""
    torch.manual_seed(0)
    base = torch.randn(4, 3)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    adv = torch.tensor([1.0, -0.5, 0.3, -1.0])
    grads = []
    for surrogate in ("cispo", "clip"):
        logp = base.clone().requires_grad_(True)
        c = ScaleRLConfig(surrogate=surrogate, num_generations=2, generation_batch_size=4,
                          num_train_prompts=4, loss_type="prompt")
        scalerl_loss(logp, base, adv, mask, c)["loss"].backward()
        grads.append(logp.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_is_correction_off_sets_rho_to_one():
    logp = torch.tensor([[-1.0], [-2.0]], requires_grad=True)
    gen = torch.tensor([[-3.0], [-0.5]])
    mask = torch.ones(2, 1, dtype=torch.bool)
    adv = torch.tensor([1.0, 1.0])
    on = cispo_loss(logp, gen, adv, mask, eps_max=4.0, loss_type="dapo")
    off = cispo_loss(logp, gen, adv, mask, eps_max=4.0, loss_type="dapo", is_correction=False)
    assert off["is/rho_mean"].item() == 1.0
    assert on["is/rho_mean"].item() == pytest.approx((math.exp(2.0) + math.exp(-1.5)) / 2)
    on["loss"].backward()  # the weight in the gradient is capped: min(e², 4) = 4
    torch.testing.assert_close(logp.grad, torch.tensor([[-2.0], [-math.exp(-1.5) / 2]]))


# --- aggregation ---------------------------------------------------------------------------


def test_prompt_aggregation_on_unequal_groups():
    """Groups of G = 2: lengths (1, 3) and (1, 1), per-token values 1, 2 | 3, 4.
    prompt: (7/4 + 7/2) / 2 = 2.625; token: 14/6; sample: 2.5."""
    per_token = torch.tensor([[1.0] * 3, [2.0] * 3, [3.0] * 3, [4.0] * 3])
    mask = torch.tensor([[1, 0, 0], [1, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=torch.bool)
    assert aggregate(per_token, mask, "prompt", group_size=2).item() == pytest.approx(2.625)
    assert aggregate(per_token, mask, "dapo").item() == pytest.approx(14 / 6)
    assert aggregate(per_token, mask, "grpo").item() == pytest.approx(2.5)
    # a group without tokens (filtered) is left out of the mean over prompts
    empty = mask.clone()
    empty[2:] = False
    assert aggregate(per_token, empty, "prompt", group_size=2).item() == pytest.approx(1.75)
    with pytest.raises(ValueError, match="group_size"):
        aggregate(per_token, mask, "prompt", group_size=3)


# --- advantages and filters ----------------------------------------------------------------


def test_batch_std_normalisation_hand_case():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0])
    adv = scalerl_advantages(rewards, 2, "batch", eps=0.0)
    # centred (0.5, -0.5, 0, 0), unbiased std sqrt(0.5 / 3)
    torch.testing.assert_close(adv, torch.tensor([0.5, -0.5, 0.0, 0.0]) / math.sqrt(0.5 / 3))
    keep = zero_variance_keep(rewards, 2)
    adv = scalerl_advantages(rewards, 2, "batch", keep, eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([0.5, -0.5, 0.0, 0.0]) / math.sqrt(0.5))
    group = scalerl_advantages(rewards, 2, "group")  # GRPO's per-prompt std (+ 1e-4)
    torch.testing.assert_close(group, torch.tensor([0.5, -0.5, 0.0, 0.0]) / (math.sqrt(0.5)
                                                                          + 1e-4))


def test_zero_variance_filter_hand_case():
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    assert zero_variance_keep(rewards, 2).tolist() == [False, False, True, True, False, False]


def test_filtered_groups_are_not_trained_on():
    """Zero-variance filter on: trained tokens = tokens of the kept rows only (compute)."""
    algo = ScaleRL(small(off_policy_k=0), "bandit")
    record = algo.step()
    n = algo.n_params
    generated = record["completions/mean_length"] * 32
    assert record["compute/flops"] < lm_flops(n, generated, generated)
    assert record["frac_reward_zero_std"] > 0


def test_no_positive_resampling_hand_case():
    pool = PromptPool(4, threshold=0.9)
    pool.record(torch.tensor([0, 1]), torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0, 0, 0]]))
    assert pool.alive.tolist() == [False, True, True, True]
    # prompt 1: 1 of 4, then 35 of 36 -> 36/40 = 0.9 >= 0.9: removed for good
    pool.record(torch.tensor([1]), torch.tensor([[1.0] * 35 + [0.0]]))
    assert pool.alive.tolist() == [False, False, True, True]
    pool.record(torch.tensor([2]), torch.tensor([[0.0, 0.0]]))
    assert pool.alive.tolist() == [False, False, True, True]
    g = torch.Generator().manual_seed(0)
    assert sorted(pool.draw(4, g).tolist()) == [2, 3]
    off = PromptPool(2, active=False)
    off.record(torch.tensor([0]), torch.tensor([[1.0, 1.0]]))
    assert off.alive.all()


def test_curriculum_leaves_the_validation_split_alone():
    env = ContextualBandit(train_size=256)
    fresh = ContextualBandit(train_size=256)
    algo = ScaleRL(small(num_iterations=40, learning_rate=0.3), env)
    train(algo, 40, progress=False)
    assert not algo.pool.alive.all()  # some prompts left the pool
    assert torch.equal(env.eval_x, fresh.eval_x) and torch.equal(env.eval_best, fresh.eval_best)
    assert len(algo.pool.alive) == len(env.train_x)


# --- PipelineRL-k and the head's precision -------------------------------------------------


def test_refresh_schedule():
    assert [refresh_due(u, 0) for u in range(3)] == [True] * 3
    assert [refresh_due(u, 1) for u in range(3)] == [True] * 3
    assert [refresh_due(u, 4) for u in range(6)] == [True, False, False, False, True, False]


def test_k0_is_on_policy_number_for_number():
    """k = 0 samples from the trainer itself; k = 1 from a copy refreshed before every
    sample: the same numbers. k = 4 differs."""
    runs = {}
    for k in (0, 1, 4):
        algo = ScaleRL(small(off_policy_k=k), "bandit")
        assert (algo.gen is None) == (k == 0)
        runs[k] = train(algo, 12, progress=False)
    for key in ("compute/flops", "eval/pass_rate", "reward", "loss"):
        a, b = runs[0].column(key), runs[1].column(key)
        assert a.tolist() == pytest.approx(b.tolist(), nan_ok=True, rel=0, abs=0)
    assert runs[0].column("loss").tolist() != runs[4].column("loss").tolist()
    assert runs[1].last("is/rho_mean") == 1.0


def test_bf16_head_changes_generator_logprobs_fp32_does_not():
    torch.manual_seed(0)
    policy = BanditPolicy(8, 64)
    torch.nn.init.normal_(policy.head.weight, std=1.0)
    x = torch.randn(256, 8)
    exact = torch.log_softmax(policy(x), -1)
    bf16 = torch.log_softmax(generator_copy(policy, "head", fp32=False)(x), -1)
    fp32 = torch.log_softmax(generator_copy(policy, "head", fp32=True)(x), -1)
    assert torch.equal(fp32, exact)
    assert (bf16 - exact).abs().max() > 1e-3


def test_same_seed_same_numbers_and_the_bandit_learns():
    a = train(ScaleRL(small(num_iterations=30), "bandit"), 30, progress=False)
    b = train(ScaleRL(small(num_iterations=30), "bandit"), 30, progress=False)
    assert a.column("eval/pass_rate").tolist() == pytest.approx(
        b.column("eval/pass_rate").tolist(), nan_ok=True, rel=0, abs=0)
    assert a.last("eval/pass_rate") > 2 * a.records[0]["eval/pass_rate_start"]
    assert a.records[0]["eval/pass_rate_start"] == pytest.approx(1 / 64)


# --- presets, variants, bad input ----------------------------------------------------------


def test_preset_rows():
    s = PRESETS["ScaleRL"].as_dict()
    assert (s["surrogate"], s["loss_type"], s["scale_rewards"], s["off_policy_k"]) == (
        "cispo", "prompt", "batch", 8)
    assert s["zero_var_filter"] and s["no_positive_resample"] and s["lm_head_fp32"]
    d = PRESETS["DAPO-style"].as_dict()
    assert (d["surrogate"], d["epsilon"], d["epsilon_high"], d["loss_type"],
            d["scale_rewards"]) == ("clip", 0.2, 0.28, "dapo", "group")
    assert not d["zero_var_filter"] and not d["no_positive_resample"]
    assert all(s.where for p in PRESETS.values() for s in p.settings)
    assert variant_config("prompt-std").scale_rewards == "group"
    assert not variant_config("k8-no-IS").is_correction
    assert set(VARIANTS) >= {"ScaleRL", "DAPO", "k8-no-IS"}


@pytest.mark.parametrize(("changes", "field"), [
    ({"eps_max": 0.5}, "eps_max"), ({"off_policy_k": 9}, "off_policy_k"),
    ({"loss_type": "bnpo"}, "loss_type"), ({"num_train_prompts": 8}, "num_train_prompts"),
    ({"resample_threshold": 1.5}, "resample_threshold"),
    ({"dynamic_sampling": True}, "dynamic_sampling")])
def test_bad_config_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        ScaleRLConfig(**changes).validate()


def test_bad_testbed_input():
    with pytest.raises(ValueError, match="n_arms"):
        ContextualBandit(n_arms=1)
    with pytest.raises(ValueError, match="noise"):
        ContextualBandit(noise=2.0)
    with pytest.raises(ValueError, match="known testbeds"):
        ScaleRL(ScaleRLConfig(), "nope")
    with pytest.raises(ValueError, match="unknown ScaleRL variant"):
        variant_config("nope")
    with pytest.raises(ValueError, match="eps_max"):
        cispo_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1),
                   torch.ones(1, 1, dtype=torch.bool), eps_max=0.5)
    assert isinstance(ScaleRL(small(), "bandit"), ScaleRLBandit)
