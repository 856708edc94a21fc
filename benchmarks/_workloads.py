"""The benchmark workloads: each runs ours, checks it against esda / libpysal / pygeoda, then times them.

Order inside a workload: our first call (its result is kept), our timed repeats, our peak RSS; then
each reference's first call (numba JIT warm-up for esda, reported separately), the equality checks
(``benchmarks._checks``: a mismatch raises and no timing is reported), then the references' timed
repeats. Same process, same data, same weights for every implementation.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import shapely

from analysis.emerging import EHSA_CATEGORIES, emerging_hotspots, space_time_gi_star, space_time_weights
from analysis.hotspots import HotspotParams, local_hotspots_matrix
from benchmarks import _inputs
from benchmarks._checks import BenchmarkMismatch, check_close, check_p_spread, folded_p_with_ties
from geo.weights import SpatialWeights, build_weights

SEED_A, SEED_B = 12345, 67890


@dataclass(frozen=True)
class Target:
    """A goal from the performance issue: wall-time ceiling and minimum speed-ups."""

    text: str
    max_seconds: float | None = None
    min_esda_ratio: float | None = None
    min_pygeoda_ratio: float | None = None
    max_rss_mb: float | None = None


TARGETS: dict[str, Target] = {
    "ehsa": Target("<= 3 s, >= 40x esda loop", max_seconds=3.0, min_esda_ratio=40.0),
    "ehsa_analytic": Target("context only", None),
    "perm1": Target("<= 1 s, >= 4x esda and pygeoda", max_seconds=1.0, min_esda_ratio=4.0, min_pygeoda_ratio=4.0),
    "perm72": Target("<= 10 s", max_seconds=10.0),
    "weights": Target("<= 1.5 s", max_seconds=1.5),
    "import": Target("<= 10 s", max_seconds=10.0),
    "memory": Target("peak RSS < 4 GB", max_rss_mb=4096.0),
}


@dataclass
class Row:
    """One line of the results table (times in seconds, RSS in MB)."""

    key: str
    workload: str
    ours_s: float
    esda_s: float | None = None
    pygeoda_s: float | None = None
    rss_mb: float | None = None
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> tuple[float | None, float | None]:
        """(esda / ours, pygeoda / ours)."""
        def r(v: float | None) -> float | None:
            return None if v is None or not self.ours_s else v / self.ours_s
        return r(self.esda_s), r(self.pygeoda_s)

    def verdict(self) -> str:
        """PASS / FAIL against the target (with the shortfall), or '-' when there is none."""
        t = TARGETS.get(self.key)
        if t is None or t.text == "context only":
            return "-"
        fails = []
        esda_r, pg_r = self.ratios()
        if t.max_seconds is not None and self.ours_s > t.max_seconds:
            fails.append(f"{self.ours_s / t.max_seconds:.1f}x over time")
        if t.min_esda_ratio is not None and (esda_r is None or esda_r < t.min_esda_ratio):
            fails.append(f"esda ratio {esda_r or 0:.1f} < {t.min_esda_ratio:g}")
        if t.min_pygeoda_ratio is not None and (pg_r is None or pg_r < t.min_pygeoda_ratio):
            fails.append(f"pygeoda ratio {pg_r or 0:.1f} < {t.min_pygeoda_ratio:g}")
        if t.max_rss_mb is not None and (self.rss_mb is None or self.rss_mb > t.max_rss_mb):
            fails.append(f"{self.rss_mb:.0f} MB")
        return "PASS" if not fails else "FAIL (" + "; ".join(fails) + ")"

    def as_dict(self) -> dict:
        esda_r, pg_r = self.ratios()
        return {
            "key": self.key, "workload": self.workload, "ours_s": self.ours_s, "esda_s": self.esda_s,
            "pygeoda_s": self.pygeoda_s, "esda_over_ours": esda_r, "pygeoda_over_ours": pg_r,
            "target": TARGETS[self.key].text if self.key in TARGETS else "", "result": self.verdict(),
            "peak_rss_mb": self.rss_mb, "notes": list(self.notes),
        }


@dataclass
class Context:
    """Inputs shared by the workloads: areas, our weights, the synthetic cube."""

    quick: bool
    repeat: int
    areas: _inputs.Areas
    weights: SpatialWeights
    weights_seconds: float
    cube: np.ndarray  # areas x months, in weights.codes order
    periods: list[str]
    workdir: Path

    @property
    def pygeoda_threads(self) -> int:
        import os

        return min(2, os.cpu_count() or 1)


def build_context(quick: bool, repeat: int, workdir: Path) -> Context:
    """Load or generate the areas, build our weights once, draw the synthetic counts."""
    areas = _inputs.benchmark_areas(quick)
    t0 = time.perf_counter()
    weights, _ = build_weights(areas.frame, fuzzy="auto")
    secs = time.perf_counter() - t0
    by_code = areas.frame.set_index(areas.frame["code"].astype(str)).loc[list(weights.codes)]
    centroids = shapely.get_coordinates(shapely.centroid(np.asarray(by_code.geometry.values, dtype=object)))
    cube = _inputs.synthetic_counts(centroids)
    return Context(quick, repeat, areas, weights, secs, cube, _inputs.month_labels(cube.shape[1]), workdir)


# ---------------------------------------------------------------------------- helpers


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    return statistics.median(_timed(fn)[0] for _ in range(max(1, repeat)))


@contextmanager
def _quiet() -> Iterator[None]:
    """esda 2.x warns about its future default alternative; the benchmark never relies on it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _libpysal_binary(weights: SpatialWeights):
    """A private binary libpysal W (esda sets ``transform`` in place)."""
    return copy.deepcopy(weights.libpysal)


def _pygeoda_weights(weights: SpatialWeights, workdir: Path):
    """Our weights as a pygeoda Weight (via a GAL file), so pygeoda uses exactly the same neighbours."""
    import pygeoda

    path = workdir / "weights.gal"
    ids = _inputs.write_gal(path, weights.binary, weights.n)
    return pygeoda.read_gal(str(path), ids)


def _numba_note() -> str:
    try:
        import numba  # noqa: F401

        return "esda uses numba"
    except ImportError:
        return "numba NOT installed: esda runs its pure-Python permutation fallback (much slower than with numba)"


# ---------------------------------------------------------------------------- 1. EHSA


def ehsa(ctx: Context) -> list[Row]:
    """Emerging hot spot analysis (space-time Gi*, Mann-Kendall, 17 categories) vs looping esda.G_Local."""
    import esda

    w, cube, periods = ctx.weights, ctx.cube, ctx.periods
    n, T = cube.shape

    def ours():
        return emerging_hotspots(cube, w.codes, periods, w)

    first, result = _timed(ours)
    ours_s = _median_time(ours, ctx.repeat)
    rss = _inputs.peak_rss_mb()

    # Check 1: categories are ArcGIS's 17 and every area has one.
    bad = set(result["ehsa_category"]) - set(EHSA_CATEGORIES)
    if bad or len(result) != n:
        raise BenchmarkMismatch(f"EHSA: {len(result)} rows for {n} areas, unknown categories {sorted(bad)}")
    # Check 2: space-time Gi* z equals esda.G_Local(star=True) on the explicit space-time weights
    # (kron(time band, A + I) over period-major bins) for a slice of the cube.
    t_check = min(T, 12 if ctx.quick else 3)
    sub = cube[:, :t_check]
    st = space_time_gi_star(sub, w.codes, periods[:t_check], w, time_lag=1)
    W = space_time_weights(w.binary, t_check, 1)
    A = sp.csr_matrix(W - sp.identity(W.shape[0], format="csr"))
    A.eliminate_zeros()
    from libpysal.weights import WSP

    lw_st = WSP(A, id_order=list(range(A.shape[0]))).to_W(silence_warnings=True)
    with _quiet():
        g = esda.G_Local(sub.T.ravel(), lw_st, transform="B", star=True, permutations=0)
    # space_time_gi_star rows are sorted by area code, periods within; weights.codes are code-sorted too.
    z_ours = st["st_gi_z"].to_numpy().reshape(n, t_check)
    check_close(f"EHSA space-time Gi* z (first {t_check} months)", z_ours, np.asarray(g.Zs).reshape(t_check, n).T)

    # Baseline: a user's loop of esda.G_Local(star=True) over the months (esda default 999 permutations).
    lw = _libpysal_binary(w)
    with _quiet():
        def esda_period(t: int, perms: int):
            return esda.G_Local(cube[:, t], lw, transform="B", star=True, permutations=perms, n_jobs=1, seed=SEED_A + t)

        jit_s, g0 = _timed(lambda: esda_period(T - 1, 999))
        # Per-period Gi* z from esda must match the analytical part of ours (spatial-only, one period).
        gi = local_hotspots_matrix(cube[:, [T - 1]], [periods[-1]], w, HotspotParams(gi_inference="analytical"),
                                   statistics=("gi_star",))
        check_close("per-month Gi* z (esda G_Local vs analysis.hotspots)", gi["gi_z"], g0.Zs)
        k = T if ctx.quick else 3
        per = [_timed(lambda t=t: esda_period(t, 999))[0] for t in range(k)]
        esda_s = statistics.median(per) * T
        per0 = [_timed(lambda t=t: esda_period(t, 0))[0] for t in range(T)]
        esda0_s = statistics.median(per0) * T

    extrap = "" if k == T else f", timed on {k} months and extrapolated to {T}"
    notes = [
        f"our first call {first:.2f} s",
        f"esda loop: G_Local(star=True, transform='B', permutations=999, n_jobs=1) per month{extrap}; "
        f"first call (numba JIT warm-up) {jit_s:.2f} s excluded from the median; {_numba_note()}",
        "esda loop has no Mann-Kendall or classification step (ours includes both)",
    ]
    rows = [
        Row("ehsa", f"1. EHSA, {n:,} areas x {T} months", ours_s, esda_s, None, rss, notes),
        Row("ehsa_analytic", "1a. EHSA vs esda loop with permutations=0 (analytical z only)", ours_s, esda0_s, None,
            rss, [f"esda G_Local(star=True, permutations=0) over all {T} months, median month x {T}"]),
        Row("memory", "M. peak RSS of the EHSA run (ours, incl. loading areas + weights)", ours_s, None, None, rss,
            ["RSS measured before any reference implementation ran"]),
    ]
    return rows


# ---------------------------------------------------------------------------- 2. permutations, one period


def raw_gstar(x: np.ndarray, lw, seed: int):
    """esda.G_Local(star=True, transform='B') with its simulations kept (for re-scoring)."""
    import esda

    with _quiet():
        return esda.G_Local(x, copy.deepcopy(lw), transform="B", star=True, permutations=999, seed=seed, n_jobs=1)


def _geoda_rule_p(observed: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """GeoDa's pseudo p: count sims >= observed; past half the permutations use permutations - count."""
    P = sims.shape[1]
    c = (sims >= np.asarray(observed)[:, None]).sum(axis=1)
    c = np.where(c > P / 2, P - c, c)
    return (c + 1.0) / (P + 1.0)


def perm1(ctx: Context) -> list[Row]:
    """Permutation Gi* and local Moran (999 perms), one period: ours vs esda vs pygeoda."""
    from analysis._esda_compat import esda_local_gstar, esda_local_moran
    import pygeoda

    w, x = ctx.weights, ctx.cube[:, -1]
    label = [ctx.periods[-1]]
    params = HotspotParams(gi_inference="permutation", permutations=999, seed=SEED_A)

    def ours():
        return local_hotspots_matrix(x[:, None], label, w, params)

    first, res = _timed(ours)
    ours_s = _median_time(ours, ctx.repeat)
    rss = _inputs.peak_rss_mb()
    directed = local_hotspots_matrix(x[:, None], label, w, HotspotParams(gi_inference="permutation", permutations=999, alternative="directed"))
    res_b = local_hotspots_matrix(x[:, None], label, w, HotspotParams(gi_inference="permutation", permutations=999, seed=SEED_B))

    lw = _libpysal_binary(w)

    def esda_run(seed: int):
        return esda_local_gstar(x, lw, 999, seed=seed), esda_local_moran(x, lw, 999, seed=seed)

    jit_s, (ga, ma) = _timed(lambda: esda_run(SEED_A))
    gb, mb = esda_run(SEED_B)
    pw = _pygeoda_weights(w, ctx.workdir)
    threads = ctx.pygeoda_threads

    def pg_run_on(values: np.ndarray, seed: int):
        g = pygeoda.local_gstar(pw, list(values), permutations=999, cpu_threads=threads, seed=seed)
        m = pygeoda.local_moran(pw, list(values), permutations=999, cpu_threads=threads, seed=seed)
        return g, m

    def pg_run(seed: int):
        return pg_run_on(x, seed)

    pg_first, (pga, pma) = _timed(lambda: pg_run(SEED_A))
    pgb, pmb = pg_run(SEED_B)

    check_close("Gi* (row-standardised, self included) vs esda", res["gi_star"], ga["gi_star"])
    check_close("Gi* z vs esda", res["gi_z"], ga["gi_z"])
    check_close("local Moran I vs esda", res["lisa_i"], ma["lisa_i"])
    # esda's folded Moran p misses float-rounded ties (integer counts); re-score its own draws with ours' tie rule.
    import esda

    with _quiet():
        raw = [esda.Moran_Local(x, copy.deepcopy(lw), transformation="r", permutations=999, seed=s, n_jobs=1)
               for s in (SEED_A, SEED_B)]
    check_close("esda Moran_Local (direct) vs compat wrapper", raw[0].Is, ma["lisa_i"])
    tie_a, tie_b = (folded_p_with_ties(m.Is, m.rlisas) for m in raw)
    raw_gap = float(np.nanmean(np.abs(res["lisa_p"].to_numpy() - ma["lisa_p"])))
    tie_gap = float(np.nanmean(np.abs(ma["lisa_p"] - tie_a)))
    check_close("Gi* vs pygeoda", res["gi_star"], pga.lisa_values())
    check_close("local Moran I vs pygeoda", res["lisa_i"], pma.lisa_values())
    spreads = [
        check_p_spread("Gi* p (folded) vs esda", res["gi_p"], ga["gi_p"], gb["gi_p"], ours_b=res_b["gi_p"]),
        check_p_spread("Moran p (folded, esda draws re-scored with tie tolerance) vs esda", res["lisa_p"], tie_a,
                       tie_b, ours_b=res_b["lisa_p"]),
    ]
    # pygeoda's p-values follow GeoDa's tie rule (>= tail, or the strict < tail past half), which differs
    # from ours on integer counts. Proof that only ties differ: GeoDa's rule on esda's draws reproduces
    # pygeoda, and on a tie-free copy of the data (counts + U(0, 0.1)) ours agrees with pygeoda.
    g_raw = raw_gstar(x, lw, SEED_A)
    geo_rule = _geoda_rule_p(g_raw.Gs, g_raw.rGs)
    spreads.append(check_p_spread("pygeoda Gi* p vs GeoDa's rule on esda draws", pga.lisa_pvalues(), geo_rule,
                                  geo_rule, yardstick=(ga["gi_p"], gb["gi_p"])))
    xj = x + np.random.default_rng(SEED_A).random(w.n) * 0.1
    oj = local_hotspots_matrix(xj[:, None], label, w, HotspotParams(gi_inference="permutation", permutations=999, alternative="directed"))
    pj_g, pj_m = pg_run_on(xj, SEED_A)
    ej = [esda_local_gstar(xj, lw, 999, seed=s, alternative="directed") for s in (SEED_A, SEED_B)]
    em = [esda_local_moran(xj, lw, 999, seed=s, alternative="directed") for s in (SEED_A, SEED_B)]
    spreads.append(check_p_spread("Gi* p (directed, tie-free copy) vs pygeoda", oj["gi_p"], pj_g.lisa_pvalues(),
                                  pj_g.lisa_pvalues(), yardstick=(ej[0]["gi_p"], ej[1]["gi_p"])))
    spreads.append(check_p_spread("Moran p (directed, tie-free copy) vs pygeoda", oj["lisa_p"], pj_m.lisa_pvalues(),
                                  pj_m.lisa_pvalues(), yardstick=(em[0]["lisa_p"], em[1]["lisa_p"])))
    pg_gap = float(np.mean(np.abs(directed["gi_p"].to_numpy() - np.asarray(pga.lisa_pvalues()))))

    esda_s = _median_time(lambda: esda_run(SEED_A), ctx.repeat)
    pg_s = _median_time(lambda: pg_run(SEED_A), ctx.repeat)
    notes = [
        f"our first call {first:.2f} s; Gi* and Moran share one permutation table in ours",
        f"esda: G_Local(star=True) + Moran_Local, n_jobs=1; first call {jit_s:.2f} s (JIT) excluded; {_numba_note()}",
        f"pygeoda: local_gstar + local_moran, cpu_threads={threads}, weights read from the same GAL; "
        f"first call {pg_first:.2f} s",
        "; ".join(spreads),
        f"Gi* directed p on the counts vs pygeoda: mean|dp| {pg_gap:.4f} (tie rule, see README)",
        f"Moran p vs esda's own folded p: mean|dp| {raw_gap:.4f}; esda's folded p moves by {tie_gap:.4f} on "
        "average when its float-rounded ties are counted (ours counts ties as extreme)",
    ]
    return [Row("perm1", f"2. Permutation Gi* + local Moran, 999 perms, {w.n:,} areas, 1 month",
                ours_s, esda_s, pg_s, rss, notes)]


# ---------------------------------------------------------------------------- 2b. permutations, all months


def perm72(ctx: Context) -> list[Row]:
    """Permutation Gi* (999 perms) for every month; references timed on a few months and extrapolated."""
    from analysis._esda_compat import esda_local_gstar
    import pygeoda

    w, cube, periods = ctx.weights, ctx.cube, ctx.periods
    n, T = cube.shape
    params = HotspotParams(gi_inference="permutation", permutations=999, seed=SEED_A)

    def ours():
        return local_hotspots_matrix(cube, periods, w, params, statistics=("gi_star",))

    first, res = _timed(ours)
    ours_s = _median_time(ours, ctx.repeat)
    rss = _inputs.peak_rss_mb()

    lw = _libpysal_binary(w)
    pw = _pygeoda_weights(w, ctx.workdir)
    threads = ctx.pygeoda_threads
    k = T if ctx.quick else 2
    months = list(range(T - k, T))
    jit_s, _ = _timed(lambda: esda_local_gstar(cube[:, 0], lw, 999, seed=SEED_A))
    esda_times, pg_times = [], []
    ours_p = res["gi_p"].to_numpy().reshape(n, T)
    ours_z = res["gi_z"].to_numpy().reshape(n, T)
    pa, pb = [], []
    for t in months:
        dt, ea = _timed(lambda t=t: esda_local_gstar(cube[:, t], lw, 999, seed=SEED_A + t))
        esda_times.append(dt)
        eb = esda_local_gstar(cube[:, t], lw, 999, seed=SEED_B + t)
        check_close(f"Gi* z month {periods[t]} vs esda", ours_z[:, t], ea["gi_z"])
        pa.append(ea["gi_p"])
        pb.append(eb["gi_p"])
        pg_times.append(_timed(lambda t=t: pygeoda.local_gstar(pw, list(cube[:, t]), permutations=999,
                                                               cpu_threads=threads, seed=SEED_A + t))[0])
    ours_b = local_hotspots_matrix(cube[:, months], [periods[t] for t in months], w,
                                   HotspotParams(gi_inference="permutation", permutations=999, seed=SEED_B), statistics=("gi_star",))
    spread = check_p_spread(f"Gi* p over {k} months vs esda", ours_p[:, months], np.column_stack(pa),
                            np.column_stack(pb), ours_b=ours_b["gi_p"].to_numpy().reshape(n, k))
    extrap = f"{k} months timed, x{T / k:g}" if k < T else f"all {T} months"
    notes = [
        f"our first call {first:.2f} s",
        f"esda G_Local loop ({extrap}, median month); JIT first call {jit_s:.2f} s excluded; {_numba_note()}",
        f"pygeoda local_gstar loop ({extrap}, median month, cpu_threads={threads})",
        spread,
    ]
    return [Row("perm72", f"2b. Permutation Gi*, 999 perms, {n:,} areas x {T} months", ours_s,
                statistics.median(esda_times) * T, statistics.median(pg_times) * T, rss, notes)]


# ---------------------------------------------------------------------------- 3. weights


def _link_set(binary: sp.spmatrix) -> sp.csr_matrix:
    a = sp.csr_matrix(binary, dtype=np.int8, copy=True)
    a.data[:] = 1
    a.eliminate_zeros()
    return a


def weights(ctx: Context) -> list[Row]:
    """Queen weights for every area, connecting across authority borders: ours (fuzzy auto) vs libpysal, pygeoda."""
    import pygeoda
    from libpysal.weights import Queen

    gdf = ctx.areas.frame

    def ours():
        return build_weights(gdf, fuzzy="auto")

    first, (w_ours, report) = _timed(ours)
    ours_s = _median_time(ours, ctx.repeat)
    rss = _inputs.peak_rss_mb()

    # Equality: our exact queen (no fuzzy links) must equal libpysal's Queen link for link.
    exact, _ = build_weights(gdf, fuzzy="never", isolates="exclude")
    lp_first, q = _timed(lambda: Queen.from_dataframe(gdf, use_index=False, silence_warnings=True))
    order = np.argsort(gdf["code"].astype(str).to_numpy(), kind="stable")  # ours are in code order
    lp = _link_set(q.sparse)[order][:, order]
    diff = abs(_link_set(exact.binary).astype(np.int16) - lp.astype(np.int16))
    if diff.nnz:
        i, j = diff.nonzero()
        raise BenchmarkMismatch(
            f"exact queen weights differ from libpysal Queen in {diff.nnz} links, e.g. "
            f"{exact.codes[i[0]]} - {exact.codes[j[0]]}"
        )
    gda_s, gda = _timed(lambda: pygeoda.open(gdf))
    pg_first, pq = _timed(lambda: pygeoda.queen_weights(gda))
    pg_links = int(round(pq.mean_neighbors() * pq.num_obs)) if callable(pq.mean_neighbors) else None

    lp_s = _median_time(lambda: Queen.from_dataframe(gdf, use_index=False, silence_warnings=True),
                        min(ctx.repeat, 2) if not ctx.quick else ctx.repeat)
    pg_s = _median_time(lambda: pygeoda.queen_weights(gda), ctx.repeat)
    notes = [
        f"our first call {first:.2f} s; ours: {report.method_used}, {report.n_components_before} exact-queen "
        f"components -> {report.n_components}, {report.n_fuzzy_links:,} fuzzy links, "
        f"{len(report.attached)} isolates attached",
        "the esda column here is libpysal Queen.from_dataframe (esda has no weights builder)",
        f"checked: our exact queen == libpysal Queen ({lp.nnz:,} directed links); libpysal/pygeoda build "
        f"exact queen only ({q.n_components} components in libpysal)",
        f"pygeoda: queen_weights on a pygeoda.open'd layer (open took {gda_s:.2f} s, not timed); "
        f"{pg_links if pg_links is not None else '?'} directed links vs libpysal {lp.nnz:,}",
    ]
    return [Row("weights", f"3. Queen weights, {len(gdf):,} areas, across LA borders", ours_s, lp_s, pg_s, rss, notes)]


# ---------------------------------------------------------------------------- 6. import


def import_records(ctx: Context) -> list[Row]:
    """read_incident_file on N anonymised records in the 904 shipped LSOAs (1,000,000; 20,000 with --quick)."""
    from boundaries.load import load_areas
    from ingest import read_incident_file

    n_records = 20_000 if ctx.quick else 1_000_000
    areas = load_areas("lsoa")
    path = ctx.workdir / "records.csv"
    gen_s, truth = _timed(lambda: _inputs.write_records_file(path, n_records, areas))

    def ours():
        return read_incident_file(path, kind="records")

    first, res = _timed(ours)
    ours_s = _median_time(ours, min(ctx.repeat, 3))
    rss = _inputs.peak_rss_mb()
    rep = res.report
    if rep.rows_accepted != n_records or rep.rows_rejected:
        raise BenchmarkMismatch(f"import: {rep.rows_accepted} of {n_records} records accepted; reasons {rep.reasons}")
    got = res.counts.groupby("area_code")["count"].sum().reindex(truth.index, fill_value=0)
    wrong = got.to_numpy() != truth.to_numpy()
    if wrong.any():
        code = truth.index[np.flatnonzero(wrong)[0]]
        raise BenchmarkMismatch(
            f"import: {wrong.sum()} areas' totals differ from the generated truth, e.g. {code}: "
            f"{got[code]} vs {truth[code]}"
        )
    notes = [
        f"our first call {first:.2f} s; file {path.stat().st_size / 1e6:.0f} MB CSV (easting, northing, date, "
        f"category), generated in {gen_s:.1f} s (not timed); every record's LSOA checked against the truth",
    ]
    return [Row("import", f"6. Import {n_records:,} records (904 LSOAs)", ours_s, None, None, rss, notes)]


WORKLOADS: dict[str, Callable[[Context], list[Row]]] = {
    "weights": weights,
    "ehsa": ehsa,
    "perm1": perm1,
    "perm72": perm72,
    "import": import_records,
}


def run_workload(name: str, quick: bool, repeat: int, workdir: Path | None = None) -> list[Row]:
    """Build the inputs and run one workload (a fresh temporary directory when none is given)."""
    if workdir is not None:
        return WORKLOADS[name](build_context(quick, repeat, workdir))
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as d:
        return WORKLOADS[name](build_context(quick, repeat, Path(d)))
