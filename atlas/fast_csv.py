"""CSV files of large tables written by DuckDB's COPY: the text pandas' ``to_csv`` writes ("\n" rows), ~10x faster.

pandas formats each float through numpy's repr (1-2 µs a value): a national rates table (197,064 rows, ten
float columns) takes 3-5 s to write, longer than its analysis. DuckDB prints doubles with the same shortest
round-trip digits and quotes fields the same way, so for the column types accepted here the files are the same
bytes (tests/test_fast_csv.py). Two deliberate differences, both still one empty or one text cell to any CSV
reader: an empty string is written ``""`` rather than nothing, and a field holding a carriage return is quoted
(pandas leaves it bare, which splits the row in some readers). Any other table goes through pandas.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# Below this many cells pandas is as quick as starting DuckDB.
MIN_CELLS = 200_000


def write_csv_file(table: pd.DataFrame, path: Path | str) -> None:
    """Write ``table`` (no index, UTF-8, header row, "\n" rows) to ``path``: DuckDB for large plain tables, else pandas."""
    if table.size < MIN_CELLS or not duckdb_can_write(table):
        table.to_csv(path, index=False, lineterminator="\n")
        return
    import duckdb

    path = Path(path)
    # Written beside the target and renamed, so a failed COPY leaves no half file behind.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    con, give_back = _instance()
    try:
        con.register("atlas_table", table)
        con.execute(f"COPY atlas_table TO '{_sql_path(tmp)}' (FORMAT csv, HEADER true, DELIMITER ',')")
        con.unregister("atlas_table")
        os.replace(tmp, path)
    except duckdb.Error:
        con.close()
        Path(tmp).unlink(missing_ok=True)
        table.to_csv(path, index=False, lineterminator="\n")
    except BaseException:
        con.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    else:
        give_back(con)


def _instance():
    """(an in-memory DuckDB connection, the function to call with it when done).

    A process that has read the store holds idle in-memory instances (store.cow's pool): borrowing one
    saves starting another DuckDB (~20-40 ms of every command that writes a large CSV).
    """
    import sys

    cow = sys.modules.get("store.cow")
    take, give = getattr(cow, "_take_instance", None), getattr(cow, "_return_instance", None)
    if callable(take) and callable(give):
        return take(), give
    import duckdb

    return duckdb.connect(), lambda con: con.close()


def duckdb_can_write(table: pd.DataFrame) -> bool:
    """Whether DuckDB writes ``table`` as pandas would: unique text headers, numbers and text columns only."""
    import pandas as pd

    names = list(table.columns)
    # One column: pandas writes an empty cell as "" so the row is not a blank line; DuckDB does not.
    if len(names) < 2 or not all(type(c) is str for c in names) or len(set(names)) != len(names):
        return False
    for name in names:
        dtype = table[name].dtype
        if isinstance(dtype, pd.StringDtype) or isinstance(dtype, pd.CategoricalDtype) and _text(dtype.categories):
            continue
        if pd.api.types.is_bool_dtype(dtype):  # pandas writes True, DuckDB true
            return False
        if pd.api.types.is_integer_dtype(dtype) or dtype == "float64":
            continue
        if dtype == object and _text(table[name]):
            continue
        return False
    return True


def _text(values: pd.Series | pd.Index) -> bool:
    """Whether every non-missing value is a str (an object column of mixed values is formatted differently)."""
    import pandas as pd

    return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _sql_path(path: str) -> str:
    """``path`` as a SQL string literal body (quotes doubled)."""
    return path.replace("'", "''")
