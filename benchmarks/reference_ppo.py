"""CleanRL's ``ppo.py`` at its CartPole-v1 defaults, as a function: the reference that
benchmarks/ppo_cartpole.py times polab's PPO against.

    python benchmarks/reference_ppo.py --seed 1 [--check-point step|iteration] [--max-seconds 900]

Algorithm, defaults and order of random draws are CleanRL's ``ppo.py`` (master,
https://github.com/vwxyzjn/cleanrl/blob/master/cleanrl/ppo.py): 64-64 tanh actor and critic
with orthogonal init, GAE, clipped surrogate and clipped value loss, entropy 0.01, value 0.5,
grad-norm 0.5, advantages normalised per minibatch, lr 2.5e-4 annealed linearly over 500k
steps; 4 gymnasium envs in a ``SyncVectorEnv`` stepped one step at a time with numpy ↔ torch
conversions every step (``torch.Tensor(obs)``, ``torch.tensor(reward)``), 128 steps per
rollout, 4 epochs of 4 minibatches shuffled by ``np.random``, γ 0.99, λ 0.95, clip 0.2;
``random``, ``np.random`` and ``torch`` seeded with the seed, the envs by ``reset(seed=seed)``
(env i gets seed + i; action spaces are never sampled, so never seeded). Truncation is treated
as termination, as in CleanRL's ``ppo.py``. Left out: what CleanRL computes only to log it
(approx. KL, clip fraction, explained variance, the TensorBoard writer): a host sync per
minibatch and a few per iteration, none per env step.

Autoreset: CleanRL's script was written for gymnasium 0.29, whose ``SyncVectorEnv`` resets a
finished sub-env within the same ``step`` (the final observation goes to ``info``). Under
gymnasium 1.x this is ``AutoresetMode.SAME_STEP``, which the vector env here asks for: the
observation returned with ``done`` is already the next episode's first one, so ``dones[t + 1]``
masks the bootstrap across the boundary and no step is a dummy reset step. (Under 1.x's default
NEXT_STEP this GAE would wrongly treat each reset step as a transition.) Episode returns come
from gymnasium's vector ``RecordEpisodeStatistics``, which reads the mode and so counts what
CleanRL's per-env ``RecordEpisodeStatistics`` counts; its ``return_queue`` holds the last 20.

Check point: CleanRL logs ``charts/episodic_return`` inside its step loop, once per finished
episode, so a stop at 475 seen from outside its script (benchmarks/cleanrl_own.py) comes after
the env step on which an episode ends. ``check_point="step"`` (the default) does the same here;
``check_point="iteration"`` checks once per iteration, after the update, as polab's
``TrainingRun`` sees ``charts/episodic_return`` (benchmarks/cleanrl_own.py's
``--check-point iteration`` stops CleanRL's script at the same point).

Same seed, same run, until the physics' last bit: seed for seed, this function draws the same
networks, actions, resets and minibatches as CleanRL's own script under gymnasium 0.29.1
(benchmarks/cleanrl_own.py ``--compare``; log in benchmarks/results/reference_check.txt): on
seeds 0, 1, 4 and 5 both reach 475 at the same env step (213,440, 113,468, 111,980 and
233,672). gymnasium 1.x's
CartPole computes ``np.cos``/``np.sin`` where 0.29's used ``math.cos``/``math.sin``, which can
differ in the last bit; once episodes last a few hundred steps such a difference can flip an
action, and from there the runs are two draws of the same algorithm (seed 2: the same episodes
up to env step 127,324, then 475 at 172,888 here and 172,912 there; seed 3: 152,192 and
169,056). Per env step this function spends some 6 % less CPU time than the script (about
155 vs 165 µs): gymnasium 1.4's ``SyncVectorEnv`` with the vector statistics wrapper steps 4
CartPoles in about 41 µs where 0.29's with per-env wrappers takes about 56 µs (4 µs per env
step), and the logging-only work above is left out; the rest is the same torch work.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn
from torch.distributions.categorical import Categorical

ENV, NUM_ENVS, NUM_STEPS, TOTAL_TIMESTEPS = "CartPole-v1", 4, 128, 500_000
LEARNING_RATE, GAMMA, GAE_LAMBDA, CLIP_COEF = 2.5e-4, 0.99, 0.95, 0.2
UPDATE_EPOCHS, NUM_MINIBATCHES, ENT_COEF, VF_COEF, MAX_GRAD_NORM = 4, 4, 0.01, 0.5, 0.5
BATCH_SIZE = NUM_ENVS * NUM_STEPS
MINIBATCH_SIZE = BATCH_SIZE // NUM_MINIBATCHES


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, 1), std=1.0))
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, n_actions), std=0.01))

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
        probs = Categorical(logits=self.actor(x))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


def train(seed: int, device: torch.device, target: float = 475.0,
          max_seconds: float = math.inf,
          check_point: Literal["step", "iteration"] = "step") -> tuple[bool, float, int]:
    """Train until the mean return of the last 20 finished episodes reaches ``target`` (checked
    after every env step on which an episode ends, or after every iteration's update), the step
    budget runs out or ``max_seconds`` pass; return ``(reached, seconds, env steps)``."""
    start = time.perf_counter()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(ENV) for _ in range(NUM_ENVS)],
                                    autoreset_mode=AutoresetMode.SAME_STEP)
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs, buffer_length=20)
    obs_shape = envs.single_observation_space.shape
    agent = Agent(obs_shape[0], envs.single_action_space.n).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=LEARNING_RATE, eps=1e-5)

    obs = torch.zeros((NUM_STEPS, NUM_ENVS, *obs_shape), device=device)
    actions = torch.zeros((NUM_STEPS, NUM_ENVS), device=device)
    logprobs, rewards, dones, values = (torch.zeros((NUM_STEPS, NUM_ENVS), device=device)
                                        for _ in range(4))
    global_step = 0
    next_obs = torch.Tensor(envs.reset(seed=seed)[0]).to(device)
    next_done = torch.zeros(NUM_ENVS, device=device)
    num_iterations = TOTAL_TIMESTEPS // BATCH_SIZE
    for iteration in range(1, num_iterations + 1):
        optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1) / num_iterations) * LEARNING_RATE

        for step in range(NUM_STEPS):
            global_step += NUM_ENVS
            obs[step], dones[step] = next_obs, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step], logprobs[step] = action, logprob
            next_obs_np, reward, terminations, truncations, _ = envs.step(action.cpu().numpy())
            done_np = np.logical_or(terminations, truncations)
            rewards[step] = torch.tensor(reward, device=device).view(-1)
            next_obs = torch.Tensor(next_obs_np).to(device)
            next_done = torch.Tensor(done_np).to(device)
            if check_point == "step" and done_np.any() and np.mean(envs.return_queue) >= target:
                return True, time.perf_counter() - start, global_step
            if time.perf_counter() - start > max_seconds:
                return False, time.perf_counter() - start, global_step

        with torch.no_grad():  # GAE, time step by time step
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(NUM_STEPS)):
                if t == NUM_STEPS - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + GAMMA * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = (
                    delta + GAMMA * GAE_LAMBDA * nextnonterminal * lastgaelam)
            returns = advantages + values

        b_obs, b_actions = obs.reshape((-1, *obs_shape)), actions.reshape(-1)
        b_logprobs, b_advantages = logprobs.reshape(-1), advantages.reshape(-1)
        b_returns, b_values = returns.reshape(-1), values.reshape(-1)
        b_inds = np.arange(BATCH_SIZE)
        for _epoch in range(UPDATE_EPOCHS):
            np.random.shuffle(b_inds)
            for begin in range(0, BATCH_SIZE, MINIBATCH_SIZE):
                mb = b_inds[begin:begin + MINIBATCH_SIZE]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb], b_actions.long()[mb])
                ratio = (newlogprob - b_logprobs[mb]).exp()
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                clipped_ratio = torch.clamp(ratio, 1 - CLIP_COEF, 1 + CLIP_COEF)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * clipped_ratio).mean()
                newvalue = newvalue.view(-1)
                v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb],
                                                       -CLIP_COEF, CLIP_COEF)
                v_loss = 0.5 * torch.max((newvalue - b_returns[mb]) ** 2,
                                         (v_clipped - b_returns[mb]) ** 2).mean()
                loss = pg_loss - ENT_COEF * entropy.mean() + VF_COEF * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
                optimizer.step()
        if check_point == "iteration" and envs.return_queue and (
                np.mean(envs.return_queue) >= target):
            return True, time.perf_counter() - start, global_step
    return False, time.perf_counter() - start, global_step


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=math.inf)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--check-point", choices=("step", "iteration"), default="step")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reached, seconds, steps = train(args.seed, torch.device(args.device),
                                    max_seconds=args.max_seconds, check_point=args.check_point)
    print(f"seed {args.seed}: {'reached' if reached else 'did not reach'} 475 after "
          f"{seconds:.1f} s, {steps} env steps")
