"""Choropleth class breaks held fixed across periods (no streamlit here).

Breaks are computed once over the values of *every* period of a selection, then each period is
coloured with the same classes, so a month's map can be compared with the next (a class means the
same range everywhere). Schemes follow mapclassify (Rey et al., PySAL): quantiles, Fisher-Jenks
natural breaks (Fisher 1958; the sampled variant above ``JENKS_SAMPLE`` values, which is O(n^2)
otherwise), equal interval, and user-defined fixed breaks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import mapclassify
import numpy as np
import pandas as pd

from geo.schema import AtlasError

SCHEMES: dict[str, str] = {
    "quantiles": "Quantiles (equal numbers of areas)",
    "natural_breaks": "Natural breaks (Fisher-Jenks)",
    "equal_interval": "Equal interval",
    "fixed": "Fixed breaks (enter your own)",
}
# Above this many values Fisher-Jenks runs on a seeded sample (mapclassify FisherJenksSampled): without
# numba mapclassify falls back to pure Python, O(k n^2), which is about a second at this size.
JENKS_SAMPLE = 600
_SEED = 20240101


@dataclass(frozen=True)
class Classes:
    """Upper bounds of each class (lowest class starts at ``lowest``); ``integer`` when the values are counts."""

    bins: tuple[float, ...]
    lowest: float
    integer: bool

    @property
    def k(self) -> int:
        """Number of classes."""
        return len(self.bins)

    def assign(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Class index of each value (0-based, class i = (bins[i-1], bins[i]]); -1 for missing.

        Values above the top bound (possible with fixed breaks) join the top class; below the lowest
        bound, the bottom class, so every known value is coloured.
        """
        y = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(dtype=float)
        out = np.full(len(y), -1, dtype=int)
        ok = np.isfinite(y)
        if self.k and ok.any():
            out[ok] = np.minimum(np.searchsorted(np.asarray(self.bins), y[ok], side="left"), self.k - 1)
        return out

    def labels(self) -> list[str]:
        """'lo – hi' legend labels; whole-number bounds for counts (class (67.2, 96] holds 68..96)."""
        if self.integer:
            his = [float(np.floor(b)) for b in self.bins]
            los = [float(np.ceil(self.lowest)), *[h + 1 for h in his[:-1]]]
        else:
            his, los = list(self.bins), [self.lowest, *self.bins[:-1]]

        def fmt(v: float) -> str:
            return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"

        return [fmt(hi) if lo >= hi else f"{fmt(lo)} – {fmt(hi)}" for lo, hi in zip(los, his)]


def parse_breaks(text: str) -> tuple[float, ...]:
    """Fixed breaks typed by a user ("5, 10, 20") -> sorted unique upper bounds; AtlasError naming the bad item."""
    items = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    if not items:
        raise AtlasError("enter at least one break, e.g. 5, 10, 20")
    values = []
    for item in items:
        try:
            values.append(float(item.replace("_", "")))
        except ValueError:
            raise AtlasError(f"fixed breaks: {item!r} is not a number (enter numbers separated by commas)") from None
    if not np.all(np.isfinite(values)):
        raise AtlasError("fixed breaks must be finite numbers")
    return tuple(sorted(set(values)))


def classify(
    values: pd.Series | np.ndarray, scheme: str = "quantiles", k: int = 5, breaks: Sequence[float] | None = None
) -> Classes:
    """Class breaks over all `values` (every period of the selection) by `scheme`; ties merge classes.

    ``breaks`` (upper bounds) is required for ``fixed``; the top class then reaches the data maximum.
    """
    if scheme not in SCHEMES:
        raise AtlasError(f"unknown classification {scheme!r}; choose one of {', '.join(SCHEMES)}")
    y = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(dtype=float)
    y = y[np.isfinite(y)]
    if len(y) == 0:
        return Classes((), 0.0, True)
    integer = bool(np.all(np.mod(y, 1) == 0))
    lowest, top = float(y.min()), float(y.max())
    if scheme == "fixed":
        if not breaks:
            raise AtlasError("fixed breaks: enter at least one break, e.g. 5, 10, 20")
        inner = [float(b) for b in sorted(set(breaks)) if b < top]
        return Classes((*inner, top), min(lowest, inner[0]) if inner else lowest, integer)
    k = int(max(1, min(k, len(np.unique(y)))))
    if k == 1:
        return Classes((top,), lowest, integer)
    with warnings.catch_warnings():
        # Tied values (many zero counts) give fewer distinct breaks than k: mapclassify warns and
        # merges them, which is what we want, so the warning is not news.
        warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
        warnings.filterwarnings("ignore", message="Numba not installed", category=UserWarning)
        if scheme == "quantiles":
            c = mapclassify.Quantiles(y, k=k)
        elif scheme == "equal_interval":
            c = mapclassify.EqualInterval(y, k=k)
        elif len(y) > JENKS_SAMPLE:
            np.random.seed(_SEED)  # FisherJenksSampled draws with numpy's global generator
            c = mapclassify.FisherJenksSampled(y, k=k, pct=JENKS_SAMPLE / len(y), truncate=False)
        else:
            c = mapclassify.FisherJenks(y, k=k)
    bins = np.unique(np.asarray(c.bins, dtype=float))
    bins[-1] = max(bins[-1], top)  # sampled Jenks may stop short of the maximum
    return Classes(tuple(float(b) for b in bins), lowest, integer)


__all__ = ["Classes", "JENKS_SAMPLE", "SCHEMES", "classify", "parse_breaks"]
