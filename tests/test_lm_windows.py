"""The window sampler (polab/lm/windows.py): one window of the whole length with no refill is
``generate``; windows continue a response exactly where it stopped (behaviour log-probs per
token, KV cache rebuilt from the current weights); finished slots are refilled; the
occupancy record and utilisation agree; bad input is refused."""

import pytest
import torch

from polab.lm.generate import completion_logprobs, generate
from polab.lm.pretrain import load_base
from polab.lm.tasks import AdditionTask
from polab.lm.windows import WindowSampler, right_align

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def base():
    model, tok, _ = load_base("addition-scratch")
    task = AdditionTask(digits=6, min_digits=1, scratchpad=True, digit_dist="geometric",
                        tokenizer=tok)
    return model, task


def sampler(task, window, refill=True, pool=8, L=64):
    return WindowSampler(task, pool, window, L, refill=refill,
                         generator=torch.Generator().manual_seed(1),
                         prompt_generator=torch.Generator().manual_seed(2))


def test_one_window_of_the_whole_length_without_refill_is_generate(base):
    model, task = base
    w = sampler(task, 64, refill=False).round(model)
    problems = task.sample_prompts(8, torch.Generator().manual_seed(2))
    ids, mask = task.encode_prompts(problems)
    tok = task.tokenizer
    out = generate(model, ids, mask, max_new_tokens=64, eos_id=tok.eos_id, pad_id=tok.pad_id,
                   generator=torch.Generator().manual_seed(1))
    assert torch.equal(w.samples.prompt_ids, ids)
    assert torch.equal(w.samples.completion_ids, out.completion_ids)
    assert torch.equal(w.samples.logprobs, out.logprobs)
    assert torch.equal(w.new, out.completion_mask) and bool(w.finished.all())
    assert w.problems.prompts == problems.prompts


def test_windows_continue_responses_with_the_policy_of_each_round(base):
    model, task = base
    s = sampler(task, 8, refill=False)
    w1 = s.round(model)
    assert w1.steps == 8 and int(w1.new.sum(1).max()) == 8
    # change the weights between rounds: the next window is sampled by the new policy
    changed = type(model)(model.config)
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.lm_head.weight.mul_(0.9)
    cut = ~w1.finished
    w2 = s.round(changed)
    assert torch.equal(w2.slots, w1.slots[cut])
    # earlier tokens and their log-probs are kept; the new ones follow them
    n1 = w1.samples.lengths[cut]
    cols = torch.arange(w2.samples.completion_ids.shape[1])[None, :]
    old = cols < n1[:, None]
    assert torch.equal(w2.samples.completion_ids[:, :8][old[:, :8]],
                       w1.samples.completion_ids[cut][old[:, :8]])
    assert torch.equal(w2.new, w2.samples.completion_mask & ~old)
    # behaviour log-probs: window 1 by the old policy, window 2 by the changed one
    lp_old = completion_logprobs(model, w2.samples)[0]
    lp_new = completion_logprobs(changed, w2.samples)[0]
    assert torch.allclose(w2.samples.logprobs[old & w2.samples.completion_mask],
                          lp_old[old & w2.samples.completion_mask], atol=1e-4)
    assert torch.allclose(w2.samples.logprobs[w2.new], lp_new[w2.new], atol=1e-4)
    assert not torch.allclose(lp_old[w2.new], lp_new[w2.new], atol=1e-3)


def test_refill_replaces_finished_slots_and_occupancy_counts_active_slots(base):
    model, task = base
    s = sampler(task, 16)
    for _ in range(6):
        w = s.round(model)
        assert w.samples.lengths.max() <= 64 and bool((w.new.sum(1) >= 1).all())
    occ = s.occupancy_matrix()
    assert occ.shape == (8, s.generation_steps)
    assert s.utilisation == ((occ >= 0).sum(0) / 8).tolist()
    assert s.sequences > 8 and s.completed >= s.sequences - 8  # slots were refilled
    off = sampler(task, 16, refill=False)
    for _ in range(3):
        off.round(model)
    assert off.sequences == 8  # no refill while any slot is busy


def test_right_align_and_bad_input(base):
    ids, mask = right_align(torch.tensor([[5, 6, 7], [8, 0, 0]]), torch.tensor([3, 1]), 0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[True, True, True], [False, False, True]]
    _, task = base
    with pytest.raises(ValueError, match="window"):
        WindowSampler(task, 8, 65, 64)
    with pytest.raises(ValueError, match="pool_size"):
        WindowSampler(task, 0, 16, 64)
