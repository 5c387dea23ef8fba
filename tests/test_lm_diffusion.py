"""The masked-diffusion LM (polab/lm/diffusion.py): bidirectional model, encoding, masks,
the Monte-Carlo ELBO, confidence-ordered denoising, the SFT step and the shipped base."""

from __future__ import annotations

import math

import pytest
import torch

from polab.lm.checkpoint import read_checkpoint
from polab.lm.diffusion import (
    DIFFUSION_DIR,
    DiffusionLM,
    answer_len,
    answer_reward,
    decode_answers,
    denoise,
    elbo,
    elbo_term,
    elbo_terms,
    encode,
    evaluate_diffusion,
    load_diffusion_base,
    prompt_len,
    sample_masks,
)
from polab.lm.model import GPT, GPTConfig
from polab.lm.pretrain import shipped_bases
from polab.lm.tasks import AdditionTask, Problems

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task() -> AdditionTask:
    return AdditionTask(eval_size=64)


@pytest.fixture(scope="module")
def model(task) -> DiffusionLM:
    torch.manual_seed(0)
    return DiffusionLM.for_tokenizer(task.tokenizer.vocab_size, block_size=16).eval()


def _batch(task, n=6, seed=0):
    problems = task.sample_prompts(n, torch.Generator().manual_seed(seed))
    return problems, *encode(task, problems, answer_len(task))


def test_model_is_bidirectional_unlike_the_gpt(model):
    ids = torch.randint(0, model.mask_id, (1, 12), generator=torch.Generator().manual_seed(1))
    later = ids.clone()
    later[0, -1] = (later[0, -1] + 1) % model.mask_id
    with torch.no_grad():
        changed = (model(ids)[0, 0, :-1] - model(later)[0, 0, :-1]).abs().max()
        gpt = GPT(model.config).eval()
        gpt.load_state_dict(model.state_dict())
        same = (gpt(ids)[0, 0] - gpt(later)[0, 0]).abs().max()
    assert changed > 1e-4  # the first position sees the last token
    assert same == 0  # the causal GPT with the same weights does not


def test_mask_logit_is_never_predicted(model):
    ids = torch.full((2, 10), model.mask_id)
    logits = model(ids)
    assert logits.shape == (2, 10, model.mask_id + 1)
    assert torch.isneginf(logits[..., model.mask_id]).all()
    assert torch.isfinite(logits[..., :model.mask_id]).all()


def test_encode_fixed_lengths_and_eos_padding(task):
    problems = Problems(["1+2=", "999+999="], ["3", "1998"], {})
    prompts, answers = encode(task, problems, answer_len(task))
    tok = task.tokenizer
    assert prompts.shape == (2, prompt_len(task)) == (2, 9)
    assert answers.shape == (2, 5)
    assert tok.decode(prompts[0]) == "<bos>1+2="  # left-padded with <pad>
    assert prompts[0, 0] == tok.pad_id
    assert tok.decode(answers[0]) == "3<eos><eos><eos><eos>"
    assert tok.decode(answers[1]) == "1998<eos>"
    with pytest.raises(ValueError, match="answer_len=3"):
        encode(task, problems, 3)


def test_sample_masks_share_t_across_the_answer_and_keep_one_over_t_finite():
    t, masked = sample_masks(4000, 8, 2, torch.Generator().manual_seed(0), eps=0.2)
    assert t.shape == (2, 4000) and masked.shape == (2, 4000, 8)
    assert (t > 0.2).all() and (t <= 1).all() and torch.isfinite(1 / t).all()
    # each row's tokens are masked with its own t: the masked share tracks t row by row
    share = masked.float().mean(-1)
    assert torch.corrcoef(torch.stack([share.flatten(), t.flatten()]))[0, 1] > 0.8
    lo = t < 0.4
    assert abs(share[lo].mean() - t[lo].mean()) < 0.02
    assert abs(share[~lo].mean() - t[~lo].mean()) < 0.02
    t_small, _ = sample_masks(100000, 1, 1, torch.Generator().manual_seed(1))
    assert t_small.min() > 1e-3


def test_same_seed_same_masks_and_samples(model, task):
    a = sample_masks(3, 5, 4, torch.Generator().manual_seed(7))
    b = sample_masks(3, 5, 4, torch.Generator().manual_seed(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    _, prompts, _ = _batch(task)
    s1 = denoise(model, prompts, 5, 3, 1.0, torch.Generator().manual_seed(3))
    s2 = denoise(model, prompts, 5, 3, 1.0, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(s1, s2, strict=True))


def test_elbo_hand_case(task):
    """One row, one masked token at t = 0.5: ℓ = log p(y_k | ...) / 0.5, by hand."""
    torch.manual_seed(0)
    m = DiffusionLM.for_tokenizer(task.tokenizer.vocab_size, block_size=16).double()
    _, prompts, answers = _batch(task, n=1)
    masked = torch.zeros(1, 1, 5, dtype=torch.bool)
    masked[0, 0, 2] = True
    t = torch.tensor([[0.5]], dtype=torch.float64)
    noisy = answers.clone()
    noisy[0, 2] = m.mask_id
    logp = m(torch.cat([prompts, noisy], 1))[0, 9 + 2].log_softmax(-1)[answers[0, 2]]
    got = elbo_terms(m, prompts, answers, t, masked)
    assert torch.allclose(got, torch.stack([logp / 0.5]).view(1, 1))
    assert torch.allclose(elbo_terms(m, prompts, answers, t, masked, normalize=True),
                          got / 5)
    # nothing masked: the term is 0
    assert elbo_terms(m, prompts, answers, t, torch.zeros_like(masked)).item() == 0.0


def test_elbo_terms_batched_equals_a_loop_of_elbo_term(model, task):
    _, prompts, answers = _batch(task)
    t, masked = sample_masks(6, 5, 4, torch.Generator().manual_seed(2))
    joint = elbo_terms(model, prompts, answers, t, masked)
    loop = torch.stack([elbo_term(model, prompts, answers, t[j], masked[j]) for j in range(4)])
    assert joint.shape == (4, 6)
    assert torch.allclose(joint, loop, atol=1e-5)
    est = elbo(model, prompts, answers, 4, torch.Generator().manual_seed(2))
    assert torch.allclose(est, joint.mean(0), atol=1e-5)


def test_elbo_estimate_is_nonpositive_and_finite(task):
    """Log-probabilities are ≤ 0, so every term and the estimate are; ε keeps them finite."""
    torch.manual_seed(0)
    m = DiffusionLM.for_tokenizer(task.tokenizer.vocab_size, block_size=16)
    _, prompts, answers = _batch(task, n=2)
    est = elbo(m, prompts, answers, 64, torch.Generator().manual_seed(0))
    assert (est <= 0).all() and torch.isfinite(est).all()


def test_denoise_one_position_per_step_with_steps_L_and_all_at_once_with_1(model, task):
    _, prompts, _ = _batch(task)
    answer, order = denoise(model, prompts, 5, 5)
    assert (order.sort(1).values == torch.arange(5)).all()  # one position per step
    answer1, order1 = denoise(model, prompts, 5, 1)
    assert (order1 == 0).all()
    _, order2 = denoise(model, prompts, 5, 2)  # ceil(5/2) = 3, then 2
    assert ((order2 == 0).sum(1) == 3).all() and ((order2 == 1).sum(1) == 2).all()
    for a in (answer, answer1):
        assert (a != model.mask_id).all() and (a < model.mask_id).all()


def test_denoise_commits_the_most_confident_position_first(model, task):
    _, prompts, _ = _batch(task)
    _, order = denoise(model, prompts, 5, 5)
    with torch.no_grad():
        x = torch.cat([prompts, torch.full((6, 5), model.mask_id)], 1)
        conf = model(x)[:, 9:].softmax(-1).max(-1).values
    assert torch.equal(order.argmin(1), conf.argmax(1))


def test_mask_never_in_sampled_answers(model, task):
    _, prompts, _ = _batch(task, n=32)
    answer, order = denoise(model, prompts, 5, 3, temperature=1.0,
                            generator=torch.Generator().manual_seed(0))
    assert (answer != model.mask_id).all() and (order >= 0).all()
    assert "_" not in "".join(decode_answers(task, answer))


def test_answer_reward_exact_answer_then_eos(task):
    tok = task.tokenizer
    problems = Problems(["12+30="], ["42"], {"a": torch.tensor([12]), "b": torch.tensor([30])})
    right = torch.tensor([tok.encode("42<eos><eos><eos>")])
    trailing = torch.tensor([tok.encode("42<eos>77")])
    wrong = torch.tensor([tok.encode("421<eos><eos>")])
    no_eos = torch.tensor([tok.encode("42000")])
    rewards = [answer_reward(task, problems, x).item() for x in (right, trailing, wrong, no_eos)]
    assert rewards == [1.0, 1.0, 0.0, 0.0]


def test_bad_input_named_errors(model, task):
    _, prompts, answers = _batch(task)
    with pytest.raises(ValueError, match="steps=6"):
        denoise(model, prompts, 5, 6)
    with pytest.raises(ValueError, match="steps=0"):
        denoise(model, prompts, 5, 0)
    with pytest.raises(ValueError, match="answer_len=8"):
        denoise(model, prompts, 8, 2)
    with pytest.raises(ValueError, match="temperature"):
        denoise(model, prompts, 5, 2, temperature=-1.0)
    with pytest.raises(ValueError, match="n_mc=0"):
        sample_masks(6, 5, 0)
    with pytest.raises(ValueError, match="answer_len=0"):
        sample_masks(6, 0, 1)
    with pytest.raises(ValueError, match="eps"):
        sample_masks(6, 5, 1, eps=0.0)
    t, masked = sample_masks(6, 5, 2)
    with pytest.raises(ValueError, match="shapes disagree"):
        elbo_terms(model, prompts, answers[:, :4], t, masked)
    with pytest.raises(ValueError, match="scratchpad"):
        prompt_len(AdditionTask(scratchpad=True, eval_size=0))
    with pytest.raises(ValueError, match="no diffusion base 'nope'"):
        load_diffusion_base("nope")


def test_sft_step_lowers_the_loss(task):
    from polab.lm.diffusion_base import DiffusionSFT
    from polab.lm.sft import SFTConfig

    sft = DiffusionSFT(SFTConfig(seed=0, batch_size=64), task, device="cpu")
    losses = [sft.step()["loss"] for _ in range(30)]
    assert isinstance(sft.model, DiffusionLM)
    assert sum(losses[-5:]) < sum(losses[:5])
    assert math.isfinite(losses[-1])


def test_shipped_base_in_band_and_verified():
    path = DIFFUSION_DIR / "addition-diffusion.pt"
    state = read_checkpoint(path)  # verifies the sha256
    assert "addition-diffusion" not in shipped_bases()  # not a GPT base
    model, task = load_diffusion_base()
    assert isinstance(model, DiffusionLM) and model.num_params() < 300_000
    assert path.stat().st_size < 500_000
    L = answer_len(task)
    greedy = evaluate_diffusion(model, task, steps=L)["pass@1"]
    assert 0.25 <= greedy <= 0.40
    assert greedy == pytest.approx(state["metrics"]["greedy_pass@1"], abs=0.01)


def test_untrained_config_sizes():
    m = DiffusionLM(GPTConfig(vocab_size=62, block_size=16))
    assert m.mask_id == 61
    with pytest.raises(ValueError, match="block_size"):
        m(torch.zeros(1, 17, dtype=torch.long))


def test_partial_answers_reveal_positions_in_their_step():
    from polab.plots.diffusion_lm import partial_answers

    order = torch.tensor([[2, 0, 1], [0, 0, 1]]).numpy()
    assert partial_answers(["abc", "xyz"], order) == [["_b_", "_bc", "abc"],
                                                      ["xy_", "xyz", "xyz"]]
