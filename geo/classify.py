"""Choropleth class breaks held fixed across periods (no streamlit here).

Breaks are computed once over the values of *every* period of a selection, then each period is
coloured with the same classes, so a month's map can be compared with the next (a class means the
same range everywhere). Schemes follow mapclassify (Rey et al., PySAL): quantiles, Fisher-Jenks
natural breaks (Fisher 1958; the sampled variant above ``JENKS_SAMPLE`` values, which is O(n^2)
otherwise), equal interval, and user-defined fixed breaks.

Quantiles and equal interval are re-implemented here in numpy, bin for bin identical to
mapclassify 2.x (tests/test_classify.py checks this against mapclassify itself): importing
mapclassify pulls in scipy.stats, matplotlib.pyplot and scikit-learn (~1 s), which the app's first
page must not pay. mapclassify is imported only when natural breaks are asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

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
    raw_values = np.asarray(values)
    if raw_values.dtype.kind in "biuf":  # numbers already: no object round trip (~40 ms for 360,000 values)
        y = raw_values.astype(float)
    else:
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
    if scheme == "quantiles":
        raw = quantile_bins(y, k)
    elif scheme == "equal_interval":
        raw = equal_interval_bins(y, k)
    else:
        raw = _fisher_jenks_bins(y, k)
    bins = np.unique(np.asarray(raw, dtype=float))
    bins[-1] = max(bins[-1], top)  # sampled Jenks may stop short of the maximum
    return Classes(tuple(float(b) for b in bins), lowest, integer)


def quantile_bins(y: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of `k` quantile classes of finite `y`, as mapclassify.Quantiles (tied bounds merged).

    Same arithmetic as mapclassify's ``quantile``: percentiles ``np.arange(100/k, 100 + 100/k, 100/k)``
    (not linspace, which differs in the last bit for k = 3, 6, 7, ...; the top one clipped to 100)
    scored like ``scipy.stats.scoreatpercentile`` ("fraction": linear between order statistics,
    divided by the weights' sum), then ``np.unique``.
    """
    s = np.sort(np.asarray(y, dtype=float))
    w = 100.0 / k
    p = np.arange(w, 100 + w, w)
    if p[-1] > 100.0:
        p[-1] = 100.0
    idx = p / 100.0 * (len(s) - 1)
    i = np.floor(idx).astype(np.int64)  # idx >= 0, so floor == int() truncation
    whole = idx == i
    # Weights exactly as scipy forms them: (i + 1 - idx, idx - i), normalised by their float sum.
    w_lo, w_hi = (i + 1) - idx, idx - i
    nxt = s[np.minimum(i + 1, len(s) - 1)]
    q = np.where(whole, s[i], (s[i] * w_lo + nxt * w_hi) / (w_lo + w_hi))
    return np.unique(q)


def equal_interval_bins(y: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of `k` equal-width classes of finite `y` (min + width*i, last = max), as mapclassify."""
    y = np.asarray(y, dtype=float)
    max_y, min_y = y.max(), y.min()
    width = (max_y - min_y) * 1.0 / k
    if not width > 0:  # a range too small to split in floats (subnormal): one class, not mapclassify's crash
        return np.array([max_y])
    # np.arange, like mapclassify, so the float steps (and an overshooting extra cut) are the same.
    cuts = np.arange(min_y + width, max_y + width, width)[:k]
    cuts[-1] = max_y
    return cuts


def _fisher_jenks_bins(y: np.ndarray, k: int) -> np.ndarray:
    """Fisher-Jenks upper bounds by mapclassify, imported here only (it costs ~1 s to import)."""
    import mapclassify

    with warnings.catch_warnings():
        # Tied values (many zero counts) give fewer distinct breaks than k: mapclassify warns and
        # merges them, which is what we want, so the warning is not news.
        warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
        warnings.filterwarnings("ignore", message="Numba not installed", category=UserWarning)
        if len(y) > JENKS_SAMPLE:
            np.random.seed(_SEED)  # FisherJenksSampled draws with numpy's global generator
            c = mapclassify.FisherJenksSampled(y, k=k, pct=JENKS_SAMPLE / len(y), truncate=False)
        else:
            c = mapclassify.FisherJenks(y, k=k)
    return np.asarray(c.bins, dtype=float)


__all__ = ["Classes", "JENKS_SAMPLE", "SCHEMES", "classify", "equal_interval_bins", "parse_breaks", "quantile_bins"]
