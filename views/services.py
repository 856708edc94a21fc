"""Services and need: incidents per 1,000 against straight-line distance to the nearest service of each type.

The services file is read for this session only (never written to the store); in publication mode the
page shows distances in bands and no service markers, names or raw rows (docs/services.md, docs/trust.md).
"""

from __future__ import annotations

import html

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis import access as ac
from atlas.cli_services import shown_table
from atlas.safe_output import csv_bytes
from geo.maps import build_categorical_map, build_choropleth
from geo.schema import AREA_CODE, AREA_NAME, CODE, COUNT, NAME, RATE_PER_1000, AtlasError
from ingest.services import MESSAGE, PROBLEM, ROW, ServicesResult
from views import _cache
from views._frame import LEVEL_LABELS, MAP_ATTRIBUTION, current_frame, plain, publication_note

TITLE = "Services and need"
STRAIGHT_LINE = "Straight-line distance, not travel time"
# Okabe-Ito colours (colour-blind safe), named for the caption; they stand out on the yellow-red and blue fills.
MARKER_COLOURS: tuple[tuple[str, str], ...] = (
    ("#0072B2", "blue"), ("#009E73", "green"), ("#CC79A7", "pink"), ("#000000", "black"),
    ("#56B4E9", "sky blue"), ("#D55E00", "vermilion"), ("#E69F00", "orange"), ("#F0E442", "yellow"),
)
BAND_COLOURS: dict[str, str] = dict(zip([label for _, label in ac.DISTANCE_BANDS],
                                        ("#eff3ff", "#9ecae1", "#4292c6", "#084594")))
SHARES: tuple[float, ...] = (0.1, 0.2, 0.25, 0.3, 0.5)
TOP_N = 15


@st.cache_data(show_spinner="Reading the services file…", max_entries=8, ttl=3600)
def read_uploaded(data: bytes, name: str) -> ServicesResult:
    """ingest.services.read_services_bytes of one upload (held in memory only, dropped after an hour)."""
    from ingest.services import read_services_bytes

    return read_services_bytes(data, name)


@st.cache_data(show_spinner=False)
def read_demo() -> ServicesResult:
    """The shipped synthetic demo services file, through the same reader as an upload."""
    from demo.services import demo_services_path
    from ingest.services import read_services

    return read_services(demo_services_path())


@st.cache_data(show_spinner="Measuring distances…", max_entries=16, ttl=3600)
def need_table(key: _cache.StoreKey, dataset: str, level: str, grain: str, period: str, area_filter: str | None,
               category: str | None, denominator: str, services: pd.DataFrame, share: float,
               publication: bool) -> pd.DataFrame:
    """atlas.cli_services.services_for for one selection (the command line's table, unrounded; perturbed counts
    in publication mode)."""
    from atlas.cli_services import services_for
    from atlas.publication import publication_store
    from store import Store

    return services_for(publication_store(Store(key[0]), publication), dataset, services, level, grain, period, area_filter, category,
                        denominator, share)


def tooltip_text(text: str) -> str:
    """User text for a folium tooltip: HTML-escaped, and safe inside the JavaScript template literal folium writes."""
    # folium puts the text raw into `...` in a script: a backtick or ${ would end or run code there.
    return html.escape(str(text)).replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def marker_colours(services: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Service type label -> (hex colour, colour name), in type order; types beyond eight reuse colours."""
    labels = services.groupby("type_key", sort=True)["service_type"].first().tolist()
    return {label: MARKER_COLOURS[i % len(MARKER_COLOURS)] for i, label in enumerate(labels)}


def add_markers(layer: folium.FeatureGroup, services: pd.DataFrame, colours: dict[str, tuple[str, str]]) -> None:
    """Circle markers (drawn by Leaflet itself: no icon images, nothing fetched) for each service."""
    from geo.points import to_crs_xy
    from geo.schema import BNG, WGS84

    lon, lat = to_crs_xy(services["easting"].to_numpy(), services["northing"].to_numpy(), BNG, WGS84)
    for x, y, name, kind in zip(lon.tolist(), lat.tolist(), services["service_name"].tolist(),
                                services["service_type"].tolist()):
        label = f"{kind}: {name}" if name else kind
        colour = colours[kind][0]
        folium.CircleMarker([y, x], radius=6, color="#ffffff", weight=1.5, fill=True, fill_color=colour,
                            fill_opacity=0.95, tooltip=folium.Tooltip(tooltip_text(label))).add_to(layer)


frame = current_frame()
st.header(TITLE)
if frame is None or frame.period is None:
    st.info("This dataset has no counts yet: import a file to see need against provision.")
    st.stop()
key, level_label = _cache.store_key(), LEVEL_LABELS[frame.level]
st.caption(
    "Add service locations (refuges, outreach, IDVA, GP safeguarding leads) to see how far each area's "
    "population-weighted centre is from the nearest service of each type, and which high-need areas are "
    f"furthest from any. {STRAIGHT_LINE}. The file is used for this session only: it is not saved."
)

upload = st.file_uploader(
    "Services file (CSV or XLSX: type, optional name, and easting + northing or longitude + latitude)",
    type=["csv", "xlsx", "txt", "gz"], key="services_file",
)
use_demo = False
if upload is None and frame.synthetic:
    use_demo = st.checkbox("Use the synthetic demo services (made-up locations on 1 km grid-square centres)",
                           value=True, key="services_use_demo")
try:
    if upload is not None:
        result = read_uploaded(upload.getvalue(), upload.name)
    elif use_demo:
        result = read_demo()
    else:
        st.info("Upload a services file to measure distances. Columns: `type` (e.g. Refuge, Outreach, IDVA, "
                "GP safeguarding lead), `name` (optional), and `easting`/`northing` (British National Grid) or "
                "`longitude`/`latitude` (WGS84). See docs/services.md.")
        st.stop()
except AtlasError as exc:
    st.error(plain(str(exc)))  # the message quotes the file name and header: user text
    st.stop()

c1, c2, c3 = st.columns(3)
c1.metric("Rows read", f"{result.rows_read:,}")
c2.metric("Services accepted", f"{result.rows_accepted:,}")
c3.metric("Rows rejected", f"{result.rows_rejected:,}")
if use_demo:
    st.caption("Synthetic demo services: made up, not real services or addresses (docs/demo-data.md).")


def _rejected_rows() -> None:
    """Each rejected row with its problem; raw cells and a download only outside publication mode."""
    if not result.rows_rejected:
        return
    st.subheader(f"{result.rows_rejected:,} rejected rows")
    if frame.publication:
        # The raw cells hold the file's coordinates: never on a screen that may be shared.
        st.dataframe(pd.DataFrame({"Row": result.rejected[ROW], "Problem": result.rejected[PROBLEM]}),
                     hide_index=True)
        st.caption("Publication mode: only the row and problem are shown; the rows' cells are hidden.")
        return
    st.dataframe(result.rejected.drop(columns=[MESSAGE]).rename(columns={ROW: "Row", PROBLEM: "Problem"}),
                 hide_index=True)
    from ingest.services import rejected_csv

    st.download_button(f"Download the {result.rows_rejected:,} rejected rows (CSV)", rejected_csv(result),
                       file_name="services_rejected_rows.csv", mime="text/csv", key="services_rejected_download",
                       on_click="ignore")
    st.caption("Rows are numbered as a spreadsheet shows them (the header is row 1).")


if result.rows_accepted == 0:
    st.error(f"No row of {plain(result.file_name)} could be used, so no distances can be measured.")
    _rejected_rows()
    st.stop()

share = st.select_slider("High need: areas with the highest rates per 1,000", SHARES, value=ac.HIGH_NEED_SHARE,
                         format_func=lambda s: f"top {s:.0%}", key="services_share")
try:
    table = need_table(key, frame.dataset, frame.level, frame.grain, frame.period, frame.area_filter,
                       frame.category, frame.denominator, result.services, float(share), frame.publication)
    areas = _cache.display_areas(key, frame.selection)
except AtlasError as exc:
    st.error(plain(str(exc)))
    st.stop()

shown = shown_table(table, frame.publication)
high = ac.furthest_high_need(shown)
type_labels = list(marker_colours(result.services))
km = "_band" if frame.publication else ""
n_high = int(table[ac.HIGH_NEED].sum())
m1, m2 = st.columns(2)
m1.metric(f"High-need areas (top {share:.0%} by rate)", f"{n_high:,} of {len(table):,}")
furthest = table.loc[table[ac.HIGH_NEED], ac.NEAREST_KM].max() if n_high else float("nan")
m2.metric("Furthest high-need area from any service",
          "–" if pd.isna(furthest) else (ac.distance_band([furthest]).iloc[0] if frame.publication
                                         else f"{furthest:.1f} km"))

# ---- map
measure = st.radio("Map shows", ["rate", "distance"], horizontal=True, key="services_measure",
                   format_func={"rate": "Rate per 1,000", "distance": "Distance to the nearest service"}.get)
values = shown.assign(**{CODE: shown[AREA_CODE], NAME: shown[AREA_NAME]})
tips = [NAME, CODE, COUNT, RATE_PER_1000, ac.NEAREST_KM + km, ac.NEAREST_TYPE]
aliases = [level_label, "Code", "Incidents", "Rate per 1,000", "Nearest service (straight line, km)",
           "Nearest service type"]
note = publication_note(shown) if frame.publication else None
if measure == "rate":
    title = f"Incidents per 1,000 residents, {frame.period}"
    fmap = build_choropleth(areas, values, RATE_PER_1000, tips, aliases=aliases, legend_title=title,
                            attribution=MAP_ATTRIBUTION, legend_note=note)
elif frame.publication:
    title = "Distance to the nearest service (straight line, bands)"
    fmap = build_categorical_map(areas, values, ac.NEAREST_KM + km, BAND_COLOURS, tips, aliases=aliases,
                                 legend_title=title, attribution=MAP_ATTRIBUTION, legend_note=note)
else:
    title = "Distance to the nearest service, km (straight line)"
    fmap = build_choropleth(areas, values, ac.NEAREST_KM, tips, aliases=aliases, palette="Blues",
                            legend_title=title, attribution=MAP_ATTRIBUTION,
                            legend_note="Straight line from each area's population-weighted centre; darker = further.")
colours = marker_colours(result.services)
if not frame.publication:
    add_markers(fmap.layer, result.services, colours)
st_folium(fmap.base, key="services-map", feature_group_to_add=fmap.layer, height=500, use_container_width=True,
          returned_objects=[])
st.caption(f"Legend: {title}. {STRAIGHT_LINE}, from each area's population-weighted centre. " + (
    "Publication mode: service locations are not shown and distances are in bands (<2, 2–5, 5–10, >10 km)."
    if frame.publication else
    "Markers: " + "; ".join(f"{plain(t)} ({name})" for t, (_, name) in colours.items()) + "."))
if note:
    st.caption(note)

# ---- tables (Streamlit shows table cells as plain text, so names go in as they are; captions use plain)


def _km(col: pd.Series) -> pd.Series:
    """A distance column as shown: km to 0.1 (already rounded) or the publication band."""
    return col if frame.publication else col.round(1)


st.subheader(f"High-need areas furthest from any service (top {min(TOP_N, len(high))} of {len(high)})")
furthest_rows = high.head(TOP_N)
shown_high = pd.DataFrame({
    level_label: furthest_rows[AREA_NAME],
    "Code": furthest_rows[AREA_CODE],
    "Incidents": furthest_rows[COUNT],
    "Rate per 1,000": pd.to_numeric(furthest_rows[RATE_PER_1000], errors="coerce").round(2),
    "Need rank (1 = highest rate)": furthest_rows[ac.NEED_RANK],
    "Nearest service (km, straight line)": _km(furthest_rows[ac.NEAREST_KM + km]),
    "Nearest service type": furthest_rows[ac.NEAREST_TYPE].fillna("–"),
})
if not frame.publication:
    shown_high["Nearest service"] = furthest_rows[ac.NEAREST_NAME].fillna("–").to_numpy()
st.dataframe(shown_high, hide_index=True)
st.caption(f"{STRAIGHT_LINE}. High need: the areas whose rate per 1,000 ({frame.period}) ranks in the top "
           f"{share:.0%} of the {int(table[RATE_PER_1000].notna().sum())} areas with a rate (ties at the cut "
           "included), furthest first.")

st.subheader("Nearest service of each type, every area")
per_type = pd.DataFrame({
    level_label: shown[AREA_NAME],
    "Code": shown[AREA_CODE],
    "Rate per 1,000": pd.to_numeric(shown[RATE_PER_1000], errors="coerce").round(2),
    "High need": shown[ac.HIGH_NEED].map({True: "yes", False: "no"}).fillna("–"),
    "Any service (km)": _km(shown[ac.NEAREST_KM + km]),
    **{f"{t} (km)": _km(shown[ac.km_column(t) + km]) for t in type_labels},
})
st.dataframe(per_type, hide_index=True)
st.caption(f"{STRAIGHT_LINE}: km as the crow flies from each area's population-weighted centre (LSOAs: a point "
           "inside the LSOA), " + ("shown in bands in publication mode." if frame.publication else "to 0.1 km."))
st.download_button("Download the table (CSV)", csv_bytes(shown),
                   file_name=f"services_need_{frame.level}_{str(frame.period).replace('/', '-')}"
                             f"{'_publication' if frame.publication else ''}.csv",
                   mime="text/csv", key="services_table_download", on_click="ignore")
for text in table.attrs.get("notes", []):
    st.caption(plain(text))
for text in result.notes:
    st.caption(plain(f"{result.file_name}: {text}"))
_rejected_rows()
