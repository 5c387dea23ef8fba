"""CAPO (card 6): the last-layer model on hand cases, the rejection loop, the reduction to
GRPO, the mechanism on the addition base, bad input."""

from __future__ import annotations

import pytest
import torch

from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.group.losses import clipped_surrogate_loss
from polab.algos.token_control.capo import CAPO, CAPOConfig
from polab.algos.token_control.exercises.capo import check_precond_answer, median_kl_ratio
from polab.algos.token_control.last_layer import (
    aggregation_weights,
    capo_mask,
    head_gradient,
    optimizer_update,
    predicted_kl,
    predicted_logit_change,
    predicted_surrogate_change,
    rejection_round,
    surrogate_coefficients,
)

TINY = dict(max_completion_length=8, eval_every=0, generation_batch_size=32, num_generations=8)


def linear_head_case(seed: int = 0, B: int = 3, T: int = 4, V: int = 5, d: int = 6,
                     temperature: float = 0.7):
    """A linear softmax head z = W h (h fixed, untied; float64, so that a KL of 1e-9 is
    measurable), sampled actions, ratios off 1 (some clipped), a ragged mask and the
    trainer's own loss on it."""
    g = torch.Generator().manual_seed(seed)
    W = torch.nn.Parameter(torch.randn(V, d, generator=g, dtype=torch.float64))
    h = torch.randn(B, T, d, generator=g, dtype=torch.float64)
    actions = torch.randint(V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 3] = mask[2, 2:] = False
    adv = torch.tensor([1.0, -0.7, 0.4], dtype=torch.float64)
    noise = 0.3 * torch.randn(B, T, generator=g, dtype=torch.float64)
    old = torch.log_softmax(h @ W.detach().T / temperature, -1).gather(
        -1, actions[..., None]).squeeze(-1) + noise

    def logp_of(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logp_all = torch.log_softmax(h @ weight.T / temperature, -1)
        return logp_all, logp_all.gather(-1, actions[..., None]).squeeze(-1)

    def loss(weight: torch.Tensor) -> torch.Tensor:
        return clipped_surrogate_loss(logp_of(weight)[1], old, adv, mask, epsilon=0.2,
                                      epsilon_high=0.28, loss_type="dapo",
                                      normalizer=torch.tensor(9.0))["loss"]

    def predicted_grad() -> torch.Tensor:
        logp_all, logp = logp_of(W.detach())
        w = aggregation_weights(mask, "dapo", normalizer=torch.tensor(9.0))
        coef = surrogate_coefficients(logp, old, adv, w, epsilon=0.2, epsilon_high=0.28,
                                      temperature=temperature)
        return head_gradient(coef, actions, logp_all.exp(), h)

    return dict(W=W, h=h, actions=actions, mask=mask, adv=adv, old=old, loss=loss,
                logp_of=logp_of, predicted_grad=predicted_grad, T=temperature)


def test_head_gradient_equals_autograd_of_the_trainers_loss():
    case = linear_head_case()
    logp = case["logp_of"](case["W"].detach())[1]
    ratio = torch.exp(logp - case["old"])
    assert ((ratio < 0.8) | (ratio > 1.28)).any()  # some tokens are clipped
    (grad,) = torch.autograd.grad(case["loss"](case["W"]), case["W"])
    torch.testing.assert_close(case["predicted_grad"](), grad, rtol=1e-5, atol=1e-6)


def test_aggregation_weights_are_the_reductions_normalisers():
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert torch.equal(aggregation_weights(mask, "dapo", normalizer=torch.tensor(10.0)),
                       mask / 10.0)
    torch.testing.assert_close(aggregation_weights(mask, "grpo"),
                               torch.tensor([[0.25, 0.25, 0.0], [0.5, 0.0, 0.0]]))
    torch.testing.assert_close(aggregation_weights(mask, "bnpo"), mask / 3.0)


def test_predicted_logit_change_equals_realised_after_a_real_sgd_step():
    case = linear_head_case()
    W, h = case["W"], case["h"]
    G = case["predicted_grad"]()
    dW = optimizer_update(G, W.detach(), {}, precond="sgd", lr=0.1)
    before = W.detach().clone()
    opt = torch.optim.SGD([W], lr=0.1)
    opt.zero_grad()
    case["loss"](W).backward()
    opt.step()
    torch.testing.assert_close(dW, W.detach() - before, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(predicted_logit_change(dW, h), h @ (W.detach() - before).T,
                               rtol=1e-5, atol=1e-6)


def test_predicted_logit_change_equals_realised_after_a_real_adamw_step_with_state():
    case = linear_head_case()
    W, h = case["W"], case["h"]
    opt = torch.optim.AdamW([W], lr=0.05, betas=(0.9, 0.99), weight_decay=0.1)
    W.grad = torch.randn(W.shape, generator=torch.Generator().manual_seed(5),
                         dtype=torch.float64)
    opt.step()  # a previous step: the moments and the step count are not trivial
    G = case["predicted_grad"]()
    dW = optimizer_update(G, W.detach(), opt.state[W], precond="adam", lr=0.05,
                          betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    before = W.detach().clone()
    opt.zero_grad()
    case["loss"](W).backward()
    opt.step()
    torch.testing.assert_close(dW, W.detach() - before, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(predicted_logit_change(dW, h), h @ (W.detach() - before).T,
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("precond", ["sgd", "adam"])
def test_predicted_over_realised_kl_goes_to_one_as_lr_goes_to_zero(precond):
    case = linear_head_case()
    W, T = case["W"].detach(), case["T"]
    logp_before = case["logp_of"](W)[0]
    G = case["predicted_grad"]()
    ratios = []
    for lr in (1e-1, 1e-3):
        dW = optimizer_update(G, W, {}, precond=precond, lr=lr)
        k = predicted_kl(predicted_logit_change(dW, case["h"]), logp_before.exp(), T)
        after = case["logp_of"](W + dW)[0]
        realised = (logp_before.exp() * (logp_before - after)).sum(-1)
        ratios.append(float(k[case["mask"]].mean() / realised[case["mask"]].mean()))
    assert abs(ratios[1] - 1) < 0.01
    assert abs(ratios[1] - 1) < abs(ratios[0] - 1)


def test_predicted_kl_and_surrogate_change_on_a_hand_case():
    p = torch.tensor([[[0.5, 0.5, 0.0]]])
    dz = torch.tensor([[[1.0, -1.0, 7.0]]])  # a zero-probability logit does not count
    assert torch.allclose(predicted_kl(dz, p), torch.tensor([[0.5]]))
    assert torch.allclose(predicted_kl(dz, p, temperature=2.0), torch.tensor([[0.125]]))
    # A (dz_a - p·dz) - A k = 2 (1 - 0) - 2 · 0.5 = 1; with A < 0 the curvature term adds
    dJ = predicted_surrogate_change(dz, torch.tensor([[0]]), p, torch.tensor([2.0]))
    assert torch.allclose(dJ, torch.tensor([[1.0]]))
    dJ = predicted_surrogate_change(dz, torch.tensor([[0]]), p, torch.tensor([-2.0]))
    assert torch.allclose(dJ, torch.tensor([[-1.0]]))


def test_rejection_round_on_a_hand_case():
    k = torch.tensor([[0.10, 0.50, 0.20], [0.05, 0.00, 0.30]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    # mean over 5 tokens = 0.85 / 5 = 0.17; delta 0.1: excess 0.35 -> drop 0.50 (covers it)
    keep = rejection_round(k, mask, mask, delta=0.1, delta_tok=1.0)
    assert keep.tolist() == [[True, False, True], [True, True, False]]
    # cap 0.15: 0.50 and 0.20 are over it; delta 1: no excess
    keep = rejection_round(k, mask, mask, delta=1.0, delta_tok=0.15)
    assert keep.tolist() == [[True, False, False], [True, True, False]]
    # excess 0.85 - 0.05 * 5 = 0.6: 0.50 then 0.20 cover it
    keep = rejection_round(k, mask, mask, delta=0.05, delta_tok=1.0)
    assert keep.tolist() == [[True, False, False], [True, True, False]]
    # sequences: sums 0.80 and 0.05; excess 0.35 -> the first sequence goes
    keep = rejection_round(k, mask, mask, delta=0.1, delta_tok=1.0, unit="sequence")
    assert keep.tolist() == [[False, False, False], [True, True, False]]
    # nothing to do
    assert torch.equal(rejection_round(k, mask, mask, delta=0.5, delta_tok=1.0), mask)


def test_capo_mask_recomputes_the_update_from_the_kept_tokens_each_round():
    load = torch.tensor([[4.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    mask = torch.ones(2, 4, dtype=torch.bool)

    def kl_of(keep: torch.Tensor) -> torch.Tensor:  # every token moves with the kept load
        return torch.full(keep.shape, 0.01 * float(torch.where(keep, load, 0.0).sum()))

    # all kept: k = 0.11 everywhere; delta 0.095: round 1 drops one token (k alone covers
    # the excess 0.12), the load falls to 10 or 7 and k to 0.10 or 0.07 ...
    keep, k, rounds = capo_mask(kl_of, mask, delta=0.095, delta_tok=1.0)
    assert float(k.mean()) <= 0.095
    assert rounds >= 1 and (~keep).sum() >= 1
    # a cap below every k: all go in one round, then k = 0 and the loop stops
    keep, k, rounds = capo_mask(kl_of, mask, delta=1.0, delta_tok=0.05)
    assert rounds == 1 and not keep.any() and float(k.max()) == 0.0
    # max_rounds bounds the loop
    assert capo_mask(kl_of, mask, delta=1e-6, delta_tok=1.0, max_rounds=1)[2] == 1


def params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("knob", [dict(use_capo=False), dict(delta=1e9, delta_tok=1e9)])
def test_capo_off_or_unbounded_delta_is_grpo(knob):
    grpo_cfg = GRPOConfig(**TINY, learning_rate=3e-3, seed=3)
    grpo = GRPO(grpo_cfg, "addition")
    capo = CAPO(CAPOConfig(**TINY, seed=3, **knob), "addition")
    for _ in range(2):
        a, b = grpo.step(), capo.step()
        assert a["reward"] == b["reward"]
    for p, q in zip(params(grpo.model), params(capo.model), strict=True):
        assert torch.equal(p, q)
    if knob.get("use_capo", True):
        assert capo.steps and all(s["capo/reject_rate"] == 0.0 for s in capo.steps)


@pytest.mark.parametrize("unit", ["token", "sequence"])
def test_the_mask_keeps_the_predicted_kl_under_delta_where_grpo_exceeds_it(unit):
    free = CAPO(CAPOConfig(**TINY, seed=1, delta=1e9, delta_tok=1e9), "addition")
    free.step()
    unmasked = free.steps[0]["capo/predicted_kl"]
    delta = unmasked / 4
    capo = CAPO(CAPOConfig(**TINY, seed=1, delta=delta, mask_unit=unit), "addition")
    metrics = capo.step()
    first = capo.steps[0]
    assert unmasked > delta  # without the mask the step leaves the trust region
    assert first["capo/predicted_kl"] <= delta and first["capo/reject_rate"] > 0
    assert len(capo.steps) == 2  # update_epochs = 2
    # a fresh AdamW step is ~lr·sign(g) whatever is kept, so the first step masks everything
    # here; by the second, tokens (not whole sequences) get through and the policy moves
    assert (metrics["capo/realised_kl"] > 0) == (unit == "token")
    assert not torch.equal(capo.last_keep, capo.last_mask)
    if unit == "sequence":  # whole responses go: a row is kept entirely or not at all
        kept = capo.last_keep[capo.last_mask.any(-1)]
        rows = capo.last_mask[capo.last_mask.any(-1)]
        assert torch.equal(kept.any(-1), (kept == rows).all(-1))
    moved = [not torch.equal(p, q) for p, q in zip(params(free.model), params(capo.model),
                                                    strict=True)]
    assert any(moved)  # the masked step is another step


@pytest.mark.parametrize("change, field", [
    (dict(delta=-1.0), "delta"), (dict(delta_tok=-1.0), "delta_tok"),
    (dict(mask_unit="word"), "mask_unit"), (dict(precond="lbfgs"), "precond"),
    (dict(max_rounds=0), "max_rounds"), (dict(delta=0.1, delta_tok=0.01), "delta_tok"),
    (dict(beta=0.1), "beta"), (dict(entropy_coef=0.01), "entropy_coef"),
    (dict(importance_sampling_level="sequence", loss_type="grpo"),
     "importance_sampling_level"),
])
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        CAPOConfig(**change).validate()


def test_optimizer_update_rejects_an_unknown_preconditioner():
    with pytest.raises(ValueError, match="precond"):
        optimizer_update(torch.zeros(2, 2), torch.zeros(2, 2), {}, precond="lbfgs", lr=0.1)


def test_precond_exercise_checker_on_a_right_and_a_wrong_answer():
    runs = {}
    for precond in ("adam", "sgd"):
        cfg = CAPOConfig(**TINY, seed=2, learning_rate=3e-4, delta=1e9, delta_tok=1e9,
                         precond=precond)
        runs[precond] = CAPO(cfg, "addition")
        runs[precond].step()
    adam, sgd = runs["adam"].steps, runs["sgd"].steps
    assert median_kl_ratio(sgd) > median_kl_ratio(adam) > 1  # both under-predict, SGD more
    right = check_precond_answer(adam, sgd, "further")
    wrong = check_precond_answer(adam, sgd, "Closer")
    assert right.ok and "Right" in str(right)
    assert not wrong.ok and "not closer" in wrong.message
    assert not check_precond_answer(adam, sgd, "same").ok
    assert not check_precond_answer([], sgd, "further").ok
    # a synthetic pair where SGD happens to be nearer 1
    near = [{"capo/predicted_kl": 1.0, "capo/realised_kl": 2.0}]
    far = [{"capo/predicted_kl": 1.0, "capo/realised_kl": 100.0}]
    assert check_precond_answer(far, near, "closer").ok
    assert not check_precond_answer(far, near, "further").ok
