"""The GRPO trainer on the shipped addition base: it runs and learns something, its presets
and hooks do what they say, same seed gives the same numbers, and the group / token views
render. Batches are small (8 prompts × 8) so the whole file takes a few seconds."""

import copy
import math

import numpy as np
import pytest
import torch
from helpers import browser_echo

from polab import plots
from polab.algos.group.grpo import GRPO, GroupBatch, GRPOConfig
from polab.algos.group.presets import PRESETS
from polab.lm.tasks import AdditionTask
from polab.train import History, train
from widgets.group_view import GroupView, batch_tokens

SMALL = GRPOConfig(generation_batch_size=64, num_generations=8, eval_every=0)


def params(algo):
    return torch.cat([p.detach().flatten().clone() for p in algo.model.parameters()])


def scalars(record):
    return {k: v for k, v in record.items() if not k.startswith("time")
            and not isinstance(v, torch.Tensor)}


@pytest.mark.parametrize("preset", ["GRPO", "Dr.GRPO", "DAPO", "GSPO", "RLOO"])
def test_every_preset_trains_and_changes_the_model(preset):
    algo = GRPO(PRESETS[preset].apply(SMALL), "addition")
    before = params(algo)
    history = train(algo, 2, progress=False)
    assert history.status == "finished", history.message
    assert all(math.isfinite(v) for r in history.records for v in r.values())
    assert not torch.equal(before, params(algo))
    rounds = sum(history.column("dynamic_sampling/rounds")) if preset == "DAPO" else 2
    assert algo.global_step == 64 * rounds == history.last("global_step")
    assert (algo.ref_model is not None) == (PRESETS[preset].as_dict()["beta"] > 0)
    if algo.ref_model is not None:
        assert history.last("kl") > 0


def test_same_seed_same_numbers_and_another_seed_differs():
    runs = [train(GRPO(SMALL.replace(seed=s), "addition"), 3, progress=False)
            for s in (0, 0, 1)]
    assert [scalars(r) for r in runs[0].records] == [scalars(r) for r in runs[1].records]
    assert [scalars(r) for r in runs[0].records] != [scalars(r) for r in runs[2].records]


def test_metrics_are_trls_and_groups_are_consistent():
    algo = GRPO(SMALL, "addition")
    m = algo.step()
    for key in ("reward", "reward_std", "frac_reward_zero_std", "completions/mean_length",
                "completions/clipped_ratio", "entropy", "clip_ratio/low_mean",
                "clip_ratio/high_mean", "loss", "grad_norm", "time/train_s"):
        assert key in m, key
    batch = algo.last_batch
    groups = batch.rewards.view(8, 8)
    degenerate = (groups == groups[:, :1]).all(1)
    assert m["frac_reward_zero_std"] == pytest.approx(float(degenerate.float().mean()))
    # degenerate groups have zero advantage; the others are centred on zero
    assert (batch.advantages.view(8, 8)[degenerate] == 0).all()
    assert batch.advantages.view(8, 8).sum(1).abs().max() < 1e-4
    # the ratio's old log-probs are the sampler's: the training forward reproduces them
    assert m["logprob_mismatch"] < 1e-5
    # each prompt appears G times in a row
    assert batch.problems.prompts[0] == batch.problems.prompts[7] != batch.problems.prompts[8]


def test_eval_after_the_first_every_eval_every_and_the_last_update():
    algo = GRPO(SMALL.replace(eval_every=3, num_iterations=5), "addition")
    history = train(algo, 5, progress=False)
    evals = history.column("eval/pass@1")
    assert np.isfinite(evals[[0, 2, 4]]).all() and np.isnan(evals[[1, 3]]).all()
    assert 0.2 <= evals[0] <= 0.45  # one small update away from the shipped base's band


def test_state_dict_round_trip_continues_identically():
    """The checkpoint is the base's, from ``state_parts``: the same trainer, or a fresh one,
    continues from a saved state with the same numbers."""
    config = PRESETS["GRPO"].apply(SMALL)  # beta > 0: the reference model is a part too
    algo = GRPO(config, "addition")
    algo.step()
    state = copy.deepcopy(algo.state_dict())
    assert {"model", "optimizer", "generator", "sample_generator", "ref_model",
            "global_step", "iteration"} <= set(state)
    first = scalars(algo.step())
    algo.load_state_dict(copy.deepcopy(state))
    assert scalars(algo.step()) == first
    fresh = GRPO(config, "addition")
    fresh.load_state_dict(copy.deepcopy(state))
    assert scalars(fresh.step()) == first and fresh.global_step == algo.global_step
    with pytest.raises(KeyError, match="lacks"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "optimizer"})


def test_global_step_counts_completions_and_is_the_only_x_axis():
    algo = GRPO(SMALL, "addition")
    m = algo.step()
    assert algo.x_label == "completions sampled" and algo.global_step == 64
    assert "samples" not in m


def test_minibatches_and_update_epochs_count_adam_steps():
    algo = GRPO(SMALL.replace(update_epochs=3, num_minibatches=2), "addition")
    algo.step()
    assert algo.optimizer.state[algo.model.wte.weight]["step"] == 6


def test_generation_stops_at_the_task_limit_and_dr_grpo_uses_it():
    algo = GRPO(PRESETS["Dr.GRPO"].apply(SMALL), "addition")
    assert algo.max_new_tokens == 5 == algo.task.max_new_tokens  # 3-digit sum + <eos>
    algo.step()
    assert algo.last_batch.samples.completion_ids.shape[1] <= 5


def test_dapo_masks_truncated_completions():
    config = PRESETS["DAPO"].apply(SMALL.replace(max_completion_length=3))
    algo = GRPO(config.replace(dynamic_sampling=False), "addition")  # every group is all wrong
    algo.step()
    b = algo.last_batch
    assert (~b.samples.ended).any()  # 3 tokens cannot hold a 3-digit sum and <eos>
    assert not b.mask[~b.samples.ended].any()
    assert torch.equal(b.mask[b.samples.ended], b.samples.loss_mask[b.samples.ended])


class ConstantReward(GRPO):
    """Reward shaping hook: every completion gets 1, so every group is degenerate."""

    def compute_rewards(self, problems, samples):
        return torch.ones(len(problems))


class ExtraTerm(GRPO):
    """Extra-loss hook: a length penalty on the log-probs, reported under its name."""

    def extra_loss(self, batch, logp, entropy):
        return {"loss_length": 1e-3 * torch.where(batch.mask, logp, 0.0).sum() / 64}


def test_reward_hook_with_no_signal_leaves_the_model_unchanged():
    algo = ConstantReward(SMALL, "addition")
    before = params(algo)
    m = algo.step()
    assert m["frac_reward_zero_std"] == 1.0 and m["frac_zero_advantage"] == 1.0
    torch.testing.assert_close(params(algo), before, atol=0, rtol=0)


def test_token_mask_hook_and_extra_loss_hook():
    algo = GRPO(SMALL, "addition")
    algo.token_mask = lambda batch: torch.zeros_like(batch.samples.loss_mask)
    before = params(algo)
    algo.step()
    torch.testing.assert_close(params(algo), before, atol=0, rtol=0)
    extra = ExtraTerm(SMALL, "addition")
    m = extra.step()
    assert m["loss_length"] < 0 and m["loss"] == pytest.approx(m["loss_policy"]
                                                               + m["loss_length"], abs=1e-6)


def test_select_rows_subsets_every_field():
    algo = GRPO(SMALL, "addition")
    algo.step()
    b = algo.last_batch
    part = b.select(torch.tensor([3, 9]))
    assert isinstance(part, GroupBatch) and part.samples.completion_ids.shape[0] == 2
    assert part.problems.prompts == [b.problems.prompts[3], b.problems.prompts[9]]
    assert torch.equal(part.advantages, b.advantages[[3, 9]])


def test_a_task_needs_its_model():
    with pytest.raises(ValueError, match="pass the model"):
        GRPO(SMALL, AdditionTask(eval_size=0))


def test_prefix_grouper_refuses_a_row_filter_that_splits_groups():
    algo = GRPO(SMALL, "addition")
    algo.select_rows = lambda batch: torch.arange(64) % 8 != 3
    with pytest.raises(ValueError, match="whole groups"):
        algo.step()
    algo.select_rows = lambda batch: torch.arange(64) >= 16  # drop the first two groups
    assert algo.step()["frac_rows_kept"] == 0.75


# --- group and token views ------------------------------------------------------------------

def test_group_view_figure_marks_degenerate_groups():
    rewards = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0.0]])
    adv = rewards - rewards.mean(1, keepdims=True)
    h = History([{"global_step": 32.0, "frac_reward_zero_std": 0.5},
                 {"global_step": 64.0, "frac_reward_zero_std": 2 / 3}])
    fig = plots.group_view_figure(rewards, adv, ["1+2=", "3+4=", "5+6="], h)
    assert list(fig.data[0].y) == ["1+2=", "⊘ 3+4=", "⊘ 5+6="]
    assert list(fig.data[2].x) == [32.0, 64.0] and list(fig.data[2].y) == [0.5, 2 / 3]
    assert fig.layout.xaxis3.title.text == "completions sampled"


def test_group_view_figure_shows_the_overlong_penalty():
    rewards = np.array([[1.0, -0.5], [0.0, 1.0]])
    pen = np.array([[0.0, -0.5], [0.0, 0.0]])
    fig = plots.group_view_figure(rewards, rewards - rewards.mean(1, keepdims=True),
                                  penalties=pen)
    assert [list(r) for r in fig.data[0].text] == [["1", "-0.5*"], ["0", "1"]]
    assert np.asarray(fig.data[0].customdata).tolist() == pen.tolist()
    assert "overlong penalty" in fig.data[0].hovertemplate and fig.data[0].zmin == -0.5
    assert "overlong" not in plots.group_view_figure(rewards, rewards).data[0].hovertemplate


def test_token_html_colours_by_sign_and_escapes():
    text = plots.token_html(["1+1="], [["2", "<eos>"]], [[0.5, -1.0]], ["reward 1"])
    assert "&lt;eos&gt;" in text and "rgba(178,24,43,0.85)" in text  # -1 = full red
    assert "rgba(33,102,172,0.42)" in text and "reward 1" in text
    entropy = plots.token_html(["1+1="], [["2"]], [[0.3]], value_name="entropy")
    assert "230,120,20" in entropy


def test_group_view_follows_a_trainer():
    algo = GRPO(SMALL, "addition")
    view = GroupView(groups=4, completions=3)
    assert "no batch" in view.token_html()
    history = train(algo, 1, progress=False)
    view.update(algo, history)
    fig = view.static_figure()
    assert np.asarray(fig.data[0].z).shape == (4, 8)
    parts = batch_tokens(algo.last_batch, algo.tokenizer, np.arange(3), "entropy")
    s = algo.last_batch.samples
    assert len(parts["tokens"]) == 3
    assert "".join(parts["tokens"][0]) == algo.tokenizer.decode(s.completion_ids[0])
    assert parts["values"][0] == pytest.approx(s.entropies[0, :s.lengths[0]].tolist())
    view.value.value = "entropy"
    assert "entropy" in view.tokens.value
    algo.last_batch.overlong_penalty = torch.zeros(64)
    algo.last_batch.overlong_penalty[1] = -0.5
    assert "overlong penalty" in view.static_figure().data[0].hovertemplate
    notes = batch_tokens(algo.last_batch, algo.tokenizer, np.arange(3))["notes"]
    assert "overlong penalty -0.5" in notes[1] and "overlong" not in notes[0]


def test_live_group_view_survives_the_browsers_trace_deltas(monkeypatch):
    import widgets.group_view as group_view

    monkeypatch.setattr(group_view, "is_live", lambda: True)
    monkeypatch.setattr(group_view, "display", lambda *_: None)
    algo = GRPO(SMALL, "addition")
    view = GroupView(groups=4, completions=3)
    view._ipython_display_()  # builds the FigureWidget
    view.update(algo, train(algo, 1, progress=False))
    browser_echo(view.figure)


def test_rollout_encodes_each_prompt_once_and_draws_what_repeated_prompts_draw(monkeypatch):
    """Groups of one prompt go to ``generate`` once per prompt (``num_return_sequences=G``),
    and sample what the G copies sampled; rows that are not groups go row by row."""
    from polab.algos.group import grpo as grpo_module
    from polab.lm.generate import generate

    algo = GRPO(GRPOConfig(generation_batch_size=32, num_generations=4, eval_every=0),
                "addition")
    problems, _ = algo.build_groups()
    seen = []
    monkeypatch.setattr(grpo_module, "generate", lambda *a, **k: seen.append(
        (len(a[1]), k["num_return_sequences"])) or generate(*a, **k))
    algo.sample_generator.manual_seed(5)
    shared = algo.rollout(problems)
    ids, mask = algo.task.encode_prompts(problems)
    tok = algo.tokenizer
    plain = generate(algo.model, ids, mask, max_new_tokens=algo.max_new_tokens,
                     eos_id=tok.eos_id, pad_id=tok.pad_id,
                     generator=torch.Generator().manual_seed(5))
    assert torch.equal(shared.completion_ids, plain.completion_ids)
    assert torch.equal(shared.prompt_ids, plain.prompt_ids)
    torch.testing.assert_close(shared.logprobs, plain.logprobs, atol=3e-5, rtol=0)
    algo.rollout(problems.select(torch.arange(32).view(8, 4).T.flatten()))  # not groups
    assert seen == [(8, 4), (32, 1)]
