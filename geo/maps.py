"""Folium choropleth builder: simplified, WGS84, offline, colour-blind-safe (no streamlit here)."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element

from geo.classify import Classes, classify
from geo.display_areas import (  # noqa: F401 - re-exported: geo.maps was their home
    COORD_DECIMALS,
    DISPLAY_TOLERANCE_M,
    MAX_DISPLAY_TOLERANCE_M,
    DisplayAreas,
    display_areas,
    display_tolerance,
    encode_outlines,
    simplify_for_display,
    to_display_wgs84,
)
from geo.map_layers import TOOLTIP_CSS, AreaOutlines, AreaStyle, LegendLayer
from geo.offline_assets import assert_offline, offline_map
from geo.schema import AREA_CODE, CODE, NAME, WGS84, AtlasError

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
    serve_tips: Callable[[str], str | None] | None = None,
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
    tips_url = serve_tips(AreaStyle.tips_json(display.key, columns)) if serve_tips is not None else None
    AreaStyle(display.key, fill_list, columns, labels, tips_url=tips_url).add_to(layer)
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
    serve_tips: Callable[[str], str | None] | None = None,
) -> AtlasMap:
    """Choropleth of `values[value_col]` over `areas` (joined on areas.code == values[key]).

    ``areas`` is a GeoDataFrame or, in the app, its cached ``display_areas``. ``classes`` (geo.classify,
    e.g. breaks held fixed across periods) sets the classes; without it, quantiles of this map's values.
    Areas absent from `values` or with a missing value are drawn grey as "no data". Tooltips show
    `tooltip_cols` (default name, code, value). The map uses only the vendored Leaflet (geo.offline_assets).
    ``outlines_url``: where the page fetches ``display.outlines`` (the app serves them from the Streamlit
    server, so reruns do not resend them); None inlines them (a standalone HTML file). ``serve_tips`` (the
    app) takes the tooltip table as JSON text and returns the URL it is served at, which the page fetches
    after drawing the colours; None (or a None URL) inlines the tooltips.
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
    return _render(display, frame, tooltip_cols, aliases, legend, prefer_canvas, attribution, outlines_url, serve_tips)


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
    serve_tips: Callable[[str], str | None] | None = None,
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
    return _render(display, frame, tooltip_cols, aliases, legend, prefer_canvas, attribution, outlines_url, serve_tips)


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
