"""DAPO's parts (Yu et al. 2025, arXiv 2503.14476): the soft overlong punishment (eq. 13),
dynamic sampling (§3.2, eq. 11), the token-level normaliser over the whole generation batch
(§3.3, eq. 12; TRL ``loss_type="dapo"``), and the refused sequence-ratio / token-sum mix.
Hand cases first, then the trainer on the shipped addition base (8 prompts × 8)."""

import pytest
import torch

from polab.algos.group.dapo import (
    concat_samples,
    dynamic_sampling,
    informative_groups,
    overlong_penalty,
    scaled_overlong_buffer,
)
from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.group.losses import GroupConfig, aggregate
from polab.algos.group.presets import PRESETS
from polab.lm import completion_logprobs, generate, load_base

SMALL = GRPOConfig(generation_batch_size=64, num_generations=8, eval_every=0)
DAPO = PRESETS["DAPO"].apply(SMALL)


# --- soft overlong punishment (eq. 13) --------------------------------------------------------

def test_overlong_penalty_below_inside_and_beyond_the_buffer():
    # L_max = 20, L_cache = 4: no penalty up to 16 tokens, then (16 - |y|) / 4, -1 past 20
    lengths = torch.tensor([3, 16, 17, 18, 19, 20, 21, 40])
    got = overlong_penalty(lengths, max_length=20, buffer_len=4)
    assert got.tolist() == [0.0, 0.0, -0.25, -0.5, -0.75, -1.0, -1.0, -1.0]
    half = overlong_penalty(lengths, max_length=20, buffer_len=4, factor=0.5)  # verl's scale
    assert half.tolist() == [0.0, 0.0, -0.125, -0.25, -0.375, -0.5, -0.5, -0.5]


def test_overlong_penalty_at_the_papers_lengths():
    lengths = torch.tensor([16384, 18432, 20480])  # L_max 20480, L_cache 4096 (§4.1)
    assert overlong_penalty(lengths, 20480, 4096).tolist() == [0.0, -0.5, -1.0]
    with pytest.raises(ValueError, match="buffer_len"):
        overlong_penalty(lengths, 20480, 0)
    with pytest.raises(ValueError, match="buffer_len"):
        overlong_penalty(lengths, 4, 5)


def test_scaled_buffer_keeps_the_papers_ratio():
    assert scaled_overlong_buffer(16384) == 4096  # the paper: 16384 expected + 4096 buffer
    assert scaled_overlong_buffer(5) == 2         # addition: ceil(5 / 4)
    assert scaled_overlong_buffer(1) == 1


# --- dynamic sampling (§3.2) ------------------------------------------------------------------

def test_informative_groups_are_those_with_unequal_rewards():
    rewards = torch.tensor([0, 0, 0, 1, 0, 1, 1, 1, 1, 0.5, 0.5, 0.0])
    assert informative_groups(rewards, 3).tolist() == [False, True, False, True]


def rounds(*groups):
    """A scripted generator: each call returns the next round's rewards (its own 'batch')."""
    it = iter(torch.tensor(g, dtype=torch.float).flatten() for g in groups)
    return lambda: (lambda r: (r, r))(next(it))


def test_dynamic_sampling_drops_exactly_the_zero_variance_groups_and_fills_the_batch():
    draw = rounds([[0, 0], [1, 0], [1, 1], [0, 1]],   # groups 1 and 3 informative
                  [[1, 0], [0, 0], [0, 1], [1, 0]])   # 0, 2, 3 informative; 2 are needed
    parts, stats = dynamic_sampling(draw, num_groups=4, group_size=2, max_rounds=5)
    assert [rows.tolist() for _, rows in parts] == [[2, 3, 6, 7], [0, 1, 4, 5]]
    kept = torch.cat([batch[rows] for batch, rows in parts]).view(-1, 2)
    assert informative_groups(kept.flatten(), 2).all() and len(kept) == 4
    assert stats == {"rounds": 2, "groups_sampled": 8, "groups_dropped": 3, "groups_kept": 4,
                     "full": True}


def test_dynamic_sampling_stops_at_max_generation_rounds_and_says_so():
    draw = rounds([[0, 0], [1, 1], [0, 1]], [[1, 1], [1, 1], [0, 0]], [[1, 0]] * 3)
    parts, stats = dynamic_sampling(draw, num_groups=3, group_size=2, max_rounds=2)
    assert [rows.tolist() for _, rows in parts] == [[4, 5]]  # the third round is never drawn
    assert stats == {"rounds": 2, "groups_sampled": 6, "groups_dropped": 5, "groups_kept": 1,
                     "full": False}


# --- the dapo normaliser (§3.3 eq. 12; TRL num_items_in_batch) --------------------------------

def test_dapo_over_two_minibatches_sums_to_one_full_batch_token_mean_and_bnpo_does_not():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [5.0, 6.0, 0.0], [7.0, 0, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    full = aggregate(per_token, mask, "bnpo")
    assert full == pytest.approx(28 / 7)
    halves = [(per_token[:2], mask[:2]), (per_token[2:], mask[2:])]
    dapo = sum(aggregate(p, m, "dapo", normalizer=mask.sum()) for p, m in halves)
    bnpo = sum(aggregate(p, m, "bnpo") for p, m in halves)
    assert dapo == pytest.approx(28 / 7)
    assert bnpo == pytest.approx(10 / 4 + 18 / 3) and bnpo != pytest.approx(dapo)


class Recorder(GRPO):
    """Records each minibatch's normaliser and its active-token count."""

    def loss(self, batch):
        self.seen.append((batch.loss_normalizer, int(batch.mask.sum())))
        return super().loss(batch)


@pytest.mark.parametrize("loss_type", ["dapo", "bnpo"])
def test_the_trainer_passes_the_whole_batch_token_count_only_for_dapo(loss_type):
    algo = Recorder(SMALL.replace(loss_type=loss_type, num_minibatches=2), "addition")
    algo.seen = []
    algo.step()
    total = int(algo.last_batch.mask.sum())
    assert len(algo.seen) == 4 and sum(n for _, n in algo.seen[:2]) == total  # 2 epochs × 2
    if loss_type == "dapo":
        assert all(float(norm) == total for norm, _ in algo.seen)
    else:
        assert all(norm is None for norm, _ in algo.seen)


# --- a sequence-level ratio needs the per-sequence mean ---------------------------------------

@pytest.mark.parametrize("loss_type", ["bnpo", "dr_grpo", "dapo"])
def test_sequence_ratio_with_a_token_sum_aggregation_is_refused(loss_type):
    with pytest.raises(ValueError, match="importance_sampling_level='sequence'.*loss_type"):
        GroupConfig(importance_sampling_level="sequence", loss_type=loss_type).validate()
    GroupConfig(importance_sampling_level="sequence", loss_type="grpo").validate()
    GroupConfig(importance_sampling_level="trajectory", loss_type=loss_type).validate()


def test_dynamic_sampling_needs_groups():
    with pytest.raises(ValueError, match="dynamic_sampling"):
        GroupConfig(dynamic_sampling=True, num_generations=1, generation_batch_size=8).validate()


# --- the trainer ------------------------------------------------------------------------------

def test_dapo_preset_turns_both_on_and_the_penalty_shapes_the_reward():
    assert DAPO.dynamic_sampling and DAPO.overlong_penalty_factor == 1.0
    algo = GRPO(DAPO.replace(dynamic_sampling=False), "addition")
    # L_max - L_cache = the task's limit (5): correct answers are never punished
    assert algo.overlong_buffer == 2 and algo.max_new_tokens == 7
    m = algo.step()
    b = algo.last_batch
    expected = overlong_penalty(b.samples.lengths, 7, 2)
    assert torch.equal(b.overlong_penalty, expected)
    task = algo.task.reward(b.problems, b.samples.completion_ids)
    assert torch.equal(b.rewards, task + expected)
    assert m["overlong/mean_penalty"] == pytest.approx(float(expected.mean()))
    assert not b.overlong_penalty[task > 0].any()


def test_other_presets_have_no_penalty_and_no_rounds():
    algo = GRPO(PRESETS["GRPO"].apply(SMALL), "addition")
    m = algo.step()
    assert algo.max_new_tokens == 5 and algo.last_batch.overlong_penalty is None
    assert "dynamic_sampling/rounds" not in m and "overlong/mean_penalty" not in m


def test_dynamic_sampling_trains_on_full_batches_of_informative_groups():
    algo = GRPO(DAPO, "addition")
    total = 0
    for _ in range(2):
        m = algo.step()
        b = algo.last_batch
        total += m["dynamic_sampling/rounds"] * 64
        task = b.rewards - b.overlong_penalty
        assert len(b.rewards) == 64 and m["dynamic_sampling/batch_filled"] == 1.0
        assert informative_groups(task, 8).all()
        assert 0 < m["dynamic_sampling/frac_groups_dropped"] < 1
        assert m["frac_reward_zero_std"] == 0.0
    assert algo.global_step == total  # every completion sampled counts, kept or dropped


class AllCorrect(GRPO):
    """Every completion gets reward 1: every group is dropped."""

    def compute_rewards(self, problems, samples):
        return torch.ones(len(problems))


def test_dynamic_sampling_gives_up_after_max_generation_rounds_and_says_so():
    algo = AllCorrect(DAPO.replace(max_generation_rounds=3), "addition")
    before = torch.cat([p.detach().flatten().clone() for p in algo.model.parameters()])
    with pytest.warns(RuntimeWarning, match="3 generation rounds"):
        m = algo.step()
    assert m["dynamic_sampling/rounds"] == 3 and m["dynamic_sampling/batch_filled"] == 0.0
    assert m["dynamic_sampling/frac_groups_dropped"] == 1.0 and algo.global_step == 3 * 64
    after = torch.cat([p.detach().flatten() for p in algo.model.parameters()])
    assert torch.equal(before, after)  # nothing kept, nothing trained


def test_rounds_of_different_widths_concatenate_to_the_same_log_probs():
    model, tok, _ = load_base("addition")
    g = torch.Generator().manual_seed(0)
    parts = []
    for prompts, limit in ((["1+2=", "12+3="], 5), (["123+456="], 3)):
        ids, mask = tok.encode_batch(prompts, add_bos=True)
        parts.append(generate(model, ids, mask, max_new_tokens=limit, eos_id=tok.eos_id,
                              pad_id=tok.pad_id, temperature=1.0, generator=g))
    both = concat_samples(parts, tok.pad_id)
    assert both.prompt_ids.shape == (3, 9) and not both.prompt_mask[:2, 0].any()
    assert both.completion_ids.shape[1] == max(p.completion_ids.shape[1] for p in parts)
    assert torch.equal(both.lengths, torch.cat([p.lengths for p in parts]))
    with torch.no_grad():
        logp = completion_logprobs(model, both)[0]
    m = both.loss_mask
    torch.testing.assert_close(logp[m], both.logprobs[m], atol=1e-5, rtol=0)
