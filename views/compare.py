"""Compare localities: chosen areas side by side, their rates over time, a funnel plot and a three-year table."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from analysis.periods import can_convert
from geo.schema import AREA_CODE, AREA_NAME, COUNT, PERIOD, POPULATION, RATE_PER_1000, AtlasError
from views import _cache
from atlas.safe_output import csv_bytes
from views._frame import DENOMINATOR_LABELS, LEVEL_LABELS, current_frame, publication_note

AREAS_KEY = "compare_areas"
DEFAULT_CHOSEN = 4
MAX_CHOSEN = 8
# Side-by-side table: source column -> heading (the page only picks and renames columns).
SIDE_BY_SIDE = {
    AREA_NAME: "Area", AREA_CODE: "Code", COUNT: "Incidents", RATE_PER_1000: "Rate per 1,000",
    "rate_lower_95": "95% lower", "rate_upper_95": "95% upper", "compared_to_whole_area": "Compared with whole area",
    "incident_share": "Share of incidents", "population_share": "Share of population", "repeat_share": "Repeat share",
}

frame = current_frame()
st.header("Compare localities")
if frame is None or frame.period is None:
    st.info("Nothing to compare yet: choose a dataset with counts in the sidebar, or import a file on the Data page.")
    st.stop()

level = LEVEL_LABELS[frame.level].lower()
key, sel = _cache.store_key(), frame.selection
try:
    table = _cache.locality_rates(key, sel, frame.publication)
    seed = _cache.seed_table_for(key, sel, frame.period, frame.publication)
except AtlasError as exc:  # e.g. a level the data cannot be shown at, or too few financial years
    st.error(str(exc))
    st.stop()
now = table[table[PERIOD] == frame.period]

# Options are codes (names can repeat across authorities); the default is the highest rates this period.
names = dict(zip(now[AREA_CODE], now[AREA_NAME]))
dupes = now[AREA_NAME].duplicated(keep=False)
labels = {c: f"{n} ({c})" if d else n for c, n, d in zip(now[AREA_CODE], now[AREA_NAME], dupes)}
ranked = now.sort_values([RATE_PER_1000, AREA_CODE], ascending=[False, True], na_position="last")[AREA_CODE].tolist()
previous = st.session_state.get(AREAS_KEY)
kept = [c for c in previous or [] if c in names]  # a level or area filter change leaves codes of other areas
st.session_state[AREAS_KEY] = kept if kept or previous == [] else ranked[:DEFAULT_CHOSEN]
chosen = st.multiselect(
    f"Areas to compare ({level}, 2–{MAX_CHOSEN})", ranked, key=AREAS_KEY, format_func=labels.get,
    max_selections=MAX_CHOSEN, help="Listed by rate per 1,000 this period, highest first.",
)
if len(chosen) < 2:
    st.info("Pick at least two areas to compare.")
    st.stop()

whole_rate = now["whole_area_rate"].dropna()
st.subheader(f"Side by side, {frame.period}")
side = now.set_index(AREA_CODE).loc[chosen].reset_index()[list(SIDE_BY_SIDE)].rename(columns=SIDE_BY_SIDE)
percent = st.column_config.NumberColumn(format="percent")
st.dataframe(side, hide_index=True, column_config={
    "Rate per 1,000": st.column_config.NumberColumn(format="%.1f"),
    "95% lower": st.column_config.NumberColumn(format="%.1f"),
    "95% upper": st.column_config.NumberColumn(format="%.1f"),
    "Share of incidents": percent, "Share of population": percent, "Repeat share": percent,
})
st.caption(
    (f"Whole area: {whole_rate.iloc[0]:.1f} per 1,000 in {frame.period}. " if not whole_rate.empty else "")
    + "Higher/lower: the area's 95% interval lies wholly above/below the whole-area rate (PHE method); "
    "repeat share is blank where the data has no repeat flag."
)
if frame.publication:
    st.caption(publication_note(now, unit=f"{level} areas"))

st.subheader("Rate per 1,000 over time")
order = list(dict.fromkeys(table[PERIOD]))  # the table is chronological within each area
series = table[table[AREA_CODE].isin(chosen)].assign(Area=lambda t: t[AREA_CODE].map(labels))
whole = table.drop_duplicates(PERIOD).assign(Area="Whole area", **{RATE_PER_1000: lambda t: t["whole_area_rate"]})
lines = pd.concat([series, whole])[[PERIOD, "Area", RATE_PER_1000]]
st.altair_chart(
    alt.Chart(lines).mark_line(point=True).encode(
        x=alt.X(f"{PERIOD}:O", sort=order, title="Period"),
        y=alt.Y(f"{RATE_PER_1000}:Q", title="Rate per 1,000"),
        color=alt.Color("Area:N", sort=[labels[c] for c in chosen] + ["Whole area"]),
        tooltip=["Area", PERIOD, alt.Tooltip(f"{RATE_PER_1000}:Q", format=".1f")],
    ),
    width="stretch",
)

st.subheader(f"Funnel plot, {frame.period}")
points, limits = _cache.funnel_data(key, sel, frame.period, frame.publication)
if limits.empty:
    st.info("No population for these areas, so there is no funnel plot.")
else:
    dots = points.assign(Area=points[AREA_CODE].map(labels), Chosen=points[AREA_CODE].isin(chosen))
    dots = dots[["Area", AREA_CODE, POPULATION, RATE_PER_1000, "Chosen"]]  # only what the chart needs
    long = limits.melt(id_vars=[POPULATION], value_vars=["lower_95", "upper_95", "lower_998", "upper_998"],
                       var_name="limit", value_name="rate")
    long["Limit"] = long["limit"].str.endswith("998").map({True: "99.8%", False: "95%"})
    base_x = alt.X(f"{POPULATION}:Q", title=f"Population ({DENOMINATOR_LABELS[sel.denominator].lower()})",
                   scale=alt.Scale(type="log"))
    funnel = alt.Chart(long).mark_line(color="grey").encode(
        x=base_x, y=alt.Y("rate:Q", title="Rate per 1,000"), detail="limit:N",
        strokeDash=alt.StrokeDash("Limit:N", sort=["95%", "99.8%"]),
    )
    centre = alt.Chart(limits).mark_line(color="black").encode(x=base_x, y="whole_area_rate:Q")
    marks = alt.Chart(dots).mark_circle().encode(
        x=base_x, y=f"{RATE_PER_1000}:Q",
        color=alt.condition("datum.Chosen", alt.value("#d62728"), alt.value("#9e9e9e")),
        size=alt.condition("datum.Chosen", alt.value(90), alt.value(25)),
        tooltip=["Area", alt.Tooltip(f"{RATE_PER_1000}:Q", format=".1f"), alt.Tooltip(f"{POPULATION}:Q", format=",")],
    )
    st.altair_chart(funnel + centre + marks, width="stretch")
    st.caption(
        f"Every {level} of the selection (chosen areas in red) against exact Poisson limits around the "
        "whole-area rate (Spiegelhalter 2005): dashed 99.8%, solid 95%. Points outside the 99.8% limits "
        "differ from the whole area by more than chance alone is likely to explain."
    )

st.subheader("Rate per 1,000 by financial year (all areas, ranked)")
years = seed.attrs.get("periods", [])
st.dataframe(seed, hide_index=True)
mode = "publication" if frame.publication else "unsuppressed"
st.download_button(
    "Download the table (CSV)", csv_bytes(seed),
    file_name=f"rates_by_financial_year_{frame.level}_{'_'.join(y.replace('/', '-') for y in years[-1:])}_{mode}.csv",
    mime="text/csv", key="compare_seed_download",
)
st.caption(
    f"Financial years {', '.join(years)}; % change is from the first to the last year's rate. "
    + ("" if can_convert(frame.grain, "fy") else "Calendar periods do not fit financial years: it ends at the latest. ")
    + ("Publication mode: small counts suppressed in this table and file." if frame.publication
       else "Not suppressed: switch on publication mode before sharing outside the partnership.")
)
notes = list(dict.fromkeys([*table.attrs.get("notes", []), *seed.attrs.get("notes", [])]))
if notes:
    with st.expander("Notes on the data"):
        st.markdown("\n".join(f"- {n}" for n in notes))
