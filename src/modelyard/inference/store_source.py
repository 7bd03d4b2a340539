"""Model files straight from the hub's own database and blob store (no HTTP): used by endpoints on the hub.

Picklable: the worker process builds its own Database handle and materialises the snapshot itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelyard.db import Database
from modelyard.hub.content import Content
from modelyard.hub.snapshots import materialize
from modelyard.storage import S3Options, open_store
from modelyard.types import RepoType
from modelyard.xet import XetService


@dataclass(frozen=True)
class StoreSource:
    database_url: str
    blob_url: str
    secret: str
    cache_dir: Path
    s3: S3Options | None = None  # the s3_* settings when blob_url is s3://

    def snapshot(self, repo_id: str, revision: str) -> Path:
        db = Database(self.database_url)
        try:
            store = open_store(self.blob_url, s3=self.s3)
            content = Content(store, XetService(db, store, self.secret))
            return materialize(db, content, RepoType.MODEL, repo_id, revision, self.cache_dir)
        finally:
            db.dispose()

    def __repr__(self) -> str:
        return f"StoreSource({self.blob_url!r}, cache={str(self.cache_dir)!r})"
