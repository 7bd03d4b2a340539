"""Materialise repo@revision as a local directory (for model workers): symlinks to whole blobs on local disk, other
content (Xet chunks) written out once through `Content`. Snapshots are immutable per commit sha and published
atomically. `link=False` copies every file (a Space's files, bound into its sandbox, must not point into the blob
store)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from modelyard.db import Database
from modelyard.errors import BlobNotFound, RepoNotFound
from modelyard.hub import revisions
from modelyard.hub.content import Content
from modelyard.hub.paths import local_target
from modelyard.hub.repos import Repos
from modelyard.types import RepoId, RepoType


def materialize(
    db: Database,
    content: Content,
    repo_type: RepoType,
    repo_id: str,
    revision: str,
    dest_root: Path,
    link: bool = True,
) -> Path:
    rid = RepoId.parse(repo_id)
    with db.read() as conn:
        repo = Repos.find_in(conn, repo_type, rid.namespace, rid.name)
        if repo is None:
            raise RepoNotFound(f"Repository {repo_id} not found")
        sha = revisions.resolve(conn, repo.id, revision)
        files = revisions.manifest(conn, repo.id, sha)
    final = dest_root / f"{repo_type.plural}--{repo.namespace}--{repo.name}" / sha
    if final.is_dir():
        return final
    tmp = final.with_name(f".{sha}.{uuid.uuid4().hex}")
    try:
        for path, entry in files.items():
            # only "/" separates: a backslash is a literal name character (as on the Hub), never a way out
            target = Path(local_target(str(tmp), path))
            target.parent.mkdir(parents=True, exist_ok=True)
            local = content.local_path(entry.sha256) if link else None
            if local is not None:
                os.symlink(local, target)
                continue
            try:
                chunks = content.iter_range(entry.sha256)
            except BlobNotFound:
                raise BlobNotFound(f"Content of {path} ({entry.sha256}) is missing from storage") from None
            with open(target, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, final)
        except OSError:  # another worker published it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
