"""HAPO, heterogeneous (card 11): the entropy score, the adaptive temperature, the token-level
group average, the clip ranges and branches by hand; the reduction to DAPO-lite; the
mechanism; bad input; the exercise's checker."""

import math

import pytest
import torch

from polab.algos.group.grpo import GRPO
from polab.algos.group.losses import clipped_surrogate_loss
from polab.algos.token_control.exercises.hapo import EXERCISE_ENTROPIES, check_h_hat
from polab.algos.token_control.hapo import (
    HAPO,
    HAPOConfig,
    adaptive_clip_ranges,
    adaptive_temperature,
    dapo_lite,
    entropy_statistics,
    h_hat,
    normalized_entropy,
    redistribute_advantages,
    token_group_advantages,
)

TINY = dict(generation_batch_size=32, eval_every=0, num_iterations=2)


def close(a, b, tol=1e-6):
    assert torch.allclose(torch.as_tensor(a, dtype=torch.float32),
                          torch.as_tensor(b, dtype=torch.float32), atol=tol), (a, b)


# --- hand cases ----------------------------------------------------------------------------

def test_h_hat_on_a_hand_list():
    """log-entropies -3..1: the 0.8 quantile (nearest rank 3.2 -> 3) is e = 0, std =
    sqrt(mean(e^2)) = sqrt(3); h = e / sqrt(3), each side scaled by its own extreme."""
    e = torch.tensor([[-3.0, -2.0, -1.0, 0.0, 1.0, 5.0]])
    mask = torch.tensor([[True] * 5 + [False]])  # the masked token changes no statistic
    h, stats = normalized_entropy(e.exp(), mask, pivot=0.8)
    close(stats, [0.0, math.sqrt(3.0), math.sqrt(3.0), math.sqrt(3.0) / 3.0], tol=1e-5)
    close(h[0, :5], [-1.0, -2 / 3, -1 / 3, 0.0, 1.0], tol=1e-5)
    close(h[0, 5], 1.0)  # beyond the batch's extreme: clamped
    # the sampler applies the stored statistics to new entropies
    close(h_hat(torch.tensor([math.exp(0.5), math.exp(-1.5), 1e-12]), stats),
          [0.5, -0.5, -1.0], tol=1e-5)


def test_as_code_low_side_is_positive():
    """The authors' compute_entropy_h divides the low side by min(h) itself: ĥ >= 0."""
    e = torch.tensor([-3.0, -2.0, -1.0, 0.0, 1.0])
    h, _ = normalized_entropy(e.exp(), torch.ones(5, dtype=torch.bool), 0.8, "as_code")
    close(h, [1.0, 2 / 3, 1 / 3, 0.0, 1.0], tol=1e-5)


def test_pivot_moves_the_zero():
    e = torch.tensor([-3.0, -2.0, -1.0, 0.0, 1.0])
    h, _ = normalized_entropy(e.exp(), torch.ones(5, dtype=torch.bool), pivot=0.5)
    close(h, [-1.0, -0.5, 0.0, 0.5, 1.0], tol=1e-5)


def test_adaptive_temperature():
    h = torch.tensor([-1.0, 0.0, 0.5, 1.0])
    close(adaptive_temperature(h, 1.0, 0.05), [0.95, 1.0, 1.025, 1.05])
    assert torch.equal(adaptive_temperature(h, 0.7, 0.0), torch.full((4,), 0.7))


def test_token_level_group_average_by_hand_and_its_fallback():
    """Group 1: R = (1, 0, 0, 0), L = (10, 30, 30, 30): μ = 10/100 = 0.1,
    σ² = (10·0.81 + 90·0.01)/100 = 0.09, A = (3, -1/3, -1/3, -1/3) (GRPO: 1.5, -0.5, ...).
    Group 2: L = (1, 100, 100, 100): the right answer's A ≈ 17 ≥ 5, so GRPO's are used."""
    rewards = torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0])
    lengths = torch.tensor([10, 30, 30, 30, 1, 100, 100, 100])
    grpo = torch.tensor([1.5, -0.5, -0.5, -0.5, 1.5, -0.5, -0.5, -0.5])
    adv, fell_back = token_group_advantages(rewards, lengths, 4, grpo)
    close(adv[:4], [0.9 / (0.3 + 1e-6), -0.1 / (0.3 + 1e-6), -0.1 / (0.3 + 1e-6),
                    -0.1 / (0.3 + 1e-6)], tol=1e-5)
    assert fell_back.tolist() == [False, True]
    assert torch.equal(adv[4:], grpo[4:])
    # equal lengths: the token-level statistic is GRPO's with the population std
    adv_eq, _ = token_group_advantages(rewards[:4], torch.full((4,), 7), 4, grpo[:4])
    close(adv_eq, (rewards[:4] - 0.25) / (rewards[:4].std(unbiased=False) + 1e-6))


def test_clip_ranges_and_branches_by_hand():
    h = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    low, high = adaptive_clip_ranges(h, 0.2, 0.2, alpha=1.0)
    close(low, [0.4, 0.3, 0.2, 0.2, 0.2])
    close(high, [0.2, 0.2, 0.2, 0.3, 0.4])
    low0, high0 = adaptive_clip_ranges(h, 0.2, 0.28, alpha=0.0)
    assert torch.equal(low0, torch.full((5,), 0.2)) and torch.equal(high0, torch.full((5,), 0.28))
    # h = 1: zone (0.9, 1.2); h = -1: zone (0.8, 1.1); h = 0 counts as low entropy
    h = torch.tensor([[1.0, 1.0, -1.0, -1.0, 0.0]])
    ratio = torch.tensor([[1.1, 1.3, 1.0, 0.7, 1.0]])
    low, high = adaptive_clip_ranges(h, 0.2, 0.2, alpha=1.0)
    adv, branch = redistribute_advantages(torch.tensor([2.0]), h, ratio, low, high, beta=1.0)
    close(adv, [[2.0, 4.0, 0.0, 2.0, 2.0]])
    assert branch.tolist() == [[0, 1, 2, 3, 2]]
    adv, _ = redistribute_advantages(torch.tensor([2.0]), h, ratio, low, high, beta=0.5)
    close(adv, [[2.0, 3.0, 1.0, 2.0, 2.0]])


def test_wider_lower_clip_keeps_pushing_a_confident_token_down():
    """The mechanism: a low-entropy token (ĥ = -1) with A < 0 whose ratio fell to 0.7 is clipped
    by DAPO's 0.2 (no gradient) but still pushed down with HAPO's 0.2·(1+1) = 0.4."""
    logp = torch.log(torch.tensor([[0.7]])).requires_grad_()
    adv, mask, h = torch.tensor([-1.0]), torch.ones(1, 1, dtype=torch.bool), torch.tensor([[-1.0]])
    for alpha, moves in ((1.0, True), (0.0, False)):
        low, high = adaptive_clip_ranges(h, 0.2, 0.2, alpha)
        out = clipped_surrogate_loss(logp, torch.zeros(1, 1), adv, mask, epsilon=low,
                                     epsilon_high=high)
        (grad,) = torch.autograd.grad(out["loss"], logp)
        assert (grad.abs() > 0).item() == moves


# --- the trainer ---------------------------------------------------------------------------

def test_reduction_to_dapo_lite_loss_and_parameters():
    """τ = α = β = 0, adv_norm='sequence', no dual clip, DAPO-lite's clips: the same losses and
    the same parameters after 2 iterations, same seed."""
    hapo_cfg = HAPOConfig(seed=3, temperature_tau=0.0, clip_alpha=0.0, adv_beta=0.0,
                          adv_norm="sequence", dual_clip_c=0.0, epsilon_high=0.28, **TINY)
    hapo = HAPO(hapo_cfg, "addition-scratch")
    dapo = GRPO(dapo_lite(hapo_cfg), "addition-scratch")
    for _ in range(2):
        mh, md = hapo.step(), dapo.step()
        assert mh["loss"] == md["loss"] and mh["loss_policy"] == md["loss_policy"]
    for (name, p), q in zip(hapo.model.named_parameters(), dapo.model.parameters(), strict=True):
        assert torch.equal(p, q), name
    # and any one component on moves it away
    moved = HAPO(hapo_cfg.replace(clip_alpha=1.0), "addition-scratch")
    moved.step()
    moved.step()
    assert any(not torch.equal(p, q) for p, q in zip(moved.model.parameters(),
                                                     dapo.model.parameters(), strict=True))


def test_sampler_uses_last_batch_statistics_and_checkpoints_them():
    algo = HAPO(HAPOConfig(seed=0, **TINY), "addition-scratch")
    assert algo.entropy_stats.numel() == 0
    m0 = algo.step()  # no statistics yet: fixed temperature
    assert m0["temp/abs_dev"] == 0.0 and algo.last_batch.samples.temperatures is None
    stats = algo.entropy_stats.clone()
    assert stats.shape == (4,)
    s = algo.last_batch.samples
    close(stats, entropy_statistics(s.entropies, s.loss_mask, 0.8))
    m1 = algo.step()
    temps = algo.last_batch.samples.temperatures[algo.last_batch.samples.loss_mask]
    assert 0 < m1["temp/abs_dev"] <= 0.05 + 1e-6
    assert temps.min() >= 0.95 - 1e-6 and temps.max() <= 1.05 + 1e-6
    assert m1["logprob_mismatch"] < 1e-4  # the trainer scores at the base temperature
    assert {"hapo/clip_frac_high_entropy", "hapo/clip_frac_low_entropy", "hapo/branch_1",
            "clip_ratio/dual_mean"} <= set(m1)
    from polab.plots.token_control.hapo import h_hat_token_html
    page = h_hat_token_html(algo.last_batch, algo.tokenizer, algo.entropy_stats, [0, 1])
    assert "ĥ (entropy score)" in page and "mean T_t" in page
    state = algo.state_dict()
    other = HAPO(HAPOConfig(seed=1, **TINY), "addition-scratch")
    other.load_state_dict(state)
    assert torch.equal(other.entropy_stats, algo.entropy_stats)


@pytest.mark.parametrize("changes, field", [
    ({"dual_clip_c": 0.5}, "dual_clip_c"), ({"adv_norm": "group"}, "adv_norm"),
    ({"low_entropy_sign": "positive"}, "low_entropy_sign"),
    ({"entropy_pivot": 1.5}, "entropy_pivot"), ({"temperature_tau": -0.1}, "temperature_tau"),
    ({"clip_alpha": 3.0}, "clip_alpha"), ({"adv_beta": -1.0}, "adv_beta"),
    ({"importance_sampling_level": "sequence", "loss_type": "grpo"},
     "importance_sampling_level"),
])
def test_bad_input_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        HAPOConfig(**changes).validate()
    with pytest.raises(ValueError, match="at least one token"):
        entropy_statistics(torch.ones(2, 2), torch.zeros(2, 2, dtype=torch.bool), 0.8)


# --- exercise ------------------------------------------------------------------------------

def test_exercise_checker_on_a_right_and_a_wrong_answer():
    right = normalized_entropy(torch.tensor(EXERCISE_ENTROPIES),
                               torch.ones(len(EXERCISE_ENTROPIES), dtype=torch.bool), 0.8)[0]
    ok = check_h_hat([round(float(x), 3) for x in right])
    assert ok.ok, ok.message
    bad = check_h_hat([abs(round(float(x), 3)) for x in right])  # the low side's sign lost
    assert not bad.ok and "sign" in bad.message
    assert not check_h_hat([0.0] * 3).ok


def test_figures_show_the_branches_and_the_temperatures():
    from polab.plots.token_control.hapo import branch_scatter, h_hat_temperature_histograms

    view = {"ratio": torch.tensor([1.0, 1.5, 0.99, 0.5]),
            "h_hat": torch.tensor([0.5, 0.5, -0.5, -0.5]), "branch": torch.tensor([0, 1, 2, 3])}
    fig = branch_scatter(view)
    assert [len(t.x) for t in fig.data[:4]] == [1, 1, 1, 1]
    assert fig.data[4].name == "neutral zone" and min(fig.data[4].x) == pytest.approx(0.8)
    hist = h_hat_temperature_histograms(view["h_hat"], None, 0.7)
    assert set(hist.data[1].x) == {0.7}
