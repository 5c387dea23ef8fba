"""This machine's processor in words, for the machine line of every speed figure.

Speed claims measured on two boxes with the same core count differ by 20-40 % (issue 19: a
2-core Xeon and a 2-core EPYC, one torch thread), so ``polab.device.describe`` and
``polab.claims.machine`` name the processor, not only the architecture.
"""

from __future__ import annotations

import platform


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` of a ``/proc/cpuinfo`` text ("" when it names none)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return ""


def cpu_name() -> str:
    """This machine's processor, e.g. ``AMD EPYC 9B14``: Linux's ``/proc/cpuinfo``, else what
    ``platform`` knows, else the architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            name = cpu_model(f.read())
    except OSError:
        name = ""
    return name or platform.processor() or platform.machine()
