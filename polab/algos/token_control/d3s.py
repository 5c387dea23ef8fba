"""D^3S — Dynamic Dual-Level Down-Sampling on the group core.

Wang, Yang, Tian, Shi, Ma, Liu, Yao, Ding 2025, *Learning More with Less: A Dynamic Dual-Level
Down-Sampling Framework for Efficient Policy Optimization*, arXiv 2509.22115 (card
../shared/cards/15_d3s.md). The authors' code is not public; the selection algorithm, the
schedule's shape and the ratios follow the card (max-variance subsets as in PODS).

Per iteration, after GRPO's advantages are computed on the *full* groups (card, pitfall 1):

1. **Sample level** (``select_rows``): keep ``k = ceil(ρ_s · G)`` rollouts per group whose
   advantages have the largest variance, :func:`max_variance_subset` — sort, then the optimum
   takes the j largest and k − j smallest for some j (card, "Core update"); groups whose
   advantages are all equal have nothing to select and are skipped (pitfall 2).
   ``selection_scope="cross"`` pools the informative groups' rollouts and keeps
   ``ceil(ρ_s · N)`` of the N by the same rule (:func:`cross_group_subset`).
2. **Token level** (``token_mask``): inside the kept rollouts, keep the top ``ρ_t`` share of
   response tokens by ``s_{i,t} = |A_i| · H_{i,t}`` (H = the sampling-time entropy, no grad;
   pitfall 4), a global top-k over the batch (:func:`top_tokens`); the loss is the clipped
   surrogate, token-mean over the kept tokens (``loss_type="dapo"``).
3. **Schedule** (:func:`rho`): both ratios relax from ``ρ_min`` to 1 over the first
   ``t_relax`` of the run, ``ρ(t) = ρ_min + (1 − ρ_min) · f(min(1, t / T_relax))`` with
   f = 0 (constant), t (linear) or (1 − cos πt) / 2 (cosine).

At ``ρ_s = 1`` every row is kept (zero-variance groups too) and at ``ρ_t = 1`` every response
token, so ``ρ_s_min = ρ_t_min = 1`` is GRPO. ``sample_selection="random"`` and
``token_score="random"`` are the random down-sampling baseline at the same ratios.
``grad_ratio_every`` measures ‖∇L(kept)‖ / ‖∇L(random subset of the same size)‖ (the
paper's claim that the max-variance subset has the larger gradient) with two extra backward
passes, outside the update. Compute saving here is per row (only kept rows are forwarded);
a masked token still runs through the forward, so ``d3s/backprop_tokens`` counts the tokens
with a loss term, the card's x-axis.

Taught in notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from polab.algos.group.batch import GroupBatch
from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.config import param
from polab.lm.tasks import Task

Schedule = Literal["constant", "linear", "cosine"]
SelectionScope = Literal["intra", "cross"]
TokenScore = Literal["adv_entropy", "adv", "entropy", "random"]
SampleSelection = Literal["max_variance", "random"]
PAPER = "Wang et al. 2025 (D^3S)"


def max_variance_subset(adv: torch.Tensor, k: int) -> torch.Tensor:
    """``(P, G)`` bool: per row of ``adv`` ``(P, G)``, the ``k`` entries whose (population)
    variance is largest (card 15, sample level). Sort-and-scan, O(G log G) per group: the
    optimum is the j largest and the k − j smallest values for some j ∈ [0, k] (a subset
    with a gap in its sorted order can swap an inner value for an outer one and spread more);
    prefix sums give every candidate's variance at once. Ties go to the smallest j."""
    if adv.dim() != 2:
        raise ValueError(f"adv must be (groups, G), got shape {tuple(adv.shape)}")
    g = adv.shape[1]
    if not 1 <= k <= g:
        raise ValueError(f"k={k} must be between 1 and the group size {g}")
    x = adv.double()
    srt, order = x.sort(dim=1)
    zero = torch.zeros_like(srt[:, :1])
    s1 = torch.cat([zero, srt.cumsum(1)], 1)          # s1[:, m] = sum of the m smallest
    s2 = torch.cat([zero, (srt * srt).cumsum(1)], 1)
    j = torch.arange(k + 1, device=adv.device)        # j largest + (k - j) smallest
    lo, hi = k - j, g - j
    total = s1[:, lo] + s1[:, -1:] - s1[:, hi]
    total_sq = s2[:, lo] + s2[:, -1:] - s2[:, hi]
    var = total_sq / k - (total / k) ** 2
    best = var.argmax(1, keepdim=True)                 # (P, 1)
    pos = torch.arange(g, device=adv.device)
    keep_sorted = (pos < k - best) | (pos >= g - best)
    return torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted)


def informative(adv: torch.Tensor, tol: float = 1e-8) -> torch.Tensor:
    """``(P,)`` True for the groups of ``adv`` ``(P, G)`` whose advantages are not all equal
    (card 15, pitfall 2: a zero-variance group has nothing to select)."""
    return (adv.amax(1) - adv.amin(1)) > tol


def group_subset(adv: torch.Tensor, rho_s: float, *, scope: SelectionScope = "intra",
                 method: SampleSelection = "max_variance",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``(P, G)`` bool, the rollouts kept at ratio ``rho_s`` (card 15, sample level).

    ``rho_s = 1`` keeps every rollout (GRPO). Otherwise zero-variance groups are skipped and,
    ``scope="intra"``, each informative group keeps ``k = ceil(ρ_s · G)`` rollouts — by
    :func:`max_variance_subset` or, ``method="random"``, uniformly; ``scope="cross"`` pools the
    N rollouts of the informative groups and keeps ``ceil(ρ_s · N)`` of them."""
    if not 0.0 < rho_s <= 1.0:
        raise ValueError(f"rho_s={rho_s} must be in (0, 1]")
    if rho_s >= 1.0:
        return torch.ones_like(adv, dtype=torch.bool)
    live = informative(adv)
    keep = torch.zeros_like(adv, dtype=torch.bool)
    if not live.any():
        return keep
    pool = adv[live]
    if scope == "cross":
        pool = pool.reshape(1, -1)
    k = math.ceil(rho_s * pool.shape[1] - 1e-9)
    if method == "random":
        noise = torch.rand(pool.shape, generator=generator).to(adv.device)
        chosen = noise.argsort(1).argsort(1) < k
    elif method == "max_variance":
        chosen = max_variance_subset(pool, k)
    else:
        raise ValueError(f"sample_selection={method!r}: expected 'max_variance' or 'random'")
    keep[live] = chosen.view(-1, adv.shape[1])
    return keep


def cross_group_subset(adv: torch.Tensor, rho_s: float) -> torch.Tensor:
    """Card 15's cross-group variant: :func:`group_subset` with ``scope="cross"``."""
    return group_subset(adv, rho_s, scope="cross")


def rho(step: float, rho_min: float, relax_steps: float, schedule: Schedule = "linear"
        ) -> float:
    """The down-sampling ratio at ``step`` (card 15, dynamic schedule):
    ``ρ_min + (1 − ρ_min) · f(min(1, step / relax_steps))``, f = 0 (``constant``),
    u (``linear``) or (1 − cos πu) / 2 (``cosine``); ``relax_steps = 0`` is 1 at once."""
    if schedule == "constant":
        return rho_min
    u = 1.0 if relax_steps <= 0 else min(1.0, max(0.0, step / relax_steps))
    if schedule == "linear":
        f = u
    elif schedule == "cosine":
        f = (1.0 - math.cos(math.pi * u)) / 2.0
    else:
        raise ValueError(f"schedule={schedule!r}: expected 'constant', 'linear' or 'cosine'")
    return rho_min + (1.0 - rho_min) * f


def token_scores(advantages: torch.Tensor, entropies: torch.Tensor, kind: TokenScore,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, T)`` token priorities (card 15, token level): ``|A|·H`` (``adv_entropy``), ``|A|``,
    ``H`` or uniform noise (``random``); ``advantages`` ``(B,)`` or ``(B, T)``, ``entropies``
    the sampling-time ones (detached here)."""
    a = advantages.detach().abs()
    a = (a.unsqueeze(-1) if a.dim() == 1 else a).expand_as(entropies)
    h = entropies.detach()
    if kind == "adv_entropy":
        return a * h
    if kind == "adv":
        return a.clone()
    if kind == "entropy":
        return h.clone()
    if kind == "random":
        return torch.rand(h.shape, generator=generator).to(h.device)
    raise ValueError(f"token_score={kind!r}: expected 'adv_entropy', 'adv', 'entropy' or "
                     "'random'")


def top_tokens(scores: torch.Tensor, mask: torch.Tensor, rho_t: float) -> torch.Tensor:
    """``(B, T)`` bool: the ``ceil(ρ_t · n)`` highest-scoring of the ``n`` tokens in ``mask``,
    a global top-k over the batch (card 15, token level); ``rho_t = 1`` returns ``mask``."""
    if not 0.0 < rho_t <= 1.0:
        raise ValueError(f"rho_t={rho_t} must be in (0, 1]")
    mask = mask.bool()
    if rho_t >= 1.0:
        return mask
    n = int(mask.sum())
    k = math.ceil(rho_t * n - 1e-9)
    flat = torch.where(mask, scores.float(), -torch.inf).flatten()
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[flat.topk(k).indices] = True
    return keep.view_as(mask) & mask


@dataclass(frozen=True)
class D3SConfig(GRPOConfig):
    """GRPO's knobs plus D^3S's ratios, schedule, scope, scores and the random baseline."""

    generation_batch_size: int = param(256, help="completions per iteration: prompts × G "
                                       "(the card's 32 prompts × 8)", low=1, high=65_536)
    max_completion_length: int = param(64, help="most tokens generated per completion "
                                       "(addition-scratch needs up to 63)", low=1, high=4096)
    prefix_grouper: bool = param(False, help="score each group with one shared-prompt forward; "
                                 "needs whole groups, so only with rho_s_min = 1",
                                 paper="Liu et al. 2025 (Prefix Grouper)")
    num_iterations: int = param(100, help="iterations (generation batches) in a run "
                                "(benchmarks/d3s.py's run)",
                                low=1, high=100_000)
    rho_s_min: float = param(0.25, help="sample ratio ρ_s at the start: share of each group's "
                             "rollouts kept (1 = all)", low=0.1, high=1.0, paper=PAPER)
    rho_t_min: float = param(0.2, help="token ratio ρ_t at the start: share of the kept "
                             "rollouts' tokens in the loss (1 = all)", low=0.05, high=1.0,
                             paper=PAPER)
    t_relax: float = param(0.5, help="share of the run over which both ratios relax to 1",
                           low=0.0, high=1.0, paper=PAPER)
    schedule: Schedule = param("linear", help="how the ratios relax: constant (stay at the "
                               "minimum), linear or cosine", paper=PAPER)
    selection_scope: SelectionScope = param("intra", help="max-variance subset per group "
                                            "(D3S-I) or over all informative rollouts "
                                            "pooled (cross)", paper=PAPER)
    token_score: TokenScore = param("adv_entropy", help="token priority: |A|·H, |A| only, "
                                    "H only, or random (ablations)", paper=PAPER)
    sample_selection: SampleSelection = param("max_variance", help="rollouts kept: the "
                                              "max-variance subset, or random ones at the "
                                              "same ratio (baseline)")
    grad_ratio_every: int = param(0, help="every k iterations, measure the gradient norm of "
                                  "the kept subset over a random one of the same size "
                                  "(two extra backward passes; 0 = never)", low=0,
                                  high=100_000)

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (not self.prefix_grouper or self.rho_s_min >= 1.0,
             f"prefix_grouper scores whole groups, but rho_s_min={self.rho_s_min} keeps part "
             "of each group: set prefix_grouper=False"),
        ]


class D3S(GRPO):
    """GRPO whose ``select_rows`` keeps max-variance rollouts and ``token_mask`` the top
    ``|A|·H`` tokens, on a relaxing schedule (module docstring)."""

    config: D3SConfig
    state_parts = (*GRPO.state_parts, "probe_generator", "backprop_tokens")

    def __init__(self, config: D3SConfig, task: Task | str = "addition-scratch",
                 device: str | torch.device | None = None, model: Any = None):
        super().__init__(config, task, device, model)
        self.backprop_tokens = 0
        # the gradient-norm probe draws its random subsets from its own generator, so
        # measuring leaves the run's problems and selections unchanged
        self.probe_generator = torch.Generator().manual_seed(self.config.seed + 1)

    def ratios(self, iteration: int | None = None) -> tuple[float, float]:
        """``(ρ_s, ρ_t)`` at ``iteration`` (default: the current one)."""
        c = self.config
        t = self.iteration if iteration is None else iteration
        relax = c.t_relax * c.num_iterations
        return (rho(t, c.rho_s_min, relax, c.schedule), rho(t, c.rho_t_min, relax, c.schedule))

    def select_rows(self, batch: GroupBatch) -> torch.Tensor:
        c = self.config
        adv = batch.advantages if batch.advantages.dim() == 1 else batch.advantages[:, 0]
        keep = group_subset(adv.view(-1, c.num_generations), self.ratios()[0],
                            scope=c.selection_scope, method=c.sample_selection,
                            generator=self.generator)
        return keep.flatten()

    def token_mask(self, batch: GroupBatch) -> torch.Tensor:
        c = self.config
        base = super().token_mask(batch) & batch.keep.unsqueeze(-1)
        scores = token_scores(batch.advantages, batch.samples.entropies, c.token_score,
                              self.generator)
        return top_tokens(scores, base, self.ratios()[1])

    def update(self, batch: GroupBatch) -> dict[str, float]:
        c = self.config
        out: dict[str, float] = {}
        if c.grad_ratio_every and self.iteration % c.grad_ratio_every == 0 and batch.keep.any():
            out.update(self.grad_ratio(batch))
        out.update(super().update(batch))
        kept = batch.mask & batch.keep.unsqueeze(-1)
        tokens = int(kept.sum()) * c.update_epochs
        self.backprop_tokens += tokens
        rho_s, rho_t = self.ratios()
        adv = batch.advantages if batch.advantages.dim() == 1 else batch.advantages[:, 0]
        out.update({"d3s/rho_s": rho_s, "d3s/rho_t": rho_t,
                    "d3s/backprop_tokens_iter": float(tokens),
                    "d3s/backprop_tokens": float(self.backprop_tokens)})
        for name, rows in (("kept", batch.keep), ("dropped", ~batch.keep)):
            if rows.sum() > 1:
                out[f"d3s/var_adv_{name}"] = float(adv[rows].var(unbiased=False))
        return out

    def grad_ratio(self, batch: GroupBatch) -> dict[str, float]:
        """‖∇L‖ on the kept rows and tokens over ‖∇L‖ on a random subset of the same size (the
        same number of rows per group, then the same token ratio at random), on the policy
        before this iteration's update; no step is taken."""
        c = self.config
        adv = batch.advantages if batch.advantages.dim() == 1 else batch.advantages[:, 0]
        rho_s, rho_t = self.ratios()
        rand_keep = group_subset(adv.view(-1, c.num_generations), rho_s,
                                 scope=c.selection_scope, method="random",
                                 generator=self.probe_generator).flatten()
        base = super().token_mask(batch)
        rand_mask = top_tokens(token_scores(batch.advantages, batch.samples.entropies,
                                            "random", self.probe_generator),
                               base & rand_keep.unsqueeze(-1), rho_t)
        norms = [self._grad_norm(batch, keep, mask)
                 for keep, mask in ((batch.keep, batch.mask), (rand_keep, rand_mask))]
        return {"d3s/grad_norm_kept": norms[0], "d3s/grad_norm_random": norms[1],
                "d3s/grad_ratio": norms[0] / max(norms[1], 1e-12)}

    def _grad_norm(self, batch: GroupBatch, keep: torch.Tensor, mask: torch.Tensor) -> float:
        part = batch.select(keep.nonzero().squeeze(1))
        part.mask, part.loss_normalizer = mask[keep], None
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(part)["loss"].backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf"))
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)
