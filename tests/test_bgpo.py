"""BGPO's objectives, gradient accumulation and saved-bytes meter (card 41, issue 18) on hand
cases and a toy differentiable ℓ_j(θ); the DiffusionLM checks are in test_bgpo_dlm.py."""

import math

import pytest
import torch

from polab.algos.diffusion.memory import peak_saved_bytes, track_saved
from polab.algos.diffusion.objectives import (
    backward_objective,
    bgpo_terms,
    elbo_estimate_variance,
    exact_objective,
    naive_terms,
    objective_values,
    sample_terms,
)

DELTA = torch.tensor([[0.2, -0.1], [0.0, 0.3]], dtype=torch.float64)  # [n_mc=2, B=2]
ADV = torch.tensor([1.0, -2.0], dtype=torch.float64)


def test_hand_case_values():
    # response 0: δ = (0.2, 0.0), A = 1; response 1: δ = (-0.1, 0.3), A = -2; both means 0.1
    e = math.exp(0.1)
    torch.testing.assert_close(exact_objective(DELTA, ADV), torch.tensor([e, -2 * e],
                                                                          dtype=torch.float64))
    jensen = -2 * (math.exp(-0.1) + math.exp(0.3)) / 2
    torch.testing.assert_close(objective_values("bgpo", DELTA, ADV),
                               torch.tensor([1.1, jensen], dtype=torch.float64))
    torch.testing.assert_close(objective_values("naive", DELTA, ADV),
                               torch.tensor([1.1, -2.2], dtype=torch.float64))
    # one sample's terms: the j-th row, divided by n
    torch.testing.assert_close(bgpo_terms(DELTA[1:], ADV, n_mc=2)[0],
                               torch.tensor([0.5, -math.exp(0.3)], dtype=torch.float64))


def test_branch_is_per_response():
    """Mixed signs in one batch: each response gets its own branch (a per-batch or per-token
    choice would give the positive response the Jensen form or the negative one the line)."""
    both = objective_values("bgpo", DELTA, ADV)
    alone = torch.cat([objective_values("bgpo", DELTA[:, i:i + 1], ADV[i:i + 1])
                       for i in range(2)])
    torch.testing.assert_close(both, alone)
    line = naive_terms(DELTA, ADV).sum(0)
    jensen = (ADV * torch.exp(DELTA).mean(0))
    assert both[0] == line[0] and both[0] != jensen[0]
    assert both[1] == jensen[1] and both[1] != line[1]


def test_bound_below_exact_on_random_cases_and_naive_is_not_a_bound():
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(16, 4096, generator=g, dtype=torch.float64)
    adv = torch.randn(4096, generator=g, dtype=torch.float64)
    gap = exact_objective(delta, adv) - objective_values("bgpo", delta, adv)
    assert gap.min() >= -1e-12
    assert (gap > 1e-6).float().mean() > 0.9  # strictly below off-policy
    naive_gap = exact_objective(delta, adv) - objective_values("naive", delta, adv)
    assert (naive_gap[adv < 0] < 0).all()  # the naive line over-estimates where A < 0


class Toy(torch.nn.Module):
    """ℓ_j(θ) = a small MLP of sample j's inputs x_j [B, 16]: any differentiable per-sample
    term will do."""

    def __init__(self, width: int = 64, dtype=torch.float64):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(16, width), torch.nn.Tanh(),
                                       torch.nn.Linear(width, 1)).to(dtype)

    def forward(self, x):
        return self.net(x).squeeze(-1)


def _toy_case(n=8, b=6, width=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    # one input tensor per sample (a view of one [n, b, 16] tensor would keep all n alive)
    x = [torch.randn(b, 16, generator=g, dtype=torch.float64) for _ in range(n)]
    adv = torch.randn(b, generator=g, dtype=torch.float64)
    return Toy(width), x, adv


def _scores(model, x):
    return torch.stack([model(xj) for xj in x])


def _noise(shape, scale, seed):
    return scale * torch.randn(shape, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(seed))


def _grad(model, objective, x, adv, old):
    model.zero_grad()
    values = backward_objective(objective, lambda j: model(x[j]), old, adv, scale=1 / len(adv))
    return values, torch.cat([p.grad.flatten() for p in model.parameters()])


def test_on_policy_bound_and_exact_agree_in_value_and_gradient():
    model, x, adv = _toy_case()
    with torch.no_grad():
        old = _scores(model, x)  # θ_old = θ: every δ is 0
    v_exact, g_exact = _grad(model, "exact", x, adv, old)
    v_bgpo, g_bgpo = _grad(model, "bgpo", x, adv, old)
    torch.testing.assert_close(v_bgpo, v_exact, rtol=1e-5, atol=0)
    assert ((g_bgpo - g_exact).abs().max() / g_exact.abs().max()) < 1e-5
    torch.testing.assert_close(v_exact, adv)


def test_key_mechanism_off_policy_gradients_differ():
    """Off-policy the bound is a different function: its gradient is not exact's (so the
    equivalence above is not trivially true of any two objectives)."""
    model, x, adv = _toy_case()
    with torch.no_grad():
        old = _scores(model, x) - _noise((len(x), len(adv)), 0.3, 5)
    _, g_exact = _grad(model, "exact", x, adv, old)
    _, g_bgpo = _grad(model, "bgpo", x, adv, old)
    assert (g_bgpo - g_exact).abs().max() / g_exact.abs().max() > 1e-3


@pytest.mark.parametrize("objective", ["bgpo", "naive"])
def test_per_sample_accumulation_equals_joint_gradient(objective):
    model, x, adv = _toy_case()
    with torch.no_grad():
        old = _scores(model, x) + _noise((len(x), len(adv)), 0.2, 3)
    v_acc, g_acc = _grad(model, objective, x, adv, old)
    model.zero_grad()
    delta = _scores(model, x) - old
    joint = objective_values(objective, delta, adv)
    (-joint.sum() / len(adv)).backward()
    g_joint = torch.cat([p.grad.flatten() for p in model.parameters()])
    torch.testing.assert_close(v_acc, joint.detach())
    torch.testing.assert_close(g_acc, g_joint, rtol=1e-10, atol=1e-12)


def _saved(objective, n, width=256):
    model, x, adv = _toy_case(n=n, b=32, width=width)
    with torch.no_grad():
        old = _scores(model, x)
    model.zero_grad()
    _, peak = peak_saved_bytes(
        lambda: backward_objective(objective, lambda j: model(x[j]), old, adv),
        exclude=model.parameters())
    return peak


def test_saved_bytes_linear_for_exact_flat_for_bgpo():
    exact = {n: _saved("exact", n) for n in (1, 2, 4, 8)}
    bgpo = {n: _saved("bgpo", n) for n in (1, 2, 4, 8)}
    for n in (2, 4, 8):
        assert exact[n] / exact[1] == pytest.approx(n, rel=0.05)
        assert bgpo[n] / bgpo[1] == pytest.approx(1.0, rel=0.05)


def test_track_saved_counts_a_storage_once_and_frees_it():
    w = torch.randn(100, requires_grad=True)
    with track_saved() as mem:
        y = (w * w).sum()  # mul saves w twice: one storage
        assert mem.live == 400 and mem.saved_calls == 2
        y.backward()
    assert mem.live == 0 and mem.peak == 400
    with track_saved(exclude=[w]) as mem:
        (w * w).sum().backward()
    assert mem.peak == 0


def test_elbo_estimate_variance_hand_case():
    ell = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # var over j: 2 and 0; / n = 1 and 0
    assert float(elbo_estimate_variance(ell)) == pytest.approx(0.5)
    assert math.isnan(float(elbo_estimate_variance(ell[:1])))


def test_bad_input_named():
    with pytest.raises(ValueError, match="delta must be"):
        bgpo_terms(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="advantages must be"):
        exact_objective(torch.zeros(2, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="n_mc"):
        bgpo_terms(torch.zeros(4, 3), torch.zeros(3), n_mc=2)
    with pytest.raises(ValueError, match="objective='ratio'"):
        objective_values("ratio", DELTA, ADV)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a sum of per-sample terms"):
        sample_terms("exact", DELTA, ADV, 2)
