"""Briefing pack for a tactical meeting or strategy document: one multi-page A4 PDF for an authority and period.

Pages: cover with headline figures; priority areas with reasons; map of the rate; map of Gi* hot and
cold spots; emerging hot spot summary (map and table); comparison of the top areas and of localities
(rates with 95% intervals against the whole-area rate); trend over every period; method notes,
caveats and attribution. Every page footer states the disclosure mode and, for synthetic data,
"synthetic demo data". Figures come from the same services as the dashboard and the command line
(atlas.analyses), maps from geo.static_maps with the dashboard's classes, and publication mode uses
the command line's suppression rules (atlas.exports.publish_table).
"""

from __future__ import annotations

import datetime as dt
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.text import Text

from analysis.disclosure import suppress_small_counts
from analysis.hotspots import HotspotParams
from analysis.periods import period_sort_key, same_period_last_year, shift_period
from analysis.rates import add_rates, overall_rate
from atlas import analyses as an
from atlas.safe_output import neutralise
from atlas.exports import (
    LEVEL_LABELS, LEVEL_WORDS, area_label, dataset_info, infer_grain, map_classes, overlay_layers, publish_map_values,
    publish_table, resolve_lad, shown_for_classes,
)
from boundaries.hierarchy import parent_map
from boundaries.load import load_areas
from geo._cartography import draw_legend
from geo.attribution import ATTRIBUTION, PUBLICATION_THRESHOLD, disclosure_text, status_line
from geo.schema import AREA_CODE, AREA_NAME, CODE, COUNT, LEVELS, NAME, PERIOD, POPULATION, RATE_PER_1000, \
    SYNTHETIC_LABEL, AtlasError
from geo.print_page import fit_rect
from geo.static_maps import MEASURES, display_shapes, plot_measure

A4_PORTRAIT = (8.27, 11.69)
TOP_N = 10
LOW_CI, HIGH_CI = "rate_lower_95", "rate_upper_95"
HOT_COLOUR, COLD_COLOUR, BAR_COLOUR, WHOLE_COLOUR = "#d62f27", "#4575b5", "#6baed6", "#333333"
_SMALL = f"<{PUBLICATION_THRESHOLD}"
_GRAIN_WORDS = {"month": "month", "quarter": "calendar quarter", "fyquarter": "financial quarter",
                "fy": "financial year", "year": "calendar year"}


@dataclass
class Briefing:
    """What build_briefing wrote: the file, its page titles, how long it took and the data notes."""

    path: Path
    pages: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class _Data:
    """Every table the pack draws on, computed once."""

    dataset: str
    boundary_set: str
    synthetic: bool
    lad_code: str
    lad_name: str
    level: str
    grain: str
    period: str
    periods: list[str]
    publication: bool
    rates: pd.DataFrame  # every period
    whole: pd.DataFrame  # whole-area count, population, rate and intervals per period
    priority: pd.DataFrame  # published
    gi: pd.DataFrame  # the period
    ehsa: pd.DataFrame | None
    localities: pd.DataFrame | None  # locality rates in the period (published), when localities exist
    notes: list[str]
    spc: pd.DataFrame | None = None  # XmR rows of the whole area and its areas, monthly (atlas.analyses.spc_table)


def build_briefing(
    store: Any,
    dataset: str,
    area: str,
    period: str,
    level: str = "ward",
    grain: str | None = None,
    publication: bool = False,
    out: str | Path = "briefing.pdf",
    top_n: int = TOP_N,
) -> Briefing:
    """Write the briefing PDF for local authority ``area`` (name or code) and ``period``; returns what was written."""
    from atlas.publication import publication_store

    start = time.perf_counter()
    store = publication_store(store, publication)  # publication mode: every table from perturbed counts
    data = _gather(store, dataset, area, period, level, grain, publication)
    data.spc = _spc_rows(store, data)
    pages: list[tuple[str, Figure]] = [
        ("Cover and headline figures", _cover(data)),
        ("Priority areas", _priority_page(data, top_n)),
        ("Map: rate per 1,000", _map_page(data, "rate")),
        ("Map: Gi* hot and cold spots", _map_page(data, "gi_bin")),
        ("Emerging hot spots", _emerging_page(data)),
        ("Compare areas and localities", _compare_page(data, top_n)),
        ("Trend", _trend_page(data)),
        ("Method notes, caveats and attribution", _notes_page(data)),
    ]
    out = Path(out)
    if out.suffix.lower() != ".pdf":
        raise AtlasError(f"the briefing pack is a PDF: name the output file .pdf (received {str(out)!r})")
    meta = {"Title": f"Briefing: {data.lad_name}, {data.period}", "Author": "Hotspot Atlas",
            "Subject": status_line(publication, data.synthetic), "Keywords": ATTRIBUTION, "Creator": "Hotspot Atlas"}
    with PdfPages(out, metadata=meta) as pdf:
        for i, (_, fig) in enumerate(pages, start=1):
            _footer(fig, data, i, len(pages))
            _literal_text(fig)
            pdf.savefig(fig)
    return Briefing(out, [t for t, _ in pages], time.perf_counter() - start, data.notes)


# ---------------------------------------------------------------------------- data


def _gather(store: Any, dataset: str, area: str, period: str, level: str, grain: str | None,
            publication: bool) -> _Data:
    """All the tables for one pack: rates (all periods), priority, Gi*, emerging, locality rates."""
    if level not in LEVELS or level == "lad":
        raise AtlasError(f"a briefing maps areas inside one authority: choose a level of {', '.join(LEVELS[:-1])}")
    boundary_set, synthetic = dataset_info(store, dataset)
    lad_code, lad_name = resolve_lad(boundary_set, area)
    grain = infer_grain(period, grain)
    scope = {"area_filter": lad_code}
    rates = an.rates_table(store, dataset, level, grain, **scope)
    periods = _chronological(rates[PERIOD].unique(), grain)
    if period not in periods:
        raise AtlasError(f"period {period!r} is not in dataset {dataset!r} at grain {grain}; "
                         f"the data runs {periods[0]} .. {periods[-1]}")
    notes = list(rates.attrs.get("notes", []))
    whole = overall_rate(rates[[PERIOD, COUNT, POPULATION]])
    whole = whole.set_index(PERIOD).reindex(periods).reset_index()
    priority = an.priority_table(store, dataset, level, grain, period=period, **scope)
    notes += [n for n in priority.attrs.get("notes", []) if n not in notes]
    priority = publish_table(priority, "priority", publication)
    gi = an.hotspots_table(store, dataset, level, grain, period=period, statistic="gi_star", **scope)
    try:
        ehsa = an.emerging_table(store, dataset, level, grain, period=period, **scope)
        notes += [n for n in ehsa.attrs.get("notes", []) if n not in notes]
    except AtlasError as exc:  # e.g. the first period: nothing to trend
        ehsa, _ = None, notes.append(f"emerging hot spot analysis left out: {exc}")
    localities = None
    if LEVELS.index(level) < LEVELS.index("locality"):
        try:
            localities = publish_table(_locality_rates(rates, period, level, boundary_set, lad_code), "rates",
                                       publication)
        except AtlasError:
            localities = None  # no localities for this authority (or level): the page says so
    rates, priority, gi, ehsa, localities = (_safe_names(t) for t in (rates, priority, gi, ehsa, localities))
    return _Data(dataset, boundary_set, synthetic, lad_code, lad_name, level, grain, period, periods, publication,
                 rates, whole, priority, gi, ehsa, localities, notes)


def _safe_names(table: pd.DataFrame | None, column: str = AREA_NAME) -> pd.DataFrame | None:
    """``table`` with its (user-supplied) names neutralised as in every CSV: text copied into a sheet stays text."""
    if table is None or column not in table.columns:
        return table
    out = table.copy()
    out[column] = neutralise(table[[column]])[column]
    return out


def _literal_text(fig: Figure) -> None:
    """Draw every text of ``fig`` as written: a name such as "Ward $x^2$" must not be typeset as mathtext (or TeX)."""
    # The pack's own wording uses no mathtext; tick labels set from names exist by now (set_yticks / set_xticks).
    for text in fig.findobj(Text):
        text.set_usetex(False)
        text.set_parse_math(False)


def _locality_rates(rates: pd.DataFrame, period: str, level: str, boundary_set: str, lad_code: str) -> pd.DataFrame:
    """Locality counts, population and rates in ``period``, summed from the level's areas (one load, not two)."""
    parent = parent_map(level, "locality", boundary_set)
    cur = rates.loc[rates[PERIOD] == period, [AREA_CODE, COUNT, POPULATION]]
    cur = cur.assign(_loc=cur[AREA_CODE].map(parent)).dropna(subset=["_loc"])
    if cur.empty:
        raise AtlasError(f"no localities for {lad_code}")
    summed = cur.groupby("_loc", sort=True)[[COUNT, POPULATION]].sum(min_count=1)
    names = load_areas("locality", boundary_set, lad_codes=[lad_code]).set_index(CODE)[NAME].astype(str)
    out = add_rates(summed.rename_axis(AREA_CODE).reset_index())
    out.insert(1, AREA_NAME, out[AREA_CODE].map(names))
    return out[out[AREA_NAME].notna()].reset_index(drop=True)


def _chronological(labels: Sequence[str], grain: str) -> list[str]:
    labels = [str(x) for x in labels]
    return [labels[i] for i in np.argsort(period_sort_key(labels, grain), kind="stable")]


# ---------------------------------------------------------------------------- page furniture


def _page(title: str, subtitle: str = "") -> Figure:
    fig = Figure(figsize=A4_PORTRAIT)
    fig.text(0.07, 0.955, title, fontsize=16, fontweight="bold", va="top")
    if subtitle:
        fig.text(0.07, 0.925, _wrap(subtitle, 105), fontsize=9, va="top", color="#333333")
    return fig


def _footer(fig: Figure, d: _Data, page: int, pages: int) -> None:
    """Mode and synthetic label (every page), dataset, page number and the short attribution."""
    fig.add_artist(_rule(fig, 0.062))
    fig.text(0.07, 0.052, status_line(d.publication, d.synthetic), fontsize=8, fontweight="bold", va="top",
             color="#1a5e20" if d.publication else "#9b1c1c")
    fig.text(0.93, 0.052, f"Page {page} of {pages}", fontsize=8, va="top", ha="right")
    fig.text(0.07, 0.034, _wrap(f"{d.lad_name} · {d.period} · dataset “{d.dataset}” · Contains OS data © Crown "
             "copyright and database right 2016; ONS data © Crown copyright and database right 2020; Open "
             "Government Licence v3.0 (full attribution on the last page)", 160),
             fontsize=6, va="top", color="#555555")


def _rule(fig: Figure, y: float) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([0.07, 0.93], [y, y], transform=fig.transFigure, color="#999999", linewidth=0.6)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) if text else ""


def _fmt_int(v: Any) -> str:
    if isinstance(v, str):
        return v
    return "–" if v is None or pd.isna(v) else f"{int(v):,}"


def _fmt(v: Any, nd: int = 2) -> str:
    return "–" if v is None or pd.isna(v) else f"{float(v):,.{nd}f}"


# ---------------------------------------------------------------------------- pages


def _headline(d: _Data) -> list[tuple[str, str, str]]:
    """(figure, value, comment) rows for the cover."""
    w = d.whole.set_index(PERIOD)
    now = w.loc[d.period]
    rows = [
        ("Incidents", _fmt_int(now[COUNT]), f"in {d.period}, all {len(d.rates[AREA_CODE].unique())} "
                                            f"{LEVEL_WORDS[d.level]}s of {d.lad_name}"),
        ("Rate per 1,000 residents", _fmt(now[RATE_PER_1000]),
         f"95% interval {_fmt(now[LOW_CI])} – {_fmt(now[HIGH_CI])}"),
    ]
    for label, other in (("Change on the same period last year", _safe(same_period_last_year, d)),
                         ("Change on the previous period", _safe(lambda p, g: shift_period(p, g, -1), d))):
        if other in w.index and w.loc[other, COUNT] > 0:
            pct = (now[COUNT] - w.loc[other, COUNT]) / w.loc[other, COUNT] * 100
            rows.append((label, f"{pct:+.1f}%", f"{_fmt_int(w.loc[other, COUNT])} incidents in {other}"))
        else:
            rows.append((label, "–", "no earlier period in the data"))
    cur = d.rates[d.rates[PERIOD] == d.period]
    higher = int((cur["compared_to_whole_area"] == "higher").sum())
    rows.append(("Areas with a rate clearly above the whole area", f"{higher}",
                 "95% interval above the whole-area rate"))
    hot = d.gi["gi_bin"] > 0
    raw_hot = int((d.gi["gi_bin_uncorrected"] > 0).sum())
    rows.append(("Gi* hot spots", f"{int(hot.sum())}",
                 f"{int((d.gi['gi_bin'] >= 2).sum())} at 95% confidence or more; "
                 f"{int((d.gi['gi_bin'] < 0).sum())} cold spots"
                 + (f"; {raw_hot} before the multiple-testing correction" if raw_hot != int(hot.sum()) else "")))
    if d.ehsa is not None:
        cat = d.ehsa["ehsa_category"].astype(str)
        lasting = cat.isin(["Persistent Hot Spot", "Intensifying Hot Spot"]).sum()
        new = cat.isin(["New Hot Spot", "Consecutive Hot Spot"]).sum()
        rows.append(("Emerging hot spots", f"{int(lasting)} persistent or intensifying",
                     f"{int(new)} new or consecutive, over {d.ehsa['n_periods'].iloc[0]} periods"))
    top = d.priority.head(3)[AREA_NAME].astype(str).tolist()
    rows.append(("Top priority areas", ", ".join(top) if top else "–", "see the priority table"))
    return rows


def _safe(fn: Any, d: _Data) -> str | None:
    try:
        return fn(d.period, d.grain)
    except AtlasError:
        return None


def _cover(d: _Data) -> Figure:
    fig = Figure(figsize=A4_PORTRAIT)
    fig.patches.append(_band(fig))
    fig.text(0.07, 0.93, "Domestic abuse briefing", fontsize=13, color="white", va="top")
    fig.text(0.07, 0.895, d.lad_name, fontsize=26, fontweight="bold", color="white", va="top")
    fig.text(0.07, 0.845, f"{d.period} · {LEVEL_LABELS[d.level]} level · rates per 1,000 residents",
             fontsize=11, color="white", va="top")
    y = 0.785
    if d.synthetic:
        fig.text(0.07, y, f"This pack uses {SYNTHETIC_LABEL}: made-up incidents for trying the tool, not real "
                 "incidents.", fontsize=10.5, fontweight="bold", color="#9b1c1c", va="top", wrap=True)
        y -= 0.035
    fig.text(0.07, y, disclosure_text(d.publication) + (
        ": small counts are shown as “<5” and their rates are blank." if d.publication else
        ": contains small counts; share only inside the partnership."), fontsize=10, va="top",
        color="#1a5e20" if d.publication else "#9b1c1c")
    y -= 0.06
    fig.text(0.07, y, "At a glance", fontsize=14, fontweight="bold", va="top")
    y -= 0.04
    for label, value, comment in _headline(d):
        value = _wrap(value, 40)
        lines = value.count("\n") + 1
        fig.text(0.07, y, label, fontsize=10, va="top", color="#333333")
        fig.text(0.52, y, value, fontsize=12, fontweight="bold", va="top")
        fig.text(0.52, y - 0.022 * lines, _wrap(comment, 55), fontsize=8, va="top", color="#555555")
        y -= 0.062 + 0.018 * (lines - 1)
    fig.text(0.07, 0.12, f"Dataset “{d.dataset}”, boundary set {d.boundary_set}. "
             f"Made with Hotspot Atlas on {dt.date.today().isoformat()}.", fontsize=8, va="top", color="#555555")
    return fig


def _band(fig: Figure) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((0, 0.82), 1, 0.18, transform=fig.transFigure, facecolor="#1f3a5f", edgecolor="none", zorder=-1)


def _priority_page(d: _Data, top_n: int) -> Figure:
    fig = _page("Priority areas", f"Top {top_n} {LEVEL_WORDS[d.level]}s by priority score, {d.period}. "
                "Score = weighted mean of rate, volume, hot spot, trend components (docs/output-columns.md).")
    cols = [("Rank", 0.07, 4), ("Area", 0.12, 22), ("Incidents", 0.36, 8), ("Rate /1,000", 0.45, 8),
            ("Score", 0.55, 6), ("Status", 0.62, 10), ("Reasons", 0.72, 34)]
    y = 0.88
    for name, x, _ in cols:
        fig.text(x, y, name, fontsize=8.5, fontweight="bold", va="top")
    y -= 0.02
    fig.add_artist(_rule(fig, y + 0.004))
    table = d.priority.head(top_n)
    for _, row in table.iterrows():  # at most top_n rows: a loop over the rows of a printed table
        cells = [str(row["rank"]), _wrap(row[AREA_NAME], 22), _fmt_int(row[COUNT]), _fmt(row[RATE_PER_1000]),
                 _fmt(row["score"]), "" if pd.isna(row.get("change_status")) else str(row["change_status"]),
                 _wrap(row["reasons"], 34) if pd.notna(row["reasons"]) else "(hidden: small count)"]
        lines = max(c.count("\n") + 1 for c in cells)
        for (_, x, _), text in zip(cols, cells):
            fig.text(x, y - 0.004, text, fontsize=7.5, va="top", linespacing=1.25)
        y -= 0.0125 * lines + 0.014
        fig.add_artist(_rule(fig, y + 0.006))
        if y < 0.14:
            break
    fig.text(0.07, max(y - 0.02, 0.08), _wrap(
        "Status: new = entered the top list this period; escalating / easing = listed both periods and the score "
        "rose / fell. Reasons name the components scoring at least 0.25. "
        + ("Publication mode: counts perturbed by up to 2; rows with 0–4 incidents show “<5” and no rate or "
           "reasons." if d.publication else ""),
        120), fontsize=7, va="top", color="#444444")
    return fig


def _map_values(d: _Data, measure: str) -> tuple[pd.DataFrame, Any]:
    """(values of the period, classes over every period) for the rate or Gi* map."""
    if measure == "rate":
        allp = d.rates.assign(value=d.rates[RATE_PER_1000].astype(float))
        # classes from shown values only (a break could be a hidden area's rate): atlas.exports.build_map
        classes = map_classes(shown_for_classes(publish_map_values(allp[["value", COUNT]], "rate", d.publication)),
                              "rate")
        vals = publish_map_values(allp[allp[PERIOD] == d.period][[AREA_CODE, AREA_NAME, "value", COUNT]], "rate",
                                  d.publication)
        return vals, classes
    return d.gi.rename(columns={"gi_label": "value"})[[AREA_CODE, "value"]], None


def _draw_map(fig: Figure, d: _Data, measure: str, values: pd.DataFrame, classes: Any, rect: tuple,
              legend_rect: tuple, label_top: int = 0) -> None:
    areas = _safe_names(load_areas(d.level, d.boundary_set, lad_codes=[d.lad_code]), NAME)  # the map's labels
    outlines, _ = overlay_layers(d.boundary_set, d.level, [d.lad_code])
    shapes = display_shapes(areas)
    rect = fit_rect(fig, shapes, rect)
    legend_rect = (legend_rect[0], legend_rect[1], legend_rect[2], rect[1] - 0.015 - legend_rect[1])
    ax = fig.add_axes(rect)
    entries, _, _ = plot_measure(ax, areas, values, measure, classes=classes, outlines=outlines, label_top=label_top,
                                 simplified=shapes)
    name, units = MEASURES[measure]
    lines = [("Locality boundary", "#222222", 1.1, "-")] if outlines is not None else []
    draw_legend(fig.add_axes(legend_rect), f"{name} ({units})", entries, lines=lines, fontsize=7.5,
                ncol=2 if len(entries) + len(lines) > 4 else 1)


def _map_page(d: _Data, measure: str) -> Figure:
    where = area_label(d.rates, d.boundary_set)
    if measure == "rate":
        fig = _page(f"Rate per 1,000 by {LEVEL_WORDS[d.level]}, {d.period}",
                    f"{where}. Quantile classes over all {len(d.periods)} periods (as the dashboard), so maps of "
                    "different periods share one legend. The ten highest rates are named.")
        values, classes = _map_values(d, "rate")
        _draw_map(fig, d, "rate", values, classes, (0.07, 0.30, 0.86, 0.6), (0.07, 0.12, 0.86, 0.16), label_top=10)
    else:
        fig = _page(f"Gi* hot and cold spots by {LEVEL_WORDS[d.level]}, {d.period}",
                    f"{where}. Getis-Ord Gi* on counts, queen contiguity; {HotspotParams().gi_method()}.")
        values, _ = _map_values(d, "gi_bin")
        _draw_map(fig, d, "gi_bin", values, None, (0.07, 0.30, 0.86, 0.6), (0.07, 0.12, 0.86, 0.16))
    return fig


def _emerging_page(d: _Data) -> Figure:
    fig = _page("Emerging hot spots", f"Space-time Gi* and Mann-Kendall trend over {d.periods[0]} to {d.period} "
                "(ArcGIS emerging hot spot categories).")
    if d.ehsa is None:
        fig.text(0.07, 0.85, "Not available: " + "; ".join(n for n in d.notes if "emerging" in n), fontsize=10,
                 va="top")
        return fig
    values = d.ehsa.rename(columns={"ehsa_category": "value"})[[AREA_CODE, "value"]]
    _draw_map(fig, d, "ehsa", values, None, (0.07, 0.47, 0.86, 0.43), (0.07, 0.33, 0.86, 0.13))
    hot = d.ehsa[d.ehsa["ehsa_category"].str.endswith("Hot Spot")].sort_values(
        ["ehsa_category", AREA_NAME], kind="stable")
    y = 0.31
    fig.text(0.07, y, "Areas in a hot spot pattern", fontsize=10, fontweight="bold", va="top")
    y -= 0.025
    if hot.empty:
        fig.text(0.07, y, "None.", fontsize=8.5, va="top")
    for cat, group in hot.groupby("ehsa_category", sort=False):  # a handful of categories
        text = _wrap(f"{cat} ({len(group)}): " + ", ".join(group[AREA_NAME].astype(str)), 120)
        fig.text(0.07, y, text, fontsize=8, va="top")
        y -= 0.014 * (text.count("\n") + 1) + 0.008
        if y < 0.1:
            break
    if d.ehsa["n_periods"].iloc[0] < 10:
        fig.text(0.07, max(y - 0.01, 0.075), f"Only {d.ehsa['n_periods'].iloc[0]} periods: ArcGIS recommends at "
                 "least 10 for the trend test; read the categories with care.", fontsize=7.5, va="top",
                 color="#9b1c1c")
    return fig


def _rate_bars(ax: Axes, table: pd.DataFrame, whole_rate: float, title: str) -> None:
    """Horizontal bars of rate per 1,000 with 95% intervals, the whole-area rate as a line; suppressed rows labelled."""
    t = table.iloc[::-1]
    y = np.arange(len(t))
    rate = pd.to_numeric(t[RATE_PER_1000], errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(t[LOW_CI], errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(t[HIGH_CI], errors="coerce").to_numpy(dtype=float)
    above = lo > whole_rate
    ax.barh(y, np.nan_to_num(rate), color=np.where(above, HOT_COLOUR, BAR_COLOUR), height=0.65)
    ok = np.isfinite(rate)
    ax.errorbar(rate[ok], y[ok], xerr=[rate[ok] - lo[ok], hi[ok] - rate[ok]], fmt="none", ecolor="#222222",
                elinewidth=0.8, capsize=2)
    ax.axvline(whole_rate, color=WHOLE_COLOUR, linestyle="--", linewidth=1)
    ax.text(whole_rate, len(t) - 0.3, f" whole area {whole_rate:.2f}", fontsize=7, va="bottom")
    for yi in y[~ok]:
        ax.text(0, yi, f" {_SMALL}: hidden", fontsize=7, va="center", color="#555555")
    ax.set_yticks(y, t[AREA_NAME].astype(str).tolist(), fontsize=7.5)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.set_xlabel("incidents per 1,000 residents (bar: rate; line: 95% interval; red: clearly above)", fontsize=7.5)
    ax.set_title(title, fontsize=10, loc="left", fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(-0.6, len(t) + 0.4)


def _compare_page(d: _Data, top_n: int) -> Figure:
    fig = _page("Compare areas and localities", f"Rates per 1,000 in {d.period} with 95% intervals against the "
                f"{d.lad_name} rate.")
    whole_rate = float(d.whole.set_index(PERIOD).loc[d.period, RATE_PER_1000])
    cur = publish_table(d.rates[d.rates[PERIOD] == d.period], "rates", d.publication).set_index(AREA_CODE)
    top_codes = [c for c in d.priority[AREA_CODE].head(top_n) if c in cur.index]
    ax = fig.add_axes((0.32, 0.53, 0.6, 0.35))
    _rate_bars(ax, cur.loc[top_codes].reset_index(), whole_rate, f"Top {len(top_codes)} priority "
               f"{LEVEL_WORDS[d.level]}s")
    if d.localities is not None and len(d.localities) >= 2:  # one locality = the whole area again
        loc = d.localities.sort_values(RATE_PER_1000, ascending=False, na_position="last")
        ax2 = fig.add_axes((0.32, 0.10, 0.6, 0.35))
        _rate_bars(ax2, loc, whole_rate, f"Localities ({len(loc)})")
    else:
        fig.text(0.07, 0.4, f"Fewer than two localities are defined for {d.lad_name} in boundary set "
                 f"{d.boundary_set}: no locality comparison.", fontsize=9, va="top")
    return fig


def _trend_page(d: _Data) -> Figure:
    fig = _page("Trend", f"{d.lad_name}, every {_GRAIN_WORDS.get(d.grain, d.grain)} in the data "
                f"({d.periods[0]} to {d.periods[-1]}); {d.period} highlighted.")
    w = d.whole
    x = np.arange(len(w))
    ax = fig.add_axes((0.1, 0.71, 0.8, 0.18))
    colours = np.where(w[PERIOD] == d.period, HOT_COLOUR, BAR_COLOUR)
    counts = w[COUNT].to_numpy(dtype=float)
    ax.bar(x, counts, color=colours)
    ax.set_ylabel("incidents", fontsize=8)
    ax.set_ylim(0, np.nanmax(counts) * 1.12 if np.isfinite(counts).any() and np.nanmax(counts) > 0 else 1)
    # The population is the same in every period, so a rate axis is the count axis rescaled: one set of
    # bars reads as both (no second line on an unrelated scale).
    pop = float(w[POPULATION].dropna().iloc[0]) if w[POPULATION].notna().any() else 0.0
    if pop > 0:
        ax2 = ax.twinx()
        ax2.set_ylim(0, ax.get_ylim()[1] * 1000.0 / pop)
        ax2.set_ylabel("rate per 1,000 residents", fontsize=8)
        ax2.tick_params(labelsize=7)
        ax2.spines[["top"]].set_visible(False)
    _period_axis(ax, w[PERIOD].tolist())
    ax.set_title(f"{d.lad_name}: incidents (left axis) and rate per 1,000 (right axis)", fontsize=10, loc="left",
                 fontweight="bold")
    # Rate of the top five priority areas over time; in publication mode points from counts 0-4 are left out.
    top = d.priority[AREA_CODE].head(5).tolist()
    series = d.rates[d.rates[AREA_CODE].isin(top)][[AREA_CODE, AREA_NAME, PERIOD, COUNT, RATE_PER_1000]]
    if d.publication:
        series = suppress_small_counts(series, PUBLICATION_THRESHOLD, [COUNT], [RATE_PER_1000])
    ax3 = fig.add_axes((0.1, 0.47, 0.8, 0.17))
    pos = {p: i for i, p in enumerate(d.periods)}
    for code in top:  # five lines
        s = series[series[AREA_CODE] == code]
        ax3.plot(s[PERIOD].map(pos).to_numpy(), pd.to_numeric(s[RATE_PER_1000], errors="coerce").to_numpy(dtype=float),
                 marker="o", markersize=2.5, linewidth=1.1, label=str(s[AREA_NAME].iloc[0]) if len(s) else code)
    ax3.plot(x, w[RATE_PER_1000].to_numpy(dtype=float), color=WHOLE_COLOUR, linestyle="--", linewidth=1,
             label=f"{d.lad_name} (whole area)")
    ax3.axvline(pos[d.period], color="#bbbbbb", linewidth=0.8)
    _period_axis(ax3, d.periods)
    ax3.set_ylabel("rate per 1,000", fontsize=8)
    ax3.set_ylim(bottom=0)
    ax3.legend(fontsize=7, frameon=False, ncol=3, loc="upper left", bbox_to_anchor=(0, -0.2))
    ax3.set_title("Top five priority areas: rate per 1,000", fontsize=10, loc="left", fontweight="bold")
    _spc_section(fig, d)
    return fig


# ---------------------------------------------------------------------------- monitoring (SPC)

SPC_COLOURS = {"common cause": "#7f7f7f", "special cause concern": "#e46c0a", "special cause improvement": "#289de0",
               "special cause (high)": "#361475", "special cause (low)": "#361475"}  # MDC's grey, orange, blue, purple


def _spc_rows(store: Any, d: _Data) -> pd.DataFrame | None:
    """Monthly XmR rows of the authority and its areas (None when the data has no months); published in publication mode."""
    try:
        table = an.spc_table(store, d.dataset, d.level, "month", area_filter=d.lad_code)
    except AtlasError:
        return None
    return an.publish_spc_table(table) if d.publication else table


def latest_special(table: pd.DataFrame) -> pd.DataFrame:
    """Areas (not the whole area) whose latest point is special cause: name, period, value, variation, note."""
    latest = table[table[AREA_CODE] != an.WHOLE_AREA_CODE].groupby(AREA_CODE, sort=False).tail(1)
    flagged = latest[latest["special_cause"].fillna(False).astype(bool)]
    return flagged.sort_values(["variation", AREA_NAME], kind="stable")


def draw_xmr(ax: Axes, rows: pd.DataFrame, title: str = "") -> None:
    """One XmR chart (NHS Making Data Count): values, mean, process limits, 2-sigma lines, special causes coloured."""
    periods = rows[PERIOD].astype(str).tolist()
    x = np.arange(len(rows))
    y = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)
    ax.plot(x, y, color="#7f7f7f", linewidth=1, zorder=2)
    colours = rows["variation"].map(SPC_COLOURS).fillna("#7f7f7f")
    ax.scatter(x, y, c=colours.tolist(), s=9, zorder=3)
    first = rows.iloc[0]
    for col, style, label in (("mean", "-", "mean"), ("upper_limit", "--", "process limits"),
                              ("lower_limit", "--", None), ("upper_2sigma", ":", "2-sigma"), ("lower_2sigma", ":", None)):
        v = pd.to_numeric(pd.Series([first[col]]), errors="coerce").iloc[0]
        if pd.notna(v):
            ax.axhline(float(v), color="#333333" if col == "mean" else "#777777", linestyle=style, linewidth=0.8,
                       label=label, zorder=1)
    _period_axis(ax, periods)
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title, fontsize=10, loc="left", fontweight="bold")


def _spc_section(fig: Figure, d: _Data) -> None:
    """The whole authority's monthly XmR chart and the areas whose latest month is special cause, in words."""
    top = 0.37
    if d.spc is None or d.spc.empty:
        fig.text(0.07, top, "Monitoring (statistical process control): the data has no months to chart.", fontsize=9,
                 va="top")
        return
    whole = d.spc[d.spc[AREA_CODE] == an.WHOLE_AREA_CODE]
    ax = fig.add_axes((0.1, 0.2, 0.8, 0.14))
    draw_xmr(ax, whole, f"Monitoring: {d.lad_name}, incidents per month, XmR chart (NHS Making Data Count)")
    ax.legend(fontsize=6.5, frameon=False, ncol=3, loc="upper right")
    ax.set_ylabel("incidents", fontsize=8)
    last = whole.iloc[-1]
    flagged = latest_special(d.spc)
    lines = [f"{last[PERIOD]}: {last['note'] if isinstance(last['note'], str) else 'not shown'}."]
    if flagged.empty:
        lines.append(f"No {LEVEL_WORDS.get(d.level, d.level)} has a special cause in its latest month.")
    else:
        lines.append(f"{len(flagged)} {LEVEL_WORDS.get(d.level, d.level)}(s) with a special cause in {last[PERIOD]}:")
        for _, r in flagged.head(3).iterrows():
            lines.append(f"  {r[AREA_NAME]}: {r['note']}")
        if len(flagged) > 3:
            lines.append(f"  and {len(flagged) - 3} more (atlas spc lists them all).")
    fig.text(0.07, 0.125, _wrap_lines(lines, 130), fontsize=7, va="top", linespacing=1.3)


def _wrap_lines(lines: list[str], width: int) -> str:
    return "\n".join(_wrap(line, width) for line in lines)


def _period_axis(ax: Axes, periods: list[str]) -> None:
    """Period labels on the x axis, thinned to at most ~12 so they stay legible."""
    step = max(1, int(np.ceil(len(periods) / 12)))
    ticks = np.arange(0, len(periods), step)
    ax.set_xticks(ticks, [periods[i] for i in ticks], fontsize=7, rotation=45 if len(periods) > 8 else 0,
                  ha="right" if len(periods) > 8 else "center")
    ax.tick_params(axis="y", labelsize=7)
    ax.spines[["top"]].set_visible(False)


def _notes_page(d: _Data) -> Figure:
    fig = _page("Method notes, caveats and attribution")
    paragraphs = [
        ("Rates", "Incidents per 1,000 residents (ONS mid-2019 population of the areas' LSOAs). 95% intervals: exact "
         "Poisson below 10 events, Byar's method otherwise (PHE technical guide). 'Clearly above' means the 95% "
         "interval lies above the whole-area rate (PHE Fingertips convention)."),
        ("Map classes", "Quantile classes computed over every period of the selection, the same classes as the "
         "dashboard's map, so one legend serves every period. Colours: ColorBrewer YlOrRd (colour-blind safe); hot "
         "spot colours as ArcGIS Pro; LISA colours as GeoDa."),
        ("Hot spots", "Getis-Ord Gi* on counts with queen contiguity weights (the area and its neighbours); bins "
         "at 90/95/99% confidence from the analytical z-score (two-sided) after a false discovery rate correction "
         "(Benjamini-Hochberg across the areas of the period), as ArcGIS Gi_Bin in Find Hot Spots; atlas hotspots "
         "--gi-correction none gives the uncorrected bins. Hot spots describe clusters of incidents, "
         "not causes; a larger population gives more incidents."),
        ("Emerging hot spots", "Space-time Gi* over every period up to the briefing period, with a Mann-Kendall "
         "trend test; categories as ArcGIS Pro's Emerging Hot Spot Analysis. ArcGIS recommends 10 or more periods."),
        ("Priority score", "Weighted mean of rate (3), volume (2), hot spot persistence and category (3) and trend "
         "(2) components, each scaled 0–1; deprivation weight 0 by default. A ranking aid for discussion, not a "
         "measure of need."),
        ("Disclosure", disclosure_text(d.publication) + ". " + (
            "Counts are perturbed by up to 2 (the cell-key method of the Census), so tables cannot be subtracted "
            f"from one another to find a hidden count; counts of 0–{PUBLICATION_THRESHOLD - 1} are shown as "
            f"“{_SMALL}” and rates, intervals, changes and reasons derived from them are blank. Tables need not add "
            "up exactly." if d.publication else
            "This pack shows every count, including small ones. Do not publish it outside the partnership; "
            "rebuild it with --publication for wider sharing.")),
    ]
    if d.synthetic:
        paragraphs.insert(0, ("Synthetic data", f"This pack is built from {SYNTHETIC_LABEL}: generated incidents for "
                              "trying the tool. No figure here describes real incidents or real places' risk."))
    if d.notes:
        paragraphs.append(("Notes on this data", " ".join(f"({i}) {n}." for i, n in enumerate(d.notes, 1))))
    paragraphs.append(("Attribution", ATTRIBUTION))
    y = 0.9
    for head, body in paragraphs:
        fig.text(0.07, y, head, fontsize=9.5, fontweight="bold", va="top")
        text = _wrap(body, 115)
        fig.text(0.07, y - 0.018, text, fontsize=7.8, va="top", linespacing=1.35)
        y -= 0.018 + 0.0135 * (text.count("\n") + 1) + 0.018
    return fig


__all__ = ["Briefing", "build_briefing"]
