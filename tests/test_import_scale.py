"""National-scale import: the per-distinct-value fast path gives exactly what a per-row reading gives.

The reference here is computed independently, row by row in plain Python, from the same file; the
fast path (ingest.counts) validates each distinct code, period and count once and maps the verdicts
back to rows, and the store keeps one row per key without a primary-key index (schema version 2).
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from atlas.importing import import_file
from boundaries.load import load_areas
from geo.schema import AREA_CODE, CATEGORY, COUNT, GRAIN, LEVEL, PERIOD, REPEAT_COUNT
from ingest import counts as counts_mod
from ingest import read_incident_file
from store import Store
from store import store as store_mod
from store.schema import _DDL_V1, SCHEMA_VERSION

TODAY = dt.date(2024, 6, 15)
KEY = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]
GOOD_MONTHS = ["2023-04", "2023-05", "2023-06", "2023-07"]


def _hostile_rows(lsoa: list[str], msoa: list[str], seed: int) -> list[tuple[str, str, str, str]]:
    """(area_code, period, category, count) rows: mostly valid, with every kind of bad row mixed in."""
    rng = random.Random(seed)
    rows = []
    for _ in range(600):
        code = rng.choice(lsoa)
        r = rng.random()
        if r < 0.05:
            code = " " + code[:3].lower() + " " + code[3:]  # normalised to a valid code
        elif r < 0.08:
            code = rng.choice(msoa)  # another level
        elif r < 0.10:
            code = "E0199" + str(rng.randint(1000, 9999))  # unknown
        elif r < 0.11:
            code = ""
        period = rng.choice(GOOD_MONTHS + ["2023-05-17", "2023-Q2", "garbage", "2030-01", ""])
        if rng.random() < 0.7:
            period = rng.choice(GOOD_MONTHS)
        count = str(rng.randint(0, 40)) if rng.random() < 0.8 else rng.choice(["-3", "2.5", "x", "", "12.0", "1,234"])
        category = rng.choice(["DA", " DA ", "Stalking", ""]) if rng.random() < 0.2 else "DA"
        rows.append((code, period, category, count))
    return rows


def _reference(rows, lsoa: set[str], msoa: set[str]):
    """Per-row reading of the rules, in the order the importer applies them (first failure wins)."""
    month = {p: p for p in GOOD_MONTHS} | {"2023-05-17": "2023-05", "2030-01": "2030-01", "2023-Q2": "2023-Q2"}
    grain = {"2023-Q2": "quarter"}
    reason: list[str | None] = []
    parsed = []
    for code, period, category, count in rows:
        c = "".join(code.split()).upper()
        p = period.strip()
        n = count.strip().replace(",", "") if count.strip() in ("1,234",) else count.strip()
        r = None
        if not c or not p or not count.strip() or not category.strip():
            r = "missing required field"
        elif n.startswith("-"):
            r = "negative count"
        elif not (n.isdigit() or (n.endswith(".0") and n[:-2].isdigit())):
            r = "non-integer count"
        elif c not in lsoa:
            r = "area code at another level" if c in msoa else "unknown area code"
        elif p == "garbage":
            r = "unparseable period"
        elif p == "2030-01":
            r = "future date"
        reason.append(r)
        parsed.append((c, month.get(p), grain.get(p, "month"), category.strip(), int(float(n)) if r is None else None))
    # One grain per file: rows at the rarer grain are rejected.
    ok_grains = pd.Series([g for (_, _, g, _, _), r in zip(parsed, reason) if r is None]).value_counts()
    main = ok_grains.index[0]
    seen = set()
    for i, (c, p, g, cat, _) in enumerate(parsed):
        if reason[i] is None and g != main:
            reason[i] = "mixed period grain"
        elif reason[i] is None:
            if (c, p, cat) in seen:
                reason[i] = "duplicate key"
            seen.add((c, p, cat))
    accepted = [
        (c, "lsoa", p, g, cat, n) for (c, p, g, cat, n), r in zip(parsed, reason) if r is None
    ]
    expected = pd.DataFrame(accepted, columns=[AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY, COUNT])
    return expected, reason


def _write(path: Path, rows) -> Path:
    lines = ["area_code,period,category,count"] + [",".join(f'"{v}"' if "," in v else v for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_counts_import_matches_a_per_row_reference(tmp_path: Path, seed: int) -> None:
    lsoa = load_areas("lsoa")["code"].head(30).tolist()
    msoa = load_areas("msoa")["code"].head(5).tolist()
    rows = _hostile_rows(lsoa, msoa, seed)
    expected, reasons = _reference(rows, set(load_areas("lsoa")["code"]), set(load_areas("msoa")["code"]))
    path = _write(tmp_path / "hostile.csv", rows)

    result = read_incident_file(path, today=TODAY)
    rep = result.report
    assert rep.rows_read == len(rows) == rep.rows_accepted + rep.rows_rejected
    want_reasons = pd.Series([r for r in reasons if r]).value_counts().to_dict()
    assert rep.reasons == want_reasons
    want_rejected = [(i + 1, r) for i, r in enumerate(reasons) if r]
    assert list(zip(rep.rejected["row_number"], rep.rejected["reason"])) == want_rejected
    # Notes count rows (not distinct values), as a per-row reading would.
    normalised = sum(code != "".join(code.split()).upper() for code, _, _, _ in rows)
    whole = sum(count.strip() == "12.0" for *_, count in rows)
    grouped = sum(count.strip() == "1,234" for *_, count in rows)
    assert f"{normalised} area codes normalised (spaces removed, upper-cased)" in rep.notes
    assert f"{whole} count values written as whole decimals (e.g. '12.0') read as integers" in rep.notes
    assert f"{grouped} count values with thousands separators (e.g. '1,234') read" in rep.notes
    got = result.counts.drop(columns=[REPEAT_COUNT])
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert all(str(result.counts[c].dtype) == "str" for c in KEY)

    # Through the store: the same rows stored; the same file again changes nothing.
    st = Store(tmp_path / "s.duckdb")
    first = import_file(st, path, "scale", rejected_out=tmp_path / "rej.csv")
    assert first.rows_added == len(expected)
    stored = st.counts("scale")
    pd.testing.assert_frame_equal(
        stored.drop(columns=[REPEAT_COUNT]),
        expected.sort_values(KEY).reset_index(drop=True),
        check_dtype=False,
    )
    again = import_file(st, path, "scale", rejected_out=tmp_path / "rej2.csv")
    assert again.status == "already imported" and again.rows_added == 0
    pd.testing.assert_frame_equal(st.counts("scale"), stored)

    # An overlapping file: every stored key is rejected as already in the dataset, new keys are added.
    extra = [(lsoa[0], "2023-08", "DA", "4")]
    overlap = _write(tmp_path / "overlap.csv", [r for r, why in zip(rows, reasons) if why is None] + extra)
    out = import_file(st, overlap, "scale", rejected_out=tmp_path / "rej3.csv")
    assert out.report.reasons == {"duplicate key (already in dataset)": len(expected)}
    assert out.rows_added == 1 and len(st.counts("scale")) == len(expected) + 1


def test_dense_duplicate_check_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    for n, k in [(0, 3), (1, 1), (500, 4), (5000, 30), (5000, 5000)]:
        parts = [(rng.integers(0, max(k, 1), n), max(k, 1)) for _ in range(3)]
        want = pd.DataFrame({str(i): p for i, (p, _) in enumerate(parts)}).duplicated(keep="first").to_numpy()
        assert (counts_mod._duplicated(parts) == want).all()
        monkeypatch.setattr(counts_mod, "_MAX_DENSE_KEYS", 0)  # the hashing fallback agrees too
        assert (counts_mod._duplicated(parts) == want).all()
        monkeypatch.undo()

        frame = pd.DataFrame({c: pd.Series(rng.integers(0, max(k, 1), n).astype(str), dtype="str") for c in KEY})
        want_all = frame.duplicated(KEY, keep=False).to_numpy()
        assert (store_mod._shares_a_key(frame) == want_all).all()
        monkeypatch.setattr(store_mod, "_MAX_DENSE_KEYS", 0)
        assert (store_mod._shares_a_key(frame) == want_all).all()
        monkeypatch.undo()


def _v1_store(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute(_DDL_V1)
    con.execute("INSERT INTO schema_version VALUES (1, now()::TIMESTAMP)")
    con.execute("INSERT INTO datasets VALUES ('old', 'ons2011-ne-medway', false, '', now()::TIMESTAMP)")
    con.execute("INSERT INTO imports VALUES (1, 'old', 'f.csv', 'ab', 'counts', now()::TIMESTAMP, 2, 2, 0, 2, 0,"
                " 'imported', '{}')")
    con.execute("INSERT INTO counts VALUES ('old', 'E01000001', 'lsoa', '2023-04', 'month', 'All', 3, NULL, 1),"
                " ('old', 'E01000002', 'lsoa', '2023-04', 'month', 'All', 5, 1, 1)")
    con.execute("SELECT nextval('import_id_seq')").fetchall()  # import 1 is taken
    con.close()


def test_version_1_store_is_migrated_keeping_rows_and_one_row_per_key(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    _v1_store(path)
    st = Store(path)  # migrates
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] == SCHEMA_VERSION == 2
        kinds = {r[0] for r in con.execute(
            "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'counts'").fetchall()}
    assert "PRIMARY KEY" not in kinds and "CHECK" in kinds
    stored = st.counts("old")
    assert stored[COUNT].tolist() == [3, 5] and stored[REPEAT_COUNT].tolist() == [pd.NA, 1]

    # Without the index, repeated keys are still refused: within an import and against stored rows.
    class Report:
        file_name, sha256, kind, rows_read, rows_accepted, rows_rejected = "n.csv", "cd", "counts", 2, 2, 0

        def to_dict(self) -> dict:
            return {}

    class Result:
        counts = stored.iloc[[0, 0]]
        report = Report()

    with pytest.raises(Exception, match="rows sharing a key"):
        st.commit_import("old", Result())
    Result.counts = pd.concat([stored.iloc[[0]], stored.iloc[[1]].assign(period="2023-05")])
    out = st.commit_import("old", Result())
    assert out.rows_added == 1 and len(out.duplicate_keys) == 1
    assert len(st.counts("old")) == 3
    assert len(st.count_keys("old")) == 3 and set(st.count_keys("old")[PERIOD]) == {"2023-04", "2023-05"}


def test_user_set_codes_are_read_without_geometry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from boundaries.registry import register_boundary_set
    from ingest import areas

    src = tmp_path / "lsoa.parquet"
    load_areas("lsoa").head(50).to_parquet(src)
    bs, _ = register_boundary_set(src, "some-lsoas", "lsoa")
    want = frozenset(load_areas("lsoa", bs)["code"])

    def no_polygons(*args, **kwargs):
        raise AssertionError("the boundary polygons were read")

    monkeypatch.setattr(areas, "load_areas", no_polygons)
    areas._codes_by_level.cache_clear()
    by_level, notes = areas.codes_by_level(bs)
    assert by_level == {"lsoa": want} and notes == []
