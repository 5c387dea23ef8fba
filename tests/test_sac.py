"""SAC and off-policy MDPO (../shared/cards/20_mdpo.md): the squashed-Gaussian log-probability,
the critic and actor losses on hand-computed cases, the replay buffer, and the algorithms'
bookkeeping."""

import math

import numpy as np
import pytest
import torch
from helpers import f64

from polab.algos.pg.mdpo_off import MDPOOff, MDPOOffConfig, mdpo_actor_loss
from polab.algos.pg.sac import SAC, SACConfig, sac_actor_loss, sac_critic_loss
from polab.core.continuous import EnsembleLinear, squash, squashed_gaussian_logp
from polab.core.replay import ReplayBuffer, Transitions
from polab.core.rollout import Rollout
from polab.envs import make
from polab.train import DIVERGE_AT, train

TINY = {"total_timesteps": 400, "num_envs": 2, "num_steps": 20, "learning_starts": 40,
        "batch_size": 16, "hidden": 16, "utd_ratio": 0.25}


# --- pure functions -----------------------------------------------------------------------


def test_squashed_gaussian_logp_hand_case_and_against_torch():
    # u = 0, N(0, 1), scale 2: log N(0) - log(2 · (1 - tanh² 0)) = -½ log 2π - log 2
    logp = squashed_gaussian_logp(f64([[0.0]]), f64([[0.0]]), f64([[0.0]]), f64([2.0]))
    assert float(logp) == pytest.approx(-0.5 * math.log(2 * math.pi) - math.log(2))
    g = torch.Generator().manual_seed(0)
    mean, log_std = torch.randn(6, 2, generator=g, dtype=torch.float64), f64([-0.5, 0.3])
    u = mean + log_std.exp() * torch.randn(6, 2, generator=g, dtype=torch.float64)
    scale, bias = f64([2.0, 0.5]), f64([0.0, 1.0])
    D = torch.distributions
    ref = D.TransformedDistribution(D.Normal(mean, log_std.exp()),
                                    [D.TanhTransform(), D.AffineTransform(bias, scale)])
    a = squash(u, scale, bias)
    assert torch.allclose(squashed_gaussian_logp(mean, log_std, u, scale),
                          ref.log_prob(a).sum(-1), atol=1e-8)


def np_gaussian_logp(u, mean, std):
    """``log N(u; mean, std²)`` summed over the last axis, in numpy."""
    return np.sum(-0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi), -1)


def test_squashed_gaussian_logp_hand_case_naive_formula():
    # Haarnoja et al. 2018, appendix C, eq. 21 written naively in numpy:
    # log π(a|s) = log N(u; μ, σ) - Σ_i log(scale_i (1 - tanh² u_i))
    u, mean, log_std, scale = (np.array([[0.7, -1.3]]), np.array([[0.2, -0.5]]),
                               np.array([[-0.3, 0.4]]), np.array([2.0, 0.5]))
    expected = (np_gaussian_logp(u, mean, np.exp(log_std))
                - np.sum(np.log(scale * (1 - np.tanh(u) ** 2)), -1))
    got = squashed_gaussian_logp(f64(mean), f64(log_std), f64(u), f64(scale))
    assert got.numpy() == pytest.approx(expected, abs=1e-12)


def test_squashed_gaussian_logp_is_exact_where_tanh_saturates():
    # u = 12 in float32: tanh(u) rounds to 1, so the naive log(1 - tanh² u) is -inf, and
    # CleanRL's log(scale (1 - tanh² u) + 1e-6) is capped at log(1e-6) ≈ -13.8. The exact
    # value is log(1 - tanh² u) = -2 log cosh u = -2 (u - log 2 + log1p(e^{-2u})) ≈ -22.6.
    u = 12.0
    assert float(1 - torch.tanh(torch.tensor(u)) ** 2) == 0.0  # float32 saturates
    exact = -2 * (u - math.log(2) + math.log1p(math.exp(-2 * u)))
    got = squashed_gaussian_logp(torch.zeros(1, 1), torch.zeros(1, 1), torch.full((1, 1), u),
                                 torch.ones(1))
    assert float(got) == pytest.approx(-0.5 * math.log(2 * math.pi) - 0.5 * u * u - exact,
                                       rel=1e-6)
    assert math.log(1e-6) > exact + 8  # where CleanRL's ε form would differ


def test_mdpo_log_ratio_is_the_pre_squash_gaussian_log_ratio():
    # the tanh log-det-Jacobian depends on u only, so it cancels in log π_θ(ã) - log π_k(ã)
    # at the same ã (../shared/cards/20_mdpo.md, pitfall 5)
    g = np.random.default_rng(0)
    u, mean, mean_k = g.normal(size=(5, 2)), g.normal(size=(5, 2)), g.normal(size=(5, 2))
    log_std, log_std_k = g.normal(size=(5, 2)) * 0.3, g.normal(size=(5, 2)) * 0.3
    scale = np.array([2.0, 0.5])
    logp = squashed_gaussian_logp(f64(mean), f64(log_std), f64(u), f64(scale))
    old = squashed_gaussian_logp(f64(mean_k), f64(log_std_k), f64(u), f64(scale))
    terms = mdpo_actor_loss(logp, old, f64(np.zeros(5)), alpha=0.2, kl_coef=0.8)
    expected = np_gaussian_logp(u, mean, np.exp(log_std)) - np_gaussian_logp(
        u, mean_k, np.exp(log_std_k))
    assert float(terms["kl"]) == pytest.approx(expected.mean(), abs=1e-12)


def test_sac_critic_loss_hand_case_and_targets_carry_no_gradient():
    next_v = f64([2.0, 5.0]).requires_grad_()
    min_q_pi = f64([1.0, 3.0]).requires_grad_()
    terms = sac_critic_loss(q1=f64([1.0, 2.0]), q2=f64([0.0, 1.0]), v=f64([0.5, 0.5]),
                            rewards=f64([1.0, -1.0]), terminated=torch.tensor([False, True]),
                            next_v_target=next_v, min_q_pi=min_q_pi, logp_pi=f64([-1.0, 0.5]),
                            gamma=0.5, alpha=0.2)
    # y_Q = [1 + 0.5·2, -1 (terminated)] = [2, -1]; y_V = [1 + 0.2, 3 - 0.1] = [1.2, 2.9]
    assert float(terms["loss_q1"]) == pytest.approx(0.5 * (1 + 9) / 2)
    assert float(terms["loss_q2"]) == pytest.approx(0.5 * (4 + 4) / 2)
    assert float(terms["loss_v"]) == pytest.approx(0.5 * (0.49 + 5.76) / 2)
    assert float(terms["loss"]) == pytest.approx(2.5 + 2.0 + 1.5625)
    assert not terms["loss"].requires_grad  # only the targets needed grad here


def test_actor_losses_hand_case_and_sac_limit():
    logp, old_logp, q = f64([-1.0, 0.5]), f64([-1.5, 0.0]), f64([1.0, 3.0])
    sac = sac_actor_loss(logp, q, alpha=0.2)
    assert float(sac["loss"]) == pytest.approx((-0.2 - 1.0 + 0.1 - 3.0) / 2)
    assert float(mdpo_actor_loss(logp, old_logp, q, 0.2, kl_coef=0.0)["loss"]) == \
        pytest.approx(float(sac["loss"]))
    mdpo = mdpo_actor_loss(logp, old_logp, q, alpha=0.2, kl_coef=0.8)
    assert float(mdpo["kl"]) == pytest.approx(0.5)
    assert float(mdpo["loss"]) == pytest.approx(-2.05 + 0.8 * 0.5)
    # the reference code's form: c log π + (λ - c) log π_k - Q with c = λ + 1/t
    c = 0.2 + 0.8
    assert float(mdpo["loss"]) == pytest.approx(float((c * logp + (0.2 - c) * old_logp - q).mean()))


def test_ensemble_linear_is_independent_linear_layers():
    layer = EnsembleLinear(2, 3, 4, gain=1.0)
    x = torch.randn(2, 5, 3)
    out = layer(x)
    for i in range(2):
        assert torch.allclose(out[i], x[i] @ layer.weight[i] + layer.bias[i], atol=1e-6)
    assert not torch.allclose(layer.weight[0], layer.weight[1])


# --- replay buffer ------------------------------------------------------------------------


def test_replay_buffer_wraps_and_uses_final_obs_as_next_obs():
    buf = ReplayBuffer(capacity=5, obs_dim=1, action_dim=1)
    T, N = 2, 2
    obs = torch.arange(4.0).reshape(T, N, 1)
    final = obs + 10
    terminated = torch.tensor([[False, True], [False, False]])
    rollout = Rollout(obs, obs.clone(), torch.arange(4.0).reshape(T, N), torch.zeros(T, N),
                      terminated, torch.zeros(T, N, dtype=torch.bool), final)
    buf.add_rollout(rollout)
    assert len(buf) == 4 and buf.data.next_obs[:4, 0].tolist() == [10.0, 11.0, 12.0, 13.0]
    assert buf.data.terminated[:4].tolist() == [False, True, False, False]
    buf.add_rollout(rollout)  # 8 transitions into 5 slots: the oldest 3 are overwritten
    assert len(buf) == 5 and buf.pos == 3
    assert buf.data.obs[:, 0].tolist() == [1.0, 2.0, 3.0, 3.0, 0.0]
    a = buf.sample(7, torch.Generator().manual_seed(0))
    b = buf.sample(7, torch.Generator().manual_seed(0))
    assert isinstance(a, Transitions) and torch.equal(a.obs, b.obs)
    copy = ReplayBuffer(5, 1, 1)
    copy.load_state_dict(buf.state_dict())
    assert torch.equal(copy.data.obs, buf.data.obs) and copy.pos == buf.pos


# --- algorithms ---------------------------------------------------------------------------


def params(algo):
    return torch.cat([p.detach().flatten().clone() for p in algo.agent.parameters()])


def test_sac_learns_something_and_tracks_its_target():
    algo = SAC(SACConfig(**TINY))
    before = params(algo)
    history = train(algo, 4, progress=False)
    assert history.status == "finished" and algo.global_step == 160
    assert algo.updates == 4 * 10  # 40 warm-up steps are in after the first iteration
    assert not torch.equal(before, params(algo))
    gap_target = [(p - q).abs().max() for p, q in zip(algo.v.parameters(),
                                                      algo.v_target.parameters(), strict=True)]
    assert 0 < max(gap_target) < 1  # the target lags the value network, and follows it
    assert math.isfinite(history.last("losses/qf1_loss"))


def test_sac_needs_continuous_actions():
    with pytest.raises(ValueError, match="continuous actions"):
        SAC(SACConfig(**TINY), "CartPole-v1")


def test_mdpo_off_with_zero_kl_weight_is_sac():
    sac = SAC(SACConfig(seed=2, **TINY))
    mdpo = MDPOOff(MDPOOffConfig(seed=2, kl_coef=0.0, **TINY))
    train(sac, 4, progress=False)
    train(mdpo, 4, progress=False)
    assert torch.equal(params(sac), params(mdpo))


def test_mdpo_off_evaluates_the_lagging_policy_at_the_reparameterised_action():
    algo = MDPOOff(MDPOOffConfig(seed=1, copy_every=1_000, **TINY))
    train(algo, 4, progress=False)  # π_θ has moved away from π_k (no copy yet)
    obs = torch.randn(8, 3, generator=torch.Generator().manual_seed(3))
    action, logp, u = algo.actor.sample(obs, torch.Generator().manual_seed(4))
    terms = algo.actor_loss(obs, u, logp, torch.zeros(8))
    mean_k, log_std_k = algo.old_actor.distribution(obs)
    old_logp = squashed_gaussian_logp(mean_k, log_std_k, u, algo.old_actor.scale)
    assert terms["kl"].item() == pytest.approx((logp - old_logp).mean().item())
    assert float(terms["kl"]) != 0.0
    terms["loss"].backward()  # the gradient reaches the actor through ã in log π_k(ã|s) too
    assert all(p.grad is not None for p in algo.actor.parameters())


def test_mdpo_off_copies_the_policy_every_copy_every_updates():
    algo = MDPOOff(MDPOOffConfig(seed=1, copy_every=15, **TINY))

    def same_policy():
        return all(torch.equal(p, q) for p, q in zip(algo.actor.parameters(),
                                                     algo.old_actor.parameters(), strict=True))

    train(algo, 2, progress=False)  # 10 updates per iteration: copied after update 15
    assert algo.updates == 20 and not same_policy()
    train(algo, 1, progress=False)  # update 30 ends a mirror-descent iteration
    assert algo.updates == 30 and same_policy()
    clone = MDPOOff(MDPOOffConfig(seed=1, copy_every=15, **TINY))
    clone.load_state_dict(algo.state_dict())
    assert torch.equal(params(clone), params(algo)) and clone.updates == 30


def test_sac_update_regresses_on_the_soft_targets():
    # Haarnoja et al. 2018, eqs. 5-8 and 12, by hand in numpy from the networks' outputs:
    # y_Q = r + γ (1 - terminated) V_target(s')  (a truncated transition bootstraps),
    # y_V = min_i Q_i(s, ã) - α log π(ã|s) and the actor's α log π(ã|s) - min_i Q_i(s, ã) at the
    # same fresh reparameterised ã ~ π(·|s), with the current (not the target) Q-functions
    algo = SAC(SACConfig(seed=3, gamma=0.9, alpha=0.3, **TINY))
    train(algo, 3, progress=False)  # the networks and the lagging target are off their init
    g = torch.Generator().manual_seed(5)
    batch = Transitions(torch.randn(6, 3, generator=g), 4 * torch.rand(6, 1, generator=g) - 2,
                        torch.randn(6, generator=g), torch.randn(6, 3, generator=g),
                        torch.tensor([True, False] * 3))
    with torch.no_grad():
        q1, q2 = algo.q(batch.obs, batch.actions).numpy()
        v = algo.v(batch.obs).squeeze(-1).numpy()
        v_next = algo.v_target(batch.next_obs).squeeze(-1).numpy()
        state = algo.generator.get_state()  # the update draws ã first, from this state
        action_pi, logp_pi, _ = algo.actor.sample(batch.obs, algo.generator)
        algo.generator.set_state(state)
        q_pi = algo.q(batch.obs, action_pi).numpy()
    logp_pi, min_q_pi = logp_pi.numpy(), np.minimum(q_pi[0], q_pi[1])
    y_q = batch.rewards.numpy() + 0.9 * (1.0 - batch.terminated.numpy()) * v_next
    y_v = min_q_pi - 0.3 * logp_pi
    terms = algo.update(batch)
    assert float(terms["qf1_loss"]) == pytest.approx(0.5 * np.mean((q1 - y_q) ** 2), rel=1e-5)
    assert float(terms["qf2_loss"]) == pytest.approx(0.5 * np.mean((q2 - y_q) ** 2), rel=1e-5)
    assert float(terms["value_loss"]) == pytest.approx(0.5 * np.mean((v - y_v) ** 2), rel=1e-5)
    assert float(terms["actor_loss"]) == pytest.approx(np.mean(0.3 * logp_pi - min_q_pi),
                                                       rel=1e-5)


class RewardScaled:
    """``env`` with its rewards multiplied by ``k`` (everything else is ``env``'s)."""

    def __init__(self, env, k: float):
        self.env, self.k = env, k

    def __getattr__(self, name):
        return getattr(self.env, name)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, self.k * reward, terminated, truncated, info


def test_sac_blowing_up_stops_as_diverged_naming_the_loss():
    # rewards ×1e5, lr 0.1 and no target smoothing (τ = 1): the bootstrapped values run away
    # (Q grows tenfold and more) until a Q loss passes polab.train's threshold
    env = RewardScaled(make("Pendulum-v1", 2, torch.device("cpu"), seed=0), 1e5)
    algo = SAC(SACConfig(**{**TINY, "utd_ratio": 1.0}, learning_rate=0.1, gamma=0.999, tau=1.0),
               env)
    history = train(algo, 30, progress=False)
    assert history.status == "diverged"
    assert "losses/qf1_loss = " in history.message and f"(|x| > {DIVERGE_AT:g})" in \
        history.message
    q_values = history.column("losses/qf1_values")[1:]  # no updates in the warm-up iteration
    assert 2 < len(history) < 30 and abs(q_values[-1]) > 10 * abs(q_values[0])
    assert all(torch.isfinite(p).all() for p in algo.agent.parameters())  # the last good state
    assert algo.global_step == history.last("global_step")
