"""Checker of BGPO's exercise (card 41, widget ``objective``): which objectives keep the memory
of an update flat as ``n_mc`` grows — measured, not assumed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from polab.algos.diffusion.memory import peak_saved_bytes
from polab.algos.diffusion.objectives import OBJECTIVES, backward_objective
from polab.core.exercises import Check, judge_prediction
from polab.lm.diffusion import (
    answer_len,
    elbo_term,
    elbo_terms,
    encode,
    load_diffusion_base,
    sample_masks,
)


def memory_ratios(n_small: int = 2, n_large: int = 8, rows: int = 16, seed: int = 0
                  ) -> dict[str, float]:
    """Per objective, the peak bytes autograd saves during one update at ``n_large`` MC
    samples divided by those at ``n_small`` (the shipped base, ``rows`` reference answers,
    parameters excluded)."""
    model, task = load_diffusion_base()
    g = torch.Generator().manual_seed(seed)
    L = answer_len(task)
    prompt, answer = encode(task, task.sample_prompts(rows, g), L)
    adv = torch.randn(rows, generator=g)

    def peak(objective: str, n: int) -> int:
        t, masked = sample_masks(rows, L, n, g)
        with torch.no_grad():
            old = elbo_terms(model, prompt, answer, t, masked)
        return peak_saved_bytes(lambda: backward_objective(
            objective, lambda j: elbo_term(model, prompt, answer, t[j], masked[j]), old, adv),
            exclude=model.parameters())[1]

    return {obj: peak(obj, n_large) / peak(obj, n_small) for obj in OBJECTIVES}


def check_flat_memory_answer(prediction: Iterable[str], ratios: Mapping[str, float],
                             tol: float = 0.1) -> Check:
    """The learner names the objectives whose memory stays flat (ratio within ``tol`` of 1)
    when n_mc grows; ``ratios`` from :func:`memory_ratios`."""
    answer = {str(p) for p in prediction}
    unknown = answer - set(OBJECTIVES)
    if unknown:
        return Check(False, f"{sorted(unknown)}: name objectives among {list(OBJECTIVES)}")
    flat = {obj for obj, r in ratios.items() if abs(r - 1.0) <= tol}
    facts = ("Saved bytes at the larger n_mc ÷ at the smaller: "
             + ", ".join(f"{obj} {r:.2f}×" for obj, r in ratios.items()) + ". ")
    return judge_prediction(
        sorted(answer), sorted(flat), facts, expected=["bgpo", "naive"],
        wrong="Memory is flat exactly for the objectives that are a SUM of per-sample terms: "
              "each sample's term is backpropagated alone and its graph freed. BGPO's bound "
              "and the naive line both are; the exact ratio exp(mean δ) couples all samples.",
        right="Right: any sum over samples can be accumulated one backward at a time — the "
              "naive line too. What BGPO adds is not the flat memory but a sum that is a "
              "lower bound of the objective with the same on-policy gradient.",
        surprise="Right for these measurements, though unusual.")
