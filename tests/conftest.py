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


@pytest.fixture(autouse=True)
def atlas_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the store and user boundary registry at a per-test directory."""
    home = tmp_path / "atlas_home"
    home.mkdir()
    monkeypatch.setenv("ATLAS_HOME", str(home))
    monkeypatch.setenv("ATLAS_STORE", str(home / "atlas.duckdb"))
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data when present; tests needing it skip cleanly otherwise."""
    p = shared_data_dir()
    if p is None:
        pytest.skip("../shared/data is not present")
    return p
