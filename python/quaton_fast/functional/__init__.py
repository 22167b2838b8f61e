"""Functional torch API (autograd Functions; one dispatch point per op: CUDA kernel or CPU path)."""
from .propagation import angular_spectrum_transfer, propagate, propagate_free_space, propagate_spectral
from .quantizers import dsq, gumbel_argmax_phase, gumbel_softmax_phase, psq, staircase, ste

__all__ = ["angular_spectrum_transfer", "propagate", "propagate_free_space", "propagate_spectral", "psq", "ste", "staircase",
           "dsq", "gumbel_softmax_phase", "gumbel_argmax_phase"]
