"""Token-level control (chapter 04): methods that act per token on top of the group core
(``polab.algos.group.grpo.GRPO`` and its hooks) — CAPO (``capo``), D^3S (``d3s``),
heterogeneous HAPO (``hapo``), T-PPO with its synchronous baseline (``tppo``, ``ppo_lm``).

Taught in notebooks/04_token_level_control.ipynb.
"""
