"""Mann-Kendall trend test: hand-computed answers, a naive reference, and scipy's Kendall tau."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.trend import DECREASING, INCREASING, NO_TREND, mann_kendall
from geo.schema import AtlasError


def _naive_mann_kendall(x: list[float], continuity: bool = True) -> tuple[int, float, float, float, float]:
    """Textbook Mann-Kendall written with plain loops: (S, Var S, Z, p, tau-b)."""
    n = len(x)
    s = 0
    for i in range(n - 1):
        for j in range(i + 1, n):
            s += (x[j] > x[i]) - (x[j] < x[i])
    groups: dict[float, int] = {}
    for v in x:
        groups[v] = groups.get(v, 0) + 1
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in groups.values())) / 18
    if var == 0:
        return s, var, 0.0, 1.0, 0.0
    if continuity and s != 0:
        z = (s - math.copysign(1, s)) / math.sqrt(var)
    else:
        z = s / math.sqrt(var)
    p = math.erfc(abs(z) / math.sqrt(2))
    n0 = n * (n - 1) / 2
    n1 = sum(t * (t - 1) / 2 for t in groups.values())
    return s, var, z, p, s / math.sqrt(n0 * (n0 - n1))


def test_hand_computed_series_without_ties():
    # Pairs of 1,3,2,5,4: +4 +1 +2 -1 = S 6; Var = 5*4*15/18; Z = (6-1)/sqrt(Var).
    r = mann_kendall(np.array([1.0, 3, 2, 5, 4]))
    assert r.s[0] == 6
    np.testing.assert_allclose(r.var_s[0], 300 / 18)
    np.testing.assert_allclose(r.z[0], 5 / math.sqrt(300 / 18))
    np.testing.assert_allclose(r.z[0], 1.2247448713915890)
    np.testing.assert_allclose(r.p[0], 0.22067136191984693, rtol=1e-10)
    np.testing.assert_allclose(r.tau[0], 0.6)
    assert r.direction[0] == NO_TREND


def test_hand_computed_series_with_a_tie():
    # 1,2,2,3: S = 5; one tie group of 2 removes 2*1*9 from 4*3*13 -> Var 138/18; tau-b = 5/sqrt(6*5).
    r = mann_kendall(np.array([1.0, 2, 2, 3]))
    assert r.s[0] == 5
    np.testing.assert_allclose(r.var_s[0], 138 / 18)
    np.testing.assert_allclose(r.z[0], 4 / math.sqrt(138 / 18))
    np.testing.assert_allclose(r.tau[0], 5 / math.sqrt(30))


def test_matches_naive_reference_on_many_series_with_ties():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 4, size=(300, 12)).astype(float)  # small integers: plenty of ties
    x[:50] += np.arange(12) * 0.5  # some real trends
    x[50] = 3.0  # a constant series
    r = mann_kendall(x, continuity=True)
    for row in range(x.shape[0]):
        s, var, z, p, tau = _naive_mann_kendall(x[row].tolist())
        assert r.s[row] == s
        np.testing.assert_allclose([r.var_s[row], r.z[row], r.p[row], r.tau[row]], [var, z, p, tau], atol=1e-12)


def test_p_value_matches_scipy_kendalltau_without_continuity_correction():
    # MK is Kendall's tau of the series against time: without ties tau-a = tau-b = scipy's tau,
    # and scipy's asymptotic p uses Var(S) without continuity correction.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 25)) + np.linspace(0, 1.5, 25) * rng.choice([-1, 0, 1], size=(40, 1))
    raw = mann_kendall(x, continuity=False)
    corrected = mann_kendall(x, continuity=True)
    for row in range(x.shape[0]):
        ref = stats.kendalltau(np.arange(25), x[row], method="asymptotic")
        np.testing.assert_allclose(raw.tau[row], ref.statistic, rtol=1e-12)
        np.testing.assert_allclose(raw.p[row], ref.pvalue, rtol=1e-9)
        assert corrected.p[row] >= raw.p[row]  # the continuity correction is conservative


def test_p_value_matches_scipy_kendalltau_b_with_ties():
    x = np.array([[0, 0, 1, 1, 1, 2, 2, 3, 5, 5, 4, 6.0]])
    ref = stats.kendalltau(np.arange(12), x[0], variant="b", method="asymptotic")
    r = mann_kendall(x, continuity=False)
    np.testing.assert_allclose(r.tau[0], ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(r.p[0], ref.pvalue, rtol=1e-9)


def test_direction_uses_alpha():
    x = np.array([np.arange(10.0), -np.arange(10.0), np.array([1.0, 0, 1, 0, 1, 0, 1, 0, 1, 0])])
    r = mann_kendall(x, alpha=0.05)
    assert list(r.direction) == [INCREASING, DECREASING, NO_TREND]
    assert r.p[0] < 0.05 and r.s[0] == 45 and r.tau[0] == 1.0


def test_constant_series_is_no_trend_not_nan():
    r = mann_kendall(np.full((2, 6), 4.0))
    assert (r.s == 0).all() and (r.z == 0).all() and (r.p == 1).all() and (r.tau == 0).all()
    assert list(r.direction) == [NO_TREND, NO_TREND]


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(AtlasError, match="at least 2 time points"):
        mann_kendall(np.array([[1.0]]))
    with pytest.raises(AtlasError, match=r"series 1, time 2"):
        mann_kendall(np.array([[1.0, 2, 3], [1, 2, np.nan]]))
    with pytest.raises(AtlasError, match="alpha"):
        mann_kendall(np.array([1.0, 2, 3]), alpha=1.5)
