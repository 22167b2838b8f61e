"""argparse ``type=`` functions shared by every ``quaton-fast`` subcommand.

Each function turns the text of one option into a checked value or raises
``argparse.ArgumentTypeError``; argparse then reports
``quaton-fast <cmd>: error: argument --batch: expected an integer >= 1, got '-5'`` (one line, exit 2,
see :mod:`quaton_fast.cli`). Floats are always finite (``nan``/``inf`` are refused), integers are
whole numbers written as integers (``'2.5'`` and ``'1e3'`` are refused).

Bottom floor: imports nothing of the package.
"""
from __future__ import annotations

import argparse
import math
import re
from typing import Callable

__all__ = ["device", "integer", "positive_int", "nonnegative_int", "levels", "real", "positive_float",
           "nonnegative_float", "unit_interval", "positive"]


def _int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An integer in [minimum, maximum] (either bound optional)."""
    def parse(text: str) -> int:
        v = _int(text)
        if minimum is not None and v < minimum or maximum is not None and v > maximum:
            lo = "" if minimum is None else f">= {minimum}"
            hi = "" if maximum is None else f"<= {maximum}"
            raise argparse.ArgumentTypeError(f"expected an integer {' and '.join(x for x in (lo, hi) if x)}, "
                                             f"got {text!r}")
        return v
    parse.__name__ = "integer"
    return parse


def real(minimum: float | None = None, maximum: float | None = None, *, strict_minimum: bool = False
         ) -> Callable[[str], float]:
    """A finite float in [minimum, maximum] (``(minimum, maximum]`` if ``strict_minimum``)."""
    def parse(text: str) -> float:
        v = _float(text)
        low_bad = minimum is not None and (v <= minimum if strict_minimum else v < minimum)
        if low_bad or maximum is not None and v > maximum:
            lo = "" if minimum is None else f"{'>' if strict_minimum else '>='} {minimum:g}"
            hi = "" if maximum is None else f"<= {maximum:g}"
            raise argparse.ArgumentTypeError(f"expected a finite number {' and '.join(x for x in (lo, hi) if x)}, "
                                             f"got {text!r}")
        return v
    parse.__name__ = "number"
    return parse


positive_int = integer(minimum=1)
nonnegative_int = integer(minimum=0)


def levels(text: str) -> int:
    """A number of phase levels: an integer >= 2."""
    v = _int(text)
    if v < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 phase levels (an integer >= 2), got {text!r}")
    return v


positive_float = real(0.0, strict_minimum=True)
nonnegative_float = real(0.0)
unit_interval = real(0.0, 1.0)


def positive(kind: type) -> Callable[[str], float | int]:
    """``positive(int)`` / ``positive(float)``: the historical spelling of the two above."""
    if kind is int:
        return positive_int
    if kind is float:
        return positive_float
    raise TypeError(f"positive(): argument 'kind' must be int or float, got {kind!r}")


def device(text: str) -> str:
    """A torch device name: cpu, cuda or cuda:K (whether it exists is checked when the run starts)."""
    if not re.fullmatch(r"cpu|cuda(:[0-9]+)?", str(text)):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:K, got {text!r}")
    return text
