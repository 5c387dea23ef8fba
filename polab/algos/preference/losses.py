"""Pure preference losses on sequence log-probabilities (chapter 08).

Every loss here sees a pair (chosen ``w``, rejected ``l``) through the log-probs of the policy
being trained (``logp_w``, ``logp_l``) and of its *anchor* (``ref_w``, ``ref_l``): a frozen
reference, or a fixed log-linear mix of frozen policies (:func:`extrapolated_reference` for
APO, :func:`geometric_reference` for INPO). Log-probs are sums over a response's tokens (a
tabular policy has one "token"); an anchor is defined up to a per-prompt constant, which
cancels in every margin (card 30, pitfall 1).

* DPO, TRL's ``loss_type="sigmoid"`` (Rafailov et al. 2023, eq. 7): ``−log σ(β·m)``;
* IPO, TRL's ``loss_type="ipo"`` (Azar et al. 2023, eq. 17): ``(m − 1/(2β))²``;
* SPPO (Wu et al. 2024, eq. 4.6): ``(log π/π_t(y) − η(P(y ≻ π_t) − ½))²`` per response;
* INPO (card 16): ``(h_t − η/2)²`` with ``h_t`` the margin against ``π_ref^{ητ} π_t^{1−ητ}``.

with ``m = (logp_w − ref_w) − (logp_l − ref_l)`` (:func:`margin`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

LossType = Literal["sigmoid", "ipo", "sppo", "inpo"]


def margin(logp_w: torch.Tensor, logp_l: torch.Tensor, ref_w: torch.Tensor,
           ref_l: torch.Tensor) -> torch.Tensor:
    """``m = log π(w)/π_ref(w) − log π(l)/π_ref(l)``, the implicit-reward margin over β
    (DPO eq. 7, card 30 step 2); INPO's ``h_t`` when the anchor is
    :func:`geometric_reference` (card 16)."""
    return (logp_w - ref_w) - (logp_l - ref_l)


def dpo_loss(m: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO per pair: ``−log σ(β·m)`` (Rafailov et al. 2023, eq. 7; TRL ``"sigmoid"``)."""
    return -F.logsigmoid(beta * m)


def ipo_loss(m: torch.Tensor, beta: float) -> torch.Tensor:
    """IPO per pair: ``(m − 1/(2β))²`` (Azar et al. 2023, eq. 17; TRL ``"ipo"``, which there
    averages token log-probs; here ``m`` is whatever margin it is given)."""
    return (m - 1.0 / (2.0 * beta)) ** 2


def inpo_loss(h: torch.Tensor, eta: float) -> torch.Tensor:
    """INPO per pair: ``(h_t − η/2)²`` (card 16); IPO with ``β = 1/η`` on ``h_t``."""
    return (h - eta / 2.0) ** 2


def sppo_loss(logratio_w: torch.Tensor, logratio_l: torch.Tensor, eta: float,
              win_w: torch.Tensor | float = 1.0, win_l: torch.Tensor | float = 0.0
              ) -> torch.Tensor:
    """SPPO per pair (Wu et al. 2024, eq. 4.6; card 30's SPPO base):
    ``(log π/π_t(w) − η(P̂_w − ½))² + (log π/π_t(l) − η(P̂_l − ½))²`` with the win
    probabilities ``P̂`` against π_t (hard labels 1 and 0 by default)."""
    return (logratio_w - eta * (win_w - 0.5)) ** 2 + (logratio_l - eta * (win_l - 0.5)) ** 2


def pair_loss(loss_type: LossType, logp_w: torch.Tensor, logp_l: torch.Tensor,
              ref_w: torch.Tensor, ref_l: torch.Tensor, beta: float, eta: float
              ) -> torch.Tensor:
    """The per-pair loss of ``loss_type`` (β for ``sigmoid``/``ipo``, η for ``sppo``/``inpo``)."""
    if loss_type == "sppo":
        return sppo_loss(logp_w - ref_w, logp_l - ref_l, eta)
    m = margin(logp_w, logp_l, ref_w, ref_l)
    if loss_type == "sigmoid":
        return dpo_loss(m, beta)
    if loss_type == "ipo":
        return ipo_loss(m, beta)
    if loss_type == "inpo":
        return inpo_loss(m, eta)
    raise ValueError(f"loss_type must be sigmoid, ipo, sppo or inpo, got {loss_type!r}")


def extrapolated_reference(logp_new: torch.Tensor, logp_prev: torch.Tensor, alpha: float
                           ) -> torch.Tensor:
    """APO's next reference, unnormalised: ``(1 + α)·log π_{t+1} − α·log π_t`` (card 30,
    step 3; the ``log Z_t(x)`` it omits cancels in every margin). ``α = 0`` is π_{t+1}:
    iterative DPO."""
    return (1.0 + alpha) * logp_new - alpha * logp_prev


def geometric_reference(logp_ref: torch.Tensor, logp_t: torch.Tensor, eta_tau: float
                        ) -> torch.Tensor:
    """INPO's anchor ``ητ·log π_ref + (1 − ητ)·log π_t`` (card 16, ``h_t``): the margin
    against it is ``h_t(π, y, y′)``. ``τ = 0`` anchors on π_t alone (IPO against π_t)."""
    return eta_tau * logp_ref + (1.0 - eta_tau) * logp_t


def dpo_metrics(logp_w: torch.Tensor, logp_l: torch.Tensor, ref_w: torch.Tensor,
                ref_l: torch.Tensor, beta: float) -> dict[str, float]:
    """TRL's DPO logs: ``rewards/chosen`` ``β(log π − log π_ref)(w)``, ``rewards/rejected``,
    ``rewards/margins`` (their difference) and ``rewards/accuracies`` (share of pairs whose
    chosen reward is the larger), means over the pairs."""
    chosen = beta * (logp_w - ref_w).detach()
    rejected = beta * (logp_l - ref_l).detach()
    return {"rewards/chosen": chosen.mean().item(), "rewards/rejected": rejected.mean().item(),
            "rewards/margins": (chosen - rejected).mean().item(),
            "rewards/accuracies": (chosen > rejected).float().mean().item()}
