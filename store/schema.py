"""Store tables (DDL), the schema version and forward migrations."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from geo.schema import StoreError

# Bump when the DDL changes and add a step to MIGRATIONS that brings version N-1 to N.
SCHEMA_VERSION = 2

# Column order of the counts table's key (one stored row per key per dataset).
COUNT_KEY: tuple[str, ...] = ("area_code", "level", "period", "grain", "category")

_DDL_V1 = """
CREATE TABLE schema_version (
    version     INTEGER NOT NULL,
    applied_at  TIMESTAMP NOT NULL
);
CREATE TABLE datasets (
    name          VARCHAR PRIMARY KEY,
    boundary_set  VARCHAR NOT NULL,
    synthetic     BOOLEAN NOT NULL DEFAULT FALSE,
    description   VARCHAR NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL
);
CREATE SEQUENCE import_id_seq START 1;
CREATE TABLE imports (
    import_id      BIGINT PRIMARY KEY,
    dataset        VARCHAR NOT NULL,
    file_name      VARCHAR,
    sha256         VARCHAR NOT NULL,
    kind           VARCHAR,
    imported_at    TIMESTAMP NOT NULL,
    rows_read      BIGINT,
    rows_accepted  BIGINT,
    rows_rejected  BIGINT,
    rows_added     BIGINT NOT NULL,
    duplicate_keys BIGINT NOT NULL,
    status         VARCHAR NOT NULL,
    report_json    VARCHAR,
    UNIQUE (dataset, sha256)
);
CREATE TABLE counts (
    dataset       VARCHAR NOT NULL,
    area_code     VARCHAR NOT NULL,
    level         VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    grain         VARCHAR NOT NULL,
    category      VARCHAR NOT NULL,
    count         BIGINT NOT NULL CHECK (count >= 0),
    repeat_count  BIGINT CHECK (repeat_count >= 0),
    import_id     BIGINT NOT NULL,
    PRIMARY KEY (dataset, area_code, level, period, grain, category)
);
CREATE TABLE events (
    time     TIMESTAMP NOT NULL,
    action   VARCHAR NOT NULL,
    dataset  VARCHAR,
    detail   VARCHAR NOT NULL DEFAULT ''
);
"""

# Version 2: the counts table without its PRIMARY KEY. DuckDB keeps a primary key as an ART index
# that is built row by row and persisted: for a national import (2.4M rows) it took seconds and made
# the file 30x larger (340 MB instead of 11 MB), and every copy-on-write commit copies the file.
# One row per key is still guaranteed: Store.commit_import refuses an import with repeated keys and
# inserts only keys not yet stored, and writers are serialised by the writer lock.
_COUNTS_V2 = """
CREATE TABLE counts_v2 (
    dataset       VARCHAR NOT NULL,
    area_code     VARCHAR NOT NULL,
    level         VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    grain         VARCHAR NOT NULL,
    category      VARCHAR NOT NULL,
    count         BIGINT NOT NULL CHECK (count >= 0),
    repeat_count  BIGINT CHECK (repeat_count >= 0),
    import_id     BIGINT NOT NULL
);
INSERT INTO counts_v2 SELECT * FROM counts;
DROP TABLE counts;
ALTER TABLE counts_v2 RENAME TO counts;
"""


def _counts_without_primary_key(con: duckdb.DuckDBPyConnection) -> None:
    """Version 1 -> 2: rebuild the counts table, rows unchanged, without the primary-key index."""
    con.execute(_COUNTS_V2)


# version reached -> step applied to a connection at version - 1 (inside the write transaction).
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {2: _counts_without_primary_key}


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the current schema in an empty database."""
    con.execute(_DDL_V1)
    con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [1])
    migrate(con, 1)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Schema version recorded in the store (0 when it has no version table)."""
    has = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not has:
        return 0
    return int(con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0])


def check_version(version: int, path: str) -> None:
    """Refuse a store written by a newer release (its tables may mean something else)."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} is newer than this release supports "
            f"({SCHEMA_VERSION}); upgrade Hotspot Atlas"
        )
    if version == 0:
        raise StoreError(f"{path}: not a Hotspot Atlas store (no schema_version table)")


def migrate(con: duckdb.DuckDBPyConnection, current: int) -> None:
    """Apply MIGRATIONS from `current` up to SCHEMA_VERSION, recording each step."""
    for version in range(current + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](con)
        con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [version])
