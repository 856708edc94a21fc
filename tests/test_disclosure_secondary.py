"""Secondary suppression: no hidden count can be worked out from the totals a table shows.

The attack tests play the reader: from the shown table alone they try to recover each hidden cell,
first by subtraction along every line with a total, then (small tables) by linear programming over
all the totals at once, knowing that small counts are 1-4 and complementary ones at least 5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from analysis.disclosure import (
    SECONDARY_SYMBOL, TOTAL_LABEL, secondary_mask, suppress_long, suppress_small_counts, suppress_table,
)
from geo.schema import AtlasError

T = 5


def _known_bounds(
    shown: pd.DataFrame, threshold: int, symbol: str, rows: bool, cols: bool
) -> tuple[np.ndarray, np.ndarray]:
    """What the reader knows about each cell of the shown table: [lo, hi] (equal when shown)."""
    text = shown.to_numpy(dtype=object)
    lo = np.zeros(text.shape)
    hi = np.full(text.shape, np.inf)
    for (i, j), cell in np.ndenumerate(text):
        if cell == symbol and symbol != SECONDARY_SYMBOL:
            lo[i, j], hi[i, j] = 1, threshold - 1
        elif cell == SECONDARY_SYMBOL:
            # with '<5' for small cells a '*' body cell is a complement (>= threshold); with '*' for
            # both it is at least 1. Only a hidden total may be 0.
            margin = (cols and i == text.shape[0] - 1) or (rows and j == text.shape[1] - 1)
            lo[i, j] = 0 if margin else (1 if symbol == SECONDARY_SYMBOL else threshold)
        else:
            lo[i, j] = hi[i, j] = float(cell)
    return lo, hi


def _lines(shape: tuple[int, int], rows: bool, cols: bool) -> list[list[tuple[int, int]]]:
    """Each line's cells, its total last, in the shown table's coordinates."""
    n_r, n_c = shape
    out = []
    if rows:
        out += [[(i, j) for j in range(n_c)] for i in range(n_r)]
    if cols:
        out += [[(i, j) for i in range(n_r)] for j in range(n_c)]
    return out


def _subtraction_attack(shown: pd.DataFrame, mask: pd.DataFrame, rows: bool, cols: bool) -> list[str]:
    """Lines whose total minus the shown cells pins down a single hidden cell."""
    hidden = mask.to_numpy()
    found = []
    for line in _lines(shown.shape, rows, cols):
        total = line[-1]
        if hidden[total]:
            continue
        n_hidden = sum(hidden[c] for c in line[:-1])
        if n_hidden == 1:
            found.append(f"line ending at {total}")
    return found


def _lp_attack(shown: pd.DataFrame, threshold: int, symbol: str, rows: bool, cols: bool) -> list[tuple[int, int]]:
    """Hidden cells whose min and max over every table consistent with what is shown coincide."""
    lo, hi = _known_bounds(shown, threshold, symbol, rows, cols)
    shape = lo.shape
    n = lo.size
    a_eq = []
    for line in _lines(shape, rows, cols):
        r = np.zeros(n)
        for c in line[:-1]:
            r[np.ravel_multi_index(c, shape)] = 1
        r[np.ravel_multi_index(line[-1], shape)] = -1
        a_eq.append(r)
    bounds = list(zip(lo.ravel(), [None if np.isinf(h) else h for h in hi.ravel()]))
    pinned = []
    for idx in np.flatnonzero(lo.ravel() != hi.ravel()):
        c = np.zeros(n)
        c[idx] = 1
        mn = linprog(c, A_eq=np.array(a_eq), b_eq=np.zeros(len(a_eq)), bounds=bounds, method="highs")
        mx = linprog(-c, A_eq=np.array(a_eq), b_eq=np.zeros(len(a_eq)), bounds=bounds, method="highs")
        assert mn.status == 0, "the shown table must be consistent with the truth"
        if mx.status == 0 and abs(mn.fun + mx.fun) < 1e-6:
            pinned.append(np.unravel_index(idx, shape))
    return pinned


def test_single_small_cell_gets_a_complement_in_its_row_and_column():
    wide = pd.DataFrame({"p1": [3, 10, 20], "p2": [7, 8, 6], "p3": [12, 11, 9]}, index=["a", "b", "c"])
    shown, mask = suppress_table(wide, T)
    assert shown.loc["a", "p1"] == "<5"
    assert shown.loc["a", TOTAL_LABEL] == "22" and shown.loc[TOTAL_LABEL, TOTAL_LABEL] == "86"
    # row a: the smallest other non-zero cell (7) is hidden; column p1: the smallest other (10)
    assert shown.loc["a", "p2"] == SECONDARY_SYMBOL and shown.loc["b", "p1"] == SECONDARY_SYMBOL
    assert _subtraction_attack(shown, mask, True, True) == []
    assert _lp_attack(shown, T, "<5", True, True) == []
    # totals stay true sums of the original counts
    assert shown.loc[TOTAL_LABEL, "p1"] == "33"


def test_zeros_are_shown_and_never_used_as_complements():
    wide = pd.DataFrame({"x": [2, 0, 0, 9]}, index=list("abcd")).T
    shown, mask = suppress_table(wide, T, col_totals=False)
    assert shown.loc["x"].tolist() == ["<5", "0", "0", "*", "11"]
    assert mask.loc["x"].tolist() == [True, False, False, True, False]


def test_total_hidden_when_no_complement_is_left():
    # two counts of 1 summing to 2: both are pinned to 1 whatever else is hidden, so the total goes
    shown, mask = suppress_table(pd.DataFrame({"a": [1], "b": [1], "c": [0]}), T, col_totals=False)
    assert shown.iloc[0].tolist() == ["<5", "<5", "0", SECONDARY_SYMBOL]
    assert mask.iloc[0, -1]


def test_star_symbol_and_other_threshold():
    wide = pd.DataFrame({"p1": [8, 12], "p2": [20, 30]})
    shown, _ = suppress_table(wide, 10, symbol="*")
    assert shown.iloc[0].tolist() == ["*", "*", "28"]
    assert shown.iloc[1, 0] == "*"  # column p1 complement
    with pytest.raises(AtlasError, match="threshold"):
        suppress_table(wide, 1)
    with pytest.raises(AtlasError, match=r"row 0, column 'p1' holds '-1'"):
        suppress_table(pd.DataFrame({"p1": [-1]}), 5)


def test_long_table_groups_are_protected_per_period():
    t = pd.DataFrame({
        "area_code": list("abcdabcd"),
        "period": ["2023"] * 4 + ["2024"] * 4,
        "count": [3, 9, 6, 40, 0, 8, 7, 5],
        "rate_per_1000": np.arange(8.0),
        "whole_area_rate": [1.0] * 8,
    })
    out = suppress_long(t, "count", ["period"], T, dependent_cols=["rate_per_1000"], total_cols=["whole_area_rate"])
    assert out["count"].tolist() == ["<5", "9", "*", "40", "0", "8", "7", "5"]
    assert out["rate_per_1000"].isna().tolist() == [True, False, True, False, False, False, False, False]
    assert out["suppressed"].tolist() == [True, False, True, False, False, False, False, False]
    assert out["whole_area_rate"].notna().all()


def test_long_table_withholds_an_unprotectable_total():
    t = pd.DataFrame({"period": ["p"] * 3, "count": [2, 0, 0], "whole_area_rate": [0.1] * 3})
    out = suppress_long(t, "count", ["period"], T, total_cols=["whole_area_rate"])
    assert out["count"].tolist() == ["<5", "0", "0"]
    assert out["whole_area_rate"].isna().all()


def test_primary_only_api_keeps_working_with_a_symbol():
    out = suppress_small_counts(pd.DataFrame({"count": [0, 2, 7]}), 5, symbol="*")
    assert out["count"].tolist() == ["0", "*", "7"]


counts = st.integers(0, 30) | st.integers(1, 4) | st.just(0)


@st.composite
def tables(draw) -> pd.DataFrame:
    n_r, n_c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    vals = draw(st.lists(st.lists(counts, min_size=n_c, max_size=n_c), min_size=n_r, max_size=n_r))
    return pd.DataFrame(vals, index=[f"r{i}" for i in range(n_r)], columns=[f"c{j}" for j in range(n_c)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide=tables(), rows=st.booleans(), cols=st.booleans(), symbol=st.sampled_from([None, "*"]))
def test_no_hidden_cell_is_recoverable(wide: pd.DataFrame, rows: bool, cols: bool, symbol: str | None):
    shown, mask = suppress_table(wide, T, symbol=symbol, row_totals=rows, col_totals=cols)
    body = mask.iloc[: len(wide), : wide.shape[1]].to_numpy()
    vals = wide.to_numpy()
    # every small count is hidden; zeros never are; shown cells are the true values
    assert (body[(vals >= 1) & (vals < T)]).all()
    assert not body[vals == 0].any()
    assert (shown.iloc[: len(wide), : wide.shape[1]].to_numpy()[~body] == vals[~body].astype(str)).all()
    if not (rows or cols):
        assert body.sum() == ((vals >= 1) & (vals < T)).sum()  # no totals: primary only
        return
    assert _subtraction_attack(shown, mask, rows, cols) == []
    assert _lp_attack(shown, T, "*" if symbol == "*" else "<5", rows, cols) == []


@settings(max_examples=100, deadline=None)
@given(values=st.lists(counts, min_size=1, max_size=12))
def test_long_groups_no_single_hidden_cell_and_no_pinned_interval(values: list[int]):
    v = np.array(values)
    secondary, withheld = secondary_mask(v, None, T)
    primary = (v >= 1) & (v < T)
    hidden = primary | secondary
    assert not (secondary & primary).any() and not (secondary & (v == 0)).any()
    if withheld.any():
        assert withheld.all()  # the whole group's total is withheld
        return
    assert hidden.sum() != 1
    shown = pd.DataFrame([[("<5" if p else "*" if s else str(x)) for x, p, s in zip(v, primary, secondary)] + [str(v.sum())]])
    assert _lp_attack(shown, T, "<5", True, False) == []


# ---------------------------------------------------------------------------- the CLI's publication mode


def test_publish_rates_table_hides_a_complement_and_blanks_unprotectable_totals(capsys):
    from atlas.cli_analysis import _DISCLOSURE, publish

    t = pd.DataFrame({
        "area_code": list("abcdef"),
        "period": ["2023"] * 3 + ["2024"] * 3,
        "category": "All",
        "count": [2, 30, 11, 3, 0, 0],
        "rate_per_1000": [0.2, 3.0, 1.1, 0.3, 0.0, 0.0],
        "whole_area_rate": [1.4] * 3 + [0.1] * 3,
        "rate_ratio": [0.1, 2.1, 0.8, 3.0, 0.0, 0.0],
        "incident_share": [0.05, 0.7, 0.25, 1.0, 0.0, 0.0],
    })
    out = publish(t, "rates", _DISCLOSURE["rates"], 5, "*")
    assert out["count"].tolist() == ["*", "30", "*", "*", "*", "*"]  # zeros are hidden too
    assert out["rate_per_1000"].isna().tolist() == [True, False, True, True, True, True]
    # 2024's total (3) is a single small count: no complement exists, so its whole-area figures go
    assert out.loc[3:, "whole_area_rate"].isna().all() and out.loc[:2, "whole_area_rate"].notna().all()
    assert out.loc[4:, "incident_share"].isna().all()
    err = capsys.readouterr().err
    assert "1 further counts hidden as '*'" in err and "whole-area figures blanked for 3 rows" in err


def test_cli_rates_publication_leaves_no_period_with_one_hidden_count(tmp_path):
    from atlas.cli import main
    from test_analyses import DATASET, darlington_counts, store_dataset

    counts = darlington_counts(months=["2023-04", "2023-05"])
    counts = counts[counts["category"] == "Other"].reset_index(drop=True)  # a row for every LSOA (no zeros)
    counts["count"] = counts["count"] * 10 + 10  # no zeros (publication mode hides them too)
    first = counts.groupby("period").head(1).index  # one LSOA per month gets a small count
    counts.loc[first, "count"] = 3
    store_dataset(counts)
    out = tmp_path / "r.csv"
    assert main(["rates", "--dataset", DATASET, "--level", "lsoa", "--grain", "month", "--publication",
                 "--out", str(out)]) == 0
    t = pd.read_csv(out, dtype={"count": str})
    small = t["count"] == "<5"
    hidden = small | (t["count"] == "*")
    assert small.groupby(t["period"]).sum().eq(1).all()
    assert hidden.groupby(t["period"]).sum().eq(2).all()  # each month's single small count got one complement
    assert t.loc[hidden, "rate_per_1000"].isna().all() and t.loc[~hidden, "rate_per_1000"].notna().all()
    assert t["whole_area_rate"].notna().all()


def test_all_small_table_whose_margins_pin_a_total_is_still_protected():
    """Found by hypothesis in CI: every body cell small, so only totals were left to hide."""
    wide = pd.DataFrame([[1, 2, 0, 0], [0, 0, 1, 3], [2, 1, 0, 0]],
                        index=["r0", "r1", "r2"], columns=["c0", "c1", "c2", "c3"])
    test_no_hidden_cell_is_recoverable.hypothesis.inner_test(wide, True, True, None)
