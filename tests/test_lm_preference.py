"""The LM pairs testbed of chapter 08 (polab.lm.preference): graded score, oracle, backend."""

from __future__ import annotations

import math

import pytest
import torch

from polab.algos.preference.exercises.lm import check_label_rate, check_pairs
from polab.algos.preference.trainer import PreferenceConfig, PreferenceTrainer
from polab.lm.generate import completion_logprobs, generate
from polab.lm.preference import (
    LMPairs,
    best_worst_pairs,
    completion_mask,
    graded_score,
    oracle_accuracy,
)
from polab.lm.tokenizer import CharTokenizer
from polab.registry import env_fields

TOK = CharTokenizer()


@pytest.fixture(scope="module")
def testbed() -> LMPairs:
    torch.set_num_threads(1)
    return LMPairs(train_size=64, eval_size=32)


def completions(texts: list[str], width: int = 5) -> torch.Tensor:
    ids, _ = TOK.encode_batch(texts, add_bos=False, padding_side="right")
    return torch.nn.functional.pad(ids, (0, width - ids.shape[1]), value=TOK.pad_id)


def test_graded_score_hand_cases():
    texts = ["579<eos>", "578<eos>", "1579<eos>", "57<eos>", "079<eos>", "5+9<eos>", "57999",
             "<eos>", "1000<eos>", "999<eos>"]
    sums = torch.tensor([579] * 8 + [1000, 1000])
    got = graded_score(completions(texts), sums, TOK)
    want = [1, 2 / 3, 3 / 4, 0, 2 / 3, 0, 0, 0, 1, 0]
    assert got.tolist() == pytest.approx(want)


def test_graded_score_is_one_exactly_when_the_task_rewards(testbed):
    prompts = torch.arange(64)
    responses = testbed.initial_policy().sample(prompts, 4, torch.Generator().manual_seed(0))
    scores = testbed.score(prompts, responses)
    reward = testbed.task.reward(testbed.problems.select(prompts.repeat_interleave(4)),
                                 responses.view(256, -1)).view(64, 4)
    assert torch.equal(scores == 1, reward == 1)
    assert 0 < float(reward.mean()) < 1 and bool(((scores > 0) & (scores < 1)).any())


def test_oracle_pairs_best_with_worst_and_drops_ties():
    scores = torch.tensor([[1.0, 2 / 3, 0.0, 2 / 3], [0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.75, 0.25]])
    rows, chosen, rejected = best_worst_pairs(scores, torch.Generator().manual_seed(0),
                                              temperature=1e-6, label_noise=0.0)
    assert rows.tolist() == [0, 2] and chosen.tolist() == [0, 2] and rejected.tolist() == [2, 0]
    # all-flip judge: the worse one is always chosen
    _, chosen, rejected = best_worst_pairs(scores, torch.Generator().manual_seed(0), 1e-6, 1.0)
    assert chosen.tolist() == [2, 0] and rejected.tolist() == [0, 2]


def test_oracle_label_rate_is_bradley_terry_then_noise():
    p = oracle_accuracy(0.25, 0.1, 0.1)
    assert float(p) == pytest.approx(0.9 / (1 + math.exp(-2.5)) + 0.1 / (1 + math.exp(2.5)))
    scores = torch.tensor([[0.25, 0.0]]).repeat(20000, 1)
    _, chosen, _ = best_worst_pairs(scores, torch.Generator().manual_seed(1), 0.1, 0.1)
    assert float((chosen == 0).float().mean()) == pytest.approx(float(p), abs=0.01)


def test_make_pairs_returns_the_labelled_responses(testbed):
    responses = completions(["1<eos>", "2<eos>", "3<eos>", "4<eos>"]).view(1, 4, 5)
    sum_ = int(testbed.sums[5])
    best = completions([f"{sum_}<eos>"])[0]
    responses = torch.cat([responses, responses[:, :1].expand(1, 4, 5)]).clone()
    responses[0, 2] = best                      # prompt 5: one exact, three one-digit answers
    prompts = torch.tensor([5, 6])              # prompt 6: four times the same answer (a tie)
    testbed.label_noise = 0.0
    try:
        p, chosen, rejected = testbed.make_pairs(prompts, responses, torch.Generator())
    finally:
        testbed.label_noise = 0.1
    assert p.tolist() == [5] and torch.equal(chosen[0], best)
    assert float(testbed.score(p, rejected)) < 1


def test_sampling_is_batched_seeded_and_padded_after_eos(testbed):
    policy = testbed.initial_policy()
    prompts = torch.tensor([0, 3, 3, 7])
    a = policy.sample(prompts, 4, torch.Generator().manual_seed(3))
    b = policy.sample(prompts, 4, torch.Generator().manual_seed(3))
    c = policy.sample(prompts, 4, torch.Generator().manual_seed(4))
    assert a.shape == (4, 4, testbed.task.max_new_tokens)
    assert torch.equal(a, b) and not torch.equal(a, c)
    own = completion_mask(a, TOK.eos_id)
    assert bool((a[~own] == TOK.pad_id).all())


def test_logp_is_the_masked_sum_of_completion_logprobs(testbed):
    policy = testbed.initial_policy()
    prompts = torch.arange(16)
    ids, mask = testbed.task.encode_prompts(testbed.problems.select(prompts))
    out = generate(policy.model, ids, mask, max_new_tokens=testbed.task.max_new_tokens,
                   eos_id=TOK.eos_id, pad_id=TOK.pad_id, generator=torch.Generator().manual_seed(0))
    want = (completion_logprobs(policy.model, out)[0] * out.loss_mask).sum(1)
    responses = torch.nn.functional.pad(
        out.completion_ids, (0, testbed.task.max_new_tokens - out.completion_ids.shape[1]))
    got = policy.logp(prompts, responses)
    assert torch.allclose(got, want, atol=1e-5) and got.requires_grad
    assert torch.allclose(got, out.logprobs.sum(1), atol=1e-4)


def test_initial_policy_is_a_fresh_copy(testbed):
    a, b = testbed.initial_policy(), testbed.initial_policy()
    with torch.no_grad():
        next(a.parameters()).add_(1.0)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))
    assert torch.equal(next(b.parameters()), next(testbed.model.parameters()))


def test_one_round_on_the_lm_moves_the_policy_keeps_metrics_finite_and_repeats():
    config = PreferenceConfig(rounds=1, pairs_per_round=32, steps_per_round=3, minibatch_size=16,
                              lr=1e-4, beta=0.5)
    algo = PreferenceTrainer(config, "addition")
    before = [p.detach().clone() for p in algo.policy.parameters()]
    record = algo.step()
    moved = sum(float((p.detach() - q).abs().sum())
                for p, q in zip(algo.policy.parameters(), before, strict=True))
    assert moved > 0 and record["pairs"] > 0
    for key in ("eval/pass@1", "true_reward", "kl_to_initial", "loss", "rewards/margins"):
        assert math.isfinite(record[key]), key
    assert 0 <= record["eval/pass@1"] <= 1 and 0 <= record["true_reward"] <= 1
    assert PreferenceTrainer(config, "addition").step() == record  # same seed, same numbers


def test_registry_implies_lm_fields_for_addition():
    fields = env_fields("preference", "addition")
    assert fields["lr"] < 1e-3 and fields["minibatch_size"] > 0
    assert env_fields("preference", "bandit") == {}
    PreferenceConfig().replace(**fields).validate()


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"train_size": 0}, "train_size"), ({"oracle_temperature": 0.0}, "oracle_temperature"),
    ({"label_noise": 0.7}, "label_noise"), ({"eval_size": 10_000}, "eval_size"),
    ({"base": "addition-scratch"}, "addition-scratch")])
def test_bad_input_is_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LMPairs(**kwargs)


def test_exercise_checkers_accept_right_and_refuse_wrong_answers():
    assert check_pairs(kept=[0, 2], chosen=[0, 2], rejected=[2, 0]).ok
    assert not check_pairs(kept=[0, 1, 2], chosen=[0, 0, 2], rejected=[2, 1, 0]).ok
    assert not check_pairs(kept=[0, 2], chosen=[0, 2], rejected=[1, 0]).ok
    assert check_label_rate(0.84).ok
    assert not check_label_rate(0.92).ok
