"""Table exports (CSV/XLSX) and maps from the store: suppression as the CLI, formula escaping, mode stated."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from atlas.analyses import rates_table
from atlas.cli_export import add_export_commands
from atlas.exports import (
    DISCLOSURE_COL, build_map, escape_formulas, export_table, infer_grain, map_values, resolve_lad, write_table,
)
from geo.attribution import UNSUPPRESSED_TEXT, disclosure_text
from geo.classify import classify
from geo.schema import AtlasError
from store import Store

DURHAM = "E06000047"


@pytest.fixture
def demo(demo_store: Path, demo_dataset: tuple[str, str]) -> tuple[Store, str]:
    """The session's demo store (tests/conftest.py); exports only read it."""
    return Store(demo_store), demo_dataset[0]


def _run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="atlas")
    add_export_commands(p.add_subparsers())
    args = p.parse_args(argv)
    return args.run(args)


def test_escape_formulas_prefixes_risky_text_only():
    t = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+A1", "-2", "@SUM(A1)", "\tx", "Brandon", None],
                      "n": [-1, 2, 3, 4, 5, 6, 7], "x": [-1.5, 0, 1, 2, 3, 4, np.nan]})
    out = escape_formulas(t)
    # "-2" is a plain number written as text: it stays a number in the spreadsheet (as the CLI's CSVs)
    assert out["name"].tolist()[:6] == ["'=HYPERLINK(\"x\")", "'+A1", "-2", "'@SUM(A1)", "'\tx", "Brandon"]
    assert pd.isna(out["name"].iloc[6])
    assert out["n"].tolist() == t["n"].tolist() and out["x"].iloc[0] == -1.5  # numbers untouched


def test_csv_and_xlsx_state_the_mode_and_never_hold_formulas(tmp_path: Path):
    t = pd.DataFrame({"area_name": ["=1+1", "Ok"], "count": [3, 10]})
    csv = write_table(t, tmp_path / "t.csv", publication=True, synthetic=True)
    back = pd.read_csv(csv, encoding="utf-8-sig")
    assert back[DISCLOSURE_COL].unique().tolist() == ["Publication mode: counts perturbed, 0-4 suppressed"]
    assert back["data_note"].unique().tolist() == ["synthetic demo data"]
    assert back["area_name"].iloc[0] == "'=1+1"
    xlsx = write_table(t, tmp_path / "t.xlsx", publication=False, synthetic=False, title="test")
    book = openpyxl.load_workbook(xlsx)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert book["table"]["A2"].value == "'=1+1"
    about = {r[0]: r[1] for r in book["About"].iter_rows(min_row=2, values_only=True)}
    assert about["disclosure"] == UNSUPPRESSED_TEXT
    with pytest.raises(AtlasError, match="t.txt"):
        write_table(t, tmp_path / "t.txt", publication=False, synthetic=False)


def test_publication_export_matches_the_cli_rates_table(tmp_path: Path, demo, monkeypatch):
    store, name = demo
    path, shown = export_table(store, "rates", name, tmp_path / "rates.csv", publication=True, level="lsoa",
                               period="2024/25")
    exported = pd.read_csv(path, encoding="utf-8-sig", dtype={"count": str})
    small = exported["count"] == "<5"
    assert small.sum() > 0  # the demo has LSOAs with 1-4 incidents a year
    assert exported.loc[small, "rate_per_1000"].isna().all() and exported.loc[small, "suppressed"].all()
    assert not exported["count"].isin(["1", "2", "3", "4"]).any()
    # The same rows and cells as `atlas rates --publication` (atlas.cli_analysis rules).
    from atlas.cli import main

    monkeypatch.setenv("ATLAS_STORE", str(store.path))
    cli_out = tmp_path / "cli.csv"
    assert main(["rates", "--dataset", name, "--level", "lsoa", "--grain", "fy", "--period", "2024/25",
                 "--publication", "--out", str(cli_out)]) == 0
    cli = pd.read_csv(cli_out, dtype={"count": str})
    pd.testing.assert_frame_equal(exported.drop(columns=[DISCLOSURE_COL, "data_note"]), cli)


def test_unsuppressed_export_says_so_and_keeps_small_counts(tmp_path: Path, demo):
    store, name = demo
    path, _ = export_table(store, "priority", name, tmp_path / "p.xlsx", level="ward", period="2024/25",
                           area_filter=DURHAM)
    df = pd.read_excel(path, sheet_name="table")
    assert df[DISCLOSURE_COL].unique().tolist() == [UNSUPPRESSED_TEXT]
    assert df["rank"].tolist() == sorted(df["rank"].tolist()) and len(df) == 63


def test_map_from_store_uses_the_screen_classes(tmp_path: Path, demo):
    store, name = demo
    rates = rates_table(store, name, "ward", "fy", area_filter=DURHAM)
    expected = classify(rates["rate_per_1000"], "quantiles", 5)  # pages/_cache.map_classes on the same data
    m = build_map(store, name, level="ward", measure="rate", period="2024/25", area_filter=DURHAM, label_top=5)
    assert m.classes == expected
    assert [e.label for e in m.legend][:expected.k] == expected.labels()
    text = m.save(tmp_path / "m.svg").read_text(encoding="utf-8")
    assert "Rate per 1,000 by ward, County Durham, 2024/25" in text and "synthetic demo data" in text
    vals = map_values(store, name, "ward", "fy", "gi_bin", period="2024/25", area_filter=DURHAM)
    assert set(vals["period"]) == {"2024/25"} and vals["lad_code"].eq(DURHAM).all()


def test_cli_map_and_export(tmp_path: Path, demo, monkeypatch, capsys):
    store, name = demo
    monkeypatch.setenv("ATLAS_STORE", str(store.path))
    out = tmp_path / "m.pdf"
    assert _run(["map", "--dataset", name, "--measure", "count", "--period", "2024/25", "--area-filter", DURHAM,
                 "--publication", "--paper", "a3", "--out", str(out)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    assert disclosure_text(True) in capsys.readouterr().err
    small = tmp_path / "small.png"
    assert _run(["map", "--dataset", name, "--periods", "2023/24,2024/25", "--area-filter", DURHAM,
                 "--out", str(small)]) == 0
    assert small.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(AtlasError, match="--breaks"):
        _run(["map", "--dataset", name, "--scheme", "fixed", "--out", str(tmp_path / "x.png")])
    assert _run(["export", "--dataset", name, "--table", "seed", "--level", "locality", "--out",
                 str(tmp_path / "s.csv"), "--publication"]) == 0


def test_scope_helpers():
    assert infer_grain("2024/25", None) == "fy" and infer_grain("2024-Q3", None) == "quarter"
    assert infer_grain("2024/25-Q1", None) == "fyquarter" and infer_grain(None, None) == "fy"
    assert infer_grain("2024-Q3", "month") == "month"
    with pytest.raises(AtlasError, match="2024/26"):
        infer_grain("2024/26", None)
    assert resolve_lad("ons2011-ne-medway", "county durham") == (DURHAM, "County Durham")
    assert resolve_lad("ons2011-ne-medway", "e06000005") == ("E06000005", "Darlington")
    with pytest.raises(AtlasError, match="County Durham \\(E06000047\\)"):
        resolve_lad("ons2011-ne-medway", "Narnia")
