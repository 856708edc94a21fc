"""The shared frame every page sits in: sidebar controls, synthetic-data notice, attribution."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from geo.schema import LEVELS, SYNTHETIC_LABEL
from pages import _cache

# Verbatim from ../shared/data/SOURCES.md, "Attribution block" (OGL v3 / OS OpenData).
ATTRIBUTION = (
    "Contains Ordnance Survey data © Crown copyright and database right 2016. "
    "Contains National Statistics data © Crown copyright and database right 2020. "
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0. "
    "English Indices of Deprivation 2019, Ministry of Housing, Communities and Local Government, "
    "licensed under the Open Government Licence v3.0. "
    "Crime data: data.police.uk, contains public sector information licensed under the "
    "Open Government Licence v3.0."
)
# Short form for the map's own attribution control.
MAP_ATTRIBUTION = "Contains OS data © Crown copyright and database right 2016"

LEVEL_LABELS: dict[str, str] = {
    "lsoa": "LSOA",
    "msoa": "MSOA",
    "ward": "Ward",
    "locality": "Locality",
    "lad": "Local authority",
}
DEFAULT_LEVEL = "ward"
GRAIN = "fy"  # the period control offers financial years (UK public-sector reporting year)
_STATE_KEY = "atlas_frame"


@dataclass(frozen=True)
class Frame:
    """What the sidebar selected; small and hashable so pages can pass it to cached functions."""

    dataset: str
    boundary_set: str
    synthetic: bool
    level: str
    grain: str
    period: str | None  # None when the dataset has no counts yet


def render_frame() -> Frame | None:
    """Draw the sidebar controls and the synthetic notice; None when there is no dataset."""
    datasets = _cache.dataset_table(_cache.store_key())
    if datasets.empty:
        st.sidebar.info("No datasets yet.")
        st.session_state[_STATE_KEY] = None  # never leave a previous run's frame for the pages
        return None
    names = datasets["name"].tolist()
    synthetic = dict(zip(names, datasets["synthetic"].astype(bool)))
    sets = dict(zip(names, datasets["boundary_set"].astype(str)))
    with st.sidebar:
        dataset = st.selectbox(
            "Dataset",
            names,
            # Flag synthetic datasets in the list unless their name already says so.
            format_func=lambda n: f"{n} (synthetic)" if synthetic[n] and "synthetic" not in n.lower() else n,
            key="frame_dataset",
        )
        levels = [lv for lv in LEVELS if lv in _cache.boundary_levels(sets[dataset])]
        level = st.selectbox(
            "Level",
            levels,
            index=levels.index(DEFAULT_LEVEL) if DEFAULT_LEVEL in levels else 0,
            format_func=LEVEL_LABELS.get,
            key="frame_level",
        )
        periods = _cache.period_options(_cache.store_key(), dataset, GRAIN)
        period = st.selectbox(
            "Financial year",
            periods,
            index=0,  # newest first: the latest financial year is the default
            key="frame_period",
            help="UK financial year, April to March.",
        ) if periods else None
    if synthetic[dataset]:
        st.warning(
            f"**{dataset}** is {SYNTHETIC_LABEL}: generated counts for trying the dashboard, "
            "not real incidents.",
            icon="⚠️",
        )
    frame = Frame(dataset, sets[dataset], synthetic[dataset], level, GRAIN, period)
    st.session_state[_STATE_KEY] = frame
    return frame


def current_frame() -> Frame | None:
    """The frame drawn by app.py on this run (pages read it, never redraw the sidebar)."""
    return st.session_state.get(_STATE_KEY)


def render_attribution() -> None:
    """Data attribution required by the Open Government Licence, under every page."""
    st.divider()
    st.caption(ATTRIBUTION)
