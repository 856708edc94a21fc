"""Store under real processes: a SIGKILLed writer leaves the old store; readers never see a partial import."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from geo.schema import PROJECT_ROOT
from store import Store

# Shared by the child processes: a fake import whose counts are all 1, so a whole store always
# has total == n_rows == ROWS * number of imports, and any partial import would break that.
CHILD_PRELUDE = textwrap.dedent(
    """
    import sys, time
    from dataclasses import dataclass
    import numpy as np, pandas as pd
    from store import Store

    @dataclass
    class Report:
        file_name: str
        sha256: str
        kind: str = "counts"
        rows_read: int = 0
        rows_accepted: int = 0
        rows_rejected: int = 0
        def to_dict(self):
            return {"file_name": self.file_name, "sha256": self.sha256}

    @dataclass
    class Result:
        counts: pd.DataFrame
        report: Report

    def result(k, rows):
        n_areas = rows // 10
        areas = np.repeat([f"E01{i:06d}" for i in range(n_areas)], 10)
        periods = np.tile([f"{2000 + k}-{m:02d}" for m in range(1, 11)], n_areas)
        counts = pd.DataFrame({"area_code": areas, "level": "lsoa", "period": periods, "grain": "month",
                               "category": "All", "count": np.ones(rows, dtype="int64"),
                               "repeat_count": pd.array([pd.NA] * rows, dtype="Int64")})
        return Result(counts, Report(f"file{k}.csv", f"{k:064d}", rows_read=rows, rows_accepted=rows))
    """
)


def _run_child(body: str, store_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "ATLAS_STORE": str(store_path)}
    code = CHILD_PRELUDE + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.communicate()[1]}")
        if time.monotonic() > end:
            proc.kill()
            proc.communicate()
            raise AssertionError("child never got ready")
        time.sleep(0.02)


def _assert_whole(s: Store, rows: int) -> int:
    """The store opens and holds whole imports only; returns the number of imports."""
    info = s.dataset("ds")
    n_imports = len(s.import_log("ds"))
    assert info["n_imports"] == n_imports
    assert info["n_rows"] == info["total_count"] == rows * n_imports
    return n_imports


def test_writer_killed_mid_commit_leaves_previous_store(atlas_home: Path) -> None:
    rows = 200_000
    s = Store()
    s.create_dataset("ds", "set")
    ready = atlas_home / "ready"
    # Import 1 completes; import 2 is killed inside the transaction, after its counts are written.
    child = _run_child(
        """
        s = Store()
        s.commit_import("ds", result(1, int(sys.argv[2])))
        original = Store._insert_import
        def stall(*a, **k):
            original(*a, **k)
            open(sys.argv[1], "w").close()
            time.sleep(120)
        Store._insert_import = staticmethod(stall)
        s.commit_import("ds", result(2, int(sys.argv[2])))
        """,
        s.path, str(ready), str(rows),
    )
    _wait_for(ready, child)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL

    assert _assert_whole(Store(), rows) == 1
    # The killed writer's copy is still there; the lock died with it, so the next write proceeds
    # at once and sweeps the copy away.
    assert list(atlas_home.glob("atlas.duckdb.*.tmp*"))
    t0 = time.monotonic()
    Store().create_dataset("after", "set")
    assert time.monotonic() - t0 < 5
    assert not list(atlas_home.glob("atlas.duckdb.*.tmp*"))
    assert not list(atlas_home.glob("*.wal"))


def test_writer_killed_at_random_moments_leaves_a_whole_store(atlas_home: Path) -> None:
    rows = 60_000
    s = Store()
    s.create_dataset("ds", "set")
    rnd = random.Random(1234)
    seen = []
    for attempt in range(2):
        start = _assert_whole(Store(), rows)
        ready = atlas_home / f"started{attempt}"
        child = _run_child(
            """
            s = Store()
            open(sys.argv[1], "w").close()
            k = int(sys.argv[3])
            while True:
                k += 1
                s.commit_import("ds", result(k, int(sys.argv[2])))
            """,
            s.path, str(ready), str(rows), str(100 * (attempt + 1)),
        )
        _wait_for(ready, child)
        time.sleep(rnd.uniform(0.2, 1.5))  # lands anywhere: copy, insert, checkpoint, fsync, rename
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=10)
        seen.append(_assert_whole(Store(), rows) - start)
    assert sum(seen) >= 0  # whole imports only were checked above; how many landed is timing


def test_readers_never_see_a_partial_import(atlas_home: Path) -> None:
    rows, n_imports = 10_000, 4
    s = Store()
    s.create_dataset("ds", "set")
    ready, stop = atlas_home / "reader_ready", atlas_home / "stop"
    reader = _run_child(
        """
        import json, os
        s = Store()
        totals, errors = [], []
        open(sys.argv[1], "w").close()
        while not os.path.exists(sys.argv[2]):
            try:
                d = s.datasets().set_index("name").loc["ds"]
                totals.append([int(d["total_count"]), int(d["n_rows"]), int(d["n_imports"])])
            except Exception as exc:  # any error is a failure of the store's promise
                errors.append(repr(exc))
            time.sleep(0.005)  # leave the (possibly 2-core) machine some room for the writer
        print(json.dumps({"totals": totals, "errors": errors}))
        """,
        s.path, str(ready), str(stop),
    )
    _wait_for(ready, reader)
    writer = _run_child(
        """
        s = Store()
        for k in range(int(sys.argv[2])):
            s.commit_import("ds", result(k, int(sys.argv[1])))
            time.sleep(0.05)
        """,
        s.path, str(rows), str(n_imports),
    )
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    time.sleep(0.2)
    stop.touch()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert result["errors"] == []
    totals = result["totals"]
    assert len(totals) >= 10
    consistent = {(rows * k, rows * k, k) for k in range(n_imports + 1)}
    assert {tuple(t) for t in totals} <= consistent
    # The reader really overlapped the writer: it saw more than the first and last states.
    assert len({tuple(t) for t in totals}) >= 3
    assert tuple(totals[-1]) == (rows * n_imports, rows * n_imports, n_imports)


def test_pooled_reader_instances_see_the_replaced_file_and_are_not_shared(tmp_path: Path) -> None:
    """Readers reuse idle in-memory DuckDB instances; each read still sees the current file, and
    concurrent readers never share an instance (DuckDB refuses to attach one file twice)."""
    import threading

    import duckdb

    from store import cow

    path = tmp_path / "s.duckdb"

    def write(value: int) -> None:
        tmp = tmp_path / "new.duckdb"
        con = duckdb.connect(str(tmp))
        con.execute("CREATE TABLE t AS SELECT ? AS v", [value])
        con.close()
        os.replace(tmp, path)

    write(1)
    with cow.read_connection(path) as con:
        first = con
        assert con.execute("SELECT v FROM t").fetchone() == (1,)
    write(2)
    with cow.read_connection(path) as con:
        assert con is first  # the idle instance was reused ...
        assert con.execute("SELECT v FROM t").fetchone() == (2,)  # ... and attached the new file
    with cow.read_connection(path) as a, cow.read_connection(path) as b:
        assert a is not b
        assert a.execute("SELECT v FROM t").fetchone() == b.execute("SELECT v FROM t").fetchone() == (2,)
    seen, errors = [], []

    def read() -> None:
        try:
            for _ in range(20):
                with cow.read_connection(path) as con:
                    seen.append(con.execute("SELECT v FROM t").fetchone()[0])
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and seen == [2] * 80
    with pytest.raises(duckdb.Error):
        with cow.read_connection(path) as con:
            con.execute("SELECT * FROM no_such_table")
    with cow.read_connection(path) as con:  # a failed read leaves no broken instance behind
        assert con.execute("SELECT v FROM t").fetchone() == (2,)
