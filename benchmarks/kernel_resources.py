"""What the compiled kernels say, without a GPU: registers, spills, shared memory, occupancy, SASS mix.

For every ``cuda/**/*.cu`` file and every architecture we ship (sm_80, sm_86, sm_89, sm_90) this
compiles a cubin with ``nvcc -cubin -arch=sm_XX -Xptxas -v`` (the flags of CMakeLists.txt), reads
per kernel (entry function, demangled with ``c++filt``):

* ``ptxas -v``: registers, spill stores/loads (bytes), stack frame, static shared memory, barriers;
* the launch configuration the launchers use: threads per block and dynamic shared memory (for the
  cuFFTDx kernels from the block-FFT traits printed by ``benchmarks/cufftdx_traits.cu``);
* the theoretical occupancy on that architecture (limits below, CUDA C Programming Guide);
* the static SASS instruction mix (``cuobjdump -sass``; it needs ``nvdisasm``): whole kernel and
  restricted to the innermost loops (instructions from a backward branch's target to the branch).

Instantiations whose SASS body is trivially empty (an arch-guarded ``#if __CUDA_ARCH__`` stub) are
listed apart, not as kernels. Cubins are cached under ``build-kernels/`` keyed by the compiler, the
flags and the bytes of the source and every local header it includes.

    python benchmarks/kernel_resources.py --out build-kernels/resources.json   # JSON, also on stdout with -
    python benchmarks/kernel_resources.py --arch sm_90 --exclude-cufftdx       # fast subset

Tools: nvcc (``$NVCC``, PATH, or /usr/local/cuda*/bin), cuobjdump + nvdisasm (``$CUOBJDUMP``, PATH, or
the PyPI packages nvidia-cuda-cuobjdump + nvidia-cuda-nvdisasm), cuFFTDx headers (``$MATHDX_ROOT`` or
the PyPI package nvidia-mathdx), c++filt (binutils).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import glob
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build-kernels"
ARCHS = ("sm_80", "sm_86", "sm_89", "sm_90")

# Per-architecture limits for theoretical occupancy. Source: CUDA C++ Programming Guide, "Compute
# Capabilities", table "Technical Specifications per Compute Capability" (CUDA 12.x/13.0), and the
# CUDA Occupancy Calculator's allocation granularities (registers per warp in units of 256, shared
# memory in units of 128 bytes, 1 KB of shared memory reserved per block from cc 8.0 on).
# H100 and H200 are both cc 9.0 (sm_90); A100 cc 8.0; RTX 30xx / A40 cc 8.6; RTX 40xx / L4 / L40 cc 8.9.
ARCH_LIMITS = {
    "sm_80": dict(max_warps_per_sm=64, max_blocks_per_sm=32, max_threads_per_sm=2048, regs_per_sm=65536,
                  max_regs_per_thread=255, smem_per_sm=164 * 1024, max_smem_per_block=163 * 1024),
    "sm_86": dict(max_warps_per_sm=48, max_blocks_per_sm=16, max_threads_per_sm=1536, regs_per_sm=65536,
                  max_regs_per_thread=255, smem_per_sm=100 * 1024, max_smem_per_block=99 * 1024),
    "sm_89": dict(max_warps_per_sm=48, max_blocks_per_sm=24, max_threads_per_sm=1536, regs_per_sm=65536,
                  max_regs_per_thread=255, smem_per_sm=100 * 1024, max_smem_per_block=99 * 1024),
    "sm_90": dict(max_warps_per_sm=64, max_blocks_per_sm=32, max_threads_per_sm=2048, regs_per_sm=65536,
                  max_regs_per_thread=255, smem_per_sm=228 * 1024, max_smem_per_block=227 * 1024),
}
REG_ALLOC_UNIT = 256        # registers, per warp
SMEM_ALLOC_UNIT = 128       # bytes
SMEM_RESERVED_PER_BLOCK = 1024  # bytes, cc >= 8.0 (the "Driver Shared Memory Per Block" of Nsight Compute)
LIMITS_SOURCE = ("CUDA C++ Programming Guide, Compute Capabilities: Technical Specifications per Compute "
                 "Capability (cc 8.0/8.6/8.9/9.0); allocation units of the CUDA Occupancy Calculator")

# Launch constants of the launchers, read from the sources (these are the fallbacks).
LAUNCH_CONSTANTS = {"kThreadsPerBlock": 256, "kFpThreads": 128, "kColumnsPerBlock": 8}

# The instruction groups reported (SASS base opcode -> group). Everything else counts in "total" only.
MIX_GROUPS = {
    "FFMA": "FFMA", "FFMA32I": "FFMA", "FMUL": "FMUL", "FMUL32I": "FMUL", "FADD": "FADD", "FADD32I": "FADD",
    "DFMA": "DFMA", "DMUL": "DMUL", "DADD": "DADD", "HFMA2": "HFMA2",
    "HMMA": "MMA", "IMMA": "MMA", "DMMA": "MMA", "HGMMA": "MMA",
    "SHFL": "SHFL", "MUFU": "MUFU",
    "LDG": "LDG", "STG": "STG", "LDS": "LDS", "STS": "STS", "LDSM": "LDS", "LD": "LD", "ST": "ST",
    "LDL": "LDL", "STL": "STL", "LDC": "LDC",
    "BAR": "BAR", "ATOM": "ATOM", "ATOMG": "ATOM", "ATOMS": "ATOM", "RED": "ATOM",
    "VOTE": "VOTE", "CALL": "CALL", "BRA": "BRA",
}
MIX_KEYS = ("FFMA", "FMUL", "FADD", "DFMA", "DMUL", "DADD", "HFMA2", "MMA", "SHFL", "MUFU", "LDG", "STG",
            "LDS", "STS", "LD", "ST", "LDL", "STL", "LDC", "BAR", "ATOM", "VOTE", "CALL", "BRA")
TRIVIAL_OPCODES = {"NOP", "BRA", "EXIT", "RET", "LDC", "MOV", "BPT"}


# ----------------------------------------------------------------------------------------- tools
def _site_dirs() -> list[Path]:
    spec = importlib.util.find_spec("nvidia")
    return [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []


def find_nvcc() -> str | None:
    if os.environ.get("NVCC"):
        return os.environ["NVCC"]
    if shutil.which("nvcc"):
        return shutil.which("nvcc")
    found = sorted(glob.glob("/usr/local/cuda*/bin/nvcc"))
    return found[-1] if found else None


def find_cuobjdump() -> str | None:
    if os.environ.get("CUOBJDUMP"):
        return os.environ["CUOBJDUMP"]
    for d in _site_dirs():
        for hit in sorted(d.glob("cu*/bin/cuobjdump")):
            return str(hit)
    if shutil.which("cuobjdump"):
        return shutil.which("cuobjdump")
    found = sorted(glob.glob("/usr/local/cuda*/bin/cuobjdump"))
    return found[-1] if found else None


def find_nvdisasm_dir() -> str | None:
    for d in _site_dirs():
        for hit in sorted(d.glob("cu*/bin/nvdisasm")):
            return str(hit.parent)
    hit = shutil.which("nvdisasm")
    return str(Path(hit).parent) if hit else None


def find_mathdx() -> Path | None:
    if os.environ.get("MATHDX_ROOT"):
        return Path(os.environ["MATHDX_ROOT"])
    try:  # find_spec imports the parent package: without any nvidia.* wheel that raises
        spec = importlib.util.find_spec("nvidia.mathdx")
    except ModuleNotFoundError:
        spec = None
    if spec and spec.submodule_search_locations:
        p = Path(list(spec.submodule_search_locations)[0])
        if (p / "include" / "cufftdx.hpp").exists():
            return p
    return None


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    return lines[-2].strip() if len(lines) >= 2 else (lines[-1].strip() if lines else "")


def tools() -> dict:
    nvcc, cuobjdump, mathdx = find_nvcc(), find_cuobjdump(), find_mathdx()
    t = {"nvcc": nvcc, "cuobjdump": cuobjdump, "nvdisasm_dir": find_nvdisasm_dir(), "mathdx": str(mathdx) if mathdx else None,
         "cxxfilt": shutil.which("c++filt")}
    t["nvcc_version"] = _version([nvcc, "--version"]) if nvcc else ""
    t["cuobjdump_version"] = _version([cuobjdump, "--version"]) if cuobjdump else ""
    t["mathdx_version"] = ""
    if mathdx:
        try:
            from importlib.metadata import version
            t["mathdx_version"] = version("nvidia-mathdx")
        except Exception:  # noqa: BLE001 -- MATHDX_ROOT outside a pip install
            t["mathdx_version"] = str(mathdx)
    return t


# ------------------------------------------------------------------------------------- sources
_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def sources(root: Path = ROOT) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(root / "cuda" / "**" / "*.cu"), recursive=True))


def local_deps(path: Path, root: Path = ROOT) -> list[Path]:
    """The file and every local header it includes (recursively), resolved like nvcc would with
    -I cpp/include -I cuda: relative to the including file first."""
    seen: dict[Path, None] = {}
    todo = [path.resolve()]
    dirs = [root / "cpp" / "include", root / "cuda"]
    while todo:
        p = todo.pop()
        if p in seen or not p.exists():
            continue
        seen[p] = None
        for name in _INCLUDE.findall(p.read_text(errors="replace")):
            for base in [p.parent, *dirs]:
                cand = (base / name).resolve()
                if cand.exists():
                    todo.append(cand)
                    break
    return list(seen)


def uses_cufftdx(deps: list[Path]) -> bool:
    return any(re.search(r"#\s*include\s*<cufftdx", p.read_text(errors="replace")) for p in deps)


def launch_constants(root: Path = ROOT) -> dict:
    """kThreadsPerBlock, kFpThreads, kColumnsPerBlock as defined in cuda/ (fallbacks above)."""
    consts = dict(LAUNCH_CONSTANTS)
    text = "\n".join(Path(p).read_text(errors="replace")
                     for p in glob.glob(str(root / "cuda" / "**" / "*.cu*"), recursive=True))
    for name in consts:
        m = re.search(r"constexpr\s+(?:unsigned|int|unsigned int|std::uint32_t)\s+" + name + r"\s*=\s*(\d+)", text)
        if m:
            consts[name] = int(m.group(1))
    return consts


# ------------------------------------------------------------------------------------- compile
def nvcc_command(tl: dict, src: Path, arch: str, out: Path, cufftdx: bool, root: Path = ROOT) -> list[str]:
    """The CMakeLists.txt flags: -O3 -lineinfo --expt-relaxed-constexpr, C++17, QF_WITH_CUDA; the
    cuFFTDx files also QF_WITH_CUFFTDX and the mathdx/cutlass include dirs, -diag-suppress=1444."""
    cmd = [tl["nvcc"], "-std=c++17", "-cubin", f"-arch={arch}", "-O3", "-lineinfo", "--expt-relaxed-constexpr",
           "-Xptxas", "-v", "-DQF_WITH_CUDA=1", f"-I{root / 'cpp' / 'include'}", f"-I{root / 'cuda'}"]
    if cufftdx:
        m = Path(tl["mathdx"])
        cmd += ["-DQF_WITH_CUFFTDX=1", f"-I{m / 'include'}", f"-I{m / 'external' / 'cutlass' / 'include'}",
                "-Xcompiler=-Wno-deprecated-declarations", "-diag-suppress=1444"]
    return cmd + [str(src), "-o", str(out)]


def _key(tl: dict, cmd: list[str], deps: list[Path]) -> str:
    h = hashlib.sha256()
    h.update((tl["nvcc_version"] + tl.get("mathdx_version", "")).encode())
    h.update(" ".join(c for c in cmd if not c.startswith("-o") and not c.endswith(".cubin")).encode())
    for p in sorted(deps):
        h.update(str(p).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _rel(p: Path | str, root: Path = ROOT) -> str:
    try:
        return str(Path(p).resolve().relative_to(root))
    except ValueError:
        return str(p)


def compile_cubin(tl: dict, src: Path, arch: str, cache: Path = CACHE, root: Path = ROOT) -> dict:
    deps = local_deps(src, root)
    fft = uses_cufftdx(deps)
    if fft and not tl["mathdx"]:
        return {"file": _rel(src, root), "arch": arch, "error": "cuFFTDx headers not found (pip install nvidia-mathdx)"}
    tmp_cmd = nvcc_command(tl, src, arch, Path("X.cubin"), fft, root)
    key = _key(tl, tmp_cmd, deps)
    stem = _rel(src, root).replace("/", "__").removesuffix(".cu")
    out = cache / f"{stem}.{arch}.{key}.cubin"
    log = out.with_suffix(".ptxas.log")
    cmd = nvcc_command(tl, src, arch, out, fft, root)
    shown = " ".join([Path(cmd[0]).name] + [c.replace(str(root.resolve()) + "/", "") for c in cmd[1:]])
    rec = {"file": _rel(src, root), "arch": arch, "cufftdx": fft, "cubin": _rel(out, root), "command": shown}
    if out.exists() and log.exists():
        return {**rec, "cached": True, "seconds": 0.0, "ptxas_log": log.read_text()}
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    cmd_tmp = cmd[:-1] + [str(tmp)]
    t0 = time.monotonic()
    r = subprocess.run(["nice", "-n", "10", *cmd_tmp], capture_output=True, text=True, cwd=root)
    secs = time.monotonic() - t0
    if r.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        err = (r.stderr or r.stdout).strip().splitlines()
        errs = [ln for ln in err if "error" in ln.lower()] or err
        return {**rec, "cached": False, "seconds": round(secs, 1), "error": "\n".join(errs[:12])}
    log.write_text(r.stderr + r.stdout)
    os.replace(tmp, out)
    return {**rec, "cached": False, "seconds": round(secs, 1), "ptxas_log": r.stderr + r.stdout}


# ------------------------------------------------------------------------------------ ptxas -v
_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+a?)'")
_PROPS = re.compile(r"Function properties for (\S+)")
_SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")


def parse_ptxas(log: str) -> dict[str, dict]:
    """{mangled entry: registers, spill stores/loads, stack frame, static smem, barriers}."""
    out: dict[str, dict] = {}
    current = None
    props_for = None
    for line in log.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = m.group(1)
            out[current] = {"registers": None, "spill_stores": 0, "spill_loads": 0, "stack_frame": 0,
                            "static_smem": 0, "barriers": 0}
            props_for = None
            continue
        m = _PROPS.search(line)
        if m:
            props_for = m.group(1)
            continue
        m = _SPILL.search(line)
        if m and current and props_for == current:
            e = out[current]
            e["stack_frame"], e["spill_stores"], e["spill_loads"] = (int(g) for g in m.groups())
            continue
        m = _USED.search(line)
        if m and current:
            e = out[current]
            e["registers"] = int(m.group(1))
            b = re.search(r"used (\d+) barriers", line)
            s = re.search(r"(\d+) bytes smem", line)
            e["barriers"] = int(b.group(1)) if b else 0
            e["static_smem"] = int(s.group(1)) if s else 0
    return out


# ---------------------------------------------------------------------------------------- SASS
_FUNC = re.compile(r"^\s*Function : (\S+)")
_INSN = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")


def disassemble(tl: dict, cubin: Path) -> dict[str, list[tuple[int, str, str]]]:
    """{mangled function: [(address, base opcode, instruction text)]} from cuobjdump -sass."""
    sass = cubin.with_suffix(".sass")
    if not sass.exists():
        env = dict(os.environ)
        if tl.get("nvdisasm_dir"):
            env["PATH"] = tl["nvdisasm_dir"] + os.pathsep + env.get("PATH", "")
        r = subprocess.run([tl["cuobjdump"], "-sass", str(cubin)], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"cuobjdump -sass {cubin}: {r.stderr.strip()}")
        tmp = sass.with_name(sass.name + f".tmp{os.getpid()}")
        tmp.write_text(r.stdout)
        os.replace(tmp, sass)
    funcs: dict[str, list] = {}
    cur = None
    for line in sass.read_text().splitlines():
        m = _FUNC.match(line)
        if m:
            cur = m.group(1)
            funcs[cur] = []
            continue
        m = _INSN.match(line)
        if m and cur is not None:
            text = m.group(2).strip()
            toks = text.split()
            if toks and toks[0].startswith("@"):
                toks = toks[1:]
            if not toks:
                continue
            funcs[cur].append((int(m.group(1), 16), toks[0].split(".")[0], text))
    return funcs


def launch_bounds(tl: dict, cubin: Path) -> dict[str, int]:
    """{mangled kernel: maximum threads per block} from __launch_bounds__ (EIATTR_MAX_THREADS in the
    cubin's .nv.info sections, cuobjdump -elf)."""
    elf = cubin.with_suffix(".elf")
    if not elf.exists():
        r = subprocess.run([tl["cuobjdump"], "-elf", str(cubin)], capture_output=True, text=True)
        if r.returncode != 0:
            return {}
        tmp = elf.with_name(elf.name + f".tmp{os.getpid()}")
        tmp.write_text(r.stdout)
        os.replace(tmp, elf)
    out: dict[str, int] = {}
    cur, want = None, False
    for line in elf.read_text().splitlines():
        m = re.match(r"^\.nv\.info\.(\S+)", line)
        if m:
            cur, want = m.group(1), False
            continue
        if cur and "EIATTR_MAX_THREADS" in line:
            want = True
            continue
        if cur and want and line.strip().startswith("Value:"):
            vals = [int(v, 16) for v in line.split(":", 1)[1].split()]
            out[cur] = math.prod(vals)
            want = False
    return out


def mix(instrs) -> dict:
    c = Counter(MIX_GROUPS.get(op) for _, op, _ in instrs)
    d = {k: c.get(k, 0) for k in MIX_KEYS}
    d["total"] = len(instrs)
    return d


_TARGET = re.compile(r"\bBRA\b(?:\.\S+)?\s+(?:`\(\.L_x_\d+\)|(0x[0-9a-f]+))")


def loops(instrs) -> list[tuple[int, int]]:
    """(start, end) address ranges of backward branches: target <= branch address."""
    out = []
    for addr, op, text in instrs:
        if op != "BRA":
            continue
        m = re.search(r"BRA(?:\.[A-Z.]+)?\s+(?:[!PU0-9,\s]*\s)?(0x[0-9a-f]+)", text)
        if m:
            target = int(m.group(1), 16)
            if target < addr:  # target == addr: the self-branch that ends every function
                out.append((target, addr))
    return sorted(set(out))


def innermost(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [r for r in ranges
            if not any(o != r and r[0] <= o[0] and o[1] <= r[1] for o in ranges)]


def sass_summary(instrs) -> dict:
    rs = loops(instrs)
    inner = innermost(rs)
    in_inner = [i for i in instrs if any(a <= i[0] <= b for a, b in inner)]
    return {
        "mix": mix(instrs),
        "inner_loop_mix": mix(in_inner),
        "inner_loops": [{"start": hex(a), "end": hex(b),
                         **{k: v for k, v in mix([i for i in instrs if a <= i[0] <= b]).items() if v}}
                        for a, b in inner],
        "loops": len(rs),
    }


def is_trivially_empty(instrs) -> bool:
    return sum(1 for _, op, _ in instrs if op not in TRIVIAL_OPCODES) <= 2


# ------------------------------------------------------------------------------------- names
def demangle(names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    exe = shutil.which("c++filt")
    if not exe:
        return {n: n for n in names}
    r = subprocess.run([exe], input="\n".join(names) + "\n", capture_output=True, text=True)
    out = r.stdout.splitlines()
    return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def describe(demangled: str) -> tuple[str, dict, str]:
    """(kernel base name, instance parameters, instance label) of a demangled kernel signature."""
    s = demangled.strip().replace("(anonymous namespace)", "{anonymous}")
    if s.startswith("void "):
        s = s[5:]
    cut = next((i for i, ch in enumerate(s) if ch in "<("), len(s))
    head = s[:cut]
    base = head.split("::")[-1].strip()
    targs: list[str] = []
    if cut < len(s) and s[cut] == "<":
        d, j = 0, cut
        for j in range(cut, len(s)):
            d += s[j] == "<"
            d -= s[j] == ">"
            if d == 0:
                break
        targs = _split_top(s[cut + 1:j])
    params: dict = {}
    sizes = re.findall(r"cufftdx::Size<(\d+)u?>", s)
    if sizes:
        dirs = re.findall(r"cufftdx::Direction<\(?(?:cufftdx::fft_direction\))?(\d+|forward|inverse)\)?>", s)
        fpb = re.findall(r"cufftdx::FFTsPerBlock<(\d+)u?>", s)
        sm = re.findall(r"commondx::SM<(\d+)u?>", s)
        prec = re.findall(r"cufftdx::Precision<(\w+)>", s)
        names = {"0": "forward", "1": "inverse", "forward": "forward", "inverse": "inverse"}
        params = {"P": int(sizes[0]), "directions": [names.get(d, d) for d in dirs],
                  "ffts_per_block": int(fpb[0]) if fpb else None, "fft_arch": int(sm[0]) if sm else None,
                  "precision": prec[0] if prec else None}
        label = (f"P={params['P']},fpb={params['ffts_per_block']},"
                 + "+".join(d[:3] for d in params["directions"]) + f",SM{params['fft_arch']}")
    elif base.startswith("fixed_point_shared") and len(targs) in (3, 4):
        params = {"T": targs[0], "NP": int(targs[1]), "RM": int(targs[2])}
        label = f"{targs[0]},NP={targs[1]},RM={targs[2]}"
        if len(targs) == 4:  # the forward's kFull (noise and momentum code)
            params["noise"] = targs[3] == "true"
            label += ",full" if params["noise"] else ""
    elif base.startswith("fixed_point") and len(targs) in (3, 4):
        params = {"T": targs[0], "TPS": int(targs[1]), "R": int(targs[2])}
        label = f"{targs[0]},TPS={targs[1]},R={targs[2]}"
        if len(targs) == 4:  # the forward's kNoise
            params["noise"] = targs[3] == "true"
            label += ",noise" if params["noise"] else ""
    else:
        params = {"template_args": targs} if targs else {}
        label = ",".join(targs)
    return base, params, label


# ----------------------------------------------------------------------------------- occupancy
def occupancy(arch: str, registers: int, threads: int, smem_per_block: int) -> dict:
    """Theoretical occupancy (CUDA Occupancy Calculator rules) on `arch`: active warps / max warps."""
    lim = ARCH_LIMITS[arch]
    warps_per_block = math.ceil(threads / 32)
    regs_per_warp = math.ceil(max(registers, 1) * 32 / REG_ALLOC_UNIT) * REG_ALLOC_UNIT
    by_regs = (lim["regs_per_sm"] // regs_per_warp) // warps_per_block
    smem = math.ceil((smem_per_block + SMEM_RESERVED_PER_BLOCK) / SMEM_ALLOC_UNIT) * SMEM_ALLOC_UNIT
    by_smem = lim["smem_per_sm"] // smem if smem_per_block <= lim["max_smem_per_block"] else 0
    by_warps = lim["max_warps_per_sm"] // warps_per_block
    blocks = min(by_regs, by_smem, by_warps, lim["max_blocks_per_sm"])
    limits = {"registers": by_regs, "shared_memory": by_smem, "warps": by_warps,
              "blocks": lim["max_blocks_per_sm"]}
    limiter = "+".join(k for k, v in limits.items() if v == blocks)
    return {"fraction": round(blocks * warps_per_block / lim["max_warps_per_sm"], 4), "blocks_per_sm": blocks,
            "warps_per_sm": blocks * warps_per_block, "limited_by": limiter, "threads_per_block": threads,
            "smem_per_block": smem_per_block, "blocks_by": {"registers": by_regs, "shared_memory": by_smem,
                                                            "warps": by_warps}}


# -------------------------------------------------------------------------------- cuFFTDx traits
TRAITS_SRC = ROOT / "benchmarks" / "cufftdx_traits.cu"


def cufftdx_traits(tl: dict, cache: Path = CACHE, root: Path = ROOT) -> dict:
    """Compile and run benchmarks/cufftdx_traits.cu (host only); cached by source and mathdx."""
    src = root / "benchmarks" / "cufftdx_traits.cu"
    if not (tl["nvcc"] and tl["mathdx"] and src.exists()):
        return {"error": "needs nvcc, nvidia-mathdx and benchmarks/cufftdx_traits.cu", "traits": []}
    m = Path(tl["mathdx"])
    h = hashlib.sha256((tl["nvcc_version"] + tl["mathdx_version"]).encode() + src.read_bytes()).hexdigest()[:16]
    exe = cache / f"cufftdx_traits.{h}"
    out_json = exe.with_suffix(".json")
    cmd = [tl["nvcc"], "-std=c++17", "--expt-relaxed-constexpr", "-diag-suppress=1444",
           "-Xcompiler=-Wno-deprecated-declarations", "-arch=sm_90", f"-I{m / 'include'}",
           f"-I{m / 'external' / 'cutlass' / 'include'}", str(src), "-o", str(exe)]
    shown = "nvcc " + " ".join(c if not c.startswith(("/", "-I/")) else "<mathdx>..." for c in cmd[1:-3]) + \
        " benchmarks/cufftdx_traits.cu -o traits && ./traits"
    if not out_json.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if not exe.exists():
            r = subprocess.run(["nice", "-n", "10", *cmd[:-1], str(exe) + ".tmp"], capture_output=True, text=True)
            if r.returncode != 0:
                return {"error": r.stderr.strip()[-2000:], "traits": [], "command": shown}
            os.replace(str(exe) + ".tmp", exe)
        r = subprocess.run([str(exe)], capture_output=True, text=True)
        if r.returncode != 0:
            return {"error": r.stderr.strip()[-2000:], "traits": [], "command": shown}
        out_json.write_text(r.stdout)
    return {"traits": json.loads(out_json.read_text()), "command": shown}


def _trait(traits: list[dict], P: int, fft_arch: int | None, role: str, fpb: int | None = None) -> dict | None:
    for t in traits:
        if t["P"] == P and t["role"] == role and (fft_arch is None or t["arch"] == f"sm_{fft_arch // 10}") \
                and (fpb is None or t["ffts_per_block"] == fpb):
            return t
    return None


def launch_config(base: str, params: dict, traits: list[dict], consts: dict, max_threads: int | None = None,
                  cufftdx_file: bool = False) -> dict:
    """Threads per block and dynamic shared memory of a kernel as its launcher launches it.
    Column pass: dynamic smem = round16(max(fwd, inv) FFT smem) + N * kColumnsPerBlock * 8 bytes.
    Other kernels: fixed point kFpThreads, the rest kThreadsPerBlock; a kernel whose cubin carries
    __launch_bounds__ that disagree, or a cuFFTDx kernel without traits, takes its launch bounds."""
    if "P" in params:
        P, arch, fpb = params["P"], params.get("fft_arch"), params.get("ffts_per_block")
        d = params["directions"][0] if params.get("directions") else "forward"
        if base.startswith("column"):
            tf, ti = _trait(traits, P, arch, "column_forward", fpb), _trait(traits, P, arch, "column_inverse", fpb)
            if not tf:
                return {"threads": max_threads, "dynamic_smem_fixed": 0, "dynamic_smem_per_n": 0,
                        "source": "no cufftdx_traits entry for this P, arch and FFTs per block: __launch_bounds__ "
                                  "threads, dynamic shared memory unknown (counted 0)"}
            fft = max(tf["shared_memory_size"], ti["shared_memory_size"] if ti else 0)
            return {"threads": math.prod(tf["block_dim"]), "block_dim": tf["block_dim"],
                    "dynamic_smem_fixed": (fft + 15) // 16 * 16, "dynamic_smem_per_n": 8 * tf["ffts_per_block"],
                    "ffts_per_block": tf["ffts_per_block"], "elements_per_thread": tf["elements_per_thread"],
                    "source": "cufftdx_traits column_forward/inverse + (N, kColumnsPerBlock) tile"}
        t = _trait(traits, P, arch, f"row_{d}", fpb)
        if base.startswith("layer_cluster") and t:
            # cuda/fused/layer_cluster.cu: the FFT workspace, then ceil(N / 8) rows of P complex64 at a
            # pitch of P + 1 per block in a cluster of 8 (N (P + 1) bytes when 8 divides N, as at every
            # benchmark size)
            return {"threads": math.prod(t["block_dim"]), "block_dim": t["block_dim"],
                    "dynamic_smem_fixed": (t["shared_memory_size"] + 15) // 16 * 16, "dynamic_smem_per_n": P + 1,
                    "ffts_per_block": t["ffts_per_block"], "elements_per_thread": t["elements_per_thread"],
                    "source": "cufftdx_traits row_forward + (ceil(N/8), P+1) complex state per block, cluster of 8"}
        if not t:
            return {"threads": max_threads, "dynamic_smem_fixed": 0, "dynamic_smem_per_n": 0,
                    "source": "no cufftdx_traits entry for this P, arch and FFTs per block: __launch_bounds__ "
                              "threads, dynamic shared memory unknown (counted 0)"}
        if "_quant" in base:
            # cuda/fused/quant_rows.cuh: round16(FFT workspace) + T of the row (N complex64); the adjoint
            # also F*N complex64 accumulators and 4 bytes per thread (forward_smem / adjoint_smem)
            fft = (t["shared_memory_size"] + 15) // 16 * 16
            threads = math.prod(t["block_dim"])
            adj = base.startswith("row_ifft")
            return {"threads": threads, "block_dim": t["block_dim"],
                    "dynamic_smem_fixed": fft + (4 * threads if adj else 0),
                    "dynamic_smem_per_n": 8 + (8 * t["ffts_per_block"] if adj else 0),
                    "ffts_per_block": t["ffts_per_block"], "elements_per_thread": t["elements_per_thread"],
                    "source": f"cufftdx_traits row_{d} + quant_rows.cuh {'adjoint' if adj else 'forward'}_smem"}
        return {"threads": math.prod(t["block_dim"]), "block_dim": t["block_dim"],
                "dynamic_smem_fixed": t["shared_memory_size"], "dynamic_smem_per_n": 0,
                "ffts_per_block": t["ffts_per_block"], "elements_per_thread": t["elements_per_thread"],
                "source": f"cufftdx_traits row_{d}"}
    if cufftdx_file:
        return {"threads": max_threads, "dynamic_smem_fixed": 0, "dynamic_smem_per_n": 0,
                "source": "cuFFTDx kernel without descriptor in its name: __launch_bounds__ threads, dynamic "
                          "shared memory unknown (counted 0)"}
    name, threads = ("kFpThreads", consts["kFpThreads"]) if base.startswith("fixed_point") else \
        ("kThreadsPerBlock", consts["kThreadsPerBlock"])
    if max_threads and max_threads != threads:
        name, threads = "__launch_bounds__", max_threads
    return {"threads": threads, "dynamic_smem_fixed": 0, "dynamic_smem_per_n": 0, "source": name}


def occupancy_for(k: dict, n: int | None = None) -> dict | None:
    """Occupancy of kernel record `k` (from collect()) for field size n (column pass tile)."""
    lc = k["launch"]
    if not lc.get("threads") or k["registers"] is None:
        return None
    if lc.get("dynamic_smem_per_n") and n is None:
        n = (k["params"].get("P") or 0) // 2
    dyn = lc.get("dynamic_smem_fixed", 0) + (lc.get("dynamic_smem_per_n", 0) * (n or 0))
    occ = occupancy(k["arch"], k["registers"], lc["threads"], dyn + k["static_smem"])
    if lc.get("dynamic_smem_per_n"):
        occ["for_n"] = n
    return occ


# ------------------------------------------------------------------------------------- collect
def collect(archs=ARCHS, files: list[Path] | None = None, exclude_cufftdx: bool = False, jobs: int = 2,
            cache: Path = CACHE, root: Path = ROOT, log=sys.stderr) -> dict:
    tl = tools()
    if not tl["nvcc"]:
        raise RuntimeError("nvcc not found (set NVCC or put it on PATH)")
    if not tl["cuobjdump"]:
        raise RuntimeError("cuobjdump not found (pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)")
    files = files if files is not None else sources(root)
    if exclude_cufftdx:
        files = [f for f in files if not uses_cufftdx(local_deps(f, root))]
    consts = launch_constants(root)
    need_traits = any(uses_cufftdx(local_deps(f, root)) for f in files)
    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        tr_future = ex.submit(cufftdx_traits, tl, cache, root) if need_traits else None
        futs = [ex.submit(compile_cubin, tl, f, a, cache, root) for f in files for a in archs]
        compiled = [f.result() for f in futs]
        traits = tr_future.result() if tr_future else {"traits": []}
    for c in compiled:
        print(f"  {c['file']} {c['arch']}: " + ("ERROR" if c.get("error") else
              ("cached" if c.get("cached") else f"{c['seconds']} s")), file=log)
    kernels, empty = [], []
    for c in compiled:
        if c.get("error"):
            continue
        props = parse_ptxas(c["ptxas_log"])
        funcs = disassemble(tl, root / c["cubin"])
        bounds = launch_bounds(tl, root / c["cubin"])
        names = demangle(sorted(props))
        for mangled, pr in sorted(props.items()):
            base, params, label = describe(names[mangled])
            instrs = funcs.get(mangled, [])
            entry = {"kernel": base, "instance": label, "params": params, "arch": c["arch"], "file": c["file"],
                     "demangled": names[mangled], "mangled": mangled, **pr}
            if is_trivially_empty(instrs):
                empty.append({k: entry[k] for k in ("kernel", "instance", "arch", "file")} |
                             {"sass_instructions": len(instrs)})
                continue
            entry["launch"] = launch_config(base, params, traits.get("traits", []), consts, bounds.get(mangled),
                                            c.get("cufftdx", False))
            entry["launch_bounds_threads"] = bounds.get(mangled)
            entry["occupancy"] = occupancy_for(entry)
            entry["sass"] = sass_summary(instrs)
            kernels.append(entry)
    return {
        "what": "per kernel x arch: ptxas -v resources, launch config, theoretical occupancy, static SASS mix",
        "tools": {k: tl[k] and _rel(tl[k], root) if k in ("nvcc", "cuobjdump", "mathdx") else tl[k]
                  for k in ("nvcc", "nvcc_version", "cuobjdump", "cuobjdump_version", "mathdx", "mathdx_version")},
        "arch_limits": ARCH_LIMITS, "arch_limits_source": LIMITS_SOURCE,
        "allocation": {"register_unit_per_warp": REG_ALLOC_UNIT, "smem_unit_bytes": SMEM_ALLOC_UNIT,
                       "smem_reserved_per_block": SMEM_RESERVED_PER_BLOCK},
        "launch_constants": consts,
        "cufftdx_traits": traits.get("traits", []), "cufftdx_traits_command": traits.get("command"),
        "cufftdx_traits_error": traits.get("error"),
        "compiles": [{k: v for k, v in c.items() if k != "ptxas_log"} for c in compiled],
        "kernels": kernels, "empty_instantiations": empty,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", action="append", choices=ARCHS, help="repeatable; default: all four")
    ap.add_argument("--exclude-cufftdx", action="store_true", help="skip the cuFFTDx (fused) sources")
    ap.add_argument("--jobs", type=int, default=2, help="parallel nvcc processes (niced)")
    ap.add_argument("--out", default="-", help="JSON output path, '-' for stdout")
    a = ap.parse_args(argv)
    res = collect(tuple(a.arch or ARCHS), exclude_cufftdx=a.exclude_cufftdx, jobs=a.jobs)
    text = json.dumps(res, indent=1)
    if a.out == "-":
        print(text)
    else:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
        tmp.write_text(text + "\n")
        os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
