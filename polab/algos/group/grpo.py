"""GRPO — Group Relative Policy Optimization on the tiny LM, with the hooks later chapters use.

Shao et al. 2024, *DeepSeekMath*, arXiv 2402.03300, §4.1 (Algorithm 1); knob names and the
loss follow TRL's ``GRPOTrainer``. Dr. GRPO and DAPO are presets of the same trainer
(``polab.algos.group.presets``: ``PRESETS["DAPO"].apply(GRPOConfig())``).

One ``step()``, top to bottom:

1. GROUPS — ``build_groups``: ``num_prompts`` problems (fresh from the task, or drawn from a
   fixed pool of ``num_train_prompts``), each repeated ``G = num_generations`` times;
2. ROLLOUT — ``rollout``: one batched, KV-cached sampling pass at ``temperature`` (each
   prompt encoded once for its G completions), keeping every token's log-prob (the "old"
   policy of the ratio) and the entropy it was drawn from;
3. REWARDS — ``compute_rewards``: the task's verifiable reward (1 = right answer + EOS),
   plus DAPO's soft overlong penalty (eq. 13) when ``overlong_penalty_factor > 0``; with
   ``dynamic_sampling`` steps 1-3 repeat (``collect``) until the batch holds only groups whose
   rewards differ (DAPO §3.2; ``polab.algos.group.dapo``);
4. ADVANTAGES — ``compute_advantages``: ``(r - mean_group) / (std_group + 1e-4)`` or the
   preset's variant (``scale_rewards``, ``baseline``);
5. LOSS + UPDATE — over the rows ``select_rows`` keeps and the tokens ``token_mask`` keeps:
   ``update_epochs`` passes × ``num_minibatches`` Adam steps on the clipped surrogate
   (``polab.algos.group.losses.clipped_surrogate_loss``) plus ``extra_loss``; log-probs come from
   ``score`` (one forward over prompt + completion, or Prefix Grouper's shared-prefix one);
6. ``after_update`` — state that must see the updated policy (SPO's tracker).

The six names in ``code`` are the **hooks**: plain methods, so a later chapter subclasses
``GRPO`` (or assigns a function to the instance) and changes one of them — budgets or hints in
``build_groups``, shaped rewards in ``compute_rewards``, per-token advantages in
``compute_advantages``, token selections in ``token_mask``, new loss terms in ``extra_loss``;
``surrogate_inputs`` may replace the surrogate's advantages and clip ranges by per-token ones
(HAPO, chapter 04).
``polab.algos.group.loop`` and ``polab.algos.group.spo`` are built that way.

What this version keeps and changes:

1. The ratio's "old" log-probs are the sampler's own (``Samples.logprobs``, same temperature);
   they equal the training forward's to ~1e-6 (``logprob_mismatch`` logs the gap, LOOP's
   step-0 check), so with ``update_epochs = 1`` the ratio is 1 and the loss is REINFORCE
   with group baselines, as in TRL.
2. Generation stops at the task's own limit (enough for any correct answer and EOS) when that
   is shorter than ``max_completion_length``; Dr. GRPO's constant normaliser uses the same
   number. DAPO's overlong buffer is generated beyond it (the paper's 16384 + 4096), so no
   correct answer is punished.
3. Defaults are a tiny-LM recipe for a 2-core CPU (64 prompts × 8, lr 3e-4, Adam betas
   (0.9, 0.99), grad clip 1, no KL; ``benchmarks/grpo.py`` measures it), not TRL's (lr 1e-6
   for billion-parameter models).
4. Held-out greedy pass@1 (``eval/pass@1``) is measured after the first update, every
   ``eval_every`` updates and after the last one (``num_iterations``), on the policy after that
   iteration's update (so it belongs at the record's ``global_step``); its time is kept out
   of ``time/train_s``.
5. The preamble (config validation, device, seeding, generators) and the checkpoint
   (``state_parts``) come from :class:`polab.core.algorithm.Algorithm`; ``global_step``, every
   history's x-axis, counts completions sampled (with dynamic sampling, the dropped ones too).

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from polab.algos.group.batch import GroupBatch, batch_metrics, minibatch_units
from polab.algos.group.dapo import dynamic_sampling, overlong_penalty, scaled_overlong_buffer
from polab.algos.group.losses import GroupConfig, clipped_surrogate_loss, mask_truncated
from polab.algos.group.prefix_grouper import grouped_completion_logprobs
from polab.config import param
from polab.core.advantages import group_advantages
from polab.core.algorithm import Algorithm
from polab.core.optim import fast_adam
from polab.lm.evaluate import evaluate
from polab.lm.generate import Samples, completion_logprobs, generate, in_groups
from polab.lm.model import GPT
from polab.lm.pretrain import load_base
from polab.lm.tasks import Problems, Task


@dataclass(frozen=True)
class GRPOConfig(GroupConfig):
    """GRPO's knobs: :class:`GroupConfig` (TRL's names) plus the optimiser and the schedule."""

    update_epochs: int = param(2, help="passes over each generated batch (μ in GRPO's "
                               "Algorithm 1)", low=1, high=16,
                               paper="Shao et al. 2024 (DeepSeekMath) Alg. 1")
    num_minibatches: int = param(1, help="Adam steps per pass over the batch (shuffled rows, "
                                 "or groups with prefix_grouper; TRL's steps_per_generation)",
                                 low=1, high=64)
    adam_beta1: float = param(0.9, help="Adam β1", low=0.0, high=0.999)
    adam_beta2: float = param(0.99, help="Adam β2", low=0.9, high=0.9999)
    weight_decay: float = param(0.0, help="AdamW weight decay", low=0.0, high=1.0)
    max_grad_norm: float = param(1.0, help="gradient-norm clip (0 = off)", low=0.0, high=100.0)
    entropy_coef: float = param(0.0, help="weight of an entropy bonus (0 = none)",
                                low=0.0, high=0.1)
    num_train_prompts: int = param(0, help="size of a fixed pool of training problems "
                                   "(0 = fresh problems every iteration)", low=0,
                                   high=1_000_000)
    prefix_grouper: bool = param(True, help="score each group with one shared-prompt "
                                 "forward (same numbers, less compute)",
                                 paper="Liu et al. 2025 (Prefix Grouper)")
    eval_every: int = param(10, help="updates between held-out greedy pass@1 checks "
                            "(also after the first and the last; 0 = never)", low=0,
                            high=100_000)
    num_iterations: int = param(120, help="iterations (generation batches) in a run",
                                low=1, high=100_000)

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (self.num_train_prompts == 0 or self.num_train_prompts >= self.num_prompts,
             f"num_train_prompts must be 0 or at least the {self.num_prompts} prompts drawn "
             "per iteration"),
        ]


class GRPO(Algorithm):
    """GRPO and its presets on a tiny-LM task; see the module docstring for one ``step()``.

    ``task`` is a shipped base's name (``"addition"``: its model, tokenizer and task are
    loaded) or a :class:`Task`, then with the ``model`` to train (trained in place).
    """

    state_parts = ("model", "optimizer", "generator", "sample_generator", "ref_model",
                   "train_seconds", "train_cpu_seconds")
    x_label = "completions sampled"
    config: GRPOConfig

    def __init__(self, config: GRPOConfig, task: Task | str = "addition",
                 device: str | torch.device | None = None, model: GPT | None = None):
        self.setup(config, device)
        c = self.config
        if isinstance(task, str):
            model, _, task = load_base(task, self.device)
        elif model is None:
            raise ValueError("pass the model to train with a Task (or a base name, e.g. "
                             "'addition', to load the shipped checkpoint)")
        self.task, self.tokenizer = task, task.tokenizer
        self.model = model.to(self.device)
        # DAPO's overlong buffer is generated beyond the task's own limit (verl: "16384 + 4096"),
        # so a correct answer is never punished; L_max = the generation limit
        limit, self.overlong_buffer = task.max_new_tokens, 0
        if c.overlong_penalty_factor > 0:
            self.overlong_buffer = c.overlong_buffer_len or scaled_overlong_buffer(limit)
            limit += self.overlong_buffer
        self.max_new_tokens = min(c.max_completion_length, limit)
        self.overlong_buffer = min(self.overlong_buffer, self.max_new_tokens)
        # tokens are drawn on the device by setup's generator; problems and shuffles on the CPU
        self.sample_generator = self.generator
        self.generator = torch.Generator().manual_seed(c.seed)
        self.pool = (task.sample_prompts(c.num_train_prompts, self.generator)
                     if c.num_train_prompts else None)
        self.ref_model = None
        if c.beta > 0:
            self.ref_model = GPT(self.model.config).to(self.device).eval()
            self.ref_model.load_state_dict(self.model.state_dict())
            self.ref_model.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=c.learning_rate,
                                           betas=(c.adam_beta1, c.adam_beta2),
                                           weight_decay=c.weight_decay,
                                           **fast_adam(self.device))
        self.train_seconds = self.train_cpu_seconds = 0.0
        self.last_batch: GroupBatch | None = None

    # --- hooks ---------------------------------------------------------------------------

    def build_groups(self) -> tuple[Problems, torch.Tensor | None]:
        """``num_prompts`` problems, each repeated G times, and their pool indices."""
        c = self.config
        if self.pool is None:
            return self.task.sample_prompts(c.num_prompts, self.generator).repeat(
                c.num_generations), None
        ids = torch.randperm(len(self.pool), generator=self.generator)[:c.num_prompts]
        ids = ids.repeat_interleave(c.num_generations)
        return self.pool.select(ids), ids

    def rollout(self, problems: Problems) -> Samples:
        """Sample one completion per row at ``temperature`` (the policy in eval mode); when
        the rows are groups of G copies of one prompt, each prompt is encoded once
        (``num_return_sequences``: same tokens, less compute)."""
        ids, mask = self.task.encode_prompts(problems, self.device)
        G = self.config.num_generations
        n = G if G > 1 and in_groups(ids, G) and in_groups(mask, G) else 1
        self.model.eval()
        out = generate(self.model, ids[::n], mask[::n], max_new_tokens=self.max_new_tokens,
                       eos_id=self.tokenizer.eos_id, pad_id=self.tokenizer.pad_id,
                       temperature=self.config.temperature, generator=self.sample_generator,
                       num_return_sequences=n)
        self.model.train()
        return out

    def compute_rewards(self, problems: Problems, samples: Samples) -> torch.Tensor:
        """``(B,)`` rewards; the task's verifiable reward (reward shaping overrides this)."""
        return self.task.reward(problems, samples.completion_ids)

    def compute_advantages(self, batch: GroupBatch) -> torch.Tensor:
        """``(B,)`` group-relative advantages (``polab.core.advantages.group_advantages``)."""
        c = self.config
        return group_advantages(batch.rewards, c.num_generations, scale_rewards=c.scale_rewards,
                                leave_one_out=c.baseline == "leave_one_out")

    def select_rows(self, batch: GroupBatch) -> torch.Tensor:
        """``(B,)`` rows that enter the loss (all; LOOP drops |A| ≈ 0)."""
        return torch.ones_like(batch.rewards, dtype=torch.bool)

    def token_mask(self, batch: GroupBatch) -> torch.Tensor:
        """``(B, T)`` tokens in the loss: the policy's own tokens up to EOS, minus truncated
        completions when ``mask_truncated_completions``. Later chapters AND more masks in."""
        mask = batch.samples.loss_mask
        if self.config.mask_truncated_completions:
            mask = mask_truncated(mask, ~batch.samples.ended)
        return mask

    def score(self, samples: Samples) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log-probs, entropies)`` ``(B, T)`` of the completions, with gradients."""
        if self.config.prefix_grouper:
            return grouped_completion_logprobs(self.model, samples, self.config.num_generations,
                                               self.config.temperature)
        return completion_logprobs(self.model, samples, self.config.temperature)

    def extra_loss(self, batch: GroupBatch, logp: torch.Tensor, entropy: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
        """Named loss terms added to the surrogate (none here)."""
        return {}

    def after_update(self, batch: GroupBatch) -> dict[str, float]:
        """Bookkeeping that needs the updated policy; returns extra metrics (none here)."""
        return {}

    # --- one iteration -------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        c = self.config
        metrics: dict[str, Any] = {}
        wall, cpu = time.perf_counter(), time.process_time()

        # --- GROUPS + ROLLOUT + REWARDS (DAPO: rounds until every group is informative) ---
        batch, sampled, sampling = self.collect()
        t_generate = time.perf_counter() - wall
        metrics.update(sampling)

        # --- ADVANTAGES ---
        batch.advantages = self.compute_advantages(batch)
        batch.keep = self.select_rows(batch)
        if sampling.get("dynamic_sampling/batch_filled") == 0.0:  # nothing kept: no update
            batch.keep = torch.zeros_like(batch.keep)
        batch.mask = self.token_mask(batch)
        if self.ref_model is not None:
            with torch.no_grad():
                batch.ref_logp = completion_logprobs(self.ref_model, batch.samples,
                                                     c.temperature)[0]

        # --- LOSS + UPDATE ---
        losses = self.update(batch)
        metrics.update(self.after_update(batch))

        # --- LOGGING (plumbing) ---
        self.global_step += sampled
        self.iteration += 1
        self.train_seconds += time.perf_counter() - wall
        self.train_cpu_seconds += time.process_time() - cpu
        self.last_batch = batch
        if c.eval_every and (self.iteration == 1 or self.iteration % c.eval_every == 0
                             or self.iteration == c.num_iterations):
            metrics.update(self.evaluate())
        metrics.update(self.batch_metrics(batch), **losses)
        metrics.update({"time/train_s": self.train_seconds,
                        "time/train_cpu_s": self.train_cpu_seconds, "time/generate_s": t_generate})
        return metrics

    def draw(self) -> tuple[GroupBatch, torch.Tensor]:
        """One generation round: ``build_groups``, ``rollout``, ``compute_rewards``, plus
        DAPO's overlong penalty (eq. 13) when ``overlong_penalty_factor > 0``; returns the
        batch and the task rewards (before the penalty: what dynamic sampling filters on)."""
        problems, pool_ids = self.build_groups()
        samples = self.rollout(problems)
        task_rewards = self.compute_rewards(problems, samples)
        batch = GroupBatch(problems, samples, task_rewards, pool_ids)
        if self.overlong_buffer:
            batch.overlong_penalty = overlong_penalty(
                samples.lengths, self.max_new_tokens, self.overlong_buffer,
                self.config.overlong_penalty_factor).to(task_rewards)
            batch.rewards = task_rewards + batch.overlong_penalty
        return batch, task_rewards

    def collect(self) -> tuple[GroupBatch, int, dict[str, float]]:
        """The iteration's batch, the completions sampled for it, and dynamic sampling's
        metrics: one ``draw``, or with ``dynamic_sampling`` (DAPO §3.2) rounds until
        ``num_prompts`` informative groups are kept (filtered on the task reward, verl's
        ``metric: acc``) or ``max_generation_rounds`` are spent — then it trains on the groups
        kept (none: no update) and warns."""
        c = self.config
        if not c.dynamic_sampling:
            batch = self.draw()[0]
            return batch, len(batch.rewards), {}
        rounds: list[GroupBatch] = []

        def draw() -> tuple[GroupBatch, torch.Tensor]:
            batch, task_rewards = self.draw()
            rounds.append(batch)
            return batch, task_rewards

        parts, stats = dynamic_sampling(draw, c.num_prompts, c.num_generations,
                                        c.max_generation_rounds)
        batch = (GroupBatch.concat([b.select(rows) for b, rows in parts], self.tokenizer.pad_id)
                 if parts else rounds[-1])
        if not stats["full"]:
            then = "training on those" if parts else "no update"
            warnings.warn(f"dynamic sampling kept {stats['groups_kept']} of {c.num_prompts} "
                          f"groups after {stats['rounds']} generation rounds "
                          f"(max_generation_rounds): {then}", RuntimeWarning, stacklevel=2)
        return batch, stats["groups_sampled"] * c.num_generations, {
            "dynamic_sampling/rounds": stats["rounds"],
            "dynamic_sampling/frac_groups_dropped": stats["groups_dropped"]
            / stats["groups_sampled"],
            "dynamic_sampling/batch_filled": stats["groups_kept"] / c.num_prompts}

    def update(self, batch: GroupBatch) -> dict[str, float]:
        """``update_epochs`` passes over the kept rows, each in ``num_minibatches`` shuffled
        Adam steps (whole groups with ``prefix_grouper``); returns the loss metrics averaged
        over the steps, and the sampler-vs-trainer log-prob gap before the first step.
        ``loss_type="dapo"`` divides every minibatch by the loss tokens of all kept rows
        (TRL's ``num_items_in_batch``), so the minibatch losses add up to one token mean."""
        c = self.config
        rows = batch.keep.nonzero().squeeze(1)
        units = minibatch_units(rows, c.num_generations if c.prefix_grouper else 1)
        if c.loss_type == "dapo":
            batch.loss_normalizer = batch.mask[rows.to(batch.mask.device)].sum().clamp(min=1)
        records: list[dict[str, torch.Tensor]] = []
        for _ in range(c.update_epochs if len(units) else 0):
            if c.num_minibatches > 1:
                units = units[torch.randperm(len(units), generator=self.generator).to(
                    units.device)]
            for chunk in units.tensor_split(min(c.num_minibatches, len(units))):
                index = chunk.flatten()
                part = batch if index.numel() == len(batch.rewards) else batch.select(index)
                terms = self.loss(part)
                self.optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                terms["grad_norm"] = torch.nn.utils.clip_grad_norm_(
                    self.model.parameters(), c.max_grad_norm or float("inf"))
                self.optimizer.step()
                records.append({k: v.detach() for k, v in terms.items()})
        if not records:
            return {}
        out = {k: float(torch.stack([r[k] for r in records]).mean()) for k in records[0]}
        out["logprob_mismatch"] = float(records[0]["logprob_mismatch"])
        return out

    def loss(self, batch: GroupBatch) -> dict[str, torch.Tensor]:
        """The clipped surrogate (+ KL, entropy bonus, ``extra_loss``) on ``batch``."""
        c = self.config
        logp, entropy = self.score(batch.samples)
        old = self.old_logprobs(batch, logp)
        terms = clipped_surrogate_loss(
            logp, old, mask=batch.mask, **self.surrogate_inputs(batch, logp.detach(), old,
                                                                 entropy.detach()),
            importance_sampling_level=c.importance_sampling_level,
            loss_type=c.loss_type, max_completion_length=self.max_new_tokens,
            normalizer=batch.loss_normalizer, beta=c.beta,
            ref_logp=batch.ref_logp, entropy=entropy if c.entropy_coef > 0 else None,
            entropy_coef=c.entropy_coef)
        for name, term in self.extra_loss(batch, logp, entropy).items():
            terms[name] = term
            terms["loss"] = terms["loss"] + term
        with torch.no_grad():
            m, active = batch.mask, batch.mask.sum().clamp(min=1)
            to_sampler = logp.detach() - batch.samples.logprobs
            terms["logprob_mismatch"] = torch.where(m, to_sampler.abs(), 0.0).sum() / active
            if old is not batch.samples.logprobs:  # approx_kl stays the k3 KL to the sampler
                k3 = torch.expm1(to_sampler) - to_sampler
                terms["approx_kl"] = torch.where(m, k3, 0.0).sum() / active
        return terms

    def surrogate_inputs(self, batch: GroupBatch, logp: torch.Tensor, old: torch.Tensor,
                         entropy: torch.Tensor) -> dict[str, Any]:
        """The advantages and clip ranges of the surrogate: ``batch.advantages`` and the
        config's ``epsilon`` / ``epsilon_high``. A variant may return per-token ones computed
        from the current (detached) ``logp``, ``old`` and ``entropy``, and ``dual_clip``."""
        return {"advantages": batch.advantages, "epsilon": self.config.epsilon,
                "epsilon_high": self.config.epsilon_high}

    def old_logprobs(self, batch: GroupBatch, logp: torch.Tensor) -> torch.Tensor:
        """``log π_old`` of the ratio ``w = π_θ / π_old``: the sampler's log-probs (GRPO's
        Algorithm 1). ``logp`` is the current policy's, for a variant that divides by it."""
        return batch.samples.logprobs

    def batch_metrics(self, batch: GroupBatch) -> dict[str, Any]:
        """TRL's batch metrics (``polab.algos.group.batch.batch_metrics``)."""
        return batch_metrics(batch, self.config.num_generations)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Greedy pass@1 on the task's held-out problems (never used for training)."""
        start = time.perf_counter()
        result = evaluate(self.model, self.task)
        return {"eval/pass@1": result["pass@1"], "time/eval_s": time.perf_counter() - start}
