"""The AOC-DT annealed solver run through the non-ideal twin of the machine (the AOC paper's solver and its measured non-idealities; issue 17).

For a QUMO ``E(x) = -1/2 x^T J x - h^T x + offset`` (binary x_i in {-1, 1}, continuous in [-1, 1]) and
R independent replicas, each step is the ideal solver's update (:mod:`.replica_kernels`)::

    x <- clamp(x + dt*g*(m(x) + h) - dt*a(t)*x + gamma*(x - x_prev), -1, 1),   a(t) = a0 (1 - t/T)

i.e. ``alpha(t) = 1 - dt*a(t)``, ``beta = dt*g``; dt = 0.5, ``g`` is divided by ``||J||_2`` (as the
ideal solver).  Only ``m(x)``, the optical matrix-vector product of the drive levels, differs:

* ``profile = None`` (the ideal twin): ``m(x) = J sigma(x)``, sigma = sign (sign(0) = +1) for binary
  variables, identity for continuous ones -- exactly the ideal solver's map.
* an :class:`~quaton_fast.reference.aoc_hardware_profile.AOCHardware` profile: ``x`` is read as the
  state voltage [V].  Drive levels ``d_j = f(x_j)`` (the profile's fitted saturating curve in place of
  sign, tanh when ``fitted_nonlinearity`` is off) for binary variables and ``d_j = f_sat x_j``
  (linear, in the same voltage range; ``f_sat = f(1 V)``) for continuous ones; then the machine's path
  exactly as the cell's linear form (:func:`quaton_fast.functional.aoc_hardware.path_operators` with
  ``W = J``, gain 1): microLED cubics ``p±(d)``, fan-in, J split on two SLMs normalised by max|J|
  with the per-channel distortion, TIA efficiencies, photodiode crosstalk with the dark floor, so
  ``o = E⁺ p⁺(d) - E⁻ p⁻(d) + k``.  Calibration (the one choice made here, as an operator would):
  each sign path is divided by its own scalar saturated response ``lam± = p±(f_sat) * mean(eta_out±)``
  so that an ideal path gives ``J⁺ sign - J⁻ sign``; ``m = E⁺p⁺/lam⁺ - E⁻p⁻/lam⁻ + k/((lam⁺ + lam⁻)/2)``.
  Every other non-ideality (curve shape, per-channel TIA/fan-in spread, distortion, crosstalk, dark
  floor, the two paths' different LED shapes) stays uncorrected -- unless the profile carries the
  operator's calibrations (issue 27, ``reference.aoc_hardware_calibration.calibrate``): then the
  map applies them (dark floor removed, SLM pre-compensated, drive ``f(kappa x)``, per-path gains)
  and ``lam± = p±(f_sat) / led_scale±`` (the gains already include ``1 / led_scale±`` and the
  efficiencies), so the saturated drive again gives ``J⁺ sign - J⁻ sign``.

Read-out: binary variables ``sign(x)`` (sign(0) = +1), continuous variables ``x`` (in [-1, 1]).  The
energy of the read-out state is tracked every ``check_every`` steps and at the last step (float64,
the canonical QUMO energy); each replica returns its best checked read-out.  The returned energies
are then **re-evaluated** with the problem's own ``energy`` (in its own variables, e.g. 0/1 for a
QUBO) -- never an analog quantity.  Nothing here is a convergence claim: exactly ``steps`` steps run.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..._validation import fail, plain_scalar
from ...functional.aoc_hardware import led_paths, nonlinearity, output_efficiency, path_operators
from ...reference.aoc_hardware_profile import AOCHardware
from ..models.entry_checks import as_qumo_arrays

__all__ = ["HardwareSolveResult", "hardware_anneal", "DT"]

DT = 0.5
_F = "hardware_anneal"


@dataclass
class HardwareSolveResult:
    """states (R, n) float64 read-out (binary +-1, continuous in [-1, 1]) in canonical QUMO variables;
    energies (R,) float64 re-evaluated with the problem's own ``energy``; original (R, n) the states
    in the problem's own variables (e.g. 0/1 for a QUBO)."""
    states: np.ndarray
    energies: np.ndarray
    original: np.ndarray


def _pos_int(arg, v, lo=1):
    v = plain_scalar(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        fail(_F, arg, f"an integer >= {lo}", repr(v), TypeError if not isinstance(v, numbers.Integral) else ValueError)
    return int(v)


def _real(arg, v, lo, hi):
    v = plain_scalar(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (lo <= float(v) <= hi):
        fail(_F, arg, f"a real number in [{lo}, {hi}]", repr(v), TypeError if not isinstance(v, numbers.Real) else ValueError)
    return float(v)


def _original(problem, X: np.ndarray) -> np.ndarray:
    q = problem.to_qumo() if hasattr(problem, "to_qumo") else None
    if q is not None and q is not problem and hasattr(q, "to_original"):
        return np.asarray(q.to_original(X), dtype=np.float64)
    return X


def hardware_anneal(problem, profile: Optional[AOCHardware] = None, *, replicas: int = 100, steps: int = 1000,
                    a0: float = 0.3, g: float = 0.3, gamma: float = 0.9, check_every: int = 10,
                    seed: int = 0, complete_continuous: bool = True) -> HardwareSolveResult:
    """Run ``replicas`` independent annealed runs of the AOC-DT solver on ``problem`` (module docstring).

    problem: QUMO / QUBO / Ising (anything ``as_qumo_arrays`` takes), n <= profile's channel count;
    profile: None (ideal twin) or an AOCHardware; replicas, steps, check_every: ints >= 1;
    a0 in [0, 2/dt], g in (0, 10] (divided by ||J||_2), gamma in [0, 1); seed: int >= 0 (initial
    states uniform on [-0.01, 0.01] from ``torch.Generator().manual_seed(seed)``).
    complete_continuous: replace each read-out's continuous values by the exact box-QP optimum for
    its read-out binaries (:func:`.qumo_exact.continuous_optimum`; convex continuous block required),
    so that success on mixed instances means "the right binaries" -- the analog continuous values
    are never within 1e-9 of the optimum.
    Returns a :class:`HardwareSolveResult`.  Raises TypeError/ValueError naming the argument.
    """
    J, h, cont, off = as_qumo_arrays(problem, _F)
    J = np.asarray(J.toarray() if hasattr(J, "toarray") else J, dtype=np.float64)
    n = h.size
    if profile is not None and not isinstance(profile, AOCHardware):
        fail(_F, "profile", "None (ideal twin) or an AOCHardware", type(profile).__name__, TypeError)
    if profile is not None and n > profile.n_channels:
        fail(_F, "problem", f"at most the profile's {profile.n_channels} channels", f"n = {n}")
    R, T = _pos_int("replicas", replicas), _pos_int("steps", steps)
    ce = _pos_int("check_every", check_every)
    a0 = _real("a0", a0, 0.0, 2.0 / DT)
    g = _real("g", g, 0.0, 10.0)
    if g == 0.0:
        fail(_F, "g", "> 0", g)
    gamma = _real("gamma", gamma, 0.0, 1.0)
    if gamma >= 1.0:
        fail(_F, "gamma", "< 1", gamma)
    seed = _pos_int("seed", seed, lo=0)
    if not isinstance(complete_continuous, bool):
        fail(_F, "complete_continuous", "a bool", repr(complete_continuous), TypeError)
    f64 = torch.float64
    Jt, ht = torch.tensor(J, dtype=f64), torch.tensor(h, dtype=f64)
    cm = torch.tensor(cont).unsqueeze(0)
    norm = float(np.linalg.norm(J, 2)) or 1.0
    gain = DT * g / norm
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(R, n, generator=gen, dtype=f64) * 2 - 1) * 0.01
    xp = x.clone()
    if profile is None:
        def m_of(z):
            s = torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))
            return torch.where(cm, z, s) @ Jt.T
    else:
        Ep, En, k = path_operators(Jt, 1.0, profile)           # (1, n, n), (1, n); gain = max|J|
        f_sat = float(nonlinearity(torch.ones(1, dtype=f64), profile)[0])
        pps, pns, _, _ = led_paths(torch.full((n,), f_sat, dtype=f64), profile)
        pps, pns = pps[0], pns[0]
        if profile.cal_gain:      # the operator's gains already undo eta, fan-in, SLM slope, led_scale
            lam_p, lam_n = float(pps) / profile.led_scale_pos, float(pns) / profile.led_scale_neg
        else:
            eta_p, eta_n = output_efficiency(profile, n)
            lam_p, lam_n = float(pps) * eta_p, float(pns) * eta_n
        EpT, EnT = (Ep[0] / lam_p).T, (En[0] / lam_n).T
        kk = k[0] / (0.5 * (lam_p + lam_n))

        def m_of(z):
            d = torch.where(cm, f_sat * z, nonlinearity(z, profile)[0])
            pp, pn, _, _ = led_paths(d, profile)
            return pp @ EpT - pn @ EnT + kk

    best_e = torch.full((R,), float("inf"), dtype=f64)
    best_s = torch.zeros(R, n, dtype=f64)
    for t in range(T):
        a = a0 * (1.0 - t / T)
        xn = x + gain * (m_of(x) + ht) - DT * a * x + gamma * (x - xp)
        xp, x = x, xn.clamp(-1.0, 1.0)
        if (t + 1) % ce == 0 or t == T - 1:     # read out the state this update produced
            s = torch.where(cm, x, torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x)))
            e = -0.5 * ((s @ Jt) * s).sum(1) - s @ ht
            imp = e < best_e
            best_e = torch.where(imp, e, best_e)
            best_s = torch.where(imp.unsqueeze(1), s, best_s)
    S = best_s.numpy().copy()
    if complete_continuous and cont.any():
        from .qumo_exact import continuous_optimum
        S = np.stack([continuous_optimum(problem, row[~cont])[0] for row in S])
    orig = _original(problem, S)
    E = np.asarray(problem.energy(orig), dtype=np.float64).reshape(R) if hasattr(problem, "energy") else (
        -0.5 * np.einsum("ri,ij,rj->r", S, J, S) - S @ h + off)
    return HardwareSolveResult(states=S, energies=E, original=orig)
