"""The GRPO-family loss, its four aggregations, the shared config and the presets.

The hand batch: two completions of different lengths (3 tokens and 1 token, then padding),
advantages +1 and -1, per-token ratios w = [1.5, 1.0, 0.5] and [0.5]. With ε = 0.2:

    token (0,0): w=1.5, A=+1 → -min(1.5, 1.2)  = -1.2   (clipped high)
    token (0,1): w=1.0, A=+1 → -min(1.0, 1.0)  = -1.0
    token (0,2): w=0.5, A=+1 → -min(0.5, 0.8)  = -0.5   (low ratio, A>0: not clipped)
    token (1,0): w=0.5, A=-1 → -min(-0.5, -0.8) = 0.8   (clipped low)

Every expected value is written out with plain arithmetic, never computed by the code under
test.
"""

import math

import pytest
import torch

from polab.algos.group.losses import (
    GroupConfig,
    aggregate,
    clipped_surrogate_loss,
    loop_clip_epsilons,
    mask_truncated,
)
from polab.algos.group.presets import GROUP_KNOBS, PRESETS, preset_table

MASK = torch.tensor([[True, True, True], [True, False, False]])
OLD = torch.tensor([[-1.0, -2.0, -0.5], [-1.5, -3.0, -3.0]])
RATIOS = torch.tensor([[1.5, 1.0, 0.5], [0.5, 3.0, 3.0]])  # padding ratios must not matter
ADV = torch.tensor([1.0, -1.0])
TOKENS = [-1.2, -1.0, -0.5, 0.8]  # per-token losses of the four active tokens


def batch(requires_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    logp = (OLD + RATIOS.log()).clone().requires_grad_(requires_grad)
    return logp, OLD.clone()


def loss(**kw) -> dict[str, torch.Tensor]:
    logp, old = batch()
    return clipped_surrogate_loss(logp, old, ADV, MASK, **kw)


def close(actual: torch.Tensor, expected, tol: float = 1e-6) -> None:
    torch.testing.assert_close(actual.detach(), torch.tensor(expected, dtype=actual.dtype),
                               atol=tol, rtol=0)


# --- loss_type ------------------------------------------------------------------------------

def test_grpo_means_each_sequence_then_the_batch():
    close(loss(loss_type="grpo")["loss"], ((-1.2 - 1.0 - 0.5) / 3 + 0.8) / 2)


def test_bnpo_divides_by_the_active_tokens():
    close(loss(loss_type="bnpo")["loss"], sum(TOKENS) / 4)


def test_dr_grpo_divides_by_batch_times_max_completion_length():
    close(loss(loss_type="dr_grpo", max_completion_length=4)["loss"], sum(TOKENS) / (2 * 4))


def test_dapo_uses_the_global_token_count_or_the_local_one():
    close(loss(loss_type="dapo")["loss"], sum(TOKENS) / 4)
    close(loss(loss_type="dapo", normalizer=10)["loss"], sum(TOKENS) / 10)


def test_aggregate_on_an_empty_row_and_errors():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    close(aggregate(per_token, mask, "grpo"), (1.5 + 0.0) / 2)  # TRL: empty rows count in B
    close(aggregate(per_token, mask, "bnpo"), 3.0 / 2)
    close(aggregate(per_token, mask, "dr_grpo", max_completion_length=3), 3.0 / 6)
    close(aggregate(per_token, mask, "dapo", normalizer=6.0), 0.5)
    with pytest.raises(ValueError, match="max_completion_length"):
        aggregate(per_token, mask, "dr_grpo")
    with pytest.raises(ValueError, match="loss_type"):
        aggregate(per_token, mask, "token_mean")


# --- clipping ---------------------------------------------------------------------------------

def test_clip_ratios_count_each_side():
    out = loss(loss_type="bnpo")
    close(out["clip_ratio/low_mean"], 1 / 4)
    close(out["clip_ratio/high_mean"], 1 / 4)
    close(out["clip_ratio/region_mean"], 2 / 4)
    w = [1.5, 1.0, 0.5, 0.5]
    close(out["approx_kl"], sum((x - 1) - math.log(x) for x in w) / 4)


def test_asymmetric_clip_higher():
    out = loss(loss_type="bnpo", epsilon=0.2, epsilon_high=0.6)  # 1.5 < 1.6: no longer clipped
    close(out["loss"], (-1.5 - 1.0 - 0.5 + 0.8) / 4)
    close(out["clip_ratio/high_mean"], 0.0)
    close(out["clip_ratio/low_mean"], 1 / 4)


def test_per_token_clip_ranges():
    eps = torch.tensor([[0.2, 0.2, 0.2], [0.6, 0.6, 0.6]])  # token (1,0): bound 0.4 < 0.5
    out = loss(loss_type="bnpo", epsilon=eps)
    close(out["loss"], (-1.2 - 1.0 - 0.5 + 0.5) / 4)
    close(out["clip_ratio/low_mean"], 0.0)


def test_dual_clip_bounds_negative_advantage_tokens():
    """Dual clip (verl's clip_ratio_c, HAPO card 11): for A < 0, L = min(L, -A c). Ratios 12
    and 2 with A = -1 and ε = 0.2: the PPO loss is w A's negative, 12 and 2; with c = 10 the
    first becomes 10 and the second stays 2; with A > 0 nothing changes."""
    logp = torch.log(torch.tensor([[12.0, 2.0, 12.0]])).requires_grad_()
    old = torch.zeros(1, 3)
    adv = torch.tensor([[-1.0, -1.0, 1.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    plain = clipped_surrogate_loss(logp, old, adv, mask, loss_type="bnpo")
    close(plain["loss"], (12.0 + 2.0 - 1.2) / 3)
    out = clipped_surrogate_loss(logp, old, adv, mask, loss_type="bnpo", dual_clip=10.0)
    close(out["loss"], (10.0 + 2.0 - 1.2) / 3)
    close(out["clip_ratio/dual_mean"], 1 / 3)
    out["loss"].backward()
    assert logp.grad[0, 0] == 0.0 and logp.grad[0, 1] != 0.0  # the capped token stops pushing
    assert "clip_ratio/dual_mean" not in plain
    with pytest.raises(ValueError, match="dual_clip"):
        clipped_surrogate_loss(logp, old, adv, mask, dual_clip=1.0)


def test_loop_clip_interval_is_one_over_one_plus_eps():
    low, high = loop_clip_epsilons(0.1)
    close(torch.tensor(1 - low), 1 / 1.1, tol=1e-12)
    out = loss(loss_type="bnpo", epsilon=low, epsilon_high=high)
    close(out["loss"], (-1.1 - 1.0 - 0.5 + 1 / 1.1) / 4)


def test_per_token_advantages():
    adv = torch.tensor([[1.0, 1.0, -1.0], [-1.0, 0.0, 0.0]])  # token (0,2) now pushes down
    logp, old = batch()
    out = clipped_surrogate_loss(logp, old, adv, MASK, loss_type="bnpo")
    close(out["loss"], (-1.2 - 1.0 + 0.8 + 0.8) / 4)
    close(out["clip_ratio/low_mean"], 2 / 4)


# --- importance sampling level ---------------------------------------------------------------

def test_sequence_level_ratio_is_the_geometric_mean_gspo():
    s0 = 0.75 ** (1 / 3)  # exp(mean(log 1.5, log 1, log 0.5)), inside [0.8, 1.2]
    out = loss(loss_type="grpo", importance_sampling_level="sequence")
    close(out["loss"], (-s0 + 0.8) / 2)
    out = loss(loss_type="bnpo", importance_sampling_level="sequence")
    close(out["loss"], (-3 * s0 + 0.8) / 4)
    close(out["clip_ratio/low_mean"], 1 / 2)  # shares of sequences
    close(out["clip_ratio/high_mean"], 0.0)


def test_trajectory_level_ratio_is_the_product_loop():
    out = loss(loss_type="grpo", importance_sampling_level="trajectory")
    close(out["loss"], (-0.75 + 0.8) / 2)  # w0 = 1.5·1·0.5 = 0.75 (< 0.8 but A > 0)


def test_sequence_level_gradient_spreads_over_the_sequence():
    logp, old = batch()
    clipped_surrogate_loss(logp, old, ADV, MASK, loss_type="grpo",
                           importance_sampling_level="sequence")["loss"].backward()
    s0 = 0.75 ** (1 / 3)
    close(logp.grad, [[-s0 / 6] * 3, [0.0, 0.0, 0.0]])  # seq 1 is clipped


# --- KL, entropy, gradients ----------------------------------------------------------------

def test_k3_kl_to_the_reference():
    d = torch.tensor([[math.log(2), 0.0, -math.log(2)], [math.log(3), 7.0, 7.0]])
    logp, old = batch()
    k3 = [1 - math.log(2), 0.0, math.log(2) - 0.5, 2 - math.log(3)]
    out = clipped_surrogate_loss(logp, old, ADV, MASK, loss_type="bnpo", beta=0.1,
                                 ref_logp=logp.detach() + d)
    close(out["kl"], sum(k3) / 4)
    close(out["loss_kl"], 0.1 * sum(k3) / 4)
    close(out["loss"], sum(TOKENS) / 4 + 0.1 * sum(k3) / 4)
    out["loss"].backward()
    # unclipped tokens: -A·w/4; KL: β (1 - e^d)/4
    kl_grad = [0.1 * (1 - 2) / 4, 0.0, 0.1 * (1 - 0.5) / 4, 0.1 * (1 - 3) / 4]
    close(logp.grad, [[kl_grad[0], -1.0 / 4, -0.5 / 4 + kl_grad[2]], [kl_grad[3], 0.0, 0.0]])
    with pytest.raises(ValueError, match="ref_logp"):
        loss(beta=0.1)


def test_entropy_bonus():
    entropy = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]])
    out = loss(loss_type="bnpo", entropy=entropy, entropy_coef=0.01)
    close(out["entropy"], 2.5)
    close(out["loss_entropy"], 2.5)
    close(out["loss"], sum(TOKENS) / 4 - 0.01 * 2.5)


def test_gradients_flow_only_through_logp():
    logp, old = batch()
    old.requires_grad_(True)
    ref = (logp.detach() + 0.1).requires_grad_(True)
    adv = ADV.clone().requires_grad_(True)
    out = clipped_surrogate_loss(logp, old, adv, MASK, loss_type="bnpo", beta=0.5, ref_logp=ref)
    out["loss"].backward()
    assert old.grad is None and ref.grad is None and adv.grad is None
    assert logp.grad is not None and logp.grad[~MASK].eq(0).all()
    for key, value in out.items():
        assert value.requires_grad == key.startswith("loss"), key


def test_garbage_in_padding_changes_nothing():
    logp, old = batch()
    bad_logp = torch.where(MASK, logp.detach(), -math.inf).requires_grad_(True)
    bad_old = torch.where(MASK, old, math.nan)
    ref = torch.where(MASK, old, math.inf)
    out = clipped_surrogate_loss(bad_logp, bad_old, ADV, MASK, loss_type="grpo", beta=0.1,
                                 ref_logp=ref, entropy=torch.where(MASK, 1.0, math.nan))
    out["loss"].backward()
    assert all(torch.isfinite(v).all() for v in out.values())
    assert torch.isfinite(bad_logp.grad).all() and bad_logp.grad[~MASK].eq(0).all()


def test_mask_truncated_drops_whole_completions():
    out = mask_truncated(MASK, torch.tensor([True, False]))
    assert out.tolist() == [[False] * 3, [True, False, False]]


# --- config and presets ----------------------------------------------------------------------

def test_group_config_rules():
    cfg = GroupConfig().validate()
    assert cfg.num_prompts == 512 // 8
    assert any("epsilon_high" in p for p in cfg.replace(epsilon_high=0.1).problems())
    assert any("multiple of num_generations" in p
               for p in cfg.replace(generation_batch_size=100).problems())
    assert any("leave_one_out" in p for p in cfg.replace(baseline="leave_one_out",
                                                         num_generations=1).problems())
    assert cfg.replace(loss_type="token_mean").problems()


def test_presets_cite_their_source_and_set_every_group_knob():
    for preset in PRESETS.values():
        assert preset.source and all(s.where for s in preset.settings)
        assert sorted(preset.as_dict()) == sorted(GROUP_KNOBS), preset.name
        preset.apply(GroupConfig())
    dapo = PRESETS["DAPO"].apply(GroupConfig())
    assert (dapo.loss_type, dapo.epsilon, dapo.epsilon_high, dapo.beta,
            dapo.mask_truncated_completions) == ("dapo", 0.2, 0.28, 0.0, True)
    assert PRESETS["GRPO"].apply(dapo) == PRESETS["GRPO"].apply(GroupConfig())
    assert [row["preset"] for row in preset_table()] == ["GRPO", "Dr.GRPO", "DAPO", "GSPO",
                                                         "RLOO"]
