"""Per-tensor cache of what is derived from a transfer function and does not change between steps.

A training step uses each transfer function H (P, P) in every forward and backward; the adjoint
needs conj(H), the fused column pass needs H^T and conj(H)^T. Recomputing them costs a pass over
P² complex values and an allocation per call; :func:`derived` computes each once per tensor and
recomputes it only when the tensor was modified in place (its ``_version`` moved) or replaced.

Entries are keyed by ``id(tensor)`` and dropped when the tensor is garbage-collected (a weak
reference's callback), so the cache never keeps a transfer function alive. No value is read: the
look-up is metadata only, free of host synchronisation.
"""
from __future__ import annotations

import weakref
from typing import Callable

import torch

_CACHE: dict[int, tuple[weakref.ref, dict[str, tuple[int, object]]]] = {}


def _drop(key: int) -> Callable[[weakref.ref], None]:
    return lambda _ref: _CACHE.pop(key, None)


def derived(tensor: torch.Tensor, name: str, make: Callable[[torch.Tensor], object]) -> object:
    """``make(tensor)`` computed once per (tensor, name) and tensor version; later calls return it."""
    key = id(tensor)
    entry = _CACHE.get(key)
    if entry is None or entry[0]() is not tensor:
        entry = (weakref.ref(tensor, _drop(key)), {})
        _CACHE[key] = entry
    hit = entry[1].get(name)
    version = tensor._version
    if hit is not None and hit[0] == version:
        return hit[1]
    with torch.no_grad():
        value = make(tensor)
    entry[1][name] = (version, value)
    return value


def conj_transfer(transfer: torch.Tensor) -> torch.Tensor:
    """conj(H) (P, P), materialised (not a lazy conjugate view) and cached."""
    return derived(transfer, "conj", lambda h: h.conj().resolve_conj())  # type: ignore[return-value]


def transposed_transfers(transfer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(H^T, conj(H)^T) (P, P) contiguous, as the fused column pass reads them; cached."""
    def make(h: torch.Tensor):
        ht = h.transpose(0, 1).contiguous()
        return ht, ht.conj().resolve_conj()
    return derived(transfer, "transposed", make)  # type: ignore[return-value]
