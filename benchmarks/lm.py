"""Tiny-LM benchmarks: sampling with a KV cache vs re-running the full forward every step.

    python benchmarks/lm.py [--batch 512] [--new-tokens 5 9 16 32] [--threads 2] [--device auto]
    python benchmarks/lm.py --threads 1 --new-tokens 5 9 16 32 \
        --json benchmarks/results/lm.json --results-dir benchmarks/results/claims  # shipped

The model has the shipped addition base's size (2 layers, d = 64, 4 heads) with a context
long enough for a 3-digit prompt plus ``--new-tokens`` tokens, randomly initialised; no token
counts as ``<eos>`` (``eos_id=-1``), so every row generates to the last step. Both
samplers draw the same tokens from the same seed (tests/test_lm_generate.py checks it); the
naive one re-encodes the whole sequence at every step, so its cost grows quadratically with
the completion length. Prints tokens/s (median of ``--repeats`` runs after a warm-up) side by
side with the ratio, the device, the thread count and the torch version.

Two layouts of the ``--batch`` rows (``--groups``): ``1``, every row its own prompt, and ``8``,
``batch / 8`` prompts × 8 completions as GRPO and the other group trainers sample them
(``generate(..., num_return_sequences=8)``): there the cache also lets each prompt be encoded
once for its 8 completions, while the full-forward sampler re-encodes all rows every step.
The token counts bound each ratio (:func:`token_bound`): at 5 new tokens after a 9-token
prompt, 4.2x with distinct prompts and 10.7x in groups of 8.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from polab.claims import Claim, parse_benchmark_args, save_run
from polab.device import describe, pick_device
from polab.lm.generate import generate
from polab.lm.model import GPT, GPTConfig
from polab.lm.tasks import AdditionTask

NAME, ISSUE, GOAL = "lm", 19, 5.0
"""The goal: KV-cache sampling >= 5x the full-forward sampler's tokens/s (issue 19)."""


def token_bound(prompt: int, new_tokens: int, group: int = 1) -> float:
    """The ratio the token counts alone allow: tokens the naive sampler encodes per row over
    those the KV-cache sampler encodes (its prompt once per ``group`` rows)."""
    naive = new_tokens * prompt + new_tokens * (new_tokens - 1) / 2
    return naive / (prompt / group + new_tokens - 1)


def layout(res: dict, group: int) -> str:
    if group == 1:
        return f"{res['batch']} distinct prompts"
    return f"{res['batch'] // group} prompts x {group} completions, as the group trainers sample"


def claims(res: dict) -> list[Claim]:
    """Issue 19's KV-cache goal at each measured length, from a run's results (as read back
    from ``--json``)."""
    out = []
    for g, lengths in res["layouts"].items():
        for n, r in lengths.items():
            ratio = r["kv"] / r["naive"]
            out.append(Claim(
                card="", issue=ISSUE, algorithms=(), notebook="03_grpo_family",
                claim=f"KV-cache sampling is >= {GOAL:g}x the full-forward sampler at {n} new "
                      f"tokens ({layout(res, int(g))})",
                baseline="re-running the full forward at every step",
                metric=f"tokens/s, batch {res['batch']}, prompt {res['prompt']} tokens, median "
                       f"of {res['repeats']}",
                seeds=(), values={"KV cache": (r["kv"],), "full forward": (r["naive"],)},
                verdict="met" if ratio >= GOAL else "not met",
                note=f"{ratio:.1f}x (the token counts bound it by "
                     f"{token_bound(res['prompt'], int(n), int(g)):.1f}x); {res['device']}, "
                     f"load average {r['load']:.2f}"))
    return out


def time_generation(model: GPT, prompt_ids: torch.Tensor, new_tokens: int, kv_cache: bool,
                    group: int = 1) -> float:
    """Seconds to sample ``new_tokens`` tokens, ``group`` completions of every prompt
    (seed 0)."""
    device = prompt_ids.device
    gen = torch.Generator(device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = generate(model, prompt_ids, max_new_tokens=new_tokens, eos_id=-1, pad_id=0,
                   temperature=1.0, generator=gen, kv_cache=kv_cache,
                   num_return_sequences=group)
    if device.type == "cuda":
        torch.cuda.synchronize()
    assert out.completion_ids.shape[1] == new_tokens
    return time.perf_counter() - start


def generation_tokens_per_s(model: GPT, prompt_ids: torch.Tensor, new_tokens: int,
                            repeats: int, group: int = 1) -> dict[str, float]:
    """Median tokens/s of both samplers; runs alternate (KV, naive, KV, ...) so that a change
    in machine load hits both alike; one warm-up run each first."""
    times: dict[str, list[float]] = {"kv": [], "naive": []}
    for i in range(repeats + 1):
        for name in times:
            seconds = time_generation(model, prompt_ids, new_tokens, kv_cache=name == "kv",
                                      group=group)
            if i:
                times[name].append(seconds)
    tokens = prompt_ids.shape[0] * group * new_tokens
    return {name: tokens / statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, nargs="+", default=[5, 9, 16, 32],
                        help="completion lengths, each one a measurement (default: the "
                             "lengths the chapters use, issue 19's goal)")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 8],
                        help="completions per prompt, each one a layout of the batch (1: "
                             "distinct prompts; 8: GRPO's groups)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None,
                        help="save the tokens/s per length to this file")
    args = parse_benchmark_args(parser, NAME, claims, argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    task = AdditionTask(eval_size=0)
    problems = task.sample_prompts(args.batch, torch.Generator().manual_seed(0))
    prompt_ids, _ = task.encode_prompts(problems, device)
    print(f"torch {torch.__version__}, device {describe(device)}, "
          f"torch.get_num_threads() = {torch.get_num_threads()}")
    res: dict = {"batch": args.batch, "prompt": prompt_ids.shape[1], "repeats": args.repeats,
                 "device": describe(device), "layouts": {}}
    for group in args.groups:
        if args.batch % group:
            parser.error(f"--batch {args.batch} is not a multiple of --groups {group}")
        res["layouts"][group] = {}
        for new_tokens in args.new_tokens:
            torch.manual_seed(0)
            config = GPTConfig(vocab_size=task.tokenizer.vocab_size,
                               block_size=prompt_ids.shape[1] + new_tokens)
            model = GPT(config).to(device).eval()
            print(f"model: {config.n_layer} layers, d={config.n_embd}, {model.num_params()} "
                  f"parameters; {layout(res, group)}, prompt {prompt_ids.shape[1]} tokens, "
                  f"{new_tokens} new tokens, median of {args.repeats}")
            speed = generation_tokens_per_s(model, prompt_ids[:args.batch // group],
                                            new_tokens, args.repeats, group)
            kv, naive = speed["kv"], speed["naive"]
            load = os.getloadavg()[0]
            res["layouts"][group][new_tokens] = {"kv": kv, "naive": naive, "load": load}
            print(f"{'sampler':<28}{'tokens/s':>12}")
            print(f"{'KV cache':<28}{kv:>12,.0f}")
            print(f"{'naive (full forward/step)':<28}{naive:>12,.0f}")
            print(f"KV-cache speed-up: {kv / naive:.1f}x (acceptance: >= {GOAL:g}x: "
                  f"{'met' if kv / naive >= GOAL else 'NOT met'}; the token counts bound it by "
                  f"{token_bound(prompt_ids.shape[1], new_tokens, group):.1f}x) load average "
                  f"{load:.2f}", flush=True)
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
