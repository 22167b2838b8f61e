"""Instance-file readers (G-set / rudy edge lists, SK .npz, QPLIB) and atomic writers.

Every content error raises ``ValueError`` naming the reader, the file and (where the file has
lines) the 1-based line number, e.g.::

    ValueError: read_gset(): G1.txt line 17: expected 3 fields 'i j w' (integers i, j, numeric w), got 'x y'

A missing file raises ``FileNotFoundError`` naming the reader and the path.
"""
from __future__ import annotations

import csv
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .._validation import fail
from .._atomic import atomic_write_text
from .problems import QUBO, QUMO, Ising, MaxCut

__all__ = ["read_gset", "read_rudy", "write_gset", "write_rudy", "read_sk",
           "read_sk_ground_energies", "read_qplib", "gset_best_known"]


# ----------------------------------------------------------------------------------------- common
def _path(func: str, path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        fail(func, "path", "a str or os.PathLike", type(path).__name__, TypeError)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{func}(): file '{p}' does not exist or is not a regular file")
    return p


def _err(func: str, p: Path, line: int | None, msg: str) -> ValueError:
    where = f"{p.name} line {line}" if line is not None else p.name
    return ValueError(f"{func}(): {where}: {msg}  [file: {p}]")


def _lines(func: str, p: Path) -> list[str]:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise _err(func, p, None, f"not a UTF-8/ASCII text file ({e.reason} at byte {e.start})") from None
    return text.splitlines()


def _int(tok: str) -> int | None:
    try:
        return int(tok)
    except ValueError:
        return None


def _num(tok: str) -> float | None:
    try:
        v = float(tok)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------------------ G-set / rudy
def _read_edge_list(func: str, path: Any) -> MaxCut:
    p = _path(func, path)
    lines = _lines(func, p)
    while lines and not lines[-1].strip():      # trailing blank lines are tolerated
        lines.pop()
    if not lines:
        raise _err(func, p, 1, "empty file; expected a header 'n m'")
    head = lines[0].split()
    n, m = (_int(head[0]), _int(head[1])) if len(head) == 2 else (None, None)
    if n is None or m is None or n < 1 or m < 0:
        raise _err(func, p, 1, f"expected header 'n m' (integers n >= 1, m >= 0), got {lines[0].strip()!r}")
    body = lines[1:]
    edges = np.empty((m, 2), dtype=np.int64)
    weights = np.empty(m, dtype=np.float64)
    for k, line in enumerate(body[:m]):
        ln = k + 2
        tok = line.split()
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
    try:
        obj = np.load(p, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise _err(func, p, None, f"not a readable .npy/.npz file ({type(e).__name__}: {e})") from None
    if isinstance(obj, np.ndarray):  # the SK files are .npy data under a .npz name
        return obj
    with obj:
        keys = list(obj.files)
        if len(keys) == 1:
            return obj[keys[0]]
        for k in allowed_keys:
            if k in keys:
                return obj[k]
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


# ------------------------------------------------------------------------------------- QPLIB
class _Tokens:
    """Meaningful lines of a QPLIB file: comments ('#', '%', '!') stripped, blank lines skipped."""

    def __init__(self, func: str, p: Path):
        self.func, self.p = func, p
        self._it: Iterator[tuple[int, str]] = iter(
            (k + 1, s) for k, s in enumerate(self._strip(x) for x in _lines(func, p)) if s)
        self.line = 0

    @staticmethod
    def _strip(s: str) -> str:
        for c in "#%!":
            i = s.find(c)
            if i >= 0:
                s = s[:i]
        return s.strip()

    def next(self, what: str) -> list[str]:
        try:
            self.line, s = next(self._it)
        except StopIteration:
            raise _err(self.func, self.p, self.line + 1, f"file truncated: expected {what}") from None
        return s.split()

    def err(self, msg: str) -> ValueError:
        return _err(self.func, self.p, self.line, msg)

    def int_(self, what: str, lo: int = 0, hi: int | None = None) -> int:
        t = self.next(what)
        v = _int(t[0])
        if v is None or v < lo or (hi is not None and v > hi):
            rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise self.err(f"expected {what} (an integer {rng}), got {' '.join(t)!r}")
        return v

    def num(self, what: str, inf: float | None = None) -> float:
        t = self.next(what)
        try:
            v = float(t[0])
        except ValueError:
            raise self.err(f"expected {what} (a number), got {' '.join(t)!r}") from None
        if math.isnan(v) or (inf is None and not math.isfinite(v)):
            raise self.err(f"expected {what} (a finite number), got {' '.join(t)!r}")
        return v

    def entries(self, what: str, n: int, k: int) -> list[tuple[int, ...]]:
        """Read k lines of ``idx... value`` with 1-based indices <= n (``what`` names the fields)."""
        out = []
        for _ in range(k):
            t = self.next(what)
            nidx = len(what.split()) - 1
            idx = [_int(x) for x in t[:nidx]] if len(t) >= nidx + 1 else [None]
            val = _num(t[nidx]) if len(t) >= nidx + 1 else None
            if any(i is None for i in idx) or val is None:
                raise self.err(f"expected '{what}' (1-based integer indices, finite value), got {' '.join(t)!r}")
            if any(not 1 <= i <= n for i in idx):
                raise self.err(f"index out of range [1, {n}] in {' '.join(t)!r}")
            out.append((*[i - 1 for i in idx], val))
        return out

    def default_vector(self, what: str, n: int, inf: float | None = None) -> np.ndarray:
        d = self.num(f"default value for {what}", inf)
        v = np.full(n, d)
        k = self.int_(f"number of non-default entries in {what}", 0, n)
        for i, val in self.entries("index value", n, k):
            v[i] = val
        return v


_OBJ = {"L": "linear", "D": "diagonal convex quadratic", "C": "convex quadratic", "Q": "quadratic"}
_VARS = {"C": "continuous", "B": "binary", "M": "mixed binary/continuous", "I": "integer",
         "G": "general (continuous/binary/integer)"}
_CONS = {"N": "none", "B": "box", "L": "linear", "D": "diagonal convex quadratic",
         "C": "convex quadratic", "Q": "quadratic"}


def read_qplib(path: str | os.PathLike) -> QUBO | QUMO:
    """Read a QPLIB ``.qplib`` file (Furini et al. 2019, appendix B) with no general constraints.

    QPLIB's objective is ``1/2 z^T H z + g^T z + f``; the file lists the LOWER triangle of H
    (``i j H_ij``, 1-based; an upper-triangle entry is mirrored, duplicates add), so an off-diagonal
    entry v contributes v*z_i*z_j and a diagonal one v/2*z_i^2. Layout read here (comments after
    '#', '%' or '!' and blank lines are skipped): name; type code OVC; minimize|maximize; n;
    [#H entries + entries unless O = L]; default g, #non-default, entries; f; infinity;
    [x_l, x_u default/#/entries unless V = B]; [type default/#/entries (0 cont., 1 int., 2 binary)
    if V in M, G]; starting x, dual z (default/#/entries); #variable names + lines.

    Supported: constraint class N or B (box) with variables B (-> :class:`QUBO`, Q = H/2, c = g,
    offset f), or C / M / I / G with finite bounds, integers only with bounds {0, 1} (-> :class:`QUMO`
    via ``QUMO.from_box_quadratic``; ``to_original`` maps solver states back to z). A ``maximize``
    problem is negated: the returned problem minimises -objective (``meta['sense']`` records it,
    original objective = -energy). Classes L, D, C, Q of constraints and general integers raise
    NotImplementedError naming the class.
    """
    func = "read_qplib"
    p = _path(func, path)
    t = _Tokens(func, p)
    name = t.next("problem name")[0]
    code = t.next("problem type code (e.g. QBN)")[0].upper()
    if len(code) != 3 or code[0] not in _OBJ or code[1] not in _VARS or code[2] not in _CONS:
        raise t.err(f"expected a 3-letter problem type code O V C (O in LDCQ, V in CBMIG, C in NBLDCQ), got {code!r}")
    if code[2] not in "NB":
        raise NotImplementedError(
            f"{func}(): {p.name}: problem class {code} has {_CONS[code[2]]} constraints; only "
            "unconstrained (…N) and box-constrained (…B) QPLIB problems can be converted to QUMO")
    sense = t.next("minimize or maximize")[0].lower()
    if sense not in ("minimize", "maximize", "minimise", "maximise"):
        raise t.err(f"expected 'minimize' or 'maximize', got {sense!r}")
    sign = -1.0 if sense.startswith("max") else 1.0
    n = t.int_("number of variables", 1)
    H = np.zeros((n, n))
    if code[0] != "L":
        k = t.int_("number of quadratic terms in the objective", 0)
        for i, j, v in t.entries("i j value", n, k):
            if i == j:
                H[i, i] += v
            else:
                H[i, j] += v
                H[j, i] += v
    g = t.default_vector("linear objective coefficients", n)
    f = t.num("objective constant")
    inf = t.num("value for infinity", inf=math.inf)
    if code[1] == "B":
        lo, up, vtype = np.zeros(n), np.ones(n), np.full(n, 2)
    else:
        lo = t.default_vector("variable lower bounds", n, inf=math.inf)
        up = t.default_vector("variable upper bounds", n, inf=math.inf)
        if code[1] in "MG":
            d = t.int_("default variable type (0 continuous, 1 integer, 2 binary)", 0, 2)
            vtype = np.full(n, d)
            kk = t.int_("number of non-default variable types", 0, n)
            for i, v in t.entries("index type", n, kk):
                if v not in (0, 1, 2):
                    raise t.err(f"variable type must be 0, 1 or 2, got {v}")
                vtype[i] = int(v)
        else:
            vtype = np.full(n, {"C": 0, "I": 1}[code[1]])
    # the rest (starting point, duals, names) is not needed; it is not parsed.
    binary = vtype == 2
    lo[binary], up[binary] = 0.0, 1.0
    integer = vtype == 1
    if integer.any():
        bad = integer & ~((lo == 0) & (up == 1))
        if bad.any():
            raise NotImplementedError(
                f"{func}(): {p.name}: problem class {code} has general integer variables "
                f"(variable {int(np.flatnonzero(bad)[0]) + 1} with bounds [{lo[bad][0]}, {up[bad][0]}]); "
                "only binary and bounded continuous variables are supported")
        binary |= integer
    unb = (np.abs(lo) >= abs(inf)) | (np.abs(up) >= abs(inf)) | ~np.isfinite(lo) | ~np.isfinite(up)
    if unb.any():
        i = int(np.flatnonzero(unb)[0])
        raise NotImplementedError(
            f"{func}(): {p.name}: variable {i + 1} is unbounded ([{lo[i]}, {up[i]}]); the AOC needs "
            "finite bounds to map continuous variables onto [-1, 1]")
    if np.any(up < lo):
        i = int(np.flatnonzero(up < lo)[0])
        raise _err(func, p, None, f"variable {i + 1} has upper bound {up[i]} < lower bound {lo[i]}")
    meta = {"name": name, "type": code, "sense": "maximize" if sign < 0 else "minimize", "path": str(p)}
    H, g, f = sign * H, sign * g, sign * f
    if binary.all():
        return QUBO(0.5 * H, g, f, meta=meta)
    return QUMO.from_box_quadratic(H, g, f, lo, up, binary, meta=meta)
