"""The shared frame every page sits in: sidebar controls mirrored in the URL, synthetic notice, attribution.

Every choice lives in st.session_state (widget keys ``frame_*``) so it persists across pages, and is
written to st.query_params on every run so the address bar always reopens the same view. On a
session's first run the query string is read back; a value that does not fit the data falls back to
the default and the page says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from atlas.publication import DISCLOSURE, hidden_counts
from atlas.publication import publish as publish_table
from geo.attribution import ATTRIBUTION, MAP_ATTRIBUTION, PUBLICATION_THRESHOLD  # noqa: F401  (pages import MAP_ATTRIBUTION here)
from geo.schema import ALL_CATEGORIES, COUNT, DENOMINATORS, LEVELS, SYNTHETIC_LABEL
from views import _cache

LEVEL_LABELS: dict[str, str] = {
    "lsoa": "LSOA",
    "msoa": "MSOA",
    "ward": "Ward",
    "locality": "Locality",
    "lad": "Local authority",
}
GRAIN_LABELS: dict[str, str] = {
    "month": "Month",
    "quarter": "Quarter (calendar)",
    "fyquarter": "Quarter (financial, Q1 = Apr–Jun)",
    "fy": "Financial year (Apr–Mar)",
    "year": "Calendar year",
}
DENOMINATOR_LABELS: dict[str, str] = {
    "total": "All residents",
    "16plus": "Residents aged 16+",
    "18plus": "Residents aged 18+",
    "female16plus": "Women aged 16+",
}
DEFAULT_LEVEL = "ward"
DEFAULT_GRAIN = "fy"  # UK public-sector reporting year
DEFAULT_DENOMINATOR = "total"
GRAIN = DEFAULT_GRAIN  # kept for pages written against the first frame
SUPPRESSION_THRESHOLD = PUBLICATION_THRESHOLD  # the command line's threshold (atlas.publication)
PUBLICATION_NOTE = ("Publication mode: counts are perturbed by up to 2 (the cell-key method of the Census), so tables "
                    f"need not add up exactly; counts of 0–{SUPPRESSION_THRESHOLD - 1} are shown as "
                    f"“<{SUPPRESSION_THRESHOLD}” and their rates and intervals are blank; where a total is shown, further counts are hidden "
                    "as “*” so that no small count can be worked out from it.")

_STATE_KEY = "atlas_frame"
_LOADED_KEY = "frame_query_loaded"
_WARN_KEY = "frame_query_warnings"
_FROM_URL_KEY = "frame_from_url"  # widget keys seeded from the URL on this run (checked, then cleared)
# URL parameter -> widget key. Missing parameters mean "default".
QUERY_KEYS: dict[str, str] = {
    "dataset": "frame_dataset",
    "level": "frame_level",
    "area": "frame_area",
    "category": "frame_category",
    "grain": "frame_grain",
    "period": "frame_period",
    "denominator": "frame_denominator",
    "publication": "frame_publication",
}
_ALL = ""  # option value for "no filter" / "all categories" (selectbox options must be hashable, '' reads well in URLs)
# What Streamlit's markdown (headers, captions, alerts, widget labels) would read as markup in a name: emphasis,
# links, HTML, KaTeX math ($), strikethrough, tables, heading closers, entities, :color[...] and :emoji:, e-mail
# autolinks. Each is escaped with a backslash, which CommonMark allows before any ASCII punctuation.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~|#&:@])")


@dataclass(frozen=True)
class Selection:
    """The part of the frame that decides which table an analysis runs on (a cache key; no period)."""

    dataset: str
    boundary_set: str
    level: str
    grain: str
    area_filter: str | None
    denominator: str
    category: str | None
    perturbed: bool = False  # publication mode: analyses read perturbed counts (analysis.perturbation)


@dataclass(frozen=True)
class Frame:
    """What the sidebar selected; small and hashable so pages can pass it to cached functions."""

    dataset: str
    boundary_set: str
    synthetic: bool
    level: str
    grain: str
    period: str | None  # None when the dataset has no counts yet
    area_filter: str | None = None  # local authority code; None = every covered authority
    category: str | None = None  # None = all categories summed
    denominator: str = DEFAULT_DENOMINATOR
    publication: bool = False

    @property
    def selection(self) -> Selection:
        """Cache key of the analysis tables behind this frame (everything but the period).

        Publication mode reads perturbed counts, so its tables are other tables (``Selection.perturbed``).
        """
        return Selection(self.dataset, self.boundary_set, self.level, self.grain, self.area_filter,
                         self.denominator, self.category, self.publication)


def _seed_from_query() -> None:
    """Once per session: copy URL parameters into the widget state (validated later, when options are known)."""
    if st.session_state.get(_LOADED_KEY):
        return
    st.session_state[_LOADED_KEY] = True
    st.session_state[_WARN_KEY] = []
    st.session_state[_FROM_URL_KEY] = set()
    for param, key in QUERY_KEYS.items():
        if param in st.query_params:
            st.session_state[_FROM_URL_KEY].add(key)
            value = st.query_params[param]
            if key == "frame_publication":
                st.session_state[key] = value.lower() in ("1", "true", "yes", "on")
            else:
                st.session_state[key] = value


def plain(text: object) -> str:
    """`text` (a name from user data or a link) for Streamlit markdown: shown as typed, never as markup or a link."""
    one_line = " ".join(str(text).splitlines())  # a line break would start a new block (a list, a heading)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)
    # GFM turns www.x.org, http://x and a@b.org into links even when escaped (it rescans the text): an
    # invisible word joiner (U+2060) splits each pattern without changing what is seen.
    escaped = re.sub(r"(?i)\b(www)(?=\.)", "\\1\u2060", escaped)
    escaped = re.sub(r"(?i)\b(https?)\\:", "\\1\\\\:\u2060", escaped)
    return escaped.replace("\\@", "\u2060\\@")


def _fit(key: str, options: list, default, what: str) -> None:
    """Keep a stored choice only when it is still an option; otherwise default (with a warning if it came from the URL)."""
    if key in st.session_state and st.session_state[key] not in options:
        bad = st.session_state[key]
        st.session_state[key] = default
        if key in st.session_state.get(_FROM_URL_KEY, ()):  # a shared link, not a change of another control
            st.session_state.setdefault(_WARN_KEY, []).append(
                f"The link asked for {what} {plain(repr(bad))}, which this data does not have; "
                f"showing {plain(repr(default or 'all'))} instead.")


def _select(label: str, options: list, default, key: str, what: str, **kwargs):
    """A selectbox whose state survives reruns and pages, defaulting to `default`."""
    _fit(key, options, default, what)
    if key not in st.session_state:
        st.session_state[key] = default
    return st.selectbox(label, options, key=key, **kwargs)


WARM_WAIT_S = 10.0  # at most: a warm-up that takes longer (or hangs) leaves the page to build what it needs


def _await_warm_up(dataset: str) -> None:
    """Opened right after an import: let the import's background warm-up (atlas.warm) finish writing this
    dataset's frames and outlines, rather than build the same ones beside it on the same cores."""
    from atlas.warm import wait_for_warm_up, warming

    if warming(dataset):
        with st.spinner("Preparing this dataset's maps: the import's warm-up is finishing…"):
            wait_for_warm_up(WARM_WAIT_S, dataset)


def render_frame() -> Frame | None:
    """Draw the sidebar controls and the synthetic notice; None when there is no dataset."""
    _seed_from_query()
    key = _cache.store_key()
    datasets = _cache.dataset_table(key)
    if datasets.empty:
        st.sidebar.info("No datasets yet.")
        st.session_state[_STATE_KEY] = None  # never leave a previous run's frame for the pages
        return None
    names = datasets["name"].tolist()
    synthetic = dict(zip(names, datasets["synthetic"].astype(bool)))
    sets = dict(zip(names, datasets["boundary_set"].astype(str)))
    with st.sidebar:
        dataset = _select(
            "Dataset", names, names[0], "frame_dataset", "dataset",
            # Flag synthetic datasets in the list unless their name already says so.
            format_func=lambda n: f"{n} (synthetic)" if synthetic[n] and "synthetic" not in n.lower() else n,
        )
        bset = sets[dataset]
        _await_warm_up(dataset)
        levels = [lv for lv in LEVELS if lv in _cache.boundary_levels(bset)]
        level = _select("Level", levels, DEFAULT_LEVEL if DEFAULT_LEVEL in levels else levels[0],
                        "frame_level", "level", format_func=LEVEL_LABELS.get)
        grains = _cache.grain_options(key, dataset) or [DEFAULT_GRAIN]
        grain = _select("Period grain", grains, DEFAULT_GRAIN if DEFAULT_GRAIN in grains else grains[-1],
                        "frame_grain", "grain", format_func=GRAIN_LABELS.get)
        periods = _cache.period_options(key, dataset, grain)
        period = _select("Period", periods, periods[0], "frame_period", "period",
                         help="Newest first; the latest period is the default.") if periods else None
        lads = _cache.lad_options(key, dataset, bset, level, grain)
        area = _select("Local authority", [_ALL, *lads], _ALL, "frame_area", "local authority",
                       format_func=lambda c: "All covered authorities" if c == _ALL else f"{lads[c]} ({c})")
        cats = _cache.categories(key, dataset)
        cat_options = [_ALL, *[c for c in cats if c != ALL_CATEGORIES]]
        category = _select("Category", cat_options, _ALL, "frame_category", "category",
                           format_func=lambda c: "All categories" if c == _ALL else c,
                           disabled=len(cat_options) == 1)
        denominator = _select("Rate per 1,000 of", list(DENOMINATORS), DEFAULT_DENOMINATOR,
                              "frame_denominator", "denominator", format_func=DENOMINATOR_LABELS.get)
        if not isinstance(st.session_state.get("frame_publication", False), bool):
            st.session_state["frame_publication"] = False
        publication = st.toggle("Publication mode", key="frame_publication",
                                help="Perturb counts by up to 2 (so tables cannot be subtracted from each other), suppress counts of 0–4 "
                                     "(shown as “<5”) and blank their rates, "
                                     "for tables and maps that will be shared outside the partnership.")
    for message in st.session_state.get(_WARN_KEY, []):
        st.warning(message, icon=":material/link:")
    st.session_state[_WARN_KEY] = []
    st.session_state[_FROM_URL_KEY] = set()
    if synthetic[dataset]:
        st.warning(
            f"**{plain(dataset)}** is {SYNTHETIC_LABEL}: generated counts for trying the dashboard, "
            "not real incidents.",
            icon=":material/warning:",
        )
    if publication:
        st.info(PUBLICATION_NOTE, icon=":material/lock:")
    frame = Frame(dataset, bset, synthetic[dataset], level, grain, period, area or None, category or None,
                  denominator, bool(publication))
    _write_query(frame)
    st.session_state[_STATE_KEY] = frame
    return frame


def _write_query(frame: Frame) -> None:
    """Mirror the frame in the URL (only what differs from the defaults, so links stay short)."""
    wanted = {
        "dataset": frame.dataset, "level": frame.level, "grain": frame.grain, "period": frame.period,
        "area": frame.area_filter, "category": frame.category,
        "denominator": frame.denominator if frame.denominator != DEFAULT_DENOMINATOR else None,
        "publication": "1" if frame.publication else None,
    }
    for param, value in wanted.items():
        if value is None:
            if param in st.query_params:
                del st.query_params[param]
        elif st.query_params.get(param) != value:
            st.query_params[param] = value


def publish(table: pd.DataFrame, frame: Frame, command: str = "rates", extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The table as publication mode shows it: atlas.publication.publish with the command line's rules.

    ``command`` names the rule set (rates, smoothed, compare, emerging, priority, seed, ...); ``extra``
    columns are blanked with the count too (e.g. a map measure). Pass whole periods: secondary
    suppression works on each period's rows together. With publication mode off the table is
    returned unchanged (same object).
    """
    if not frame.publication:
        return table
    rules = None
    if extra:
        rules = {col: list(deps) for col, deps in DISCLOSURE[command].items()}
        rules[COUNT] = [*rules.get(COUNT, []), *extra]
    return publish_table(table, command, SUPPRESSION_THRESHOLD, rules=rules)


def publication_note(table: pd.DataFrame, unit: str = "areas", count_cols: tuple[str, ...] = (COUNT,)) -> str:
    """What publication mode hid in this (published, possibly filtered) table, as a sentence for a caption."""
    n_small, n_hidden = hidden_counts(table, count_cols, SUPPRESSION_THRESHOLD)
    t = SUPPRESSION_THRESHOLD
    text = f"Publication mode: {n_small:,} {unit} with 0–{t - 1} incidents shown as “<{t}”, their rates blank"
    if n_hidden:
        text += (f"; {n_hidden:,} more {unit} hidden as “*” (not small) so that no small count can be worked out "
                 "from the total")
    return text + "."


def current_frame() -> Frame | None:
    """The frame drawn by app.py on this run (pages read it, never redraw the sidebar)."""
    return st.session_state.get(_STATE_KEY)


def render_attribution() -> None:
    """Data attribution required by the Open Government Licence, at the foot of the sidebar on every page."""
    with st.sidebar:
        st.divider()
        st.caption(ATTRIBUTION)
