"""Performance benchmarks for the hot spot pipeline against esda, libpysal and pygeoda.

Usage: python benchmarks/run.py [--quick] [--json FILE] [--only NAME ...] [--repeat N]

Without --quick the areas are England's 32,844 LSOA 2011 polygons from ../shared/data (a square
lattice of the same size when that is absent) and each workload runs in its own subprocess so its
peak RSS is its own. --quick uses a 324-cell lattice (County Durham's LSOA count), runs in-process
and finishes in well under a minute. Results are checked equal to the references before any
timing is printed; a mismatch aborts with exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(ROOT))

from benchmarks import _inputs  # noqa: E402
from benchmarks._checks import BenchmarkMismatch  # noqa: E402
from benchmarks._workloads import TARGETS, WORKLOADS, Row, run_workload  # noqa: E402

COLUMNS: tuple[str, ...] = (
    "workload", "ours (s)", "esda (s)", "pygeoda (s)", "esda/ours", "pygeoda/ours", "target", "result",
    "peak RSS ours (MB)",
)
MISMATCH_EXIT = 2


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def table_rows(rows: list[Row]) -> list[list[str]]:
    """Formatted cells for each row, in COLUMNS order."""
    out = []
    for r in rows:
        esda_r, pg_r = r.ratios()
        memory = r.key == "memory"
        out.append([
            r.workload,
            "-" if memory else _fmt(r.ours_s),
            _fmt(r.esda_s),
            _fmt(r.pygeoda_s),
            _fmt(esda_r, ".1f") + ("x" if esda_r is not None else ""),
            _fmt(pg_r, ".1f") + ("x" if pg_r is not None else ""),
            TARGETS[r.key].text if r.key in TARGETS else "",
            r.verdict(),
            _fmt(r.rss_mb, ".0f"),
        ])
    return out


def markdown_table(rows: list[Row]) -> str:
    """The results as a Markdown table followed by numbered notes."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    notes = [f"- **{r.workload.split('.')[0]}.** " + " | ".join(r.notes) for r in rows if r.notes]
    return "\n".join(lines + [""] + notes)


def _worker(name: str, quick: bool, repeat: int, out: Path) -> int:
    """Subprocess entry: run one workload and write its rows as JSON."""
    try:
        rows = run_workload(name, quick, repeat)
    except BenchmarkMismatch as exc:
        print(f"RESULT MISMATCH in workload {name!r}: {exc}", file=sys.stderr)
        return MISMATCH_EXIT
    out.write_text(json.dumps([r.__dict__ for r in rows]))
    return 0


def _in_subprocess(name: str, quick: bool, repeat: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as d:
        out = Path(d) / f"{name}.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--worker-out", str(out),
               "--repeat", str(repeat)] + (["--quick"] if quick else [])
        proc = subprocess.run(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        if proc.returncode == MISMATCH_EXIT:
            raise BenchmarkMismatch(proc.stderr.strip().splitlines()[-1])
        if proc.returncode != 0:
            raise RuntimeError(f"workload {name!r} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        return [Row(**d) for d in json.loads(out.read_text())]


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads, print machine facts and the table, optionally write JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="324-cell lattice, in-process, < 1 minute")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--only", nargs="+", choices=list(WORKLOADS), help="run only these workloads")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats per implementation (median reported)")
    ap.add_argument("--in-process", action="store_true", help="do not use a subprocess per workload")
    ap.add_argument("--worker", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.quick, args.repeat, args.worker_out)

    names = args.only or list(WORKLOADS)
    facts = _inputs.machine_facts()
    started = dt.datetime.now().astimezone()
    print(f"Hotspot Atlas benchmarks, {started:%Y-%m-%d %H:%M %Z}, mode: {'quick' if args.quick else 'full'}")
    print("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    in_process = args.quick or args.in_process
    print(f"areas: {_inputs.benchmark_areas(args.quick).source}; synthetic Poisson counts, seed {_inputs.SEED}; "
          f"{'in-process (peak RSS is cumulative)' if in_process else 'one subprocess per workload'}", flush=True)
    rows: list[Row] = []
    try:
        for name in names:
            print(f"  running {name} ...", file=sys.stderr, flush=True)
            rows += run_workload(name, args.quick, args.repeat) if in_process else _in_subprocess(
                name, args.quick, args.repeat)
    except BenchmarkMismatch as exc:
        print(f"\nABORTED: results differ from the reference implementation, so no timings are reported.\n{exc}",
              file=sys.stderr)
        return MISMATCH_EXIT
    print()
    print(markdown_table(rows))
    if args.json:
        args.json.write_text(json.dumps({
            "date": started.isoformat(timespec="seconds"), "mode": "quick" if args.quick else "full",
            "machine": facts, "columns": list(COLUMNS), "rows": [r.as_dict() for r in rows],
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
