"""Every algorithm of the series, registered once, chapter by chapter (the machinery:
:mod:`polab.registry`). An entry names its Config and trainer as ``"module:Attribute"``
strings, so importing this module loads no algorithm."""

from __future__ import annotations

from typing import Any, Literal

from polab.registry import AlgoSpec, register

_PG, _GROUP = "polab.algos.pg", "polab.algos.group"
_REINFORCE_SMOKE = (("num_envs", 4), ("num_iterations", 2))
_PPO_SMOKE = (("num_envs", 4), ("num_steps", 16), ("num_minibatches", 2), ("update_epochs", 1),
              ("total_timesteps", 128))
_SAC_SMOKE = (("num_envs", 2), ("num_steps", 8), ("learning_starts", 0), ("batch_size", 16),
              ("utd_ratio", 0.25), ("hidden", 16), ("total_timesteps", 32))
_LQR_SMOKE = (("num_seeds", 2), ("total_trajectories", 10))
_LM_SMOKE = (("max_completion_length", 8), ("eval_every", 0), ("num_iterations", 2),
             ("generation_batch_size", 8), ("num_generations", 4))
_INVENTORY_SMOKE = (("n_scenarios", 16), ("batch_size", 8), ("horizon", 10), ("warmup", 2),
                    ("dev_scenarios", 8), ("test_scenarios", 8), ("test_horizon", 20),
                    ("test_warmup", 5), ("num_iterations", 2), ("hidden", 8))
_MO_SMOKE = (("total_timesteps", 1000), ("n_init_policies", 2), ("num_envs", 2),
             ("num_steps", 8), ("update_epochs", 1), ("num_minibatches", 1), ("ext_iters", 1),
             ("hidden", 8))


def _env(name: str, module: str, cls: str, summary: str, paper: str, notebook: str,
         default_env: str = "CartPole-v1", **kw: Any) -> None:
    register(AlgoSpec(name, "pg", f"{_PG}.{module}:{cls}Config", f"{_PG}.{module}:{cls}",
                      summary, paper, notebook, default_env, **kw))


def _lm(name: str, module: str, cls: str, summary: str, paper: str, card: str | None = None,
        preset: str | None = None, smoke: tuple[tuple[str, object], ...] = _LM_SMOKE) -> None:
    register(AlgoSpec(name, "group", f"{_GROUP}.{module}:{cls}Config",
                      f"{_GROUP}.{module}:{cls}", summary, paper, "03_grpo_family", "addition",
                      card=card, overrides=(("preset", preset),) if preset else (),
                      testbed="task", score="eval/pass@1", smoke=smoke))


_env("reinforce", "reinforce", "Reinforce", "REINFORCE with reward-to-go",
     "Williams 1992, Simple statistical gradient-following algorithms", "01_policy_gradients",
     smoke=_REINFORCE_SMOKE)
_env("reinforce-baseline", "reinforce", "Reinforce", "REINFORCE with a learned value baseline",
     "Williams 1992; Sutton & Barto 2018 §13.4", "01_policy_gradients",
     overrides=(("baseline", True),), smoke=_REINFORCE_SMOKE)
_env("ppo", "ppo", "PPO", "PPO, clipped surrogate + GAE",
     "Schulman et al. 2017, Proximal Policy Optimization Algorithms", "01_policy_gradients",
     smoke=_PPO_SMOKE)
_env("mdpo", "mdpo", "MDPO", "MDPO on-policy, KL-regularised mirror descent",
     "Tomar et al. 2020, Mirror Descent Policy Optimization", "02_variance_and_trust_regions",
     card="20_mdpo.md", smoke=_PPO_SMOKE)
_env("sac", "sac", "SAC", "SAC v1 with a value network",
     "Haarnoja et al. 2018, Soft Actor-Critic", "02_variance_and_trust_regions",
     default_env="Pendulum-v1", actions="continuous", smoke=_SAC_SMOKE)
_env("mdpo-off", "mdpo_off", "MDPOOff", "MDPO off-policy, KL to the previous policy",
     "Tomar et al. 2020, Mirror Descent Policy Optimization", "02_variance_and_trust_regions",
     default_env="Pendulum-v1", actions="continuous", card="20_mdpo.md", smoke=_SAC_SMOKE)
for _name, _cls, _summary in (
        ("vanilla-pg", "VanillaPG", "vanilla stochastic PG on the LQR"),
        ("npg-igt", "NPGIGT", "normalised PG with implicit gradient transport"),
        ("harpg", "HARPG", "Hessian-aided recursive PG"),
        ("n-harpg", "NHARPG", "normalised Hessian-aided recursive PG")):
    _env(_name, "igt_harpg", _cls, _summary,
         "Fatkhullin et al. 2023, Stochastic Policy Gradient Methods: Improved Sample "
         "Complexity for Fisher-non-degenerate Policies", "02_variance_and_trust_regions",
         default_env="double-integrator", testbed="lqr", card="10_pg_igt_harpg.md",
         score="optimality_gap", smoke=_LQR_SMOKE)

_lm("grpo", "grpo", "GRPO", "GRPO, group-normalised advantages",
    "Shao et al. 2024, DeepSeekMath", preset="GRPO")
_lm("dr-grpo", "grpo", "GRPO", "Dr.GRPO, GRPO without length and std normalisation",
    "Liu et al. 2025, Understanding R1-Zero-Like Training", preset="Dr.GRPO")
_lm("dapo", "grpo", "GRPO",
    "DAPO, clip-higher, dynamic sampling, token-level loss, overlong punishment",
    "Yu et al. 2025, DAPO", preset="DAPO")
_lm("gspo", "grpo", "GRPO", "GSPO, one ratio per sequence",
    "Zheng et al. 2025, Group Sequence Policy Optimization", preset="GSPO")
_lm("rloo", "grpo", "GRPO", "RLOO, leave-one-out baseline",
    "Ahmadian et al. 2024, Back to Basics", preset="RLOO")
_lm("loop", "loop", "LOOP", "LOOP, leave-one-out PPO",
    "Chen et al. 2025, Reinforcement Learning for Long-Horizon Interactive LLM Agents",
    card="14_loop.md")
_lm("spo", "spo", "SPO", "SPO, per-prompt value tracker, no groups",
    "Xu & Ding 2025, Single-stream Policy Optimization", card="37_spo.md",
    smoke=(*_LM_SMOKE[:3], ("generation_batch_size", 4), ("num_generations", 1),
           ("num_train_prompts", 16), ("offline_samples", 2)))

_TC = "polab.algos.token_control"


def _tc(name: str, module: str, cls: str, summary: str, paper: str, card: str,
        smoke: tuple[tuple[str, object], ...], default_env: str = "addition-scratch") -> None:
    """A chapter-04 algorithm: a trainer on a shipped language base (``default_env``)."""
    register(AlgoSpec(name, "token_control", f"{_TC}.{module}:{cls}Config",
                      f"{_TC}.{module}:{cls}", summary, paper, "04_token_level_control",
                      default_env, card=card, testbed="task", score="eval/pass@1",
                      smoke=smoke))


# chapter 04
_tc("capo", "capo", "CAPO", "CAPO, curvature-aware token masking before each step",
    "Melo, Abate & Gal 2025, Stabilizing Policy Gradients for Sample-Efficient Reinforcement "
    "Learning in LLM Reasoning", "06_capo.md", smoke=_LM_SMOKE, default_env="addition")
_tc("d3s", "d3s", "D3S", "D^3S, max-variance rollouts and top |A|·H tokens",
    "Wang et al. 2025, Learning More with Less (D^3S)", "15_d3s.md",
    smoke=(("generation_batch_size", 16), ("num_iterations", 2), ("max_completion_length", 64)))
_tc("hapo-hetero", "hapo", "HAPO", "HAPO, entropy-aware temperature, advantage and clip per token",
    "Liu et al. 2025, From Uniform to Heterogeneous (HAPO)", "11_hapo_hetero.md",
    smoke=(("eval_every", 0), ("num_iterations", 2), ("generation_batch_size", 16),
           ("num_generations", 4), ("max_generation_rounds", 2)))
_tc("ppo-lm", "ppo_lm", "PPOLM", "synchronous PPO with a critic on the LM, T-PPO's baseline",
    "Ouyang et al. 2022, Training language models to follow instructions", "08_tppo.md",
    (("generation_batch_size", 4), ("value_warmup", 0), ("eval_every", 0),
     ("num_iterations", 2), ("max_completion_length", 16)))
_tc("tppo", "tppo", "TPPO", "T-PPO, windowed generation with refill, EGAE on cut responses",
    "Fan et al. 2025, Truncated Proximal Policy Optimization", "08_tppo.md",
    (("pool_size", 4), ("generation_batch_size", 4), ("window", 8), ("value_warmup", 0),
     ("eval_every", 0), ("num_iterations", 2), ("max_completion_length", 16)))

_PREF = "polab.algos.preference"


def _pref(name: str, summary: str, paper: str, card: str, default_env: str,
          overrides: tuple[tuple[str, object], ...] = (), score: str = "true_reward",
          smoke: tuple[tuple[str, object], ...] = (("rounds", 1), ("pairs_per_round", 16),
                                                   ("steps_per_round", 2)),
          module: str = "trainer", cls: str = "PreferenceTrainer",
          config: str = "PreferenceConfig", run_length: str = "rounds") -> None:
    """A chapter-08 algorithm: by default the round trainer with a variant's ``overrides``
    on a preference testbed (:data:`polab.algos.preference.testbeds.TESTBEDS`)."""
    register(AlgoSpec(name, "preference", f"{_PREF}.{module}:{config}",
                      f"{_PREF}.{module}:{cls}", summary, paper, "08_preferences",
                      default_env, card=card, overrides=overrides, testbed="preference",
                      score=score, smoke=smoke, run_length=run_length))


# chapter 08
_pref("dpo", "offline DPO: one loss on pairs from π_0, anchored to π_0 every round",
      "Rafailov et al. 2023, Direct Preference Optimization: Your Language Model is Secretly "
      "a Reward Model", "30_apo.md", "bandit",
      overrides=(("sampler", "initial"), ("reference", "initial")))
_pref("ipo", "offline IPO: DPO's pairs with the squared loss (m − 1/(2β))²",
      "Azar et al. 2023, A General Theoretical Paradigm to Understand Learning from Human "
      "Preferences", "16_inpo.md", "bandit",
      overrides=(("sampler", "initial"), ("reference", "initial"), ("loss_type", "ipo")))
_pref("iterative-dpo", "iterative DPO: fresh on-policy pairs each round, the last iterate as "
      "reference", "Xiong et al. 2024, Iterative Preference Learning from Human Feedback; "
      "Dong et al. 2024, RLHF Workflow", "30_apo.md", "bandit")
_pref("apo-accel", "APO: iterative DPO with Nesterov extrapolation of the reference",
      "He, Yuan & Gu 2024, Accelerated Preference Optimization for Large Language Model "
      "Alignment (arXiv 2410.06293)", "30_apo.md", "bandit", overrides=(("alpha", 0.5),))
_pref("inpo", "INPO, online mirror descent toward the regularised Nash of a preference game "
      "by a squared loss on oracle-labelled pairs from π_t",
      "Zhang et al. 2024, Iterative Nash Policy Optimization: Aligning LLMs with General "
      "Preferences via No-Regret Learning", "16_inpo.md", "game",
      overrides=(("loss_type", "inpo"), ("eta", 1.0), ("tau", 0.1), ("rounds", 30),
                 ("pairs_per_round", 2048), ("steps_per_round", 100), ("label_noise", 0.0)),
      score="exploitability")
_pref("parl", "A-PARL, bilevel reward learning from preferences with the implicit hypergradient",
      "Chakraborty et al. 2024, PARL: A Unified Framework for Policy Alignment in RL (ICLR)",
      "01_parl.md", "gridworld", module="parl", cls="PARL", config="PARLConfig",
      run_length="num_iterations", score="true_return", smoke=(("num_iterations", 2),))

def _ch11(name: str, family: Literal["robust", "offline"], module: str, cls: str,
          summary: str, paper: str, card: str | None, default_env: str, score: str,
          smoke: tuple[tuple[str, object], ...], overrides: tuple[tuple[str, object], ...] = (),
          config: str | None = None, run_length: str = "num_iterations") -> None:
    """A chapter-11 algorithm of the ``robust`` or ``offline`` family on one of its family's
    testbeds (``polab.algos.<family>.testbeds.TESTBEDS``)."""
    ref = f"polab.algos.{family}.{module}"
    register(AlgoSpec(name, family, f"{ref}:{config or cls + 'Config'}", f"{ref}:{cls}",
                      summary, paper, "11_robust_and_offline", default_env, card=card,
                      overrides=overrides, testbed=family, score=score, smoke=smoke,
                      run_length=run_length))


# chapter 11
_OFFLINE_SMOKE = (("num_iterations", 1), ("updates_per_iteration", 2), ("batch_size", 16),
                  ("dataset_size", 400), ("eval_episodes", 2), ("hidden", 16))
_ch11("iwocs", "robust", "iwocs", "IWOCS", "IWOCS: solve the worst kernel found so far, act "
      "on min_j Q_j, search the next worst kernel (exact, windy walk)", "Zouitine, Geist & "
      "Rachelson 2024, Solving Robust MDPs as a Sequence of Static RL Problems, arXiv "
      "2410.06212", "39_iwocs.md", "windy-walk", "worst_case_value",
      smoke=(("n_iterations", 2),), run_length="n_iterations")
_ch11("dr-rpo", "robust", "drrpo", "DRRPO", "DR-RPO, optimistic robust linear backup (TV dual "
      "per feature) with a closed-form KL mirror step", "Gu, He, Liu & Xu 2025, Policy "
      "Regularized Distributionally Robust MDPs with Linear Function Approximation (arXiv "
      "2510.14246)", "32_drrpo.md", "linear-toy", "robust_value", (("episodes", 20),),
      run_length="episodes")
_ch11("bc", "offline", "bc", "BC", "behaviour cloning of the offline dataset",
      "Pomerleau 1991, Efficient Training of Artificial Neural Networks for Autonomous "
      "Navigation", "26_a2pr.md", "point-mass-mixed", "charts/score", _OFFLINE_SMOKE)
_ch11("td3-bc", "offline", "td3_bc", "TD3BC", "TD3+BC, TD3 with a behaviour-cloning term",
      "Fujimoto & Gu 2021, A Minimalist Approach to Offline Reinforcement Learning",
      "26_a2pr.md", "point-mass-mixed", "charts/score", _OFFLINE_SMOKE)
_ch11("cql", "offline", "cql", "CQL", "CQL(H) on SAC: offline RL with a conservative penalty "
      "logsumexp_a Q − Q(data)", "Kumar, Zhou, Tucker & Levine 2020, Conservative Q-Learning "
      "for Offline Reinforcement Learning (NeurIPS)", "42_h2o.md", "pendulum-medium",
      "charts/real_return", smoke=(("num_iterations", 2), ("updates_per_iteration", 5)))
_ch11("a2pr", "offline", "a2pr", "A2PR", "A2PR, advantage-guided policy regularisation "
      "toward a VAE-augmented behaviour policy", "Liu et al. 2024 (ICML), Adaptive "
      "Advantage-Guided Policy Regularization for Offline Reinforcement Learning",
      "26_a2pr.md", "point-mass-mixed", "charts/score", _OFFLINE_SMOKE)
_ch11("h2o", "offline", "h2o", "H2O", "H2O: SAC on real data + a wrong simulator, sim rows "
      "IS-weighted by discriminators and Q-penalised where the dynamics gap is large",
      "Niu et al. 2022, When to Trust Your Simulator: Dynamics-Aware Hybrid Offline-and-Online "
      "Reinforcement Learning (NeurIPS)", "42_h2o.md", "pendulum-medium", "charts/real_return",
      smoke=(("num_iterations", 2), ("updates_per_iteration", 5)))


register(AlgoSpec("hdpo", "diffsim", "polab.algos.diffsim.hdpo:HDPOConfig",
                  "polab.algos.diffsim.hdpo:HDPO", "HDPO, pathwise gradients through the "
                  "inventory simulator", "Alvo et al. 2023, Deep Reinforcement Learning for "
                  "Inventory Networks: Toward Reliable Policy Optimization",
                  "10_differentiable_simulation", "backlogged", card="03_hdpo.md",
                  testbed="inventory", score="gap_pct", smoke=_INVENTORY_SMOKE))
register(AlgoSpec("inventory-reinforce", "diffsim",
                  "polab.algos.diffsim.hdpo:InventoryReinforceConfig",
                  "polab.algos.diffsim.hdpo:InventoryReinforce", "REINFORCE (score function) "
                  "on the inventory simulator, HDPO's baseline",
                  "Williams 1992, Simple statistical gradient-following algorithms",
                  "10_differentiable_simulation", "backlogged", card="03_hdpo.md",
                  testbed="inventory", score="gap_pct", smoke=_INVENTORY_SMOKE))
register(AlgoSpec("c-morl", "morl", "polab.algos.morl.config:CMORLConfig",
                  "polab.algos.morl.cmorl:CMORL", "C-MORL, constrained Pareto-front extension",
                  "Liu et al. 2025, C-MORL: Multi-Objective Reinforcement Learning through "
                  "Efficient Discovery of Pareto Front", "09_multi_objective",
                  "deep-sea-treasure-concave-v0", card="04_cmorl.md", testbed="mo",
                  score="morl/hypervolume", smoke=_MO_SMOKE))
register(AlgoSpec("linear-scalarisation", "morl", "polab.algos.morl.config:CMORLConfig",
                  "polab.algos.morl.cmorl:LinearScalarisation", "linear scalarisation (2M "
                  "preference-weighted PPO policies), C-MORL's baseline",
                  "Liu et al. 2025, C-MORL (its baseline)", "09_multi_objective",
                  "deep-sea-treasure-concave-v0", card="04_cmorl.md", testbed="mo",
                  score="morl/hypervolume", smoke=_MO_SMOKE, run_length="baseline_iterations"))


def _ch14(name: str, family: Literal["group", "diffusion"], module: str, cls: str,
          summary: str, paper: str, card: str, default_env: str, score: str,
          smoke: tuple[tuple[str, object], ...], overrides: tuple[tuple[str, object], ...] = (),
          config: str | None = None, run_length: str = "num_iterations") -> None:
    """A chapter-14 algorithm: ScaleRL's recipes (``group`` family, testbed ``scaling``:
    ``polab.algos.group.scalerl_testbeds``) or RL of the masked-diffusion LM (``diffusion``
    family and testbed: ``polab.algos.diffusion.testbeds``)."""
    ref = f"polab.algos.{family}.{module}"
    register(AlgoSpec(name, family, f"{ref}:{config or cls + 'Config'}", f"{ref}:{cls}",
                      summary, paper, "14_scaling_and_diffusion", default_env, card=card,
                      overrides=overrides, testbed="scaling" if family == "group" else family,
                      score=score, smoke=smoke, run_length=run_length))


# chapter 14
_ch14("scalerl", "group", "scalerl", "ScaleRL", "ScaleRL: CISPO, prompt-level mean, batch "
      "advantage std, zero-variance filter, no-positive-resampling, PipelineRL-k, fp32 head",
      "Khatri et al. 2025, The Art of Scaling Reinforcement Learning Compute for LLMs "
      "(arXiv 2510.13786)", "24_scalerl.md", "addition-reverse", "eval/pass_rate",
      smoke=(("num_iterations", 4), ("generation_batch_size", 32), ("num_train_prompts", 64)))
_ch14("bgpo", "diffusion", "bgpo", "BGPO", "BGPO: a per-response lower bound of the ELBO-ratio "
      "objective, a sum over MC samples (one backward each: memory flat in n_mc)",
      "Lin, Zhang, Hou & Li 2025, Boundary-Guided Policy Optimization for Memory-efficient RL "
      "of Diffusion Large Language Models (arXiv 2510.11683)", "41_bgpo.md",
      "addition-diffusion", "eval/pass@1",
      smoke=(("num_iterations", 2), ("n_mc", 2), ("num_prompts", 2), ("group_size", 4)))
_ch14("diffu-grpo", "diffusion", "diffu_grpo", "DiffuGRPO", "d1's diffu-GRPO: GRPO's clipped "
      "loss on one-step log-probs (answer fully masked, prompt randomly masked)",
      "Zhao, Gupta, Zheng & Grover 2025, d1: Scaling Reasoning in Diffusion Large Language "
      "Models via Reinforcement Learning (arXiv 2504.12216)", "41_bgpo.md",
      "addition-diffusion", "eval/pass@1",
      smoke=(("num_iterations", 2), ("inner_updates", 1), ("num_prompts", 2),
             ("group_size", 4)))
