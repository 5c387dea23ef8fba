"""Suite-wide settings: one torch thread (the tests use tiny tensors, for which a second
thread only adds synchronisation; on a busy 2-core machine it can cost 3-5x)."""

import torch

torch.set_num_threads(1)
