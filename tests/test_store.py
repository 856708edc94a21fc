"""Store: datasets, idempotent all-or-nothing imports, copy-on-write files."""

from __future__ import annotations

import hashlib
import json
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import store as store_pkg
from geo.schema import AREA_CODE, CATEGORY, COUNT, GRAIN, LEVEL, PERIOD, REPEAT_COUNT, StoreError
from store import Store, cow
from store.store import COUNT_COLUMNS

KEY = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]


@dataclass
class FakeReport:
    """Stand-in for ingest.ImportReport (only what the store reads)."""

    file_name: str
    sha256: str
    kind: str = "counts"
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        return {
            "file_name": self.file_name, "sha256": self.sha256, "kind": self.kind,
            "rows_read": self.rows_read, "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected, "reasons": self.reasons,
            "rejected": self.rejected.to_dict("records"),
        }


@dataclass
class FakeResult:
    counts: pd.DataFrame
    report: FakeReport


def make_counts(areas: list[str], periods: list[str], seed: int = 0, repeat: bool = True) -> pd.DataFrame:
    """Tidy monthly LSOA counts for every area x period."""
    rng = np.random.default_rng(seed)
    a, p = np.meshgrid(areas, periods, indexing="ij")
    n = a.size
    count = rng.integers(0, 20, n)
    df = pd.DataFrame({
        AREA_CODE: a.ravel(), LEVEL: "lsoa", PERIOD: p.ravel(), GRAIN: "month", CATEGORY: "All",
        COUNT: count.astype("int64"),
    })
    if repeat:
        df[REPEAT_COUNT] = pd.array(np.minimum(rng.integers(0, 3, n), count), dtype="Int64")
    else:
        df[REPEAT_COUNT] = pd.array([pd.NA] * n, dtype="Int64")
    return df


def make_result(counts: pd.DataFrame, name: str = "file.csv", sha: str | None = None) -> FakeResult:
    sha = sha or hashlib.sha256(pd.util.hash_pandas_object(counts).values.tobytes()).hexdigest()
    report = FakeReport(
        file_name=name, sha256=sha, rows_read=len(counts) + 1, rows_accepted=len(counts),
        rows_rejected=1, reasons={"unknown area code": 1},
        rejected=pd.DataFrame({"row_number": [3], "reason": ["unknown area code"], "notes": ["free text"]}),
    )
    return FakeResult(counts, report)


def sorted_counts(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(KEY).reset_index(drop=True)[COUNT_COLUMNS]


AREAS = [f"E0100{i:04d}" for i in range(5)]
MONTHS = ["2019-04", "2019-05", "2019-06"]


@pytest.fixture
def st() -> Store:
    s = Store()
    s.create_dataset("DA 2019", "ons2011-ne-medway", description="test data")
    return s


# ---------------------------------------------------------------- file and path
def test_store_path_from_env_with_owner_only_file(atlas_home: Path) -> None:
    s = Store()
    assert s.path == atlas_home / "atlas.duckdb"
    assert stat.S_IMODE(s.path.stat().st_mode) == 0o600
    s.create_dataset("x", "ons2011-ne-medway")
    assert stat.S_IMODE(s.path.stat().st_mode) == 0o600  # kept through copy-on-write


def test_store_creates_parent_directory(tmp_path: Path) -> None:
    s = Store(tmp_path / "a" / "b" / "atlas.duckdb")
    assert s.path.is_file()
    assert s.datasets().empty


def test_no_wal_or_temp_files_left_after_writes(st: Store) -> None:
    st.commit_import("DA 2019", make_result(make_counts(AREAS, MONTHS)))
    st.delete_dataset("DA 2019")
    names = sorted(p.name for p in st.path.parent.iterdir())
    assert names == ["atlas.duckdb", "atlas.duckdb.lock"]


def test_newer_schema_version_is_refused(st: Store) -> None:
    with cow.writer_lock(st.path), cow.rewrite(st.path) as con:
        con.execute("INSERT INTO schema_version VALUES (99, now()::TIMESTAMP)")
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        Store(st.path)


def test_existing_non_store_duckdb_file_is_refused(tmp_path: Path) -> None:
    import duckdb

    p = tmp_path / "other.duckdb"
    duckdb.connect(str(p)).close()
    with pytest.raises(StoreError, match="not a Hotspot Atlas store"):
        Store(p)


def test_file_that_is_not_duckdb_is_a_store_error(tmp_path: Path) -> None:
    p = tmp_path / "notes.duckdb"
    p.write_text("hello")
    with pytest.raises(StoreError, match="notes.duckdb: cannot be opened"):
        Store(p)


# ---------------------------------------------------------------- datasets
@pytest.mark.parametrize("bad", ["", "   ", "a/b", "drop;table", "naïve", "x" * 65, "tab\tname", None])
def test_bad_dataset_names_are_refused(bad: object) -> None:
    with pytest.raises(StoreError, match="dataset name"):
        Store().create_dataset(bad, "ons2011-ne-medway")  # type: ignore[arg-type]


def test_dataset_name_rules_accept_allowed_characters() -> None:
    s = Store()
    assert s.create_dataset("  Police-UK data_v1.2 ", "set") == "Police-UK data_v1.2"
    assert s.create_dataset("y" * 64, "set") == "y" * 64
    assert list(s.datasets()["name"]) == ["Police-UK data_v1.2", "y" * 64]


def test_dataset_name_clash_is_refused_case_insensitively(st: Store) -> None:
    with pytest.raises(StoreError, match="already exists"):
        st.create_dataset("DA 2019", "other")
    with pytest.raises(StoreError, match="'DA 2019' already exists"):
        st.create_dataset("da 2019", "other")
    assert len(st.datasets()) == 1


def test_datasets_summary_values(st: Store) -> None:
    st.create_dataset("Demo", "ons2011-ne-medway", synthetic=True)
    counts = make_counts(AREAS, MONTHS, seed=1)
    st.commit_import("DA 2019", make_result(counts))
    df = st.datasets().set_index("name")
    da, demo = df.loc["DA 2019"], df.loc["Demo"]
    assert da["n_rows"] == 15 and da["total_count"] == counts[COUNT].sum()
    assert (da["first_period"], da["last_period"], da["grains"]) == ("2019-04", "2019-06", "month")
    assert da["n_imports"] == 1 and not da["synthetic"] and da["description"] == "test data"
    assert demo["n_rows"] == 0 and demo["total_count"] == 0 and demo["synthetic"]
    d = st.dataset("Demo")
    assert d["synthetic"] is True and d["first_period"] is None and d["boundary_set"] == "ons2011-ne-medway"
    assert st.dataset("DA 2019")["total_count"] == counts[COUNT].sum()


def test_unknown_dataset_is_a_store_error(st: Store) -> None:
    for call in (lambda: st.dataset("nope"), lambda: st.counts("nope"), lambda: st.delete_dataset("nope"),
                 lambda: st.commit_import("nope", make_result(make_counts(AREAS, MONTHS)))):
        with pytest.raises(StoreError, match="no dataset named 'nope'"):
            call()


def test_delete_dataset_removes_counts_and_imports_and_logs(st: Store) -> None:
    st.create_dataset("keep", "set")
    res = make_result(make_counts(AREAS, MONTHS))
    st.commit_import("DA 2019", res)
    st.commit_import("keep", res)
    st.delete_dataset("DA 2019")
    assert list(st.datasets()["name"]) == ["keep"]
    assert list(st.import_log()["dataset"]) == ["keep"]
    assert len(st.counts("keep")) == 15
    ev = st.events()
    last = ev.iloc[-1]
    assert (last["action"], last["dataset"]) == ("dataset deleted", "DA 2019")
    assert "removed 15 count rows" in last["detail"]
    # The name is free again and the same file imports afresh.
    st.create_dataset("DA 2019", "set")
    assert st.commit_import("DA 2019", res).status == "imported"


# ---------------------------------------------------------------- imports
def test_commit_import_round_trips_counts_with_contract_dtypes(st: Store) -> None:
    counts = make_counts(AREAS, MONTHS, seed=2)
    counts.loc[0, REPEAT_COUNT] = pd.NA
    out = st.commit_import("DA 2019", make_result(counts))
    assert out.status == "imported" and out.rows_added == 15 and out.duplicate_keys.empty
    got = st.counts("DA 2019")
    assert list(got.columns) == COUNT_COLUMNS
    assert str(got[COUNT].dtype) == "int64" and str(got[REPEAT_COUNT].dtype) == "Int64"
    assert got[AREA_CODE].dtype == "str"
    pd.testing.assert_frame_equal(got, sorted_counts(counts), check_dtype=False)
    assert got[REPEAT_COUNT].isna().sum() == 1


def test_counts_filters_level_and_category(st: Store) -> None:
    a = make_counts(AREAS, MONTHS)
    b = make_counts(["E05000001"], MONTHS).assign(**{LEVEL: "ward", CATEGORY: "Violence"})
    st.commit_import("DA 2019", make_result(pd.concat([a, b], ignore_index=True)))
    assert len(st.counts("DA 2019", level="ward")) == 3
    assert set(st.counts("DA 2019", category="All")[LEVEL]) == {"lsoa"}
    assert st.counts("DA 2019", level="ward", category="All").empty
    assert st.counts("DA 2019", level="msoa").dtypes[COUNT] == "int64"


def test_same_file_twice_is_already_imported_and_changes_nothing(st: Store) -> None:
    res = make_result(make_counts(AREAS, MONTHS))
    first = st.commit_import("DA 2019", res)
    inode = st.path.stat().st_ino
    again = st.commit_import("DA 2019", res)
    assert (again.status, again.import_id, again.rows_added) == ("already imported", first.import_id, 0)
    assert st.path.stat().st_ino == inode  # the file was not even rewritten
    assert len(st.import_log()) == 1 and len(st.counts("DA 2019")) == 15


def test_keys_stored_by_an_earlier_import_are_reported_not_added(st: Store) -> None:
    old = make_counts(AREAS, MONTHS, seed=3)
    st.commit_import("DA 2019", make_result(old, "q1.csv"))
    new = make_counts(AREAS, ["2019-06", "2019-07"], seed=4)  # June overlaps
    out = st.commit_import("DA 2019", make_result(new, "q2.csv"))
    assert out.status == "imported" and out.rows_added == 5
    june = new[new[PERIOD] == "2019-06"]
    pd.testing.assert_frame_equal(out.duplicate_keys, sorted_counts(june), check_dtype=False)
    stored = st.counts("DA 2019")
    assert len(stored) == 20
    # The stored June values are the first import's, untouched.
    pd.testing.assert_frame_equal(
        sorted_counts(stored[stored[PERIOD] == "2019-06"]), sorted_counts(old[old[PERIOD] == "2019-06"]),
        check_dtype=False,
    )
    log = st.import_log("DA 2019")
    assert list(log["rows_added"]) == [15, 5] and list(log["duplicate_keys"]) == [0, 5]


def test_same_key_in_another_dataset_is_not_a_duplicate(st: Store) -> None:
    st.create_dataset("other", "set")
    counts = make_counts(AREAS, MONTHS)
    st.commit_import("DA 2019", make_result(counts, sha="a" * 64))
    out = st.commit_import("other", make_result(counts, sha="b" * 64))
    assert out.rows_added == 15 and out.duplicate_keys.empty


def test_import_log_keeps_report_without_rejected_rows(st: Store) -> None:
    res = make_result(make_counts(AREAS, MONTHS), "incidents.csv")
    out = st.commit_import("DA 2019", res)
    log = st.import_log("DA 2019")
    row = log.iloc[0]
    assert row["import_id"] == out.import_id and row["file_name"] == "incidents.csv"
    assert row["sha256"] == res.report.sha256 and row["status"] == "imported"
    assert (row["rows_read"], row["rows_accepted"], row["rows_rejected"]) == (16, 15, 1)
    rep = json.loads(row["report_json"])
    assert rep["reasons"] == {"unknown area code": 1} and "rejected" not in rep
    assert "free text" not in row["report_json"]
    assert st.import_log("nope").empty


def test_events_log_actions_in_order(st: Store) -> None:
    st.commit_import("DA 2019", make_result(make_counts(AREAS, MONTHS)))
    st.delete_dataset("DA 2019")
    ev = st.events()
    assert list(ev["action"]) == ["dataset created", "import", "dataset deleted"]
    assert set(ev["dataset"]) == {"DA 2019"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.assign(count=-1), "count must be whole numbers >= 0"),
        (lambda d: d.assign(level="county"), "unknown level 'county'"),
        (lambda d: d.assign(grain="week"), "unknown grain 'week'"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "rows sharing a key"),
        (lambda d: d.drop(columns=[PERIOD]), "lacks column"),
        (lambda d: d.assign(count=1.5), "whole numbers"),
    ],
)
def test_invalid_counts_are_refused_and_store_unchanged(st: Store, change, message: str) -> None:
    inode = st.path.stat().st_ino
    with pytest.raises(StoreError, match=message):
        st.commit_import("DA 2019", make_result(change(make_counts(AREAS, MONTHS)), "bad.csv"))
    assert st.path.stat().st_ino == inode and st.import_log().empty


def test_missing_repeat_count_column_is_stored_as_na(st: Store) -> None:
    counts = make_counts(AREAS, MONTHS).drop(columns=[REPEAT_COUNT])
    st.commit_import("DA 2019", make_result(counts))
    assert st.counts("DA 2019")[REPEAT_COUNT].isna().all()


# ---------------------------------------------------------------- atomicity
def _snapshot(s: Store) -> tuple:
    return (s.datasets().drop(columns="created_at").to_json(), s.counts("DA 2019").to_json(),
            s.import_log().drop(columns="imported_at").to_json(), len(s.events()))


@pytest.mark.parametrize("step", ["_find_duplicates", "_insert_counts", "_insert_import", "_log"])
def test_failure_mid_commit_leaves_store_unchanged(st: Store, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    st.commit_import("DA 2019", make_result(make_counts(AREAS, MONTHS), sha="1" * 64))
    before = _snapshot(st)
    original = getattr(Store, step)

    def boom(*args, **kwargs):
        original(*args, **kwargs)  # the step's writes happen, then the commit dies
        raise RuntimeError("injected")

    monkeypatch.setattr(Store, step, staticmethod(boom))
    with pytest.raises(RuntimeError, match="injected"):
        st.commit_import("DA 2019", make_result(make_counts(AREAS, ["2019-07"]), sha="2" * 64))
    monkeypatch.undo()
    assert _snapshot(st) == before
    assert sorted(p.name for p in st.path.parent.iterdir()) == ["atlas.duckdb", "atlas.duckdb.lock"]
    # The lock was released and the same file now imports normally.
    assert st.commit_import("DA 2019", make_result(make_counts(AREAS, ["2019-07"]), sha="2" * 64)).rows_added == 5


def test_failure_after_commit_before_rename_leaves_store_unchanged(st: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(st)

    def boom(path: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(cow, "_fsync_file", boom)
    with pytest.raises(OSError, match="disk full"):
        st.commit_import("DA 2019", make_result(make_counts(AREAS, MONTHS)))
    assert _snapshot(st) == before
    assert not list(st.path.parent.glob("*.tmp*"))


def test_stale_temp_copies_from_a_killed_writer_are_removed(st: Store) -> None:
    stale = [st.path.with_name("atlas.duckdb.abc123.tmp"), st.path.with_name("atlas.duckdb.abc123.tmp.wal")]
    for p in stale:
        p.write_bytes(b"junk")
    Store(st.path)  # opening does not need the lock, so nothing is touched yet
    st.create_dataset("next", "set")
    assert not any(p.exists() for p in stale)


# ---------------------------------------------------------------- copy-on-write readers and writers
def test_open_reader_keeps_its_snapshot_across_a_replace(st: Store) -> None:
    st.commit_import("DA 2019", make_result(make_counts(AREAS, MONTHS, seed=5), sha="1" * 64))
    with cow.read_connection(st.path) as old:
        before = old.execute("SELECT sum(count) FROM counts").fetchall()[0][0]
        st.commit_import("DA 2019", make_result(make_counts(AREAS, ["2019-07"], seed=6), sha="2" * 64))
        # The open handle still reads the replaced inode, whole; a new reader sees the new file.
        assert old.execute("SELECT sum(count) FROM counts").fetchall()[0][0] == before
        assert st.dataset("DA 2019")["total_count"] > before


def test_writer_lock_serialises_writers(st: Store) -> None:
    done: list[float] = []

    def write() -> None:
        st.create_dataset("from thread", "set")
        done.append(time.monotonic())

    with cow.writer_lock(st.path):
        t = threading.Thread(target=write)
        t.start()
        time.sleep(0.3)
        assert not done  # blocked on the lock
        released = time.monotonic()
    t.join(5)
    assert done and done[0] >= released
    assert "from thread" in set(st.datasets()["name"])


def test_commit_of_70000_rows_is_fast(st: Store) -> None:
    areas = [f"E01{i:06d}" for i in range(1000)]
    months = [f"{y}-{m:02d}" for y in range(2019, 2025) for m in range(1, 13)][:70]
    counts = make_counts(areas, months, seed=7)
    assert len(counts) == 70_000
    # Best of three commits (into fresh datasets), so a busy shared CI machine does not flake it;
    # ~0.3 s each on an idle 2-core machine.
    times = []
    for k in range(3):
        name = f"big{k}"
        st.create_dataset(name, "set")
        t0 = time.perf_counter()
        out = st.commit_import(name, make_result(counts))
        times.append(time.perf_counter() - t0)
        assert out.rows_added == 70_000
    assert min(times) < 1.0, f"commits took {times}"
    assert st.dataset("big2")["total_count"] == counts[COUNT].sum()


def test_real_ingest_report_is_accepted(st: Store) -> None:
    report_mod = pytest.importorskip("ingest.report")
    counts = make_counts(AREAS, MONTHS)
    rejected = pd.DataFrame({"row_number": [7], "reason": ["unknown area code"], "notes": ["victim name"]})
    report = report_mod.ImportReport(
        file_name="real.csv", sha256="c" * 64, kind="counts", rows_read=16, rows_accepted=15,
        rows_rejected=1, reasons={"unknown area code": 1}, rejected=rejected,
    )
    out = st.commit_import("DA 2019", report_mod.ImportResult(counts, report))
    assert out.status == "imported" and out.rows_added == 15
    stored = json.loads(st.import_log().iloc[0]["report_json"])
    assert stored["kind"] == "counts" and "victim name" not in json.dumps(stored)


def test_package_exports() -> None:
    assert set(store_pkg.__all__) == {"ImportOutcome", "NewDataset", "Store", "default_store_path", "validate_dataset_name"}


def test_threads_reading_while_another_thread_writes(st: Store) -> None:
    errors: list[Exception] = []

    def read() -> None:
        try:
            for _ in range(8):
                assert {"DA 2019"} <= set(st.datasets()["name"])
        except Exception as exc:  # collected: assertion inside a thread would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    threads.append(threading.Thread(target=lambda: [st.create_dataset(f"n{i}", "set") for i in range(4)]))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(st.datasets()) == 5


def test_first_import_creates_its_dataset_in_the_same_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    from store import NewDataset

    s = Store()
    counts = make_counts(AREAS, MONTHS)
    with pytest.raises(StoreError, match="no dataset"):
        s.commit_import("new one", make_result(counts))
    # A failure inside the commit leaves neither dataset nor counts behind.
    monkeypatch.setattr(Store, "_insert_counts", staticmethod(lambda *a: (_ for _ in ()).throw(RuntimeError("boom"))))
    with pytest.raises(RuntimeError):
        s.commit_import("new one", make_result(counts), create=NewDataset("ons2011-ne-medway", description="d"))
    assert s.datasets().empty
    monkeypatch.undo()
    out = s.commit_import("new one", make_result(counts), create=NewDataset("ons2011-ne-medway", synthetic=True))
    assert out.status == "imported"
    info = s.dataset("new one")
    assert info["synthetic"] is True and info["total_count"] == counts["count"].sum()


def test_find_dataset_matches_case_insensitively_and_counts_imports(tmp_path):
    from store import Store

    s = Store(tmp_path / "s.duckdb")
    assert s.find_dataset("Mine") is None
    s.create_dataset("Mine", "ons2011-ne-medway", synthetic=True)
    assert s.find_dataset("mINE") == {"name": "Mine", "boundary_set": "ons2011-ne-medway", "synthetic": True,
                                      "n_imports": 0}
