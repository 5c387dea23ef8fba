"""The preference bandit (card 30's testbed d): exact metrics on a hand-made bandit, DPO's
exhaustive-pairs optimum π_ref·exp(r*/β)/Z, the oracle's pairs, bad input."""

import math

import pytest
import torch

from polab.algos.preference.losses import dpo_loss, margin
from polab.algos.preference.testbeds import make_testbed
from polab.algos.preference.trainer import PreferenceConfig, PreferenceTrainer
from polab.envs.preference.bandit import (
    PreferenceBandit,
    bandit_metrics,
    best_response,
    kl_optimum,
)


def expected_dpo_loss(logits, ref_logits, reward, beta):
    """DPO's loss in expectation over every ordered pair (y, y') of each prompt, weighted by
    π_ref(y)π_ref(y'), with the Bradley–Terry label probability σ(r*_y − r*_y') that y is
    the chosen one: Σ w·P(y ≻ y')·(−log σ(β·m(y, y')))."""
    logp, ref = torch.log_softmax(logits, -1), torch.log_softmax(ref_logits, -1)
    lw, ll = logp.unsqueeze(-1), logp.unsqueeze(-2)  # [x, y, y'] for chosen y, rejected y'
    rw, rl = ref.unsqueeze(-1), ref.unsqueeze(-2)
    m = margin(lw.expand(-1, -1, ll.shape[-1]), ll.expand(-1, lw.shape[-2], -1),
               rw.expand_as(lw.expand(-1, -1, ll.shape[-1])),
               rl.expand_as(ll.expand(-1, lw.shape[-2], -1)))
    label = torch.sigmoid(reward.unsqueeze(-1) - reward.unsqueeze(-2))
    weight = ref.exp().unsqueeze(-1) * ref.exp().unsqueeze(-2)
    return (weight * label * dpo_loss(m, beta)).sum((-1, -2)).mean()


def test_dpo_on_exhaustive_bt_pairs_reaches_the_kl_optimum():
    g = torch.Generator().manual_seed(3)
    reward, ref = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    beta = 0.7
    logits = ref.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([logits], lr=1, max_iter=500, tolerance_grad=1e-12,
                            tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = expected_dpo_loss(logits, ref, reward, beta)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    logratio = torch.log_softmax(logits.detach(), -1) - torch.log_softmax(ref, -1)
    residual = logratio - reward / beta
    spread = (residual - residual.mean(-1, keepdim=True)).abs().max()
    assert spread < 1e-3
    assert torch.allclose(torch.log_softmax(logits.detach(), -1), kl_optimum(ref, reward, beta),
                          atol=1e-3)


def test_metrics_on_a_hand_made_one_prompt_two_response_bandit():
    reward = torch.tensor([[1.0, -1.0]])
    initial = torch.zeros(1, 2)  # π_0 = (½, ½)
    logits = torch.tensor([[math.log(3.0), 0.0]])  # π = (¾, ¼)
    m = bandit_metrics(logits, initial, reward)
    assert m["true_reward"] == pytest.approx(0.75 - 0.25)
    s = 1 / (1 + math.exp(-2.0))  # σ(r_0 − r_1)
    win = 0.75 * (0.5 * 0.5 + 0.5 * s) + 0.25 * (0.5 * (1 - s) + 0.5 * 0.5)
    assert m["win_rate"] == pytest.approx(win)
    assert m["kl"] == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert m["entropy"] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert m["gap"] == pytest.approx(1.0 - 0.5)
    assert bandit_metrics(initial, initial, reward)["win_rate"] == pytest.approx(0.5)
    index, value = best_response(reward)
    assert index.tolist() == [0] and value.tolist() == [1.0]
    opt = kl_optimum(initial, reward, beta=0.5).exp()  # ∝ (e², e⁻²)
    assert opt[0, 0].item() == pytest.approx(1 / (1 + math.exp(-4.0)))


def test_pairs_are_best_vs_worst_with_bt_labels_and_flips_and_ties_dropped():
    bandit = PreferenceBandit(prompts=2, responses=3, label_noise=0.0)
    bandit.reward = torch.tensor([[5.0, 0.0, -5.0], [0.0, 1.0, 2.0]])  # σ(10) ≈ 1
    n = 4000
    prompts = torch.zeros(n, dtype=torch.long)
    responses = torch.tensor([[1, 0, 2, 1]]).expand(n, -1)
    g = torch.Generator().manual_seed(0)
    p, chosen, rejected = bandit.make_pairs(prompts, responses, g)
    assert (chosen == 0).float().mean() > 0.999 and set(rejected.tolist()) <= {0, 2}
    noisy = PreferenceBandit(prompts=2, responses=3, label_noise=0.2)
    noisy.reward = bandit.reward
    _, chosen, _ = noisy.make_pairs(prompts, responses, g)
    assert (chosen == 2).float().mean().item() == pytest.approx(0.2, abs=0.03)  # flips
    # prompt 1: best 2 vs worst 0, Δ = 2 → best chosen with σ(2) (no flips)
    _, chosen, _ = bandit.make_pairs(prompts + 1, torch.tensor([[0, 2]]).expand(n, -1), g)
    assert (chosen == 2).float().mean().item() == pytest.approx(1 / (1 + math.exp(-2)), abs=0.03)
    ties = torch.tensor([[1, 1], [0, 2]])
    p, chosen, rejected = bandit.make_pairs(torch.tensor([0, 0]), ties, g)
    assert p.tolist() == [0] and sorted([chosen.item(), rejected.item()]) == [0, 2]


def test_testbed_from_config_and_trainer_improves_the_true_reward():
    cfg = PreferenceConfig(rounds=2, pairs_per_round=256, steps_per_round=50, seed=1)
    bandit = make_testbed("bandit", cfg, torch.device("cpu"))
    assert bandit.reward.shape == (64, 32) and bandit.label_noise == 0.1
    again = make_testbed("bandit", cfg, torch.device("cpu"))
    assert torch.equal(bandit.reward, again.reward)  # the seed fixes the instance
    algo = PreferenceTrainer(cfg, "bandit", device="cpu")
    start = algo.testbed.metrics(algo.policy, algo.initial)
    assert start["kl"] == pytest.approx(0.0, abs=1e-6) and start["win_rate"] == pytest.approx(0.5)
    records = [algo.step() for _ in range(2)]
    assert records[-1]["true_reward"] > start["true_reward"] + 0.3
    assert records[-1]["win_rate"] > 0.55 and records[-1]["kl"] > 0
    twin = PreferenceTrainer(cfg, "bandit", device="cpu")
    assert [twin.step() for _ in range(2)] == records  # same seed, same numbers


@pytest.mark.parametrize("kwargs, name", [
    ({"prompts": 0}, "prompts"), ({"responses": 1}, "responses"),
    ({"responses": 2.5}, "responses"), ({"label_noise": 0.7}, "label_noise"),
    ({"beta": 0.0}, "beta"), ({"seed": -1}, "seed"),
])
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PreferenceBandit(**kwargs)
