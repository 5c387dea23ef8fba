"""The shipped base checkpoints: their recipes, ``load_base``, and the script that rebuilds them.

``python -m polab.lm.pretrain`` retrains every base listed in :data:`RECIPES` from its fixed
seeds on the CPU (one thread by default, so the floating-point reductions, and hence the
weights, are the same on every run), evaluates it on its task's held-out set, saves it under
``polab/lm/checkpoints/<name>.pt`` and prints the numbers next to the shipped file's. Files are
written atomically with a SHA-256 of their content and verified when loaded
(``polab.lm.checkpoint``): a corrupt, truncated or foreign file is a named error.

The addition base is the starting point of chapter 03's RL. SFT stops once greedy pass@1 on a
validation set reaches 30% (held-out greedy pass@1 lands in 25-40%); sampling at T = 1 then
gives a spread of per-prompt success rates (about a fifth of the prompts never solved, a few
always), so RL has signal and GRPO has degenerate groups to show. Stopping by a measured
accuracy, not a step count, keeps the base in the band on machines whose floating-point
rounding differs (the base checkpoint dominates the outcome). Taught in
notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from polab.lm.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from polab.lm.evaluate import evaluate
from polab.lm.model import GPT, GPTConfig
from polab.lm.sft import SFT, SFTConfig
from polab.lm.tasks import Task, make_task, mixture
from polab.lm.tokenizer import CharTokenizer
from polab.train import train

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
VOCAB_SIZE = CharTokenizer().vocab_size


@dataclass(frozen=True)
class BaseRecipe:
    """How one base checkpoint is made: the RL task it serves, the SFT data mix, the model
    size and the SFT hyperparameters. SFT stops at the first multiple of ``check_every``
    steps where greedy pass@1 on ``validation_size`` fresh problems (drawn from their own
    seed, never from the held-out set) reaches ``stop_at``, or after ``max_steps``."""

    task: dict[str, Any]
    curriculum: tuple[tuple[dict[str, Any], float], ...]  # (task spec, share of each batch)
    model: GPTConfig
    sft: SFTConfig
    stop_at: float
    max_steps: int
    check_every: int = 10
    validation_size: int = 512
    validation_seed: int = 99


RECIPES = {
    # 2 layers, d = 64 (~106k parameters). SFT batches: 60% sums of two 2-digit numbers, 10% of
    # two 1-digit numbers, 30% of two 3-digit numbers (never a held-out pair). With this mix the
    # 3-digit accuracy jumps from ~5% to ~60% between steps ~600 and ~850; SFT stops on the
    # way up, at ~30%, where GRPO gains 20 points in ~100 iterations (a mix with more 1-digit
    # sums instead plateaus at 25-30% for hundreds of steps, and GRPO gains ~10 points in 400).
    "addition": BaseRecipe(
        task={"name": "addition", "digits": 3},
        curriculum=(({"name": "addition", "digits": 2, "eval_size": 0}, 0.6),
                    ({"name": "addition", "digits": 1, "eval_size": 0}, 0.1),
                    ({"name": "addition", "digits": 3}, 0.3)),
        model=GPTConfig(vocab_size=VOCAB_SIZE, block_size=32, n_layer=2, n_head=4, n_embd=64),
        sft=SFTConfig(seed=0, batch_size=256, learning_rate=3e-3),
        stop_at=0.30,
        max_steps=2000,
    ),
    # Chapter 14's ScaleRL base: the addition base's model and mix with the sum's digits
    # reversed (least significant first), so each answer digit needs only its column and the
    # carry just written; SFT stops on the way up, at 30 %, where RL's curve bends within
    # seconds instead of still rising after minutes (issue 18).
    "addition-reverse": BaseRecipe(
        task={"name": "addition", "digits": 3, "reverse": True},
        curriculum=(({"name": "addition", "digits": 2, "eval_size": 0, "reverse": True}, 0.6),
                    ({"name": "addition", "digits": 1, "eval_size": 0, "reverse": True}, 0.1),
                    ({"name": "addition", "digits": 3, "reverse": True}, 0.3)),
        model=GPTConfig(vocab_size=VOCAB_SIZE, block_size=32, n_layer=2, n_head=4, n_embd=64),
        sft=SFTConfig(seed=0, batch_size=256, learning_rate=3e-3),
        stop_at=0.30,
        max_steps=2000,
    ),
    # Chapter 04's base: a scratchpad ("<scratch>3+4=7;2+9=11;…</scratch>") for 1–6-digit
    # operands, so completions run 9–63 tokens: a sure format and a few unsure digit tokens.
    # Same size as the addition base; SFT stops at 30% greedy pass@1 on the way up (the
    # climb is steep here: 20 steps take validation from under 35% to 41%).
    "addition-scratch": BaseRecipe(
        task={"name": "addition", "digits": 6, "min_digits": 1, "scratchpad": True},
        curriculum=(({"name": "addition", "digits": 6, "min_digits": 1, "scratchpad": True},
                     1.0),),
        model=GPTConfig(vocab_size=VOCAB_SIZE, block_size=80, n_layer=2, n_head=4, n_embd=64),
        sft=SFTConfig(seed=0, batch_size=128, learning_rate=3e-3),
        stop_at=0.30,
        max_steps=4000,
    ),
}


def recipe_for(name: str) -> BaseRecipe:
    """The recipe of base ``name``; a ``ValueError`` listing the known names otherwise."""
    if name not in RECIPES:
        raise ValueError(f"no recipe for base {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def sft_to_band(name: str, recipe: BaseRecipe, model: torch.nn.Module, sft_cls: type,
                evaluate_fn: Callable[..., dict[str, float]], progress: bool = True
                ) -> tuple[Task, dict[str, Any]]:
    """Train ``model`` in place by ``sft_cls`` (:class:`SFT` or a subclass) on ``recipe``'s
    data mix until greedy pass@1 on its validation set (``evaluate_fn(model, task,
    problems)``) reaches ``stop_at`` (checked every ``check_every`` steps) or ``max_steps``;
    return the task and SFT facts. Shared by the GPT bases and the masked-diffusion ones."""
    tokenizer = CharTokenizer()
    task = make_task(recipe.task, tokenizer)
    parts = [(make_task(spec, tokenizer), share) for spec, share in recipe.curriculum]
    sft = sft_cls(recipe.sft, task, device="cpu", model=model, sample=partial(mixture, parts))
    validation = task.sample_prompts(recipe.validation_size,
                                     torch.Generator().manual_seed(recipe.validation_seed))
    found: dict[str, float] = {}

    def stop_rule(record: dict[str, float]) -> bool:
        step = int(record["iteration"]) + 1
        if step % recipe.check_every:
            return False
        found["validation_pass@1"] = evaluate_fn(model, task, validation)["pass@1"]
        return found["validation_pass@1"] >= recipe.stop_at

    history = train(sft, recipe.max_steps, [stop_rule], progress=progress, desc=f"SFT {name}")
    return task, {"sft_steps": float(len(history)), **found,
                  "final_loss": history.last("loss"), "sft_seconds": history.last("time")}


def pretrain(name: str, progress: bool = True) -> tuple[GPT, Task, dict[str, Any]]:
    """Train base ``name`` from its recipe; return the model, its task and SFT facts."""
    recipe = recipe_for(name)
    torch.manual_seed(recipe.sft.seed)
    model = GPT(recipe.model)
    task, facts = sft_to_band(name, recipe, model, SFT, evaluate, progress)
    return model, task, facts


def base_metrics(model: GPT, task: Task) -> dict[str, float]:
    """Held-out greedy pass@1, and sampled pass@1 with 16 samples at T = 1 (seed 0) with the
    shares of prompts solved 0/16 and 16/16 times."""
    greedy = evaluate(model, task)
    sampled = evaluate(model, task, samples=16, temperature=1.0,
                       generator=torch.Generator().manual_seed(0))
    return {"greedy_pass@1": greedy["pass@1"], "sampled_pass@1": sampled["pass@1"],
            "frac_0_of_16": sampled["frac_all_wrong"], "frac_16_of_16": sampled["frac_all_right"]}


def save_base(path: str | Path, model: GPT, task: Task, metrics: dict[str, float]) -> Path:
    """Write a base checkpoint atomically, with its metrics and their SHA-256."""
    return write_checkpoint(path, {"model_config": model.config.to_dict(),
                                   "model": model.state_dict(),
                                   "tokenizer": task.tokenizer.state_dict(),
                                   "task": task.spec(), "metrics": metrics})


def shipped_bases(directory: str | Path = CHECKPOINT_DIR) -> list[str]:
    """The names of the base checkpoints in ``directory`` (``addition`` ships with polab)."""
    return sorted(p.stem for p in Path(directory).glob("*.pt"))


def load_base(name: str = "addition", device: str | torch.device = "cpu",
              directory: str | Path = CHECKPOINT_DIR) -> tuple[GPT, CharTokenizer, Task]:
    """``(model, tokenizer, task)`` of a shipped base checkpoint (e.g. ``"addition"``)."""
    path = Path(directory) / f"{name}.pt"
    if not path.is_file():
        raise ValueError(f"no base checkpoint {name!r} in {directory}; shipped: "
                         f"{', '.join(shipped_bases(directory)) or 'none'} (build others with "
                         "python -m polab.lm.pretrain NAME)")
    return load_model(path, GPT, device)


def load_model(path: Path, model_cls: type[GPT], device: str | torch.device = "cpu"
               ) -> tuple[GPT, CharTokenizer, Task]:
    """``(model, tokenizer, task)`` from the verified checkpoint at ``path``, the model built as
    ``model_cls`` (:class:`GPT` or a subclass such as the masked-diffusion LM); bytes that
    verify but do not describe such a model are a :class:`CheckpointError`."""
    state = read_checkpoint(path, map_location=device)
    try:
        tokenizer = CharTokenizer.from_state_dict(state["tokenizer"])
        model = model_cls(GPTConfig(**state["model_config"]))
        model.load_state_dict(state["model"])
        task = make_task(state["task"], tokenizer)
    except Exception as err:  # verified bytes that do not describe a model polab can build
        raise CheckpointError(path, f"does not fit polab's {model_cls.__name__} "
                                    f"({type(err).__name__}: "
                                    f"{str(err).strip().splitlines()[0][:200]})") from None
    return model.to(device).eval(), tokenizer, task


def shipped_metrics(name: str, directory: str | Path = CHECKPOINT_DIR) -> dict[str, float]:
    """The numbers recorded in a shipped checkpoint when it was made (verified)."""
    return read_checkpoint(Path(directory) / f"{name}.pt")["metrics"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=list(RECIPES),
                        help=f"bases to rebuild (default: all of {', '.join(sorted(RECIPES))})")
    parser.add_argument("--out", default=str(CHECKPOINT_DIR), help="output directory")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (the shipped files were made with 1)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        parser.error(f"no recipe for {', '.join(map(repr, unknown))}; "
                     f"known: {', '.join(sorted(RECIPES))}")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for name in args.names:
        start = time.perf_counter()
        model, task, info = pretrain(name)
        metrics = {**base_metrics(model, task), **info}
        shipped = CHECKPOINT_DIR / f"{name}.pt"
        old = _shipped_or_none(shipped)
        path = save_base(Path(args.out) / f"{name}.pt", model, task, metrics)
        print(f"{name}: saved {path} ({path.stat().st_size / 1e3:.0f} kB, "
              f"{model.num_params()} parameters) in {time.perf_counter() - start:.0f} s")
        for key, value in metrics.items():
            shipped_value = None if old is None else old["metrics"].get(key)
            before = "" if shipped_value is None else f"   (shipped: {shipped_value:.4f})"
            print(f"  {key:>16} = {value:.4f}{before}")
        if old is not None:
            same = all(torch.equal(v, old["model"][k]) for k, v in model.state_dict().items())
            print(f"  weights identical to the shipped checkpoint: {'yes' if same else 'no'}")


def _shipped_or_none(path: Path) -> dict[str, Any] | None:
    """The shipped checkpoint to compare with, or None (missing or unreadable: said)."""
    if not path.exists():
        return None
    try:
        return read_checkpoint(path)
    except CheckpointError as err:
        print(f"  (not comparing with the shipped file: {err})")
        return None


if __name__ == "__main__":
    main()
