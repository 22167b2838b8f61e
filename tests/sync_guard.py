"""A guard that records every host synchronisation a piece of torch code would make on a GPU.

On a CPU nothing synchronises, so the guard looks for the operations that would: reading a
tensor's value into Python (``.item()``, ``bool(t)``, ``float(t)``, ``int(t)``, ``.tolist()``,
``.numpy()``, ``.cpu()``), value checks (``torch.isfinite``), comparisons reduced to a Python bool
(``torch.equal``, ``torch.allclose``) and ops whose output size depends on the data (``nonzero``,
``masked_select``, ``unique``, indexing by a boolean mask). Two layers catch them:

- a :class:`~torch.overrides.TorchFunctionMode` sees the Python-level calls (``tolist`` and
  ``isfinite`` never reach the dispatcher as such: ``isfinite`` is a composite of ``eq``/``abs``/``ne``);
- a :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees the aten ops, forward and
  backward (``aten::_local_scalar_dense`` is what every scalar read ends in).

Each hit is recorded with the innermost frame of ``quaton_fast`` that made it (skipping the check
helpers in ``functional/_checks.py``, so a value check is blamed on its caller), or the innermost
frame outside torch if none.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

#: aten ops (name without namespace/overload) that synchronise with the host on a GPU
FORBIDDEN_ATEN = frozenset({
    "item", "_local_scalar_dense", "is_nonzero", "isfinite", "equal", "allclose",
    "nonzero", "nonzero_static", "masked_select", "_unique", "_unique2", "unique_dim", "unique_consecutive",
})

#: Python-level torch calls that read values to the host (or hide a value check)
FORBIDDEN_PY = frozenset({
    "item", "tolist", "__bool__", "__float__", "__int__", "__index__", "__complex__", "numpy", "cpu",
    "isfinite", "isnan", "isinf", "equal", "allclose", "is_nonzero", "nonzero", "masked_select", "unique",
})


@dataclass(frozen=True)
class Hit:
    op: str        # e.g. 'aten::_local_scalar_dense' or 'torch.Tensor.tolist'
    site: str      # 'quaton_fast/<rel path>:<line> <function>' or '<file>:<line> <function>'
    rel_path: str  # path below quaton_fast/ ('' when outside the package)

    def __str__(self) -> str:
        return f"{self.op} at {self.site}"


def _site() -> tuple[str, str]:
    frames = [f for f in traceback.extract_stack() if not f.filename.endswith("sync_guard.py")]
    ours = [f for f in frames if "/quaton_fast/" in f.filename.replace("\\", "/")]
    ours = [f for f in ours if not f.filename.replace("\\", "/").endswith("functional/_checks.py")] or ours
    if ours:
        f = ours[-1]
        rel = f.filename.replace("\\", "/").split("/quaton_fast/")[-1]
        return f"quaton_fast/{rel}:{f.lineno} {f.name}", rel
    other = [f for f in frames if "/torch/" not in f.filename and "sync_guard.py" not in f.filename]
    f = (other or frames)[-1]
    return f"{f.filename}:{f.lineno} {f.name}", ""


class _PyGuard(TorchFunctionMode):
    def __init__(self, hits: list[Hit]):
        super().__init__()
        self.hits = hits

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in FORBIDDEN_PY:
            site, rel = _site()
            self.hits.append(Hit(f"torch.{name}", site, rel))
        return func(*args, **(kwargs or {}))


class _AtenGuard(TorchDispatchMode):
    def __init__(self, hits: list[Hit]):
        super().__init__()
        self.hits = hits

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name.split("::")[-1]
        if name in FORBIDDEN_ATEN or (name in _BOOL_INDEXED and _has_bool_index(args)):
            site, rel = _site()
            self.hits.append(Hit(f"aten::{name}", site, rel))
        return func(*args, **(kwargs or {}))


#: ops that synchronise when indexed by a boolean mask (its nonzero() sets the output size)
_BOOL_INDEXED = frozenset({"index", "index_put", "index_put_", "_index_put_impl_"})


def _has_bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else ()
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)


class SyncGuard:
    """``with SyncGuard() as g: ...`` then ``g.hits`` lists every would-be host sync."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._modes = (_PyGuard(self.hits), _AtenGuard(self.hits))

    def __enter__(self) -> "SyncGuard":
        for m in self._modes:
            m.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for m in reversed(self._modes):
            m.__exit__(*exc)

    def report(self) -> str:
        seen: dict[str, int] = {}
        for h in self.hits:
            seen[str(h)] = seen.get(str(h), 0) + 1
        return "; ".join(f"{k} (x{v})" for k, v in seen.items())
