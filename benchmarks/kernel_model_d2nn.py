"""Issue 22's model of one D2NN training step (forward + backward): the three-pass design against
the on-chip (thread-block cluster) design, at the four benchmark sizes, on H100 SXM and H200.

PREDICTIONS, not measurements: every time below is a roofline bound from datasheet constants
(``kernel_model.DEVICES``) and the assumptions named in this file; nothing here ran on a GPU. The
only measured numbers are the careful plain-PyTorch steps recorded on an H200
(``shared/gpu-runs/2026-11-30-h200/``, ``docs/results/gpu_h200_2026-11-30.json``).

The step (both designs): L+1 propagations forward (L of them after a phase mask) and L+1 adjoint
propagations (conj H; the L masked ones also form dL/dphi reduced over the batch); PSQ forward and
backward of each of the L N x N masks. Not modelled (both designs): the detector, loss and optimiser
glue in torch (a few element-wise kernels on B x N x N).

Work, per sample and propagation (padded size P = pad * N, FFT of length P = 5 P log2 P FLOPs):
  N row FFTs + P column FFTs + P inverse column FFTs + N inverse row FFTs (only N rows of the
  padded field are non-zero: rows outside them are never transformed), H . X over P x P (6 FLOPs
  per complex multiply), the mask 6 N^2 (masked ones), crop scale 2 N^2, dphi 15 N^2 (adjoint).

Bytes to and from device memory:
  * three-pass (cuda/fused/propagate_fused.cu, as kernel_model.design counts it): each pass reads
    and writes the (B, N, P) spectrum: ~4 B N P x 8 bytes per propagation beside the fields, and a
    separate PSQ kernel per layer and direction;
  * on-chip (cuda/fused/layer_cluster.cuh, one launch per propagation): the field in, the field out
    (forward); g, the saved u and grad out (adjoint); H once per launch (P x P; the other samples
    read it from L2); the mask or the latent phases once; dphi once (atomics in L2). PSQ runs
    inside the row pass (issue 22 item 1): its bytes are the latent phases (read) and dL/dw
    (written), its FLOPs as kernel_model counts them.

On-chip time = max(FP32 issue, shared-memory traffic, distributed-shared-memory traffic, DRAM) /
wave efficiency + launches x launch gap, with:
  * FP32 issue: FLOPs / FLOPS_PER_FP32_INSTR per lane-instruction; 128 FP32 lanes per clock per SM
    (CUDA C++ Programming Guide throughput table, cc 9.0). FLOPS_PER_FP32_INSTR = 1.25 from a radix-2
    butterfly: a complex twiddle multiply (2 FMUL + 2 FFMA = 6 FLOPs) and the complex add and
    subtract (4 FADD = 4 FLOPs): 10 FLOPs in 8 instructions. The compiled sm_90 layer kernel agrees:
    its static SASS mix (kernels.json) gives (2 FFMA + FMUL + FADD) / (FFMA + FMUL + FADD) = 1.27 at
    P = 512, 1.26 at P = 256, 1.34 at P = 400. The FLOP floor instead counts 2 FLOPs per lane per
    clock (every instruction an FMA: the datasheet's 67 TFLOP/s).
  * occupancy: not in the roofline. kernel_model.py attaches the compiled kernel's theoretical
    occupancy to the record and a caveat when it keeps fewer than LATENCY_HIDING_WARPS_PER_SM warps
    per SM (today 4-12: one to four blocks of 60-192 threads per SM), where latency, not issue rate,
    is the likely bound.
  * shared memory: SMEM_BYTES_PER_ELEMENT_PER_FFT = 32 bytes per element per FFT (an assumption: two
    exchanges through shared memory per block FFT of P <= 1024, each a write and a read of 8 bytes)
    plus the layer state (row store, column gather and scatter, row reload: 8 bytes each), at 128
    bytes per clock per SM (32 banks x 4 bytes).
  * distributed shared memory: the column gather and scatter (2 N P x 8 bytes per sample and
    propagation, (C-1)/C of it remote) at DSMEM_BYTES_PER_CLOCK_PER_SM = 32 bytes per clock per SM -- an
    ASSUMPTION (a quarter of local shared memory; no datasheet gives it): the bound is reported
    apart so that a measurement can replace it.
  * wave efficiency: B x C blocks of a cluster size C in waves of (blocks per SM by shared memory) x
    132 SMs; a partial last wave idles the rest of the GPU.
  * launch gap LAUNCH_GAP_US = 2 us per kernel launch (an assumption for back-to-back launches in
    one stream or a CUDA graph).
The three-pass prediction is kernel_model's per-kernel roofline summed over its launches (it counts
2 FLOPs per FP32 instruction: optimistic for FFTs) plus the same launch gaps.

    python benchmarks/kernel_model_d2nn.py            # the four records as JSON on stdout
    python benchmarks/kernel_model_d2nn.py --markdown  # the table for docs/results.md
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_model as km  # noqa: E402

COMMAND = "python benchmarks/kernel_model_d2nn.py"
SIZES = km.FUSED_SIZES  # (N, pad, B, L)
PSQ_STEPS = 16
TARGET_SPEEDUP = {(128, 4, 32, 8): 10.0, (200, 2, 64, 5): 10.0, (256, 2, 32, 5): 10.0, (512, 2, 8, 5): 3.0}

FLOPS_PER_FP32_INSTR = 1.25
SMEM_BYTES_PER_CLOCK_PER_SM = 128
SMEM_BYTES_PER_ELEMENT_PER_FFT = 32
DSMEM_BYTES_PER_CLOCK_PER_SM = 32
LAUNCH_GAP_US = 2.0
SMEM_PER_SM = 228 * 1024           # sm_90 (kernel_resources.ARCH_LIMITS)
SMEM_OPTIN_PER_BLOCK = 227 * 1024
SMEM_RESERVED_PER_BLOCK = 1024
FFT_WORKSPACE_BYTES = 16 * 1024     # block-FFT shared workspace per block (assumed; cuFFTDx: F x P x 8 at F = 2..4)
CLUSTER_SIZES = (8, 16)             # portable maximum first; 16 needs the non-portable attribute
LATENCY_HIDING_WARPS_PER_SM = 16    # assumed: 4 warps per scheduler to cover ~30-cycle shared-memory latency


def fft_flops(P: int) -> float:
    return km.fft_flops(P)


def propagation_flops(N: int, P: int, *, modulated: bool, adjoint: bool) -> float:
    """Useful FLOPs of one propagation of one sample (see the module docstring)."""
    f = (2 * N + 2 * P) * fft_flops(P) + 6 * P * P + 2 * N * N
    if modulated:
        f += 6 * N * N + (15 * N * N if adjoint else 0)
    return f


def psq_flops(N: int, L: int) -> float:
    """PSQ forward + backward of L masks (kernel_model.design's per-element counts)."""
    C = L * N * N
    return C * ((6 + 6 * PSQ_STEPS) + (9 + 12 * PSQ_STEPS))


def step_flops(N: int, pad: int, B: int, L: int) -> float:
    P = N * pad
    fwd = L * propagation_flops(N, P, modulated=True, adjoint=False) + \
        propagation_flops(N, P, modulated=False, adjoint=False)
    adj = L * propagation_flops(N, P, modulated=True, adjoint=True) + \
        propagation_flops(N, P, modulated=False, adjoint=True)
    return B * (fwd + adj) + psq_flops(N, L)


def state_bytes(N: int, pad: int) -> int:
    """The half-transformed field one cluster holds: N non-zero rows of P complex64."""
    return N * N * pad * km.COMPLEX64


def cluster_plan(N: int, pad: int) -> dict:
    """The cluster size the launcher picks (8, else 16) and its per-block shared memory, or why the
    state does not fit (then the size keeps the three-pass path)."""
    P = N * pad
    for C in CLUSTER_SIZES:
        smem = FFT_WORKSPACE_BYTES + math.ceil(N / C) * (P + 1) * km.COMPLEX64  # row pitch P + 1
        if smem <= SMEM_OPTIN_PER_BLOCK:
            per_sm = SMEM_PER_SM // (smem + SMEM_RESERVED_PER_BLOCK)
            return {"fits": True, "cluster": C, "smem_per_block": smem, "blocks_per_sm": per_sm,
                    "portable": C <= 8}
    C = CLUSTER_SIZES[-1]
    need = FFT_WORKSPACE_BYTES + math.ceil(N / C) * (P + 1) * km.COMPLEX64
    return {"fits": False, "cluster": None, "smem_per_block": None, "blocks_per_sm": 0, "portable": None,
            "why": (f"the N x P state is {state_bytes(N, pad) / 2**20:.2f} MiB: {need / 1024:.0f} KB per block "
                    f"even with {C} blocks (limit {SMEM_OPTIN_PER_BLOCK // 1024} KB)")}


# ----------------------------------------------------------------------------------- bytes
def three_pass_parts(N: int, pad: int, B: int, L: int) -> list[tuple[str, str, dict, int]]:
    P = N * pad
    cfg = {"N": N, "P": P, "B": B}
    q = {"layers": 1, "N": N, "steps": PSQ_STEPS}
    return [("row_modulate_fft_kernel", "forward", cfg, L), ("row_modulate_fft_kernel", "adjoint", cfg, L + 2),
            ("column_transfer_kernel", "forward", cfg, L + 1), ("column_transfer_kernel", "adjoint", cfg, L + 1),
            ("row_ifft_crop_kernel", "forward", cfg, L + 2), ("row_ifft_crop_kernel", "adjoint", cfg, L),
            ("psq_forward_kernel", "forward", q, L), ("psq_backward_kernel", "backward", q, L)]


def three_pass_bytes(N: int, pad: int, B: int, L: int) -> int:
    """As kernel_model.d2nn_step_records counts the fused three-pass step (same launches)."""
    return int(sum(km.design(n, v, c)["bytes"] * t for n, v, c, t in three_pass_parts(N, pad, B, L)))


def on_chip_bytes(N: int, pad: int, B: int, L: int) -> int:
    """One launch per propagation; see the module docstring."""
    P = N * pad
    field, H = B * N * N * km.COMPLEX64, P * P * km.COMPLEX64
    latent, grad_w = N * N * km.FLOAT32, N * N * km.FLOAT32
    fwd = (L + 1) * (2 * field + H) + L * latent
    adj = (L + 1) * (2 * field + H) + L * (field + latent + grad_w)  # g in, grad out; masked: saved u, w, dL/dw
    return int(fwd + adj)


def layer_design(variant: str, cfg: dict) -> dict:
    """One launch of cuda/fused/layer_cluster.cuh (kernel_model.design's fields): a masked
    propagation of B samples, forward (t . u in) or adjoint (conj H, conj(t) out, dphi summed)."""
    N, P, B = cfg["N"], cfg["P"], cfg["B"]
    adj = variant == "adjoint"
    field, H, mask = B * N * N * km.COMPLEX64, P * P * km.COMPLEX64, N * N * km.COMPLEX64
    by = 2 * field + H + mask + ((field + N * N * km.FLOAT32) if adj else 0)
    fl = B * propagation_flops(N, P, modulated=True, adjoint=adj)
    return {"bytes": by, "flops": fl, "ops": {"fp32": fl / FLOPS_PER_FP32_INSTR},
            "notes": ("one cluster per sample: reads u (B,N,N), t (N,N), H (P,P) once, writes out (B,N,N)" +
                      ("; reads saved u (B,N,N), adds dphi (N,N) (atomics)" if adj else "") +
                      f"; FP32 issue at {FLOPS_PER_FP32_INSTR} FLOPs per instruction (radix-2 butterfly)")}


def three_pass_launches(L: int) -> int:
    return 2 * 3 * (L + 1) + 2 * L


def on_chip_launches(L: int) -> int:
    return 2 * (L + 1)


# ----------------------------------------------------------------------------------- times
def _rates(device: str) -> dict:
    dev = km.DEVICES[device]
    clk_sm = dev["sms"] * dev["clock_hz"]
    return {"fp32_instr": km.PER_SM_PER_CLOCK["fp32"] * clk_sm, "smem": SMEM_BYTES_PER_CLOCK_PER_SM * clk_sm,
            "dsmem": DSMEM_BYTES_PER_CLOCK_PER_SM * clk_sm, "dram": dev["hbm_bytes_per_s"],
            "fp32_flops": dev["fp32_flops"], "sms": dev["sms"]}


def flop_floor_ms(N: int, pad: int, B: int, L: int, device: str) -> float:
    return step_flops(N, pad, B, L) / km.DEVICES[device]["fp32_flops"] * 1e3


def on_chip_traffic(N: int, pad: int, B: int, L: int) -> dict:
    """Shared-memory and distributed-shared-memory bytes of the on-chip step."""
    P = N * pad
    props = 2 * (L + 1) * B
    fft_elems = (2 * N + 2 * P) * P  # per propagation and sample
    smem = props * (fft_elems * SMEM_BYTES_PER_ELEMENT_PER_FFT + 4 * N * P * km.COMPLEX64)
    dsmem = props * 2 * N * P * km.COMPLEX64
    return {"smem_bytes": smem, "dsmem_bytes": dsmem}


def predict_on_chip(N: int, pad: int, B: int, L: int, device: str) -> dict | None:
    plan = cluster_plan(N, pad)
    if not plan["fits"]:
        return None
    r = _rates(device)
    tr = on_chip_traffic(N, pad, B, L)
    bounds = {"fp32": step_flops(N, pad, B, L) / FLOPS_PER_FP32_INSTR / r["fp32_instr"] * 1e3,
              "smem": tr["smem_bytes"] / r["smem"] * 1e3, "dsmem": tr["dsmem_bytes"] / r["dsmem"] * 1e3,
              "dram": on_chip_bytes(N, pad, B, L) / r["dram"] * 1e3}
    blocks = B * plan["cluster"]
    resident = plan["blocks_per_sm"] * r["sms"]
    waves = math.ceil(blocks / resident)
    efficiency = blocks / (waves * resident)
    bound = max(bounds, key=bounds.get)
    launch_ms = on_chip_launches(L) * LAUNCH_GAP_US / 1e3
    ms = bounds[bound] / efficiency + launch_ms
    return {"ms": ms, "bound": bound, "bounds_ms": {k: round(v, 6) for k, v in bounds.items()},
            "wave_efficiency": round(efficiency, 4), "waves": waves, "blocks": blocks,
            "resident_blocks": resident, "launch_gaps_ms": round(launch_ms, 6)}


def predict_three_pass(N: int, pad: int, B: int, L: int, device: str) -> dict:
    ms = sum(km.predict(km.design(n, v, c), device)["ms"] * t for n, v, c, t in three_pass_parts(N, pad, B, L))
    launch_ms = three_pass_launches(L) * LAUNCH_GAP_US / 1e3
    return {"ms": ms + launch_ms, "roofline_ms": ms, "launch_gaps_ms": round(launch_ms, 6)}


# ----------------------------------------------------------------------------------- records
def step_model(N: int, pad: int, B: int, L: int) -> dict:
    """The fields this module adds to the d2nn_step_fwd_bwd record of (N, pad, B, L)."""
    P = N * pad
    plan = cluster_plan(N, pad)
    measured = km.d2nn_measured(N, pad, B, L)
    base = {k: v for k, v in measured.items() if k.startswith("careful") and "fwdbwd" in k}
    best_name = min(base, key=base.get) if base else None
    out = {
        "is_prediction": True,
        "flops_step": int(step_flops(N, pad, B, L)),
        "bytes_three_pass": three_pass_bytes(N, pad, B, L),
        "bytes_on_chip": on_chip_bytes(N, pad, B, L) if plan["fits"] else None,
        "state_bytes_per_sample": state_bytes(N, pad),
        "on_chip_fits_cluster_dsmem": plan["fits"],
        "cluster_plan": plan,
        "launches": {"three_pass": three_pass_launches(L), "on_chip": on_chip_launches(L) if plan["fits"] else None},
        "best_plain_pytorch_h200_ms": base.get(best_name) if best_name else None,
        "measured_three_pass_h200_ms": measured.get("ours_fwd_bwd_ms"),
        "best_plain_pytorch_h200": best_name,
        "plain_pytorch_not_recorded": "torch.compile (never measured on the H200)",
        "target_speedup": TARGET_SPEEDUP[(N, pad, B, L)],
        "assumptions": {"flops_per_fp32_instr": FLOPS_PER_FP32_INSTR,
                        "smem_bytes_per_element_per_fft": SMEM_BYTES_PER_ELEMENT_PER_FFT,
                        "dsmem_bytes_per_clock_per_sm": DSMEM_BYTES_PER_CLOCK_PER_SM,
                        "launch_gap_us": LAUNCH_GAP_US, "fft_workspace_bytes": FFT_WORKSPACE_BYTES},
        "model_command": COMMAND,
    }
    for dev, tag in (("h100_sxm", "h100"), ("h200", "h200")):
        floor = flop_floor_ms(N, pad, B, L, dev)
        tp = predict_three_pass(N, pad, B, L, dev)
        oc = predict_on_chip(N, pad, B, L, dev)
        out[f"flop_floor_ms_{tag}"] = round(floor, 6)
        out[f"predicted_three_pass_ms_{tag}"] = round(tp["ms"], 6)
        out[f"predicted_on_chip_ms_{tag}"] = round(oc["ms"], 6) if oc else None
        if oc:
            out[f"on_chip_detail_{tag}"] = oc
            out[f"on_chip_over_floor_{tag}"] = round(oc["ms"] / floor, 2)
        best = oc["ms"] if oc else tp["ms"]
        out[f"predicted_best_design_{tag}"] = "on_chip" if oc else "three_pass"
        out[f"predicted_best_ms_{tag}"] = round(best, 6)
    for tag in ("h100", "h200"):  # the record's headline: the design the model picks
        out[f"predicted_ms_{tag}"] = out[f"predicted_best_ms_{tag}"]
    out["design"] = out["predicted_best_design_h200"]
    out["bytes"] = out["bytes_on_chip"] if out["design"] == "on_chip" else out["bytes_three_pass"]
    out["flops"] = out["flops_step"]
    for name, v in base.items():
        out[f"predicted_speedup_vs_{name}"] = round(v / out["predicted_best_ms_h200"], 2)
    if best_name:
        b = base[best_name]
        out["predicted_speedup_three_pass_h200"] = round(b / out["predicted_three_pass_ms_h200"], 2)
        out["predicted_speedup_h200"] = round(b / out["predicted_best_ms_h200"], 2)
        need_ms = b / out["target_speedup"]
        out["target_ms_h200"] = round(need_ms, 6)
        out["target_met_predicted"] = out["predicted_best_ms_h200"] <= need_ms
        out["verdict"] = verdict(N, pad, B, L, out, need_ms)
    return out


def verdict(N, pad, B, L, m: dict, need_ms: float) -> str:
    """In words: met or not, by how much, and why."""
    best, floor = m["predicted_best_ms_h200"], m["flop_floor_ms_h200"]
    design = m["predicted_best_design_h200"]
    head = (f"predicted {design} {best:.3f} ms on the H200 vs {need_ms:.3f} ms needed for "
            f"{m['target_speedup']:.0f}x over the best plain-PyTorch step ({m['best_plain_pytorch_h200_ms']:.2f} ms)")
    if design == "three_pass":
        measured = m.get("measured_three_pass_h200_ms")
        caveat = (f" Caveat: the same three-pass roofline predicts {m['predicted_three_pass_ms_h200']:.2f} ms where "
                  f"{measured:.2f} ms was measured for the whole step (H200, commit {km.MEASURED_COMMIT}, with the "
                  f"host syncs and torch glue of the time): the three-pass model is not evidence until remeasured."
                  if measured else "")
        what = (f" {m['cluster_plan']['why']}: the state does not fit one cluster's distributed shared memory; "
                f"the three passes move {m['bytes_three_pass'] / 1e9:.2f} GB per step.")
        if m["target_met_predicted"]:
            return f"target met by the model: {head}.{what}{caveat}"
        return f"target NOT met: {head}, {best / need_ms:.1f}x too slow.{what}{caveat}"
    det = m["on_chip_detail_h200"]
    if m["target_met_predicted"]:
        return (f"target met by the model: {head}; bound by {det['bound']}, {best / floor:.2f}x the FLOP floor "
                f"({floor:.3f} ms)")
    other = max(v for k, v in det["bounds_ms"].items() if k != "fp32")
    budget = need_ms - det["launch_gaps_ms"]
    fix = ""
    if det["bound"] == "fp32" and budget > 0:
        need_ratio = FLOPS_PER_FP32_INSTR * det["bounds_ms"]["fp32"] / (budget * det["wave_efficiency"])
        fix = (f" Met if the FFTs issued >= {need_ratio:.2f} FLOPs per FP32 instruction (radix-4/8 butterflies "
               f"fuse more multiplies into FMAs than the radix-2 count assumed here)"
               + ("" if other / det["wave_efficiency"] <= budget else
                  f" and the next bound ({other:.3f} ms) fell too") + ", or with several layers per launch.")
    return (f"target NOT met by the model: {head}, {best / need_ms:.2f}x too slow; bound by {det['bound']} "
            f"({det['bounds_ms'][det['bound']]:.3f} ms), wave efficiency {det['wave_efficiency']:.2f}, launch gaps "
            f"{det['launch_gaps_ms']:.3f} ms; FLOP floor {floor:.3f} ms.{fix}")


def occupancy_caveat(occ: dict) -> dict:
    """What the compiled layer kernel's theoretical occupancy (kernel_resources) says about the
    roofline: with few warps per SM, latency (shared memory ~30 cycles, DSMEM more) rather than
    issue rate bounds the kernel, so the prediction is optimistic until measured."""
    out = {"on_chip_kernel_occupancy": occ["fraction"], "on_chip_kernel_warps_per_sm": occ["warps_per_sm"],
           "on_chip_kernel_limited_by": occ["limited_by"]}
    if occ["warps_per_sm"] < LATENCY_HIDING_WARPS_PER_SM:
        out["occupancy_caveat"] = (
            f"the compiled kernel keeps {occ['warps_per_sm']} warps per SM resident ({occ['fraction']:.1%} "
            f"occupancy, limited by {occ['limited_by']}): fewer than the {LATENCY_HIDING_WARPS_PER_SM} assumed "
            f"to hide shared-memory and DSMEM latency, so this roofline is optimistic until measured; more FFTs "
            f"per block or several samples per cluster would raise it")
    return out


def records() -> list[dict]:
    out = []
    for N, pad, B, L in SIZES:
        out.append({"kernel": "d2nn_step_fwd_bwd", "config": {"N": N, "pad": pad, "B": B, "L": L},
                    **step_model(N, pad, B, L)})
    return out


def markdown(recs: list[dict]) -> str:
    rows = ["| N, pad, B, L | GFLOP | GB three-pass / on-chip | fits a cluster | floor H200 ms | "
            "three-pass H200 ms | on-chip H100 / H200 ms | best plain PyTorch H200 ms (measured) | "
            "predicted speedup | target |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        c = r["config"]
        oc = (f"{r['predicted_on_chip_ms_h100']:.3f} / {r['predicted_on_chip_ms_h200']:.3f}"
              if r["predicted_on_chip_ms_h200"] else "—")
        gb = f"{r['bytes_three_pass'] / 1e9:.2f} / " + (f"{r['bytes_on_chip'] / 1e9:.2f}" if r["bytes_on_chip"] else "—")
        rows.append(f"| {c['N']}, {c['pad']}, {c['B']}, {c['L']} | {r['flops_step'] / 1e9:.1f} | {gb} | "
                    f"{'yes, ' + str(r['cluster_plan']['cluster']) + ' blocks' if r['on_chip_fits_cluster_dsmem'] else 'no'} | "
                    f"{r['flop_floor_ms_h200']:.3f} | {r['predicted_three_pass_ms_h200']:.3f} | {oc} | "
                    f"{r['best_plain_pytorch_h200_ms']:.2f} ({r['best_plain_pytorch_h200']}) | "
                    f"{r['predicted_speedup_h200']:.1f}x | {r['target_speedup']:.0f}x "
                    f"{'met' if r['target_met_predicted'] else 'NOT met'} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)
    recs = records()
    if a.markdown:
        print(markdown(recs))
        for r in recs:
            print(f"- {r['config']}: {r['verdict']}")
    else:
        print(json.dumps(recs, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
