"""Success probability over restarts with a Beta(1,1) prior (posterior Beta(1+k, 1+n-k))."""
from __future__ import annotations

from dataclasses import dataclass
import math
import numbers

from scipy import stats as _st

from ..._validation import fail, plain_scalar


@dataclass(frozen=True)
class SuccessProbability:
    successes: int
    trials: int
    mean: float      # posterior mean (1+k)/(2+n)
    std: float       # posterior standard deviation
    lower: float     # credible interval bounds
    upper: float


def success_probability(successes: int, trials: int, *, credibility: float = 0.95) -> SuccessProbability:
    """Posterior of the success probability after `successes` hits in `trials` restarts."""
    fn = "success_probability"
    successes, trials, credibility = (plain_scalar(v) for v in (successes, trials, credibility))
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or trials < 0:
        fail(fn, "trials", "an int >= 0", repr(trials))
    if isinstance(successes, bool) or not isinstance(successes, numbers.Integral) or not 0 <= successes <= trials:
        fail(fn, "successes", f"an int in [0, trials={trials}]", repr(successes))
    if isinstance(credibility, bool) or not isinstance(credibility, numbers.Real) or not 0.0 < credibility < 1.0:
        fail(fn, "credibility", "a number in (0, 1)", repr(credibility))
    successes, trials = int(successes), int(trials)
    a, b = 1 + successes, 1 + trials - successes
    mean = a / (a + b)
    std = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    lo, hi = _st.beta.interval(credibility, a, b)
    return SuccessProbability(successes, trials, mean, std, float(lo), float(hi))
