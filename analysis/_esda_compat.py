"""The one module that imports esda: reference implementations with esda's behaviour pinned.

esda's default alternative hypothesis for conditional-permutation p-values is changing across
releases ("directed" in esda <= 2.x, announced to become "two-sided"). Where a class accepts
``alternative`` it is passed explicitly; otherwise (esda 2.9) the kept simulations are re-scored
with ``esda.significance.calculate_significance(alternative=...)``, so results do not depend on
the installed default. esda's names (Gs, Zs, Is, p_sim, rGs) stay inside this module.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from contextlib import contextmanager

import numpy as np

import esda
from esda.significance import calculate_significance
from esda.smoothing import assuncao_rate


def _binary_copy(w):
    """esda sets ``w.transform`` in place: work on a binary copy so callers' W never changes."""
    w = copy.deepcopy(w)
    w.transform = "B"
    return w


def _accepts(cls, name: str) -> bool:
    return name in inspect.signature(cls.__init__).parameters


def _p_from_sims(observed: np.ndarray, sims: np.ndarray, alternative: str) -> np.ndarray:
    """esda's pseudo p for one alternative; sims is (n, permutations)."""
    return np.asarray(calculate_significance(observed, sims, alternative=alternative), dtype=float)


@contextmanager
def _quiet():
    """esda 2.x warns that the alternative default will change; we never rely on the default."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def esda_local_gstar(y, w, permutations: int = 999, seed: int = 0, alternative: str = "folded") -> dict:
    """esda.G_Local(star=True, transform="B"): binary weights with self weight 1 (ArcGIS's z).

    With transform="R" esda 2.9 computes Zs from row sums of 1 rather than the cardinality, which is
    not the Ord-Getis z; so the binary run is used and Gs is divided by (k_i + 1) to report the
    row-standardised statistic (GeoDa's value). p-values are unchanged by that per-area scaling.
    """
    kw = dict(transform="B", permutations=permutations, star=True, seed=seed, n_jobs=1)
    if _accepts(esda.G_Local, "alternative"):
        kw["alternative"] = alternative
    with _quiet():
        g = esda.G_Local(np.asarray(y, dtype=float), _binary_copy(w), **kw)
    if not permutations:
        p = np.full(len(g.Gs), np.nan)
    elif "alternative" in kw:
        p = g.p_sim
    else:
        p = _p_from_sims(g.Gs, g.rGs, alternative)
    k1 = np.asarray((_binary_copy(w).sparse != 0).sum(axis=1)).ravel() + 1.0  # neighbours + self
    return {"gi_star": np.asarray(g.Gs) / k1, "gi_z": np.asarray(g.Zs), "gi_p": np.asarray(p)}


def esda_local_moran(y, w, permutations: int = 999, seed: int = 0, alternative: str = "folded") -> dict:
    """esda.Moran_Local with row-standardised weights."""
    kw = dict(transformation="r", permutations=permutations, seed=seed, n_jobs=1)
    if _accepts(esda.Moran_Local, "alternative"):
        kw["alternative"] = alternative
    with _quiet():
        m = esda.Moran_Local(np.asarray(y, dtype=float), _binary_copy(w), **kw)
    if not permutations:
        p = np.full(len(m.Is), np.nan)
    elif "alternative" in kw:
        p = m.p_sim
    else:
        p = _p_from_sims(m.Is, m.rlisas, alternative)
    out = {"lisa_i": np.asarray(m.Is), "lisa_p": np.asarray(p), "lisa_q": np.asarray(m.q)}
    if permutations:
        out["lisa_z"] = np.asarray(m.z_sim)
    return out


def esda_moran(y, w, permutations: int = 999) -> dict:
    """esda.Moran (global), row-standardised."""
    m = esda.Moran(np.asarray(y, dtype=float), _binary_copy(w), transformation="r", permutations=permutations)
    return {"moran_i": float(m.I), "moran_ei": float(m.EI), "moran_p_sim": float(getattr(m, "p_sim", np.nan))}


def esda_eb_rates(e, b) -> np.ndarray:
    """esda.smoothing.assuncao_rate (Assuncao & Reis 1999)."""
    return np.asarray(assuncao_rate(np.asarray(e, dtype=float), np.asarray(b, dtype=float)), dtype=float)
