"""APO (card 30) on the preference bandit, trainer level: α = 0 is iterative DPO, the
extrapolated anchor's normaliser cancels, the extrapolation moves further; the registry's
variants; the figures; the exercise checker."""

import torch

from polab.algos.preference.exercises.apo import check_alpha_answer
from polab.algos.preference.losses import margin
from polab.algos.preference.trainer import PreferenceConfig, PreferenceTrainer, anchor_weights
from polab.plots.preference import bandit as plots
from polab.registry import get

SMALL = {"pairs_per_round": 256, "steps_per_round": 40, "seed": 2}


def run(rounds=3, **changes):
    algo = PreferenceTrainer(PreferenceConfig(rounds=rounds, **{**SMALL, **changes}), "bandit",
                             device="cpu")
    return [algo.step() for _ in range(rounds)], algo


def test_apo_alpha_zero_is_iterative_dpo_same_numbers():
    apo = get("apo-accel").make_config().replace(alpha=0.0, **SMALL)
    iterative = get("iterative-dpo").make_config().replace(**SMALL)
    assert apo == iterative
    a = PreferenceTrainer(apo, "bandit", device="cpu")
    b = PreferenceTrainer(iterative.replace(extrapolation="weight"), "bandit", device="cpu")
    assert [a.step() for _ in range(3)] == [b.step() for _ in range(3)]


def test_normalising_the_extrapolated_anchor_leaves_the_margin_unchanged():
    _, algo = run(rounds=2, alpha=0.5)
    weights = anchor_weights(algo.config, first_round=False)
    prompts = torch.arange(64).repeat_interleave(4)
    w, lo = torch.randint(0, 32, (2, 256), generator=torch.Generator().manual_seed(0))
    raw_w, raw_l = (algo.anchor_logp(weights, prompts, y) for y in (w, lo))
    table = torch.log_softmax((1.5 * algo.start.log_probs() - 0.5 * algo.previous.log_probs()
                               ), -1)  # the extrapolated *distribution*, normalised
    logp_w, logp_l = algo.policy.logp(prompts, w).detach(), algo.policy.logp(prompts, lo).detach()
    assert not torch.allclose(raw_w, table[prompts, w])  # unnormalised ...
    assert torch.allclose(margin(logp_w, logp_l, raw_w, raw_l),  # ... same margin
                          margin(logp_w, logp_l, table[prompts, w], table[prompts, lo]),
                          atol=1e-5)


def test_extrapolation_moves_further_than_iterative_dpo():
    slow, _ = run(alpha=0.0, label_noise=0.0)
    fast, _ = run(alpha=0.5, label_noise=0.0)
    assert fast[-1]["kl"] > slow[-1]["kl"] + 0.05
    assert slow[0] == fast[0]  # round 1 has no previous iterate: identical


def test_registry_variants_and_offline_dpo_keeps_the_initial_anchor():
    assert get("dpo").make_config().sampler == "initial"
    assert get("ipo").make_config().loss_type == "ipo"
    assert get("apo-accel").make_config().alpha == 0.5
    config = get("dpo").make_config().replace(**SMALL)
    algo = PreferenceTrainer(config, "bandit", device="cpu")
    records = [algo.step() for _ in range(2)]
    assert records[-1]["true_reward"] > records[0]["true_reward"] - 0.2
    assert anchor_weights(config, first_round=False) == {"initial": 1.0}


def test_figures_are_built_from_records_and_tables():
    records, algo = run(rounds=2, alpha=0.5)
    start = algo.testbed.metrics(algo.initial, algo.initial)
    fig = plots.trl_figure(records)
    assert len(fig.data) == 4 and list(fig.data[0].y) == [r["rewards/chosen"] for r in records]
    opt = algo.testbed.optimum()
    fig = plots.logratio_figure(opt, algo.initial.logits, algo.testbed.reward, 0.5)
    assert abs(fig.data[0].y - fig.data[0].x).max() < 1e-4  # the optimum sits on r* + c
    fig = plots.rounds_figure({"α = 0.5": [start, *records]}, best=algo.testbed.best_reward())
    assert len(fig.data) == 2
    iterates = torch.log_softmax(torch.tensor([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]]), -1)
    anchors = plots.look_ahead(iterates, 0.5)
    assert torch.allclose(anchors[0], 1.5 * iterates[1] - 0.5 * iterates[0])
    fig = plots.phase_figure(iterates, 0.5)
    assert len(fig.layout.annotations) == 2 and len(fig.data) == 3


def test_exercise_checker_on_a_right_and_a_wrong_answer():
    slow = [{"kl": 1.0, "true_reward": 1.2}]
    fast = [{"kl": 1.4, "true_reward": 1.1}]
    ok = check_alpha_answer(slow, fast, kl="further", reward="lower")
    assert ok.ok and "overshoot" in ok.message
    wrong = check_alpha_answer(slow, fast, kl="closer", reward="lower")
    assert not wrong.ok and "KL: further, not closer" in wrong.message
    assert not check_alpha_answer(slow, fast, kl="far", reward="lower").ok
    assert not check_alpha_answer([], fast, kl="further", reward="lower").ok
    tie = [{"kl": 1.4, "true_reward": 1.21}]
    assert check_alpha_answer(slow, tie, kl="further", reward="higher").ok
    assert "a tie" in check_alpha_answer(slow, tie, kl="further", reward="lower").message
