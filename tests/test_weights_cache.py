"""Spatial weights cached on disk: a second process reads them; a changed boundary file gets new ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from atlas import analyses
from boundaries.load import load_areas
from boundaries.registry import register_boundary_set
from geo import weights_cache
from geo.weights import build_weights

ROOT = Path(__file__).resolve().parents[1]


def _same(a, b) -> None:
    assert a.codes == b.codes and a.method == b.method
    assert (a.binary != b.binary).nnz == 0 and (a.row_standardised != b.row_standardised).nnz == 0
    np.testing.assert_array_equal(a.cardinalities, b.cardinalities)


@pytest.mark.parametrize("method", ["queen", "rook", "knn", "distance"])
def test_saved_weights_load_equal_to_the_built_ones(tmp_path, method):
    areas = load_areas("lsoa", lad_codes=["E06000001", "E06000002"])
    built, report = build_weights(areas, method=method)
    weights_cache.save(tmp_path / "w.npz", built, report)
    loaded, loaded_report = weights_cache.load(tmp_path / "w.npz")
    _same(built, loaded)
    assert loaded_report == report and loaded_report.summary() == report.summary()


def test_a_broken_cache_file_is_rebuilt_not_trusted(tmp_path):
    path = weights_cache.cache_path(("k",))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an npz")
    areas = load_areas("lsoa", lad_codes=["E06000001"])
    calls = []

    def build():
        calls.append(1)
        return build_weights(areas)

    w, _ = weights_cache.cached(("k",), build)
    again, _ = weights_cache.cached(("k",), build)
    assert calls == [1] and w.n == len(areas)
    _same(w, again)


def _cached_files() -> set[str]:
    d = weights_cache.cache_dir()
    return {p.name for p in d.glob("*.npz")} if d.exists() else set()


def test_a_second_process_reads_the_weights_the_first_one_built(atlas_home):
    code = ("import sys; from atlas import analyses; from geo import weights_cache; "
            "import unittest.mock as m; "
            "m.patch('atlas.analyses.build_weights', side_effect=SystemExit('rebuilt')).start() "
            "if sys.argv[1] == 'read' else None; "
            "w, r = analyses.area_weights('ons2011-ne-medway', 'ward', ('E06000047',)); print(w.n, r.method_used)")
    env = {**os.environ, "ATLAS_HOME": str(atlas_home), "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-c", code, "build"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert len(_cached_files()) == 1
    second = subprocess.run([sys.executable, "-c", code, "read"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert second.returncode == 0, second.stderr  # build_weights would have exited with "rebuilt"
    assert second.stdout == first.stdout


def test_replacing_the_boundary_file_gives_fresh_weights(tmp_path):
    src = tmp_path / "a.gpkg"
    areas = load_areas("lsoa", lad_codes=["E06000001"])
    areas[["code", "name", "geometry"]].to_file(src, layer="lsoa")
    register_boundary_set(src, "mine", "lsoa")
    analyses._cached_weights.cache_clear()
    one, _ = analyses.area_weights("mine", "lsoa")
    fewer = areas.iloc[:-5]
    fewer[["code", "name", "geometry"]].to_file(src, layer="lsoa", mode="w")
    register_boundary_set(src, "mine", "lsoa", replace=True)
    analyses._cached_weights.cache_clear()
    two, _ = analyses.area_weights("mine", "lsoa")
    assert one.n == len(areas) and two.n == len(areas) - 5
    assert len(_cached_files()) == 2


def test_a_change_to_the_weights_builder_gives_a_new_cache_file(monkeypatch):
    before = weights_cache.cache_path(("k",))
    weights_cache._builder_digest.cache_clear()
    monkeypatch.setattr(weights_cache, "_builder_digest", lambda: "another builder")
    assert weights_cache.cache_path(("k",)) != before
