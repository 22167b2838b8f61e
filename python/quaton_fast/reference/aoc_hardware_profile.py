"""Hardware profile of the analog optical computer (AOC) cell: measured non-idealities (docs/aoc_hardware.md).

:class:`AOCHardware` holds the calibration of one machine (float64 NumPy arrays) and one switch
per effect.  ``AOCHardware.ideal()`` (the default everywhere) is the ideal twin; ``from_yaml(path)``
reads a calibration file of the public twin (microsoft/aoc, MIT, commit 92d9014,
``hardware_parameters.py``); the two released files are in ``shared/data/aoc_hardware/``.
The map that uses the profile is in :mod:`quaton_fast.reference.aoc_hardware` (semantics, order
of the effects and every convention are documented there and in ``docs/aoc_hardware.md``).

Units: states, nonlinearity outputs, microLED drive levels, offsets and clamps in volts (V);
efficiencies, crosstalk ratios, SLM transmissions and distortion coefficients dimensionless.
Channel index ``i`` is the photodiode / output channel (row ``i`` of our ``W`` in ``W @ f(s)``),
``j`` the microLED / input channel (column ``j`` of ``W``).

Calibration file keys (``row`` = 12, the released loader's default; ``n`` = channels)::

    =====================================================  ==========================================
    ``tanh_sigmoid_coeffs``                                 a, b0, c, d, f0[, g] of the fitted "tanh"
    ``led_poly_coeffs_pos`` / ``_neg``                      microLED cubic per sign path (highest first)
    ``row_profiles.{positive,negative}_row12``              fan-in efficiency per input channel j (n,)
    ``column_wise_weights_distortion.{..}_row12``           per output channel i: a, b, c of w -> a w^2+b w+c
    ``pd_crosstalk.ratio_to_{later,earlier}_{sign}_row12``  leak of channel i into i+1 / i-1 (n,)
    ``pd_crosstalk.pd_{positive,negative}_darkness``        SLM dark floor per output channel (n,)
    ``pd_offset.pd_offset_{sign}_row12``                    photodiode offsets, V (n,) (unused by default)
    ``deq_input_min_max``                                   input clamp [lo, hi], V
    ``output_correction.{positive,negative}`` (optional)    TIA efficiency per channel and sign (n,)
    ``close_loop_offset_and_scale`` (optional, 48 ch.)      dc_offset, linear_offset, scaling (n,),
                                                            solution_to_adc_ratio
    =====================================================  ==========================================

Without ``output_correction`` the TIA efficiencies are the released loader's constants for the
June 2024 16-channel machine (0.65 positive path, 1.0 negative path).  ``output_correction`` and
``close_loop_offset_and_scale`` come together (the 48-channel format) or not at all.  Not modelled:
``pbs_crosstalk`` (off by default in the released twin), ``saturation`` (the released twin's
optional piecewise read-out fit), ``open_loop_offset_and_scale``, ``best_to_worst_channels``.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .._safe_yaml import load_yaml

__all__ = ["AOCHardware", "HardwareFileError", "EFFECTS", "CALIBRATIONS", "TIA_16CH_POSITIVE",
           "TIA_16CH_NEGATIVE"]

#: largest magnitude of any number in a calibration file (the released files' largest is 48); a
#: larger finite value (1e308 in a microLED cubic) would overflow inside the map and surface as a
#: NaN or a linear-algebra error far from the file
MAX_CALIBRATION_MAGNITUDE = 1e6

#: TIA efficiencies of the June 2024 16-channel machine (constants of the released loader)
TIA_16CH_POSITIVE = 0.65
TIA_16CH_NEGATIVE = 1.0

#: the switchable effects (boolean fields of AOCHardware), in the order of the map
EFFECTS = ("fitted_nonlinearity", "led", "led_dc_offset", "fan_in", "weight_distortion",
           "tia", "pd_crosstalk", "slm_darkness", "pd_offset", "closed_loop", "input_clamp")

#: the operator-side calibrations (boolean fields of AOCHardware; issue 27, docs/aoc_hardware.md):
#: what an operator does to the machine before using it.  ``from_yaml`` leaves them all off (the
#: released, uncalibrated behaviour); ``reference.aoc_hardware_calibration.calibrate`` fits their data
#: and switches them on.
CALIBRATIONS = ("cal_dark_floor", "cal_gain", "cal_slm_inverse", "cal_state_scale", "cal_closed_loop",
                "cal_crosstalk")


class HardwareFileError(ValueError):
    """A calibration file is missing a key or holds a malformed value (message names file and key)."""


def _ones(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.float64)


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.float64)


@dataclass(frozen=True, eq=False)  # identity semantics: profiles hold arrays
class AOCHardware:
    """Calibration of one AOC machine plus one switch per non-ideal effect (all float64).

    Calibration (``n = n_channels``)::

      tanh_coeffs: (6,) a [1/V], b0 [-], c [-], d [V], f0 [V], g [-] of
          ``u = a z + b0; f(z) = d u / (1 + |u|^c)^(1/c) + f0 + g z`` (z, f in V)
      led_pos, led_neg: (4,) cubic ``p(v) = A v^3 + B v^2 + C v + D`` (v, p in V)
      fan_in_pos, fan_in_neg: (n,) dimensionless fan-in efficiency per input channel j
      distortion_pos, distortion_neg: (n, 3) per output channel i: (a, b, c), ``w -> a w^2 + b w + c``
          on the normalised SLM weight w in [0, 1] (c = the SLM's dark transmission)
      tia_pos, tia_neg: (n,) dimensionless TIA (output) efficiency per output channel i
      ratio_later_pos/neg, ratio_earlier_pos/neg: (n,) photodiode crosstalk: output channel i
          leaks ``ratio_later[i]`` of its dark-subtracted signal into i+1, ``ratio_earlier[i]`` into i-1
      dark_pos, dark_neg: (n,) SLM dark floor per output channel (dimensionless transmission)
      pd_offset_pos, pd_offset_neg: (n,) photodiode offsets [V]
      input_min_max: (lo, hi) clamp of ``x + b`` [V]
      cl_dc_offset, cl_linear_offset, cl_scaling: (n,) or None; cl_ratio: float (closed loop)

    Operator calibration data (issue 27; fitted by ``reference.aoc_hardware_calibration.calibrate``)::

      state_scale: kappa [V per model unit]: the machine's state voltage is ``kappa z`` for the model's
          state z, so the drive is ``f(kappa z)`` (``cal_state_scale``)
      gain_in_pos, gain_in_neg: (n,) drive gain per input channel j and sign path (``cal_gain``)
      gain_out_pos, gain_out_neg: (n,) read-out gain per output channel i and sign path (``cal_gain``);
          they include the path's response scale ``1 / led_scale±``
      led_scale_pos, led_scale_neg: the fitted scale of the drive response ``p±(f(kappa z)) ~ led_scale± tanh(z)``
          (informational in the map; the solver uses it to normalise its saturated drive)

    ``cal_crosstalk`` (photodiode-crosstalk pre-compensation, issue 27) has no fitted data: the
    programmed SLM matrices are derived from the file's crosstalk ratios and TIA efficiencies
    (``reference.aoc_hardware.crosstalk_precompensation``).

    Switches (``True`` = effect on): see ``EFFECTS`` and :mod:`quaton_fast.reference.aoc_hardware`;
    calibration switches (``True`` = the operator's correction applied): ``CALIBRATIONS``.
    ``from_yaml`` turns on every effect the released twin applies by default and the file supports
    (``pd_offset`` stays off: the released twin loads it but never applies it).
    """

    n_channels: int
    source: str = "ideal"
    tanh_coeffs: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 2.0, 1.0, 0.0, 0.0]))
    led_pos: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0, 0.0]))
    led_neg: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0, 0.0]))
    fan_in_pos: Optional[np.ndarray] = None
    fan_in_neg: Optional[np.ndarray] = None
    distortion_pos: Optional[np.ndarray] = None
    distortion_neg: Optional[np.ndarray] = None
    tia_pos: Optional[np.ndarray] = None
    tia_neg: Optional[np.ndarray] = None
    ratio_later_pos: Optional[np.ndarray] = None
    ratio_later_neg: Optional[np.ndarray] = None
    ratio_earlier_pos: Optional[np.ndarray] = None
    ratio_earlier_neg: Optional[np.ndarray] = None
    dark_pos: Optional[np.ndarray] = None
    dark_neg: Optional[np.ndarray] = None
    pd_offset_pos: Optional[np.ndarray] = None
    pd_offset_neg: Optional[np.ndarray] = None
    input_min_max: Tuple[float, float] = (-1.0, 1.0)
    cl_dc_offset: Optional[np.ndarray] = None
    cl_linear_offset: Optional[np.ndarray] = None
    cl_scaling: Optional[np.ndarray] = None
    cl_ratio: float = 1.0
    # switches
    fitted_nonlinearity: bool = False
    led: bool = False
    led_dc_offset: bool = False
    fan_in: bool = False
    weight_distortion: bool = False
    tia: bool = False
    pd_crosstalk: bool = False
    slm_darkness: bool = False
    pd_offset: bool = False
    closed_loop: bool = False
    input_clamp: bool = False
    # operator calibrations (issue 27)
    state_scale: float = 1.0
    gain_in_pos: Optional[np.ndarray] = None
    gain_in_neg: Optional[np.ndarray] = None
    gain_out_pos: Optional[np.ndarray] = None
    gain_out_neg: Optional[np.ndarray] = None
    led_scale_pos: float = 1.0
    led_scale_neg: float = 1.0
    cal_dark_floor: bool = False
    cal_gain: bool = False
    cal_slm_inverse: bool = False
    cal_state_scale: bool = False
    cal_closed_loop: bool = False
    cal_crosstalk: bool = False

    def __post_init__(self) -> None:
        n = self.n_channels
        neutral = {"fan_in_pos": _ones, "fan_in_neg": _ones, "tia_pos": _ones, "tia_neg": _ones,
                   "ratio_later_pos": _zeros, "ratio_later_neg": _zeros, "ratio_earlier_pos": _zeros,
                   "ratio_earlier_neg": _zeros, "dark_pos": _zeros, "dark_neg": _zeros,
                   "pd_offset_pos": _zeros, "pd_offset_neg": _zeros, "gain_in_pos": _ones,
                   "gain_in_neg": _ones, "gain_out_pos": _ones, "gain_out_neg": _ones}
        for name, make in neutral.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, make(n))
        for name in ("distortion_pos", "distortion_neg"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.tile(np.array([0.0, 1.0, 0.0]), (n, 1)))
        if self.closed_loop and self.cl_scaling is None:
            raise ValueError("AOCHardware(): argument 'closed_loop' must be False for a profile without "
                             "closed-loop calibration (close_loop_offset_and_scale), got True")
        # extreme but finite calibration values overflow inside the map: refused here, naming the field
        numeric = [f.name for f in dataclasses.fields(self)
                   if f.name not in EFFECTS + CALIBRATIONS + ("n_channels", "source")]
        for name in numeric:
            value = getattr(self, name)
            if value is None:
                continue
            try:
                a = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"AOCHardware(): argument '{name}' must be numbers, got {type(value).__name__}") from None
            if not np.all(np.isfinite(a)) or (a.size and np.abs(a).max() > MAX_CALIBRATION_MAGNITUDE):
                raise ValueError(f"AOCHardware(): argument '{name}' must be finite with |value| <= "
                                 f"{MAX_CALIBRATION_MAGNITUDE:g}, got values in [{a.min():g}, {a.max():g}]")
        if not self.state_scale > 0:
            raise ValueError(f"AOCHardware(): argument 'state_scale' must be > 0 (volts per model unit), "
                             f"got {self.state_scale!r}")
        for name in ("led_scale_pos", "led_scale_neg"):
            if not getattr(self, name) != 0:
                raise ValueError(f"AOCHardware(): argument '{name}' must be non-zero, got {getattr(self, name)!r}")
        for name in EFFECTS + CALIBRATIONS:
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"AOCHardware(): argument '{name}' must be a bool, got "
                                f"{type(getattr(self, name)).__name__}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def ideal(cls, n_channels: int = 16) -> "AOCHardware":
        """The ideal twin: tanh, exact W, no efficiencies/crosstalk/offsets, the model's own clamp."""
        return cls(n_channels=int(n_channels), source="ideal")

    def with_effects(self, **switches: bool) -> "AOCHardware":
        """A copy with some switches changed, e.g. ``hw.with_effects(pd_crosstalk=False)``."""
        for k, v in switches.items():
            if k not in EFFECTS:
                raise ValueError(f"AOCHardware.with_effects(): argument '{k}' must be one of {EFFECTS}, got {k!r}")
            if not isinstance(v, bool):
                raise TypeError(f"AOCHardware.with_effects(): argument '{k}' must be a bool, got {v!r}")
        return dataclasses.replace(self, **switches)

    def with_calibrations(self, **switches: bool) -> "AOCHardware":
        """A copy with some calibration switches changed, e.g. ``hw.with_calibrations(cal_gain=False)``
        (the one-switch-at-a-time ablation; the fitted data stay as they are)."""
        for k, v in switches.items():
            if k not in CALIBRATIONS:
                raise ValueError(f"AOCHardware.with_calibrations(): argument '{k}' must be one of "
                                 f"{CALIBRATIONS}, got {k!r}")
            if not isinstance(v, bool):
                raise TypeError(f"AOCHardware.with_calibrations(): argument '{k}' must be a bool, got {v!r}")
        return dataclasses.replace(self, **switches)

    def uncalibrated(self) -> "AOCHardware":
        """Same effects, every operator calibration off: the released (uncalibrated) behaviour."""
        return dataclasses.replace(self, **{k: False for k in CALIBRATIONS})

    @property
    def calibrations(self) -> Dict[str, bool]:
        return {k: getattr(self, k) for k in CALIBRATIONS}

    @property
    def is_calibrated(self) -> bool:
        return any(self.calibrations.values())

    def all_effects_off(self) -> "AOCHardware":
        """Same calibration, every switch (effects and operator calibrations) off (the map is then
        the ideal twin's, with tanh)."""
        return dataclasses.replace(self, **{k: False for k in EFFECTS + CALIBRATIONS})

    @property
    def effects(self) -> Dict[str, bool]:
        return {k: getattr(self, k) for k in EFFECTS}

    @property
    def is_ideal(self) -> bool:
        """True when every switch (effects and calibrations) is off: the map is exactly
        ``alpha z + beta W tanh(z) + b``."""
        return not any(self.effects.values()) and not self.is_calibrated

    @property
    def has_closed_loop(self) -> bool:
        return self.cl_scaling is not None

    def describe(self) -> str:
        on = [k for k, v in self.effects.items() if v]
        cal = [k for k, v in self.calibrations.items() if v]
        tail = f"; calibrated: {', '.join(cal)}" if cal else (
            "; uncalibrated (released)" if self.source != "ideal" else "")
        return f"{os.path.basename(self.source)} ({self.n_channels} channels; on: {', '.join(on) or 'none'}{tail})"

    # ------------------------------------------------------------------ per-width arrays
    def channel_arrays(self, n: int) -> Dict[str, np.ndarray]:
        """Per-channel arrays for a cell of ``n`` variables.

        ``n == n_channels``: the calibration as it is.  Otherwise every per-channel array is replaced
        by its mean over the calibrated channels, broadcast to ``n`` (what the released twin does for
        a cell whose size differs from the machine's).  Keys: the per-channel field names.
        """
        names = ("fan_in_pos", "fan_in_neg", "tia_pos", "tia_neg", "ratio_later_pos", "ratio_later_neg",
                 "ratio_earlier_pos", "ratio_earlier_neg", "dark_pos", "dark_neg", "pd_offset_pos",
                 "pd_offset_neg", "distortion_pos", "distortion_neg", "gain_in_pos", "gain_in_neg",
                 "gain_out_pos", "gain_out_neg")
        extra = ("cl_dc_offset", "cl_linear_offset", "cl_scaling") if self.has_closed_loop else ()
        out = {}
        for k in names + extra:
            a = np.asarray(getattr(self, k), dtype=np.float64)
            if n == self.n_channels:
                out[k] = a.copy()
            elif a.ndim == 2:
                out[k] = np.tile(a.mean(axis=0), (n, 1))
            else:
                out[k] = np.full(n, a.mean())
        return out

    # ------------------------------------------------------------------ YAML
    @classmethod
    def from_yaml(cls, path: "str | os.PathLike", row: int = 12) -> "AOCHardware":
        """Load a calibration file of the released twin (keys in the module docstring).

        Every effect the file supports is switched on except ``pd_offset`` (see class docstring).
        Raises FileNotFoundError (no file), ImportError (PyYAML missing: ``pip install pyyaml`` or
        ``pip install quaton_fast[hardware]``), HardwareFileError naming the file and the key for a
        missing or malformed key.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"AOCHardware.from_yaml(): argument 'path' must be an existing "
                                    f"calibration file, got {path!r} (released files: "
                                    "shared/data/aoc_hardware/*.yaml, or microsoft/aoc src/aoc/hw_config)")
        try:
            import yaml  # type: ignore  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("AOCHardware.from_yaml() needs PyYAML: pip install pyyaml "
                              "(or pip install 'quaton_fast[hardware]')") from exc
        # size-capped, aliases refused, non-UTF-8 / malformed / too deep -> HardwareFileError naming the file
        data = load_yaml("AOCHardware.from_yaml()", path, HardwareFileError)
        r = _Reader(path, data)
        tc = r.vector("tanh_sigmoid_coeffs", lengths=(5, 6))
        tanh = np.concatenate([tc, [0.0]]) if tc.size == 5 else tc
        if not tanh[2] > 0:
            r.bad("tanh_sigmoid_coeffs", "an exponent c (third entry) > 0", tanh[2])
        pos_row = r.vector(f"row_profiles.positive_row{row}")
        n = pos_row.size
        if n < 1:
            r.bad(f"row_profiles.positive_row{row}", "a non-empty list", "an empty list")
        vec = lambda key: r.vector(key, lengths=(n,))  # noqa: E731
        kw: Dict[str, Any] = dict(
            n_channels=n, source=path, tanh_coeffs=tanh,
            led_pos=r.vector("led_poly_coeffs_pos", lengths=(4,)),
            led_neg=r.vector("led_poly_coeffs_neg", lengths=(4,)),
            fan_in_pos=pos_row, fan_in_neg=vec(f"row_profiles.negative_row{row}"),
            distortion_pos=r.matrix(f"column_wise_weights_distortion.positive_row{row}", (n, 3)),
            distortion_neg=r.matrix(f"column_wise_weights_distortion.negative_row{row}", (n, 3)),
            ratio_later_pos=vec(f"pd_crosstalk.ratio_to_later_positive_row{row}"),
            ratio_later_neg=vec(f"pd_crosstalk.ratio_to_later_negative_row{row}"),
            ratio_earlier_pos=vec(f"pd_crosstalk.ratio_to_earlier_positive_row{row}"),
            ratio_earlier_neg=vec(f"pd_crosstalk.ratio_to_earlier_negative_row{row}"),
            dark_pos=vec("pd_crosstalk.pd_positive_darkness"),
            dark_neg=vec("pd_crosstalk.pd_negative_darkness"),
            pd_offset_pos=vec(f"pd_offset.pd_offset_positive_row{row}"),
            pd_offset_neg=vec(f"pd_offset.pd_offset_negative_row{row}"),
        )
        lim = r.vector("deq_input_min_max", lengths=(2,))
        if not lim[0] < lim[1]:
            r.bad("deq_input_min_max", "[lo, hi] with lo < hi", list(lim))
        kw["input_min_max"] = (float(lim[0]), float(lim[1]))
        has_oc, has_cl = r.has("output_correction"), r.has("close_loop_offset_and_scale")
        if has_oc != has_cl:
            missing = "close_loop_offset_and_scale" if has_oc else "output_correction"
            r.bad(missing, "present (output_correction and close_loop_offset_and_scale come together)",
                  "missing")
        if has_oc:
            kw["tia_pos"] = vec("output_correction.positive")
            kw["tia_neg"] = vec("output_correction.negative")
            kw["cl_dc_offset"] = vec("close_loop_offset_and_scale.dc_offset")
            kw["cl_linear_offset"] = vec("close_loop_offset_and_scale.linear_offset")
            kw["cl_scaling"] = vec("close_loop_offset_and_scale.scaling")
            kw["cl_ratio"] = r.scalar("close_loop_offset_and_scale.solution_to_adc_ratio")
        else:
            kw["tia_pos"] = np.full(n, TIA_16CH_POSITIVE)
            kw["tia_neg"] = np.full(n, TIA_16CH_NEGATIVE)
        switches = {k: True for k in EFFECTS}
        switches["pd_offset"] = False
        switches["closed_loop"] = has_cl
        return cls(**kw, **switches)


class _Reader:
    """Nested-key access to a parsed YAML mapping with errors that name the file and the key."""

    def __init__(self, path: str, data: Any):
        self.path, self.data = path, data
        if not isinstance(data, dict):
            raise HardwareFileError(f"AOCHardware.from_yaml(): file '{path}' must hold a mapping of "
                                    f"calibration keys, got {type(data).__name__}")

    def bad(self, key: str, expected: str, got: Any) -> None:
        raise HardwareFileError(f"AOCHardware.from_yaml(): file '{self.path}', key '{key}' must be "
                                f"{expected}, got {_short(got)}")

    def has(self, key: str) -> bool:
        return isinstance(self.data, dict) and key in self.data

    def get(self, key: str) -> Any:
        node = self.data
        for i, part in enumerate(key.split(".")):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(key.split(".")[:i + 1])
                raise HardwareFileError(f"AOCHardware.from_yaml(): file '{self.path}' has no key "
                                        f"'{where}'" + (f" (needed: '{key}')" if where != key else ""))
            node = node[part]
        return node

    def _numbers(self, key: str, value: Any, expected: str) -> np.ndarray:
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            self.bad(key, expected, value)
        if a.dtype == object or not np.all(np.isfinite(a)) or _has_bool(value):
            self.bad(key, expected, value)
        if a.size and np.abs(a).max() > MAX_CALIBRATION_MAGNITUDE:
            self.bad(key, f"{expected} with |value| <= {MAX_CALIBRATION_MAGNITUDE:g} (a calibration value; "
                          "larger ones overflow the twin's map, e.g. the microLED cubic)", value)
        return a

    def vector(self, key: str, lengths: Optional[Tuple[int, ...]] = None) -> np.ndarray:
        value = self.get(key)
        want = "a list of finite numbers" + (
            f" of length {' or '.join(str(x) for x in lengths)}" if lengths else "")
        if not isinstance(value, list):
            self.bad(key, want, value)
        a = self._numbers(key, value, want)
        if a.ndim != 1 or (lengths is not None and a.size not in lengths):
            self.bad(key, want, value)
        return a

    def matrix(self, key: str, shape: Tuple[int, int]) -> np.ndarray:
        value = self.get(key)
        want = f"a list of {shape[0]} lists of {shape[1]} finite numbers"
        if not isinstance(value, list):
            self.bad(key, want, value)
        a = self._numbers(key, value, want)
        if a.shape != shape:
            self.bad(key, want, value)
        return a

    def scalar(self, key: str) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or abs(value) > MAX_CALIBRATION_MAGNITUDE:
            self.bad(key, f"a finite number with |value| <= {MAX_CALIBRATION_MAGNITUDE:g}", value)
        return float(value)


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return False


def _short(value: Any) -> str:
    s = repr(value)
    return s if len(s) <= 80 else s[:77] + "..."
