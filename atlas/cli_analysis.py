"""Analysis subcommands of `atlas`: rates, hotspots, emerging, compare, priority, seed (CSV out).

Each command calls one service of ``atlas.analyses`` and writes its table as CSV (standard output
or --out). Notes about the data (rows left out, partial periods, weights used) go to standard error,
never into the CSV. --publication applies ``atlas.publication`` (the rules exports and the dashboard
use too): small counts hidden, and where the
table lets a reader work out a period's total (whole-area rate, rate ratio, incident share), enough
other counts hidden that no small one can be recovered by subtraction (secondary suppression).
Columns: docs/output-columns.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from atlas._output import write_csv
from atlas.cli_choices import (
    HOTSPOT_DEFAULTS, PRIORITY_WEIGHT_DEFAULTS, SPC_MEASURES, SPC_POLARITIES, SPC_WHOLE_AREA,
)
from geo.attribution import PUBLICATION_THRESHOLD
from geo.schema import CORRECTIONS, DENOMINATORS, GRAINS, LEVELS, AtlasError
from geo.schema import WEIGHTS_METHODS as METHODS

if TYPE_CHECKING:
    import pandas as pd

    from analysis.hotspots import HotspotParams

# Building the parser imports only argparse and constant modules; pandas, analysis.* and
# atlas.publication are imported by the commands when they run (`atlas --help` starts fast).

# The rules live in atlas.publication (shared with exports and the dashboard); old names kept for importers.
_PUBLICATION_ALIASES = {
    "_DISCLOSURE": "DISCLOSURE", "_WITH_TOTALS": "WITH_TOTALS", "_TOTAL_REVEALING": "TOTAL_REVEALING",
}


def __getattr__(name: str):
    """``_DISCLOSURE``, ``_WITH_TOTALS``, ``_TOTAL_REVEALING``: atlas.publication's objects, loaded on first use."""
    if name in _PUBLICATION_ALIASES:
        from atlas import publication

        return getattr(publication, _PUBLICATION_ALIASES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_analysis_commands(sub: argparse._SubParsersAction) -> None:
    """Register the analysis subcommands on the `atlas` parser."""
    rates = _common(sub, "rates", "counts and rates per 1,000 with confidence intervals, per area and period")
    rates.set_defaults(run=_cmd_rates)

    smoothed = _common(sub, "smoothed", "EB and spatial EB smoothed rates, excess risk, funnel position, "
                       "shares of incidents and population, repeat share, per area and period")
    smoothed.add_argument("--weights", choices=METHODS, default="queen", help="neighbours for spatial EB")
    smoothed.set_defaults(run=_cmd_smoothed)

    rolling = _common(sub, "rolling", "rates per 1,000 over rolling 12-month windows (needs monthly data)",
                      grain=False, period=False)
    rolling.set_defaults(run=_cmd_rolling)

    conc = _common(sub, "concentration", "share of incidents in the top 10 and 20 per cent of areas and Gini, per period")
    conc.set_defaults(run=_cmd_concentration)

    moran = _common(sub, "moran", "global Moran's I per period with its permutation p-value")
    moran.add_argument("--on", choices=["count", "rate", "eb_rate"], default="count", help="variable (default count)")
    _inference_args(moran)
    moran.set_defaults(run=_cmd_moran)

    hot = _common(sub, "hotspots", "local hot spot statistics (Gi*, local Moran) per area and period")
    hot.add_argument("--statistic", choices=["gi_star", "local_moran", "local_moran_rate"], default="gi_star",
                     help="gi_star: Getis-Ord Gi* on counts; local_moran: LISA on counts; "
                          "local_moran_rate: LISA on empirical Bayes standardised rates (default gi_star)")
    _inference_args(hot)
    hot.add_argument("--alpha", type=float, default=0.05, help="significance level for LISA labels (default 0.05)")
    hot.set_defaults(run=_cmd_hotspots)

    em = _common(sub, "emerging", "emerging hot spot analysis (space-time Gi* and trend), one row per area")
    em.add_argument("--time-lag", type=int, default=1, help="earlier periods in each space-time neighbourhood (default 1)")
    em.add_argument("--alpha", type=float, default=0.10, help="significance of hot/cold bins (default 0.10, ArcGIS)")
    em.add_argument("--fdr", action="store_true", help="Benjamini-Hochberg correction over all bins")
    em.add_argument("--weights", choices=METHODS, default="queen", help="spatial weights (default queen)")
    em.set_defaults(run=_cmd_emerging)

    cmp_ = _common(sub, "compare", "change per area between two periods with an exact Poisson test", period=False)
    cmp_.add_argument("--period", required=True, help="the later period, e.g. 2024/25")
    cmp_.add_argument("--against", required=True, help="the period to compare with, e.g. 2023/24")
    cmp_.add_argument("--alpha", type=float, default=0.05, help="significance level of the test (default 0.05)")
    _inference_args(cmp_)
    cmp_.set_defaults(run=_cmd_compare)

    pri = _common(sub, "priority", "ranked priority table with reasons and change since the period before")
    for name, default in PRIORITY_WEIGHT_DEFAULTS.items():  # analysis.priority.PriorityWeights() defaults
        pri.add_argument(f"--w-{name}", type=float, default=default,
                         help=f"weight of the {name} component (default {default:g})")
    pri.add_argument("--top", type=int, default=10, help="areas counted as 'listed' for change status (default 10)")
    pri.add_argument("--recent", type=int, default=4, help="recent periods for hot spot persistence (default 4)")
    _inference_args(pri)
    pri.set_defaults(run=_cmd_priority)

    seed = _common(sub, "seed", "incidents per 1,000 by area for three financial years, ranked, with percentage change",
                   grain=False, period=False, level_default="locality")
    seed.add_argument("--period", "--last-fy", dest="period", help="last financial year, e.g. 2024/25 (default: latest)")
    seed.add_argument("--years", type=int, default=3, help="financial years side by side (default 3)")
    seed.set_defaults(run=_cmd_seed)

    spc = _common(sub, "spc", "XmR statistical process control chart per area and period (NHS Making Data Count): "
                  "mean, process limits, special-cause rules in words", grain=False, period=False)
    spc.add_argument("--grain", choices=["month", "quarter"], default="month", help="period grain (default month)")
    spc.add_argument("--measure", choices=SPC_MEASURES, default="count", help="count or rate per 1,000 (default count)")
    spc.add_argument("--area", metavar="CODE", help=f"one area code, or {SPC_WHOLE_AREA!r} for the whole area "
                     "(default: the whole area and every area)")
    spc.add_argument("--target", type=float, help="target value, for the assurance reading (hit and miss, "
                     "consistently passes / fails)")
    spc.add_argument("--polarity", choices=SPC_POLARITIES, default="higher_is_worse",
                     help="which way is worse (default higher_is_worse, for incidents)")
    spc.add_argument("--baseline", type=int, metavar="N", help="mean and limits from the first N periods (default: all)")
    spc.add_argument("--no-screen", dest="screen_outliers", action="store_false",
                     help="keep moving ranges above 3.267 x MR-bar (screened out by default, as NHSRplotthedots)")
    spc.set_defaults(run=_cmd_spc)


_PERIOD_HELP = {
    "rates": "one period, e.g. 2024/25 (default: every period)",
    "hotspots": "one period, e.g. 2024/25 (default: every period)",
    "emerging": "last period of the analysis (default: the latest)",
    "priority": "the period to rank (default: the latest)",
    "smoothed": "one period, e.g. 2024/25 (default: every period)",
    "concentration": "one period, e.g. 2024/25 (default: every period)",
    "moran": "one period, e.g. 2024/25 (default: every period)",
}


def _common(
    sub: argparse._SubParsersAction, name: str, help_text: str, grain: bool = True, period: bool = True,
    level_default: str = "ward",
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--dataset", required=True)
    p.add_argument("--level", choices=LEVELS, default=level_default, help=f"area level (default {level_default})")
    if grain:
        p.add_argument("--grain", choices=GRAINS, default="fy", help="period grain (default fy: financial year)")
    if period:
        p.add_argument("--period", help=_PERIOD_HELP[name])
    p.add_argument("--area-filter", metavar="LAD_CODE", help="only areas in this local authority, e.g. E06000047")
    p.add_argument("--denominator", choices=list(DENOMINATORS), default="total", help="population for rates")
    p.add_argument("--category", help="one incident category (default: all categories summed)")
    p.add_argument("--out", type=Path, help="CSV path (default: standard output)")
    p.add_argument("--publication", action="store_true",
                   help="publication mode: counts perturbed by up to 2 (cell-key method), "
                        f"0-{PUBLICATION_THRESHOLD - 1} shown as '<{PUBLICATION_THRESHOLD}' and the figures derived "
                        "from them blanked; where a period total can be worked out, "
                        "further counts hidden (shown as '*') so no small count can be recovered")
    p.add_argument("--suppress-below", type=int, default=PUBLICATION_THRESHOLD, metavar="N",
                   help=f"publication mode: hide counts from 0 to N-1 (default {PUBLICATION_THRESHOLD})")
    p.add_argument("--symbol", choices=["<", "*"], default="<",
                   help="publication mode: show hidden small counts as '<N' (default) or '*'")
    p.set_defaults(command=name)
    return p


def _inference_args(p: argparse.ArgumentParser) -> None:
    d = HOTSPOT_DEFAULTS  # analysis.hotspots.HotspotParams() defaults
    p.add_argument("--permutations", type=int, default=d["permutations"],
                   help=f"permutations (default {d['permutations']})")
    p.add_argument("--seed", type=int, default=d["seed"], help="random seed, for reproducible p-values")
    p.add_argument("--correction", choices=CORRECTIONS, default=d["correction"],
                   help="multiple-testing correction of local Moran's p-values")
    p.add_argument("--gi-inference", choices=["analytical", "permutation"], default=d["gi_inference"],
                   help="Gi* bins from the analytical z-score (default, as ArcGIS) or the conditional-permutation p")
    p.add_argument("--gi-correction", choices=CORRECTIONS, default=d["gi_correction"],
                   help="multiple-testing correction of Gi*'s p-values across each period's areas before binning "
                        "(default fdr: Benjamini-Hochberg, as ArcGIS's Gi_Bin; none bins the raw p)")
    p.add_argument("--weights", choices=METHODS, default="queen", help="spatial weights (default queen)")


def _params(args: argparse.Namespace) -> HotspotParams:
    from analysis.hotspots import HotspotParams

    try:
        return HotspotParams(permutations=args.permutations, seed=args.seed, correction=args.correction,
                             gi_inference=args.gi_inference, gi_correction=args.gi_correction,
                             alpha=getattr(args, "alpha", HotspotParams().alpha))
    except ValueError as exc:  # HotspotParams validates with ValueError; make it a user error
        raise AtlasError(str(exc)) from exc


def _scope(args: argparse.Namespace) -> dict:
    return {"area_filter": args.area_filter, "denominator": args.denominator, "category": args.category}


def _cmd_rates(args: argparse.Namespace) -> int:
    from atlas.analyses import rates_table

    table = rates_table(_store(args), args.dataset, args.level, args.grain, period=args.period, **_scope(args))
    return _emit(table, args, _disclosure("rates"))


def _cmd_smoothed(args: argparse.Namespace) -> int:
    from atlas.area_statistics import smoothed_rates_table

    table = smoothed_rates_table(_store(args), args.dataset, args.level, args.grain, period=args.period,
                                 **_scope(args), weights_method=args.weights)
    return _emit(table, args, _disclosure("smoothed"))


def _cmd_rolling(args: argparse.Namespace) -> int:
    from atlas.area_statistics import rolling_rates_table

    table = rolling_rates_table(_store(args), args.dataset, args.level, **_scope(args))
    return _emit(table, args, _disclosure("rolling"))


def _cmd_concentration(args: argparse.Namespace) -> int:
    from atlas.area_statistics import concentration_table

    table = concentration_table(_store(args), args.dataset, args.level, args.grain, period=args.period, **_scope(args))
    return _emit(table, args, _disclosure("concentration"))


def _cmd_moran(args: argparse.Namespace) -> int:
    from atlas.area_statistics import global_moran_table

    table = global_moran_table(_store(args), args.dataset, args.level, args.grain, period=args.period, **_scope(args),
                               on=args.on, params=_params(args), weights_method=args.weights)
    return _emit(table, args, _disclosure("moran"))


def _cmd_hotspots(args: argparse.Namespace) -> int:
    from atlas.analyses import hotspots_table

    table = hotspots_table(_store(args), args.dataset, args.level, args.grain, period=args.period, **_scope(args),
                           statistic=args.statistic, params=_params(args), weights_method=args.weights)
    return _emit(table, args, _disclosure("hotspots"))


def _cmd_emerging(args: argparse.Namespace) -> int:
    from atlas.analyses import emerging_table

    table = emerging_table(_store(args), args.dataset, args.level, args.grain, period=args.period, **_scope(args),
                           time_lag=args.time_lag, alpha=args.alpha, fdr=args.fdr, weights_method=args.weights)
    return _emit(table, args, _disclosure("emerging"))


def _cmd_compare(args: argparse.Namespace) -> int:
    from atlas.analyses import compare_table

    table = compare_table(_store(args), args.dataset, args.level, args.grain, period=args.period, against=args.against,
                          **_scope(args), alpha=args.alpha,
                          params=_params(args), weights_method=args.weights)
    return _emit(table, args, _disclosure("compare"))


def _cmd_priority(args: argparse.Namespace) -> int:
    from analysis.priority import PriorityWeights
    from atlas.analyses import priority_table

    weights = PriorityWeights(rate=args.w_rate, volume=args.w_volume, hotspot=args.w_hotspot, trend=args.w_trend,
                              deprivation=args.w_deprivation)
    table = priority_table(_store(args), args.dataset, args.level, args.grain, period=args.period, **_scope(args),
                           weights=weights, params=_params(args), weights_method=args.weights,
                           recent_periods=args.recent, top_n=args.top)
    return _emit(table, args, _disclosure("priority"))


def _cmd_seed(args: argparse.Namespace) -> int:
    from atlas.analyses import seed_count_columns, seed_rates

    table = seed_rates(_store(args), args.dataset, level=args.level, last_fy=args.period, n_years=args.years,
                       **_scope(args))
    return _emit(table, args, seed_count_columns(table))


def _cmd_spc(args: argparse.Namespace) -> int:
    from atlas.analyses import publish_spc_table, spc_table

    table = spc_table(_store(args), args.dataset, args.level, args.grain, **_scope(args), measure=args.measure,
                      area=args.area, target=args.target, polarity=args.polarity, baseline=args.baseline,
                      screen_outliers=args.screen_outliers)
    if args.publication:  # its own wrapper: the whole-area rows and the series' means need more than publish()
        from atlas.publication import NOTE_ATTR

        table = publish_spc_table(table, args.suppress_below, args.symbol)
        print(table.attrs[NOTE_ATTR], file=sys.stderr)
        args = argparse.Namespace(**{**vars(args), "publication": False})
    return _emit(table, args, {})


def _disclosure(command: str) -> Mapping[str, Sequence[str]]:
    """The disclosure rules of ``command`` (atlas.publication.DISCLOSURE)."""
    from atlas.publication import DISCLOSURE

    return DISCLOSURE[command]


def _store(args: argparse.Namespace):
    """The store, read for publication (perturbed counts) when --publication is given."""
    from atlas.publication import publication_store
    from store import Store

    return publication_store(Store(), getattr(args, "publication", False))


def _emit(table: pd.DataFrame, args: argparse.Namespace, disclosure: Mapping[str, Sequence[str]]) -> int:
    """Print notes to stderr, apply publication mode if asked, write the CSV."""
    for note in table.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    if args.publication:
        table = publish(table, getattr(args, "command", ""), disclosure,
                        getattr(args, "suppress_below", PUBLICATION_THRESHOLD), getattr(args, "symbol", "<"))
    # Category and area names come from user files: write_csv (atlas.safe_output) neutralises a
    # "=HYPERLINK(...)" so it cannot run in a spreadsheet.
    write_csv(table, args.out)
    return 0


def publish(
    table: pd.DataFrame, command: str, disclosure: Mapping[str, Sequence[str]], threshold: int = PUBLICATION_THRESHOLD,
    symbol: str = "<",
) -> pd.DataFrame:
    """atlas.publication.publish with explicit rules, printing its note to stderr (the CLI's original signature)."""
    from atlas.publication import NOTE_ATTR
    from atlas.publication import publish as publish_table

    out = publish_table(table, command, threshold, symbol, rules=disclosure)
    print(out.attrs[NOTE_ATTR], file=sys.stderr)
    return out


__all__ = ["PUBLICATION_THRESHOLD", "add_analysis_commands", "publish"]
