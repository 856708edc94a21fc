"""Achieved values of the synthetic demo data against its calibration targets.

Run `python -m demo.calibration [seed]` to print the tables quoted in docs/demo-data.md.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

from demo._inputs import IMD_DECILE_COL, POPULATION_COL, demo_areas
from demo.generator import DEFAULT_SEED, TRUTH_COLUMN, generate_demo_records
from demo.model import PLANTED_PATTERNS, financial_year
from geo.schema import CODE, LAD_CODE

LAD_NAMES = {"E06000047": "County Durham", "E06000005": "Darlington"}


def _with_area(records: pd.DataFrame) -> pd.DataFrame:
    """Records plus lad_code, imd_decile, financial year and month."""
    areas = demo_areas().set_index(CODE)
    codes = records[TRUTH_COLUMN]
    month = records["date"].str.slice(0, 7)
    return records.assign(
        **{
            LAD_CODE: areas[LAD_CODE].reindex(codes).to_numpy(),
            IMD_DECILE_COL: areas[IMD_DECILE_COL].reindex(codes).to_numpy(),
            "month": month,
            "fy": month.map(financial_year),
        }
    )


def yearly_totals(records: pd.DataFrame) -> pd.DataFrame:
    """Incidents and rate per 1,000 residents by district and financial year."""
    rec = _with_area(records)
    pop = demo_areas().groupby(LAD_CODE)[POPULATION_COL].sum()
    out = rec.groupby([LAD_CODE, "fy"]).size().rename("incidents").reset_index()
    out["rate_per_1000"] = out["incidents"] / out[LAD_CODE].map(pop).to_numpy() * 1_000
    out.insert(0, "district", out[LAD_CODE].map(LAD_NAMES))
    return out.drop(columns=LAD_CODE)


def repeat_shares(records: pd.DataFrame) -> pd.Series:
    """Share of incidents flagged repeat victim, by district and overall."""
    rec = _with_area(records)
    flag = rec["repeat_victim"].eq("Y")
    by_lad = flag.groupby(rec[LAD_CODE].map(LAD_NAMES)).mean()
    return pd.concat([by_lad, pd.Series({"Both": flag.mean()})])


def seasonal_index(records: pd.DataFrame) -> pd.Series:
    """Incidents by calendar month over the mean month (1 = average), all years pooled."""
    by_month = records["date"].str.slice(5, 7).astype(int).value_counts().sort_index()
    return by_month / by_month.mean()


def deprivation_gradient(records: pd.DataFrame, bins: str = IMD_DECILE_COL) -> pd.DataFrame:
    """Yearly rate per 1,000 by national IMD decile (1 = most deprived), or by quintile with bins="quintile"."""
    areas = demo_areas()
    group = areas[IMD_DECILE_COL] if bins == IMD_DECILE_COL else (areas[IMD_DECILE_COL] + 1) // 2
    counts = records[TRUTH_COLUMN].value_counts().reindex(areas[CODE], fill_value=0).to_numpy()
    years = records["date"].str.slice(0, 7).nunique() / 12
    frame = pd.DataFrame({bins: group.to_numpy(), "lsoas": 1, "incidents": counts,
                          "population": areas[POPULATION_COL].to_numpy()})
    out = frame.groupby(bins)[["lsoas", "incidents", "population"]].sum()
    out["rate_per_1000_a_year"] = out["incidents"] / out["population"] * 1_000 / years
    return out


def pattern_rates(records: pd.DataFrame) -> pd.DataFrame:
    """Yearly rate per 1,000 in each planted cluster and in the rest of its district, by financial year."""
    rec = _with_area(records)
    areas = demo_areas().set_index(CODE)
    rows = []
    for name, codes in PLANTED_PATTERNS.items():
        lad = areas.loc[codes[0], LAD_CODE]
        rest = areas.index[(areas[LAD_CODE] == lad) & ~areas.index.isin(codes)]
        for label, members in (("cluster", codes), ("rest of district", rest)):
            pop = areas.loc[members, POPULATION_COL].sum()
            n = rec[rec[TRUTH_COLUMN].isin(members)].groupby("fy").size()
            rows.append(pd.Series(n / pop * 1_000, name=(name, label)))
    return pd.DataFrame(rows)


def gi_star_hot_counts(records: pd.DataFrame, z_crit: float = 1.96) -> pd.DataFrame:
    """Members of each planted cluster with Getis-Ord Gi* z > z_crit on yearly LSOA counts, by financial year.

    Gi* (Getis & Ord 1992; Ord & Getis 1995) with binary queen-contiguity weights over the 389
    demo LSOAs, analytical z (esda.G_Local, star=True, permutations=0).
    """
    from esda.getisord import G_Local
    from libpysal.graph import Graph

    areas = demo_areas()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The weights matrix is not fully connected")
        w = Graph.build_contiguity(areas.set_index(CODE)[["geometry"]], rook=False).to_W()
    fy = records["date"].str.slice(0, 7).map(financial_year)
    counts = pd.crosstab(records[TRUTH_COLUMN], fy).reindex(areas[CODE], fill_value=0)
    out = {}
    for year in counts.columns:
        with warnings.catch_warnings():
            # The generalised polygons leave 2 components; Gi* is still defined for each LSOA.
            warnings.filterwarnings("ignore", message="The weights matrix is not fully connected")
            gi = G_Local(counts[year].to_numpy(float), w, transform="B", star=True, permutations=0)
        hot = pd.Series(gi.Zs > z_crit, index=counts.index)
        out[year] = {name: int(hot[codes].sum()) for name, codes in PLANTED_PATTERNS.items()}
    return pd.DataFrame(out).rename_axis("pattern")


def _markdown(frame: pd.DataFrame, digits: int = 1) -> str:
    """A pipe table (pandas' to_markdown needs the optional tabulate package)."""
    frame = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    cells = [[f"{v:.{digits}f}" if isinstance(v, (float, np.floating)) else str(v) for v in row]
             for row in frame.itertuples(index=False)]
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def main(argv: list[str] | None = None) -> None:
    """Print the calibration tables for a seed (default the shipped seed) as markdown."""
    args = sys.argv[1:] if argv is None else argv
    seed = int(args[0]) if args else DEFAULT_SEED
    records = generate_demo_records(seed)
    print(f"seed {seed}: {len(records):,} records\n")
    print(_markdown(yearly_totals(records)), "\n")
    print(_markdown(repeat_shares(records).rename("repeat share").rename_axis("area").to_frame(), 3), "\n")
    print(_markdown(seasonal_index(records).rename("index").rename_axis("month").to_frame().T, 3), "\n")
    grad = deprivation_gradient(records)
    print(_markdown(grad))
    ratio = grad["rate_per_1000_a_year"].iloc[0] / grad["rate_per_1000_a_year"].iloc[-1]
    print(f"\ndecile 1 / decile 10 = {ratio:.2f}\n")
    patterns = pattern_rates(records)
    patterns.index = [f"{a}: {b}" for a, b in patterns.index]
    print(_markdown(patterns.rename_axis("pattern")), "\n")
    sizes = {name: len(codes) for name, codes in PLANTED_PATTERNS.items()}
    hot = gi_star_hot_counts(records)
    hot.index = [f"{name} (of {sizes[name]})" for name in hot.index]
    print(_markdown(hot.rename_axis("Gi* z > 1.96")))


if __name__ == "__main__":
    main()
