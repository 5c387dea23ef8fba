"""Tiny-LM GRPO timings: one GRPO iteration phase by phase, and Prefix Grouper's
shared-prefix forward vs the repeated-prefix forward (time and activation memory).

    python benchmarks/lm_grpo.py [--threads 1] [--iterations 20] [--prompts 64]
                                 [--update-epochs 1] [--device auto] [--profile]
    python benchmarks/lm_grpo.py --json benchmarks/results/lm_grpo.json \
        --results-dir benchmarks/results/claims   # the shipped measurement of issue 19's goal

1. **GRPO iteration** (issue 19's "LM loop") — ``GRPO`` on the shipped addition base at
   ``GRPOConfig``'s defaults except ``update_epochs`` (default here: 1, one Adam step per
   batch) and ``eval_every=0``: ``--prompts`` × 8 completions of 5 new tokens, with Prefix
   Grouper (the default) and without it, the two trainers' steps interleaved. Each phase is
   timed with ``time.perf_counter`` around the trainer's hooks (:class:`PhaseTimer`):
   prompts, generation, reward, advantages, loss forward, backward, optimiser, metrics and
   Python/other; medians over ``--iterations`` steps after 2 warm-up ones, in ms and as a
   share of the median total, then the step's CPU time and the fastest step. Goal:
   <= 30 ms per iteration at 64 × 8, one thread, Prefix Grouper on (the verdict reads the
   median). Then a "why" line (:func:`kernel_floor`): the step's milliseconds in matrix
   multiplies and attention kernels under torch.profiler, and its matmul FLOPs at this
   machine's best fp32 GEMM rate; ``--profile`` adds the profiler's op table.

   Levers tried for the goal on the 2-core box (one thread, 2026-12-05), none kept but the
   first: fused AdamW (optimiser 1.8 -> 1.3 ms, kept); attention as explicit matmuls instead of
   ``scaled_dot_product_attention`` (decode steps 0.7 -> 0.9-1.1 ms per call, the packed
   scoring 0.8-1.4x: no steady gain); bf16 autocast (loss backward 101 ms against 35);
   ``torch.set_float32_matmul_precision("medium")`` (bf16 GEMMs: 147 ms with Prefix Grouper,
   its 3-D GEMMs take a slow path); the loss's log-probs taken from the sampling forward with
   gradients (one forward fewer, but the backward through five KV-cached decode steps costs
   38 ms against the packed forward's 19); the scoring in 2-16 chunks to stay in cache (no
   gain at 2, slower beyond); ``torch.compile`` of the Prefix Grouper scoring (12.5 s to
   compile; forward + backward 24.3 ms against eager's 23.8).

   Tried next on a 2-core AMD EPYC with AVX512-BF16 (one thread, 2026-12-05; 56-59 ms a step
   there, its fp32 GEMM peak 98 GFLOPS puts the step's matmuls alone at 22 ms), none kept:
   decode-step attention written out (elementwise scores, the softmax as exp / sum, since
   torch's CPU softmax takes 0.36 ms for 2048 rows of 10 keys against 0.07): 0.45 against
   SDPA's 0.85 ms a call alone, but 19.1 against 20.1 ms a rollout in place; a shared-prefix
   (cascade) decode attention that keeps each prompt's keys once: 0.30-0.47 ms a call alone,
   so at most ~2 ms a rollout; the two-set scoring with that softmax: 6.3-7.3 ms per layer
   forward + backward against the packed SDPA's 4.2-4.6; bf16 autocast: 105 ms a step against
   58, although a bf16 GEMM runs at 211 GFLOPS there; skipping the groups whose advantages are
   all zero (exact when ``beta = 0`` and no entropy bonus): 64 % of the groups carry signal
   from the shipped base, so at most a third of the loss forward + backward, and the loss
   metrics would then average over fewer tokens.
2. **Prefix Grouper** — forward + backward of a GRPO-like loss (per-token log-probs times
   random weights) over ``P`` prompts × ``G`` suffixes, grouped vs repeated, for a long
   prefix (256 / 16 / G = 8, the card's case) and the addition task's short one (9 / 5 /
   G = 8). Time: median of ``--repeats``. Memory: bytes of the activations autograd saves for
   the backward pass (``torch.autograd.graph.saved_tensors_hooks``, parameters excluded) —
   on the CPU there is no allocator high-water mark to read; on CUDA the peak allocated
   memory is printed too. Beside them the analytic ratios of ``forward_cost``: tokens through
   the token-wise layers and query-key pairs in attention.

Every run prints the machine (device, torch, threads, CPUs, load average). ``--json`` saves
both sections' numbers; the claims file (``build/results/lm_grpo.json``, ``--results-dir``
elsewhere; ``--claims-from`` rebuilds it from a saved ``--json``) holds issue 19's goal once per
thread count of section 1, with the median ms with and without Prefix Grouper.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.group.prefix_grouper import (
    forward_cost,
    prefix_grouped_logprobs,
    repeated_prefix_samples,
)
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.device import describe, pick_device
from polab.lm.generate import completion_logprobs
from polab.lm.model import GPT, GPTConfig

NAME, ISSUE, GOAL_MS = "lm_grpo", 19, 30.0
"""Issue 19's goal: one GRPO iteration (64 x 8, Prefix Grouper on) in <= 30 ms, median."""


def met(on_seconds: float) -> bool:
    """Issue 19's criterion on the median seconds of an iteration with Prefix Grouper on."""
    return 1e3 * on_seconds <= GOAL_MS


def claims(res: dict) -> list[Claim]:
    """Issue 19's GRPO-iteration goal per thread count, from a run's results (as read back
    from ``--json``)."""
    out = []
    G = res["G"]
    for threads, r in res["iterations"].items():
        on, off = r["on"], r["off"]
        phases = ", ".join(f"{p} {1e3 * on[p]:.1f}" for p in ("generation", "loss forward",
                                                               "backward", "optimiser"))
        out.append(Claim(
            card="", issue=ISSUE, algorithms=("grpo",), notebook="03_grpo_family",
            claim=f"one GRPO iteration of {res['prompts']} prompts x {G} completions "
                  f"(update_epochs={res['update_epochs']}, Prefix Grouper on) takes <= "
                  f"{GOAL_MS:g} ms on {threads} thread(s)",
            baseline="the same iteration without Prefix Grouper",
            metric=f"ms per iteration, median of {res['iterations_timed']} after 2 warm-up "
                   "ones",
            seeds=(), values={"Prefix Grouper on": (1e3 * on["total"],),
                              "Prefix Grouper off": (1e3 * off["total"],)},
            verdict="met" if met(on["total"]) else "not met",
            note=f"{1e3 * on['total']:.1f} ms ({phases}; CPU time {1e3 * on['cpu']:.1f}, "
                 f"fastest step {1e3 * on['fastest']:.1f}); {res['device']}; load average "
                 f"{r['load']:.2f}" + _floor_note(r.get("floor"))))
    return out


def _floor_note(f: dict | None) -> str:
    if not f:
        return ""
    return (f"; kernels no Python change removes: matmuls {f['matmul_ms']:.1f} + attention "
            f"{f['attention_ms']:.1f} ms per step, the matmuls at {gemm_efficiency(f):.0%} of "
            "this machine's best fp32 GEMM rate")


def gemm_efficiency(f: dict[str, float]) -> float:
    """How close the step's matmuls run to the machine's best fp32 GEMM rate: their FLOPs'
    time at that rate over their measured time (1 = no faster GEMM kernel exists here)."""
    return f["gemm_floor_ms"] / f["matmul_ms"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


PHASES = ("prompts", "generation", "reward", "advantages", "loss forward", "backward",
          "optimiser", "metrics")


class PhaseTimer:
    """Wall-clock seconds per phase of ``GRPO.step()``, from ``time.perf_counter`` around the
    trainer's hooks (instance attributes wrap them; the algorithm's code is unchanged):
    ``build_groups`` (prompts), ``rollout`` (generation), ``compute_rewards`` (reward),
    ``compute_advantages`` + ``select_rows`` + ``token_mask`` (advantages), ``loss`` (loss
    forward: scoring forward + surrogate), ``optimizer.zero_grad`` + ``clip_grad_norm_`` +
    ``optimizer.step`` (optimiser), ``batch_metrics`` (metrics); backward is ``update`` minus
    the loss forward and the optimiser, "Python/other" the step minus every phase. On CUDA
    each phase ends with a synchronise, so it is charged its own kernels."""

    def __init__(self, algo: GRPO, device: torch.device):
        self.device, self.seconds = device, dict.fromkeys(PHASES + ("update",), 0.0)
        wrap = {"build_groups": "prompts", "rollout": "generation", "compute_rewards": "reward",
                "compute_advantages": "advantages", "select_rows": "advantages",
                "token_mask": "advantages", "loss": "loss forward", "update": "update",
                "batch_metrics": "metrics"}
        for method, phase in wrap.items():
            setattr(algo, method, self.timed(getattr(algo, method), phase))
        for method in ("zero_grad", "step"):
            setattr(algo.optimizer, method, self.timed(getattr(algo.optimizer, method),
                                                       "optimiser"))
        self.clip = self.timed(torch.nn.utils.clip_grad_norm_, "optimiser")

    def timed(self, fn: Callable, phase: str) -> Callable:
        def run(*args: Any, **kwargs: Any) -> Any:
            sync(self.device)
            start = time.perf_counter()
            with torch.profiler.record_function(f"phase: {phase}"):
                out = fn(*args, **kwargs)
            sync(self.device)
            self.seconds[phase] += time.perf_counter() - start
            return out
        return run

    def step(self, algo: GRPO) -> dict[str, float]:
        """One ``algo.step()``: ``{phase: seconds}``, with ``total``, ``other`` and ``cpu``
        (the process's CPU seconds over the step: less inflated than wall-clock on a busy
        machine, as long as the step runs on one thread)."""
        self.seconds = dict.fromkeys(self.seconds, 0.0)
        clip, torch.nn.utils.clip_grad_norm_ = torch.nn.utils.clip_grad_norm_, self.clip
        try:
            sync(self.device)
            start, cpu = time.perf_counter(), time.process_time()
            algo.step()
            sync(self.device)
            total, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            torch.nn.utils.clip_grad_norm_ = clip
        s = dict(self.seconds)
        s["backward"] = s.pop("update") - s["loss forward"] - s["optimiser"]
        s["other"] = total - sum(s[p] for p in PHASES)
        s["total"], s["cpu"] = total, cpu
        return s


def grpo_iterations(configs: dict[str, GRPOConfig], device: torch.device, iterations: int
                    ) -> dict[str, dict[str, float]]:
    """Median seconds per phase of ``iterations`` steps of each config (after 2 warm-up
    steps), the configs' steps interleaved so that a change in load hits all alike; plus
    ``fastest``, the quickest step's total (the least disturbed one on a busy machine)."""
    algos = {name: GRPO(c, "addition", device=device) for name, c in configs.items()}
    timers = {name: PhaseTimer(a, device) for name, a in algos.items()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for i in range(iterations + 2):
        for name, algo in algos.items():
            s = timers[name].step(algo)
            if i >= 2:  # warm-up: allocator, kernels
                runs[name].append(s)
    return {name: {**{k: statistics.median(r[k] for r in rs) for k in rs[0]},
                   "fastest": min(r["total"] for r in rs)} for name, rs in runs.items()}


MATMUL_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm")


GEMM_SHAPES = ((2624, 64, 256), (2624, 256, 64), (512, 512, 512))
"""``(m, k, n)`` products timed for the best fp32 GEMM rate: the scoring forward's MLP in and
out (2624 tokens at d = 64) and a square one, which runs nearest the CPU's peak."""


def best_gemm_gflops(m: int, k: int, n: int, device: torch.device, repeats: int = 30) -> float:
    """GFLOPS of the fastest of ``repeats`` ``(m, k) @ (k, n)`` products (the fastest, not the
    median: the rate the kernel reaches when nothing else disturbs it)."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * m * k * n / min(times) / 1e9


def kernel_floor(config: GRPOConfig, device: torch.device, steps: int = 3,
                 table: bool = False) -> dict[str, float]:
    """Why the goal is where it is: ``steps`` steps (after 2 warm-up ones) under
    torch.profiler, and per step the self time of the matrix multiplies (``MATMUL_OPS``) and of
    the attention kernels (``aten::_scaled_dot_product*``) — work no Python-side change
    removes — beside the step's matmul FLOPs (``torch.utils.flop_counter``) and the time they
    need at this machine's best fp32 GEMM rate (the fastest of :data:`GEMM_SHAPES`).
    ``table``: print the profiler's op table too (``--profile``; its rows ``phase: ...`` are
    :class:`PhaseTimer`'s phases)."""
    from torch.utils.flop_counter import FlopCounterMode

    algo = GRPO(config, "addition", device=device)
    timer = PhaseTimer(algo, device)
    for _ in range(2):
        timer.step(algo)
    with torch.profiler.profile() as prof:
        for _ in range(steps):
            timer.step(algo)
    events = prof.key_averages()
    if table:
        print(f"\ntorch.profiler, {steps} steps (Prefix Grouper on), by self CPU time:")
        print(events.table(sort_by="self_cpu_time_total", row_limit=25,
                           max_name_column_width=40))
    ms = {"matmul_ms": 0.0, "attention_ms": 0.0, "profiled_step_ms": 0.0}
    for e in events:
        ms["profiled_step_ms"] += e.self_cpu_time_total
        if e.key in MATMUL_OPS:
            ms["matmul_ms"] += e.self_cpu_time_total
        elif e.key.startswith("aten::_scaled_dot_product"):
            ms["attention_ms"] += e.self_cpu_time_total
    ms = {k: v / 1e3 / steps for k, v in ms.items()}  # µs over all steps -> ms per step
    with FlopCounterMode(display=False) as flops:
        algo.step()
    gflops = max(best_gemm_gflops(m, k, n, device) for m, k, n in GEMM_SHAPES)
    ms["matmul_gflop"] = flops.get_total_flops() / 1e9
    ms["gemm_gflops"] = gflops
    ms["gemm_floor_ms"] = 1e3 * ms["matmul_gflop"] / gflops
    return ms


def print_floor(f: dict[str, float]) -> None:
    print(f"why: under torch.profiler a step (Prefix Grouper on) spends {f['matmul_ms']:.1f} ms "
          f"in matrix multiplies and {f['attention_ms']:.1f} ms in attention kernels, "
          f"{f['matmul_ms'] + f['attention_ms']:.1f} ms of kernels in a "
          f"{f['profiled_step_ms']:.1f} ms step; its {f['matmul_gflop']:.2f} GFLOP of "
          f"matmuls alone take {f['gemm_floor_ms']:.1f} ms at this machine's best fp32 GEMM "
          f"rate ({f['gemm_gflops']:.0f} GFLOPS), so they already run at "
          f"{gemm_efficiency(f):.0%} of it")


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
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="torch threads (each count is one run of section 1)")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--prompts", type=int, default=64, help="prompts per iteration (x 8)")
    parser.add_argument("--update-epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--profile", action="store_true",
                        help="print torch.profiler's op table of 3 steps (Prefix Grouper on)")
    parser.add_argument("--skip-prefix-cases", action="store_true", help="section 1 only")
    parser.add_argument("--json", type=Path, default=None,
                        help="save both sections' numbers to this file")
    args = parse_benchmark_args(parser, NAME, claims, argv)
    device = pick_device(args.device)
    torch.set_num_threads(args.threads[0])
    print(f"torch {torch.__version__}, device {describe(device)}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    G = 8
    base = GRPOConfig(eval_every=0, update_epochs=args.update_epochs,
                      generation_batch_size=args.prompts * G, num_generations=G)
    configs = {"on": base.replace(prefix_grouper=True), "off": base.replace(prefix_grouper=False)}
    saved: dict = {"prompts": args.prompts, "G": G, "update_epochs": args.update_epochs,
                   "iterations_timed": args.iterations, "device": describe(device),
                   "iterations": {}, "prefix_cases": {}}
    for threads in args.threads:
        torch.set_num_threads(threads)
        load = os.getloadavg()[0]
        print(f"\n1. One GRPO iteration: {args.prompts} prompts x {G} completions, "
              f"update_epochs={args.update_epochs}, {threads} thread(s), median of "
              f"{args.iterations} (load {load:.2f})")
        res = grpo_iterations(configs, device, args.iterations)
        saved["iterations"][threads] = {**res, "load": load}
        print(f"{'phase':<14}" + "".join(f"{'PG ' + n + ' ms':>11}{'share':>7}" for n in res))
        for phase in PHASES + ("other", "total"):
            label = "Python/other" if phase == "other" else phase
            print(f"{label:<14}" + "".join(
                f"{1e3 * r[phase]:>11.1f}{100 * r[phase] / r['total']:>6.0f}%" for r in
                res.values()))
        for key, label in (("cpu", "CPU time"), ("fastest", "fastest step")):
            print(f"{label:<14}" + "".join(f"{1e3 * r[key]:>11.1f}{'':>7}"
                                           for r in res.values()))
        on = 1e3 * res["on"]["total"]
        verdict = "met" if met(res["on"]["total"]) else "NOT met"
        print(f"goal <= {GOAL_MS:g} ms (prefix grouper on, {args.prompts} x {G}, "
              f"update_epochs={args.update_epochs}, {threads} thread(s)): {on:.1f} ms, "
              f"{verdict}; without Prefix Grouper {1e3 * res['off']['total']:.1f} ms")
        floor = kernel_floor(configs["on"], device, table=args.profile)
        saved["iterations"][threads]["floor"] = floor
        print_floor(floor)
    if not args.skip_prefix_cases:
        saved["prefix_cases"] = prefix_cases(args, device)
    save_run(NAME, saved, claims, args)


def prefix_cases(args: argparse.Namespace, device: torch.device) -> dict:
    """Section 2: print the Prefix Grouper cases; their numbers by case."""
    out = {}
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
        out[case] = {**res, "cost": cost}
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
          "analytic ratios of forward_cost (the grouped forward packs one row per prompt at "
          "both sizes, prefix_grouped_logits, and so scores (Lp + G·Ls)² pairs)")
    return out


if __name__ == "__main__":
    main()
