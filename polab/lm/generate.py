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
``softmax(logits)``. With a ``temperature_fn`` (HAPO's adaptive temperature, chapter 04) each
token is drawn at its own temperature ``T_t``, while ``logprobs`` and ``entropies`` stay those
of ``softmax(logits / T)`` at the base ``temperature`` (what the trainer recomputes);
``Samples.temperatures`` and ``Samples.sample_logprobs`` keep ``T_t`` and the log-probs of the
distribution the token was actually drawn from. Taught in notebooks/03_grpo_family.ipynb.
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

TemperatureFn = Callable[[torch.Tensor], torch.Tensor]
"""``temperature_fn(logits) -> temperatures``: ``(B, V)`` next-token logits to ``(B,)`` positive
sampling temperatures, called once per generation step (HAPO's adaptive temperature)."""


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
    temperatures: torch.Tensor | None = None     # (B, N) T_t per token with a temperature_fn
    sample_logprobs: torch.Tensor | None = None  # (B, N) log-prob at T_t (temperature_fn only)

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
    scaled = logits if temperature in (0, 1) else logits / temperature
    logp_all = torch.log_softmax(scaled.float(), -1)
    return logp_all, -(logp_all.exp() * logp_all).sum(-1)


def sample_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(token, log-prob, entropy)`` for each row of ``(B, V)`` logits; greedy if T = 0.

    Sampling is the Gumbel-max trick, ``argmax(log p - log(-log u))``, one op per step.
    """
    logp_all, entropy = log_softmax_entropy(logits, temperature)
    token = logp_all.argmax(-1) if temperature == 0 else _gumbel_max(logp_all, generator)
    return token, logp_all.gather(-1, token[:, None]).squeeze(-1), entropy


def _gumbel_max(logp_all: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw per row from ``softmax(logp_all)``: ``argmax(log p - log(-log u))``."""
    u = torch.rand(logp_all.shape, generator=generator, device=logp_all.device)
    return (logp_all - torch.log(-torch.log(u.clamp_min(1e-20)))).argmax(-1)


def sample_token_tempered(logits: torch.Tensor, temperatures: torch.Tensor, temperature: float,
                          generator: torch.Generator | None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(token, log-prob, entropy, sampling log-prob)`` per row: the token is drawn from
    ``softmax(logits / temperatures[:, None])`` (per-row temperatures), the log-prob and the
    entropy are those of ``softmax(logits / temperature)`` at the base temperature. With every
    per-row temperature equal to ``temperature`` it draws what :func:`sample_token` draws."""
    logp_sample = torch.log_softmax(logits.float() / temperatures[:, None], -1)
    token = _gumbel_max(logp_sample, generator)
    logp_all, entropy = log_softmax_entropy(logits, temperature)
    pick = token[:, None]
    return (token, logp_all.gather(-1, pick).squeeze(-1), entropy,
            logp_sample.gather(-1, pick).squeeze(-1))


@torch.no_grad()
def generate(model: GPT, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor | None = None, *,
             max_new_tokens: int, eos_id: int, pad_id: int, temperature: float = 1.0,
             generator: torch.Generator | None = None, kv_cache: bool = True,
             force: ForceFn | None = None, temperature_fn: TemperatureFn | None = None,
             num_return_sequences: int = 1) -> Samples:
    """Sample completions for a batch of left-padded prompts; see the module docstring.

    ``prompt_mask`` (True on real tokens) may be omitted when no prompt is padded. The
    generator must live on the model's device. ``temperature_fn`` sets each step's per-row
    sampling temperatures (``Samples.temperatures``); it needs ``temperature > 0``.
    ``num_return_sequences = n`` (Hugging Face's name) samples n completions of every prompt,
    adjacent: the result has ``B·n`` rows, as if each prompt had been repeated n times (GRPO's
    groups), and draws the same tokens; with the KV cache each prompt is encoded once and its
    keys/values are copied n times.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be at least 1")
    if temperature_fn is not None and temperature <= 0:
        raise ValueError(f"temperature_fn needs a base temperature > 0, got {temperature}")
    if num_return_sequences < 1:
        raise ValueError(f"num_return_sequences={num_return_sequences} must be at least 1")
    dev = prompt_ids.device
    if prompt_mask is None:
        prompt_mask = torch.ones_like(prompt_ids, dtype=torch.bool)
    padded = not bool(prompt_mask.all())
    unique_ids, unique_mask, n = prompt_ids, prompt_mask, num_return_sequences
    if n > 1:
        prompt_ids, prompt_mask = (x.repeat_interleave(n, 0) for x in (prompt_ids, prompt_mask))
    B, P = prompt_ids.shape
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
    temps = sample_logps = None
    if temperature_fn is not None:
        temps, sample_logps = (torch.zeros((B, max_new_tokens), device=dev) for _ in range(2))

    cache = None
    if kv_cache:  # the prompts once, then their keys/values copied n times
        cache = model.new_cache(len(unique_ids), P if n > 1 else P + max_new_tokens)
        logits = model(unique_ids, unique_mask if padded else None, cache)[:, -1]
        if n > 1:
            cache = cache.repeat_interleave(n, P + max_new_tokens)
            logits = logits.repeat_interleave(n, 0)
    else:
        logits = model(prompt_ids, prompt_mask if padded else None)[:, -1]
    steps = 0
    for t in range(max_new_tokens):  # the one loop: over generation steps
        if temperature_fn is None:
            token, logp, entropy = sample_token(logits, temperature, generator)
        else:
            t_row = temperature_fn(logits)
            token, logp, entropy, logp_t = sample_token_tempered(logits, t_row, temperature,
                                                                 generator)
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
        if temps is not None:
            temps[:, t] = torch.where(chosen, t_row, 0.0)
            sample_logps[:, t] = torch.where(chosen, logp_t, 0.0)
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
                   tool_mask[:, n], logprobs[:, n], entropies[:, n], ~alive,
                   None if temps is None else temps[:, n],
                   None if sample_logps is None else sample_logps[:, n])


def in_groups(rows: torch.Tensor, size: int) -> bool:
    """Whether the rows of ``rows`` come in runs of ``size`` identical rows (GRPO's groups:
    one prompt repeated for its ``size`` completions)."""
    if size < 1 or len(rows) % size:
        return False
    groups = rows.view(-1, size, *rows.shape[1:])
    return torch.equal(groups, groups[:, :1].expand_as(groups))


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
