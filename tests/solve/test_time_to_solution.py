"""Time to solution at 99 % with its Beta-posterior interval (issue 24, item 3)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from quaton_fast.solve import time_to_solution
from quaton_fast.solve.statistics.tts import tts_from_probability


def test_tts_formula_against_hand_values():
    # p = 1/2: ln(0.01)/ln(0.5) = 6.643856... runs of 2 s
    assert tts_from_probability(2.0, 0.5) == pytest.approx(2.0 * 6.643856189774724, rel=1e-12)
    # p = 0.9 at 99 %: exactly two runs' worth (1 − 0.1² = 0.99)
    assert tts_from_probability(1.0, 0.9) == pytest.approx(2.0, rel=1e-12)
    assert tts_from_probability(3.0, 0.995) == 3.0          # one run already reaches 99 %
    assert tts_from_probability(1.0, 0.5, target=0.5) == 1.0


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (37, 50)])
def test_posterior_quantiles_match_sampling_the_posterior(k, n):
    """Independent truth: draw p from Beta(1+k, 1+n−k), map each draw to its TTS, take quantiles."""
    res = time_to_solution(0.25, k, n, credibility=0.9)
    rng = np.random.default_rng(0)
    p = rng.beta(1 + k, 1 + n - k, 400_000)
    tts = np.where(p >= 0.99, 0.25, 0.25 * math.log(0.01) / np.log1p(-p))
    lo, med, hi = np.quantile(tts, [0.05, 0.5, 0.95])
    assert res.median == pytest.approx(med, rel=0.01)
    assert res.lower == pytest.approx(lo, rel=0.01)
    assert res.upper == pytest.approx(hi, rel=0.01)
    assert res.lower <= res.median <= res.upper
    assert res.lower >= res.run_time                         # never less than one run


def test_more_successes_never_cost_more_time():
    medians = [time_to_solution(1.0, k, 20).median for k in range(21)]
    assert all(a >= b for a, b in zip(medians, medians[1:]))


@pytest.mark.parametrize("kw, exc, text", [
    (dict(run_time=0.0), ValueError, "run_time"),
    (dict(run_time=float("nan")), ValueError, "run_time"),
    (dict(successes=4, trials=3), ValueError, "successes"),
    (dict(trials=-1), ValueError, "trials"),
    (dict(target=1.0), ValueError, "target"),
    (dict(credibility=True), ValueError, "credibility"),
])
def test_bad_arguments_are_named(kw, exc, text):
    args = dict(run_time=1.0, successes=1, trials=3) | kw
    rt, k, n = args.pop("run_time"), args.pop("successes"), args.pop("trials")
    with pytest.raises(exc, match=text):
        time_to_solution(rt, k, n, **args)


def test_optimal_run_length_is_the_minimum_over_a_fine_grid():
    """Independent truth: evaluate TTS's posterior median at 4,000 run lengths in (0, cap]."""
    from quaton_fast.solve.statistics.tts import tts_from_time_to_target
    times = [0.31, None, 1.7, 0.05, None, 0.9, 2.9, None, 0.44, 0.12]
    at_cap, best = tts_from_time_to_target(times, 3.0)
    assert (at_cap.run_time, at_cap.successes, at_cap.trials) == (3.0, 7, 10)
    ok = [t for t in times if t is not None]
    # run lengths shorter than the first success have k = 0: the posterior is then the prior whatever
    # R is, which says nothing about such runs, so the search starts at the first success time
    grid = np.linspace(min(ok), 3.0, 4000)
    medians = [time_to_solution(r, sum(t <= r for t in ok), len(times)).median for r in grid]
    assert best.median <= min(medians) + 1e-12
    assert best.median == pytest.approx(min(medians), rel=2e-3)   # the grid only approaches the event time
    assert best.median <= at_cap.median


def test_time_to_target_input_checks():
    from quaton_fast.solve.statistics.tts import tts_from_time_to_target
    with pytest.raises(ValueError, match=r"times\[1\].*<= cap"):
        tts_from_time_to_target([0.1, 5.0], 1.0)
    with pytest.raises(ValueError, match="at least one run"):
        tts_from_time_to_target([], 1.0)
    at_cap, best = tts_from_time_to_target(iter([None, None]), 2.0)   # no success: both at the cap
    assert at_cap == best and at_cap.successes == 0
