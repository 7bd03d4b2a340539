"""One bare git repository per hub repo: a cache of the database that C git serves (clone, fetch, push).

`sync` makes a mirror's objects and refs equal to the database's (objects: export.py). The database stays the only
truth: a mirror can be deleted at any time (or be missing on another replica) and is rebuilt on the next request.
Mirrors are named by repo id and creation time (microseconds), so a deleted repo's reused id never finds an old
mirror; a deleted repo's mirror is removed when the deletion is told (`emit`, an event sink), and mirrors of repos
that no longer exist are swept once per process. Writers of one mirror (a sync, a push) hold its file lock;
readers (upload-pack) need none.

Git serves any object a mirror holds to a protocol v2 client that names its id, reachable or not. So when refs
are deleted or rewound (a deleted branch, a squashed history, a forced push), the objects no ref reaches any more
are pruned from the mirror before it is served again.
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
from datetime import UTC, datetime
from pathlib import Path

from modelyard.db import Database
from modelyard.git import export
from modelyard.git.hook import install_hook
from modelyard.hub import revisions
from modelyard.hub.content import Content
from modelyard.hub.events import HubEvent
from modelyard.hub.repos import Repo, Repos

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
#: the refs (name, id) a mirror was last synced to, kept in the mirror: a push moves refs behind `sync`'s back,
#: and the next sync compares against this to find objects no ref reaches any more
STAMP = "modelyard-refs"
#: repos whose synced refs are remembered in memory (the no-git-process shortcut of `sync`)
MAX_REMEMBERED = 20_000
#: packs a mirror may collect (each sync writes one, each push keeps one) before they are packed into one
MAX_PACKS = 32


def _mirror_name(repo_id: int, created_at: datetime) -> str:
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    micros = int(created.timestamp()) * 1_000_000 + created.microsecond
    return f"{repo_id}-{micros}.git"


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
        self._swept = False
        (root / "mirrors").mkdir(parents=True, exist_ok=True)
        install_hook(self.hooks_dir)

    # --- locations ------------------------------------------------------------------------------------
    @staticmethod
    def name(repo: Repo) -> str:
        return _mirror_name(repo.id, repo.created_at)

    def path(self, repo: Repo) -> Path:
        return self.root / "mirrors" / self.name(repo)

    @contextlib.contextmanager
    def locked(self, repo: Repo) -> Iterator[Path]:
        """The mirror (created if missing), with its writer lock held."""
        path = self.path(repo)
        lock_path = path.with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)  # the whole cache may have been deleted
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
        """Make the mirror hold the database's refs and every object they reach; its path.

        An unchanged repo costs one database read (no lock, no git process): the refs it was last synced to are
        remembered in memory."""
        if not self._swept:
            self.sweep()
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
        want = dict(export.iter_ref_lines(refs))
        have = self.mirror_refs(path)
        before = self._read_stamp(path, have)
        if have != want:
            written = export.write_objects(self.db, self.content, repo.id, path, refs)
            self._set_refs(path, have, want)
            log.info("git mirror %s: %d objects written, refs synced", path.name, written)
        if before != want:
            if self._lost_objects(path, [sha for ref, sha in before.items() if want.get(ref) != sha]):
                self._repack(path, prune=True)
                log.info("git mirror %s: refs deleted or rewound, unreachable objects pruned", path.name)
            elif self._pack_count(path) > MAX_PACKS:
                self._repack(path, prune=False)
            self._write_stamp(path, want)
        with self._mem_lock:
            if len(self._synced) >= MAX_REMEMBERED:
                self._synced.clear()  # only a shortcut: forgetting costs one `for-each-ref` per repo
            self._synced[path.name] = frozenset(want.items())

    # --- what a mirror may serve ----------------------------------------------------------------------
    @staticmethod
    def _read_stamp(path: Path, default: dict[str, str]) -> dict[str, str]:
        try:
            text = (path / STAMP).read_text()
        except FileNotFoundError:
            return default
        return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)  # type: ignore[misc]

    @staticmethod
    def _write_stamp(path: Path, refs: dict[str, str]) -> None:
        tmp = path / f"{STAMP}.tmp"
        tmp.write_text("".join(f"{ref} {sha}\n" for ref, sha in sorted(refs.items())))
        os.replace(tmp, path / STAMP)

    @staticmethod
    def _lost_objects(path: Path, old_ids: list[str]) -> bool:
        """Whether any object reachable from `old_ids` (ids refs named before) is reached by no ref now."""
        if not old_ids:
            return False
        out = subprocess.run(
            [
                "git",
                "--git-dir",
                str(path),
                "rev-list",
                "--objects",
                "--ignore-missing",
                *old_ids,
                "--not",
                "--all",
            ],
            capture_output=True,
            timeout=600,
        )
        return out.returncode != 0 or bool(out.stdout.strip())

    @staticmethod
    def _pack_count(path: Path) -> int:
        return sum(1 for _ in (path / "objects" / "pack").glob("*.pack"))

    @staticmethod
    def _repack(path: Path, prune: bool) -> None:
        """All reachable objects in one pack (with a bitmap); `prune`: unreachable ones dropped, loose ones too."""
        git = ["git", "--git-dir", str(path)]
        subprocess.run([*git, "repack", "-a", "-d", "-q"], check=True, capture_output=True, timeout=3600)
        if prune:
            subprocess.run([*git, "prune", "--expire=now"], check=True, capture_output=True, timeout=3600)

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
        path = self.path(repo)
        lock_path = path.with_suffix(".lock")
        if not path.exists() and not lock_path.exists():
            return  # never served over git: nothing to remove
        with open(lock_path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # a running sync or push ends first
            try:
                self._drop(path)
            finally:
                lock_path.unlink(missing_ok=True)
                fcntl.flock(fh, fcntl.LOCK_UN)
        self.forget(repo)

    @staticmethod
    def _drop(path: Path) -> None:
        """Rename, then delete: a half-deleted directory never looks like a mirror."""
        if not path.exists():
            return
        trash = path.with_name(f"{path.name}.deleted-{os.getpid()}-{threading.get_ident()}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    # --- an event sink (hub/events.py): a deleted repo's mirror goes -------------------------------------
    def emit(self, event: HubEvent) -> None:
        if event.scope == "repo" and event.action == "delete":
            self.remove(event.repo)

    def sweep(self) -> int:
        """Remove the mirrors (and leftovers of interrupted work) of repos that no longer exist; how many."""
        self._swept = True
        try:
            entries = list((self.root / "mirrors").iterdir())  # before the query: a mirror made later is kept
        except FileNotFoundError:
            return 0
        try:
            with self.db.read() as conn:
                rows = Repos.identities(conn)
        except Exception:  # a database not migrated yet: try again on the next sync
            self._swept = False
            return 0
        live = {_mirror_name(repo_id, created) for repo_id, created in rows}
        removed = 0
        for entry in entries:
            base = entry.name
            if base.endswith(".lock"):
                base = base[: -len(".lock")] + ".git"
            elif ".git." in base:  # an interrupted init or delete (…git.init-PID, …git.deleted-…)
                base = base.split(".git.", 1)[0] + ".git"
                if base not in live or ".deleted-" in entry.name:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
                continue
            if base in live:
                continue
            if entry.is_dir():
                self._drop(entry)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("git mirrors: %d entries of deleted repos removed", removed)
        return removed
