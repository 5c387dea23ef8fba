"""Memory as autograd sees it: the bytes of the tensors a backward pass keeps alive.

Issue 18 measures BGPO's memory claim (card 41, claim 2: the exact objective grows linearly
with n_mc, BGPO stays flat) by the bytes autograd *saves* for backward, not by tracemalloc
(which does not see torch's allocator) nor by CUDA peak memory (no GPU here). A
:func:`torch.autograd.graph.saved_tensors_hooks` pair wraps every saved tensor in a handle;
a storage counts once however many ops save it (or views of it), is added when first saved
and removed when the last handle to it is freed (the graph is released by ``backward()``).
The peak of the live total is the memory a method needs for its graphs; the count is the same
on every device.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

T = TypeVar("T")


@dataclass
class SavedBytes:
    """The live and peak bytes of saved storages while a :func:`track_saved` block runs."""

    live: int = 0
    peak: int = 0
    saved_calls: int = 0
    _refs: dict[int, int] = field(default_factory=dict)
    _sizes: dict[int, int] = field(default_factory=dict)

    def _add(self, key: int, nbytes: int) -> None:
        self.saved_calls += 1
        if key not in self._refs:
            self._refs[key], self._sizes[key] = 0, nbytes
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        self._refs[key] += 1

    def _drop(self, key: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            self.live -= self._sizes.pop(key)
            del self._refs[key]


class _Handle:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor


class track_saved:
    """Context manager counting the bytes autograd saves for backward::

        with track_saved(exclude=model.parameters()) as mem:
            loss = f(model); loss.backward()
        mem.peak    # the most bytes held by live graphs at any moment

    ``exclude``: tensors whose storages are not counted (the parameters: they exist whatever
    the objective). Storage identity is ``untyped_storage().data_ptr()`` (with the device),
    so views of one tensor count once.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self.stats = SavedBytes()
        self._skip = {self._key(t) for t in exclude}
        self._hooks: Any = None

    @staticmethod
    def _key(t: torch.Tensor) -> int:
        return hash((t.device, t.untyped_storage().data_ptr()))

    def _pack(self, t: torch.Tensor) -> Any:
        key = self._key(t)
        if key in self._skip or t.untyped_storage().nbytes() == 0:
            return t
        handle = _Handle(t)
        self.stats._add(key, t.untyped_storage().nbytes())
        weakref.finalize(handle, self.stats._drop, key)
        return handle

    @staticmethod
    def _unpack(packed: Any) -> torch.Tensor:
        return packed.tensor if isinstance(packed, _Handle) else packed

    def __enter__(self) -> SavedBytes:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self.stats

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)


def peak_saved_bytes(fn: Callable[[], T], exclude: Iterable[torch.Tensor] = ()
                     ) -> tuple[T, int]:
    """Run ``fn()`` (which builds graphs and usually calls ``backward()``) and return its
    result and the peak bytes autograd held saved meanwhile (:class:`track_saved`)."""
    with track_saved(exclude) as stats:
        out = fn()
    return out, stats.peak
