"""The inventory simulator on hand-computed traces, its pathwise gradient against finite
differences, and the exact references (base-stock, lost-sales DP) against hand/brute force."""

import itertools
import math
from dataclasses import replace

import pytest
import torch

from polab.algos.diffsim.policies import MLPPolicy
from polab.envs.inventory.reference import (
    base_stock_cost,
    base_stock_level,
    base_stock_policy,
    lost_sales_dp,
    reference_cost,
)
from polab.envs.inventory.sim import (
    InventoryState,
    Scenarios,
    average_cost,
    evaluate,
    one_store,
    one_warehouse,
    proportional_allocation,
    rollout,
    sample_scenarios,
    transition,
)


def fixed_orders(orders):
    """A policy that plays a fixed order sequence (one store)."""
    it = iter(orders)
    return lambda state: (torch.full((state.store.shape[0], 1), float(next(it))), None)


# --- transitions on hand-computed traces --------------------------------------------------

@pytest.mark.parametrize("lost, costs, states", [
    # L = 2, p = 9, h = 1, start (on hand 3, arriving next period 2), demand 5, 1, 4,
    # orders 4, 0, 1. Lost: 3-5 → short 2 (cost 18), kept 0; next on hand 0+2, pipeline 4 ...
    (True, [18.0, 1.0, 1.0], [[2.0, 4.0], [5.0, 0.0], [1.0, 1.0]]),
    # Backlogged: the shortage stays on the books: -2+2 = 0 on hand, then 0-1 = -1 (cost 9) ...
    (False, [18.0, 9.0, 9.0], [[0.0, 4.0], [3.0, 0.0], [-1.0, 1.0]]),
])
def test_one_store_trace_by_hand(lost, costs, states):
    setting = one_store(lead_time=2, underage_cost=9.0, holding_cost=1.0, lost_sales=lost)
    state = InventoryState(torch.tensor([[[3.0, 2.0]]]), None)
    for demand, order, cost, expected in zip([5.0, 1.0, 4.0], [4.0, 0.0, 1.0], costs, states,
                                             strict=True):
        state, info = transition(setting, state, torch.tensor([[demand]]),
                                 torch.tensor([[order]]))
        assert info["cost"].item() == cost
        assert state.store[0, 0].tolist() == expected


def test_lead_time_one_order_is_on_hand_next_period():
    setting = one_store(lead_time=1, lost_sales=True)
    state, info = transition(setting, InventoryState(torch.tensor([[[3.0]]]), None),
                             torch.tensor([[1.0]]), torch.tensor([[2.0]]))
    assert state.store.tolist() == [[[4.0]]] and info["cost"].item() == 2.0  # h·(3-1)


def test_rollout_matches_the_trace_and_ignores_the_warmup():
    setting = one_store(lead_time=2, lost_sales=True)
    sc = Scenarios(torch.tensor([[[5.0, 1.0, 4.0]]]), torch.tensor([[[3.0, 2.0]]]), None)
    costs = rollout(setting, fixed_orders([4, 0, 1]), sc)["costs"]
    assert costs.tolist() == [[18.0, 1.0, 1.0]]
    assert average_cost(costs, ignore_periods=1).item() == 1.0


def test_proportional_allocation_scales_and_keeps_every_gradient():
    req = torch.tensor([[4.0, 8.0], [1.0, 2.0]], requires_grad=True)
    out = proportional_allocation(req, torch.tensor([6.0, 20.0]))
    assert out.tolist() == [[2.0, 4.0], [1.0, 2.0]]
    # short warehouse: the total is fixed but the split still learns; d out_0 / d req =
    # (A/S - r_0 A/S², -r_0 A/S²) = (1/3, -1/6); clipping would give no gradient at all
    (g,) = torch.autograd.grad(out[0, 0], req)
    assert g[0].tolist() == pytest.approx([1 / 3, -1 / 6]) and g[1].tolist() == [0.0, 0.0]


def test_warehouse_trace_by_hand():
    # 2 stores with L = (1, 2), lost sales, p = (9, 4), h = (1, 2); warehouse L_w = 2, h_w = 0.5
    setting = replace(one_warehouse(2), lead_time=torch.tensor([1, 2]),
                      underage=torch.tensor([9.0, 4.0]), holding=torch.tensor([1.0, 2.0]),
                      warehouse_lead_time=2, warehouse_holding=0.5)
    state = InventoryState(torch.tensor([[[2.0, 0.0], [5.0, 3.0]]]), torch.tensor([[[6.0, 7.0]]]))
    state, info = transition(setting, state, torch.tensor([[4.0, 1.0]]),
                             torch.tensor([[4.0, 8.0]]), torch.tensor([10.0]))
    # stores: 2-4 → lost 2 (18), 5-1 = 4 held (8); warehouse ships 6 of 12 asked: (2, 4),
    # keeps 0 (cost 0); next: store 1 gets its 2 at once, store 2's 4 enters the last slot
    assert info["cost"].item() == 26.0
    assert info["shipped"].tolist() == [[2.0, 4.0]]
    assert state.store.tolist() == [[[2.0, 0.0], [7.0, 4.0]]]
    assert state.warehouse.tolist() == [[[7.0, 10.0]]]


def test_scenarios_are_seeded_and_start_inside_the_lead_time():
    setting = one_warehouse(4, seed=3)
    a = sample_scenarios(setting, 2000, 20, seed=5)
    b = sample_scenarios(setting, 2000, 20, seed=5)
    assert torch.equal(a.demand, b.demand) and torch.equal(a.store, b.store)
    assert not torch.equal(a.demand, sample_scenarios(setting, 2000, 20, seed=6).demand)
    beyond = torch.arange(setting.columns) >= setting.lead_time[:, None]
    assert (a.store[:, beyond] == 0).all() and (a.demand >= 0).all()
    corr = torch.corrcoef(a.demand[:, :, 0].T)
    assert abs(float(corr[0, 1]) - 0.5) < 0.08  # authors' pairwise correlation (clip shifts it)


# --- the pathwise gradient -------------------------------------------------------------------

def test_pathwise_gradient_matches_central_finite_differences():
    torch.manual_seed(0)
    setting = one_store(lead_time=2, lost_sales=True, distribution="normal")
    sc = sample_scenarios(setting, 64, 12, seed=0)
    sc = Scenarios(sc.demand.double(), sc.store.double(), None)
    policy = MLPPolicy(setting, hidden=8, layers=1).double()
    loss = lambda: average_cost(rollout(setting, policy, sc)["costs"], 4)  # noqa: E731
    params = list(policy.parameters())
    grads = torch.autograd.grad(loss(), params)
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        for i in range(min(3, p.numel())):
            flat = p.data.view(-1)
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                up = float(loss())
                flat[i] = old - eps
                down = float(loss())
                flat[i] = old
            assert (up - down) / (2 * eps) == pytest.approx(float(g.view(-1)[i]), rel=1e-4,
                                                            abs=1e-8)


# --- exact references ------------------------------------------------------------------------

def poisson_cdf(k, m):
    return sum(math.exp(-m) * m ** j / math.factorial(j) for j in range(k + 1))


def test_base_stock_level_is_the_critical_fractile_by_hand():
    # L = 2: lead-time demand Poisson(15); p/(p+h) = 0.9; F(19) ≈ 0.875 < 0.9 ≤ F(20) ≈ 0.917
    assert poisson_cdf(19, 15) < 0.9 <= poisson_cdf(20, 15)
    assert base_stock_level(5.0, 2, 9.0, 1.0) == 20
    # L = 1, p = 4: Poisson(10), ratio 0.8; F(12) ≈ 0.792 < 0.8 ≤ F(13) ≈ 0.865
    assert poisson_cdf(12, 10) < 0.8 <= poisson_cdf(13, 10)
    assert base_stock_level(5.0, 1, 4.0, 1.0) == 13


def test_base_stock_cost_brute_force_and_optimal_among_levels():
    m = 15.0
    brute = lambda s: sum(math.exp(-m) * m ** x / math.factorial(x)  # noqa: E731
                          * (9 * max(x - s, 0) + max(s - x, 0)) for x in range(120))
    assert base_stock_cost(20, 5.0, 2, 9.0, 1.0) == pytest.approx(brute(20), rel=1e-9)
    costs = {s: base_stock_cost(s, 5.0, 2, 9.0, 1.0) for s in range(10, 31)}
    assert min(costs, key=costs.get) == 20


def test_base_stock_cost_matches_the_simulator():
    setting = one_store(lead_time=2, lost_sales=False)
    sc = sample_scenarios(setting, 2048, 200, seed=1)
    simulated = evaluate(setting, base_stock_policy(20.0), sc, ignore_periods=50)
    assert simulated == pytest.approx(base_stock_cost(20, 5.0, 2, 9.0, 1.0), rel=0.01)


def test_lost_sales_dp_equals_brute_force_over_all_policies():
    # L = 1, on hand ≤ 3, orders 0..3, demand ∈ {0, 1, 2}: enumerate all 4^4 stationary
    # policies and their exact stationary average cost.
    pmf = torch.tensor([0.3, 0.5, 0.2], dtype=torch.float64)
    p, h, n = 9.0, 1.0, 4
    stage = [sum(float(pmf[d]) * (p * max(d - i, 0) + h * max(i - d, 0)) for d in range(3))
             for i in range(n)]
    best = math.inf
    for orders in itertools.product(range(n), repeat=n):
        chain = torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            for d in range(3):
                chain[i, min(max(i - d, 0) + orders[i], n - 1)] += pmf[d]
        evals, evecs = torch.linalg.eig(chain.T)
        pi = evecs[:, torch.argmin((evals - 1).abs())].real
        pi = pi / pi.sum()
        best = min(best, float(pi @ torch.tensor(stage, dtype=torch.float64)))
    sol = lost_sales_dp(1, p, h, demand_pmf=pmf, max_inventory=n - 1, max_order=n - 1)
    assert sol.cost == pytest.approx(best, abs=1e-6)


def test_lost_sales_dp_with_certain_demand_costs_nothing():
    pmf = torch.tensor([0.0, 1.0], dtype=torch.float64)  # one unit every period
    sol = lost_sales_dp(2, 9.0, 1.0, demand_pmf=pmf, max_inventory=6, max_order=3)
    assert sol.cost == pytest.approx(0.0, abs=1e-9)


def test_lost_sales_dp_policy_in_the_simulator_costs_the_dp_value():
    # Same order of events in both: the DP policy simulated costs the DP's g (Poisson(5), L=2)
    sol = lost_sales_dp(2, 9.0, 1.0, mean=5.0)
    setting = one_store(lead_time=2, lost_sales=True)
    sc = sample_scenarios(setting, 2048, 200, seed=2)
    assert evaluate(setting, sol.policy(), sc, ignore_periods=50) == pytest.approx(sol.cost,
                                                                                   rel=0.01)
    assert reference_cost(setting) == pytest.approx(sol.cost)
    # lost sales cost less than backlog here: the shortage cost is paid once, not per period
    assert sol.cost < reference_cost(one_store(lead_time=2, lost_sales=False))
