"""Every shared QPLIB instance: sizes and sense against the .prop files, the objective and every
constraint row against a direct evaluation of the GAMS text, and the .qplib write-back round trip.

The shared data is found at ``<repo>/../shared/data/qplib`` (or ``$QUATON_FAST_SHARED_DATA/qplib``);
the tests skip when it is absent.
"""
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from quaton_fast.solve.formats.readers import read_gams, read_qplib, write_qplib

DATA = Path(os.environ.get("QUATON_FAST_SHARED_DATA",
                           Path(__file__).resolve().parents[2].parent / "shared" / "data"))
QP = DATA / "qplib"
NAMES = sorted(p.stem for p in QP.glob("QPLIB_*.gms")) if QP.is_dir() else []
pytestmark = pytest.mark.skipif(not NAMES, reason=f"QPLIB files not found under {QP} (shared data absent)")


def prop(name):
    out = {}
    for line in (QP / f"{name}.prop").read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _terms(expr):
    """Signed product terms of a convert-format expression: sqr(x) -> x*x, the parentheses convert
    puts around a single leading term dropped, split at +/- that are not part of an exponent."""
    expr = re.sub(r"sqr\((\w+)\)", r"\1*\1", " ".join(expr.split())).replace("(", "").replace(")", "")
    parts = re.split(r"(?<![eE])(?=[+-])", expr.replace(" ", ""))
    return [t for t in parts if t]


def gams_rows(path):
    """Independent evaluator: {equation: (terms of lhs - rhs, relation)} straight from the text, plus
    the objective variable and sense."""
    text = "\n".join(l for l in Path(path).read_text().splitlines() if not l.startswith("*"))
    rows = {}
    for m in re.finditer(r"^(e\d+)\.\.(.*?);", text, re.S | re.M):
        lhs, rel, rhs = re.split(r"(=[ELG]=)", m.group(2))
        rows[m.group(1)] = ([(1.0, t) for t in _terms(lhs)] + [(-1.0, t) for t in _terms(rhs)], rel)
    sense = re.search(r"Solve m using \S+ (minimizing|maximizing) (\w+);", text)
    return rows, sense.group(2), sense.group(1)


def _term_value(t, env):
    sign = -1.0 if t.startswith("-") else 1.0
    v = sign
    for f in t.lstrip("+-").split("*"):
        v *= env[f] if f in env else float(f)
    return v


def evaluate(rows, names, z, objvar):
    env = dict(zip(names, z.tolist()))
    env[objvar] = 0.0
    return {e: (math.fsum(s * _term_value(t, env) for s, t in terms), rel) for e, (terms, rel) in rows.items()}


def feasible_point(p, seed):
    """A feasible point found by HiGHS (scipy.optimize.milp) for a random linear objective."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    if p.m_eq + p.m_ineq == 0:
        return np.random.default_rng(seed).integers(0, 2, p.n).astype(float)
    cons = []
    if p.m_eq:
        cons.append(LinearConstraint(p.A_eq, p.b_eq, p.b_eq))
    if p.m_ineq:
        cons.append(LinearConstraint(p.A_ineq, -np.inf, p.b_ineq))
    c = np.random.default_rng(seed).normal(size=p.n)
    res = milp(c, constraints=cons, integrality=p.binary.astype(int), bounds=Bounds(p.lower, p.upper),
               options={"time_limit": 20})
    assert res.x is not None, res.message
    z = res.x.copy()
    z[p.binary] = np.round(z[p.binary])
    return z


@pytest.mark.parametrize("name", NAMES)
def test_instance_sizes_sense_objective_rows_roundtrip(name, tmp_path):
    path = QP / f"{name}.gms"
    p = read_gams(path)
    pr = prop(name)
    assert p.n == int(pr["NVARS"]) and p.n_binary == int(pr["NBINVARS"])
    rows, objvar, sense = gams_rows(path)
    assert p.sense == {"min": "minimize", "max": "maximize"}[pr["OBJSENSE"]] == sense.replace("ing", "e")
    n_eq_rows = sum(rel == "=E=" for _, rel in rows.values()) - 1       # minus the objective row
    assert p.m_eq == n_eq_rows and p.m_eq + p.m_ineq == int(pr["NLINCONS"])
    z = feasible_point(p, 0)
    assert p.is_feasible(z) and p.max_violation(z) <= 1e-9
    rng = np.random.default_rng(1)
    for point in (z, rng.integers(0, 2, p.n).astype(float)):
        vals = evaluate(rows, p.names, point, objvar)
        obj_row = [e for e, (terms, _) in rows.items() if any(objvar in t for _, t in terms)]
        assert len(obj_row) == 1
        direct_obj = vals[obj_row[0]][0]       # row = f(z) - objvar with objvar = 0
        assert p.objective(point) == pytest.approx(direct_obj, rel=1e-12, abs=1e-9)
        req, rin = p.residuals(point)
        eq = [vals[e][0] for e in p.meta["eq_rows"]]
        ineq = [vals[e][0] if vals[e][1] == "=L=" else -vals[e][0] for e in p.meta["ineq_rows"]]
        assert np.allclose(req, eq, atol=1e-9) and np.allclose(rin, ineq, atol=1e-9)
        feas_direct = all((abs(v) <= 1e-9 if rel == "=E=" else (v <= 1e-9 if rel == "=L=" else v >= -1e-9))
                          for e, (v, rel) in vals.items() if e != obj_row[0])
        assert p.is_feasible(point) == feas_direct
    # write-back as .qplib reads identically
    write_qplib(p, tmp_path / f"{name}.qplib")
    r = read_qplib(tmp_path / f"{name}.qplib", as_constrained=True)
    for a in ("H", "A_eq", "A_ineq"):
        assert (getattr(r, a) != getattr(p, a)).nnz == 0
    for a in ("g", "b_eq", "b_ineq", "lower", "upper", "binary"):
        assert np.array_equal(getattr(r, a), getattr(p, a))
    assert r.f == p.f and r.sense == p.sense and r.names == p.names
    # the best known value is attainable in the reported sense (sanity of sign and constant)
    best = float(pr["SOLOBJVALUE"])
    assert p.better(best, p.objective(z)) or best == pytest.approx(p.objective(z))
