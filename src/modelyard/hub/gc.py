"""Garbage collection of the blob store: blobs no commit, LFS upload or Xet object names, and stale temp files.

Blobs are written before the rows that name them, so a young unreferenced blob may belong to a commit in flight:
only blobs older than `min_age_s` are removed. A writer that finds its blob already stored refreshes its mtime.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from modelyard.errors import BlobNotFound, ConfigError
from modelyard.hub.files import Files
from modelyard.storage import Sweepable
from modelyard.xet import XetService


@dataclass
class GcReport:
    blobs: int = 0
    referenced: int = 0
    young: int = 0
    deleted: int = 0
    freed_bytes: int = 0
    temp_deleted: int = 0


def sweep(
    files: Files, xet: XetService | None, min_age_s: float = 24 * 3600, dry_run: bool = False
) -> GcReport:
    store = files.store
    if not isinstance(store, Sweepable):
        raise ConfigError("This blob store cannot list its blobs: garbage collection is not available for it")
    refs = files.referenced_blobs() | (xet.index.referenced_blobs() if xet is not None else set())
    now = time.time()
    report = GcReport()
    for key, mtime in list(store.iter_blobs()):
        report.blobs += 1
        if key in refs:
            report.referenced += 1
        elif now - mtime < min_age_s:
            report.young += 1
        else:
            try:
                size = store.stat(key)
                if not dry_run:
                    store.delete(key)
            except BlobNotFound:
                continue
            report.deleted += 1
            report.freed_bytes += size
    for name, mtime in list(store.iter_temp()):
        if now - mtime >= min_age_s:
            if not dry_run:
                store.delete_temp(name)
            report.temp_deleted += 1
    return report
