"""Row caches that are never stale: an entry is used only while no commit has reached the database since it was read.

``Database.version()`` (SQLite's ``PRAGMA data_version`` on the idle anchor connection; on PostgreSQL the
``db_version`` row every write transaction increments) changes whenever any connection -- of this process, of a
CLI command, of another server process or replica -- commits. A cache reads the version
*before* the database, stores the value under that version, and drops everything once the version moves, so a
cached value is exactly what a read at the start of the request would return (a commit that lands while the value
is being read leaves it tagged with the older version: it is never used). Where the version is unknown (in-memory
SQLite, a database before migration 0021, a failed read) nothing is cached. Permissions are never cached here, only rows: callers check access on every
request with the caller's own principal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from modelyard.db import Database

K = TypeVar("K")
V = TypeVar("V")


class VersionedCache(Generic[K, V]):
    """A bounded dict of database reads keyed by the caller's key, emptied whenever the database changes."""

    def __init__(
        self, db: Database, max_entries: int = 4096, keep: Callable[[V], bool] | None = None
    ) -> None:
        self.db = db
        self.max_entries = max_entries
        self.keep = keep  # which values are worth their memory (default: all)
        self._version: int | None = None
        self._data: dict[K, V] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value of `key`, else `load()` (a database read), cached when no commit raced it."""
        version = self.db.version()
        if version is None:
            return load()
        with self._lock:
            if version != self._version:
                self._data.clear()
                self._version = version
            elif key in self._data:
                return self._data[key]
        value = load()
        if self.keep is not None and not self.keep(value):
            return value
        with self._lock:
            if version == self._version:
                if len(self._data) >= self.max_entries:
                    self._data.clear()
                self._data[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._version = None
