"""Every cached call the pages make, keyed by small hashable values (never a DataFrame).

st.cache_data holds per-selection tables; st.cache_resource holds read-only shared objects
(boundaries). Store-backed entries take `store_key()` = (path, mtime): the store is replaced
atomically on every write (copy-on-write), so a new mtime means new data and a fresh entry.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from analysis.periods import can_convert, convert_periods, period_sort_key
from analysis.cube import CodedCounts
from boundaries.load import load_areas
from boundaries.registry import get_boundary_set
from geo.schema import (
    AREA_CODE, COUNT, GRAIN, GRAINS, LAD_CODE, LAD_NAME, PERIOD, AtlasError,
)
from atlas.outlines import covered_areas, selection_outlines
from store.store import Store, default_store_path

if TYPE_CHECKING:
    from geo.display_areas import DisplayAreas
    from views._frame import Selection

StoreKey = tuple[str, int]




def store_key() -> StoreKey:
    """(store path, modification time in ns) of the store the app reads ($ATLAS_STORE)."""
    path = default_store_path().resolve()
    return str(path), (path.stat().st_mtime_ns if path.exists() else 0)


@st.cache_resource(show_spinner="Preparing the demo dataset…")
def ensure_demo(store_path: str) -> str:
    """Create the synthetic demo dataset in this store once per process; returns its name."""
    from demo.dataset import ensure_demo_dataset  # heavy import, first start only

    return str(ensure_demo_dataset(Store(store_path)))


@st.cache_data(show_spinner=False)
def dataset_table(key: StoreKey) -> pd.DataFrame:
    """Store.datasets() (name, boundary_set, synthetic, ...)."""
    return Store(key[0]).datasets()


@st.cache_resource(show_spinner=False)
def boundary_levels(boundary_set: str) -> tuple[str, ...]:
    """Levels the boundary set provides."""
    return tuple(get_boundary_set(boundary_set).levels)


@st.cache_resource(show_spinner="Loading boundaries…")
def areas(level: str, boundary_set: str) -> gpd.GeoDataFrame:
    """Boundaries of one level (read-only: shared across sessions, never mutate)."""
    return load_areas(level, boundary_set)


# cache_resource, not cache_data, for this internal table: cache_data pickles a result on write and
# unpickles it on every read (the whole dataset, several times per run); the callers below only
# derive new tables from it.
@st.cache_resource(show_spinner=False, max_entries=4)
def _coded(key: StoreKey, dataset: str) -> CodedCounts:
    """The dataset's stored counts as integer codes: the same read the analysis frames use. Read-only."""
    from atlas.analyses import coded_counts

    return coded_counts(Store(key[0]), dataset)


@st.cache_data(show_spinner=False)
def grain_options(key: StoreKey, dataset: str) -> list[str]:
    """Grains the dataset's periods can be shown at (those its stored grains nest in), in GRAINS order."""
    stored = [g for g, _ in _coded(key, dataset).grain_periods()]
    return [g for g in GRAINS if any(can_convert(s, g) for s in stored)]


@st.cache_data(show_spinner=False)
def period_options(key: StoreKey, dataset: str, grain: str) -> list[str]:
    """The `grain` periods the dataset has counts in, newest first (grains that do not nest are skipped)."""
    parts = [
        convert_periods(pd.Series(labels, dtype="str"), g, grain)
        for g, labels in _coded(key, dataset).grain_periods()
        if can_convert(str(g), grain)
    ]
    if not parts:
        return []
    labels = pd.concat(parts).unique()
    order = np.argsort(-period_sort_key(list(labels), grain), kind="stable")
    return [str(labels[i]) for i in order]


@st.cache_resource(show_spinner="Loading boundaries…")
def map_areas(level: str, boundary_set: str, lad_codes: tuple[str, ...] | None) -> gpd.GeoDataFrame:
    """Boundaries of one level in the given local authorities (read-only: never mutate)."""
    return load_areas(level, boundary_set, lad_codes=lad_codes)


@st.cache_data(show_spinner=False)
def categories(key: StoreKey, dataset: str) -> tuple[str, ...]:
    """Incident categories stored for the dataset, sorted."""
    return tuple(sorted(_coded(key, dataset).categories))


@st.cache_data(show_spinner=False)
def lad_options(key: StoreKey, dataset: str, boundary_set: str, level: str, grain: str) -> dict[str, str]:
    """Local authorities the area filter offers (code -> name): those with incidents in the data at `level`.

    Exactly the authorities a map with no filter shows (atlas.analyses._lad_scope), from that selection's
    analysis frame (cached on disk for a large dataset): no boundary table or roll-up of the stored counts
    is read for the sidebar. In the order of their first area code, as the frame holds them.
    """
    from atlas.analyses import load_frame

    try:
        f = load_frame(Store(key[0]), dataset, level, grain)
    except AtlasError:
        return {}
    table = f.areas[[LAD_CODE, LAD_NAME]].dropna(subset=[LAD_CODE]).drop_duplicates(LAD_CODE)
    return dict(zip(table[LAD_CODE].astype(str), table[LAD_NAME].astype(str)))


# --- analysis tables (atlas.analyses), keyed by the frame's Selection; pages filter periods themselves


def analysis_store(key: StoreKey, sel: Selection) -> Store:
    """The store the selection's analyses read: perturbed counts in publication mode (atlas.publication)."""
    from atlas.publication import publication_store

    return publication_store(Store(key[0]), sel.perturbed)


def _args(sel: Selection) -> dict:
    return {"dataset": sel.dataset, "level": sel.level, "grain": sel.grain, "area_filter": sel.area_filter,
            "denominator": sel.denominator, "category": sel.category}


@st.cache_data(show_spinner="Calculating rates…")
def rates(key: StoreKey, sel: Selection) -> pd.DataFrame:
    """atlas.analyses.rates_table for every period of the selection (rates with 95% intervals).

    A copy of the shared table (_shared_rates), which the map reads without this cache's pickling
    (~1 s for 5,000 areas x 72 months); callers may modify what this returns.
    """
    return _shared_rates(key, sel)[0].copy()


@st.cache_data(show_spinner="Smoothing rates…")
def smoothed_rates(key: StoreKey, sel: Selection) -> pd.DataFrame:
    """Rates plus the global empirical Bayes smoothed rate (analysis.smoothing.eb_rate, Marshall 1991) per period."""
    return _shared_rates(key, sel, smoothed=True)[0].copy()


@st.cache_data(show_spinner="Finding hot spots…")
def hotspots(key: StoreKey, sel: Selection, statistic: str = "gi_star", period: str | None = None) -> pd.DataFrame:
    """atlas.analyses.hotspots_table (Gi* or local Moran, 999 permutations): every period, or only `period`.

    One period is what a map needs (~20x faster on a first visit). The permutation draws do not depend
    on which periods are computed, so its rows equal that period's rows of the whole table
    (tests/test_page_map.py checks it).
    """
    from atlas.analyses import hotspots_table

    return hotspots_table(analysis_store(key, sel), **_args(sel), statistic=statistic, period=period)


@st.cache_data(show_spinner="Emerging hot spot analysis…")
def emerging(key: StoreKey, sel: Selection, period: str) -> pd.DataFrame:
    """atlas.analyses.emerging_table (space-time Gi* + Mann-Kendall) over the periods up to `period`."""
    from atlas.analyses import emerging_table

    return emerging_table(analysis_store(key, sel), **_args(sel), period=period)


@st.cache_data(show_spinner="Comparing periods…")
def compare(key: StoreKey, sel: Selection, period: str, against: str) -> pd.DataFrame:
    """atlas.analyses.compare_table: change per area from `against` to `period` (exact Poisson test)."""
    from atlas.analyses import compare_table

    return compare_table(analysis_store(key, sel), **_args(sel), period=period, against=against)


@st.cache_data(show_spinner=False)
def whole_area(key: StoreKey, sel: Selection) -> pd.DataFrame:
    """All areas of the selection summed, per period: count, population, rate with intervals (atlas.analyses.whole_area_table)."""
    from atlas.analyses import whole_area_table

    return whole_area_table(analysis_store(key, sel), **_args(sel))


@st.cache_data(show_spinner=False)
def whole_area_change(key: StoreKey, sel: Selection, period: str, against: str) -> pd.DataFrame:
    """One-row change of the whole selection from `against` to `period` (analysis.change.period_change)."""
    from analysis.change import period_change

    whole = whole_area(key, sel)
    whole = whole.assign(**{AREA_CODE: "all", GRAIN: sel.grain})
    return period_change(whole, against, period)


# --- compare & priority pages
# Each wrapper returns a finished table; publication mode is part of the key, and atlas.publication
# applies the rules of `atlas ... --publication`, so a page and the command line export the same file.

if TYPE_CHECKING:
    from analysis.priority import PriorityWeights



def _reading(sel: Selection, publication: bool) -> Selection:
    """The selection whose tables publication mode shows: perturbed counts when ``publication`` is on."""
    return replace(sel, perturbed=True) if publication else sel


def _published(table: pd.DataFrame, command: str, publication: bool) -> pd.DataFrame:
    """atlas.publication.publish (the command line's rules for `command`) when publication mode is on."""
    if not publication:
        return table
    from atlas.publication import PUBLICATION_THRESHOLD, publish

    return publish(table, command, PUBLICATION_THRESHOLD)


@st.cache_data(show_spinner=False)
def published_rates(key: StoreKey, sel: Selection, publication: bool) -> pd.DataFrame:
    """rates() as `atlas rates --publication` writes it (every period; unchanged when publication is off)."""
    return _published(rates(key, _reading(sel, publication)), "rates", publication)


@st.cache_data(show_spinner=False)
def published_ranked(key: StoreKey, sel: Selection, period: str, publication: bool) -> pd.DataFrame:
    """ranked() on what is shown: in publication mode areas whose rate is hidden get no rank and sort last."""
    if not publication:
        return ranked(key, sel, period)
    r = published_rates(key, sel, True)
    r = r[r[PERIOD] == period].copy()
    r["rank"] = r["rate_per_1000"].rank(ascending=False, method="min").astype("Int64")
    r["rank_of"] = int(r["rate_per_1000"].notna().sum())
    return r.sort_values(["rank", AREA_CODE], kind="stable", na_position="last").reset_index(drop=True)


@st.cache_data(show_spinner=False)
def published_whole_area(key: StoreKey, sel: Selection, publication: bool) -> pd.DataFrame:
    """whole_area() as publication mode may show it: a period's total is hidden where the rates table withholds it.

    Secondary suppression (atlas.publication) blanks the whole-area rate of a period whose total would
    reveal a small count; the headline count and rate of that period are hidden too ("*"; "<5" if small).
    """
    sel = _reading(sel, publication)
    whole = whole_area(key, sel)
    if not publication:
        return whole
    from atlas.publication import PUBLICATION_THRESHOLD
    from analysis.disclosure import SECONDARY_SYMBOL, primary_symbol

    raw, shown = rates(key, sel), published_rates(key, sel, True)
    lost = raw["whole_area_rate"].notna().to_numpy() & shown["whole_area_rate"].isna().to_numpy()
    withheld = set(raw.loc[lost, PERIOD].astype(str))
    out = whole.copy()
    hide = out[PERIOD].astype(str).isin(withheld).to_numpy()
    small = out[COUNT].between(0, PUBLICATION_THRESHOLD - 1).to_numpy()  # zeros too, as publish() hides them
    text = out[COUNT].astype("string")
    text = text.mask(pd.Series(hide, index=out.index), SECONDARY_SYMBOL)
    out[COUNT] = text.mask(pd.Series(small, index=out.index), primary_symbol(PUBLICATION_THRESHOLD))
    derived = [c for c in out.columns if c.startswith("rate")]
    out.loc[hide | small, derived] = np.nan
    out["suppressed"] = hide | small
    return out


@st.cache_data(show_spinner="Calculating rates…")
def locality_rates(key: StoreKey, sel: Selection, publication: bool) -> pd.DataFrame:
    """rates() plus population share, share ratio (analysis.rates.share_of_incidents) and repeat share (Wilson)."""
    from analysis.concentration import repeat_share
    from analysis.rates import share_of_incidents

    table = repeat_share(share_of_incidents(rates(key, _reading(sel, publication))))
    # A rates table with incident and population shares and repeat shares: the `atlas smoothed` rules.
    return _published(table, "smoothed", publication)


@st.cache_data(show_spinner=False)
def funnel_data(key: StoreKey, sel: Selection, period: str, publication: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(areas of `period` with population and rate; funnel limits on a population grid), Spiegelhalter (2005).

    The limits sit around the whole-area rate of the period; the grid spans the areas' populations
    (log-spaced, as the funnel narrows fastest at small populations). Limits are empty without population.
    """
    from analysis.rates import funnel_limits

    points = locality_rates(key, sel, publication)
    points = points[points[PERIOD] == period].reset_index(drop=True)
    pop = points["population"].astype(float)
    reference = points["whole_area_rate"].astype(float).dropna()
    if reference.empty or not (pop > 0).any():
        return points, pd.DataFrame()
    lo, hi = float(pop[pop > 0].min()), float(pop.max())
    grid = np.geomspace(lo * 0.9, hi * 1.05, 200)
    limits = funnel_limits(float(reference.iloc[0]), grid)
    limits["whole_area_rate"] = float(reference.iloc[0])
    return points, limits


@st.cache_data(show_spinner="Building the three-year table…")
def seed_table_for(key: StoreKey, sel: Selection, period: str | None, publication: bool) -> pd.DataFrame:
    """atlas.analyses.seed_rates: three financial years up to the one holding `period` (latest if it does not nest)."""
    from atlas.analyses import seed_rates

    last_fy = None
    if period is not None and can_convert(sel.grain, "fy"):
        last_fy = str(convert_periods(pd.Series([period]), sel.grain, "fy").iloc[0])
    sel = _reading(sel, publication)
    table = seed_rates(analysis_store(key, sel), sel.dataset, level=sel.level, last_fy=last_fy, area_filter=sel.area_filter,
                       denominator=sel.denominator, category=sel.category)
    return _published(table, "seed", publication)


@st.cache_data(show_spinner="Ranking priority areas…")
def priority_ranking(
    key: StoreKey, sel: Selection, period: str | None, weights: PriorityWeights, top_n: int, publication: bool
) -> pd.DataFrame:
    """atlas.analyses.priority_table for `period` with these weights (a frozen dataclass: hashable key)."""
    from atlas.analyses import priority_table

    sel = _reading(sel, publication)
    table = priority_table(analysis_store(key, sel), **_args(sel), period=period, weights=weights, top_n=top_n)
    return _published(table, "priority", publication)


# --- map, overview and hot spot pages

MEASURES: dict[str, str] = {
    "count": "Incidents",
    "rate": "Rate per 1,000",
    "eb_rate": "Smoothed rate per 1,000 (empirical Bayes)",
    "lisa": "LISA cluster (local Moran's I)",
    "gi_bin": "Gi* hot and cold spots",
    "ehsa": "Emerging hot spot category",
}
CATEGORICAL_MEASURES = ("lisa", "gi_bin", "ehsa")


def gi_method() -> str:
    """How the app's Gi* bins are decided (its hot spot tables use HotspotParams' defaults), for legends."""
    from analysis.hotspots import HotspotParams

    return HotspotParams().gi_method()
VALUE = "value"


def _selection_codes(key: StoreKey, sel: Selection) -> np.ndarray:
    """The area codes the selection's tables cover (rates()[area_code].unique()): its analysis frame's areas,
    without a rates table of every period."""
    from atlas.analyses import load_frame

    return load_frame(analysis_store(key, sel), **_args(sel)).areas[AREA_CODE].unique()


@st.cache_resource(show_spinner="Loading boundaries…")
def selection_areas(key: StoreKey, sel: Selection) -> gpd.GeoDataFrame:
    """Boundaries of exactly the areas the selection's tables cover (read-only: never mutate)."""
    return covered_areas(areas(sel.level, sel.boundary_set), _selection_codes(key, sel))


@st.cache_resource(show_spinner=False)
def display_areas(key: StoreKey, sel: Selection) -> DisplayAreas:
    """The selection's outlines simplified and serialised for the browser (geo.maps.display_areas), once per selection.

    For a user boundary set also cached on disk (geo.display_cache: keyed by the boundary file's version,
    the level and the codes in order), so a new server process reads them instead of simplifying again.
    """
    return selection_outlines(sel.boundary_set, sel.level, _selection_codes(key, sel),
                              polygons=lambda: selection_areas(key, sel))


def outlines_url(areas: DisplayAreas) -> str | None:
    """URL at which this server holds `areas.outlines` for the session (a Streamlit media file), or None.

    The map page fetches the outlines from it once (geo.map_layers.AreaOutlines), so a rerun (a new period
    or measure) sends only the style layer, not ~0.9 MB of outlines for 5,000 areas again. The file is
    named by its content (the same URL for every session showing these areas) and Streamlit drops it
    once no session's latest run added it. None without a running server (AppTest, bare mode): inline.
    """
    return served_json(gzipped_outlines(areas.outlines), "atlas.map_outlines")


def tips_url(tips: str) -> str | None:
    """URL of the map's tooltip table (geo.map_layers.AreaStyle.tips_json) for this run, or None (inline).

    Outside the script's websocket message: the page fetches it after drawing the colours, so the first
    draw and each period change do not wait for ~0.3 MB of tooltip text for 5,000 areas.
    """
    return served_json(_gzip(tips), "atlas.map_tips")


def served_json(packed: bytes, coordinates: str) -> str | None:
    """Serve gzipped JSON bytes as a Streamlit media file of this run; its URL, or None without a server."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if not runtime.exists() or get_script_run_ctx() is None:
        return None
    try:
        return runtime.get_instance().media_file_mgr.add(packed, GZIP_MIMETYPE, coordinates=coordinates)
    except Exception:  # noqa: BLE001  (no media storage: the data goes inline, as before)
        return None


GZIP_MIMETYPE = "application/gzip"  # outlines and tooltips: geo.map_layers unpacks them in the page (atlasFetchJson)


@lru_cache(maxsize=8)
def gzipped_outlines(outlines: str) -> bytes:
    """The outlines gzipped once (level 1, no timestamp: the same bytes, so the same URL, every time).

    Streamlit's server gzips a JSON media file at level 9 on every request: ~0.3 s for the 0.86 MB of
    5,000 LSOAs, on the first visit's critical path. Served as application/gzip it goes as it is (Starlette
    leaves that type alone), 0.34 MB made in ~10 ms, and the page unpacks it (DecompressionStream).
    """
    return _gzip(outlines)


def _gzip(text: str) -> bytes:
    import gzip

    return gzip.compress(text.encode(), compresslevel=1, mtime=0)  # no timestamp: the same text, the same bytes


@st.cache_data(show_spinner=False)
def ranked(key: StoreKey, sel: Selection, period: str) -> pd.DataFrame:
    """The period's rates with `rank` (1 = highest rate; ties share the better rank) and `rank_of`, highest first."""
    r = rates(key, sel)
    r = r[r[PERIOD] == period].copy()
    r["rank"] = r["rate_per_1000"].rank(ascending=False, method="min").astype("Int64")
    r["rank_of"] = int(r["rate_per_1000"].notna().sum())
    return r.sort_values(["rank", AREA_CODE], kind="stable", na_position="last").reset_index(drop=True)


# A map rerun (a new period or measure) needs one period of tables that hold every period: reading
# them through st.cache_data unpickles all of them on every read (~0.2 s each at 5,000 areas x 72
# months). These hold one read-only copy per selection, with each period's rows, for slicing.
@st.cache_resource(show_spinner="Calculating rates…", max_entries=4)
def _shared_rates(key: StoreKey, sel: Selection, smoothed: bool = False) -> tuple[pd.DataFrame, dict]:
    """(rates table, or with the empirical Bayes rate, and period -> row positions), read-only: callers copy slices.

    Computed here rather than read from rates() (st.cache_data): that cache pickles what it stores, about
    1 s for 5,000 areas x 72 months on a first visit, and unpickles it on every read.
    """
    if smoothed:
        from analysis.smoothing import eb_rate

        table = eb_rate(_shared_rates(key, sel)[0])  # a new table (eb_rate copies its input)
    else:
        from atlas.analyses import rates_table

        table = rates_table(analysis_store(key, sel), **_args(sel))
    return table, table.groupby(PERIOD, sort=False, observed=True).indices


@st.cache_resource(show_spinner=False, max_entries=96)
def _period_table(key: StoreKey, sel: Selection, period: str) -> pd.DataFrame:
    """rates_table of one period (read-only): equal to that period's rows of rates(), in ~10 ms instead of
    ~0.6 s for all 72 months of 5,000 areas, so a first map visit or a period change need not wait for them."""
    from atlas.analyses import rates_table

    return rates_table(analysis_store(key, sel), **_args(sel), period=period)


def _rates_of(key: StoreKey, sel: Selection, period: str, smoothed: bool = False) -> pd.DataFrame:
    if period and not smoothed:
        return _period_table(key, sel, period)
    table, rows = _shared_rates(key, sel, smoothed)
    if not period:
        return table
    return table.iloc[rows.get(period, [])]


def _all_period_values(key: StoreKey, sel: Selection, measure: str) -> pd.Series:
    """measure_values(key, sel, measure, "")[VALUE] for count and rate, from the analysis frame in one
    vectorised pass (no rates table of every period): the frame's counts in the table's order (area-major),
    and rate_per_1000 as analysis.rates.add_rates computes it (count / population where > 0, x 1,000)."""
    from analysis.rates import PER
    from atlas.analyses import load_frame

    f = load_frame(analysis_store(key, sel), **_args(sel))
    # The cube itself, not the tidy counts table (~0.1 s of text columns for 5,000 areas x 72 months):
    # ravel() is the table's area-major order.
    counts = f.cube.ravel().astype(np.int64)
    if measure == "count":
        return pd.Series(counts, name=VALUE)
    k = len(f.periods)
    pop = (np.repeat(f.population.to_numpy(dtype=float), k) if f.population is not None
           else np.full(len(counts), np.nan))
    return pd.Series(counts.astype(float) / np.where(pop > 0, pop, np.nan) * PER, name=VALUE)


@st.cache_data(show_spinner=False)
def period_rates(key: StoreKey, sel: Selection, period: str) -> pd.DataFrame:
    """rates() of one period (what the map shows), without unpickling every period's rows on each rerun."""
    return _rates_of(key, sel, period).reset_index(drop=True)


@st.cache_data(show_spinner=False)
def measure_values(key: StoreKey, sel: Selection, measure: str, period: str) -> pd.DataFrame:
    """[area_code, period, value]: every period of the selection, or only `period` when given.

    ehsa needs `period` (its one table runs up to it); lisa and gi_bin given a period compute just that one.
    """
    return _measure_values(key, sel, measure, period)


def _measure_values(key: StoreKey, sel: Selection, measure: str, period: str) -> pd.DataFrame:
    """measure_values without its cache (map_classes, itself cached, need not pickle every period's values)."""
    if measure == "count":
        t = _rates_of(key, sel, period)[[AREA_CODE, PERIOD, COUNT]].rename(columns={COUNT: VALUE})
    elif measure == "rate":
        t = _rates_of(key, sel, period)[[AREA_CODE, PERIOD, "rate_per_1000"]].rename(columns={"rate_per_1000": VALUE})
    elif measure == "eb_rate":
        t = _rates_of(key, sel, period, smoothed=True)[[AREA_CODE, PERIOD, "eb_rate_per_1000"]].rename(
            columns={"eb_rate_per_1000": VALUE})
    elif measure in ("lisa", "gi_bin"):
        statistic, label = ("local_moran", "lisa_label") if measure == "lisa" else ("gi_star", "gi_label")
        table = hotspots(key, sel, statistic, period or None)
        t = table[[AREA_CODE, PERIOD, label]].rename(columns={label: VALUE})
    elif measure == "ehsa":
        t = emerging(key, sel, period)[[AREA_CODE, "ehsa_category"]].rename(columns={"ehsa_category": VALUE})
        t.insert(1, PERIOD, period)
    else:
        raise AtlasError(f"unknown map measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if period:
        t = t[t[PERIOD] == period]
    return t.reset_index(drop=True)


@st.cache_data(show_spinner=False)
def map_classes(key: StoreKey, sel: Selection, measure: str, scheme: str, k: int, breaks: tuple[float, ...] | None,
                publication: bool = False):
    """Class breaks over every period of the selection (geo.classify), so periods share one legend.

    In publication mode only shown values count: a break (the top one is the largest value) could
    otherwise be a hidden area's rate, which with its population gives its count back.
    """
    from geo.classify import classify

    sel = _reading(sel, publication)
    if measure == "ehsa":
        return classify(pd.Series([], dtype=float), scheme, k, breaks)
    if measure in ("count", "rate") and not publication:  # no rates table of every period needed
        return classify(_all_period_values(key, sel, measure), scheme, k, breaks)
    values = _measure_values(key, sel, measure, "")
    if publication:
        from atlas.publication import blank_period_statistics

        shown = published_rates(key, sel, True)[[AREA_CODE, PERIOD, "suppressed"]]
        values = values.merge(shown, on=[AREA_CODE, PERIOD], how="left")
        values["suppressed"] = values["suppressed"].fillna(True).astype(bool)
        if measure == "eb_rate":  # an EB rate uses every count of its period (atlas.publication.PERIOD_STATISTICS)
            blank_period_statistics(values, columns=[VALUE])
        values = values[~values["suppressed"]]
    return classify(values[VALUE], scheme, k, breaks)


@st.cache_data(show_spinner=False)
def neighbours(key: StoreKey, sel: Selection, code: str) -> list[str]:
    """Codes of `code`'s neighbours in the queen contiguity weights the hot spot statistics use."""
    from atlas.analyses import area_weights

    lads = tuple(sorted(rates(key, sel)[LAD_CODE].dropna().astype(str).unique()))
    sw, _ = area_weights(sel.boundary_set, sel.level, lads or None)
    if code not in sw.index:
        return []
    row = sw.binary[sw.index.get_loc(code)]
    return [sw.codes[j] for j in row.indices]


@st.cache_data(show_spinner=False)
def transitions(key: StoreKey, sel: Selection, period: str, previous: str) -> pd.DataFrame:
    """Gi* hot/cold spot changes from `previous` to `period` (analysis.emerging.hot_spot_transitions), named."""
    from analysis.emerging import hot_spot_transitions

    gi = hotspots(key, sel, "gi_star")
    bins = gi.pivot(index=AREA_CODE, columns=PERIOD, values="gi_bin")
    out = hot_spot_transitions(bins[previous], bins[period])
    names = gi.drop_duplicates(AREA_CODE).set_index(AREA_CODE)["area_name"]
    out.insert(1, "area_name", out[AREA_CODE].map(names))
    return out


@st.cache_data(show_spinner="Drawing small maps…")
def gi_multiples_png(key: StoreKey, sel: Selection, periods: tuple[str, ...]) -> bytes:
    """Small static maps of the Gi* hot/cold spot bins in `periods` (geo.maps.small_multiples_png)."""
    from analysis.hotspots import GI_COLOURS
    from geo.maps import small_multiples_png

    gi = hotspots(key, sel, "gi_star")
    return small_multiples_png(selection_areas(key, sel), gi[gi[PERIOD].isin(periods)], "gi_label", GI_COLOURS,
                               list(periods))


# --- files to download (built on request: a PDF takes seconds)


@st.cache_data(show_spinner="Writing the briefing pack (a few seconds)…", max_entries=8)
def briefing_pdf(key: StoreKey, sel: Selection, lad_code: str, period: str, publication: bool) -> bytes:
    """atlas.briefing.build_briefing for one local authority and period, as PDF bytes (all categories, all residents)."""
    import tempfile
    from pathlib import Path

    from atlas.briefing import build_briefing

    with tempfile.TemporaryDirectory(prefix="atlas-briefing-") as tmp:
        out = Path(tmp) / "briefing.pdf"
        build_briefing(Store(key[0]), sel.dataset, lad_code, period, level=sel.level, grain=sel.grain,
                       publication=publication, out=out)
        return out.read_bytes()


@st.cache_data(show_spinner="Drawing the map image…", max_entries=8)
def map_png(key: StoreKey, sel: Selection, measure: str, period: str, scheme: str, k: int,
            breaks: tuple[float, ...] | None, palette: str, publication: bool) -> bytes:
    """atlas.exports.build_map of the screen map (same measure, classes and colours) as a 300 dpi PNG."""
    import tempfile
    from pathlib import Path

    from atlas.exports import build_map

    smap = build_map(Store(key[0]), sel.dataset, level=sel.level, measure=measure, period=period, grain=sel.grain,
                     area_filter=sel.area_filter, denominator=sel.denominator, category=sel.category,
                     scheme=scheme, k=k, breaks=breaks, palette=palette, publication=publication)
    try:
        with tempfile.TemporaryDirectory(prefix="atlas-map-") as tmp:
            return smap.save(Path(tmp) / "map.png").read_bytes()
    finally:
        smap.close()
