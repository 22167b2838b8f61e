"""Success probability over restarts with a Beta(1,1) prior (posterior Beta(1+k, 1+n-k))."""
from __future__ import annotations

from dataclasses import dataclass
import math

from scipy import stats as _st


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
    if not isinstance(trials, int) or trials < 0:
        raise ValueError(f"success_probability: trials must be an int >= 0, got {trials!r}")
    if not isinstance(successes, int) or not 0 <= successes <= trials:
        raise ValueError(f"success_probability: successes must be an int in [0, trials={trials}], got {successes!r}")
    if not 0.0 < credibility < 1.0:
        raise ValueError(f"success_probability: credibility must be in (0, 1), got {credibility!r}")
    a, b = 1 + successes, 1 + trials - successes
    mean = a / (a + b)
    std = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    lo, hi = _st.beta.interval(credibility, a, b)
    return SuccessProbability(successes, trials, mean, std, float(lo), float(hi))
