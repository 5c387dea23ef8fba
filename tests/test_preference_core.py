"""Chapter 08's core: the pair losses on hand-computed cases (card 30's DPO/IPO/APO, card 16's
INPO anchor) and the round trainer on a two-response toy testbed."""

import math

import pytest
import torch

from polab.algos.preference.losses import (
    dpo_loss,
    dpo_metrics,
    extrapolated_reference,
    geometric_reference,
    inpo_loss,
    ipo_loss,
    margin,
    pair_loss,
    sppo_loss,
)
from polab.algos.preference.trainer import PreferenceConfig, PreferenceTrainer, anchor_weights

# two pairs: policy and reference log-probs of chosen / rejected
LW, LL = torch.tensor([-1.0, -2.0]), torch.tensor([-2.0, -1.0])
RW, RL = torch.tensor([-1.5, -1.5]), torch.tensor([-1.5, -1.5])


def test_dpo_and_ipo_on_a_two_pair_batch():
    m = margin(LW, LL, RW, RL)  # (0.5 - -0.5, -0.5 - 0.5) = (1, -1)
    assert torch.allclose(m, torch.tensor([1.0, -1.0]))
    beta = 0.5
    expect = [math.log1p(math.exp(-0.5)), math.log1p(math.exp(0.5))]  # -log σ(±β)
    assert torch.allclose(dpo_loss(m, beta), torch.tensor(expect))
    assert dpo_loss(m, beta).mean().item() == pytest.approx((0.474077 + 0.974077) / 2, abs=1e-5)
    # IPO: (m - 1/(2β))² = (1 - 1)², (-1 - 1)²
    assert torch.allclose(ipo_loss(m, beta), torch.tensor([0.0, 4.0]))
    assert torch.allclose(pair_loss("ipo", LW, LL, RW, RL, beta, 1.0), torch.tensor([0.0, 4.0]))
    logs = dpo_metrics(LW, LL, RW, RL, beta)
    assert logs["rewards/chosen"] == pytest.approx(0.0)  # β·(0.5, -0.5) averaged
    assert logs["rewards/margins"] == pytest.approx(0.0)
    assert logs["rewards/accuracies"] == pytest.approx(0.5)


def test_inpo_is_ipo_with_beta_one_over_eta_and_sppo_hand_case():
    m = margin(LW, LL, RW, RL)
    assert torch.allclose(inpo_loss(m, eta=4.0), ipo_loss(m, beta=0.25))
    # SPPO, hard labels: (0.5 - η/2)² + (-0.5 + η/2)² with η = 2 -> 0.25 + 0.25
    assert torch.allclose(sppo_loss(LW - RW, LL - RL, eta=2.0)[0], torch.tensor(0.5))


def test_apo_reference_alpha_zero_and_normaliser_cancels():
    new, prev = torch.tensor([-0.2, -1.9]), torch.tensor([-0.7, -0.7])
    assert torch.equal(extrapolated_reference(new, prev, 0.0), new)
    ref = extrapolated_reference(new, prev, 0.5)  # 1.5·new - 0.5·prev
    assert torch.allclose(ref, torch.tensor([0.05, -2.5]))
    normalised = ref - torch.logsumexp(ref, 0)  # log Z per prompt: cancels in the margin
    assert torch.allclose(margin(LW[:1], LL[:1], ref[:1], ref[1:]),
                          margin(LW[:1], LL[:1], normalised[:1], normalised[1:]))
    assert torch.allclose(geometric_reference(new, prev, 0.0), prev)


class Toy:
    """One prompt, two responses; response 0 always wins (no noise)."""

    def initial_policy(self):
        return torch.zeros(1, 2)  # logits: the trainer makes a TabularPolicy

    def sample_prompts(self, n, generator):
        return torch.zeros(n, dtype=torch.long)

    def make_pairs(self, prompts, responses, generator):
        keep = responses[:, 0] != responses[:, 1]
        first_wins = responses[:, 0] < responses[:, 1]
        chosen = torch.where(first_wins, responses[:, 0], responses[:, 1])
        rejected = torch.where(first_wins, responses[:, 1], responses[:, 0])
        return prompts[keep], chosen[keep], rejected[keep]

    def metrics(self, policy, initial):
        return {"p_best": torch.softmax(policy.logits, -1)[0, 0].item()}


def run(**changes):
    cfg = PreferenceConfig(rounds=3, pairs_per_round=32, samples_per_prompt=2,
                           steps_per_round=20, **changes)
    algo = PreferenceTrainer(cfg, Toy(), device="cpu")
    return [algo.step() for _ in range(3)], algo


def test_trainer_moves_toward_the_winner_and_apo_alpha_zero_is_iterative_dpo():
    records, algo = run()
    assert records[-1]["p_best"] > records[0]["p_best"] > 0.5
    assert algo.global_step == sum(r["pairs"] for r in records)
    apo, _ = run(alpha=0.0, extrapolation="weight")
    assert [r["p_best"] for r in apo] == [r["p_best"] for r in records]
    fast, _ = run(alpha=0.9)
    assert fast[-1]["p_best"] > records[-1]["p_best"]  # momentum: further in three rounds


def test_anchor_weights_name_each_method():
    c = PreferenceConfig()
    assert anchor_weights(c, first_round=False) == {"start": 1.0}
    assert anchor_weights(c.replace(reference="initial", sampler="initial"), False) == {
        "initial": 1.0}
    assert anchor_weights(c.replace(alpha=0.5), False) == {"start": 1.5, "previous": -0.5}
    assert anchor_weights(c.replace(alpha=0.5), True) == {"start": 1.0}
    w = anchor_weights(c.replace(loss_type="inpo", eta=2.0, tau=0.25), False)
    assert w == pytest.approx({"initial": 0.5, "start": 0.5})


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="eta·tau must be < 1"):
        PreferenceConfig(loss_type="inpo", eta=5.0, tau=0.5).validate()
    with pytest.raises(ValueError, match="alpha > 0"):
        PreferenceConfig(alpha=0.5, reference="initial").validate()
    with pytest.raises(ValueError, match="label_noise"):
        PreferenceConfig(label_noise=0.7).validate()
    with pytest.raises(ValueError, match="loss_type"):
        PreferenceConfig(loss_type="kto").validate()
