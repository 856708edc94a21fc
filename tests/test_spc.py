"""Known answers for analysis.spc (XmR limits and the Making Data Count rules), and an independent check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.spc import (
    COMMON, CONCERN, FAILS, HIT_AND_MISS, IMPROVEMENT, PASSES, RULES, assurance, notes, rules_fired, variation, xmr,
    xmr_table,
)

# A 12-point series worked by hand.
#   values        10 12 11 13 12 14 11 12 13 10 12 12        sum 142
#   mean          142 / 12 = 11.8333...
#   moving ranges  2  1  2  1  2  3  1  1  3  2  0            sum 18 over 11 ranges
#   MR-bar        18 / 11 = 1.636363...   (screen 3.267 x 1.636 = 5.35: no range screened out)
#   limits        11.8333 +/- 2.66 x 1.63636 = 11.8333 +/- 4.35273  -> 16.18606, 7.48061
#   2-sigma lines 11.8333 +/- (2/3) x 4.35273 = 11.8333 +/- 2.90182 -> 14.73515, 8.93152
#   no point outside 7.48..16.19, none beyond 2 sigma (14 < 14.735), sides - + - + + + - + + - + +: no run of 7
HAND = np.array([10, 12, 11, 13, 12, 14, 11, 12, 13, 10, 12, 12], dtype=float)


def test_hand_worked_limits():
    r = xmr(HAND)
    assert r.mean[0] == pytest.approx(142 / 12)
    assert r.mr_bar[0] == pytest.approx(18 / 11)
    assert r.upper[0] == pytest.approx(142 / 12 + 2.66 * 18 / 11)
    assert r.lower[0] == pytest.approx(142 / 12 - 2.66 * 18 / 11)
    assert r.upper[0] == pytest.approx(16.18606, abs=1e-5) and r.lower[0] == pytest.approx(7.48061, abs=1e-5)
    assert r.upper_2s[0] == pytest.approx(14.73515, abs=1e-5) and r.lower_2s[0] == pytest.approx(8.93152, abs=1e-5)
    np.testing.assert_allclose(r.moving_range[0, 1:], [2, 1, 2, 1, 2, 3, 1, 1, 3, 2, 0])
    assert np.isnan(r.moving_range[0, 0])
    assert not r.special.any()
    assert (variation(r) == COMMON).all()
    assert set(notes(r).ravel()) == {"common cause: within the process limits, no special-cause pattern"}


def test_hand_worked_baseline_and_screening():
    # baseline = first 6 points: 10 12 11 13 12 14, mean 72 / 6 = 12; ranges 2 1 2 1 2, MR-bar 8 / 5 = 1.6
    r = xmr(HAND, baseline=6)
    assert r.mean[0] == pytest.approx(12.0) and r.mr_bar[0] == pytest.approx(1.6)
    assert r.upper[0] == pytest.approx(12 + 2.66 * 1.6)
    # screening: 10 10 10 10 10 20 10 10 10 10 10 10: ranges 0 0 0 0 10 10 0 0 0 0 0, MR-bar 20 / 11 = 1.818;
    # the screen 3.267 x 1.818 = 5.94 drops both 10s, MR-bar becomes 0 and the limits close on the mean 130/12.
    spike = np.array([10, 10, 10, 10, 10, 20, 10, 10, 10, 10, 10, 10], dtype=float)
    screened, raw = xmr(spike), xmr(spike, screen_outliers=False)
    assert raw.mr_bar[0] == pytest.approx(20 / 11) and screened.mr_bar[0] == 0
    assert screened.mr_counted[0].sum() == 9 and raw.mr_counted[0].sum() == 11
    assert raw.upper[0] == pytest.approx(130 / 12 + 2.66 * 20 / 11)
    assert raw.outside_limits[0].tolist() == [False] * 5 + [True] + [False] * 6  # 20 > 15.67


def _only(rule: str, series: list[float], **kw) -> np.ndarray:
    r = xmr(np.array(series, dtype=float), **kw)
    for other in RULES:
        if other != rule:
            assert not r.rule(other).any(), (rule, other, r.rule(other))
    return r.rule(rule)[0]


def test_outside_limits_only():
    # 11 points alternating 10/11 (mean of 12 points 11.25 with the 14; ranges 1 x 10 and 3: MR-bar 13/11 = 1.18,
    # screen 3.87 keeps the 3; upper limit 11.25 + 2.66 x 1.18 = 14.39): 14 is not above it, 15 is.
    base = [10, 11] * 5 + [10]
    assert not xmr(np.array(base + [14.0])).special.any()
    fired = _only("outside_limits", base + [16])  # mean 11.5, MR-bar 15/11 = 1.36, upper 15.13
    assert fired.tolist() == [False] * 11 + [True]


def test_shift_of_seven_only_and_six_not():
    # 5 points alternating around 10, then seven at 10.5 (inside the limits, no trend, no 2-sigma pair)
    base = [9.0, 11.0, 9.0, 11.0, 9.0]
    fired = _only("shift", base + [11.5] * 7 + [9.0, 11.0])
    assert fired.tolist() == [False] * 5 + [True] * 7 + [False] * 2
    assert not xmr(np.array(base + [11.5] * 6 + [9.0, 11.0])).shift.any()


def test_point_on_the_mean_breaks_a_shift():
    # 14 values with mean exactly 10: three above, one on the mean, four above: no run of 7
    series = [10.5, 10.5, 10.5, 10.0, 10.5, 10.5, 10.5, 10.5, 9.0, 9.0, 9.0, 9.5, 10.0, 10.0]
    r = xmr(np.array(series))
    assert r.mean[0] == pytest.approx(10.0)
    assert not r.shift.any()


def test_trend_of_six_only_and_ties_break_it():
    series = [10, 9, 10, 9, 10, 9, 9.2, 9.4, 9.6, 9.8, 10.0, 9.5, 10, 9.5]
    fired = _only("trend", series)
    assert fired.tolist() == [False] * 5 + [True] * 6 + [False] * 3  # 9, 9.2 .. 10.0: six rising points
    r = xmr(np.array(series, dtype=float))
    assert r.trend_direction[0, 5:11].tolist() == [1] * 6 and r.trend_length[0, 7] == 6
    tied = [10, 9, 10, 9, 10, 9, 9.2, 9.4, 9.4, 9.8, 10.0, 9.5, 10, 9.5]  # a tie in the middle
    assert not xmr(np.array(tied, dtype=float)).trend.any()
    assert not xmr(np.array(series, dtype=float), trend_run=7).trend.any()  # NHSRplotthedots' 7


def test_two_in_three_only():
    # 12 points alternating 10/11, then 13, 11.5, 13:
    #   mean (126 + 13 + 11.5 + 13) / 15 = 163.5 / 15 = 10.9
    #   ranges eleven 1s, then 2, 1.5, 1.5: MR-bar 16 / 14 = 1.142857
    #   2-sigma line 10.9 + (2/3) x 2.66 x 1.142857 = 12.92667; upper limit 10.9 + 2.66 x 1.142857 = 13.94
    #   13 and 13 lie between them, 11.5 is above the mean: two of three beyond 2 sigma on one side
    series = [10, 11] * 6 + [13, 11.5, 13]
    r = xmr(np.array(series, dtype=float))
    assert r.mean[0] == pytest.approx(10.9) and r.mr_bar[0] == pytest.approx(16 / 14)
    assert r.upper_2s[0] == pytest.approx(12.92667, abs=1e-5) and r.upper[0] == pytest.approx(13.94)
    fired = _only("two_in_three", series)
    assert fired.tolist() == [False] * 12 + [True, False, True]
    # the pair split by a point below the mean does not count (all three on one side)
    split = xmr(np.array([10, 11] * 6 + [13.5, 10.5, 13.5]))  # mean 10.9, 2-sigma line 13.37, limit 14.6
    assert split.upper_2s[0] < 13.5 < split.upper[0] and split.side[0, 13] == -1
    assert not split.two_in_three.any()


def test_variation_follows_polarity_and_trend_direction():
    rising = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], dtype=float)
    r = xmr(rising)
    worse = variation(r)  # higher is worse (incidents)
    assert worse[0, 4] == CONCERN  # a rising trend below the mean is still a rising trend
    assert variation(r, "higher_is_better")[0, 4] == IMPROVEMENT
    assert worse[0, 0] == IMPROVEMENT  # below the lower limit takes precedence
    text = notes(r, unit="month")[0, 4]
    assert text == "special cause concern: 12 months in a row rising"
    assert "improvement or concern depends on direction" in notes(r, "neutral")[0, 4]
    assert rules_fired(r)[0, 0] == "outside_limits;trend"


def test_assurance_against_a_target():
    r = xmr(np.vstack([HAND, HAND, HAND]))  # limits 7.48 .. 16.19
    got = assurance(r, np.array([20.0, 12.0, 5.0]), "higher_is_worse")
    assert got.tolist() == [PASSES, HIT_AND_MISS, FAILS]
    assert assurance(r, np.array([20.0, 12.0, 5.0]), "higher_is_better").tolist() == [FAILS, HIT_AND_MISS, PASSES]
    assert assurance(r, None).tolist() == [None] * 3


def test_edge_cases():
    constant = xmr(np.full(12, 4.0))  # MR-bar 0: limits on the mean, nothing fires, screening keeps the zeros
    assert constant.mr_bar[0] == 0 and constant.upper[0] == 4 == constant.lower[0]
    assert not constant.special.any()
    one = xmr(np.array([3.0]))
    assert one.mean[0] == 3 and np.isnan(one.mr_bar[0]) and np.isnan(one.upper[0]) and not one.special.any()
    empty = xmr(np.zeros((2, 0)))
    assert empty.values.shape == (2, 0) and np.isnan(empty.mean).all()
    zeros = xmr(np.array([0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0], dtype=float))
    assert zeros.lower[0] == 0 and zeros.lower_2s[0] == 0  # floored: counts cannot go below 0
    assert xmr(np.array([0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0.0]), floor_zero=False).lower[0] < 0
    gap = HAND.copy()
    gap[5] = np.nan
    g = xmr(gap)  # mean of the 11 present; the ranges either side of the gap are not counted
    assert g.mean[0] == pytest.approx((142 - 14) / 11)
    assert g.mr_counted[0].sum() == 9 and g.mr_bar[0] == pytest.approx((18 - 2 - 3) / 9)
    assert variation(g)[0, 5] is None and notes(g)[0, 5] is None


def test_gap_breaks_runs():
    series = np.array([9.0, 11.0, 9.0, 11.0, 9.0] + [11.5] * 3 + [np.nan] + [11.5] * 4 + [9.0, 11.0])
    assert not xmr(series).shift.any()


def _random_series(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.poisson(rng.uniform(2, 40, size=(60, 1)), size=(60, 30)).astype(float)
    m[3, 10] = np.nan
    m[5, :] = 5.0
    m[8, 12:20] = np.arange(8) * 3 + 20  # a trend
    return m


def test_vectorised_equals_per_series_loop():
    m = _random_series()
    whole = xmr(m)
    for i in range(len(m)):
        one = xmr(m[i])
        for name in ("mean", "mr_bar", "upper", "lower", "upper_2s", "lower_2s"):
            np.testing.assert_array_equal(getattr(whole, name)[i], getattr(one, name)[0])
        for name in (*RULES, "side", "shift_length", "trend_length", "trend_direction"):
            np.testing.assert_array_equal(getattr(whole, name)[i], getattr(one, name)[0], err_msg=name)
    assert whole.special.any()


def _reference_rules(y: np.ndarray, lo: float, hi: float, lo2: float, hi2: float, mean: float,
                     shift_run: int, trend_run: int) -> dict[str, np.ndarray]:
    """A direct, loop-based reading of NHSRplotthedots' rules (R/ptd_calculate_point_type.R), for one series."""
    n = len(y)
    side = np.sign(y - mean)
    outside = (y > hi) | (y < lo)
    close = ~outside & ((y > hi2) | (y < lo2))
    shift = np.zeros(n, bool)
    for end in range(shift_run - 1, n):
        w = side[end - shift_run + 1: end + 1]
        if w[0] != 0 and (w == w[0]).all():
            shift[end - shift_run + 1: end + 1] = True
    trend = np.zeros(n, bool)
    for end in range(trend_run - 1, n):
        d = np.sign(np.diff(y[end - trend_run + 1: end + 1]))
        if (d == 1).all() or (d == -1).all():
            trend[end - trend_run + 1: end + 1] = True
    two = np.zeros(n, bool)
    for i in range(n):
        for s in (i - 2, i - 1, i):
            if s >= 0 and s + 3 <= n and close[s: s + 3].sum() >= 2 and abs(side[s: s + 3].sum()) == 3 and close[i]:
                two[i] = True
    return {"outside_limits": outside, "shift": shift, "trend": trend, "two_in_three": two}


def test_rules_match_a_loop_reading_of_nhsrplotthedots():
    m = _random_series(11)
    m = m[~np.isnan(m).any(axis=1)]
    r = xmr(m, shift_run=7, trend_run=7)
    for i in range(len(m)):
        ref = _reference_rules(m[i], r.lower[i], r.upper[i], r.lower_2s[i], r.upper_2s[i], r.mean[i], 7, 7)
        for name in RULES:
            np.testing.assert_array_equal(r.rule(name)[i], ref[name], err_msg=f"series {i} {name}")


def test_xmr_table_shape_and_columns():
    m = np.vstack([HAND, HAND * 2])
    t = xmr_table(m, pd.DataFrame({"area_code": ["A", "B"]}), [f"2024-{i:02d}" for i in range(1, 13)], target=12.0)
    assert len(t) == 24 and t["area_code"].tolist() == ["A"] * 12 + ["B"] * 12
    assert t.loc[0, "mean"] == pytest.approx(142 / 12) and t.loc[12, "mean"] == pytest.approx(284 / 12)
    assert t.loc[0, "assurance"] == HIT_AND_MISS and not t["special_cause"].iloc[:12].any()


# --- independent implementation: abspc (NHS Making Data Count in Python), when installed

def _abspc_frame(y: np.ndarray):
    spc = pytest.importorskip("abspc")
    df = spc.calculate_control_limits(pd.DataFrame({"value": y}), "XmR")
    return spc.detect_special_causes(df)


def _abspc_compare(y: np.ndarray) -> None:
    # abspc: no moving-range screening, limits at 3 / 1.128 (not 2.66), shifts of 8, trends of 6
    got = xmr(y, screen_outliers=False, floor_zero=False, shift_run=8, trend_run=6, multiplier=3 / 1.128)
    ref = _abspc_frame(y)
    assert got.mean[0] == pytest.approx(ref["mean"].iloc[0])
    assert got.upper[0] == pytest.approx(ref["ucl"].iloc[0]) and got.lower[0] == pytest.approx(ref["lcl"].iloc[0])
    assert got.upper_2s[0] == pytest.approx(ref["uwl"].iloc[0])
    for mine, theirs in zip(RULES, ("rule1", "rule2", "rule3", "rule4")):
        np.testing.assert_array_equal(got.rule(mine)[0], ref[theirs].to_numpy(dtype=bool), err_msg=mine)


def test_against_abspc_hand_worked_and_rule_series():
    pytest.importorskip("abspc")
    for y in (HAND, [10, 11] * 5 + [10, 16], [9, 11, 9, 11, 9] + [11.5] * 8 + [9, 11],
              [10, 9, 10, 9, 10, 9, 9.2, 9.4, 9.6, 9.8, 10.0, 9.5, 10, 9.5], [10, 11] * 6 + [12.5, 11.2, 12.5]):
        _abspc_compare(np.asarray(y, dtype=float))


def test_against_abspc_random_series():
    pytest.importorskip("abspc")
    m = _random_series(3)
    for y in m[~np.isnan(m).any(axis=1)]:
        _abspc_compare(y)


def test_against_abspc_on_demo_series(demo_store, demo_dataset):
    pytest.importorskip("abspc")
    from atlas.analyses import load_frame
    from store import Store

    f = load_frame(Store(demo_store), demo_dataset[0], "ward", "month")
    m = np.vstack([f.cube.sum(axis=0), f.cube]).astype(float)
    for y in m:
        _abspc_compare(y)


def test_cli_choice_copies_match_their_sources():
    from analysis.spc import POLARITIES
    from atlas import analyses, cli_choices

    assert cli_choices.SPC_MEASURES == analyses.SPC_MEASURES and cli_choices.SPC_WHOLE_AREA == analyses.WHOLE_AREA_CODE
    assert cli_choices.SPC_POLARITIES == POLARITIES


def test_atlas_spc_command_writes_the_service_table(demo_store, demo_dataset, tmp_path, monkeypatch):
    from atlas.analyses import spc_table
    from atlas.cli import main
    from store import Store

    monkeypatch.setenv("ATLAS_STORE", str(demo_store))
    out = tmp_path / "spc.csv"
    assert main(["spc", "--dataset", demo_dataset[0], "--level", "ward", "--area", "all", "--target", "800",
                 "--out", str(out)]) == 0
    got = pd.read_csv(out)
    exp = spc_table(Store(demo_store), demo_dataset[0], "ward", "month", area="all", target=800.0)
    assert len(got) == len(exp) == 72 and (got["area_code"] == "all").all()
    np.testing.assert_allclose(got["upper_limit"], exp["upper_limit"])
    assert got["note"].tolist() == exp["note"].tolist() and got["assurance"].iloc[0] == exp["assurance"].iloc[0]


def test_publication_mode_leaves_no_hidden_count_recoverable_from_the_whole_area(demo_store, demo_dataset):
    from analysis.disclosure import SECONDARY_SYMBOL
    from atlas.analyses import SPC_SERIES_COLUMNS, WHOLE_AREA_CODE, publish_spc_table, spc_table
    from store import Store

    raw = spc_table(Store(demo_store), demo_dataset[0], "lsoa", "month", area_filter="E06000005")
    out = publish_spc_table(raw)
    counts = out["count"].astype("string")
    small = raw["count"].between(1, 4).to_numpy()
    assert small.any() and (counts[small] == "<5").all()
    assert not out.loc[small, "value"].notna().any()
    areas, whole = out[out["area_code"] != WHOLE_AREA_CODE], out[out["area_code"] == WHOLE_AREA_CODE]
    hidden = areas["count"].astype("string").isin(["<5", SECONDARY_SYMBOL])
    per_period = hidden.groupby(areas["period"]).sum()
    shown_totals = whole.loc[~whole["count"].astype("string").isin(["<5", SECONDARY_SYMBOL]), "period"]
    # A shown whole-area total minus the shown area counts must never leave a single hidden count.
    assert (per_period.reindex(shown_totals).fillna(0) != 1).all()
    # Every series with a hidden point has no mean or limits (they are sums of its points).
    series = out["count"].astype("string").isin(["<5", SECONDARY_SYMBOL]).groupby(out["area_code"]).transform("any")
    assert out.loc[series, list(SPC_SERIES_COLUMNS)].isna().all().all()
    assert out.loc[~series, "mean"].notna().all()


# --- second independent implementation: statprocon (Wheeler's process behaviour charts, Decimal arithmetic)

# statprocon rounds the mean and MR-bar to 3 decimals before the 2.660 multiplier, and the limits after it:
# its limits can differ from exact ones by up to 0.0005 + 2.66 x 0.0005 + 0.0005 < 0.003.
SPC_ROUNDING = 3e-3


def _statprocon_compare(y: np.ndarray) -> bool:
    """Compare limits and rules 1-2 with statprocon; False (not compared) when a point lies within rounding of a line."""
    ref = pytest.importorskip("statprocon").XmR([float(v) for v in y])
    got = xmr(y, screen_outliers=False, floor_zero=False, shift_run=8)  # statprocon: no screening, runs of 8
    lines = np.array([got.upper[0], got.lower[0], got.mean[0]])
    if np.min(np.abs(y[:, None] - lines[None, :])) <= SPC_ROUNDING:
        return False
    assert got.mean[0] == pytest.approx(float(ref.x_central_line()[0]), abs=SPC_ROUNDING)
    assert got.upper[0] == pytest.approx(float(ref.upper_natural_process_limit()[0]), abs=SPC_ROUNDING)
    assert got.lower[0] == pytest.approx(float(ref.lower_natural_process_limit()[0]), abs=SPC_ROUNDING)
    np.testing.assert_array_equal(got.rule("outside_limits")[0], ref.rule_1_x_indices_beyond_limits())
    np.testing.assert_array_equal(got.rule("shift")[0], ref.rule_2_runs_about_central_line())
    return True


def test_against_statprocon_hand_worked_random_and_demo_series(demo_store, demo_dataset):
    pytest.importorskip("statprocon")
    from atlas.analyses import load_frame
    from store import Store

    series = [np.asarray(y, dtype=float) for y in (HAND, [10, 11] * 5 + [10, 16], [9, 11, 9, 11, 9] + [11.5] * 8 + [9, 11])]
    m = _random_series(3)
    series += list(m[~np.isnan(m).any(axis=1)])
    f = load_frame(Store(demo_store), demo_dataset[0], "ward", "month")
    series += list(np.vstack([f.cube.sum(axis=0), f.cube[:40]]).astype(float))
    compared = sum(_statprocon_compare(y) for y in series)
    assert compared >= 20, compared
