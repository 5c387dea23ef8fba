"""BGPO on the real masked-diffusion LM (card 41, issue 18): the equivalence at θ = θ_old in
double precision, accumulation vs the joint gradient, saved bytes vs n_mc, the trainer."""

import pytest
import torch

from polab.algos.diffusion.bgpo import BGPO, BGPOConfig
from polab.algos.diffusion.memory import peak_saved_bytes
from polab.algos.diffusion.objectives import backward_objective, objective_values
from polab.lm.diffusion import DiffusionLM, elbo_term, elbo_terms, encode, sample_masks
from polab.lm.tasks import make_task
from polab.lm.tokenizer import CharTokenizer

TASK = make_task({"name": "addition", "digits": 3, "eval_size": 64}, CharTokenizer())


def _model(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return DiffusionLM.for_tokenizer(TASK.tokenizer.vocab_size, block_size=16, n_layer=1,
                                     n_head=2, n_embd=32).to(dtype)


def _batch(n_mc, rows=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    problems = TASK.sample_prompts(rows, g)
    prompt, answer = encode(TASK, problems, 5)
    t, masked = sample_masks(rows, 5, n_mc, g)
    adv = torch.randn(rows, generator=g, dtype=torch.float64)
    return prompt, answer, t.double(), masked, adv


def _grad(model, objective, batch, old):
    prompt, answer, t, masked, adv = batch
    model.zero_grad()
    values = backward_objective(objective, lambda j: elbo_term(model, prompt, answer, t[j],
                                                               masked[j]), old, adv, 1 / len(adv))
    return values, torch.cat([p.grad.flatten() for p in model.parameters()])


def test_equivalence_at_theta_old_on_the_diffusion_lm_fp64():
    model, batch = _model(), _batch(n_mc=8)
    with torch.no_grad():
        old = elbo_terms(model, *batch[:4])
    v_exact, g_exact = _grad(model, "exact", batch, old)
    v_bgpo, g_bgpo = _grad(model, "bgpo", batch, old)
    assert ((v_bgpo - v_exact).abs().max() / v_exact.abs().max()) < 1e-5
    assert ((g_bgpo - g_exact).abs().max() / g_exact.abs().max()) < 1e-5
    torch.testing.assert_close(v_exact, batch[4])  # value A_i at δ = 0


def test_accumulation_equals_joint_gradient_on_the_diffusion_lm():
    model, batch = _model(), _batch(n_mc=4)
    with torch.no_grad():  # an off-policy θ_old: perturbed weights
        old_model = _model(seed=1)
        old = elbo_terms(old_model, *batch[:4])
    _, g_acc = _grad(model, "bgpo", batch, old)
    model.zero_grad()
    delta = elbo_terms(model, *batch[:4]) - old
    (-objective_values("bgpo", delta, batch[4]).sum() / len(batch[4])).backward()
    g_joint = torch.cat([p.grad.flatten() for p in model.parameters()])
    torch.testing.assert_close(g_acc, g_joint, rtol=1e-9, atol=1e-12)


def _peak(objective, n_mc):
    model, batch = _model(torch.float32), _batch(n_mc, rows=16)
    prompt, answer, t, masked, adv = batch
    with torch.no_grad():
        old = elbo_terms(model, prompt, answer, t.float(), masked)
    _, peak = peak_saved_bytes(lambda: backward_objective(
        objective, lambda j: elbo_term(model, prompt, answer, t[j].float(), masked[j]), old,
        adv.float()), exclude=model.parameters())
    return peak


def test_saved_bytes_linear_in_n_mc_for_exact_flat_for_bgpo():
    exact = {n: _peak("exact", n) for n in (1, 2, 4, 8)}
    bgpo = {n: _peak("bgpo", n) for n in (1, 2, 4, 8)}
    for n in (2, 4, 8):
        assert exact[n] / exact[1] == pytest.approx(n, rel=0.05)
        assert bgpo[n] / bgpo[1] == pytest.approx(1.0, rel=0.05)


def _run(**kw):
    cfg = BGPOConfig(num_prompts=2, group_size=4, n_mc=2, num_iterations=2, eval_every=2, **kw)
    algo = BGPO(cfg, TASK, model=_model(torch.float32))
    return [algo.step() for _ in range(2)]


def test_trainer_runs_logs_and_repeats():
    a, b = _run(), _run()
    for key in ("reward", "bound_gap", "elbo/variance", "saved_bytes", "eval/pass@1"):
        assert key in a[1]
    strip = [{k: v for k, v in r.items() if not k.startswith("time/")} for r in (a[1], b[1])]
    assert strip[0] == strip[1]  # same seed, same numbers


def test_unshared_masks_make_delta_noise_at_theta_old():
    """Card 41, pitfall 1: on shared masks δ = 0 at θ = θ_old; on independent draws it is MC
    noise of the size of the ELBO's own spread."""
    model = _model()
    prompt, answer, t, masked, _ = _batch(n_mc=8)
    _, _, t2, masked2, _ = _batch(n_mc=8, seed=1)
    with torch.no_grad():
        shared = elbo_terms(model, prompt, answer, t, masked)
        assert (elbo_terms(model, prompt, answer, t, masked) - shared).abs().max() == 0
        assert (elbo_terms(model, prompt, answer, t2.double(), masked2) - shared).std() > 1.0


def _one_update(objective, dtype=torch.float64):
    """One BGPO iteration from a fixed model with random-bit rewards; the gradient of its
    update (Adam's first step, lr·sign(g) where |g| ≫ eps, would magnify rounding in the
    near-zero entries)."""
    algo = BGPO(BGPOConfig(num_prompts=2, group_size=4, n_mc=4, eval_every=0,
                           objective=objective), TASK, model=_model(dtype))
    rollout, g = algo.rollout, torch.Generator().manual_seed(0)

    def noisy_rollout():
        problems, prompt, answer, _ = rollout()
        return problems, prompt, answer, torch.randint(0, 2, (len(prompt),), generator=g).to(dtype)

    algo.rollout = noisy_rollout
    algo.step()
    return torch.cat([p.grad.flatten() for p in algo.model.parameters()])


def test_reduction_on_policy_bgpo_step_is_the_exact_step():
    """inner_updates = 1 is on-policy: BGPO's update equals the exact objective's (the
    baseline), and the naive line's too (same value and gradient at δ = 0)."""
    exact, bgpo, naive = (_one_update(o) for o in ("exact", "bgpo", "naive"))
    scale = exact.abs().max()
    assert scale > 1e-3  # a real gradient
    assert (bgpo - exact).abs().max() / scale < 1e-10
    assert (naive - exact).abs().max() / scale < 1e-10


def test_bad_input_named():
    with pytest.raises(ValueError, match="n_mc"):
        BGPOConfig(n_mc=0).validate()
    with pytest.raises(ValueError, match="objective"):
        BGPOConfig(objective="ratio").validate()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="denoise_steps=6"):
        BGPO(BGPOConfig(denoise_steps=6), TASK, model=_model(torch.float32))
    with pytest.raises(ValueError, match="pass the DiffusionLM"):
        BGPO(BGPOConfig(), TASK)
