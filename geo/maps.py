"""Folium choropleth builder: simplified, WGS84, offline, colour-blind-safe (no streamlit here)."""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template

from geo.classify import Classes, classify
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
COORD_DECIMALS = 5  # ~1 m at UK latitudes: below the simplification tolerance
CANVAS_THRESHOLD = 3000  # features above which Leaflet draws on <canvas> instead of SVG


class Legend(MacroElement):
    """A small HTML legend as a Leaflet control (no branca ColorMap, hence no d3)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: "bottomright"});
            {{ this.get_name() }}.onAdd = function () {
                var div = L.DomUtil.create("div", "atlas-legend");
                div.style.cssText = "background:rgba(255,255,255,0.9);padding:6px 8px;"
                    + "font:12px/1.4 sans-serif;border-radius:4px;box-shadow:0 0 4px rgba(0,0,0,0.3);";
                div.innerHTML = {{ this.html|tojson }};
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, title: str, labels: Sequence[str], colours: Sequence[str]):
        super().__init__()
        self._name = "Legend"
        self.labels, self.colours = list(labels), list(colours)
        rows = "".join(
            f'<div><i style="display:inline-block;width:14px;height:14px;margin-right:6px;'
            f'vertical-align:middle;border:1px solid #777;background:{c}"></i>{html.escape(t)}</div>'
            for t, c in zip(labels, colours)
        )
        self.html = f"<b>{html.escape(title)}</b>{rows}"


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


def classify_quantiles(values: pd.Series, k: int = 5) -> tuple[pd.Series, list[float]]:
    """Quantile classes (mapclassify.Quantiles) -> (class index per value, -1 for NaN; upper bounds)."""
    y = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(y)
    classes = np.full(len(y), -1, dtype=int)
    if not ok.any():
        return pd.Series(classes, index=values.index), []
    k = int(max(1, min(k, len(np.unique(y[ok])))))
    import mapclassify  # local: its import pulls scikit-learn and matplotlib (about 1 s), off the page-load path

    with warnings.catch_warnings():
        # Many tied counts (zeros) give fewer distinct quantiles than k: mapclassify warns and
        # merges them, which is exactly what we want, so its warning is not news.
        warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
        q = mapclassify.Quantiles(y[ok], k=k)
    classes[ok] = q.yb
    return pd.Series(classes, index=values.index), [float(b) for b in q.bins]


def _legend_labels(bins: Sequence[float], lowest: float, integer: bool) -> list[str]:
    """'lo – hi' labels for classes (lo, hi] with upper bounds `bins`; whole counts get whole bounds.

    For counts, class (67.2, 96] holds 68..96, so it is labelled "68 – 96".
    """
    if integer:
        his = [float(np.floor(b)) for b in bins]
        los = [float(np.ceil(lowest)), *[h + 1 for h in his[:-1]]]
    else:
        his, los = list(bins), [lowest, *bins[:-1]]

    def fmt(v: float) -> str:
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"

    return [fmt(hi) if lo >= hi else f"{fmt(lo)} – {fmt(hi)}" for lo, hi in zip(los, his)]


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


def _frame_for(
    areas: gpd.GeoDataFrame, values: pd.DataFrame, value_col: str, tooltip_cols: Sequence[str] | None, key: str
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Areas joined to `values` on code (absent areas get NaN) with the tooltip columns; checks inputs."""
    for col in (CODE, "geometry"):
        if col not in areas.columns:
            raise BoundaryError(f"boundaries lack the column {col!r} (columns: {list(areas.columns)})")
    for col in (key, value_col):
        if col not in values.columns:
            raise AtlasError(f"values table lacks the column {col!r} (columns: {list(values.columns)})")
    dup = values[key].astype(str).duplicated()
    if dup.any():
        raise AtlasError(f"values table has more than one row for area {values[key][dup].iloc[0]!r}")
    tooltip_cols = list(tooltip_cols) if tooltip_cols is not None else [c for c in (NAME, CODE) if c in areas.columns] + [value_col]
    vals = values.assign(**{key: values[key].astype(str)}).set_index(key)
    extra = [c for c in tooltip_cols if c not in areas.columns and c != value_col]
    frame = areas[[CODE, *[c for c in tooltip_cols if c in areas.columns and c != CODE], "geometry"]].copy()
    frame[CODE] = frame[CODE].astype(str)
    joined = vals.reindex(frame[CODE].to_numpy())
    frame[value_col] = joined[value_col].to_numpy()
    for c in extra:
        frame[c] = joined[c].to_numpy()
    return frame, tooltip_cols


def _render(
    frame: gpd.GeoDataFrame,
    tooltip_cols: list[str],
    aliases: Sequence[str] | None,
    legend_title: str,
    labels: Sequence[str],
    colours: Sequence[str],
    tolerance_m: float,
    prefer_canvas: bool | None,
    attribution: str,
    legend_note: str | None = None,
) -> folium.Map:
    """Offline folium map of `frame` filled with its FILL_PROP colours, tooltips and an HTML legend."""
    display = to_display_wgs84(simplify_for_display(frame, tolerance_m))
    props = display[[*dict.fromkeys(tooltip_cols), FILL_PROP, "geometry"]].copy()
    # Tooltips print missing values as "null": show an explicit "no data" instead.
    for c in tooltip_cols:
        col = props[c]
        if pd.api.types.is_numeric_dtype(col) and not col.isna().any():
            props[c] = col.astype("int64") if np.all(np.mod(col.to_numpy(dtype=float), 1) == 0) else col.round(2)
        else:
            props[c] = col.astype(object).where(col.notna(), "no data")
    # Feature id = area code (folium's style mapper groups ids by style); no bboxes: payload.
    geojson = props.set_axis(display[CODE].to_numpy()).to_geo_dict(show_bbox=False)

    minx, miny, maxx, maxy = display.total_bounds
    n = len(display)
    m = offline_map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=10,
        zoom_snap=0.25,  # fit the area snugly: there are no tiles to keep at whole zoom levels
        prefer_canvas=bool(n > CANVAS_THRESHOLD) if prefer_canvas is None else prefer_canvas,
        attribution=attribution,
    )
    folium.GeoJson(
        geojson,
        name=legend_title,
        style_function=lambda f: {
            "fillColor": f["properties"][FILL_PROP],
            "color": "#555555",
            "weight": 0.5,
            "fillOpacity": 0.75,
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=list(dict.fromkeys(tooltip_cols)),
            aliases=list(aliases) if aliases is not None else None,
            localize=True,
            sticky=True,
        ),
    ).add_to(m)
    legend = Legend(legend_title, labels, colours)
    if legend_note:
        legend.html += f'<div style="max-width:14em;margin-top:4px;font-size:11px">{html.escape(legend_note)}</div>'
    legend.add_to(m)
    if n:
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    return assert_offline(m)


def build_choropleth(
    areas: gpd.GeoDataFrame,
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
) -> folium.Map:
    """Choropleth of `values[value_col]` over `areas` (joined on areas.code == values[key]).

    ``classes`` (geo.classify, e.g. breaks held fixed across periods) sets the classes; without it,
    quantiles of this map's values. Areas absent from `values` or with a missing value are drawn grey
    as "no data". Tooltips show `tooltip_cols` (default name, code, value). The map uses only the
    vendored Leaflet (geo.offline_assets).
    """
    frame, tooltip_cols = _frame_for(areas, values, value_col, tooltip_cols, key)
    if classes is None:
        classes = classify(frame[value_col], "quantiles", k)
    cls = classes.assign(frame[value_col])
    colours = palette_colours(palette, classes.k) if classes.k else ()
    frame[FILL_PROP] = np.array([*colours, NO_DATA_COLOUR], dtype=object)[np.where(cls < 0, len(colours), cls)]
    labels = classes.labels()
    if (cls < 0).any():
        labels, colours = [*labels, "no data"], (*colours, NO_DATA_COLOUR)
    return _render(frame, tooltip_cols, aliases, legend_title or value_col, labels, colours, tolerance_m,
                   prefer_canvas, attribution, legend_note)


def build_categorical_map(
    areas: gpd.GeoDataFrame,
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
) -> folium.Map:
    """Map of a categorical column (LISA cluster, Gi* bin label, emerging hot spot category) in fixed colours.

    ``colours`` maps each category to its colour (e.g. analysis.hotspots.LISA_COLOURS, GeoDa's; GI_COLOURS,
    ArcGIS's) and sets the legend order; the legend lists the categories present. Other values are grey.
    """
    frame, tooltip_cols = _frame_for(areas, values, value_col, tooltip_cols, key)
    label = frame[value_col].astype(object)
    known = label.isin(list(colours))
    frame[FILL_PROP] = label.map(dict(colours)).where(known, NO_DATA_COLOUR).to_numpy(dtype=object)
    present = set(label[known])
    labels = [c for c in colours if c in present]
    legend_colours = [colours[c] for c in labels]
    if (~known).any():
        labels, legend_colours = [*labels, "no data"], [*legend_colours, NO_DATA_COLOUR]
    return _render(frame, tooltip_cols, aliases, legend_title or value_col, labels, legend_colours, tolerance_m,
                   prefer_canvas, attribution, legend_note)


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
