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
    "folium.plugins",  # streamlit_folium imports it (~0.15 s); the map page's first import is then cheaper
    "geo.maps",
)


def _warm_streamlit() -> None:
    """Streamlit's emoji catalog (a large regex compiled on import, ~0.25 s), which app.py's emoji favicon
    needs on the first run; only once Streamlit is imported (`atlas app`, a script run), never importing it."""
    if "streamlit" in sys.modules:
        try:
            from streamlit import emojis  # noqa: F401
        except Exception:  # noqa: BLE001  (the script run imports it itself)
            pass


def _warm_inspect() -> None:
    """Fill inspect's module-by-file table for every module imported so far (a realpath per module, ~0.25 s).

    A first page's script run looks up its caller's module twice (Streamlit's bare-mode check on the first
    element; declare_component when the map page imports streamlit_folium), and each first lookup resolves
    the file of every loaded module; afterwards only modules imported since are resolved.
    """
    import inspect

    inspect.getmodule(sys._getframe())


def _warm_duckdb() -> None:
    """DuckDB's one-off start in this process (~50 ms at the first connection, then a few ms each): made on an
    in-memory database, so no store is opened or read here."""
    import duckdb

    with duckdb.connect(":memory:") as con:
        con.execute("SELECT 1").fetchall()


def _import_all() -> None:
    _warm_streamlit()  # first: set_page_config needs it before anything else
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (the page that imports it shows the error with its message)
            return
    _warm_inspect()
    try:
        _warm_duckdb()
    except Exception:  # noqa: BLE001  (the store's own open reports a broken DuckDB)
        pass


_started: threading.Thread | None = None
_start_lock = threading.Lock()


def preload_in_background() -> threading.Thread:
    """Start, once per process, a daemon thread importing PRELOAD; later calls return that thread.

    `atlas app` calls it before the server starts; app.py calls it on every run, which covers a plain
    `streamlit run app.py`. Python's import lock makes other threads wait for a module, not re-import it.
    """
    # Imports only, no data: also reading the store and boundary tables here was measured (the 5,000-LSOA
    # map of benchmarks/browser.py, 5 first visits each) to delay the page's start 0.4 s and save its run 0.15 s.
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
    args = list(streamlit_args)
    if not any(a.startswith("--server.fileWatcherType") for a in args):
        # A served dashboard does not rerun on source edits; without watchdog Streamlit polls every app module
        # for each new session (~0.5 s of CPU when a tab opens, beside the page's own start on 2 cores).
        # `atlas app --server.fileWatcherType auto` (or `streamlit run app.py`) watches as before.
        args = ["--server.fileWatcherType", "none", *args]
    sys.argv = ["streamlit", "run", str(PROJECT_ROOT / "app.py"), *args]
    try:
        streamlit_cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
