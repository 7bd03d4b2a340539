"""Pickle scans: what the pickles in uploaded files would import when loaded.  owns: pickle_scans

A pickle runs code when loaded: any global it names (``os.system``, ``builtins.eval``) is called with arguments the
file chooses. Files whose names say they may hold pickles (`PICKLE_EXTS`: torch ``.bin``/``.pt`` zips and legacy
files, plain pickles, joblib, numpy object arrays) are scanned with picklescan's classifier (innocuous / suspicious /
dangerous globals) without ever being loaded. A result is stored per content sha256 (the same bytes in many repos
are scanned once) in ``pickle_scans``: ``queued`` when a commit brings the file, then ``safe`` (only innocuous
imports), ``suspicious`` (imports picklescan does not know), ``unsafe`` (a dangerous import) or ``error`` (not
parseable as what its bytes claim to be: shown as suspicious, and refused by endpoints like ``unsafe``).

Work is bounded: bytes come through `Content.open` (whole blob or Xet stream, seekable, never read whole), and the
scanner (hub/pickle_scanner.py) seeks over tensor bytes and ends oversized or hostile input as ``error``.
The scanner is advisory (deny-list scanners have bypasses); the loader-side boundary is torch's
``weights_only=True`` default (torch >= 2.6) and safetensors. A verdict is not redone when picklescan is upgraded.
Results are facts about bytes, not permissions: callers show them only for files of repos the reader may read.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.db import Database
from modelyard.db.schema import pickle_scans
from modelyard.errors import BlobNotFound, UnsafePickle
from modelyard.hub import revisions
from modelyard.hub._time import now
from modelyard.hub.content import Content
from modelyard.hub.events import HubEvent
from modelyard.hub.pickle_scanner import (
    ERROR,
    QUEUED,
    SAFE,
    SUSPICIOUS,
    UNSAFE,
    PickleImport,
    safety_rank,
    scan_stream,
)
from modelyard.hub.repos import Repos
from modelyard.hub.tasks import TaskQueue
from modelyard.types import RepoType

#: File names that may hold pickles (case-insensitive suffixes). Torch zips (.bin/.pt/.pth/.ckpt) are zips.
PICKLE_EXTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".npz", ".dill")
DONE = (SAFE, SUSPICIOUS, UNSAFE, ERROR)
REFUSED = (UNSAFE, ERROR)  # endpoints refuse these unless the deployer allows them explicitly
SCAN_TASK = "pickle.scan"  # a task per queued content (hub/tasks.py; the handler: server/pickle_worker.py)
REQUEUE_TASK = "pickle.requeue"  # periodic: tasks for queued rows that have none
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_pickle_path(path: str) -> bool:
    """Whether a repo file of this name is scanned (by suffix, as the Hub does)."""
    return path.lower().endswith(PICKLE_EXTS)


@functools.cache
def scanner_version() -> str:
    from importlib.metadata import version

    return f"picklescan {version('picklescan')}"


@dataclass(frozen=True)
class Scan:
    sha256: str
    status: str  # queued | safe | suspicious | unsafe | error
    imports: tuple[PickleImport, ...] = ()
    scanner: str = ""
    scanned_at: datetime | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def level(self) -> str | None:
        """The Hub's issue level of the file: "unsafe", "suspicious" (an error reads as suspicious) or None."""
        if self.status == UNSAFE:
            return UNSAFE
        if self.status in (SUSPICIOUS, ERROR):
            return SUSPICIOUS
        return None

    @property
    def highest_safety(self) -> str | None:
        if not self.imports:
            return None
        return max((i.safety for i in self.imports), key=safety_rank)

    @property
    def flagged_imports(self) -> list[PickleImport]:
        return [i for i in self.imports if i.safety != "innocuous"]


# --- the service ----------------------------------------------------------------------------------------
def _row_scan(row: Any) -> Scan:
    try:
        raw = json.loads(row.imports or "[]")
        imports = tuple(PickleImport(str(i["module"]), str(i["name"]), str(i["safety"])) for i in raw)
    except (ValueError, TypeError, KeyError):
        imports = ()
    return Scan(row.sha256, row.status, imports, row.scanner or "", row.scanned_at, row.error)


class PickleScans:
    """The scan results and queue (table ``pickle_scans``); also the event sink that queues a commit's pickles.
    With `tasks`, each queued content gets a ``pickle.scan`` task (any replica's task worker runs it once)."""

    def __init__(self, db: Database, content: Content, tasks: TaskQueue | None = None) -> None:
        self.db = db
        self.content = content
        self.tasks = tasks

    # --- queueing ---------------------------------------------------------------------------------
    def emit(self, event: HubEvent) -> None:
        """EventSink: a ref moved to a new commit; queue the pickle files of that commit not scanned yet."""
        if event.scope != "repo.content":
            return
        shas: set[str] = set()
        with self.db.read() as conn:
            for ref in event.refs:
                if ref.new_sha:
                    files = revisions.manifest(conn, event.repo.id, ref.new_sha)
                    shas |= {e.sha256 for p, e in files.items() if is_pickle_path(p)}
        if shas:
            self.queue(shas)

    def queue(self, sha256s: Iterable[str]) -> int:
        """Queue contents that have no row yet (and their scan tasks); how many were queued."""
        wanted = {s for s in sha256s if s}
        if not wanted:
            return 0
        with self.db.read() as conn:
            have = set(
                conn.execute(select(pickle_scans.c.sha256).where(pickle_scans.c.sha256.in_(wanted))).scalars()
            )
        new = sorted(wanted - have)
        if not new:
            return 0
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    pickle_scans.insert(),
                    [{"sha256": sha, "status": QUEUED, "queued_at": now()} for sha in new],
                )
                self._enqueue(conn, new)
            self._notify()
            return len(new)
        except IntegrityError:  # one was queued meanwhile by another request: one at a time
            pass
        added = 0
        for sha in new:
            try:
                with self.db.transaction() as conn:
                    conn.execute(pickle_scans.insert().values(sha256=sha, status=QUEUED, queued_at=now()))
                    self._enqueue(conn, [sha])
                added += 1
            except IntegrityError:
                pass
        if added:
            self._notify()
        return added

    def _enqueue(self, conn: Any, shas: Iterable[str]) -> int:
        """Scan tasks of `shas` in the caller's transaction (key pickle-scan:<sha>: one per content, ever)."""
        if self.tasks is None:
            return 0
        return sum(
            self.tasks.enqueue(SCAN_TASK, {"sha256": sha}, key=f"pickle-scan:{sha}", conn=conn) is not None
            for sha in shas
        )

    def _notify(self) -> None:
        if self.tasks is not None:
            self.tasks.notify()

    def requeue(self, limit: int = 1000) -> int:
        """Scan tasks for up to `limit` queued contents that have none (queued before the task queue, or by a
        CLI); how many tasks were added."""
        if self.tasks is None:
            return 0
        todo = self.queued(limit)
        if not todo:
            return 0
        with self.db.transaction() as conn:
            added = self._enqueue(conn, todo)
        if added:
            self._notify()
        return added

    def scan_task(self, payload: Mapping[str, Any]) -> Scan | None:
        """The ``pickle.scan`` task: scan the content if it is still queued (a rescan by the CLI may have been
        first); the verdict, or None when there was nothing to do. A payload that names no sha256 is refused."""
        sha = payload.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ValueError("the task names no content sha256")
        current = self.get_many([sha]).get(sha)
        if current is None or current.done:
            return None
        return self.scan(sha)

    def queued(self, limit: int = 16) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(pickle_scans.c.sha256)
                .where(pickle_scans.c.status == QUEUED)
                .order_by(pickle_scans.c.queued_at)
                .limit(limit)
            )
            return list(rows.scalars())

    def queued_count(self) -> int:
        """Contents waiting for a scan: the admin page's queue figure."""
        with self.db.read() as conn:
            n = conn.execute(
                select(func.count()).select_from(pickle_scans).where(pickle_scans.c.status == QUEUED)
            ).scalar()
        return int(n or 0)

    def run_queued(self, limit: int = 16) -> int:
        """Scan up to `limit` queued contents (the worker's step; also the CLI's); how many were scanned."""
        todo = self.queued(limit)
        for sha in todo:
            self.scan(sha)
        return len(todo)

    # --- scanning ---------------------------------------------------------------------------------
    def scan(self, sha256: str) -> Scan:
        """Scan one content now and store the verdict (replacing any earlier one)."""
        try:
            with self.content.open(sha256) as f:
                status, imports, err = scan_stream(f)
        except BlobNotFound:
            status, imports, err = ERROR, (), "the content is not stored"
        except OSError as e:
            status, imports, err = ERROR, (), f"could not read the content: {type(e).__name__}"
        scan = Scan(sha256, status, imports, scanner_version(), now(), err)
        values = {
            "status": status,
            "imports": json.dumps([i.to_json() for i in imports]),
            "scanner": scan.scanner,
            "scanned_at": scan.scanned_at,
            "error": err,
        }
        with self.db.transaction() as conn:
            done = conn.execute(update(pickle_scans).where(pickle_scans.c.sha256 == sha256).values(**values))
            if not done.rowcount:
                conn.execute(pickle_scans.insert().values(sha256=sha256, queued_at=now(), **values))
        return scan

    # --- reading ----------------------------------------------------------------------------------
    def get_many(self, sha256s: Iterable[str]) -> dict[str, Scan]:
        wanted = list({s for s in sha256s if s})
        out: dict[str, Scan] = {}
        with self.db.read() as conn:
            for i in range(0, len(wanted), 500):
                rows = conn.execute(
                    select(pickle_scans).where(pickle_scans.c.sha256.in_(wanted[i : i + 500]))
                )
                out.update({r.sha256: _row_scan(r) for r in rows})
        return out

    def for_files(self, files: Mapping[str, str], scan_missing: bool = False) -> dict[str, Scan | None]:
        """Path -> scan (None: never queued) of the pickle files among `files` (path -> sha256). With
        `scan_missing`, contents not scanned yet are scanned now (endpoints); else missing ones are queued."""
        pickles = {p: s for p, s in files.items() if is_pickle_path(p)}
        if not pickles:
            return {}
        scans = self.get_many(pickles.values())
        missing = {s for s in pickles.values() if s not in scans or not scans[s].done}
        if missing and scan_missing:
            scans.update({s: self.scan(s) for s in sorted(missing)})
        elif missing:
            self.queue(s for s in missing if s not in scans)
        return {p: scans.get(s) for p, s in pickles.items()}

    def repo_status(self, files: Mapping[str, str]) -> dict[str, Any]:
        """The Hub's ``securityRepoStatus`` of a revision (path -> sha256 of its files)."""
        scans = self.for_files(files)
        issues = [
            {"path": p, "level": s.level, "pickleImports": [i.to_json() for i in s.imports]}
            for p, s in sorted(scans.items())
            if s is not None and s.level is not None
        ]
        done = all(s is not None and s.done for s in scans.values())
        return {"scansDone": done, "filesWithIssues": issues}

    def file_statuses(self, files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """The Hub's ``securityFileStatus`` per path (path -> sha256 of files only)."""
        scans = self.for_files(files)
        return {p: file_status(p in scans, scans.get(p)) for p in files}

    def files_at(
        self, repo_type: RepoType, namespace: str, name: str, revision: str
    ) -> dict[str, str] | None:
        """Path -> sha256 of a repo's files at a revision, None for an unknown repo. No permission check: for
        callers that already made theirs (endpoints) or act as the operator (the CLI)."""
        with self.db.read() as conn:
            repo = Repos.find_in(conn, repo_type, namespace, name)
            if repo is None:
                return None
            files = revisions.manifest(conn, repo.id, revisions.resolve(conn, repo.id, revision))
        return {p: e.sha256 for p, e in files.items()}

    def check_revision(self, repo_type: RepoType, namespace: str, name: str, revision: str) -> None:
        """`check_deployable` for a repo at a revision (an unknown repo passes: its load fails on its own)."""
        files = self.files_at(repo_type, namespace, name, revision)
        if files is not None:
            self.check_deployable(files)

    def check_deployable(self, files: Mapping[str, str]) -> None:
        """Raise UnsafePickle if a file of the snapshot is unsafe or unscannable (scanning unscanned ones now)."""
        bad = {p: s for p, s in self.for_files(files, scan_missing=True).items() if s and s.status in REFUSED}
        if bad:
            raise UnsafePickle(refusal(bad))


def refusal(bad: Mapping[str, Scan]) -> str:
    """The message of an UnsafePickle: each refused file and its dangerous imports."""
    parts = []
    for path, s in sorted(bad.items())[:10]:
        names = ", ".join(f"{i.module}.{i.name}" for i in s.flagged_imports[:5]) or (s.error or s.status)
        parts.append(f"{path} ({s.status}: {names})")
    return (
        "This model has pickle files that would run code when loaded: "
        + "; ".join(parts)
        + ". Deploy with allow_unsafe_pickle (modelyard deploy --allow-unsafe-pickle) if you trust them."
    )


def file_status(is_pickle: bool, scan: Scan | None) -> dict[str, Any]:
    """One file's ``securityFileStatus``: the overall status, the (absent) antivirus scan, the pickle scan."""
    av = {"status": "unscanned", "virusNames": None}  # no antivirus runs here
    if not is_pickle:
        return {"status": SAFE, "avScan": av, "pickleImportScan": None}
    if scan is None:
        status = "unscanned"
    elif not scan.done:
        status = QUEUED
    else:
        status = scan.level or SAFE
    pickle: dict[str, Any] = {
        "status": scan.status if scan is not None else "unscanned",
        "highestSafetyLevel": scan.highest_safety if scan is not None else None,
        "imports": [i.to_json() for i in scan.imports] if scan is not None else [],
    }
    return {"status": status, "avScan": av, "pickleImportScan": pickle}


def check_snapshot_dir(root: Path) -> None:
    """Raise UnsafePickle if a pickle file of a local model directory is unsafe or unscannable: the model worker's
    own check before it loads anything (whatever the source: the hub's store, a hub download, a local folder)."""
    bad: dict[str, Scan] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not is_pickle_path(rel) or not path.is_file():
            continue
        with open(path, "rb") as f:
            status, imports, err = scan_stream(f)
        if status in REFUSED:
            bad[rel] = Scan("", status, imports, error=err)
    if bad:
        raise UnsafePickle(refusal(bad))
