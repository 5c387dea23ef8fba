import math

import pytest
import torch

from polab.lm.generate import completion_logprobs, generate, in_groups
from polab.lm.pretrain import load_base
from polab.lm.tasks import AdditionTask


@pytest.fixture(scope="module")
def base():
    model, tok, task = load_base("addition")
    return model, tok, task


@pytest.fixture(scope="module")
def mixed_prompts(base):
    """Prompts of different lengths (1- to 3-digit operands), so the batch is left-padded."""
    _, tok, _ = base
    problems = AdditionTask(digits=3, min_digits=1, tokenizer=tok, eval_size=0).sample_prompts(
        64, torch.Generator().manual_seed(0))
    ids, mask = tok.encode_batch(problems.prompts)
    assert not mask.all()
    return ids, mask


def _float32_close(actual: torch.Tensor, expected: torch.Tensor, model, samples,
                   temperature: float) -> None:
    """Equal up to float32 rounding of the same network summed in another order.

    The KV-cache path multiplies one new row at a time, the naive path the whole sequence, and
    another CPU (or another thread count) blocks its matrix products differently: the same
    sums are added in a different order. One float32 operation rounds by at most
    eps_f32 = 1.19e-7 of its magnitude; a length-n sum in another order differs by about
    sqrt(n) such roundings (random walk; the worst case n*eps is never approached), with n
    the longest sum in a block: the MLP's 4 * n_embd = 256 hidden units, so a factor
    sqrt(256) = 16. A log-prob is ``z_k - logsumexp(z)`` and an entropy
    ``logsumexp(z) - sum(p z)``: differences of logits, so their absolute error scales with
    the largest logit |z/T|max (~17 at T = 1 for the shipped base), not with the result.
    Hence  |a - b| <= 16 eps |z/T|max + 16 eps |b|  (atol ~3.3e-5 at T = 1, rtol ~1.9e-6).
    Measured: 4.9e-6 on one 2-core CPU with 1 and 2 threads, 1.013e-5 on another (issue 13).
    """
    factor = math.sqrt(4 * model.config.n_embd) * torch.finfo(torch.float32).eps
    seen = torch.cat([samples.prompt_mask, torch.ones_like(samples.completion_mask)], 1)
    with torch.no_grad():  # generated columns count as real tokens, as in generate()
        z_max = model(samples.ids, seen).abs().max().item() / (temperature or 1.0)
    torch.testing.assert_close(actual, expected, atol=factor * z_max, rtol=factor)


@pytest.fixture(params=[1, 2], ids=lambda n: f"{n}threads")
def threads(request):
    """Run the test with torch using 1, then 2 threads (the sums are split differently)."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def _sample(model, tok, ids, mask, kv, temperature=1.0, max_new_tokens=6, seed=0):
    return generate(model, ids, mask, max_new_tokens=max_new_tokens, eos_id=tok.eos_id,
                    pad_id=tok.pad_id, temperature=temperature, kv_cache=kv,
                    generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_kv_cache_sampling_equals_naive_sampling(base, mixed_prompts, temperature, threads):
    model, tok, _ = base
    fast = _sample(model, tok, *mixed_prompts, kv=True, temperature=temperature)
    slow = _sample(model, tok, *mixed_prompts, kv=False, temperature=temperature)
    assert torch.equal(fast.completion_ids, slow.completion_ids)
    assert torch.equal(fast.completion_mask, slow.completion_mask)
    _float32_close(fast.logprobs, slow.logprobs, model, slow, temperature)
    _float32_close(fast.entropies, slow.entropies, model, slow, temperature)


def test_scoring_forward_reproduces_sampling_logprobs(base, mixed_prompts):
    model, tok, _ = base
    for temperature in (1.0, 0.7):
        s = _sample(model, tok, *mixed_prompts, kv=True, temperature=temperature)
        logp, entropy = completion_logprobs(model, s, temperature)
        m = s.loss_mask  # one full forward vs cached steps: float32 rounding only
        _float32_close(logp[m].detach(), s.logprobs[m], model, s, temperature)
        _float32_close(entropy[m].detach(), s.entropies[m], model, s, temperature)
        assert logp.requires_grad


def test_padded_batch_generates_what_each_prompt_generates_alone(base, mixed_prompts):
    model, tok, _ = base
    ids, mask = mixed_prompts
    batch = _sample(model, tok, ids[:8], mask[:8], kv=True, temperature=0.0)
    for i in range(8):
        alone = _sample(model, tok, ids[i:i + 1, mask[i]], None, kv=True,
                        temperature=0.0)
        n = alone.completion_ids.shape[1]
        assert torch.equal(batch.completion_ids[i, :n], alone.completion_ids[0])
        _float32_close(batch.logprobs[i, :n], alone.logprobs[0], model, batch, 0.0)


def test_masks_with_eos_and_padding(base):
    model, tok, task = base
    problems = task.eval_problems()
    ids, mask = task.encode_prompts(problems)
    s = _sample(model, tok, ids, mask, kv=True, temperature=1.0, max_new_tokens=8)
    eos = s.completion_ids == tok.eos_id
    assert s.ended.any() and eos.sum(1).le(1).all()  # at most one <eos> per row
    first_eos = torch.where(s.ended, eos.int().argmax(1), s.completion_ids.shape[1])
    cols = torch.arange(s.completion_ids.shape[1])
    # completion_mask: up to and including the first <eos>; <pad> after it
    assert torch.equal(s.completion_mask, cols <= first_eos[:, None])
    assert (s.completion_ids[~s.completion_mask] == tok.pad_id).all()
    assert (s.completion_ids[s.completion_mask] != tok.pad_id).all()
    assert torch.equal(s.lengths, torch.where(s.ended, first_eos + 1, first_eos))
    assert (s.logprobs[~s.completion_mask] == 0).all() and (s.logprobs <= 0).all()
    assert (s.entropies[~s.completion_mask] == 0).all()
    assert not s.tool_mask.any() and torch.equal(s.loss_mask, s.completion_mask)
    assert s.ids.shape[1] == ids.shape[1] + s.completion_ids.shape[1]
    # sampling stops as soon as every row has ended: the last column holds some <eos>
    assert s.completion_ids.shape[1] < 8 and eos[:, -1].any()


def test_truncated_rows_have_no_eos_and_full_masks(base):
    model, tok, task = base
    ids, mask = task.encode_prompts(task.eval_problems())
    s = _sample(model, tok, ids, mask, kv=True, temperature=0.0, max_new_tokens=2)
    assert s.completion_ids.shape[1] == 2
    assert not s.ended.any() and s.completion_mask.all()


def test_force_hook_inserts_tokens_marked_as_tool_output(base, mixed_prompts):
    model, tok, _ = base
    digit7 = tok.stoi["7"]

    def force(step, so_far, sampled):
        assert so_far.shape == (len(sampled), step)
        forced = torch.full_like(sampled, step == 1, dtype=torch.bool)
        return torch.where(forced, digit7, sampled), forced

    s = generate(model, *mixed_prompts, max_new_tokens=6, eos_id=tok.eos_id, pad_id=tok.pad_id,
                 temperature=1.0, generator=torch.Generator().manual_seed(0), force=force)
    alive_at_1 = s.completion_mask[:, 1]
    assert torch.equal(s.tool_mask[:, 1], alive_at_1) and s.tool_mask.sum() == alive_at_1.sum()
    assert (s.completion_ids[alive_at_1, 1] == digit7).all()
    assert (s.logprobs[:, 1] == 0).all()
    assert torch.equal(s.loss_mask, s.completion_mask & ~s.tool_mask)


# --- per-token temperature hook (HAPO's adaptive temperature, chapter 04) ------------------

def test_constant_temperature_fn_gives_generate_numbers_exactly(base, mixed_prompts):
    model, tok, _ = base
    ids, mask = mixed_prompts
    for temperature in (1.0, 0.7):
        kw = dict(max_new_tokens=6, eos_id=tok.eos_id, pad_id=tok.pad_id,
                  temperature=temperature)
        plain = generate(model, ids, mask, generator=torch.Generator().manual_seed(0), **kw)
        hooked = generate(model, ids, mask, generator=torch.Generator().manual_seed(0),
                          temperature_fn=lambda z, t=temperature: torch.full(
                              (z.shape[0],), t), **kw)
        for name in ("completion_ids", "completion_mask", "logprobs", "entropies", "ended"):
            assert torch.equal(getattr(plain, name), getattr(hooked, name)), name
        assert plain.temperatures is None and plain.sample_logprobs is None
        m = hooked.loss_mask
        assert torch.equal(hooked.temperatures[m], torch.full_like(hooked.temperatures[m],
                                                                   temperature))
        assert torch.equal(hooked.sample_logprobs, hooked.logprobs)


def test_temperature_fn_keeps_base_temperature_logprobs(base, mixed_prompts):
    """Tokens drawn at T_t = 0.5 or 1.5 by row; ``logprobs`` are the base (T = 1) ones the
    trainer recomputes, ``sample_logprobs`` those at T_t; rows and rounds keep both."""
    from polab.algos.group.batch import select_samples
    from polab.algos.group.dapo import concat_samples
    model, tok, _ = base
    ids, mask = mixed_prompts
    row_t = torch.where(torch.arange(len(ids)) % 2 == 0, 0.5, 1.5)
    s = generate(model, ids, mask, max_new_tokens=6, eos_id=tok.eos_id, pad_id=tok.pad_id,
                 temperature=1.0, generator=torch.Generator().manual_seed(0),
                 temperature_fn=lambda z: row_t)
    m = s.loss_mask
    logp, entropy = completion_logprobs(model, s, 1.0)
    _float32_close(logp[m].detach(), s.logprobs[m], model, s, 1.0)
    _float32_close(entropy[m].detach(), s.entropies[m], model, s, 1.0)
    P = s.prompt_ids.shape[1]
    z = model(s.ids, s.attention_mask)[:, P - 1:-1].detach()
    tempered = torch.log_softmax(z / row_t[:, None, None], -1).gather(
        -1, s.completion_ids[..., None]).squeeze(-1)
    _float32_close(tempered[m], s.sample_logprobs[m], model, s, 0.5)
    assert torch.equal(s.temperatures[m], row_t[:, None].expand_as(m)[m])
    assert not (s.sample_logprobs[m] == s.logprobs[m]).all()
    index = torch.tensor([3, 0])
    picked = select_samples(s, index)
    assert torch.equal(picked.temperatures, s.temperatures[index])
    joined = concat_samples([s, picked], tok.pad_id)
    assert torch.equal(joined.sample_logprobs[:len(ids)], s.sample_logprobs)
    with pytest.raises(ValueError, match="temperature_fn needs"):
        generate(model, ids, mask, max_new_tokens=2, eos_id=tok.eos_id, pad_id=tok.pad_id,
                 temperature=0.0, temperature_fn=lambda z: row_t)
    plain = generate(model, ids, mask, max_new_tokens=2, eos_id=tok.eos_id, pad_id=tok.pad_id)
    with pytest.raises(ValueError, match="temperatures"):
        concat_samples([s, plain], tok.pad_id)


@pytest.mark.parametrize("kv", [True, False], ids=["kv", "naive"])
def test_num_return_sequences_draws_what_repeated_prompts_draw(base, mixed_prompts, kv,
                                                                threads):
    """n samples per prompt (the prompt encoded once) = the prompts repeated n times."""
    model, tok, _ = base
    ids, mask = (x[:16] for x in mixed_prompts)
    n = 4
    repeated = _sample(model, tok, ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0),
                       kv=kv)
    shared = generate(model, ids, mask, max_new_tokens=6, eos_id=tok.eos_id, pad_id=tok.pad_id,
                      kv_cache=kv, generator=torch.Generator().manual_seed(0),
                      num_return_sequences=n)
    assert torch.equal(shared.prompt_ids, repeated.prompt_ids)
    assert torch.equal(shared.prompt_mask, repeated.prompt_mask)
    assert torch.equal(shared.completion_ids, repeated.completion_ids)
    assert torch.equal(shared.completion_mask, repeated.completion_mask)
    assert torch.equal(shared.ended, repeated.ended)
    _float32_close(shared.logprobs, repeated.logprobs, model, repeated, 1.0)
    _float32_close(shared.entropies, repeated.entropies, model, repeated, 1.0)
    with pytest.raises(ValueError, match="num_return_sequences"):
        generate(model, ids, mask, max_new_tokens=2, eos_id=tok.eos_id, pad_id=tok.pad_id,
                 num_return_sequences=0)


def test_in_groups():
    x = torch.tensor([[1, 2], [1, 2], [3, 4], [3, 4]])
    assert in_groups(x, 2) and in_groups(x, 1)
    assert not in_groups(x, 4)          # two different prompts in one group
    assert not in_groups(x, 3)          # 4 rows are not groups of 3
    assert not in_groups(x[[0, 2, 1, 3]], 2)
