"""Conditional-permutation kernel for local statistics, vectorised over areas and periods.

Conditional randomisation (Anselin 1995, "Local indicators of spatial association - LISA",
Geographical Analysis 27(2)) holds x_i fixed and gives area i a random set of k_i of the other
n-1 areas as neighbours. One (permutations x W) table of draws serves all areas: each row holds W
distinct ids drawn from all n areas. The columns are cut into blocks; area i owns one block (of
width >= k_i + 1) and takes the first k_i ids of it that are not i (a uniform k_i-subset of the
others). Areas are dealt to blocks in order of (cardinality, seeded random key), so a block holds
areas of (nearly) one cardinality and is only as wide as they need: W columns give many blocks.
The key is indexed by position, and positions are canonical (``SpatialWeights`` sorts areas by
code), so results do not depend on input row order.

Different blocks hold disjoint ids, so areas in different blocks get (nearly) independent reference
distributions, as with esda's per-area shuffling: the Monte Carlo error averages out over the map
instead of moving every area of one cardinality together (one shared set of rows made the
map-level share of significant areas depend on the seed). Areas sharing a (block, cardinality)
"cell" share one distribution (~n*k/W areas each).

Every statistic handled here (Gi*, local Moran with row-standardised weights) is an affine function
of the *neighbour sum* R = sum of x over the random set, so a cell's reference distribution is a
prefix sum over its block's first k columns, except in the few rows where area i itself is among
those ids (then R = C[p, k_i] - x_i + x[block[p, k_i]]). Counting draws that reach the observed
sum is one sort per (cell, period) plus ``searchsorted``, with the exceptions patched
in: O(P*W + n log P) per period instead of O(n*P*k).

Ties: integer counts make permuted sums tie the observed sum exactly; comparisons use an explicit
tolerance (1e-9 of the sum's scale) so p-values do not depend on floating-point summation order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALTERNATIVES: tuple[str, ...] = ("folded", "directed", "greater", "lesser")
_REL_TOL = 1e-9
# Columns of the draw table. Work per period grows with P*W; areas sharing a cell (and so their
# Monte Carlo error) fall as ~n*k/W.
TABLE_COLUMNS = 1024


@dataclass(frozen=True)
class PermutationTable:
    """Seeded draws: ``ids`` (permutations x W) distinct ids per row; ``key`` (n,) random block-deal order."""

    ids: np.ndarray
    key: np.ndarray

    @property
    def permutations(self) -> int:
        return self.ids.shape[0]


def permutation_table(
    n: int, m: int, permutations: int, seed: int | None, columns: int | None = None
) -> PermutationTable:
    """Draw table for n areas with cardinality < m: ``columns`` (default TABLE_COLUMNS, >= m) ids per row."""
    width = min(max(m, columns if columns is not None else TABLE_COLUMNS), n)
    rng = np.random.default_rng(seed)
    if n * permutations <= 5_000_000:
        # Small problems: the first W of a random permutation of each row.
        ids = np.argsort(rng.random((permutations, n)), axis=1)[:, :width].astype(np.int64)
    else:
        # Large n: Generator.choice without replacement is O(W) per row (one call per
        # permutation, not per area).
        ids = np.stack([rng.choice(n, width, replace=False) for _ in range(permutations)]).astype(np.int64)
    return PermutationTable(ids, rng.permutation(n).astype(np.int64))


def _deal_blocks(card: np.ndarray, key: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Block start column and width per area: equal-sized runs of the (card, key) order, fitted into width."""
    n = len(card)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort((key, card))
    need = int(card.max()) + 1
    per = max(1, int(np.ceil((card + 1).sum() / width)))
    while True:
        blk = np.arange(n) // per  # block of each area in dealing order
        bw = np.maximum.reduceat(card[order] + 1, np.arange(0, n, per))  # width of each block
        if bw.sum() <= width or per >= n:
            break
        per = max(per + 1, int(per * 1.25))
    if bw.sum() > width:  # one block for all (only when W < max cardinality + 1 would not fit)
        bw = np.array([min(need, width)])
        blk[:] = 0
    starts = np.concatenate([[0], np.cumsum(bw)[:-1]])
    start = np.empty(n, dtype=np.int64)
    wid = np.empty(n, dtype=np.int64)
    start[order] = starts[blk]
    wid[order] = bw[blk]
    return start, wid


@dataclass(frozen=True)
class ConditionalDistribution:
    """Per-area reference distributions of the random neighbour sum, for all periods at once."""

    sums: np.ndarray  # (C, T, P) neighbour sums of each (block, cardinality) cell, in draw order
    sorted_sums: np.ndarray  # (C, T, P) the same, sorted over draws
    cell: np.ndarray  # (n,) cell of each area
    start: np.ndarray  # (n,) first table column of each area's block
    corr_area: np.ndarray  # (c,) area whose draw in row corr_perm contains itself
    corr_perm: np.ndarray  # (c,)
    corr_value: np.ndarray  # (c, T) the corrected sum for that (area, row)
    mean: np.ndarray  # (n, T)
    sd: np.ndarray  # (n, T) population standard deviation over the P draws
    scale: np.ndarray  # (n, T) magnitude of sums, for the tie tolerance

    @property
    def permutations(self) -> int:
        return self.sums.shape[2]

    def reference(self, i: int) -> np.ndarray:
        """(P, T) permuted neighbour sums of area i, in draw order (self-exclusion applied)."""
        ref = self.sums[self.cell[i]].T.copy()
        hit = self.corr_area == i
        ref[self.corr_perm[hit]] = self.corr_value[hit]
        return ref

    def count_ge(self, threshold: np.ndarray) -> np.ndarray:
        """Number of draws with R >= threshold, per area and period (threshold (n, T))."""
        return self._count(threshold, greater=True)

    def count_le(self, threshold: np.ndarray) -> np.ndarray:
        """Number of draws with R <= threshold, per area and period."""
        return self._count(threshold, greater=False)

    def _count(self, thr: np.ndarray, greater: bool) -> np.ndarray:
        n, T = thr.shape
        P = self.permutations
        out = np.empty((n, T), dtype=np.int64)
        # One sorted reference per (cell, period); all areas of a cell are searched at once. Cells
        # number at most ~W/(k+1) + distinct cardinalities, so this loop stays short.
        order = np.argsort(self.cell, kind="stable")
        bounds = np.searchsorted(self.cell[order], np.arange(self.sums.shape[0] + 1))
        side = "left" if greater else "right"
        for c in range(self.sums.shape[0]):
            rows = order[bounds[c] : bounds[c + 1]]
            ref = self.sorted_sums[c]
            for t in range(T):
                pos = np.searchsorted(ref[t], thr[rows, t], side=side)
                out[rows, t] = P - pos if greater else pos
        if len(self.corr_area):
            i, p = self.corr_area, self.corr_perm
            old = self.sums[self.cell[i], :, p]
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


def conditional_distribution(
    x: np.ndarray, card: np.ndarray, table: PermutationTable | np.ndarray
) -> ConditionalDistribution:
    """Reference distributions of the neighbour sum for every area and period (x is (n, T))."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, T = x.shape
    card = np.asarray(card, dtype=np.int64)
    if not isinstance(table, PermutationTable):  # a plain (P x m) array: one block shared by all
        table = PermutationTable(np.asarray(table, dtype=np.int64), np.arange(n, dtype=np.int64))
        start, wid = np.zeros(n, np.int64), np.full(n, table.ids.shape[1], np.int64)
    else:
        start = wid = None
    max_k = int(card.max()) if n else 0
    P, W = table.ids.shape
    if W < min(max_k + 1, n):
        raise ValueError(f"permutation table has {W} columns, need {max_k + 1}")
    if len(table.key) != n:
        raise ValueError(f"permutation table is for {len(table.key)} areas, x has {n}")
    if start is None:
        start, wid = _deal_blocks(card, table.key, W)
    # Cells: (block start, cardinality). Each block's prefix sums are built once.
    cell_key = start * (max_k + 2) + card
    cell_keys, cell = np.unique(cell_key, return_inverse=True)
    cell = cell.reshape(-1).astype(np.int64)
    c_start, c_k = cell_keys // (max_k + 2), cell_keys % (max_k + 2)
    sums = np.empty((len(cell_keys), T, P))
    corr_area, corr_perm, corr_value = [], [], []
    blocks, first = np.unique(start, return_index=True)
    for s0, a0 in zip(blocks, first):
        w = int(min(wid[a0], n))
        tab = table.ids[:, s0 : s0 + w]  # (P, w)
        kmax = int(c_k[c_start == s0].max())
        prefix = np.zeros((P, kmax + 1, T))
        np.cumsum(x[tab[:, :kmax]], axis=1, out=prefix[:, 1:, :])
        cs = np.flatnonzero(c_start == s0)
        sums[cs] = prefix[:, c_k[cs], :].transpose(1, 2, 0)
        # Rows where area a = tab[p, j] of this block sits among its own first k_a draws:
        # swap it for draw k_a.
        j = np.arange(min(kmax, w))[None, :]
        sub = tab[:, : j.shape[1]]
        hit = (j < card[sub]) & (start[sub] == s0)
        cp, cc = np.nonzero(hit)
        a = sub[cp, cc]
        k_a = card[a]
        corr_area.append(a)
        corr_perm.append(cp)
        corr_value.append(prefix[cp, k_a, :] - x[a] + x[tab[cp, k_a]])
    corr_area_a = np.concatenate(corr_area) if corr_area else np.zeros(0, np.int64)
    corr_perm_a = np.concatenate(corr_perm) if corr_perm else np.zeros(0, np.int64)
    corr_value_a = np.concatenate(corr_value) if corr_value else np.zeros((0, T))
    # Moments: per-cell sums plus the corrections.
    s1 = sums.sum(axis=2)[cell]  # (n, T)
    s2 = (sums**2).sum(axis=2)[cell]
    old = sums[cell[corr_area_a], :, corr_perm_a]
    np.add.at(s1, corr_area_a, corr_value_a - old)
    np.add.at(s2, corr_area_a, corr_value_a**2 - old**2)
    mean = s1 / P
    sd = np.sqrt(np.maximum(s2 / P - mean**2, 0.0))
    scale = np.maximum(card[:, None] * np.abs(x).max(axis=0)[None, :], 1e-300) if n else np.ones((0, T))
    return ConditionalDistribution(
        sums, np.sort(sums, axis=2), cell, start, corr_area_a, corr_perm_a, corr_value_a, mean, sd, scale
    )


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
