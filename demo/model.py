"""The intensity model behind the synthetic demo data: expected incidents per LSOA and month.

expected[i, t] = s[lad(i), fy(t)] * pop_i * exp(beta * imd_i) * u_i * season[month(t)]
                 * football(t) * pattern_i(t)

with s chosen so each district's expected total in each financial year is its calibration target
times FY_TREND[fy] (docs/demo-data.md gives the targets and the values achieved).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from demo._inputs import DEMO_LAD_CODES, IMD_SCORE_COL, POPULATION_COL, demo_areas
from geo.schema import AREA_CODE, CODE, LAD_CODE, PERIOD, POPULATION

FIRST_MONTH, LAST_MONTH = "2019-04", "2025-03"
MONTHS: tuple[str, ...] = tuple(str(p) for p in pd.period_range(FIRST_MONTH, LAST_MONTH, freq="M"))

# Calibration targets: expected incidents a year per 1,000 residents (mid-2019 population).
# County Durham: ~8,400 a year on 530,094 residents (~16 per 1,000, the published headline figure
# quoted in the project brief); Darlington: a similar or slightly higher rate.
TARGET_RATE_PER_1000: dict[str, float] = {"E06000047": 8_400 / 530_094 * 1_000, "E06000005": 17.5}

# Log-linear deprivation gradient on the IMD 2019 score: with these LSOAs' scores the most
# deprived national decile comes out ~3.5x the least deprived (see docs/demo-data.md).
IMD_BETA = 0.024
# Unexplained, persistent area heterogeneity: log-normal with this sd, from a fixed seed so the
# intensity (and so the "truth" tests compare against) does not depend on the sampling seed.
AREA_EFFECT_SD = 0.20
STRUCTURE_SEED = 2019_2025

# Month-of-year profile (mean 1): summer peak, December/Christmas peak, February trough.
SEASON: dict[int, float] = {
    1: 0.98, 2: 0.87, 3: 0.95, 4: 0.96, 5: 1.02, 6: 1.06,
    7: 1.10, 8: 1.08, 9: 0.98, 10: 0.98, 11: 0.93, 12: 1.09,
}
# Financial-year level (mean 1): a mild rise into 2020/21-2021/22 then a plateau, the shape of
# recorded domestic abuse-related crime nationally; kept within 1% so each year stays ~8,400.
FY_TREND: dict[str, float] = {
    "2019/20": 0.99, "2020/21": 1.01, "2021/22": 1.01, "2022/23": 1.00, "2023/24": 0.99, "2024/25": 1.00,
}
# Months with an England men's tournament (Euro 2020 played 2021, Qatar 2022, Euro 2024):
# match days are associated with more domestic abuse incidents (Kirby, Francis & O'Flaherty 2014).
FOOTBALL_MONTHS: dict[str, float] = {
    "2021-06": 1.04, "2021-07": 1.04, "2022-11": 1.04, "2022-12": 1.04, "2024-06": 1.04, "2024-07": 1.04,
}

# Planted patterns for the hotspot tools: the LSOAs best-fitting three wards (data/lookups/
# lsoa_to_ward.csv), each a contiguous cluster (queen), far apart from one another.
PLANTED_PATTERNS: dict[str, list[str]] = {
    # Bishop Auckland Town ward, County Durham (County Durham 055A-B, 056A-C).
    "persistent": ["E01020868", "E01020869", "E01020870", "E01020871", "E01020872"],
    # Consett North ward, County Durham (County Durham 014B, 010A, 010C-E).
    "emerging": ["E01020631", "E01020632", "E01020641", "E01020642", "E01020643"],
    # Harrowgate Hill ward, Darlington (Darlington 002C-F).
    "fading": ["E01012323", "E01012324", "E01032545", "E01032546"],
}
PLANTED_WARDS: dict[str, str] = {
    "persistent": "Bishop Auckland Town", "emerging": "Consett North", "fading": "Harrowgate Hill",
}
# Multipliers on each cluster's own modelled intensity. The three wards are less deprived than
# their districts' most deprived areas (which are hot by the gradient alone), so these are set
# for an expected Gi* z of about 3-5 on yearly LSOA counts (queen contiguity, binary weights)
# when elevated, so that every seed tried (200) flags them; against the rest of the district
# the elevated clusters sit at roughly 2.5-3.5x.
PERSISTENT_LEVEL = 3.3
EMERGING_FROM, EMERGING_TO = 2.0, 4.5  # April 2023 -> March 2025
FADING_LEVEL = 4.5  # through March 2020


# Repeat-victim flag: logit p_i = a + REPEAT_IMD_SLOPE * z(imd_i) + v_i, v_i ~ N(0, REPEAT_AREA_SD)
# (fixed seed), with a set so the incident-weighted expected share is REPEAT_SHARE.
REPEAT_SHARE = 0.40
REPEAT_IMD_SLOPE = 0.15
REPEAT_AREA_SD = 0.10

# Category mix (probabilities per incident), loosely after the ONS domestic abuse-related crime
# mix with non-crime incidents in "Other domestic abuse"; illustrative, not any force's figures.
CATEGORY_SHARES: dict[str, float] = {
    "Violence with injury": 0.17,
    "Violence without injury": 0.24,
    "Stalking and harassment": 0.25,
    "Criminal damage and arson": 0.06,
    "Other domestic abuse": 0.28,
}

# Negative-binomial noise: each cell's mean is multiplied by Gamma(shape, 1/shape) before the
# Poisson draw, so variance = mu + mu^2 / NB_SHAPE (extra-Poisson month-to-month variation).
NB_SHAPE = 5.0


def _pattern_profiles() -> dict[str, np.ndarray]:
    """Multiplier on the cluster's intensity for each of the 72 months."""
    t = np.arange(len(MONTHS), dtype=float)
    persistent = np.full(t.size, PERSISTENT_LEVEL)
    # Baseline to March 2023, then appears in April 2023 and rises steadily through March 2025.
    emerging = np.where(t < 48, 1.0, EMERGING_FROM + (t - 48) / 23 * (EMERGING_TO - EMERGING_FROM))
    # Elevated through 2019/20, falls linearly over 2020/21-2021/22, baseline from April 2022.
    fading = np.interp(t, [0, 11, 36, 71], [FADING_LEVEL, FADING_LEVEL, 1.0, 1.0])
    return {"persistent": persistent, "emerging": emerging, "fading": fading}


def financial_year(month: str) -> str:
    """Financial year label ('2019/20') of a 'yyyy-mm' month; April starts the year."""
    year, mon = int(month[:4]), int(month[5:7])
    start = year if mon >= 4 else year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def _time_profile() -> np.ndarray:
    """Season x football multiplier for each month (the year level is set by the scaling)."""
    return np.array([SEASON[int(m[5:7])] * FOOTBALL_MONTHS.get(m, 1.0) for m in MONTHS])


@lru_cache(maxsize=1)
def intensity_cube() -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """(LSOA codes, months, expected counts [n_lsoa x 72]) the generator samples from (read-only)."""
    areas = demo_areas()
    pop = areas[POPULATION_COL].to_numpy(dtype=float)
    area_effect = np.random.default_rng(STRUCTURE_SEED).lognormal(
        -AREA_EFFECT_SD**2 / 2, AREA_EFFECT_SD, size=len(areas)
    )
    weight = pop * np.exp(IMD_BETA * areas[IMD_SCORE_COL].to_numpy()) * area_effect
    cube = weight[:, None] * _time_profile()[None, :]
    codes = areas[CODE].to_numpy()
    for name, profile in _pattern_profiles().items():
        rows = np.isin(codes, PLANTED_PATTERNS[name])
        cube[rows] *= profile[None, :]
    # Scale each district-year so its expected total (patterns included) is target x trend: the
    # planted excess is then taken from the rest of the district (~3%), keeping years on target.
    lad = areas[LAD_CODE].to_numpy()
    fy = np.array([financial_year(m) for m in MONTHS])
    for code in DEMO_LAD_CODES:
        rows = lad == code
        target = TARGET_RATE_PER_1000[code] * pop[rows].sum() / 1_000
        for year, level in FY_TREND.items():
            cols = fy == year
            block = cube[np.ix_(rows, cols)]
            cube[np.ix_(rows, cols)] = block * (target * level / block.sum())
    cube.setflags(write=False)
    return tuple(codes), MONTHS, cube


@lru_cache(maxsize=1)
def repeat_probabilities() -> np.ndarray:
    """Probability that an incident in each LSOA (intensity_cube order) is flagged repeat victim (read-only)."""
    from scipy.optimize import brentq

    areas = demo_areas()
    imd = areas[IMD_SCORE_COL].to_numpy()
    z = (imd - imd.mean()) / imd.std()
    v = np.random.default_rng(STRUCTURE_SEED + 1).normal(0.0, REPEAT_AREA_SD, size=len(areas))
    weight = intensity_cube()[2].sum(axis=1)

    def share(a: float) -> float:
        p = 1 / (1 + np.exp(-(a + REPEAT_IMD_SLOPE * z + v)))
        return float((p * weight).sum() / weight.sum()) - REPEAT_SHARE

    a = brentq(share, -5.0, 5.0)
    p = 1 / (1 + np.exp(-(a + REPEAT_IMD_SLOPE * z + v)))
    p.setflags(write=False)
    return p


def demo_expected_rates() -> pd.DataFrame:
    """Tidy intensity the generator sampled from: area_code, lad_code, period (month), population,
    expected_count, expected_rate_per_1000 (that month, per 1,000 residents)."""
    codes, months, cube = intensity_cube()
    areas = demo_areas()
    n_t = len(months)
    out = pd.DataFrame(
        {
            AREA_CODE: np.repeat(np.asarray(codes), n_t),
            LAD_CODE: np.repeat(areas[LAD_CODE].to_numpy(), n_t),
            PERIOD: np.tile(np.asarray(months), len(codes)),
            POPULATION: np.repeat(areas[POPULATION_COL].to_numpy(), n_t),
            "expected_count": cube.ravel(),
        }
    )
    out["expected_rate_per_1000"] = out["expected_count"] / out[POPULATION] * 1_000
    return out
