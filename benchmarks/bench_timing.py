"""Shared helpers of the GPU benchmarks: event timing, peak memory, atomic JSON records."""
from __future__ import annotations

import statistics
import time

import torch

from quaton_fast._atomic import atomic_write_json


def time_ms(fn, device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median wall time of fn() in ms: CUDA events on a GPU (after warm-up), perf_counter on CPU."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def peak_mib(fn, device: torch.device):
    """Peak CUDA memory allocated by fn() above what was allocated before, MiB (None on CPU)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2 ** 20


def write_json_atomic(path: str, records: list) -> None:
    atomic_write_json(records, path, indent=1)
