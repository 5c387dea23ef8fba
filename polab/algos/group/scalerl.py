"""ScaleRL — the recipe of *The Art of Scaling Reinforcement Learning Compute for LLMs*.

Khatri et al. 2025, arXiv 2510.13786; ../shared/cards/24_scalerl.md ("ScaleRL recipe").
The recipe's parts, each a pure function here or in the group core, each a knob:

1. **CISPO** (:func:`cispo_loss`, ``surrogate="cispo"``): truncated-IS REINFORCE,
   ``J = Σ sg(min(ρ, ε_max)) · Â · log π_train``, ``ρ = π_train / π_gen`` — every token keeps
   its gradient (PPO's clip, ``surrogate="clip"``, zeroes the clipped ones);
2. **prompt-level aggregation** (``loss_type="prompt"``: divide by the tokens of the prompt's
   group, then mean over prompts; ``"grpo"`` = sample mean, ``"dapo"`` = token mean;
   :func:`polab.algos.group.losses.aggregate`);
3. **advantages** ``Â = r − mean_group(r)`` divided by the std of ``Â`` over the rows in the
   loss (``scale_rewards="batch"``; :func:`scalerl_advantages`; ``"group"`` = per prompt);
4. **zero-variance filter** (``zero_var_filter``): groups with equal rewards leave the loss
   (not redrawn; :func:`polab.algos.group.dapo.informative_groups`);
5. **no-positive-resampling** (``no_positive_resample``, :class:`PromptPool`): a training
   prompt whose historical pass rate reaches ``resample_threshold`` (0.9) is removed for good;
   the validation split is separate and never touched;
6. **simulated PipelineRL-k** (``off_policy_k``): samples come from a generator copy of the
   weights refreshed every k updates (:func:`refresh_due`; k = 0: the trainer's own weights,
   on-policy); ``is_correction=False`` sets ρ ≡ 1 (the destabilised "k = 8 without IS");
7. **LM-head precision** (``lm_head_fp32=False``: the generator's head computed in bf16,
   :class:`Bf16Head`, so π_gen ≠ π_train even on-policy).

No forced interruption (answers are ≤ 5 tokens) and no KL. Compute: every record logs the
cumulative ``compute/flops`` (:func:`polab.core.compute.lm_flops`: 2N per *generated* token —
prompts not counted — and 6N per *trained* token, i.e. the tokens of the rows left in the loss)
and every ``eval_every`` iterations the validation pass rate ``eval/pass_rate``.

``ScaleRL(config, env)`` builds the trainer of the testbed ``env``
(:mod:`polab.algos.group.scalerl_testbeds`): ``"bandit"`` → the thin bandit loop
(:mod:`polab.algos.group.scalerl_bandit`); a shipped LM base (``"addition"``) or a
:class:`~polab.lm.tasks.Task` → GRPO with the recipe in its hooks
(:mod:`polab.algos.group.scalerl_lm`; use its ``LM_SCALE`` knobs there). Taught in
notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn

from polab.algos.group.dapo import informative_groups
from polab.algos.group.grpo import GRPOConfig
from polab.algos.group.losses import Aggregation, _masked_mean, aggregate, clipped_surrogate_loss
from polab.algos.group.presets import Preset, parse_presets
from polab.config import param
from polab.core.advantages import ScaleRewards, group_advantages
from polab.core.algorithm import Algorithm

Surrogate = Literal["cispo", "clip"]


@dataclass(frozen=True)
class ScaleRLConfig(GRPOConfig):
    """ScaleRL's knobs (card 24's widgets; TRL's names where the group core has them:
    ``loss_type`` is the card's ``aggregation``, ``scale_rewards`` its ``adv_norm``).
    Defaults are sized for the 64-arm bandit (16 prompts × 8, 900 iterations, ~3 s on one
    CPU thread)."""

    generation_batch_size: int = param(128, help="completions per iteration: prompts × G",
                                       low=1, high=65_536, paper="Khatri et al. 2025 §3 (48 "
                                       "prompts × 16)")
    learning_rate: float = param(0.1, help="Adam learning rate (bandit scale)", low=1e-6,
                                 high=1.0, log=True)
    update_epochs: int = param(1, help="passes over each generated batch (ScaleRL: one update "
                               "per batch; staleness comes from off_policy_k)", low=1, high=16)
    num_train_prompts: int = param(4096, help="training prompt pool (what no-positive-"
                                   "resampling prunes; the bandit's training contexts)",
                                   low=1, high=1_000_000)
    eval_every: int = param(2, help="updates between validation pass-rate checks (also after "
                            "the first and the last; 0 = never)", low=0, high=100_000)
    num_iterations: int = param(900, help="iterations (generation batches) in a run", low=1,
                                high=100_000)
    loss_type: Aggregation = param(
        "prompt", help="aggregation (card: `aggregation`): prompt = per prompt-group token "
        "mean then mean over prompts; grpo = sample mean; dapo = token mean",
        choices=("prompt", "grpo", "dapo"), paper="Khatri et al. 2025 §4 (prompt-level)")
    scale_rewards: ScaleRewards = param(
        "batch", help="advantage normalisation (card: `adv_norm`): batch = divide r − "
        "mean_group by the std of those over the rows in the loss; group = per prompt; none",
        paper="Khatri et al. 2025 §4 (batch-level)")
    surrogate: Surrogate = param("cispo", help="loss (card: `loss_type`): cispo = "
                                 "sg(min(ρ, eps_max))·Â·log π; clip = PPO/DAPO clip",
                                 paper="Khatri et al. 2025 §4; MiniMax-M1 (CISPO)")
    eps_max: float = param(4.0, help="CISPO's cap on the IS weight ρ = π_train / π_gen",
                           low=1.0, high=8.0, paper="card 24 (kit default)")
    off_policy_k: int = param(4, help="simulated PipelineRL-k: the generator's weights are "
                              "refreshed every k updates (0 = on-policy)", low=0, high=8,
                              paper="Khatri et al. 2025 §4 (PipelineRL, k = 8)")
    is_correction: bool = param(True, help="importance weights π_train / π_gen (off: ρ ≡ 1, "
                                "stale samples treated as on-policy)")
    zero_var_filter: bool = param(True, help="leave groups whose rewards are all equal out "
                                  "of the loss (not redrawn)",
                                  paper="Khatri et al. 2025 §4 (zero-variance filtering)")
    no_positive_resample: bool = param(True, help="remove a training prompt for good once its "
                                       "historical pass rate reaches resample_threshold",
                                       paper="Khatri et al. 2025 §4 (no-positive-resampling)")
    resample_threshold: float = param(0.9, help="pass rate at which a prompt leaves the pool",
                                      low=0.0, high=1.0, paper="Khatri et al. 2025 §4 (0.9)")
    eval_samples: int = param(4, help="LM testbeds: samples per held-out problem in the "
                              "validation pass rate (the bandit's is exact)", low=1, high=256)
    lm_head_fp32: bool = param(True, help="the generator's head (logits) in fp32; off: in "
                               "bf16, so π_gen ≠ π_train",
                               paper="Khatri et al. 2025 §4 (FP32 LM head)")

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (self.num_train_prompts >= self.num_prompts,
             f"num_train_prompts={self.num_train_prompts} must be at least the "
             f"{self.num_prompts} prompts drawn per iteration"),
            (not self.dynamic_sampling, "dynamic_sampling must be off: ScaleRL's zero-variance "
             "filter drops all-equal groups without redrawing (zero_var_filter)"),
            (self.scale_rewards != "batch" or self.generation_batch_size >= 2,
             "scale_rewards='batch' needs generation_batch_size >= 2"),
        ]


TABLE = """
[ScaleRL] Khatri et al. 2025, The Art of Scaling RL Compute for LLMs, arXiv 2510.13786
= CISPO, prompt-level mean, batch-normalised advantages, zero-variance filter,
  no-positive-resampling, PipelineRL-8, fp32 LM head (card 24, "ScaleRL recipe")
surrogate                  "cispo"         recipe item 2: truncated-IS REINFORCE (CISPO)
eps_max                    4.0             card 24 widget default (kit)
epsilon                    0.2             unused by CISPO
epsilon_high               0.28            unused by CISPO
loss_type                  "prompt"        recipe item 2: prompt-level aggregation
scale_rewards              "batch"         recipe item 3: r - mean_group over std_batch
zero_var_filter            True            recipe item 5
no_positive_resample       True            recipe item 6: pass rate >= 0.9 leaves for good
off_policy_k               8               recipe item 1: PipelineRL, max off-policyness 8
is_correction              True            recipe item 2: rho = pi_train / pi_gen
lm_head_fp32               True            recipe item 4: fp32 LM-head logits

[DAPO-style] Yu et al. 2025, DAPO, arXiv 2503.14476 (card 24's baseline)
= PPO clip 0.2/0.28, token mean, per-prompt std, no filters; same generator (k = 8)
surrogate                  "clip"          DAPO §3.1 clipped surrogate
eps_max                    4.0             unused by the clip
epsilon                    0.2             DAPO §3.1 Clip-Higher, eps_low = 0.2
epsilon_high               0.28            DAPO §3.1 Clip-Higher, eps_high = 0.28
loss_type                  "dapo"          DAPO §3.3 token-level loss
scale_rewards              "group"         DAPO §2.2 group-normalised advantage
zero_var_filter            False           card 24's baseline: no filters
no_positive_resample       False           card 24's baseline: no curriculum
off_policy_k               8               same asynchronous generator as ScaleRL
is_correction              True            DAPO's ratio pi / pi_old
lm_head_fp32               True            same precision as ScaleRL
"""
"""ScaleRL and its baseline as :func:`polab.algos.group.presets.parse_presets` tables."""

PRESETS: dict[str, Preset] = parse_presets(TABLE)

VARIANTS: dict[str, dict[str, Any]] = {
    "ScaleRL": {"preset": "ScaleRL"},
    "DAPO": {"preset": "DAPO-style"},
    "sample-mean": {"preset": "ScaleRL", "loss_type": "grpo"},
    "prompt-std": {"preset": "ScaleRL", "scale_rewards": "group"},
    "no-curriculum": {"preset": "ScaleRL", "no_positive_resample": False},
    "k8-no-IS": {"preset": "ScaleRL", "is_correction": False},
    "bf16-head": {"preset": "ScaleRL", "lm_head_fp32": False},
}
"""The benchmark's variants: the recipe, the baseline, leave-one-out ablations of the
efficiency knobs (aggregation, adv-norm, curriculum), the destabilised k = 8 without IS, and
the generator's head in bf16 (card 24's other destabiliser)."""

EFFICIENCY_ABLATIONS = ("ScaleRL", "sample-mean", "prompt-std", "no-curriculum")


def variant_knobs(name: str) -> dict[str, Any]:
    """The config fields the benchmark variant ``name`` sets (:data:`VARIANTS`): its preset's
    settings, then its own (a sweep's named variant: ``polab.sweep.SweepSpec(variants=...)``)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown ScaleRL variant {name!r}; known: {', '.join(VARIANTS)}")
    spec = dict(VARIANTS[name])
    return {**PRESETS[spec.pop("preset")].as_dict(), **spec}


def variant_config(name: str, base: ScaleRLConfig | None = None, **changes: Any
                   ) -> ScaleRLConfig:
    """The config of the benchmark variant ``name`` (:data:`VARIANTS`) on top of ``base``."""
    return (base or ScaleRLConfig()).replace(**{**variant_knobs(name), **changes}).validate()


# --- pure functions ------------------------------------------------------------------------


def scalerl_advantages(rewards: torch.Tensor, group_size: int, scale_rewards: ScaleRewards,
                       keep: torch.Tensor | None = None, eps: float = 1e-4) -> torch.Tensor:
    """Card 24 recipe item 3: ``Â_i = r_i − mean_group(r)``, then with ``"batch"`` divided by
    ``std(Â) + eps`` over the rows ``keep`` (those in the loss; all by default) — the std of
    the centred advantages, not of the rewards. ``"group"`` / ``"none"`` are GRPO's
    (:func:`polab.core.advantages.group_advantages`)."""
    if scale_rewards != "batch":
        return group_advantages(rewards, group_size, scale_rewards=scale_rewards, eps=eps)
    centred = group_advantages(rewards, group_size, scale_rewards="none")
    kept = centred if keep is None else centred[keep]
    std = kept.std() if kept.numel() > 1 else torch.zeros_like(centred[0])
    return centred / (std + eps)


def zero_variance_keep(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``(B,)`` True for the rows of groups whose rewards differ (card 24 recipe item 5);
    all-equal groups leave the loss and are not redrawn."""
    return informative_groups(rewards, group_size).repeat_interleave(group_size)


def cispo_loss(logp: torch.Tensor, gen_logp: torch.Tensor, advantages: torch.Tensor,
               mask: torch.Tensor, *, eps_max: float, loss_type: Aggregation = "prompt",
               group_size: int | None = None, is_correction: bool = True
               ) -> dict[str, torch.Tensor]:
    """CISPO (card 24 recipe item 2): per token
    ``L_t = −sg(min(ρ_t, ε_max)) · Â · log π_train(y_t)``, ``ρ_t = π_train / π_gen``, reduced by
    :func:`~polab.algos.group.losses.aggregate` (``"prompt"``: card 24's
    ``1 / Σ_g |y_g|`` per prompt, then the mean over prompts). The weight is truncated and
    stop-gradiented, so *every* token keeps ``∇ log π`` — unlike PPO's clip. With
    ``is_correction=False`` ρ ≡ 1. Returns ``loss``, ``loss_policy``, ``is/truncated`` (share
    of active tokens with ρ > ε_max) and ``is/rho_mean``."""
    if not eps_max >= 1.0:
        raise ValueError(f"eps_max={eps_max!r} must be >= 1")
    mask = mask.bool()
    logp = torch.where(mask, logp, 0.0)
    adv = advantages.detach()
    adv = adv.unsqueeze(-1) if adv.dim() == 1 else adv
    with torch.no_grad():
        rho = torch.exp(logp - torch.where(mask, gen_logp, 0.0)) if is_correction \
            else torch.ones_like(logp)
        weight = rho.clamp(max=eps_max)
    per_token = -(weight * adv * logp)
    loss = aggregate(per_token, mask, loss_type, group_size=group_size)
    return {"loss": loss, "loss_policy": loss,
            "is/truncated": _masked_mean((rho > eps_max).float(), mask),
            "is/rho_mean": _masked_mean(rho, mask)}


def scalerl_loss(logp: torch.Tensor, gen_logp: torch.Tensor, advantages: torch.Tensor,
                 mask: torch.Tensor, config: ScaleRLConfig) -> dict[str, torch.Tensor]:
    """The surrogate ``config`` names on the rows given: :func:`cispo_loss`, or the clipped
    surrogate (:func:`~polab.algos.group.losses.clipped_surrogate_loss`, π_old = π_gen, or
    π_train detached when ``is_correction`` is off), aggregated by ``config.loss_type``."""
    c = config
    if c.surrogate == "cispo":
        return cispo_loss(logp, gen_logp, advantages, mask, eps_max=c.eps_max,
                          loss_type=c.loss_type, group_size=c.num_generations,
                          is_correction=c.is_correction)
    old = gen_logp if c.is_correction else logp.detach()
    return clipped_surrogate_loss(logp, old, advantages, mask, epsilon=c.epsilon,
                                  epsilon_high=c.epsilon_high, loss_type=c.loss_type,
                                  group_size=c.num_generations)


def refresh_due(updates: int, off_policy_k: int) -> bool:
    """Simulated PipelineRL-k (card 24 recipe item 1): whether the generator copy takes the
    trainer's weights before sampling, after ``updates`` updates — every ``k`` updates, so the
    samples are 0 … k−1 updates stale (k = 0 and k = 1: always, on-policy)."""
    if off_policy_k < 0:
        raise ValueError(f"off_policy_k={off_policy_k!r} must be >= 0")
    return off_policy_k <= 1 or updates % off_policy_k == 0


class Bf16Linear(nn.Linear):
    """A linear head computed in bf16 (inputs, weights and bias cast, logits cast back to
    fp32): the generator's "LM head in bf16" of card 24 recipe item 4, simulated on any
    device. Same parameters and names as the :class:`~torch.nn.Linear` it replaces."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.bfloat16()
        return nn.functional.linear(x.bfloat16(), self.weight.bfloat16(), bias).float()


class PromptPool:
    """No-positive-resampling (card 24 recipe item 6) over ``size`` training prompts: draw
    from the active ones, record each group's rewards, and remove for good a prompt whose
    historical pass rate (all its rewards so far) reaches ``threshold`` — when ``active``.
    With ``active=False`` nothing is removed (the pass rates are still counted)."""

    def __init__(self, size: int, threshold: float = 0.9, active: bool = True):
        if size < 1:
            raise ValueError(f"PromptPool size={size!r} must be >= 1")
        self.threshold, self.enabled = threshold, active
        self.successes = torch.zeros(size)
        self.counts = torch.zeros(size)
        self.alive = torch.ones(size, dtype=torch.bool)

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Up to ``n`` distinct active prompt ids, at random (fewer when fewer remain)."""
        ids = self.alive.nonzero().squeeze(1)
        return ids[torch.randperm(len(ids), generator=generator)[:n]]

    def record(self, ids: torch.Tensor, rewards: torch.Tensor) -> None:
        """Add ``rewards`` (``(len(ids), G)``) to each prompt's history; prune."""
        ids = ids.cpu()
        self.successes.index_add_(0, ids, rewards.float().cpu().sum(1))
        self.counts.index_add_(0, ids, torch.full((len(ids),), float(rewards.shape[1])))
        if self.enabled:
            rate = self.successes / self.counts.clamp(min=1)
            self.alive &= ~((self.counts > 0) & (rate >= self.threshold))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"successes": self.successes.clone(), "counts": self.counts.clone(),
                "alive": self.alive.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.successes, self.counts, self.alive = (state[k].clone() for k in
                                                   ("successes", "counts", "alive"))


def generator_copy(model: nn.Module, head: str, fp32: bool) -> nn.Module:
    """A frozen copy of ``model`` (the generator's weights); unless ``fp32`` its ``head``
    (an :class:`~torch.nn.Linear` attribute) computes in bf16 (:class:`Bf16Linear`)."""
    gen = copy.deepcopy(model).eval().requires_grad_(False)
    if not fp32:
        getattr(gen, head).__class__ = Bf16Linear  # same parameters, bf16 forward
    return gen


def load_generator(gen: nn.Module, model: nn.Module) -> None:
    """Refresh the generator copy with the trainer's weights (its head keeps its precision)."""
    gen.load_state_dict(model.state_dict())


class ScaleRL(Algorithm):
    """The ScaleRL trainer of testbed ``env`` (:mod:`~polab.algos.group.scalerl_testbeds`):
    ``"bandit"`` (or a :class:`~polab.envs.contextual_bandit.ContextualBandit`) builds
    :class:`~polab.algos.group.scalerl_bandit.ScaleRLBandit`."""

    x_label = "completions sampled"

    def __new__(cls, config: ScaleRLConfig, env: Any = "bandit", **kwargs: Any) -> ScaleRL:
        if cls is not ScaleRL:
            return super().__new__(cls)
        from polab.envs.contextual_bandit import ContextualBandit
        if env == "bandit" or isinstance(env, ContextualBandit):
            from polab.algos.group.scalerl_bandit import ScaleRLBandit
            return super().__new__(ScaleRLBandit)
        from polab.lm.pretrain import shipped_bases
        from polab.lm.tasks import Task
        if isinstance(env, Task) or env in shipped_bases():
            from polab.algos.group.scalerl_lm import ScaleRLLM
            return super().__new__(ScaleRLLM)
        from polab.algos.group.scalerl_testbeds import TESTBEDS
        raise ValueError(f"ScaleRL env={env!r}: known testbeds {', '.join(TESTBEDS)} (or "
                         "any shipped LM base)")
