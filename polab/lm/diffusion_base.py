"""Masked-diffusion SFT and the shipped ``addition-diffusion`` base (rebuilt by
``python -m polab.lm.diffusion_base``).

**SFT.** Each step draws fresh problems, masks each answer token with probability t ~ U(ε, 1]
(one t per row; the prompt is never masked) and maximises the length-normalised ELBO term
(1/(t L)) Σ_{k masked} log p_θ(y_k | x, y_t) — LLaDA's SFT loss, the negative of
:func:`polab.lm.diffusion.elbo_terms` with one MC sample. :class:`DiffusionSFT` reuses
:class:`polab.lm.sft.SFT` (optimizer, clipping, state) and changes only the loss.

**The base.** Like the GPT bases of :mod:`polab.lm.pretrain`, SFT stops on a *measured*
validation accuracy (greedy :func:`~polab.lm.diffusion.denoise` with one token a step, on
fresh problems from their own seed, never the held-out set), so the shipped base lands at a
held-out greedy pass@1 in 25-40%: the starting point of BGPO (card 41). It is saved under
``checkpoints/diffusion/`` with the same verified format (:mod:`polab.lm.checkpoint`), so
``polab.lm.pretrain.shipped_bases()`` (the GPT bases) does not list it. One thread and fixed
seeds: the same weights on every run on the same machine. Taught in
notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from polab.lm.checkpoint import write_checkpoint
from polab.lm.diffusion import (
    DIFFUSION_DIR,
    DiffusionLM,
    answer_len,
    elbo_terms,
    encode,
    evaluate_diffusion,
    sample_masks,
)
from polab.lm.model import GPTConfig
from polab.lm.pretrain import VOCAB_SIZE, BaseRecipe, _shipped_or_none, sft_to_band
from polab.lm.sft import SFT, SFTConfig
from polab.lm.tasks import Problems, Task

RECIPES = {
    # 2 layers, d = 64 (~106k parameters), bidirectional; answers of 3-digit sums padded
    # with <eos> to L = 5. SFT stops once validation greedy pass@1 (L denoising steps)
    # reaches 30%, on the way up.
    "addition-diffusion": BaseRecipe(
        task={"name": "addition", "digits": 3},
        curriculum=(({"name": "addition", "digits": 2, "eval_size": 0}, 0.6),
                    ({"name": "addition", "digits": 1, "eval_size": 0}, 0.1),
                    ({"name": "addition", "digits": 3}, 0.3)),
        model=GPTConfig(vocab_size=VOCAB_SIZE + 1, block_size=16, n_layer=2, n_head=4,
                        n_embd=64),
        sft=SFTConfig(seed=0, batch_size=256, learning_rate=3e-3),
        stop_at=0.30,
        max_steps=3000,
    ),
}


class DiffusionSFT(SFT):
    """Masked-diffusion SFT: :class:`polab.lm.sft.SFT` with the ELBO loss of the module doc.

    ``model`` defaults to a fresh :class:`DiffusionLM` of the default size; ``sample``
    (default ``task.sample_prompts``) may mix easier tasks, whose prompts are padded to
    ``task``'s fixed length."""

    def __init__(self, config: SFTConfig, task: Task, device: str | torch.device | None = None,
                 model: DiffusionLM | None = None,
                 sample: Callable[[int, torch.Generator], Problems] | None = None,
                 eps: float = 1e-3):
        if model is None:
            torch.manual_seed(config.seed)
            model = DiffusionLM.for_tokenizer(task.tokenizer.vocab_size, block_size=16)
        super().__init__(config, task, device, model, sample)
        self.answer_len, self.eps = answer_len(task), eps

    def step(self) -> dict[str, float]:
        cfg = self.config
        prompts, answers = encode(self.task, self.sample(cfg.batch_size, self.generator),
                                  self.answer_len, self.device)
        t, masked = sample_masks(len(prompts), self.answer_len, 1, self.generator, self.eps,
                                 self.device)
        loss = -elbo_terms(self.model, prompts, answers, t, masked, normalize=True).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.global_step += cfg.batch_size
        return {"loss": loss.item(), "masked_fraction": masked.float().mean().item()}


def pretrain_diffusion(name: str, progress: bool = True
                       ) -> tuple[DiffusionLM, Task, dict[str, float]]:
    """Train diffusion base ``name`` from its recipe; return the model, its task and SFT facts."""
    if name not in RECIPES:
        raise ValueError(f"no recipe for diffusion base {name!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    torch.manual_seed(recipe.sft.seed)
    model = DiffusionLM(recipe.model)
    task, facts = sft_to_band(name, recipe, model, DiffusionSFT, evaluate_diffusion, progress)
    return model, task, facts


def diffusion_metrics(model: DiffusionLM, task: Task) -> dict[str, float]:
    """Held-out greedy pass@1 with 1, 2 and L denoising steps, and sampled pass@1 (16 samples
    at T = 1, seed 0, L steps) with the shares of prompts solved 0/16 and 16/16 times."""
    L = answer_len(task)
    out = {f"greedy_pass@1_steps{s}": evaluate_diffusion(model, task, steps=s)["pass@1"]
           for s in (1, 2, L)}
    sampled = evaluate_diffusion(model, task, samples=16, temperature=1.0,
                                 generator=torch.Generator().manual_seed(0))
    return {"greedy_pass@1": out[f"greedy_pass@1_steps{L}"], **out,
            "sampled_pass@1": sampled["pass@1"], "frac_0_of_16": sampled["frac_all_wrong"],
            "frac_16_of_16": sampled["frac_all_right"]}


def save_diffusion_base(path: str | Path, model: DiffusionLM, task: Task,
                        metrics: dict[str, float]) -> Path:
    """Write a diffusion base checkpoint atomically, with its metrics and their SHA-256."""
    return write_checkpoint(path, {"model_config": model.config.to_dict(),
                                   "model": model.state_dict(),
                                   "tokenizer": task.tokenizer.state_dict(),
                                   "task": task.spec(), "metrics": metrics})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=list(RECIPES), help="bases to rebuild")
    parser.add_argument("--out", default=str(DIFFUSION_DIR), help="output directory")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (the shipped file was made with 1)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        parser.error(f"no recipe for {', '.join(map(repr, unknown))}; known: {', '.join(RECIPES)}")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for name in args.names:
        start = time.perf_counter()
        model, task, info = pretrain_diffusion(name)
        metrics: dict[str, Any] = {**diffusion_metrics(model, task), **info}
        old = _shipped_or_none(DIFFUSION_DIR / f"{name}.pt")
        path = save_diffusion_base(Path(args.out) / f"{name}.pt", model, task, metrics)
        print(f"{name}: saved {path} ({path.stat().st_size / 1e3:.0f} kB, "
              f"{model.num_params()} parameters) in {time.perf_counter() - start:.0f} s")
        for key, value in metrics.items():
            shipped = None if old is None else old["metrics"].get(key)
            print(f"  {key:>22} = {value:.4f}" + ("" if shipped is None
                                                   else f"   (shipped: {shipped:.4f})"))


if __name__ == "__main__":
    main()
