"""Differencing audit: which hidden published counts the shown ones give back by adding and subtracting.

Every published count is the sum of some finest cells (e.g. LSOA x month). A hidden count is recovered by
differencing when its finest-cell vector lies in the row space of the shown counts' vectors: then every set
of finest counts consistent with what is shown gives it the same value, whatever the suppression symbol
says (a linear program using the symbols' bounds, "<5" = 1..4, can recover more: this is a lower bound).
Exact linear algebra on one block of cells (an orthonormal row basis by SVD); no Streamlit, no store.
"""

from __future__ import annotations

import numpy as np


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


__all__ = ["determined_by_sums"]
