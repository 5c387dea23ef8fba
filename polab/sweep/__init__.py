"""Sweeps and scaling curves (chapter 14).

* :mod:`.spec` — :class:`SweepSpec` (variants × grid × seeds of one algorithm), ``--grid``
  parsing and TOML spec files (:func:`load_spec`);
* :mod:`.engine` — :func:`run_sweep`: the trials in this process or as Ray tasks, one table
  (``OUT/results.csv``) with a row per logged record, failed trials as rows, reruns skipping
  the done ones (``polab sweep`` on the command line);
* :mod:`.curves` — card 24's sigmoid of pass rate against compute, compute in FLOPs and
  bootstrap confidence intervals over seeds.

``import polab.sweep`` does not import Ray (a dev extra): only a sweep with ``workers > 0``
does.
"""

from polab.sweep.engine import run_sweep, summary
from polab.sweep.spec import SweepSpec, load_spec, parse_grid

__all__ = ["SweepSpec", "load_spec", "parse_grid", "run_sweep", "summary"]
