"""Shared test tolerances and helpers. Tolerances are relative errors ‖out − ref‖/‖ref‖."""
from __future__ import annotations

import numpy as np

#: float32 elementwise ops vs the float64 reference
RTOL_FP32_ELEMENTWISE = 1e-5
#: float32 through FFTs (propagation) vs the float64 reference
RTOL_FP32_FFT = 1e-4
#: float64 torch path vs float64 reference (same algorithm, different library)
RTOL_FP64 = 1e-10


def rel_err(out, ref) -> float:
    out = np.asarray(out)
    ref = np.asarray(ref)
    return float(np.linalg.norm((out - ref).ravel()) / max(np.linalg.norm(ref.ravel()), 1e-300))
