"""Database handle: engine from URL, short transactions, SQLite PRAGMAs and a single writer per process.

SQLite and a full disk: a connection to a WAL database needs the ``-wal`` and ``-shm`` files, which SQLite
deletes when the last connection closes and must create again on the next open -- impossible on a full disk
("disk I/O error" on every read). One idle *anchor* connection stays open for the life of the handle, so those
files always exist and reads keep working; connections write nothing on connect and keep temp data in memory.
A write that finds the disk full raises InsufficientStorage (507).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.pool import NullPool, QueuePool

from modelyard.errors import BadRequest, ConfigError, InsufficientStorage

log = logging.getLogger("modelyard.db")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
POOL_SIZE = 8  # SQLite connections kept open (idle ones hold no lock and no snapshot)
POOL_OVERFLOW = 56  # more while the threadpool is busy, closed when returned
#: PostgreSQL: the transaction-level advisory lock every write transaction takes (replicas write one at a time:
#: a commit's read of the branch head and its move of the branch cannot interleave with another replica's)
WRITER_LOCK = 0x6D6F64656C796172  # "modelyar"
VERSION_CONNECTIONS = (
    8  # PostgreSQL: connections kept for version() (more callers at once: no cache that call)
)
_READ = "modelyard_read"  # execution option of a read-only connection: deferred BEGIN, no write lock


class CacheMiss(BaseException):
    """Raised instead of touching the database inside `cache_only()`: the caller retries off the event loop.
    A BaseException, so no `except Exception` on the way can mistake it for a failed read."""


_CACHE_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("modelyard_cache_only", default=False)


@contextmanager
def cache_only() -> Iterator[None]:
    """Within: any database access raises CacheMiss, so code that finds every row it needs in the row caches
    (db/cache.py) can run on the event loop without a thread hop, and anything else is retried in a thread."""
    token = _CACHE_ONLY.set(True)
    try:
        yield
    finally:
        _CACHE_ONLY.reset(token)


def in_cache_only() -> bool:
    return _CACHE_ONLY.get()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            path = url.split("sqlite:///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if _is_file_database(url):  # pooled: a fresh connection costs five PRAGMAs and an open()
                kwargs["poolclass"] = QueuePool
                kwargs["pool_size"] = POOL_SIZE
                kwargs["max_overflow"] = POOL_OVERFLOW
                kwargs["pool_timeout"] = 60
            else:
                kwargs["poolclass"] = NullPool
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 10
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except Exception as e:  # missing driver, bad URL
            raise ConfigError(
                f"Cannot open database {url!r}: {e}. For PostgreSQL: pip install 'modelyard[postgres]'"
            ) from e
        self._write_lock = threading.RLock()
        self._anchor: sqlite3.Connection | None = None
        self._version_lock = threading.Lock()
        self._pg_idle: list[Any] = []  # PostgreSQL: autocommit connections that read db_version (version())
        self._pg_open = 0
        self._pg_versioned = (
            False  # the db_version table exists (checked by write transactions until it does)
        )
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            self._anchor = _open_anchor(url)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, one at a time: on SQLite BEGIN IMMEDIATE (under a lock in the process), on
        PostgreSQL a transaction-level advisory lock (``pg_advisory_xact_lock(WRITER_LOCK)``), for every replica."""
        if _CACHE_ONLY.get():
            raise CacheMiss
        try:
            with self._write_lock, self.engine.begin() as conn:
                # one writer at a time across processes (replicas) too, as BEGIN IMMEDIATE on SQLite
                if self.is_postgres:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")
                    self._bump_version(conn)
                yield conn
        except OperationalError as e:
            if self.is_sqlite and _is_disk_full(e):
                raise InsufficientStorage(
                    "Insufficient storage on the server: the database cannot grow, the disk is full. "
                    "Try again later."
                ) from None
            raise
        except DataError as e:
            raise _bad_value(e) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (concurrent with writers under WAL): on SQLite a deferred BEGIN, so readers
        share a snapshot without taking the write lock (BEGIN IMMEDIATE would serialise every read)."""
        if _CACHE_ONLY.get():
            raise CacheMiss
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_READ: True})
                yield conn
        except DataError as e:
            raise _bad_value(e) from None

    def _bump_version(self, conn: Connection) -> None:
        """PostgreSQL: count this write transaction in db_version (visible with its changes, at commit; writers
        hold the advisory lock, so the row is never contended). Before migration 0021 there is no counter."""
        if not self._pg_versioned:
            exists = conn.exec_driver_sql("SELECT to_regclass('db_version') IS NOT NULL").scalar()
            self._pg_versioned = bool(exists)
            if not exists:
                return
        conn.exec_driver_sql("UPDATE db_version SET n = n + 1 WHERE id = 1")

    def version(self) -> int | None:
        """A number that changes whenever any connection, of this process or another, commits to the database
        (SQLite's ``PRAGMA data_version`` on the idle anchor connection; PostgreSQL's ``db_version`` row, which
        every write transaction increments); None where unknown (in-memory SQLite, a database before migration
        0021, a failed read). Caches of database rows compare it to tell whether they may still be used."""
        if self.is_postgres:
            return self._pg_version()
        anchor = self._anchor
        if anchor is None:
            return None
        try:
            with self._version_lock:
                return int(anchor.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None

    def _pg_version(self) -> int | None:
        """db_version's counter, read on one of up to VERSION_CONNECTIONS autocommit connections (one round trip,
        no pool checkout or ping); None when all are busy or the read fails (the caller then reads the rows)."""
        with self._version_lock:
            conn = self._pg_idle.pop() if self._pg_idle else None
            if conn is None:
                if self._pg_open >= VERSION_CONNECTIONS:
                    return None
                self._pg_open += 1
        keep = True
        try:
            if conn is None:
                import psycopg

                url = make_url(self.url).set(drivername="postgresql")
                conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            row = conn.execute("SELECT n FROM db_version WHERE id = 1").fetchone()
            return int(row[0]) if row is not None else None
        except Exception as e:  # before migration 0021 (the connection stays usable), or a lost connection
            keep = conn is not None and type(e).__name__ == "UndefinedTable"
            return None
        finally:
            with self._version_lock:
                if keep and conn is not None:
                    self._pg_idle.append(conn)
                else:
                    self._pg_open -= 1
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()
        with self._version_lock:
            idle, self._pg_idle = self._pg_idle, []
            self._pg_open -= len(idle)
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()
        if self._anchor is not None:
            with contextlib.suppress(sqlite3.Error):
                self._anchor.close()
            self._anchor = None


def _open_anchor(url: str) -> sqlite3.Connection | None:
    """An idle connection that keeps a file database's -wal/-shm files in place (see the module docstring).

    It also switches the file to WAL once (persistent), so that other connections need not write on connect."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # maps the -shm: it now stays
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _bad_value(e: DataError) -> BadRequest:
    """A value of the request that the database refuses to store or compare (PostgreSQL: a NUL character in a
    text, an integer out of range, a string longer than its column), which SQLite takes: a 400, not a 500."""
    log.warning("database refused a value: %s", str(e.orig).splitlines()[0] if e.orig else e)
    return BadRequest("Bad request: a value is out of range or contains a character that cannot be stored")


def _is_disk_full(e: OperationalError) -> bool:
    code = getattr(e.orig, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(e.orig)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    # connection-level settings only (no writes: WAL is already set on the file by the anchor connection)
    if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        cur.execute("PRAGMA journal_mode=WAL")  # an in-memory or anchor-less database
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA temp_store=MEMORY")  # sorts and temp tables never need a file on a full disk
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ) else "BEGIN IMMEDIATE")


def _is_file_database(url: str) -> bool:
    path = make_url(url).database
    return bool(path) and path != ":memory:" and not str(path).startswith("file:")
