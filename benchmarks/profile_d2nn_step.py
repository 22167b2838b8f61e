"""Host synchronisations and GPU busy time of a qf.nn.D2NN training step, per quantizer (issue 13).

For each quantizer: one warm-up step, then ``--steps`` training steps (zero grads, forward,
cross-entropy + regulariser, backward, optimizer step: Adam(capturable=True) on CUDA, SGD with momentum on
the CPU) under ``torch.profiler``. Recorded per step:

- ``scalar_reads``: ``aten::_local_scalar_dense`` calls (every ``.item()`` / ``bool(t)`` /
  ``float(t)`` ends there; on a GPU each is a device→host synchronisation);
- ``sync_calls``: CUDA runtime calls that block the host (``cudaStreamSynchronize``,
  ``cudaDeviceSynchronize``, ``cudaEventSynchronize``, and blocking ``cudaMemcpy``);
- ``isfinite_calls``: ``aten::isfinite`` (a value check per call, the pattern main had);
- ``gpu_busy``: the union of the steps' device activity intervals (kernels, copies) over their wall
  time (host clock around the steps and a final synchronize).

The issue's targets: zero host syncs per step, GPU busy >= 90 %. On a CPU the sync columns still
count the scalar reads (what would synchronise on a GPU) and gpu_busy is null.

    python benchmarks/profile_d2nn_step.py --out profile_d2nn.json                  # GPU
    python benchmarks/profile_d2nn_step.py --device cpu --config 16,2,3,2 --steps 1  # CPU smoke run
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quaton_fast as qf  # noqa: E402
from bench_timing import write_json_atomic  # noqa: E402
from quaton_fast.quant.quantizers import QUANTIZER_NAMES, make_quantizer  # noqa: E402

SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy")


def _is_sync_call(name: str) -> bool:
    return name.startswith(SYNC_CALLS) and not name.startswith("cudaMemcpyAsync")


def _union_us(spans: list[tuple[float, float]]) -> float:
    """Length of the union of sorted [start, end) intervals (microseconds)."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in spans:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def profile_quantizer(name: str, n: int, pad: int, batch: int, layers: int, device: torch.device,
                      steps: int, levels: int = 16) -> dict:
    torch.manual_seed(0)
    cfg = qf.nn.presets.preset_config("visible-128")
    cfg.update(n=n, pad=pad, num_layers=layers, object_size=None)
    net = qf.nn.D2NN(**cfg, quantizer=make_quantizer(name, levels), seed=0).to(device).train()
    # Adam keeps its step counters on the device only when capturable (else a CPU tensor it .item()s)
    opt = (torch.optim.Adam(net.parameters(), lr=1e-3, capturable=True) if device.type == "cuda"
           else torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9))
    x = torch.polar(torch.ones(batch, n, n), torch.rand(batch, n, n) * 3.14159).to(device)
    y = torch.randint(0, 10, (batch,)).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y) + net.regularization()
        loss.backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=acts) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall_s = time.perf_counter() - t0
    events = prof.events()
    scalar = sum(1 for e in events if e.name == "aten::_local_scalar_dense")
    isfinite = sum(1 for e in events if e.name == "aten::isfinite")
    syncs = sum(1 for e in events if _is_sync_call(e.name))
    # the final synchronize above is ours, not the step's
    syncs = max(syncs - (1 if device.type == "cuda" else 0), 0)
    busy = None
    if device.type == "cuda":
        spans = sorted((e.time_range.start, e.time_range.end) for e in events
                       if e.device_type == torch.autograd.DeviceType.CUDA)
        busy = _union_us(spans) * 1e-6 / wall_s
    return {"bench": "d2nn_step_profile", "quantizer": name,
            "config": {"N": n, "pad": pad, "batch": batch, "layers": layers, "levels": levels},
            "steps": steps, "step_ms_wall": 1e3 * wall_s / steps,
            "scalar_reads_per_step": scalar / steps, "sync_calls_per_step": syncs / steps,
            "isfinite_calls_per_step": isfinite / steps, "gpu_busy": busy}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--config", default="200,2,64,5", help="N,pad,batch,layers")
    p.add_argument("--quantizers", default=",".join(QUANTIZER_NAMES))
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("profile_d2nn_step.py: no CUDA device; use --device cpu")
    try:
        n, pad, batch, layers = (int(v) for v in args.config.split(","))
    except ValueError:
        raise SystemExit(f"profile_d2nn_step.py: --config: expected N,pad,batch,layers, got {args.config!r}")
    names = args.quantizers.split(",")
    bad = [q for q in names if q not in QUANTIZER_NAMES]
    if bad:
        raise SystemExit(f"profile_d2nn_step.py: --quantizers: unknown {bad}; choose from {QUANTIZER_NAMES}")
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    command = "python benchmarks/profile_d2nn_step.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for q in names:
        r = profile_quantizer(q, n, pad, batch, layers, device, args.steps)
        r.update(device=dev_name, command=command)
        rows.append(r)
        busy = f"{100 * r['gpu_busy']:5.1f} %" if r["gpu_busy"] is not None else "  n/a"
        print(f"{q:7s} step {r['step_ms_wall']:8.2f} ms | scalar reads/step {r['scalar_reads_per_step']:5.1f} | "
              f"blocking CUDA calls/step {r['sync_calls_per_step']:5.1f} | isfinite/step "
              f"{r['isfinite_calls_per_step']:5.1f} | GPU busy {busy}")
    if args.out:
        write_json_atomic(args.out, rows)
    return rows


if __name__ == "__main__":
    main()
