"""Which kernel path runs one diffractive layer (issue 22 item 3): the on-chip cluster kernel, the
three-pass fused kernels, or plain torch ops.

:func:`choose` is a pure function of a device record (:class:`DeviceProps`), what this build
compiled (:class:`BuildKernels`), the layer's size (N, P, B), the field dtype, and whether the
layer's quantizer must run with it (``quantizer``: None for a given phase, ``"phase"`` for a
quantizer on a phase table, ``"complex"`` for one on a complex/absorbing table). It returns a
:class:`Choice` with the path and a reason string. It touches no device: the tests give it fake
records (H100/H200 sm_90, A100 sm_80). :func:`layer_path` is the cached front end the functional
ops call: device facts, the native support codes and the decision are looked up once per
(device, N, P, B, dtype, quantizer) and cached, so the hot path makes no device query and no host
synchronisation (a dict lookup; CUDA-graph capturable after the first call).

**The paths.**

- ``on_chip`` (``cuda/fused/layer_cluster.cuh``): one thread-block cluster of C = 8 (else 16)
  blocks per sample holds the N x P half-transformed field in distributed shared memory: the
  field never returns to device memory between the row and column FFTs; one launch per layer and
  direction. Needs compute capability 9.0 with cluster launch, complex64, P compiled in
  (``layer_cluster_sizes``: 256, 400, 512), the per-block state ``workspace + ceil(N/C)·(P+1)·8``
  bytes within the opt-in shared memory for C = 8 or 16, 1 <= B <= 65535, and a phase-only
  modulation: its adjoint forms dL/dφ = Σ_b Im(conj(t u_b) g'_b), not the complex dL/dt an
  absorbing (complex-table) quantizer needs. A quantizer on a phase table runs as its own torch op
  before it (the on-chip kernel has no quantizer inside yet). ``QUATON_FAST_DISABLE_ON_CHIP=1``
  in the environment keeps every layer off this path (the kernel is not yet measured on a GPU).
- ``three_pass`` (``cuda/fused/propagate_fused.cuh``, ``quant_rows.cuh``): row pass, column pass,
  inverse row pass through a (B, N, P) spectrum in device memory; the quantizer inside its row
  passes. Needs sm_80/86/87/89/90, complex64, P compiled in (256, 400, 512, 1024), the descriptors'
  shared memory within the device's limit (the native ``fused_propagate_support``), B <= 65535.
- ``torch``: pad, ``fft2``, ×H, ``ifft2``, crop (any device, dtype, size).

**When both fused paths can run** the cost function :func:`predicted_layer_us` decides: a small
copy of ``benchmarks/kernel_model_d2nn.py``'s roofline for one layer forward + adjoint (nothing is
imported from ``benchmarks/``; ``tests/functional/test_dispatch.py`` checks that the two agree on
the benchmark sizes and batch sizes 1..256). On-chip: max(FP32 issue at 1.25 FLOPs per instruction,
shared-memory traffic at 128 B/clock/SM, distributed shared memory at an assumed 32 B/clock/SM,
DRAM) divided by the wave efficiency of B·C blocks (a partial wave idles the rest of the GPU),
plus 2 µs per launch; the three passes: per pass max(DRAM bytes / bandwidth, FLOPs at 2 per
FP32 instruction), plus 2 µs per launch. These are PREDICTIONS (datasheet constants and the named
assumptions), not measurements: at the benchmark sizes the on-chip path is predicted several
times faster wherever it fits; at small batches (B·C blocks far below one wave) the three passes
are predicted faster. Remeasure on a GPU (``benchmarks/bench_d2nn.py``) before trusting a margin.
"""
from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Mapping

import torch

from .._backend import native, notice_once

__all__ = ["DeviceProps", "BuildKernels", "Choice", "choose", "predicted_layer_us", "layer_path",
           "ON_CHIP_WORKSPACE_SM90", "THREE_PASS_CAPABILITIES"]

_LOG = logging.getLogger("quaton_fast.dispatch")

#: compute capabilities with three-pass cuFFTDx descriptors (cuda/fused/propagate_fused.cu)
THREE_PASS_CAPABILITIES = ((8, 0), (8, 6), (8, 7), (8, 9), (9, 0))
#: the on-chip kernel's block-FFT workspace per P on sm_90 (cuFFTDx shared_memory_size, rounded to
#: 16 bytes; docs/results/kernels.json smem_bytes minus the state). The real build reports its own
#: (native ``layer_cluster_workspace``); this table is for device records without a build (tests).
ON_CHIP_WORKSPACE_SM90 = {256: 8192, 400: 9600, 512: 12288}
#: block-FFT workspace assumed for a P without a compiled kernel (benchmarks/kernel_model_d2nn.py)
DEFAULT_WORKSPACE = 16 * 1024
CLUSTER_SIZES = (8, 16)
MAX_BATCH = 65535

# cost-function constants (benchmarks/kernel_model_d2nn.py, where each is argued)
FP32_LANES_PER_CLOCK_PER_SM = 128
FLOPS_PER_FP32_INSTR_ON_CHIP = 1.25   # radix-2 butterflies (the compiled kernel's SASS mix: 1.26-1.34)
FLOPS_PER_FP32_INSTR_THREE_PASS = 2.0  # kernel_model.design's count for the three passes
SMEM_BYTES_PER_CLOCK_PER_SM = 128
SMEM_BYTES_PER_ELEMENT_PER_FFT = 32
DSMEM_BYTES_PER_CLOCK_PER_SM = 32     # an assumption (no datasheet number)
SMEM_RESERVED_PER_BLOCK = 1024
LAUNCH_GAP_US = 2.0
#: kernels of the torch quantizer composition (fold, thresholds, sigmoid/staircase, sum, polar and
#: their backward) the on-chip path launches beside itself for a quantized layer: an estimate
QUANT_OUTSIDE_LAUNCHES = 16


@dataclass(frozen=True)
class DeviceProps:
    """What the decision needs to know about a CUDA device (CUDA device attributes).

    smem_* in bytes; clock_hz the SM clock; dram_bytes_per_s the peak memory bandwidth."""
    name: str
    major: int
    minor: int
    sm_count: int
    smem_per_block_optin: int
    smem_per_sm: int
    cluster_launch: bool
    clock_hz: float
    dram_bytes_per_s: float

    @classmethod
    def from_native(cls, name: str, facts: Mapping[str, int]) -> "DeviceProps":
        """From the extension's ``cuda_device_facts`` (clock and memory clock in kHz, bus width in
        bits; DDR: 2 transfers per memory clock)."""
        bw = 2.0 * facts["memory_clock_khz"] * 1e3 * facts["memory_bus_width_bits"] / 8.0
        return cls(name, facts["major"], facts["minor"], facts["sm_count"], facts["smem_per_block_optin"],
                   facts["smem_per_sm"], facts["cluster_launch"] == 1, facts["clock_khz"] * 1e3, max(bw, 1.0))


@dataclass(frozen=True)
class BuildKernels:
    """What this build of the extension compiled: the three-pass sizes P, the on-chip sizes P with
    their block-FFT workspace bytes (sm_90)."""
    three_pass_sizes: tuple[int, ...] = ()
    on_chip_workspace: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    """``path``: "on_chip", "three_pass" or "torch"; ``reason``: why, in words; ``fallback``: True
    when a faster path was ruled out by the device, build, dtype or size (said once);
    ``cluster``: blocks per cluster of the on-chip path; ``predicted_us``: the cost function's
    layer times (fwd + adjoint) of the paths that can run."""
    path: str
    reason: str
    fallback: bool = False
    cluster: int | None = None
    predicted_us: Mapping[str, float] = field(default_factory=dict)


def _fft_flops(P: int) -> float:
    return 5.0 * P * math.log2(P)


def on_chip_plan(props: DeviceProps, workspace: int, n: int, p: int) -> tuple[int, int] | None:
    """(cluster size C, dynamic shared memory per block) the launcher picks, or None if the
    state does not fit for C = 8 nor 16 (cuda/fused/layer_cluster.cuh, LayerClusterGeometry)."""
    for c in CLUSTER_SIZES:
        smem = workspace + math.ceil(n / c) * (p + 1) * 8
        if smem <= props.smem_per_block_optin:
            return c, smem
    return None


def predicted_layer_us(path: str, props: DeviceProps, n: int, p: int, batch: int, *, quantizer: str | None = None,
                       workspace: int = DEFAULT_WORKSPACE) -> float:
    """Predicted µs of one modulated layer, forward + adjoint, for ``path`` "on_chip" or
    "three_pass" (see the module docstring; the model of benchmarks/kernel_model_d2nn.py per layer)."""
    B = max(int(batch), 1)
    clk_sm = props.clock_hz * props.sm_count
    fft = _fft_flops(p)
    field_b, spec_b, H_b, mask_b = B * n * n * 8, B * n * p * 8, p * p * 8, n * n * 8
    prop_flops = (2 * n + 2 * p) * fft + 6 * p * p + 2 * n * n + 6 * n * n
    flops = B * (2 * prop_flops + 15 * n * n)  # forward + adjoint (dphi)
    if path == "on_chip":
        plan = on_chip_plan(props, workspace, n, p)
        if plan is None:
            return math.inf
        C, smem = plan
        props_fa = 2 * B  # sample-propagations, forward + adjoint
        bounds = [flops / FLOPS_PER_FP32_INSTR_ON_CHIP / (FP32_LANES_PER_CLOCK_PER_SM * clk_sm),
                  props_fa * ((2 * n + 2 * p) * p * SMEM_BYTES_PER_ELEMENT_PER_FFT + 4 * n * p * 8)
                  / (SMEM_BYTES_PER_CLOCK_PER_SM * clk_sm),
                  props_fa * 2 * n * p * 8 / (DSMEM_BYTES_PER_CLOCK_PER_SM * clk_sm),
                  (2 * (2 * field_b + H_b + mask_b) + field_b + n * n * 4) / props.dram_bytes_per_s]
        per_sm = max(props.smem_per_sm // (smem + SMEM_RESERVED_PER_BLOCK), 1)
        blocks, resident = B * C, per_sm * props.sm_count
        waves = math.ceil(blocks / resident)
        efficiency = blocks / (waves * resident)
        launches = 2 + (0 if quantizer is None else QUANT_OUTSIDE_LAUNCHES)
        return max(bounds) / efficiency * 1e6 + launches * LAUNCH_GAP_US
    if path == "three_pass":
        rate = FLOPS_PER_FP32_INSTR_THREE_PASS * FP32_LANES_PER_CLOCK_PER_SM * clk_sm
        bw = props.dram_bytes_per_s
        rows = B * n
        passes = [  # (bytes, flops): forward row, column, inverse row; adjoint row, column, inverse row
            (field_b + spec_b + mask_b, rows * fft + 6 * B * n * n),
            (2 * spec_b + H_b, B * p * (2 * fft + 6 * p)),
            (spec_b + field_b, rows * fft + 2 * B * n * n),
            (field_b + spec_b, rows * fft),
            (2 * spec_b + H_b, B * p * (2 * fft + 6 * p)),
            (spec_b + 2 * field_b + mask_b + B * n * n * 4, rows * fft + 17 * B * n * n),
        ]
        return sum(max(b / bw, f / rate) for b, f in passes) * 1e6 + len(passes) * LAUNCH_GAP_US
    raise ValueError(f"predicted_layer_us: path must be 'on_chip' or 'three_pass', got {path!r}")


def _three_pass_refusal(props, kernels, n, p, native_code) -> str | None:
    cap = (props.major, props.minor)
    if not kernels.three_pass_sizes:
        return "this build has no three-pass kernels (needs CUDA + nvidia-mathdx)"
    if cap not in THREE_PASS_CAPABILITIES:
        return f"the three-pass kernels are compiled for sm_80/86/89/90; this GPU is sm_{cap[0]}{cap[1]}"
    if p not in kernels.three_pass_sizes:
        return f"padded size P = {p} is not compiled into the three-pass kernels (have {tuple(kernels.three_pass_sizes)})"
    if native_code == 3:
        return f"(N, P) = ({n}, {p}) needs more shared memory per block than this GPU has (three-pass)"
    if native_code not in (None, 0):
        return f"the three-pass kernels refused (N, P) = ({n}, {p}) on this GPU (code {native_code})"
    return None


#: environment switch: QUATON_FAST_DISABLE_ON_CHIP=1 keeps every layer off the on-chip kernel (read
#: at a key's first decision) -- an escape hatch while the kernel has not been measured on a GPU
DISABLE_ENV = "QUATON_FAST_DISABLE_ON_CHIP"
DISABLED = -1  # the on_chip_code choose() gets when the switch is set
_ON_CHIP_CODES = {1: "not sm_90, no cluster launch, or no sm_90 kernel image in this build",
                  2: "P not compiled", 3: "not enough shared memory per block", 4: "bad shape",
                  5: "device query failed", 6: "cudaOccupancyMaxActiveClusters: no cluster of this shape fits an SM group"}


def _on_chip_refusal(props, kernels, n, p, batch, quantizer, native_code) -> str | None:
    if not kernels.on_chip_workspace:
        return "this build has no on-chip (cluster) kernel (needs CUDA + nvidia-mathdx with sm_90)"
    if (props.major, props.minor) != (9, 0) or not props.cluster_launch:
        return (f"the on-chip layer needs thread-block clusters on sm_90 (this GPU: sm_{props.major}{props.minor}"
                f"{', cluster launch' if props.cluster_launch else ', no cluster launch'})")
    # the fit first (the reason no build can remove); an uncompiled P with the model's workspace estimate
    ws = kernels.on_chip_workspace.get(p, DEFAULT_WORKSPACE)
    if on_chip_plan(props, ws, n, p) is None:
        c = CLUSTER_SIZES[-1]
        need = ws + math.ceil(n / c) * (p + 1) * 8
        return (f"the N x P state ({n * p * 8 / 2**20:.2f} MiB) does not fit one cluster: {need // 1024} KiB per block "
                f"even with {c} blocks (limit {props.smem_per_block_optin // 1024} KiB)")
    if p not in kernels.on_chip_workspace:
        return f"padded size P = {p} is not compiled into the on-chip kernel (have {tuple(sorted(kernels.on_chip_workspace))})"
    if batch < 1:
        return "empty batch"
    if quantizer == "complex":
        return ("the on-chip adjoint forms the phase gradient only; a complex (absorbing) table needs dL/dT, which the "
                "three-pass quantized kernels form")
    if native_code == DISABLED:
        return f"disabled by {DISABLE_ENV}=1"
    if native_code not in (None, 0):
        return f"the on-chip kernel refused (N, P) = ({n}, {p}): {_ON_CHIP_CODES.get(native_code, native_code)}"
    return None


def choose(props: DeviceProps, kernels: BuildKernels, n: int, p: int, batch: int, dtype: torch.dtype,
           quantizer: str | None = None, *, three_pass_code: int | None = None,
           on_chip_code: int | None = None) -> Choice:
    """The path for one layer (pure: no device access). ``three_pass_code``/``on_chip_code``: the
    extension's support answers for the real device (None: trust the rules above). Raises
    ValueError for ``quantizer`` not None/"phase"/"complex" or N, P out of range."""
    if quantizer not in (None, "phase", "complex"):
        raise ValueError(f"choose: quantizer must be None, 'phase' or 'complex', got {quantizer!r}")
    if not (1 <= n <= p):
        raise ValueError(f"choose: need 1 <= N <= P, got N = {n}, P = {p}")
    if dtype != torch.complex64:
        return Choice("torch", f"the fused kernels take complex64 fields, got {dtype}", fallback=True)
    if batch > MAX_BATCH:
        return Choice("torch", f"batch {batch} larger than {MAX_BATCH}", fallback=True)
    why_3 = _three_pass_refusal(props, kernels, n, p, three_pass_code)
    why_oc = _on_chip_refusal(props, kernels, n, p, batch, quantizer, on_chip_code)
    if why_oc is None:
        ws = kernels.on_chip_workspace[p]
        oc = predicted_layer_us("on_chip", props, n, p, batch, quantizer=quantizer, workspace=ws)
        cluster = on_chip_plan(props, ws, n, p)[0]
        if why_3 is not None:
            return Choice("on_chip", f"on-chip ({cluster} blocks per cluster); three-pass unavailable: {why_3}",
                          cluster=cluster, predicted_us={"on_chip": oc})
        tp = predicted_layer_us("three_pass", props, n, p, batch, quantizer=quantizer)
        pred = {"on_chip": oc, "three_pass": tp}
        if oc <= tp:
            return Choice("on_chip", f"on-chip predicted {oc:.1f} us vs three-pass {tp:.1f} us per layer (fwd+adj)",
                          cluster=cluster, predicted_us=pred)
        return Choice("three_pass", f"three-pass predicted {tp:.1f} us vs on-chip {oc:.1f} us per layer (fwd+adj; "
                      f"B = {batch} fills {batch * cluster} blocks, under a wave)", predicted_us=pred)
    if why_3 is None:
        tp = predicted_layer_us("three_pass", props, n, p, batch, quantizer=quantizer)
        return Choice("three_pass", f"three-pass; on-chip unavailable: {why_oc}", fallback=True,
                      predicted_us={"three_pass": tp})
    return Choice("torch", f"torch.fft; three-pass unavailable: {why_3}; on-chip unavailable: {why_oc}",
                  fallback=True)


# ------------------------------------------------------------------------------ the cached front end
@functools.lru_cache(maxsize=None)
def build_kernels() -> BuildKernels:
    """What the imported extension compiled (cached; empty without CUDA + cuFFTDx)."""
    mod = native()
    three = tuple(int(p) for p in mod.fused_propagate_sizes()) if mod is not None and hasattr(
        mod, "fused_propagate_sizes") else ()
    oc = {}
    if mod is not None and hasattr(mod, "layer_cluster_sizes"):
        oc = {int(p): int(mod.layer_cluster_workspace(p)) for p in mod.layer_cluster_sizes()}
    return BuildKernels(three, oc)


@functools.lru_cache(maxsize=None)
def device_props(device: torch.device) -> DeviceProps:
    """The dispatch's record of a CUDA device, queried once per device."""
    mod = native()
    name = torch.cuda.get_device_name(device)
    if mod is not None and hasattr(mod, "cuda_device_facts"):
        return DeviceProps.from_native(name, mod.cuda_device_facts(device.index))
    pr = torch.cuda.get_device_properties(device)
    optin = int(getattr(pr, "shared_memory_per_block_optin", 48 * 1024))
    per_sm = int(getattr(pr, "shared_memory_per_multiprocessor", optin))
    return DeviceProps(name, pr.major, pr.minor, pr.multi_processor_count, optin, per_sm, False, 1.5e9, 1.0e12)


def _quantizer_kind(quantizer) -> str | None:
    if quantizer is None:
        return None
    return "complex" if quantizer.complex_table else "phase"


@functools.lru_cache(maxsize=None)
def _decide(device: torch.device, n: int, p: int, batch: int, dtype: torch.dtype, quantizer: str | None) -> Choice:
    kernels = build_kernels()
    props = device_props(device)
    mod = native()
    three_code = on_chip_code = None
    if os.environ.get(DISABLE_ENV, "") == "1":
        on_chip_code = DISABLED
    if dtype == torch.complex64 and mod is not None:
        if p in kernels.three_pass_sizes and hasattr(mod, "fused_propagate_support"):
            three_code = int(mod.fused_propagate_support(n, p, device.index))
        if on_chip_code is None and p in kernels.on_chip_workspace and hasattr(mod, "layer_cluster_support"):
            with torch.cuda.device(device):  # the attribute and occupancy queries act on the current device
                on_chip_code = int(mod.layer_cluster_support(n, p, device.index)[0])
    choice = choose(props, kernels, n, p, batch, dtype, quantizer, three_pass_code=three_code,
                    on_chip_code=on_chip_code)
    _say_once(device, n, p, dtype, quantizer, choice)
    return choice


def _say_once(device, n, p, dtype, quantizer, choice: Choice) -> None:
    """The decision in the log once per key; a torch fallback on CUDA also as a RuntimeWarning once
    per (device, N, P, dtype, quantizer)."""
    _LOG.info("layer (N=%d, P=%d, %s, quantizer=%s) on %s: %s (%s)", n, p, dtype, quantizer, device, choice.path,
              choice.reason)
    if choice.path == "torch":
        notice_once(f"dispatch:{device}:{n}:{p}:{dtype}:{quantizer}",
                    f"diffractive layer (N={n}, P={p}) on {device}: {choice.reason}")


def layer_path(u: torch.Tensor, transfer: torch.Tensor, quantizer=None) -> Choice:
    """The path for a layer on ``u`` (..., N, N) with ``transfer`` (P, P) and an optional
    :class:`~quaton_fast.functional.fused_quantizer.FusedQuantizer` (metadata only; cached per
    (device, N, P, B, dtype, quantizer kind): no device query, no sync after the first call)."""
    if not u.is_cuda:
        return Choice("torch", "not a CUDA tensor")
    dev = u.device if u.device.index is not None else torch.device("cuda", torch.cuda.current_device())
    n = int(u.shape[-1])
    batch = u.numel() // (n * n) if n else 0
    return _decide(dev, n, int(transfer.shape[-1]), batch, u.dtype, _quantizer_kind(quantizer))
