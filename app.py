"""Hotspot Atlas entry point: a router (st.navigation) plus the shared frame. Run: streamlit run app.py"""

from __future__ import annotations

import streamlit as st

from atlas.serve import preload_in_background

preload_in_background()  # first: the heavy imports run beside the sidebar's work (once per process)

from geo.static_assets import missing_static_files
from geo.schema import AtlasError
from views import _cache
from views._access import require_sign_in
from views._frame import render_attribution, render_frame

# An emoji favicon, not a Material icon: the browser fetches a Material favicon from fonts.gstatic.com.
st.set_page_config(page_title="Hotspot Atlas", page_icon="🗺️", layout="wide")
# Before anything reads the store: with sign-in configured, no page or data is reachable without it.
require_sign_in()

missing = missing_static_files()
if missing:  # without them every map stays blank offline, so say so up front
    st.error(f"Map assets are missing from static/: {', '.join(missing)}. Run scripts/vendor_leaflet.sh.")

# First start: make sure there is something to look at. A failure here must not hide the
# user's own datasets, so it is reported and the app carries on.
try:
    _cache.ensure_demo(_cache.store_key()[0])
except AtlasError as exc:
    st.error(f"Could not prepare the synthetic demo dataset: {exc}")

# (file, title, icon, url path) in menu order (Material icons: bundled with Streamlit, so they draw
# offline, where emoji need a system emoji font). The page scripts live in views/, not pages/: Streamlit
# treats a pages/ folder beside the entry script as a legacy multipage folder, which makes every shared
# link (e.g. /compare-localities?level=ward) open with a "Page not found" dialog.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("views/overview.py", "Overview", ":material/dashboard:", "at-a-glance"),
    ("views/map.py", "Map explorer", ":material/map:", "map-explorer"),
    ("views/hotspots.py", "Hotspots over time", ":material/local_fire_department:", "hotspots-over-time"),
    ("views/compare.py", "Compare localities", ":material/compare_arrows:", "compare-localities"),
    ("views/priority.py", "Priority areas", ":material/flag:", "priority-areas"),
    ("views/monitoring.py", "Monitoring (SPC)", ":material/monitoring:", "monitoring"),
    ("views/reporting_gap.py", "Reporting gap (estimate)", ":material/visibility_off:", "reporting-gap"),
    ("views/services.py", "Services and need", ":material/health_and_safety:", "services"),
    ("views/data.py", "Data", ":material/upload_file:", "data-and-imports"),
    ("views/about.py", "About / method", ":material/info:", "about-method"),
)
page = st.navigation([
    st.Page(path, title=title, icon=icon, url_path=url, default=i == 0)
    for i, (path, title, icon, url) in enumerate(PAGES)
])
st.sidebar.title("Hotspot Atlas")
render_frame()
# Before the page runs: a page may end early with st.stop(), and the licence attribution must still show.
render_attribution()
page.run()
