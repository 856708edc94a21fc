"""Map page: choropleth of incident counts for the chosen level and financial year."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo.maps import build_choropleth
from geo.schema import CODE, COUNT, NAME, AtlasError
from pages import _cache
from pages._frame import LEVEL_LABELS, MAP_ATTRIBUTION, current_frame

frame = current_frame()
st.header("Incident map")
if frame is None or frame.period is None:
    st.info("This dataset has no counts yet: import a file to see the map.")
    st.stop()

level_label = LEVEL_LABELS[frame.level]
try:
    key = _cache.store_key()
    selection_key = (key, frame.dataset, frame.boundary_set, frame.level, frame.grain)
    values = _cache.area_counts(*selection_key, frame.period)
    areas = _cache.map_areas(frame.level, frame.boundary_set, _cache.coverage(*selection_key))
    excluded = _cache.excluded_incidents(*selection_key)
except AtlasError as exc:  # e.g. counts stored at a coarser level than the one chosen
    st.error(str(exc))
    st.stop()

if values.empty:
    st.info(f"No {level_label.lower()} areas to map for this dataset.")
    st.stop()

total = int(values[COUNT].sum())
c1, c2, c3 = st.columns(3)
c1.metric("Areas", f"{len(values):,}")
c2.metric("Incidents", f"{total:,}")
c3.metric("Financial year", frame.period)
st.caption(
    f"{len(values):,} {level_label.lower()} areas, {total:,} incidents in {frame.period} "
    f"(financial year April to March). Colours are quantile classes of the count; "
    "hover an area for its name, code and count, click it to select it."
)

if excluded:
    st.warning(
        f"{excluded:,} incidents cannot be shown at {level_label.lower()} level "
        "(stored at a coarser level, or outside the boundary lookups)."
    )

fmap = build_choropleth(
    areas,
    values,
    COUNT,
    tooltip_cols=[NAME, CODE, COUNT],
    aliases=[level_label, "Code", "Incidents"],
    legend_title=f"Incidents {frame.period}",
    attribution=MAP_ATTRIBUTION,
)
# Click-only return values: panning and zooming then do not rerun the script.
clicked = st_folium(
    fmap,
    key=f"map-{frame.dataset}-{frame.level}-{frame.period}",
    height=560,
    use_container_width=True,
    returned_objects=["last_object_clicked_tooltip"],
)
selection = (clicked or {}).get("last_object_clicked_tooltip")
if selection:
    st.caption(f"Selected: {' '.join(str(selection).split())}")
