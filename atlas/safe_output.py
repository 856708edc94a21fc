"""Every table Hotspot Atlas writes for a spreadsheet goes through here, with formula cells neutralised.

The rule (OWASP, "CSV Injection"): a text cell or header beginning with = + - @, tab or carriage return
gets a leading apostrophe, so Excel, LibreOffice and Google Sheets show it as text instead of running
it. Numeric columns, and text that is a plain number ("-3", "-3.5"), are left alone so a negative change
stays a number. The writers: ``write_csv`` (command output, file or standard output), ``csv_bytes``
(the dashboard's download buttons) and ``write_xlsx`` (``atlas export``); the rejected-rows CSV
(``ingest.report``) and the briefing PDF's tables use ``neutralise`` too. A CSV whose text holds a
carriage return is written with CRLF rows, so that cell is quoted rather than split into a new row.

National tables have millions of rows, so the check is vectorised: for Arrow-backed text it reads the
first byte of every string straight from the Arrow buffers; a categorical column is checked once per
category; other text once per distinct value.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Spreadsheet programs run cells starting with these as formulas (OWASP "CSV Injection").
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# The prefixes as bytes: all are ASCII, and no byte of a multi-byte UTF-8 character is ASCII.
_RISKY_BYTES = np.array([ord(c) for c in FORMULA_PREFIXES], dtype=np.uint8)
_APOSTROPHE, _CR = ord("'"), ord("\r")


def needs_escape(text: str, keep_numbers: bool = True) -> bool:
    """Would a spreadsheet run ``text`` as a formula (plain numbers exempt unless ``keep_numbers`` is False)?"""
    return text.startswith(FORMULA_PREFIXES) and not (keep_numbers and _PLAIN_NUMBER.fullmatch(text))


def neutralise_text(text: Any, keep_numbers: bool = True) -> Any:
    """One value as written: risky text gets a leading apostrophe; anything else comes back unchanged."""
    if isinstance(text, str) and needs_escape(text, keep_numbers):
        return "'" + text
    return text


def neutralise(table: pd.DataFrame, keep_numbers: bool = True) -> pd.DataFrame:
    """A copy of ``table`` whose text cells and headers cannot run as spreadsheet formulas; dtypes and attrs kept."""
    return _neutralised(table, keep_numbers)[0]


def write_csv(
    table: pd.DataFrame, out: str | Path | None, *, encoding: str = "utf-8", announce: bool = True,
    keep_numbers: bool = True,
) -> None:
    """Write ``table`` neutralised to ``out`` (or standard output); with ``announce`` the row count goes to stderr."""
    safe, has_cr = _neutralised(table, keep_numbers)
    if out is None:
        safe.to_csv(sys.stdout, index=False, lineterminator=_line_end(has_cr))
        return
    if encoding == "utf-8" and not has_cr:
        from atlas.fast_csv import write_csv_file  # DuckDB for large tables: same text, ~10x faster

        write_csv_file(safe, out)
    else:
        safe.to_csv(out, index=False, encoding=encoding, lineterminator=_line_end(has_cr))
    if announce:
        print(f"wrote {len(table)} rows to {out}", file=sys.stderr)


def csv_bytes(table: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    """``table`` neutralised as CSV bytes, for a download button."""
    safe, has_cr = _neutralised(table, True)
    return safe.to_csv(index=False, lineterminator=_line_end(has_cr)).encode(encoding)


def _line_end(has_cr: bool) -> str:
    # Python's csv writer quotes a field only for the characters of the line terminator: with "\n" a
    # carriage return inside a cell goes out bare, and Excel starts a new row there, so the rest of the
    # cell ("x\r=HYPERLINK(...)") would be a formula cell of its own. RFC 4180's "\r\n" quotes it.
    return "\r\n" if has_cr else "\n"


def write_xlsx(out: str | Path, sheets: Mapping[str, pd.DataFrame], freeze_header: Collection[str] = ()) -> Path:
    """Write each (sheet name, table) neutralised to an XLSX workbook; ``freeze_header`` sheets keep row 1 in view."""
    with pd.ExcelWriter(out, engine="openpyxl") as xl:
        for name, table in sheets.items():
            neutralise(table).to_excel(xl, sheet_name=name, index=False,
                                       freeze_panes=(1, 0) if name in freeze_header else None)
        _no_formula_cells(xl.book)
    return Path(out)


def _no_formula_cells(book: Any) -> None:
    """openpyxl stores a string starting with '=' as a formula: turn any such cell back into text."""
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":  # only if neutralising missed one (it should not)
                    cell.value, cell.data_type = "'" + str(cell.value), "s"


# ---------------------------------------------------------------------------- one column


def _neutralised(table: pd.DataFrame, keep_numbers: bool) -> tuple[pd.DataFrame, bool]:
    """(``table`` neutralised, whether any text cell or header holds a carriage return)."""
    out = table.copy(deep=False)  # columns are replaced, never edited in place
    has_cr = any("\r" in c for c in out.columns if isinstance(c, str))
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        safe, cr = _neutralise_column(col, keep_numbers)
        has_cr |= cr
        if safe is not col:
            out.isetitem(i, safe)
    out.columns = [neutralise_text(c, keep_numbers) for c in out.columns]
    return out, has_cr


def _neutralise_column(col: pd.Series, keep_numbers: bool) -> tuple[pd.Series, bool]:
    """(``col`` itself when nothing in it is risky, else a new Series like it; whether a cell holds a CR)."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype) or \
            pd.api.types.is_datetime64_any_dtype(dtype):
        return col, False
    if isinstance(dtype, pd.CategoricalDtype):
        return _neutralise_categorical(col, keep_numbers)
    scan = _arrow_scan(col)
    if scan is None:  # not Arrow-backed text: check each distinct value once
        return _neutralise_by_value(col, keep_numbers)
    candidates, has_cr = scan
    if not candidates.any():
        return col, has_cr
    # Few rows start with a risky character: settle those (each distinct value once) and replace them.
    pos = np.flatnonzero(candidates)
    sub = col.iloc[pos]
    safe, _ = _neutralise_by_value(sub, keep_numbers)
    if safe is sub:  # only plain numbers such as "-3"
        return col, has_cr
    changed = pos[safe.to_numpy(dtype=object) != sub.to_numpy(dtype=object)]
    out = _prefix_arrow(col, changed)
    if out is None:
        out = col.copy()
        out.iloc[pos] = safe.to_numpy(dtype=object)
    return out, has_cr


def _neutralise_categorical(col: pd.Series, keep_numbers: bool) -> tuple[pd.Series, bool]:
    """A categorical column: neutralise its categories, not its rows."""
    cats = col.cat.categories.tolist()
    has_cr = any(isinstance(c, str) and "\r" in c for c in cats)
    new = [neutralise_text(c, keep_numbers) for c in cats]
    if all(a is b for a, b in zip(new, cats)):
        return col, has_cr
    if len(set(new)) == len(new):
        return col.cat.rename_categories(new), has_cr
    return _neutralise_by_value(col.astype(object), keep_numbers)  # "=x" and "'=x" would merge: plain text


def _neutralise_by_value(col: pd.Series, keep_numbers: bool) -> tuple[pd.Series, bool]:
    """Any text column: factorise, neutralise each distinct value once, rebuild only if one changed."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    values = np.asarray(uniques, dtype=object)
    has_cr = any(isinstance(v, str) and "\r" in v for v in values)
    new = np.array([neutralise_text(v, keep_numbers) for v in values], dtype=object)
    changed = np.fromiter((a is not b for a, b in zip(new, values)), dtype=bool, count=len(values))
    if not changed.any():
        return col, has_cr
    missing = codes < 0
    rebuilt = new.take(np.where(missing, 0, codes))
    if missing.any():
        rebuilt[missing] = col.to_numpy(dtype=object)[missing]  # keep NaN / None / NA as they were
    out = pd.Series(rebuilt, index=col.index, name=col.name, dtype=object)
    if pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_object_dtype(col.dtype):
        out = out.astype(col.dtype)  # keep str / string columns as they were
    return out, has_cr


def _string_chunks(col: pd.Series) -> list[Any] | None:
    """The Arrow chunks of an Arrow-backed text column (string or large_string), else None."""
    try:
        import pyarrow as pa
    except ImportError:  # pandas falls back to Python strings without pyarrow
        return None
    arr = getattr(col.array, "_pa_array", None)
    if not isinstance(arr, pa.ChunkedArray) or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr.chunks


def _offsets(chunk: Any) -> np.ndarray:
    """The n + 1 string offsets of one chunk: positions in its data buffer (slicing accounted for)."""
    import pyarrow as pa

    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    return np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]


def _arrow_scan(col: pd.Series) -> tuple[np.ndarray, bool] | None:
    """(rows starting with a formula character, whether any text holds a CR) from the Arrow buffers, else None."""
    chunks = _string_chunks(col)
    if chunks is None:
        return None
    parts, has_cr = [np.zeros(0, dtype=bool)], False
    for chunk in chunks:
        data = chunk.buffers()[2]
        if data is None or data.size == 0:  # only empty strings and nulls
            parts.append(np.zeros(len(chunk), dtype=bool))
            continue
        raw = np.frombuffer(data, dtype=np.uint8)
        offsets = _offsets(chunk)
        starts = offsets[:-1]
        first = np.take(raw, starts, mode="clip")  # an empty string's "first byte" is masked out below
        risky = np.isin(first, _RISKY_BYTES, kind="table") & (offsets[1:] > starts)
        if chunk.null_count:
            risky &= chunk.is_valid().to_numpy(zero_copy_only=False)
        parts.append(risky)
        has_cr = has_cr or _holds_byte(raw[offsets[0]:offsets[-1]], _CR)
    return np.concatenate(parts), has_cr


def _holds_byte(raw: np.ndarray, value: int, block: int = 1 << 20) -> bool:
    """Does ``raw`` hold the byte ``value``? Compared a megabyte at a time, so the temporary stays in cache."""
    return any((raw[i:i + block] == value).any() for i in range(0, raw.size, block))


def _insert_byte(raw: np.ndarray, at: np.ndarray, value: int) -> np.ndarray:
    """``raw`` with the byte ``value`` inserted before each of the sorted positions ``at``."""
    if len(at) > 10_000:  # many insertions: numpy's masked copy
        return np.insert(raw, at, value)
    # A few: copy the runs between them (np.insert would build a mask over every byte, ~30 ms for 50 MB).
    out = np.empty(raw.size + len(at), dtype=raw.dtype)
    prev = 0
    for j, pos in enumerate(at.tolist()):
        out[prev + j:pos + j] = raw[prev:pos]
        out[pos + j] = value
        prev = pos
    out[prev + len(at):] = raw[prev:]
    return out


def _prefix_arrow(col: pd.Series, rows: np.ndarray) -> pd.Series | None:
    """``col`` with an apostrophe before the text of ``rows`` (sorted positions), built on new Arrow buffers.

    Setting items of an Arrow string array rebuilds it string by string (~0.1 s for 2.4M rows); inserting the
    bytes with numpy is a few memory copies. None when the column cannot be rebuilt this way.
    """
    import pyarrow as pa

    chunks = _string_chunks(col)
    if chunks is None:
        return None
    bounds = np.cumsum([0, *(len(c) for c in chunks)])
    new_chunks = []
    for i, chunk in enumerate(chunks):
        mine = rows[np.searchsorted(rows, bounds[i]):np.searchsorted(rows, bounds[i + 1])] - bounds[i]
        if not len(mine):
            new_chunks.append(chunk)
            continue
        offsets = _offsets(chunk).astype(np.int64)
        raw = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
        starts = offsets[:-1] - offsets[0]
        shift = np.zeros(len(chunk) + 1, dtype=np.int64)
        shift[mine + 1] = 1
        new_offsets = offsets - offsets[0] + np.cumsum(shift)
        if pa.types.is_string(chunk.type):
            if new_offsets[-1] > np.iinfo(np.int32).max:
                return None  # would overflow 32-bit offsets: let pandas rebuild the column
            new_offsets = new_offsets.astype(np.int32)
        validity = chunk.is_valid().buffers()[1] if chunk.null_count else None
        data = _insert_byte(raw, starts[mine], _APOSTROPHE)
        new_chunks.append(pa.Array.from_buffers(
            chunk.type, len(chunk), [validity, pa.py_buffer(new_offsets), pa.py_buffer(data)],
            null_count=chunk.null_count))
    values = pa.chunked_array(new_chunks, type=chunks[0].type)
    if isinstance(col.dtype, pd.StringDtype):  # pandas' "str" / "string[pyarrow]"
        array = type(col.array)(values, dtype=col.dtype)
    else:  # pd.ArrowDtype(pa.string())
        array = type(col.array)(values)
    return pd.Series(array, index=col.index, name=col.name)


__all__ = [
    "FORMULA_PREFIXES", "csv_bytes", "needs_escape", "neutralise", "neutralise_text", "write_csv", "write_xlsx",
]
