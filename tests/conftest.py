"""Shared fixtures: every test gets its own writable ATLAS_HOME and store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from geo.schema import shared_data_dir

# CI (CI=true) runs the property tests on a fixed, derandomised set of examples so a landing never
# depends on luck; local runs keep exploring new examples, and what they find becomes an explicit test.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
# No background warm-up after the test suite's imports (atlas.warm): hundreds of short-lived stores, each
# warmed by a process of its own, would slow every test on two cores. tests/test_warm.py switches it on.
os.environ["ATLAS_WARM"] = "0"


@pytest.fixture(autouse=True)
def atlas_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the store and user boundary registry at a per-test directory."""
    home = tmp_path / "atlas_home"
    home.mkdir()
    monkeypatch.setenv("ATLAS_HOME", str(home))
    monkeypatch.setenv("ATLAS_STORE", str(home / "atlas.duckdb"))
    return home


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the synthetic demo dataset, built once per session: tests copy it or only read it."""
    from demo.dataset import ensure_demo_dataset
    from store import Store

    home = tmp_path_factory.mktemp("demo_store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATLAS_HOME", str(home))
        mp.setenv("ATLAS_STORE", str(home / "atlas.duckdb"))
        ensure_demo_dataset(Store(home / "atlas.duckdb"))
    return home / "atlas.duckdb"


@pytest.fixture(scope="session")
def demo_dataset(demo_store: Path) -> tuple[str, str]:
    """(name, boundary set) of the demo dataset in demo_store."""
    from store import Store

    (name,) = Store(demo_store).datasets()["name"].tolist()
    return str(name), str(Store(demo_store).dataset(name)["boundary_set"])


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """File name -> bytes of every download button an AppTest renders (AppTest keeps no file names)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        seen[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return seen


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data when present; tests needing it skip cleanly otherwise."""
    p = shared_data_dir()
    if p is None:
        pytest.skip("../shared/data is not present")
    return p


@pytest.fixture
def register_lsoa_set(tmp_path: Path):
    """A function (name, lad_codes) -> (GeoPackage path, areas): the shipped LSOAs of those authorities
    written to tmp_path/areas.gpkg and registered as the user boundary set `name`."""
    from boundaries.load import load_areas
    from boundaries.registry import DEFAULT_SET, register_boundary_set

    def register(name: str, lad_codes: list[str]):
        src = tmp_path / "areas.gpkg"
        areas = load_areas("lsoa", DEFAULT_SET, lad_codes=lad_codes)
        areas[["code", "name", "lad_code", "lad_name", "geometry"]].to_file(src, layer="lsoa")
        register_boundary_set(src, name, "lsoa")
        return src, areas

    return register
