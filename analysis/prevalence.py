"""Hidden prevalence and the reporting gap (an ESTIMATE): expected victims from survey prevalence x population.

Expected victims of an area in a year = sum over the survey's sex x age bands of (residents in the band)
x (the band's prevalence of any domestic abuse in the last 12 months), from the Crime Survey for
England and Wales (CSEW) rates in ``data/reference/csew_domestic_abuse_prevalence.csv`` (origin, year
and the population each rate covers are in that file and in data/README.md) and the ONS mid-2019
population by single year of age (SAPE22DT2), banded to the survey's bands (``band_population``).
Compare with recorded incidents: ``ratio = recorded / expected``.

Uncertainty (95%). The recorded count is treated as Poisson: exact (Garwood) limits below 10
events, Byar's above (``analysis.intervals.poisson_interval``, PHE technical guide), divided by the
expected count. Where the rate file gives a survey confidence interval, expected victims are also
computed at the interval's bounds and the ratio's limits are taken at the opposite ends
(lower = recorded_lower / expected_upper, upper = recorded_upper / expected_lower): a conservative
combination, because one national survey error moves every area the same way (fully correlated,
so rolled-up limits are sums of limits too). The shipped rates (YE March 2019, by sex only) come
without an interval or unweighted base, so only the Poisson uncertainty of the recorded count is
quantified there and the survey's own sampling error is not.

Limits, why this is an index and not a reporting rate: the CSEW counts *victims* (people aged
16-74 in households, self-completion module; people in care homes, halls, prisons, and anyone 75+
are out of scope) while police data count *incidents or crimes*, several of which can concern one
victim; local prevalence differs from the national rate (deprivation, age structure within the bands,
rurality), so a low ratio can mean less abuse as well as less reporting; the population is mid-2019,
the survey year is fixed, recorded years vary. Use it to rank areas for awareness work, labelled an
estimate, never as "X% of victims report". References: ONS, Domestic abuse victim characteristics,
England and Wales: year ending March 2019; Home Office "Ready Reckoner" approach (prevalence x
population) used in local domestic abuse strategies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.intervals import poisson_interval
from geo.schema import AREA_CODE, CODE, COUNT, AtlasError, data_dir, shared_data_dir

PREVALENCE_FILE = Path("reference") / "csew_domestic_abuse_prevalence.csv"
# Shipped subset (County Durham + Darlington LSOAs, banded to the rate file's bands), so a fresh clone runs.
SHIPPED_POPULATION_FILE = Path("population") / "lsoa_population_16_74_by_sex_durham_darlington_mid2019.csv"
# The larger single-year-of-age file (904 LSOAs of 7 LADs) in ../shared/data, used when present.
SHARED_SYOA_FILE = Path("population") / "lsoa_population_syoa_7lads_mid2019.csv.gz"
SHIPPED_LADS: tuple[str, ...] = ("E06000047", "E06000005")  # County Durham, Darlington (the demo's areas)

SEX, AGE_FROM, AGE_TO, PERCENT, LOWER_95, UPPER_95 = "sex", "age_from", "age_to", "percent", "lower_95", "upper_95"
PREVALENCE_COLUMNS = (SEX, AGE_FROM, AGE_TO, PERCENT, LOWER_95, UPPER_95, "published_victims", "survey_year",
                      "population_covered", "source_table", "source_url")
BAND_KEYS = [SEX, AGE_FROM, AGE_TO]

# Output columns: every derived figure carries "estimate" in its name (the issue: label it everywhere).
RECORDED = "recorded_incidents"
POPULATION_COVERED = "population_in_survey_bands"
EXPECTED = "expected_victims_estimate"
EXPECTED_LOWER = "expected_victims_lower_estimate"
EXPECTED_UPPER = "expected_victims_upper_estimate"
RATIO = "recorded_to_expected_estimate"
RATIO_LOWER = "recorded_to_expected_lower_95_estimate"
RATIO_UPPER = "recorded_to_expected_upper_95_estimate"
WHOLE_AREA_RATIO = "whole_area_recorded_to_expected_estimate"
UPPER_BELOW_WHOLE = "upper_below_whole_area_estimate"
ESTIMATE_LABEL = "estimate"
LABEL_TEXT = ("Estimate: expected victims = CSEW prevalence x population; recorded/expected is an index "
              "(police incidents vs survey victims), not a reporting rate")
EXPECTED_COLUMNS = [POPULATION_COVERED, EXPECTED, EXPECTED_LOWER, EXPECTED_UPPER]


def read_prevalence(path: str | Path | None = None) -> pd.DataFrame:
    """The survey rate file (default data/reference/csew_domestic_abuse_prevalence.csv), checked; percent as float."""
    path = Path(path) if path is not None else data_dir() / PREVALENCE_FILE
    table = pd.read_csv(path, dtype={SEX: str, "survey_year": str, "source_url": str})
    missing = [c for c in PREVALENCE_COLUMNS if c not in table.columns]
    if missing:
        raise AtlasError(f"{path.name}: missing columns {', '.join(missing)}")
    table = table.astype({AGE_FROM: "int64", AGE_TO: "int64", PERCENT: "float64",
                          LOWER_95: "float64", UPPER_95: "float64"})
    if not set(table[SEX]) <= {"F", "M"}:
        raise AtlasError(f"{path.name}: sex must be F or M; received {sorted(set(table[SEX]))}")
    if ((table[PERCENT] < 0) | (table[PERCENT] > 100)).any() or (table[AGE_FROM] > table[AGE_TO]).any():
        raise AtlasError(f"{path.name}: percent must be 0-100 and age_from <= age_to")
    # Bands of one sex must not overlap, or a person would be counted twice.
    for sex, rows in table.sort_values(AGE_FROM).groupby(SEX):
        if (rows[AGE_FROM].to_numpy()[1:] <= rows[AGE_TO].to_numpy()[:-1]).any():
            raise AtlasError(f"{path.name}: overlapping age bands for sex {sex}")
    return table.reset_index(drop=True)


def band_population(syoa: pd.DataFrame, bands: pd.DataFrame) -> pd.DataFrame:
    """[lsoa_code, sex, age_from, age_to, population] from single-year rows [lsoa_code, sex, age, population].

    Ages outside every band are dropped (e.g. under 16, 75 and over for the 16-74 survey); age 90 in
    SAPE22DT2 means 90 and over, which no CSEW band reaches.
    """
    out = []
    for sex, rows in bands.groupby(SEX, sort=True):
        lo, hi = rows[AGE_FROM].to_numpy(), rows[AGE_TO].to_numpy()
        part = syoa[syoa[SEX] == sex]
        age = part["age"].to_numpy()
        # Band position of each single year (bands of one sex are disjoint: read_prevalence checks).
        pos = np.searchsorted(lo, age, side="right") - 1
        inside = (pos >= 0) & (age <= hi[np.clip(pos, 0, None)])
        part = part[inside].assign(**{AGE_FROM: lo[pos[inside]], AGE_TO: hi[pos[inside]]})
        out.append(part.groupby(["lsoa_code", SEX, AGE_FROM, AGE_TO], as_index=False)["population"].sum())
    table = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["lsoa_code", *BAND_KEYS, "population"])
    return table.astype({"population": "int64"}).sort_values(["lsoa_code", SEX, AGE_FROM], ignore_index=True)


def band_population_for(bands: pd.DataFrame, shared: Path | None = None) -> tuple[pd.DataFrame, str]:
    """(banded LSOA population, where it came from): ../shared/data's 7-LAD file when present, else the shipped subset."""
    shared = shared if shared is not None else shared_data_dir()
    if shared is not None and (shared / SHARED_SYOA_FILE).is_file():
        syoa = pd.read_csv(shared / SHARED_SYOA_FILE, dtype={"lsoa_code": str, SEX: str})
        return band_population(syoa, bands), "ONS mid-2019 single year of age (SAPE22DT2), 7 local authorities"
    shipped = pd.read_csv(data_dir() / SHIPPED_POPULATION_FILE, dtype={"lsoa_code": str, SEX: str})
    have = set(map(tuple, shipped[BAND_KEYS].drop_duplicates().to_numpy().tolist()))
    want = set(map(tuple, bands[BAND_KEYS].to_numpy().tolist()))
    if have != want:
        raise AtlasError(f"{SHIPPED_POPULATION_FILE} holds bands {sorted(have)} but the rate file has "
                         f"{sorted(want)}: rebuild it with analysis.prevalence.band_population from ../shared/data")
    return (shipped[["lsoa_code", *BAND_KEYS, "population"]],
            "ONS mid-2019 (SAPE22DT2), County Durham and Darlington only (../shared/data absent)")


def expected_victims(band_pop: pd.DataFrame, prevalence: pd.DataFrame) -> pd.DataFrame:
    """Per LSOA: [code, population_in_survey_bands, expected_victims_estimate and its lower/upper] = sum(pop x rate).

    Bands without a survey interval use the point rate at both bounds (no survey error quantified).
    """
    rates = prevalence[BAND_KEYS].assign(
        p=prevalence[PERCENT] / 100,
        p_lo=prevalence[LOWER_95].fillna(prevalence[PERCENT]) / 100,
        p_hi=prevalence[UPPER_95].fillna(prevalence[PERCENT]) / 100,
    )
    joined = band_pop.merge(rates, on=BAND_KEYS, how="inner", validate="many_to_one")
    pop = joined["population"].to_numpy(dtype=float)
    parts = pd.DataFrame({
        CODE: joined["lsoa_code"].to_numpy(), POPULATION_COVERED: pop, EXPECTED: pop * joined["p"].to_numpy(),
        EXPECTED_LOWER: pop * joined["p_lo"].to_numpy(), EXPECTED_UPPER: pop * joined["p_hi"].to_numpy(),
    })
    return parts.groupby(CODE, as_index=False)[EXPECTED_COLUMNS].sum()


def roll_up(table: pd.DataFrame, parents: pd.Series, columns: list[str] | None = None) -> pd.DataFrame:
    """Sum ``columns`` of an LSOA table [code, ...] to parents (``parents``: LSOA code -> parent code).

    A parent is blank (NaN) when any of its LSOAs is missing from ``table``: a part-sum would
    understate its expected victims and overstate its ratio.
    """
    columns = columns or EXPECTED_COLUMNS
    child = table.set_index(CODE)[columns].reindex(parents.index)
    summed = child.groupby(parents.to_numpy()).sum(min_count=1)
    incomplete = child.isna().any(axis=1).groupby(parents.to_numpy()).any()
    summed.loc[incomplete[incomplete].index] = np.nan
    return summed.rename_axis(CODE).reset_index()


def reporting_ratio(
    recorded: np.ndarray | pd.Series, expected: np.ndarray | pd.Series,
    expected_lower: np.ndarray | pd.Series | None = None, expected_upper: np.ndarray | pd.Series | None = None,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ratio, lower, upper) of recorded / expected: Poisson limits of recorded over the expected bounds.

    lower = poisson_lower(recorded) / expected_upper, upper = poisson_upper(recorded) / expected_lower;
    NaN where expected is missing or not positive.
    """
    o = np.asarray(recorded, dtype=float)
    e = np.asarray(expected, dtype=float)
    e_lo = e if expected_lower is None else np.asarray(expected_lower, dtype=float)
    e_hi = e if expected_upper is None else np.asarray(expected_upper, dtype=float)
    o_lo, o_hi = poisson_interval(o, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (e > 0) & (e_lo > 0) & (e_hi > 0)
        ratio = np.where(ok, o / np.where(ok, e, 1), np.nan)
        lower = np.where(ok, o_lo / np.where(ok, e_hi, 1), np.nan)
        upper = np.where(ok, o_hi / np.where(ok, e_lo, 1), np.nan)
    return ratio, lower, upper


def reporting_gap(recorded: pd.DataFrame, expected: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per area of ``recorded`` [area_code, area_name, count, ...]: expected victims, ratio, limits, flag.

    ``expected`` is [code, population_in_survey_bands, expected_victims_estimate, lower, upper] at the
    same level. The whole-area ratio sums recorded and expected over the areas that have an expected
    figure; an area is flagged when its whole interval lies below it (reporting lowest relative to
    expected prevalence, beyond chance in the recorded count).
    """
    table = recorded.rename(columns={COUNT: RECORDED}).merge(
        expected.rename(columns={CODE: AREA_CODE}), on=AREA_CODE, how="left")
    ratio, lower, upper = reporting_ratio(table[RECORDED], table[EXPECTED], table[EXPECTED_LOWER],
                                          table[EXPECTED_UPPER], confidence)
    table[RATIO], table[RATIO_LOWER], table[RATIO_UPPER] = ratio, lower, upper
    has = table[EXPECTED].notna()
    whole = table.loc[has, RECORDED].sum() / table.loc[has, EXPECTED].sum() if has.any() else np.nan
    table[WHOLE_AREA_RATIO] = whole
    table[UPPER_BELOW_WHOLE] = pd.array(np.where(has, upper < whole, pd.NA), dtype="boolean")
    table[ESTIMATE_LABEL] = LABEL_TEXT
    table.attrs["notes"] = [
        "estimate: expected victims from CSEW prevalence (survey victims aged 16-74 in households) x ONS "
        "mid-2019 population; recorded/expected is an index, not a reporting rate",
    ]
    if (~has).any():
        table.attrs["notes"].append(f"estimate: {int((~has).sum())} areas have no population by age and sex "
                                    "for the survey bands; their expected victims and ratio are blank")
    return table


def lowest_ratio(table: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` areas with the lowest recorded/expected estimate (ties by code), blanks last."""
    return table.sort_values([RATIO, AREA_CODE], na_position="last").head(n).reset_index(drop=True)


__all__ = [
    "EXPECTED", "EXPECTED_LOWER", "EXPECTED_UPPER", "RATIO", "RATIO_LOWER", "RATIO_UPPER", "RECORDED",
    "UPPER_BELOW_WHOLE", "WHOLE_AREA_RATIO", "band_population", "band_population_for", "expected_victims",
    "lowest_ratio", "read_prevalence", "reporting_gap", "reporting_ratio", "roll_up",
]
