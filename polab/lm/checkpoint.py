"""Verified base-checkpoint files: written atomically with a SHA-256 of their contents,
checked when read.

A base checkpoint is one ``torch.save`` dict: ``model_config``, ``model`` (the GPT's
``state_dict``), ``tokenizer``, ``task``, ``metrics`` (the numbers measured when it was made,
see ``polab.lm.pretrain``), ``torch`` (the version that made it) and ``sha256``, the digest of
:func:`content_digest` over the first five. :func:`read_checkpoint` recomputes it, so a file
whose weights or metrics changed by one bit, a truncated file and a file that is not a polab
base checkpoint each raise :class:`CheckpointError` naming the file and the problem instead of
loading wrong numbers silently or ending in a torch traceback. :func:`write_checkpoint` writes
a temporary file beside the target and renames it over the target (``os.replace``), so a
crash mid-write never leaves a half-written checkpoint, nor a half-overwritten shipped one.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from polab.train import atomic_write

CONTENT = ("model_config", "model", "tokenizer", "task", "metrics")
"""The entries the digest covers: everything ``load_base`` builds the model and task from."""


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable, foreign or corrupt."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"checkpoint {path}: {problem}")


def content_digest(payload: dict[str, Any]) -> str:
    """SHA-256 (hex) of a checkpoint's content: the JSON of its config, tokenizer, task and
    metrics (sorted keys), then each weight's name, dtype, shape and raw bytes, by name."""
    h = hashlib.sha256()
    h.update(json.dumps({k: payload[k] for k in CONTENT if k != "model"},
                        sort_keys=True).encode())
    for name in sorted(payload["model"]):
        tensor = payload["model"][name].detach().cpu().contiguous()
        h.update(f"\n{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def write_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Save ``payload`` (the :data:`CONTENT` entries) with its ``torch`` version and
    ``sha256``, atomically; return the path."""
    missing = [k for k in CONTENT if k not in payload]
    if missing:
        raise ValueError(f"write_checkpoint: payload lacks {missing}")
    state = {k: payload[k] for k in CONTENT}
    state["torch"] = str(payload.get("torch", torch.__version__))
    state["sha256"] = content_digest(state)
    return atomic_write(Path(path), lambda f: torch.save(state, f))


def read_checkpoint(path: str | os.PathLike,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify a checkpoint written by :func:`write_checkpoint`; raise
    :class:`CheckpointError` naming the file and the problem if it is missing, truncated,
    not a torch file, not a polab base checkpoint, or its contents do not match its sha256."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise CheckpointError(path, _unreadable(path, err)) from None
    if not isinstance(state, dict):
        raise CheckpointError(path, f"not a polab base checkpoint (it holds a "
                                    f"{type(state).__name__}, not a dict)")
    missing = [k for k in CONTENT if k not in state]
    if missing or not isinstance(state.get("model"), dict):
        raise CheckpointError(path, f"not a polab base checkpoint (it lacks {missing or 'model'};"
                                    f" it has {sorted(map(str, state))})")
    if "sha256" not in state:
        raise CheckpointError(path, "carries no sha256, so it cannot be verified (saved before "
                                    "polab checked checkpoints): rebuild it with "
                                    "python -m polab.lm.pretrain NAME")
    try:
        actual = content_digest(state)
    except Exception as err:  # a weight that is not a tensor, metrics that are not JSON, ...
        raise CheckpointError(path, f"malformed content ({type(err).__name__}: "
                                    f"{_first_line(err)})") from None
    if actual != state["sha256"]:
        raise CheckpointError(path, f"corrupt: its content does not match its sha256 (stored "
                                    f"{str(state['sha256'])[:12]}…, computed {actual[:12]}…): "
                                    "a changed bit in the weights or metrics; restore the file "
                                    "(git checkout) or rebuild it with "
                                    "python -m polab.lm.pretrain NAME")
    return state


def _unreadable(path: Path, err: Exception) -> str:
    with open(path, "rb") as f:
        head = f.read(4)
    if isinstance(err, pickle.UnpicklingError):  # a readable archive holding other objects
        kind = ("its data is not plain tensors, numbers and strings (corrupt, or objects of "
                "another program: not loaded, for safety)")
    elif head.startswith(b"PK"):  # torch.save writes a zip archive
        kind = "a damaged torch archive (truncated or corrupt)"
    elif not head:
        kind = "empty"
    else:
        kind = "not a torch checkpoint file"
    return f"{kind}; torch.load said {type(err).__name__}: {_first_line(err)}"


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else "(no message)"
