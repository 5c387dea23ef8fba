"""A tiny GPT in the spirit of nanoGPT, with a KV cache for generation.

Pre-LayerNorm transformer blocks, learned absolute positions, causal self-attention through
``F.scaled_dot_product_attention``, tied input/output embeddings, no dropout (the data is
generated afresh every step, so nothing to regularise). ``model(ids)`` returns the logits of
every position; the same call with a :class:`KVCache` processes only the new tokens and
appends their keys/values to the cache.

**Padding (the choice made here).** A batch may mix prompts of different lengths. Prompts
are *left*-padded, so every row's last prompt token sits in the same column and sampling
advances all rows together. Pass ``attention_mask`` (``(B, S)``, True on real tokens, over
all positions including those already in the cache) and the model (i) numbers positions
from each row's first real token, ``pos = cumsum(mask) - 1``, and (ii) hides padded keys
from every query. So a left-padded row computes exactly what the unpadded prompt computes
alone. *Right* padding (SFT batches) needs no mask: causal attention never lets a real
token see the padding after it. Without a mask all rows are taken as unpadded, which is
also the fast path (``is_causal``, no mask tensor).

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from polab.config import Config, param


@dataclass(frozen=True)
class GPTConfig(Config):
    """Size of the tiny GPT (the shipped addition base: 2 layers, d = 64, 4 heads, ≈100k)."""

    vocab_size: int = param(64, help="number of token ids (the tokenizer's vocab_size)",
                            low=2, high=4096)
    block_size: int = param(32, help="context length: prompt + completion tokens",
                            low=4, high=4096)
    n_layer: int = param(2, help="transformer blocks", low=1, high=24)
    n_head: int = param(4, help="attention heads per block", low=1, high=32)
    n_embd: int = param(64, help="embedding width d", low=8, high=2048)

    def rules(self) -> list[tuple[bool, str]]:
        return [(self.n_embd % self.n_head == 0, "n_head must divide n_embd")]


class KVCache:
    """Keys and values of every layer for the positions processed so far.

    Preallocated ``(B, n_head, max_len, head_dim)`` buffers; ``length`` positions are filled.
    All rows advance together (prompts are left-padded), so one ``length`` serves the batch.
    """

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int,
                 device: torch.device, dtype: torch.dtype):
        shape = (batch_size, config.n_head, max_len, config.n_embd // config.n_head)
        self.k = [torch.empty(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.v = [torch.empty(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.length = 0

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new positions' keys/values; return all keys/values so far."""
        end = self.length + k.shape[2]
        self.k[layer][:, :, self.length:end] = k
        self.v[layer][:, :, self.length:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def repeat_interleave(self, repeats: int, max_len: int) -> KVCache:
        """A cache of ``repeats`` copies of every row, adjacent (row ``i`` becomes rows
        ``i·repeats … i·repeats + repeats - 1``), with room for ``max_len`` positions: a
        prompt encoded once continued by ``repeats`` samples (``generate``'s
        ``num_return_sequences``)."""
        out = KVCache.__new__(KVCache)
        out.length = self.length
        out.k, out.v = ([_repeat_rows(x[:, :, :self.length], repeats, max_len) for x in xs]
                        for xs in (self.k, self.v))
        return out


def _repeat_rows(x: torch.Tensor, repeats: int, max_len: int) -> torch.Tensor:
    """``(B·repeats, H, max_len, hd)``: each row of ``x`` ``(B, H, L, hd)`` repeated in place
    in the first ``L`` positions; the rest allocated, unfilled."""
    B, H, L, hd = x.shape
    out = x.new_empty((B, repeats, H, max_len, hd))
    out[:, :, :, :L] = x[:, None]
    return out.view(B * repeats, H, max_len, hd)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer: int):
        super().__init__()
        self.layer, self.n_head = layer, config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool,
                cache: KVCache | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=2))
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, config: GPTConfig, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(),
                                 nn.Linear(4 * config.n_embd, config.n_embd))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool,
                cache: KVCache | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, is_causal, cache)
        return x + self.mlp(self.ln_2(x))


def attention_layout(attention_mask: torch.Tensor | None, start: int, T: int, batch: int,
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
    """Positions and attention mask for ``T`` new tokens after ``start`` cached ones.

    Returns ``(pos, mask, is_causal)``: ``pos`` is ``(B, T)`` (or ``(1, T)``); ``mask`` is a
    boolean ``(B, 1, T, start+T)`` "may attend" tensor, or None when ``is_causal`` (or a single
    new token with no padding) says all. With ``attention_mask`` (``(B, start+T)``, True on
    real tokens) positions count real tokens only and padded keys are hidden; every query may
    see itself, so a padding query's row is never empty (its output is unused anyway).
    """
    S = start + T
    if attention_mask is None:
        pos = torch.arange(start, S, device=device).unsqueeze(0)
        if start == 0 or T == 1:
            return pos, None, T > 1
        causal = torch.ones(T, S, dtype=torch.bool, device=device).tril(start)
        return pos, causal.expand(batch, 1, T, S), False
    pos = (attention_mask.long().cumsum(1) - 1).clamp_min(0)[:, start:]
    q_idx = torch.arange(start, S, device=device)[:, None]
    k_idx = torch.arange(S, device=device)[None, :]
    allowed = (k_idx <= q_idx) & attention_mask[:, None, :]  # (B, T, S)
    return pos, (allowed | (k_idx == q_idx)).unsqueeze(1), False


class GPT(nn.Module):
    """``forward(ids, attention_mask=None, cache=None) -> logits`` of shape ``(B, T, vocab)``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config.validate()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (nanoGPT)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty cache for ``batch_size`` rows and up to ``max_len`` (block_size) positions."""
        p = self.wte.weight
        return KVCache(self.config, batch_size, max_len or self.config.block_size, p.device,
                       p.dtype)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: KVCache | None = None, return_hidden: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits for the tokens ``ids`` (``(B, T)``).

        ``attention_mask`` (``(B, start+T)``) marks real tokens over the cached *and* the new
        positions; omit it for unpadded or right-padded batches. With ``cache`` the new
        tokens continue the cached ones and their keys/values are appended. With
        ``return_hidden`` the result is ``(logits, h)``, ``h`` ``(B, T, n_embd)`` the final
        hidden states after ``ln_f``, so that ``logits = h @ lm_head.weight.T`` (a critic's
        features; CAPO's last-layer model).
        """
        B, T = ids.shape
        start = 0 if cache is None else cache.length
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size="
                             f"{self.config.block_size}")
        pos, mask, is_causal = attention_layout(attention_mask, start, T, B, ids.device)
        x = self.wte(ids) + self.wpe(pos)
        for block in self.blocks:
            x = block(x, mask, is_causal, cache)
        if cache is not None:
            cache.length += T
        h = self.ln_f(x)
        logits = self.lm_head(h)
        return (logits, h) if return_hidden else logits
