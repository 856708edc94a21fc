"""Prepare a dataset's maps before their first visit: analysis frames and display outlines cached on disk.

A map of 5,000 LSOAs needs the selection's analysis frame (~0.3 s) and its simplified outlines (~1.9 s)
before it can draw. Both are cached on disk (atlas.analyses frames, geo.display_cache outlines), keyed by
the dataset's version and the boundary file, so they can be built once, right after the data changes,
instead of by the first visitor: an import into a user boundary set (`atlas import`, the app's Data page)
starts `atlas warm --dataset NAME` as a background process at low priority (``warm_after_import``). The
shipped set needs none (its frames and outlines build in milliseconds and are not cached on disk). A page
opened while it runs waits for it (views._frame). What is warmed is what the map opens on: every
level of the dataset's boundary set, all covered authorities, all categories, all residents, at the
month grain and the app's default grain. The app computes anything not warmed, so a warm-up that is
late, fails or is switched off (``ATLAS_WARM=0``) costs time, never a wrong map.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geo.schema import atlas_home

# The month grain (the Map explorer's monthly view) and views._frame.DEFAULT_GRAIN, in that order.
WARM_GRAINS: tuple[str, ...] = ("month", "fy")
# Outlines are prepared for maps up to this many areas (README: about 5,000 LSOAs draw comfortably); a larger
# selection (all of England's 32,844 LSOAs) is simplified when a map of it is first asked for, if ever.
MAX_WARM_OUTLINES = 10_000
ENV_SWITCH = "ATLAS_WARM"  # "0" / "off" / "false": no background warm-up (the test suite sets it)
LOCK_NAME = "warm.lock"  # held by the running warm-up: one at a time


def enabled() -> bool:
    """False when $ATLAS_WARM is 0, off, false or no."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


def warm_dataset(store: Any, dataset: str, grains: tuple[str, ...] = WARM_GRAINS,
                 progress: Callable[[str], None] | None = None) -> list[str]:
    """Build and cache the frames and outlines of `dataset`'s default map views; returns what was done.

    Each level of the boundary set, at each of `grains` the stored periods convert to: the analysis frame
    (atlas.analyses.load_frame, cached on disk) and, once per level, the outlines of the areas it covers
    (atlas.outlines.selection_outlines) when they are at most MAX_WARM_OUTLINES. A level or grain the data
    cannot give is skipped, not an error.
    """
    from analysis.periods import can_convert
    from atlas.analyses import coded_counts, load_frame
    from atlas.outlines import selection_outlines
    from boundaries.registry import get_boundary_set
    from geo.schema import AREA_CODE, AtlasError

    found = store.find_dataset(dataset)
    if found is None or found["name"] != dataset:
        raise AtlasError(f"no dataset named {dataset!r}")
    boundary_set = found["boundary_set"]
    bs = get_boundary_set(boundary_set)
    if bs.shipped:  # small: its frames and outlines build in milliseconds
        return []
    stored = [g for g, _ in coded_counts(store, dataset).grain_periods()]
    usable = [g for g in grains if any(can_convert(s, g) for s in stored)]
    done: list[str] = []
    for level in bs.levels:
        outlined = False
        for grain in usable:
            t = time.perf_counter()
            try:
                frame = load_frame(store, dataset, level, grain)
                line = f"{level} x {grain}: frame of {len(frame.areas):,} areas"
                if not outlined and len(frame.areas) <= MAX_WARM_OUTLINES:
                    selection_outlines(boundary_set, level, frame.areas[AREA_CODE].unique())
                    outlined = True
                    line += " and their outlines"
                done.append(f"{line} in {time.perf_counter() - t:.1f} s")
            except AtlasError as exc:  # e.g. counts stored at a coarser level than this one
                done.append(f"{level} x {grain}: skipped ({exc})")
            if progress:
                progress(done[-1])
    return done


def warm_dir() -> Path:
    """$ATLAS_HOME/cache/warm: the lock, the log and a marker per warm-up started and not yet finished."""
    return atlas_home() / "cache" / "warm"


def run_locked(work: Callable[[], Any], marker: Path | None = None) -> Any:
    """Run `work` holding warm/warm.lock (one warm-up at a time: a second waits), then remove `marker`."""
    import fcntl

    folder = warm_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with open(folder / LOCK_NAME, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                return work()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def _marker(marker: Path) -> tuple[str, str] | None:
    """(process id or "" while it starts, dataset) of a running warm-up's marker; None when it is not running.

    The marker's first line is the process id (written by the child once Python is up), the second the dataset.
    """
    try:
        pid, _, dataset = marker.read_text().partition("\n")
        age = time.time() - marker.stat().st_mtime
    except OSError:
        return None
    pid = pid.strip()
    if not pid:
        return (pid, dataset.strip()) if age < 30 else None  # its process is starting
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return None  # the process is gone (killed before it could remove its marker)
    except PermissionError:
        pass
    return pid, dataset.strip()


def warming(dataset: str | None = None) -> bool:
    """Whether a warm-up (of `dataset`, or of any dataset) is running; markers of killed ones are removed."""
    folder = warm_dir()
    if not folder.is_dir():
        return False
    found = False
    for marker in folder.glob("*.pending"):
        state = _marker(marker)
        if state is None:
            marker.unlink(missing_ok=True)  # left by a warm-up that was killed
        elif dataset is None or state[1] in ("", dataset):
            found = True
    return found


def wait_for_warm_up(timeout: float = 300, dataset: str | None = None) -> bool:
    """Wait until no warm-up (of `dataset`, or any) is running (True), or `timeout` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while warming(dataset):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def warm_after_import(store: Any, dataset: str, outcome: Any) -> subprocess.Popen | None:
    """start_background_warm when an import (`outcome`: rows_accepted, status) added rows to a dataset of a
    user boundary set; the command line's `atlas import` and the app's Data page both call it."""
    from boundaries.registry import get_boundary_set

    if not enabled() or outcome.status != "imported" or outcome.rows_accepted <= 0:
        return None
    found = store.find_dataset(dataset)
    if found is None or get_boundary_set(found["boundary_set"]).shipped:
        return None
    return start_background_warm(found["name"])


def start_background_warm(dataset: str) -> subprocess.Popen | None:
    """Start `atlas warm --dataset NAME` detached, at low priority, logging to warm/warm.log.

    None when switched off ($ATLAS_WARM=0). A marker file (warm/*.pending) says it is on its way until it
    ends, so wait_for_warm_up also covers the second or so before the child takes the lock.
    """
    if not enabled():
        return None
    import uuid

    folder = warm_dir()
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{uuid.uuid4().hex}.pending"
    marker.write_text(f"\n{dataset}")  # the child puts its process id first, and removes the file when it ends
    with open(folder / "warm.log", "a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "atlas", "warm", "--dataset", dataset, "--marker", str(marker)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, ENV_SWITCH: "0"},  # the warm-up itself never starts another
        )


__all__ = ["MAX_WARM_OUTLINES", "WARM_GRAINS", "enabled", "run_locked", "start_background_warm", "wait_for_warm_up",
           "warm_after_import", "warm_dataset", "warm_dir", "warming"]
