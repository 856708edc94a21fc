"""`python -m atlas app`: the start command routes to Streamlit and preloads only Streamlit-free modules."""

from __future__ import annotations

import subprocess
import sys

from atlas import serve
from geo.schema import PROJECT_ROOT


def test_preload_list_never_touches_streamlit():
    """A module declaring Streamlit caches or components must be imported by a script run (else its
    component is not registered: the map iframe 404s), so the preload imports none of them."""
    code = ("import sys, importlib; from atlas.serve import PRELOAD\n"
            "[importlib.import_module(m) for m in PRELOAD]\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'streamlit_folium', 'views')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "geopandas" in serve.PRELOAD and "scipy.stats" not in serve.PRELOAD  # no page needs it


def test_preload_thread_imports_everything_once(monkeypatch):
    imported = []
    monkeypatch.setattr(serve.importlib, "import_module", imported.append)
    monkeypatch.setattr(serve, "_started", None)
    first = serve.preload_in_background()
    first.join(timeout=10)
    assert serve.preload_in_background() is first  # app.py calls it on every run: one thread per process
    assert imported == list(serve.PRELOAD)


def test_atlas_app_help_and_options_reach_streamlit():
    help_text = subprocess.run([sys.executable, "-m", "atlas", "--help"], cwd=PROJECT_ROOT, capture_output=True,
                               text=True, check=True).stdout
    assert "app" in help_text and "--server.port" in help_text
    # Streamlit's own option parser answers for `atlas app` (here: an option it does not know).
    bad = subprocess.run([sys.executable, "-m", "atlas", "app", "--server.no_such_option", "1"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no_such_option" in (bad.stdout + bad.stderr)
