"""Spreadsheet formula injection (OWASP "CSV Injection", issue 12): nothing Hotspot Atlas writes holds a formula.

Categories and locality names are set to formula payloads, then every `atlas` command that writes a file
is run and its raw output read back: no cell may begin with = + - @, tab or CR unless it is a plain
number, and numbers (negative ones included) must stay numbers, never apostrophe-prefixed text. The
list of commands comes from the real argparse parser, so a new command with --out fails
``test_every_command_that_writes_a_file_is_walked`` until it is covered here.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis.periods import period_range
from atlas.cli import _build_parser, main
from atlas.cli_choices import EXPORT_TABLES
from atlas.safe_output import FORMULA_PREFIXES, csv_bytes, neutralise, write_csv
from boundaries.hierarchy import set_localities
from boundaries.load import load_areas
from boundaries.registry import DEFAULT_SET
from test_analyses import store_dataset
from test_static_maps import pdf_text

PAYLOADS = ['=HYPERLINK("http://x","y")', "@SUM(1+1)", "+1+1", "-2+3", "\tx", "\rx"]
# load_localities strips surrounding whitespace (so does the importer for categories): the tab and CR
# payloads reach the output as categories of a dataset committed to the store directly.
LOCALITY_NAMES = [*PAYLOADS[:4], "Ward $x^2$", "<img src=x onerror=alert(1)>"]
DATASET = "Injected"
DARLINGTON = "E06000005"
SCOPE = ["--level", "locality", "--grain", "fy"]

# Every `atlas` command that writes a file, by its path in the parser -> its arguments (without --out).
WALKED: dict[str, list[str]] = {
    "counts": ["counts", "--dataset", DATASET, *SCOPE],
    "rates": ["rates", "--dataset", DATASET, *SCOPE, "--category=-2+3"],
    "smoothed": ["smoothed", "--dataset", DATASET, *SCOPE, "--category=+1+1"],
    "rolling": ["rolling", "--dataset", DATASET, "--level", "locality", "--category=@SUM(1+1)"],
    "concentration": ["concentration", "--dataset", DATASET, *SCOPE],
    "moran": ["moran", "--dataset", DATASET, *SCOPE],
    "hotspots": ["hotspots", "--dataset", DATASET, *SCOPE, "--permutations", "99", "--category=\tx"],
    "emerging": ["emerging", "--dataset", DATASET, *SCOPE, "--category=\rx"],
    "compare": ["compare", "--dataset", DATASET, *SCOPE, "--period", "2023/24", "--against", "2022/23",
                '--category==HYPERLINK("http://x","y")'],
    "priority": ["priority", "--dataset", DATASET, *SCOPE, "--permutations", "99"],
    "seed": ["seed", "--dataset", DATASET, "--level", "locality"],
    "export": ["export", "--dataset", DATASET, *SCOPE, "--table", "priority"],
    "reporting-gap": ["reporting-gap", "--dataset", DATASET, "--level", "ward"],
    "spc": ["spc", "--dataset", DATASET, "--level", "locality", "--grain", "quarter", "--category=@SUM(1+1)"],
    # {home}: the injected ATLAS_HOME, where injected_home writes a services file with payload types and names
    "services": ["services", "--dataset", DATASET, "--level", "locality", "--file", "{home}/services.csv"],
}
# Commands whose file has no spreadsheet cells, and where they are checked instead.
NOT_CELLS = {
    "map": "an image; its area labels are drawn text (the briefing test covers drawing names literally)",
    "briefing": "a PDF: test_briefing_draws_names_literally_and_neutralised",
}
ROW_OPTIONS = {"import": "--rejected-out"}  # commands whose file option has another name
# summaries per period, or areas of the shipped set without the dataset's categories: no payloads in them
NO_DATA_TEXT = {"concentration", "moran", "reporting-gap"}
NEGATIVES = {"compare", "seed", "priority", "smoothed"}  # the data make falls: negative numbers appear
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _file_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Every (sub)command of ``parser`` with an option naming an output file (--out, --rejected-out, ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _file_commands(sub, (*path, name))
            return
    if any(a.dest == "out" or a.dest.endswith("_out") for a in parser._actions):
        yield " ".join(path)


def formula_cells(text: str) -> list[str]:
    """Cells of CSV ``text`` a spreadsheet would run, or numbers turned into text by an apostrophe."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    # A bare CR or LF inside a cell would start a new row in Excel (and its rest a cell of its own).
    assert len({len(r) for r in rows}) == 1, "rows of different lengths: a line break escaped its quotes"
    bad = []
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(cell):
                bad.append(cell)
            elif cell.startswith("'") and _NUMBER.fullmatch(cell[1:]):
                bad.append(cell)
    return bad


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


def raw_text(path: Path) -> str:
    """The file as written: bytes decoded without newline translation (a CR inside a cell stays a CR)."""
    return path.read_bytes().decode("utf-8-sig")


def escaped_payloads(found: list[str]) -> set[str]:
    return {c[1:] for c in found if c.startswith("'") and c[1:] in PAYLOADS}


def negative_numbers(found: list[str]) -> list[str]:
    return [c for c in found if c.startswith("-") and _NUMBER.fullmatch(c) and float(c) < 0]


def _counts(wards: list[str]) -> pd.DataFrame:
    """Three financial years of monthly counts per ward and payload category; some localities fall in the last."""
    rows = []
    for i, code in enumerate(wards):
        for j, month in enumerate(period_range("2021-04", "2024-03", "month")):
            for k, category in enumerate(PAYLOADS):
                extra = 4 if i % 3 == 0 and month < "2023-04" else 0
                rows.append((code, month, category, 3 + (i * 7 + j + k) % 5 + extra))
    df = pd.DataFrame(rows, columns=["area_code", "period", "category", "count"])
    return df.assign(level="ward", grain="month", count=df["count"].astype("int64"),
                     repeat_count=pd.array(df["count"] // 3, dtype="Int64"))


@pytest.fixture(scope="module")
def injected_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ATLAS_HOME with Darlington's wards grouped into localities named by payloads, and a dataset of them."""
    home = tmp_path_factory.mktemp("injected")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATLAS_HOME", str(home))
        mp.setenv("ATLAS_STORE", str(home / "atlas.duckdb"))
        wards = sorted(load_areas("ward", lad_codes=[DARLINGTON])["code"].astype(str))
        loc = home / "localities.csv"
        with loc.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["ward_code", "locality"])
            w.writerows((code, LOCALITY_NAMES[i % len(LOCALITY_NAMES)]) for i, code in enumerate(wards))
        set_localities(DEFAULT_SET, loc)
        store_dataset(_counts(wards), DATASET)
        # Services in Darlington whose type and name cells are payloads (atlas services must neutralise them).
        with (home / "services.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["name", "type", "easting", "northing"])
            w.writerows((PAYLOADS[(i + 1) % 4], PAYLOADS[i % 4], 429000 + 1000 * i, 515000) for i in range(4))
    return home


@pytest.fixture
def injected(injected_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ATLAS_HOME", str(injected_home))
    monkeypatch.setenv("ATLAS_STORE", str(injected_home / "atlas.duckdb"))
    return injected_home


# ---------------------------------------------------------------------------- the walk


def test_every_command_that_writes_a_file_is_walked():
    commands = set(_file_commands(_build_parser()))
    assert {"counts", "rates", "export", "briefing", "import"} <= commands  # the walk sees the real parser
    missing = commands - set(WALKED) - set(NOT_CELLS) - set(ROW_OPTIONS)
    assert not missing, f"commands writing a file with no formula-injection check: {sorted(missing)}"
    assert not (set(WALKED) | set(NOT_CELLS) | set(ROW_OPTIONS)) - commands, "stale entries"


@pytest.mark.parametrize("command", sorted(set(_file_commands(_build_parser())) - set(NOT_CELLS) - set(ROW_OPTIONS)))
def test_command_output_has_no_formula_cells(command: str, injected: Path, tmp_path: Path, capsys):
    out = tmp_path / f"{command}.csv"
    args = [a.replace("{home}", str(injected)) for a in WALKED[command]]
    assert main([*args, "--out", str(out)]) == 0, capsys.readouterr().err
    text = raw_text(out)
    found = cells(text)
    assert len(found) > 10
    assert formula_cells(text) == []
    if command not in NO_DATA_TEXT:
        assert escaped_payloads(found), "the payloads should reach this table (as escaped text)"
    if command in NEGATIVES:
        assert negative_numbers(found), "negative numbers should be written as plain numbers"


def test_command_output_to_standard_output_is_neutralised(injected: Path, capsysbinary):
    assert main(WALKED["counts"]) == 0
    text = capsysbinary.readouterr().out.decode("utf-8")  # bytes: a text capture would turn the CR into LF
    assert formula_cells(text) == []
    assert escaped_payloads(cells(text)) == set(PAYLOADS)  # every category, and the locality names


def test_import_rejected_rows_are_neutralised(tmp_path: Path, capsys):
    src = tmp_path / "counts.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["area_code", "period", "category", "count", "@note"])
        w.writerow(["E05001553", "2024-04", "=HYPERLINK(\"http://x\",\"y\")", "3", "ok"])  # accepted
        w.writerow(["=HYPERLINK(\"http://x\",\"y\")", "2024-04", "@SUM(1+1)", "2", "+1+1"])  # unknown area
        w.writerow(["E05001553", "2024-05", "-2+3", "-3", "-2+3"])  # negative count
    rejected = tmp_path / "rejected.csv"
    assert main(["import", str(src), "--dataset", "Imported", "--rejected-out", str(rejected)]) == 0
    text = raw_text(rejected)
    # Rejected rows are the file as read, all text: even "-3" is written "'-3" (ingest.report.escape_formula_cells).
    assert not [c for c in cells(text) if c.startswith(FORMULA_PREFIXES)]
    assert {"'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(1+1)", "'-2+3", "'+1+1", "'-3", "'@note"} <= set(cells(text))
    assert main(["counts", "--dataset", "Imported", "--level", "ward", "--grain", "month"]) == 0
    assert "'=HYPERLINK" in capsys.readouterr().out  # the imported category, as escaped text


# ---------------------------------------------------------------------------- atlas export


@pytest.mark.parametrize("table", sorted(EXPORT_TABLES))
def test_export_csv_of_every_table(table: str, injected: Path, tmp_path: Path):
    out = tmp_path / f"{table}.csv"
    extra = ["--period", "2023/24", "--against", "2022/23"] if table == "compare" else []
    assert main(["export", "--dataset", DATASET, *SCOPE, "--table", table, *extra, "--out", str(out)]) == 0
    text = raw_text(out)
    assert formula_cells(text) == []
    if table != "concentration":
        assert escaped_payloads(cells(text))


def test_export_xlsx_holds_text_not_formulas_and_numbers_as_numbers(injected: Path, tmp_path: Path):
    out = tmp_path / "priority.xlsx"
    assert main(["export", "--dataset", DATASET, *SCOPE, "--table", "priority", "--out", str(out)]) == 0
    book = openpyxl.load_workbook(out)
    values = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in values if c.data_type == "f"]
    text = [c.value for c in values if isinstance(c.value, str)]
    assert not [v for v in text if v.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(v)]
    assert {v[1:] for v in text if v.startswith("'")} >= set(LOCALITY_NAMES[:4])
    numbers = [c.value for c in values if isinstance(c.value, (int, float)) and not isinstance(c.value, bool)]
    assert any(v < 0 for v in numbers)  # e.g. pct_change_on_last_year: a number cell, not text


# ---------------------------------------------------------------------------- the app's downloads


def test_download_bytes_are_neutralised():
    table = pd.DataFrame({"area_name": PAYLOADS + ["Brandon"], "change": [-3.5, -1, 0, 1, 2, 3, 4],
                          "as_text": ["-3.5", "-1", "0", "+1", "2e3", "-", "@"]})
    text = csv_bytes(table).decode("utf-8")
    assert formula_cells(text) == []
    assert "\"'\rx\"" in text  # the CR stays, inside quotes (CRLF rows, RFC 4180)
    back = pd.read_csv(io.StringIO(text, newline=""))
    assert back["area_name"].tolist() == ["'" + p for p in PAYLOADS] + ["Brandon"]
    assert back["change"].tolist() == [-3.5, -1, 0, 1, 2, 3, 4]
    assert back["as_text"].tolist() == ["-3.5", "-1", "0", "+1", "2e3", "'-", "'@"]  # plain numbers stay numbers


def test_download_buttons_of_the_pages_are_neutralised(injected: Path, downloads):
    from streamlit.testing.v1 import AppTest

    from geo.schema import PROJECT_ROOT
    from views._frame import Frame

    frame = Frame(DATASET, DEFAULT_SET, False, "locality", "fy", "2023/24")
    for page in ("compare", "priority"):
        at = AppTest.from_file(str(PROJECT_ROOT / "views" / f"{page}.py"), default_timeout=60)
        at.session_state["atlas_frame"] = frame
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    csvs = {name: data for name, data in downloads.items() if name and name.endswith(".csv")}
    assert len(csvs) == 2, list(downloads)
    for name, data in csvs.items():
        text = data.decode("utf-8")
        assert formula_cells(text) == [], name
        assert escaped_payloads(cells(text)) >= set(LOCALITY_NAMES[:4]), name


def test_uploaded_file_rejected_rows_download_is_neutralised():
    from atlas.uploads import ImportOptions, handle_import

    data = ("area_code,period,category,count\nE05001553,2024-04,x,3\n"
            "\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",2024-04,@SUM(1+1),2\n").encode()
    done = handle_import(data, "up.csv", ImportOptions("Uploaded", boundary_set=DEFAULT_SET))
    text = done.rejected_csv.decode("utf-8")
    assert not [c for c in cells(text) if c.startswith(FORMULA_PREFIXES)]
    assert {"'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(1+1)"} <= set(cells(text))


# ---------------------------------------------------------------------------- the rule itself


def test_neutralise_keeps_dtypes_numbers_and_headers_apart():
    t = pd.DataFrame({
        "text": pd.Series([*PAYLOADS, "-3.5", None, "ok"], dtype="str"),
        "obj": pd.Series(["<5", -4, "=x", None, "-1", 2, 3, "@"], dtype=object).reindex(range(9)),
        "cat": pd.Categorical(["=a", "b", "=a", "-1", "b", "b", "b", "b", "b"]),
        "n": np.arange(9) - 4, "x": np.linspace(-1, 1, 9), "=hdr": "a", "-1": "b",
    })
    t.attrs["notes"] = ["kept"]
    out = neutralise(t)
    assert out.columns.tolist() == ["text", "obj", "cat", "n", "x", "'=hdr", "-1"]
    assert out["text"].tolist()[:6] == ["'" + p for p in PAYLOADS] and out["text"].iloc[6] == "-3.5"
    assert pd.isna(out["text"].iloc[7]) and out["text"].dtype == t["text"].dtype
    assert out["obj"].tolist()[:5] == ["<5", -4, "'=x", None, "-1"] and out["obj"].iloc[7] == "'@"
    assert out["cat"].dtype == "category" and out["cat"].tolist()[:4] == ["'=a", "b", "'=a", "-1"]
    assert out["n"].equals(t["n"]) and out["x"].equals(t["x"]) and out.attrs == {"notes": ["kept"]}
    assert t["text"].iloc[0] == PAYLOADS[0]  # the input is not changed


def test_neutralise_arrow_fast_path_matches_the_value_rule():
    """Sliced, chunked Arrow text (as a national table holds) gives the same cells as the per-value rule."""
    import pyarrow as pa

    values = ["ok", *PAYLOADS, None, "", "é=", "-3", "=" * 3, "+"]
    chunks = pa.chunked_array([pa.array(values * 50, type=pa.large_string()).slice(3, 400),
                               pa.array(values, type=pa.large_string())])
    col = pd.Series(pd.arrays.ArrowStringArray(chunks, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))
    fast = neutralise(col.to_frame("c"))["c"]
    slow = neutralise(col.astype(object).to_frame("c"))["c"]
    assert fast.dtype == col.dtype
    assert fast.fillna("<NA>").tolist() == slow.fillna("<NA>").tolist()


def test_write_csv_neutralises_files_and_standard_output(tmp_path: Path, capsysbinary):
    t = pd.DataFrame({"category": PAYLOADS, "change": [-3.5, -2, -1, 0, 1, 2]})
    write_csv(t, tmp_path / "t.csv")
    assert b"wrote 6 rows" in capsysbinary.readouterr().err
    write_csv(t, None)
    for text in (raw_text(tmp_path / "t.csv"), capsysbinary.readouterr().out.decode("utf-8")):
        assert formula_cells(text) == [] and negative_numbers(cells(text)) == ["-3.5", "-2.0", "-1.0"]
        assert "'x\r=HYPERLINK" not in text


def test_a_carriage_return_inside_a_cell_cannot_start_a_formula_row(tmp_path: Path):
    """Excel breaks rows at a bare CR: "x\r=1+1" unquoted would put =1+1 in a cell of its own."""
    t = pd.DataFrame({"category": ["x\r=1+1", "ok"], "n": [1, 2]})
    write_csv(t, tmp_path / "t.csv", announce=False)
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw == b'category,n\r\n"x\r=1+1",1\r\nok,2\r\n'
    plain = tmp_path / "plain.csv"
    write_csv(pd.DataFrame({"category": ["ok"], "n": [1]}), plain, announce=False)
    assert plain.read_bytes() == b"category,n\nok,1\n"  # tables without a CR keep their line ends


# ---------------------------------------------------------------------------- briefing PDF


def test_briefing_draws_names_literally_and_neutralised(injected: Path, tmp_path: Path, monkeypatch):
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.text import Text

    pages = []
    save = PdfPages.savefig
    monkeypatch.setattr(PdfPages, "savefig", lambda self, figure=None, **kw: (pages.append(figure), save(
        self, figure, **kw))[1])
    out = tmp_path / "brief.pdf"
    assert main(["briefing", "--dataset", DATASET, "--area", "Darlington", "--period", "2023/24",
                 "--level", "locality", "--out", str(out)]) == 0
    # Every text drawing the name (table cell, bar label, map label, legend) is plain text, not mathtext:
    # _preprocess_math is what the renderers call to decide.
    drawn = [t for fig in pages for t in fig.findobj(Text)
             if "Ward $x^2$" in t.get_text() and t.get_visible()]  # not the hidden right-hand tick labels
    assert len(drawn) >= 4
    assert all(t._preprocess_math(t.get_text()) == (t.get_text(), False) for t in drawn)
    text = pdf_text(out.read_bytes())
    # In the PDF as written, not typeset (mathtext would drop the dollars and raise the 2).
    assert text.count("Ward $x^2$") == len(drawn)
    assert "<img src=x onerror=alert(1)>" in text
    # Names in the tables are neutralised as in the CSVs, so a copy into a spreadsheet stays text.
    for name in LOCALITY_NAMES[:4]:
        assert "'" + name in text, name
    lines = text.splitlines()
    assert not [s for s in lines if s.startswith(tuple(LOCALITY_NAMES[:4]))]
