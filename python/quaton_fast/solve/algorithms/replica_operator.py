"""The data every replica backend shares: the step size of the released optimizer and the problem
operator (a leaf module: replica_kernels.py and replica_torch.py both import it, neither the other's
internals)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: the released optimizer's step size dt (the AOC paper's annealed gradient dynamics)
DT = 0.5


@dataclass
class Operator:
    """J in the form a backend consumes. J32: (n, n) csr_matrix float32 or ndarray float32."""
    J32: np.ndarray | sp.csr_matrix
    h32: np.ndarray          # (n,) float32
    continuous: np.ndarray   # (n,) bool

    @property
    def n(self) -> int:
        return self.h32.shape[0]

    def csr_arrays(self):
        """(indptr int64, indices int32, data float32) views for the C++ kernel (cached)."""
        if not hasattr(self, "_csr"):
            J = self.J32
            self._csr = (np.ascontiguousarray(J.indptr, np.int64), np.ascontiguousarray(J.indices, np.int32),
                         np.ascontiguousarray(J.data, np.float32))
        return self._csr
