"""The preference bandit (card 30's miniature, testbed d; issue 16): prompts × responses with a
hidden true reward, a tabular softmax policy, a Bradley–Terry oracle with label flips.

* **Instance** (from ``seed``): ``r*(x, y) ~ N(0, 1)`` for every prompt ``x`` and response
  ``y``; the initial ("SFT") policy π_0 is a table of logits ``~ N(0, 1)`` drawn independently
  of r*, so π_0 is a mediocre policy: its expected reward is near 0 while the best response
  of a prompt is worth about 2 (the maximum of 32 standard normals).
* **Pairs** (:meth:`PreferenceBandit.make_pairs`): of the K responses sampled for a prompt,
  the best and the worst by r* (the "reward model picks best/worst" of card 30, step 1) form
  the pair; the oracle then *labels* it by Bradley–Terry on r*,
  ``P(a ≻ b) = σ(r*_a − r*_b)``, and flips the label with probability ``label_noise``. So
  the label of a pair is right with probability ``ε + (1 − 2ε)·σ(Δr*)``: BT noise plus
  label-flip noise. Pairs whose best and worst are the same response (all K equal) are
  dropped (ties).
* **Exact answers** (pure functions below, from the tables): the best response and its
  reward, the KL-regularised optimum ``π_ref·exp(r*/β)/Z`` (the minimiser of DPO on
  exhaustive BT-labelled pairs, Rafailov et al. 2023, §4), and the metrics of any table of
  logits: expected true reward, win rate against π_0, ``KL(π‖π_0)``, entropy and the gap to
  the best reward, all exact expectations (no sampling).

Everything is batched over prompts and responses and lives on the testbed's device.
"""

from __future__ import annotations

from typing import Any

import torch


def best_response(reward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The best response of each prompt and its true reward: ``argmax_y r*(x, y)`` and
    ``max_y r*(x, y)``, both ``[prompts]``."""
    value, index = reward.max(dim=-1)
    return index, value


def kl_optimum(ref_logits: torch.Tensor, reward: torch.Tensor, beta: float) -> torch.Tensor:
    """``log π*(y|x)`` with ``π* = π_ref·exp(r*/β)/Z(x)``: the maximiser of
    ``E_π r* − β·KL(π‖π_ref)`` and DPO's minimiser on exhaustive Bradley–Terry labels
    (Rafailov et al. 2023, eq. 4)."""
    return torch.log_softmax(torch.log_softmax(ref_logits, -1) + reward / beta, dim=-1)


def expected_reward(logits: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
    """``E_{y~π(·|x)} r*(x, y)`` per prompt, ``[prompts]``."""
    return (torch.softmax(logits, -1) * reward).sum(-1)


def win_probability(logits: torch.Tensor, other_logits: torch.Tensor, reward: torch.Tensor
                    ) -> torch.Tensor:
    """``E_{y~π, y'~π'} σ(r*(y) − r*(y'))`` per prompt: the Bradley–Terry probability that a
    response of π beats one of π' (identical responses count ½)."""
    p, q = torch.softmax(logits, -1), torch.softmax(other_logits, -1)
    beats = torch.sigmoid(reward.unsqueeze(-1) - reward.unsqueeze(-2))  # [x, y, y']
    return torch.einsum("xy,xyz,xz->x", p, beats, q)


def kl_divergence(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """``KL(π‖π_ref)`` per prompt."""
    logp, logq = torch.log_softmax(logits, -1), torch.log_softmax(ref_logits, -1)
    return (logp.exp() * (logp - logq)).sum(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H(π(·|x))`` per prompt."""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


def bandit_metrics(logits: torch.Tensor, initial_logits: torch.Tensor, reward: torch.Tensor
                   ) -> dict[str, float]:
    """The exact metrics of a policy table, means over prompts: ``true_reward``, ``win_rate``
    against π_0, ``kl`` ``KL(π‖π_0)``, ``entropy`` and ``gap`` (best reward − true reward)."""
    true = expected_reward(logits, reward)
    return {"true_reward": true.mean().item(),
            "win_rate": win_probability(logits, initial_logits, reward).mean().item(),
            "kl": kl_divergence(logits, initial_logits).mean().item(),
            "entropy": entropy(logits).mean().item(),
            "gap": (best_response(reward)[1] - true).mean().item()}


def _check(name: str, value: Any, low: float, high: float, integer: bool = False) -> None:
    """A ``ValueError`` naming ``name`` unless ``value`` is a number (an int if ``integer``)
    in ``[low, high]``."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an int" if integer else "a number"
        raise ValueError(f"{name}={value!r}: expected {kind} in [{low:g}, {high:g}]")


class PreferenceBandit:
    """``prompts × responses`` hidden rewards, π_0's logits and a noisy BT oracle (module
    docstring). ``beta`` is only used by :meth:`optimum` (the DPO target)."""

    def __init__(self, prompts: int = 64, responses: int = 32, seed: int = 0,
                 label_noise: float = 0.1, beta: float = 0.5,
                 device: str | torch.device = "cpu"):
        _check("prompts", prompts, 1, 1_000_000, integer=True)
        _check("responses", responses, 2, 100_000, integer=True)
        _check("seed", seed, 0, 2**63 - 1, integer=True)
        _check("label_noise", label_noise, 0.0, 0.5)
        _check("beta", beta, 1e-9, float("inf"))
        g = torch.Generator().manual_seed(seed)  # the instance: same on every device
        self.device = torch.device(device)
        self.reward = torch.randn(prompts, responses, generator=g).to(self.device)
        self.initial_logits = torch.randn(prompts, responses, generator=g).to(self.device)
        self.label_noise = float(label_noise)
        self.beta = float(beta)

    @property
    def num_prompts(self) -> int:
        return self.reward.shape[0]

    def initial_policy(self) -> torch.Tensor:
        """π_0's table of logits ``[prompts, responses]`` (the trainer makes it a
        :class:`~polab.algos.preference.backend.TabularPolicy`)."""
        return self.initial_logits.clone()

    def sample_prompts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` prompt ids drawn uniformly with replacement."""
        return torch.randint(0, self.num_prompts, (n,), generator=generator,
                             device=generator.device).to(self.device)

    def make_pairs(self, prompts: torch.Tensor, responses: torch.Tensor,
                   generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Best vs worst of each prompt's K responses (``[n, K]``) by r*, labelled by
        Bradley–Terry on r* with label flips; ties (best = worst) dropped. Returns
        ``(prompts, chosen, rejected)``."""
        r = self.reward[prompts.unsqueeze(-1), responses]  # [n, K]
        best = responses.gather(1, r.argmax(1, keepdim=True)).squeeze(1)
        worst = responses.gather(1, r.argmin(1, keepdim=True)).squeeze(1)
        gap = self.reward[prompts, best] - self.reward[prompts, worst]
        u = torch.rand(2, len(prompts), generator=generator, device=generator.device
                       ).to(self.device)
        best_wins = (u[0] < torch.sigmoid(gap)) ^ (u[1] < self.label_noise)
        keep = best != worst
        chosen = torch.where(best_wins, best, worst)
        rejected = torch.where(best_wins, worst, best)
        return prompts[keep], chosen[keep], rejected[keep]

    def metrics(self, policy: Any, initial: Any) -> dict[str, float]:
        """Exact metrics of ``policy.logits`` against ``initial.logits``
        (:func:`bandit_metrics`)."""
        with torch.no_grad():
            return bandit_metrics(policy.logits, initial.logits, self.reward)

    def best_reward(self) -> float:
        """``E_x max_y r*(x, y)``: the best achievable true reward."""
        return best_response(self.reward)[1].mean().item()

    def optimum(self, beta: float | None = None) -> torch.Tensor:
        """``log π_0·exp(r*/β)/Z`` (:func:`kl_optimum`) with the testbed's β by default."""
        return kl_optimum(self.initial_logits, self.reward, self.beta if beta is None else beta)


def from_config(config: Any, device: torch.device) -> PreferenceBandit:
    """The default 64 × 32 bandit for a config's ``seed``, ``label_noise`` and ``beta``."""
    return PreferenceBandit(seed=int(config.seed), label_noise=float(config.label_noise),
                            beta=float(config.beta), device=device)

