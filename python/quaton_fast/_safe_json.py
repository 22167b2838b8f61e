"""Reading a JSON record file the package wrote (or a user handed in), with one failure mode
(bottom floor; standard library only).

:func:`read_json`

* refuses files above :data:`MAX_JSON_BYTES` (64 MiB; the package's records are kilobytes) before
  reading them;
* turns a non-UTF-8 byte, malformed JSON (with JSON's line and column) and nesting too deep for
  the parser into one ``ValueError`` naming the function and the file;
* checks the top-level type (``expect``: ``dict`` or ``list``);
* with ``nonfinite=False``, refuses ``NaN``/``Infinity``/``-Infinity`` (not JSON, but Python's
  ``json`` writes and reads them): a settings or configuration file must hold finite numbers.
  Records of results may legitimately hold a NaN metric (a diverged run) and are read with
  ``nonfinite=True``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

__all__ = ["MAX_JSON_BYTES", "read_json"]

MAX_JSON_BYTES = 64 << 20


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (not JSON; this file must hold finite numbers)")


def read_json(func: str, path: "str | os.PathLike", *, nonfinite: bool, expect: Optional[type] = None,
              max_bytes: int = MAX_JSON_BYTES, error: type = ValueError) -> Any:
    """The parsed content of the JSON file ``path``.

    func: the public function's name, for messages. nonfinite: whether NaN/Infinity are accepted.
    expect: required type of the top-level value (dict or list), or None. Raises ``error``
    (a ValueError subclass by default ValueError) naming ``func`` and the file for a file above
    ``max_bytes``, bytes that are not UTF-8, malformed JSON (line and column), nesting too deep,
    a non-finite number where refused, or a top-level value of another type; OSError as ``open``.
    """
    p = Path(path)
    size = p.stat().st_size
    if size > max_bytes:
        raise error(f"{func}(): {p} is {size} bytes, above the limit of {max_bytes} for a JSON record "
                    f"(quaton_fast._safe_json.MAX_JSON_BYTES)")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise error(f"{func}(): {p} line {line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start})") from None
    kw = {} if nonfinite else {"parse_constant": _no_constant}
    try:
        obj = json.loads(text, **kw)
    except json.JSONDecodeError as e:
        raise error(f"{func}(): {p} line {e.lineno} column {e.colno}: malformed JSON ({e.msg})") from None
    except ValueError as e:                      # _no_constant
        raise error(f"{func}(): {p}: {e}") from None
    except RecursionError:
        raise error(f"{func}(): {p}: JSON nested too deeply to read") from None
    if expect is not None and not isinstance(obj, expect):
        raise error(f"{func}(): {p}: expected a JSON {'object' if expect is dict else 'array'} at the top level, "
                    f"got {type(obj).__name__}")
    return obj
