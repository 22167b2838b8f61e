"""Time to solution (TTS) at a target success probability, with its Beta-posterior interval.

The field's figure of merit for stochastic solvers (e.g. Aramon et al., Front. Phys. 7, 48 (2019);
Hamerly et al., Sci. Adv. 5, eaau0823 (2019)): with independent runs of wall time ``t_run`` that
each reach the target with probability p, the expected time until at least one of them has
reached it with probability ``target`` is

    TTS_target = t_run · ln(1 − target) / ln(1 − p)     (p < target),
    TTS_target = t_run                                  (p ≥ target: one run suffices).

p is not known, only k successes in n runs: its posterior under a uniform prior is
Beta(1 + k, 1 + n − k) (:func:`.stats.success_probability`). TTS is a decreasing function of p, so
its posterior quantiles are TTS at p's quantiles: the reported value is TTS at the posterior
median of p (the posterior median of TTS) and the equal-tailed credible interval is
[TTS(p_upper), TTS(p_lower)]. With k = 0 the upper end is finite but large: it says how little n
runs without a success tell.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from scipy import stats as _st

from ..._validation import fail, finite_real, plain_scalar
from .stats import success_probability


@dataclass(frozen=True)
class TimeToSolution:
    """TTS (seconds) at ``target`` from ``successes`` of ``trials`` runs of ``run_time`` s each."""
    run_time: float
    successes: int
    trials: int
    target: float
    credibility: float
    median: float     # TTS at the posterior median of p
    lower: float      # equal-tailed credible interval of TTS
    upper: float
    p_median: float   # posterior median of the success probability


def tts_from_probability(run_time: float, p: float, target: float = 0.99) -> float:
    """TTS_target (s) of runs of ``run_time`` s that each succeed with probability ``p`` in (0, 1]."""
    if p >= target:
        return run_time
    return run_time * math.log1p(-target) / math.log1p(-p)


def time_to_solution(run_time: float, successes: int, trials: int, *, target: float = 0.99,
                     credibility: float = 0.95) -> TimeToSolution:
    """TTS at ``target`` with its Beta-posterior credible interval (module docstring).

    ``run_time``: the mean wall time of one run, seconds (> 0); ``successes``/``trials``: runs that
    reached the target value / runs made; ``target`` and ``credibility`` in (0, 1).
    Raises ValueError/TypeError naming the argument."""
    fn = "time_to_solution"
    run_time = finite_real(fn, "run_time", run_time, positive=True)
    for name, v in (("target", target), ("credibility", credibility)):
        v = plain_scalar(v)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 < float(v) < 1.0:
            fail(fn, name, "a number in (0, 1)", repr(v))
    post = success_probability(successes, trials, credibility=credibility)   # checks successes/trials
    a, b = 1 + post.successes, 1 + post.trials - post.successes
    p_med = float(_st.beta.median(a, b))
    return TimeToSolution(run_time=run_time, successes=post.successes, trials=post.trials, target=float(target),
                          credibility=float(credibility), median=tts_from_probability(run_time, p_med, target),
                          lower=tts_from_probability(run_time, post.upper, target),
                          upper=tts_from_probability(run_time, post.lower, target), p_median=p_med)


def tts_from_time_to_target(times, cap: float, *, target: float = 0.99, credibility: float = 0.95
                            ) -> tuple[TimeToSolution, TimeToSolution]:
    """TTS from independent runs that each stopped at the target or at ``cap`` seconds.

    ``times``: per run, the seconds until the target was reached, or None (not within ``cap``).
    Runs of length R ≤ cap succeed when their time ≤ R, so one set of runs gives TTS at every R.
    Returns (TTS at R = cap, TTS at the R among the observed success times and cap that
    minimises the posterior median: the optimal run length, the figure the field quotes; its
    interval is that of the chosen R and does not include the choice). Between two observed
    success times the count is constant and TTS grows with R, so the minimum is at one of them.
    Run lengths below the first success are never chosen: with no success the posterior is the
    prior whatever R is, and would make ever shorter runs look ever better.
    Raises ValueError naming the argument."""
    fn = "tts_from_time_to_target"
    cap = finite_real(fn, "cap", cap, positive=True)
    times = list(times)
    ts = []
    for i, t in enumerate(times):
        if t is None:
            continue
        t = finite_real(fn, f"times[{i}]", t, nonnegative=True)
        if t > cap:
            fail(fn, f"times[{i}]", f"None or a time <= cap = {cap:g} s", t)
        ts.append(t)
    n = len(times)
    if n == 0:
        fail(fn, "times", "at least one run", "an empty sequence")
    at_cap = time_to_solution(cap, len(ts), n, target=target, credibility=credibility)
    best = at_cap
    for r in sorted(set(ts)):
        if r <= 0.0:
            continue
        cand = time_to_solution(r, sum(t <= r for t in ts), n, target=target, credibility=credibility)
        if cand.median < best.median:
            best = cand
    return at_cap, best
