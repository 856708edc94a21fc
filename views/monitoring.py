"""Monitoring: XmR statistical process control charts (NHS Making Data Count) of the whole area or one area."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

from atlas.analyses import WHOLE_AREA_CODE
from atlas.briefing import draw_xmr, latest_special
from geo.schema import AREA_CODE, AREA_NAME, PERIOD, AtlasError
from views import _cache
from views._frame import LEVEL_LABELS, current_frame, plain
from views._spc_cache import spc

MEASURES = {"count": "Incidents", "rate": "Rate per 1,000"}

frame = current_frame()
st.header("Monitoring: statistical process control")
if frame is None or frame.period is None:
    st.info("This dataset has no counts yet: import a file on the Data page.")
    st.stop()
key = _cache.store_key()
grains = [g for g in ("month", "quarter") if g in _cache.grain_options(key, frame.dataset)]
if not grains:
    st.info("XmR charts need monthly or quarterly data; this dataset is stored at a coarser grain.")
    st.stop()
c1, c2, c3 = st.columns(3)
grain = c1.radio("Points", grains, index=grains.index(frame.grain) if frame.grain in grains else 0,
                 format_func={"month": "Months", "quarter": "Quarters"}.get, horizontal=True, key="spc_grain")
measure = c2.radio("Measure", list(MEASURES), format_func=MEASURES.get, horizontal=True, key="spc_measure")
target = c3.number_input("Target (optional)", value=None, min_value=0.0, key="spc_target",
                         help="For the assurance reading: a target outside the process limits is consistently "
                              "passed or failed; inside them it is hit and miss.")
try:
    table = spc(key, frame.selection, grain, measure, target, frame.publication)
except AtlasError as exc:
    st.error(str(exc))
    st.stop()

names = dict(zip(table[AREA_CODE], table[AREA_NAME]))
codes = list(names)  # the whole area first
area = st.selectbox("Area", codes, format_func=lambda c: names[c] if c == WHOLE_AREA_CODE else f"{names[c]} ({c})",
                    key="spc_area")
rows = table[table[AREA_CODE] == area].reset_index(drop=True)
first, last = rows.iloc[0], rows.iloc[-1]


def _num(v: object) -> str:
    v = pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0]
    return "–" if pd.isna(v) else f"{v:,.2f}"


m1, m2, m3, m4 = st.columns(4)
m1.metric("Mean", _num(first["mean"]))
m2.metric("Upper process limit", _num(first["upper_limit"]))
m3.metric("Lower process limit", _num(first["lower_limit"]))
m4.metric("Assurance", first["assurance"] if isinstance(first["assurance"], str) else "–",
          help="Against the target, as Making Data Count: set a target to see it.")

fig = Figure(figsize=(10, 3.6))
ax = fig.add_axes((0.07, 0.2, 0.9, 0.7))
draw_xmr(ax, rows, f"{names[area]}: {MEASURES[measure].lower()} per {grain}")
ax.legend(fontsize=8, frameon=False, ncol=3, loc="upper right")
st.pyplot(fig)
st.caption("XmR chart (NHS England's Making Data Count; limits as NHSRplotthedots): mean, process limits at "
           "mean ± 2.66 × the average moving range (ranges above 3.267 × the average screened out), 2-sigma lines "
           "dotted; lower lines below 0 shown at 0. Orange: special cause concern (higher is worse); blue: "
           "improvement; grey: common cause.")
st.markdown(f"**Latest, {plain(last[PERIOD])}:** {plain(last['note']) if isinstance(last['note'], str) else 'not shown'}")
special = rows[rows["special_cause"].fillna(False).astype(bool)]
if not special.empty:
    st.dataframe(special[[PERIOD, "value", "variation", "note"]].rename(columns={
        PERIOD: "Period", "value": MEASURES[measure], "variation": "Variation", "note": "Reading"}),
        hide_index=True, height=200, key="spc_points")

st.subheader(f"{LEVEL_LABELS[frame.level]}s whose latest {grain} is special cause")
flagged = latest_special(table)
if flagged.empty:
    st.caption(f"No {LEVEL_LABELS[frame.level].lower()} has a special cause in its latest {grain}.")
else:
    st.dataframe(flagged[[AREA_NAME, AREA_CODE, PERIOD, "value", "variation", "note"]].rename(columns={
        AREA_NAME: LEVEL_LABELS[frame.level], AREA_CODE: "Code", PERIOD: "Period", "value": MEASURES[measure],
        "variation": "Variation", "note": "Reading"}), hide_index=True, key="spc_latest")
