"""Operator-side calibration of the AOC hardware twin (issue 27; NumPy only, float64).

The released calibration files describe a machine as measured, not as operated: on the June 2024
16-channel file the negative SLM's dark floor outweighs the positive path at full scale, so every
effective coupling is negative.  An operator calibrates the machine before using it; each step is a
switch of :class:`~quaton_fast.reference.aoc_hardware_profile.AOCHardware` (``CALIBRATIONS``) applied
by the map in :mod:`quaton_fast.reference.aoc_hardware` (and the torch / C++ paths):

``cal_dark_floor``   the SLM dark transmission ``c±_i`` (the distortion's constant term, equal to the
                     file's photodiode darkness) is removed from each sign path: a zero weight
                     contributes nothing (the crosstalk's dark subtraction is then zero too).
``cal_slm_inverse``  SLM pre-compensation: the level programmed for a normalised weight ``w`` is the
                     9-bit level whose response ``a k² + b k`` is nearest to ``rho w`` (``rho`` the
                     row's largest response), so the SLM is linear within its levels.
``cal_state_scale``  the state voltage is ``kappa z`` for the model state ``z``: the drive is
                     ``f(kappa z)``, with kappa fitted so that the microLED drive response
                     ``p±(f(kappa z)) - dc±`` is closest (relative least squares, both paths) to a
                     multiple ``led_scale± tanh(z)`` on ``z`` in ``[-z_range, z_range]``; the fitted
                     curve's knee (~0.27 V on the 16-channel file) then sits where tanh's does.
``cal_gain``         per-path gains: drive gains ``gain_in±_j = 1 / fan_in±_j`` per input channel and
                     read-out gains ``gain_out±_i`` per output channel, least-squares fitted on random
                     symmetric W so that ``gain_out± (sigma C diag(eta) W̃± diag(fan gain_in)) ~ W±n / led_scale±``
                     (the photodiode crosstalk ``C`` is not diagonal: what a diagonal gain cannot undo
                     is the stated residual, :func:`effective_matrix`).
``cal_closed_loop``  (48-channel file) the closed-loop offset and scale, a deterministic per-channel
                     affine map of the read-out, undone exactly (the offset through the programmable
                     bias, the scale through the read-out gain).
``cal_crosstalk``    (opt-in: ``calibrate(..., crosstalk=True)``) photodiode-crosstalk pre-compensation:
                     each SLM is programmed with ``clip(K± W±n, 0, 1)``, ``K± = D±^-1 C±^-1 D±``
                     (``reference.aoc_hardware.crosstalk_precompensation``), so that after the
                     tridiagonal leak the path carries what it would without it; a negative
                     transmission the exact inverse would need (a weight ~0 next to large ones in
                     its column) is added to both SLMs, whose net cancels it
                     (``reference.aoc_hardware.programmed_weights``).  The gains are then those of
                     the crosstalk-free path (fitted with ``pd_crosstalk`` off).  Residual on the
                     16-channel file: 0.009 mean / 0.014 worst (0.042 / 0.050 without it).

:func:`calibrate` derives all of them from a profile; ``profile.uncalibrated()`` is the released
behaviour.  :func:`effective_matrix` measures what the machine computes: the least-squares fit
``m(z) ~ J_eff tanh(z) + k_eff`` of the optical term over random states, to compare with ``beta W``.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

import numpy as np

from .aoc_hardware import (hardware_step_linear, led_paths, nonlinearity, path_operators,
                           slm_weights)
from .aoc_hardware_profile import CALIBRATIONS, AOCHardware

__all__ = ["calibrate", "at_width", "drive_response", "fit_state_scale", "fit_gains", "effective_matrix",
           "calibration_residual", "random_symmetric"]

#: z range [model units] of the drive fit: the states an equilibrium model visits (|z| <~ 2)
Z_RANGE = 2.0
KAPPA_GRID = np.geomspace(0.02, 5.0, 600)


def drive_response(z: np.ndarray, hw: AOCHardware) -> Tuple[np.ndarray, np.ndarray]:
    """(g⁺, g⁻): the microLED drive per sign path ``p±(f(kappa z)) - dc±`` [V] for model states z."""
    f, _ = nonlinearity(z, hw)
    gp, gn, _, _ = led_paths(f, hw)
    return gp, gn


def _scales(z: np.ndarray, hw: AOCHardware) -> Tuple[float, float, float]:
    """(relative misfit summed over the paths, led_scale+, led_scale-) of g± ~ l± tanh(z)."""
    t = np.tanh(z)
    tt = float(t @ t)
    err, ls = 0.0, []
    for g in drive_response(z, hw):
        l = float(g @ t) / tt
        err += float(np.sum((g - l * t) ** 2)) / max(float(g @ g), 1e-300)
        ls.append(l)
    return err, ls[0], ls[1]


def fit_state_scale(hw: AOCHardware, z_range: float = Z_RANGE) -> Tuple[float, float, float, float]:
    """(kappa, led_scale+, led_scale-, misfit): the state scale minimising the summed relative
    least-squares misfit of ``p±(f(kappa z)) - dc±`` to ``l± tanh(z)`` on 801 points of
    [-z_range, z_range] (grid search over 600 geometric kappa in [0.02, 5]).  Without the fitted
    curve, kappa = 1 (tanh is tanh)."""
    z = np.linspace(-z_range, z_range, 801)
    if not hw.fitted_nonlinearity:
        e, lp, ln = _scales(z, dataclasses.replace(hw, cal_state_scale=False))
        return 1.0, lp, ln, e
    best = None
    for k in KAPPA_GRID:
        e, lp, ln = _scales(z, dataclasses.replace(hw, state_scale=float(k), cal_state_scale=True))
        if best is None or e < best[3]:
            best = (float(k), lp, ln, e)
    return best


def random_symmetric(n: int, systems: int, seed: int) -> np.ndarray:
    """(systems, n, n) random symmetric matrices, standard normal entries (both signs of coupling)."""
    A = np.random.default_rng(seed).normal(size=(systems, n, n))
    return (A + np.swapaxes(A, 1, 2)) / np.sqrt(2.0)


def _inverse_or_zero(a: np.ndarray) -> np.ndarray:
    """1/a where a > 0, else 0 (a dead input channel -- fan-in 0 on the 48-channel file -- cannot be
    driven back to life; its gain is 0 and its couplings are the residual)."""
    return np.where(a > 0, 1.0 / np.where(a > 0, a, 1.0), 0.0)


def at_width(hw: AOCHardware, width: int) -> AOCHardware:
    """The profile collapsed to a cell of ``width`` channels (every per-channel array replaced by
    ``channel_arrays(width)``, the released twin's rule for a cell narrower than the machine), so that
    the gains are fitted for the width they will run at."""
    if width == hw.n_channels:
        return hw
    ch = hw.channel_arrays(width)
    return dataclasses.replace(hw, n_channels=int(width), **ch)


def fit_gains(hw: AOCHardware, systems: int = 64, seed: int = 0) -> Dict[str, np.ndarray]:
    """Per-path gains of ``cal_gain`` for a profile whose other switches (effects, dark floor, SLM
    inverse, state scale, closed loop) are as they will be used.

    gain_in± = 1 / fan_in± (1 without ``fan_in``); gain_out±_i = least-squares factor of row i over
    ``systems`` random symmetric W: ``gain_out±_i A±[i, :] ~ W±n[i, :] / led_scale±`` with
    ``A± = sigma C diag(eta) W̃± diag(fan gain_in)`` (the path before the read-out gain)."""
    n = hw.n_channels
    ch = hw.channel_arrays(n)
    gi_p, gi_n = (_inverse_or_zero(ch[f"fan_in_{s}"]) if hw.fan_in else np.ones(n) for s in ("pos", "neg"))
    probe = dataclasses.replace(hw, gain_in_pos=gi_p, gain_in_neg=gi_n, gain_out_pos=np.ones(n),
                                gain_out_neg=np.ones(n), cal_gain=True)
    W = random_symmetric(n, systems, seed)
    ops = path_operators(W, np.ones(systems), probe)
    out = {"gain_in_pos": gi_p, "gain_in_neg": gi_n}
    for s, A, Wn, l in (("pos", ops["Ebp"], ops["Wp"], hw.led_scale_pos),
                        ("neg", ops["Ebn"], ops["Wm"], hw.led_scale_neg)):
        T = Wn / l
        num = np.einsum("sij,sij->i", T, A)
        den = np.einsum("sij,sij->i", A, A)
        out[f"gain_out_{s}"] = num / np.maximum(den, 1e-300)
    return out


def calibrate(hw: AOCHardware, *, dark_floor: bool = True, gain: bool = True, slm_inverse: bool = True,
              state_scale: bool = True, closed_loop: bool = True, crosstalk: bool = False,
              z_range: float = Z_RANGE,
              fit_systems: int = 64, seed: int = 0, width: Optional[int] = None) -> AOCHardware:
    """The operator-calibrated copy of ``hw`` (module docstring): fits kappa and the path scales
    (:func:`fit_state_scale`), then the gains (:func:`fit_gains`) with the other calibrations in
    place, and switches on the requested calibrations (``closed_loop`` only where the profile has a
    closed-loop calibration; ``crosstalk``, the crosstalk pre-compensation, is opt-in so that the
    default calibrated profile stays the one every earlier record used).  Every calibration's data are fitted whatever the switches (so
    ``with_calibrations`` can ablate one at a time with the others' data unchanged), except that the
    gains are fitted for the requested switch set.

    hw: an AOCHardware (usually ``from_yaml``), its effects as they will be used; the calibration
    switches of ``hw`` itself are ignored.  width: the cell width it will run at (default: the
    profile's channel count; another width first collapses the profile, :func:`at_width`).  Raises TypeError for a non-profile, ValueError for a
    non-positive z_range / fit_systems or an SLM row whose response is not increasing at w = 0."""
    if not isinstance(hw, AOCHardware):
        raise TypeError(f"calibrate(): argument 'hw' must be an AOCHardware, got {type(hw).__name__}")
    for name, v in (("z_range", z_range), ("fit_systems", fit_systems)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"calibrate(): argument '{name}' must be a number > 0, got {v!r}")
    for name, v in (("dark_floor", dark_floor), ("gain", gain), ("slm_inverse", slm_inverse),
                    ("state_scale", state_scale), ("closed_loop", closed_loop), ("crosstalk", crosstalk)):
        if not isinstance(v, bool):
            raise TypeError(f"calibrate(): argument '{name}' must be a bool, got {v!r}")
    if width is not None:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ValueError(f"calibrate(): argument 'width' must be an integer >= 1, got {width!r}")
        hw = at_width(hw, int(width))
    ch = hw.channel_arrays(hw.n_channels)
    for s in ("pos", "neg"):
        if slm_inverse and hw.weight_distortion and np.any(ch[f"distortion_{s}"][:, 1] <= 0):
            raise ValueError(f"calibrate(): the SLM response of the {s} path must increase at w = 0 "
                             "(distortion b > 0) to be inverted; pass slm_inverse=False")
    base = hw.uncalibrated()
    kappa, lp, ln, _ = fit_state_scale(base, z_range)
    sw = {"cal_dark_floor": dark_floor, "cal_slm_inverse": slm_inverse, "cal_state_scale": state_scale,
          "cal_closed_loop": closed_loop and hw.has_closed_loop, "cal_crosstalk": crosstalk, "cal_gain": False}
    if not state_scale:       # path scales at kappa = 1
        _, lp, ln = _scales(np.linspace(-z_range, z_range, 801), base)
    prof = dataclasses.replace(base, state_scale=kappa, led_scale_pos=lp, led_scale_neg=ln, **sw)
    # with the crosstalk pre-compensated the path is (to first order) crosstalk-free, so its gains are
    # those of the diagonal path: fitted with the crosstalk off (fitting through the pre-compensated
    # path would bias them by the shared shift e that the net cancels)
    fit_on = dataclasses.replace(prof, pd_crosstalk=False, cal_crosstalk=False) if crosstalk else prof
    gains = fit_gains(fit_on, systems=int(fit_systems), seed=seed)
    tag = "" if hw.source.endswith("[calibrated]") else " [calibrated]"
    return dataclasses.replace(prof, **gains, cal_gain=gain, source=hw.source + tag)


def effective_matrix(W: np.ndarray, beta, hw: AOCHardware, *, samples: int = 2000, z_range: float = 1.0,
                     seed: int = 0) -> Dict[str, np.ndarray]:
    """What the machine computes for a programmed ``beta W``: the least-squares fit
    ``m(z) = J_eff tanh(z) + k_eff`` of the optical term (the map without ``alpha z`` and input) over
    ``samples`` states z uniform in [-z_range, z_range]^n (model units), per system.

    W: (S, n, n) | (n, n); beta: scalar | (S,).  Returns J_eff (S, n, n), k_eff (S, n), fit_residual
    (S,) ``||m - fit|| / ||m||`` (the part no linear map of tanh(z) explains: LED shape, even orders),
    rel_error (S,) ``||J_eff - beta W||_F / ||beta W||_F`` and sign_agreement (S,) the fraction of
    entries with ``|W_ij| >= 0.1 max|W|`` whose effective sign is W's."""
    W = np.asarray(W, dtype=np.float64)
    W3 = W[None] if W.ndim == 2 else W
    S, n = W3.shape[0], W3.shape[-1]
    b = np.broadcast_to(np.asarray(beta, dtype=np.float64), (S,)).copy()
    ops = path_operators(np.ascontiguousarray(W3), b, hw)
    z = np.random.default_rng(seed).uniform(-z_range, z_range, size=(samples, n))
    X = np.concatenate([np.tanh(z), np.ones((samples, 1))], axis=1)
    J, k, res = np.empty((S, n, n)), np.empty((S, n)), np.empty(S)
    for s in range(S):
        one = {key: (v[s:s + 1] if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == S
                     and key in ("Ep", "En", "k") else v) for key, v in ops.items()}
        m = hardware_step_linear(z, {"Ep": np.broadcast_to(one["Ep"], (samples, n, n)),
                                     "En": np.broadcast_to(one["En"], (samples, n, n)),
                                     "k": np.broadcast_to(one["k"], (samples, n))},
                                 np.zeros((samples, n)), 0.0, hw)
        coef, *_ = np.linalg.lstsq(X, m, rcond=None)
        J[s], k[s] = coef[:n].T, coef[n]
        res[s] = np.linalg.norm(m - X @ coef) / max(np.linalg.norm(m), 1e-300)
    target = b[:, None, None] * W3
    rel = np.linalg.norm(J - target, axis=(1, 2)) / np.maximum(np.linalg.norm(target, axis=(1, 2)), 1e-300)
    big = np.abs(W3) >= 0.1 * np.abs(W3).reshape(S, -1).max(axis=1)[:, None, None]
    agree = np.array([np.mean(np.sign(J[s][big[s]]) == np.sign(target[s][big[s]])) for s in range(S)])
    return {"J_eff": J, "k_eff": k, "fit_residual": res, "rel_error": rel, "sign_agreement": agree}


def calibration_residual(hw: AOCHardware, systems: int = 20, seed: int = 1, z_range: float = 1.0,
                         samples: int = 2000) -> Dict[str, float]:
    """Summary of :func:`effective_matrix` over ``systems`` random symmetric W (beta = 1): the worst
    and mean relative error of J_eff, the worst sign agreement, the largest |k_eff| relative to
    ``max|W|`` and the fraction of negative effective couplings (all of them on the released
    16-channel profile)."""
    W = random_symmetric(hw.n_channels, systems, seed)
    r = effective_matrix(W, 1.0, hw, samples=samples, z_range=z_range, seed=seed)
    M = np.abs(W).reshape(systems, -1).max(axis=1)
    return {"rel_error_max": float(r["rel_error"].max()), "rel_error_mean": float(r["rel_error"].mean()),
            "sign_agreement_min": float(r["sign_agreement"].min()),
            "k_eff_max_rel": float((np.abs(r["k_eff"]).max(axis=1) / M).max()),
            "negative_fraction": float(np.mean(r["J_eff"] < 0)),
            "fit_residual_max": float(r["fit_residual"].max())}
