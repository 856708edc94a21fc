"""Conditional-permutation kernel for local statistics, vectorised over areas and periods.

Conditional randomisation (Anselin 1995, "Local indicators of spatial association - LISA",
Geographical Analysis 27(2)) holds x_i fixed and gives area i a random set of k_i of the other
n-1 areas as neighbours. As in esda's ``crand`` one table of random draws is shared by all areas:
row p of a (permutations x m) table holds m distinct ids drawn from all n areas; area i takes the
first k_i ids of the row that are not i (a uniform k_i-subset of the others).

Every statistic handled here (Gi*, local Moran with row-standardised weights) is an affine function
of the *neighbour sum* R = sum of x over the random set, so the reference distribution of area i is
the prefix sum C[p, k_i] of the table, shared by every area with cardinality k_i, except in the few
rows where i itself is among the first k_i ids (then R = C[p, k_i] - x_i + x[table[p, k_i]]).
Counting how many draws reach the observed sum is then a sort per (cardinality, period) plus
``searchsorted``, with the exceptions patched in: O(P*m + n log P) per period instead of O(n*P*k).

Ties: integer counts make permuted sums tie the observed sum exactly; comparisons use an explicit
tolerance (1e-9 of the sum's scale) so p-values do not depend on floating-point summation order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALTERNATIVES: tuple[str, ...] = ("folded", "directed", "greater", "lesser")
_REL_TOL = 1e-9


def permutation_table(n: int, m: int, permutations: int, seed: int | None) -> np.ndarray:
    """(permutations x m) table; each row holds m distinct area ids drawn uniformly from range(n)."""
    m = min(m, n)
    rng = np.random.default_rng(seed)
    if n * permutations <= 5_000_000:
        # Small problems: the first m of a random permutation of each row.
        return np.argsort(rng.random((permutations, n)), axis=1)[:, :m].astype(np.int64)
    # Large n: Generator.choice without replacement is O(m) per row (one call per permutation,
    # not per area).
    return np.stack([rng.choice(n, m, replace=False) for _ in range(permutations)]).astype(np.int64)


@dataclass(frozen=True)
class ConditionalDistribution:
    """Per-area reference distributions of the random neighbour sum, for all periods at once."""

    prefix: np.ndarray  # (P, m+1, T): prefix[p, k] = sum of x over the first k ids of row p
    card: np.ndarray  # (n,) cardinalities (neighbours other than self)
    corr_area: np.ndarray  # (c,) area whose draw in row corr_perm contains itself
    corr_perm: np.ndarray  # (c,)
    corr_value: np.ndarray  # (c, T) the corrected sum for that (area, row)
    mean: np.ndarray  # (n, T)
    sd: np.ndarray  # (n, T) population standard deviation over the P draws
    scale: np.ndarray  # (n, T) magnitude of sums, for the tie tolerance

    @property
    def permutations(self) -> int:
        return self.prefix.shape[0]

    def count_ge(self, threshold: np.ndarray) -> np.ndarray:
        """Number of draws with R >= threshold, per area and period (threshold (n, T))."""
        return self._count(threshold, greater=True)

    def count_le(self, threshold: np.ndarray) -> np.ndarray:
        """Number of draws with R <= threshold, per area and period."""
        return self._count(threshold, greater=False)

    def _count(self, thr: np.ndarray, greater: bool) -> np.ndarray:
        n, T = thr.shape
        P = self.permutations
        out = np.zeros((n, T), dtype=np.int64)
        # One sort per (cardinality, period); all areas sharing a cardinality are searched at once.
        for k in np.unique(self.card):
            rows = np.flatnonzero(self.card == k)
            ref = np.sort(self.prefix[:, k, :], axis=0)
            for t in range(T):
                if greater:
                    out[rows, t] = P - np.searchsorted(ref[:, t], thr[rows, t], side="left")
                else:
                    out[rows, t] = np.searchsorted(ref[:, t], thr[rows, t], side="right")
        if len(self.corr_area):
            i, p = self.corr_area, self.corr_perm
            old = self.prefix[p, self.card[i], :]
            new = self.corr_value
            t_i = thr[i]
            if greater:
                delta = (new >= t_i).astype(np.int64) - (old >= t_i)
            else:
                delta = (new <= t_i).astype(np.int64) - (old <= t_i)
            np.add.at(out, i, delta)
        return out

    def tolerance(self) -> np.ndarray:
        """Absolute tie tolerance per area and period."""
        return _REL_TOL * self.scale


def conditional_distribution(x: np.ndarray, card: np.ndarray, table: np.ndarray) -> ConditionalDistribution:
    """Reference distributions of the neighbour sum for every area and period (x is (n, T))."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, T = x.shape
    card = np.asarray(card, dtype=np.int64)
    max_k = int(card.max()) if n else 0
    P = table.shape[0]
    if table.shape[1] < min(max_k + 1, n):
        raise ValueError(f"permutation table has {table.shape[1]} columns, need {max_k + 1}")
    tab = table[:, : max_k + 1]
    prefix = np.zeros((P, tab.shape[1] + 1, T))
    np.cumsum(x[tab], axis=1, out=prefix[:, 1:, :])
    # Rows where area i = tab[p, j] sits among its own first k_i draws: swap it for draw k_i.
    j = np.arange(tab.shape[1])[None, :]
    hit = j < card[tab]
    corr_perm, corr_col = np.nonzero(hit)
    corr_area = tab[corr_perm, corr_col]
    k_c = card[corr_area]
    corr_value = prefix[corr_perm, k_c, :] - x[corr_area] + x[tab[corr_perm, k_c]]
    # Moments: shared column sums plus the corrections.
    s1 = prefix.sum(axis=0)[card]  # (n, T)
    s2 = (prefix**2).sum(axis=0)[card]
    old = prefix[corr_perm, k_c, :]
    np.add.at(s1, corr_area, corr_value - old)
    np.add.at(s2, corr_area, corr_value**2 - old**2)
    mean = s1 / P
    sd = np.sqrt(np.maximum(s2 / P - mean**2, 0.0))
    scale = np.maximum(card[:, None] * np.abs(x).max(axis=0)[None, :], 1e-300)
    return ConditionalDistribution(prefix, card, corr_area, corr_perm, corr_value, mean, sd, scale)


def pseudo_p(
    dist: ConditionalDistribution,
    observed: np.ndarray,
    orientation: np.ndarray,
    alternative: str = "folded",
) -> np.ndarray:
    """Pseudo p-values (M + 1) / (P + 1) for observed neighbour sums (n, T).

    ``orientation`` (n, T) is the sign of d(statistic)/d(R): +1 for Gi*, sign(z_i) for local
    Moran, 0 where the statistic does not depend on R (p = 1). M counts draws as extreme as the
    observed value, with ties counted as extreme (esda's >= convention):
    - folded: |R - mean| >= |O - mean| (two-sided about the permutation mean; esda "folded");
    - directed: the smaller tail, min(#R >= O, #R <= O) (GeoDa and esda <= 2.x default p_sim);
    - greater / lesser: the statistic at least / at most the observed one.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    P = dist.permutations
    tol = dist.tolerance()
    O = np.asarray(observed, dtype=np.float64).reshape(dist.mean.shape)
    s = np.asarray(orientation).reshape(O.shape)
    if alternative == "folded":
        d = np.abs(O - dist.mean)
        count = dist.count_ge(dist.mean + d - tol) + dist.count_le(dist.mean - d + tol)
        count = np.where(d <= tol, P, count)
    elif alternative == "directed":
        count = np.minimum(dist.count_ge(O - tol), dist.count_le(O + tol))
    else:
        up = dist.count_ge(O - tol)
        down = dist.count_le(O + tol)
        want_up = (s > 0) if alternative == "greater" else (s < 0)
        count = np.where(want_up, up, down)
    count = np.where(s == 0, P, count)
    return (np.minimum(count, P) + 1.0) / (P + 1.0)


def dense_pseudo_p(observed: np.ndarray, sims: np.ndarray, alternative: str, scale: np.ndarray) -> np.ndarray:
    """Pseudo p-values from an explicit (P, T) matrix of simulated statistics (global tests)."""
    P = sims.shape[0]
    tol = _REL_TOL * np.maximum(scale, 1e-300)
    if alternative == "folded":
        mu = sims.mean(axis=0)
        count = (np.abs(sims - mu) >= np.abs(observed - mu) - tol).sum(axis=0)
    elif alternative == "directed":
        count = np.minimum((sims >= observed - tol).sum(axis=0), (sims <= observed + tol).sum(axis=0))
    elif alternative == "greater":
        count = (sims >= observed - tol).sum(axis=0)
    elif alternative == "lesser":
        count = (sims <= observed + tol).sum(axis=0)
    else:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return (count + 1.0) / (P + 1.0)
