"""Cross-table differencing: no hidden count is recoverable from every table one publication can hold.

The attacker (tests/disclosure_attack.py) combines rates at LSOA, MSOA, ward and local-authority level
by month, quarter, financial and calendar year, per category and all categories, with Gi*, emerging,
compare and priority tables, and solves a linear programme per hidden cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atlas.publication import publish

LAD = "E06000005"  # Darlington


def per_table(table: pd.DataFrame, command: str) -> pd.DataFrame:
    """The old rules: each table suppressed on its own (no dataset context)."""
    attrs = dict(table.attrs)
    bare = table.copy()
    bare.attrs = {}
    out = publish(bare, command)
    out.attrs = {**attrs, **out.attrs}
    return out


def hand_made() -> pd.DataFrame:
    """Darlington LSOAs, one financial year, two categories, mostly small counts (seeded)."""
    from test_analyses import darlington_counts

    counts = darlington_counts(months=[f"2023-{m:02d}" for m in range(4, 13)] + [f"2024-{m:02d}" for m in range(1, 4)])
    rng = np.random.default_rng(12)
    counts["count"] = rng.poisson(1.2, len(counts))
    counts["repeat_count"] = counts["count"] // 3
    return counts[counts["count"] > 0].reset_index(drop=True)


@pytest.fixture
def hand_store():
    from test_analyses import store_dataset

    return store_dataset(hand_made(), name="hand-made")


def demo_subset(demo_store) -> pd.DataFrame:
    """The demo's Darlington rows of 2024/25 (the attack's LP stays small; all the relations are inside)."""
    from boundaries.hierarchy import parent_map
    from store import Store

    s = Store(demo_store)
    (name,) = s.datasets()["name"].tolist()
    c = s.counts(name)
    lad = parent_map("lsoa", "lad", s.dataset(name)["boundary_set"]).reindex(c["area_code"]).to_numpy()
    keep = (lad == LAD) & (c["period"].astype(str) >= "2024-04")
    return c[keep].reset_index(drop=True)


@pytest.mark.parametrize("which", ["hand-made", "demo"])
def test_no_hidden_count_is_recoverable_across_tables(which, demo_store, capsys):
    from disclosure_attack import run_attack
    from test_analyses import store_dataset

    counts = hand_made() if which == "hand-made" else demo_subset(demo_store)
    store = store_dataset(counts, name=which)
    before = run_attack(store, which, LAD, "ons2011-ne-medway", per_table)
    after = run_attack(store, which, LAD, "ons2011-ne-medway", publish)
    with capsys.disabled():
        print(f"\n{which}: before {before}\n{which}: after  {after}")
    assert before["recovered"] + before["direct"] > 0  # the attack works on per-table suppression
    assert after["recovered"] == 0 and after["direct"] == 0 and after["exposed_to_statistics"] == 0
