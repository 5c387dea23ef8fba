"""HDPO and the REINFORCE baseline: losses on hand cases, the policies' structure, the
Algorithm protocol (metrics, budget counter, seeding, state_dict) and a short learning check."""

import math
from dataclasses import replace

import pytest
import torch
from helpers import INVENTORY_SMALL as SMALL
from torch import nn

from polab.algos.diffsim.diagnosis import best_rate, excess_pct, lr_sweep, relative_noise, verdict
from polab.algos.diffsim.hdpo import (
    HDPO,
    HDPOConfig,
    InventoryConfig,
    InventoryReinforce,
    InventoryReinforceConfig,
    data_efficiency,
    gradient_spread,
    hdpo_loss,
    make_algo,
    score_function_loss,
)
from polab.algos.diffsim.policies import SymmetricPolicy, order_curve
from polab.envs.inventory.sim import InventoryState, one_store, one_warehouse
from polab.train import train


def test_hdpo_loss_is_the_average_cost_after_the_warmup():
    costs = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    assert hdpo_loss(costs, warmup=2)["loss"].item() == 5.5  # mean(3, 4, 7, 8)


def test_score_function_loss_by_hand():
    # warm-up 1, γ = 0.5: counted costs [[0, 2], [0, 4]] → cost-to-go [[1, 2], [2, 4]];
    # per-period baseline (1.5, 3) → A = [[-0.5, -1], [0.5, 1]];
    # Σ logp·A = 1(-0.5) + 2(-1) + 3(0.5) + 4(1) = 3, over N (T - T0) = 2 → 1.5
    logp = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    costs = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = score_function_loss(logp, costs, warmup=1, gamma=0.5, normalize=False)
    assert out["cost_to_go"].tolist() == [[1.0, 2.0], [2.0, 4.0]]
    assert out["advantages"].tolist() == [[-0.5, -1.0], [0.5, 1.0]]
    assert out["loss"].item() == 1.5
    normed = score_function_loss(logp, costs, warmup=1, gamma=0.5)["advantages"]
    assert normed.std().item() == pytest.approx(1.0, rel=1e-6)


def test_gradient_spread_by_hand():
    grads = torch.tensor([[1.0, 0.0], [3.0, 2.0]])  # mean (2, 1); deviations (∓1, ∓1)
    assert gradient_spread(grads) == {"variance": 2.0, "signal": 5.0, "relative": 0.4}


def test_symmetric_policy_is_permutation_equivariant():
    setting = one_warehouse(3, seed=1)
    perm = torch.tensor([2, 0, 1])
    permuted = replace(setting, **{k: getattr(setting, k)[perm] for k in
                                   ("holding", "underage", "lead_time", "demand_mean",
                                    "demand_std")})
    torch.manual_seed(0)
    a = SymmetricPolicy(setting)
    b = SymmetricPolicy(permuted)
    b.load_state_dict({**a.state_dict(), **{k: v for k, v in b.state_dict().items()
                                           if k in ("params", "store_scale", "column_scale")}})
    store, wh = torch.rand(5, 3, setting.columns) * 5, torch.rand(5, 1, 3) * 20
    out_a, w_a = a(InventoryState(store, wh))
    out_b, w_b = b(InventoryState(store[:, perm], wh))
    assert torch.allclose(out_a[:, perm], out_b, atol=1e-6) and torch.allclose(w_a, w_b)


def test_order_curve_reads_the_inventory_position():
    class BaseStock(nn.Module):
        def __init__(self):
            super().__init__()
            self.level = nn.Parameter(torch.tensor(20.0))

        def forward(self, state):
            return torch.relu(self.level - state.store.sum(-1)), None

    setting = one_store(lead_time=3)
    x = torch.tensor([0.0, 10.0, 18.0, 25.0])
    assert order_curve(BaseStock(), setting, x).tolist() == [20.0, 10.0, 2.0, 0.0]


@pytest.mark.parametrize("cls, config_cls, lost", [(HDPO, HDPOConfig, False),
                                                   (InventoryReinforce, InventoryReinforceConfig,
                                                    True)])
def test_algorithm_protocol(cls, config_cls, lost):
    config = config_cls(lost_sales=lost, **SMALL)
    algo = make_algo(config)
    assert isinstance(algo, cls) and algo.optimum is not None
    before = torch.cat([p.detach().flatten() for p in algo.policy.parameters()])
    history = train(algo, 3, progress=False)
    assert history.status == "finished", history.message
    assert algo.global_step == 3 * 32 * 12  # scenario-periods simulated
    first, second = history.records[0], history.records[1]
    assert {"cost", "losses/policy_loss", "test_cost", "gap_pct"} <= set(second)
    assert "test_cost" not in history.records[2]  # eval_every = 2: iterations 1 and 2 only
    assert all(math.isfinite(v) for v in first.values())
    after = torch.cat([p.detach().flatten() for p in algo.policy.parameters()])
    assert not torch.equal(before, after)
    # same seed → same numbers; state_dict → the same next step
    twin = make_algo(config)
    assert train(twin, 3, progress=False).records[2]["cost"] == history.records[2]["cost"]
    copy = make_algo(config)
    copy.load_state_dict(algo.state_dict())
    assert copy.step()["cost"] == algo.step()["cost"]


def test_score_function_gradient_is_noisier_than_the_pathwise_one():
    config = HDPOConfig(**SMALL)
    hdpo = HDPO(config)
    reinforce = InventoryReinforce(InventoryReinforceConfig(**SMALL))
    spread_p = gradient_spread(hdpo.gradient_samples(6))
    spread_s = gradient_spread(reinforce.gradient_samples(6))
    assert spread_s["relative"] > 10 * spread_p["relative"]


def test_hdpo_learns_the_backlogged_store():
    config = HDPOConfig(**{**SMALL, "n_scenarios": 256, "batch_size": 128, "horizon": 30,
                           "warmup": 10, "test_scenarios": 128, "test_horizon": 100,
                           "test_warmup": 30, "num_iterations": 60, "eval_every": 60})
    algo = HDPO(config)
    first = algo.step()["gap_pct"]
    for _ in range(59):
        last = algo.step()
    assert first > 50 and last["gap_pct"] < 10.0


def test_data_efficiency_rows():
    config = HDPOConfig(network="one_warehouse", n_stores=2, hidden=8, **SMALL)
    rows = data_efficiency(config, n_scenarios=(4, 16), steps=2)
    assert [(r["arch"], r["n_scenarios"]) for r in rows] == [
        ("mlp", 4), ("mlp", 16), ("symmetric", 4), ("symmetric", 16)]
    assert min(r["gap_pct"] for r in rows) == 0.0 and all(r["gap_pct"] >= 0 for r in rows)


# --- card 3's claim examined (polab.algos.diffsim.diagnosis) --------------------------------

def test_excess_and_best_rate_by_hand():
    assert excess_pct(11.0, 10.0) == pytest.approx(10.0)
    assert excess_pct(9.5, 10.0) == pytest.approx(-5.0)
    rows = [{"estimator": "reinforce", "learning_rate": 1e-2, "test_cost": float("nan")},
            {"estimator": "reinforce", "learning_rate": 3e-2, "test_cost": 7.0},
            {"estimator": "reinforce", "learning_rate": 1e-1, "test_cost": float("inf")},
            {"estimator": "hdpo", "learning_rate": 1e-3, "test_cost": 1.0}]
    assert best_rate(rows) == 3e-2  # NaN and inf (diverged runs) never win
    assert best_rate(rows, "hdpo") == 1e-3


@pytest.mark.parametrize("hdpo, reinforce, expected", [
    ([0.5, 1.0, 1.9], [12.0, 15.0, 11.0], "reproduced"),
    ([0.5, 1.0, 0.8], [1.5, 2.0, 1.1], "partly"),        # worse on every seed, but < 10 %
    ([0.5, 2.5, 0.8], [12.0, 15.0, 11.0], "partly"),     # HDPO misses its 2 %
    ([0.5, 1.0, 0.8], [1.5, 0.9, 1.1], "not reproduced"),  # REINFORCE better on seed 1
    (None, [40.0, 12.0], "reproduced"),                  # no optimum: REINFORCE's side only
    (None, [40.0, 8.0], "partly"),
    (None, [40.0, -1.0], "not reproduced"),
])
def test_verdict_by_hand(hdpo, reinforce, expected):
    assert verdict(hdpo, reinforce) == expected


def test_relative_noise_compares_the_estimators_at_the_same_policy():
    out = relative_noise(InventoryConfig(**SMALL), probe_steps=2, batches=3)
    assert set(out) == {"pathwise", "score_function", "ratio"}
    assert out["ratio"] == pytest.approx(out["score_function"] / out["pathwise"])
    assert out["score_function"] > out["pathwise"] > 0


def test_lr_sweep_trains_each_rate_to_num_iterations():
    config = InventoryConfig(**{**SMALL, "num_iterations": 2})
    rows = lr_sweep(config, (1e-2, 3e-2), lambda algo: (algo.iteration, algo.config.learning_rate),
                    estimators=("hdpo", "reinforce"))
    assert [(r["estimator"], r["learning_rate"]) for r in rows] == [
        ("hdpo", 1e-2), ("hdpo", 3e-2), ("reinforce", 1e-2), ("reinforce", 3e-2)]
    assert [r["test_cost"] for r in rows] == [(2, 1e-2), (2, 3e-2), (2, 1e-2), (2, 3e-2)]
