"""Hotspot Atlas entry point: a router (st.navigation) plus the shared frame. Run: streamlit run app.py"""

from __future__ import annotations

import streamlit as st

from geo.offline_assets import missing_static_files
from geo.schema import AtlasError
from pages import _cache
from pages._frame import render_attribution, render_frame

st.set_page_config(page_title="Hotspot Atlas", page_icon="🗺️", layout="wide")

missing = missing_static_files()
if missing:  # without them every map stays blank offline, so say so up front
    st.error(f"Map assets are missing from static/: {', '.join(missing)}. Run scripts/vendor_leaflet.sh.")

# First start: make sure there is something to look at. A failure here must not hide the
# user's own datasets, so it is reported and the app carries on.
try:
    _cache.ensure_demo(_cache.store_key()[0])
except AtlasError as exc:
    st.error(f"Could not prepare the synthetic demo dataset: {exc}")

page = st.navigation([st.Page("pages/map.py", title="Map", icon="🗺️", default=True)])
st.sidebar.title("Hotspot Atlas")
render_frame()
page.run()
render_attribution()
