"""Folium choropleth builder: simplified, WGS84, offline, colour-blind-safe (no streamlit here)."""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

from geo.classify import Classes, classify
from geo.map_layers import TOOLTIP_CSS, AreaOutlines, AreaStyle, LegendLayer
from geo.offline_assets import assert_offline, offline_map
from geo.schema import AREA_CODE, BNG, CODE, LAD_CODE, NAME, WGS84, AtlasError, BoundaryError

# ColorBrewer 2.0 sequential schemes (Brewer, Harrower & Penn State; colour-blind safe),
# k-class tables for k = 3..7 so each class count uses Brewer's tuned colours, not interpolation.
PALETTES: dict[str, dict[int, tuple[str, ...]]] = {
    "YlOrRd": {
        3: ("#ffeda0", "#feb24c", "#f03b20"),
        4: ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"),
        5: ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
        6: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"),
        7: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
    },
    "Blues": {
        3: ("#deebf7", "#9ecae1", "#3182bd"),
        4: ("#eff3ff", "#bdd7e7", "#6baed6", "#2171b5"),
        5: ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"),
        6: ("#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"),
        7: ("#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594"),
    },
}
# Perceptually uniform, colour-blind-safe matplotlib maps (sampled at k points) and ColorBrewer PuOr
# (diverging, for values either side of zero). PALETTE_LABELS is what the app offers.
SAMPLED_PALETTES: tuple[str, ...] = ("viridis", "cividis", "PuOr")
PALETTE_LABELS: dict[str, str] = {
    "YlOrRd": "Yellow–orange–red (ColorBrewer)",
    "Blues": "Blues (ColorBrewer)",
    "viridis": "Viridis",
    "cividis": "Cividis",
    "PuOr": "Purple–orange, diverging (ColorBrewer)",
}
NO_DATA_COLOUR = "#d9d9d9"
# Emerging hot spot categories (analysis.emerging.EHSA_CATEGORIES): reds for hot patterns, blues for cold,
# darkest for the patterns that hold now and longest (intensifying/persistent), palest for historical,
# after the hue families of ArcGIS Pro's emerging hot spot renderer.
_EHSA_SHADES: dict[str, tuple[str, str]] = {  # pattern -> (hot colour, cold colour)
    "New": ("#fcbba1", "#c6dbef"),
    "Consecutive": ("#fc9272", "#9ecae1"),
    "Intensifying": ("#a50f15", "#08519c"),
    "Persistent": ("#de2d26", "#3182bd"),
    "Diminishing": ("#fb6a4a", "#6baed6"),
    "Oscillating": ("#e7298a", "#7570b3"),
    "Sporadic": ("#fdd0a2", "#d9f0d3"),
    "Historical": ("#fee5d9", "#eff3ff"),
}
EHSA_COLOURS: dict[str, str] = {
    **{f"{p} Hot Spot": hot for p, (hot, _) in _EHSA_SHADES.items()},
    **{f"{p} Cold Spot": cold for p, (_, cold) in _EHSA_SHADES.items()},
    "No Pattern Detected": "#f7f7f2",
}
FILL_PROP = "_fill"  # GeoJSON property carrying each area's class colour
DISPLAY_TOLERANCE_M = 25.0
MAX_DISPLAY_TOLERANCE_M = 100.0  # zoomed in on one street, outlines stay within 100 m of the true line
COORD_DECIMALS = 5  # ~1 m at UK latitudes: below the simplification tolerance
CANVAS_THRESHOLD = 3000  # features above which Leaflet draws on <canvas> instead of SVG


@dataclass(frozen=True)
class Legend:
    """The legend of one map: title, class or category labels with their colours, and an optional note."""

    title: str
    labels: tuple[str, ...]
    colours: tuple[str, ...]
    note: str | None = None

    @property
    def html(self) -> str:
        """Plain HTML (no branca ColorMap, hence no d3), shown as a Leaflet control."""
        rows = "".join(
            f'<div><i style="display:inline-block;width:14px;height:14px;margin-right:6px;'
            f'vertical-align:middle;border:1px solid #777;background:{c}"></i>{html.escape(t)}</div>'
            for t, c in zip(self.labels, self.colours)
        )
        note = (f'<div style="max-width:14em;margin-top:4px;font-size:11px">{html.escape(self.note)}</div>'
                if self.note else "")
        return f"<b>{html.escape(self.title)}</b>{rows}{note}"


def palette_colours(palette: str, k: int) -> tuple[str, ...]:
    """The `k` colours of `palette`: Brewer's tuned k-class tables, else the matplotlib map sampled evenly."""
    if palette not in PALETTES and palette not in SAMPLED_PALETTES:
        raise ValueError(f"unknown palette {palette!r}; choose from {sorted([*PALETTES, *SAMPLED_PALETTES])}")
    if palette in SAMPLED_PALETTES or k > max(PALETTES[palette]):
        from matplotlib import colormaps, colors  # only for sampled palettes

        # Low values light and high values dark, as on the Brewer scales: viridis/cividis run dark to
        # light, so they are read backwards; PuOr runs orange to purple, read backwards so high = orange (hot).
        start, stop = {"viridis": (0.95, 0.0), "cividis": (0.95, 0.0), "PuOr": (1.0, 0.0)}.get(palette, (0.1, 1.0))
        return tuple(colors.to_hex(colormaps[palette](float(t))) for t in np.linspace(start, stop, k))
    table = PALETTES[palette]
    if k >= 3:
        return table[min(k, max(table))]
    return (table[3][-1],) if k == 1 else (table[3][0], table[3][-1])


def simplify_for_display(areas: gpd.GeoDataFrame, tolerance_m: float = DISPLAY_TOLERANCE_M) -> gpd.GeoDataFrame:
    """Topology-preserving simplification in BNG (shapely.coverage_simplify), per LAD if needed.

    Shared edges are simplified once, so neighbours never gap or overlap. A set that is not
    one valid coverage (e.g. LSOAs quantised separately per local authority) is simplified
    per LAD; a group that is still not a coverage falls back to per-polygon simplification.
    """
    if areas.crs is None:
        raise BoundaryError("boundaries have no CRS; cannot simplify in metres")
    out = areas.to_crs(BNG) if not areas.crs.equals(BNG) else areas.copy()
    geoms = out.geometry.to_numpy()
    if tolerance_m <= 0 or len(out) == 0:
        return out
    if shapely.coverage_is_valid(geoms):
        groups = [np.arange(len(out))]
    elif LAD_CODE in out.columns:
        groups = list(pd.Series(np.arange(len(out))).groupby(out[LAD_CODE].to_numpy()).indices.values())
    else:
        groups = [np.arange(len(out))]
    simplified = geoms.copy()
    for idx in groups:  # a handful of local authorities, not rows
        part = geoms[idx]
        if shapely.coverage_is_valid(part):
            simplified[idx] = shapely.coverage_simplify(part, tolerance_m)
        else:
            simplified[idx] = shapely.simplify(part, tolerance_m, preserve_topology=True)
    out.geometry = gpd.GeoSeries(simplified, index=out.index, crs=BNG)
    return out


def to_display_wgs84(areas: gpd.GeoDataFrame, decimals: int = COORD_DECIMALS) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326 (the only place the project leaves BNG) and round coordinates."""
    out = areas.to_crs(WGS84)
    # Rounding is a pure function of each vertex, so vertices shared by neighbours stay shared.
    out.geometry = shapely.transform(out.geometry.to_numpy(), lambda c: np.round(c, decimals))
    return out


@dataclass(frozen=True)
class DisplayAreas:
    """Areas ready for the browser: simplified WGS84 outlines serialised once, plus their attribute table.

    The outlines depend only on which areas are shown, not on the measure or period, so the app
    builds them once per selection (views/_cache) and every map of that selection reuses them.
    ``outlines`` is compact JSON (``encode_outlines``) that the page decodes into GeoJSON features;
    the style layer sends its colours and tooltips as arrays in ``table`` order, checked by ``key``.
    """

    table: pd.DataFrame  # one row per area, the non-geometry columns (code, name, lad_code, ...)
    outlines: str  # encode_outlines(): {"key", "scale", "ids", "shapes"}
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy (degrees)
    key: str  # digest of the area codes in order: a style layer applies only to the outlines it was built for

    def __len__(self) -> int:
        return len(self.table)


def _join_ints(values: np.ndarray) -> str:
    return ",".join(values.astype(str).tolist())


def encode_outlines(codes: Sequence[str], geoms: np.ndarray, decimals: int, key: str) -> str:
    """(Multi)polygons as compact JSON: per area, polygons of rings of delta-coded integer coordinates.

    Each ring is a flat list ``[x0, y0, dx1, dy1, ...]`` in units of 10^-decimals degrees (first vertex
    absolute, then differences), about 2.5 times smaller than GeoJSON text; geo.map_layers decodes it in
    the page. Integer units are exactly the rounded coordinates, so vertices shared by neighbours stay shared.
    """
    n = len(codes)
    shapes: list[str] = []
    if n:
        kind, coords, offsets = shapely.to_ragged_array(geoms)
        if kind == shapely.GeometryType.POLYGON:  # promote: one polygon per area
            offsets = (*offsets, np.arange(n + 1))
        elif kind != shapely.GeometryType.MULTIPOLYGON:
            raise BoundaryError(f"outlines must be polygons, got {kind.name.lower()}")
        ring_off, poly_off, geom_off = offsets
        q = np.round(coords[:, :2] * 10**decimals).astype(np.int64)
        delta = q.copy()
        delta[1:] -= q[:-1]
        delta[ring_off[:-1]] = q[ring_off[:-1]]  # each ring starts absolute
        flat = delta.ravel()
        rings = [_join_ints(flat[2 * a:2 * b]) for a, b in zip(ring_off[:-1], ring_off[1:])]
        polys = ["[" + ",".join(f"[{r}]" for r in rings[a:b]) + "]" for a, b in zip(poly_off[:-1], poly_off[1:])]
        shapes = ["[" + ",".join(polys[a:b]) + "]" for a, b in zip(geom_off[:-1], geom_off[1:])]
    return (f'{{"key":{json.dumps(key)},"scale":{10**decimals},"ids":{json.dumps([str(c) for c in codes])},'
            f'"shapes":[{",".join(shapes)}]}}')


def display_tolerance(areas: gpd.GeoDataFrame, width_px: int = 1000, height_px: int = 520) -> float:
    """Simplification tolerance (m) for the zoom at which the whole of `areas` fits a map of that size.

    A quarter of a screen pixel at that zoom (Web Mercator metres per pixel x cos(latitude)), so the outlines
    are exact to a pixel two zoom levels in (Leaflet simplifies further per zoom as it draws); clipped to
    DISPLAY_TOLERANCE_M..MAX_DISPLAY_TOLERANCE_M: a county keeps ~25 m, 5,000 London and Kent LSOAs get ~57 m.
    """
    if len(areas) == 0 or areas.crs is None:
        return DISPLAY_TOLERANCE_M
    box = gpd.GeoSeries([shapely.box(*areas.total_bounds)], crs=areas.crs)  # 4 corners, not every vertex
    minx, miny, maxx, maxy = box.to_crs(WGS84).total_bounds
    lat = np.radians((miny + maxy) / 2)
    span_x = max(maxx - minx, 1e-6) / 360  # fractions of the world's width (Web Mercator)
    merc = lambda y: np.log(np.tan(np.pi / 4 + np.radians(y) / 2))  # noqa: E731
    span_y = max(merc(maxy) - merc(miny), 1e-9) / (2 * np.pi)
    zoom = np.floor(4 * min(np.log2(width_px / 256 / span_x), np.log2(height_px / 256 / span_y))) / 4  # snap 0.25
    metres_per_px = 156_543.034 * np.cos(lat) / 2**zoom
    return float(np.clip(0.25 * metres_per_px, DISPLAY_TOLERANCE_M, MAX_DISPLAY_TOLERANCE_M))


def display_areas(areas: gpd.GeoDataFrame, tolerance_m: float | None = None) -> DisplayAreas:
    """Simplify (topology kept), reproject to WGS84, round and serialise `areas` for a web map.

    ``tolerance_m`` None: ``display_tolerance(areas)``, i.e. simplified for the zoom the map opens at.
    """
    for col in (CODE, "geometry"):
        if col not in areas.columns:
            raise BoundaryError(f"boundaries lack the column {col!r} (columns: {list(areas.columns)})")
    if tolerance_m is None:
        tolerance_m = display_tolerance(areas)
    # Coordinates to 1e-5 degrees (~1 m); to 1e-4 (~11 m) once the tolerance is at least four times that.
    decimals = COORD_DECIMALS if tolerance_m < 4 * 11.1 else COORD_DECIMALS - 1
    display = to_display_wgs84(simplify_for_display(areas, tolerance_m), decimals)
    codes = display[CODE].astype(str).to_numpy()
    key = hashlib.sha1("\n".join(codes).encode()).hexdigest()[:16]
    outlines = encode_outlines(codes, display.geometry.to_numpy(), decimals, key)
    table = pd.DataFrame(display.drop(columns="geometry")).assign(**{CODE: codes}).reset_index(drop=True)
    bounds = tuple(float(b) for b in display.total_bounds) if len(display) else (0.0, 0.0, 0.0, 0.0)
    return DisplayAreas(table, outlines, bounds, key)


@dataclass
class AtlasMap:
    """A map in two parts: ``base`` (outlines, view; the same for every map of these areas) and ``layer``.

    ``layer`` is a folium FeatureGroup with each area's fill colour, tooltip and the legend; the app
    hands it to st_folium's ``feature_group_to_add`` so a new period or measure restyles the map in
    place. ``standalone()`` joins the two for an HTML file.
    """

    base: folium.Map
    layer: folium.FeatureGroup
    legend: Legend
    fills: dict[str, str]  # area code -> fill colour
    shown: pd.DataFrame = field(repr=False)  # code and the tooltip columns, one row per area

    @cached_property
    def tooltip(self) -> dict[str, dict[str, object]]:
        """Area code -> {tooltip field: value shown} (whole numbers as int, others to 2 dp, "no data")."""
        cols = [c for c in self.shown.columns if c != "_code"]
        values = {c: _shown(self.shown[c]) for c in cols}
        return {code: {c: values[c][i] for c in cols} for i, code in enumerate(self.shown["_code"])}

    def standalone(self) -> folium.Map:
        """The whole map as one folium.Map (for an HTML page; the app uses base and layer)."""
        if self.layer._parent is not self.base:
            self.layer.add_to(self.base)
        return self.base


def _frame_for(
    table: pd.DataFrame, values: pd.DataFrame, value_col: str, tooltip_cols: Sequence[str] | None, key: str
) -> tuple[pd.DataFrame, list[str]]:
    """Area table joined to `values` on code (absent areas get NaN) with the tooltip columns; checks inputs."""
    for col in (key, value_col):
        if col not in values.columns:
            raise AtlasError(f"values table lacks the column {col!r} (columns: {list(values.columns)})")
    dup = values[key].astype(str).duplicated()
    if dup.any():
        raise AtlasError(f"values table has more than one row for area {values[key][dup].iloc[0]!r}")
    tooltip_cols = list(dict.fromkeys(tooltip_cols if tooltip_cols is not None else
                                      [c for c in (NAME, CODE) if c in table.columns] + [value_col]))
    vals = values.assign(**{key: values[key].astype(str)}).set_index(key)
    frame = table[[CODE, *[c for c in tooltip_cols if c in table.columns and c != CODE]]].copy()
    joined = vals.reindex(frame[CODE].to_numpy())
    for c in dict.fromkeys([value_col, *[c for c in tooltip_cols if c not in table.columns]]):
        if c not in joined.columns:
            raise AtlasError(f"values table lacks the tooltip column {c!r} (columns: {list(values.columns)})")
        frame[c] = joined[c].to_numpy()
    return frame, tooltip_cols


def _shown(col: pd.Series) -> list[object]:
    """Tooltip values: whole numbers as int, other numbers to 2 dp, missing as "no data"."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        y = col.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(y) & (np.mod(y, 1) == 0)
        return ["no data" if not np.isfinite(v) else int(v) if w else round(float(v), 2) for v, w in zip(y, whole)]
    return ["no data" if pd.isna(v) else v for v in col.astype(object)]


def _tooltip_text(v: object) -> str:
    """A tooltip value as text: whole numbers with thousands separators, other numbers to 2 dp."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"


def _texts(col: pd.Series) -> list[str]:
    """The tooltip texts of a column: _tooltip_text of each _shown value, numbers formatted in bulk."""
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        missing = col.isna().tolist()
        return ["no data" if na else v if type(v) is str else _tooltip_text(v)
                for v, na in zip(col.astype(object).tolist(), missing)]
    y = col.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(y)
    whole = finite & (np.mod(np.where(finite, y, 0), 1) == 0)
    out = np.full(len(y), "no data", dtype=object)
    out[whole] = [f"{v:,}" for v in y[whole].astype(np.int64).tolist()]
    out[finite & ~whole] = [f"{v:,.2f}" for v in y[finite & ~whole].tolist()]
    return out.tolist()


def _render(
    display: DisplayAreas,
    frame: pd.DataFrame,
    tooltip_cols: list[str],
    aliases: Sequence[str] | None,
    legend: Legend,
    prefer_canvas: bool | None,
    attribution: str,
    outlines_url: str | None = None,
) -> AtlasMap:
    """Offline folium map of `display` filled with `frame`'s FILL_PROP colours, tooltips and an HTML legend."""
    codes = frame[CODE].astype(str).tolist()  # display.table order: the order of the outlines
    labels = [str(a) for a in (aliases if aliases is not None else tooltip_cols)]
    columns = [_texts(frame[c]) for c in tooltip_cols]
    fill_list = frame[FILL_PROP].astype(str).tolist()
    fills = dict(zip(codes, fill_list))

    minx, miny, maxx, maxy = display.bounds
    n = len(display)
    base = offline_map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=10,
        zoom_snap=0.25,  # fit the area snugly: there are no tiles to keep at whole zoom levels
        prefer_canvas=bool(n > CANVAS_THRESHOLD) if prefer_canvas is None else prefer_canvas,
        attribution=attribution,
    )
    if n:  # before the outlines, and not animated: the polygons are projected once, at the fitted zoom
        fit = folium.FitBounds([[miny, minx], [maxy, maxx]])
        fit.options["animate"] = False  # (an animated fit re-projects every polygon when the zoom ends)
        base.add_child(fit)
    AreaOutlines(display.outlines, NO_DATA_COLOUR, key=display.key, url=outlines_url).add_to(base)
    base.get_root().header.add_child(Element(f"<style>{TOOLTIP_CSS}</style>"), name="atlas_tooltip_css")
    layer = folium.FeatureGroup(name=legend.title, control=False)
    AreaStyle(display.key, fill_list, columns, labels).add_to(layer)
    LegendLayer(legend.html).add_to(layer)
    shown = pd.DataFrame({"_code": codes, **{c: frame[c].to_numpy() for c in tooltip_cols}})
    return AtlasMap(assert_offline(base), layer, legend, fills, shown)


def _display(areas: gpd.GeoDataFrame | DisplayAreas, tolerance_m: float) -> DisplayAreas:
    # Not isinstance(areas, DisplayAreas): Streamlit re-imports edited modules, while its cache keeps
    # objects of the class as first imported.
    return display_areas(areas, tolerance_m) if isinstance(areas, gpd.GeoDataFrame) else areas


def build_choropleth(
    areas: gpd.GeoDataFrame | DisplayAreas,
    values: pd.DataFrame,
    value_col: str,
    tooltip_cols: Sequence[str] | None = None,
    *,
    aliases: Sequence[str] | None = None,
    key: str = AREA_CODE,
    k: int = 5,
    palette: str = "YlOrRd",
    legend_title: str | None = None,
    tolerance_m: float = DISPLAY_TOLERANCE_M,
    prefer_canvas: bool | None = None,
    attribution: str = "",
    classes: Classes | None = None,
    legend_note: str | None = None,
    outlines_url: str | None = None,
) -> AtlasMap:
    """Choropleth of `values[value_col]` over `areas` (joined on areas.code == values[key]).

    ``areas`` is a GeoDataFrame or, in the app, its cached ``display_areas``. ``classes`` (geo.classify,
    e.g. breaks held fixed across periods) sets the classes; without it, quantiles of this map's values.
    Areas absent from `values` or with a missing value are drawn grey as "no data". Tooltips show
    `tooltip_cols` (default name, code, value). The map uses only the vendored Leaflet (geo.offline_assets).
    ``outlines_url``: where the page fetches ``display.outlines`` (the app serves them from the Streamlit
    server, so reruns do not resend them); None inlines them (a standalone HTML file).
    """
    display = _display(areas, tolerance_m)
    frame, tooltip_cols = _frame_for(display.table, values, value_col, tooltip_cols, key)
    if classes is None:
        classes = classify(frame[value_col], "quantiles", k)
    cls = classes.assign(frame[value_col])
    colours = palette_colours(palette, classes.k) if classes.k else ()
    frame[FILL_PROP] = np.array([*colours, NO_DATA_COLOUR], dtype=object)[np.where(cls < 0, len(colours), cls)]
    labels = classes.labels()
    if (cls < 0).any():
        labels, colours = [*labels, "no data"], (*colours, NO_DATA_COLOUR)
    legend = Legend(legend_title or value_col, tuple(labels), tuple(colours), legend_note)
    return _render(display, frame, tooltip_cols, aliases, legend, prefer_canvas, attribution, outlines_url)


def build_categorical_map(
    areas: gpd.GeoDataFrame | DisplayAreas,
    values: pd.DataFrame,
    value_col: str,
    colours: Mapping[str, str],
    tooltip_cols: Sequence[str] | None = None,
    *,
    aliases: Sequence[str] | None = None,
    key: str = AREA_CODE,
    legend_title: str | None = None,
    tolerance_m: float = DISPLAY_TOLERANCE_M,
    prefer_canvas: bool | None = None,
    attribution: str = "",
    legend_note: str | None = None,
    outlines_url: str | None = None,
) -> AtlasMap:
    """Map of a categorical column (LISA cluster, Gi* bin label, emerging hot spot category) in fixed colours.

    ``colours`` maps each category to its colour (e.g. analysis.hotspots.LISA_COLOURS, GeoDa's; GI_COLOURS,
    ArcGIS's) and sets the legend order; the legend lists the categories present. Other values are grey.
    """
    display = _display(areas, tolerance_m)
    frame, tooltip_cols = _frame_for(display.table, values, value_col, tooltip_cols, key)
    label = frame[value_col].astype(object)
    known = label.isin(list(colours))
    frame[FILL_PROP] = label.map(dict(colours)).where(known, NO_DATA_COLOUR).to_numpy(dtype=object)
    present = set(label[known])
    labels = [c for c in colours if c in present]
    legend_colours = [colours[c] for c in labels]
    if (~known).any():
        labels, legend_colours = [*labels, "no data"], [*legend_colours, NO_DATA_COLOUR]
    legend = Legend(legend_title or value_col, tuple(labels), tuple(legend_colours), legend_note)
    return _render(display, frame, tooltip_cols, aliases, legend, prefer_canvas, attribution, outlines_url)


def small_multiples_png(
    areas: gpd.GeoDataFrame,
    labels: pd.DataFrame,
    value_col: str,
    colours: Mapping[str, str],
    periods: Sequence[str],
    *,
    key: str = AREA_CODE,
    ncols: int = 4,
    panel_inches: float = 2.6,
) -> bytes:
    """PNG of one small static map per period (matplotlib, no browser assets), categories in fixed colours.

    ``labels`` has columns [key, "period", value_col]; areas missing a label are grey. Geometry is
    simplified for display. A shared legend lists the categories present.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    shapes = simplify_for_display(areas[[CODE, "geometry"]])
    n = max(1, len(periods))
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_inches * ncols, panel_inches * nrows + 0.6), squeeze=False)
    present: set[str] = set()
    for ax, period in zip(axes.flat, periods):
        sub = labels[labels["period"] == period].set_index(key)[value_col]
        lab = shapes[CODE].astype(str).map(sub)
        present |= set(lab.dropna())
        fill = lab.map(dict(colours)).fillna(NO_DATA_COLOUR).to_numpy()
        shapes.plot(ax=ax, color=fill, edgecolor="#777777", linewidth=0.2)
        ax.set_title(period, fontsize=9)
        ax.set_axis_off()
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    handles = [Patch(facecolor=c, edgecolor="#777777", label=lab) for lab, c in colours.items() if lab in present]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, max(1, len(handles))), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
