"""ScaleRL on the tiny LM: :class:`~polab.algos.group.grpo.GRPO` with the recipe in its hooks.

Card 24's recipe (:mod:`polab.algos.group.scalerl`) through GRPO's hooks, on a shipped base
(``load_base``) or a :class:`~polab.lm.tasks.Task` with its model:

* ``build_groups`` — ``num_prompts`` prompts from the :class:`~.scalerl.PromptPool` over a
  fixed pool of ``num_train_prompts`` training problems (no-positive-resampling prunes it;
  the task's held-out set is never drawn);
* ``rollout`` — samples from the generator copy (refreshed every ``off_policy_k`` updates,
  bf16 ``lm_head`` unless ``lm_head_fp32``); its log-probs are π_gen;
* ``compute_advantages`` / ``select_rows`` — batch-normalised advantages over the rows the
  zero-variance filter keeps;
* ``loss`` — :func:`~.scalerl.scalerl_loss` (CISPO or the clip) on π_train / π_gen;
* ``after_update`` — the pool records the groups' rewards;
* ``step`` adds the cumulative ``compute/flops`` (2N per generated completion token, 6N per
  trained token; prompts not counted) and ``evaluate`` the validation pass rate
  ``eval/pass_rate``: the mean reward of ``eval_samples`` samples per held-out problem at
  ``temperature`` (card 24: a mean over many samples, not greedy).

The config's defaults are the bandit's; on the LM use GRPO's scale (:data:`LM_SCALE`, what
the registry applies for ``--env addition-reverse``).
Answers here are ≤ 5 tokens: no forced interruption. Taught in
notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from polab.algos.group.batch import GroupBatch
from polab.algos.group.grpo import GRPO
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
from polab.algos.group.scalerl_testbeds import LM_SCALE
from polab.core.compute import lm_flops
from polab.lm.evaluate import evaluate
from polab.lm.generate import Samples, generate
from polab.lm.model import GPT
from polab.lm.tasks import Problems, Task

__all__ = ["LM_SCALE", "ScaleRLLM"]


class ScaleRLLM(ScaleRL, GRPO):
    """ScaleRL on a tiny-LM task (module docstring)."""

    state_parts = (*GRPO.state_parts, "gen_model", "prompt_pool", "flops")
    config: ScaleRLConfig

    def __init__(self, config: ScaleRLConfig, task: Task | str = "addition",
                 device: str | torch.device | None = None, model: GPT | None = None):
        GRPO.__init__(self, config, task, device, model)
        c = self.config
        self.prompt_pool = PromptPool(c.num_train_prompts, c.resample_threshold,
                                      c.no_positive_resample)
        needs_copy = c.off_policy_k >= 1 or not c.lm_head_fp32
        self.gen_model = (generator_copy(self.model, "lm_head", c.lm_head_fp32)
                          if needs_copy else None)
        self.n_params = self.model.num_params()
        self.flops = 0.0
        self.start_pass_rate = self.evaluate()["eval/pass_rate"]

    def build_groups(self) -> tuple[Problems, torch.Tensor | None]:
        c = self.config
        ids = self.prompt_pool.draw(c.num_prompts, self.generator)
        ids = ids.repeat_interleave(c.num_generations)
        return self.pool.select(ids), ids

    def rollout(self, problems: Problems) -> Samples:
        """Sample from the generator copy (PipelineRL-k, its head's precision)."""
        c = self.config
        if self.gen_model is not None and refresh_due(self.iteration, c.off_policy_k):
            load_generator(self.gen_model, self.model)
        sampler = self.gen_model if self.gen_model is not None else self.model
        ids, mask = self.task.encode_prompts(problems, self.device)
        self.model.eval()
        out = generate(sampler, ids, mask, max_new_tokens=self.max_new_tokens,
                       eos_id=self.tokenizer.eos_id, pad_id=self.tokenizer.pad_id,
                       temperature=c.temperature, generator=self.sample_generator)
        self.model.train()
        return out

    def _keep(self, batch: GroupBatch) -> torch.Tensor:
        if self.config.zero_var_filter:
            return zero_variance_keep(batch.rewards, self.config.num_generations)
        return torch.ones_like(batch.rewards, dtype=torch.bool)

    def compute_advantages(self, batch: GroupBatch) -> torch.Tensor:
        c = self.config
        return scalerl_advantages(batch.rewards, c.num_generations, c.scale_rewards,
                                  self._keep(batch))

    def select_rows(self, batch: GroupBatch) -> torch.Tensor:
        return self._keep(batch)

    def loss(self, batch: GroupBatch) -> dict[str, torch.Tensor]:
        logp, _ = self.score(batch.samples)
        terms = scalerl_loss(logp, batch.samples.logprobs, batch.advantages, batch.mask,
                             self.config)
        with torch.no_grad():
            gap = (logp.detach() - batch.samples.logprobs).abs()
            terms["logprob_mismatch"] = torch.where(batch.mask, gap, 0.0).sum() / \
                batch.mask.sum().clamp(min=1)
        return terms

    def after_update(self, batch: GroupBatch) -> dict[str, float]:
        g = self.config.num_generations
        self.prompt_pool.record(batch.pool_ids.view(-1, g)[:, 0], batch.rewards.view(-1, g))
        return {"pool/alive": float(self.prompt_pool.alive.float().mean())}

    def step(self) -> dict[str, Any]:
        metrics = super().step()
        b, c = self.last_batch, self.config
        trained = float((b.mask & b.keep[:, None]).sum()) * c.update_epochs
        self.flops += float(lm_flops(self.n_params, float(b.samples.lengths.sum()), trained))
        metrics["compute/flops"] = self.flops
        if self.iteration == 1:
            metrics["eval/pass_rate_start"] = self.start_pass_rate
        return metrics

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation pass rate: mean reward of ``eval_samples`` samples per held-out problem."""
        start, c = time.perf_counter(), self.config
        result = evaluate(self.model, self.task, samples=c.eval_samples,
                          temperature=c.temperature,
                          generator=torch.Generator(self.device).manual_seed(c.seed))
        return {"eval/pass_rate": result["pass@1"], "time/eval_s": time.perf_counter() - start}
