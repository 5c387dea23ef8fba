"""The training loop: divergence guard, determinism, stop, callbacks, History files, checkpoints."""

import copy
import math

import numpy as np
import pytest
import torch

import polab.algos.pg.ppo as ppo_module
from polab.algos import PPO, PPOConfig
from polab.train import History, TrainingRun, load_checkpoint, reached, train

TINY = PPOConfig(num_envs=8, num_steps=16, total_timesteps=8 * 16 * 10, num_minibatches=2,
                 update_epochs=2)


def params(algo):
    return torch.cat([p.detach().flatten().clone() for p in algo.agent.parameters()])


def test_nan_in_the_loss_stops_with_message_and_keeps_history_and_last_good_state(monkeypatch):
    algo = PPO(TINY, "CartPole-v1")
    real = ppo_module.ppo_loss
    snapshot = {}

    def poison_after_two(record):
        if record["iteration"] == 1:  # the second iteration just finished
            snapshot["params"] = params(algo)

            def nan_loss(*args, **kwargs):
                terms = real(*args, **kwargs)
                terms["loss"] = terms["loss"] * math.nan
                return terms

            monkeypatch.setattr(ppo_module, "ppo_loss", nan_loss)

    history = train(algo, 6, callbacks=[poison_after_two], progress=False)
    assert history.status == "diverged"
    assert "non-finite" in history.message and "loss" in history.message
    assert "iteration 2" in history.message
    assert len(history) == 2
    after = params(algo)
    assert torch.isfinite(after).all()
    assert torch.equal(after, snapshot["params"])


def test_same_seed_same_history_on_cpu():
    def run(seed):
        h = train(PPO(TINY.replace(seed=seed), "CartPole-v1"), 4, progress=False)
        return h.to_dataframe().drop(columns=["time"])

    a, b, c = run(3), run(3), run(4)
    assert a.equals(b)
    assert not a.equals(c)


def test_stop_flag_and_callbacks():
    algo = PPO(TINY, "CartPole-v1")
    calls = []
    h = train(algo, 10, stop=lambda: len(calls) >= 3, callbacks=[calls.append], progress=False)
    assert h.status == "stopped" and len(h) == 3
    h2 = train(PPO(TINY, "CartPole-v1"), 10, callbacks=[reached("iteration", 1)],
               progress=False)
    assert h2.status == "stopped" and len(h2) == 2


def test_history_roundtrip_dataframe_and_latest(tmp_path):
    h = train(PPO(TINY, "CartPole-v1"), 3, progress=False)
    assert h.status == "finished"
    assert {"global_step", "time", "losses/approx_kl", "charts/learning_rate"} <= set(h.keys())
    assert h.latest["advantages"].shape == (TINY.batch_size,)
    path = h.save(tmp_path / "run.json")
    back = History.load(path)
    assert back.records == h.records and back.status == "finished"
    np.testing.assert_allclose(back.latest["advantages"], h.latest["advantages"], rtol=1e-6)
    df = back.to_dataframe()
    assert len(df) == 3 and df["global_step"].tolist() == [128.0, 256.0, 384.0]
    assert back.meta["config"]["num_envs"] == 8


def test_checkpoint_written_atomically_and_loadable(tmp_path):
    algo = PPO(TINY, "CartPole-v1")
    ckpt = tmp_path / "ckpt.pt"
    train(algo, 2, checkpoint=ckpt, checkpoint_every=1, progress=False)
    assert ckpt.exists() and not list(tmp_path.glob(".ckpt.pt.*"))
    fresh = PPO(TINY.replace(seed=1), "CartPole-v1")
    load_checkpoint(fresh, ckpt)
    assert torch.equal(params(fresh), params(algo)) and fresh.global_step == algo.global_step


def test_generator_can_be_driven_step_by_step_and_continued():
    algo = PPO(TINY, "CartPole-v1")
    run = TrainingRun(algo, 2, progress=False)
    records = list(run)
    assert [r["iteration"] for r in records] == [0.0, 1.0]
    more = TrainingRun(algo, 2, progress=False, history=run.history)
    list(more)
    assert len(more.history) == 4 and more.history.records[-1]["iteration"] == 3.0


def test_bad_iterations_rejected():
    with pytest.raises(ValueError, match="iterations"):
        TrainingRun(PPO(TINY, "CartPole-v1"), -1)


class Exploding:
    """A fake algorithm: one linear layer; ``step`` reports a loss that grows 10x per
    iteration, and from iteration ``poison_at`` on (if given) sets a weight to ``poison``."""

    def __init__(self, poison_at=None, poison=math.inf, loss_growth=10.0):
        self.net = torch.nn.Linear(2, 2)
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.global_step, self.iteration = 0, 0
        self.poison_at, self.poison, self.loss_growth = poison_at, poison, loss_growth

    def step(self):
        with torch.no_grad():
            self.net.weight.add_(0.1)
            if self.poison_at is not None and self.iteration >= self.poison_at:
                self.net.weight[0, 1] = self.poison
        self.iteration += 1
        self.global_step += 4
        return {"loss": self.loss_growth ** self.iteration, "losses/q_values": 1.0}

    def state_dict(self):
        return {"net": copy.deepcopy(self.net.state_dict()), "iteration": self.iteration,
                "global_step": self.global_step}

    def load_state_dict(self, state):
        self.net.load_state_dict(state["net"])
        self.iteration, self.global_step = state["iteration"], state["global_step"]


def test_exploding_loss_ends_diverged_naming_iteration_and_quantity():
    algo = Exploding()
    history = train(algo, 40, progress=False)
    # loss = 10^(i+1) at iteration i: 1e12 is still allowed, 1e13 (iteration 12) is not
    assert history.status == "diverged" and history.status != "finished"
    assert "iteration 12" in history.message and "loss = 1e+13 exploded" in history.message
    assert len(history) == 12 and history["loss"][-1] == 1e12
    assert algo.iteration == 12  # the state from before the diverging iteration


def test_divergence_threshold_is_configurable():
    history = train(Exploding(), 40, progress=False, diverge_at=1e3)
    assert history.status == "diverged" and "iteration 3" in history.message
    assert len(history) == 3


def test_exploding_q_values_are_named():
    class QBlowUp(Exploding):
        def step(self):
            return {**super().step(), "loss": 1.0, "losses/q_values": 10.0 ** (2 * self.iteration)}

    history = train(QBlowUp(), 40, progress=False)
    assert history.status == "diverged"
    assert "iteration 6" in history.message and "losses/q_values = 1e+14" in history.message


@pytest.mark.parametrize("poison,word", [(math.inf, "non-finite"), (math.nan, "non-finite"),
                                         (1e20, "exploded")])
def test_parameter_going_inf_nan_or_huge_ends_diverged(poison, word):
    algo = Exploding(poison_at=3, poison=poison, loss_growth=1.0)
    history = train(algo, 10, progress=False)
    assert history.status == "diverged"
    assert "iteration 3" in history.message
    assert "parameter net.weight (max |p|)" in history.message and word in history.message
    assert len(history) == 3 and history["iteration"].tolist() == [0.0, 1.0, 2.0]
    assert torch.isfinite(algo.net.weight).all() and algo.iteration == 3


def test_large_diagnostics_are_not_divergence_but_non_finite_ones_are():
    class Diagnostic(Exploding):
        def step(self):
            big = -1e13 if self.iteration < 3 else math.nan
            return {**super().step(), "loss": 1.0, "losses/explained_variance": big}

    history = train(Diagnostic(), 10, progress=False)
    assert history.status == "diverged" and len(history) == 3
    assert "iteration 3: non-finite losses/explained_variance" in history.message


def test_finite_run_of_the_fake_finishes():
    history = train(Exploding(loss_growth=1.0), 5, progress=False)
    assert history.status == "finished" and len(history) == 5


def test_old_nonfinite_history_files_load_as_diverged(tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"records": [], "status": "nonfinite", "message": "m"}')
    assert History.load(path).status == "diverged"
