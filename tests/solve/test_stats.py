import pytest

from quaton_fast.solve.statistics.stats import success_probability


def test_posterior_mean_std_interval():
    r = success_probability(7, 10)
    assert r.mean == pytest.approx(8 / 12)
    assert r.std == pytest.approx((8 * 4 / (12 ** 2 * 13)) ** 0.5)
    assert r.lower < r.mean < r.upper


def test_bad_counts():
    with pytest.raises(ValueError, match="successes"):
        success_probability(11, 10)
    with pytest.raises(ValueError, match="trials"):
        success_probability(0, -1)
