"""`atlas services`: need against provision, per area: incidents per 1,000 and distance to the nearest service.

Reads a services file (``ingest.services``: a type and easting/northing or lon/lat per row), measures
the straight-line distance (not travel time) from each area's population-weighted centre to the
nearest service of each type and of any type (``analysis.access``), and ranks the high-need areas
(top fifth by rate, ``--high-need-share``) furthest from any service first. The table goes to
standard output or --out through ``atlas.safe_output.write_csv``; the file's rows read, accepted and
rejected and other notes go to standard error. With --publication distances are shown in bands,
service names and centres are left out, and small counts are suppressed (docs/trust.md). Building the
parser imports only argparse and constants, so `atlas --help` stays fast (tests/test_cli_startup.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo.schema import AREA_CODE, DENOMINATORS, GRAINS, LEVELS, AtlasError

if TYPE_CHECKING:
    import pandas as pd

COMMAND = "services"
HIGH_NEED_SHARE = 0.2  # analysis.access.HIGH_NEED_SHARE (tests/test_cli_services.py checks they agree)
HELP = ("need against provision: incidents per 1,000 and straight-line distance (not travel time) from each "
        "area's population-weighted centre to the nearest service of each type, high-need areas furthest first")
# Output columns in order (the per-type km_to_<type> columns follow the nearest-service ones).
_RATE_COLUMNS = ("area_code", "area_name", "lad_code", "period", "category", "count", "population",
                 "rate_per_1000", "rate_lower_95", "rate_upper_95")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `services` to the `atlas` subcommands."""
    p = subparsers.add_parser(COMMAND, help=HELP, description=HELP)
    p.add_argument("--dataset", required=True)
    p.add_argument("--file", required=True, type=Path,
                   help="services CSV/XLSX: type, optional name, easting+northing (BNG) or longitude+latitude")
    p.add_argument("--level", choices=LEVELS, default="ward", help="area level (default ward)")
    p.add_argument("--grain", choices=GRAINS, default="fy", help="period grain of --period (default fy)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--period", help="period at --grain, e.g. 2024/25 or 2024-Q3 (default: the latest)")
    when.add_argument("--year", help="financial year, e.g. 2024/25 (the same as --grain fy --period YEAR)")
    p.add_argument("--area-filter", metavar="LAD_CODE", help="only areas in this local authority, e.g. E06000047")
    p.add_argument("--denominator", choices=list(DENOMINATORS), default="total", help="population for rates")
    p.add_argument("--category", help="one incident category (default: all categories summed)")
    p.add_argument("--high-need-share", type=float, default=HIGH_NEED_SHARE, metavar="SHARE",
                   help=f"share of areas with the highest rates counted as high need (default {HIGH_NEED_SHARE}: "
                        "the top fifth)")
    p.add_argument("--out", type=Path, help="CSV path (default: standard output)")
    p.add_argument("--rejected-out", type=Path, help="where to write the services file's rejected rows (CSV)")
    p.add_argument("--publication", action="store_true",
                   help="publication mode: distances in bands (<2, 2-5, 5-10, >10 km), no service names or "
                        "centres, small counts suppressed")
    p.set_defaults(command=COMMAND, run=run)
    return p


def area_centres(level: str, boundary_set: str, lad_codes: tuple[str, ...] | None = None) -> tuple[pd.DataFrame, str]:
    """(centres [code, centre_easting, centre_northing, centre_population], how they were made) of ``level``.

    LSOAs: their representative points; coarser levels: the population-weighted mean of their LSOAs'
    points (residents, mid-2019). A user set without LSOAs: each area's own representative point.
    """
    import pandas as pd

    from analysis import access as ac
    from boundaries.hierarchy import parent_map
    from boundaries.load import load_areas
    from boundaries.population import population_table
    from boundaries.registry import get_boundary_set
    from geo.schema import CODE

    bs = get_boundary_set(boundary_set)
    lads = list(lad_codes) if lad_codes is not None else None
    if "lsoa" not in bs.levels:
        areas = load_areas(level, bs.name, lad_codes=lads)
        return (ac.representative_points(areas).assign(**{ac.CENTRE_POPULATION: float("nan")}),
                "centres: each area's representative point (this boundary set has no LSOAs to weight by population)")
    points = ac.representative_points(load_areas("lsoa", bs.name, lad_codes=lads))
    pop = population_table("lsoa", bs.name)
    population = pd.Series(pop["population_total"].to_numpy(dtype=float) if not pop.empty else [],
                           index=pop[CODE].astype(str) if not pop.empty else [], dtype=float)
    parents = None if level == "lsoa" else parent_map("lsoa", level, bs.name)
    centres = ac.population_weighted_centres(points, population, parents)
    if level == "lsoa":
        note = "centres: each LSOA's representative point (no finer population is shipped)"
    elif pop.empty:
        note = "centres: the plain mean of each area's LSOA points (no population for this boundary set)"
    else:
        note = "centres: population-weighted mean of each area's LSOA representative points (residents, mid-2019)"
    return centres, note


def services_for(
    store: Any, dataset: str, services: pd.DataFrame, level: str = "ward", grain: str = "fy",
    period: str | None = None, area_filter: str | None = None, category: str | None = None,
    denominator: str = "total", share: float = HIGH_NEED_SHARE,
) -> pd.DataFrame:
    """The need-against-provision table of one period (default the latest): one row per area of ``level``.

    Rates come from ``atlas.analyses.rates_table`` (the rates every other command shows); distances and
    the high-need ranking from ``analysis.access.need_against_provision``. Unrounded: see ``shown_table``.
    """
    from analysis import access as ac
    from atlas.analyses import load_frame, rates_table

    frame = load_frame(store, dataset, level, grain, area_filter, denominator, category)
    period = period or frame.periods[-1]
    rates = rates_table(store, dataset, level, grain, period, area_filter, denominator, category)
    centres, centre_note = area_centres(level, frame.boundary_set, frame.lad_codes)
    table = ac.need_against_provision(rates[list(_RATE_COLUMNS)], centres, services, share)
    n_high = int(table[ac.HIGH_NEED].sum())
    table.attrs["notes"] = [
        *rates.attrs.get("notes", []), centre_note,
        "distances are straight-line (as the crow flies) from each area's centre, not travel time",
        f"high need: the {n_high} areas whose rate per 1,000 ranks in the top {share:.0%} of the "
        f"{int(table['rate_per_1000'].notna().sum())} areas with a rate ({period})",
    ]
    return table


def shown_table(table: pd.DataFrame, publication: bool = False) -> pd.DataFrame:
    """The table as written: distances to 0.1 km; in publication mode, counts suppressed and distances banded."""
    import numpy as np

    from analysis import access as ac

    out = ac.rounded(table)
    if not publication:
        return out
    from atlas.publication import DISCLOSURE, NOTE_ATTR, publish

    # The rank and flag follow from the rate, so they are blanked with a small count like the rate is.
    rules = {col: list(deps) for col, deps in DISCLOSURE["rates"].items()}
    rules["count"] = [*rules["count"], ac.NEED_RANK, ac.HIGH_NEED]
    published = publish(table, "rates", rules=rules)
    note = published.attrs.get(NOTE_ATTR, "")
    out = ac.publication_view(published)
    # Rows whose flag is blanked go last, by code: left in the high-need block, their place would say
    # what the blank hides (a rate in the top share).
    hidden = out[ac.HIGH_NEED].isna().to_numpy()
    order = np.lexsort((np.where(hidden, out[AREA_CODE].astype(str).to_numpy(), ""), hidden))
    out = out.iloc[order].reset_index(drop=True)
    out.attrs[NOTE_ATTR] = note
    return out


def run(args: argparse.Namespace) -> int:
    """Handler: read the services file, build the table and write it (CSV) with its notes on standard error."""
    from atlas.safe_output import write_csv
    from ingest.services import read_services
    from store import Store

    result = read_services(args.file)
    print(f"note: {result.summary()}", file=sys.stderr)
    for message in result.rejected["message"].head(20).tolist():
        print(f"  rejected: {message}", file=sys.stderr)
    if result.rows_rejected > 20:
        print(f"  ... and {result.rows_rejected - 20} more rejected rows", file=sys.stderr)
    if args.rejected_out is not None:
        # Raw cells, all text: "-3" stays the text it was in the file (as for import's rejected rows).
        write_csv(result.rejected.astype("str"), args.rejected_out, keep_numbers=False, announce=False)
        print(f"note: rejected rows written to {args.rejected_out}", file=sys.stderr)
    if result.rows_accepted == 0:
        raise AtlasError(f"{result.file_name}: no service rows could be used, so no distances can be measured")
    grain, period = ("fy", args.year) if args.year else (args.grain, args.period)
    from atlas.publication import publication_store

    table = services_for(publication_store(Store(), args.publication), args.dataset, result.services, args.level,
                         grain, period, args.area_filter, args.category, args.denominator, args.high_need_share)
    for note in table.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    shown = shown_table(table, args.publication)
    if args.publication:
        print(f"note: {shown.attrs.get('publication_note', '')}; distances in bands, service names and centres "
              "left out", file=sys.stderr)
    write_csv(shown, args.out)
    return 0


__all__ = ["COMMAND", "HIGH_NEED_SHARE", "area_centres", "register", "run", "services_for", "shown_table"]
