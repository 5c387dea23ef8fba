"""T-PPO: with window = L_max and no refill it is ppo-lm (same numbers after 2 iterations);
each round trains the latest window's tokens only (no token twice); cut rows are
bootstrapped by the current critic (EGAE), dropped, or ended with reward 0 as asked; the
critic updates on finished rows only; same seed, same numbers; bad input is refused."""

import math

import pytest
import torch

from polab.algos.token_control.critic import egae
from polab.algos.token_control.ppo_lm import PPOLM, PPOLMConfig
from polab.algos.token_control.tppo import TPPO, TPPOConfig
from polab.train import train

torch.set_num_threads(1)

SMALL = TPPOConfig(pool_size=8, generation_batch_size=8, value_warmup=1, eval_every=0,
                   num_iterations=4)


def flat(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_window_of_l_max_without_refill_is_ppo_lm():
    tppo = TPPO(SMALL.replace(window=64, refill=False))
    ppo = PPOLM(PPOLMConfig(**{k: v for k, v in SMALL.to_dict().items()
                               if k in PPOLMConfig.__dataclass_fields__}))
    for _ in range(2):
        a, b = tppo.step(), ppo.step()
        assert a["loss"] == b["loss"] and a["losses/value_loss"] == b["losses/value_loss"]
    assert torch.equal(flat(tppo.model), flat(ppo.model))
    assert torch.equal(flat(tppo.critic), flat(ppo.critic))
    assert tppo.global_step == ppo.global_step
    # and with windows it is not
    other = TPPO(SMALL)
    other.step()
    other.step()
    assert not torch.equal(flat(other.model), flat(ppo.model))


def test_each_round_trains_the_latest_window_only_and_no_token_twice():
    algo = TPPO(SMALL.replace(window=8))
    trained: dict[int, torch.Tensor] = {}
    for _ in range(6):
        algo.step()
        w, mask = algo.window, algo.last_batch.mask
        assert torch.equal(mask, w.new)  # the latest window, nothing earlier, no prompt
        assert int(mask.sum(1).max()) <= 8
        for slot, seq_mask in zip(w.slots.tolist(), mask, strict=True):
            seq = int(algo.sampler.seq_id[slot])
            prev = trained.get(seq, torch.zeros(64, dtype=torch.bool))
            now = torch.nn.functional.pad(seq_mask, (0, 64 - len(seq_mask)))
            assert not bool((prev & now).any())  # no token trained twice
            trained[seq] = prev | now


def test_cut_rows_bootstrap_with_the_current_critic_drop_or_zero():
    algo = TPPO(SMALL)
    algo.step()
    batch, w = algo.last_batch, algo.window
    cut = ~w.finished
    assert bool(cut.any()) and bool(w.finished.any())
    with torch.no_grad():
        values = algo.critic(batch.samples)
    hand = egae(values, batch.rewards, batch.samples.lengths, w.finished, 1.0, 0.95)[0]
    assert torch.allclose(algo.compute_advantages(batch), hand)
    last = batch.samples.lengths[cut] - 1
    # the last token of a cut row: δ = V(s_t_end) - V(s_t_end - 1), the critic's bootstrap
    rows = cut.nonzero().squeeze(1)
    boot = values[rows, last + 1] - values[rows, last]
    assert torch.allclose(hand[rows, last], boot, atol=1e-6)
    zero = TPPO(SMALL.replace(truncated_adv="zero"))
    zero.critic.load_state_dict(algo.critic.state_dict())
    zero.window = w
    z = zero.compute_advantages(batch)
    assert torch.allclose(z[rows, last], -values[rows, last], atol=1e-6)
    done = w.finished.nonzero().squeeze(1)
    assert torch.allclose(z[done], hand[done])
    drop = TPPO(SMALL.replace(truncated_adv="drop"))
    drop.window = w
    assert not bool(drop.token_mask(batch)[cut].any())
    assert torch.equal(drop.token_mask(batch)[done], w.new[done])


def test_the_critic_updates_on_finished_rows_only():
    algo = TPPO(SMALL)
    seen = []
    update = algo.update_critic

    def spy(samples, rewards, finished):
        seen.append(finished.clone())
        return update(samples, rewards, finished)

    algo.update_critic = spy
    for _ in range(3):
        algo.step()
        assert torch.equal(seen[-1], algo.window.finished)
    assert algo.completions == sum(int(f.sum()) for f in seen)


def test_utilisation_is_higher_with_windows_and_runs_are_reproducible():
    runs = [TPPO(SMALL.replace(seed=s)) for s in (0, 0, 1)]
    histories = [train(a, 4, progress=False) for a in runs]
    h = histories[0]
    assert h.status == "finished", h.message
    assert all(math.isfinite(v) for r in h.records for v in r.values())
    assert runs[0].global_step == runs[0].sampler.generation_steps == 4 * 16
    util = sum(runs[0].utilisation) / len(runs[0].utilisation)
    sync = PPOLM(PPOLMConfig(generation_batch_size=8, value_warmup=0, eval_every=0))
    train(sync, 2, progress=False)
    assert util > sum(sync.utilisation) / len(sync.utilisation)

    def strip(hist):
        return [{k: v for k, v in r.items() if not k.startswith("time")} for r in hist.records]

    assert strip(h) == strip(histories[1]) and strip(h) != strip(histories[2])


def test_state_dict_round_trip_continues_identically():
    algo = TPPO(SMALL)
    algo.step()
    state = algo.state_dict()
    first = [algo.step()["loss"] for _ in range(2)]
    again = TPPO(SMALL)
    again.load_state_dict(state)
    assert [again.step()["loss"] for _ in range(2)] == first
    assert torch.equal(flat(again.model), flat(algo.model))
    assert again.utilisation == algo.utilisation and again.global_step == algo.global_step


def test_bootstrap_values_are_paired_with_the_return_realised_later():
    from polab.plots.token_control.tppo import bootstrap_figure
    algo = TPPO(SMALL.replace(window=8))
    first = None
    for _ in range(6):
        m = algo.step()
        if first is None:
            first = (algo.window, algo.values.clone(), algo.last_batch)
            assert math.isclose(m["value/at_cut"], float(algo.cuts[0][1].mean()))
    w, values, batch = first
    cut = (~w.finished).nonzero().squeeze(1)
    n = batch.samples.lengths[cut]
    assert torch.equal(algo.cuts[0][1], values[cut, n])  # V(s_t_end) that EGAE used
    v, r = algo.bootstrap_pairs()
    assert len(v) == len(r) > 0 and set(r.tolist()) <= {0.0, 1.0}
    assert len(v) <= sum(len(c[0]) for c in algo.cuts)
    assert len(bootstrap_figure(v.numpy(), r.numpy()).data) == 2


def test_steps_to_reach_and_pass_by_digits():
    from polab.algos.token_control.tppo import pass_at_1_by_digits, steps_to_reach
    assert steps_to_reach([16, 32, 48], [0.5, 0.7, 0.8], 0.7) == 32
    assert steps_to_reach([16, 32], [0.5, 0.6], 0.7) == math.inf
    algo = TPPO(SMALL.replace(value_warmup=0))
    by = pass_at_1_by_digits(algo.model, algo.task)
    assert sum(n for _, n in by.values()) == 512 and set(by) <= set(range(1, 7))
    assert by[1][0] > by[max(by)][0]  # short sums are easier


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="window"):
        TPPOConfig(window=80).validate()
    with pytest.raises(ValueError, match="truncated_adv"):
        TPPOConfig(truncated_adv="ignore").validate()
    with pytest.raises(ValueError, match="pool_size"):
        TPPOConfig(pool_size=0).validate()


def test_figures_show_the_arms_and_the_idle_slots():
    from polab.plots.token_control.tppo import gantt_figure, pass_curves_figure
    occ = {"sync": torch.tensor([[0, 0, 0, -1], [1, -1, -1, -1]]).numpy(),
           "tppo": torch.tensor([[0, 0, 2, 2], [1, 3, 3, 3]]).numpy()}
    fig = gantt_figure(occ)
    assert len(fig.data) == 2
    assert fig.layout.annotations[0].text.startswith("sync: 50%")
    assert fig.layout.annotations[1].text.startswith("tppo: 100%")
    assert fig.data[1].z.tolist() == [[2, 2, 1, 1], [2, 1, 1, 1]]  # a new sequence: new colour
    fig = pass_curves_figure({"a": ([1, 2], [0.1, 0.2]), "b": ([1, 2], [0.3, 0.1])}, 0.2)
    assert [t.name for t in fig.data] == ["a", "b"]


def test_exercise_checker_accepts_the_right_answer_and_explains_a_wrong_one():
    from polab.algos.token_control.exercises.tppo import check_egae
    values, lam = [0.2, 0.4, 0.5, 0.6], 0.9
    a2 = 0.1
    a1 = 0.1 + 0.9 * a2
    right = [0.2 + 0.9 * a1, a1, a2]
    ok, msg = check_egae(values, lam, right, -0.5)
    assert ok, msg
    ok, msg = check_egae(values, lam, [0.4, 0.2, 0.1], -0.5)
    assert not ok and "EGAE gives" in msg
    ok, msg = check_egae(values, lam, right, 0.1)
    assert not ok and "reward 0" in msg
    assert not check_egae(values, lam, [0.1], -0.5)[0]
