"""polab — a Policy-Optimization Lab: batched testbeds, readable algorithms, one training loop.

``polab`` is the library layer: it never imports ipywidgets (the Jupyter layer is ``widgets``).
"""

from polab.config import Config, param
from polab.device import pick_device, seed_everything
from polab.train import History, TrainingRun, train

__all__ = ["Config", "History", "TrainingRun", "param", "pick_device", "seed_everything", "train"]
__version__ = "0.1.0"
