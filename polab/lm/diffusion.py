"""A masked-diffusion language model (LLaDA-style) on the tiny GPT's blocks.

**Model.** :class:`DiffusionLM` is the tiny GPT (:class:`polab.lm.model.GPT`: same blocks,
same weights layout) with two changes: attention is *bidirectional* (no causal mask: every
position sees every other) and the vocabulary has one more token, ``<mask>``, whose id
``mask_id`` is one past the :class:`CharTokenizer`'s vocab. The model reads a sequence in
which some answer tokens are replaced by ``<mask>`` and predicts, at every position, the
token that belongs there; it never predicts ``<mask>`` itself (that logit is −∞).

**Layout.** A batch is a prompt ``<bos>a+b=`` *left*-padded with ``<pad>`` to the task's fixed
prompt length P (:func:`prompt_len`) and an answer span of fixed length L
(:func:`answer_len`, the task's ``max_new_tokens``): the answer, its ``<eos>``, then more
``<eos>`` up to L (right-padding with ``<eos>``, as LLaDA does, so that every answer position
has a target and the model learns where the answer stops). The prompt is never masked.

**Likelihood.** A diffusion LM has no tractable log p(y|x); its ELBO is estimated by Monte
Carlo (card 41, "Core update"): draw t_j ~ U(ε, 1], mask each answer token independently with
probability t_j, and score

    ℓ^{(j)} = (1/t_j) Σ_{k masked in y^{(j)}} log p_θ(y_k | x, y^{(j)}),
    ELBO(y) = (1/n_mc) Σ_j ℓ^{(j)}  ≤  log p(y | x).

**Sampling.** :func:`denoise` starts from an all-``<mask>`` answer and, over ``steps`` steps,
predicts every masked position and commits the most confident ones (confidence = the
probability of the chosen token), ⌈remaining / steps left⌉ per step; it also returns the step
at which each position was committed (the unmasking order).

Masked-diffusion SFT, the ``addition-diffusion`` base and its rebuild script live in
:mod:`polab.lm.diffusion_base`. Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from polab.lm.model import GPT, GPTConfig
from polab.lm.pretrain import load_model
from polab.lm.tasks import AdditionTask, Problems, Task

DIFFUSION_DIR = Path(__file__).parent / "checkpoints" / "diffusion"

__all__ = ["DIFFUSION_DIR", "DiffusionLM", "answer_len", "answer_reward", "decode_answers",
           "denoise", "elbo", "elbo_term", "elbo_terms", "encode", "evaluate_diffusion",
           "load_diffusion_base", "prompt_len", "sample_masks"]


class DiffusionLM(GPT):
    """The tiny GPT without its causal mask, and with a ``<mask>`` token.

    ``config.vocab_size`` counts the tokenizer's tokens plus ``<mask>``; ``mask_id`` is the
    last id. ``forward(ids)`` returns ``(B, T, V)`` logits with the ``<mask>`` logit at −∞.
    """

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.mask_id = config.vocab_size - 1

    @classmethod
    def for_tokenizer(cls, vocab_size: int, **sizes: int) -> DiffusionLM:
        """A fresh model for a tokenizer of ``vocab_size`` tokens (``<mask>`` added)."""
        return cls(GPTConfig(vocab_size=vocab_size + 1, **sizes))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Logits ``(B, T, V)`` of every position of ``ids`` ``(B, T)``, attending both ways."""
        B, T = ids.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size={self.config.block_size}")
        x = self.wte(ids) + self.wpe(torch.arange(T, device=ids.device))
        for block in self.blocks:
            x = block(x, None, False, None)  # no mask, not causal: bidirectional attention
        logits = self.lm_head(self.ln_f(x))
        return logits.index_fill(-1, torch.tensor([self.mask_id], device=ids.device),
                                 float("-inf"))


def prompt_len(task: Task) -> int:
    """P: the fixed prompt length, ``<bos>`` + the longest prompt (``2·digits + 2`` chars)."""
    if not isinstance(task, AdditionTask) or task.scratchpad:
        raise ValueError(f"the diffusion LM supports addition without scratchpad, got "
                         f"{task.spec()}")
    return 2 * task.digits + 3


def answer_len(task: Task) -> int:
    """L: the fixed answer span, the longest answer plus ``<eos>`` (``task.max_new_tokens``)."""
    prompt_len(task)  # checks the task
    return task.max_new_tokens


def encode(task: Task, problems: Problems, answer_len: int,
           device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(prompt_ids (B, P), answer_ids (B, L))`` of ``problems``' prompts and reference answers.

    Prompts are ``<bos>`` + prompt, left-padded with ``<pad>`` to :func:`prompt_len`; answers
    are the answer + ``<eos>``, right-padded with ``<eos>`` to ``answer_len``.
    """
    tok, P = task.tokenizer, prompt_len(task)
    prompts, _ = tok.encode_batch(problems.prompts, add_bos=True, padding_side="left")
    answers, real = tok.encode_batch(problems.answers, add_bos=False, add_eos=True,
                                     padding_side="right")
    if prompts.shape[1] > P:
        raise ValueError(f"a prompt of {prompts.shape[1]} tokens exceeds the task's {P}")
    if answers.shape[1] > answer_len:
        raise ValueError(f"answer_len={answer_len} is shorter than an answer + <eos> "
                         f"({answers.shape[1]} tokens)")
    prompts = F.pad(prompts, (P - prompts.shape[1], 0), value=tok.pad_id)
    answers = F.pad(answers.masked_fill(~real, tok.eos_id),
                    (0, answer_len - answers.shape[1]), value=tok.eos_id)
    return prompts.to(device), answers.to(device)


def sample_masks(batch: int, answer_len: int, n_mc: int, generator: torch.Generator | None = None,
                 eps: float = 1e-3, device: torch.device | str | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(t (n_mc, B), masked (n_mc, B, L))``: t_j ~ U(eps, 1] per MC sample and row, each
    answer token masked independently with probability t_j (card 41, ELBO). Drawn on the CPU
    from ``generator`` (same seed → same masks on every device), then moved to ``device``."""
    for name, value in (("batch", batch), ("answer_len", answer_len), ("n_mc", n_mc)):
        if value < 1:
            raise ValueError(f"{name}={value}: must be >= 1")
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps={eps}: must lie in (0, 1) (it keeps 1/t finite)")
    u = torch.rand((n_mc, batch), generator=generator)
    t = 1.0 - (1.0 - eps) * u  # in (eps, 1]
    masked = torch.rand((n_mc, batch, answer_len), generator=generator) < t[..., None]
    return t.to(device), masked.to(device)


def elbo_terms(model: DiffusionLM, prompt_ids: torch.Tensor, answer_ids: torch.Tensor,
               t: torch.Tensor, masked: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """``(n_mc, B)`` per-sample ELBO terms ℓ^{(j)} = (1/t_j) Σ_{k masked} log p_θ(y_k | x, y^{(j)})
    (card 41, "Core update"), all MC samples in one forward of ``n_mc·B`` rows.

    ``normalize=True`` divides by the answer length too (the "(1/(t L))" variant). A row with
    no masked token scores 0 (an unbiased draw of the estimator).
    """
    n_mc, B, L = masked.shape
    if prompt_ids.shape[0] != B or answer_ids.shape != (B, L) or t.shape != (n_mc, B):
        raise ValueError(f"shapes disagree: prompt_ids {tuple(prompt_ids.shape)}, answer_ids "
                         f"{tuple(answer_ids.shape)}, t {tuple(t.shape)}, masked "
                         f"{tuple(masked.shape)}")
    P = prompt_ids.shape[1]
    noisy = torch.where(masked, model.mask_id, answer_ids.expand(n_mc, B, L))
    x = torch.cat([prompt_ids.expand(n_mc, B, P), noisy], -1).reshape(n_mc * B, P + L)
    logp = model(x)[:, P:].log_softmax(-1).view(n_mc, B, L, -1)
    token = logp.gather(-1, answer_ids.expand(n_mc, B, L)[..., None]).squeeze(-1)
    scale = t * L if normalize else t
    return (token * masked).sum(-1) / scale


def elbo_term(model: DiffusionLM, prompt_ids: torch.Tensor, answer_ids: torch.Tensor,
              t_j: torch.Tensor, masked_j: torch.Tensor, normalize: bool = False
              ) -> torch.Tensor:
    """``(B,)`` one MC sample's term ℓ^{(j)} (``t_j`` ``(B,)``, ``masked_j`` ``(B, L)``): what
    BGPO backpropagates one sample at a time."""
    return elbo_terms(model, prompt_ids, answer_ids, t_j[None], masked_j[None], normalize)[0]


def elbo(model: DiffusionLM, prompt_ids: torch.Tensor, answer_ids: torch.Tensor, n_mc: int,
         generator: torch.Generator | None = None, eps: float = 1e-3,
         normalize: bool = False) -> torch.Tensor:
    """``(B,)`` the Monte-Carlo ELBO estimate (1/n_mc) Σ_j ℓ^{(j)} with fresh masks."""
    t, masked = sample_masks(answer_ids.shape[0], answer_ids.shape[1], n_mc, generator, eps,
                             answer_ids.device)
    return elbo_terms(model, prompt_ids, answer_ids, t, masked, normalize).mean(0)


@torch.no_grad()
def denoise(model: DiffusionLM, prompt_ids: torch.Tensor, answer_len: int, steps: int,
            temperature: float = 0.0, generator: torch.Generator | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(answer_ids (B, L), order (B, L))``: confidence-ordered unmasking in ``steps`` steps.

    Start from L ``<mask>`` tokens. At step s (0-based) predict every masked position (argmax,
    or a sample at ``temperature`` > 0 from ``generator`` on the model's device) and commit the
    ⌈remaining / (steps − s)⌉ positions whose chosen token has the highest probability
    (softmax at temperature 1); ``order[b, k]`` is the step that committed position k.
    """
    if not 1 <= answer_len <= model.config.block_size - prompt_ids.shape[1]:
        raise ValueError(f"answer_len={answer_len}: must be in [1, block_size - prompt length "
                         f"= {model.config.block_size - prompt_ids.shape[1]}]")
    if not 1 <= steps <= answer_len:
        raise ValueError(f"steps={steps}: must be in [1, answer_len={answer_len}]")
    if temperature < 0:
        raise ValueError(f"temperature={temperature}: must be >= 0")
    was_training = model.training
    model.eval()
    B, P = prompt_ids.shape
    answer = torch.full((B, answer_len), model.mask_id, dtype=torch.long,
                        device=prompt_ids.device)
    order = torch.full_like(answer, -1)
    remaining = answer_len
    for s in range(steps):  # over denoising steps; all rows and positions at once
        logits = model(torch.cat([prompt_ids, answer], 1))[:, P:]
        probs = logits.softmax(-1)
        if temperature > 0:
            sampled = torch.multinomial((logits / temperature).softmax(-1).flatten(0, 1), 1,
                                        generator=generator)
            token = sampled.view(B, answer_len)
        else:
            token = probs.argmax(-1)
        confidence = probs.gather(-1, token[..., None]).squeeze(-1)
        still = answer == model.mask_id
        k = math.ceil(remaining / (steps - s))
        remaining -= k
        pick = confidence.masked_fill(~still, -1.0).topk(k, dim=1).indices
        answer.scatter_(1, pick, token.gather(1, pick))
        order.scatter_(1, pick, s)
    model.train(was_training)
    return answer, order


def answer_reward(task: Task, problems: Problems, answer_ids: torch.Tensor) -> torch.Tensor:
    """``(B,)`` 1.0 where the answer span holds exactly the sum followed by ``<eos>`` (what
    follows the first ``<eos>`` is not graded), else 0.0 (the task's own reward)."""
    return task.reward(problems, answer_ids)


def decode_answers(task: Task, answer_ids: torch.Tensor, mask_char: str = "_") -> list[str]:
    """Answer spans as text for display: ``<mask>`` (id ``vocab_size``) shown as ``mask_char``,
    ``<eos>`` as ``$``."""
    tok = task.tokenizer
    itos = [*tok.itos, mask_char]
    itos[tok.eos_id] = "$"
    return ["".join(itos[i] for i in row) for row in answer_ids.tolist()]


@torch.no_grad()
def evaluate_diffusion(model: DiffusionLM, task: Task, problems: Problems | None = None, *,
                       steps: int | None = None, samples: int = 1, temperature: float = 0.0,
                       generator: torch.Generator | None = None) -> dict[str, float]:
    """``{"pass@1", "frac_all_wrong", "frac_all_right"}`` of :func:`denoise` on ``problems``
    (default: the task's held-out set) with ``steps`` steps (default L: one token a step);
    greedy, or ``samples`` answers per problem at ``temperature``."""
    problems = task.eval_problems() if problems is None else problems
    device = next(model.parameters()).device
    L = answer_len(task)
    reps = problems.repeat(samples)
    prompt_ids, _ = encode(task, reps, L, device)
    if generator is None and temperature > 0:
        generator = torch.Generator(device).manual_seed(0)
    answer, _ = denoise(model, prompt_ids, L, steps or L, temperature, generator)
    wins = (answer_reward(task, reps, answer).view(len(problems), samples) > 0).sum(1).cpu()
    return {"pass@1": float(wins.sum()) / (len(problems) * samples),
            "frac_all_wrong": float((wins == 0).float().mean()),
            "frac_all_right": float((wins == samples).float().mean())}


def load_diffusion_base(name: str = "addition-diffusion", device: str | torch.device = "cpu",
                        directory: str | Path = DIFFUSION_DIR) -> tuple[DiffusionLM, Task]:
    """``(model, task)`` of a shipped masked-diffusion base (verified, see
    :mod:`polab.lm.checkpoint`); kept in ``checkpoints/diffusion/`` so that the GPT bases'
    :func:`polab.lm.pretrain.shipped_bases` does not list it."""
    path = Path(directory) / f"{name}.pt"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in Path(directory).glob("*.pt"))) or "none"
        raise ValueError(f"no diffusion base {name!r} in {directory}; shipped: {shipped} "
                         "(build it with python -m polab.lm.diffusion_base)")
    model, _, task = load_model(path, DiffusionLM, device)
    return model, task
