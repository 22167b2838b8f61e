"""D2NN training-step benchmark (issue 5): quaton_fast vs a plain-PyTorch eager model, same run.

The baseline is what users write today: latent phases as parameters, PSQ with 16 levels as a sum
of torch sigmoids, centred zero-padding, torch.fft.fft2, ×H, ifft2, crop, exp(iφ) modulation,
|u|², detector energies, cross-entropy. quaton_fast runs ``qf.nn.D2NN`` with ``qf.quant.PSQ(16)``
and the same latent phases, inputs and transfer functions; the outputs are checked to agree before
anything is timed. Timing: CUDA events after warm-up, median of repeats; peak memory from
``torch.cuda.max_memory_allocated`` above the inputs. Achieved bandwidth is reported on the bytes
the fused design must move: per layer and pass direction, two sweeps that each read and write the
padded complex64 field (B·P²·8 bytes), i.e. ``4·L·B·P²·8`` bytes forward and twice that backward;
it is compared with a device-to-device copy measured in the same run.

    python benchmarks/bench_d2nn.py --out docs/results/bench_d2nn.json          # GPU
    python benchmarks/bench_d2nn.py --device cpu --configs 32,2,4,2 --repeats 2  # smoke run on CPU
"""
from __future__ import annotations

import argparse
import math
import sys

import torch

import quaton_fast as qf
from bench_timing import peak_mib, time_ms, write_json_atomic
from quaton_fast.functional.propagation import angular_spectrum_transfer

CONFIGS = [(128, 4, 32, 8), (200, 2, 64, 5), (256, 2, 32, 5), (512, 2, 8, 5)]  # (N, pad, batch, layers)
LEVELS = 16
SHARPNESS = 20.0  # PSQ-FT k, 1/rad


class EagerD2NN(torch.nn.Module):
    """Plain-PyTorch phase-only D2NN with PSQ phases (the baseline); geometry of the visible preset."""

    def __init__(self, latent: list, transfers: tuple, boxes_mask: torch.Tensor, thresholds, steps, base):
        super().__init__()
        self.latent = torch.nn.ParameterList([torch.nn.Parameter(w.detach().clone()) for w in latent])
        self.h_first, self.h_between, self.h_last = transfers
        self.register_buffer("mask", boxes_mask)
        self.register_buffer("thresholds", thresholds)
        self.register_buffer("steps", steps)
        self.base = base

    def psq(self, w):  # w: (N, N) latent phases, radians
        q = torch.full_like(w, self.base)
        for c, d in zip(self.thresholds, self.steps):
            q = q + d * torch.sigmoid(SHARPNESS * (w - c))
        return q

    @staticmethod
    def propagate(u, h):  # u: (B, N, N) complex64; h: (P, P) complex64
        n, p = u.shape[-1], h.shape[-1]
        o = (p - n) // 2
        padded = torch.nn.functional.pad(u, (o, p - n - o, o, p - n - o))
        out = torch.fft.ifft2(torch.fft.fft2(padded) * h)
        return out[..., o:o + n, o:o + n]

    def forward(self, u):  # u: (B, N, N) complex64 -> logits (B, 10)
        u = self.propagate(u, self.h_first)
        for i, w in enumerate(self.latent):
            u = u * torch.exp(1j * self.psq(w))
            u = self.propagate(u, self.h_last if i == len(self.latent) - 1 else self.h_between)
        e = torch.einsum("bij,cij->bc", u.real ** 2 + u.imag ** 2, self.mask)
        return 10.0 * e / e.amax(dim=-1, keepdim=True).detach().clamp_min(1e-30)


def build_pair(n, pad, layers, device):
    cfg = qf.nn.presets.preset_config("visible-128")
    cfg.update(n=n, pad=pad, num_layers=layers, object_size=None)
    quant = qf.quant.PSQ(LEVELS, qf.quant.FixedTemperature(SHARPNESS))
    ours = qf.nn.D2NN(**cfg, quantizer=quant, seed=0).to(device).train()
    P = pad * n
    hs = tuple(angular_spectrum_transfer(P, cfg["dx"], cfg["wavelength"], z, n_medium=cfg["n_medium"],
                                         evanescent=cfg["evanescent"], device=device)
               for z in (cfg["z_in"], cfg["dz"], cfg["z_out"]))
    q0 = ours.layers[0].quantizer
    eager = EagerD2NN([layer.latent for layer in ours.layers], hs, ours.readout.mask.clone(),
                      q0.thresholds.clone(), q0.steps.clone(), float(q0.base)).to(device)
    return ours, eager


def copy_bandwidth_gbs(device):
    if device.type != "cuda":
        return None
    x = torch.empty(256 * 2 ** 20, dtype=torch.uint8, device=device)  # 256 MiB
    y = torch.empty_like(x)
    ms = time_ms(lambda: y.copy_(x), device, 20)
    return 2 * x.numel() / (ms * 1e-3) / 1e9  # read + write


def parse_configs(text):
    if text is None:
        return CONFIGS
    out = []
    for item in text.split(";"):
        vals = [int(v) for v in item.split(",")]
        if len(vals) != 4 or min(vals) < 1:
            raise SystemExit(f"--configs: expected 'N,pad,batch,layers[;...]' of positive ints, got {item!r}")
        out.append(tuple(vals))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--configs", default=None, help="'N,pad,batch,layers;...' (default: the issue's four)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", default=None, help="JSON records file (written atomically)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_d2nn.py: no CUDA device; use --device cpu for a smoke run")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    copy_gbs = copy_bandwidth_gbs(device)
    command = "python benchmarks/bench_d2nn.py " + " ".join(sys.argv[1:])
    records = []
    for n, pad, batch, layers in parse_configs(args.configs):
        torch.manual_seed(0)
        ours, eager = build_pair(n, pad, layers, device)
        u = torch.polar(torch.ones(batch, n, n), math.pi * torch.rand(batch, n, n)).to(device)
        y = torch.randint(0, 10, (batch,), device=device)
        with torch.no_grad():
            a, b = ours(u), eager(u)
        err = float((a - b).norm() / b.norm())
        if not err < 1e-4:
            raise SystemExit(f"outputs disagree before timing (N={n}): rel err {err:.2e}")

        def step(model):
            def run():
                model.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(u), y).backward()
            return run

        def fwd(model):
            def run():
                with torch.no_grad():
                    model(u)
            return run

        P = pad * n
        field_bytes = batch * P * P * 8
        for what, make, factor in (("forward", fwd, 4), ("forward+backward", step, 12)):
            t_ours = time_ms(make(ours), device, args.repeats)
            t_base = time_ms(make(eager), device, args.repeats)
            m_ours, m_base = peak_mib(make(ours), device), peak_mib(make(eager), device)
            gbs = factor * layers * field_bytes / (t_ours * 1e-3) / 1e9
            rec = {"bench": f"d2nn_{what}", "config": {"N": n, "pad": pad, "batch": batch, "layers": layers,
                                                       "levels": LEVELS, "quantizer": "psq-ft"},
                   "ours_ms": t_ours, "baseline": "pytorch-eager", "baseline_ms": t_base,
                   "speedup": t_base / t_ours, "peak_mem_ours_mib": m_ours, "peak_mem_baseline_mib": m_base,
                   "achieved_gbs_on_fused_bytes": gbs, "copy_gbs": copy_gbs,
                   "output_rel_err": err, "device": name, "command": command}
            records.append(rec)
            print(f"{what:17s} N={n:4d} pad={pad} B={batch:3d} L={layers}: ours {t_ours:8.2f} ms | eager "
                  f"{t_base:8.2f} ms | x{t_base / t_ours:5.2f} | mem {m_ours} / {m_base} MiB | "
                  f"{gbs:7.1f} GB/s (copy {copy_gbs})")
    if args.out:
        write_json_atomic(args.out, records)


if __name__ == "__main__":
    main()
