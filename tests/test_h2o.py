"""H2O (card 42): the dynamics ratio from given discriminator outputs, IS weights, ω, the
penalty, the mechanism tests (D_sa in the ratio; naive hybrid at ½), bad input named."""

import math

import pytest
import torch

from polab.algos.offline.h2o import (
    H2O,
    H2OConfig,
    gap_weights,
    h2o_penalty,
    is_weights,
    log_dynamics_ratio,
)


def logits(p_real: float) -> torch.Tensor:
    return torch.tensor([math.log(p_real), math.log(1 - p_real)])


def test_ratio_at_one_half_gives_weight_one_and_uniform_omega():
    # the hand case: both discriminators at ½ → ratio 1, w = 1, u = 0 → uniform ω
    half = logits(0.5).expand(4, 2)
    r = log_dynamics_ratio(half, half)
    assert torch.allclose(r, torch.zeros(4))
    assert torch.allclose(is_weights(r), torch.ones(4))
    assert torch.allclose(gap_weights(-r), torch.full((4,), 0.25))


def test_ratio_from_given_discriminator_outputs():
    # D_sas(real) = 0.8, D_sa(real) = 0.5: ratio (0.8/0.2)·(0.5/0.5) = 4, clipped to 1
    r = log_dynamics_ratio(logits(0.5), logits(0.8))
    assert float(r.exp()) == pytest.approx(4.0)
    assert float(is_weights(r)) == pytest.approx(1.0)
    # D_sas(real) = 0.2: ratio 1/4, weight 0.25
    r = log_dynamics_ratio(logits(0.5), logits(0.2))
    assert float(is_weights(r)) == pytest.approx(0.25)


def test_ratio_needs_d_sa():
    # card 42, pitfall 1: (s, a) seen more in real data (D_sa = 0.8) and D_sas no more sure
    # than that (0.8): the dynamics agree, ratio 1. Dropping D_sa would give 4.
    r = log_dynamics_ratio(logits(0.8), logits(0.8))
    assert float(r.exp()) == pytest.approx(1.0)
    without_sa = log_dynamics_ratio(logits(0.5), logits(0.8))
    assert float(without_sa.exp()) == pytest.approx(4.0)


def test_is_weights_clipped():
    w = is_weights(torch.tensor([-100.0, -1.0, 0.0, 3.0, 50.0]))
    assert float(w.max()) <= 1.0 and float(w.min()) >= 1e-5 * (1 - 1e-6)
    assert float(w[0]) == pytest.approx(1e-5)
    assert float(is_weights(torch.tensor([3.0]), clip=5.0)) == pytest.approx(5.0)


def test_omega_normalised_within_batch():
    u = torch.tensor([0.5, 2.0, -1.0, 20.0])
    omega = gap_weights(u)
    assert float(omega.sum()) == pytest.approx(1.0)
    assert float(omega[2]) < 1e-30  # negative u clamped to 1e-45
    assert float(omega[3] / omega[1]) == pytest.approx(5.0)  # u clamped to 10


def test_penalty_uniform_omega_is_logsumexp_minus_log_b():
    q_sim = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    q_real = torch.tensor([[1.0, 3.0]])
    p = h2o_penalty(q_sim, torch.full((4,), 0.25), q_real)
    assert float(p) == pytest.approx(float(torch.logsumexp(q_sim[0], 0)) - math.log(4) - 2.0)
    # ω on one row: that row's Q alone
    p = h2o_penalty(q_sim, torch.tensor([0.0, 0.0, 0.0, 1.0]), q_real)
    assert float(p) == pytest.approx(3.0 - 2.0, abs=1e-5)


def small(**kw):
    return H2OConfig(num_iterations=1, updates_per_iteration=2, batch_size=32, sim_envs=4,
                     sim_steps=2, eval_envs=2, gap_samples=3, **kw)


def test_naive_variant_ignores_the_discriminators_weights():
    # naive = h2o with use_is_weight and use_gap_weights off: same numbers
    a = H2O(small(variant="naive"))
    b = H2O(small(variant="h2o", use_is_weight=False, use_gap_weights=False))
    assert a.step() == b.step()


@pytest.mark.parametrize("variant", ["h2o", "sac-sim", "cql-real", "darc"])
def test_variants_run(variant):
    m = H2O(small(variant=variant)).step()
    assert math.isfinite(m["charts/real_return"])


def test_gap_vs_error_shapes():
    algo = H2O(small())
    algo.step()
    u, err = algo.gap_vs_error(16)
    assert u.shape == err.shape == (16,) and bool((err > 0).any())  # sim_gap 1.5: wrong
    assert bool((algo.is_weight_sample(16) <= 1.0).all())


def test_bad_input_named():
    with pytest.raises(ValueError, match="sim_gap"):
        H2OConfig(sim_gap=0.0).validate()
    with pytest.raises(ValueError, match="variant"):
        H2OConfig(variant="bogus").validate()
    with pytest.raises(ValueError, match="batch_ratio"):
        H2OConfig(batch_ratio=1.0).validate()
    with pytest.raises(ValueError, match="pendulum"):
        H2O(small(), "point-mass-medium")


def test_exercise_checker():
    from polab.algos.offline.exercises.h2o import check_naive_answer

    assert check_naive_answer(-300.0, -600.0, "lower").ok
    wrong = check_naive_answer(-300.0, -600.0, "same")
    assert not wrong.ok and "So it is lower, not same" in wrong.message
    assert check_naive_answer(-300.0, -320.0, "same").ok
    assert not check_naive_answer(-300.0, -320.0, "maybe").ok


def test_same_seed_same_numbers_with_the_dataset_cached():
    first = H2O(small(variant="h2o")).step()  # the dataset may be generated here
    again = H2O(small(variant="h2o")).step()  # and cached here
    assert first == again
