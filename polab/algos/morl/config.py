"""C-MORL's configuration and the constants of its ``cpo`` extension form (Liu et al.,
"C-MORL: Multi-Objective Reinforcement Learning through Efficient Discovery of Pareto Front",
ICLR 2025, arXiv 2410.02236; ../shared/cards/04_cmorl.md). The algorithm is
:mod:`polab.algos.morl.cmorl`.
"""

from __future__ import annotations

from dataclasses import dataclass

from polab.config import Config, param
from polab.envs.mo.mo_gym import MO_GYM_PREFIX, MO_GYM_REFERENCE_POINTS
from polab.envs.mo.registry import MO_ENVS, make_mo

CPO_DAMPING = 1e-2
"""Fisher damping of the ``cpo`` form (the authors' code)."""
CPO_CG_ITERATIONS = 10
"""Conjugate-gradient steps per solve in the ``cpo`` form (the authors' code)."""


@dataclass(frozen=True)
class CMORLConfig(Config):
    """C-MORL's knobs (the widgets of ../shared/cards/04_cmorl.md) and the PPO underneath.
    Defaults are tuned for concave DST on a 2-core CPU (≈7 s CPU a run): a smaller network and
    batch than the card, ``num_select=2`` (the card's 4 re-extends duplicates of DST's
    two-point initial front), and an entropy bonus of 0.03 (card: 0): with 0.01, stage 1 ended
    with only the first treasure on 1 of 10 seeds, with 0.03 on 1 of 20."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    env: str = param("deep-sea-treasure-concave-v0", help="multi-objective environment "
                     "(mo-gym:… ones are MO-Gymnasium's, stepped on the CPU)",
                     choices=(*MO_ENVS, *(MO_GYM_PREFIX + k for k in MO_GYM_REFERENCE_POINTS)))
    total_timesteps: int = param(300_000, help="environment steps in the whole run (both "
                                 "stages; the baseline gets the same)", low=1_000,
                                 high=100_000_000)
    n_init_policies: int = param(6, help="M: preference-scalarised policies of stage 1",
                                 low=2, high=12)
    init_budget_frac: float = param(0.4, help="share of the budget spent in stage 1",
                                    low=0.2, high=0.8)
    num_select: int = param(2, help="N: sparse front points extended per round", low=1, high=8)
    beta: float = param(0.3, help="constraint relaxation β: keep G_i ≥ G_i(π_r) - (1-β)·s_i, "
                        "s_i = extent of objective i above the reference point",
                        low=0.1, high=0.99, paper="C-MORL eq. (3)")
    barrier_t: float = param(100.0, help="barrier sharpness t (weight 1/t on the log barrier)",
                             low=1.0, high=1000.0, log=True)
    ext_iters: int = param(10, help="K: PPO iterations per extension", low=1, high=50)
    update_method: str = param("ipo", help="extension step: ipo (log barrier in the PPO loss) "
                               "or cpo (CPO's trust-region step; two objectives)",
                               choices=("ipo", "cpo"))
    cpo_max_kl: float = param(0.01, help="cpo: KL radius δ of each step", low=1e-6, high=1.0,
                              log=True)
    num_envs: int = param(16, help="environment copies per policy", low=1, high=4096)
    num_steps: int = param(32, help="steps per copy per rollout", low=1, high=2048)
    learning_rate: float = param(3e-3, help="Adam learning rate", low=1e-5, high=1e-1, log=True)
    gamma: float = param(0.99, help="discount factor γ (training only; fronts are undiscounted)",
                         low=0.0, high=1.0)
    gae_lambda: float = param(0.95, help="GAE λ", low=0.0, high=1.0)
    update_epochs: int = param(4, help="passes over each rollout", low=1, high=50)
    num_minibatches: int = param(2, help="minibatches per epoch", low=1, high=256)
    clip_coef: float = param(0.2, help="surrogate clipping ε", low=0.0, high=1.0)
    ent_coef: float = param(0.03, help="entropy bonus weight", low=0.0, high=1.0)
    vf_coef: float = param(0.5, help="value loss weight", low=0.0, high=10.0)
    max_grad_norm: float = param(0.5, help="gradient clipping norm, per policy", low=0.0,
                                 high=100.0)
    hidden: int = param(32, help="hidden units per layer", low=4, high=512)
    eval_every: int = param(5, help="evaluate the current policies every this many iterations",
                            low=1, high=1000)

    def rules(self) -> list[tuple[bool, str]]:
        rules = [((self.num_envs * self.num_steps) % self.num_minibatches == 0,
                  f"num_minibatches={self.num_minibatches} must divide num_envs*num_steps="
                  f"{self.num_envs * self.num_steps}")]
        if self.update_method == "cpo":
            k = self.n_objectives
            rules.append((k == 2, f"update_method='cpo' takes one constraint, so two "
                                  f"objectives; env={self.env!r} has {k} (use 'ipo')"))
        return rules

    @property
    def n_objectives(self) -> int:
        """The environment's number of objectives ``K``."""
        return make_mo(self.env, 1).reward_dim

    @property
    def steps_per_policy_iteration(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def init_iterations(self) -> int:
        """Stage-1 PPO iterations (M policies at once)."""
        per_iter = self.n_init_policies * self.steps_per_policy_iteration
        return max(1, round(self.init_budget_frac * self.total_timesteps / per_iter))

    def extension_rounds(self, n_objectives: int) -> int:
        """Whole extension rounds that fit in the rest of the budget."""
        spent = self.init_iterations * self.n_init_policies * self.steps_per_policy_iteration
        per_round = (self.num_select * n_objectives * self.steps_per_policy_iteration
                     * self.ext_iters)
        return max(0, (self.total_timesteps - spent) // per_round)

    @property
    def num_iterations(self) -> int:
        """Iterations of a whole C-MORL run (``step()`` calls)."""
        return self.init_iterations + self.extension_rounds(self.n_objectives) * self.ext_iters

    @property
    def baseline_iterations(self) -> int:
        """Iterations of the linear-scalarisation baseline: ``2M`` policies, same budget."""
        per_iter = 2 * self.n_init_policies * self.steps_per_policy_iteration
        return max(1, round(self.total_timesteps / per_iter))
