"""Build and run the CPU-emulator drivers of the CUDA kernels (issue 21; docs/gpu.md).

Each driver in ``tests/kernels/drivers/`` compiles a kernel header of ``cuda/`` with the host
compiler and ``-DQF_EMU`` (``cuda/emu/cuda_emu.h``: threads, barriers, warp intrinsics, poisoned
shared memory) in three builds:

- ``plain``: ``-O1 -g1``;
- ``tsan``: ThreadSanitizer (data races between the emulated threads: a missing barrier);
- ``asan``: AddressSanitizer + UndefinedBehaviorSanitizer (out-of-bounds reads and writes of the
  exact-size buffers a launch sees, undefined arithmetic).

``run()`` writes a request directory (``args.txt`` + raw arrays), runs a driver and reads its
outputs back; a kernel error (barrier divergence, mask misuse, deadlock), a sanitizer report or a
driver error raises :class:`EmuError` with the driver's stderr. Builds are cached under
``build-emu/`` at the repository root, keyed by a hash of the sources and flags, so an edited
kernel is always rebuilt. ``mutant_dir`` builds a driver against a modified copy of a kernel header
(the bug-injection tests).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = Path(__file__).resolve().parent / "drivers"
CUDA_DIR = ROOT / "cuda"
INCLUDE_DIR = ROOT / "cpp" / "include"
BUILD_ROOT = ROOT / "build-emu"

CXX = os.environ.get("QF_EMU_CXX", "g++")
COMMON_FLAGS = ["-std=c++17", "-pthread", "-DQF_EMU", "-Wall", "-Wextra", "-Wno-unused-parameter",
                "-Wno-unknown-pragmas"]  # #pragma unroll is for nvcc
# -g1 (line tables only): sanitizer reports keep file:line, and the builds take ~30-40 % less
# compiler time than with full debug info (-g), most of the suite's cost on a fresh machine
VARIANTS: dict[str, list[str]] = {
    "plain": ["-O1", "-g1"],
    "tsan": ["-O1", "-g1", "-fsanitize=thread"],
    "asan": ["-O1", "-g1", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
             "-fno-sanitize-recover=all"],
}
# Sanitizer reports fail the run with a distinctive exit code (and the report on stderr).
SANITIZER_ENV = {
    "TSAN_OPTIONS": "halt_on_error=1 exitcode=66 report_signal_unsafe=0",
    "ASAN_OPTIONS": "halt_on_error=1 exitcode=67 detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1 print_stacktrace=1 exitcode=68",
}
DRIVER_NAMES = ("quantizer", "fixed_point", "fused")  # fused_arch and emu_selftest: built where used
RUN_TIMEOUT_S = 600


class EmuError(RuntimeError):
    """A driver run that failed: ``returncode`` and ``stderr`` say how (3: kernel error)."""

    def __init__(self, returncode: int, stderr: str):
        super().__init__(f"emulator driver exited {returncode}:\n{stderr[-6000:]}")
        self.returncode = returncode
        self.stderr = stderr


def compiler_available() -> bool:
    return shutil.which(CXX) is not None


def _sources_hash(include_dirs: Iterable[Path], driver: str, flags: list[str]) -> str:
    h = hashlib.sha256()
    h.update(" ".join([CXX, *flags]).encode())
    files = sorted(DRIVERS.glob("*.cpp")) + [DRIVERS / "emu_io.h"]  # drivers may include each other
    for d in include_dirs:
        files += sorted(p for p in Path(d).rglob("*") if p.suffix in (".h", ".cuh", ".hpp"))
    for f in files:
        h.update(str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build(driver: str, variant: str, *, mutant_dir: Path | None = None) -> Path:
    """Compile ``drivers/<driver>_driver.cpp`` in ``variant``; return the executable (cached).

    ``mutant_dir``: a directory whose headers shadow ``cuda/``'s (searched first)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    includes = ([mutant_dir] if mutant_dir else []) + [CUDA_DIR, INCLUDE_DIR, DRIVERS]
    flags = COMMON_FLAGS + VARIANTS[variant]
    key = _sources_hash(includes, driver, flags)
    out_dir = BUILD_ROOT / f"{driver}-{variant}-{key}"
    exe = out_dir / "driver"
    if exe.exists():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    # one compiler per build: parallel test workers (pytest-xdist) wanting the same driver wait for
    # the first one instead of compiling it again
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists():
            return exe
        tmp = out_dir / f"driver.tmp{os.getpid()}"
        cmd = [CXX, *flags, *[f"-I{d}" for d in includes], str(DRIVERS / f"{driver}_driver.cpp"), "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building the {variant} {driver} driver failed:\n{' '.join(cmd)}\n"
                               f"{proc.stderr[-8000:]}")
        if proc.stderr.strip():  # warnings in kernel or driver code fail the build: keep them at zero
            raise RuntimeError(f"the {variant} {driver} driver built with warnings:\n{proc.stderr[-8000:]}")
        os.replace(tmp, exe)
    return exe


def build_all(variants: Iterable[str], drivers: Iterable[str] = DRIVER_NAMES, jobs: int = 2) -> dict:
    """Build several drivers/variants concurrently (``jobs`` compilers); {(driver, variant): exe}."""
    pairs = [(d, v) for v in variants for d in drivers]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        exes = list(pool.map(lambda dv: build(*dv), pairs))
    return dict(zip(pairs, exes))


_DTYPES = {"f32": np.float32, "f64": np.float64, "c64": np.complex64, "i32": np.int32, "i8": np.int8}


def run(exe: Path, kernel: str, args: Mapping[str, object], arrays: Mapping[str, np.ndarray],
        outputs: Mapping[str, tuple[str, int]]) -> dict[str, np.ndarray]:
    """Run ``kernel`` in driver ``exe``. ``arrays``: inputs, written as raw bytes in their dtype;
    ``outputs``: name -> (dtype key of _DTYPES, count). Raises EmuError on any failure."""
    with tempfile.TemporaryDirectory(prefix="qf-emu-") as tmp:
        d = Path(tmp)
        (d / "args.txt").write_text("".join(f"{k} {v}\n" for k, v in args.items()))
        for name, a in arrays.items():
            np.ascontiguousarray(a).tofile(d / f"{name}.bin")
        env = dict(os.environ, **SANITIZER_ENV)
        proc = subprocess.run([str(exe), kernel, str(d)], capture_output=True, text=True, env=env,
                              timeout=RUN_TIMEOUT_S)
        if proc.returncode != 0 or "runtime error" in proc.stderr or "WARNING: ThreadSanitizer" in proc.stderr:
            raise EmuError(proc.returncode, proc.stderr)
        result = {}
        for name, (dt, count) in outputs.items():
            a = np.fromfile(d / f"{name}.bin", dtype=_DTYPES[dt])
            if a.size != count:
                raise EmuError(0, f"output {name}: expected {count} values, got {a.size}")
            result[name] = a
        return result


def mutant(tmp_path: Path, header: str, old: str, new: str) -> Path:
    """A copy of ``cuda/<header>`` with ``old`` replaced by ``new`` (exactly once) in
    ``tmp_path/<header>``; returns the directory to pass as ``mutant_dir``."""
    src = (CUDA_DIR / header).read_text()
    if src.count(old) != 1:
        raise AssertionError(f"cuda/{header} must contain the mutated text exactly once, found "
                             f"{src.count(old)}: {old!r}")
    dst = tmp_path / header
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(src.replace(old, new))
    return tmp_path
