"""Rock–paper–scissors, the 3-response preference game (:mod:`polab.envs.preference.game`):
one prompt, ``P`` the cyclic tournament, π_ref = π_0 lopsided (``RPS_REFERENCE``)."""

from polab.envs.preference.game import rock_paper_scissors as from_config

__all__ = ["from_config"]
