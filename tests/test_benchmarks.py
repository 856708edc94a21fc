"""Smoke test of benchmarks/run.py: the quick weights workload runs, the table has its columns, mismatches abort."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import _workloads, run
from benchmarks._checks import BenchmarkMismatch, check_close, check_p_spread, folded_p_with_ties
from geo.schema import PROJECT_ROOT


def test_quick_weights_run_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--only", "weights", "--repeat", "1", "--json", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    header = "| " + " | ".join(run.COLUMNS) + " |"
    assert header in proc.stdout
    assert "esda/ours" in header and "pygeoda/ours" in header and "peak RSS" in header
    assert "numpy" in proc.stdout and "libpysal" in proc.stdout and "pygeoda" in proc.stdout
    data = json.loads(out.read_text())
    assert data["mode"] == "quick"
    [row] = data["rows"]
    assert row["key"] == "weights"
    assert row["workload"].startswith("3. Queen weights, 324 areas")
    assert row["ours_s"] > 0 and row["esda_s"] > 0 and row["pygeoda_s"] > 0
    assert row["esda_over_ours"] == pytest.approx(row["esda_s"] / row["ours_s"])
    assert row["result"] in ("PASS",) or row["result"].startswith("FAIL")
    assert row["peak_rss_mb"] > 10


def test_check_close_fails_loudly_on_a_difference() -> None:
    ref = np.array([1.0, 2.0, np.nan])
    assert check_close("same", ref + 1e-12, ref) < 1e-9
    with pytest.raises(BenchmarkMismatch, match=r"gi_z: values differ by up to 1e-06.*position 1"):
        check_close("gi_z", [1.0, 2.000002, np.nan], ref)
    with pytest.raises(BenchmarkMismatch, match="NaN pattern"):
        check_close("gi_z", [1.0, 2.0, 3.0], ref)


def test_p_spread_check_accepts_noise_and_rejects_a_shift() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(2000)
    a, b, ours = (np.clip(truth + rng.normal(0, 0.01, truth.size), 0, 1) for _ in range(3))
    assert "seed spread" in check_p_spread("p", ours, a, b)
    with pytest.raises(BenchmarkMismatch, match="seed-to-seed spread"):
        check_p_spread("p", np.clip(ours + 0.1, 0, 1), a, b)


def test_folded_p_counts_rounded_ties_as_extreme() -> None:
    sims = np.array([[1.0, 3.0 - 1e-15, 2.0, 2.0]])  # mean 2; one draw ties |obs - mean| = 1 up to rounding
    # Without the tolerance the 3 - 1e-15 draw would not count; with it both tails count: (2 + 1) / 5.
    assert folded_p_with_ties(np.array([1.0]), sims)[0] == pytest.approx(3 / 5)


def test_run_aborts_with_a_clear_message_when_ours_differs(monkeypatch, capsys) -> None:
    real = _workloads.build_weights

    def drop_a_link(areas, *args, **kwargs):
        w, report = real(areas, *args, **kwargs)
        if kwargs.get("fuzzy") == "never":
            b = sp.lil_matrix(w.binary)
            j = b.rows[0][0]
            b[0, j] = b[j, 0] = 0
            w = type(w)(w.codes, sp.csr_matrix(b), w.row_standardised, w.cardinalities, w.method)
        return w, report

    monkeypatch.setattr(_workloads, "build_weights", drop_a_link)
    status = run.main(["--quick", "--only", "weights", "--repeat", "1"])
    err = capsys.readouterr()
    assert status == run.MISMATCH_EXIT
    assert "ABORTED" in err.err and "differ from libpysal Queen in 2 links" in err.err
    assert "| workload |" not in err.out  # no timings reported
