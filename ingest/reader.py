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
# Files people rename to .csv or pick by mistake: named in the message instead of a decoding error.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database (a GeoPackage is one: add it under Boundaries)"),
    (b"PAR1", "a Parquet file (GeoParquet boundaries are added under Boundaries)"),
)


@dataclass
class RawTable:
    """File contents as text: ``frame`` has string columns ('' for empty cells)."""

    frame: pd.DataFrame
    row_number: np.ndarray  # 1-based data row of each frame row in the file (header excluded)
    file_name: str
    sha256: str
    notes: list[str] = field(default_factory=list)
    # Fields each row had in the file, when some row had fewer than the header (else None): a short row's
    # missing cells read as "" and its values may sit in the wrong columns.
    n_fields: np.ndarray | None = None
    # Column names in file order (as in ``frame``, before empty unnamed columns were dropped).
    file_columns: list[str] = field(default_factory=list)
    # Header names given to more than one column -> their 1-based column positions.
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    # Sheet names of an XLSX workbook ([] for text files), for messages about choosing a sheet.
    sheets: list[str] = field(default_factory=list)

    def sheet_hint(self) -> str:
        """Advice to append to a whole-file message when the workbook has several sheets ('' otherwise)."""
        if len(self.sheets) < 2:
            return ""
        return (f"; only the first sheet with data is read and this workbook has {len(self.sheets)} sheets "
                f"({', '.join(map(repr, self.sheets))}): choose it with `atlas import --sheet NAME`, move it first "
                "or save it as CSV")


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

    sheets: list[str] = []
    n_fields = None
    if data[:4] == _ZIP_MAGIC:
        _check_zip_is_xlsx(data, name)
        frame, row_number, sheets, header = _read_xlsx(data, name, sheet, notes)
    elif data[:4] == _OLE_MAGIC:
        raise InputError(name, "is an old binary Excel .xls file; save it as .xlsx or CSV")
    else:
        for magic, what in _BINARY_MAGIC:
            if data.startswith(magic):
                raise InputError(name, f"is {what}, not a CSV or XLSX file")
        if sheet is not None:
            raise InputError(name, f"a sheet ({sheet!r}) was given but this is not an XLSX workbook")
        text = _decode(data, name, notes)
        del data  # the decoded text is all we need; free the bytes before parsing (large files)
        frame, row_number, n_fields, header = _read_text(text, name, notes)

    file_columns = list(frame.columns)
    duplicates = _duplicate_names(header)
    frame, row_number, kept = _drop_empty(frame, row_number, notes)
    if n_fields is not None and kept is not None:
        n_fields = n_fields[kept]
    hint = ("; only the first sheet with data is read: choose one with `atlas import --sheet NAME`, move it first or "
            "save it as CSV"
            if len(sheets) > 1 else "")
    if len(frame) == 0:
        raise InputError(name, f"has a header row but no data rows (columns: {_cols(frame)}){hint}")
    if frame.shape[1] == 1:
        raise InputError(
            name,
            f"only one column was found ({_cols(frame)}); separate columns with a comma, semicolon, "
            f"tab or | (is the delimiter something else?){hint}",
        )
    return RawTable(frame=frame, row_number=row_number, file_name=name, sha256=sha, notes=notes, n_fields=n_fields,
                    file_columns=file_columns, duplicates=duplicates, sheets=sheets)


def short_rows(raw: RawTable, used: list[str]) -> np.ndarray | None:
    """Rows that ended before one of the ``used`` columns (None when no row is short).

    Such a row's values may have slid into the wrong columns (a missing delimiter), so it is rejected
    rather than read; a row short only of columns the import does not use is read as it is.
    """
    if raw.n_fields is None:
        return None
    last = max(raw.file_columns.index(c) for c in used)
    bad = raw.n_fields <= last
    return bad if bad.any() else None


def repeated_header_rows(raw: RawTable, used: list[str]) -> np.ndarray | None:
    """Rows whose ``used`` cells repeat the header's names (files pasted together), or None."""
    f = raw.frame
    # Narrow down column by column: only rows matching the first name are compared further.
    hit = (f[used[0]] == used[0]).to_numpy(dtype=bool, na_value=False)
    if not hit.any():
        return None
    idx = np.flatnonzero(hit)
    for col in used[1:]:
        idx = idx[(f[col].iloc[idx].str.strip() == col).to_numpy(dtype=bool, na_value=False)]
    if len(idx) == 0:
        return None
    out = np.zeros(len(f), dtype=bool)
    out[idx] = True
    return out


def _duplicate_names(header: list[str]) -> dict[str, list[int]]:
    """Header names (as written, stripped) used by more than one column -> their 1-based positions."""
    out: dict[str, list[int]] = {}
    for j, n in enumerate(header):
        if n:
            out.setdefault(n, []).append(j + 1)
    return {n: pos for n, pos in out.items() if len(pos) > 1}


def _check_zip_is_xlsx(data: bytes, name: str) -> None:
    """A zip that is not an XLSX workbook (a zipped CSV, an .ods, a Word file): say what it is."""
    import zipfile  # local: only zip-based uploads need it

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # damaged: the workbook reader reports it
    if any(m.startswith("xl/") for m in members):
        return
    if "content.xml" in members and "mimetype" in members:
        raise InputError(name, "is an OpenDocument spreadsheet (.ods), not XLSX; save it as .xlsx or CSV")
    if "[Content_Types].xml" in members:
        raise InputError(name, "is an Office document but not an Excel workbook; save the data as .xlsx or CSV")
    shown = ", ".join(members[:5]) + (f" and {len(members) - 5} more" if len(members) > 5 else "")
    raise InputError(name, f"is a zip archive, not a CSV or XLSX file (it holds {shown or 'nothing'}); "
                     "unzip it and import the file inside")


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
        nul = data.find(b"\x00")
        if nul >= 0:
            raise InputError(name, f"contains NUL bytes (the first in {_line_of(data, nul)}): it looks like a binary "
                             "file or a damaged export, not CSV text")
        try:
            text = data.decode("utf-8-sig")
            notes.append("encoding: UTF-8 with BOM" if data[:3] == b"\xef\xbb\xbf" else "encoding: UTF-8")
        except UnicodeDecodeError:
            text = _decode_mixed(data, name, notes)
    if "\x00" in text:
        raise InputError(name, "contains NUL characters: it looks like a binary file, not CSV text")
    return text


def _line_of(data: bytes, pos: int) -> str:
    """Where byte ``pos`` is, as the user counts: 'the header row' or 'data row N' (error paths only)."""
    lead = re.match(rb"[\r\n]*", data).end()  # leading blank lines are not rows (the reader drops them)
    line = data.count(b"\n", lead, pos) if data.find(b"\n", 0, pos) >= 0 else data.count(b"\r", lead, pos)
    return "the header row" if line == 0 else f"data row {line}"


def _not_text(name: str, data: bytes, pos: int) -> InputError:
    """The error for a byte that is neither UTF-8 nor Windows-1252, naming its row."""
    return InputError(name, f"is neither UTF-8 nor Windows-1252 text: {_line_of(data, pos)} holds the byte "
                      f"0x{data[pos]:02X}, which is not a character in either; is it a CSV file? If it is, save it "
                      "again as 'CSV UTF-8'")


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
            raise _not_text(name, data, exc.start) from exc
        notes.append("encoding: Windows-1252 (the file is not valid UTF-8)")
        return text
    lines = data.split(b"\n")
    utf8 = np.zeros(len(lines), dtype=bool)  # lines with non-ASCII bytes that are valid UTF-8
    other = np.zeros(len(lines), dtype=bool)  # lines that are not valid UTF-8
    out = []
    offset = 0  # of the current line in ``data``, to name the row of a bad byte
    for i, line in enumerate(lines):
        offset += len(lines[i - 1]) + 1 if i else 0
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
                raise _not_text(name, data, offset + exc.start) from exc
    if utf8.any():
        bad = np.flatnonzero(other)  # 0-based line index = 1-based data row (line 1 is the header)
        shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        notes.append(f"encoding: mixed: UTF-8, except data rows {shown} read as Windows-1252 "
                     "(the file was probably pasted together from two sources; check those rows' text)")
    else:
        notes.append("encoding: Windows-1252 (the file is not valid UTF-8)")
    return "\n".join(out)


def _one_final_newline(text: str) -> str:
    """``_strip_trailing_blank_lines(text) + "\n"``; ``text`` itself when it already is that (a file ending in
    one newline after a non-blank line: the usual case), without the two copies of a large file."""
    if text.endswith("\n") and not text.endswith("\n\n"):
        cut = text.rfind("\n", 0, len(text) - 1)
        if cut < 0 or text[cut + 1 : -1].strip(" \t"):
            return text
    return _strip_trailing_blank_lines(text) + "\n"


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
    cut = text.find("\n")
    header = text if cut < 0 else text[:cut]  # text.split("\n", 1)[0] without copying the rest of the file
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


def _read_text(text: str, name: str, notes: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None, list[str]]:
    """Delimited text to string columns, keeping blank rows so row numbers match the file.

    Returns (frame, row_number, fields per row when some row is short else None, header as written).
    """
    text = text.lstrip("\r\n")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _one_final_newline(text)  # blank lines after the last row shift nothing
    if text.isspace():  # = not text.strip() (text is never empty here), without copying a large file
        raise InputError(name, "the file is empty")
    sep = _choose_delimiter(text)
    if sep != ",":
        notes.append(f"delimiter: {_DELIMITER_NAMES[sep]}")
    try:
        # The first MB is plenty for a header (StringIO of the whole text would copy a large file).
        header = [h.strip() for h in next(csv.reader(io.StringIO(text[: 1 << 20]), delimiter=sep))]
    except (csv.Error, StopIteration):
        header = []
    # Fast path (pyarrow, ~20x faster); anything it cannot parse goes to the pandas C parser, whose
    # errors name the line.
    if header:
        parsed = _read_text_arrow(text, sep, header, name)
        if parsed is not None:
            return (*parsed, header)
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
            raise InputError(name, f"is not well-formed delimited text: {_parser_problem(exc, text, sep)}") from exc
    for w in caught:
        if issubclass(w.category, pd.errors.ParserWarning):
            # pandas drops the extra fields of over-long rows with only a warning: refuse instead.
            raise InputError(name, f"is not well-formed delimited text: {_first_long_row(text, sep)}")
        notes.append(f"reader warning: {_short(w.message)}")
    frame.columns = _clean_header(list(frame.columns))
    frame = frame.fillna("").astype("str")
    return frame, np.arange(1, len(frame) + 1), None, header or list(frame.columns)


def _parser_problem(exc: Exception, text: str, sep: str) -> str:
    """The pandas parser's complaint in the user's terms (data rows, quotes), not the tokenizer's."""
    msg = str(exc)
    if "Expected" in msg:
        return _first_long_row(text, sep)
    quote = re.search(r"EOF inside string starting at row (\d+)", msg)
    if quote:
        # pandas counts rows from 0 at the header, so its row number is the data row.
        return (f"data row {int(quote.group(1))} opens a quote (\") that is never closed, so the rest of the "
                "file would be read as one cell; close or remove that quote")
    return _short(re.sub(r"^Error tokenizing data\. C error: ", "", msg))


def _read_text_arrow(
    text: str, sep: str, header: list[str], name: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None:
    """Parse with pyarrow.csv as strings ('' stays ''); None when the file needs the careful parser.

    Rows with fewer fields than the header are set aside by Arrow's invalid-row handler (called only
    for those rows) and put back in place, padded with "", with their field counts; a row with more
    fields refuses the file (its extra values would have nowhere to go).
    """
    names = _dedupe([h or f"Unnamed: {j}" for j, h in enumerate(header)])
    odd: list[tuple[int, int, str]] = []  # (record number counting the header as 1, fields, text)

    def invalid_row(row: pa_csv.InvalidRow) -> str:
        if row.number is None or row.actual_columns > row.expected_columns:
            odd.append((row.number or 0, row.actual_columns, row.text))
            return "error"
        odd.append((row.number, row.actual_columns, row.text))
        return "skip"

    try:
        table = pa_csv.read_csv(
            # A zero-copy view of the encoded text (a Python file object would be read by copying blocks).
            pa.BufferReader(pa.py_buffer(text.encode("utf-8"))),
            # One thread: on a 2-core machine handing blocks between threads costs more than it saves.
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
            # Empty lines are kept as empty rows so every later row keeps its number (they are dropped, and
            # counted in a note, after reading).
            parse_options=pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True, ignore_empty_lines=False,
                                               invalid_row_handler=invalid_row),
            convert_options=pa_csv.ConvertOptions(
                # large_string is what pandas' "str" columns hold, so no column is cast (copied) below.
                column_types={c: pa.large_string() for c in names},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, ValueError):
        if odd and odd[-1][1] > len(names):
            raise InputError(name, f"is not well-formed delimited text: {_first_long_row(text, sep)}") from None
        return None
    if table.num_columns != len(names):
        return None
    frame = table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype(na_value=np.nan)}.get)
    frame.columns = names
    n_fields = None
    if odd:
        frame, n_fields = _put_back_short_rows(frame, odd, sep, names, name)
    return frame, np.arange(1, len(frame) + 1), n_fields


def _put_back_short_rows(
    frame: pd.DataFrame, odd: list[tuple[int, int, str]], sep: str, names: list[str], name: str
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Insert the rows Arrow set aside (fewer fields) at their places, padded with "" (few rows: a loop)."""
    n = len(frame) + len(odd)
    pos = np.array([number - 2 for number, _, _ in odd], dtype=np.int64)  # record 2 is data row 1 (position 0)
    rows = []
    fields = np.full(n, len(names), dtype=np.int64)
    for (_, count, line), p in zip(odd, pos):
        if line.count('"') % 2 and ("\n" in line or p == n - 1):
            # An opening quote never closed: Arrow read the rest of the file into this one cell.
            raise InputError(name, f"is not well-formed delimited text: data row {p + 1} opens a quote (\") that is "
                             "never closed, so the rest of the file would be read as one cell; close or remove that quote")
        cells = next(csv.reader(io.StringIO(line), delimiter=sep), [])
        if not "".join(cells).strip():
            cells = []  # a whitespace-only line is an empty row, not a short one
        else:
            fields[p] = count
        rows.append(cells + [""] * (len(names) - len(cells)))
    extra = pd.DataFrame(rows, columns=names, dtype="str", index=pos)
    rest = np.setdiff1d(np.arange(n), pos, assume_unique=True)
    frame = pd.concat([frame.set_axis(rest), extra]).sort_index().reset_index(drop=True).astype("str")
    return frame, (fields if (fields < len(names)).any() else None)


def _first_long_row(text: str, sep: str) -> str:
    """Describe the first data row with more fields than the header (error path only)."""
    rows = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(rows, [])
    width = len(header)
    for i, row in enumerate(rows, start=1):
        if len(row) > width:
            hint = ""
            if width == 1:
                # A title line above the header ("Incidents by ward, 2023") is read as a one-column header.
                hint = (f"; the first line, {header[0][:60]!r}, has one field: if it is a title, delete it so "
                        "the column names come first")
            return f"data row {i} has {len(row)} fields but the header has {width}{hint}"
    return "some rows have more fields than the header"


def _clean_header(cols: list[object]) -> list[str]:
    return [str(c).strip() for c in cols]


def _short(exc: object) -> str:
    msg = " ".join(str(exc).split())
    return msg if len(msg) <= 200 else msg[:197] + "..."


def _read_xlsx(
    data: bytes, name: str, sheet: str | None, notes: list[str]
) -> tuple[pd.DataFrame, np.ndarray, list[str], list[str]]:
    """First sheet with data (or the named sheet) of an XLSX workbook, cells as text (dates as ISO).

    Returns (frame, row_number, sheet names, header as written). Empty sheets before it are skipped and
    so are title rows above its header (rows with one filled cell, e.g. a merged title), both noted.
    """
    import openpyxl  # local: only XLSX imports need it
    from openpyxl.utils.exceptions import InvalidFileException

    damaged = "open it in Excel and save it again as .xlsx, or save it as CSV"
    with warnings.catch_warnings():
        # openpyxl warns about styles/extensions it ignores; they do not affect cell values.
        warnings.simplefilter("ignore", UserWarning)
        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (InvalidFileException, KeyError, OSError, ValueError, zlib.error) as exc:
            raise InputError(name, f"is not a readable XLSX workbook (damaged or not really .xlsx); {damaged}") from exc
        except Exception as exc:  # zipfile.BadZipFile and friends from a corrupt archive
            raise InputError(name, f"is not a readable XLSX workbook (damaged or not really .xlsx); {damaged}") from exc
        sheets = list(wb.sheetnames)
        try:
            if sheet is None:
                if not wb.worksheets:
                    raise InputError(name, "the workbook has no sheets")
                candidates = wb.worksheets
            elif sheet in sheets:
                candidates = [wb[sheet]]
            else:
                raise InputError(name, f"has no sheet {sheet!r}; sheets: {', '.join(sheets)}")
            skipped = []
            for ws in candidates:
                rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
                if any(c != "" for r in rows for c in r):
                    break
                skipped.append(ws.title)
        finally:
            wb.close()
    if len(skipped) == len(candidates):
        listed = f" (sheets: {', '.join(map(repr, sheets))})" if len(sheets) > 1 else ""
        raise InputError(name, f"{'every sheet is' if len(skipped) > 1 else f'sheet {skipped[0]!r} is'} empty{listed}")
    note = f"sheet: {ws.title!r}" + (f" (first of {len(sheets)})" if sheet is None and not skipped else "")
    if skipped:
        note += f" (the sheets before it, {', '.join(map(repr, skipped))}, are empty)"
    notes.append(note)
    filled = [sum(c != "" for c in r) for r in rows]
    # Header = first row with any content; rows above it are not data.
    start = next(i for i, k in enumerate(filled) if k)
    if filled[start] == 1:
        # A title ("Incidents by ward, 2023", often merged across the columns) above the real header.
        wide = next((i for i, k in enumerate(filled) if k >= 2), None)
        if wide is not None:
            titles = [next(c for c in r if c != "") for r, k in zip(rows[start:wide], filled[start:wide]) if k]
            notes.append(f"{len(titles)} title row{'s' if len(titles) > 1 else ''} above the header skipped: "
                         + ", ".join(repr(t[:60]) for t in titles[:3]))
            start = wide
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
    return frame, np.arange(1, len(frame) + 1), sheets, header


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


def _drop_empty(
    frame: pd.DataFrame, row_number: np.ndarray, notes: list[str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Drop wholly empty rows (not counted as read, but noted by row) and empty unnamed columns.

    Returns the frame, its row numbers and the mask of rows kept (None when every row was kept).
    """
    if frame.shape[1] == 0:
        return frame, row_number, None
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
    kept = None
    if blank.any():
        if len(frame) and (~blank).any():
            k = int(blank.sum())
            notes.append(f"{k} empty row{'s' if k != 1 else ''} ignored ({_data_rows(row_number[blank])})")
        kept = ~blank
        frame = frame.loc[kept].reset_index(drop=True)
        row_number = row_number[kept]
    unnamed = [(j, c) for j, c in enumerate(frame.columns) if c == "" or c.startswith("Unnamed: ")]
    unnamed_empty = [c for _, c in unnamed if (frame[c].str.strip() == "").all()]
    if unnamed_empty:
        frame = frame.drop(columns=unnamed_empty)
    with_data = [j + 1 for j, c in unnamed if c not in unnamed_empty]
    if with_data and len(frame):
        # Often a header cell merged across two columns: the second column's values have no name.
        notes.append(f"column{'s' if len(with_data) > 1 else ''} {', '.join(map(str, with_data))} "
                     f"{'have' if len(with_data) > 1 else 'has'} values but no name in the header row "
                     "(merged header cells?); not used")
    return frame, row_number, kept


def _data_rows(numbers: np.ndarray, limit: int = 10) -> str:
    """'data row 4' / 'data rows 2, 5 and 3 more' for messages and notes."""
    shown = ", ".join(str(int(v)) for v in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"data row{'s' if len(numbers) > 1 else ''} {shown}{more}"
