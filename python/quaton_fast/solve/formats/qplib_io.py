"""QPLIB ``.qplib`` files (Furini et al., Math. Prog. Comp. 11, 2019, appendix B): strict reader and
a round-trip writer.

Layout (one item per line; text after '#', '%' or '!' is a comment; blank lines are skipped):
name; type code OVC; minimize|maximize; n; [m, unless C in N, B]; [#H entries + lines 'i j v'
unless O = L]; default g, #non-default, lines 'i v'; f; [#quadratic constraint terms + 'k i j v'
if C in D, C, Q -- refused]; [#linear constraint terms + lines 'k i v' if m rows]; infinity;
[constraint lower c_l and upper c_u: default, #non-default, lines 'k v' each, if m rows];
[variable lower and upper bounds: default/#/lines, unless V = B]; [variable types default/#/lines
'i t' (0 continuous, 1 integer, 2 binary) if V in M, G]; starting x (default/#/lines); [starting
constraint duals y if m rows]; starting bound duals z; #variable names + lines 'i name';
[#constraint names + lines 'k name' if m rows].

STRICT: a line that should hold one value must hold exactly one token, an entry line exactly its
fields; an index out of range, a count that does not match what follows (the next section then
fails to parse) and anything after the last section are errors ``ValueError("read_qplib(): F line
L: ...")``. Quadratic constraints (classes D, C, Q) and general integers raise NotImplementedError.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from ..._atomic import atomic_write_text
from ..._validation import fail
from ._files import (MAX_DENSE_BYTES, _err, _path, naming_file, declared_count, read_text, strict_float, strict_int,
                     text_lines)
from ._files import fields as split_fields
from ..models.constraints import ConstrainedProblem
from ..models.problems import QUBO, QUMO

__all__ = ["read_qplib", "write_qplib", "qplib_rows_to_constraints"]

_OBJ = {"L": "linear", "D": "diagonal convex quadratic", "C": "convex quadratic", "Q": "quadratic"}
_VARS = {"C": "continuous", "B": "binary", "M": "mixed binary/continuous", "I": "integer",
         "G": "general (continuous/binary/integer)"}
_CONS = {"N": "none", "B": "box", "L": "linear", "D": "diagonal convex quadratic",
         "C": "convex quadratic", "Q": "quadratic"}


_int = strict_int        # [+-]?[0-9]+ only


class _Tokens:
    """Meaningful lines of a QPLIB file: comments ('#', '%', '!') stripped, blank lines skipped."""

    def __init__(self, func: str, p: Path):
        self.func, self.p = func, p
        text = read_text(func, p)
        self._it: Iterator[tuple[int, str]] = iter(
            (k + 1, s) for k, s in enumerate(self._strip(x) for x in text_lines(text)) if s)
        self.line = 0

    @staticmethod
    def _strip(s: str) -> str:
        for c in "#%!":
            i = s.find(c)
            if i >= 0:
                s = s[:i]
        return s.strip(" \t")

    def next(self, what: str, fields: int | None = None) -> list[str]:
        try:
            self.line, s = next(self._it)
        except StopIteration:
            raise _err(self.func, self.p, self.line + 1, f"file truncated: expected {what}") from None
        t = split_fields(s)
        if fields is not None and len(t) != fields:
            raise self.err(f"expected {what} ({fields} field{'s' if fields > 1 else ''}), got {s!r}"
                           + (" (a count above may be wrong)" if len(t) > fields else ""))
        return t

    def end(self) -> None:
        for ln, s in self._it:
            raise _err(self.func, self.p, ln, f"unexpected content after the last section: {s!r} "
                                              "(a count above may be wrong)")

    def err(self, msg: str) -> ValueError:
        return _err(self.func, self.p, self.line, msg)

    def int_(self, what: str, lo: int = 0, hi: int | None = None) -> int:
        t = self.next(what, 1)
        v = _int(t[0])
        if v is None or v < lo or (hi is not None and v > hi):
            rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise self.err(f"expected {what} (an integer {rng}), got {t[0]!r}")
        return v

    def _float(self, tok: str, what: str, inf_ok: bool) -> float:
        v = strict_float(tok, inf_ok)       # plain ASCII decimals; 'inf' only where infinity is allowed
        if v is None:
            raise self.err(f"expected {what} (a {'' if inf_ok else 'finite '}plain decimal number), got {tok!r}")
        return v

    def num(self, what: str, inf_ok: bool = False) -> float:
        return self._float(self.next(what, 1)[0], what, inf_ok)

    def entries(self, what: str, n: tuple[int, ...], k: int, inf_ok: bool = False,
                value: bool = True) -> list[tuple]:
        """k lines of 1-based integer indices (bounds ``n``) followed by one value (or a name)."""
        out = []
        nf = len(n) + 1
        for _ in range(k):
            t = self.next(f"'{what}'", nf)
            idx = [_int(x) for x in t[:-1]]
            if any(i is None for i in idx):
                raise self.err(f"expected '{what}' (1-based integer indices), got {' '.join(t)!r}")
            for i, hi in zip(idx, n):
                if not 1 <= i <= hi:
                    raise self.err(f"index {i} out of range [1, {hi}] in {' '.join(t)!r}")
            v = self._float(t[-1], f"the value of '{what}'", inf_ok) if value else t[-1]
            out.append((*[i - 1 for i in idx], v))
        return out

    def default_vector(self, what: str, n: int, inf_ok: bool = False) -> np.ndarray:
        d = self.num(f"default value for {what}", inf_ok)
        v = np.full(n, d)
        k = self.int_(f"number of non-default entries in {what}", 0, n)
        for i, val in self.entries("index value", (n,), k, inf_ok):
            v[i] = val
        return v


def qplib_rows_to_constraints(A: sp.csr_matrix, cl: np.ndarray, cu: np.ndarray, inf: float):
    """Rows ``cl <= A z <= cu`` -> (A_eq, b_eq, A_ineq, b_ineq) with ``<=`` rows only.

    cl == cu: equality; a finite cl: ``-a z <= -cl``; a finite cu: ``a z <= cu``; both infinite
    (|v| >= inf): a free row, dropped."""
    lo_f = np.isfinite(cl) & (cl > -abs(inf))
    up_f = np.isfinite(cu) & (cu < abs(inf))
    eq = lo_f & up_f & (cl == cu)
    le = up_f & ~eq
    ge = lo_f & ~eq
    A_eq, b_eq = A[np.flatnonzero(eq)], cu[eq]
    rows = np.concatenate([np.flatnonzero(ge), np.flatnonzero(le)])
    order = np.argsort(rows, kind="stable")             # keep the file's row order
    sgn = np.concatenate([-np.ones(ge.sum()), np.ones(le.sum())])[order]
    rhs = np.concatenate([-cl[ge], cu[le]])[order]
    A_in = sp.diags(sgn) @ A[rows[order]] if rows.size else sp.csr_matrix((0, A.shape[1]))
    return sp.csr_matrix(A_eq), b_eq, sp.csr_matrix(A_in), rhs


def read_qplib(path: str | os.PathLike, *, as_constrained: bool = False):
    """Read a QPLIB ``.qplib`` file strictly (module docstring for the layout and the checks).

    QPLIB's objective is ``1/2 z^T H z + g^T z + f``; the file lists the LOWER triangle of H
    (``i j H_ij``, 1-based; an upper-triangle entry is mirrored, duplicates add), so an off-diagonal
    entry v contributes v*z_i*z_j and a diagonal one v/2*z_i^2.

    Returns: with linear constraints (class L) or ``as_constrained=True`` a
    :class:`~quaton_fast.solve.models.constraints.ConstrainedProblem` in the file's own sense and variables.
    Otherwise (classes N, B), as before: all binary -> :class:`QUBO` (Q = H/2, c = g, offset f),
    mixed -> :class:`QUMO` (``QUMO.from_box_quadratic``), a ``maximize`` problem negated (energy =
    -objective, ``meta['sense']`` records it). Integer variables with bounds {0, 1} count as binary.
    Raises NotImplementedError for quadratic constraints, general integers and unbounded variables,
    ValueError naming file and line for malformed content, FileNotFoundError for a missing file.
    """
    func = "read_qplib"
    p = _path(func, path)
    t = _Tokens(func, p)
    name = t.next("problem name", 1)[0]
    code = t.next("problem type code (e.g. QBN)", 1)[0].upper()
    if len(code) != 3 or code[0] not in _OBJ or code[1] not in _VARS or code[2] not in _CONS:
        raise t.err(f"expected a 3-letter problem type code O V C (O in LDCQ, V in CBMIG, C in NBLDCQ), got {code!r}")
    if code[2] in "DCQ":
        raise NotImplementedError(
            f"{func}(): {p.name}: problem class {code} has {_CONS[code[2]]} constraints; only "
            "unconstrained (…N), box-constrained (…B) and linearly constrained (…L) QPLIB problems are supported")
    sense = t.next("minimize or maximize", 1)[0].lower()
    if sense not in ("minimize", "maximize", "minimise", "maximise"):
        raise t.err(f"expected 'minimize' or 'maximize', got {sense!r}")
    sense = "maximize" if sense.startswith("max") else "minimize"
    n = t.int_("number of variables", 1)
    declared_count(func, p, t.line, "number of variables", n)     # before any O(n) allocation
    has_cons = code[2] == "L"
    m = t.int_("number of constraints", 0) if has_cons else 0
    declared_count(func, p, t.line, "number of constraints", m)
    Hr, Hc, Hv = [], [], []
    if code[0] != "L":
        k = t.int_("number of quadratic terms in the objective", 0, n * n)
        for i, j, v in t.entries("i j value", (n, n), k):
            Hr.append(i), Hc.append(j), Hv.append(v)
            if i != j:
                Hr.append(j), Hc.append(i), Hv.append(v)
    H = sp.csr_matrix((Hv, (Hr, Hc)), shape=(n, n))
    g = t.default_vector("linear objective coefficients", n)
    f = t.num("objective constant")
    A = sp.csr_matrix((m, n))
    if has_cons:
        k = t.int_("number of linear terms in all constraints", 0, m * n)
        e = t.entries("k i value", (m, n), k)
        if e:
            kk, ii, vv = (np.array(c) for c in zip(*e))
            A = sp.csr_matrix((vv, (kk.astype(int), ii.astype(int))), shape=(m, n))
    inf = t.num("value for infinity", inf_ok=True)
    if not inf > 0:
        raise t.err(f"expected a positive value for infinity, got {inf}")
    if has_cons:
        cl = t.default_vector("constraint left-hand sides", m, inf_ok=True)
        cu = t.default_vector("constraint right-hand sides", m, inf_ok=True)
    if code[1] == "B":
        lo, up, vtype = np.zeros(n), np.ones(n), np.full(n, 2)
    else:
        lo = t.default_vector("variable lower bounds", n, inf_ok=True)
        up = t.default_vector("variable upper bounds", n, inf_ok=True)
        if code[1] in "MG":
            d = t.int_("default variable type (0 continuous, 1 integer, 2 binary)", 0, 2)
            vtype = np.full(n, d)
            kk = t.int_("number of non-default variable types", 0, n)
            for i, v in t.entries("index type", (n,), kk):
                if v not in (0, 1, 2):
                    raise t.err(f"variable type must be 0, 1 or 2, got {v}")
                vtype[i] = int(v)
        else:
            vtype = np.full(n, {"C": 0, "I": 1}[code[1]])
    t.default_vector("starting point x", n, inf_ok=True)
    if has_cons:
        t.default_vector("starting constraint duals y", m, inf_ok=True)
    t.default_vector("starting bound duals z", n, inf_ok=True)
    kn = t.int_("number of variable names", 0, n)
    names: list[str] | None = [f"x{i + 1}" for i in range(n)] if kn else None
    for i, nm in t.entries("index name", (n,), kn, value=False):
        names[i] = nm
    if has_cons:
        kc = t.int_("number of constraint names", 0, m)
        t.entries("index name", (m,), kc, value=False)
    t.end()

    binary = vtype == 2
    integer = vtype == 1
    if integer.any():
        bad = integer & ~((lo == 0) & (up == 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise NotImplementedError(
                f"{func}(): {p.name}: problem class {code} has general integer variables "
                f"(variable {i + 1} with bounds [{lo[i]}, {up[i]}]); "
                "only binary and bounded continuous variables are supported")
        binary |= integer
    lo[binary], up[binary] = np.maximum(lo[binary], 0.0), np.minimum(up[binary], 1.0)
    unb = (np.abs(lo) >= abs(inf)) | (np.abs(up) >= abs(inf)) | ~np.isfinite(lo) | ~np.isfinite(up)
    if unb.any():
        i = int(np.flatnonzero(unb)[0])
        raise NotImplementedError(
            f"{func}(): {p.name}: variable {i + 1} is unbounded ([{lo[i]}, {up[i]}]); the AOC needs "
            "finite bounds to map continuous variables onto [-1, 1]")
    if np.any(up < lo):
        i = int(np.flatnonzero(up < lo)[0])
        raise _err(func, p, None, f"variable {i + 1} has upper bound {up[i]} < lower bound {lo[i]}")
    meta = {"name": name, "type": code, "sense": sense, "path": str(p)}
    if has_cons or as_constrained:
        A_eq, b_eq, A_in, b_in = qplib_rows_to_constraints(A, cl, cu, inf) if has_cons else (None,) * 4
        with naming_file(func, p):    # e.g. coefficients too large: say which file, not only the argument
            return ConstrainedProblem(H, g, f, sense, lo, up, binary, A_eq, b_eq, A_in, b_in, names, meta)
    sign = -1.0 if sense == "maximize" else 1.0
    if n * n * 8 > MAX_DENSE_BYTES:       # QUBO / QUMO hold H dense: n^2 float64
        raise _err(func, p, None, f"n = {n} variables: the dense QUBO/QUMO form needs {n * n * 8} bytes, above "
                                  f"{MAX_DENSE_BYTES} (quaton_fast.solve.formats._files.MAX_DENSE_BYTES); read it with "
                                  "as_constrained=True (sparse ConstrainedProblem)")
    Hd = H.toarray()
    with naming_file(func, p):
        if binary.all() and np.all(lo == 0) and np.all(up == 1):
            return QUBO(0.5 * sign * Hd, sign * g, sign * f, meta=meta)
        return QUMO.from_box_quadratic(sign * Hd, sign * g, sign * f, lo, up, binary, meta=meta)


# ------------------------------------------------------------------------------------ writer
def _f(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def _default_vector(v: np.ndarray, label: str) -> list[str]:
    vals, counts = np.unique(v, return_counts=True)
    d = float(vals[np.argmax(counts)]) if v.size else 0.0
    idx = np.flatnonzero(v != d)
    return [f"{_f(d)} # default {label}", f"{idx.size} # number of non-default {label}"] + \
        [f"{i + 1} {_f(v[i])}" for i in idx]


def write_qplib(problem: ConstrainedProblem, path: str | os.PathLike, *, name: str | None = None) -> None:
    """Write ``problem`` as a ``.qplib`` file (atomically), exactly: ``read_qplib(path,
    as_constrained=True)`` returns the same H, g, f, sense, bounds, binary mask, A_eq, b_eq,
    A_ineq, b_ineq (floats written with repr). Equalities are written as rows with c_l = c_u,
    ``<=`` rows with c_l = -infinity; binaries with bounds other than [0, 1] (fixed) make the type
    code M."""
    fn = "write_qplib"
    if not isinstance(problem, ConstrainedProblem):
        fail(fn, "problem", "a ConstrainedProblem", type(problem).__name__, TypeError)
    if not isinstance(path, (str, os.PathLike)):
        fail(fn, "path", "a str or os.PathLike", type(path).__name__, TypeError)
    P = problem
    n, meq, min_ = P.n, P.m_eq, P.m_ineq
    m = meq + min_
    pure01 = bool(P.binary.all() and np.all(P.lower == 0) and np.all(P.upper == 1))
    O = "L" if P.H.nnz == 0 else "Q"
    V = "B" if pure01 else ("C" if not P.binary.any() else "M")
    C = "L" if m else ("N" if V == "B" else "B")
    INF = 1e30
    nm = name or str(P.meta.get("name", "problem")).split()[0] or "problem"
    out = [nm, O + V + C, P.sense, f"{n} # number of variables"]
    if C == "L":
        out.append(f"{m} # number of constraints")
    if O != "L":
        L = sp.tril(P.H, format="coo")
        keep = L.data != 0
        out.append(f"{int(keep.sum())} # number of quadratic terms in objective")
        out += [f"{i + 1} {j + 1} {_f(v)}" for i, j, v in zip(L.row[keep], L.col[keep], L.data[keep])]
    out += _default_vector(P.g, "linear objective coefficient")
    out.append(f"{_f(P.f)} # objective constant")
    if C == "L":
        A = sp.vstack([P.A_eq, P.A_ineq]).tocoo()
        out.append(f"{A.nnz} # number of linear terms in all constraints")
        order = np.lexsort((A.col, A.row))
        out += [f"{A.row[k] + 1} {A.col[k] + 1} {_f(A.data[k])}" for k in order]
    out.append(f"{_f(INF)} # value for infinity")
    if C == "L":
        cl = np.concatenate([P.b_eq, np.full(min_, -INF)])
        cu = np.concatenate([P.b_eq, P.b_ineq])
        out += _default_vector(cl, "constraint left-hand side")
        out += _default_vector(cu, "constraint right-hand side")
    if V != "B":
        out += _default_vector(P.lower, "variable lower bound")
        out += _default_vector(P.upper, "variable upper bound")
        if V == "M":
            out += _default_vector(np.where(P.binary, 2.0, 0.0), "variable type")
    out += ["0 # default starting x", "0"]
    if C == "L":
        out += ["0 # default starting constraint dual", "0"]
    out += ["0 # default starting bound dual", "0"]
    names = P.names
    out.append(f"{0 if names is None else n} # number of variable names")
    if names is not None:
        out += [f"{i + 1} {s}" for i, s in enumerate(names)]
    if C == "L":
        out.append("0 # number of constraint names")
    atomic_write_text("\n".join(out) + "\n", path)
