"""Row classes of a ConstrainedProblem: the structure the constrained solver treats natively.

Recognised from the matrices alone (never from names or the source file), in the file's variables z:

* **one-hot** (assignment) rows: an equality row over binary variables with bounds [0, 1] whose
  nonzero coefficients are all equal, ``c * sum_{j in G} z_j = c`` -- "pick exactly one of G".
  ``groups`` is a greedy maximal set of PAIRWISE DISJOINT one-hot rows (rows in file order; a row
  sharing a variable with an earlier chosen row is left out and counted in ``one_hot_overlapping``,
  e.g. the column rows of a QAP-type assignment). A move that turns the group's chosen variable off
  and another variable of the same group on (a swap within the row) keeps every group row satisfied.
* **capacity** (knapsack) rows: an inequality row ``a^T z <= b`` over binary variables with all
  ``a_j >= 0`` and ``b >= 0`` (removing items only helps).
* **cover** rows: ``a^T z <= b`` over binaries with all ``a_j <= 0`` and ``b < 0``, i.e. a ``>=``
  row of the file ``sum_j |a_j| z_j >= |b|`` (set covering when the coefficients are equal).
* everything else is ``other_eq`` / ``other_ineq``.

``row_classes(p)`` is cached on the problem (``p._row_classes``); O(nnz(A)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .constraints import ConstrainedProblem

__all__ = ["RowClasses", "row_classes"]


@dataclass(frozen=True)
class RowClasses:
    """Indices of A_eq / A_ineq rows per class (module docstring).

    groups: list of (k_g,) int arrays, the variables of each chosen disjoint one-hot row;
    group_rows: (G,) int, the A_eq row of each group; group_of: (n,) int, the group of a variable
    (-1 for none); one_hot_overlapping: one-hot A_eq rows not chosen as groups (share variables);
    capacity, cover: (.,) int A_ineq rows; other_eq, other_ineq: the remaining rows."""
    groups: list
    group_rows: np.ndarray
    group_of: np.ndarray
    one_hot_overlapping: np.ndarray
    capacity: np.ndarray
    cover: np.ndarray
    other_eq: np.ndarray
    other_ineq: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def summary(self) -> dict:
        """Counts per class (for result metadata and the CLI)."""
        return {"one_hot": self.n_groups + int(self.one_hot_overlapping.size),
                "one_hot_groups": self.n_groups, "capacity": int(self.capacity.size),
                "cover": int(self.cover.size), "other_eq": int(self.other_eq.size),
                "other_ineq": int(self.other_ineq.size)}


def _rows(A: sp.csr_matrix):
    A = sp.csr_matrix(A)
    for i in range(A.shape[0]):
        lo, hi = A.indptr[i], A.indptr[i + 1]
        yield i, A.indices[lo:hi], A.data[lo:hi]


def row_classes(p: ConstrainedProblem) -> RowClasses:
    """Classify the rows of p (module docstring); cached on p."""
    cached = getattr(p, "_row_classes", None)
    if cached is not None:
        return cached
    unit_bin = p.binary & (p.lower == 0.0) & (p.upper == 1.0)
    groups, group_rows, overlap, other_eq = [], [], [], []
    group_of = np.full(p.n, -1, dtype=np.int64)
    for i, idx, val in _rows(p.A_eq):
        c = val[0] if val.size else 0.0
        one_hot = (val.size >= 1 and c != 0.0 and np.all(val == c) and p.b_eq[i] == c
                   and np.all(unit_bin[idx]))
        if not one_hot:
            other_eq.append(i)
        elif np.any(group_of[idx] >= 0):
            overlap.append(i)
        else:
            group_of[idx] = len(groups)
            groups.append(np.sort(idx).astype(np.int64))
            group_rows.append(i)
    capacity, cover, other_ineq = [], [], []
    for i, idx, val in _rows(p.A_ineq):
        if val.size and np.all(p.binary[idx]):
            if np.all(val >= 0) and p.b_ineq[i] >= 0:
                capacity.append(i)
                continue
            if np.all(val <= 0) and p.b_ineq[i] < 0:
                cover.append(i)
                continue
        other_ineq.append(i)
    a = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    rc = RowClasses(groups, a(group_rows), group_of, a(overlap), a(capacity), a(cover), a(other_eq),
                    a(other_ineq))
    p._row_classes = rc
    return rc
