"""D-Wave ``dimod`` models read straight into this package's problem classes, and back.

dimod (the model API of D-Wave's Ocean SDK, https://docs.ocean.dwavesys.com/projects/dimod) is an
optional dependency: ``pip install quaton_fast[dimod]``. Nothing here imports it at module import;
every function that needs it raises ``ImportError`` naming that command when it is missing.

Conventions (every conversion keeps the energy of EVERY state exact, offset included):

* A dimod BQM has ``E(v) = sum_i a_i v_i + sum_{i<j} b_ij v_i v_j + offset`` over its variables in
  ``bqm.variables`` order (labels of any hashable type).
  SPIN -> :class:`~quaton_fast.solve.models.problems.Ising` with ``J_ij = J_ji = b_ij`` (zero diagonal),
  ``h = a``, same offset (``1/2 s^T J s = sum_{i<j} b_ij s_i s_j``). BINARY ->
  :class:`~quaton_fast.solve.models.problems.QUBO` with ``Q_ij = Q_ji = b_ij / 2``, ``c = a``, same offset,
  up to ``DENSE_LIMIT`` variables (a QUBO is dense); above it a sparse
  :class:`~quaton_fast.solve.models.problems.QUMO` (``QUMO.from_box_quadratic`` over {0, 1}, whose
  ``to_original`` maps the solver's spins back to 0/1). ``problem.meta['labels']`` holds the variable
  labels in column order.
* A dimod CQM minimises ``objective(v)`` subject to ``lhs(v) <sense> rhs``. Read into a
  :class:`~quaton_fast.solve.models.constraints.ConstrainedProblem` (``1/2 z^T H z + g^T z + f``, sense
  'minimize'): ``H_ij = H_ji = b_ij`` (i != j), ``H_ii = 2 b_ii`` (self-loops of non-binary variables),
  ``g = a``, ``f = offset``; a ``<=`` row ``a.z + c <= r`` becomes ``a.z <= r - c``, a ``>=`` row is
  stored negated, ``==`` rows go to ``A_eq``. Supported subset: BINARY variables, INTEGER variables
  with bounds [0, 1] (read as binary), REAL variables with finite bounds (continuous); hard
  LINEAR constraints. Refused with ``ValueError`` naming the variable or constraint: SPIN variables
  (``cqm.spin_to_binary()`` first), other INTEGER variables, quadratic constraints, soft (weighted)
  constraints. ``problem.meta`` holds 'labels', 'eq_labels' and 'ineq_labels' (the constraint label
  of each row, in row order).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..._validation import fail
from ..models.constraints import ConstrainedProblem
from ..models.problems import DENSE_LIMIT, QUBO, QUMO, Ising, MaxCut

__all__ = ["bqm_to_problem", "cqm_to_problem", "problem_to_bqm", "require_dimod", "INSTALL_HINT"]

INSTALL_HINT = "pip install quaton_fast[dimod]"


def require_dimod():
    """The ``dimod`` module, or ImportError naming the optional extra that installs it."""
    try:
        import dimod
    except ImportError as exc:
        raise ImportError("quaton_fast.solve's dimod interface (AOCSampler, bqm_to_problem, cqm_to_problem, "
                          f"problem_to_bqm) needs the optional dependency dimod: {INSTALL_HINT}") from exc
    return dimod


def _symmetric(n: int, rows, cols, vals, dense: bool):
    """M (n, n) with M_ij = M_ji = v for every (i, j, v), i != j (duplicates add)."""
    r = np.concatenate([rows, cols]).astype(np.int64)
    c = np.concatenate([cols, rows]).astype(np.int64)
    v = np.concatenate([vals, vals]).astype(np.float64)
    M = sp.coo_matrix((v, (r, c)), shape=(n, n)).tocsr()
    M.sum_duplicates()
    return M.toarray() if dense else M


def bqm_to_problem(bqm) -> Any:
    """A dimod BinaryQuadraticModel as an :class:`Ising` (SPIN) or :class:`QUBO` (BINARY; a sparse
    :class:`QUMO` over {0, 1} above ``DENSE_LIMIT`` variables), energies equal for every state.

    Column k is variable ``bqm.variables[k]``; ``meta['labels']`` lists them, ``meta['vartype']`` is
    'SPIN' or 'BINARY'. Raises TypeError for anything but a BQM, ValueError for an empty one (our
    problems have at least one variable; its only energy is ``bqm.offset``), ImportError without dimod.
    """
    dimod = require_dimod()
    fn = "bqm_to_problem"
    if not isinstance(bqm, dimod.BinaryQuadraticModel):
        fail(fn, "bqm", "a dimod.BinaryQuadraticModel", type(bqm).__name__, TypeError)
    labels = list(bqm.variables)
    n = len(labels)
    if n == 0:
        fail(fn, "bqm", "a model with at least one variable", f"an empty BQM (offset {bqm.offset!r})")
    lin, (irow, icol, qdata), offset = bqm.to_numpy_vectors(labels)
    lin = np.asarray(lin, dtype=np.float64)
    meta = {"labels": labels, "source": "dimod"}
    if bqm.vartype is dimod.SPIN:
        meta["vartype"] = "SPIN"
        return Ising(_symmetric(n, irow, icol, qdata, dense=n <= DENSE_LIMIT), lin, float(offset), meta=meta)
    meta["vartype"] = "BINARY"
    if n <= DENSE_LIMIT:
        return QUBO(_symmetric(n, irow, icol, 0.5 * np.asarray(qdata, np.float64), dense=True), lin,
                    float(offset), meta=meta)
    # QUMO.from_box_quadratic minimises 1/2 z^T H z + g^T z + f over z in {0, 1}: H_ij = b_ij
    return QUMO.from_box_quadratic(_symmetric(n, irow, icol, qdata, dense=False), lin, float(offset),
                                   np.zeros(n), np.ones(n), np.ones(n, bool), meta=meta)


def problem_to_bqm(problem, labels=None):
    """A dimod BinaryQuadraticModel with the same energy as ``problem`` for every state.

    Ising and MaxCut (its Ising energy ``sum_e w_e s_i s_j``) and all-binary QUMO (spins, the QUMO's
    canonical x) give a SPIN model; QUBO gives a BINARY one (``a_i = c_i + Q_ii``, ``b_ij = 2 Q_ij``).
    labels: n hashable labels (default ``problem.meta['labels']`` when present, else 0..n-1).
    """
    dimod = require_dimod()
    fn = "problem_to_bqm"
    if isinstance(problem, MaxCut):
        problem = problem.to_ising()
    elif isinstance(problem, QUMO):
        problem = problem.to_ising()     # refuses continuous variables
    if isinstance(problem, Ising):
        M, lin, vartype = problem.J, problem.h, dimod.SPIN
        scale = 1.0
    elif isinstance(problem, QUBO):
        M, lin, vartype = problem.Q, problem.c + np.diag(problem.Q), dimod.BINARY
        scale = 2.0
    else:
        fail(fn, "problem", "an Ising, QUBO, MaxCut or all-binary QUMO", type(problem).__name__, TypeError)
    n = problem.n
    if labels is None:
        labels = problem.meta.get("labels") or list(range(n))
    labels = list(labels)
    if len(labels) != n or len(set(labels)) != n:
        fail(fn, "labels", f"{n} distinct hashable labels", f"{len(labels)} labels, {len(set(labels))} distinct")
    U = sp.triu(sp.csr_matrix(M), k=1).tocoo()
    bqm = dimod.BinaryQuadraticModel(vartype)
    bqm.add_variables_from(zip(labels, (float(v) for v in lin)))
    bqm.add_interactions_from((labels[i], labels[j], scale * float(v)) for i, j, v in zip(U.row, U.col, U.data))
    bqm.offset = float(problem.offset)
    return bqm


def _variable(fn: str, cqm, v, dimod) -> tuple[bool, float, float]:
    """(binary, lower, upper) of CQM variable v, refusing what ConstrainedProblem cannot hold."""
    vt = cqm.vartype(v)
    if vt is dimod.BINARY:
        return True, 0.0, 1.0
    if vt is dimod.SPIN:
        fail(fn, "cqm", "a model without SPIN variables (convert them with cqm.spin_to_binary())",
             f"SPIN variable {v!r}")
    lb, ub = float(cqm.lower_bound(v)), float(cqm.upper_bound(v))
    if vt is dimod.INTEGER:
        if (lb, ub) == (0.0, 1.0):
            return True, 0.0, 1.0
        fail(fn, "cqm", "INTEGER variables only with bounds [0, 1] (binary and real variables are supported)",
             f"INTEGER variable {v!r} with bounds [{lb:g}, {ub:g}]")
    if vt is dimod.REAL:
        if not (np.isfinite(lb) and np.isfinite(ub)):
            fail(fn, "cqm", "REAL variables with finite bounds", f"{v!r} with bounds [{lb:g}, {ub:g}]")
        return False, lb, ub
    fail(fn, "cqm", "BINARY, INTEGER [0, 1] or REAL variables", f"{vt} variable {v!r}")


def cqm_to_problem(cqm) -> ConstrainedProblem:
    """A dimod ConstrainedQuadraticModel as a :class:`ConstrainedProblem` (module docstring: the
    supported subset and the row convention). objective(z) equals ``cqm.objective.energy`` and the
    rows' violations equal ``cqm.violations`` (clipped at 0 for inequalities, absolute for equalities)
    for every state z in ``meta['labels']`` order. Raises TypeError for anything but a CQM, ValueError
    naming the variable or constraint outside the subset (or an empty model), ImportError without dimod.
    """
    dimod = require_dimod()
    from dimod.sym import Sense
    fn = "cqm_to_problem"
    if not isinstance(cqm, dimod.ConstrainedQuadraticModel):
        fail(fn, "cqm", "a dimod.ConstrainedQuadraticModel", type(cqm).__name__, TypeError)
    labels = list(cqm.variables)
    n = len(labels)
    if n == 0:
        fail(fn, "cqm", "a model with at least one variable", "an empty CQM")
    index = {v: k for k, v in enumerate(labels)}
    kinds = [_variable(fn, cqm, v, dimod) for v in labels]
    binary = np.array([k[0] for k in kinds], bool)
    lower = np.array([k[1] for k in kinds])
    upper = np.array([k[2] for k in kinds])

    obj = cqm.objective
    g = np.zeros(n)
    for v, a in obj.iter_linear():
        g[index[v]] += float(a)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for u, v, b in obj.iter_quadratic():
        if u == v:
            diag[index[u]] += 2.0 * float(b)
        else:
            rows.append(index[u])
            cols.append(index[v])
            vals.append(float(b))
    H = _symmetric(n, np.array(rows, np.int64), np.array(cols, np.int64), np.array(vals), dense=False)
    H = (H + sp.diags(diag)).tocsr()

    # each kind of row: (row indices, column indices, values, right-hand sides, constraint labels)
    rows_of = {"eq": ([], [], [], [], []), "ineq": ([], [], [], [], [])}
    for label, comp in cqm.constraints.items():
        lhs = comp.lhs
        if lhs.is_soft():
            fail(fn, "cqm", "hard constraints only (soft, weighted constraints are not supported)",
                 f"soft constraint {label!r}")
        if lhs.num_interactions:
            fail(fn, "cqm", "linear constraints only", f"quadratic constraint {label!r} "
                 f"({lhs.num_interactions} interactions)")
        if comp.sense is Sense.Eq:
            kind, sign = "eq", 1.0
        elif comp.sense in (Sense.Le, Sense.Ge):
            kind, sign = "ineq", 1.0 if comp.sense is Sense.Le else -1.0
        else:
            fail(fn, "cqm", "constraints with sense ==, <= or >=", f"{comp.sense!r} in {label!r}")
        r, c, val, rhs, lab = rows_of[kind]
        k = len(rhs)
        for v, coef in lhs.iter_linear():
            r.append(k)
            c.append(index[v])
            val.append(sign * float(coef))
        rhs.append(sign * (float(comp.rhs) - float(lhs.offset)))
        lab.append(label)

    def mat(kind):
        r, c, val, rhs, _ = rows_of[kind]
        return sp.csr_matrix((np.array(val, np.float64), (np.array(r, np.int64), np.array(c, np.int64))),
                             shape=(len(rhs), n)), np.array(rhs, np.float64)

    A_eq, b_eq = mat("eq")
    A_in, b_in = mat("ineq")
    meta = {"labels": labels, "source": "dimod", "eq_labels": rows_of["eq"][4], "ineq_labels": rows_of["ineq"][4]}
    return ConstrainedProblem(H, g, float(obj.offset), "minimize", lower, upper, binary, A_eq, b_eq, A_in, b_in,
                              names=[str(v) for v in labels], meta=meta)
