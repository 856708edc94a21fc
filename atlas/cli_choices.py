"""Choices and defaults the `atlas` parser shows, in a module that imports nothing.

Building the parser (and so `atlas --help`, `atlas map --help`, ...) must not import pandas, numpy,
geopandas or matplotlib: each command imports what it needs when it runs. These values are copies of
constants whose home module imports those libraries; tests/test_cli_startup.py checks that every copy
equals its source, so a change there fails the tests until it is made here too. (Choices whose home is
light are imported from it: levels, grains, denominators, weights methods and corrections from
geo.schema, the publication threshold from geo.attribution.)
"""

from __future__ import annotations

# analysis.hotspots.HotspotParams() field defaults shown and used by --permutations, --seed, --correction.
HOTSPOT_DEFAULTS: dict[str, object] = {"permutations": 999, "seed": 20240101, "correction": "none",
                                        "gi_inference": "analytical", "gi_correction": "fdr"}

# analysis.priority.PriorityWeights() field defaults, for --w-rate ... --w-deprivation.
PRIORITY_WEIGHT_DEFAULTS: dict[str, float] = {
    "rate": 3.0, "volume": 2.0, "hotspot": 3.0, "trend": 2.0, "deprivation": 0.0,
}

# `atlas map`: keys of geo.static_maps.MEASURES, geo.classify.SCHEMES and geo.maps.PALETTE_LABELS;
# geo.print_page.FORMATS, ORIENTATIONS and the keys of PAPER_INCHES.
MAP_MEASURES: tuple[str, ...] = ("count", "rate", "eb_rate", "lisa", "gi_bin", "ehsa")
MAP_SCHEMES: tuple[str, ...] = ("quantiles", "natural_breaks", "equal_interval", "fixed")
MAP_PALETTES: tuple[str, ...] = ("YlOrRd", "Blues", "viridis", "cividis", "PuOr")
MAP_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
MAP_PAPERS: tuple[str, ...] = ("a4", "a3")
MAP_ORIENTATIONS: tuple[str, ...] = ("portrait", "landscape")

# `atlas export --table`: name -> help of atlas.exports.TABLES.
EXPORT_TABLES: dict[str, str] = {
    "rates": "counts and rates per 1,000 with intervals, per area and period",
    "smoothed": "EB and spatial EB smoothed rates, funnel position, shares",
    "hotspots": "Getis-Ord Gi* per area and period",
    "emerging": "emerging hot spot category per area",
    "compare": "change per area between --against and --period",
    "priority": "ranked priority areas with reasons",
    "seed": "rates by area for three financial years",
    "concentration": "share of incidents in the top areas, Gini",
}

# `atlas spc`: atlas.analyses.SPC_MEASURES and WHOLE_AREA_CODE, analysis.spc.POLARITIES.
SPC_MEASURES: tuple[str, ...] = ("count", "rate")
SPC_WHOLE_AREA = "all"
SPC_POLARITIES: tuple[str, ...] = ("higher_is_worse", "higher_is_better", "neutral")
