"""Copy-on-write file handling: writer lock, atomic replace and whole-file readers.

A writer holds an exclusive ``flock`` on ``<store>.lock`` (serialising writers across processes
and threads: every acquisition opens its own file description), copies the store to a temporary
file in the same directory, writes one transaction there, CHECKPOINTs (so no ``.wal`` is left),
closes, fsyncs and ``os.replace``s the copy over the store. Readers open the store read-only for
one query and close it, so each read sees one whole file, old or new, never a partial import;
a reader already open when the replace happens keeps reading the old inode (POSIX rename
semantics), which is still a consistent snapshot. DuckDB's own fcntl locks are taken on the file
it opens, so the writer (on the temp file) never contends with readers (on the store).

Readers attach the file to a fresh in-memory DuckDB instead of ``duckdb.connect(path)``:
DuckDB caches database instances by path within a process, so a second ``connect(path)`` while
another connection is open would silently reuse the instance bound to the *replaced* inode and
return stale data; ATTACH opens the path anew each time (each read attaches, then detaches, so
an idle instance holds no file open and the next read sees the current file).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# Temporary copies are named "<store name>.<random>.tmp" beside the store.
_TMP_SUFFIX = ".tmp"


def lock_path(path: Path) -> Path:
    """Writer lock file beside the store."""
    return path.with_name(path.name + ".lock")


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive cross-process writer lock on ``<path>.lock`` (blocks until free)."""
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        # Closing the descriptor releases the flock; the kernel also does so if we are killed.
        os.close(fd)


def _tmp_glob(path: Path) -> str:
    return f"{path.name}.*{_TMP_SUFFIX}*"


def remove_stale_copies(path: Path) -> list[Path]:
    """Delete temp copies (and their .wal) left by a killed writer; call with the lock held."""
    stale = sorted(path.parent.glob(_tmp_glob(path)))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable (the directory entry), not just the file contents.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def rewrite(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection to a private copy inside BEGIN; on success swap it in, else discard.

    The caller must hold ``writer_lock(path)``; copies left by a killed writer are removed first.
    When ``path`` does not exist yet an empty
    database is created. The copy is created by ``mkstemp`` (mode 0o600), so the store keeps
    owner-only permissions after the rename.
    """
    remove_stale_copies(path)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    con: duckdb.DuckDBPyConnection | None = None
    try:
        if path.exists():
            # copyfile writes into the existing 0o600 file, keeping its mode.
            shutil.copyfile(path, tmp)
        else:
            # DuckDB refuses a zero-byte file, so let it create the file, then restrict it
            # before any data is written.
            tmp.unlink()
        con = duckdb.connect(str(tmp))
        os.chmod(tmp, 0o600)
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
        # Fold the WAL into the file so the single file we rename is complete.
        con.execute("CHECKPOINT")
        con.close()
        con = None
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if con is not None:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the transaction may already be aborted by the failing statement
            con.close()
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Idle in-memory DuckDB instances for readers. Creating one costs ~20 ms, attaching a file to an idle
# one ~2 ms, and the app reads the store several times per page. One reader per instance at a time:
# DuckDB refuses to attach one file twice in an instance. Keyed by process id, because a forked
# child must not use its parent's instances.
_POOL: list[duckdb.DuckDBPyConnection] = []
_POOL_PID = os.getpid()
_POOL_LOCK = threading.Lock()
_POOL_MAX = 4


def _take_instance() -> duckdb.DuckDBPyConnection:
    global _POOL_PID
    with _POOL_LOCK:
        if _POOL_PID != os.getpid():
            _POOL.clear()
            _POOL_PID = os.getpid()
        if _POOL:
            return _POOL.pop()
    return duckdb.connect(":memory:")


def _return_instance(con: duckdb.DuckDBPyConnection) -> None:
    with _POOL_LOCK:
        if _POOL_PID == os.getpid() and len(_POOL) < _POOL_MAX:
            _POOL.append(con)
            return
    con.close()


@contextmanager
def read_connection(path: Path, reuse: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a short-lived read-only connection on the current store file (ATTACHed now, DETACHed after).

    ``reuse=False`` closes the instance afterwards instead of keeping it idle: after a read of millions
    of rows its buffers hold ~150 MB that a national command needs for the statistics.
    """
    con = _take_instance()
    try:
        con.execute(f"ATTACH {_sql_literal(str(path))} AS store (READ_ONLY)")
        con.execute("USE store")
        yield con
    except BaseException:
        con.close()  # an instance in an unknown state is not reused
        raise
    else:
        try:
            con.execute("USE memory")
            con.execute("DETACH store")
        except duckdb.Error:
            con.close()
        else:
            if reuse:
                _return_instance(con)
            else:
                con.close()
