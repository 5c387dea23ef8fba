"""D^3S (card 15): the max-variance subset equals brute force over every C(8, k) subset, the
schedules' values, token selection on a hand batch, ρ_s = ρ_t = 1 is GRPO, the mechanism
(max-variance rows, top |A|·H tokens, a kept/random gradient ratio > 1 at the first batch),
bad input, and the exercise's checker. Runs on the shipped addition-scratch base with small
batches (a few seconds)."""

import itertools
import math

import numpy as np
import pytest
import torch

from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.token_control.d3s import (
    D3S,
    D3SConfig,
    cross_group_subset,
    group_subset,
    max_variance_subset,
    rho,
    token_scores,
    top_tokens,
)
from polab.algos.token_control.exercises.d3s import check_subset
from polab.plots.token_control.d3s import score_token_html
from polab.train import train
from widgets.group_view import batch_tokens

SMALL = D3SConfig(generation_batch_size=64, num_generations=8, eval_every=0,
                  max_completion_length=64, num_iterations=4)


def params(algo):
    return torch.cat([p.detach().flatten().clone() for p in algo.model.parameters()])


def brute_force_best(values: torch.Tensor, k: int) -> float:
    return max(float(values[list(s)].double().var(unbiased=False))
               for s in itertools.combinations(range(len(values)), k))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_max_variance_subset_equals_brute_force_for_every_k(seed):
    gen = torch.Generator().manual_seed(seed)
    adv = torch.randn(6, 8, generator=gen)
    adv[5] = torch.tensor([1.0, 1.0, -1.0, -1.0, -1.0, 1.0, -1.0, -1.0])  # ties (0/1 rewards)
    for k in range(1, 9):
        keep = max_variance_subset(adv, k)
        assert (keep.sum(1) == k).all()
        for row, chosen in zip(adv, keep, strict=True):
            got = float(row[chosen].double().var(unbiased=False))
            assert got == pytest.approx(brute_force_best(row, k), abs=1e-10)


def test_max_variance_subset_by_hand():
    adv = torch.tensor([[0.1, -2.0, 0.0, 3.0, 0.5, -0.2, 1.0, 0.2]])
    assert max_variance_subset(adv, 2).nonzero()[:, 1].tolist() == [1, 3]
    # two from below, one from above: -2, -0.2 | 3 (variance 4.276) beats -2 | 1, 3 (4.222)
    assert max_variance_subset(adv, 3).nonzero()[:, 1].tolist() == [1, 3, 5]


def test_group_subset_skips_zero_variance_groups_and_keeps_all_at_rho_one():
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0]])
    keep = group_subset(adv, 0.5)
    assert keep[0].sum() == 2 and adv[0][keep[0]].sum() == 0 and not keep[1].any()
    assert group_subset(adv, 1.0).all()
    cross = cross_group_subset(torch.tensor([[3.0, 0.0, -0.1, 0.1], [0.2, -3.0, 0.3, 0.0]]),
                               0.25)
    assert cross.nonzero().tolist() == [[0, 0], [1, 1]]  # the two extremes of the pool
    rand = group_subset(adv, 0.5, method="random", generator=torch.Generator().manual_seed(0))
    assert rand[0].sum() == 2 and not rand[1].any()


def test_schedules():
    assert rho(0, 0.2, 10, "linear") == pytest.approx(0.2)
    assert rho(5, 0.2, 10, "linear") == pytest.approx(0.6)
    assert rho(20, 0.2, 10, "linear") == 1.0
    assert rho(5, 0.2, 10, "cosine") == pytest.approx(0.6)
    assert rho(2.5, 0.2, 10, "cosine") == pytest.approx(0.2 + 0.8 * (1 - math.sqrt(0.5)) / 2)
    assert rho(100, 0.2, 10, "constant") == 0.2
    assert rho(0, 0.2, 0, "linear") == 1.0


def test_token_selection_on_a_hand_batch():
    adv = torch.tensor([2.0, -1.0, 0.0])
    ent = torch.tensor([[0.1, 0.5, 0.2, 0.0], [1.0, 0.3, 0.0, 0.0], [3.0, 3.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    scores = token_scores(adv, ent, "adv_entropy")  # row 0: .2 1 .4; row 1: 1 .3; row 2: 0 0
    assert scores[0].tolist() == pytest.approx([0.2, 1.0, 0.4, 0.0])
    keep = top_tokens(scores, mask, 0.4)  # ceil(0.4 · 7) = 3 of the 7 tokens
    assert keep.nonzero().tolist() == [[0, 1], [0, 2], [1, 0]]
    assert torch.equal(top_tokens(scores, mask, 1.0), mask)
    assert top_tokens(token_scores(adv, ent, "entropy"), mask, 0.3).nonzero().tolist() == [
        [1, 0], [2, 0], [2, 1]]


def test_rho_one_is_grpo():
    ones = dict(rho_s_min=1.0, rho_t_min=1.0)
    d3s = D3S(SMALL.replace(**ones), "addition-scratch")
    grpo = GRPO(GRPOConfig(**{f: getattr(SMALL, f) for f in GRPOConfig.__dataclass_fields__}),
                "addition-scratch")
    train(d3s, 2, progress=False)
    train(grpo, 2, progress=False)
    assert torch.equal(params(d3s), params(grpo))
    assert d3s.last_batch.keep.all()


def test_mechanism_max_variance_rows_top_tokens_and_grad_ratio():
    algo = D3S(SMALL.replace(grad_ratio_every=1), "addition-scratch")
    before = params(algo)
    m = algo.step()
    batch = algo.last_batch
    adv = batch.advantages.view(-1, 8)
    keep = batch.keep.view(-1, 8)
    live = (adv.amax(1) - adv.amin(1)) > 1e-8
    assert (keep[live].sum(1) == 2).all() and not keep[~live].any()  # ceil(0.25 · 8)
    # each kept pair is the group's extremes: one best and one worst rollout
    assert torch.allclose(adv[keep].view(-1, 2).amax(1), adv[live].amax(1))
    assert torch.allclose(adv[keep].view(-1, 2).amin(1), adv[live].amin(1))
    # tokens: ceil(0.2 · n) of the kept rows' response tokens, the top |A|·H ones
    cand = batch.samples.loss_mask & batch.keep[:, None]
    assert int(batch.mask.sum()) == math.ceil(0.2 * int(cand.sum()))
    score = (batch.advantages.abs()[:, None] * batch.samples.entropies)
    assert score[batch.mask].min() >= score[cand & ~batch.mask].max()
    assert m["d3s/backprop_tokens"] == 2 * int(batch.mask.sum())
    assert m["mask/kept_share"] == pytest.approx(
        int(batch.mask.sum()) / int(batch.samples.loss_mask.sum()))
    assert m["d3s/var_adv_kept"] > m["d3s/var_adv_dropped"]
    assert m["d3s/grad_ratio"] > 1.0
    assert not torch.equal(before, params(algo))


def test_probe_leaves_the_run_unchanged_and_same_seed_same_numbers():
    runs = [D3S(SMALL.replace(grad_ratio_every=e), "addition-scratch") for e in (0, 1, 0)]
    for algo in runs:
        train(algo, 2, progress=False)
    assert torch.equal(params(runs[0]), params(runs[1]))
    assert torch.equal(params(runs[0]), params(runs[2]))


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="rho_s_min"):
        D3SConfig(rho_s_min=0.0).validate()
    with pytest.raises(ValueError, match="prefix_grouper"):
        D3SConfig(prefix_grouper=True).validate()
    with pytest.raises(ValueError, match="schedule"):
        D3SConfig(schedule="step").validate()
    with pytest.raises(ValueError, match="token_score"):
        D3S(SMALL.replace(token_score="loss"), "addition-scratch")
    D3SConfig(prefix_grouper=True, rho_s_min=1.0).validate()
    with pytest.raises(ValueError, match="k=9"):
        max_variance_subset(torch.zeros(2, 8), 9)
    with pytest.raises(ValueError, match="rho_t"):
        top_tokens(torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.bool), 0.0)


def test_exercise_checker_on_a_right_and_a_wrong_answer():
    ok, msg = check_subset([1, 1, 0, 0, 0, 1, 0, 0], k=2, answer=[0, 2])
    assert ok, msg
    ok, msg = check_subset([1, 1, 0, 0, 0, 1, 0, 0], k=2, answer=[0, 1])
    assert not ok and "variance" in msg


def test_token_view_mask_layer_on_a_d3s_batch():
    algo = D3S(SMALL, "addition-scratch")
    algo.step()
    batch = algo.last_batch
    rows = np.concatenate([batch.keep.nonzero().squeeze(1)[:2].numpy(),
                           (~batch.keep).nonzero().squeeze(1)[:1].numpy()])
    parts = batch_tokens(batch, algo.tokenizer, rows)
    s = batch.samples
    for out, i in zip(parts["left_out"], rows, strict=True):
        n = int(s.lengths[i])
        assert out == (~batch.mask[i, :n]).tolist() if batch.keep[i] else all(out)
    text = score_token_html(batch, algo.tokenizer, rows)
    assert "|A|·H" in text and "line-through" in text and "outline" in text
    assert "(row dropped)" in text
