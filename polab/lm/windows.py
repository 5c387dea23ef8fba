"""A window sampler: a pool of slots that generates ``window`` tokens per round, with refill.

T-PPO's schedule (../shared/cards/08_tppo.md, "Generation"): a pool of ``pool_size`` slots,
each holding one prompt and the tokens generated for it so far. Every :meth:`WindowSampler.round`

1. refills the empty slots with new prompts (``refill=True``: every round; ``refill=False``:
   only once the whole pool is empty, i.e. synchronous batches);
2. rebuilds the KV cache from the *current* weights by prefilling ``prompt + tokens so far``
   for every active slot (rows right-aligned, left padding masked, so positions and attention
   are exactly those of the unpadded sequence) and samples up to ``window`` more tokens with
   :func:`polab.lm.generate.generate` — one batched call, whose only Python loop is over
   generation steps;
3. records each new token's behaviour log-prob (a response that spans several rounds was
   sampled by several policy versions, so log-probs are kept per token), marks the slots that
   emitted ``<eos>`` or reached ``max_new_tokens`` (L_max) as finished, and returns the round's
   rows as a :class:`Window`.

It logs, per generation step, how many slots were active (``utilisation``) and keeps a
``slot × step`` occupancy record (the id of the sequence in each slot, -1 when idle) for the
Gantt figure. With ``window = max_new_tokens`` and ``refill=False`` one round is exactly
:func:`~polab.lm.generate.generate` on the pool's prompts (same tokens and log-probs for the
same generator). Taught in notebooks/04_token_level_control.ipynb (T-PPO).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from polab.lm.generate import Samples, generate
from polab.lm.model import GPT
from polab.lm.tasks import Problems, Task


@dataclass
class Window:
    """One round's active rows. ``samples`` holds each row's prompt and *all* its tokens so
    far (behaviour log-probs per token, from whichever round sampled them); ``new`` marks the
    tokens sampled this round; ``finished`` the rows that ended (``<eos>`` or L_max);
    ``slots`` the pool slots they came from; ``steps`` the generation steps of the round."""

    problems: Problems
    samples: Samples
    new: torch.Tensor       # (B, N) tokens generated in this round
    finished: torch.Tensor  # (B,) ended with <eos> or reached max_new_tokens
    slots: torch.Tensor     # (B,) pool slot of each row
    steps: int


def right_align(ids: torch.Tensor, lengths: torch.Tensor, pad_id: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-aligned rows (``lengths`` real tokens each) shifted to end in the same column:
    ``(ids, mask)`` of width ``max(lengths)``, left-padded with ``pad_id``."""
    width = int(lengths.max())
    cols = torch.arange(width, device=ids.device)
    src = cols[None, :] - (width - lengths)[:, None]
    mask = src >= 0
    return torch.where(mask, ids.gather(1, src.clamp_min(0)), pad_id), mask


class WindowSampler:
    """The slot pool; see the module docstring. ``generator`` draws the tokens (on the model's
    device), ``prompt_generator`` the problems (CPU)."""

    def __init__(self, task: Task, pool_size: int, window: int, max_new_tokens: int, *,
                 refill: bool = True, temperature: float = 1.0,
                 generator: torch.Generator | None = None,
                 prompt_generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu"):
        for name, value in (("pool_size", pool_size), ("window", window),
                            ("max_new_tokens", max_new_tokens)):
            if value < 1:
                raise ValueError(f"{name}={value} must be at least 1")
        if window > max_new_tokens:
            raise ValueError(f"window={window} must be at most max_new_tokens={max_new_tokens}")
        self.task, self.tok = task, task.tokenizer
        self.pool_size, self.window, self.max_new_tokens = pool_size, window, max_new_tokens
        self.refill, self.temperature = refill, temperature
        self.generator, self.prompt_generator = generator, prompt_generator
        self.device = torch.device(device)
        N, dev = pool_size, self.device
        self.problems: Problems | None = None   # every problem drawn, in order
        self.pid = torch.full((N,), -1, dtype=torch.long)   # slot -> index into problems
        self.seq_id = torch.full((N,), -1, dtype=torch.long)  # slot -> sequence number
        self.prompt = torch.zeros((N, 0), dtype=torch.long, device=dev)  # left-aligned
        self.plen = torch.zeros(N, dtype=torch.long, device=dev)
        self.tokens = torch.full((N, max_new_tokens), self.tok.pad_id, dtype=torch.long,
                                 device=dev)
        self.logprobs, self.entropies = (torch.zeros((N, max_new_tokens), device=dev)
                                         for _ in range(2))
        self.n = torch.zeros(N, dtype=torch.long, device=dev)
        self.active = torch.zeros(N, dtype=torch.bool, device=dev)
        self.sequences = 0        # sequences started
        self.completed = 0        # sequences finished
        self.generation_steps = 0
        self.utilisation: list[float] = []      # active share per generation step
        self.occupancy: list[torch.Tensor] = []  # (N,) sequence id per step, -1 idle

    def _fill(self, slots: torch.Tensor) -> None:
        """Put fresh problems into the empty ``slots``."""
        k = len(slots)
        new = self.task.sample_prompts(k, self.prompt_generator)
        base = 0 if self.problems is None else len(self.problems)
        self.problems = new if self.problems is None else Problems.concat([self.problems, new])
        ids, mask = self.task.encode_prompts(new, self.device)
        lens = mask.sum(1)
        width = max(self.prompt.shape[1], ids.shape[1])
        self.prompt = torch.nn.functional.pad(self.prompt, (0, width - self.prompt.shape[1]),
                                              value=self.tok.pad_id)
        # left-align the new prompts: column j holds real token j
        start = (mask.shape[1] - lens)[:, None]
        cols = torch.arange(width, device=self.device)[None, :]
        src = (cols + start).clamp_max(ids.shape[1] - 1)
        row = torch.where(cols < lens[:, None], ids.gather(1, src), self.tok.pad_id)
        slots_d = slots.to(self.device)
        self.prompt[slots_d] = row
        self.plen[slots_d] = lens
        self.n[slots_d] = 0
        self.tokens[slots_d] = self.tok.pad_id
        self.logprobs[slots_d] = 0.0
        self.entropies[slots_d] = 0.0
        self.active[slots_d] = True
        self.pid[slots] = base + torch.arange(k)
        self.seq_id[slots] = self.sequences + torch.arange(k)
        self.sequences += k

    @torch.no_grad()
    def round(self, model: GPT) -> Window:
        """Refill, sample up to ``window`` tokens for every active slot, record; see above."""
        empty = (~self.active).nonzero().squeeze(1).cpu()
        if len(empty) and (self.refill or len(empty) == self.pool_size):
            self._fill(empty)
        rows = self.active.nonzero().squeeze(1)
        n, plen = self.n[rows], self.plen[rows]
        seq = torch.cat([self.prompt[rows], self.tokens[rows]], 1)
        # move each row's generated tokens right behind its prompt, then right-align the whole
        cols = torch.arange(seq.shape[1], device=self.device)[None, :]
        gen_col = self.prompt.shape[1] + cols - plen[:, None]
        src = torch.where(cols < plen[:, None], cols, gen_col).clamp_max(seq.shape[1] - 1)
        ctx, ctx_mask = right_align(seq.gather(1, src), plen + n, self.tok.pad_id)
        budget = self.max_new_tokens - n
        was_training = model.training
        model.eval()
        out = generate(model, ctx, ctx_mask, max_new_tokens=min(self.window, int(budget.max())),
                       eos_id=self.tok.eos_id, pad_id=self.tok.pad_id,
                       temperature=self.temperature, generator=self.generator)
        model.train(was_training)
        T = out.completion_ids.shape[1]
        step = torch.arange(T, device=self.device)[None, :]
        live = out.completion_mask & (step < budget[:, None])
        got = live.sum(1)
        ended = (out.completion_ids == self.tok.eos_id).logical_and(live).any(1)
        finished = ended | (n + got >= self.max_new_tokens)
        # --- record the new tokens: column c of a row takes new token c - n (a gather) ---
        cols = torch.arange(self.max_new_tokens, device=self.device)[None, :]
        src = cols - n[:, None]
        take = (src >= 0) & (src < got[:, None])
        src = src.clamp(0, T - 1)
        for buf, val in ((self.tokens, out.completion_ids), (self.logprobs, out.logprobs),
                         (self.entropies, out.entropies)):
            buf[rows] = torch.where(take, val.gather(1, src).to(buf.dtype), buf[rows])
        self.n[rows] = n + got
        occupancy = torch.full((self.pool_size, T), -1, dtype=torch.long)
        occupancy[rows.cpu()] = torch.where(live.cpu(), self.seq_id[rows.cpu()][:, None], -1)
        self.occupancy.extend(occupancy.unbind(1))
        self.utilisation.extend((live.sum(0).float() / self.pool_size).tolist())
        self.generation_steps += T
        window = self._window(rows, live, finished, ended, T)
        self.active[rows[finished]] = False
        self.completed += int(finished.sum())
        return window

    def _window(self, rows: torch.Tensor, new: torch.Tensor, finished: torch.Tensor,
                ended: torch.Tensor, steps: int) -> Window:
        """The active rows as (left-padded prompt, right-padded tokens so far) samples."""
        n, plen = self.n[rows], self.plen[rows]
        width = int(n.max())
        prompt_ids, prompt_mask = right_align(self.prompt[rows], plen, self.tok.pad_id)
        cols = torch.arange(width, device=self.device)[None, :]
        mask = cols < n[:, None]
        before = n - new.sum(1)
        fresh = mask & (cols >= before[:, None])
        samples = Samples(prompt_ids, prompt_mask,
                          torch.where(mask, self.tokens[rows, :width], self.tok.pad_id), mask,
                          torch.zeros_like(mask), torch.where(mask, self.logprobs[rows, :width],
                                                              0.0),
                          torch.where(mask, self.entropies[rows, :width], 0.0), ended)
        assert self.problems is not None
        return Window(self.problems.select(self.pid[rows.cpu()]), samples, fresh, finished,
                      rows, steps)

    STATE = ("problems", "pid", "seq_id", "prompt", "plen", "tokens", "logprobs", "entropies",
             "n", "active", "sequences", "completed", "generation_steps")

    def state_dict(self) -> dict[str, Any]:
        """The pool (slots, tokens so far, counters) and the schedule record, copied."""
        return copy.deepcopy({**{k: getattr(self, k) for k in self.STATE},
                              "utilisation": self.utilisation, "occupancy": self.occupancy})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the record lists in place: callers may hold them)."""
        state = copy.deepcopy(state)
        for k in self.STATE:
            setattr(self, k, state[k])
        self.utilisation[:] = state["utilisation"]
        self.occupancy[:] = state["occupancy"]

    def occupancy_matrix(self) -> torch.Tensor:
        """``(pool_size, generation_steps)`` sequence id per slot and step, -1 when idle."""
        if not self.occupancy:
            return torch.full((self.pool_size, 0), -1, dtype=torch.long)
        return torch.stack(self.occupancy, 1)
