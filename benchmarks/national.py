"""National scale end to end: every command a user runs, timed as a whole process, on all English LSOAs.

Usage: python benchmarks/national.py [--workdir DIR] [--repeat N] [--only NAME ...] [--json FILE] [--esda-months K]

Set-up (cached in --workdir, default $TMPDIR/atlas-national; rebuilt when missing):
- the 32,844 England LSOA 2011 polygons (../shared/data/boundaries/england_lsoa_2011.parquet) registered as a
  user boundary set with `atlas boundaries add`, and their ONS mid-2019 population with `atlas population add`;
- a counts CSV of every LSOA x 72 months (2,364,768 rows: area_code, period, count; zeros included), seeded
  Poisson counts from benchmarks/_inputs.synthetic_counts.

Each workload is the real `python -m atlas ...` command in a fresh process (nothing warm but the OS file cache):
its wall clock from spawn to exit, its own user + system CPU time and peak RSS (os.wait4) are reported, median of
--repeat runs (the CPU column is steadier than the wall clock when other jobs share the machine).
The store is the one the import made; a second process may reuse the weights cache it left on disk, as a user's
second command would (the first run of each command, cold weights, is reported on its own line).

Baseline in the same run: esda's analytic per-period loop (G_Local(star=True, permutations=0) on each month, on
weights built beforehand and excluded), timed on --esda-months months and multiplied up to 72.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _inputs  # noqa: E402

DATASET = "national"
SET_NAME = "england-lsoa-2011"
LAST_MONTH = _inputs.month_labels()[-1]


@dataclass
class Target:
    text: str
    max_seconds: float | None = None
    max_rss_mb: float | None = 1024.0
    min_esda_ratio: float | None = None


@dataclass
class Result:
    name: str
    command: str
    seconds: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # user + system CPU of the process, same runs as seconds
    rss_mb: list[float] = field(default_factory=list)
    first_s: float | None = None
    esda_s: float | None = None
    target: Target | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_s)

    @property
    def peak_rss(self) -> float:
        return max(self.rss_mb)

    def verdict(self) -> str:
        t = self.target
        if t is None:
            return "-"
        fails = []
        if t.max_seconds is not None and self.median_s > t.max_seconds:
            fails.append(f"{self.median_s:.2f} s > {t.max_seconds:g} s")
        if t.max_rss_mb is not None and self.peak_rss > t.max_rss_mb:
            fails.append(f"RSS {self.peak_rss:.0f} MB > {t.max_rss_mb:.0f} MB")
        if t.min_esda_ratio is not None and (self.esda_s is None or self.esda_s / self.median_s < t.min_esda_ratio):
            ratio = (self.esda_s or 0) / self.median_s
            fails.append(f"esda ratio {ratio:.1f} < {t.min_esda_ratio:g}")
        return "PASS" if not fails else "FAIL: " + "; ".join(fails)


def _env(work: Path, store: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["ATLAS_HOME"] = str(work / "home")
    env["ATLAS_STORE"] = str(store or work / "store" / "atlas.duckdb")
    env.setdefault("PYTHONHASHSEED", "0")
    # No background warm-up after the timed imports (atlas.warm): it prepares the map, which no command here
    # uses, and on two cores it would run beside the next timed command. The import's own time is unchanged.
    env["ATLAS_WARM"] = "0"
    return env


def run_timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, str]:
    """(wall seconds, user + system CPU seconds, peak RSS MB of that process, stderr tail) of one command; raises
    when it fails. On a shared machine the CPU time moves less than the wall clock with other processes' load."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {stderr.decode(errors='replace')[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024.0, stderr.decode(errors="replace")[-500:]


def atlas(*args: str) -> list[str]:
    return [sys.executable, "-m", "atlas", *args]


def set_up(work: Path) -> Path:
    """Register the England set and its population, write the counts CSV; return the CSV path (cached)."""
    import numpy as np
    import pandas as pd

    shared = _inputs.shared_data_dir()
    england = shared / _inputs.ENGLAND_LSOA if shared is not None else None
    if england is None or not england.is_file():
        raise SystemExit("benchmarks/national.py needs ../shared/data/boundaries/england_lsoa_2011.parquet")
    csv = work / "england_lsoa_72_months.csv"
    done = work / "setup.done"
    if done.exists() and csv.exists():
        return csv
    shutil.rmtree(work, ignore_errors=True)
    (work / "store").mkdir(parents=True)
    env = _env(work)
    subprocess.run(atlas("boundaries", "add", str(england), "--name", SET_NAME, "--level", "lsoa",
                         "--vintage", "LSOA 2011"), env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    pop = pd.read_csv(shared / "population" / "lsoa_population.csv", dtype={"lsoa_code": str})
    pop_cols = ["population_total", "population_16_plus", "population_18_plus", "population_16_plus_female"]
    pop_csv = work / "england_population.csv"
    pop.rename(columns={"lsoa_code": "code"})[["code", *pop_cols]].to_csv(pop_csv, index=False)
    subprocess.run(atlas("population", "add", str(pop_csv), "--boundaries", SET_NAME), env=env, cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    import geopandas as gpd

    areas = gpd.read_parquet(england).sort_values("code")
    xy = np.column_stack([areas.geometry.centroid.x, areas.geometry.centroid.y])
    cube = _inputs.synthetic_counts(xy).astype(np.int64)
    months = _inputs.month_labels()
    n, t = cube.shape
    pd.DataFrame({
        "area_code": np.repeat(areas["code"].to_numpy(), t),
        "period": np.tile(np.array(months), n),
        "count": cube.ravel(),
    }).to_csv(csv, index=False)
    done.write_text("ok\n")
    return csv


def esda_loop_seconds(months: int) -> tuple[float, str]:
    """esda G_Local(star=True, permutations=0) per month on prebuilt libpysal weights, extrapolated to 72."""
    import warnings

    import esda
    import geopandas as gpd
    import numpy as np

    from geo.weights import build_weights

    areas = gpd.read_parquet(_inputs.shared_data_dir() / _inputs.ENGLAND_LSOA).sort_values("code", ignore_index=True)
    xy = np.column_stack([areas.geometry.centroid.x, areas.geometry.centroid.y])
    cube = _inputs.synthetic_counts(xy)
    sw, _ = build_weights(areas, method="queen")
    lw = sw.libpysal
    per = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        esda.G_Local(cube[:, 0], lw, transform="B", star=True, permutations=0)  # first call excluded
        for k in range(months):
            t0 = time.perf_counter()
            esda.G_Local(cube[:, k], lw, transform="B", star=True, permutations=0)
            per.append(time.perf_counter() - t0)
    return statistics.median(per) * 72, (
        f"esda {esda.__version__} G_Local(star=True, transform='B', permutations=0) per month on prebuilt weights "
        f"(weights excluded), median of {months} months x 72"
    )


def workloads(csv: Path, outdir: Path) -> list[tuple[str, list[str], Target]]:
    """(name, command, target) of every whole-command workload."""
    out = lambda name: ["--out", str(outdir / f"{name}.csv")]  # noqa: E731
    common = ["--dataset", DATASET, "--level", "lsoa"]
    return [
        ("help", atlas("--help"), Target("<= 0.5 s", 0.5)),
        ("import", atlas("import", str(csv), "--dataset", DATASET, "--kind", "counts", "--boundaries", SET_NAME),
         Target("<= 4 s, RSS <= 1 GB", 4.0)),
        ("emerging", atlas("emerging", *common, "--grain", "month", *out("emerging")),
         Target("<= 3 s, >= 15x esda loop, RSS <= 1 GB", 3.0, min_esda_ratio=15.0)),
        ("hotspots", atlas("hotspots", *common, "--grain", "month", "--period", LAST_MONTH, "--permutations", "999",
                           *out("hotspots")), Target("<= 2 s, RSS <= 1 GB", 2.0)),
        ("rates", atlas("rates", *common, "--grain", "month", "--period", LAST_MONTH, *out("rates")),
         Target("<= 2 s, RSS <= 1 GB", 2.0)),
        ("rates_fy", atlas("rates", *common, "--grain", "fy", *out("rates_fy")), Target("<= 2 s, RSS <= 1 GB", 2.0)),
        ("seed", atlas("seed", *common, *out("seed")), Target("<= 2 s, RSS <= 1 GB", 2.0)),
        ("priority", atlas("priority", *common, "--grain", "quarter", *out("priority")),
         Target("<= 2 s, RSS <= 1 GB", 2.0)),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "atlas-national")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--esda-months", type=int, default=6, help="months of the esda loop to time (x 72)")
    ap.add_argument("--no-esda", action="store_true", help="skip the esda baseline (ratios not shown)")
    a = ap.parse_args(argv)
    work = a.workdir.resolve()
    t0 = time.perf_counter()
    csv = set_up(work)
    print(f"set-up ready in {time.perf_counter() - t0:.1f} s ({work})", flush=True)
    outdir = work / "out"
    outdir.mkdir(exist_ok=True)
    results: list[Result] = []
    store = work / "store" / "atlas.duckdb"
    for name, cmd, target in workloads(csv, outdir):
        if a.only and name not in a.only and not (name == "import" and not store.exists()):
            continue
        r = Result(name, " ".join(["atlas", *cmd[3:]]).replace(str(work), "$WORK"), target=target)
        for k in range(a.repeat + (0 if name in ("help", "import") else 1)):
            if name == "import":
                fresh = work / "store" / "import-run.duckdb"
                fresh.unlink(missing_ok=True)
                wall, cpu, rss, _ = run_timed(cmd, _env(work, fresh), ROOT)
                os.replace(fresh, store)  # the last import's store serves the analysis commands
            else:
                if k == 0 and name != "help":
                    shutil.rmtree(work / "home" / "cache", ignore_errors=True)  # cold weights cache
                wall, cpu, rss, _ = run_timed(cmd, _env(work), ROOT)
                if k == 0 and name != "help":
                    r.first_s = wall
                    r.rss_mb.append(rss)
                    continue
            r.seconds.append(wall)
            r.cpu_s.append(cpu)
            r.rss_mb.append(rss)
        print(f"  {name:<9} {r.median_s:6.2f} s (CPU {r.median_cpu:5.2f} s)  peak RSS {r.peak_rss:5.0f} MB"
              + (f"  (cold weights {r.first_s:.2f} s)" if r.first_s else ""), flush=True)
        results.append(r)
    esda_note = ""
    if not a.no_esda and any(r.name == "emerging" for r in results):
        esda_s, esda_note = esda_loop_seconds(a.esda_months)
        for r in results:
            if r.name == "emerging":
                r.esda_s = esda_s
    from benchmarks._inputs import machine_facts

    facts = machine_facts()
    print()
    print(f"Hotspot Atlas national benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    print(f"data: {len(_inputs.month_labels())} months x 32,844 England LSOAs; --repeat {a.repeat}")
    print()
    print("| command (whole process) | median (s) | CPU user+sys (s) | cold weights (s) | esda loop (s) | esda/ours "
          "| peak RSS (MB) | target | result |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r.esda_s / r.median_s:.1f}x" if r.esda_s else "-"
        print(f"| `{r.command}` | {r.median_s:.2f} | {r.median_cpu:.2f} | {r.first_s and f'{r.first_s:.2f}' or '-'} | "
              f"{r.esda_s and f'{r.esda_s:.1f}' or '-'} | {ratio} | {r.peak_rss:.0f} | {r.target.text} | {r.verdict()} |")
    if esda_note:
        print(f"\n- esda: {esda_note}")
    if a.json:
        a.json.write_text(json.dumps([{**r.__dict__, "target": r.target.text, "verdict": r.verdict(),
                                       "median_s": r.median_s, "median_cpu_s": r.median_cpu} for r in results], indent=1))
    return 0 if all(r.verdict() in ("PASS", "-") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
