"""The Store: datasets, their imports and aggregated counts in one DuckDB file."""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from geo.schema import (
    ALL_CATEGORIES,
    AREA_CODE,
    CATEGORY,
    COUNT,
    GRAIN,
    GRAINS,
    LEVEL,
    LEVELS,
    PERIOD,
    REPEAT_COUNT,
    StoreError,
    atlas_home,
)
from analysis.cube import distinct
from store import cow
from store.schema import COUNT_KEY, SCHEMA_VERSION, check_version, create_schema, migrate, schema_version

COUNT_COLUMNS: list[str] = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY, COUNT, REPEAT_COUNT]
_KEY = [AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY]
assert tuple(_KEY) == COUNT_KEY  # the SQL key and the DataFrame key must not drift apart

NAME_MAX = 64
_NAME_RE = re.compile(r"[A-Za-z0-9 _.\-()&,:']+")

# Report fields never written to the store: rejected rows carry the original (free-text) columns.
_REPORT_FIELDS_NOT_STORED = ("rejected",)


class ImportReportLike(Protocol):
    """What commit_import needs from ingest.ImportReport."""

    file_name: str
    sha256: str
    kind: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int

    def to_dict(self) -> dict[str, Any]: ...


class ImportResultLike(Protocol):
    """What commit_import needs from ingest.ImportResult."""

    counts: pd.DataFrame
    report: ImportReportLike


@dataclass(frozen=True)
class NewDataset:
    """How to create a dataset that an import brings into being."""

    boundary_set: str
    synthetic: bool = False
    description: str = ""


@dataclass(frozen=True)
class ImportOutcome:
    """Result of Store.commit_import.

    status: "imported" or "already imported" (same file sha256 in the same dataset: nothing changed).
    rows_added: count rows written. duplicate_keys: incoming rows whose key was already stored for
    the dataset by an earlier import; they were not added and the caller should reject them with
    reason "duplicate key (already imported)".
    """

    status: str
    import_id: int
    rows_added: int
    duplicate_keys: pd.DataFrame = field(repr=False)


# NB: DuckDB 2 keeps a result open after fetchone() and refuses further work on the connection
# until it is drained, so single values are read with fetchall().


def _now() -> datetime:
    # Timestamps are stored as naive UTC.
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_store_path() -> Path:
    """$ATLAS_STORE, else atlas_home()/atlas.duckdb."""
    env = os.environ.get("ATLAS_STORE")
    return Path(env) if env else atlas_home() / "atlas.duckdb"


def validate_dataset_name(name: object) -> str:
    """Return the stripped name, or raise StoreError: letters, digits, space and - _ . ( ) & , : ' ; <= 64 chars."""
    if not isinstance(name, str):
        raise StoreError(f"dataset name must be text, got {type(name).__name__}")
    clean = name.strip()
    if not clean:
        raise StoreError("dataset name is empty")
    if len(clean) > NAME_MAX:
        raise StoreError(f"dataset name {clean[:20]!r}... is {len(clean)} characters; max {NAME_MAX}")
    if not _NAME_RE.fullmatch(clean):
        bad = sorted({c for c in clean if not _NAME_RE.fullmatch(c)})
        raise StoreError(
            f"dataset name {clean!r} contains {''.join(bad)!r}; "
            "use letters, digits, spaces and - _ . ( ) & , : ' only"
        )
    return clean


def _typed_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Give a counts frame from DuckDB the contract dtypes (also when empty)."""
    out = df[COUNT_COLUMNS].copy()
    for col in _KEY:
        out[col] = out[col].astype("str")
    out[COUNT] = out[COUNT].astype("int64")
    out[REPEAT_COUNT] = out[REPEAT_COUNT].astype("Int64")
    return out


def _incoming_counts(counts: pd.DataFrame, file_name: str) -> pd.DataFrame:
    """Validate an import's tidy counts and return them with contract dtypes."""
    missing = [c for c in COUNT_COLUMNS if c not in counts.columns]
    if REPEAT_COUNT in missing:
        counts = counts.assign(**{REPEAT_COUNT: pd.array([pd.NA] * len(counts), dtype="Int64")})
        missing.remove(REPEAT_COUNT)
    if missing:
        raise StoreError(f"{file_name}: counts table lacks column(s) {', '.join(missing)}")
    df = counts[COUNT_COLUMNS].copy()
    df[CATEGORY] = df[CATEGORY].fillna(ALL_CATEGORIES)
    for col in _KEY:
        if df[col].isna().any():
            row = int(df[col].isna().to_numpy().argmax())
            raise StoreError(f"{file_name}: counts row {row + 1} has no {col}")
        df[col] = df[col].astype("str")
    for col, allowed in ((LEVEL, LEVELS), (GRAIN, GRAINS)):
        if _constant_text(df[col]) in allowed:  # one level and grain per file: no per-row look-up
            continue
        bad = ~df[col].isin(allowed)
        if bad.any():
            raise StoreError(
                f"{file_name}: unknown {col} {df.loc[bad, col].iloc[0]!r}; expected one of {', '.join(allowed)}"
            )
    for col, nullable in ((COUNT, False), (REPEAT_COUNT, True)):
        try:
            values = pd.to_numeric(df[col], errors="raise").astype("Int64")
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{file_name}: {col} must be whole numbers ({exc})") from None
        if (not nullable and values.isna().any()) or (values.fillna(0) < 0).any():
            raise StoreError(f"{file_name}: {col} must be whole numbers >= 0")
        df[col] = values if nullable else values.astype("int64")
    dup = _shares_a_key(df)
    if dup.any():
        first = df.loc[dup, _KEY].iloc[0].tolist()
        raise StoreError(
            f"{file_name}: counts table has {int(dup.sum())} rows sharing a key, e.g. {first}; "
            "aggregate before storing"
        )
    return df.reset_index(drop=True)


# Key spaces up to this size, or up to 4 possible keys per row, are checked with a counting array
# (8 bytes per possible key, so never much more than the row ids) instead of hashing every row.
_MAX_DENSE_KEYS = 1 << 22


def _constant_text(values: pd.Series) -> str | None:
    """The one value of an Arrow-backed text column whose every row holds it (no missing); else None."""
    if len(values) == 0 or not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return None
    import pyarrow.compute as pc

    arr = pa.array(values)
    if arr.null_count:
        return None
    first = arr[0]
    return first.as_py() if pc.all(pc.equal(arr, first)).as_py() else None


def _shares_a_key(df: pd.DataFrame) -> np.ndarray:
    """True for every row whose key occurs more than once (DataFrame.duplicated(keep=False)).

    Each key column is dictionary-encoded (cheap on Arrow-backed text) and, when the codes fit one
    dense integer range, rows are counted per key instead of hashing five text columns per row:
    the table has no primary-key index, so this check is what keeps one row per key.
    """
    n = len(df)
    # no missing keys here: _incoming_counts refused them. A column holding one value (an import's level,
    # grain, often its category) is code 0 on every row, without dictionary-encoding millions of strings.
    parts = [np.zeros(n, dtype=np.int32) if _constant_text(df[c]) is not None else distinct(df[c])[0] for c in _KEY]
    sizes = [int(p.max(initial=-1)) + 1 for p in parts]
    space = int(np.prod([max(z, 1) for z in sizes], dtype=object))
    if n == 0 or space > max(_MAX_DENSE_KEYS, 4 * n):
        return df.duplicated(_KEY, keep=False).to_numpy(dtype=bool)
    key = np.zeros(n, dtype=np.int64)
    for p, z in zip(parts, sizes):
        key = key * max(z, 1) + p
    return np.bincount(key, minlength=space)[key] > 1


def _report_json(report: ImportReportLike) -> str:
    data = dict(report.to_dict())
    for key in _REPORT_FIELDS_NOT_STORED:
        data.pop(key, None)
    return json.dumps(data, default=str, sort_keys=True)


class Store:
    """Embedded DuckDB store; every write is copy-on-write (see store.cow)."""

    # Publication mode reads the store through for_publication(): analyses then get perturbed counts.
    perturb_counts = False

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._ensure_schema()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ------------------------------------------------------------------ plumbing
    def _stored_version(self) -> int:
        try:
            with cow.read_connection(self.path) as con:
                version = schema_version(con)
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: cannot be opened as a DuckDB store ({exc})") from exc
        check_version(version, str(self.path))
        return version

    def for_publication(self) -> Store:
        """This store as publication mode reads it: analyses built on it get perturbed counts (atlas.analyses.load_frame)."""
        view = copy.copy(self)
        view.perturb_counts = True
        return view

    def exact_counts(self) -> Store:
        """This store with exact counts (the inverse of for_publication)."""
        view = copy.copy(self)
        view.perturb_counts = False
        return view

    def cache_token(self) -> tuple[str, int, int, int] | None:
        """(resolved path, st_mtime_ns, st_ino, st_size) of the store file; None when it cannot be stat'ed.

        Every write replaces the file atomically (copy-on-write), so an unchanged token means unchanged
        data: callers may key in-process caches on it. The inode and size guard against two writes
        landing within one coarse filesystem timestamp tick.
        """
        try:
            path = self.path.resolve()
            st = os.stat(path)
        except OSError:
            return None
        return str(path), st.st_mtime_ns, st.st_ino, st.st_size

    def _ensure_schema(self) -> None:
        if self.path.exists() and self._stored_version() == SCHEMA_VERSION:
            return
        with cow.writer_lock(self.path):
            # Re-check under the lock: another process may have created or migrated it.
            if self.path.exists():
                version = self._stored_version()
                if version == SCHEMA_VERSION:
                    return
                with cow.rewrite(self.path) as con:
                    migrate(con, version)
            else:
                with cow.rewrite(self.path) as con:
                    create_schema(con)

    def _read_df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        with cow.read_connection(self.path) as con:
            return con.execute(sql, params or []).df()

    def _read_one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        with cow.read_connection(self.path) as con:
            rows = con.execute(sql, params or []).fetchall()
            return rows[0] if rows else None

    @staticmethod
    def _log(con: duckdb.DuckDBPyConnection, action: str, dataset: str | None, detail: str) -> None:
        con.execute("INSERT INTO events VALUES (?, ?, ?, ?)", [_now(), action, dataset, detail])

    @staticmethod
    def _require_dataset(con: duckdb.DuckDBPyConnection, name: str) -> None:
        if not con.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchall():
            raise StoreError(f"no dataset named {name!r}")

    # ------------------------------------------------------------------ datasets
    def create_dataset(
        self, name: str, boundary_set: str, synthetic: bool = False, description: str = ""
    ) -> str:
        """Create an empty dataset; returns its (stripped) name. Names clash case-insensitively."""
        clean = validate_dataset_name(name)
        with cow.writer_lock(self.path):
            clash = self._read_one("SELECT name FROM datasets WHERE lower(name) = lower(?)", [clean])
            if clash is not None:
                raise StoreError(f"a dataset named {clash[0]!r} already exists")
            with cow.rewrite(self.path) as con:
                self._insert_dataset(con, clean, NewDataset(str(boundary_set), bool(synthetic), str(description)))
        return clean

    def _insert_dataset(self, con: duckdb.DuckDBPyConnection, name: str, new: NewDataset) -> None:
        con.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?)",
            [name, new.boundary_set, new.synthetic, new.description, _now()],
        )
        self._log(con, "dataset created", name, f"boundary_set={new.boundary_set}; synthetic={new.synthetic}")

    _DATASETS_SQL = """
        SELECT d.name, d.boundary_set, d.synthetic, d.description, d.created_at,
               coalesce(c.n_rows, 0)::BIGINT AS n_rows,
               coalesce(c.total, 0)::BIGINT AS total_count,
               c.first_period, c.last_period, coalesce(c.grains, '') AS grains,
               coalesce(i.n_imports, 0)::BIGINT AS n_imports
        FROM datasets d
        LEFT JOIN (
            SELECT dataset, count(*) AS n_rows, sum(count) AS total,
                   min(period) AS first_period, max(period) AS last_period,
                   string_agg(DISTINCT grain, ',' ORDER BY grain) AS grains
            FROM counts GROUP BY dataset
        ) c ON c.dataset = d.name
        LEFT JOIN (SELECT dataset, count(*) AS n_imports FROM imports GROUP BY dataset) i
            ON i.dataset = d.name
    """

    def datasets(self) -> pd.DataFrame:
        """One row per dataset: metadata, n_rows, total_count, first/last period, grains, n_imports.

        first/last_period are the smallest/largest labels; they order correctly within one grain
        (every label format sorts lexically), so read them with `grains`.
        """
        df = self._read_df(self._DATASETS_SQL + " ORDER BY d.name")
        df["synthetic"] = df["synthetic"].astype(bool)
        return df

    def dataset(self, name: str) -> dict[str, Any]:
        """One dataset's row of datasets() as a dict; StoreError when unknown."""
        df = self._read_df(self._DATASETS_SQL + " WHERE d.name = ?", [name])
        if df.empty:
            raise StoreError(f"no dataset named {name!r}")
        row = df.iloc[0].to_dict()
        row["synthetic"] = bool(row["synthetic"])
        return {k: (None if v is pd.NaT or (not isinstance(v, str) and pd.isna(v)) else v)
                for k, v in row.items()}

    def find_dataset(self, name: str) -> dict[str, Any] | None:
        """The dataset whose name matches case-insensitively: {name, boundary_set, synthetic, n_imports}; None if none.

        One look-up, not datasets()'s summary of every stored count (the app's first run asks it).
        """
        row = self._read_one(
            "SELECT d.name, d.boundary_set, d.synthetic, (SELECT count(*) FROM imports i WHERE i.dataset = d.name) "
            "FROM datasets d WHERE lower(d.name) = lower(?)", [name])
        return None if row is None else {"name": str(row[0]), "boundary_set": str(row[1]), "synthetic": bool(row[2]),
                                         "n_imports": int(row[3])}

    def dataset_version(self, name: str) -> tuple | None:
        """What a dataset's counts are: (store path, created_at, its imports as (id, sha256, rows added)); None if unknown.

        Counts change only by an import (commit_import adds rows under a new import id) or with the dataset
        (delete_dataset), so this names one dataset's data whatever else is written to the store: a cache of
        that dataset keyed on it survives imports into other datasets (Store.cache_token does not).
        """
        row = self._read_one(
            "SELECT d.created_at::VARCHAR, (SELECT list([i.import_id::VARCHAR, i.sha256, i.rows_added::VARCHAR] "
            "ORDER BY i.import_id) FROM imports i WHERE i.dataset = d.name) FROM datasets d WHERE d.name = ?", [name])
        if row is None:
            return None
        return str(self.path.resolve()), str(row[0]), tuple(tuple(i) for i in (row[1] or []))

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset with its counts and import log; the deletion is logged in events()."""
        with cow.writer_lock(self.path):
            with cow.rewrite(self.path) as con:
                self._require_dataset(con, name)
                n_rows, total = con.execute(
                    "SELECT count(*), coalesce(sum(count), 0) FROM counts WHERE dataset = ?", [name]
                ).fetchall()[0]
                n_imports = con.execute(
                    "SELECT count(*) FROM imports WHERE dataset = ?", [name]
                ).fetchall()[0][0]
                con.execute("DELETE FROM counts WHERE dataset = ?", [name])
                con.execute("DELETE FROM imports WHERE dataset = ?", [name])
                con.execute("DELETE FROM datasets WHERE name = ?", [name])
                self._log(
                    con, "dataset deleted", name,
                    f"removed {n_rows} count rows (total {total}) from {n_imports} import(s)",
                )

    # ------------------------------------------------------------------ imports
    def commit_import(
        self, dataset: str, result: ImportResultLike, *, create: NewDataset | None = None
    ) -> ImportOutcome:
        """Add an import's counts to a dataset, all or nothing; idempotent by file sha256.

        With ``create``, a dataset that does not exist yet is created in the same transaction, so a
        failed first import leaves no empty dataset behind.
        """
        report = result.report
        file_name = str(getattr(report, "file_name", "import"))
        sha = str(report.sha256)
        incoming = _incoming_counts(result.counts, file_name)
        with cow.writer_lock(self.path):
            # Writers are serialised, so these checks on the live file stay true for this commit;
            # doing them before copying avoids rewriting the file for a repeated upload.
            exists, seen = self._read_one(
                "SELECT (SELECT count(*) FROM datasets WHERE name = ?),"
                " (SELECT max(import_id) FROM imports WHERE dataset = ? AND sha256 = ?)",
                [dataset, dataset, sha],
            )
            is_new = not exists
            if is_new and create is None:
                raise StoreError(f"no dataset named {dataset!r}")
            if is_new:
                dataset = validate_dataset_name(dataset)
                clash = self._read_one("SELECT name FROM datasets WHERE lower(name) = lower(?)", [dataset])
                if clash is not None:
                    raise StoreError(f"a dataset named {clash[0]!r} already exists")
            if seen is not None:
                return ImportOutcome("already imported", int(seen), 0, incoming.iloc[0:0])
            with cow.rewrite(self.path) as con:
                if is_new:
                    self._insert_dataset(con, dataset, create)
                import_id = int(con.execute("SELECT nextval('import_id_seq')").fetchall()[0][0])
                # DuckDB scans the Arrow table in place (the text columns are Arrow already): no copy
                # into a temporary table and no Python object per value.
                con.register("incoming", pa.Table.from_pandas(incoming, preserve_index=False))
                duplicates = self._find_duplicates(con, dataset)
                rows_added = self._insert_counts(con, dataset, import_id)
                con.unregister("incoming")
                self._insert_import(con, dataset, import_id, report, rows_added, len(duplicates))
                self._log(
                    con, "import", dataset,
                    f"import {import_id}: {file_name} (sha256 {sha[:12]}) added {rows_added} rows, "
                    f"{len(duplicates)} duplicate keys",
                )
        return ImportOutcome("imported", import_id, rows_added, duplicates)

    @staticmethod
    def _find_duplicates(con: duckdb.DuckDBPyConnection, dataset: str) -> pd.DataFrame:
        keys = ", ".join(COUNT_KEY)
        df = con.execute(
            f"""SELECT i.* FROM incoming i
                SEMI JOIN (SELECT {keys} FROM counts WHERE dataset = ?) c USING ({keys})
                ORDER BY {keys}""",
            [dataset],
        ).df()
        return _typed_counts(df)

    @staticmethod
    def _insert_counts(con: duckdb.DuckDBPyConnection, dataset: str, import_id: int) -> int:
        keys = ", ".join(COUNT_KEY)
        before = con.execute("SELECT count(*) FROM counts").fetchall()[0][0]
        con.execute(
            f"""INSERT INTO counts
                SELECT ?, {keys}, count, repeat_count, ? FROM incoming i
                ANTI JOIN (SELECT {keys} FROM counts WHERE dataset = ?) c USING ({keys})""",
            [dataset, import_id, dataset],
        )
        return int(con.execute("SELECT count(*) FROM counts").fetchall()[0][0] - before)

    @staticmethod
    def _insert_import(
        con: duckdb.DuckDBPyConnection,
        dataset: str,
        import_id: int,
        report: ImportReportLike,
        rows_added: int,
        n_duplicates: int,
    ) -> None:
        con.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                import_id, dataset, str(report.file_name), str(report.sha256), str(report.kind),
                _now(), int(report.rows_read), int(report.rows_accepted), int(report.rows_rejected),
                rows_added, n_duplicates, "imported", _report_json(report),
            ],
        )

    # ------------------------------------------------------------------ reads
    def counts(self, dataset: str, level: str | None = None, category: str | None = None) -> pd.DataFrame:
        """A dataset's stored counts (contract columns and dtypes), optionally one level/category."""
        if self._read_one("SELECT 1 FROM datasets WHERE name = ?", [dataset]) is None:
            raise StoreError(f"no dataset named {dataset!r}")
        sql = f"SELECT {', '.join(COUNT_COLUMNS)} FROM counts WHERE dataset = ?"
        params: list[Any] = [dataset]
        if level is not None:
            sql += " AND level = ?"
            params.append(level)
        if category is not None:
            sql += " AND category = ?"
            params.append(category)
        sql += f" ORDER BY {', '.join(COUNT_KEY)}"
        return _typed_counts(self._read_df(sql, params))

    def count_keys(self, dataset: str) -> pd.DataFrame:
        """The keys (area_code, level, period, grain, category) of a dataset's stored counts, unordered.

        For checking an import against what is stored: read through Arrow as "str" columns, so a
        national dataset's millions of keys cost tens of MB rather than a Python string per value.
        """
        if self._read_one("SELECT 1 FROM datasets WHERE name = ?", [dataset]) is None:
            raise StoreError(f"no dataset named {dataset!r}")
        with cow.read_connection(self.path) as con:
            table = con.sql(f"SELECT {', '.join(_KEY)} FROM counts WHERE dataset = ?", params=[dataset]).to_arrow_table()
        return pd.DataFrame({c: pd.Series(pd.array(table.column(c), dtype="str")) for c in _KEY})

    def import_log(self, dataset: str | None = None) -> pd.DataFrame:
        """Imports, oldest first (report_json holds the ingest report without rejected rows)."""
        sql = "SELECT * FROM imports"
        params: list[Any] = []
        if dataset is not None:
            sql += " WHERE dataset = ?"
            params.append(dataset)
        return self._read_df(sql + " ORDER BY import_id", params)

    def events(self) -> pd.DataFrame:
        """Audit log (time UTC, action, dataset, detail), oldest first."""
        return self._read_df("SELECT * FROM events ORDER BY time, rowid")

