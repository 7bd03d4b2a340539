"""The Services container: database, blob store and hub services, built from Settings."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelyard.config import Secret, Settings
from modelyard.db import Database
from modelyard.errors import GatedRepo, RepoNotFound
from modelyard.git.mirror import Mirrors
from modelyard.git.receive import PushImporter
from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.buckets import SCOPE_PREFIX, Buckets
from modelyard.hub.content import Content
from modelyard.hub.events import FanOut
from modelyard.hub.files import Files
from modelyard.hub.gating import Gating
from modelyard.hub.jobs import JobStore
from modelyard.hub.lfs import Lfs
from modelyard.hub.pickles import PickleScans
from modelyard.hub.pulls import Pulls
from modelyard.hub.replicas import shared_secret
from modelyard.hub.repos import Repos
from modelyard.hub.search import Search
from modelyard.hub.spaces import SpaceStore
from modelyard.hub.tasks import TaskQueue
from modelyard.hub.webhooks import Webhooks
from modelyard.storage import BlobStore, S3Options, open_store
from modelyard.types import RepoType
from modelyard.xet import XetService
from modelyard.xet.auth import Claims


class RepoBinding:
    """The CAS's content binding backed by the hub: a token's repo holds what `Files.lfs_known` says it holds.

    Built before `Files` (Files reads bytes through Content, which needs the XetService, which needs this binding);
    `Services.build` attaches the Files once, before anything is served. Unattached, it holds nothing.
    Tokens whose key starts with ``bucket/`` are buckets' (hub/buckets.py, own id space): `Buckets` answers.
    """

    def __init__(self) -> None:
        self.files: Files | None = None
        self.buckets: Buckets | None = None
        self.gating: Gating | None = None

    def holds(self, claims: Claims, sha256: str) -> bool:
        if claims.repo_key.startswith(SCOPE_PREFIX):  # a bucket's token: the bucket id space, never a repo's
            return (
                self.buckets is not None
                and claims.repo_id is not None
                and self.buckets.holds(claims.repo_id, sha256, claims.issued_at)
            )
        return (
            self.files is not None
            and claims.repo_id is not None
            and self.files.holds(claims.repo_id, sha256, claims.issued_at)
            # a gated repo: the token's user must have access now (a token of no user, or older than the gate: no)
            and (self.gating is None or self.gating.token_passes(claims.repo_id, claims.user_id))
        )

    def record(self, claims: Claims, files: Sequence[tuple[str, int]]) -> None:
        if claims.repo_key.startswith(SCOPE_PREFIX):
            if self.buckets is not None and claims.repo_id is not None:
                self.buckets.record(claims.repo_id, files, claims.issued_at)
        elif self.files is not None and claims.repo_id is not None:
            self.files.record_lfs_many(claims.repo_id, files)


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
    content: Content  # the only way to read file bytes: whole blob or Xet reconstruction
    buckets: Buckets  # non-versioned storage (hub/buckets.py); its Xet tokens are a scope of their own
    webhooks: Webhooks  # subscriptions and the delivery queue (server/webhook_worker.py sends)
    pickles: PickleScans  # pickle scan verdicts and queue (server/pickle_worker.py scans)
    gating: Gating  # access requests of gated repos (hub/gating.py); also `repos.gates`
    spaces: (
        SpaceStore  # Space settings, secrets and variables (hub/spaces.py); the supervisor: spaces/manager.py
    )
    jobs: JobStore  # jobs and scheduled jobs (hub/jobs.py); the runner: jobs/manager.py
    mirrors: Mirrors  # git: a bare mirror per repo, a cache of the database (git/mirror.py)
    pushes: PushImporter  # git push: checks and imports pushed commits (git/receive.py)
    # issue 17 (task queue helper): background work of every replica (hub/tasks.py, server/task_worker.py runs it)
    tasks: TaskQueue
    secret_shared: bool  # False: the database was not migrated yet; `share_secret` after the migration

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.resolved_database_url)
        settings, secret_shared = _with_shared_secret(settings, db)  # issue 17: one secret for all replicas
        tasks = TaskQueue(db)
        store = open_store(  # s3://: the s3_* settings (issue 17)
            settings.resolved_blob_url,
            settings.disk_reserve_mb * 1024**2,
            S3Options.of(settings),
        )
        accounts = Accounts(db)
        webhooks = Webhooks(
            db,
            accounts,
            settings.public_url or f"http://{settings.host}:{settings.port}",
            settings.webhook_max_attempts,
            settings.webhook_retry_base,
            settings.webhook_allow_private,
        )
        events = FanOut(webhooks)  # webhooks hear of every committed change; pickle scans join below
        repos = Repos(db, store, accounts, events=events)
        repos.public_url = settings.public_url.rstrip("/")
        repos.gates = gating = Gating(db, repos, accounts)  # accepted access requests open gated repos
        secret = settings.resolved_secret()
        binding = RepoBinding()
        xet = XetService(db, store, secret, binding=binding)
        content = Content(store, xet)
        pickles = PickleScans(db, content, tasks)  # scans run as tasks (server/pickle_worker.py)
        events.sinks.append(pickles)  # a commit queues scans of its new pickle files
        files = Files(db, store, repos, content)
        binding.files = files
        binding.gating = gating

        def repo_holds(who: Principal | None, rtype: RepoType, ns: str, name: str, sha256: str) -> bool:
            try:
                return files.lfs_known(repos.get_for_download(rtype, ns, name, who), sha256) is not None
            except (RepoNotFound, GatedRepo):  # copying bytes out of a repo is a download: the gate applies
                return False

        binding.buckets = buckets = Buckets(db, accounts, xet, repo_holds)
        lfs = Lfs(
            files,
            secret,
            settings.multipart_threshold,
            settings.multipart_chunk_size,
            settings.max_upload_size,
        )
        pulls = Pulls(db, content, repos)
        mirrors = Mirrors(Path(settings.data_dir).resolve() / "git", db, content)
        events.sinks.append(mirrors)  # git (issue 16): a deleted repo's mirror is removed
        return cls(
            settings,
            db,
            store,
            accounts,
            repos,
            files,
            lfs,
            Search(db),
            pulls,
            xet,
            content,
            buckets=buckets,
            webhooks=webhooks,
            pickles=pickles,
            gating=gating,
            spaces=SpaceStore(db, settings.derived_key(b"space-secrets")),
            jobs=JobStore(db, settings.derived_key(b"job-secrets")),
            mirrors=mirrors,
            pushes=PushImporter(files),
            tasks=tasks,
            secret_shared=secret_shared,
        )

    def share_secret(self) -> bool:
        """Once the database is migrated: store this process's secret as the shared one if none is stored. False when
        another replica's secret is stored already (build the services again to use it)."""
        if self.secret_shared:
            return True
        mine = self.settings.resolved_secret()
        stored = shared_secret(self.db, proposed=mine)
        self.secret_shared = stored is None or stored == mine
        return self.secret_shared

    def close(self) -> None:
        with contextlib.suppress(Exception):  # counts batched in memory (full disk: they are lost, as before)
            self.repos.flush_downloads()
        self.db.dispose()


def _with_shared_secret(settings: Settings, db: Database) -> tuple[Settings, bool]:
    """Settings whose secret is the one all replicas share (hub/replicas.py): `secret_key` when configured, else the
    database's (an existing <data_dir>/secret is imported). Not migrated yet: the local secret, not shared yet."""
    if settings.secret_key:
        return settings, True
    try:
        value = shared_secret(db, Path(settings.data_dir) / "secret")
    except Exception:  # no database yet (a fresh PostgreSQL being created): the local secret, shared later
        logging.getLogger("modelyard.server").debug("shared secret not read", exc_info=True)
        value = None
    if value is None:
        return settings, False
    return dataclasses.replace(settings, secret_key=Secret(value)), True
