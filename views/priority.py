"""Priority areas: the ranked high-impact list with plain-English reasons, adjustable weights and changes."""

from __future__ import annotations

from dataclasses import asdict, fields

import streamlit as st

from analysis.priority import CHANGE_STATUS, PREVIOUS_RANK, RANK, REASONS, SCORE, SCORE_CHANGE, PriorityWeights
from geo.schema import AREA_CODE, AREA_NAME, COUNT, RATE_PER_1000, AtlasError
from views import _cache
from atlas.safe_output import csv_bytes
from views._frame import LEVEL_LABELS, current_frame, plain, publication_note

WEIGHT_HELP = {
    "rate": "Rate per 1,000 against the whole area (full marks at 3x or more).",
    "volume": "Share of all incidents (the busiest area scores 1).",
    "hotspot": f"How often Gi* marked the area hot recently, with its emerging hot spot category ({_cache.gi_method()}).",
    "trend": "A statistically significant rise on the same period last year.",
    "deprivation": "IMD 2019 score, as a percentile among these areas.",
}
LISTED = {
    RANK: "Rank", AREA_NAME: "Area", AREA_CODE: "Code", SCORE: "Score", REASONS: "Reasons", COUNT: "Incidents",
    RATE_PER_1000: "Rate per 1,000", "rate_ratio": "Rate ratio", CHANGE_STATUS: "Change",
    PREVIOUS_RANK: "Previous rank", SCORE_CHANGE: "Score change",
}
BRIEFING_KEY = "priority_briefing_pdf"
STATUS_LABELS = {"new": "New", "escalating": "Escalating", "easing": "Easing", "steady": "Steady"}

frame = current_frame()
st.header("Priority areas")
if frame is None or frame.period is None:
    st.info("Nothing to rank yet: choose a dataset with counts in the sidebar, or import a file on the Data page.")
    st.stop()

level = LEVEL_LABELS[frame.level].lower()
defaults = asdict(PriorityWeights())
with st.expander("Weights of the score", expanded=True):
    st.caption("Each component scores 0–1; the priority score is their weighted average, so only the ratios matter.")
    cols = st.columns(len(defaults))
    chosen = {f.name: col.slider(f.name.capitalize(), 0.0, 5.0, float(defaults[f.name]), 0.5,
                                 key=f"priority_w_{f.name}", help=WEIGHT_HELP.get(f.name))
              for f, col in zip(fields(PriorityWeights), cols)}
    top_n = st.slider("Areas on the list", 1, 30, 10, key="priority_top",
                      help="Areas ranked this high count as listed, for the new / escalating / easing status.")

key = _cache.store_key()
try:
    weights = PriorityWeights(**chosen)
    table = _cache.priority_ranking(key, frame.selection, frame.period, weights, top_n, frame.publication)
except AtlasError as exc:  # all weights at 0, too few areas, a level the data cannot be shown at
    st.error(str(exc))
    st.stop()

listed = table[table[RANK] <= top_n]
dropped = table[(table[RANK] > top_n) & (table[CHANGE_STATUS] == "easing")]
has_previous = table[CHANGE_STATUS].notna().any()
if has_previous:
    cells = st.columns(len(STATUS_LABELS))
    for cell, (status, label) in zip(cells, STATUS_LABELS.items()):
        n = int((listed[CHANGE_STATUS] == status).sum()) + (len(dropped) if status == "easing" else 0)
        cell.metric(label, n)

st.subheader(f"Top {len(listed)} {level} areas, {frame.period}")
st.dataframe(
    listed[list(LISTED)].rename(columns=LISTED), hide_index=True,
    column_config={
        "Score": st.column_config.NumberColumn(format="%.2f"),
        "Rate per 1,000": st.column_config.NumberColumn(format="%.1f"),
        "Rate ratio": st.column_config.NumberColumn(format="%.2f"),
        "Score change": st.column_config.NumberColumn(format="%+.2f"),
        "Reasons": st.column_config.TextColumn(width="large"),
    },
)
st.caption(
    "Change since the previous period: new = on the list now, not before; escalating / easing = on the list both "
    "times with the score up / down by 0.05 or more (easing also = dropped off the list); steady = otherwise."
    if has_previous else "No earlier period in the data, so there is no change status."
)
if frame.publication:
    st.caption(f"{publication_note(table)} Their reasons and scores are blank too: the reasons quote the rate and "
               "share, and a score is computed from the count (and from last year's, so it is also blank where "
               "that count is hidden). The order of the list is unchanged.")

if not dropped.empty:
    st.subheader("Dropped off the list")
    st.dataframe(dropped[[AREA_NAME, AREA_CODE, RANK, PREVIOUS_RANK]].rename(columns=LISTED), hide_index=True)

mode = "publication" if frame.publication else "unsuppressed"
st.download_button(
    # Area names and reasons come from user files: escape text a spreadsheet would run as a formula.
    "Download the priority table (CSV, all areas)", csv_bytes(table),
    file_name=f"priority_{frame.level}_{str(frame.period).replace('/', '-')}_{mode}.csv",
    mime="text/csv", key="priority_download",
)
st.caption(
    "The file has every area, its component scores and weights, so each score can be checked by hand. "
    + ("Publication mode: small counts are suppressed in it." if frame.publication
       else "Not suppressed: switch on publication mode before sharing outside the partnership.")
)


def _briefing() -> None:
    """One-click briefing pack (atlas.briefing): a multi-page PDF for one local authority, made on request."""
    st.subheader("Briefing pack")
    if frame.level == "lad":
        st.caption("A briefing maps the areas inside one local authority: choose a finer level in the sidebar.")
        return
    lads = _cache.lad_options(key, frame.dataset, frame.boundary_set, frame.level, frame.grain)
    if frame.area_filter:
        lad = frame.area_filter
    elif lads:
        lad = st.selectbox("Local authority of the briefing", list(lads), key="priority_briefing_lad",
                           format_func=lambda c: f"{lads[c]} ({c})")
    else:
        st.caption("No local authority to brief on in this dataset.")
        return
    wanted = (key, frame.selection, lad, frame.period, frame.publication)
    if st.button(f"Make briefing pack (PDF) for {plain(lads.get(lad, lad))}", key="priority_briefing"):
        try:
            st.session_state[BRIEFING_KEY] = (wanted, _cache.briefing_pdf(*wanted))
        except AtlasError as exc:
            st.error(str(exc))
    made = st.session_state.get(BRIEFING_KEY)
    if made and made[0] == wanted:  # never offer the pack of an earlier selection
        st.download_button(
            "Download briefing pack (PDF)", made[1], mime="application/pdf", key="priority_briefing_download",
            on_click="ignore",
            file_name=f"briefing_{lad}_{frame.level}_{str(frame.period).replace('/', '-')}_{mode}.pdf",
        )
    st.caption(
        "Eight A4 pages: headline figures, priority areas, rate and hot spot maps, emerging hot spots, comparison, "
        "trend and method notes, for all categories and all residents. "
        + ("Publication mode: small counts are suppressed in it." if frame.publication
           else "Not suppressed: switch on publication mode before sharing outside the partnership.")
    )


_briefing()

notes = table.attrs.get("notes", [])
if notes:
    with st.expander("Notes on the data"):
        st.markdown("\n".join(f"- {n}" for n in notes))
