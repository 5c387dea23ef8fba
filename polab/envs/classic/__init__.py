"""Gymnasium's classic-control environments as batched torch environments.

CartPole-v1, Acrobot-v1, Pendulum-v1 and MountainCarContinuous-v0 with gymnasium 1.x's
constants, equations, reset distributions, termination rules, rewards, spaces and time limits
(``max_episode_steps`` of their ``gymnasium.register`` entries). Each class mirrors one file of
``gymnasium/envs/classic_control/``; ``tests/test_envs_classic.py`` checks them step for step
against gymnasium.

``N`` copies live in one state tensor ``(N, D)`` (the rows of gymnasium's ``env.state``) in a
chosen float dtype on any device (``device=None``: the CPU); ``set_state``/``get_state`` read and
write it, observations and rewards come in that dtype. Every env owns a ``torch.Generator`` on
its device, so the same seed gives the same trajectory on that device. Gymnasium computes in
float64; ``dtype=torch.float64`` reproduces it to rounding, the default float32 is faster and
stays within float32 rounding of it over short horizons (chaotic dynamics amplify rounding).

Taught in notebooks/00_tour.ipynb.
"""

from polab.envs.classic.acrobot import Acrobot, wrap
from polab.envs.classic.base import ClassicControl
from polab.envs.classic.cartpole import CartPole
from polab.envs.classic.mountain_car import MountainCarContinuous
from polab.envs.classic.pendulum import Pendulum, angle_normalize

__all__ = ["Acrobot", "CartPole", "ClassicControl", "MountainCarContinuous", "Pendulum",
           "angle_normalize", "wrap"]
