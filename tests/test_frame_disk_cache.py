"""Analysis frames cached on disk (atlas.analyses, $ATLAS_HOME/cache/frames): a second process of the same
selection reads the frame instead of rebuilding it; the frame read back equals the built one in every field
and dtype, and the services give the same tables; an import into the dataset, a changed population or boundary
file, another selection or another builder gets a new frame, an import into another dataset does not; a broken
file is rebuilt, never trusted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.hotspots import HotspotParams
from atlas import analyses
from atlas.importing import import_file
from boundaries.load import load_areas
from boundaries.population import add_population, population_table
from boundaries.registry import DEFAULT_SET, register_boundary_set
from store import Store

ROOT = Path(__file__).resolve().parents[1]
LADS = ["E06000001", "E06000005"]  # Hartlepool, Darlington
MONTHS = [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)]
SET = "mine"
DATASET = "disk frames"


@pytest.fixture(autouse=True)
def _small_frames_too(monkeypatch):
    """Frames of any size are written here (the real threshold keeps small frames in memory only)."""
    monkeypatch.setattr(analyses, "DISK_FRAME_MIN_CELLS", 0)
    analyses.frame_cache.clear()
    yield
    analyses.frame_cache.clear()


def _files() -> list[Path]:
    """The frame files (not the coded counts and version notes written beside them)."""
    d = analyses.frame_cache_dir()
    return sorted(p for p in d.glob("*.npz") if not p.name.startswith(("coded-", "versions-"))) if d.exists() else []


def _counts_csv(path: Path, seed: int, months: list[str] = MONTHS, repeats: bool = False) -> Path:
    codes = load_areas("lsoa", SET)["code"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    parts = []
    for m in months:
        part = pd.DataFrame({"area_code": codes, "period": m, "category": "A", "count": rng.poisson(2.0, len(codes))})
        if repeats:
            part["repeat_count"] = np.minimum(part["count"], rng.poisson(0.5, len(codes)))
        parts.append(part)
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


@pytest.fixture
def user_set(tmp_path: Path, register_lsoa_set) -> Path:
    _, areas = register_lsoa_set(SET, LADS)
    pop = population_table("lsoa").rename(columns={"code": "code"})
    pop_csv = tmp_path / "pop.csv"
    pop[pop["code"].isin(areas["code"])].to_csv(pop_csv, index=False)
    add_population(pop_csv, SET)
    return pop_csv


@pytest.fixture
def store(tmp_path: Path, user_set: Path) -> Store:
    s = Store()
    import_file(s, _counts_csv(tmp_path / "counts.csv", seed=1), DATASET, boundary_set=SET,
                rejected_out=tmp_path / "rej.csv")
    return s


def _assert_same_frame(a: analyses.AnalysisFrame, b: analyses.AnalysisFrame) -> None:
    pd.testing.assert_frame_equal(a.areas, b.areas, check_exact=True)
    assert list(a.areas.dtypes) == list(b.areas.dtypes)
    if a.population is None:
        assert b.population is None
    else:
        pd.testing.assert_series_equal(a.population, b.population, check_exact=True, check_index_type=True)
        assert a.population.index.name == b.population.index.name and a.population.name == b.population.name
    for name in ("cube", "repeat_cube"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    for name in ("dataset", "boundary_set", "level", "grain", "category", "area_filter", "lad_codes", "denominator",
                 "periods", "notes", "months_covered"):
        assert getattr(a, name) == getattr(b, name), name
        assert type(getattr(a, name)) is type(getattr(b, name)), name
    pd.testing.assert_frame_equal(a.counts, b.counts, check_exact=True)


def _no_build(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("frame rebuilt instead of read from disk")

    monkeypatch.setattr(analyses, "_build_frame", refuse)


@pytest.mark.parametrize("grain, area_filter, denominator", [
    ("month", None, "total"), ("quarter", "E06000005", "total"), ("fy", None, "16plus"),
])
def test_a_frame_read_back_equals_the_built_one(store, monkeypatch, grain, area_filter, denominator):
    built = analyses.load_frame(store, DATASET, "lsoa", grain, area_filter=area_filter, denominator=denominator)
    assert len(_files()) == 1
    analyses.frame_cache.clear()
    with monkeypatch.context() as m:
        _no_build(m)
        read = analyses.load_frame(store, DATASET, "lsoa", grain, area_filter=area_filter, denominator=denominator)
    assert read is not built
    _assert_same_frame(built, read)


def test_repeat_counts_and_partial_periods_survive_the_round_trip(tmp_path, user_set, monkeypatch):
    s = Store()
    import_file(s, _counts_csv(tmp_path / "c.csv", seed=3, months=MONTHS[2:-1], repeats=True), DATASET,
                boundary_set=SET, rejected_out=tmp_path / "rej.csv")
    built = analyses.load_frame(s, DATASET, "lsoa", "quarter")
    assert not np.isnan(built.repeat_cube).all() and built.notes  # partly covered first and last quarters
    analyses.frame_cache.clear()
    with monkeypatch.context() as m:
        _no_build(m)
        read = analyses.load_frame(s, DATASET, "lsoa", "quarter")
    _assert_same_frame(built, read)


def test_services_give_the_same_tables_from_a_frame_read_back(store, monkeypatch):
    params = HotspotParams(permutations=99)

    def tables():
        return [
            analyses.rates_table(store, DATASET, "lsoa", "month"),
            analyses.hotspots_table(store, DATASET, "lsoa", "month", period=MONTHS[-1], params=params),
            analyses.emerging_table(store, DATASET, "lsoa", "month"),
            analyses.priority_table(store, DATASET, "lsoa", "quarter", params=params),
            analyses.seed_rates(store, DATASET, "lsoa"),
        ]

    built = tables()
    analyses.frame_cache.clear()
    with monkeypatch.context() as m:
        _no_build(m)
        read = tables()
    for a, b in zip(built, read):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert a.attrs == b.attrs


def test_a_write_to_the_store_gets_a_new_frame(store, tmp_path):
    one = analyses.load_frame(store, DATASET, "lsoa", "month")
    import_file(store, _counts_csv(tmp_path / "more.csv", seed=2, months=["2024-01"]), DATASET,
                rejected_out=tmp_path / "rej2.csv")
    analyses.frame_cache.clear()
    two = analyses.load_frame(store, DATASET, "lsoa", "month")
    assert len(two.periods) == len(one.periods) + 1 and len(_files()) == 2


def test_an_import_into_another_dataset_keeps_this_ones_frame(store, tmp_path, monkeypatch):
    """The disk key is the dataset's version (Store.dataset_version), not the whole store file's: the warm-up
    after an import (atlas.warm) stays valid when the user imports something else next."""
    built = analyses.load_frame(store, DATASET, "lsoa", "month")
    before = store.dataset_version(DATASET)
    import_file(store, _counts_csv(tmp_path / "other.csv", seed=3), "another dataset", boundary_set=SET,
                rejected_out=tmp_path / "rej3.csv")
    assert store.dataset_version(DATASET) == before
    analyses.frame_cache.clear()
    _no_build(monkeypatch)
    _assert_same_frame(built, analyses.load_frame(store, DATASET, "lsoa", "month"))


def test_the_dataset_version_names_its_imports_and_a_recreated_dataset_differs(store, tmp_path):
    v1 = store.dataset_version(DATASET)
    n_rows = len(pd.read_csv(tmp_path / "counts.csv"))
    assert v1[0] == str(store.path.resolve()) and len(v1[2]) == 1 and v1[2][0][2] == str(n_rows)
    store.delete_dataset(DATASET)
    assert store.dataset_version(DATASET) is None
    import_file(store, tmp_path / "counts.csv", DATASET, boundary_set=SET, rejected_out=tmp_path / "rej4.csv")
    v2 = store.dataset_version(DATASET)
    assert v2 != v1 and v2[2][0][1] == v1[2][0][1]  # the same file (sha256) again: a new import id and time


def test_an_import_while_a_frame_is_built_is_not_written_under_the_old_version(store, tmp_path, monkeypatch):
    real = analyses._build_frame

    def build_while_importing(*args, **kwargs):
        frame = real(*args, **kwargs)
        import_file(store, _counts_csv(tmp_path / "late.csv", seed=5, months=["2024-01"]), DATASET,
                    rejected_out=tmp_path / "rej5.csv")
        return frame

    monkeypatch.setattr(analyses, "_build_frame", build_while_importing)
    analyses.load_frame(store, DATASET, "lsoa", "month")
    assert _files() == []


def test_a_changed_population_file_gets_a_new_frame(store, user_set):
    one = analyses.load_frame(store, DATASET, "lsoa", "month")
    pop = pd.read_csv(user_set, dtype={"code": str})
    pop["population_total"] = pop["population_total"] * 2
    pop.to_csv(user_set, index=False)
    add_population(user_set, SET)
    analyses.frame_cache.clear()
    two = analyses.load_frame(store, DATASET, "lsoa", "month")
    np.testing.assert_array_equal(two.population.to_numpy(), one.population.to_numpy() * 2)


def test_a_replaced_boundary_file_gets_a_new_frame(store, tmp_path):
    one = analyses.load_frame(store, DATASET, "lsoa", "month")
    src = tmp_path / "renamed.gpkg"
    areas = load_areas("lsoa", DEFAULT_SET, lad_codes=LADS)
    areas = areas.assign(name="Renamed " + areas["name"].astype(str))
    areas[["code", "name", "lad_code", "lad_name", "geometry"]].to_file(src, layer="lsoa")
    register_boundary_set(src, SET, "lsoa", replace=True)
    analyses.frame_cache.clear()
    two = analyses.load_frame(store, DATASET, "lsoa", "month")
    assert two.areas["area_name"].str.startswith("Renamed ").all()
    assert not one.areas["area_name"].str.startswith("Renamed ").any()


def test_a_broken_or_foreign_file_is_rebuilt_not_trusted(store):
    built = analyses.load_frame(store, DATASET, "lsoa", "month")
    (path,) = _files()
    path.write_bytes(b"not an npz")
    analyses.frame_cache.clear()
    again = analyses.load_frame(store, DATASET, "lsoa", "month")
    _assert_same_frame(built, again)
    # A whole file written for another key (a digest collision, a copied file) is refused too.
    key = (store.dataset_version(DATASET), DATASET, "lsoa", "quarter", None, "total", None)
    assert analyses._load_disk_frame(path, key) is None


def test_a_change_to_the_frame_builder_gives_a_new_file(monkeypatch, store):
    key = (store.cache_token(), DATASET, "lsoa", "month", None, "total", None)
    before = analyses._disk_frame_path(key)
    monkeypatch.setattr(analyses, "_frame_builder_digest", lambda: "another builder")
    assert analyses._disk_frame_path(key) != before


def test_small_frames_and_shipped_sets_are_not_written(demo_store, demo_dataset, monkeypatch):
    analyses.load_frame(Store(demo_store), demo_dataset[0], "lsoa", "month")  # the shipped set
    assert _files() == []
    monkeypatch.setattr(analyses, "DISK_FRAME_MIN_CELLS", analyses._SMALL_FRAME)


def test_old_files_are_pruned(store, monkeypatch):
    monkeypatch.setattr(analyses, "DISK_FRAME_KEEP", 2)
    for grain in ("month", "quarter", "fy"):
        analyses.load_frame(store, DATASET, "lsoa", grain)
    assert len(_files()) == 2


def test_a_second_process_reads_the_frame_the_first_one_built(store, atlas_home):
    code = ("import sys; from atlas import analyses; from store import Store; import unittest.mock as m; "
            "analyses.DISK_FRAME_MIN_CELLS = 0; "
            "m.patch('atlas.analyses._build_frame', side_effect=SystemExit('rebuilt')).start() "
            "if sys.argv[1] == 'read' else None; "
            f"f = analyses.load_frame(Store(), {DATASET!r}, 'lsoa', 'month'); "
            "print(f.cube.sum(), f.cube.shape, f.population.sum(), f.areas.iloc[-1].tolist())")
    env = {**os.environ, "ATLAS_HOME": str(atlas_home), "PYTHONPATH": str(ROOT)}
    for p in _files():
        p.unlink()
    first = subprocess.run([sys.executable, "-c", code, "build"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert len(_files()) == 1
    second = subprocess.run([sys.executable, "-c", code, "read"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert second.returncode == 0, second.stderr  # _build_frame would have exited with "rebuilt"
    assert second.stdout == first.stdout


def test_imd_scores_are_cached_beside_the_frames_and_follow_the_population(store, user_set, monkeypatch):
    f = analyses.load_frame(store, DATASET, "lsoa", "quarter")
    computed = analyses._compute_imd_by_area(f)
    assert np.isfinite(computed).any()
    first = analyses._imd_by_area(f)
    np.testing.assert_array_equal(first, computed)
    with monkeypatch.context() as m:
        m.setattr(analyses, "_compute_imd_by_area", lambda frame: (_ for _ in ()).throw(AssertionError("recomputed")))
        np.testing.assert_array_equal(analyses._imd_by_area(f), computed)
    before = analyses._imd_disk_path(f)
    pop = pd.read_csv(user_set, dtype={"code": str})
    pop.loc[0, "population_total"] = pop.loc[0, "population_total"] * 3
    pop.to_csv(user_set, index=False)
    add_population(user_set, SET)
    assert analyses._imd_disk_path(f) != before


def test_counts_are_stored_narrow_and_read_back_as_int64():
    for top, kind in ((200, np.uint8), (70_000, np.uint32), (2**40, np.int64)):
        cube = np.array([[0, top], [1, 2]], dtype=np.int64)
        narrow = analyses._narrow_counts(cube)
        assert narrow.dtype == kind
        np.testing.assert_array_equal(narrow.astype(np.int64), cube)
    negative = np.array([[-1, 3]], dtype=np.int64)
    assert analyses._narrow_counts(negative).dtype == np.int64


def test_coded_counts_are_cached_on_disk_and_read_back_equal(store, tmp_path, monkeypatch):
    """The sidebar's read (grains, periods, categories, coverage): from disk in a new process, field for field."""
    import store.coded as coded_module

    _, built = analyses._coded_counts(store, DATASET, None)
    assert len(list(analyses.frame_cache_dir().glob("coded-*.npz"))) == 1
    analyses.frame_cache.clear()
    with monkeypatch.context() as m:
        m.setattr(coded_module, "read_coded_counts", lambda *a: pytest.fail("read from the store"))
        bs_name, read = analyses._coded_counts(store, DATASET, None)
    assert bs_name == SET
    for name in ("area", "level", "period", "grain", "category", "count", "repeat"):
        a, b = getattr(built, name), getattr(read, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert list(built.area_codes) == list(read.area_codes) and read.area_codes.dtype == object
    for name in ("levels", "periods", "grains", "categories"):
        assert getattr(built, name) == getattr(read, name)
    import_file(store, _counts_csv(tmp_path / "more.csv", seed=6, months=["2024-01"]), DATASET,
                rejected_out=tmp_path / "rej6.csv")
    analyses.frame_cache.clear()
    assert "2024-01" in analyses._coded_counts(store, DATASET, None)[1].periods  # a new import: read again


def test_coded_counts_with_repeat_victims_come_back_exactly(tmp_path, user_set):
    s = Store()
    import_file(s, _counts_csv(tmp_path / "rep.csv", seed=8, repeats=True), "with repeats", boundary_set=SET,
                rejected_out=tmp_path / "rej.csv")
    _, built = analyses._coded_counts(s, "with repeats", None)
    assert not np.isnan(built.repeat).all()
    analyses.frame_cache.clear()
    _, read = analyses._coded_counts(s, "with repeats", None)
    assert read is not built
    np.testing.assert_array_equal(read.repeat, built.repeat)
    np.testing.assert_array_equal(read.count, built.count)
    assert read.count.dtype == np.int64 and read.area.dtype == np.int32 and read.repeat.dtype == np.float64


def test_the_dataset_version_is_remembered_per_store_file_version(store, tmp_path, monkeypatch):
    """A second process asks DuckDB nothing to find its frame: the version is noted per store token."""
    analyses.load_frame(store, DATASET, "lsoa", "month")
    analyses.frame_cache.clear()
    with monkeypatch.context() as m:
        m.setattr(Store, "dataset_version", lambda self, name: pytest.fail("asked the store"))
        _no_build(m)
        analyses.load_frame(store, DATASET, "lsoa", "month")
    import_file(store, _counts_csv(tmp_path / "next.csv", seed=9, months=["2024-02"]), DATASET,
                rejected_out=tmp_path / "rej9.csv")  # a new store file: its versions are asked afresh
    analyses.frame_cache.clear()
    assert "2024-02" in analyses.load_frame(store, DATASET, "lsoa", "month").periods
