"""ScaleRL on the 64-arm contextual bandit: a thin loop over the recipe's pure functions.

The policy is a linear softmax over the context's features (``head``, zero-initialised, so
every run starts at the uniform policy, pass rate ``≈ 1/64``); one ``step()``:

1. the generator copy takes the trainer's weights when :func:`~.scalerl.refresh_due` says so
   (PipelineRL-k; k = 0 samples from the trainer itself, fp32 head);
2. ``num_prompts`` prompts from the :class:`~.scalerl.PromptPool`, ``G`` arms each, sampled
   from the generator's softmax (bf16 head when ``lm_head_fp32`` is off); rewards; the pool
   records them (no-positive-resampling);
3. zero-variance filter, advantages (:func:`~.scalerl.scalerl_advantages`);
4. ``update_epochs`` full-batch Adam steps on :func:`~.scalerl.scalerl_loss` over the kept
   rows; an answer of ``ℓ`` tokens is a row of ``ℓ`` tokens whose first carries
   ``log π(arm)`` and the rest ``log 1 = 0`` (they count in the normalisers, as on a LM);
5. ``compute/flops`` += 2N·(generated tokens) + 6N·(trained tokens), N the policy's
   parameters; every ``eval_every`` updates ``eval/pass_rate``, the *exact* expected pass
   rate of the trained policy on the held-out contexts (the mean of π(correct | x)).

The group core's LM knobs (``max_completion_length``, ``prefix_grouper``, ``beta``, …) do not
apply here. Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from polab.algos.group.scalerl import (
    PromptPool,
    ScaleRL,
    ScaleRLConfig,
    generator_copy,
    load_generator,
    refresh_due,
    scalerl_advantages,
    scalerl_loss,
    zero_variance_keep,
)
from polab.core.compute import lm_flops
from polab.envs.contextual_bandit import ContextualBandit


class BanditPolicy(nn.Module):
    """Linear softmax policy: ``logits = head(x)``, zero-initialised (uniform start)."""

    def __init__(self, dim: int, n_arms: int):
        super().__init__()
        self.head = nn.Linear(dim, n_arms)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


class ScaleRLBandit(ScaleRL):
    """ScaleRL's loop on :class:`~polab.envs.contextual_bandit.ContextualBandit` (module
    docstring). ``env="bandit"`` builds the default testbed with ``num_train_prompts``
    training contexts."""

    state_parts = ("policy", "optimizer", "gen", "pool", "generator", "pool_generator",
                   "flops")
    config: ScaleRLConfig

    def __init__(self, config: ScaleRLConfig, env: ContextualBandit | str = "bandit",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        c = self.config
        self.env = env if isinstance(env, ContextualBandit) else ContextualBandit(
            train_size=c.num_train_prompts, device=self.device)
        if len(self.env.train_x) < c.num_prompts:
            raise ValueError(f"num_prompts={c.num_prompts} exceeds the bandit's "
                             f"{len(self.env.train_x)} training contexts")
        self.policy = BanditPolicy(self.env.dim, self.env.n_arms).to(self.device)
        self.n_params = sum(p.numel() for p in self.policy.parameters())
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=c.learning_rate,
                                           betas=(c.adam_beta1, c.adam_beta2),
                                           weight_decay=c.weight_decay)
        needs_copy = c.off_policy_k >= 1 or not c.lm_head_fp32
        self.gen = generator_copy(self.policy, "head", c.lm_head_fp32) if needs_copy else None
        self.pool = PromptPool(len(self.env.train_x), c.resample_threshold,
                               c.no_positive_resample)
        self.pool_generator = torch.Generator().manual_seed(c.seed)
        self.flops = 0.0
        self.start_pass_rate = self.pass_rate()

    @torch.no_grad()
    def pass_rate(self) -> float:
        """Expected held-out pass rate of the trained policy: mean of π(correct | x)."""
        logp = torch.log_softmax(self.policy(self.env.eval_x) / self.config.temperature, -1)
        return float(logp.gather(1, self.env.eval_best[:, None]).exp().mean())

    def step(self) -> dict[str, Any]:
        c, env, g = self.config, self.env, self.config.num_generations
        metrics: dict[str, Any] = {}
        # 1. GENERATOR (PipelineRL-k): refresh the copy every k updates
        if self.gen is not None and refresh_due(self.iteration, c.off_policy_k):
            load_generator(self.gen, self.policy)
        sampler = self.gen if self.gen is not None else self.policy
        # 2. PROMPTS + SAMPLES + REWARDS
        ids = self.pool.draw(c.num_prompts, self.pool_generator).to(self.device)
        rows = ids.repeat_interleave(g)
        x = env.train_x[rows]
        with torch.no_grad():
            gen_logp_all = torch.log_softmax(sampler(x) / c.temperature, -1)
        arms = torch.multinomial(gen_logp_all.exp(), 1, generator=self.generator).squeeze(1)
        gen_logp = gen_logp_all.gather(1, arms[:, None]).squeeze(1)
        rewards = env.reward(rows, arms)
        self.pool.record(ids, rewards.view(-1, g))
        # 3. FILTER + ADVANTAGES
        keep = (zero_variance_keep(rewards, g) if c.zero_var_filter
                else torch.ones_like(rewards, dtype=torch.bool))
        adv = scalerl_advantages(rewards, g, c.scale_rewards, keep)
        lengths = env.lengths(arms)
        tokens = torch.arange(env.max_len, device=self.device)
        mask, first = tokens < lengths[:, None], tokens == 0
        # 4. UPDATE on the kept rows
        kept = keep.nonzero().squeeze(1)
        for _ in range(c.update_epochs if len(kept) else 0):
            logp_row = torch.log_softmax(self.policy(x[kept]) / c.temperature, -1).gather(
                1, arms[kept, None])
            terms = scalerl_loss(torch.where(first, logp_row, 0.0),
                                 torch.where(first, gen_logp[kept, None], 0.0),
                                 adv[kept], mask[kept], c)
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            terms["grad_norm"] = torch.nn.utils.clip_grad_norm_(
                self.policy.parameters(), c.max_grad_norm or float("inf"))
            self.optimizer.step()
            metrics.update({k: float(v.detach()) for k, v in terms.items()})
        # 5. COMPUTE + LOGGING
        trained = float(lengths[kept].sum()) * (c.update_epochs if len(kept) else 0)
        self.flops += float(lm_flops(self.n_params, float(lengths.sum()), trained))
        self.global_step += len(rows)
        self.iteration += 1
        with torch.no_grad():
            rho = (torch.log_softmax(self.policy(x[kept]) / c.temperature, -1).gather(
                1, arms[kept, None]).squeeze(1) - gen_logp[kept]).exp()
        groups = rewards.view(-1, g)
        metrics.update({
            "compute/flops": self.flops, "reward": float(rewards.mean()),
            "frac_reward_zero_std": float((~keep).float().mean()),
            "pool/alive": float(self.pool.alive.float().mean()),
            "completions/mean_length": float(lengths.float().mean()),
            "reward_std": float(groups.std(1).mean()) if g > 1 else 0.0,
            "is_weights": rho.cpu()})
        if self.iteration == 1:
            metrics["eval/pass_rate_start"] = self.start_pass_rate
        if c.eval_every and (self.iteration == 1 or self.iteration % c.eval_every == 0
                             or self.iteration == c.num_iterations):
            metrics["eval/pass_rate"] = self.pass_rate()
        return metrics
