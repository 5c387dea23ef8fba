"""Order policies for the inventory simulator: a vanilla MLP and a symmetry-aware network.

Both map an :class:`~polab.envs.inventory.sim.InventoryState` to non-negative orders, in units of
the mean demand (inputs divided by ``setting.scale``, outputs multiplied by it — a fixed
rescaling the authors' code does not do, so one learning rate serves any demand scale).

* :class:`MLPPolicy` — the authors' ``VanillaOneStore`` / ``VanillaOneWarehouse``: every
  inventory number flattened into one MLP (ELU) that outputs every order. Store orders are
  ``scale · softplus(x + 1)`` (the +1 keeps the first orders away from softplus's flat region,
  ../shared/cards/03_hdpo.md, pitfall 4); the warehouse order is ``upper · sigmoid(x)``.
  Unlike the authors' vanilla network (a softmax over warehouse stock), feasibility is left to
  the simulator's proportional allocation, so the two architectures differ only in their
  structure.
* :class:`SymmetricPolicy` — one round of message passing on the star graph, in the spirit of
  the authors' ``SymmetryAware`` network (and the GNN of the paper's latest version): each store
  embeds its own state and parameters, the mean of the embeddings plus the warehouse state
  form a context, and one *shared* store head maps (store features, context) to that store's
  order. It is equivariant to permuting the stores and works for any number of them. (The
  authors' context network reads the flattened state instead of a mean of embeddings.)

Taught in notebooks/10_differentiable_simulation.ipynb.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from polab.core.networks import mlp
from polab.envs.inventory.sim import InventorySetting, InventoryState


def _net(n_in: int, hidden: int, layers: int, n_out: int) -> nn.Sequential:
    return mlp([n_in] + [hidden] * layers + [n_out], out_gain=1.0, activation=nn.ELU)


class _OrderHead(nn.Module):
    """Input scaling and output transforms shared by both architectures.

    Store ``j``'s inventories are divided by its mean demand ``μ_j`` and its order is
    ``μ_j · softplus(x + 1)``; the warehouse's by the total mean demand ``Σμ`` and its order is
    ``upper · sigmoid(x + b)`` with ``b`` chosen so that ``x = 0`` orders ``Σμ`` (a warehouse
    starting at half its upper bound floods the network with stock).
    """

    def __init__(self, setting: InventorySetting):
        super().__init__()
        s = setting.to("cpu")
        self.register_buffer("store_scale", s.demand_mean.float())
        self.register_buffer("column_scale", s.demand_mean.float()[:, None])
        self.total = float(s.demand_mean.sum())
        self.upper = setting.warehouse_upper
        self.w_offset = math.log(self.total / (self.upper - self.total)) if s.has_warehouse else 0.0
        self.n_stores = setting.n_stores
        self.has_warehouse = setting.has_warehouse

    def scaled(self, state: InventoryState) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, n, K)`` store and ``(B, L_w)`` warehouse inventories (or ``None``) in units of
        mean demand."""
        store = state.store / self.column_scale
        if state.warehouse is None:
            return store, None
        return store, state.warehouse.flatten(1) / self.total

    def orders(self, store_out: torch.Tensor, warehouse_out: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        store = self.store_scale * F.softplus(store_out + 1.0)
        if not self.has_warehouse:
            return store, None
        return store, self.upper * torch.sigmoid(warehouse_out + self.w_offset)


class MLPPolicy(_OrderHead):
    """All stores and the warehouse through one MLP (authors' vanilla networks)."""

    def __init__(self, setting: InventorySetting, hidden: int = 32, layers: int = 2):
        super().__init__(setting)
        n_in = setting.n_stores * setting.columns + setting.warehouse_lead_time
        self.net = _net(n_in, hidden, layers, setting.n_stores + int(setting.has_warehouse))

    def forward(self, state: InventoryState) -> tuple[torch.Tensor, torch.Tensor | None]:
        store, warehouse = self.scaled(state)
        x = store.flatten(1) if warehouse is None else torch.cat([store.flatten(1), warehouse], 1)
        out = self.net(x)
        return self.orders(out[:, : self.n_stores],
                           out[:, self.n_stores] if self.has_warehouse else None)


class SymmetricPolicy(_OrderHead):
    """Store messages → mean + warehouse state = context → shared store head (and a warehouse
    head). Local store features: inventories, ``μ_j``, ``σ_j``, ``p_j/(p_j+h_j)``, ``h_j``,
    ``L_j/K`` (quantities in units of the mean of ``μ``)."""

    def __init__(self, setting: InventorySetting, hidden: int = 32, layers: int = 2):
        super().__init__(setting)
        s = setting.to("cpu")
        unit = s.demand_mean.mean()
        params = torch.stack([s.demand_mean / unit, s.demand_std / unit,
                              s.underage / (s.underage + s.holding), s.holding,
                              s.lead_time.float() / s.columns], dim=1)  # (n, 5)
        self.register_buffer("params", params.float())
        n_local, n_w = setting.columns + params.shape[1], setting.warehouse_lead_time
        self.message = nn.Sequential(nn.Linear(n_local, hidden), nn.ELU())
        self.store_head = _net(n_local + hidden + n_w, hidden, layers, 1)
        self.warehouse_head = _net(hidden + n_w, hidden, layers, 1) if n_w else None

    def forward(self, state: InventoryState) -> tuple[torch.Tensor, torch.Tensor | None]:
        store, warehouse = self.scaled(state)
        b, n, _ = store.shape
        local = torch.cat([store, self.params.expand(b, n, -1)], dim=-1)
        context = self.message(local).mean(1)  # stores → hub
        if warehouse is not None:
            context = torch.cat([context, warehouse], dim=-1)
        store_out = self.store_head(torch.cat([local, context[:, None].expand(b, n, -1)], -1))
        w_out = self.warehouse_head(context)[:, 0] if self.warehouse_head is not None else None
        return self.orders(store_out[..., 0], w_out)


ARCHITECTURES = {"mlp": MLPPolicy, "symmetric": SymmetricPolicy}


def make_policy(setting: InventorySetting, arch: str, hidden: int, layers: int) -> nn.Module:
    """Build ``arch`` (``"mlp"`` or ``"symmetric"``) for ``setting``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch={arch!r}: expected one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](setting, hidden, layers)


@torch.no_grad()
def order_curve(policy: nn.Module, setting: InventorySetting, positions: torch.Tensor,
                in_flight: float | None = None) -> torch.Tensor:
    """The order of a one-store policy as a function of the inventory position.

    Each grid point is the state whose ``L - 1`` in-flight slots hold ``in_flight`` units
    (default: the mean demand) and whose on-hand is the rest of the position. For a
    base-stock policy the curve is ``max(S - position, 0)`` whatever ``in_flight`` is.
    """
    if setting.n_stores != 1 or setting.has_warehouse:
        raise ValueError("order_curve is for the one-store setting")
    q = setting.scale if in_flight is None else in_flight
    k, lead = setting.columns, int(setting.lead_time[0])
    device = next(policy.parameters()).device
    x = positions.to(device=device, dtype=torch.float32)
    store = torch.zeros(len(x), 1, k, device=device)
    store[:, 0, 1:lead] = q
    store[:, 0, 0] = x - q * (lead - 1)
    return policy(InventoryState(store, None))[0][:, 0]
