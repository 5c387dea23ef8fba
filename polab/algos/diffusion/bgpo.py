"""BGPO — Boundary-Guided Policy Optimization for masked-diffusion LMs (card 41).

Lin, Zhang, Hou & Li 2025, *Boundary-Guided Policy Optimization for Memory-efficient RL of
Diffusion Large Language Models*, arXiv 2510.11683. The bound is card 41's reconstruction
(tangent line where A ≥ 0, Jensen where A < 0; THU-KEG/BGPO's code was not available to the
search here): see :mod:`polab.algos.diffusion.objectives`.

One ``step()`` of :class:`BGPO`, top to bottom:

1. GROUPS + ROLLOUT — ``num_prompts`` problems, each ``group_size`` times; G answers per
   prompt by confidence-ordered unmasking (:func:`polab.lm.diffusion.denoise`) in
   ``denoise_steps`` steps at ``temperature``; the policy is frozen as θ_old;
2. REWARDS + ADVANTAGES — exact answer (1/0) and group advantages
   (:func:`polab.core.advantages.group_advantages`);
3. ``inner_updates`` × (draw n_mc masking levels t_j and patterns once, shared by θ and θ_old
   unless ``shared_masks`` is off; ``ℓ_old`` with no grad; the objective's gradient:
   ``bgpo`` / ``naive`` one forward + one ``backward()`` per MC sample, ``exact`` all n_mc
   graphs kept for one backward; one Adam step);
4. LOGS — reward, the ELBO estimate's variance (from θ_old's n_mc samples of the first
   update), the bytes autograd held saved at the peak (:mod:`polab.algos.diffusion.memory`;
   parameters excluded), the bound-vs-exact gap ``exact − bgpo`` (no grad) on the first
   update's masks (θ_old's own: the probe) after each inner update k
   (``bound_gap/after_k``; 0 at θ = θ_old, growing as θ moves off-policy; ``bound_gap``
   after the last), and every ``eval_every`` iterations held-out greedy pass@1.

:class:`DiffusionGroupConfig` and :class:`DiffusionGroupRL` (steps 1, 2, 4 and the schedule)
are shared with d1's diffu-GRPO (:mod:`polab.algos.diffusion.diffu_grpo`), which replaces 3.
Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from polab.algos.diffusion.memory import track_saved
from polab.algos.diffusion.objectives import (
    Objective,
    backward_objective,
    elbo_estimate_variance,
    exact_objective,
    objective_values,
)
from polab.config import Config, param
from polab.core.advantages import ScaleRewards, group_advantages
from polab.core.algorithm import Algorithm
from polab.lm.diffusion import (
    DiffusionLM,
    answer_len,
    answer_reward,
    denoise,
    elbo_term,
    elbo_terms,
    encode,
    evaluate_diffusion,
    load_diffusion_base,
    sample_masks,
)
from polab.lm.tasks import Problems, Task


@dataclass(frozen=True)
class DiffusionGroupConfig(Config):
    """What BGPO and diffu-GRPO share: groups, the diffusion sampler, the optimiser, the
    schedule (card 41's widgets ``group_size``, ``denoise_steps``)."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    num_prompts: int = param(16, help="distinct prompts per iteration", low=1, high=1024)
    group_size: int = param(8, help="answers sampled per prompt (G)", low=4, high=16,
                            paper="card 41 widget; Shao et al. 2024 (GRPO)")
    denoise_steps: int = param(5, help="sampler steps per answer (at most the answer span; "
                               "5 = one token a step on 3-digit addition)", low=1, high=32,
                               paper="card 41 widget")
    temperature: float = param(1.0, help="sampling temperature of the denoiser (> 0: G "
                               "different answers)", low=0.05, high=2.0)
    scale_rewards: ScaleRewards = param("group", help="divide advantages by the group's "
                                        "reward std, the batch's, or nothing")
    learning_rate: float = param(3e-4, help="Adam learning rate", low=1e-6, high=1e-2, log=True)
    max_grad_norm: float = param(1.0, help="gradient-norm clip (0 = off)", low=0.0, high=100.0)
    eval_every: int = param(10, help="iterations between held-out greedy pass@1 checks (also "
                            "after the first and the last; 0 = never)", low=0, high=100_000)
    num_iterations: int = param(60, help="iterations (generation batches) in a run", low=1,
                                high=100_000)


@dataclass(frozen=True)
class BGPOConfig(DiffusionGroupConfig):
    """BGPO's knobs (card 41's widget table)."""

    n_mc: int = param(16, help="Monte-Carlo samples (t_j, masks) of the ELBO per answer",
                      low=1, high=64, paper="card 41 widget; Lin et al. 2025")
    objective: Objective = param("bgpo", help="bgpo = the per-response lower bound (one "
                                 "backward per MC sample); exact = the ELBO ratio, all graphs "
                                 "kept (VRPO-style); naive = A(1 + mean δ) for every sign",
                                 choices=("bgpo", "exact", "naive"), paper="card 41")
    shared_masks: bool = param(True, help="score θ and θ_old on the same t_j and masks (off: "
                               "independent draws, δ dominated by MC noise)",
                               paper="card 41, pitfall 1")
    inner_updates: int = param(1, help="Adam steps per generated batch (1 = strictly "
                               "on-policy: the bound is tight)", low=1, high=4,
                               paper="card 41 widget")
    mask_eps: float = param(1e-3, help="t_j ~ U(eps, 1]: keeps the 1/t weight finite",
                            low=1e-4, high=0.5, log=True, paper="card 41, pitfall 5")


class DiffusionGroupRL(Algorithm):
    """The group-RL loop on a masked-diffusion LM; subclasses implement :meth:`update`.

    ``task`` is a shipped diffusion base's name (``"addition-diffusion"``: model and task are
    loaded) or a :class:`Task`, then with the ``model`` (trained in place)."""

    state_parts = ("model", "optimizer", "generator", "sample_generator", "train_seconds")
    x_label = "answers sampled"
    config: DiffusionGroupConfig

    def __init__(self, config: DiffusionGroupConfig, task: Task | str = "addition-diffusion",
                 device: str | torch.device | None = None, model: DiffusionLM | None = None):
        self.setup(config, device)
        c = self.config
        if isinstance(task, str):
            model, task = load_diffusion_base(task, self.device)
        elif model is None:
            raise ValueError("pass the DiffusionLM to train with a Task (or a base name, e.g. "
                             "'addition-diffusion', to load the shipped checkpoint)")
        self.task, self.model = task, model.to(self.device).train()
        self.answer_len = answer_len(task)
        if c.denoise_steps > self.answer_len:
            raise ValueError(f"denoise_steps={c.denoise_steps} must be <= the answer span "
                             f"({self.answer_len} tokens) of {task.spec()}")
        # a copy, so θ_old has the policy's dtype and device (load_state_dict would cast)
        self.old_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        # answers are drawn on the device by setup's generator; problems and masks on the CPU
        self.sample_generator = self.generator
        self.generator = torch.Generator().manual_seed(c.seed)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.learning_rate)
        self.train_seconds = 0.0

    def rollout(self) -> tuple[Problems, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(problems, prompt_ids, answer_ids, rewards)`` of G sampled answers per prompt."""
        c = self.config
        problems = self.task.sample_prompts(c.num_prompts, self.generator).repeat(c.group_size)
        prompt_ids, _ = encode(self.task, problems, self.answer_len, self.device)
        answers, _ = denoise(self.model, prompt_ids, self.answer_len, c.denoise_steps,
                             c.temperature, self.sample_generator)
        return problems, prompt_ids, answers, answer_reward(self.task, problems, answers)

    def update(self, prompt_ids: torch.Tensor, answers: torch.Tensor,
               advantages: torch.Tensor) -> dict[str, float]:  # pragma: no cover
        raise NotImplementedError

    def clip_and_step(self) -> float:
        """Clip the accumulated gradient to ``max_grad_norm``, take one Adam step; the norm."""
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                              self.config.max_grad_norm or float("inf"))
        self.optimizer.step()
        return float(norm)

    def step(self) -> dict[str, Any]:
        c = self.config
        wall = time.perf_counter()
        _, prompt_ids, answers, rewards = self.rollout()
        advantages = group_advantages(rewards, c.group_size, scale_rewards=c.scale_rewards)
        self.old_model.load_state_dict(self.model.state_dict())  # θ_old = the sampler
        metrics: dict[str, Any] = {"reward": float(rewards.mean()),
                                   "frac_reward_zero_std": float(
                                       (rewards.view(-1, c.group_size).std(1) == 0).float().mean())}
        metrics.update(self.update(prompt_ids, answers, advantages))
        self.global_step += len(rewards)
        self.iteration += 1
        self.train_seconds += time.perf_counter() - wall
        if c.eval_every and (self.iteration == 1 or self.iteration % c.eval_every == 0
                             or self.iteration == c.num_iterations):
            metrics.update(self.evaluate())
        metrics["time/train_s"] = self.train_seconds
        return metrics

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Greedy pass@1 on the task's held-out problems, ``denoise_steps`` steps."""
        start = time.perf_counter()
        result = evaluate_diffusion(self.model, self.task, steps=self.config.denoise_steps)
        self.model.train()
        return {"eval/pass@1": result["pass@1"], "time/eval_s": time.perf_counter() - start}


class BGPO(DiffusionGroupRL):
    """BGPO (or the exact / naive objective) on a masked-diffusion LM; see the module doc."""

    config: BGPOConfig

    def draw_masks(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(t [n_mc, B], masked [n_mc, B, L])`` from the trainer's CPU generator."""
        return sample_masks(batch, self.answer_len, self.config.n_mc, self.generator,
                            self.config.mask_eps, self.device)

    def scorer(self, prompt_ids: torch.Tensor, answers: torch.Tensor, t: torch.Tensor,
               masked: torch.Tensor) -> Callable[[int], torch.Tensor]:
        """``j ↦ ℓ_θ^(j)`` ``[B]``: one MC sample's ELBO term, one forward (with gradient)."""
        return lambda j: elbo_term(self.model, prompt_ids, answers, t[j], masked[j])

    def update(self, prompt_ids: torch.Tensor, answers: torch.Tensor,
               advantages: torch.Tensor) -> dict[str, float]:
        c = self.config
        B = len(advantages)
        out: dict[str, float] = {}
        peak, values, norms = 0, torch.zeros(()), []
        for k in range(c.inner_updates):
            t, masked = self.draw_masks(B)
            old_t, old_masked = (t, masked) if c.shared_masks else self.draw_masks(B)
            with torch.no_grad():
                old = elbo_terms(self.old_model, prompt_ids, answers, old_t, old_masked)
            if k == 0:  # the probe: θ_old vs θ on the first update's masks after every update
                probe_t, probe_masked = old_t, old_masked
                probe_old = old
                out.update({"elbo/variance": float(elbo_estimate_variance(old)),
                            "elbo/mean": float(old.mean())})
            self.optimizer.zero_grad(set_to_none=True)
            with track_saved(exclude=self.model.parameters()) as mem:
                score = self.scorer(prompt_ids, answers, t, masked)
                values = backward_objective(c.objective, score, old, advantages, scale=1 / B)
            peak = max(peak, mem.peak)
            norms.append(self.clip_and_step())
            with torch.no_grad():  # exact − bound on the probe after k + 1 updates
                delta = elbo_terms(self.model, prompt_ids, answers, probe_t,
                                   probe_masked) - probe_old
                exact = exact_objective(delta, advantages)
                gap = float((exact - objective_values("bgpo", delta, advantages)).mean())
            out[f"bound_gap/after_{k + 1}"] = gap
        out.update({"objective": float(values.mean()), "exact_objective": float(exact.mean()),
                    "bound_gap": gap, "saved_bytes": float(peak),
                    "grad_norm": sum(norms) / len(norms)})
        return out


def objectives_along_line(model: DiffusionLM, prompt_ids: torch.Tensor, answers: torch.Tensor,
                          advantages: torch.Tensor, t: torch.Tensor, masked: torch.Tensor,
                          steps: torch.Tensor) -> dict[str, list[float]]:
    """The mean over responses of every objective at ``θ = θ_old + s·d`` for each ``s`` in
    ``steps``, with θ_old = ``model``'s weights and d the normalised gradient of the exact
    objective at θ_old, on fixed masks ``(t, masked)`` (card 41, "Plots": the bound touching
    the objective at θ_old, s = 0, and below it elsewhere). ``model`` is left unchanged."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        old = elbo_terms(model, prompt_ids, answers, t, masked)
    model.zero_grad(set_to_none=True)
    backward_objective("exact", lambda j: elbo_term(model, prompt_ids, answers, t[j],
                                                    masked[j]), old, advantages)
    grads = {k: -p.grad for k, p in params.items()}  # backward_objective minimises −J
    model.zero_grad(set_to_none=True)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values()))
    out: dict[str, list[float]] = {name: [] for name in ("exact", "bgpo", "naive")}
    probe = copy.deepcopy(model).eval()
    with torch.no_grad():
        for s in steps.tolist():
            for k, p in probe.named_parameters():
                p.copy_(params[k] + s * grads[k] / norm)
            ell = elbo_terms(probe, prompt_ids, answers, t, masked)
            for name in out:
                out[name].append(float(objective_values(name, ell - old, advantages).mean()))
    return out
