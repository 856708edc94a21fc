"""The `atlas` command line end to end: import, datasets, counts, boundaries, population, delete."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from atlas.cli import main
from boundaries.load import load_areas


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def counts_csv(tmp_path: Path) -> Path:
    p = tmp_path / "counts.csv"
    p.write_text(
        "area_code,period,category,count\n"
        "E01020590,2024-04,Violence,3\n"
        "E01020591,2024-04,Violence,4\n"
        "E01020590,2024-05,Violence,5\n"
        "E99999999,2024-05,Violence,1\n"  # unknown area
        "E01020591,2024-05,Violence,-2\n",  # negative
        encoding="utf-8",
    )
    return p


def test_import_reports_json_and_writes_rejected_rows(capsys, counts_csv, tmp_path):
    rejected = tmp_path / "rej.csv"
    code, out, _ = run(capsys, "import", counts_csv, "--dataset", "DA", "--json", "--rejected-out", rejected)
    assert code == 0
    rep = json.loads(out)
    assert (rep["rows_read"], rep["rows_accepted"], rep["rows_rejected"]) == (5, 3, 2)
    assert rep["reasons"] == {"unknown area code": 1, "negative count": 1}
    assert rep["rejected_file"] == str(rejected)
    rej = pd.read_csv(rejected, dtype=str)
    assert rej["row_number"].tolist() == ["4", "5"]
    assert rej["reason"].tolist() == ["unknown area code", "negative count"]


def test_reimport_is_idempotent_and_overlap_is_rejected(capsys, counts_csv, tmp_path):
    assert run(capsys, "import", counts_csv, "--dataset", "DA")[0] == 0
    code, out, _ = run(capsys, "import", counts_csv, "--dataset", "DA", "--json")
    assert code == 0 and json.loads(out)["status"] == "already imported"
    # A different file repeating a stored key: that row is rejected, the new one added.
    other = tmp_path / "other.csv"
    other.write_text("area_code,period,category,count\nE01020590,2024-04,Violence,9\nE01020590,2024-06,Violence,2\n")
    code, out, _ = run(capsys, "import", other, "--dataset", "DA", "--json")
    rep = json.loads(out)
    assert rep["rows_accepted"] == 1 and rep["reasons"] == {"duplicate key (already in dataset)": 1}
    code, out, _ = run(capsys, "counts", "--dataset", "DA", "--level", "lsoa", "--grain", "month")
    table = pd.read_csv(pd.io.common.StringIO(out), dtype={"period": str})
    assert table["count"].sum() == 3 + 4 + 5 + 2  # never 3 + 9
    assert list(table.columns) == ["area_code", "area_name", "period", "category", "count"]


def test_nothing_importable_exits_nonzero_and_creates_no_dataset(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("area_code,period,count\nE99999999,2024-04,3\n")
    code, out, _ = run(capsys, "import", bad, "--dataset", "Empty", "--json")
    assert code == 1 and json.loads(out)["rows_accepted"] == 0
    code, out, _ = run(capsys, "datasets")
    assert "no datasets stored" in out


def test_unreadable_file_is_a_clear_error(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run(capsys, "import", empty, "--dataset", "X")
    assert code == 1 and "empty.csv" in err


def test_counts_roll_up_to_ward_and_financial_year(capsys, counts_csv, tmp_path):
    run(capsys, "import", counts_csv, "--dataset", "DA")
    out_csv = tmp_path / "wards.csv"
    code, _, _ = run(capsys, "counts", "--dataset", "DA", "--level", "ward", "--grain", "fy", "--out", out_csv)
    assert code == 0
    t = pd.read_csv(out_csv)
    # Both LSOAs lie in Lumley ward (E05009068) per the shipped lookup.
    assert t.to_dict("records") == [
        {"area_code": "E05009068", "area_name": "Lumley", "period": "2024/25", "category": "Violence", "count": 12}
    ]


def test_policeuk_file_imports_by_coordinates(capsys, shared_data, tmp_path):
    src = shared_data / "incidents" / "policeuk_durham_2024-01_2024-04.csv.gz"
    code, out, _ = run(capsys, "import", src, "--dataset", "Durham street crime", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["kind"] == "policeuk"
    assert rep["rows_read"] == 23658 == rep["rows_accepted"] + rep["rows_rejected"]
    assert abs(rep["rows_accepted"] - 23483) <= 10  # SOURCES.md: rows inside the 7 study LADs
    code, out, _ = run(capsys, "counts", "--dataset", "Durham street crime", "--level", "lad", "--grain", "month")
    t = pd.read_csv(pd.io.common.StringIO(out))
    assert t["count"].sum() == rep["rows_accepted"]
    assert sorted(t["period"].unique()) == ["2024-01", "2024-02", "2024-03", "2024-04"]


def test_user_boundary_set_end_to_end_without_population(capsys, tmp_path):
    wards = load_areas("ward").query("lad_code == 'E06000005'")[["code", "name", "geometry"]]
    path = tmp_path / "darlo.gpkg"
    wards.rename(columns={"code": "WD13CD", "name": "WD13NM"}).to_file(path, layer="wards")
    code, out, _ = run(capsys, "boundaries", "add", path, "--name", "darlo-wards", "--level", "ward")
    assert code == 0 and "24 areas" in out
    code, out, _ = run(capsys, "boundaries", "list")
    assert "darlo-wards" in out and "ons2011-ne-medway" in out
    rec = tmp_path / "rec.csv"
    pts = wards.representative_point()
    rows = [f"{p.x:.1f},{p.y:.1f},2024-05-0{i % 9 + 1}" for i, p in enumerate(pts)]
    rec.write_text("easting,northing,date\n" + "\n".join(rows) + "\n")
    code, out, _ = run(capsys, "import", rec, "--dataset", "Darlo", "--boundaries", "darlo-wards", "--json")
    assert json.loads(out)["rows_accepted"] == 24
    code, out, _ = run(capsys, "counts", "--dataset", "Darlo", "--level", "ward", "--grain", "month")
    t = pd.read_csv(pd.io.common.StringIO(out))
    assert len(t) == 24 and (t["count"] == 1).all()
    pop = tmp_path / "pop.csv"
    pd.DataFrame({"code": wards["code"], "population": 1000}).to_csv(pop, index=False)
    code, out, _ = run(capsys, "population", "add", pop, "--boundaries", "darlo-wards")
    assert code == 0 and "24 areas" in out


def test_delete_dataset_is_logged(capsys, counts_csv):
    from store import Store

    run(capsys, "import", counts_csv, "--dataset", "DA")
    code, out, _ = run(capsys, "delete", "--dataset", "DA")
    assert code == 0
    ev = Store().events()
    assert "dataset deleted" in set(ev["action"])
    assert Store().datasets().empty


def test_overlapping_records_files_never_double_a_month(capsys, tmp_path):
    lsoas = load_areas("lsoa").query("lad_code == 'E06000005'").head(3)
    pts = lsoas.representative_point()
    first = tmp_path / "jan_feb.csv"
    first.write_text("easting,northing,month\n" + "".join(f"{p.x},{p.y},{m}\n" for p in pts for m in ("2024-01", "2024-02")))
    second = tmp_path / "feb_mar.csv"
    second.write_text("easting,northing,month\n" + "".join(f"{p.x},{p.y},{m}\n" for p in pts for m in ("2024-02", "2024-03")))
    assert run(capsys, "import", first, "--dataset", "R")[0] == 0
    code, out, _ = run(capsys, "import", second, "--dataset", "R", "--json")
    rep = json.loads(out)
    assert rep["rows_accepted"] == 3 and rep["reasons"] == {"duplicate key (already in dataset)": 3}
    code, out, _ = run(capsys, "counts", "--dataset", "R", "--level", "lsoa", "--grain", "month")
    t = pd.read_csv(pd.io.common.StringIO(out))
    assert t.groupby("period")["count"].sum().to_dict() == {"2024-01": 3, "2024-02": 3, "2024-03": 3}


def test_national_lsoa_set_works_end_to_end(capsys, shared_data, tmp_path):
    """All 32,844 English LSOAs registered as a user set; police.uk Kent imports against it."""
    from atlas.queries import counts_table
    from boundaries.population import population_table
    from store import Store

    code, out, _ = run(capsys, "boundaries", "add", shared_data / "boundaries" / "england_lsoa_2011.parquet",
                       "--name", "england-lsoa", "--level", "lsoa")
    assert code == 0 and "32844 areas" in out
    assert population_table("lsoa", "england-lsoa").empty  # rates must say there is no population
    src = shared_data / "incidents" / "policeuk_kent_2024-01_2024-04.csv.gz"
    code, out, _ = run(capsys, "import", src, "--dataset", "Kent", "--boundaries", "england-lsoa", "--json")
    rep = json.loads(out)
    # Only rows with no location (601 per SOURCES.md) or outside England are rejected.
    assert rep["reasons"].get("missing coordinates") == 601
    assert rep["rows_accepted"] > 59000
    table = counts_table(Store(), "Kent", level="lsoa", grain="month")
    assert table["count"].sum() == rep["rows_accepted"]
    assert table["area_code"].str.startswith("E01").all()
    pop = tmp_path / "pop.csv"
    src_pop = pd.read_csv(shared_data / "population" / "lsoa_population.csv", usecols=["lsoa_code", "population_total"])
    src_pop.rename(columns={"lsoa_code": "code"}).to_csv(pop, index=False)
    code, out, _ = run(capsys, "population", "add", pop, "--boundaries", "england-lsoa")
    assert code == 0 and "32844 areas" in out
    assert population_table("lsoa", "england-lsoa")["population_total"].sum() == 56286961


def test_demo_counts_are_labelled_synthetic(capsys):
    from demo.dataset import DEMO_DATASET

    assert run(capsys, "demo")[0] == 0
    code, out, _ = run(capsys, "datasets", "--json")
    info = json.loads(out)[0]
    assert info["name"] == DEMO_DATASET and info["synthetic"] is True
    assert "synthetic demo data" in info["description"]
    code, out, _ = run(capsys, "counts", "--dataset", DEMO_DATASET, "--level", "lad", "--grain", "fy")
    t = pd.read_csv(pd.io.common.StringIO(out))
    assert (t["data_note"] == "synthetic demo data").all()
    durham = t[(t["area_code"] == "E06000047")].groupby("period")["count"].sum()
    assert len(durham) == 6 and durham.between(7900, 8900).all()


def test_help_of_every_command_prints(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    commands = [c.strip().split()[0] for c in capsys.readouterr().out.split("commands:")[1].splitlines()[2:]
                if c.startswith("    ") and c.strip() and not c.startswith("      ")]
    assert {"import", "counts", "rates", "hotspots", "emerging", "concentration", "seed"} <= set(commands)
    for cmd in commands:
        with pytest.raises(SystemExit) as done:
            main([cmd, "--help"])
        assert done.value.code == 0, cmd


def test_counts_publication_mode_hides_small_counts(capsys, counts_csv):
    run(capsys, "import", counts_csv, "--dataset", "DA")
    code, out, err = run(capsys, "counts", "--dataset", "DA", "--level", "lsoa", "--grain", "month", "--publication")
    assert code == 0
    t = pd.read_csv(pd.io.common.StringIO(out), dtype=str)
    # Stored counts 3, 4 and 5: the two below 5 are hidden, 5 is shown.
    assert sorted(t["count"].tolist()) == ["5", "<5", "<5"]
    assert "publication mode" in err.lower()


def test_import_sheet_reads_the_named_sheet_and_each_sheet_is_its_own_import(capsys, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in {"April": [["E01020590", "2024-04", "Violence", 3], ["E01020591", "2024-04", "Violence", 6]],
                        "May": [["E01020590", "2024-05", "Violence", 5]]}.items():
        ws = wb.create_sheet(title)
        ws.append(["area_code", "period", "category", "count"])
        for r in rows:
            ws.append(r)
    book = tmp_path / "book.xlsx"
    wb.save(book)
    code, out, _ = run(capsys, "import", book, "--dataset", "DX", "--sheet", "May", "--json")
    assert code == 0 and json.loads(out)["rows_accepted"] == 1
    # The same workbook, another sheet: a new import, not "already imported".
    code, out, _ = run(capsys, "import", book, "--dataset", "DX", "--sheet", "April", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["status"] != "already imported" and rep["rows_accepted"] == 2
    code, out, _ = run(capsys, "import", book, "--dataset", "DX", "--sheet", "April", "--json")
    assert json.loads(out)["status"] == "already imported"
    code, out, _ = run(capsys, "counts", "--dataset", "DX", "--level", "lsoa", "--grain", "month")
    assert pd.read_csv(pd.io.common.StringIO(out))["count"].sum() == 3 + 6 + 5
    code, _, err = run(capsys, "import", book, "--dataset", "DX", "--sheet", "June")
    assert code == 1 and "book.xlsx: has no sheet 'June'; sheets: April, May" in err
