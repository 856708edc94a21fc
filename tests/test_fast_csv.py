"""atlas.fast_csv: DuckDB writes the same CSV bytes as pandas for the tables the commands produce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas import fast_csv
from atlas.fast_csv import duckdb_can_write, write_csv_file


@pytest.fixture(autouse=True)
def always_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small test tables take the DuckDB path too."""
    monkeypatch.setattr(fast_csv, "MIN_CELLS", 0)


def _both(table: pd.DataFrame, tmp_path: Path) -> tuple[bytes, bytes]:
    """(pandas bytes, write_csv_file bytes) of ``table``."""
    table.to_csv(tmp_path / "pandas.csv", index=False, lineterminator="\n")
    write_csv_file(table, tmp_path / "fast.csv")
    return (tmp_path / "pandas.csv").read_bytes(), (tmp_path / "fast.csv").read_bytes()


@pytest.mark.parametrize("command", ["rates", "priority", "emerging", "seed"])
def test_command_tables_are_byte_identical(command: str, demo_store: Path, demo_dataset: tuple[str, str],
                                           tmp_path: Path) -> None:
    from atlas import analyses
    from store import Store

    store, name = Store(demo_store), demo_dataset[0]
    table = {
        "rates": lambda: analyses.rates_table(store, name, "lsoa", "month"),
        "priority": lambda: analyses.priority_table(store, name, "ward", "quarter"),
        "emerging": lambda: analyses.emerging_table(store, name, "lsoa", "month"),
        "seed": lambda: analyses.seed_rates(store, name, "ward"),
    }[command]()
    assert duckdb_can_write(table), table.dtypes.to_dict()
    slow, fast = _both(table, tmp_path)
    assert len(slow) > 1000
    assert fast == slow


def test_awkward_values_are_byte_identical(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 500
    table = pd.DataFrame({
        "text": pd.array(rng.choice(['a,b', 'q"x', "plain", "=1", " lead", "é", "two\nlines", "NA", "nan", None], n),
                         dtype="str"),
        "obj": np.array(rng.choice(["x", "y;z", "'quoted'"], n), dtype=object),
        "cat": pd.Categorical(rng.choice(["Hot", "Cold", None], n)),
        "i": rng.integers(-10**12, 10**12, n),
        "small": rng.integers(0, 5, n).astype(np.int8),
        "nullable": pd.array(np.where(rng.random(n) < 0.3, None, rng.integers(0, 9, n)), dtype="Int64"),
        "f": np.concatenate([[np.nan, np.inf, -np.inf, -0.0, 1e-300, 1e16, 1e-5, 0.1, 2.0, 1 / 3],
                             rng.normal(0, 1e3, n - 10)]),
    })
    assert duckdb_can_write(table)
    slow, fast = _both(table, tmp_path)
    assert fast == slow


@pytest.mark.parametrize("table", [
    pd.DataFrame({"flag": [True, False], "x": [1, 2]}),                       # bools: True vs true
    pd.DataFrame({"mixed": ["a", 1], "x": [1, 2]}, dtype=object),              # mixed objects
    pd.DataFrame({"only": [1.0, np.nan]}),                                     # one column
    pd.DataFrame([[1, 2]], columns=["a", "a"]),                                # duplicate headers
    pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-02-01"]), "x": [1, 2]}),
])
def test_other_tables_go_through_pandas(table: pd.DataFrame, tmp_path: Path) -> None:
    assert not duckdb_can_write(table)
    slow, fast = _both(table, tmp_path)
    assert fast == slow


def test_documented_differences_still_read_back_the_same(tmp_path: Path) -> None:
    table = pd.DataFrame({"text": pd.array(["", "a\rb", "c"], dtype="str"), "x": [1, 2, 3]})
    write_csv_file(table, tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == b'text,x\n"",1\n"a\rb",2\nc,3\n'
    back = pd.read_csv(tmp_path / "fast.csv", keep_default_na=False, dtype={"text": str})
    assert back["text"].tolist() == ["", "a\rb", "c"]


def test_failed_copy_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    def broken(*_a, **_k):
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(duckdb, "connect", broken)
    table = pd.DataFrame({"a": ["x", "y"], "b": [1.5, 2.5]})
    out = tmp_path / "out"
    out.mkdir()
    write_csv_file(table, out / "table.csv")  # falls back to pandas
    assert (out / "table.csv").read_bytes() == table.to_csv(index=False, lineterminator="\n").encode()
    assert [p.name for p in out.iterdir()] == ["table.csv"]
