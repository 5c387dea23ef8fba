"""Prefix Grouper — score G completions of one prompt with the prompt encoded once
(../shared/cards/33_prefix_grouper.md).

Liu et al. 2025, *Prefix Grouper: Efficient GRPO Training through Shared-Prefix Forward*,
arXiv 2506.05433; code github.com/johncaged/PrefixGrouper (``forward.py``). GRPO's scoring
forward re-encodes the same prompt G times. Causal attention never lets a prompt token see a
completion token, so every layer can instead compute

* the prompt (prefix ``P``, length ``Lp``) once, with ordinary causal attention over itself;
* each completion ``S_i`` attending to ``[keys/values of P ; its own causal keys/values]``,
  with positions restarting at the prompt's length for every completion;

which is the same function as the repeated forward (up to floating-point reduction order):
same log-probs, and gradients that sum the G completions' contributions into the shared
prompt exactly as the G copies did. Token-wise layers (embeddings, LayerNorm, MLP, LM head)
see ``Lp + G·Ls`` tokens instead of ``G·(Lp + Ls)``; attention costs
``Lp² + G·Ls·(Lp + Ls)`` instead of ``G·(Lp + Ls)²`` (:func:`forward_cost`).

What this version keeps and changes:

1. It runs over the modules of :class:`polab.lm.model.GPT` (its ``qkv``/``proj`` weights,
   LayerNorms, MLPs and positions) without changing the model, in one of two layouts
   (:func:`prefix_grouped_logits` picks the faster): the authors' packing, one row
   ``[prompt ; completion 1 ; … ; completion G]`` per prompt through GPT's own blocks with a
   block mask (:func:`packed_layout`; it also scores, then masks, the pairs between
   different completions), or the prompts and the completions as two token sets, the
   residual block restated here and the completions' attention to the prompt written out
   (two score blocks, one softmax) so the prompt's keys are never copied G times and only
   ``forward_cost``'s pairs are scored. The authors call the model's attention twice
   through a patched attention function.
2. Only the last prompt position goes through the LM head (it predicts every completion's
   first token, the authors' ``include_prefix_last``); the last completion token is not fed
   (nothing is predicted from it).
3. Left-padded prompts are supported (the padding keys are hidden, positions count real
   tokens), as in ``GPT.forward``.

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from polab.lm.generate import Samples, in_groups, log_softmax_entropy
from polab.lm.model import GPT, CausalSelfAttention, attention_layout


def _heads(attn: CausalSelfAttention, x: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``q, k, v`` of ``x`` ``(..., L, C)`` as ``(..., n_head, L, head_dim)``."""
    C = x.shape[-1]
    return tuple(t.unflatten(-1, (attn.n_head, C // attn.n_head)).transpose(-3, -2)
                 for t in attn.qkv(x).split(C, dim=-1))


def shared_prefix_attention(attn: CausalSelfAttention, x_prefix: torch.Tensor,
                            x_suffix: torch.Tensor, prefix_mask: torch.Tensor,
                            prefix_layout: tuple[torch.Tensor | None, bool]
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """One attention layer over a prompt ``(P, Lp, C)`` and its G suffixes ``(P, G, Ls, C)``.

    Prompt queries: causal self-attention (``prefix_layout`` = the mask and ``is_causal`` of
    ``attention_layout``). Suffix queries: one softmax over ``[scores to the prompt's keys ;
    causal scores to the suffix's own keys]``, the prompt's padding hidden
    (``prefix_mask`` ``(P, Lp)``, True on real tokens).
    """
    P, Lp, C = x_prefix.shape
    G, Ls = x_suffix.shape[1:3]
    H, hd = attn.n_head, C // attn.n_head
    qp, kp, vp = _heads(attn, x_prefix)                                  # (P, H, Lp, hd)
    qs, ks, vs = (t.transpose(1, 2) for t in _heads(attn, x_suffix))     # (P, H, G, Ls, hd)
    mask, is_causal = prefix_layout
    yp = F.scaled_dot_product_attention(qp, kp, vp, attn_mask=mask, is_causal=is_causal)

    scale = hd ** -0.5
    to_prefix = (qs.reshape(P, H, G * Ls, hd) @ kp.transpose(-1, -2)).view(P, H, G, Ls, Lp)
    to_prefix = to_prefix.masked_fill(~prefix_mask[:, None, None, None, :], float("-inf"))
    causal = torch.ones(Ls, Ls, dtype=torch.bool, device=x_suffix.device).tril()
    to_self = (qs @ ks.transpose(-1, -2)).masked_fill(~causal, float("-inf"))
    probs = torch.softmax(torch.cat([to_prefix, to_self], -1) * scale, -1)
    ys = ((probs[..., :Lp].reshape(P, H, G * Ls, Lp) @ vp).view(P, H, G, Ls, hd)
          + probs[..., Lp:] @ vs)
    return (attn.proj(yp.transpose(1, 2).reshape(P, Lp, C)),
            attn.proj(ys.permute(0, 2, 3, 1, 4).reshape(P, G, Ls, C)))


def packed_layout(prefix_mask: torch.Tensor, group_size: int, suffix_len: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions ``(P, L)`` and the "may attend" mask ``(P, 1, L, L)`` of the packed rows
    ``[prompt ; suffix 1 ; … ; suffix G]``, ``L = Lp + G·Ls``, for left-padded prompts
    (``prefix_mask`` ``(P, Lp)``, True on real tokens).

    Prompt tokens: causal attention over the prompt, padding hidden, positions counting real
    tokens (as :func:`polab.lm.model.attention_layout`). Suffix tokens: every real prompt token
    and their own suffix's tokens up to themselves, positions restarting at the prompt's
    length for every suffix. Every token may see itself, so no row is empty.
    """
    P, Lp = prefix_mask.shape
    G, Ls, dev = group_size, suffix_len, prefix_mask.device
    idx = torch.arange(Lp + G * Ls, device=dev)
    group = torch.where(idx < Lp, -1, (idx - Lp) // max(Ls, 1))  # Ls = 0: prompts only
    q, k = idx[:, None], idx[None, :]
    same = (k <= q) & ((k < Lp) | (group[:, None] == group[None, :]))     # (L, L)
    real = torch.cat([prefix_mask, prefix_mask.new_ones(P, G * Ls)], 1)   # (P, L) keys
    mask = (same & real[:, None, :]) | (q == k)
    pos_p = (prefix_mask.long().cumsum(1) - 1).clamp_min(0)
    pos_s = prefix_mask.sum(1, keepdim=True) + torch.arange(Ls, device=dev)
    return torch.cat([pos_p, pos_s.repeat(1, G)], 1), mask.unsqueeze(1)


def prefix_grouped_logits(model: GPT, prefix_ids: torch.Tensor, prefix_mask: torch.Tensor,
                          suffix_ids: torch.Tensor, packed: bool | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(last-prompt logits (P, V), suffix logits (P, G, Ls, V))`` of ``GPT`` with each of
    the ``(P, Lp)`` left-padded prompts encoded once for its ``(P, G, Ls)`` suffixes.

    Two layouts compute the same function: ``packed`` — one row per prompt, ``[prompt ;
    suffix 1 ; … ; suffix G]``, through the model's own blocks with the mask of
    :func:`packed_layout` (the authors' packing; one attention call, but it also scores the
    ``(Lp + G·Ls)²`` pairs between different suffixes, then masks them) — or two token sets
    with :func:`shared_prefix_attention` (exactly ``forward_cost``'s pairs, in more and smaller
    kernels). ``packed=None`` picks packing when it scores at most 4x the pairs (forward +
    backward on one CPU thread, issue 19: packing 1.3x faster at the addition task's
    9 / 5 / G = 8 and the card's 256 / 16 / 8, 0.9x at 9 / 33 / 8 and 0.8x at 12 / 9 / 16).
    """
    P, Lp = prefix_ids.shape
    G, Ls = suffix_ids.shape[1:3]
    n_real = prefix_mask.sum(1)
    if int(n_real.max()) + Ls > model.config.block_size:
        raise ValueError(f"prompt + suffix of {int(n_real.max()) + Ls} tokens exceeds "
                         f"block_size={model.config.block_size}")
    if packed is None:
        packed = (Lp + G * Ls) ** 2 <= 4 * forward_cost(Lp, Ls, G)["attention_grouped"]
    return (_packed_logits if packed else _two_set_logits)(model, prefix_ids, prefix_mask,
                                                            suffix_ids)


def _packed_logits(model: GPT, prefix_ids: torch.Tensor, prefix_mask: torch.Tensor,
                   suffix_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prefix_grouped_logits` with one packed row per prompt."""
    P, Lp = prefix_ids.shape
    G, Ls = suffix_ids.shape[1:3]
    pos, mask = packed_layout(prefix_mask, G, Ls)
    x = model.wte(torch.cat([prefix_ids, suffix_ids.reshape(P, G * Ls)], 1)) + model.wpe(pos)
    for block in model.blocks:
        x = block(x, mask, False, None)
    logits = model.lm_head(model.ln_f(x[:, Lp - 1:]))  # the last prompt token, the suffixes
    return logits[:, 0], logits[:, 1:].view(P, G, Ls, logits.shape[-1])


def _two_set_logits(model: GPT, prefix_ids: torch.Tensor, prefix_mask: torch.Tensor,
                    suffix_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prefix_grouped_logits` with the prompts and the suffixes as two token sets."""
    P, Lp = prefix_ids.shape
    Ls = suffix_ids.shape[2]
    padded = not bool(prefix_mask.all())
    pos_p, mask, is_causal = attention_layout(prefix_mask if padded else None, 0, Lp, P,
                                              prefix_ids.device)
    pos_s = prefix_mask.sum(1)[:, None] + torch.arange(Ls, device=prefix_ids.device)  # restart
    x_p = model.wte(prefix_ids) + model.wpe(pos_p)
    x_s = model.wte(suffix_ids) + model.wpe(pos_s)[:, None]
    for block in model.blocks:  # GPT's pre-LN block, restated for the two token sets
        a_p, a_s = shared_prefix_attention(block.attn, block.ln_1(x_p), block.ln_1(x_s),
                                           prefix_mask, (mask, is_causal))
        x_p, x_s = x_p + a_p, x_s + a_s
        x_p = x_p + block.mlp(block.ln_2(x_p))
        x_s = x_s + block.mlp(block.ln_2(x_s))
    return model.lm_head(model.ln_f(x_p[:, -1])), model.lm_head(model.ln_f(x_s))


def prefix_grouped_logprobs(model: GPT, prefix_ids: torch.Tensor, prefix_mask: torch.Tensor,
                            suffix_ids: torch.Tensor, temperature: float = 1.0,
                            packed: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log-probs, entropies)`` ``(P, G, Ls)`` of every suffix token given the prompt and
    the suffix before it, at ``temperature`` — :func:`polab.lm.generate.completion_logprobs`
    computed with one prompt encoding per group (``packed``: the layout, see
    :func:`prefix_grouped_logits`)."""
    last, logits = prefix_grouped_logits(model, prefix_ids, prefix_mask, suffix_ids[:, :, :-1],
                                         packed)
    P, G = suffix_ids.shape[:2]
    logits = torch.cat([last[:, None, None].expand(P, G, 1, -1), logits], 2)
    logp_all, entropy = log_softmax_entropy(logits, temperature)
    return logp_all.gather(-1, suffix_ids[..., None]).squeeze(-1), entropy


def grouped_completion_logprobs(model: GPT, samples: Samples, num_generations: int,
                                temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop-in for ``completion_logprobs(model, samples, temperature)`` when the rows come in
    groups of ``num_generations`` sharing a prompt (GRPO's layout); ``(B, N)`` each."""
    B, Lp = samples.prompt_ids.shape
    G, N = num_generations, samples.completion_ids.shape[1]
    prefix_ids, prefix_mask = samples.prompt_ids[::G], samples.prompt_mask[::G]
    if not in_groups(samples.prompt_ids, G):
        raise ValueError(f"rows are not groups of {G} completions of one prompt")
    logp, entropy = prefix_grouped_logprobs(model, prefix_ids, prefix_mask,
                                            samples.completion_ids.view(-1, G, N), temperature)
    return logp.reshape(B, N), entropy.reshape(B, N)


def scoring_samples(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                    completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> Samples:
    """A :class:`Samples` holding given completions, to be scored by ``completion_logprobs``
    or :func:`grouped_completion_logprobs` (sampling-time fields are zeros)."""
    zeros = torch.zeros(completion_ids.shape, device=completion_ids.device)
    return Samples(prompt_ids, prompt_mask, completion_ids, completion_mask,
                   torch.zeros_like(completion_mask), zeros, zeros.clone(),
                   completion_mask.any(1))


def repeated_prefix_samples(prefix_ids: torch.Tensor, prefix_mask: torch.Tensor,
                            suffix_ids: torch.Tensor) -> Samples:
    """The standard layout of the same data: each prompt repeated G times, one row per
    suffix, every suffix token active (for equivalence tests and benchmarks)."""
    P, G, Ls = suffix_ids.shape
    active = torch.ones((P * G, Ls), dtype=torch.bool, device=suffix_ids.device)
    return scoring_samples(prefix_ids.repeat_interleave(G, 0), prefix_mask.repeat_interleave(
        G, 0), suffix_ids.reshape(P * G, Ls), active)


def forward_cost(prefix_len: int, suffix_len: int, group_size: int) -> dict[str, float]:
    """Analytic cost of one group (../shared/cards/33_prefix_grouper.md): tokens through the
    token-wise layers and query-key pairs in attention, repeated vs grouped, and their ratios."""
    Lp, Ls, G = prefix_len, suffix_len, group_size
    tokens = (G * (Lp + Ls), Lp + G * Ls)
    pairs = (G * (Lp + Ls) ** 2, Lp ** 2 + G * Ls * (Lp + Ls))
    return {"tokens_repeated": tokens[0], "tokens_grouped": tokens[1],
            "token_ratio": tokens[0] / tokens[1], "attention_repeated": pairs[0],
            "attention_grouped": pairs[1], "attention_ratio": pairs[0] / pairs[1]}
