"""Read an incident file (CSV, gzipped CSV or XLSX) into a DataFrame of text, never coercing values.

Encodings tried in order: UTF-16 when a UTF-16 byte-order mark is present (Excel "Unicode text"),
UTF-8 (with or without BOM), then Windows-1252 (what Excel writes for "CSV" on Windows).
The delimiter (, ; tab |) is chosen from the header line, with ``csv.Sniffer`` breaking ties.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import re
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from geo.schema import InputError

__all__ = ["RawTable", "read_table", "system_arrow_memory"]

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
# A non-ASCII UTF-8 sequence (2, 3 or 4 bytes): its presence in a file that is not UTF-8 throughout means
# the file mixes encodings.
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
# A gzip file is unpacked in memory: refuse one that unpacks to more than this (a "zip bomb").
MAX_DECOMPRESSED_BYTES = 1 << 30
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
# A line that is empty or whitespace only (pyarrow would skip it and shift row numbers).
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass
class RawTable:
    """File contents as text: ``frame`` has string columns ('' for empty cells)."""

    frame: pd.DataFrame
    row_number: np.ndarray  # 1-based data row of each frame row in the file (header excluded)
    file_name: str
    sha256: str
    notes: list[str] = field(default_factory=list)


@contextmanager
def system_arrow_memory() -> Iterator[None]:
    """Let Arrow allocate with the system allocator inside the block, then restore its default.

    A national file makes hundreds of MB of short-lived Arrow buffers. Arrow's default allocator
    (mimalloc) got them from the kernel in a way that cost ~1.2 s of system time per national import
    on our 2-core VM (few, expensive page faults); glibc's malloc cost ~0.1 s and less peak memory.
    Buffers remember their pool, so switching back while some are alive is safe.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def read_table(path: str | Path, file_name: str | None = None, sheet: str | None = None) -> RawTable:
    """Read ``path`` as text cells; raise InputError naming the file when it cannot be read at all."""
    path = Path(path)
    name = file_name or path.name
    if not path.is_file():
        raise InputError(name, "file not found" if not path.exists() else "is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or exc})") from exc
    sha = hashlib.sha256(data).hexdigest()
    notes: list[str] = []

    if data[:2] == _GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(MAX_DECOMPRESSED_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(name, f"is not a valid gzip file ({exc})") from exc
        if len(data) > MAX_DECOMPRESSED_BYTES:
            raise InputError(name, f"unpacks to more than {MAX_DECOMPRESSED_BYTES // 2**20:,} MB; split it or "
                             "import it uncompressed")
        notes.append("file was gzip-compressed")
    if not data or data.isspace():  # as `not data.strip()`, without copying a large file
        raise InputError(name, "the file is empty")

    if data[:4] == _ZIP_MAGIC:
        frame, row_number = _read_xlsx(data, name, sheet, notes)
    elif data[:4] == _OLE_MAGIC:
        raise InputError(name, "is an old binary Excel .xls file; save it as .xlsx or CSV")
    else:
        if sheet is not None:
            raise InputError(name, f"a sheet ({sheet!r}) was given but this is not an XLSX workbook")
        text = _decode(data, name, notes)
        del data  # the decoded text is all we need; free the bytes before parsing (large files)
        frame, row_number = _read_text(text, name, notes)

    frame, row_number = _drop_empty(frame, row_number, notes)
    if len(frame) == 0:
        raise InputError(name, f"has a header row but no data rows (columns: {_cols(frame)})")
    if frame.shape[1] == 1:
        raise InputError(
            name,
            f"only one column was found ({_cols(frame)}); separate columns with a comma, semicolon, "
            "tab or | (is the delimiter something else?)",
        )
    return RawTable(frame=frame, row_number=row_number, file_name=name, sha256=sha, notes=notes)


def _cols(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    shown = ", ".join(repr(c[:60]) for c in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def _decode(data: bytes, name: str, notes: list[str]) -> str:
    """Bytes to text: UTF-16 (BOM), else UTF-8 (BOM optional), else Windows-1252."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(name, f"starts with a UTF-16 mark but is not valid UTF-16 ({exc.reason})") from exc
        notes.append("encoding: UTF-16")
    else:
        try:
            text = data.decode("utf-8-sig")
            notes.append("encoding: UTF-8 with BOM" if data[:3] == b"\xef\xbb\xbf" else "encoding: UTF-8")
        except UnicodeDecodeError:
            text = _decode_mixed(data, name, notes)
    if "\x00" in text:
        raise InputError(name, "contains NUL bytes: it looks like a binary file, not CSV text")
    return text


def _decode_mixed(data: bytes, name: str, notes: list[str]) -> str:
    """Not UTF-8 as a whole: Windows-1252, or line by line when some lines are UTF-8 and others not.

    A file pasted together from two exports can hold both; decoding it all as Windows-1252 would turn
    every UTF-8 "é" into "Ã©" and split one category into two. Non-ASCII UTF-8 sequences almost never
    occur by chance in Windows-1252 text, so a line that decodes as UTF-8 is taken as UTF-8.
    """
    if not _UTF8_MULTIBYTE.search(data):
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InputError(name, f"is neither UTF-8 nor Windows-1252 text (byte {exc.start}); is it a CSV file?") from exc
        notes.append("encoding: Windows-1252 (the file is not valid UTF-8)")
        return text
    lines = data.split(b"\n")
    utf8 = np.zeros(len(lines), dtype=bool)  # lines with non-ASCII bytes that are valid UTF-8
    other = np.zeros(len(lines), dtype=bool)  # lines that are not valid UTF-8
    out = []
    for i, line in enumerate(lines):
        if line.isascii():
            out.append(line.decode("ascii"))
            continue
        try:
            out.append(line.decode("utf-8-sig" if i == 0 else "utf-8"))
            utf8[i] = True
        except UnicodeDecodeError:
            other[i] = True
            try:
                out.append(line.decode("cp1252"))
            except UnicodeDecodeError as exc:
                raise InputError(
                    name, f"is neither UTF-8 nor Windows-1252 text (line {i + 1}, byte {exc.start}); is it a CSV file?",
                    row=max(i, 1),
                ) from exc
    if utf8.any():
        bad = np.flatnonzero(other)  # 0-based line index = 1-based data row (line 1 is the header)
        shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        notes.append(f"encoding: mixed: UTF-8, except data rows {shown} read as Windows-1252 "
                     "(the file was probably pasted together from two sources; check those rows' text)")
    else:
        notes.append("encoding: Windows-1252 (the file is not valid UTF-8)")
    return "\n".join(out)


def _strip_trailing_blank_lines(text: str) -> str:
    """Remove empty or whitespace-only lines at the end (a regex here is quadratic on big files)."""
    body = text.rstrip("\n")
    while True:
        cut = body.rfind("\n")
        if cut < 0 or body[cut + 1 :].strip(" \t"):
            return body
        body = body[:cut].rstrip("\n")


def _choose_delimiter(text: str) -> str:
    """Delimiter occurring most in the header line; csv.Sniffer breaks ties."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts.values())
    if best == 0:
        return ","
    tied = [d for d, c in counts.items() if c == best]
    if len(tied) == 1:
        return tied[0]
    sample = "\n".join(text[:65536].splitlines()[:20])
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(tied)).delimiter
    except csv.Error:
        return tied[0]
    return sniffed if sniffed in tied else tied[0]


def _read_text(text: str, name: str, notes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Delimited text to string columns, keeping blank rows so row numbers match the file."""
    text = text.lstrip("\r\n")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _strip_trailing_blank_lines(text) + "\n"  # blank lines after the last row shift nothing
    if not text.strip():
        raise InputError(name, "the file is empty")
    sep = _choose_delimiter(text)
    if sep != ",":
        notes.append(f"delimiter: {_DELIMITER_NAMES[sep]}")
    # Fast path (pyarrow, ~20x faster): only when no blank line could shift row numbers and every row has
    # the header's width. Anything unusual goes to the pandas C parser, whose errors name the line.
    if not _BLANK_LINE.search(text):
        frame = _read_text_arrow(text, sep)
        if frame is not None:
            return frame, np.arange(1, len(frame) + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                dtype=object,
                keep_default_na=False,
                na_filter=False,
                index_col=False,
                skip_blank_lines=False,
                engine="c",
            )
        except pd.errors.EmptyDataError as exc:
            raise InputError(name, "has no columns (empty header)") from exc
        except (pd.errors.ParserError, csv.Error, ValueError) as exc:
            # pandas counts file lines; name the data row and the widths instead when we can
            detail = _first_long_row(text, sep) if "Expected" in str(exc) else _short(exc)
            raise InputError(name, f"is not well-formed delimited text: {detail}") from exc
    for w in caught:
        if issubclass(w.category, pd.errors.ParserWarning):
            # pandas drops the extra fields of over-long rows with only a warning: refuse instead.
            raise InputError(name, f"is not well-formed delimited text: {_first_long_row(text, sep)}")
        notes.append(f"reader warning: {_short(w.message)}")
    frame.columns = _clean_header(list(frame.columns))
    frame = frame.fillna("").astype("str")
    return frame, np.arange(1, len(frame) + 1)


def _read_text_arrow(text: str, sep: str) -> pd.DataFrame | None:
    """Parse with pyarrow.csv as strings ('' stays ''); None when the file needs the careful parser."""
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep))
    except (csv.Error, StopIteration):
        return None
    names = _dedupe([h.strip() or f"Unnamed: {j}" for j, h in enumerate(header)])
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            # One thread: on a 2-core machine handing blocks between threads costs more than it saves.
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
            parse_options=pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                # large_string is what pandas' "str" columns hold, so no column is cast (copied) below.
                column_types={c: pa.large_string() for c in names},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, ValueError):
        return None
    if table.num_columns != len(names):
        return None
    frame = table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype(na_value=np.nan)}.get)
    frame.columns = names
    return frame


def _first_long_row(text: str, sep: str) -> str:
    """Describe the first data row with more fields than the header (error path only)."""
    rows = csv.reader(io.StringIO(text), delimiter=sep)
    width = len(next(rows, []))
    for i, row in enumerate(rows, start=1):
        if len(row) > width:
            return f"data row {i} has {len(row)} fields but the header has {width}"
    return "some rows have more fields than the header"


def _clean_header(cols: list[object]) -> list[str]:
    return [str(c).strip() for c in cols]


def _short(exc: object) -> str:
    msg = " ".join(str(exc).split())
    return msg if len(msg) <= 200 else msg[:197] + "..."


def _read_xlsx(data: bytes, name: str, sheet: str | None, notes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """First (or named) sheet of an XLSX workbook, cells rendered as text (dates as ISO)."""
    import openpyxl  # local: only XLSX imports need it
    from openpyxl.utils.exceptions import InvalidFileException

    with warnings.catch_warnings():
        # openpyxl warns about styles/extensions it ignores; they do not affect cell values.
        warnings.simplefilter("ignore", UserWarning)
        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (InvalidFileException, KeyError, OSError, ValueError, zlib.error) as exc:
            raise InputError(name, f"is not a readable XLSX workbook ({_short(exc)})") from exc
        except Exception as exc:  # zipfile.BadZipFile and friends from a corrupt archive
            raise InputError(name, f"is not a readable XLSX workbook ({type(exc).__name__})") from exc
        try:
            if sheet is None:
                if not wb.worksheets:
                    raise InputError(name, "the workbook has no sheets")
                ws = wb.worksheets[0]
            elif sheet in wb.sheetnames:
                ws = wb[sheet]
            else:
                raise InputError(name, f"has no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}")
            rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    notes.append(f"sheet: {ws.title!r}" + (f" (first of {len(wb.sheetnames)})" if sheet is None else ""))
    # Header = first row with any content; rows above it are not data.
    start = next((i for i, r in enumerate(rows) if any(c != "" for c in r)), None)
    if start is None:
        raise InputError(name, f"sheet {ws.title!r} is empty")
    header = _clean_header(rows[start])
    body = rows[start + 1 :]
    width = max([len(header)] + [len(r) for r in body])
    header += [""] * (width - len(header))
    body = [r + [""] * (width - len(r)) for r in body]
    # Unnamed columns are kept (named like pandas does) if they hold data; empty ones go.
    named = [h if h else f"Unnamed: {j}" for j, h in enumerate(header)]
    frame = pd.DataFrame(body, columns=_dedupe(named), dtype="str") if body else pd.DataFrame(
        columns=_dedupe(named), dtype="str"
    )
    return frame, np.arange(1, len(frame) + 1)


def _dedupe(names: list[str]) -> list[str]:
    """Make repeated header names unique the way pandas does (a, a.1, a.2)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}.{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def _cell_text(v: object) -> str:
    """An XLSX cell value as the text a user would see (dates ISO, whole floats without .0)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def _drop_empty(frame: pd.DataFrame, row_number: np.ndarray, notes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Drop wholly empty rows (not counted as read) and empty unnamed columns (Excel artefacts)."""
    if frame.shape[1] == 0:
        return frame, row_number
    # Narrow down column by column: most rows leave the candidate set at the first non-empty cell.
    blank = np.ones(len(frame), dtype=bool)
    for j, col in enumerate(frame.columns):
        if j == 0:
            # Every row is a candidate: no index to take (copy: the mask is written to below).
            blank = (frame[col].str.strip() == "").to_numpy(dtype=bool, copy=True)
            continue
        idx = np.flatnonzero(blank)
        if len(idx) == 0:
            break
        blank[idx] = (frame[col].iloc[idx].str.strip() == "").to_numpy(dtype=bool)
    if blank.any():
        if len(frame) and (~blank).any():
            notes.append(f"{int(blank.sum())} empty rows ignored")
        frame = frame.loc[~blank].reset_index(drop=True)
        row_number = row_number[~blank]
    unnamed_empty = [
        c for c in frame.columns if (c == "" or c.startswith("Unnamed: ")) and (frame[c].str.strip() == "").all()
    ]
    if unnamed_empty:
        frame = frame.drop(columns=unnamed_empty)
    return frame, row_number
