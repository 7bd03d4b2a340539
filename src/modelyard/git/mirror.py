"""One bare git repository per hub repo: a cache of the database that C git serves (clone, fetch, push).

`sync` makes a mirror's objects and refs equal to the database's (objects: export.py). The database stays the only
truth: a mirror can be deleted at any time (or be missing on another replica) and is rebuilt on the next request.
Mirrors are named by repo id and creation time, so a deleted repo's reused id never finds an old mirror.
Writers of one mirror (a sync, a push) hold its file lock; readers (upload-pack) need none.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

from modelyard.db import Database
from modelyard.git import export
from modelyard.git.hook import install_hook
from modelyard.hub import revisions
from modelyard.hub.content import Content
from modelyard.hub.repos import Repo

log = logging.getLogger(__name__)

#: Settings of every mirror: what upload-pack may serve and what receive-pack accepts from git itself; the hub's
#: own rules run in the pre-receive hook (git/receive.py).
MIRROR_CONFIG = {
    "core.logAllRefUpdates": "false",
    "http.receivepack": "true",
    "uploadpack.allowFilter": "true",
    "uploadpack.allowAnySHA1InWant": "false",
    "receive.fsckObjects": "true",  # malformed objects are refused before our hook sees them
    "receive.denyDeletes": "false",
    "receive.denyNonFastForwards": "false",  # the hook decides (a forced push where the user may)
    "receive.unpackLimit": "1",  # keep pushed packs as packs
    "gc.auto": "0",  # `git gc` runs as maintenance, never inside a request
    "repack.writeBitmaps": "true",
}


class Lease:
    """A mirror held for writing (see `Mirrors.lease`)."""

    def __init__(self, path: Path, cm: contextlib.AbstractContextManager[Path]) -> None:
        self.path = path
        self._cm: contextlib.AbstractContextManager[Path] | None = cm

    def release(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(None, None, None)


class Mirrors:
    def __init__(self, root: Path, db: Database, content: Content) -> None:
        self.root = root
        self.db = db
        self.content = content
        self.hooks_dir = root / "hooks"
        self._synced: dict[str, frozenset[tuple[str, str]]] = {}  # mirror name -> refs it was last synced to
        self._mem_lock = threading.Lock()
        (root / "mirrors").mkdir(parents=True, exist_ok=True)
        install_hook(self.hooks_dir)

    # --- locations ------------------------------------------------------------------------------------
    @staticmethod
    def name(repo: Repo) -> str:
        created = repo.created_at if repo.created_at.tzinfo else repo.created_at.replace(tzinfo=UTC)
        return f"{repo.id}-{int(created.timestamp())}.git"

    def path(self, repo: Repo) -> Path:
        return self.root / "mirrors" / self.name(repo)

    @contextlib.contextmanager
    def locked(self, repo: Repo) -> Iterator[Path]:
        """The mirror (created if missing), with its writer lock held."""
        path = self.path(repo)
        lock_path = path.with_suffix(".lock")
        with open(lock_path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if not (path / "HEAD").exists():
                    self._init(path)
                yield path
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _init(self, path: Path) -> None:
        tmp = path.with_name(path.name + f".init-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", str(tmp)], check=True, capture_output=True, timeout=60
        )
        for key, value in {**MIRROR_CONFIG, "core.hooksPath": str(self.hooks_dir)}.items():
            subprocess.run(["git", "--git-dir", str(tmp), "config", key, value], check=True, timeout=30)
        subprocess.run(
            ["git", "--git-dir", str(tmp), "symbolic-ref", "HEAD", "refs/heads/main"], check=True, timeout=30
        )
        shutil.rmtree(tmp / "hooks", ignore_errors=True)
        (tmp / "description").unlink(missing_ok=True)
        os.replace(tmp, path)

    # --- sync -----------------------------------------------------------------------------------------
    def db_refs(self, repo: Repo) -> list[revisions.Ref]:
        with self.db.read() as conn:
            return revisions.list_refs(conn, repo.id)

    def sync(self, repo: Repo) -> Path:
        """Make the mirror hold the database's refs and every object they reach; its path."""
        refs = self.db_refs(repo)
        want = frozenset(export.iter_ref_lines(refs))
        name = self.name(repo)
        if self._synced.get(name) == want and (self.path(repo) / "HEAD").exists():
            return self.path(repo)
        with self.locked(repo) as path:
            self._sync_locked(repo, path)
        return path

    def _sync_locked(self, repo: Repo, path: Path) -> None:
        refs = self.db_refs(repo)  # read again, under the lock
        want = frozenset(export.iter_ref_lines(refs))
        have = self.mirror_refs(path)
        if have != dict(want):
            written = export.write_objects(self.db, self.content, repo.id, path, refs)
            self._set_refs(path, have, dict(want))
            log.info("git mirror %s: %d objects written, refs synced", path.name, written)
        with self._mem_lock:
            self._synced[path.name] = want

    def lease(self, repo: Repo) -> Lease:
        """The mirror synced and locked for a push (blocking): release it when receive-pack has ended."""
        cm = self.locked(repo)
        path = cm.__enter__()
        try:
            self._sync_locked(repo, path)
        except BaseException:
            cm.__exit__(None, None, None)
            raise
        return Lease(path, cm)

    def forget(self, repo: Repo) -> None:
        """The mirror's refs may have changed outside `sync` (a push): check them on the next request."""
        with self._mem_lock:
            self._synced.pop(self.name(repo), None)

    @staticmethod
    def mirror_refs(path: Path) -> dict[str, str]:
        out = subprocess.run(
            ["git", "--git-dir", str(path), "for-each-ref", "--format=%(refname) %(objectname)"],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout.decode()
        return dict(line.split(" ", 1) for line in out.splitlines() if line)  # type: ignore[misc]

    @staticmethod
    def _set_refs(path: Path, have: dict[str, str], want: dict[str, str]) -> None:
        lines = [f"delete {ref} {old}" for ref, old in have.items() if ref not in want]
        lines += [f"update {ref} {new}" for ref, new in want.items() if have.get(ref) != new]
        if lines:
            subprocess.run(
                ["git", "--git-dir", str(path), "update-ref", "--stdin"],
                input="\n".join(lines).encode() + b"\n",
                check=True,
                capture_output=True,
                timeout=60,
            )

    def remove(self, repo: Repo) -> None:
        """Drop a deleted repo's mirror (a cache: nothing is lost)."""
        with self.locked(repo) as path:
            shutil.rmtree(path, ignore_errors=True)
        self.path(repo).with_suffix(".lock").unlink(missing_ok=True)
        self.forget(repo)
