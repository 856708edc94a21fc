"""Hotspots over time: emerging hot spot categories, Gi* small multiples, and who became or stopped being hot."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from analysis.emerging import BECAME_HOT, COLD_TO_HOT, EHSA_CATEGORIES, HOT_TO_COLD, STOPPED_HOT
from geo.maps import EHSA_COLOURS, build_categorical_map
from geo.schema import AREA_CODE, AREA_NAME, CODE, COUNT, NAME, AtlasError
from views import _cache
from views._frame import LEVEL_LABELS, MAP_ATTRIBUTION, current_frame, publication_note, publish

MULTIPLES = 8  # the last eight periods: two years of quarters, or eight months

frame = current_frame()
st.header("Hotspots over time")
if frame is None or frame.period is None:
    st.info("This dataset has no counts yet: import a file to see hot spots.")
    st.stop()
key, sel, period, level_label = _cache.store_key(), frame.selection, frame.period, LEVEL_LABELS[frame.level]
periods = list(reversed(_cache.period_options(key, frame.dataset, frame.grain)))  # chronological
upto = periods[: periods.index(period) + 1]
if len(upto) < 2:
    st.info(f"{period} is the first period of the data: hot spots over time need at least two periods. "
            "Choose a later period or a finer grain.")
    st.stop()

try:
    ehsa = publish(_cache.emerging(key, sel, period), frame, "emerging")  # `atlas emerging --publication`
    areas = _cache.display_areas(key, sel)
    moves = _cache.transitions(key, sel, period, upto[-2])
    png = _cache.gi_multiples_png(key, sel, tuple(upto[-MULTIPLES:]))
except AtlasError as exc:
    st.error(str(exc))
    st.stop()

st.caption(
    f"Emerging hot spot analysis (space-time Gi* with a Mann-Kendall trend, ArcGIS Pro's categories) over the "
    f"{len(upto)} periods {upto[0]} to {period}, {level_label.lower()} level."
    + (" Fewer than 10 periods: the trend test has little power; a finer grain gives more." if len(upto) < 10 else "")
)
left, right = st.columns([3, 2])
with left:
    fmap = build_categorical_map(
        areas, ehsa, "ehsa_category", EHSA_COLOURS, [NAME, CODE, COUNT, "ehsa_category", "n_hot"],
        aliases=[level_label, "Code", f"Incidents {period}", "Category", "Periods hot"],
        legend_title=f"Emerging hot spots to {period}", attribution=MAP_ATTRIBUTION,
        legend_note=publication_note(ehsa, count_cols=(COUNT, "total_count")) if frame.publication else None,
    )
    st_folium(fmap.base, key="ehsa-map", feature_group_to_add=fmap.layer, height=420,
              use_container_width=True, returned_objects=[])
with right:
    counts = ehsa["ehsa_category"].value_counts().reindex(list(EHSA_CATEGORIES)).dropna().astype(int)
    st.markdown("**Areas by category**")
    st.dataframe(counts.rename_axis("Category").rename("Areas").reset_index(), hide_index=True,
                 key="hotspots_categories")
    patterned = ehsa[ehsa["ehsa_category"] != EHSA_CATEGORIES[0]]
    st.dataframe(
        patterned[[AREA_NAME, "ehsa_category", "n_hot", COUNT]].rename(columns={
            AREA_NAME: level_label, "ehsa_category": "Category", "n_hot": "Periods hot", COUNT: f"Incidents {period}"}),
        hide_index=True, height=220, key="hotspots_patterned",
    )

st.subheader(f"Gi* hot and cold spots, last {len(upto[-MULTIPLES:])} periods")
st.image(png, caption=f"Getis-Ord Gi* on counts, 90/95/99% confidence (ArcGIS colours); {_cache.gi_method()}.")

st.subheader(f"Changes from {upto[-2]} to {period}")
changed = moves[moves["transition"].isin([BECAME_HOT, STOPPED_HOT, COLD_TO_HOT, HOT_TO_COLD])]
c1, c2 = st.columns(2)
c1.metric("Became hot", int(moves["transition"].isin([BECAME_HOT, COLD_TO_HOT]).sum()))
c2.metric("Stopped being hot", int(moves["transition"].isin([STOPPED_HOT, HOT_TO_COLD]).sum()))
if changed.empty:
    st.caption("No area became or stopped being a hot spot.")
else:
    st.dataframe(
        changed[[AREA_CODE, "area_name", "prev_bin", "curr_bin", "transition"]].rename(columns={
            AREA_CODE: "Code", "area_name": level_label, "prev_bin": f"Gi bin {upto[-2]}",
            "curr_bin": f"Gi bin {period}", "transition": "Change"}),
        hide_index=True, key="hotspots_transitions",
    )
