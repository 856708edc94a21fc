"""Reporting gap (estimate): recorded incidents / expected victims (CSEW prevalence x population) by area."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis import prevalence as pv
from geo.maps import build_choropleth
from geo.schema import AREA_CODE, AREA_NAME, CODE, NAME, AtlasError
from views import _cache
from views._frame import LEVEL_LABELS, MAP_ATTRIBUTION, current_frame, plain

LEVELS = ("lsoa", "ward", "lad")  # the levels expected victims roll up to (atlas.cli_prevalence.LEVELS)
INTERVAL = "interval_95_estimate"
TOP_N = 10
TITLE = "Reporting gap (estimate)"


@st.cache_data(show_spinner="Estimating expected victims…")
def gap_table(key: _cache.StoreKey, dataset: str, level: str, year: str | None, area_filter: str | None,
              category: str | None) -> pd.DataFrame:
    """atlas.cli_prevalence.reporting_gap_for for one selection (the command line's table)."""
    from atlas.cli_prevalence import reporting_gap_for
    from store import Store

    return reporting_gap_for(Store(key[0]), dataset, level, year, area_filter, category)


def fy_of(period: str | None) -> str | None:
    """The financial year a period label belongs to ('2024/25-Q2' -> '2024/25'); None when it has none."""
    if period and len(period) >= 7 and period[4] == "/":
        return period[:7]
    return None


frame = current_frame()
st.header(TITLE)
if frame is None or frame.period is None:
    st.info("This dataset has no counts yet: import a file to see the estimate.")
    st.stop()
if frame.publication:
    # The table shows raw recorded counts per area; publication rules are not defined for it yet.
    st.warning("Publication mode is on: this estimate page shows unsuppressed counts, so it is not available "
               "in publication mode.")
    st.stop()
key = _cache.store_key()
level = frame.level if frame.level in LEVELS else "ward"
if level != frame.level:
    st.caption(f"Expected victims are estimated per LSOA and summed to LSOA, ward or local authority; "
               f"showing wards (the sidebar level, {LEVEL_LABELS[frame.level]}, is not one of these).")
year = fy_of(frame.period)
try:
    table = gap_table(key, frame.dataset, level, year, frame.area_filter, frame.category)
except AtlasError as exc:
    st.error(str(exc))
    st.stop()
year = str(table["period"].iloc[0])
level_label = LEVEL_LABELS[level]
whole = float(table[pv.WHOLE_AREA_RATIO].iloc[0])

st.caption(
    f"Estimate, financial year {year}: recorded incidents divided by the victims expected from the Crime Survey "
    "for England and Wales prevalence (year ending March 2019, women 7.5%, men 3.8%, ages 16–74) applied to "
    "each area's mid-2019 residents aged 16–74. It is an index, not a reporting rate: police count incidents, "
    "the survey counts victims. Lowest ratios suggest where awareness work may reach most. See docs/prevalence.md."
)
c1, c2, c3 = st.columns(3)
c1.metric("Recorded incidents", f"{int(table[pv.RECORDED].sum()):,}")
c2.metric("Expected victims (estimate)", f"{table[pv.EXPECTED].sum():,.0f}")
c3.metric("Recorded per expected, whole area (estimate)", f"{whole:.2f}")

shown = table.assign(**{
    CODE: table[AREA_CODE], NAME: table[AREA_NAME],
    INTERVAL: (table[pv.RATIO_LOWER].map("{:.2f}".format) + " – " + table[pv.RATIO_UPPER].map("{:.2f}".format))
    .where(table[pv.RATIO].notna(), "no estimate"),
    "expected_shown": table[pv.EXPECTED].map("{:.1f}".format).where(table[pv.EXPECTED].notna(), "no estimate"),
})
try:
    areas = _cache.display_areas(key, frame.selection) if level == frame.level else _cache.map_areas(
        level, frame.boundary_set, tuple(sorted(table["lad_code"].dropna().astype(str).unique())))
except AtlasError as exc:
    st.error(str(exc))
    st.stop()
legend_title = f"Recorded per expected victim (estimate), {year}"
fmap = build_choropleth(
    areas, shown, pv.RATIO, [NAME, CODE, pv.RECORDED, "expected_shown", pv.RATIO, INTERVAL],
    aliases=[level_label, "Code", "Recorded incidents", "Expected victims (estimate)",
             "Recorded per expected (estimate)", "95% interval (estimate)"],
    palette="Blues", legend_title=legend_title, attribution=MAP_ATTRIBUTION,
    legend_note="Estimate: CSEW prevalence x population; lighter = fewer recorded per expected victim.",
)
st_folium(fmap.base, key="reporting-gap-map", feature_group_to_add=fmap.layer, height=480,
          use_container_width=True, returned_objects=[])
st.caption(f"Legend: {legend_title}. Estimate; hover an area for its recorded incidents, expected victims and "
           "the 95% interval of the ratio (chance in the recorded count only: the survey rates used have no "
           "published interval).")

low = pv.lowest_ratio(table, TOP_N)
st.subheader(f"{len(low)} areas with the lowest recorded per expected (estimate)")
st.dataframe(pd.DataFrame({
    level_label: low[AREA_NAME].astype(str).to_numpy(),  # table cells are plain text: no markdown escaping
    "Code": low[AREA_CODE],
    "Recorded incidents": low[pv.RECORDED].astype("int64"),
    "Expected victims (estimate)": low[pv.EXPECTED].round(1),
    "Recorded per expected (estimate)": low[pv.RATIO].round(3),
    "Lower 95% (estimate)": low[pv.RATIO_LOWER].round(3),
    "Upper 95% (estimate)": low[pv.RATIO_UPPER].round(3),
    "Upper limit below whole area (estimate)": low[pv.UPPER_BELOW_WHOLE].map({True: "yes", False: "no"}).fillna("–"),
}), hide_index=True)
n_below = int(table[pv.UPPER_BELOW_WHOLE].fillna(False).sum())
st.caption(f"Estimate: {n_below} of {len(table)} areas have their whole 95% interval below the whole-area "
           f"ratio ({whole:.2f}). Areas with many students or care-home residents can look low because the "
           "survey covers only people in households.")
for note in table.attrs.get("notes", []):
    st.caption(plain(note))
