"""Card 32's linear toy: a d-rectangular linear MDP with an absorbing "fail" state.

Five states — ``start``, two intermediate lanes (``risky``, ``safe``), ``fail`` (absorbing,
reward 0, so its value is 0 and the TV dual's ``min_s V(s)`` is 0: card 32, pitfall 2) and
``goal`` (reward 1 per step) — two actions, horizon H = 10. The nominal kernel is linear in
d = 4 known latent features (card 32, "Core update"):

    P⁰(s′ | s, a) = φ(s, a)ᵀ μ⁰(s′),    φ(s, a) ∈ Δ_d,   μ⁰_i ∈ Δ_S,

with the factors μ⁰_1 = "reach goal" (a small fail probability ``p_fail``), μ⁰_2 = "to the
risky lane", μ⁰_3 = "to the safe lane", μ⁰_4 = "fail". The risky lane reaches the goal (1 per
step) but later; the safe lane pays ``safe_reward`` per step at once. A test perturbation of
size ρ_test moves total-variation mass ρ_test of *each factor* μ⁰_i onto "fail" (the
d-rectangular set of card 32, pitfall 1), so long-delayed value loses most: the nominal optimum
takes the risky lane, the robust optimum the safe one once ρ is large enough.

``features="onehot"`` gives the same MDP with tabular features (d = S·A, μ⁰ = P⁰ rows), where
d-rectangular and (s, a)-rectangular sets coincide.
"""

from __future__ import annotations

import torch

STATES = ("start", "risky", "safe", "fail", "goal")
START, RISKY, SAFE, FAIL, GOAL = range(5)
ACTIONS = ("go/push", "other")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class LinearToyMDP:
    """Card 32's linear toy (module docstring). Tensors: ``phi [S, A, d]``, ``mu [d, S]``,
    ``reward [S, A]``; time-homogeneous, horizon ``horizon``, start state ``START``."""

    def __init__(self, horizon: int = 10, p_fail: float = 0.05, safe_reward: float = 0.5,
                 features: str = "latent", dtype: torch.dtype = torch.float64,
                 device: str | torch.device = "cpu"):
        _check(isinstance(horizon, int) and 1 <= horizon <= 100,
               f"horizon={horizon!r}: an integer in [1, 100]")
        _check(0.0 <= p_fail < 1.0, f"p_fail={p_fail!r}: a probability in [0, 1)")
        _check(0.0 <= safe_reward <= 1.0, f"safe_reward={safe_reward!r}: lies in [0, 1]")
        _check(features in ("latent", "onehot"),
               f"features={features!r}: 'latent' (d = 4) or 'onehot' (d = S·A)")
        self.horizon, self.p_fail, self.features = horizon, p_fail, features
        kw = {"dtype": dtype, "device": device}
        mu = torch.zeros(4, 5, **kw)
        mu[0, GOAL], mu[0, FAIL] = 1 - p_fail, p_fail
        mu[1, RISKY] = mu[2, SAFE] = mu[3, FAIL] = 1.0
        phi = torch.tensor([[[0.0, 0.9, 0.1, 0.0], [0.0, 0.1, 0.9, 0.0]],    # start: lanes
                            [[0.5, 0.45, 0.0, 0.05], [0.0, 0.9, 0.1, 0.0]],  # risky: push/wait
                            [[0.0, 0.0, 1.0, 0.0], [0.1, 0.0, 0.9, 0.0]],    # safe: stay/leave
                            [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]],    # fail: absorbing
                            [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]], **kw)  # goal
        reward = torch.zeros(5, 2, **kw)
        reward[GOAL] = 1.0
        reward[SAFE, 0] = safe_reward
        if features == "onehot":
            mu = torch.einsum("sad,dt->sat", phi, mu).reshape(10, 5)
            phi = torch.eye(10, **kw).reshape(5, 2, 10)
        self.phi, self.mu, self.reward = phi, mu, reward
        self.num_states, self.num_actions, self.dim = 5, 2, phi.shape[-1]
        self.start, self.fail = START, FAIL

    @property
    def nominal_kernel(self) -> torch.Tensor:
        """``P⁰[s, a, s′] = φ(s, a)ᵀ μ⁰(s′)``."""
        return torch.einsum("sad,dt->sat", self.phi, self.mu)

    def perturbed_mu(self, rho_test: float) -> torch.Tensor:
        """Each factor μ⁰_i with TV mass ``min(ρ_test, 1 − μ⁰_i(fail))`` moved onto "fail",
        proportionally from the other states (card 32's test perturbation, d-rectangular)."""
        _check(0.0 <= rho_test <= 1.0, f"rho_test={rho_test!r}: a TV radius in [0, 1]")
        rest = 1 - self.mu[:, FAIL]
        scale = torch.where(rest > 0, (1 - rho_test / rest.clamp_min(1e-12)).clamp_min(0), 1.0)
        out = self.mu * scale.unsqueeze(-1)
        out[:, FAIL] = 1 - (out.sum(-1) - out[:, FAIL])
        return out

    def kernel(self, rho_test: float = 0.0) -> torch.Tensor:
        """The test kernel ``[S, A, S]`` at perturbation size ``rho_test`` (0 = nominal)."""
        return torch.einsum("sad,dt->sat", self.phi, self.perturbed_mu(rho_test))

    def expected_return(self, policy: torch.Tensor, rho_test: float = 0.0) -> torch.Tensor:
        """Exact expected return from ``start`` of a policy ``[H, S, A]`` (or ``[S, A]``) on
        the kernel at ``rho_test`` (backward evaluation)."""
        P = self.kernel(rho_test)
        policy = policy.expand(self.horizon, *self.reward.shape)
        v = torch.zeros(self.num_states, dtype=P.dtype, device=P.device)
        for h in reversed(range(self.horizon)):
            v = (policy[h] * (self.reward + P @ v)).sum(-1)
        return v[self.start]

    def rollout(self, policy: torch.Tensor, n: int, generator: torch.Generator | None = None,
                rho_test: float = 0.0) -> dict[str, torch.Tensor]:
        """``n`` episodes at once under ``policy [H, S, A]``: ``states [n, H+1]``,
        ``actions [n, H]``, ``rewards [n, H]`` (the kernel at ``rho_test``; nominal = 0)."""
        _check(isinstance(n, int) and n >= 1, f"n={n!r}: a positive number of episodes")
        P = self.kernel(rho_test)
        policy = policy.expand(self.horizon, *self.reward.shape)
        s = torch.full((n,), self.start, dtype=torch.long, device=P.device)
        states, actions, rewards = [s], [], []
        for h in range(self.horizon):
            a = torch.multinomial(policy[h, s], 1, generator=generator).squeeze(-1)
            s = torch.multinomial(P[s, a], 1, generator=generator).squeeze(-1)
            actions.append(a)
            rewards.append(self.reward[states[-1], a])
            states.append(s)
        return {"states": torch.stack(states, 1), "actions": torch.stack(actions, 1),
                "rewards": torch.stack(rewards, 1)}
