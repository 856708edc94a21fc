"""atlas.warm: an import into a user boundary set prepares the map's caches in a background process.

The warm-up writes exactly the files the map's first visit reads (the frame on disk, the outlines on
disk), so that visit builds nothing; it skips the shipped set; it can be switched off; its markers say
when it is running, and a marker left by a killed warm-up does not make anyone wait.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from atlas import analyses, warm
from atlas.importing import import_file
from boundaries.load import load_areas
from geo import display_cache
from store import Store

LADS = ["E06000001", "E06000005"]  # Hartlepool, Darlington
SET = "warm-set"
DATASET = "warm test"


@pytest.fixture
def user_counts(tmp_path, register_lsoa_set):
    """A user LSOA set of two authorities, and a counts file covering it for three months."""
    _, areas = register_lsoa_set(SET, LADS)
    codes = areas["code"].astype(str).to_numpy()
    months = ["2023-01", "2023-02", "2023-03"]
    rng = np.random.default_rng(7)
    pd.DataFrame({"area_code": np.repeat(codes, len(months)), "period": np.tile(months, len(codes)),
                  "count": rng.poisson(2.0, len(months) * len(codes))}).to_csv(tmp_path / "counts.csv", index=False)
    return tmp_path / "counts.csv"


def _fresh_process_caches() -> None:
    """What a new server process starts with: no frame, outline or boundary table in memory."""
    from views import _cache

    analyses.frame_cache.clear()
    for fn in (_cache.display_areas, _cache.selection_areas, _cache.areas, _cache.period_rates, _cache._coded,
               _cache.grain_options, _cache.period_options, _cache.lad_options):
        fn.clear()


def test_the_warm_up_writes_what_the_maps_first_visit_reads(user_counts, tmp_path, monkeypatch):
    from views import _cache
    from views._frame import Selection

    monkeypatch.setattr(analyses, "DISK_FRAME_MIN_CELLS", 0)  # this small frame is written too
    import_file(Store(), user_counts, DATASET, boundary_set=SET, rejected_out=tmp_path / "rej.csv")
    done = warm.warm_dataset(Store(), DATASET)
    assert [line.split(":")[0] for line in done] == ["lsoa x month", "lsoa x fy"]
    assert "outlines" in done[0] and "outlines" not in done[1]  # once per level
    assert len(list(display_cache.cache_dir().glob("*.npz"))) == 1
    frames = sorted(p.name for p in analyses.frame_cache_dir().glob("*.npz") if not p.name.startswith("versions-"))
    assert len(frames) == 3 and sum(name.startswith("coded-") for name in frames) == 1  # two frames, the counts

    _fresh_process_caches()
    monkeypatch.setattr(analyses, "_build_frame", lambda *a, **k: pytest.fail("frame rebuilt"))
    monkeypatch.setattr("geo.display_areas.display_areas", lambda *a, **k: pytest.fail("outlines rebuilt"))
    monkeypatch.setattr("store.coded.read_coded_counts", lambda *a, **k: pytest.fail("counts read from the store"))
    sel = Selection(DATASET, SET, "lsoa", "month", None, "total", None)
    key = _cache.store_key()
    # The sidebar: grains, periods, categories and authorities, from the cached counts.
    assert _cache.grain_options(key, DATASET) == ["month", "quarter", "fyquarter", "fy", "year"]
    assert _cache.period_options(key, DATASET, "month") == ["2023-03", "2023-02", "2023-01"]
    assert sorted(_cache.lad_options(key, DATASET, SET, "lsoa", "month")) == LADS
    shown = _cache.display_areas(key, sel)
    rates = _cache.period_rates(key, sel, "2023-03")
    assert len(shown) == len(rates) == len(load_areas("lsoa", SET)) > 0
    assert list(shown.table["code"]) == sorted(rates["area_code"])


def test_the_shipped_set_is_not_warmed(tmp_path):
    from demo.dataset import ensure_demo_dataset

    name = ensure_demo_dataset(Store())
    assert warm.warm_dataset(Store(), name) == []
    assert not display_cache.cache_dir().exists() or not list(display_cache.cache_dir().glob("*.npz"))


def test_an_unknown_dataset_is_a_clear_error():
    from geo.schema import AtlasError

    with pytest.raises(AtlasError, match="no dataset named 'nope'"):
        warm.warm_dataset(Store(), "nope")


def test_atlas_import_starts_the_warm_up_in_the_background(user_counts, atlas_home, monkeypatch):
    """The real command: it returns, a detached `atlas warm` builds the outlines, its marker goes when done."""
    monkeypatch.setenv("ATLAS_WARM", "1")
    out = subprocess.run([sys.executable, "-m", "atlas", "import", str(user_counts), "--dataset", DATASET,
                          "--boundaries", SET], capture_output=True, text=True, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert warm.wait_for_warm_up(timeout=120)
    assert not list(warm.warm_dir().glob("*.pending"))
    log = (warm.warm_dir() / "warm.log").read_text()
    assert "lsoa x month: frame of" in log and f"warmed {DATASET!r}" in log, log
    assert len(list(display_cache.cache_dir().glob("*.npz"))) == 1


def test_switched_off_no_process_is_started(monkeypatch):
    monkeypatch.setenv("ATLAS_WARM", "0")
    assert not warm.enabled()
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("started"))
    assert warm.start_background_warm(DATASET) is None


def test_markers_say_when_a_warm_up_runs_and_a_killed_ones_marker_is_cleared(monkeypatch):
    folder = warm.warm_dir()
    folder.mkdir(parents=True)
    alive = folder / "alive.pending"
    alive.write_text(str(os.getpid()))  # this process: running
    assert not warm.wait_for_warm_up(timeout=0.2)
    alive.unlink()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / "killed.pending").write_text(str(dead.pid))  # ended without removing its marker
    assert warm.wait_for_warm_up(timeout=5)
    assert not (folder / "killed.pending").exists()


def test_run_locked_removes_its_marker_even_when_the_work_fails():
    folder = warm.warm_dir()
    folder.mkdir(parents=True)
    marker = folder / "x.pending"
    marker.write_text(str(os.getpid()))
    with pytest.raises(ZeroDivisionError):
        warm.run_locked(lambda: 1 / 0, marker=marker)
    assert not marker.exists()


def test_outlines_go_to_the_page_gzipped_once_and_byte_identical():
    from views import _cache

    text = '{"key":"k","scale":100000,"ids":["E01"],"shapes":[[[[1,2,3,4]]]]}' * 50
    packed = _cache.gzipped_outlines(text)
    assert gzip.decompress(packed).decode() == text
    assert _cache.gzipped_outlines.__wrapped__(text) == packed  # no timestamp: the same bytes (URL) every time
    assert len(packed) < len(text) / 5


def test_the_grains_warmed_are_the_maps_month_and_the_apps_default():
    from views._frame import DEFAULT_GRAIN

    assert warm.WARM_GRAINS == ("month", DEFAULT_GRAIN)


def test_a_selection_larger_than_a_comfortable_map_gets_no_outlines_ahead(user_counts, tmp_path, monkeypatch):
    monkeypatch.setattr(warm, "MAX_WARM_OUTLINES", 10)
    import_file(Store(), user_counts, DATASET, boundary_set=SET, rejected_out=tmp_path / "rej.csv")
    done = warm.warm_dataset(Store(), DATASET)
    assert done and not any("outlines" in line for line in done)
    assert not display_cache.cache_dir().exists() or not list(display_cache.cache_dir().glob("*.npz"))


def test_an_upload_in_the_app_starts_the_warm_up_for_a_user_set_only(user_counts, monkeypatch):
    """The Data page's import (atlas.uploads.handle_import) warms as `atlas import` does; not for the shipped set,
    not for a file already imported."""
    from atlas.uploads import ImportOptions, handle_import

    monkeypatch.setenv("ATLAS_WARM", "1")
    started: list[str] = []
    monkeypatch.setattr(warm, "start_background_warm", started.append)
    data = user_counts.read_bytes()
    handle_import(data, "counts.csv", ImportOptions(DATASET, boundary_set=SET))
    assert started == [DATASET]
    handle_import(data, "counts.csv", ImportOptions(DATASET))  # the same file again: nothing new to warm
    assert started == [DATASET]
    shipped = pd.read_csv(user_counts).head(30)
    shipped_csv = shipped.to_csv(index=False).encode()
    handle_import(shipped_csv, "shipped.csv", ImportOptions("on the shipped set"))
    assert started == [DATASET]


def test_a_warm_up_is_known_by_its_dataset_and_ends_when_its_process_does():
    folder = warm.warm_dir()
    folder.mkdir(parents=True)
    (folder / "a.pending").write_text(f"{os.getpid()}\nalpha")  # running: this process
    starting = folder / "b.pending"
    starting.write_text("\nbeta")  # its process is starting
    assert warm.warming() and warm.warming("alpha") and warm.warming("beta") and not warm.warming("gamma")
    assert warm.wait_for_warm_up(timeout=0.2, dataset="gamma")
    assert not warm.wait_for_warm_up(timeout=0.2, dataset="alpha")
    old = 60.0
    os.utime(starting, (os.path.getmtime(starting) - old, os.path.getmtime(starting) - old))
    assert not warm.warming("beta") and not starting.exists()  # never started: given up after 30 s


def test_the_sidebar_waits_for_its_datasets_warm_up_only(monkeypatch):
    """views._frame: a running warm-up of the shown dataset is awaited (bounded); another dataset's is not."""
    from views import _frame

    waited: list[tuple] = []
    monkeypatch.setattr(warm, "wait_for_warm_up", lambda timeout, dataset: waited.append((timeout, dataset)))
    folder = warm.warm_dir()
    folder.mkdir(parents=True)
    (folder / "a.pending").write_text(f"{os.getpid()}\nalpha")
    _frame._await_warm_up("beta")
    assert waited == []
    _frame._await_warm_up("alpha")
    assert waited == [(_frame.WARM_WAIT_S, "alpha")] and _frame.WARM_WAIT_S <= 10
