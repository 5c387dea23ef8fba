"""A batched, differentiable inventory simulator: one store, or one warehouse feeding stores.

Follows the simulator of Alvo, Russo, Kanoria & Lee, "Deep Reinforcement Learning for
Inventory Networks" (arXiv 2306.11246; code: github.com/MatiasAlvo/Neural_inventory_control,
``environment.py``). The only randomness is exogenous demand, so a *scenario* (a demand trace
plus the initial inventories) fixes everything; the costs are then a.e. differentiable
functions of the orders, and ``rollout`` back-propagates through a whole trajectory.

State of a location with lead time ``L``: a row of ``K = max L`` numbers, column 0 the
on-hand inventory (after this period's arrival), column ``k ≥ 1`` the order arriving in
``k`` periods. Order of events in period ``t`` (the authors' ``step``):

1. the policy sees the state and orders ``a_t`` (the warehouse ships what the stores ask for,
   scaled down proportionally when it holds less: :func:`proportional_allocation`);
2. demand ``D_t`` arrives: ``post = I_t - D_t``; cost ``p·max(-post, 0) + h·max(post, 0)``;
3. lost sales: ``post ← max(post, 0)`` *after* the cost (backlogged: keep it negative);
4. the pipeline shifts: ``I_{t+1} = post + (column 1)``, and ``a_t`` enters column ``L - 1``,
   so an order placed in period ``t`` is on hand for the demand of period ``t + L``.

The warehouse (lead time ``L_w``, holding cost ``h_w``) pays ``h_w`` per unit left after
shipping and is replenished by an uncapacitated supplier. The exact references in
:mod:`polab.envs.inventory.reference` use exactly this order of events.

Taught in notebooks/10_differentiable_simulation.ipynb.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch


@dataclass(frozen=True)
class InventorySetting:
    """The problem: per-store tensors of shape ``(n_stores,)`` plus an optional warehouse."""

    holding: torch.Tensor
    underage: torch.Tensor
    lead_time: torch.Tensor
    demand_mean: torch.Tensor
    demand_std: torch.Tensor
    lost_sales: bool = False
    distribution: str = "poisson"
    correlation: float = 0.0
    warehouse_lead_time: int = 0
    warehouse_holding: float = 0.0
    warehouse_upper_mult: float = 4.0

    @property
    def n_stores(self) -> int:
        return int(self.lead_time.numel())

    @property
    def has_warehouse(self) -> bool:
        return self.warehouse_lead_time > 0

    @property
    def columns(self) -> int:
        """``K``: state columns per store (on hand + pipeline)."""
        return int(self.lead_time.max())

    @property
    def scale(self) -> float:
        """A typical quantity (mean demand per store), used to scale network inputs/outputs."""
        return float(self.demand_mean.mean())

    @property
    def warehouse_upper(self) -> float:
        """Largest warehouse order: ``warehouse_upper_mult`` × total mean demand (authors)."""
        return self.warehouse_upper_mult * float(self.demand_mean.sum())

    @functools.cached_property
    def store_slot(self) -> torch.Tensor:
        """``(n, K)`` one-hot: the pipeline column ``L_j - 1`` where store ``j``'s order enters."""
        cols = torch.arange(self.columns, device=self.lead_time.device)
        return (cols == self.lead_time[:, None] - 1).to(self.holding.dtype)

    @functools.cached_property
    def warehouse_slot(self) -> torch.Tensor:
        """``(1, L_w)`` one-hot of the warehouse's last pipeline column."""
        slot = torch.zeros(1, self.warehouse_lead_time, device=self.lead_time.device)
        slot[0, -1] = 1.0
        return slot

    def to(self, device: torch.device | str) -> InventorySetting:
        moved = {k: getattr(self, k).to(device) for k in
                 ("holding", "underage", "lead_time", "demand_mean", "demand_std")}
        return replace(self, **moved)


def one_store(lead_time: int = 2, underage_cost: float = 9.0, holding_cost: float = 1.0,
              lost_sales: bool = False, distribution: str = "poisson", demand_mean: float = 5.0,
              demand_std: float = 1.6) -> InventorySetting:
    """One store supplied without limit (the card's miniature; the authors' one-store YAMLs).

    ``demand_std`` is used only for normal demand (Poisson's is ``sqrt(mean)``).
    """
    std = demand_mean ** 0.5 if distribution == "poisson" else demand_std
    t = lambda v: torch.tensor([float(v)])  # noqa: E731
    return InventorySetting(t(holding_cost), t(underage_cost), torch.tensor([lead_time]),
                            t(demand_mean), t(std), lost_sales, distribution)


def one_warehouse(n_stores: int = 5, seed: int = 0, correlation: float = 0.5,
                  warehouse_holding: float = 0.3, warehouse_lead_time: int = 3
                  ) -> InventorySetting:
    """One warehouse and ``n_stores`` stores, lost sales, correlated normal demand.

    Store parameters are drawn once from ``seed`` with the ranges of the authors'
    ``one_warehouse_lost_demand.yml``: mean ~ U[2.5, 7.5], coefficient of variation
    ~ U[0.25, 0.5], lead time ∈ {2, 3}, holding ~ U[0.7, 1.3], underage ~ U[6.3, 11.7].
    """
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n_stores, generator=g)  # noqa: E731
    mean = u(2.5, 7.5)
    std = mean * u(0.25, 0.5)
    lead = torch.randint(2, 4, (n_stores,), generator=g)
    return InventorySetting(u(0.7, 1.3), u(6.3, 11.7), lead, mean, std, lost_sales=True,
                            distribution="normal", correlation=correlation,
                            warehouse_lead_time=warehouse_lead_time,
                            warehouse_holding=warehouse_holding)


class InventoryState(NamedTuple):
    """``store``: ``(B, n, K)``; ``warehouse``: ``(B, 1, L_w)`` or ``None``."""

    store: torch.Tensor
    warehouse: torch.Tensor | None


Policy = Callable[[InventoryState], tuple[torch.Tensor, torch.Tensor | None]]
"""Maps a state to ``(store orders (B, n), warehouse order (B,) or None)``, all ≥ 0."""


@dataclass
class Scenarios:
    """``N`` scenarios: demand ``(N, n, T)`` and the initial state."""

    demand: torch.Tensor
    store: torch.Tensor
    warehouse: torch.Tensor | None

    def __len__(self) -> int:
        return self.demand.shape[0]

    @property
    def periods(self) -> int:
        return self.demand.shape[-1]

    def __getitem__(self, idx: torch.Tensor | slice) -> Scenarios:
        w = None if self.warehouse is None else self.warehouse[idx]
        return Scenarios(self.demand[idx], self.store[idx], w)

    def initial_state(self) -> InventoryState:
        return InventoryState(self.store, self.warehouse)

    def to(self, device: torch.device | str) -> Scenarios:
        w = None if self.warehouse is None else self.warehouse.to(device)
        return Scenarios(self.demand.to(device), self.store.to(device), w)


def sample_scenarios(setting: InventorySetting, n: int, periods: int, seed: int,
                     device: torch.device | str = "cpu") -> Scenarios:
    """Draw ``n`` scenarios from a CPU generator seeded with ``seed`` (same numbers on any device).

    Demand is Poisson or normal (correlated across stores, clipped at 0). The initial on-hand
    and each in-flight slot of store ``j`` (slots ``< L_j``) are ``U[0, 1) × mean_j`` as in the
    authors' data generator, floored to integers for Poisson demand so the integer-state
    references apply; the warehouse starts empty (authors).
    """
    s = setting.to("cpu")
    g = torch.Generator().manual_seed(seed)
    k = setting.n_stores
    if s.distribution == "poisson":
        demand = torch.poisson(s.demand_mean[None, :, None].expand(n, k, periods), generator=g)
    elif s.distribution == "normal":
        corr = torch.full((k, k), s.correlation).fill_diagonal_(1.0)
        chol = torch.linalg.cholesky(corr * s.demand_std[:, None] * s.demand_std[None, :])
        z = torch.randn(n, periods, k, generator=g)
        demand = (s.demand_mean + z @ chol.T).clamp_min(0.0).transpose(1, 2).contiguous()
    else:
        raise ValueError(f"distribution={s.distribution!r}: expected 'poisson' or 'normal'")
    in_lead = (torch.arange(s.columns)[None, :] < s.lead_time[:, None]).float()
    store = torch.rand(n, k, s.columns, generator=g) * s.demand_mean[:, None] * in_lead
    if s.distribution == "poisson":
        store = store.floor()
    warehouse = torch.zeros(n, 1, s.warehouse_lead_time) if s.has_warehouse else None
    return Scenarios(demand, store, warehouse).to(device)


def proportional_allocation(requested: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
    """Scale store requests ``(B, n)`` by ``min(1, available / Σ requested)`` (authors'
    ``apply_proportional_allocation``): feasible, and unlike clipping every request keeps a
    gradient when the warehouse runs short."""
    total = requested.sum(-1, keepdim=True)
    return requested * torch.clamp(available[:, None] / (total + 1e-15), max=1.0)


def _advance(pipeline: torch.Tensor, on_hand: torch.Tensor, order: torch.Tensor,
             slot: torch.Tensor) -> torch.Tensor:
    """Shift ``(B, n, K)`` one period: the next arrival joins ``on_hand``, ``order`` enters
    the column marked in ``slot`` ``(n, K)`` (authors'
    ``update_inventory_for_heterogeneous_lead_times``)."""
    k = pipeline.shape[-1]
    if k == 1:
        shifted = on_hand.unsqueeze(-1)
    else:
        shifted = torch.cat([(on_hand + pipeline[..., 1]).unsqueeze(-1), pipeline[..., 2:],
                             torch.zeros_like(pipeline[..., :1])], dim=-1)
    return shifted + order.unsqueeze(-1) * slot


def transition(setting: InventorySetting, state: InventoryState, demand: torch.Tensor,
               store_order: torch.Tensor, warehouse_order: torch.Tensor | None = None
               ) -> tuple[InventoryState, dict[str, torch.Tensor]]:
    """One period (module docstring, steps 1–4). Returns the next state and a dict with
    ``cost`` ``(B,)`` (stores + warehouse), ``store_cost`` ``(B, n)``, ``shipped`` ``(B, n)``
    (the store orders after the warehouse's allocation) and ``short`` ``(B, n)`` (demand not
    met from stock this period: lost, or back-ordered)."""
    post = state.store[..., 0] - demand
    short, left = torch.relu(-post), torch.relu(post)
    store_cost = setting.underage * short + setting.holding * left
    if setting.lost_sales:
        post = left
    cost = store_cost.sum(-1)
    warehouse = None
    if setting.has_warehouse:
        w_on_hand = state.warehouse[:, 0, 0]
        store_order = proportional_allocation(store_order, w_on_hand)
        w_post = w_on_hand - store_order.sum(-1)
        cost = cost + setting.warehouse_holding * torch.relu(w_post)
        warehouse = _advance(state.warehouse, w_post[:, None], warehouse_order[:, None],
                             setting.warehouse_slot)
    store = _advance(state.store, post, store_order, setting.store_slot)
    info = {"cost": cost, "store_cost": store_cost, "shipped": store_order, "short": short}
    return InventoryState(store, warehouse), info


def rollout(setting: InventorySetting, policy: Policy, scenarios: Scenarios,
            record: bool = False) -> dict[str, torch.Tensor]:
    """Run ``policy`` through every scenario; ``costs`` is ``(N, T)``.

    Autograd records the whole trajectory, so ``average_cost(costs).backward()`` is HDPO's
    pathwise gradient. With ``record=True`` also returns the visited states
    ``store_states`` ``(T, N, n, K)`` (and ``warehouse_states`` ``(T, N, 1, L_w)``).
    """
    state = scenarios.initial_state()
    costs, stores, warehouses = [], [], []
    for t in range(scenarios.periods):  # a loop over time; all scenarios at once
        if record:
            stores.append(state.store)
            warehouses.append(state.warehouse)
        store_order, warehouse_order = policy(state)
        state, info = transition(setting, state, scenarios.demand[..., t], store_order,
                                 warehouse_order)
        costs.append(info["cost"])
    out = {"costs": torch.stack(costs, dim=1)}
    if record:
        out["store_states"] = torch.stack(stores)
        if setting.has_warehouse:
            out["warehouse_states"] = torch.stack(warehouses)
    return out


def average_cost(costs: torch.Tensor, ignore_periods: int) -> torch.Tensor:
    """``J = 1/(N (T - T0)) Σ_n Σ_{t ≥ T0} c_t^n`` — the warm-up ``T0`` keeps the arbitrary
    initial inventory out of the objective (card pitfall 1)."""
    return costs[:, ignore_periods:].mean()


@torch.no_grad()
def evaluate(setting: InventorySetting, policy: Policy, scenarios: Scenarios,
             ignore_periods: int) -> float:
    """Average cost per period after the warm-up, without building a graph."""
    return float(average_cost(rollout(setting, policy, scenarios)["costs"], ignore_periods))
