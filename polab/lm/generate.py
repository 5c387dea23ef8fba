"""Batched sampling with a KV cache, and the scoring forward used by the RL update.

:func:`generate` samples up to ``max_new_tokens`` for a batch of (left-padded) prompts in one
Python loop over generation steps. Each step samples every row at once (Gumbel-max with a
seeded ``torch.Generator``; greedy when ``temperature == 0``), forces ``<pad>`` after a
row's first ``<eos>``, and records the token's log-probability and the entropy of the
distribution it was drawn from. With ``kv_cache=False`` each step re-runs the full forward
over the whole sequence instead (the naive sampler: same numbers, quadratic cost; kept for
the equivalence test and ``benchmarks/lm.py``).

:func:`completion_logprobs` recomputes the same per-token log-probs with gradients in one
forward over ``prompt + completion`` (what GRPO's ratio needs).

Log-probs and entropies are those of the *sampling* distribution ``softmax(logits / T)``
(TRL divides the logits by the temperature in the same way); with ``T = 0`` they are those of
``softmax(logits)``. Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from polab.lm.model import GPT

ForceFn = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``force(step, completion_so_far, sampled) -> (tokens, forced)``: a hook that may replace the
sampled tokens (e.g. a tool's output inserted by the environment). ``forced`` marks the rows
whose token was replaced; they go into ``tool_mask`` and carry no log-prob."""


@dataclass
class Samples:
    """A batch of prompts and their sampled completions (TRL's names).

    Columns: ``prompt_ids`` ``(B, P)`` left-padded, then ``completion_ids`` ``(B, N)`` with
    ``<pad>`` after the first ``<eos>``; ``N <= max_new_tokens`` (sampling stops early once
    every row has ended).
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor       # (B, P) True on real prompt tokens (False = left padding)
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor   # (B, N) True on generated tokens up to and including <eos>
    tool_mask: torch.Tensor         # (B, N) True on tokens inserted by a tool (not the policy's)
    logprobs: torch.Tensor          # (B, N) log π(token) at sampling time; 0 off loss_mask
    entropies: torch.Tensor         # (B, N) entropy of the sampling distribution; 0 off loss_mask
    ended: torch.Tensor             # (B,) True where <eos> was emitted (False: truncated)

    @property
    def loss_mask(self) -> torch.Tensor:
        """The tokens the policy chose: ``completion_mask & ~tool_mask``."""
        return self.completion_mask & ~self.tool_mask

    @property
    def lengths(self) -> torch.Tensor:
        """``(B,)`` completion lengths in tokens (``<eos>`` included)."""
        return self.completion_mask.sum(1)

    @property
    def ids(self) -> torch.Tensor:
        return torch.cat([self.prompt_ids, self.completion_ids], 1)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.prompt_mask, self.completion_mask], 1)


def log_softmax_entropy(logits: torch.Tensor, temperature: float
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """``log softmax(logits / T)`` over the last axis and its entropy (T = 0 counts as 1)."""
    scaled = logits if temperature == 0 else logits / temperature
    logp_all = torch.log_softmax(scaled.float(), -1)
    return logp_all, -(logp_all.exp() * logp_all).sum(-1)


def sample_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(token, log-prob, entropy)`` for each row of ``(B, V)`` logits; greedy if T = 0.

    Sampling is the Gumbel-max trick, ``argmax(log p - log(-log u))``, one op per step.
    """
    logp_all, entropy = log_softmax_entropy(logits, temperature)
    if temperature == 0:
        token = logp_all.argmax(-1)
    else:
        u = torch.rand(logp_all.shape, generator=generator, device=logp_all.device)
        token = (logp_all - torch.log(-torch.log(u.clamp_min(1e-20)))).argmax(-1)
    return token, logp_all.gather(-1, token[:, None]).squeeze(-1), entropy


@torch.no_grad()
def generate(model: GPT, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor | None = None, *,
             max_new_tokens: int, eos_id: int, pad_id: int, temperature: float = 1.0,
             generator: torch.Generator | None = None, kv_cache: bool = True,
             force: ForceFn | None = None) -> Samples:
    """Sample completions for a batch of left-padded prompts; see the module docstring.

    ``prompt_mask`` (True on real tokens) may be omitted when no prompt is padded. The
    generator must live on the model's device.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be at least 1")
    B, P = prompt_ids.shape
    dev = prompt_ids.device
    if prompt_mask is None:
        prompt_mask = torch.ones_like(prompt_ids, dtype=torch.bool)
    padded = not bool(prompt_mask.all())
    ids = torch.full((B, P + max_new_tokens), pad_id, dtype=torch.long, device=dev)
    ids[:, :P] = prompt_ids
    # generated columns count as real tokens for positions/attention; after a row's <eos> its
    # outputs are never used, so attending to its forced <pad>s there is harmless.
    mask = torch.ones((B, P + max_new_tokens), dtype=torch.bool, device=dev)
    mask[:, :P] = prompt_mask
    alive = torch.ones(B, dtype=torch.bool, device=dev)
    completion_mask, tool_mask = (torch.zeros((B, max_new_tokens), dtype=torch.bool, device=dev)
                                  for _ in range(2))
    logprobs, entropies = (torch.zeros((B, max_new_tokens), device=dev) for _ in range(2))

    cache = model.new_cache(B, P + max_new_tokens) if kv_cache else None
    logits = model(prompt_ids, prompt_mask if padded else None, cache)[:, -1]
    steps = 0
    for t in range(max_new_tokens):  # the one loop: over generation steps
        token, logp, entropy = sample_token(logits, temperature, generator)
        forced = torch.zeros_like(alive)
        if force is not None:
            token, forced = force(t, ids[:, P:P + t], token)
        token = torch.where(alive, token, pad_id)
        ids[:, P + t] = token
        completion_mask[:, t] = alive
        tool_mask[:, t] = forced & alive
        chosen = alive & ~forced
        logprobs[:, t] = torch.where(chosen, logp, 0.0)
        entropies[:, t] = torch.where(chosen, entropy, 0.0)
        alive = alive & (token != eos_id)
        steps = t + 1
        if steps == max_new_tokens or not bool(alive.any()):
            break
        seen = P + steps
        step_mask = mask[:, :seen] if padded else None
        if kv_cache:
            logits = model(token[:, None], step_mask, cache)[:, -1]
        else:
            logits = model(ids[:, :seen], step_mask)[:, -1]
    n = slice(0, steps)
    return Samples(prompt_ids, prompt_mask, ids[:, P:P + steps], completion_mask[:, n],
                   tool_mask[:, n], logprobs[:, n], entropies[:, n], ~alive)


def completion_logprobs(model: GPT, samples: Samples, temperature: float = 1.0
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token ``(log-probs, entropies)`` of the completions, ``(B, N)``, with gradients.

    One forward over ``prompt + completion``: the logits at column ``P - 1 + t`` predict
    completion token ``t``. Equal to the sampling-time ``logprobs`` on ``loss_mask`` (same
    temperature) up to float rounding. Values off ``loss_mask`` are meaningless: mask them.
    """
    P = samples.prompt_ids.shape[1]
    padded = not bool(samples.prompt_mask.all())
    logits = model(samples.ids, samples.attention_mask if padded else None)[:, P - 1:-1]
    logp_all, entropy = log_softmax_entropy(logits, temperature)
    return logp_all.gather(-1, samples.completion_ids[..., None]).squeeze(-1), entropy
