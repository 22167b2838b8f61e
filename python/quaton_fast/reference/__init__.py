"""Pure-NumPy reference: every forward and backward written out; the ground truth of the tests."""
from . import fields, fixed_point, levels, propagation, quantizers, schedules

__all__ = ["fields", "fixed_point", "levels", "propagation", "quantizers", "schedules"]
