"""The *LM pairs* testbed of chapter 08: preference pairs on the tiny GPT's addition task.

A prompt table holds ``train_size`` training problems (ids ``0 … train_size − 1``, drawn from
the task, never a held-out one) and the task's held-out set after them. Each round the
preference trainer (:mod:`polab.algos.preference.trainer`) draws training prompt ids, samples
``K`` completions per prompt from :class:`LMPolicy` and hands them to :meth:`LMPairs.make_pairs`:

* **graded score** (:func:`graded_score`): 1 for the exact sum followed by ``<eos>``; otherwise
  the share of digits right that line up from the right,
  ``s(y) = #{j < min(|y|, |a+b|) : y_j = (a+b)_j} / max(|y|, |a+b|)`` (digit ``j`` counted from
  the least significant); 0 for a malformed completion (no ``<eos>``, no digit, or a non-digit
  before ``<eos>``). ``579`` for 123+456 scores 1, ``578`` 2/3, ``1579`` 3/4, ``57`` 0.
* **oracle**: the best and the worst of the ``K`` by score (ties, i.e. all ``K`` equal, are
  dropped); a Bradley–Terry judge prefers the better one with probability
  ``σ((s_best − s_worst) / oracle_temperature)`` (default temperature 0.1: a gap of one digit
  of three, 1/3, is called right 97% of the time), then ``label_noise`` flips the label.

:meth:`LMPairs.metrics` measures the policy on the held-out set: greedy pass@1
(``eval/pass@1``, :func:`polab.lm.evaluate.evaluate`), the mean graded score of one sample
per prompt at T = 1 (``true_reward``) and a Monte-Carlo ``KL(π‖π_0)`` from those samples.
Pairs of sequences are scored by :meth:`LMPolicy.logp`, the sum of the completion's token
log-probs up to and including its ``<eos>``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polab.lm.evaluate import evaluate
from polab.lm.generate import Samples, completion_logprobs, generate
from polab.lm.model import GPT
from polab.lm.pretrain import load_base
from polab.lm.tasks import AdditionTask, Problems
from polab.lm.tokenizer import CharTokenizer


def completion_mask(responses: torch.Tensor, eos_id: int) -> torch.Tensor:
    """``[..., L]`` True on a completion's own tokens: up to and including its first
    ``<eos>`` (all ``L`` when it has none), as :func:`polab.lm.generate.generate` marks them."""
    eos = (responses == eos_id).long()
    return (eos.cumsum(-1) - eos) == 0


class LMPolicy(nn.Module):
    """A :class:`~polab.algos.preference.backend.PolicyBackend` around the tiny GPT.

    ``prompt_ids [P, W]`` / ``prompt_mask`` is the testbed's prompt table (``<bos>`` + prompt,
    left-padded); responses are ``[.., length]`` token ids, ``<pad>`` after the first
    ``<eos>``. Sampling is at ``temperature`` with the KV cache.
    """

    def __init__(self, model: GPT, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                 length: int, eos_id: int, pad_id: int, temperature: float = 1.0):
        super().__init__()
        self.model = model
        self.register_buffer("prompt_ids", prompt_ids, persistent=False)
        self.register_buffer("prompt_mask", prompt_mask, persistent=False)
        self.length, self.eos_id, self.pad_id = length, eos_id, pad_id
        self.temperature = temperature

    def _rows(self, prompts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The table's rows for ``prompts``, trimmed of columns that are padding in all."""
        ids, mask = self.prompt_ids[prompts], self.prompt_mask[prompts]
        first = int(mask.any(0).int().argmax()) if len(prompts) else 0
        return ids[:, first:], mask[:, first:]

    @torch.no_grad()
    def sample(self, prompts: torch.Tensor, k: int, generator: torch.Generator | None
               ) -> torch.Tensor:
        """``k`` completions per prompt, ``[n, k, length]``, in one batched generation."""
        ids, mask = self._rows(prompts.repeat_interleave(k))
        was_training = self.model.training
        self.model.eval()
        out = generate(self.model, ids, mask, max_new_tokens=self.length, eos_id=self.eos_id,
                       pad_id=self.pad_id, temperature=self.temperature, generator=generator)
        self.model.train(was_training)
        tokens = F.pad(out.completion_ids, (0, self.length - out.completion_ids.shape[1]),
                       value=self.pad_id)
        return tokens.view(len(prompts), k, self.length)

    def logp(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """``log π(y|x)`` per row, ``[n]``: token log-probs summed over the completion (up to
        and including ``<eos>``), one forward over prompt + completion, with gradients."""
        ids, mask = self._rows(prompts)
        own = completion_mask(responses, self.eos_id)
        samples = Samples(ids, mask, responses, own, torch.zeros_like(own),
                          *(torch.zeros(responses.shape, device=responses.device),) * 2,
                          own[:, -1] == 0)
        token_logp = completion_logprobs(self.model, samples, self.temperature)[0]
        return (token_logp * own).sum(-1)


def graded_score(completions: torch.Tensor, sums: torch.Tensor, tokenizer: CharTokenizer
                 ) -> torch.Tensor:
    """Graded correctness of completions ``[B, L]`` for the sums ``[B]`` (module docstring):
    1 exact, else the share of right-aligned digits that match, 0 malformed."""
    B, L = completions.shape
    dev = completions.device
    digit_ids = torch.tensor([tokenizer.stoi[str(d)] for d in range(10)], device=dev)
    value = torch.full((tokenizer.vocab_size,), -1, dtype=torch.long, device=dev)
    value[digit_ids] = torch.arange(10, device=dev)
    digits = value[completions]                                  # -1 for a non-digit token
    is_eos = completions == tokenizer.eos_id
    ended = is_eos.any(1)
    n = torch.where(ended, is_eos.int().argmax(1), L)            # answer length (before <eos>)
    cols = torch.arange(L, device=dev)
    before = cols < n[:, None]
    well_formed = ended & (n > 0) & ~(before & (digits < 0)).any(1)
    target_len = sums.clamp_min(1).log10().floor().long() + 1
    place = n[:, None] - 1 - cols                                # digit place from the right
    target = (sums[:, None] // 10 ** place.clamp(0, 18)) % 10
    match = before & (place < target_len[:, None]) & (digits == target)
    score = match.sum(1) / torch.maximum(n, target_len)
    return torch.where(well_formed, score.float(), 0.0)


def oracle_accuracy(gap: torch.Tensor | float, temperature: float, label_noise: float
                    ) -> torch.Tensor:
    """``P(label = the better one)`` for a score gap ``s_best − s_worst``: the Bradley–Terry
    judge ``p = σ(gap/temperature)``, then a flip with probability ``label_noise``,
    ``p(1 − noise) + (1 − p)·noise``."""
    p = torch.sigmoid(torch.as_tensor(gap, dtype=torch.float32) / temperature)
    return p * (1 - label_noise) + (1 - p) * label_noise


def best_worst_pairs(scores: torch.Tensor, generator: torch.Generator, temperature: float,
                     label_noise: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rows, chosen, rejected)`` from scores ``[n, K]``: per row the best and the worst
    sample (indices into ``K``, first ones on equal scores), rows whose ``K`` scores are all
    equal dropped; the better one is ``chosen`` with probability :func:`oracle_accuracy`."""
    top, bottom = scores.max(1), scores.min(1)
    rows = torch.nonzero(top.values > bottom.values).squeeze(1)
    best, worst = top.indices[rows], bottom.indices[rows]
    u = torch.rand(len(rows), generator=generator, device=generator.device).to(scores.device)
    right = u < oracle_accuracy((top.values - bottom.values)[rows], temperature, label_noise)
    return rows, torch.where(right, best, worst), torch.where(right, worst, best)


class LMPairs:
    """The LM pairs testbed (module docstring): a
    :class:`~polab.algos.preference.backend.PreferenceTestbed` on the shipped addition base."""

    def __init__(self, base: str = "addition", train_size: int = 2048, eval_size: int = 512,
                 oracle_temperature: float = 0.1, label_noise: float = 0.1, seed: int = 0,
                 device: str | torch.device = "cpu"):
        for name, value, ok in (("train_size", train_size, train_size >= 1),
                                ("eval_size", eval_size, eval_size >= 1),
                                ("oracle_temperature", oracle_temperature,
                                 oracle_temperature > 0),
                                ("label_noise", label_noise, 0 <= label_noise <= 0.5)):
            if not ok:
                raise ValueError(f"LM pairs: {name}={value!r} is out of range (train_size, "
                                 "eval_size >= 1; oracle_temperature > 0; 0 <= label_noise "
                                 "<= 0.5)")
        self.device = torch.device(device)
        model, tokenizer, task = load_base(base, self.device)
        if not isinstance(task, AdditionTask) or task.scratchpad:
            raise ValueError(f"LM pairs: base {base!r} is not an answer-only addition base")
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.oracle_temperature, self.label_noise, self.seed = (oracle_temperature,
                                                                label_noise, seed)
        held_out = task.eval_problems()
        if eval_size > len(held_out):
            raise ValueError(f"LM pairs: eval_size={eval_size} exceeds the task's "
                             f"{len(held_out)} held-out problems")
        self.held_out = held_out.select(torch.arange(eval_size))
        self.train_size = train_size
        self.problems = Problems.concat([
            task.sample_prompts(train_size, torch.Generator().manual_seed(seed)), self.held_out])
        self.sums = (self.problems.data["a"] + self.problems.data["b"]).to(self.device)
        self.eval_ids = torch.arange(train_size, len(self.problems), device=self.device)

    def initial_policy(self) -> LMPolicy:
        """A fresh policy on a deep copy of the shipped base."""
        ids, mask = self.task.encode_prompts(self.problems, self.device)
        return LMPolicy(copy.deepcopy(self.model), ids, mask, self.task.max_new_tokens,
                        self.tokenizer.eos_id, self.tokenizer.pad_id).to(self.device)

    def sample_prompts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` training prompt ids, uniform with replacement."""
        return torch.randint(self.train_size, (n,), generator=generator,
                             device=generator.device).to(self.device)

    def score(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """Graded scores ``[n, ...]`` of responses ``[n, ..., L]`` to prompt ids ``[n]``."""
        shape = responses.shape[:-1]
        sums = self.sums[prompts].view(-1, *[1] * (len(shape) - 1)).expand(shape)
        return graded_score(responses.reshape(-1, responses.shape[-1]), sums.reshape(-1),
                            self.tokenizer).view(shape)

    def make_pairs(self, prompts: torch.Tensor, responses: torch.Tensor,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Best vs worst of each prompt's ``K`` responses ``[n, K, L]``, labelled by the
        Bradley–Terry oracle on the graded score; ties dropped."""
        rows, chosen, rejected = best_worst_pairs(self.score(prompts, responses), generator,
                                                  self.oracle_temperature, self.label_noise)
        picked = responses[rows]
        return (prompts[rows], picked[torch.arange(len(rows)), chosen],
                picked[torch.arange(len(rows)), rejected])

    @torch.no_grad()
    def metrics(self, policy: LMPolicy, initial: LMPolicy) -> dict[str, float]:
        """Held-out greedy ``eval/pass@1``; ``true_reward``, the mean graded score of one
        T = 1 sample per held-out prompt; ``kl_to_initial``, the mean of
        ``log π(y|x) − log π_0(y|x)`` over those samples (a Monte-Carlo ``KL(π‖π_0)``)."""
        pass1 = evaluate(policy.model, self.task, self.held_out)["pass@1"]
        generator = torch.Generator(self.device).manual_seed(self.seed + 1)
        responses = policy.sample(self.eval_ids, 1, generator)[:, 0]
        kl = (policy.logp(self.eval_ids, responses) - initial.logp(self.eval_ids, responses))
        return {"eval/pass@1": pass1,
                "true_reward": float(self.score(self.eval_ids, responses).mean()),
                "kl_to_initial": float(kl.mean())}


def from_config(config: Any, device: torch.device) -> LMPairs:
    """The testbed for a preference config (duck-typed: ``seed`` and ``label_noise``)."""
    return LMPairs(label_noise=float(config.label_noise), seed=int(config.seed), device=device)
