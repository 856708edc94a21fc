"""Browser benchmark: the Streamlit app in headless Debian Chromium (Playwright), County Durham LSOAs.

Usage: python benchmarks/browser.py [--json FILE] [--repeat N] [--areas N]

Measures (a) cold start to the first Gi* hot spot map (a shared link: /map-explorer?...&measure=gi_bin),
(b) the first page after the server is up,
(c) period and measure changes on the Map explorer, (d) the map payload on the websocket, and, on
its own line, a first start that also generates the demo dataset. Each server gets a fresh temp
ATLAS_STORE; apart from the generation row the demo is built beforehand with `python -m atlas demo`.

With --areas N (e.g. 5000) it measures a large map instead: the England LSOA 2011 set from
../shared/data registered with `atlas boundaries add`, its population with `atlas population add`, and
seeded synthetic monthly counts for the whole local authorities nearest Medway (by the mean of their
LSOA centroids) until N LSOAs are covered; the Map explorer link opens with no area filter, so the
map shows every LSOA of those authorities. The import starts its background warm-up (atlas.warm), which
writes the analysis frame ($ATLAS_HOME/cache/frames) and the display outlines ($ATLAS_HOME/cache/display);
the benchmark waits for it, as a user opens the map after importing, and reports how long it took. Every
repeat starts a fresh server (empty in-memory caches) on the same store and ATLAS_HOME; a last run deletes
the disk caches first (L1c, context). (L2) starts once the first tab's click run (the area profile) has finished.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from unittest import mock
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(ROOT))

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port  # noqa: E402  (one launch recipe)

AREA = "E06000047"  # County Durham: 324 LSOAs
N_AREAS = 324
GI_TITLE = "Gi* hot and cold spots"
# Measure select label -> legend title prefix (views/_cache.MEASURES); cycled for the measure-change row.
MEASURE_CYCLE = ("Rate per 1,000", "Smoothed rate per 1,000 (empirical Bayes)", "LISA cluster (local Moran's I)",
                 "Incidents", GI_TITLE)
POLL_S = 0.02
BIG_SET = "england-lsoa-2011"
BIG_DATASET = "synthetic-large-map"
BIG_ORIGIN_LAD = "E06000035"  # Medway: authorities are taken nearest first from here
BIG_MONTHS = 72
BIG_SEED = 20240101
# In the st_folium iframe: how many of the atlas outline layer's polygons are drawn in view, counted
# after two animation frames (Leaflet's canvas renderer redraws on the next frame). `_parts` holds a
# polygon's projected rings clipped to the view, for SVG and canvas alike: empty = not drawn.
DRAWN_JS = """() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => {
    const areas = window.atlasAreas;
    if (!areas || !areas._map) { resolve(-1); return; }
    let n = 0;
    areas.eachLayer((l) => { if (l._parts && l._parts.length && l.feature.properties._fill) { n += 1; } });
    resolve(n);
})))"""
# The same test in the page, evaluated on every animation frame (no round trip per poll): the legend shows
# `title` and at least `n` polygons are styled and projected. DRAWN_JS confirms it two frames later.
READY_JS = """([title, n]) => {
    const legend = document.querySelector(".atlas-legend");
    if (!legend || !legend.innerText.includes(title) || !legend.getClientRects().length) { return false; }
    const areas = window.atlasAreas;
    if (!areas || !areas._map) { return false; }
    let k = 0;
    areas.eachLayer((l) => { if (l._parts && l._parts.length && l.feature.properties._fill) { k += 1; } });
    return k >= n;
}"""


@dataclass
class Result:
    """One table row: samples in seconds (or bytes), a target and its test."""

    name: str
    samples: list[float]
    target: str
    limit: float | None  # pass when median <= limit (None: context only)
    unit: str = "s"
    strict: bool = False  # pass needs median < limit
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def verdict(self) -> str:
        if self.limit is None:
            return "-"
        ok = self.median < self.limit if self.strict else self.median <= self.limit
        return "PASS" if ok else "FAIL"

    def shown(self) -> str:
        if self.unit == "MB":
            return f"{self.median:.3f} MB"
        spread = f" (min {min(self.samples):.2f}, max {max(self.samples):.2f}, n={len(self.samples)})" \
            if len(self.samples) > 1 else ""
        return f"{self.median:.2f} s{spread}"


class Server:
    """`python -m streamlit run app.py` on a free port with its own store; timestamps its launch."""

    def __init__(self, home: Path) -> None:
        self.home, self.port = home, _free_port()
        self.url = f"http://localhost:{self.port}"
        env = {**os.environ, "ATLAS_HOME": str(home), "ATLAS_STORE": str(home / "atlas.duckdb")}
        self.log = (home / "streamlit.log").open("w")  # a file, not a pipe: a full pipe stalls the server
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atlas", "app", "--server.port", str(self.port),
             "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def wait_healthy(self, timeout: float = 60) -> float:
        """Seconds from launch until /_stcore/health answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {(self.home / 'streamlit.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.t0
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"streamlit did not become healthy at {self.url}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _store(with_demo: bool) -> Path:
    """A fresh temp ATLAS_HOME; with the demo dataset built by the command line when asked."""
    home = Path(tempfile.mkdtemp(prefix="atlas-browser-bench-"))
    if with_demo:
        env = {**os.environ, "ATLAS_HOME": str(home), "ATLAS_STORE": str(home / "atlas.duckdb")}
        subprocess.run([sys.executable, "-m", "atlas", "demo"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    return home


def _check_errors(page) -> None:
    errors = page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]')
    if errors.count():
        raise AssertionError(f"the app shows an error: {errors.first.inner_text()}")


def drawn_polygons(frame) -> int:
    """Polygons of the atlas outline layer drawn in view and styled (SVG or canvas renderer); -1 before the map."""
    return int(frame.evaluate(DRAWN_JS))


def _wait_map(page, title: str, timeout: float = 120, n_areas: int = 1):
    """Wait until an st_folium iframe's legend contains `title` and at least `n_areas` polygons are drawn.

    Renderer-independent: a canvas map (geo.maps.CANVAS_THRESHOLD) has no SVG paths to count. The test
    runs inside the iframe on every animation frame (READY_JS), then DRAWN_JS confirms it two frames
    later, so the clock stops within a frame or two of the draw rather than a Python polling round.
    Returns the frame.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "streamlit_folium" not in frame.url:
                continue
            try:
                wait_s = max(0.05, min(2.0, deadline - time.monotonic()))
                frame.wait_for_function(READY_JS, arg=[title, n_areas], polling="raf", timeout=wait_s * 1000)
                if drawn_polygons(frame) >= n_areas:
                    return frame
            except Exception:  # not yet, or the frame was detached by a rerun: look again
                continue
        _check_errors(page)
        time.sleep(POLL_S)
    raise TimeoutError(f"no map titled {title!r} with {n_areas} polygons drawn after {timeout}s")


def _pick(page, label: str, option: str) -> float:
    """Choose `option` in the selectbox labelled `label` by typing it; returns the clock just before Enter."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).first
    box.locator("input").click()
    page.keyboard.type(option)
    page.locator('[role="listbox"] [role="option"]').filter(has_text=option).first.wait_for(timeout=10_000)
    t = time.perf_counter()
    page.keyboard.press("Enter")
    return t


def _map_url(base: str, dataset: str, measure: str) -> str:
    q = {"dataset": dataset, "level": "lsoa", "area": AREA, "grain": "month", "measure": measure}
    return f"{base}/map-explorer?{urlencode(q)}"


def _dataset_name(home: Path) -> str:
    """The demo dataset's name, as `python -m atlas demo` reports it (idempotent on a built store)."""
    env = {**os.environ, "ATLAS_HOME": str(home), "ATLAS_STORE": str(home / "atlas.duckdb")}
    out = subprocess.run([sys.executable, "-m", "atlas", "demo"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return ast.literal_eval(out.strip().splitlines()[-1].split(": ", 1)[1])


def _track_outlines(page, sizes: list[int]) -> None:
    """Record the size of each outlines file the map fetches over HTTP (views/_cache.outlines_url: /media/*.gz)."""
    def on_response(resp) -> None:
        if "/media/" in resp.url and resp.url.endswith((".json", ".gz")):
            try:
                sizes.append(len(resp.body()))
            except Exception:  # the page went away first
                pass
    page.on("requestfinished", lambda req: on_response(req.response()) if req.response() else None)


def _sizes_with(frames: list[tuple[float, bytes]], marker: bytes) -> list[int]:
    return [len(b) for _, b in frames if marker in b]


def _watched_page(pw):
    """(browser, page, websocket frames as (time, bytes), outline file sizes) for one measured run."""
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    received: list[tuple[float, bytes]] = []

    def on_ws(ws):
        ws.on("framereceived", lambda p: received.append(
            (time.perf_counter(), p if isinstance(p, bytes) else p.encode())))

    page.on("websocket", on_ws)
    outlines: list[int] = []
    _track_outlines(page, outlines)
    return browser, page, received, outlines


def cold_start(pw, dataset: str, results: dict, payload: list) -> None:
    """(a), (c), (d): one fresh server; browser already open, as a user's is."""
    home = _store(with_demo=True)
    browser, page, received, outlines = _watched_page(pw)
    server = Server(home)
    try:
        t_health = server.wait_healthy()
        page.goto(_map_url(server.url, dataset, measure="gi_bin"), wait_until="domcontentloaded")
        gi = _wait_map(page, GI_TITLE, n_areas=N_AREAS)
        t_gi = time.perf_counter() - server.t0
        results.setdefault("a", []).append((t_gi, t_health))
        ngi = drawn_polygons(gi)
        if ngi != N_AREAS:
            raise AssertionError(f"expected {N_AREAS} LSOA polygons, the map has {ngi}")
        page.wait_for_timeout(1000)  # let the rerun's trailing messages arrive
        if not payload:  # (d) from the first cold run: the largest websocket frame carrying the map
            payload.append((max(_sizes_with(received, b"leaflet"), default=0), sum(len(b) for _, b in received),
                            max(outlines, default=0)))

        # (c) period changes on the sidebar select, on the Gi* map (months before the latest).
        period = re.search(r"[?&]period=([^&]+)", page.url)
        latest = period.group(1) if period else None
        if not latest or not re.fullmatch(r"\d{4}-\d{2}", latest):
            raise AssertionError(f"expected a YYYY-MM period in the URL, got {page.url}")
        y, m = map(int, latest.split("-"))

        def step(row: str, label: str, option: str, title: str) -> None:
            t = _pick(page, label, option)
            _wait_map(page, title, n_areas=N_AREAS)
            done = time.perf_counter()
            # Split: until the map's delta arrives on the websocket (server: script rerun, map build) and after
            # it (browser: component iframe loads the HTML, Leaflet draws the polygons).
            arrived = next((ts for ts, b in list(received) if ts >= t and b"leaflet" in b), done)
            results.setdefault(row, []).append(done - t)
            results.setdefault(row + "_server", []).append(arrived - t)

        for i in range(1, 6):
            mm = (y * 12 + m - 1) - i
            target = f"{mm // 12:04d}-{mm % 12 + 1:02d}"
            step("period", "Period", target, f"{GI_TITLE}, {target}")
        # (c) measure changes: each measure once (its first computation for this selection), Gi* last.
        for label in MEASURE_CYCLE:
            step("measure", "Measure", label, f"{label}, ")
        # ... and a second round, now that every measure is cached for this selection.
        for label in MEASURE_CYCLE:
            step("measure_cached", "Measure", label, f"{label}, ")
    finally:
        browser.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


WARM_UP_S: list[float] = []  # seconds from the large import's return until its background warm-up ended


def _big_store(n_target: int) -> tuple[Path, int, list[str]]:
    """A temp ATLAS_HOME with the England LSOA set, its population and synthetic counts for ~n_target LSOAs.

    Local authorities are whole and taken nearest first from Medway (distance between the means of
    their LSOA centroids) until n_target LSOAs are covered. Returns (home, LSOAs covered, LAD codes).
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from geo.schema import shared_data_dir

    shared = shared_data_dir()
    home = Path(tempfile.mkdtemp(prefix="atlas-browser-big-"))
    env = {**os.environ, "ATLAS_HOME": str(home), "ATLAS_STORE": str(home / "atlas.duckdb")}

    def atlas(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "atlas", *args], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)

    lsoa_file = shared / "boundaries" / "england_lsoa_2011.parquet"
    atlas("boundaries", "add", str(lsoa_file), "--name", BIG_SET, "--level", "lsoa")
    pop = pd.read_csv(shared / "population" / "lsoa_population.csv").rename(columns={"lsoa_code": "code"})
    pop.to_csv(home / "population.csv", index=False)
    atlas("population", "add", str(home / "population.csv"), "--boundaries", BIG_SET)

    areas = gpd.read_parquet(lsoa_file, columns=["code", "lad_code", "geometry"])
    cent = areas.geometry.centroid
    lad = pd.DataFrame({"lad": areas["lad_code"], "x": cent.x, "y": cent.y}).groupby("lad").agg(
        x=("x", "mean"), y=("y", "mean"), n=("x", "size"))
    o = lad.loc[BIG_ORIGIN_LAD]
    lad["d"] = np.hypot(lad["x"] - o["x"], lad["y"] - o["y"])
    lad = lad.sort_values(["d", "n"], kind="stable")
    take = int(np.searchsorted(lad["n"].cumsum().to_numpy(), n_target) + 1)
    lads = lad.index[:take].tolist()
    chosen = areas[areas["lad_code"].isin(lads)].reset_index(drop=True)
    # Seeded Poisson counts: a smooth surface (two bumps) with a seasonal cycle, so maps have classes.
    rng = np.random.default_rng(BIG_SEED)
    x = chosen.geometry.centroid.x.to_numpy()
    y = chosen.geometry.centroid.y.to_numpy()
    x, y = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
    surface = 1.0 + 3.0 * np.exp(-((x - 0.8) ** 2 + (y + 0.3) ** 2)) + 2.0 * np.exp(-((x + 1) ** 2 + (y - 0.5) ** 2) * 2)
    months = pd.period_range("2019-04", periods=BIG_MONTHS, freq="M")
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(BIG_MONTHS) / 12)
    counts = rng.poisson(np.outer(surface, season))
    pd.DataFrame({"area_code": np.repeat(chosen["code"].to_numpy(), BIG_MONTHS),
                  "period": np.tile(months.astype(str), len(chosen)),
                  "count": counts.ravel()}).to_csv(home / "counts.csv", index=False)
    atlas("import", str(home / "counts.csv"), "--dataset", BIG_DATASET, "--boundaries", BIG_SET)
    imported = time.perf_counter()
    atlas("demo")  # as for the County Durham rows: the app's first start would otherwise generate it (~2 s)
    # The import started its background warm-up (atlas.warm: frames and outlines on disk); a user opens the
    # map after it, so (L1) does too. How long it took after the import returned is reported.
    with mock.patch.dict(os.environ, env):  # atlas.warm finds its markers under $ATLAS_HOME
        from atlas.warm import wait_for_warm_up

        if not wait_for_warm_up(timeout=300):
            raise RuntimeError("the import's background warm-up did not finish in 300 s")
    WARM_UP_S.append(time.perf_counter() - imported)
    return home, len(chosen), lads


def large_map(pw, home: Path, n_areas: int, results: dict, payload: list) -> None:
    """(L) one fresh server on the large store: first draw, a second draw in a new tab, period changes."""
    browser, page, received, outlines = _watched_page(pw)
    server = Server(home)
    q = urlencode({"dataset": BIG_DATASET, "level": "lsoa", "grain": "month", "measure": "rate"})
    url = f"{server.url}/map-explorer?{q}"
    title = "Rate per 1,000"
    try:
        server.wait_healthy()
        t = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        frame = _wait_map(page, title, timeout=300, n_areas=n_areas)
        done = time.perf_counter()
        results.setdefault("first", []).append(done - t)
        results.setdefault("first_server", []).append(
            next((ts for ts, b in list(received) if ts >= t and b"leaflet" in b), done) - t)
        if drawn_polygons(frame) != n_areas:
            raise AssertionError(f"expected {n_areas} polygons drawn, the map has {drawn_polygons(frame)}")
        page.wait_for_timeout(1000)
        if not payload:
            payload.append((max(_sizes_with(received, b"leaflet"), default=0), max(outlines, default=0)))
            check_hover_and_click(page, frame, n_areas)
            # The click's run (the area profile: every period's rates and Gi*) goes on after its first
            # metrics show; (L2) starts once it is done, so it does not time another session's work.
            _wait_idle(page)
        # Another tab, same server: every table is cached; what is left is the page, the map build and the browser.
        other = browser.new_page(viewport={"width": 1400, "height": 1400})
        seen: list[tuple[float, bytes]] = []
        other.on("websocket", lambda ws: ws.on("framereceived", lambda p: seen.append(
            (time.perf_counter(), p if isinstance(p, bytes) else p.encode()))))
        t = time.perf_counter()
        other.goto(url, wait_until="domcontentloaded")
        _wait_map(other, title, timeout=120, n_areas=n_areas)
        done = time.perf_counter()
        results.setdefault("second", []).append(done - t)
        results.setdefault("second_server", []).append(
            next((ts for ts, b in list(seen) if b"leaflet" in b), done) - t)
        other.close()

        period = re.search(r"[?&]period=([^&]+)", page.url)
        latest = period.group(1) if period else None
        if not latest or not re.fullmatch(r"\d{4}-\d{2}", latest):
            raise AssertionError(f"expected a YYYY-MM period in the URL, got {page.url}")
        y, m = map(int, latest.split("-"))
        for i in range(1, 6):
            mm = (y * 12 + m - 1) - i
            target = f"{mm // 12:04d}-{mm % 12 + 1:02d}"
            t = _pick(page, "Period", target)
            _wait_map(page, f"{title}, {target}", n_areas=n_areas)
            done = time.perf_counter()
            arrived = next((ts for ts, b in list(received) if ts >= t and b"leaflet" in b), done)
            results.setdefault("period", []).append(done - t)
            results.setdefault("period_server", []).append(arrived - t)
            sizes = [len(b) for ts, b in list(received) if ts >= t and b"leaflet" in b]
            results.setdefault("period_bytes", []).append(max(sizes, default=0))
    finally:
        browser.close()
        server.stop()


def _wait_idle(page, timeout: float = 180) -> None:
    """Wait until the page's script run is over (Streamlit's "Running" status widget gone)."""
    running = page.locator('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]')
    deadline = time.monotonic() + timeout
    page.wait_for_timeout(200)
    while running.count() and time.monotonic() < deadline:
        time.sleep(0.1)
    page.wait_for_timeout(500)


def check_hover_and_click(page, frame, n_areas: int) -> None:
    """Hovering an area shows its tooltip, clicking opens its profile; above CANVAS_THRESHOLD on the canvas (no SVG paths)."""
    from geo.maps import CANVAS_THRESHOLD

    x, y, renderer = frame.evaluate("""() => {
        const areas = window.atlasAreas, map = areas._map, layer = areas.getLayers()[Math.floor(areas.getLayers().length / 2)];
        const p = map.latLngToContainerPoint(layer.getCenter());
        return [p.x, p.y, layer._renderer instanceof L.Canvas ? "canvas" : "svg"];
    }""")
    if renderer != ("canvas" if n_areas > CANVAS_THRESHOLD else "svg"):
        raise AssertionError(f"unexpected renderer for {n_areas} areas: {renderer}")
    box = frame.locator(".leaflet-container").first
    box.hover(position={"x": x, "y": y})
    tooltip = frame.locator(".leaflet-tooltip")
    tooltip.wait_for(timeout=10_000)
    if "Incidents" not in tooltip.inner_text():
        raise AssertionError(f"unexpected tooltip: {tooltip.inner_text()}")
    box.click(position={"x": x, "y": y})
    page.get_by_text("Rank by rate").first.wait_for(timeout=60_000)


def run_large(repeat: int, n_target: int) -> tuple[list[Result], str] | None:
    """The --areas run; None (with a message) when ../shared/data is absent."""
    from playwright.sync_api import sync_playwright

    from geo.schema import shared_data_dir

    shared = shared_data_dir()
    if shared is None or not (shared / "boundaries" / "england_lsoa_2011.parquet").is_file() \
            or not (shared / "population" / "lsoa_population.csv").is_file():
        print("skipped: --areas needs ../shared/data (boundaries/england_lsoa_2011.parquet and "
              "population/lsoa_population.csv; or set ATLAS_SHARED_DATA)", file=sys.stderr)
        return None
    t = time.perf_counter()
    home, n_areas, lads = _big_store(n_target)
    built = time.perf_counter() - t
    raw: dict = {}
    payload: list = []
    try:
        with sync_playwright() as pw:
            for _ in range(repeat):
                large_map(pw, home, n_areas, raw, payload)
            # Context: a first visit that finds no disk caches at all (the warm-up switched off or not done).
            cold: dict = {}
            shutil.rmtree(home / "cache", ignore_errors=True)
            large_map(pw, home, n_areas, cold, [(0, 0)])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    what = (f"{n_areas:,} LSOAs of {len(lads)} whole local authorities nearest {BIG_ORIGIN_LAD} (Medway): "
            f"{', '.join(lads)}; synthetic Poisson counts, {BIG_MONTHS} months, seed {BIG_SEED}; "
            f"store built in {built:.0f} s (not timed)")
    rows = [
        Result(f"(L1) first visit after the import (new server) -> rate map drawn ({n_areas:,} polygons)",
               raw["first"], "<= 3 s", 3.0,
               notes=["a fresh server process, so every in-memory cache is empty; the first script run reads the "
                      "analysis frame and outlines that the import's background warm-up (atlas.warm) wrote to disk, "
                      f"{WARM_UP_S[0]:.1f} s after the import returned (while `atlas demo` ran); samples in run order "
                      f"{', '.join(f'{x:.2f}' for x in raw['first'])} s", _split(raw, "first")]),
        Result("(L1c) first visit with no disk caches (warm-up off or not finished)", cold["first"], "context", None,
               notes=["builds the analysis frame and simplifies the outlines in the first script run", _split(cold, "first")]),
        Result("(L2) new tab, same server (tables cached) -> map drawn", raw["second"], "<= 3 s", 3.0,
               notes=["the page's own start (Streamlit's frontend, the sidebar) included", _split(raw, "second")]),
        Result("(L3) change period (sidebar select), map re-drawn", raw["period"], "<= 1 s", 1.0,
               notes=[_split(raw, "period"),
                      f"largest map frame per change median {statistics.median(raw['period_bytes']) / 1e6:.3f} MB"]),
        Result("(L4) map payload: largest websocket frame with the map + outlines file", [sum(payload[0]) / 1e6],
               "context", None, unit="MB",
               notes=[f"websocket frame {payload[0][0] / 1e6:.3f} MB (sent on every rerun), outlines file "
                      f"{payload[0][1] / 1e6:.3f} MB (HTTP, fetched once per selection and tab)"]),
    ]
    return rows, what


def first_page(pw, with_demo: bool) -> tuple[float, float]:
    """(b) and the generation row: (seconds from launch to healthy, seconds from healthy to Overview metrics)."""
    home = _store(with_demo=with_demo)
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    server = Server(home)
    try:
        t_health = server.wait_healthy()
        t = time.perf_counter()
        page.goto(server.url, wait_until="domcontentloaded")
        metrics = page.locator('[data-testid="stMetric"]')
        deadline = time.monotonic() + 180
        while not (metrics.count() >= 4 and metrics.nth(3).is_visible()):
            if time.monotonic() > deadline:
                raise TimeoutError("Overview metrics did not appear")
            _check_errors(page)
            time.sleep(POLL_S)
        return t_health, time.perf_counter() - t
    finally:
        browser.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def import_time() -> float:
    """Seconds for a bare `import streamlit, geopandas, app deps` in a new interpreter (what a start must pay)."""
    code = ("import time; t=time.perf_counter(); import streamlit, geopandas, folium, streamlit_folium, duckdb, "
            "libpysal, esda; import views._cache, analysis.hotspots, geo.maps; print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    from importlib.metadata import version

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    chromium = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True).stdout.strip()
    libs = "; ".join(f"{p} {version(p)}" for p in ("streamlit", "streamlit-folium", "folium", "playwright"))
    return (f"cpu {cpu}; cores {os.cpu_count()}; memory {mem:.1f} GB; os {platform.platform()}; "
            f"python {platform.python_version()}; {chromium}; {libs}")


def _split(raw: dict, row: str) -> str:
    server = statistics.median(raw[row + "_server"])
    return (f"median {server:.2f} s until the map's websocket frame arrived (server rerun + map build), "
            f"{statistics.median(raw[row]) - server:.2f} s more until drawn (browser)")


def run(repeat: int) -> list[Result]:
    from playwright.sync_api import sync_playwright

    probe = _store(with_demo=True)
    dataset = _dataset_name(probe)
    shutil.rmtree(probe, ignore_errors=True)
    raw: dict = {}
    payload: list = []
    with sync_playwright() as pw:
        for _ in range(repeat):
            cold_start(pw, dataset, raw, payload)
        first = [first_page(pw, with_demo=True) for _ in range(repeat)]
        gen = first_page(pw, with_demo=False)
    imp = import_time()
    a = raw["a"]
    map_bytes, all_bytes, outline_bytes = payload[0]
    rows = [
        Result("(a) cold start: launch -> Gi* LSOA map drawn (324 polygons)", [r[0] for r in a], "<= 5 s", 5.0,
               notes=[f"server healthy after median {statistics.median(r[1] for r in a):.2f} s; the browser opens "
                      "a shared link to the Map explorer with ?measure=gi_bin (first Gi* computation included)",
                      f"import of streamlit + geo stack + app modules in a fresh interpreter: {imp:.2f} s"]),
        Result("(b) first page (Overview metrics) after server up", [b for _, b in first], "< 3 s", 3.0,
               strict=True, notes=[f"server healthy after median {statistics.median(h for h, _ in first):.2f} s"]),
        Result("(c1) change period (sidebar select), Gi* map re-drawn", raw["period"], "< 1 s", 1.0, strict=True,
               notes=[_split(raw, "period")]),
        Result("(c2) change measure, map re-drawn (first time each measure)", raw["measure"], "< 1 s", 1.0,
               strict=True, notes=["order: " + ", ".join(MEASURE_CYCLE), _split(raw, "measure")]),
        Result("(c2') change measure again (all cached)", raw["measure_cached"], "context", None,
               notes=[_split(raw, "measure_cached")]),
        Result("(d) map payload: largest websocket frame with the Gi* map + outlines file",
               [(map_bytes + outline_bytes) / 1e6], "<= 0.6 MB", 0.6, unit="MB",
               notes=[f"websocket frame {map_bytes / 1e6:.3f} MB (sent on every rerun), outlines file "
                      f"{outline_bytes / 1e6:.3f} MB (HTTP, once per selection and tab); all websocket frames "
                      f"of the first page load {all_bytes / 1e6:.3f} MB"]),
        Result("first start with demo generation: healthy -> Overview metrics", [gen[1]], "context", None,
               notes=[f"server healthy after {gen[0]:.2f} s; empty store, the app builds the demo on its first run"]),
    ]
    return rows


def markdown(rows: list[Result]) -> str:
    lines = ["| measurement | median | target | result |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.shown()} | {r.target} | {r.verdict()} |" for r in rows]
    lines += [""] + [f"- **{r.name.split(' ')[0]}** " + "; ".join(r.notes) for r in rows if r.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--repeat", type=int, default=3, help="cold starts / first-page starts (median reported)")
    ap.add_argument("--areas", type=int, metavar="N",
                    help="measure a large map instead: ~N LSOAs from ../shared/data (e.g. 5000)")
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is not installed", file=sys.stderr)
        return 1
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.areas:
        large = run_large(args.repeat, args.areas)
        if large is None:
            return 0
        rows, what = large
        print(f"Hotspot Atlas browser benchmark (large map), {stamp}\nmachine: {machine()}\ndata: {what}\n")
    else:
        rows = run(args.repeat)
        print(f"Hotspot Atlas browser benchmark, {stamp}\nmachine: {machine()}\n"
              f"data: synthetic demo, County Durham ({AREA}) LSOAs, {N_AREAS} areas x 72 months, grain month\n")
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"date": stamp, "machine": machine(), "rows": [
            {**r.__dict__, "median": r.median, "result": r.verdict()} for r in rows]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
