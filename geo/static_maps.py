"""Static maps for print (matplotlib, Agg; no browser, no tiles): one measure per page, or small multiples.

Classes and colours come from the screen map's own code (geo.classify, geo.maps.palette_colours and
the LISA / Gi* / emerging category colours), so a printed map and the dashboard agree class for class.
Every page carries a title, a subtitle (area, measure, period), a legend with class breaks, units and
the number of areas per class, a scale bar in km, a north arrow, the data source and OGL/OS attribution,
the disclosure mode, and "synthetic demo data" when the data is synthetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.hotspots import GI_COLOURS, LISA_COLOURS
from geo._cartography import LegendEntry, add_north_arrow, add_scale_bar, draw_legend, label_areas
from geo.attribution import ATTRIBUTION, PUBLICATION_THRESHOLD
from geo.classify import Classes, classify
from geo.display_areas import simplify_for_display
from geo.maps import EHSA_COLOURS, NO_DATA_COLOUR, palette_colours
from geo.print_page import fit_rect, page_footer, page_header, page_size, save_figure, text_scale
from geo.schema import AREA_CODE, CODE, NAME, PERIOD, AtlasError, BoundaryError

# measure -> (title, legend units). Same measures, same names as the dashboard's map page.
MEASURES: dict[str, tuple[str, str]] = {
    "count": ("Incidents", "incidents in the period"),
    "rate": ("Rate per 1,000", "incidents per 1,000 residents"),
    "eb_rate": ("Smoothed rate per 1,000 (empirical Bayes)", "incidents per 1,000 residents, smoothed"),
    "lisa": ("LISA cluster (local Moran's I)", "cluster type, p < 0.05"),
    "gi_bin": ("Gi* hot and cold spots", "confidence of the Getis-Ord Gi* bin"),
    "ehsa": ("Emerging hot spot category", "space-time pattern (ArcGIS categories)"),
}
CATEGORY_COLOURS: dict[str, Mapping[str, str]] = {"lisa": LISA_COLOURS, "gi_bin": GI_COLOURS, "ehsa": EHSA_COLOURS}
VALUE = "value"
SUPPRESSED = "suppressed"  # bool column of values: count 1..4 hidden in publication mode
SUPPRESSED_HATCH = "////"
SUPPRESSED_LABEL = f"Suppressed (0–{PUBLICATION_THRESHOLD - 1} incidents)"
OUTLINE_COLOUR = "#222222"
CONTEXT_FILL = "#f2f2f2"


@dataclass
class StaticMap:
    """A rendered map figure with the classes and legend it used (for saving and for checks)."""

    figure: Figure
    classes: Classes | None
    legend: list[LegendEntry]
    area_colours: pd.Series  # area code -> fill colour actually drawn (first panel for small multiples)
    metadata: dict[str, str] = field(default_factory=dict)

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write PNG (300 dpi), SVG (text kept as text) or PDF; the format comes from the suffix unless given."""
        return save_figure(self.figure, path, fmt, self.metadata)

    def close(self) -> None:
        """Free the figure (pyplot is never used, but large figures are worth dropping early)."""
        self.figure.clear()


# ---------------------------------------------------------------------------- colouring


def measure_entries(
    values: pd.DataFrame, measure: str, *, classes: Classes | None = None, palette: str = "YlOrRd",
    value_col: str = VALUE,
) -> tuple[np.ndarray, list[LegendEntry], Classes | None]:
    """Fill colour per row of ``values`` and the legend entries, exactly as the screen map colours them.

    Numeric measures: ``classes`` (geo.classify, computed over every period as the dashboard does; this
    table's own quantiles when None) and ``geo.maps.palette_colours``. Categorical measures: the fixed
    LISA / Gi* / emerging colours. Missing values are "no data" grey; rows flagged ``suppressed`` are
    hatched white. Legend entries count the areas in each class.
    """
    if measure not in MEASURES:
        raise AtlasError(f"unknown map measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if value_col not in values.columns:
        raise AtlasError(f"map values lack the column {value_col!r} (columns: {list(values.columns)})")
    suppressed = values[SUPPRESSED].fillna(False).to_numpy(dtype=bool) if SUPPRESSED in values.columns else \
        np.zeros(len(values), dtype=bool)
    entries: list[LegendEntry] = []
    if measure in CATEGORY_COLOURS:
        colours = CATEGORY_COLOURS[measure]
        label = values[value_col].astype(object)
        known = label.isin(list(colours)).to_numpy()
        fills = label.map(dict(colours)).where(known, NO_DATA_COLOUR).to_numpy(dtype=object)
        tally = label[known].value_counts()
        entries = [LegendEntry(c, colours[c], int(tally[c])) for c in colours if c in tally.index]
        missing = ~known
        classes = None
    else:
        if classes is None:
            classes = classify(values[value_col], "quantiles", 5)
        cls = classes.assign(values[value_col])
        pal = palette_colours(palette, classes.k) if classes.k else ()
        fills = np.array([*pal, NO_DATA_COLOUR], dtype=object)[np.where(cls < 0, len(pal), cls)]
        counts = np.bincount(cls[cls >= 0], minlength=classes.k)
        entries = [LegendEntry(lab, col, int(n)) for lab, col, n in zip(classes.labels(), pal, counts)]
        missing = (cls < 0) & ~suppressed
    fills = np.where(suppressed, "#ffffff", fills).astype(object)
    if suppressed.any():
        entries.append(LegendEntry(SUPPRESSED_LABEL, "#ffffff", int(suppressed.sum()), SUPPRESSED_HATCH))
    if missing.any():
        entries.append(LegendEntry("no data", NO_DATA_COLOUR, int(missing.sum())))
    return fills, entries, classes


# ---------------------------------------------------------------------------- drawing on one axes


def plot_measure(
    ax: Axes,
    areas: gpd.GeoDataFrame,
    values: pd.DataFrame,
    measure: str,
    *,
    classes: Classes | None = None,
    palette: str = "YlOrRd",
    key: str = AREA_CODE,
    value_col: str = VALUE,
    outlines: gpd.GeoDataFrame | None = None,
    context: gpd.GeoDataFrame | None = None,
    label_top: int = 0,
    label_by: str | None = None,
    furniture: bool = True,
    simplified: gpd.GeoDataFrame | None = None,
    text_scale: float = 1.0,
) -> tuple[list[LegendEntry], Classes | None, pd.Series]:
    """Draw one measure on ``ax`` (BNG metres): fills, locality outlines, context layer, labels, scale, north.

    ``values`` holds one row per area ([key, value_col], optional ``suppressed``); areas absent from it
    are "no data". ``outlines`` (e.g. localities) are drawn as heavy lines over the fills; ``context``
    (e.g. local authorities) as a pale fill beneath, clipped to the mapped areas' extent. ``label_top``
    names the top N areas by ``label_by`` (default: the value, numeric measures only). ``text_scale``
    enlarges labels and furniture on bigger paper.
    Returns (legend entries, classes used, fill colour by area code).
    """
    if measure not in MEASURES:
        raise AtlasError(f"unknown map measure {measure!r}; choose one of {', '.join(MEASURES)}")
    shapes = simplified if simplified is not None else display_shapes(areas)
    frame = _join(shapes, values, key, value_col)
    fills, entries, classes = measure_entries(frame, measure, classes=classes, palette=palette, value_col=value_col)
    minx, miny, maxx, maxy = shapes.total_bounds
    pad = 0.03 * max(maxx - minx, maxy - miny, 1.0)
    if context is not None and len(context):
        ctx = display_shapes(context)
        ctx.plot(ax=ax, facecolor=CONTEXT_FILL, edgecolor="#9a9a9a", linewidth=0.6, zorder=1)
    frame.plot(ax=ax, color=list(fills), edgecolor="#8c8c8c", linewidth=0.25, zorder=2)
    hidden = frame[SUPPRESSED].to_numpy(dtype=bool) if SUPPRESSED in frame.columns else np.zeros(len(frame), bool)
    if hidden.any():
        frame[hidden].plot(ax=ax, facecolor="none", edgecolor="#8c8c8c", hatch=SUPPRESSED_HATCH, linewidth=0.25,
                           zorder=3)
    if outlines is not None and len(outlines):
        display_shapes(outlines).boundary.plot(ax=ax, color=OUTLINE_COLOUR, linewidth=1.1, zorder=4)
    if context is not None and len(context):
        ctx.boundary.plot(ax=ax, color="#555555", linewidth=0.8, linestyle="--", zorder=4)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")  # geopandas labels the axes "Easting [metre]": a map needs no axis titles
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_edgecolor("#bbbbbb")
        spine.set_linewidth(0.6)
    if label_top > 0:
        _label_top(ax, frame, measure, label_top, label_by or value_col, 6.5 * text_scale)
    if furniture:
        add_scale_bar(ax, fontsize=7 * text_scale)
        add_north_arrow(ax, fontsize=9 * text_scale)
    return entries, classes, pd.Series(fills, index=frame[CODE].to_numpy())


def display_shapes(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Areas simplified for print (geo.display_areas.simplify_for_display: shared edges kept, ~25 m tolerance)."""
    for col in (CODE, "geometry"):
        if col not in areas.columns:
            raise BoundaryError(f"boundaries lack the column {col!r} (columns: {list(areas.columns)})")
    cols = [c for c in (CODE, NAME, "geometry") if c in areas.columns]
    out = simplify_for_display(areas[cols])
    out[CODE] = out[CODE].astype(str)
    return out.reset_index(drop=True)


def _join(shapes: gpd.GeoDataFrame, values: pd.DataFrame, key: str, value_col: str) -> gpd.GeoDataFrame:
    """Shapes with the values' columns by area code (absent areas: missing value)."""
    if key not in values.columns:
        raise AtlasError(f"map values lack the column {key!r} (columns: {list(values.columns)})")
    dup = values[key].astype(str).duplicated()
    if dup.any():
        raise AtlasError(f"map values have more than one row for area {values[key][dup].iloc[0]!r}: "
                         "filter them to one period first")
    vals = values.assign(**{key: values[key].astype(str)}).set_index(key)
    joined = vals.reindex(shapes[CODE].to_numpy())
    frame = shapes.copy()
    for col in vals.columns:
        if col not in frame.columns:
            frame[col] = joined[col].to_numpy()
    if SUPPRESSED in frame.columns:
        frame[SUPPRESSED] = pd.Series(frame[SUPPRESSED], dtype="boolean").fillna(False).to_numpy(dtype=bool)
    return frame


def _label_top(ax: Axes, frame: gpd.GeoDataFrame, measure: str, n: int, by: str, fontsize: float) -> None:
    """Name the top ``n`` areas by column ``by`` (largest first; suppressed and missing values never named)."""
    if by not in frame.columns or NAME not in frame.columns:
        return
    score = pd.to_numeric(frame[by], errors="coerce")
    if by == VALUE and measure in CATEGORY_COLOURS:
        return  # categories have no order to rank by
    if SUPPRESSED in frame.columns:
        score = score.where(~frame[SUPPRESSED].astype(bool))
    top = score.dropna().sort_values(ascending=False, kind="stable").index[:n]
    if len(top) == 0:
        return
    pts = frame.loc[top].geometry.representative_point()
    xs, ys, names = pts.x.to_numpy(), pts.y.to_numpy(), frame.loc[top, NAME].astype(str).tolist()
    # Greedy de-cluttering in rank order: skip a name whose box would overlap one already placed
    # (box ~ text size in map units; at most N labels, so the loop is tiny).
    x0, x1 = ax.get_xlim()
    fig_w = ax.get_position().width * ax.figure.get_figwidth() * 72  # axes width in points
    per_pt = (x1 - x0) / max(fig_w, 1.0)
    keep: list[int] = []
    for i in range(len(names)):
        half_w, half_h = len(names[i]) * fontsize * 0.3 * per_pt, fontsize * 0.8 * per_pt
        if all(abs(xs[i] - xs[j]) > half_w + len(names[j]) * fontsize * 0.3 * per_pt or abs(ys[i] - ys[j]) > 2 * half_h
               for j in keep):
            keep.append(i)
    with matplotlib.rc_context({"text.parse_math": False}):  # names from user files: a "$" is a dollar sign
        label_areas(ax, xs[keep], ys[keep], [names[i] for i in keep], fontsize)


# ---------------------------------------------------------------------------- whole pages


def render_map(
    areas: gpd.GeoDataFrame,
    values: pd.DataFrame,
    measure: str,
    *,
    title: str,
    subtitle: str = "",
    classes: Classes | None = None,
    palette: str = "YlOrRd",
    key: str = AREA_CODE,
    value_col: str = VALUE,
    units: str | None = None,
    outlines: gpd.GeoDataFrame | None = None,
    context: gpd.GeoDataFrame | None = None,
    label_top: int = 0,
    label_by: str | None = None,
    source: str = "",
    attribution: str = ATTRIBUTION,
    publication: bool = False,
    synthetic: bool = False,
    paper: str = "a4",
    orientation: str = "landscape",
) -> StaticMap:
    """A whole map page: title, subtitle, map with scale bar and north arrow, legend, source, attribution, mode.

    ``values``: one row per area for one period ([key, value_col], optional ``suppressed``). ``classes``:
    the screen map's classes (geo.classify over every period); None = this table's quantiles.
    """
    fig = Figure(figsize=page_size(paper, orientation))
    portrait = orientation.lower() == "portrait"
    shapes = display_shapes(areas)
    top = page_header(fig, title, subtitle)
    map_rect, legend_rect = _fit_layout(fig, shapes, portrait, top - 0.02)
    ax = fig.add_axes(map_rect)
    entries, classes, colours = plot_measure(
        ax, areas, values, measure, classes=classes, palette=palette, key=key, value_col=value_col,
        outlines=outlines, context=context, label_top=label_top, label_by=label_by, simplified=shapes,
        text_scale=text_scale(fig))
    _legend(fig, legend_rect, measure, units, entries, outlines is not None, context is not None, portrait)
    meta = page_footer(fig, source, attribution, publication, synthetic)
    meta["Title"] = title
    return StaticMap(fig, classes, entries, colours, meta)


def render_small_multiples(
    areas: gpd.GeoDataFrame,
    values: pd.DataFrame,
    measure: str,
    periods: Sequence[str],
    *,
    title: str,
    subtitle: str = "",
    classes: Classes | None = None,
    palette: str = "YlOrRd",
    key: str = AREA_CODE,
    value_col: str = VALUE,
    units: str | None = None,
    outlines: gpd.GeoDataFrame | None = None,
    ncols: int | None = None,
    source: str = "",
    attribution: str = ATTRIBUTION,
    publication: bool = False,
    synthetic: bool = False,
    paper: str = "a4",
    orientation: str = "landscape",
) -> StaticMap:
    """One page with a panel per period on shared classes (computed over all the periods when not given).

    ``values`` has a ``period`` column; every panel uses the same ``classes`` and colours, so a class
    means the same range in each. The legend counts areas over all panels.
    """
    periods = list(periods)
    if not periods:
        raise AtlasError("small multiples need at least one period")
    if PERIOD not in values.columns:
        raise AtlasError(f"small-multiple values need a {PERIOD!r} column (columns: {list(values.columns)})")
    absent = [p for p in periods if p not in set(values[PERIOD].astype(str))]
    if absent:
        raise AtlasError(f"no map values for period(s) {', '.join(absent)}")
    if classes is None and measure not in CATEGORY_COLOURS:
        classes = classify(values.loc[values[PERIOD].isin(periods), value_col], "quantiles", 5)
    fig = Figure(figsize=page_size(paper, orientation))
    portrait = orientation.lower() == "portrait"
    n = len(periods)
    top = page_header(fig, title, (subtitle + " · " if subtitle else "") + "classes shared by every panel; "
                  "legend counts areas over all panels")
    map_rect, legend_rect = _layout(portrait)
    x0, y0, w, h = map_rect
    h = min(h, top - 0.03 - y0)
    shapes = display_shapes(areas)  # simplify once for every panel
    fw, fh = fig.get_size_inches()
    minx, miny, maxx, maxy = shapes.total_bounds
    ncols = max(1, min(ncols or _best_columns(n, w * fw, h * fh, (maxx - minx) / max(maxy - miny, 1.0)), n))
    nrows = int(np.ceil(n / ncols))
    gap = 0.012
    cw, ch = (w - gap * (ncols - 1)) / ncols, (h - 0.03 * nrows) / nrows
    outline_shapes = display_shapes(outlines) if outlines is not None and len(outlines) else None
    tally: dict[str, LegendEntry] = {}
    first_colours = pd.Series(dtype=object)
    for i, period in enumerate(periods):
        r, c = divmod(i, ncols)
        ax = fig.add_axes((x0 + c * (cw + gap), y0 + (nrows - 1 - r) * (ch + 0.03), cw, ch))
        sub = values[values[PERIOD].astype(str) == period]
        entries, _, colours = plot_measure(
            ax, areas, sub, measure, classes=classes, palette=palette, key=key, value_col=value_col,
            outlines=outline_shapes, furniture=False, simplified=shapes)
        ax.set_title(period, fontsize=9 * text_scale(fig), pad=3)
        if i == 0:
            first_colours = colours
            add_north_arrow(ax, size=0.1, fontsize=7 * text_scale(fig))
        if i == n - 1:
            add_scale_bar(ax, fontsize=6 * text_scale(fig))
        for e in entries:
            old = tally.get(e.label)
            tally[e.label] = e if old is None else LegendEntry(e.label, e.colour, (old.n or 0) + (e.n or 0), e.hatch)
    entries = _ordered(tally, classes, measure)
    _legend(fig, legend_rect, measure, units, entries, outlines is not None, False, portrait)
    meta = page_footer(fig, source, attribution, publication, synthetic)
    meta["Title"] = title
    return StaticMap(fig, classes, entries, first_colours, meta)


def _best_columns(n: int, width: float, height: float, aspect: float) -> int:
    """Columns of the panel grid that give each map the largest scale (map width / height = ``aspect``)."""
    best, best_scale = 1, 0.0
    for cols in range(1, n + 1):
        rows = int(np.ceil(n / cols))
        cell_w, cell_h = width / cols, height / rows * 0.92  # room for the panel title
        scale = min(cell_w, cell_h * aspect)
        if scale > best_scale + 1e-9:
            best, best_scale = cols, scale
    return best


def _ordered(tally: dict[str, LegendEntry], classes: Classes | None, measure: str) -> list[LegendEntry]:
    """Legend entries summed over panels, in class (or category) order, then suppressed and no data."""
    order = classes.labels() if classes is not None else list(CATEGORY_COLOURS.get(measure, {}))
    first = [tally[lab] for lab in order if lab in tally]
    rest = [tally[lab] for lab in (SUPPRESSED_LABEL, "no data") if lab in tally]
    return first + rest


def _layout(portrait: bool) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """(map area rect, legend rect) in figure fractions, before fitting to the map's shape."""
    if portrait:
        return (0.05, 0.30, 0.90, 0.59), (0.05, 0.12, 0.90, 0.16)
    return (0.03, 0.13, 0.68, 0.76), (0.73, 0.13, 0.25, 0.76)


def _fit_layout(fig: Figure, shapes: gpd.GeoDataFrame, portrait: bool, top: float
                ) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """Map rect shrunk to the areas' shape, hung from ``top`` (below the header), and the legend beside it."""
    (x0, y0, w, h), (lx, ly, lw, lh) = _layout(portrait)
    mx, my, mw, mh = fit_rect(fig, shapes, (x0, y0, w, min(h, top - y0)), centre=portrait)
    if portrait:
        legend_top = my - 0.015
        return (mx, my, mw, mh), (x0, ly, w, max(legend_top - ly, lh))
    return (mx, my, mw, mh), (mx + mw + 0.02, ly, max(lw, 0.97 - (mx + mw + 0.02)), lh)


def _legend(fig: Figure, rect: tuple[float, float, float, float], measure: str, units: str | None,
            entries: list[LegendEntry], outlines: bool, context: bool, portrait: bool) -> None:
    """Legend axes: measure name with units, class swatches, and the line styles of the overlays."""
    lax = fig.add_axes(rect)
    name, default_units = MEASURES[measure]
    lines = []
    if outlines:
        lines.append(("Locality boundary", OUTLINE_COLOUR, 1.1, "-"))
    if context:
        lines.append(("Local authority boundary", "#555555", 0.8, "--"))
    with matplotlib.rc_context({"text.parse_math": False}):  # units are the caller's text, shown as given
        draw_legend(lax, f"{name}\n({units or default_units})", entries, lines=lines, fontsize=8 * text_scale(fig),
                    ncol=2 if portrait and len(entries) + len(lines) > 4 else 1)


__all__ = [
    "CATEGORY_COLOURS", "MEASURES", "SUPPRESSED", "SUPPRESSED_LABEL", "StaticMap", "VALUE", "display_shapes",
    "measure_entries", "plot_measure", "render_map", "render_small_multiples",
]
