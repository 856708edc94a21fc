"""The differencing attacker: what can a reader recover from every published table of one dataset together?

Unknowns: one per finest cell (LSOA x month x category) of one local authority. Every published
figure becomes a linear fact about them: a shown count is the sum of its finest cells; "<5" says
1..4; "*" says at least 1 (zeros are shown); a whole-area rate times the populations, or a count
over its incident share, gives the authority's total; an emerging total is the sum of its periods.
A derived figure shown next to a hidden count (rate, interval, share, p-value, score: each monotone
in the count) gives it back directly. Then, for each hidden published cell, linear programming
(scipy HiGHS) finds its smallest and largest value over every table consistent with all facts.
Criterion: a cell is recovered when that range holds exactly one whole number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from analysis.periods import first_month_index, months_per_period, same_period_last_year
from boundaries.hierarchy import parent_map

DERIVED = {
    "count": ["rate_per_1000", "rate_lower_95", "rate_upper_95", "rate_lower_998", "rate_upper_998", "rate_ratio",
              "incident_share", "volume_score", "rate_score", "score"],
    "count_from": ["rate_from", "p_value", "count_change"],
    "count_to": ["rate_to", "p_value", "count_change"],
}
STATS = ["gi_star", "gi_z", "gi_p", "lisa_i", "lisa_z", "final_z"]


@dataclass
class Attack:
    """Facts gathered from published tables over the finest cells of one local authority."""

    lad: str
    lsoas: list[str]
    months: list[str]
    categories: list[str]
    boundary_set: str
    rows: list[np.ndarray] = field(default_factory=list)  # finest-cell indices of each fact
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)
    hidden: dict[tuple, str] = field(default_factory=dict)  # finest-cell set -> where it was published
    direct: set[tuple] = field(default_factory=set)  # hidden cells a derived figure gives back
    exposed: set[tuple] = field(default_factory=set)  # hidden cells in a period with shown Gi*/z values

    def __post_init__(self) -> None:
        self._area: dict[str, dict[str, np.ndarray]] = {}
        self._m0 = int(first_month_index([self.months[0]], "month")[0])

    @property
    def n(self) -> int:
        return len(self.lsoas) * len(self.months) * len(self.categories)

    def _areas(self, level: str, code: str) -> np.ndarray | None:
        if level not in self._area:
            if level == "lsoa":
                groups = {c: np.array([i]) for i, c in enumerate(self.lsoas)}
            else:
                parents = parent_map("lsoa", level, self.boundary_set).reindex(self.lsoas).astype(str).to_numpy()
                groups = {p: np.flatnonzero(parents == p) for p in set(parents)}
            self._area[level] = groups
        return self._area[level].get(code)

    def cells(self, level: str, code: str, grain: str, period: str, category: str) -> tuple | None:
        """Finest cells of one published cell, or None when it reaches outside the attacked cells."""
        a = self._areas(level, code) if level != "all" else np.arange(len(self.lsoas))
        if a is None:
            return None
        start = int(first_month_index([period], grain)[0]) - self._m0
        m = np.arange(start, start + months_per_period(grain))
        if m.min() < 0 or m.max() >= len(self.months):
            return None
        c = np.arange(len(self.categories)) if category == "All" else np.array([self.categories.index(category)])
        idx = (a[:, None, None] * len(self.months) + m[None, :, None]) * len(self.categories) + c[None, None, :]
        return tuple(np.sort(idx.ravel()))

    def fact(self, cells: tuple | None, lo: float, hi: float) -> None:
        if cells is not None:
            self.rows.append(np.asarray(cells))
            self.lo.append(lo)
            self.hi.append(hi)

    def count(self, cells: tuple | None, text: str, where: str) -> None:
        """A published count: shown, "<5" (1..4) or "*" (>= 1)."""
        if cells is None or text in ("", "<NA>", "nan"):
            return
        if text.startswith("<"):
            self.fact(cells, 1, int(text[1:]) - 1)
            self.hidden.setdefault(cells, where)
        elif text == "*":
            self.fact(cells, 1, np.inf)
            self.hidden.setdefault(cells, where)
        else:
            self.fact(cells, float(text), float(text))

    def add_table(self, command: str, table: pd.DataFrame) -> None:
        """Every fact of one published table."""
        a = table.attrs
        level, grain = a["level"], a.get("grain", "fy")
        scope = ("lad", self.lad) if a.get("area_filter") else ("all", "")
        t = table.astype({c: "string" for c in table.columns if c.startswith("count")})
        cat = t["category"].astype(str) if "category" in t.columns else pd.Series(a.get("category") or "All", index=t.index)
        specs: list[tuple[str, pd.Series, str]] = []  # (count column, period label per row, grain)
        if command == "emerging":
            specs = [("count", t["last_period"], grain)]
        elif command == "compare":
            specs = [("count_from", t["period_from"], grain), ("count_to", t["period_to"], grain)]
        elif command == "seed":
            specs = [(c, pd.Series(c[6:].replace("_", "/", 1), index=t.index), "fy") for c in t.columns
                     if c.startswith("count_")]
        elif "count" in t.columns and "period" in t.columns:
            specs = [("count", t["period"], grain)]
            if command == "priority" and "count_last_year" in t.columns:
                last = t["period"].map(lambda p: same_period_last_year(p, grain))
                specs.append(("count_last_year", last, grain))
        for col, periods, g in specs:
            for i in range(len(t)):
                cells = self.cells(level, t["area_code"].iat[i], g, periods.iat[i], cat.iat[i])
                text = str(t[col].iat[i])
                self.count(cells, text, f"{command} {level} {g} {col}")
                if cells is not None and (text.startswith("<") or text == "*"):
                    derived = [d for d in DERIVED.get(col, DERIVED["count"]) if d in t.columns]
                    if any(pd.notna(t[d].iat[i]) for d in derived):
                        self.direct.add(cells)
        if command == "emerging" and "total_count" in t.columns:
            for i in range(len(t)):
                span = [self.cells(level, t["area_code"].iat[i], grain, p, cat.iat[i])
                        for p in _labels(t["first_period"].iat[i], t["last_period"].iat[i], grain)]
                if all(s is not None for s in span):
                    self.count(tuple(sorted(sum(map(list, span), []))), str(t["total_count"].iat[i]),
                               "emerging total_count")
        if "period" not in t.columns:
            return
        for p, rows in t.groupby("period").groups.items():
            g_rows = t.loc[rows]
            total_cells = self.cells(scope[0], scope[1], grain, str(p), str(cat.loc[rows].iat[0]))
            if total_cells is None:
                continue
            if "whole_area_rate" in g_rows and g_rows["whole_area_rate"].notna().any():
                pop = pd.to_numeric(g_rows["population"], errors="coerce").sum()
                v = float(g_rows["whole_area_rate"].dropna().iat[0]) * pop / 1000
                self.fact(total_cells, v - 0.5, v + 0.5)
            if "incident_share" in g_rows:
                ok = g_rows["incident_share"].notna() & ~g_rows["count"].str.startswith("<") & (g_rows["count"] != "*")
                shares = pd.to_numeric(g_rows["incident_share"][ok])
                counts = pd.to_numeric(g_rows["count"][ok])
                pos = shares > 0
                if pos.any():
                    v = float((counts[pos] / shares[pos]).iloc[0])
                    self.fact(total_cells, v - 0.5, v + 0.5)
            stats = [s for s in STATS if s in g_rows.columns]
            if stats and g_rows[stats].notna().any().any():
                for i in g_rows.index:
                    text = str(t["count"].loc[i])
                    if text.startswith("<") or text == "*":
                        c = self.cells(level, t["area_code"].loc[i], grain, str(p), cat.loc[i])
                        if c is not None:
                            self.exposed.add(c)

    def solve(self) -> dict[str, int]:
        """Hidden published cells, those recovered (one whole number left), narrowed, and given back directly."""
        n = self.n
        r = np.concatenate([np.full(len(x), i) for i, x in enumerate(self.rows)])
        a = sparse.csr_matrix((np.ones(len(r)), (r, np.concatenate(self.rows))), shape=(len(self.rows), n))
        lo, hi = np.array(self.lo), np.array(self.hi)
        eq = lo == hi
        a_ub = sparse.vstack([a[~eq], -a[~eq]])
        hi_f = np.where(np.isinf(hi[~eq]), 1e9, hi[~eq])
        b_ub = np.concatenate([hi_f, -lo[~eq]])
        targets = list(self.hidden)
        t_r = np.concatenate([np.full(len(x), i) for i, x in enumerate(targets)]) if targets else np.zeros(0, int)
        t_m = sparse.csr_matrix((np.ones(len(t_r)), (t_r, np.concatenate([np.asarray(x) for x in targets])
                                                       if targets else np.zeros(0, int))), shape=(len(targets), n))
        kw = dict(A_ub=a_ub, b_ub=b_ub, A_eq=a[eq], b_eq=lo[eq], bounds=(0, None), method="highs")
        seen_lo = np.full(len(targets), np.inf)
        seen_hi = np.full(len(targets), -np.inf)
        rng = np.random.default_rng(0)
        for _ in range(6):
            res = linprog(rng.standard_normal(n), **kw)
            assert res.status == 0, res.message
            v = t_m @ res.x
            seen_lo, seen_hi = np.minimum(seen_lo, v), np.maximum(seen_hi, v)
        recovered = narrowed = 0
        for k in range(len(targets)):
            if np.floor(seen_hi[k] + 1e-6) - np.ceil(seen_lo[k] - 1e-6) >= 1 and not self._narrow_check(targets[k]):
                continue  # two feasible tables differ on it by a whole number: not recovered
            row = t_m[k].toarray().ravel()
            mn, mx = linprog(row, **kw), linprog(-row, **kw)
            top = np.inf if mx.status == 3 else -mx.fun
            low = mn.fun
            if np.floor(top + 1e-6) <= np.ceil(low - 1e-6):
                recovered += 1
            elif self._narrow_check(targets[k]) and top < self._limit(targets[k]) - 1 + 1e-6:
                narrowed += 1
        return {"hidden": len(targets), "recovered": recovered, "narrowed": narrowed,
                "direct": len(self.direct), "exposed_to_statistics": len(self.exposed), "facts": len(self.rows)}

    def _narrow_check(self, cells: tuple) -> bool:
        return False  # narrowing is reported for the exact checks only (cheap path skips it)

    def _limit(self, cells: tuple) -> float:
        return np.inf


def _labels(first: str, last: str, grain: str) -> list[str]:
    from analysis.periods import period_range

    return period_range(first, last, grain)


def published_tables(store, dataset: str, lad: str, categories: list[str], publish) -> list[tuple[str, pd.DataFrame]]:
    """Every table one publication of ``dataset`` (area filter ``lad``) can hold, through ``publish``."""
    from analysis.hotspots import HotspotParams
    from atlas import analyses

    out = []
    hp = HotspotParams(permutations=99, seed=1)
    for level in ("lsoa", "msoa", "ward", "lad"):
        for grain in ("month", "quarter", "fy", "year"):
            for cat in [None, *categories]:
                t = analyses.rates_table(store, dataset, level, grain, area_filter=lad, category=cat)
                out.append(("rates", publish(t, "rates")))
    for level in ("lsoa", "ward"):
        t = analyses.hotspots_table(store, dataset, level, "quarter", area_filter=lad, params=hp)
        out.append(("hotspots", publish(t, "hotspots")))
        t = analyses.emerging_table(store, dataset, level, "month", area_filter=lad)
        out.append(("emerging", publish(t, "emerging")))
        f = analyses.load_frame(store, dataset, level, "quarter", lad)
        t = analyses.compare_table(store, dataset, level, "quarter", f.periods[-1], f.periods[-2], area_filter=lad,
                                   params=hp)
        out.append(("compare", publish(t, "compare")))
        t = analyses.priority_table(store, dataset, level, "quarter", area_filter=lad, params=hp)
        out.append(("priority", publish(t, "priority")))
    return out


def run_attack(store, dataset: str, lad: str, boundary_set: str, publish) -> dict[str, int]:
    """Publish every table, gather the facts over the authority's finest cells, solve."""
    from atlas import analyses

    f = analyses.load_frame(store, dataset, "lsoa", "month", lad)
    cats = sorted(c for c in analyses.coded_counts(store, dataset).categories if c != "All")
    attack = Attack(lad, f.codes, list(f.periods), cats, boundary_set)
    for command, table in published_tables(store, dataset, lad, cats, publish):
        attack.add_table(command, table)
    return attack.solve()
