"""Instance-file readers (G-set / rudy edge lists, SK .npz, QPLIB) and atomic writers.

Every content error raises ``ValueError`` naming the reader, the file and (where the file has
lines) the 1-based line number, e.g.::

    ValueError: read_gset(): G1.txt line 17: expected 3 fields 'i j w' (integers i, j, numeric w), got 'x y'

A missing file raises ``FileNotFoundError`` naming the reader and the path.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..._safe_npz import read_arrays
from ..._validation import fail
from ..._atomic import atomic_write_text
from ..models.problems import Ising, MaxCut
from ._files import _err, _path, declared_count, fields, naming_file, read_text, strict_float, strict_int, text_lines

__all__ = ["read_gset", "read_rudy", "write_gset", "write_rudy", "read_sk",
           "read_sk_ground_energies", "read_qplib", "write_qplib", "read_gams", "read_instance",
           "gset_best_known"]


# ----------------------------------------------------------------------------------------- common
def _lines(func: str, p: Path) -> list[str]:
    return text_lines(read_text(func, p))


_int = strict_int        # [+-]?[0-9]+ only (no '1_0', no non-ASCII digits)
_num = strict_float      # plain ASCII decimals only, finite


# ------------------------------------------------------------------------------ G-set / rudy
def _read_edge_list(func: str, path: Any) -> MaxCut:
    p = _path(func, path)
    lines = _lines(func, p)
    while lines and not lines[-1].strip(" \t"):      # trailing blank lines are tolerated
        lines.pop()
    if not lines:
        raise _err(func, p, 1, "empty file; expected a header 'n m'")
    head = fields(lines[0])
    n, m = (_int(head[0]), _int(head[1])) if len(head) == 2 else (None, None)
    if n is None or m is None or n < 1 or m < 0:
        raise _err(func, p, 1, f"expected header 'n m' (integers n >= 1, m >= 0), got {lines[0].strip()!r}")
    declared_count(func, p, 1, "number of nodes n", n)
    body = lines[1:]
    if len(body) < m:      # before allocating m rows: the header cannot make the reader allocate
        raise _err(func, p, len(lines) + 1, f"file truncated: header promises {m} edges, found {len(body)}")
    edges = np.empty((m, 2), dtype=np.int64)
    weights = np.empty(m, dtype=np.float64)
    for k, line in enumerate(body[:m]):
        ln = k + 2
        tok = fields(line)
        i, j, w = (_int(tok[0]), _int(tok[1]), _num(tok[2])) if len(tok) == 3 else (None, None, None)
        if i is None or j is None or w is None:
            raise _err(func, p, ln, "expected 3 fields 'i j w' (integers i, j, finite number w), "
                                    f"got {line.strip()!r}")
        if not (1 <= i <= n and 1 <= j <= n):
            raise _err(func, p, ln, f"node index out of range [1, {n}]: {line.strip()!r}")
        if i == j:
            raise _err(func, p, ln, f"self-loop {i}-{j} (a self-loop is never cut; not allowed)")
        edges[k] = (i - 1, j - 1)
        weights[k] = w
    if len(body) < m:
        raise _err(func, p, len(lines) + 1, f"file truncated: header promises {m} edges, found {len(body)}")
    if len(body) > m:
        raise _err(func, p, m + 2, f"header promises {m} edges but the file has more lines: "
                                   f"{body[m].strip()!r}")
    with naming_file(func, p):
        return MaxCut(n, edges, weights, meta={"name": p.stem, "path": str(p)})


def read_gset(path: str | os.PathLike) -> MaxCut:
    """Read a G-set graph: line 1 ``n m``; then exactly m lines ``i j w`` (1-based nodes, i != j).

    Weights are parsed as float (G-set's are the integers +-1). Trailing blank lines are tolerated;
    anything else (blank lines inside, extra or missing edges, bad tokens) is an error naming the line.
    Returns a :class:`MaxCut` with 0-based edges.
    """
    return _read_edge_list("read_gset", path)


def read_rudy(path: str | os.PathLike) -> MaxCut:
    """Read rudy's output (the generator G-set was made with): the same ``n m`` + ``i j w`` layout.

    The only practical difference: rudy emits real weights for some graph families (e.g. random
    weights), so w may be any finite float (read_gset accepts those too). Same checks as read_gset.
    """
    return _read_edge_list("read_rudy", path)


def _fmt_w(w: float) -> str:
    return str(int(w)) if float(w).is_integer() and abs(w) < 2**53 else repr(float(w))


def _write_atomic(path: Any, text: str) -> None:
    atomic_write_text(text, path)


def _write_edge_list(func: str, problem: Any, path: Any) -> None:
    if not isinstance(problem, MaxCut):
        fail(func, "problem", "a MaxCut", type(problem).__name__, TypeError)
    if not isinstance(path, (str, os.PathLike)):
        fail(func, "path", "a str or os.PathLike", type(path).__name__, TypeError)
    rows = [f"{problem.n} {problem.m}"]
    rows += [f"{i + 1} {j + 1} {_fmt_w(w)}" for (i, j), w in zip(problem.edges.tolist(), problem.weights.tolist())]
    _write_atomic(path, "\n".join(rows) + "\n")


def write_gset(problem: MaxCut, path: str | os.PathLike) -> None:
    """Write ``problem`` in G-set layout (1-based), atomically (temp file + os.replace)."""
    _write_edge_list("write_gset", problem, path)


def write_rudy(problem: MaxCut, path: str | os.PathLike) -> None:
    """Write ``problem`` in rudy layout (identical to G-set's), atomically."""
    _write_edge_list("write_rudy", problem, path)


def gset_best_known(path: str | os.PathLike) -> dict:
    """Read reference.csv (columns instance,nodes,edges,best_known_cut) -> {instance: best cut}."""
    func = "gset_best_known"
    p = _path(func, path)
    out: dict = {}
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        need = ("instance", "best_known_cut")
        if header is None or any(c not in [h.strip() for h in header] for c in need):
            raise _err(func, p, 1, f"expected a header with columns {need}, got {header!r}")
        hdr = [h.strip() for h in header]
        ii, ic = hdr.index("instance"), hdr.index("best_known_cut")
        for row in reader:
            ln = reader.line_num
            if not row or not "".join(row).strip():
                continue
            if len(row) != len(hdr):
                raise _err(func, p, ln, f"expected {len(hdr)} comma-separated fields, got {row!r}")
            v = _num(row[ic].strip())
            if v is None:
                raise _err(func, p, ln, f"best_known_cut is not a finite number: {row[ic]!r}")
            out[row[ii].strip()] = int(v) if v.is_integer() else v
    return out


# ---------------------------------------------------------------------------------------- SK
def _load_array(func: str, p: Path, allowed_keys: tuple[str, ...]) -> np.ndarray:
    # headers checked against the file's bytes before reading; no pickles; errors name the file
    arrays = read_arrays(func, p)     # the SK files are .npy data (key '') under a .npz name
    keys = list(arrays)
    if len(keys) == 1:
        return arrays[keys[0]]
    for k in allowed_keys:
        if k in keys:
            return arrays[k]
    raise _err(func, p, None, f"expected one array (or a key in {allowed_keys}), got keys {keys}")


def read_sk(path: str | os.PathLike) -> Ising:
    """Read an SK instance ``SK1_N{n}_{k}.npz``: one (n, n) symmetric float matrix J with zero
    diagonal (the files are plain .npy data; an .npz archive with one array or key 'J' also works).

    Returns ``Ising(J)`` whose energy is 1/2 s^T J s (the files' ground-energy convention).
    Checks: 2-D square, real, finite, symmetric (exactly), zero diagonal.
    """
    func = "read_sk"
    p = _path(func, path)
    J = _load_array(func, p, ("J", "arr_0"))
    if J.dtype.kind not in "fiu":
        raise _err(func, p, None, f"expected a real matrix, got dtype {J.dtype}")
    if J.ndim != 2 or J.shape[0] != J.shape[1] or J.shape[0] == 0:
        raise _err(func, p, None, f"expected a square (n, n) matrix, got shape {J.shape}")
    J = J.astype(np.float64)
    if not np.all(np.isfinite(J)):
        bad = np.argwhere(~np.isfinite(J))[0]
        raise _err(func, p, None, f"non-finite entry J[{bad[0]},{bad[1]}] = {J[tuple(bad)]}")
    if not np.array_equal(J, J.T):
        i, j = np.argwhere(J != J.T)[0]
        raise _err(func, p, None, f"matrix not symmetric: J[{i},{j}] = {J[i, j]} != J[{j},{i}] = {J[j, i]}")
    if np.any(np.diag(J) != 0):
        i = int(np.flatnonzero(np.diag(J))[0])
        raise _err(func, p, None, f"diagonal must be zero, got J[{i},{i}] = {J[i, i]}")
    with naming_file(func, p):
        return Ising(J, meta={"name": p.stem, "path": str(p)})


def read_sk_ground_energies(path: str | os.PathLike) -> np.ndarray:
    """Read ``SK1_N{n}_ground_energies.npz`` (key 'arr_0'): (K,) float64 ground energies, k = 0..K-1."""
    func = "read_sk_ground_energies"
    p = _path(func, path)
    e = _load_array(func, p, ("arr_0",))
    if e.dtype.kind not in "fiu" or e.ndim != 1 or e.size == 0:
        raise _err(func, p, None, f"expected a non-empty 1-D real array, got dtype {e.dtype} shape {e.shape}")
    e = e.astype(np.float64)
    if not np.all(np.isfinite(e)):
        raise _err(func, p, None, "non-finite ground energy")
    return e


# QPLIB (.qplib) and GAMS convert (.gms) readers live in qplib_io.py / read_gams.py; re-exported here.
from .qplib_io import read_qplib, write_qplib  # noqa: E402
from .read_gams import read_gams  # noqa: E402


def read_instance(path: str | os.PathLike, fmt: str = "auto"):
    """Read any supported instance file; fmt 'auto' picks by suffix: .gms -> read_gams,
    .qplib -> read_qplib(as_constrained=True) (both a ConstrainedProblem in the file's sense and
    variables), .npz -> read_sk, anything else -> read_gset. fmt: auto|gset|rudy|sk|qplib|gams."""
    func = "read_instance"
    if not isinstance(path, (str, os.PathLike)):
        fail(func, "path", "a str or os.PathLike", type(path).__name__, TypeError)
    if fmt == "auto":
        low = str(path).lower()
        fmt = ("sk" if low.endswith(".npz") else "qplib" if low.endswith(".qplib")
               else "gams" if low.endswith(".gms") else "gset")
    readers = {"gset": read_gset, "rudy": read_rudy, "sk": read_sk, "gams": read_gams,
               "qplib": lambda q: read_qplib(q, as_constrained=True)}
    if fmt not in readers:
        fail(func, "fmt", "one of auto, gset, rudy, sk, qplib, gams", repr(fmt))
    return readers[fmt](path)
