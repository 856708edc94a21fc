"""`atlas services`: the CSV written equals atlas.cli_services.services_for's table (rounded), with notes on stderr."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import access as ac
from atlas.cli import main
from geo.schema import AREA_CODE, PROJECT_ROOT

SERVICES = ("name,type,easting,northing\nHaven,Refuge,427000,542000\nReach,Outreach,428000,520000\n"
            "Hub,IDVA,430000,515000\nbad,,1,1\n")


@pytest.fixture
def demo(demo_store: Path, atlas_home: Path) -> str:
    from store import Store

    shutil.copy(demo_store, atlas_home / "atlas.duckdb")
    (name,) = Store().datasets()["name"].tolist()
    return str(name)


@pytest.fixture
def services_file(tmp_path: Path) -> Path:
    path = tmp_path / "services.csv"
    path.write_text(SERVICES, encoding="utf-8")
    return path


def test_module_and_help_import_no_heavy_library():
    from atlas.cli_services import HIGH_NEED_SHARE

    assert HIGH_NEED_SHARE == ac.HIGH_NEED_SHARE  # the parser's copy of the default
    code = "import sys, atlas.cli_services; sys.exit('pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT).returncode == 0
    code = ("import sys\nfrom atlas.cli import main\ntry:\n    main(['services', '--help'])\nexcept SystemExit:\n"
            "    pass\nsys.exit(any(m in sys.modules for m in ('pandas', 'numpy', 'geopandas', 'scipy')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "straight-line" in done.stdout


def test_writes_the_table_of_services_for(demo: str, services_file: Path, tmp_path: Path, capsys):
    from atlas.cli_services import services_for
    from ingest.services import read_services
    from store import Store

    out, rejected = tmp_path / "need.csv", tmp_path / "rejected.csv"
    assert main(["services", "--dataset", demo, "--file", str(services_file), "--level", "ward",
                 "--out", str(out), "--rejected-out", str(rejected)]) == 0
    err = capsys.readouterr().err
    assert "4 rows read, 3 services accepted, 1 rejected" in err
    assert "services.csv, row 5: missing service type" in err
    assert "not travel time" in err and "high need: the" in err
    written = pd.read_csv(out)
    table = services_for(Store(), demo, read_services(services_file).services, "ward")
    assert written[AREA_CODE].tolist() == table[AREA_CODE].tolist()
    assert written[ac.NEAREST_KM].tolist() == table[ac.NEAREST_KM].round(1).tolist()
    assert written[ac.km_column("Refuge")].tolist() == table[ac.km_column("Refuge")].round(1).tolist()
    assert written[ac.HIGH_NEED].tolist() == table[ac.HIGH_NEED].tolist()
    assert written["rate_per_1000"].tolist() == pytest.approx(table["rate_per_1000"].tolist())
    # Rates are the rates command's: same figures for the same period.
    from atlas.analyses import rates_table

    rates = rates_table(Store(), demo, "ward", "fy", str(table["period"].iloc[0])).set_index(AREA_CODE)
    assert (table.set_index(AREA_CODE)["rate_per_1000"] == rates["rate_per_1000"].reindex(table[AREA_CODE])).all()
    high = written[written[ac.HIGH_NEED]]
    assert len(high) == -(-len(written) * 2 // 10)  # ceil(0.2 x areas)
    assert high[ac.NEAREST_KM].is_monotonic_decreasing  # furthest first
    rows = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["row", "problem", "message"] and rows[1][:2] == ["5", "missing service type"]


def test_year_share_publication_and_filters(demo: str, services_file: Path, tmp_path: Path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["services", "--dataset", demo, "--file", str(services_file), "--year", "2023/24",
                 "--level", "lad", "--out", str(a), "--high-need-share", "0.5"]) == 0
    assert main(["services", "--dataset", demo, "--file", str(services_file), "--grain", "fy", "--period",
                 "2023/24", "--level", "lad", "--out", str(b), "--high-need-share", "0.5"]) == 0
    assert a.read_bytes() == b.read_bytes()
    t = pd.read_csv(a)
    assert set(t["period"]) == {"2023/24"} and t[ac.HIGH_NEED].sum() == 1  # 2 authorities, top half
    pub = tmp_path / "pub.csv"
    assert main(["services", "--dataset", demo, "--file", str(services_file), "--level", "lsoa",
                 "--area-filter", "E06000005", "--publication", "--out", str(pub)]) == 0
    assert "distances in bands" in capsys.readouterr().err
    p = pd.read_csv(pub)
    assert set(p["lad_code"]) == {"E06000005"}
    assert ac.NEAREST_NAME not in p.columns and ac.CENTRE_X not in p.columns and ac.NEAREST_KM not in p.columns
    bands = {label for _, label in ac.DISTANCE_BANDS}
    for col in [c for c in p.columns if c.endswith("_band")]:
        assert set(p[col]) <= bands, col
    # Rows whose flag is hidden come last, by code: their place must not say they are high need.
    assert main(["services", "--dataset", demo, "--file", str(services_file), "--level", "lsoa",
                 "--area-filter", "E06000005", "--category", "Criminal damage and arson", "--publication",
                 "--out", str(pub)]) == 0
    p = pd.read_csv(pub)
    hidden = p[ac.HIGH_NEED].isna().to_numpy()
    assert hidden.any() and (~hidden).any()
    assert not (hidden[:-1] & ~hidden[1:]).any()  # no shown flag after a hidden one
    assert p.loc[hidden, "area_code"].tolist() == sorted(p.loc[hidden, "area_code"])
    assert (p["count"].astype(str).isin(["<5", "*"]) == hidden).all()


def test_no_usable_row_exits_non_zero(demo: str, tmp_path: Path, capsys):
    path = tmp_path / "none.csv"
    path.write_text("type,easting,northing\n,1,1\nRefuge,abc,1\n", encoding="utf-8")
    rejected = tmp_path / "r.csv"
    assert main(["services", "--dataset", demo, "--file", str(path), "--rejected-out", str(rejected)]) == 1
    err = capsys.readouterr().err
    assert "no service rows could be used" in err and "none.csv, row 3: coordinates are not numbers" in err
    assert rejected.is_file()  # the rows to fix are still written
    assert main(["services", "--dataset", demo, "--file", str(tmp_path / "missing.csv")]) == 1
    assert "file not found" in capsys.readouterr().err


def test_bad_share_is_an_error(demo: str, services_file: Path, capsys):
    assert main(["services", "--dataset", demo, "--file", str(services_file), "--high-need-share", "0"]) == 1
    assert "high-need share" in capsys.readouterr().err
