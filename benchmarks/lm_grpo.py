"""Tiny-LM GRPO timings: one GRPO iteration at the defaults, and Prefix Grouper's
shared-prefix forward vs the repeated-prefix forward (time and activation memory).

    python benchmarks/lm_grpo.py [--threads 1 2] [--iterations 12] [--device auto]

1. **GRPO iteration** — ``GRPO(GRPOConfig())`` on the shipped addition base: 64 prompts × 8
   completions, 2 updates per batch; median wall and CPU seconds per ``step()`` over
   ``--iterations`` iterations after 2 warm-up ones, with the generation share; with
   Prefix Grouper (the default) and without it. Acceptance: <= 1 s per iteration.
2. **Prefix Grouper** — forward + backward of a GRPO-like loss (per-token log-probs times
   random weights) over ``P`` prompts × ``G`` suffixes, grouped vs repeated, for a long
   prefix (256 / 16 / G = 8, the card's case) and the addition task's short one (9 / 5 /
   G = 8). Time: median of ``--repeats``. Memory: bytes of the activations autograd saves for
   the backward pass (``torch.autograd.graph.saved_tensors_hooks``, parameters excluded) —
   on the CPU there is no allocator high-water mark to read; on CUDA the peak allocated
   memory is printed too. Beside them the analytic ratios of ``forward_cost``: tokens through
   the token-wise layers and query-key pairs in attention.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.group.prefix_grouper import (
    forward_cost,
    prefix_grouped_logprobs,
    repeated_prefix_samples,
)
from polab.device import describe, pick_device
from polab.lm.generate import completion_logprobs
from polab.lm.model import GPT, GPTConfig


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def grpo_iteration(config: GRPOConfig, device: torch.device, iterations: int) -> dict:
    algo = GRPO(config, "addition", device=device)
    walls, cpus, gens = [], [], []
    for i in range(iterations + 2):
        sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        m = algo.step()
        sync(device)
        if i >= 2:  # warm-up: allocator, kernels
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            gens.append(m["time/generate_s"])
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus),
            "generate": statistics.median(gens)}


def saved_activation_bytes(model: GPT, fn) -> tuple[float, int]:
    """``(seconds, bytes)`` of ``fn()`` (a forward returning a loss) plus its backward; the
    bytes are those of the distinct tensors autograd saved, parameters excluded."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        start = time.perf_counter()
        fn().backward()
    return time.perf_counter() - start, sum(seen.values())


def prefix_case(model: GPT, P: int, G: int, Lp: int, Ls: int, repeats: int,
                device: torch.device) -> dict:
    gen = torch.Generator().manual_seed(0)
    V = model.config.vocab_size
    prefix = torch.randint(1, V, (P, Lp), generator=gen).to(device)
    mask = torch.ones(P, Lp, dtype=torch.bool, device=device)
    suffix = torch.randint(1, V, (P, G, Ls), generator=gen).to(device)
    weights = torch.randn(P, G, Ls, generator=gen).to(device)
    samples = repeated_prefix_samples(prefix, mask, suffix)

    def repeated() -> torch.Tensor:
        return (completion_logprobs(model, samples)[0] * weights.view(P * G, Ls)).sum()

    def grouped() -> torch.Tensor:
        return (prefix_grouped_logprobs(model, prefix, mask, suffix)[0] * weights).sum()

    out = {}
    for name, fn in (("repeated", repeated), ("grouped", grouped)):
        times, nbytes, peak = [], 0, 0
        for i in range(repeats + 1):
            model.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            sync(device)
            seconds, nbytes = saved_activation_bytes(model, fn)
            sync(device)
            if device.type == "cuda":
                peak = torch.cuda.max_memory_allocated(device)
            if i:
                times.append(seconds)
        out[name] = {"seconds": statistics.median(times), "bytes": nbytes, "peak": peak}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    print(f"torch {torch.__version__}, device {describe(device)}")

    print("\n1. One GRPO iteration at the defaults (64 prompts x 8 completions, "
          "update_epochs=2), median of", args.iterations)
    print(f"{'threads':>7} {'prefix_grouper':>14} {'wall s':>7} {'CPU s':>6} {'generate s':>10}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for grouped in (True, False):
            r = grpo_iteration(GRPOConfig(eval_every=0, prefix_grouper=grouped), device,
                               args.iterations)
            print(f"{threads:>7} {str(grouped):>14} {r['wall']:>7.3f} {r['cpu']:>6.3f} "
                  f"{r['generate']:>10.3f}")
    print("acceptance: <= 1 s per iteration")

    torch.set_num_threads(args.threads[0])
    print(f"\n2. Prefix Grouper vs repeated prefix, forward + backward "
          f"({torch.get_num_threads()} thread(s), median of {args.repeats})")
    print(f"{'case':<30} {'mode':<9} {'ms':>8} {'saved MB':>9} {'speed-up':>9} "
          f"{'memory':>7} {'tokens':>7} {'attention':>9}")
    for P, G, Lp, Ls in ((8, 8, 256, 16), (64, 8, 9, 5)):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=61, block_size=Lp + Ls)).to(device)
        res = prefix_case(model, P, G, Lp, Ls, args.repeats, device)
        cost = forward_cost(Lp, Ls, G)
        case = f"P={P} prefix {Lp} suffix {Ls} G={G}"
        for mode in ("repeated", "grouped"):
            r = res[mode]
            ratios = ""
            if mode == "grouped":
                ratios = (f"{res['repeated']['seconds'] / r['seconds']:>8.2f}x "
                          f"{res['repeated']['bytes'] / r['bytes']:>6.2f}x "
                          f"{cost['token_ratio']:>6.2f}x {cost['attention_ratio']:>8.2f}x")
            peak = f" (CUDA peak {r['peak'] / 2**20:.1f} MB)" if r["peak"] else ""
            print(f"{case:<30} {mode:<9} {1e3 * r['seconds']:>8.1f} "
                  f"{r['bytes'] / 2**20:>9.2f} {ratios}{peak}")
    print("speed-up and memory: repeated / grouped (measured); tokens and attention: the "
          "analytic ratios of forward_cost")


if __name__ == "__main__":
    main()
