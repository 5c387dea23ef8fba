"""Batched pass@1 of a model on a task's problems (by default its held-out set).

Greedy (``temperature=0``, one sample) or sampled (``samples`` completions per problem at
``temperature``). Besides ``pass@1`` it reports the share of problems that no sample solved
and that every sample solved — the prompts whose GRPO group has zero reward variance.
Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import torch

from polab.lm.generate import generate
from polab.lm.model import GPT
from polab.lm.tasks import Problems, Task


@torch.no_grad()
def evaluate(model: GPT, task: Task, problems: Problems | None = None, *, samples: int = 1,
             temperature: float = 0.0, generator: torch.Generator | None = None,
             batch_size: int = 4096) -> dict[str, float | torch.Tensor]:
    """``{"pass@1", "frac_all_wrong", "frac_all_right", "successes"}`` on ``problems``.

    ``successes`` is a ``(n_problems,)`` tensor of correct samples per problem; pass@1 is
    their mean divided by ``samples``. Rows are generated ``batch_size`` at a time; the
    generator (seeded 0 if omitted) must live on the model's device.
    """
    problems = task.eval_problems() if problems is None else problems
    device = next(model.parameters()).device
    if generator is None:
        generator = torch.Generator(device).manual_seed(0)
    was_training = model.training
    model.eval()
    reps = problems.repeat(samples)
    rewards = []
    for lo in range(0, len(reps), batch_size):  # over chunks of rows, not single samples
        chunk = reps.select(torch.arange(lo, min(lo + batch_size, len(reps))))
        ids, mask = task.encode_prompts(chunk, device)
        out = generate(model, ids, mask, max_new_tokens=task.max_new_tokens,
                       eos_id=task.tokenizer.eos_id, pad_id=task.tokenizer.pad_id,
                       temperature=temperature, generator=generator)
        rewards.append(task.reward(chunk, out.completion_ids))
    model.train(was_training)
    successes = (torch.cat(rewards).view(len(problems), samples) > 0).sum(1).cpu()
    return {"pass@1": float(successes.sum()) / (len(problems) * samples),
            "frac_all_wrong": float((successes == 0).float().mean()),
            "frac_all_right": float((successes == samples).float().mean()),
            "successes": successes}
