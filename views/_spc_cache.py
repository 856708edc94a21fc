"""Cached XmR tables for the Monitoring page (atlas.analyses.spc_table), keyed by small hashable values."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from views._cache import StoreKey, analysis_store
from views._frame import Selection


@st.cache_data(show_spinner="Drawing the process limits…")
def spc(key: StoreKey, sel: Selection, grain: str, measure: str, target: float | None,
        publication: bool) -> pd.DataFrame:
    """atlas.analyses.spc_table (whole area and every area) at ``grain``; as `atlas spc --publication` when asked."""
    from atlas.analyses import publish_spc_table, spc_table

    sel = replace(sel, grain=grain)
    table = spc_table(analysis_store(key, sel), sel.dataset, sel.level, sel.grain, area_filter=sel.area_filter,
                      denominator=sel.denominator, category=sel.category, measure=measure, target=target)
    return publish_spc_table(table) if publication else table
