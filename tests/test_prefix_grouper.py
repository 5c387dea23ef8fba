"""Prefix Grouper's shared-prefix forward equals the repeated-prefix forward: log-probs within
1e-5, gradients within 1e-4 relative (../shared/cards/33_prefix_grouper.md), on random prompts
of 256 tokens and on the shipped model's own left-padded samples; GRPO gives the same first
update either way."""

import pytest
import torch

from polab.algos.group import prefix_grouper
from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.group.prefix_grouper import (
    forward_cost,
    grouped_completion_logprobs,
    prefix_grouped_logprobs,
    repeated_prefix_samples,
)
from polab.lm.generate import completion_logprobs, generate
from polab.lm.model import GPT, GPTConfig
from polab.lm.pretrain import load_base
from polab.lm.tasks import AdditionTask


def grads(model, logp, weights):
    model.zero_grad(set_to_none=True)
    (logp * weights).sum().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def assert_same_grads(a, b, rel=1e-4):
    for name in a:
        scale = a[name].abs().max().clamp_min(1e-12)
        assert (a[name] - b[name]).abs().max() / scale < rel, name


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "two_sets"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_long_prefix_equivalence_logprobs_and_gradients(temperature, packed):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=61, block_size=272, n_layer=2, n_head=4, n_embd=64))
    P, G, Lp, Ls = 2, 8, 256, 16
    prefix = torch.randint(1, 61, (P, Lp))
    mask = torch.ones(P, Lp, dtype=torch.bool)
    mask[1, :40] = False  # the second prompt is left-padded
    prefix[1, :40] = 0
    suffix = torch.randint(1, 61, (P, G, Ls))
    samples = repeated_prefix_samples(prefix, mask, suffix)

    ref, ref_entropy = completion_logprobs(model, samples, temperature)
    got, got_entropy = prefix_grouped_logprobs(model, prefix, mask, suffix, temperature,
                                               packed)
    torch.testing.assert_close(got.reshape(P * G, Ls), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_entropy.reshape(P * G, Ls), ref_entropy, atol=1e-5, rtol=0)

    weights = torch.randn(P * G, Ls)  # a GRPO-like loss with random per-token weights
    assert_same_grads(grads(model, ref, weights), grads(model, got.reshape(P * G, Ls), weights))


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "two_sets"])
def test_shipped_model_on_its_own_padded_samples(packed, monkeypatch):
    model, tok, _ = load_base("addition")
    layout = prefix_grouper.prefix_grouped_logits
    monkeypatch.setattr(prefix_grouper, "prefix_grouped_logits",
                        lambda *args: layout(*args[:4], packed))
    task = AdditionTask(digits=3, min_digits=1, tokenizer=tok, eval_size=0)
    problems = task.sample_prompts(16, torch.Generator().manual_seed(0)).repeat(4)
    ids, mask = task.encode_prompts(problems)
    assert not mask.all()  # mixed prompt lengths: left padding
    s = generate(model, ids, mask, max_new_tokens=6, eos_id=tok.eos_id, pad_id=tok.pad_id,
                 generator=torch.Generator().manual_seed(0))
    m = s.loss_mask
    # float32: the trained model's logits are large, so rounding alone moves log-probs by up
    # to ~1e-5 (the scoring forward differs from the sampler's own log-probs by as much)
    ref, _ = completion_logprobs(model, s)
    got, _ = grouped_completion_logprobs(model, s, num_generations=4)
    torch.testing.assert_close(got[m], ref[m], atol=2e-5, rtol=0)
    weights = torch.randn(m.shape) * m
    assert_same_grads(grads(model, ref, weights), grads(model, got, weights))
    # float64 weights: the two forwards agree to the last float32 bit of the log-probs
    model = model.double()
    ref, _ = completion_logprobs(model, s)
    got, _ = grouped_completion_logprobs(model, s, num_generations=4)
    torch.testing.assert_close(got[m], ref[m], atol=1e-6, rtol=0)


def test_rows_must_come_in_groups_and_fit_the_context():
    model, tok, task = load_base("addition")
    problems = task.sample_prompts(4, torch.Generator().manual_seed(0))
    ids, mask = task.encode_prompts(problems)
    s = generate(model, ids, mask, max_new_tokens=5, eos_id=tok.eos_id, pad_id=tok.pad_id,
                 generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="groups of 2"):
        grouped_completion_logprobs(model, s, num_generations=2)
    with pytest.raises(ValueError, match="block_size"):
        prefix_grouped_logprobs(model, torch.ones(1, 30, dtype=torch.long),
                                torch.ones(1, 30, dtype=torch.bool),
                                torch.ones(1, 2, 8, dtype=torch.long))


def test_packed_layout_hand_case():
    """One prompt [pad, a, b] and G = 2 suffixes of 2: positions restart after the prompt's
    real tokens; a suffix sees the real prompt tokens and its own past, never the other."""
    pos, mask = prefix_grouper.packed_layout(torch.tensor([[False, True, True]]), 2, 2)
    assert pos.tolist() == [[0, 0, 1, 2, 3, 2, 3]]
    expected = torch.tensor([[1, 0, 0, 0, 0, 0, 0],   # padding sees only itself
                             [0, 1, 0, 0, 0, 0, 0],
                             [0, 1, 1, 0, 0, 0, 0],
                             [0, 1, 1, 1, 0, 0, 0],   # suffix 1
                             [0, 1, 1, 1, 1, 0, 0],
                             [0, 1, 1, 0, 0, 1, 0],   # suffix 2
                             [0, 1, 1, 0, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask[0, 0], expected)


def test_analytic_cost_matches_the_card():
    c = forward_cost(256, 16, 8)
    assert (c["tokens_repeated"], c["tokens_grouped"]) == (8 * 272, 256 + 128)
    assert c["token_ratio"] == pytest.approx(2176 / 384)
    assert c["attention_ratio"] == pytest.approx(8 * 272**2 / (256**2 + 8 * 16 * 272))
    assert forward_cost(1, 16, 8)["token_ratio"] == pytest.approx(8 * 17 / 129)  # ≈ 1


def test_grpo_loss_and_gradient_are_the_same_with_and_without_prefix_grouper():
    config = GRPOConfig(generation_batch_size=64, eval_every=0)
    plain, grouped = (GRPO(config.replace(prefix_grouper=g), "addition") for g in (False, True))
    a, b = plain.step(), grouped.step()  # same seed: the same batch, the same first update
    for key in ("reward", "loss", "entropy"):
        assert a[key] == pytest.approx(b[key], abs=1e-5), key
    batch = plain.last_batch
    grouped.model.load_state_dict(plain.model.state_dict())
    results = []
    for algo in (plain, grouped):
        algo.model.zero_grad(set_to_none=True)
        loss = algo.loss(batch)["loss"]
        loss.backward()
        results.append((loss.item(), {n: p.grad.clone() for n, p in
                                      algo.model.named_parameters()}))
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-6)
    assert_same_grads(results[0][1], results[1][1])


@pytest.mark.parametrize("packed", [True, False, None], ids=["packed", "two_sets", "auto"])
def test_one_token_completions_score_from_the_prompt_alone(packed):
    """A collapsed policy answers `<eos>` at once: every completion is one token, so no
    suffix token is fed back and the grouped forward has only the prompts to encode."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=61, block_size=32, n_layer=2, n_head=4, n_embd=64))
    P, G, Lp = 3, 4, 9
    prefix = torch.randint(1, 61, (P, Lp))
    mask = torch.ones(P, Lp, dtype=torch.bool)
    mask[2, :3] = False
    prefix[2, :3] = 0
    suffix = torch.randint(1, 61, (P, G, 1))
    ref, ref_entropy = completion_logprobs(model, repeated_prefix_samples(prefix, mask, suffix))
    got, got_entropy = prefix_grouped_logprobs(model, prefix, mask, suffix, packed=packed)
    torch.testing.assert_close(got.reshape(P * G, 1), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_entropy.reshape(P * G, 1), ref_entropy, atol=1e-5, rtol=0)
    weights = torch.randn(P * G, 1)
    assert_same_grads(grads(model, ref, weights), grads(model, got.reshape(P * G, 1), weights))
