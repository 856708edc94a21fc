"""Read a dataset's stored counts as integer codes (analysis.cube.CodedCounts), coded inside DuckDB.

A national dataset holds millions of rows: turning each key into a Python or Arrow string only to
match it again costs seconds. DuckDB numbers the distinct labels of each key column (sorted, so the
codes are deterministic) and returns int32 codes plus the small dictionaries, in one snapshot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.cube import CodedCounts
from geo.schema import StoreError
from store import cow

_KEYS = ("area_code", "level", "period", "grain", "category")


def read_coded_counts(store: Any, dataset: str) -> tuple[str, CodedCounts]:
    """(boundary set, counts as CodedCounts) of ``dataset`` in ``store``; StoreError when there is no such dataset."""
    with cow.read_connection(store.path, reuse=False) as con:
        found = con.execute("SELECT boundary_set FROM datasets WHERE name = ?", [dataset]).fetchall()
        if not found:
            raise StoreError(f"no dataset named {dataset!r}")
        labels = {
            k: [r[0] for r in con.execute(
                f"SELECT DISTINCT {k} FROM counts WHERE dataset = ? ORDER BY {k}", [dataset]).fetchall()]
            for k in ("area_code", "period")
        }
        # The three small key columns and whether any repeat count is known, in one scan.
        small = con.execute(
            "SELECT list(DISTINCT level ORDER BY level), list(DISTINCT grain ORDER BY grain), "
            "list(DISTINCT category ORDER BY category), count(repeat_count) FROM counts WHERE dataset = ?",
            [dataset]).fetchall()[0]
        labels |= {"level": small[0] or [], "grain": small[1] or [], "category": small[2] or []}
        any_repeat = bool(small[3])
        # Only columns with several labels need numbering; a single label is code 0 everywhere.
        coded = [k for k in _KEYS if len(labels[k]) > 1]
        dims = "".join(
            f", d_{k} AS (SELECT {k}, (row_number() OVER (ORDER BY {k}) - 1)::INTEGER AS i_{k} "
            f"FROM (SELECT DISTINCT {k} FROM c))"
            for k in coded
        )
        joins = "".join(f" JOIN d_{k} USING ({k})" for k in coded)
        sql = (
            "WITH c AS (SELECT area_code, level, period, grain, category, count, repeat_count "
            f"FROM counts WHERE dataset = $dataset){dims} "
            f"SELECT {''.join(f'i_{k}, ' for k in coded)}c.count::BIGINT AS count"
            f"{', c.repeat_count::DOUBLE AS repeat' if any_repeat else ''} FROM c{joins}"
        )
        rows = con.execute(sql, {"dataset": dataset}).fetchnumpy()
    n = len(rows["count"])

    def codes(k: str) -> np.ndarray:
        return np.asarray(rows[f"i_{k}"], dtype=np.int32) if k in coded else np.zeros(n, dtype=np.int32)

    repeat = rows["repeat"] if any_repeat else np.full(n, np.nan)
    repeat = np.ma.filled(repeat.astype(float), np.nan) if np.ma.isMaskedArray(repeat) else repeat.astype(float)
    return str(found[0][0]), CodedCounts(
        area=codes("area_code"), level=codes("level"), period=codes("period"), grain=codes("grain"),
        category=codes("category"), count=np.asarray(rows["count"], dtype=np.int64),
        repeat=np.asarray(repeat, dtype=float), area_codes=np.asarray(labels["area_code"], dtype=object),
        levels=tuple(labels["level"]), periods=tuple(labels["period"]), grains=tuple(labels["grain"]),
        categories=tuple(labels["category"]),
    )


__all__ = ["read_coded_counts"]
