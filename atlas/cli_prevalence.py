"""`atlas reporting-gap`: recorded incidents against expected victims (an ESTIMATE), per area, one financial year.

Expected victims = CSEW prevalence x population (``analysis.prevalence``; method and limits in its
docstring and docs/prevalence.md). The table goes to standard output or --out through
``atlas.safe_output.write_csv``; notes (all labelled "estimate") go to standard error. Building the
parser imports only argparse and constants, so `atlas --help` stays fast (tests/test_cli_startup.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo.schema import AtlasError

if TYPE_CHECKING:
    import pandas as pd

COMMAND = "reporting-gap"
LEVELS: tuple[str, ...] = ("lsoa", "ward", "lad")
HELP = ("ESTIMATE: recorded incidents / expected victims (CSEW prevalence x population) per area for one "
        "financial year, with 95%% interval; an index of the reporting gap, not a reporting rate")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `reporting-gap` to the `atlas` subcommands."""
    p = subparsers.add_parser(COMMAND, help=HELP, description=HELP)
    p.add_argument("--dataset", required=True)
    p.add_argument("--level", choices=LEVELS, default="ward", help="area level (default ward)")
    p.add_argument("--year", help="financial year, e.g. 2024/25 (default: the latest in the data)")
    p.add_argument("--area-filter", metavar="LAD_CODE", help="only areas in this local authority, e.g. E06000047")
    p.add_argument("--category", help="one incident category (default: all categories summed)")
    p.add_argument("--out", type=Path, help="CSV path (default: standard output)")
    p.set_defaults(command=COMMAND, run=run)
    return p


def reporting_gap_for(
    store: Any, dataset: str, level: str = "ward", year: str | None = None, area_filter: str | None = None,
    category: str | None = None,
) -> pd.DataFrame:
    """The reporting-gap table of one financial year (default the latest): one row per area of ``level``.

    Recorded counts come from ``atlas.analyses.load_frame`` at ``level`` by financial year; expected
    victims are computed per LSOA and summed to ``level`` (``analysis.prevalence.roll_up``).
    """
    from analysis import prevalence as pv
    from atlas.analyses import load_frame
    from boundaries.hierarchy import parent_map
    from geo.schema import AREA_CODE, AREA_NAME, COUNT, LAD_CODE, LAD_NAME, PERIOD

    if level not in LEVELS:
        raise AtlasError(f"unknown level {level!r} for {COMMAND}; choose one of {', '.join(LEVELS)}")
    frame = load_frame(store, dataset, level, "fy", area_filter=area_filter, category=category)
    year = year or frame.periods[-1]
    i = frame.check_period(year)
    recorded = frame.areas[[AREA_CODE, AREA_NAME, LAD_CODE, LAD_NAME]].assign(**{COUNT: frame.cube[:, i]})
    prevalence = pv.read_prevalence()
    band_pop, population_source = pv.band_population_for(prevalence)
    parents = parent_map("lsoa", level, frame.boundary_set)
    expected = pv.roll_up(pv.expected_victims(band_pop, prevalence), parents)
    table = pv.reporting_gap(recorded, expected)
    table.insert(2, PERIOD, year)
    notes = [*frame.notes, *table.attrs["notes"], f"estimate: population from {population_source}",
             f"estimate: prevalence {prevalence['survey_year'].iloc[0]} CSEW ({prevalence['source_url'].iloc[0]})"]
    if prevalence[pv.LOWER_95].isna().any():
        notes.append("estimate: the survey rates have no published interval here, so the 95% limits cover only "
                     "chance in the recorded count, not the survey's sampling error")
    if frame.months_covered and frame.months_covered[i] < 12:
        notes.append(f"estimate: {year} is covered for {frame.months_covered[i]} of 12 months, so recorded "
                     "incidents (and the ratio) are understated against a year's expected victims")
    table.attrs["notes"] = notes
    return table


def run(args: argparse.Namespace) -> int:
    """Handler: build the table and write it (CSV) with its notes on standard error."""
    from atlas.safe_output import write_csv
    from store import Store

    table = reporting_gap_for(Store(), args.dataset, args.level, args.year, args.area_filter, args.category)
    for note in table.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    write_csv(table, args.out)
    return 0


__all__ = ["COMMAND", "register", "reporting_gap_for", "run"]
