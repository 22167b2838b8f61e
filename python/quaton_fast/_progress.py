"""Progress bars for the training loops: redrawn at most ``REFRESH_S`` apart, showing the current
loss without a host synchronisation in the training step.

On CUDA the loss (a device scalar) is copied into a pinned host buffer with ``non_blocking=True``
and a CUDA event is recorded behind the copy; the bar shows the value once ``event.query()`` says
the copy has landed (a query never waits). On the CPU the value is read directly. Both happen at
most every ``REFRESH_S`` seconds of wall time (never every k steps), so a fast loop does not
flood a log and a slow one still shows each new value.
"""
from __future__ import annotations

import time
from typing import Iterable

import torch
from tqdm.auto import tqdm

__all__ = ["REFRESH_S", "LiveLoss", "bar"]

#: seconds between two redraws of a bar (at most ~10 per second)
REFRESH_S = 0.1


def bar(iterable: Iterable, *, description: str, show: bool, leave: bool = False, **kw) -> tqdm:
    """A tqdm bar redrawn at most every :data:`REFRESH_S` seconds (time-based, ``miniters=1`` so
    the count never waits for a step threshold)."""
    return tqdm(iterable, desc=description, disable=not show, leave=leave, mininterval=REFRESH_S, miniters=1, **kw)


class LiveLoss:
    """Shows a device scalar (a running loss sum / count) on ``progress_bar`` without making the
    training step wait for the device.

    ``update(total, count)`` is called every step with ``total`` a 0-d tensor on the training
    device and ``count`` a Python number; it costs nothing unless :data:`REFRESH_S` has passed
    since the last request, and then one tiny division and an asynchronous copy (CUDA) or one read
    (CPU). ``name``: the key shown on the bar. A disabled bar makes every call a no-op.
    """

    def __init__(self, progress_bar: tqdm, *, name: str = "loss", refresh_s: float = REFRESH_S):
        self.bar, self.name, self.refresh_s = progress_bar, name, float(refresh_s)
        self.enabled = not getattr(progress_bar, "disable", True)
        self._next = 0.0
        self._host: torch.Tensor | None = None
        self._event = None
        self._pending = False

    def _show(self, value: float) -> None:
        self.bar.set_postfix({self.name: f"{value:.4f}"}, refresh=False)   # drawn at tqdm's next refresh

    def update(self, total: torch.Tensor, count: float) -> None:
        if not self.enabled:
            return
        if self._pending and self._event.query():      # an earlier copy has landed: show it (no wait)
            self._show(float(self._host))
            self._pending = False
        now = time.monotonic()
        if now < self._next or count <= 0:
            return
        self._next = now + self.refresh_s
        mean = total.detach() / count
        if mean.device.type != "cuda":
            self._show(float(mean))
            return
        if self._pending:                               # the previous copy is still in flight
            return
        if self._host is None:
            self._host = torch.empty((), dtype=mean.dtype, pin_memory=True)
            self._event = torch.cuda.Event()
        self._host.copy_(mean, non_blocking=True)
        self._event.record()
        self._pending = True
