"""The preference game of chapter 08 (issue 16, card 16's miniature, testbed (d)).

Each prompt ``x`` has ``K`` candidate responses and a *preference matrix*
``P[x, i, j] = P(y_i ≻ y_j | x)``::

    P = (1 − c)·σ(r_i − r_j) + c·C,

a Bradley–Terry part (hidden rewards ``r ~ N(0, 1)`` drawn from the seed) mixed with a
*cyclic tournament* ``C`` of weight ``c`` that makes preferences intransitive. ``C`` puts the
responses on a circle: ``y_i`` beats the next ``⌈K/2⌉ − 1`` responses round it for sure and ties
the opposite one when ``K`` is even, ``C[i, j] = ½ + ½·s((j − i) mod K)`` with ``s(d) = +1``
for ``0 < d < K/2``, ``−1`` for ``d > K/2`` and ``0`` for ``d ∈ {0, K/2}``. Since
``s(K − d) = −s(d)``, ``C + Cᵀ = 1`` with ½ on the diagonal, so every mix ``P`` is a valid
preference matrix; ``K = 3`` is rock–paper–scissors.

The policy is a tabular softmax, ``π_0 = π_ref`` uniform (the rock–paper–scissors game starts
from a lopsided ``π_ref``, or it would start at its Nash). The oracle labels two of the ``K``
samples of a prompt (a random pair) by a Bernoulli(``P(y ≻ y′)``) draw, flipped with probability
``label_noise``; identical responses are dropped. The pure functions below give the exact
quantities: win rates ``P(y ≻ π)``, exploitability ``max_y P(y ≻ π) − ½``, one exact OMD step
(card 16's target) and the KL-regularised Nash policy by iterating it; the algorithms' side
(:mod:`polab.algos.preference.nash`) adds the unregularised Nash (a linear programme).

Everything is batched over prompts and runs on any device. This module reads a config's fields
duck-typed (``seed``, ``cyclic``, ``label_noise``, ``tau``) and imports nothing from
``polab.algos``.
"""

from __future__ import annotations

from typing import Any

import torch

PROMPTS, RESPONSES = 16, 8
"""The game's size (issue 16): 16 prompts × 8 responses."""
RPS_NAMES = ("rock", "scissors", "paper")
"""Rock–paper–scissors in the cyclic tournament's order: each beats the next one round."""
RPS_REFERENCE = (0.6, 0.3, 0.1)
"""π_ref = π_0 of rock–paper–scissors: lopsided, so the dynamics have somewhere to go."""


def cyclic_tournament(k: int, device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The cyclic tournament ``C`` ``[K, K]`` (module docstring): ``C + Cᵀ = 1``, ½ on the
    diagonal, every row sums to ``K/2`` (so the uniform policy is its Nash)."""
    idx = torch.arange(k, device=device)
    d = (idx[None, :] - idx[:, None]) % k
    s = torch.where(2 * d < k, 1.0, -1.0).to(dtype)
    s = torch.where((d == 0) | (2 * d == k), torch.zeros((), dtype=dtype, device=device), s)
    return 0.5 + 0.5 * s


def preference_matrix(rewards: torch.Tensor, cyclic: float) -> torch.Tensor:
    """``P = (1 − c)·σ(r_i − r_j) + c·C`` ``[n, K, K]`` from rewards ``[n, K]`` (card 16,
    miniature)."""
    bt = torch.sigmoid(rewards[:, :, None] - rewards[:, None, :])
    c = cyclic_tournament(rewards.shape[-1], rewards.device, rewards.dtype)
    return (1.0 - cyclic) * bt + cyclic * c


def win_rates(P: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``P(y ≻ π | x) = Σ_{y′} P(y ≻ y′ | x)·π(y′|x)`` for every response, ``[..., n, K]``
    (leading dimensions broadcast)."""
    return (P @ probs.to(P.dtype)[..., None])[..., 0]


def exploitability(P: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``max_y P(y ≻ π) − ½`` per prompt ``[n]`` (card 16, pitfall 5): how much the best reply
    beats ``π``; zero exactly at a Nash policy of the symmetric game."""
    return win_rates(P, probs).amax(-1) - 0.5


def kl(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """``KL(π ‖ π_ref)`` per prompt ``[n]`` from normalised log-probabilities ``[n, K]``."""
    return (logp.exp() * (logp - logp_ref)).sum(-1)


def omd_step(logp_t: torch.Tensor, logp_ref: torch.Tensor, P: torch.Tensor, eta: float,
             tau: float) -> torch.Tensor:
    """One exact OMD step (card 16, "OMD target"), normalised log-probabilities ``[n, K]``:
    ``π_{t+1} ∝ π_t^{1−ητ}·π_ref^{ητ}·exp(η·P(y ≻ π_t))``."""
    logits = ((1.0 - eta * tau) * logp_t + eta * tau * logp_ref
              + eta * win_rates(P, logp_t.exp()))
    return torch.log_softmax(logits, dim=-1)


def nash_residual(logp: torch.Tensor, logp_ref: torch.Tensor, P: torch.Tensor, tau: float
                  ) -> torch.Tensor:
    """The regularised Nash's fixed-point residual ``max |log π − log softmax(log π_ref +
    P(· ≻ π)/τ)|`` (OMD's fixed point: ``π ∝ π_ref·exp(P(y ≻ π)/τ)``)."""
    target = torch.log_softmax(logp_ref + win_rates(P, logp.exp()) / tau, dim=-1)
    return (logp - target).abs().max()


def regularised_nash(P: torch.Tensor, logp_ref: torch.Tensor, tau: float, tol: float = 1e-10,
                     max_iterations: int = 200_000) -> torch.Tensor:
    """The KL-regularised Nash policy of ``max_π min_π′ P(π ≻ π′) − τ KL(π‖π_ref) +
    τ KL(π′‖π_ref)`` (card 16, "Game"), log-probabilities ``[n, K]``, by exact OMD from
    ``π_ref`` (float64) until :func:`nash_residual` ``< tol``.

    The step ``η = ½/(1 + τ)`` (``ητ < ½``) keeps the iteration a contraction (the regularised
    game is ``τ``-strongly monotone and ``P`` has entries in [0, 1]); raises if it does not
    converge in ``max_iterations``.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0 for the regularised Nash, got {tau}")
    P64, ref = P.double(), torch.log_softmax(logp_ref.double(), dim=-1)
    eta = 0.5 / (1.0 + tau)
    logp = ref
    for _ in range(max_iterations):
        logp = omd_step(logp, ref, P64, eta, tau)
        if nash_residual(logp, ref, P64, tau).item() < tol:
            return logp
    raise RuntimeError(f"regularised Nash (tau={tau}) did not converge in {max_iterations} "
                       "OMD steps")


class PreferenceGame:
    """The preference game as a testbed of the chapter-08 trainer (module docstring).

    ``prompts × responses`` with BT rewards from ``seed``, cyclic weight ``cyclic``, oracle
    flip probability ``label_noise``; ``tau`` sets the regularised Nash that ``nash_gap`` is
    measured against (``tau = 0``: the unregularised Nash, exploitability 0).
    ``reference`` (probabilities ``[K]``) replaces the uniform ``π_ref = π_0``; ``rewards``
    ``[prompts, K]`` replaces the drawn ones.
    """

    def __init__(self, prompts: int = PROMPTS, responses: int = RESPONSES, cyclic: float = 0.5,
                 label_noise: float = 0.0, tau: float = 0.1, seed: int = 0,
                 device: torch.device | str = "cpu",
                 reference: tuple[float, ...] | None = None,
                 rewards: torch.Tensor | None = None):
        checks = [(isinstance(prompts, int) and prompts >= 1, "prompts", "an int ≥ 1", prompts),
                  (isinstance(responses, int) and responses >= 2, "responses", "an int ≥ 2",
                   responses),
                  (0.0 <= cyclic <= 1.0, "cyclic", "in [0, 1]", cyclic),
                  (0.0 <= label_noise <= 0.5, "label_noise", "in [0, 0.5]", label_noise),
                  (tau >= 0.0, "tau", "≥ 0", tau)]
        for ok, name, want, got in checks:
            if not ok:
                raise ValueError(f"preference game: {name} must be {want}, got {got!r}")
        if reference is not None and (len(reference) != responses or min(reference) <= 0):
            raise ValueError(f"preference game: reference must be {responses} positive "
                             f"probabilities, got {reference!r}")
        self.device = torch.device(device)
        self.prompts, self.responses = prompts, responses
        self.cyclic, self.label_noise, self.tau = float(cyclic), float(label_noise), float(tau)
        if rewards is None:
            gen = torch.Generator().manual_seed(seed)
            rewards = torch.randn(prompts, responses, generator=gen, dtype=torch.float64)
        self.rewards = rewards.double().to(self.device)
        self.P = preference_matrix(self.rewards, self.cyclic)
        ref = (torch.zeros(responses, dtype=torch.float64) if reference is None else
               torch.tensor(reference, dtype=torch.float64).log())
        self.logp_ref = torch.log_softmax(ref, -1).to(self.device).expand(prompts, -1).clone()
        self.nash_logp = (regularised_nash(self.P, self.logp_ref, self.tau)
                          if self.tau > 0 else None)
        self.nash_exploitability = (0.0 if self.nash_logp is None else
                                    exploitability(self.P, self.nash_logp.exp()).mean().item())

    def initial_policy(self) -> torch.Tensor:
        """π_0 = π_ref as a table of logits ``[prompts, responses]`` (float32)."""
        return self.logp_ref.float().clone()

    def sample_prompts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` prompt ids drawn uniformly."""
        return torch.randint(self.prompts, (n,), generator=generator,
                             device=generator.device).to(self.device)

    def make_pairs(self, prompts: torch.Tensor, responses: torch.Tensor,
                   generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Two of the ``K`` samples per prompt (a random pair of slots), labelled by
        Bernoulli(``P(y ≻ y′)``) flipped with probability ``label_noise`` (card 16, pitfall 3:
        the oracle decides the order); identical responses dropped."""
        n, k = responses.shape
        gdev = generator.device
        first = torch.randint(k, (n,), generator=generator, device=gdev).to(self.device)
        second = (first + torch.randint(1, k, (n,), generator=generator, device=gdev)
                  .to(self.device)) % k
        rows = torch.arange(n, device=self.device)
        a, b = responses[rows, first], responses[rows, second]
        p = self.P[prompts, a, b]
        p = (1.0 - self.label_noise) * p + self.label_noise * (1.0 - p)
        a_wins = torch.rand(n, generator=generator, device=gdev, dtype=torch.float64
                            ).to(self.device) < p
        keep = a != b
        chosen, rejected = torch.where(a_wins, a, b), torch.where(a_wins, b, a)
        return prompts[keep], chosen[keep], rejected[keep]

    def metrics(self, policy: Any, initial: Any) -> dict[str, float]:
        """Exact measures of the policy's table ``policy.logits`` (means over prompts):
        ``exploitability``, ``nash_gap`` (minus the regularised Nash's), ``kl`` to π_ref and
        ``entropy``."""
        with torch.no_grad():
            logp = torch.log_softmax(policy.logits.detach().double(), -1)
            expl = exploitability(self.P, logp.exp()).mean().item()
            return {"exploitability": expl, "nash_gap": expl - self.nash_exploitability,
                    "kl": kl(logp, self.logp_ref).mean().item(),
                    "entropy": -(logp.exp() * logp).sum(-1).mean().item()}


def from_config(config: Any, device: torch.device) -> PreferenceGame:
    """The 16 × 8 preference game for ``config`` (its ``seed``, ``cyclic``, ``label_noise``,
    ``tau``)."""
    return PreferenceGame(PROMPTS, RESPONSES, cyclic=config.cyclic,
                          label_noise=config.label_noise, tau=config.tau, seed=config.seed,
                          device=device)


def rock_paper_scissors(config: Any, device: torch.device) -> PreferenceGame:
    """Rock–paper–scissors (``K = 3``, one prompt, ``P = C``: ``cyclic`` is ignored) from the
    lopsided :data:`RPS_REFERENCE`; ``label_noise`` and ``tau`` from ``config``."""
    return PreferenceGame(1, 3, cyclic=1.0, label_noise=config.label_noise, tau=config.tau,
                          seed=config.seed, device=device, reference=RPS_REFERENCE)

