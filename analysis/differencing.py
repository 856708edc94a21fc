"""Differencing audit: which hidden published counts the shown ones give back by adding and subtracting.

Every published count is the sum of some finest cells (e.g. LSOA x month). A hidden count is recovered by
differencing when its finest-cell vector lies in the row space of the shown counts' vectors: then every set
of finest counts consistent with what is shown gives it the same value, whatever the suppression symbol
says (a linear program using the symbols' bounds, "<5" = 1..4, can recover more: this is a lower bound).
Exact linear algebra on one block of cells (an orthonormal row basis by SVD), and the linear-programming attack
that also uses what the symbols and the perturbation table tell a reader (``pinned_counts``, the test of
docs/trust.md "Differencing across tables"); no Streamlit, no store.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog


def determined_by_sums(shown: np.ndarray, hidden: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """For each row of `hidden` (a 0/1 vector over the finest cells), whether the rows of `shown` determine it.

    True when the vector lies in the row space of `shown` (its component outside an orthonormal basis of
    that space, from the SVD, is below `rtol` of its norm). Both are [rows x finest cells] arrays.
    """
    hidden = np.atleast_2d(np.asarray(hidden, dtype=float))
    shown = np.atleast_2d(np.asarray(shown, dtype=float))
    if shown.size == 0 or shown.shape[0] == 0:
        return np.zeros(len(hidden), dtype=bool)
    _, s, vt = np.linalg.svd(shown, full_matrices=False)
    rank = int((s > s.max() * max(shown.shape) * np.finfo(float).eps).sum()) if s.size else 0
    basis = vt[:rank]
    residual = hidden - (hidden @ basis.T) @ basis
    return np.linalg.norm(residual, axis=1) <= rtol * np.maximum(np.linalg.norm(hidden, axis=1), 1.0)


def pinned_counts(
    matrix: np.ndarray, shown: np.ndarray, bounds: np.ndarray, stop_after: int | None = None, random_rounds: int = 12,
) -> np.ndarray:
    """Per hidden row (``shown`` False), the one whole number it must be, or None: the linear-programming attack.

    ``matrix``: [published rows x finest cells] 0/1; ``bounds``: [rows x 2] what a reader knows of each row's true
    count (a shown exact count: [n, n]; "<5": [0, 4]; a perturbed count: its range). A linear program (scipy's
    HiGHS) over the finest counts (>= 0) with every row inside its bounds gives each hidden row's least and
    greatest value; the row is recovered when one whole number lies between them.

    A first pass solves a few random objectives over the hidden rows: a row whose values at those solutions
    already span two whole numbers is not recovered, and is not solved on its own. ``stop_after``: stop once
    that many are found.
    """
    a_ub = np.vstack([matrix, -matrix])
    b_ub = np.concatenate([bounds[:, 1], -bounds[:, 0]])
    hidden = np.flatnonzero(~shown)

    def solve(objective: np.ndarray) -> np.ndarray:
        result = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        if result.status != 0:  # what is published is consistent, so only a solver failure lands here
            raise RuntimeError(f"differencing attack: {result.message}")
        return matrix[hidden] @ result.x

    rng = np.random.default_rng(0)
    lo, hi = np.full(hidden.size, np.inf), np.full(hidden.size, -np.inf)

    def open_rows() -> np.ndarray:
        return np.flatnonzero(np.floor(hi + 1e-7) - np.ceil(lo - 1e-7) < 1)

    for _ in range(random_rounds):
        todo = open_rows()
        weights = np.zeros(hidden.size)
        weights[todo] = rng.choice([-1.0, 1.0], size=todo.size)
        values = solve(weights @ matrix[hidden])
        lo, hi = np.minimum(lo, values), np.maximum(hi, values)
    out = np.full(hidden.size, None, dtype=object)
    for i in open_rows():
        least, most = solve(matrix[hidden[i]])[i], solve(-matrix[hidden[i]])[i]
        if np.ceil(least - 1e-7) == np.floor(most + 1e-7):
            out[i] = int(np.ceil(least - 1e-7))
            if stop_after is not None and sum(v is not None for v in out) >= stop_after:
                break
    return out


__all__ = ["determined_by_sums", "pinned_counts"]
