"""Overview: headline figures for the selected area and period, the top five areas and a small map."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.periods import same_period_last_year
from geo.schema import AREA_CODE, AREA_NAME, CODE, COUNT, NAME, PERIOD, RATE_PER_1000, AtlasError
from views import _cache
from views._frame import LEVEL_LABELS, MAP_ATTRIBUTION, current_frame, plain, publication_note, publish

frame = current_frame()
if frame is None or frame.period is None:
    st.header("Overview")
    st.info("This dataset has no counts yet: import a file on the Data page.")
    st.stop()
key, sel, period = _cache.store_key(), frame.selection, frame.period
lads = _cache.lad_options(key, frame.dataset, frame.boundary_set, frame.level, frame.grain)
where = lads.get(frame.area_filter, frame.area_filter) if frame.area_filter else "All covered authorities"
st.header(f"Overview: {plain(where)}, {period}")  # a user boundary set names its authorities

try:
    whole = _cache.published_whole_area(key, sel, frame.publication).set_index(PERIOD)
    periods = list(whole.index)  # chronological, every period of the selection
    # In publication mode ranked on what is shown: areas with a hidden count have no rate, so no rank.
    ranked = _cache.published_ranked(key, sel, period, frame.publication)
except AtlasError as exc:
    st.error(str(exc))
    st.stop()


def _change(against: str | None) -> tuple[str, str | None, str]:
    """(metric value, delta, help) for the change from `against` to this period, with its test result."""
    if against is None or against not in periods:
        return "–", None, "No such period in the data."
    row = publish(_cache.whole_area_change(key, sel, period, against), frame, "compare").iloc[0]
    if frame.publication and (whole.loc[[period, against], COUNT].astype(str) == "*").any():
        return "–", None, f"Compared with {against}: hidden in publication mode (a total that reveals a small count)."
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

left, right = st.columns([1, 1])
# Only areas with incidents and a shown rate: a list of zeros (or of hidden rates) says nothing.
top = ranked[ranked["rank"].notna() & (ranked[RATE_PER_1000] > 0)].head(5)
left.markdown(f"**Highest rates, {period}**")
if top.empty:
    left.info("No area can be ranked: no area has incidents with a rate shown"
              + (" (publication mode hides every count here; try a coarser level or a longer period)."
                 if frame.publication else "."))
else:
    table = pd.DataFrame({
        "Rank": top["rank"], LEVEL_LABELS[frame.level]: top[AREA_NAME], "Incidents": top[COUNT].astype("string"),
        "Rate per 1,000": top[RATE_PER_1000].round(2),
        "95% interval": (top["rate_lower_95"].map("{:.2f}".format) + " – "
                         + top["rate_upper_95"].map("{:.2f}".format)).where(top["rate_lower_95"].notna(), "–"),
    })
    left.dataframe(table, hide_index=True, key="overview_top")
if frame.publication:
    left.caption(publication_note(ranked) + " Ranked on the rates shown: areas with a hidden count are left "
                 "out of the top five.")

# The map last: the figures above are on screen while the map's libraries load on a first visit.
from streamlit_folium import st_folium  # noqa: E402

from geo.maps import build_choropleth  # noqa: E402

shown = ranked[[AREA_CODE, COUNT, RATE_PER_1000]]
try:
    areas = _cache.display_areas(key, sel)
    classes = _cache.map_classes(key, sel, "rate", "quantiles", 5, None, frame.publication)
except AtlasError as exc:
    right.error(str(exc))
    st.stop()
with right:
    fmap = build_choropleth(areas, shown, RATE_PER_1000, [NAME, CODE, COUNT, RATE_PER_1000],
                            aliases=[LEVEL_LABELS[frame.level], "Code", "Incidents", "Rate per 1,000"],
                            classes=classes, legend_title=f"Rate per 1,000, {period}", attribution=MAP_ATTRIBUTION)
    st_folium(fmap.base, key="overview-map", feature_group_to_add=fmap.layer, height=300,
              use_container_width=True, returned_objects=[])
