"""Exact references for the one-store inventory problem, with the simulator's order of events.

* **Backlogged store** — the base-stock policy ``a_t = max(S - IP_t, 0)`` (``IP`` = on hand +
  in flight) is optimal. The order placed in period ``t`` is on hand for the demand of period
  ``t + L`` (see :mod:`polab.envs.inventory.sim`), so the cost of that period is a newsvendor cost
  of the *lead-time demand over L + 1 periods* ``X = D_t + … + D_{t+L}``:

      G(S) = E[p (X - S)^+ + h (S - X)^+],   S* = min{S : P(X ≤ S) ≥ p / (p + h)}

  (the critical fractile; Zipkin, *Foundations of Inventory Management*, §9.4). For Poisson
  demand ``X ~ Poisson((L + 1) λ)`` and ``G`` is computed exactly from the pmf.
* **Lost-sales store** — no simple optimal policy (Zipkin 2008, "Old and new methods for
  lost-sales inventory systems"). :func:`lost_sales_dp` solves the average-cost Bellman equation
  by relative value iteration over integer states ``(on hand, in flight_1..L-1)`` truncated at
  ``max_inventory`` units, with integer orders; the demand pmf is given or Poisson.

Taught in notebooks/10_differentiable_simulation.ipynb.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from polab.envs.inventory.sim import InventorySetting, InventoryState


def poisson_pmf(mean: float, n: int) -> torch.Tensor:
    """``P(D = k)`` for ``k = 0..n-1``, the tail mass ``P(D ≥ n-1)`` folded into the last entry."""
    k = torch.arange(n, dtype=torch.float64)
    pmf = torch.exp(k * math.log(mean) - mean - torch.lgamma(k + 1)) if mean > 0 else (k == 0) * 1.0
    pmf[-1] = 1.0 - pmf[:-1].sum()
    return pmf


def newsvendor_cost(level: float, pmf: torch.Tensor, underage: float, holding: float) -> float:
    """``E[p (X - S)^+ + h (S - X)^+]`` for ``X`` with the given pmf on ``0, 1, …``."""
    x = torch.arange(len(pmf), dtype=torch.float64)
    cost = underage * torch.relu(x - level) + holding * torch.relu(level - x)
    return float((pmf * cost).sum())


def _lead_time_pmf(mean: float, lead_time: int) -> torch.Tensor:
    m = mean * (lead_time + 1)
    return poisson_pmf(m, int(m + 12 * math.sqrt(m) + 30))


def base_stock_level(mean: float, lead_time: int, underage: float, holding: float) -> int:
    """``S*``: the ``p/(p+h)`` quantile of Poisson lead-time demand over ``L + 1`` periods."""
    cdf = torch.cumsum(_lead_time_pmf(mean, lead_time), 0)
    ratio = underage / (underage + holding)
    return int(torch.searchsorted(cdf, torch.tensor(ratio - 1e-12, dtype=cdf.dtype)))


def base_stock_cost(level: float, mean: float, lead_time: int, underage: float,
                    holding: float) -> float:
    """Exact long-run cost per period of the base-stock policy with level ``S`` (backlog)."""
    return newsvendor_cost(level, _lead_time_pmf(mean, lead_time), underage, holding)


def base_stock_policy(level: float | torch.Tensor):
    """``a = max(S - IP, 0)`` as a simulator policy (one store, no warehouse)."""
    def policy(state: InventoryState) -> tuple[torch.Tensor, None]:
        return torch.relu(level - state.store.sum(-1)), None
    return policy


@dataclass
class LostSalesSolution:
    """``cost``: optimal average cost per period; ``orders``: the optimal order in each
    integer state, shape ``(I, Q, …, Q)`` with ``L - 1`` in-flight dims; ``iterations`` run."""

    cost: float
    orders: torch.Tensor
    values: torch.Tensor
    iterations: int

    def policy(self):
        """The optimal policy as a simulator policy (states rounded to integers, clipped)."""
        table = self.orders

        def policy(state: InventoryState) -> tuple[torch.Tensor, None]:
            s = state.store[:, 0, : table.dim()].round().long()
            idx = [s[:, i].clamp(0, table.shape[i] - 1) for i in range(table.dim())]
            return table.to(s.device)[tuple(idx)].to(state.store.dtype)[:, None], None
        return policy


def lost_sales_dp(lead_time: int, underage: float, holding: float, mean: float = 5.0,
                  demand_pmf: torch.Tensor | None = None, max_inventory: int = 40,
                  max_order: int | None = None, tol: float = 1e-7,
                  max_iterations: int = 10_000) -> LostSalesSolution:
    """Average-cost optimum of the lost-sales store by relative value iteration.

    State ``(I, q_1, …, q_{L-1})``: on hand after arrival and the orders arriving in
    ``1..L-1`` periods. Bellman equation (simulator order of events):

        g + V(I, q) = c(I) + min_a Σ_d P(d) V(min((I - d)^+ + q_1, I_max), q_2, …, q_{L-1}, a)
        c(I) = E[p (D - I)^+ + h (I - D)^+]

    (for ``L = 1`` the order itself is the next arrival). Orders range over ``0..max_order``
    (default ``max_inventory // 2``); on-hand states above ``I_max`` are clipped. Stops when
    the span of ``T V - V`` is below ``tol`` and returns its midpoint as ``g``.
    """
    n_inv = max_inventory + 1
    n_q = (max_order if max_order is not None else max_inventory // 2) + 1
    pmf = poisson_pmf(mean, n_inv + 1) if demand_pmf is None else demand_pmf.double()
    d = torch.arange(len(pmf), dtype=torch.float64)
    inv = torch.arange(n_inv, dtype=torch.float64)
    stage = (pmf * (underage * torch.relu(d - inv[:, None])
                    + holding * torch.relu(inv[:, None] - d))).sum(-1)  # (I,)
    if demand_pmf is None:  # exact expected shortage for the Poisson tail
        stage = stage + underage * (mean - float((pmf * d).sum()))
    # R[I, x] = P((I - D)^+ = x): what is left of on-hand I after demand
    gap = torch.arange(n_inv)[:, None] - torch.arange(n_inv)[None, :]  # I - x
    left = torch.where((gap >= 0) & (gap < len(pmf)), pmf[gap.clamp(0, len(pmf) - 1)], 0.0)
    left[:, 0] = 1.0 - left[:, 1:].sum(-1)
    arrive = (torch.arange(n_q)[:, None] + torch.arange(n_inv)).clamp(max=n_inv - 1)  # (q1, x)
    shape = (n_inv,) + (n_q,) * (lead_time - 1)
    values = torch.zeros(shape, dtype=torch.float64)
    it = 0
    while it < max_iterations:
        it += 1
        flat = values.reshape(n_inv, -1)  # (I', rest), rest = (q_2..q_{L-1}, a) flattened
        # W[I, q1, rest] = Σ_x R[I, x] V[min(x + q1, I_max), rest]
        w = torch.einsum("ix,qxm->iqm", left, flat[arrive]).reshape(n_inv, -1, n_q)
        best, orders = w.min(-1)
        new = (stage[:, None] + best).reshape(shape)
        diff = new - values
        values = new - new.flatten()[0]
        if float(diff.max() - diff.min()) < tol:
            break
    gain = 0.5 * float(diff.max() + diff.min())
    return LostSalesSolution(gain, orders.reshape(shape), values, it)


def reference_cost(setting: InventorySetting) -> float | None:
    """The exact optimal cost where polab knows it (one store, Poisson demand), else ``None``.

    Backlogged: the base-stock cost at ``S*``. Lost sales: :func:`lost_sales_dp` for
    ``L ≤ 4`` (truncated at 30 units and orders ≤ 15 for ``L = 4``, which leaves the cost
    unchanged at the defaults and keeps the DP near a second; larger ``L`` returns ``None``).
    """
    if setting.has_warehouse or setting.n_stores != 1 or setting.distribution != "poisson":
        return None
    mean, lead = float(setting.demand_mean[0]), int(setting.lead_time[0])
    p, h = float(setting.underage[0]), float(setting.holding[0])
    if not setting.lost_sales:
        return base_stock_cost(base_stock_level(mean, lead, p, h), mean, lead, p, h)
    return _lost_sales_cost(lead, p, h, mean) if lead <= 4 else None


@functools.lru_cache(maxsize=64)
def _lost_sales_cost(lead: int, underage: float, holding: float, mean: float) -> float:
    size = {"max_inventory": 30, "max_order": 15} if lead == 4 else {}
    return lost_sales_dp(lead, underage, holding, mean, **size).cost
