"""The ε exercise's checker on a correct and a wrong answer, on real ELBO terms."""

from __future__ import annotations

import torch

from polab.algos.diffusion.exercises.dlm import check_eps_answer
from polab.lm.diffusion import answer_len, elbo_terms, encode, load_diffusion_base, sample_masks

torch.set_num_threads(1)


def _terms(eps: float):
    model, task = load_diffusion_base()
    L = answer_len(task)
    prompts, answers = encode(task, task.eval_problems().select(torch.tensor([1])), L)
    t, masked = sample_masks(1, L, 2000, torch.Generator().manual_seed(0), eps=eps)
    with torch.no_grad():
        return elbo_terms(model, prompts, answers, t, masked)[:, 0].numpy()


def test_eps_checker_right_and_wrong():
    small, large = _terms(1e-3), _terms(0.1)
    right = check_eps_answer(small, large, "lower")
    assert right.ok and "caps the 1/t weight" in right.message
    wrong = check_eps_answer(small, large, "higher")
    assert not wrong.ok and "So it is lower, not higher" in wrong.message
    assert not check_eps_answer(small, large, "maybe").ok
    assert "at least 500" in check_eps_answer(small[:10], large, "lower").message
