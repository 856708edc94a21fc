"""`atlas app`: start the dashboard (`streamlit run app.py`) with the analysis stack imported while it starts.

A first page needs pandas, geopandas, scipy, folium and the analysis services: about 1.5 s of
imports on a 2-core machine, which `streamlit run` would pay when the first browser connects. Here a
thread imports them while Streamlit starts its server and the browser loads the page, so the first
script run finds most of them done. Only modules that never touch Streamlit: a module that declares
Streamlit caches or components must be imported by a script run, once the runtime exists.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence

from geo.schema import PROJECT_ROOT

# In the order a first page needs them.
PRELOAD: tuple[str, ...] = (
    "pandas",
    "geopandas",
    "pyogrio",
    "duckdb",
    "atlas.analyses",
    "analysis.rates",
    "atlas.publication",
    "folium",
    "geo.maps",
)


def _import_all() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (the page that imports it shows the error with its message)
            return


_started: threading.Thread | None = None
_start_lock = threading.Lock()


def preload_in_background() -> threading.Thread:
    """Start, once per process, a daemon thread importing PRELOAD; later calls return that thread.

    `atlas app` calls it before the server starts; app.py calls it on every run, which covers a plain
    `streamlit run app.py`. Python's import lock makes other threads wait for a module, not re-import it.
    """
    global _started
    with _start_lock:
        if _started is None:
            _started = threading.Thread(target=_import_all, name="atlas-preload", daemon=True)
            _started.start()
        return _started


def run_app(streamlit_args: Sequence[str] = ()) -> int:
    """`streamlit run app.py [streamlit_args]` in this process, after starting the preload."""
    from streamlit.web import cli as streamlit_cli

    # Together with the server's start, not once it is up: measured on 2 cores (benchmarks/browser.py,
    # 4 alternating runs) launch -> first page was 5.25 s this way and 5.55 s waiting, 5.7 s with none.
    preload_in_background()
    sys.argv = ["streamlit", "run", str(PROJECT_ROOT / "app.py"), *streamlit_args]
    try:
        streamlit_cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
