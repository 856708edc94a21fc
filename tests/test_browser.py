"""Real browser test: the app in headless Chromium draws the map with no request leaving localhost."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from geo.schema import PROJECT_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not become healthy at {url}")


@pytest.fixture
def server(atlas_home: Path):
    """`streamlit run app.py` on a free port with this test's store; yields its base URL."""
    # CI sets ATLAS_REQUIRE_BROWSER so a missing browser fails there instead of skipping.
    required = bool(os.environ.get("ATLAS_REQUIRE_BROWSER"))
    if not CHROMIUM.exists():
        if required:
            pytest.fail("/usr/bin/chromium is not installed but ATLAS_REQUIRE_BROWSER is set")
        pytest.skip("/usr/bin/chromium is not installed")
    if required:
        import playwright.sync_api  # noqa: F401  (fail, do not skip, in CI)
    pytest.importorskip("playwright.sync_api")
    port = _free_port()
    env = {**os.environ, "ATLAS_HOME": str(atlas_home), "ATLAS_STORE": str(atlas_home / "atlas.duckdb")}
    log = atlas_home / "streamlit.log"  # a file, not a pipe: a full pipe would stall the server
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )
        url = f"http://localhost:{port}"
        try:
            _wait_healthy(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _map_frame(page, timeout_s: float = 90):
    """The st_folium iframe once it has drawn polygons."""
    deadline = time.monotonic() + timeout_s
    errors = page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]')
    while time.monotonic() < deadline:
        if errors.count():  # the app reported a problem: say which, rather than time out
            raise AssertionError(f"the app shows an error: {errors.first.inner_text()}")
        for frame in page.frames:
            if "streamlit_folium" in frame.url and frame.locator("path.leaflet-interactive").count() > 0:
                return frame
        page.wait_for_timeout(500)
    raise AssertionError(f"no st_folium polygons after {timeout_s}s; frames: {[f.url for f in page.frames]}")


def test_map_renders_offline_in_chromium(server: str):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    failed, console_errors, page_errors, requested = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requested.append(r.url))
            page.goto(server, wait_until="domcontentloaded")

            frame = _map_frame(page)
            polygons = frame.locator("path.leaflet-interactive")
            n = polygons.count()
            assert n == 63 + 24  # default view: wards of County Durham and Darlington
            assert polygons.first.is_visible()
            assert frame.locator(".atlas-legend").is_visible()
            page.get_by_text("synthetic demo data").first.wait_for(timeout=10_000)
            # Hover shows the tooltip (name, code, count); a click round-trips to Python.
            target = frame.locator("path.leaflet-interactive").nth(n // 2)
            target.hover(force=True)
            tooltip = frame.locator(".leaflet-tooltip")
            tooltip.wait_for(timeout=10_000)
            assert "Code" in tooltip.inner_text() and "Incidents" in tooltip.inner_text()
            target.click(force=True)
            page.get_by_text("Selected:").first.wait_for(timeout=30_000)
            assert "E05" in page.get_by_text("Selected:").first.inner_text()  # a ward code
            page.wait_for_timeout(1000)  # let late asset requests finish (or fail) before judging
            page.screenshot(path=str(ARTIFACTS / "map_page.png"), full_page=True)
            frame.locator(".folium-map, #map_div").first.screenshot(path=str(ARTIFACTS / "map_only.png"))
        finally:
            browser.close()

    # Leaflet, its CSS and images came from /app/static on the same server.
    assert any(u.endswith("/app/static/leaflet/leaflet.js") for u in requested)
    assert failed == []
    assert console_errors == []
    assert page_errors == []
    foreign = sorted({urlparse(u).netloc for u in requested
                      if urlparse(u).scheme in ("http", "https", "ws", "wss")
                      and urlparse(u).hostname not in LOCAL_HOSTS})
    assert foreign == []
