"""Map explorer: choropleth of a measure for the frame's period, classes fixed across periods, area profile below."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis.hotspots import GI_COLOURS, GI_LABELS, ISOLATED, LISA_COLOURS
from geo.classify import SCHEMES, parse_breaks
from geo.maps import EHSA_COLOURS, PALETTE_LABELS, build_categorical_map, build_choropleth
from geo.schema import (
    AREA_CODE, AREA_NAME, CODE, COUNT, LAD_CODE, LAD_NAME, NAME, PERIOD, RATE_PER_1000, AtlasError,
)
from views import _cache
from atlas.publication import blank_period_statistics
from views._frame import LEVEL_LABELS, MAP_ATTRIBUTION, current_frame, plain, publication_note, publish

COLOURS = {"lisa": LISA_COLOURS, "gi_bin": GI_COLOURS, "ehsa": EHSA_COLOURS}
INTERVAL = "interval_95"
IMAGE_KEY = "map_image"
MEASURE_PARAM = "measure"
DEFAULT_MEASURE = next(iter(_cache.MEASURES))
AREA_LIST_LIMIT = 1000  # above this many areas the profile list is one local authority's at a time

frame = current_frame()
st.header("Map explorer")
if frame is None or frame.period is None:
    st.info("This dataset has no counts yet: import a file to see the map.")
    st.stop()
key, sel, level_label = _cache.store_key(), frame.selection, LEVEL_LABELS[frame.level]

c1, c2, c3, c4 = st.columns([3, 2, 1, 2])
# The measure lives in the URL too (?measure=gi_bin), so a shared link opens that map directly.
asked = st.query_params.get(MEASURE_PARAM)
if "map_measure" not in st.session_state and asked is not None:
    if asked in _cache.MEASURES:
        st.session_state["map_measure"] = asked
    else:
        st.warning(f"The link asked for measure {plain(repr(asked))}, which the map does not have; showing "
                   f"{_cache.MEASURES[DEFAULT_MEASURE].lower()} instead.")
measure = c1.selectbox("Measure", list(_cache.MEASURES), format_func=_cache.MEASURES.get, key="map_measure")
if measure == DEFAULT_MEASURE:  # only what differs from the default, so links stay short
    if MEASURE_PARAM in st.query_params:
        del st.query_params[MEASURE_PARAM]
elif st.query_params.get(MEASURE_PARAM) != measure:
    st.query_params[MEASURE_PARAM] = measure
categorical = measure in _cache.CATEGORICAL_MEASURES
scheme = c2.selectbox("Classes", list(SCHEMES), format_func=SCHEMES.get, key="map_scheme", disabled=categorical)
k = c3.number_input("Number", 2, 7, 5, key="map_k", disabled=categorical or scheme == "fixed")
palette = c4.selectbox("Colours", list(PALETTE_LABELS), format_func=PALETTE_LABELS.get, key="map_palette",
                       disabled=categorical)
breaks = None
if scheme == "fixed" and not categorical:
    text = st.text_input("Upper bounds of the classes, separated by commas", "5, 10, 20, 40", key="map_breaks")
    try:
        breaks = parse_breaks(text)
    except AtlasError as exc:
        st.error(str(exc))
        st.stop()

periods = list(reversed(_cache.period_options(key, frame.dataset, frame.grain)))  # chronological for the slider
st.session_state["map_period"] = frame.period  # the slider follows the sidebar (and other pages)


def _step() -> None:
    """The slider moves the shared period, so every page follows it."""
    st.session_state["frame_period"] = st.session_state["map_period"]


if len(periods) > 1:
    st.select_slider("Step through periods", periods, key="map_period", on_change=_step)
period = frame.period

try:
    base = _cache.period_rates(key, sel, period)
    # Only this period's values (a category map computes just this period); the classes of a numeric
    # measure come from every period (map_classes, cached), so periods share one legend.
    values = _cache.measure_values(key, sel, measure, period)
    areas = _cache.display_areas(key, sel)
    outlines_url = _cache.outlines_url(areas)  # early in the run: the browser may fetch it while the run goes on
    classes = None if categorical else _cache.map_classes(key, sel, measure, scheme, int(k), breaks, frame.publication)
except AtlasError as exc:
    st.error(str(exc))
    st.stop()

now = base[base[PERIOD] == period].merge(values[values[PERIOD] == period].drop(columns=PERIOD), on=AREA_CODE, how="left")
# The command line's `rates` rules on the whole period (secondary suppression needs every area of it);
# a numeric measure is blanked with its count, a hot spot label reveals no count and stays.
now = publish(now, frame, "rates", extra=() if categorical else (_cache.VALUE,))
if frame.publication and measure == "eb_rate":  # it uses every count of the period (atlas.publication)
    blank_period_statistics(now, columns=[_cache.VALUE])
lo, hi = now["rate_lower_95"].map("{:.2f}".format), now["rate_upper_95"].map("{:.2f}".format)
now[INTERVAL] = (lo + " – " + hi).where(now["rate_lower_95"].notna(), "no data")
tips = [NAME, CODE, COUNT, RATE_PER_1000, INTERVAL] + ([_cache.VALUE] if measure in ("eb_rate", *COLOURS) else [])
aliases = [level_label, "Code", "Incidents", "Rate per 1,000", "95% interval"] + (
    [_cache.MEASURES[measure]] if len(tips) > 5 else [])
title = f"{_cache.MEASURES[measure]}, {period}"
# Which inference made the hot spot bins, in the legend itself so an exported map image carries it.
note = " ".join(filter(None, [publication_note(now) if frame.publication else None,
                              f"{_cache.gi_method()}." if measure == "gi_bin" else None])) or None
if categorical:
    fmap = build_categorical_map(areas, now, _cache.VALUE, COLOURS[measure], tips, aliases=aliases,
                                 legend_title=title, attribution=MAP_ATTRIBUTION, legend_note=note,
                                 outlines_url=outlines_url, serve_tips=_cache.tips_url)
else:
    fmap = build_choropleth(areas, now, _cache.VALUE, tips, aliases=aliases, palette=palette, classes=classes,
                            legend_title=title, attribution=MAP_ATTRIBUTION, legend_note=note,
                            outlines_url=outlines_url, serve_tips=_cache.tips_url)
# The legend in words (also what a screen reader gets): each class or category with its number of areas.
if categorical:
    tally = now[_cache.VALUE].value_counts()
    legend = [f"{c}: {tally[c]}" for c in COLOURS[measure] if c in tally.index]
else:
    cls = pd.Series(classes.assign(now[_cache.VALUE])).value_counts()
    legend = [f"{lab}: {cls.get(i, 0)}" for i, lab in enumerate(classes.labels())] + (
        [f"no data: {cls[-1]}"] if -1 in cls.index else [])
st.caption(
    f"Legend ({_cache.MEASURES[measure].lower()}, areas per class): " + "; ".join(legend))
if note:
    st.caption(note)
st.caption(
    f"{len(now):,} areas ({level_label}) in {period}. "
    + ("Categories from the hot spot analysis." if categorical else
       f"{SCHEMES[scheme].split(' (')[0]} classes computed over all {len(periods)} periods, so maps of "
       "different periods share one legend.")
    + " Hover an area for its figures; click it (or pick it below) for its profile."
)


def _download_image() -> None:
    """A 300 dpi PNG of this map (atlas.exports.build_map: same measure, classes and colours), made on request."""
    mode = "publication" if frame.publication else "unsuppressed"
    wanted = (key, sel, measure, period, scheme, int(k), breaks, palette, frame.publication)
    if st.button("Make map image (PNG, 300 dpi)", key="map_image_make"):
        try:
            st.session_state[IMAGE_KEY] = (wanted, _cache.map_png(*wanted))
        except AtlasError as exc:
            st.error(str(exc))
    made = st.session_state.get(IMAGE_KEY)
    if made and made[0] == wanted:  # only the image of what is on screen
        st.download_button(
            "Download map image", made[1], mime="image/png", key="map_image_download", on_click="ignore",
            file_name=f"map_{measure}_{frame.level}_{str(period).replace('/', '-')}_{mode}.png",
        )
        st.caption("For print: A4 landscape, 300 dpi, with legend, scale bar, north arrow, attribution and the "
                   + ("publication mode (counts perturbed; areas with 0–4 incidents hatched)." if frame.publication
                      else "warning that it is unsuppressed."))


# The outlines (fmap.base) are the same for every period and measure of these areas, so st_folium keeps
# its map and only swaps the colours, tooltips and legend (fmap.layer): no reload, pan and zoom kept.
# The outlines themselves travel once, as a file the page fetches (outlines_url), not in every rerun; the
# tooltips of each run are a file too (tips_url), fetched once the colours are drawn.
# Click-only return values: panning and zooming do not rerun the script.
clicked = st_folium(fmap.base, key="map-explorer", feature_group_to_add=fmap.layer, height=520,
                    use_container_width=True, returned_objects=["last_active_drawing"])
drawing = (clicked or {}).get("last_active_drawing") or {}
code = str(drawing.get("id") or drawing.get("properties", {}).get(CODE) or "")
if code and code != st.session_state.get("map_last_click"):
    st.session_state["map_last_click"] = st.session_state["map_area"] = code

_download_image()

names = dict(zip(now[AREA_CODE], now[AREA_NAME]))
if st.session_state.get("map_area") not in names:
    st.session_state["map_area"] = ""
listed = sorted(names, key=names.get)
if len(listed) > AREA_LIST_LIMIT and LAD_CODE in now.columns and now[LAD_CODE].notna().all():
    # Thousands of areas: the list is one local authority's (a 5,000-name list is ~0.14 MB resent and
    # re-rendered on every rerun, ~0.2 s of each period change, and too long to scroll). A click picks both.
    lad_of = dict(zip(now[AREA_CODE], now[LAD_CODE].astype(str)))
    lad_names = dict(zip(now[LAD_CODE].astype(str), now[LAD_NAME].astype(str) if LAD_NAME in now.columns
                         else now[LAD_CODE].astype(str)))
    picked = st.session_state["map_area"]
    if picked and picked != st.session_state.get("map_area_synced"):  # a click or a link: show its authority
        st.session_state["map_area_lad"] = lad_of[picked]
    st.session_state["map_area_synced"] = picked
    if st.session_state.get("map_area_lad") not in lad_names:
        st.session_state["map_area_lad"] = ""
    lad = st.selectbox("Local authority of the area list", ["", *sorted(lad_names, key=lad_names.get)],
                       key="map_area_lad", format_func=lambda c: "Choose one" if c == "" else lad_names[c])
    listed = [c for c in listed if lad_of[c] == lad]
    if picked and picked not in listed:
        st.session_state["map_area"] = st.session_state["map_area_synced"] = ""
area = st.selectbox("Area profile", ["", *listed], key="map_area",
                    format_func=lambda c: "Click an area on the map, or choose one" if c == "" else f"{names[c]} ({c})")
if not area:
    st.stop()

# ---- profile of the selected area
shown_rates = _cache.published_rates(key, sel, frame.publication)  # published whole, then one area taken
history = shown_rates[shown_rates[AREA_CODE] == area]
row = _cache.published_ranked(key, sel, period, frame.publication).set_index(AREA_CODE).loc[area]
st.subheader(f"{plain(names[area])} ({plain(area)})")  # names (and codes) come from user files
m1, m2, m3, m4 = st.columns(4)
m1.metric(f"Incidents {period}", str(row[COUNT]))
m2.metric("Rate per 1,000", "–" if pd.isna(row[RATE_PER_1000]) else f"{row[RATE_PER_1000]:.2f}")
m3.metric("Rank by rate", "–" if pd.isna(row[RATE_PER_1000]) else f"{row['rank']} of {row['rank_of']}")
m4.metric("Compared with the whole area", str(row["compared_to_whole_area"]) if pd.notna(row["compared_to_whole_area"]) else "–")
chart = history.set_index(PERIOD)[[COUNT, RATE_PER_1000]].apply(pd.to_numeric, errors="coerce")
g1, g2 = st.columns(2)
g1.caption("Incidents by period")
g1.line_chart(chart[COUNT], height=180)
g2.caption("Rate per 1,000 by period")
g2.line_chart(chart[RATE_PER_1000], height=180)
near = _cache.neighbours(key, sel, area)
st.caption("Neighbours: " + (", ".join(plain(n) for n in sorted(names.get(c, c) for c in near)) or "none (an island)"))
gi = _cache.hotspots(key, sel, "gi_star")
gi = gi[gi[AREA_CODE] == area].set_index(PERIOD)
# The map's bins are after the multiple-testing correction; the row below says what the raw p gave.
raw = gi["gi_bin_uncorrected"].map(GI_LABELS).where(gi["gi_label"] != ISOLATED, ISOLATED)
st.dataframe(pd.DataFrame({"Gi* hot spot": gi["gi_label"], "Gi* before correction": raw}).tail(12).T,
             hide_index=False)
st.caption(f"{_cache.gi_method()}. 'Before correction' bins the uncorrected p: a pattern flagged only there "
           "may be chance among the many areas tested.")
