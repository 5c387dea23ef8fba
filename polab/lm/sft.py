"""Supervised fine-tuning (SFT) of the tiny GPT on a task's reference answers.

Each step draws a fresh batch of problems, builds ``<bos> prompt answer <eos>`` sequences
(right-padded: causal attention keeps padding invisible to real tokens) and minimises the
cross-entropy of the *completion* tokens only — the answer and its ``<eos>``, so the model
learns to stop (without the ``<eos>`` target it never ends an answer). AdamW with gradient clipping.

``SFT`` follows polab's algorithm protocol (``step()``, ``global_step``, ``state_dict()``),
so ``polab.train.train`` drives it with a progress bar. Taught in
notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from polab.config import Config, param
from polab.device import pick_device
from polab.lm.model import GPT, GPTConfig
from polab.lm.tasks import Problems, Task
from polab.lm.tokenizer import CharTokenizer


@dataclass(frozen=True)
class SFTConfig(Config):
    """Hyperparameters of :class:`SFT` (defaults: the recipe in :mod:`polab.lm.pretrain`)."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    batch_size: int = param(256, help="sequences per gradient step", low=1, high=65536)
    learning_rate: float = param(3e-3, help="AdamW learning rate", low=1e-5, high=1e-1, log=True)
    adam_beta1: float = param(0.9, help="AdamW β1", low=0.0, high=0.999)
    adam_beta2: float = param(0.98, help="AdamW β2", low=0.9, high=0.9999)
    weight_decay: float = param(0.0, help="AdamW weight decay", low=0.0, high=1.0)
    max_grad_norm: float = param(1.0, help="gradient-norm clip (0 = off)", low=0.0, high=100.0)


def sft_batch(tokenizer: CharTokenizer, problems: Problems, device: torch.device | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, completion_mask)``, both ``(B, L)``: ``<bos> prompt answer <eos>`` right-padded,
    and True on the answer and ``<eos>`` tokens (the ones the loss is taken on)."""
    texts = [p + a for p, a in zip(problems.prompts, problems.answers, strict=True)]
    ids, mask = tokenizer.encode_batch(texts, add_bos=True, add_eos=True, padding_side="right")
    prompt_len = tokenizer.encode_batch(problems.prompts, add_bos=True)[1].sum(1)
    completion = mask & (torch.arange(ids.shape[1]) >= prompt_len[:, None])
    return ids.to(device), completion.to(device)


def sft_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
             ) -> dict[str, torch.Tensor]:
    """Next-token cross-entropy averaged over the masked target tokens.

    ``logits`` ``(B, T, V)`` predict ``targets`` ``(B, T)``; returns ``loss`` and
    ``token_accuracy`` (greedy prediction correct), both over ``mask`` only.
    """
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    m = mask.flatten().float()
    n = m.sum().clamp_min(1.0)
    correct = (logits.argmax(-1).flatten() == targets.flatten()).float()
    return {"loss": (ce * m).sum() / n, "token_accuracy": (correct * m).sum() / n}


class SFT:
    """One ``step()`` = one AdamW step on a fresh batch of ``sample(batch_size, generator)``.

    ``sample`` defaults to ``task.sample_prompts`` (pass a :func:`polab.lm.tasks.mixture` for
    a curriculum); ``model`` defaults to a fresh :class:`GPT` sized by :class:`GPTConfig`.
    """

    def __init__(self, config: SFTConfig, task: Task, device: str | torch.device | None = None,
                 model: GPT | None = None,
                 sample: Callable[[int, torch.Generator], Problems] | None = None):
        self.config = config.validate()
        self.task, self.tokenizer = task, task.tokenizer
        self.device = pick_device(device)
        self.sample = sample or task.sample_prompts
        self.generator = torch.Generator().manual_seed(config.seed)  # data: always on the CPU
        if model is None:
            torch.manual_seed(config.seed)
            model = GPT(GPTConfig(vocab_size=self.tokenizer.vocab_size))
        self.model = model.to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2), weight_decay=config.weight_decay)
        self.global_step = 0

    def step(self) -> dict[str, float]:
        cfg = self.config
        ids, completion = sft_batch(self.tokenizer, self.sample(cfg.batch_size, self.generator),
                                    self.device)
        out = sft_loss(self.model(ids[:, :-1]), ids[:, 1:], completion[:, 1:])
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.global_step += cfg.batch_size
        return {k: v.item() for k, v in out.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "global_step": self.global_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.global_step = state["global_step"]
