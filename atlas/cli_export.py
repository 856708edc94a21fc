"""Output subcommands of `atlas`: `map` (PNG/SVG/PDF), `briefing` (multi-page PDF) and `export` (CSV/XLSX).

Each writes one file named by --out. --publication applies the same suppression as the analysis
commands (counts perturbed, 0-4 shown as "<5", derived figures blanked); every file states its disclosure mode
and, for synthetic datasets, "synthetic demo data". See docs/exports.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atlas.cli_choices import (
    EXPORT_TABLES, MAP_FORMATS, MAP_MEASURES, MAP_ORIENTATIONS, MAP_PALETTES, MAP_PAPERS, MAP_SCHEMES,
)
from geo.attribution import PUBLICATION_THRESHOLD, disclosure_text
from geo.schema import DENOMINATORS, GRAINS, LEVELS, AtlasError

# Building the parser imports only argparse and constant modules (atlas.cli_choices holds copies of the
# choices of atlas.exports, geo.static_maps, geo.classify, geo.maps and geo.print_page); the commands
# import those modules when they run, so `atlas map --help` does not load pandas or matplotlib.

_PUB_HELP = (f"publication mode: counts perturbed by up to 2, 0-{PUBLICATION_THRESHOLD - 1} suppressed (shown as "
             f"'<{PUBLICATION_THRESHOLD}', hatched on maps) and the figures derived from them blanked")


def add_export_commands(sub: argparse._SubParsersAction) -> None:
    """Register `map`, `briefing` and `export` on the `atlas` parser."""
    m = sub.add_parser("map", help="static map of one measure as PNG (300 dpi), SVG or PDF",
                       description="Static map of one measure (same classes and colours as the dashboard's map).")
    _scope_args(m, level_default="ward")
    m.add_argument("--measure", choices=list(MAP_MEASURES), default="rate",
                   help="count, rate, eb_rate (smoothed), lisa, gi_bin or ehsa (default rate)")
    m.add_argument("--period", help="the period to map, e.g. 2024/25 (default: the latest)")
    m.add_argument("--periods", help="comma-separated periods for small multiples on shared classes, "
                                     "e.g. 2021/22,2022/23,2023/24,2024/25")
    m.add_argument("--scheme", choices=list(MAP_SCHEMES), default="quantiles",
                   help="classification (default quantiles)")
    m.add_argument("--classes", "-k", dest="k", type=int, default=5, help="number of classes (default 5)")
    m.add_argument("--breaks", help="upper bounds for --scheme fixed, e.g. '5,10,20,40'")
    m.add_argument("--palette", choices=list(MAP_PALETTES), default="YlOrRd", help="colours (default YlOrRd)")
    m.add_argument("--format", choices=list(MAP_FORMATS), help="default: from the --out suffix")
    m.add_argument("--paper", choices=list(MAP_PAPERS), default="a4")
    m.add_argument("--orientation", choices=list(MAP_ORIENTATIONS), default="landscape")
    m.add_argument("--labels", type=int, default=0, metavar="N", help="name the top N areas (numeric measures)")
    m.add_argument("--no-localities", action="store_true", help="leave out the locality outlines")
    m.add_argument("--context", action="store_true", help="draw local authorities around the mapped area")
    m.add_argument("--title", help="map title (default: measure, level, area and period)")
    m.add_argument("--out", type=Path, required=True, help="output file: .png, .svg or .pdf")
    m.add_argument("--publication", action="store_true", help=_PUB_HELP)
    m.set_defaults(run=_cmd_map)

    b = sub.add_parser("briefing", help="briefing pack PDF for one local authority and period",
                       description="Multi-page A4 briefing pack: headline figures, priority areas, maps, "
                                   "emerging hot spots, comparisons, trend, method notes.")
    b.add_argument("--dataset", required=True)
    b.add_argument("--area", required=True, help="local authority name or code, e.g. 'County Durham' or E06000047")
    b.add_argument("--period", required=True, help="e.g. 2024-Q3, 2024/25-Q2 or 2024/25 (sets the grain)")
    b.add_argument("--level", choices=LEVELS[:-1], default="ward", help="area level (default ward)")
    b.add_argument("--grain", choices=GRAINS, help="default: the grain of --period")
    b.add_argument("--top", type=int, default=10, help="priority areas listed (default 10)")
    b.add_argument("--out", type=Path, required=True, help="output PDF")
    b.add_argument("--publication", action="store_true", help=_PUB_HELP)
    b.set_defaults(run=_cmd_briefing)

    e = sub.add_parser("export", help="an analysis table as CSV or XLSX (disclosure mode stated in the file)",
                       description="Write one analysis table as CSV or XLSX with the command line's suppression "
                                   "rules; text cells that could run as spreadsheet formulas are escaped.")
    _scope_args(e, level_default="ward")
    e.add_argument("--table", choices=list(EXPORT_TABLES), required=True,
                   help="; ".join(f"{k}: {v}" for k, v in EXPORT_TABLES.items()))
    e.add_argument("--period", help="one period (rates, hotspots, ...), the last period (emerging, priority) "
                                    "or the last financial year (seed)")
    e.add_argument("--against", help="compare: the earlier period")
    e.add_argument("--format", choices=["csv", "xlsx"], help="default: from the --out suffix")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--publication", action="store_true", help=_PUB_HELP)
    e.set_defaults(run=_cmd_export)


def _scope_args(p: argparse.ArgumentParser, level_default: str) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--level", choices=LEVELS, default=level_default, help=f"area level (default {level_default})")
    p.add_argument("--grain", choices=GRAINS, help="period grain (default: the grain of --period, else fy)")
    p.add_argument("--area-filter", metavar="LAD_CODE", help="only areas in this local authority, e.g. E06000047")
    p.add_argument("--denominator", choices=list(DENOMINATORS), default="total", help="population for rates")
    p.add_argument("--category", help="one incident category (default: all categories summed)")


def _cmd_map(args: argparse.Namespace) -> int:
    from atlas.exports import build_map
    from geo.classify import parse_breaks

    periods = [p.strip() for p in args.periods.split(",") if p.strip()] if args.periods else None
    breaks = parse_breaks(args.breaks) if args.breaks else None
    if args.scheme == "fixed" and breaks is None:
        raise AtlasError("--scheme fixed needs --breaks, e.g. --breaks 5,10,20,40")
    fig = build_map(
        _store(), args.dataset, level=args.level, measure=args.measure, period=args.period, grain=args.grain,
        periods=periods, area_filter=args.area_filter, denominator=args.denominator, category=args.category,
        scheme=args.scheme, k=args.k, breaks=breaks, palette=args.palette, publication=args.publication,
        paper=args.paper, orientation=args.orientation, label_top=args.labels, localities=not args.no_localities,
        context=args.context, title=args.title)
    path = fig.save(args.out, args.format)
    print(f"wrote {path} ({disclosure_text(args.publication)})", file=sys.stderr)
    return 0


def _cmd_briefing(args: argparse.Namespace) -> int:
    from atlas.briefing import build_briefing

    result = build_briefing(_store(), args.dataset, args.area, args.period, level=args.level, grain=args.grain,
                            publication=args.publication, out=args.out, top_n=args.top)
    print(f"wrote {result.path}: {len(result.pages)} pages in {result.seconds:.1f} s "
          f"({disclosure_text(args.publication)})", file=sys.stderr)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from atlas.exports import export_table

    path, table = export_table(
        _store(), args.table, args.dataset, args.out, args.format, publication=args.publication, level=args.level,
        grain=args.grain, period=args.period, against=args.against, area_filter=args.area_filter,
        denominator=args.denominator, category=args.category)
    for note in table.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    hidden = int(table["suppressed"].sum()) if "suppressed" in table.columns else 0
    print(f"wrote {len(table)} rows to {path} ({disclosure_text(args.publication)}"
          + (f"; {hidden} rows with small counts suppressed" if args.publication else "") + ")", file=sys.stderr)
    return 0


def _store():
    from store import Store

    return Store()


__all__ = ["add_export_commands"]
