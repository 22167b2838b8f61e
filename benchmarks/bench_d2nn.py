"""D2NN benchmark (issue 13): quaton_fast against the best plain-PyTorch step, same run, same inputs.

Baselines, all on the same latent phases, transfer functions, detector masks, inputs and labels:

- ``careful-eager``: plain PyTorch as a careful user writes it (the runs folder's README,
  ``../shared/gpu-runs/2026-11-30-h200/``): PSQ with 16 levels as ONE broadcast sigmoid over the
  thresholds (``base + (steps * sigmoid(k * (w[..., None] - c))).sum(-1)``), ``exp(1j*q)``
  modulation, centred ``F.pad``, ``fft2``, ``*H``, ``ifft2``, crop, detector energies by one
  ``einsum``, logits ``T·E/max E`` (max detached), cross-entropy;
- ``careful-eager-graph``: that step captured once in a ``torch.cuda.CUDAGraph`` and replayed
  (CUDA only);
- ``careful-eager-compile``: ``torch.compile`` of that model (the error is recorded if it fails,
  e.g. for complex tensors; a wall-clock budget bounds the time spent compiling);
- ``loop-eager`` (extra row only): the previous baseline, PSQ as a Python loop of 15 sigmoids.

Ours: ``qf.nn.D2NN`` with ``qf.quant.PSQ(16, FixedTemperature(20))`` run eagerly
(``ours_variant='eager'``) and, when the step can be captured, in a CUDA graph
(``ours_variant='cuda-graph'``; otherwise the capture error is recorded). The speedup of each row is
against that row's baseline; rows with ``baseline='best'`` compare with the fastest of the three
careful baselines (named in ``best_baseline``), the figure to quote.

"forward" = logits under ``torch.no_grad``; "forward+backward" = zero grads (set to None) +
forward + cross-entropy + backward (no optimizer step), as in the runs folder.

Before anything is timed, every implementation's logits and latent-phase gradients are checked
against ours (relative error < ``CHECK_RTOL``), and every CUDA graph's replay against its eager
step: a disagreement stops the run. Timing: CUDA events around each call after warm-up, median of
``--repeats`` calls (perf_counter on the CPU); peak memory: ``torch.cuda.max_memory_allocated``
above what was allocated before one call (for a CUDA graph, the peak while capturing it, which
is what its private pool keeps). On a GPU each row also gives ``fused_bytes`` (what the fused
design must move, :func:`fused_bytes`), ``floor_ms_at_copy_bw`` (those bytes at the
device-to-device copy bandwidth measured in the same run) and ours' achieved GB/s on them.

    python benchmarks/bench_d2nn.py --out docs/results/bench_d2nn.json     # GPU, the four sizes
    python benchmarks/bench_d2nn.py --device cpu --quick                      # CPU smoke run
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quaton_fast as qf  # noqa: E402
from bench_timing import peak_mib, time_ms, write_json_atomic  # noqa: E402
from quaton_fast._backend import cpu_model  # noqa: E402
from quaton_fast.functional.propagation import angular_spectrum_transfer  # noqa: E402

CONFIGS = [(128, 4, 32, 8), (200, 2, 64, 5), (256, 2, 32, 5), (512, 2, 8, 5)]  # (N, pad, batch, layers)
QUICK_CONFIGS = [(16, 2, 4, 2), (20, 2, 3, 3)]
LEVELS = 16
SHARPNESS = 20.0      # PSQ-FT k, 1/rad
TEMPERATURE = 10.0    # read-out T (qf.nn.DetectorReadout default)
CHECK_RTOL = 1e-4     # float32 through 2(L+1) FFT passes each way (tests/qf_testing.RTOL_FP32_FFT)
CAREFUL = ("careful-eager", "careful-eager-graph", "careful-eager-compile")
EXTRA = ("loop-eager",)


class BenchCheckError(RuntimeError):
    """Two implementations disagree before timing."""


# ------------------------------------------------------------------------------- the baselines
class CarefulEagerD2NN(torch.nn.Module):
    """Plain-PyTorch phase-only D2NN, written carefully (vectorised PSQ, no loop over levels)."""

    def __init__(self, latent, transfers, mask, thresholds, steps, base: float, k: float = SHARPNESS,
                 temperature: float = TEMPERATURE):
        super().__init__()
        self.latent = torch.nn.ParameterList([torch.nn.Parameter(w.detach().clone()) for w in latent])
        self.h_first, self.h_between, self.h_last = (h.detach().clone() for h in transfers)  # (P, P) complex64
        self.register_buffer("mask", mask.detach().clone())           # (C, N, N)
        self.register_buffer("thresholds", thresholds.detach().clone())  # (m,)
        self.register_buffer("steps", steps.detach().clone())          # (m,)
        self.base, self.k, self.temperature = float(base), float(k), float(temperature)

    def psq(self, w: torch.Tensor) -> torch.Tensor:  # (N, N) radians -> (N, N)
        return self.base + (self.steps * torch.sigmoid(self.k * (w[..., None] - self.thresholds))).sum(-1)

    @staticmethod
    def propagate(u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:  # (B, N, N), (P, P) -> (B, N, N)
        n, p = u.shape[-1], h.shape[-1]
        o = (p - n) // 2
        padded = F.pad(u, (o, p - n - o, o, p - n - o))
        return torch.fft.ifft2(torch.fft.fft2(padded) * h)[..., o:o + n, o:o + n]

    def forward(self, u: torch.Tensor) -> torch.Tensor:  # (B, N, N) complex64 -> logits (B, C)
        u = self.propagate(u, self.h_first)
        last = len(self.latent) - 1
        for i, w in enumerate(self.latent):
            u = u * torch.exp(1j * self.psq(w))
            u = self.propagate(u, self.h_last if i == last else self.h_between)
        e = torch.einsum("bij,cij->bc", u.real ** 2 + u.imag ** 2, self.mask)
        return self.temperature * e / e.amax(dim=-1, keepdim=True).detach().clamp_min(1e-30)


class LoopEagerD2NN(CarefulEagerD2NN):
    """The previous baseline: PSQ as a Python loop of one sigmoid per threshold."""

    def psq(self, w: torch.Tensor) -> torch.Tensor:
        q = torch.full_like(w, self.base)
        for c, d in zip(self.thresholds, self.steps):
            q = q + d * torch.sigmoid(self.k * (w - c))
        return q


@dataclass
class Case:
    n: int
    pad: int
    batch: int
    layers: int
    ours: torch.nn.Module
    models: dict          # baseline name -> module (eager ones; graph/compile are built from 'careful-eager')
    u: torch.Tensor       # (B, N, N) complex64
    y: torch.Tensor       # (B,) int64


def build_case(n: int, pad: int, batch: int, layers: int, device: torch.device, seed: int = 0) -> Case:
    """ours + the eager baselines on identical parameters, transfer functions, masks and inputs."""
    torch.manual_seed(seed)
    cfg = qf.nn.presets.preset_config("visible-128")
    cfg.update(n=n, pad=pad, num_layers=layers, object_size=None)
    quant = qf.quant.PSQ(LEVELS, qf.quant.FixedTemperature(SHARPNESS))
    ours = qf.nn.D2NN(**cfg, quantizer=quant, seed=seed).to(device).train()
    P = pad * n
    hs = tuple(angular_spectrum_transfer(P, cfg["dx"], cfg["wavelength"], z, n_medium=cfg["n_medium"],
                                         evanescent=cfg["evanescent"], device=device)
               for z in (cfg["z_in"], cfg["dz"], cfg["z_out"]))
    q0 = ours.layers[0].quantizer
    args = ([layer.latent for layer in ours.layers], hs, ours.readout.mask, q0.thresholds, q0.steps, q0.base)
    models = {"careful-eager": CarefulEagerD2NN(*args).to(device), "loop-eager": LoopEagerD2NN(*args).to(device)}
    g = torch.Generator().manual_seed(seed + 1)
    u = torch.polar(torch.ones(batch, n, n), math.pi * torch.rand(batch, n, n, generator=g)).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    return Case(n, pad, batch, layers, ours, models, u, y)


# ------------------------------------------------------------------------------- steps
def forward_fn(model, u):
    def run():
        with torch.no_grad():
            return model(u)
    return run


def step_fn(model, u, y, params=None):
    params = list(model.parameters()) if params is None else params

    def run():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(u), y)
        loss.backward()
        return loss
    return run


def latent_grads(model) -> list[torch.Tensor]:
    lat = model.latent if isinstance(model, CarefulEagerD2NN) else [layer.latent for layer in model.layers]
    return [w.grad for w in lat]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).norm() / b.detach().double().norm().clamp_min(1e-300))


def cross_check(case: Case, models: dict | None = None, rtol: float = CHECK_RTOL) -> dict:
    """Logits and latent gradients of every model in ``models`` (default: the case's eager
    baselines) against ours. Returns {name: {'logits': err, 'grad': err}}; raises BenchCheckError
    if any error is not below ``rtol`` (NaN fails too)."""
    models = case.models if models is None else models
    ref_logits = forward_fn(case.ours, case.u)()
    step_fn(case.ours, case.u, case.y)()
    ref_grads = [g.detach().clone() for g in latent_grads(case.ours)]
    out = {}
    for name, model in models.items():
        logits = forward_fn(model, case.u)()
        step_fn(model, case.u, case.y)()
        grads = latent_grads(model)
        errs = {"logits": _rel(logits, ref_logits),
                "grad": max(_rel(g, r) for g, r in zip(grads, ref_grads))}
        out[name] = errs
        if not all(e < rtol for e in errs.values()):
            raise BenchCheckError(f"{name} disagrees with quaton_fast before timing (N={case.n}, pad={case.pad}, "
                                  f"B={case.batch}, L={case.layers}): rel err logits {errs['logits']:.2e}, "
                                  f"latent grads {errs['grad']:.2e} (limit {rtol:.0e})")
    return out


def capture_graph(fn, device: torch.device):
    """Capture ``fn`` in a CUDA graph after warm-up on a side stream. Returns (replay, static
    output, peak MiB while capturing)."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = fn()
    torch.cuda.synchronize(device)
    peak = (torch.cuda.max_memory_allocated(device) - before) / 2 ** 20
    return graph.replay, static_out, peak


def _error_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:400]


# ------------------------------------------------------------------------------- one configuration
def run_case(case: Case, device: torch.device, baselines: tuple[str, ...], repeats: int, warmup: int,
             compile_state: dict) -> list[dict]:
    """Time ours and each baseline, forward and forward+backward; returns result dicts (no JSON
    metadata yet). Correctness is checked first (raises BenchCheckError)."""
    eager = {k: v for k, v in case.models.items() if k in baselines}
    checks = cross_check(case, eager)
    compiled = None
    compile_error = None
    if "careful-eager-compile" in baselines:
        compiled, compile_error = _try_compile(case, device, compile_state, checks)
    results = []
    for what in ("forward", "forward+backward"):
        def make(model, params=None):
            return forward_fn(model, case.u) if what == "forward" else step_fn(model, case.u, case.y, params)

        entry = {"what": what, "ours": {}, "base": {}, "checks": checks}
        ours_fn = make(case.ours)
        entry["ours"]["eager"] = (time_ms(ours_fn, device, repeats, warmup), peak_mib(ours_fn, device), None)
        if device.type == "cuda":
            entry["ours"]["cuda-graph"] = _graph_timing(make(case.ours), case.ours, device, repeats, warmup, what,
                                                        ref=make(case.ours))
        for name in baselines:
            if name == "careful-eager-graph":
                if device.type != "cuda":
                    entry["base"][name] = (None, None, "needs CUDA")
                    continue
                m = case.models["careful-eager"]
                entry["base"][name] = _graph_timing(make(m), m, device, repeats, warmup, what, ref=make(m))
            elif name == "careful-eager-compile":
                if compiled is None:
                    entry["base"][name] = (None, None, compile_error)
                    continue
                params = list(case.models["careful-eager"].parameters())
                fn = make(compiled, params)
                entry["base"][name] = (time_ms(fn, device, repeats, warmup), peak_mib(fn, device), None)
            else:
                fn = make(case.models[name])
                entry["base"][name] = (time_ms(fn, device, repeats, warmup), peak_mib(fn, device), None)
        results.append(entry)
    return results


def _graph_timing(fn, model, device, repeats, warmup, what, ref):
    """(ms, peak MiB, error) of ``fn`` captured in a CUDA graph; the replay is checked against the
    eager call (logits for forward, latent gradients for forward+backward) first."""
    try:
        want = ref()
        want = want.detach().clone() if what == "forward" else [g.detach().clone() for g in latent_grads(model)]
        torch.cuda.synchronize(device)
        # a step that synchronises cannot be captured (and a failed capture can leave the process in a
        # bad state): try it once under the sync debugger first
        torch.cuda.set_sync_debug_mode("error")
        try:
            fn()
        except RuntimeError as exc:
            return None, None, "not capturable, the step synchronises: " + _error_text(exc)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        replay, static_out, peak = capture_graph(fn, device)
        replay()
        torch.cuda.synchronize(device)
        got = static_out if what == "forward" else latent_grads(model)
        err = _rel(got, want) if what == "forward" else max(_rel(g, w) for g, w in zip(got, want))
        if not err < CHECK_RTOL:
            raise BenchCheckError(f"CUDA-graph replay disagrees with the eager step: rel err {err:.2e}")
        return time_ms(replay, device, repeats, warmup), peak, None
    except BenchCheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - a capture failure is a result to record
        torch.cuda.synchronize(device)
        return None, None, "capture failed: " + _error_text(exc)


def _try_compile(case: Case, device: torch.device, state: dict, checks: dict):
    """torch.compile of the careful model, within the remaining compile budget; checked against
    ours like the other baselines. Returns (compiled module or None, error text or None)."""
    if state.get("error_all"):
        return None, state["error_all"]
    if state["budget_s"] <= 0:
        return None, "skipped: --compile-budget-s exhausted"
    t0 = time.perf_counter()
    try:
        torch._dynamo.reset()  # each size compiled afresh, static shapes (no dynamic-shape kernels)
        compiled = torch.compile(case.models["careful-eager"], dynamic=False)
        # compile both graphs (forward under no_grad and the training step) inside the budget
        params = list(case.models["careful-eager"].parameters())
        forward_fn(compiled, case.u)()
        step_fn(compiled, case.u, case.y, params)()
        errs = {"logits": _rel(forward_fn(compiled, case.u)(), forward_fn(case.ours, case.u)())}
        step_fn(case.ours, case.u, case.y)()
        ref = [g.detach().clone() for g in latent_grads(case.ours)]
        step_fn(compiled, case.u, case.y, params)()
        errs["grad"] = max(_rel(g, r) for g, r in zip(latent_grads(case.models["careful-eager"]), ref))
        checks["careful-eager-compile"] = errs
        if not all(e < CHECK_RTOL for e in errs.values()):
            raise BenchCheckError(f"torch.compile output disagrees with quaton_fast: {errs}")
        return compiled, None
    except BenchCheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - a compile failure is a result to record
        err = "compile failed: " + _error_text(exc)
        state["error_all"] = err  # the same model fails the same way at every size
        return None, err
    finally:
        state["budget_s"] -= time.perf_counter() - t0


# ------------------------------------------------------------------------------- records
def fused_bytes(n: int, pad: int, batch: int, layers: int) -> dict:
    """Bytes the three-pass fused design must move through device memory per call (the floor).

    One propagation (complex64, 8 bytes, P = pad·N): the row pass reads u (B·N²) and writes X
    (B·N·P), the column pass reads and writes X and reads H (P²), the inverse row pass reads X and
    writes the output (B·N²): 8·(2·B·N² + 4·B·N·P + P²). A network makes L + 1 propagations
    (z_in, then one per layer). The backward makes the same passes with conj(H) and, for the L
    modulated layers, also reads the saved input (8·B·N²) and writes and reduces the per-sample
    phase gradient (2 × 4·B·N²). The quantizer's own reads (N² per layer) are ignored."""
    P = pad * n
    prop = 8 * (2 * batch * n * n + 4 * batch * n * P + P * P)
    fwd = (layers + 1) * prop
    bwd = (layers + 1) * prop + layers * batch * n * n * (8 + 4 + 4)
    return {"forward": fwd, "forward+backward": fwd + bwd}


def records_for(case: Case, results: list[dict], device_name: str, command: str, copy_gbs) -> list[dict]:
    rows = []
    config = {"N": case.n, "pad": case.pad, "batch": case.batch, "layers": case.layers, "levels": LEVELS,
              "quantizer": "psq-ft", "sharpness": SHARPNESS}
    moved = fused_bytes(case.n, case.pad, case.batch, case.layers)
    for entry in results:
        what = entry["what"]
        careful = {k: v for k, v in entry["base"].items() if k in CAREFUL and v[0] is not None}
        best = min(careful, key=lambda k: careful[k][0]) if careful else None
        for variant, (ours_ms, ours_mem, ours_err) in entry["ours"].items():
            targets = list(entry["base"].items()) + ([("best", careful[best])] if best else [])
            for name, (base_ms, base_mem, base_err) in targets:
                row = {"bench": f"d2nn_{what}", "config": config, "ours_variant": variant,
                       "ours_ms": ours_ms, "baseline": name, "baseline_ms": base_ms,
                       "speedup": (base_ms / ours_ms) if (ours_ms and base_ms) else None,
                       "peak_mem_ours_mib": ours_mem, "peak_mem_baseline_mib": base_mem,
                       "device": device_name, "command": command}
                if name == "best":
                    row["best_baseline"] = best
                if name in EXTRA:
                    row["extra_row"] = True
                errors = {k: v for k, v in (("ours_error", ours_err), ("baseline_error", base_err)) if v}
                row.update(errors)
                if copy_gbs:
                    row["fused_bytes"] = moved[what]
                    row["floor_ms_at_copy_bw"] = moved[what] / (copy_gbs * 1e9) * 1e3
                    row["copy_gbs"] = copy_gbs
                    if ours_ms:
                        row["achieved_gbs_on_fused_bytes"] = moved[what] / (ours_ms * 1e-3) / 1e9
                row["check_rel_err"] = entry["checks"].get(name if name != "best" else best)
                rows.append(row)
    return rows


def copy_bandwidth_gbs(device: torch.device):
    if device.type != "cuda":
        return None
    x = torch.empty(256 * 2 ** 20, dtype=torch.uint8, device=device).random_()  # 256 MiB, not zeros
    y = torch.empty_like(x)
    ms = time_ms(lambda: y.copy_(x), device, 20)
    return 2 * x.numel() / (ms * 1e-3) / 1e9  # read + write


def parse_configs(text):
    out = []
    for item in text.split(";"):
        try:
            vals = [int(v) for v in item.split(",")]
        except ValueError:
            vals = []
        if len(vals) != 4 or min(vals) < 1:
            raise SystemExit(f"bench_d2nn.py: --configs: expected 'N,pad,batch,layers[;...]' of positive ints, "
                             f"got {item!r}")
        out.append(tuple(vals))
    return out


def _fmt(ms):
    return f"{ms:8.2f}" if ms is not None else "     n/a"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--configs", default=None, help="'N,pad,batch,layers;...' (default: the issue's four sizes)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, few repeats, no torch.compile (smoke run)")
    p.add_argument("--baselines", default=None,
                   help=f"comma list from {', '.join(CAREFUL + EXTRA)} (default: all; --quick: no compile)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (median; default 50)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--compile-budget-s", type=float, default=240.0,
                   help="wall-clock seconds torch.compile may take over all sizes; later sizes record 'skipped'")
    p.add_argument("--out", default=None, help="JSON records file (written atomically)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_d2nn.py: no CUDA device; use --device cpu --quick for a smoke run")
    baselines = tuple(CAREFUL + EXTRA) if args.baselines is None else tuple(args.baselines.split(","))
    if args.quick and args.baselines is None:
        baselines = tuple(b for b in baselines if b != "careful-eager-compile")
    unknown = [b for b in baselines if b not in CAREFUL + EXTRA]
    if unknown or "careful-eager" not in baselines:
        raise SystemExit(f"bench_d2nn.py: --baselines must include careful-eager and name only "
                         f"{', '.join(CAREFUL + EXTRA)}; got {args.baselines!r}")
    configs = parse_configs(args.configs) if args.configs else (QUICK_CONFIGS if args.quick else CONFIGS)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 50)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({cpu_model()})"
    copy_gbs = copy_bandwidth_gbs(device)
    command = "python benchmarks/bench_d2nn.py " + " ".join(sys.argv[1:] if argv is None else argv)
    compile_state = {"budget_s": args.compile_budget_s}
    records = []
    print(f"device {name}; baselines {', '.join(baselines)}; median of {repeats}; copy {copy_gbs} GB/s")
    for n, pad, batch, layers in configs:
        case = build_case(n, pad, batch, layers, device)
        results = run_case(case, device, baselines, repeats, args.warmup, compile_state)
        rows = records_for(case, results, name, command, copy_gbs)
        records.extend(rows)
        for entry in results:
            line = [f"{entry['what']:16s} N={n:4d} pad={pad} B={batch:3d} L={layers}:"]
            for variant, (ms, mem, err) in entry["ours"].items():
                line.append(f"ours[{variant}] {_fmt(ms)}")
            for b, (ms, mem, err) in entry["base"].items():
                line.append(f"{b} {_fmt(ms)}")
            print(" | ".join(line))
            for variant, (ms, mem, err) in list(entry["ours"].items()) + list(entry["base"].items()):
                if err:
                    print(f"    {variant}: {err}")
        for row in rows:
            if row["baseline"] == "best":
                sp = f"x{row['speedup']:.2f}" if row["speedup"] else "n/a"
                print(f"    {row['bench']} ours[{row['ours_variant']}] vs best ({row['best_baseline']}): {sp}; "
                      f"peak MiB ours {row['peak_mem_ours_mib']} / baseline {row['peak_mem_baseline_mib']}")
    if args.out:
        write_json_atomic(args.out, records)
    return records


if __name__ == "__main__":
    try:
        main()
    except BenchCheckError as exc:
        raise SystemExit(f"bench_d2nn.py: {exc}")
