"""Small example files shipped with the package, so the documentation's examples run anywhere.

``quaton_fast.examples.path(name)`` returns the installed file's path (a :class:`pathlib.Path`),
``quaton_fast.examples.names()`` lists them. They are tiny stand-ins for the real files (which are
not redistributed here); each one's provenance and exact optimum:

``torus4x5_seed1.txt``
    Max-Cut, G-set / rudy layout (``read_gset``, ``read_rudy``, ``quaton-fast solve``): a 4 x 5
    toroidal grid with random +-1 weights, 20 nodes and 40 edges, written by
    ``write_gset(quaton_fast.solve.generators.toroidal_graph(4, 5, seed=1), ...)``. Best cut **12**
    (brute force over all 2^19 partitions with one node fixed; 5 optimal partitions up to the
    swap of the two sides). The real G-set graphs (G1 ... G81, e.g. G1: 800 nodes, best known cut
    11,624) are on Yinyu Ye's page at Stanford (https://web.stanford.edu/~yyye/yyye/Gset/).
``assign4x3.qplib`` and ``assign4x3.gms``
    The same linearly constrained binary quadratic problem in QPLIB ``.qplib`` and GAMS convert
    ``.gms`` layout (``read_instance``, ``read_qplib``, ``read_gams``), written by hand for these
    docs: 4 items of sizes 3, 2, 2, 1 placed in 3 slots of capacity 4 (a one-hot equality row per
    item, a capacity ``<=`` row per slot), minimising placement costs plus flow x distance between
    the items (the model is spelled out in the files' headers). 12 binaries; optimum **17**, unique
    (brute force over all 2^12 points; next best 18). The QPLIB library itself (e.g. QPLIB_3883) is at
    https://qplib.zib.de.
``aoc_profile_synthetic.yaml``
    An analog-optical-computer hardware profile in the layout of the released calibration files
    (``AOCHardware.from_yaml``, ``quaton-fast aoc-train --hardware``), 16 channels. SYNTHETIC:
    illustrative values of a plausible magnitude, not a measurement of any machine (the header
    says so). The measured profiles (e.g. ``June2024_saturation_pieces_clip2p6.yaml``) are in
    microsoft/aoc, ``src/aoc/hw_config/``.

The tests (``tests/test_examples.py``) check that every file loads and that the optima above are
right, by brute force independent of the package's solvers.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["path", "names", "DATA_DIR"]

#: the directory holding the example files (inside the installed package)
DATA_DIR = Path(__file__).resolve().parent / "data"

_SUFFIXES = (".txt", ".qplib", ".gms", ".yaml")


def names() -> list[str]:
    """The example files' names, sorted (e.g. ``['aoc_profile_synthetic.yaml', 'assign4x3.gms', ...]``)."""
    return sorted(p.name for p in DATA_DIR.iterdir() if p.is_file() and p.suffix in _SUFFIXES)


def path(name: str | os.PathLike) -> Path:
    """Absolute path of the shipped example file ``name`` (one of :func:`names`).

    Raises TypeError for a non-string name and FileNotFoundError (listing the available names) for an
    unknown one; a name with a directory part is refused (only the shipped files can be reached).
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"quaton_fast.examples.path(): argument 'name' must be a str, got {type(name).__name__}")
    name = os.fspath(name)
    available = names()
    if name not in available:
        raise FileNotFoundError(f"quaton_fast.examples.path(): argument 'name' must be one of {available}, "
                                f"got {name!r}")
    return DATA_DIR / name
