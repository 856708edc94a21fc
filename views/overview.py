"""Overview: headline figures for the selected area and period, the top five areas and a small map."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis.periods import same_period_last_year
from geo.maps import build_choropleth
from geo.schema import AREA_CODE, AREA_NAME, CODE, COUNT, NAME, PERIOD, RATE_PER_1000, AtlasError
from views import _cache
from views._frame import LEVEL_LABELS, MAP_ATTRIBUTION, PUBLICATION_NOTE, current_frame, publish

frame = current_frame()
if frame is None or frame.period is None:
    st.header("Overview")
    st.info("This dataset has no counts yet: import a file on the Data page.")
    st.stop()
key, sel, period = _cache.store_key(), frame.selection, frame.period
lads = _cache.lad_options(key, frame.dataset, frame.boundary_set, frame.level, frame.grain)
where = lads.get(frame.area_filter, frame.area_filter) if frame.area_filter else "All covered authorities"
st.header(f"Overview: {where}, {period}")

try:
    whole = publish(_cache.whole_area(key, sel), frame).set_index(PERIOD)
    periods = list(whole.index)  # chronological, every period of the selection
    ranked = publish(_cache.ranked(key, sel, period), frame)
    areas = _cache.selection_areas(key, sel)
    classes = _cache.map_classes(key, sel, "rate", "quantiles", 5, None)
except AtlasError as exc:
    st.error(str(exc))
    st.stop()


def _change(against: str | None) -> tuple[str, str | None, str]:
    """(metric value, delta, help) for the change from `against` to this period, with its test result."""
    if against is None or against not in periods:
        return "–", None, "No such period in the data."
    row = publish(_cache.whole_area_change(key, sel, period, against), frame, ("count_from", "count_to")).iloc[0]
    if pd.isna(row["pct_change"]):
        return "–", None, f"Compared with {against}: no figure to compare."
    delta = f"{row['count_change']:+,} incidents"
    return f"{row['pct_change']:+.1f}%", delta, f"{against} → {period}: {row['change_label']} (exact Poisson test, 5%)."


i = periods.index(period)
now = whole.loc[period]
previous = _change(periods[i - 1] if i > 0 else None)
last_year = _change(same_period_last_year(period, frame.grain))
rate = now[RATE_PER_1000]
c1, c2, c3, c4 = st.columns(4)
count = pd.to_numeric(pd.Series([now[COUNT]]), errors="coerce").iloc[0]  # text ("<5") in publication mode
c1.metric("Incidents", str(now[COUNT]) if pd.isna(count) else f"{int(count):,}")
c2.metric("Rate per 1,000", "–" if pd.isna(rate) else f"{rate:.2f}",
          help="Residents: " + frame.denominator + "; 95% interval below.")
c3.metric("On previous period", previous[0], previous[1], delta_color="inverse", help=previous[2])
c4.metric("On same period last year", last_year[0], last_year[1], delta_color="inverse", help=last_year[2])
interval = "–" if pd.isna(rate) else f"{now['rate_lower_95']:.2f} – {now['rate_upper_95']:.2f}"
st.caption(
    f"95% interval of the rate: {interval} per 1,000. Change: {previous[2]} Same period last year: {last_year[2]}"
)
if frame.publication:
    st.caption(PUBLICATION_NOTE)

left, right = st.columns([1, 1])
top = ranked.head(5)
table = pd.DataFrame({
    "Rank": top["rank"], LEVEL_LABELS[frame.level]: top[AREA_NAME], "Incidents": top[COUNT].astype("string"),
    "Rate per 1,000": top[RATE_PER_1000].round(2),
    "95% interval": (top["rate_lower_95"].map("{:.2f}".format) + " – "
                     + top["rate_upper_95"].map("{:.2f}".format)).where(top["rate_lower_95"].notna(), "–"),
})
left.markdown(f"**Highest rates, {period}**")
left.dataframe(table, hide_index=True, key="overview_top")

shown = ranked[[AREA_CODE, COUNT, RATE_PER_1000]]
with right:
    fmap = build_choropleth(areas, shown, RATE_PER_1000, [NAME, CODE, COUNT, RATE_PER_1000],
                            aliases=[LEVEL_LABELS[frame.level], "Code", "Incidents", "Rate per 1,000"],
                            classes=classes, legend_title=f"Rate per 1,000, {period}", attribution=MAP_ATTRIBUTION)
    st_folium(fmap, key=f"overview-map-{hash((sel, period, frame.publication))}", height=300,
              use_container_width=True, returned_objects=[])
