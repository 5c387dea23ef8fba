"""One trainer for learning from comparisons: offline and iterative DPO/IPO, SPPO, APO, INPO.

A ``step()`` is one *round* t (card 30's outer iteration, card 16's OMD iteration):

1. draw ``pairs_per_round`` prompts; sample ``samples_per_prompt`` responses per prompt from
   the current policy π_t (``sampler="current"``: on-policy) or from the frozen π_0
   (``"initial"``: offline data);
2. the testbed's oracle turns them into labelled (chosen, rejected) pairs;
3. freeze the round's *anchor* log-probs, a fixed log-linear mix of frozen policies
   (:func:`anchor_weights`): π_0 for offline DPO, π_t for iterative DPO/IPO/SPPO,
   ``(1 + α)·log π_t − α·log π_{t−1}`` for APO (card 30, step 3),
   ``ητ·log π_ref + (1 − ητ)·log π_t`` for INPO (card 16, ``h_t``);
4. ``steps_per_round`` Adam steps on the pair loss
   (:func:`~polab.algos.preference.losses.pair_loss`) from π_t, a fresh optimiser each
   round (each round is one proximal-point problem);
5. the new iterate becomes π_{t+1}; APO in weight space moves it to
   ``θ_{t+1} + α(θ_{t+1} − θ_t)`` (card 30, realisation B), which is then both the anchor
   and the start of the next round.

The testbed (:mod:`polab.algos.preference.testbeds`) gives π_0, prompts, the oracle and the
metrics. ``global_step`` counts labelled pairs (oracle queries).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from polab.algos.preference.backend import Pairs, PreferenceTestbed, TabularPolicy
from polab.algos.preference.losses import LossType, dpo_metrics, pair_loss
from polab.config import Config, param
from polab.core.algorithm import Algorithm


@dataclass(frozen=True)
class PreferenceConfig(Config):
    """The knobs of every pairwise-preference method of chapter 08 (cards 30, 16)."""

    seed: int = param(0, help="random seed (testbed instance, sampling, labels)", low=0,
                      high=2**31 - 1)
    rounds: int = param(6, help="rounds T: sample, label, optimise, move the anchor",
                        low=1, high=1000, paper="card 30 (T)")
    pairs_per_round: int = param(512, help="prompts per round, one labelled pair each",
                                 low=1, high=100_000, paper="card 30")
    samples_per_prompt: int = param(4, help="responses sampled per prompt (K); the oracle "
                                    "pairs best vs worst or two at random", low=2, high=64)
    steps_per_round: int = param(200, help="Adam steps on the round's pairs", low=1,
                                 high=100_000, paper="card 30 (200 Adam steps)")
    minibatch_size: int = param(0, help="pairs per Adam step (0 = all of the round's pairs)",
                                low=0, high=100_000)
    lr: float = param(0.05, help="Adam learning rate", low=1e-6, high=10.0, log=True)
    loss_type: LossType = param("sigmoid", help="pair loss: DPO (sigmoid), IPO, SPPO, INPO",
                                paper="TRL DPOTrainer loss_type; Wu et al. 2024; card 16")
    beta: float = param(0.5, help="β of DPO/IPO: inverse temperature, proximal strength",
                        low=0.001, high=10.0, log=True, paper="card 30")
    sampler: Literal["current", "initial"] = param(
        "current", help="who generates each round's responses: π_t (on-policy) or π_0 "
        "(offline data)")
    reference: Literal["previous", "initial"] = param(
        "previous", help="anchor: the last iterate π_t (iterative) or π_0 (offline)")
    alpha: float = param(0.0, help="APO's Nesterov momentum α (0 = iterative DPO)", low=0.0,
                         high=0.99, paper="He, Yuan & Gu 2024 (APO)")
    extrapolation: Literal["log", "weight"] = param(
        "log", help="APO's extrapolation: of log-probs (exact) or of weights (approximate)",
        paper="card 30 (A) / (B)")
    eta: float = param(0.1, help="η: INPO's OMD step / SPPO's scale", low=1e-4, high=100.0,
                       log=True, paper="card 16")
    tau: float = param(0.1, help="τ: INPO's KL-to-reference strength (η·τ < 1)", low=0.0,
                       high=10.0, paper="card 16")
    label_noise: float = param(0.1, help="probability the oracle flips a label", low=0.0,
                               high=0.5, paper="card 30")
    cyclic: float = param(0.5, help="weight c of the cyclic part of the preference game",
                          low=0.0, high=1.0, paper="card 16")

    def rules(self) -> list[tuple[bool, str]]:
        return [
            (self.loss_type != "inpo" or self.eta * self.tau < 1.0,
             f"eta·tau must be < 1 for INPO (π_t's exponent 1 − ητ), got "
             f"{self.eta}·{self.tau} = {self.eta * self.tau:g}"),
            (self.alpha == 0.0 or self.reference == "previous",
             "alpha > 0 (APO) needs reference='previous': it extrapolates the last iterates"),
            (self.loss_type != "inpo" or self.reference == "previous",
             "loss_type='inpo' anchors on π_t and π_ref itself: keep reference='previous'"),
        ]


def anchor_weights(config: PreferenceConfig, first_round: bool) -> dict[str, float]:
    """The round's anchor as weights on the frozen policies' log-probs: ``"initial"`` (π_0 =
    π_ref), ``"start"`` (π_t, this round's start) and ``"previous"`` (π_{t−1}).

    INPO: ``{initial: ητ, start: 1 − ητ}`` (card 16); offline: ``{initial: 1}``; APO in log
    space after its first round: ``{start: 1 + α, previous: −α}`` (card 30, step 3);
    otherwise (iterative DPO/IPO/SPPO, APO in weight space, APO's first round) ``{start: 1}``.
    """
    if config.loss_type == "inpo":
        eta_tau = config.eta * config.tau
        return {"initial": eta_tau, "start": 1.0 - eta_tau}
    if config.reference == "initial":
        return {"initial": 1.0}
    if config.alpha > 0 and config.extrapolation == "log" and not first_round:
        return {"start": 1.0 + config.alpha, "previous": -config.alpha}
    return {"start": 1.0}


def extrapolate_weights(new: nn.Module, old: nn.Module, alpha: float) -> None:
    """``θ_new ← θ_new + α(θ_new − θ_old)`` in place (card 30, realisation B)."""
    with torch.no_grad():
        for p_new, p_old in zip(new.parameters(), old.parameters(), strict=True):
            p_new.add_(p_new - p_old, alpha=alpha)


class PreferenceTrainer(Algorithm):
    """Rounds of sample → label → optimise a pair loss → move the anchor (module docstring).

    ``testbed`` is a testbed name (:data:`polab.algos.preference.testbeds.TESTBEDS`) or a
    :class:`PreferenceTestbed`.
    """

    state_parts = ("policy", "initial", "start", "previous", "generator")
    x_label = "preference pairs"
    config: PreferenceConfig

    def __init__(self, config: PreferenceConfig, testbed: PreferenceTestbed | str = "bandit",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        if isinstance(testbed, str):
            from polab.algos.preference.testbeds import make_testbed
            testbed = make_testbed(testbed, self.config, self.device)
        self.testbed = testbed
        policy = testbed.initial_policy()
        if isinstance(policy, torch.Tensor):  # a table of logits: a tabular softmax policy
            policy = TabularPolicy(policy)
        self.policy = policy.to(self.device)
        self.initial = self._frozen(self.policy)
        self.start = self._frozen(self.policy)
        self.previous = self._frozen(self.policy)

    @staticmethod
    def _frozen(module: nn.Module) -> nn.Module:
        copy_ = copy.deepcopy(module)
        copy_.requires_grad_(False)
        return copy_

    def anchor_logp(self, weights: dict[str, float], prompts: torch.Tensor,
                    responses: torch.Tensor) -> torch.Tensor:
        """``Σ_k w_k log π_k(y|x)`` over the frozen policies named in ``weights``."""
        with torch.no_grad():
            return sum(w * getattr(self, name).logp(prompts, responses)
                       for name, w in weights.items() if w != 0.0)

    def step(self) -> dict[str, Any]:
        c = self.config
        prompts = self.testbed.sample_prompts(c.pairs_per_round, self.generator)
        sampler = self.initial if c.sampler == "initial" else self.policy
        with torch.no_grad():
            responses = sampler.sample(prompts, c.samples_per_prompt, self.generator)
        pairs = Pairs(*self.testbed.make_pairs(prompts, responses, self.generator))
        weights = anchor_weights(c, first_round=self.iteration == 0)
        ref_w = self.anchor_logp(weights, pairs.prompts, pairs.chosen)
        ref_l = self.anchor_logp(weights, pairs.prompts, pairs.rejected)
        n = len(pairs.prompts)
        record: dict[str, Any] = {"pairs": n}
        if n:
            record.update(self._optimise(pairs, ref_w, ref_l))
        self._next_round()
        self.iteration += 1
        self.global_step += n
        record.update(self.testbed.metrics(self.policy, self.initial))
        return record

    def _optimise(self, pairs: Pairs, ref_w: torch.Tensor, ref_l: torch.Tensor) -> dict[str, float]:
        c = self.config
        n = len(pairs.prompts)
        size = n if c.minibatch_size == 0 else min(c.minibatch_size, n)
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=c.lr)
        for _ in range(c.steps_per_round):
            rows = (slice(None) if size == n else
                    torch.randperm(n, generator=self.generator, device=self.generator.device)
                    [:size].to(self.device))
            loss = pair_loss(c.loss_type, self.policy.logp(pairs.prompts[rows], pairs.chosen[rows]),
                             self.policy.logp(pairs.prompts[rows], pairs.rejected[rows]),
                             ref_w[rows], ref_l[rows], c.beta, c.eta).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            logp_w = self.policy.logp(pairs.prompts, pairs.chosen)
            logp_l = self.policy.logp(pairs.prompts, pairs.rejected)
            final = pair_loss(c.loss_type, logp_w, logp_l, ref_w, ref_l, c.beta, c.eta).mean()
        return {"loss": final.item(), **dpo_metrics(logp_w, logp_l, ref_w, ref_l, c.beta)}

    def _next_round(self) -> None:
        """π_{t−1} ← π_t, π_t ← the new iterate (extrapolated in weight space for APO-B)."""
        self.previous.load_state_dict(self.start.state_dict())
        if self.config.alpha > 0 and self.config.extrapolation == "weight":
            extrapolate_weights(self.policy, self.start, self.config.alpha)
        self.start.load_state_dict(self.policy.state_dict())
