"""The training loop: NaN guard, determinism, stop, callbacks, History files, checkpoints."""

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
    assert history.status == "nonfinite"
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
