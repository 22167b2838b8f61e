"""Coverage-guided fuzz targets: every reader of a file a user can hand in (issue 26, item 7).

A target takes the fuzzer's bytes, writes them to a file named ``fuzz_input<suffix>`` and calls one
reader on it. The contract every reader must keep, whatever the bytes:

* it returns, or raises ``ValueError`` (or a subclass) whose message names the file
  (``fuzz_input``) -- or ``NotImplementedError`` naming it, for a valid file using a feature outside
  the supported subset (GAMS general integers, quadratic constraints) -- never another exception type (``MemoryError``, ``RecursionError``,
  ``IndexError``, ``UnicodeDecodeError`` without the file, a pickle's ``AttributeError`` ...);
* it allocates within libFuzzer's ``-rss_limit_mb`` and returns within ``-timeout``
  (the runner sets both; a header declaring a huge size must be refused before allocating).

Used in-process by ``tests/fuzz/test_fuzz_coverage.py`` (replaying the committed seed corpus
``tests/fuzz/corpus/<target>/``) and under atheris by ``tests/fuzz/coverage/run_target.py``.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

INPUT_STEM = "fuzz_input"


@dataclass(frozen=True)
class Target:
    suffix: str                    # file name suffix the reader expects (it may dispatch on it)
    read: Callable[[Path], object]  # the reader under test, on the written file
    modules: tuple = ()            # the modules whose coverage guides atheris (instrumented)


def _gset(p):
    from quaton_fast.solve.formats.readers import read_gset
    return read_gset(p)


def _rudy(p):
    from quaton_fast.solve.formats.readers import read_rudy
    return read_rudy(p)


def _sk(p):
    from quaton_fast.solve.formats.readers import read_sk
    return read_sk(p)


def _sk_energies(p):
    from quaton_fast.solve.formats.readers import read_sk_ground_energies
    return read_sk_ground_energies(p)


def _qplib(p):
    from quaton_fast.solve.formats.readers import read_qplib
    return read_qplib(p, as_constrained=True)


def _gams(p):
    from quaton_fast.solve.formats.readers import read_gams
    return read_gams(p)


def _hardware_yaml(p):
    from quaton_fast.reference.aoc_hardware_profile import AOCHardware
    return AOCHardware.from_yaml(p)


def _masks_npz(p):
    from quaton_fast.export.masks import export_fabrication
    out = Path(tempfile.mkdtemp(prefix="fuzz_export_"))
    try:
        return export_fabrication(p, out, base_thickness=1e-3)
    finally:
        for f in out.iterdir():
            f.unlink()
        out.rmdir()


def _idx(p):
    from quaton_fast.data.mnist import read_idx
    return read_idx(p)


def _cifar_batch(p):
    from quaton_fast.data.cifar10 import _read_batch
    return _read_batch(p)


def _mnist_subset(p):
    from quaton_fast.data.mnist_subset import load_mnist_subset
    return load_mnist_subset(str(p))


def _checkpoint(p):
    from quaton_fast.train.checkpoint import load_checkpoint
    return load_checkpoint(p)


def _relief_stl(p):
    from quaton_fast.export.relief_stl import read_relief_stl
    return read_relief_stl(p)


def _levels_gds(p):
    from quaton_fast.export.levels_gds import read_levels_gds
    return read_levels_gds(p, 8e-6)   # the pitch make_seeds.py wrote the seed with


def _settings(p):
    from quaton_fast._rundir import read_settings
    return read_settings(p)


TARGETS: dict[str, Target] = {
    "gset": Target(".txt", _gset, ("quaton_fast.solve.formats.readers", "quaton_fast.solve.formats._files", "quaton_fast.solve.models.problems")),
    "rudy": Target(".rud", _rudy, ("quaton_fast.solve.formats.readers", "quaton_fast.solve.formats._files", "quaton_fast.solve.models.problems")),
    "sk": Target(".npz", _sk, ("quaton_fast.solve.formats.readers", "quaton_fast._safe_npz", "quaton_fast.solve.models.problems")),
    "sk_ground_energies": Target(".npz", _sk_energies, ("quaton_fast.solve.formats.readers", "quaton_fast._safe_npz")),
    "qplib": Target(".qplib", _qplib, ("quaton_fast.solve.formats.qplib_io", "quaton_fast.solve.formats._files", "quaton_fast.solve.models.constraints")),
    "gams": Target(".gms", _gams, ("quaton_fast.solve.formats.read_gams", "quaton_fast.solve.formats._files", "quaton_fast.solve.models.constraints")),
    "hardware_yaml": Target(".yaml", _hardware_yaml, ("quaton_fast.reference.aoc_hardware_profile", "quaton_fast._safe_yaml")),
    "masks_npz": Target(".npz", _masks_npz, ("quaton_fast.export.masks", "quaton_fast._safe_npz", "quaton_fast.export.relief_mesh")),
    "idx": Target(".idx", _idx, ("quaton_fast.data.mnist",)),
    "cifar_batch": Target("", _cifar_batch, ("quaton_fast.data.cifar10", "quaton_fast._safe_pickle")),
    "mnist_subset": Target(".csv.gz", _mnist_subset, ("quaton_fast.data.mnist_subset",)),
    "checkpoint": Target(".pt", _checkpoint, ("quaton_fast.train.checkpoint", "quaton_fast._safe_torch")),
    "relief_stl": Target(".stl", _relief_stl, ("quaton_fast.export.relief_stl",)),
    "levels_gds": Target(".gds", _levels_gds, ("quaton_fast.export.levels_gds", "quaton_fast.export.gds_records")),
    "settings_json": Target(".json", _settings, ("quaton_fast._rundir", "quaton_fast._safe_json")),
}


class ContractViolation(AssertionError):
    """A reader broke the contract of this module's docstring on some input."""


def run_one(name: str, data: bytes, workdir: str | os.PathLike) -> None:
    """Write ``data`` as the input file of target ``name`` in ``workdir`` and read it; raise
    ContractViolation (chained to the reader's exception) if the reader breaks the contract."""
    t = TARGETS[name]
    p = Path(workdir) / (INPUT_STEM + t.suffix)
    p.write_bytes(data)
    try:
        t.read(p)
    except (ValueError, NotImplementedError) as e:
        if INPUT_STEM not in str(e):
            raise ContractViolation(f"{name}: {type(e).__name__} that does not name the file: {e}") from e
    except Exception as e:  # noqa: BLE001 -- the point: any other type breaks the contract
        raise ContractViolation(f"{name}: {type(e).__name__} instead of a ValueError naming the file: {e}") from e
