"""atlas.publication: one publication-mode rule set, giving identical tables on the command line and in the app."""

from __future__ import annotations

from dataclasses import replace

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas.publication import DISCLOSURE, NOTE_ATTR, disclosure_rules, hidden_counts, publish
from geo.schema import AREA_CODE, COUNT, PERIOD, AtlasError

YEAR = "2024/25"
CATEGORY = "Criminal damage and arson"


@pytest.fixture
def env(demo_store: Path, demo_dataset: tuple[str, str], monkeypatch: pytest.MonkeyPatch):
    """The demo store as the app's and the CLI's store; (store key, dataset, boundary set)."""
    from views import _cache

    monkeypatch.setenv("ATLAS_STORE", str(demo_store))
    return (_cache.store_key(), *demo_dataset)


def _selection(env, level: str = "lsoa", grain: str = "month", category: str | None = None):
    from views._frame import Selection

    return Selection(env[1], env[2], level, grain, None, "total", category)


def _cli(tmp_path: Path, *args: str) -> pd.DataFrame:
    """`atlas <args> --publication` read back as text (how a reader of the CSV sees it)."""
    from atlas.cli import main

    out = tmp_path / "out.csv"
    assert main([*args, "--publication", "--out", str(out)]) == 0
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def _as_csv_text(table: pd.DataFrame) -> pd.DataFrame:
    """A table as its CSV file reads back (the app's download buttons write the same CSV)."""
    from io import StringIO

    from ingest.report import escape_formula_text

    return pd.read_csv(StringIO(escape_formula_text(table).to_csv(index=False)), dtype=str, keep_default_na=False)


# ---------------------------------------------------------------------------- the rules themselves


def _rates_like() -> pd.DataFrame:
    return pd.DataFrame({
        "area_code": list("abcdef"), "period": ["2023"] * 3 + ["2024"] * 3, "category": "All",
        "count": [2, 30, 11, 3, 0, 0], "rate_per_1000": [0.2, 3.0, 1.1, 0.3, 0.0, 0.0],
        "whole_area_rate": [1.4] * 3 + [0.1] * 3, "rate_ratio": [0.1, 2.1, 0.8, 3.0, 0.0, 0.0],
        "incident_share": [0.05, 0.7, 0.25, 1.0, 0.0, 0.0],
    })


def test_publish_returns_the_note_instead_of_printing_it(capsys):
    t = _rates_like()
    t.attrs["notes"] = ["kept"]
    out = publish(t, "rates")
    # zeros are hidden too (docs/trust.md): "<5" = 0-4
    assert out["count"].tolist() == ["<5", "30", "*", "<5", "<5", "<5"]
    assert out["rate_per_1000"].isna().tolist() == [True, False, True, True, True, True]
    assert out.loc[3:, "whole_area_rate"].isna().all() and out.loc[:2, "whole_area_rate"].notna().all()
    assert out.attrs["notes"] == ["kept"]
    note = out.attrs[NOTE_ATTR]
    assert note.startswith("publication mode: counts perturbed by up to 2 (cell-key method); 4 rows with counts of "
                           "0-4 shown as '<5'")
    assert "1 further counts hidden as '*'" in note and "whole-area figures blanked for 3 rows" in note
    assert capsys.readouterr() == ("", "")
    assert hidden_counts(out) == (4, 1)


def test_tables_without_totals_get_no_secondary_suppression():
    t = _rates_like().drop(columns=["whole_area_rate", "rate_ratio", "incident_share"])
    out = publish(t.assign(total_count=t["count"] + 1), "emerging")
    assert out["count"].tolist() == ["<5", "30", "11", "<5", "<5", "<5"]
    assert out["total_count"].tolist() == ["<5", "31", "12", "<5", "<5", "<5"]
    assert "no secondary suppression" in out.attrs[NOTE_ATTR]


def test_the_cli_keeps_its_old_names_and_signature(capsys):
    from atlas import cli_analysis

    assert cli_analysis._DISCLOSURE is DISCLOSURE and cli_analysis.PUBLICATION_THRESHOLD == 5
    old = cli_analysis.publish(_rates_like(), "rates", DISCLOSURE["rates"], 5, "<")
    pd.testing.assert_frame_equal(old, publish(_rates_like(), "rates"))
    assert "; 4 rows with counts of 0-4" in capsys.readouterr().err


def test_rules_by_command():
    seed = pd.DataFrame(columns=["area_code", "count_2023_24", "rate_2023_24", "count_2024_25", "rate_2024_25",
                                 "pct_change_2023_24_to_2024_25"])
    assert disclosure_rules("seed", seed) == {
        "count_2023_24": ["rate_2023_24", "pct_change_2023_24_to_2024_25"],
        "count_2024_25": ["rate_2024_25", "pct_change_2023_24_to_2024_25"],
    }
    assert {"reasons", "score", "volume_score", "rate_score"} <= set(disclosure_rules("priority")["count"])
    assert {"p_value", "change_label"} <= set(disclosure_rules("compare")["count_to"])
    with pytest.raises(AtlasError, match="no publication rules for 'nonsense'"):
        disclosure_rules("nonsense")


# ---------------------------------------------------------------------------- CLI == app


def test_rates_cli_and_app_give_the_same_suppressed_table(env, tmp_path):
    from views import _cache
    from views._frame import Frame, publish as frame_publish

    sel = _selection(env, grain="fy")
    app = _cache.published_rates(env[0], sel, True)
    cli = _cli(tmp_path, "rates", "--dataset", env[1], "--level", "lsoa", "--grain", "fy")
    pd.testing.assert_frame_equal(_as_csv_text(app), cli)
    assert (cli[COUNT] == "<5").any() and (cli[COUNT] == "*").any()  # primary and secondary both at work
    # the page helper (one whole period at a time) gives that period's rows of the same table
    frame = Frame(env[1], env[2], True, "lsoa", "fy", YEAR, publication=True)
    perturbed = _cache.rates(env[0], frame.selection)  # publication mode's selection reads perturbed counts
    one = frame_publish(perturbed[perturbed[PERIOD] == YEAR].reset_index(drop=True), frame)
    pd.testing.assert_frame_equal(_as_csv_text(one), cli[cli[PERIOD] == YEAR].reset_index(drop=True))
    raw = _cache.rates(env[0], sel)
    assert not raw[COUNT].equals(perturbed[COUNT])
    assert (raw[COUNT] - perturbed[COUNT]).abs().max() <= 2
    pd.testing.assert_frame_equal(_cache.published_rates(env[0], sel, False), raw)  # off: exact and unsuppressed


def test_priority_seed_and_shares_match_the_cli(env, tmp_path):
    from analysis.priority import PriorityWeights
    from views import _cache

    sel = _selection(env, "ward", "fy")
    app = _cache.priority_ranking(env[0], sel, "2024/25", PriorityWeights(), 10, True)
    cli = _cli(tmp_path, "priority", "--dataset", env[1], "--level", "ward", "--period", "2024/25")
    pd.testing.assert_frame_equal(_as_csv_text(app), cli)

    sel = _selection(env, "lsoa", "fy")
    seed = _cache.seed_table_for(env[0], sel, "2024/25", True)
    cli = _cli(tmp_path, "seed", "--dataset", env[1], "--level", "lsoa", "--period", "2024/25")
    pd.testing.assert_frame_equal(_as_csv_text(seed), cli)
    assert (cli["count_2024_25"] == "<5").any()

    # Compare page: rates with shares and repeat shares, under the `smoothed` rules
    shares = _cache.locality_rates(env[0], sel, True)
    raw = _cache.locality_rates(env[0], replace(sel, perturbed=True), False)  # perturbed, not yet suppressed
    pd.testing.assert_frame_equal(shares, publish(raw, "smoothed"))
    small = raw[COUNT].between(0, 4).to_numpy()
    assert small.any() and shares.loc[small, ["incident_share", "share_ratio"]].isna().all().all()


def test_whole_area_total_is_hidden_where_the_rates_table_withholds_it(monkeypatch: pytest.MonkeyPatch):
    """Overview's headline: a period total is hidden exactly where `atlas rates --publication` blanks it."""
    from analysis.rates import overall_rate
    from views import _cache
    from views._frame import Selection

    rates = _rates_like().assign(population=1000)
    # 2023: 2 + 30 + 11 = 43, protected by hiding 11. 2024: 1 + 5 + 0 = 6: hiding the 5 still pins the 1
    # (a hidden complement is at least 5), so the total itself must go, though 6 is not small.
    rates.loc[3, "count"], rates.loc[4, "count"] = 1, 5
    monkeypatch.setattr(_cache, "rates", lambda key, sel: rates)
    monkeypatch.setattr(_cache, "whole_area", lambda key, sel: overall_rate(rates[[PERIOD, COUNT, "population"]]))
    key, sel = ("fake-store", 1), Selection("fake", "set", "ward", "year", None, "total", None)
    cli = publish(rates, "rates")
    assert cli["count"].tolist() == ["<5", "30", "*", "<5", "*", "<5"]
    assert cli.loc[cli[PERIOD] == "2024", "whole_area_rate"].isna().all()
    assert cli.loc[cli[PERIOD] == "2023", "whole_area_rate"].notna().all()
    whole = _cache.published_whole_area(key, sel, True).set_index(PERIOD)
    assert whole.loc["2023", COUNT] == "43" and whole.loc["2023", "rate_per_1000"] == pytest.approx(43 / 3)
    assert whole.loc["2024", COUNT] == "*" and np.isnan(whole.loc["2024", "rate_per_1000"])
    assert whole["suppressed"].tolist() == [False, True]


def test_exports_use_the_same_rules(env):
    from atlas.exports import publish_table
    from views import _cache

    sel = _selection(env)
    raw = _cache.rates(env[0], replace(sel, perturbed=True))  # what publication mode reads
    out = publish_table(raw, "rates", True)
    pd.testing.assert_frame_equal(out, _cache.published_rates(env[0], sel, True))
    assert out[AREA_CODE].tolist() == raw[AREA_CODE].tolist() and (out[COUNT] == "<5").any()
