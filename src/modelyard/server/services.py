"""The Services container: database, blob store and hub services, built from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.config import Settings
from modelyard.db import Database
from modelyard.hub.accounts import Accounts
from modelyard.hub.files import Files
from modelyard.hub.lfs import Lfs
from modelyard.hub.pulls import Pulls
from modelyard.hub.repos import Repos
from modelyard.hub.search import Search
from modelyard.storage import BlobStore, open_store
from modelyard.xet import XetService


@dataclass
class Services:
    settings: Settings
    db: Database
    store: BlobStore
    accounts: Accounts
    repos: Repos
    files: Files
    lfs: Lfs
    search: Search
    pulls: Pulls
    xet: XetService

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.resolved_database_url)
        store = open_store(settings.resolved_blob_url)
        accounts = Accounts(db)
        repos = Repos(db, store, accounts)
        files = Files(db, store, repos)
        secret = settings.resolved_secret()
        lfs = Lfs(
            files,
            secret,
            settings.multipart_threshold,
            settings.multipart_chunk_size,
            settings.max_upload_size,
        )
        xet = XetService(db, store, secret)
        files.external_lookup = xet.size_by_sha256
        return cls(settings, db, store, accounts, repos, files, lfs, Search(db), Pulls(db, store, repos), xet)

    def close(self) -> None:
        self.db.dispose()
