"""d1's diffu-GRPO (card 41's baseline): the one-step estimate, masks and the loss."""

import math

import pytest
import torch

from polab.algos.diffusion.diffu_grpo import (
    DiffuGRPO,
    DiffuGRPOConfig,
    answer_mask,
    diffu_grpo_loss,
    one_step_logprobs,
    sample_prompt_masks,
)
from polab.lm.diffusion import DiffusionLM, encode
from polab.lm.tasks import make_task
from polab.lm.tokenizer import CharTokenizer

TASK = make_task({"name": "addition", "digits": 3, "eval_size": 64}, CharTokenizer())


def _model(seed=0):
    torch.manual_seed(seed)
    return DiffusionLM.for_tokenizer(TASK.tokenizer.vocab_size, block_size=16, n_layer=1,
                                     n_head=2, n_embd=32)


def test_loss_hand_case():
    # one answer, A = 1, ratios 1 and 1.5 (clipped to 1.2): per token -1 and -1.2, mean -1.1
    logp = torch.log(torch.tensor([[0.5, 0.6]]))
    old = torch.log(torch.tensor([[0.5, 0.4]]))
    adv, mask = torch.tensor([1.0]), torch.tensor([[True, True]])
    assert float(diffu_grpo_loss(logp, old, adv, mask, 0.2)["loss"]) == pytest.approx(-1.1)
    # the token after <eos> is out: -1; a negative advantage takes the unclipped max: 1.5/2...
    assert float(diffu_grpo_loss(logp, old, adv, torch.tensor([[True, False]]), 0.2)["loss"]
                 ) == pytest.approx(-1.0)
    assert float(diffu_grpo_loss(logp, old, -adv, mask, 0.2)["loss"]) == pytest.approx(1.25)
    # k3 KL to a reference equal to old: e^(old-logp) - (old-logp) - 1 on token 2
    kl = (0.4 / 0.6) - math.log(0.4 / 0.6) - 1
    out = diffu_grpo_loss(logp, old, adv, mask, 0.2, beta=0.5, ref_logp=old)
    assert float(out["loss"]) == pytest.approx(-1.1 + 0.5 * kl / 2)


def test_answer_mask_up_to_first_eos():
    eos = TASK.tokenizer.eos_id
    ids = torch.tensor([[5, 6, eos, eos, eos], [5, 6, 7, 8, 9], [eos, 5, eos, 6, 7]])
    expected = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).bool()
    assert torch.equal(answer_mask(ids, eos), expected)


def test_one_step_masks_the_whole_answer():
    """d1's estimate sees no answer token: changing one answer token changes only its own
    log-prob (it is the target), never another position's (key mechanism)."""
    model = _model()
    prompt, answer = encode(TASK, TASK.sample_prompts(4, torch.Generator().manual_seed(0)), 5)
    none = torch.zeros_like(prompt, dtype=torch.bool)
    a = one_step_logprobs(model, prompt, answer, none)
    other = answer.clone()
    other[:, 0] = (other[:, 0] + 1) % TASK.tokenizer.vocab_size
    b = one_step_logprobs(model, prompt, other, none)
    torch.testing.assert_close(a[:, 1:], b[:, 1:])
    assert not torch.allclose(a[:, 0], b[:, 0])
    # masking prompt tokens does change the estimate
    assert not torch.allclose(one_step_logprobs(model, prompt, answer, ~none), a)


def test_prompt_masks_rate_and_bad_input():
    g = torch.Generator().manual_seed(0)
    assert not sample_prompt_masks(8, 9, 0.0, g).any()
    assert sample_prompt_masks(4000, 9, 0.15, g).float().mean() == pytest.approx(0.15, abs=0.01)
    with pytest.raises(ValueError, match="p_mask_prompt=1.0"):
        sample_prompt_masks(2, 9, 1.0)
    with pytest.raises(ValueError, match="inner_updates"):
        DiffuGRPOConfig(inner_updates=0).validate()
    with pytest.raises(ValueError, match="p_mask_prompt"):
        DiffuGRPOConfig(p_mask_prompt=0.95).validate()


def _algo(**kw):
    """A tiny run whose rewards are random bits (an untrained model earns none)."""
    cfg = DiffuGRPOConfig(num_prompts=2, group_size=4, num_iterations=2, eval_every=0, **kw)
    algo = DiffuGRPO(cfg, TASK, model=_model())
    rollout, g = algo.rollout, torch.Generator().manual_seed(0)

    def noisy_rollout():
        problems, prompt, answer, _ = rollout()
        return problems, prompt, answer, torch.randint(0, 2, (len(prompt),), generator=g).float()

    algo.rollout = noisy_rollout
    return algo


def test_first_update_is_on_policy_on_a_shared_prompt_mask():
    """θ_old is scored on the update's own prompt mask: with μ = 1 every ratio is exactly 1."""
    out = _algo(inner_updates=1, beta=0.0).step()
    assert out["approx_kl"] == 0.0 and out["clip_ratio/region_mean"] == 0.0
    out = _algo(inner_updates=3, learning_rate=1e-2).step()
    assert out["approx_kl"] > 0.0  # later updates move θ away from θ_old


def test_same_seed_same_numbers():
    a, b = _algo().step(), _algo().step()
    a.pop("time/train_s"), b.pop("time/train_s")
    assert a == b
