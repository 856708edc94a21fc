"""Files for documents and meetings from a stored dataset: analysis tables (CSV, XLSX) and static maps.

Tables use the command line's own disclosure rules (``atlas.cli_analysis``): in publication mode counts
of 0-4 become "<5" and the figures derived from them are blanked (analysis.disclosure). Every file
states its mode: a ``disclosure`` column (and ``data_note`` = "synthetic demo data" for synthetic
datasets) in CSV and XLSX, plus an "About" sheet in XLSX. Text cells that a spreadsheet would run as
a formula (starting with = + - @, tab or carriage return) are prefixed with an apostrophe (OWASP,
"CSV Injection"). Maps take their classes from geo.classify over every period, as the dashboard does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.disclosure import SUPPRESSED_FLAG, suppress_small_counts
from analysis.periods import parse_periods, period_sort_key
from atlas.safe_output import neutralise, write_csv, write_xlsx
from boundaries.load import load_areas
from geo.attribution import ATTRIBUTION, PUBLICATION_THRESHOLD, disclosure_text
from geo.classify import Classes, classify
from geo.schema import AREA_CODE, AREA_NAME, CODE, COUNT, LAD_CODE, LAD_NAME, LEVELS, PERIOD, RATE_PER_1000, \
    SYNTHETIC_LABEL, AtlasError

LEVEL_LABELS: dict[str, str] = {"lsoa": "LSOA", "msoa": "MSOA", "ward": "Ward", "locality": "Locality",
                                "lad": "Local authority"}
LEVEL_WORDS: dict[str, str] = {"lsoa": "LSOA", "msoa": "MSOA", "ward": "ward", "locality": "locality",
                               "lad": "local authority"}  # inside a sentence
TABLE_FORMATS = ("csv", "xlsx")
DISCLOSURE_COL = "disclosure"
DATA_NOTE_COL = "data_note"


# ---------------------------------------------------------------------------- scope helpers


def dataset_info(store: Any, dataset: str) -> tuple[str, bool]:
    """(boundary set, synthetic?) of a stored dataset; StoreError from the store when it is unknown."""
    info = store.dataset(dataset)
    return str(info["boundary_set"]), bool(info["synthetic"])


def infer_grain(period: str | None, grain: str | None, default: str = "fy") -> str:
    """The grain given, else the grain of the period label (2024/25 -> fy, 2024-Q3 -> quarter), else ``default``."""
    if grain:
        return grain
    if not period:
        return default
    parsed = parse_periods(pd.Series([period]))
    if parsed["error"].notna().iloc[0]:
        raise AtlasError(f"cannot use the period {period!r} ({parsed['error'].iloc[0]}): write it as, for "
                         "example, 2024/25, 2024/25-Q3, 2024-Q3, 2024-06 or 2024")
    if str(parsed["period"].iloc[0]) != period.strip():
        raise AtlasError(f"write the period as {parsed['period'].iloc[0]!r} (received {period!r})")
    return str(parsed["grain"].iloc[0])


def resolve_lad(boundary_set: str, area: str) -> tuple[str, str]:
    """(code, name) of a local authority given by ONS code or name (case-insensitive); error lists the options."""
    lads = load_areas("lad", boundary_set)
    wanted = area.strip().lower()
    hit = lads[(lads[CODE].astype(str).str.lower() == wanted) | (lads["name"].astype(str).str.lower() == wanted)]
    if hit.empty:
        options = ", ".join(f"{n} ({c})" for c, n in zip(lads[CODE], lads["name"]))
        raise AtlasError(f"no local authority {area!r} in boundary set {boundary_set!r}; choose one of: {options}")
    return str(hit[CODE].iloc[0]), str(hit["name"].iloc[0])


# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class TableSpec:
    """How to build one exportable table and which columns its disclosure rule covers."""

    name: str
    help: str
    needs_against: bool = False


TABLES: dict[str, TableSpec] = {
    "rates": TableSpec("rates", "counts and rates per 1,000 with intervals, per area and period"),
    "smoothed": TableSpec("smoothed", "EB and spatial EB smoothed rates, funnel position, shares"),
    "hotspots": TableSpec("hotspots", "Getis-Ord Gi* per area and period"),
    "emerging": TableSpec("emerging", "emerging hot spot category per area"),
    "compare": TableSpec("compare", "change per area between --against and --period", needs_against=True),
    "priority": TableSpec("priority", "ranked priority areas with reasons"),
    "seed": TableSpec("seed", "rates by area for three financial years"),
    "concentration": TableSpec("concentration", "share of incidents in the top areas, Gini"),
}


def build_table(
    store: Any, table: str, dataset: str, level: str = "ward", grain: str | None = None, period: str | None = None,
    against: str | None = None, area_filter: str | None = None, denominator: str = "total",
    category: str | None = None,
) -> pd.DataFrame:
    """One analysis table by name (the services behind `atlas rates`, `priority`, ...), unsuppressed."""
    from atlas import analyses as an
    from atlas import area_statistics as st

    if table not in TABLES:
        raise AtlasError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    grain = infer_grain(period, grain)
    scope = {"area_filter": area_filter, "denominator": denominator, "category": category}
    if table == "rates":
        return an.rates_table(store, dataset, level, grain, period=period, **scope)
    if table == "smoothed":
        return st.smoothed_rates_table(store, dataset, level, grain, period=period, **scope)
    if table == "hotspots":
        return an.hotspots_table(store, dataset, level, grain, period=period, **scope)
    if table == "emerging":
        return an.emerging_table(store, dataset, level, grain, period=period, **scope)
    if table == "compare":
        if not (period and against):
            raise AtlasError("the compare table needs --period and --against")
        return an.compare_table(store, dataset, level, grain, period=period, against=against, **scope)
    if table == "priority":
        return an.priority_table(store, dataset, level, grain, period=period, **scope)
    if table == "seed":
        return an.seed_rates(store, dataset, level=level, last_fy=period, **scope)
    return st.concentration_table(store, dataset, level, grain, period=period, **scope)


def disclosure_rules(table: str, frame: pd.DataFrame | None = None) -> Mapping[str, Sequence[str]]:
    """count column -> derived columns blanked with it: the CLI's rules (atlas.cli_analysis), so files agree."""
    from atlas.analyses import seed_count_columns
    from atlas.publication import DISCLOSURE as _DISCLOSURE

    if table == "seed":
        return seed_count_columns(frame) if frame is not None else {}
    return _DISCLOSURE[table]


def publish_table(table: pd.DataFrame, name: str, publication: bool) -> pd.DataFrame:
    """The table as it may leave the partnership: exactly what `atlas <name> --publication` writes; attrs kept."""
    if not publication:
        return table
    from atlas.cli_analysis import publish

    out = publish(table, name, disclosure_rules(name, table), PUBLICATION_THRESHOLD)
    out.attrs = dict(table.attrs)
    return out


def escape_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells starting with = + - @ tab or CR (not plain numbers) with an apostrophe, as the CLI does."""
    return neutralise(table)  # atlas.safe_output: the one rule every writer uses


def stamp(table: pd.DataFrame, publication: bool, synthetic: bool) -> pd.DataFrame:
    """Add the disclosure mode column (and the synthetic data note) to every row."""
    out = table.copy()
    out[DISCLOSURE_COL] = disclosure_text(publication)
    if synthetic:
        out[DATA_NOTE_COL] = SYNTHETIC_LABEL
    out.attrs = dict(table.attrs)
    return out


def write_table(
    table: pd.DataFrame, out: str | Path, fmt: str | None = None, *, publication: bool, synthetic: bool,
    title: str = "", notes: Sequence[str] = (),
) -> Path:
    """Write a (published) table as CSV (UTF-8 with BOM, for Excel) or XLSX, stamped and formula-escaped."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in TABLE_FORMATS:
        raise AtlasError(f"cannot tell the table format of {str(out)!r}: use a .csv or .xlsx name, or --format csv|xlsx")
    body = stamp(table, publication, synthetic)  # the writers below neutralise formula cells
    if fmt == "csv":
        write_csv(body, out, encoding="utf-8-sig", announce=False)
        return out
    rows = [("title", title), ("disclosure", disclosure_text(publication)),
            ("data", SYNTHETIC_LABEL + " — not real incidents" if synthetic else "as imported"),
            *[(k, str(v)) for k, v in table.attrs.items() if k != "notes" and v is not None],
            ("generated", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
            *[("note", n) for n in (*notes, *table.attrs.get("notes", []))],
            ("attribution", ATTRIBUTION)]
    about = pd.DataFrame(rows, columns=["item", "value"])
    return write_xlsx(out, {"table": body, "About": about}, freeze_header=("table",))


def export_table(
    store: Any, table: str, dataset: str, out: str | Path, fmt: str | None = None, *, publication: bool = False,
    **scope: Any,
) -> tuple[Path, pd.DataFrame]:
    """Build, publish (if asked) and write one table; returns (path, the table as written before stamping)."""
    _, synthetic = dataset_info(store, dataset)
    from atlas.publication import publication_store

    raw = build_table(publication_store(store, publication), table, dataset, **scope)
    shown = publish_table(raw, table, publication)
    title = f"{table} table, dataset {dataset!r}"
    path = write_table(shown, out, fmt, publication=publication, synthetic=synthetic, title=title)
    return path, shown


# ---------------------------------------------------------------------------- map data


def map_values(
    store: Any, dataset: str, level: str, grain: str, measure: str, period: str | None = None,
    area_filter: str | None = None, denominator: str = "total", category: str | None = None,
) -> pd.DataFrame:
    """[area_code, area_name, lad_code, period, value, count] of a map measure, as the dashboard's map page.

    Numeric measures (count, rate, eb_rate) cover every period, so classes can be computed over all of
    them; lisa and gi_bin cover ``period`` (all periods when None); ehsa is one table up to ``period``.
    """
    from atlas import analyses as an
    from geo.static_maps import MEASURES

    if measure not in MEASURES:
        raise AtlasError(f"unknown map measure {measure!r}; choose one of {', '.join(MEASURES)}")
    scope = {"area_filter": area_filter, "denominator": denominator, "category": category}
    if measure in ("count", "rate", "eb_rate"):
        t = an.rates_table(store, dataset, level, grain, **scope)
        if period is not None and period not in set(t[PERIOD]):
            an.load_frame(store, dataset, level, grain, **scope).check_period(period)  # the clear error
        if measure == "eb_rate":
            from analysis.smoothing import EB_RATE, eb_rate

            t = eb_rate(t).rename(columns={EB_RATE: "value"})
        else:
            t = t.assign(value=t[COUNT] if measure == "count" else t[RATE_PER_1000])
        t["value"] = t["value"].astype(float)
    elif measure in ("lisa", "gi_bin"):
        stat, col = ("local_moran", "lisa_label") if measure == "lisa" else ("gi_star", "gi_label")
        t = an.hotspots_table(store, dataset, level, grain, period=period, statistic=stat, **scope)
        t = t.rename(columns={col: "value"})
    else:
        t = an.emerging_table(store, dataset, level, grain, period=period, **scope)
        t = t.rename(columns={"ehsa_category": "value"}).assign(**{PERIOD: t["last_period"]})
    if LAD_CODE not in t.columns:  # hot spot tables name no authority: take it from the boundaries
        attrs = dict(t.attrs)
        lads = load_areas(level, attrs["boundary_set"])[[CODE, LAD_CODE]].rename(columns={CODE: AREA_CODE})
        t = t.merge(lads.assign(**{AREA_CODE: lads[AREA_CODE].astype(str)}), on=AREA_CODE, how="left")
        t.attrs = attrs
    cols = [c for c in (AREA_CODE, AREA_NAME, LAD_CODE, PERIOD, "value", COUNT) if c in t.columns]
    out = t[cols].reset_index(drop=True)
    out.attrs = dict(t.attrs)
    return out


def map_classes(values: pd.Series, measure: str, scheme: str = "quantiles", k: int = 5,
                breaks: Sequence[float] | None = None) -> Classes | None:
    """The screen map's classes: geo.classify over every period's values (None for categorical measures)."""
    from geo.static_maps import CATEGORY_COLOURS

    if measure in CATEGORY_COLOURS:
        return None
    return classify(values, scheme, k, breaks)


def publish_map_values(values: pd.DataFrame, measure: str, publication: bool) -> pd.DataFrame:
    """Publication mode for maps: numeric measures hide areas with counts 0-4 (value blanked, ``suppressed``).

    Categorical measures (hot spot labels) are shown as on the dashboard: a label reveals no count.
    """
    from geo.static_maps import CATEGORY_COLOURS

    if not publication or measure in CATEGORY_COLOURS or COUNT not in values.columns:
        return values
    out = suppress_small_counts(values, PUBLICATION_THRESHOLD, [COUNT], {COUNT: ["value"]}, hide_zeros=True)
    return out.rename(columns={SUPPRESSED_FLAG: "suppressed"})


def shown_for_classes(shown: pd.DataFrame) -> pd.Series:
    """The values of a (published) map table that class breaks may be computed from: those not hidden."""
    if "suppressed" not in shown.columns:
        return shown["value"]
    return shown.loc[~shown["suppressed"].astype(bool), "value"]


def overlay_layers(boundary_set: str, level: str, lad_codes: Sequence[str], localities: bool = True,
                   context: bool = False) -> tuple[Any, Any]:
    """(locality outlines, local authority context) for a map; None where not wanted or not available."""
    outlines = ctx = None
    if localities and LEVELS.index(level) < LEVELS.index("locality"):
        try:
            outlines = load_areas("locality", boundary_set, lad_codes=list(lad_codes))
        except AtlasError:
            outlines = None  # this set (or authority) has no localities: the map is still whole
        if outlines is not None and outlines.empty:
            outlines = None
    if context:
        try:
            ctx = load_areas("lad", boundary_set)
        except AtlasError:
            ctx = None
    return outlines, ctx


def area_label(values: pd.DataFrame, boundary_set: str) -> str:
    """Local authority names of the mapped areas, for subtitles ("County Durham")."""
    codes = sorted(values[LAD_CODE].dropna().astype(str).unique()) if LAD_CODE in values.columns else []
    if not codes:
        return "all areas"
    lads = load_areas("lad", boundary_set, lad_codes=codes)
    names = sorted(lads[LAD_NAME].dropna().astype(str).unique())
    return " & ".join(names) if len(names) <= 3 else f"{len(names)} local authorities"


def build_map(
    store: Any, dataset: str, *, level: str = "ward", measure: str = "rate", period: str | None = None,
    grain: str | None = None, periods: Sequence[str] | None = None, area_filter: str | None = None,
    denominator: str = "total", category: str | None = None, scheme: str = "quantiles", k: int = 5,
    breaks: Sequence[float] | None = None, palette: str = "YlOrRd", publication: bool = False,
    paper: str = "a4", orientation: str = "landscape", label_top: int = 0, localities: bool = True,
    context: bool = False, title: str | None = None,
) -> Any:
    """A whole static map (geo.static_maps.StaticMap) of one measure from the store, classes as on screen.

    ``periods`` (several) gives small multiples on shared classes; otherwise ``period`` (default latest).
    """
    from geo.static_maps import MEASURES, render_map, render_small_multiples

    boundary_set, synthetic = dataset_info(store, dataset)
    grain = infer_grain(period or (periods[0] if periods else None), grain)
    last = period or (periods[-1] if periods else None)
    from atlas.publication import publication_store

    values = map_values(publication_store(store, publication), dataset, level, grain, measure,
                        period=None if periods and measure in ("lisa", "gi_bin") else last, area_filter=area_filter,
                        denominator=denominator, category=category)
    if last is None:
        last = _latest(values, grain)
    shown = publish_map_values(values, measure, publication)
    # In publication mode the classes come from shown values only: a break (the top one is the largest
    # value) could otherwise be a hidden area's rate, which with its population gives its count back.
    classes = map_classes(shown_for_classes(shown), measure, scheme, k, breaks)
    areas = load_areas(level, boundary_set, lad_codes=sorted(values[LAD_CODE].dropna().astype(str).unique()) or None)
    areas = areas[areas[CODE].astype(str).isin(values[AREA_CODE])]
    lad_codes = sorted(values[LAD_CODE].dropna().astype(str).unique())
    outlines, ctx = overlay_layers(boundary_set, level, lad_codes, localities, context)
    where = area_label(values, boundary_set)
    name = MEASURES[measure][0]
    source = _source_line(dataset, boundary_set, values)
    common = dict(classes=classes, palette=palette, outlines=outlines, source=source, publication=publication,
                  synthetic=synthetic, paper=paper, orientation=orientation)
    if periods:
        periods = list(periods)
        if measure == "ehsa":
            raise AtlasError("small multiples of the emerging hot spot category are not available: it is one "
                             "map up to a period; map it with --period")
        return render_small_multiples(
            areas, shown[shown[PERIOD].isin(periods)], measure, periods,
            title=title or f"{name} by {LEVEL_WORDS[level]}, {where}",
            subtitle=f"{where} · {LEVEL_LABELS[level]} · {name} · {periods[0]} to {periods[-1]}", **common)
    one = shown[shown[PERIOD] == last]
    return render_map(
        areas, one, measure, title=title or f"{name} by {LEVEL_WORDS[level]}, {where}, {last}",
        subtitle=f"{where} · {LEVEL_LABELS[level]} · {name} · {last}" + (f" · {category}" if category else ""),
        context=ctx, label_top=label_top, **common)


def _latest(values: pd.DataFrame, grain: str) -> str:
    """The latest period present in a map-values table."""
    labels = pd.unique(values[PERIOD].astype(str))
    return str(labels[int(np.argmax(period_sort_key(list(labels), grain)))])


def _source_line(dataset: str, boundary_set: str, values: pd.DataFrame) -> str:
    """Data source sentence for a map or report footer."""
    today = dt.date.today().isoformat()
    return (f"Source: dataset “{dataset}” on boundary set {boundary_set}; population ONS mid-2019. "
            f"Made with Hotspot Atlas on {today}.")


__all__ = [
    "DATA_NOTE_COL", "DISCLOSURE_COL", "LEVEL_LABELS", "TABLES", "TABLE_FORMATS", "area_label", "build_map",
    "build_table", "dataset_info", "disclosure_rules", "escape_formulas", "export_table", "infer_grain", "map_classes",
    "map_values", "overlay_layers", "publish_map_values", "publish_table", "resolve_lad", "shown_for_classes", "stamp",
    "write_table",
]
