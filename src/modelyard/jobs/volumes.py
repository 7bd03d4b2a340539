"""A job's volumes, host side: who may mount what (`check`, at submit), and the files written out to directories
that the sandbox binds at each volume's mountPath (`materialize`, when the job starts).

- repos (model/dataset/space) at `revision` (default main): `hub/snapshots.py materialize` (copies, not links
  into the blob store, which the sandbox does not see), cached per commit under data_dir/jobs-snapshots, bound
  read-only; the submitter must be able to download the repo (`Repos.get_for_download`: privacy and gating).
- buckets: the files under `path` (or all) copied into a per-job directory; the submitter must be able to read
  the bucket, and to write it when it is mounted read-write.

Write-back of read-write bucket volumes: when the job's process has ended, the files it added or changed under
the mount (compared by sha256 with what was mounted) are uploaded to the bucket with the official client and the
job's own token (`changed_files`, then manager.py). Deleted files are not deleted from the bucket.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from modelyard.errors import Forbidden, NotFound
from modelyard.hub import snapshots
from modelyard.hub.accounts import Principal
from modelyard.hub.buckets import Buckets
from modelyard.hub.content import Content
from modelyard.hub.paths import local_target
from modelyard.jobs.spec import Volume
from modelyard.types import RepoType

MAX_BUCKET_FILES = 100_000


def check(who: Principal, volumes: tuple[Volume, ...], buckets: Buckets, repos: Any) -> None:
    """Raise (404 / 403 / GatedRepo) unless `who` may mount each volume as asked."""
    for v in volumes:
        ns, name = v.source.split("/", 1)
        if v.type == "bucket":
            if v.read_only:
                buckets.get(who, ns, name)
            else:
                buckets.get_for_write(who, ns, name)
        else:
            repos.get_for_download(RepoType(v.type), ns, name, who)


def materialize_volume(
    db: Any,
    content: Content,
    buckets: Buckets,
    volume: Volume,
    job_dir: Path,
    snapshots_root: Path,
    index: int,
) -> Path:
    """A host directory holding the volume's files (see module docstring)."""
    ns, name = volume.source.split("/", 1)
    if volume.type != "bucket":
        root = snapshots.materialize(
            db,
            content,
            RepoType(volume.type),
            volume.source,
            volume.revision or "main",
            snapshots_root,
            link=False,
        )
        if volume.path:
            sub = Path(local_target(str(root), volume.path))
            if not sub.is_dir():
                raise NotFound(f"{volume.path} is not a folder of {volume.type} {volume.source}")
            return sub
        return root
    with db.read() as conn:
        bucket = Buckets._find(conn, ns, name)
    if bucket is None:
        raise NotFound(f"Bucket {volume.source} not found")
    dest = job_dir / "volumes" / str(index)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    prefix = (volume.path + "/") if volume.path else ""
    start = ""
    count = 0
    manifest: dict[str, str] = {}
    while True:
        entries, nxt = buckets.tree(bucket, prefix, recursive=True, start=start, limit=1000)
        for e in entries:
            if e.type != "file" or not e.sha256:
                continue
            count += 1
            if count > MAX_BUCKET_FILES:
                raise Forbidden(f"bucket {volume.source} holds more than {MAX_BUCKET_FILES} files to mount")
            target = Path(local_target(str(dest), e.path[len(prefix) :]))
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as f:
                for chunk in content.iter_range(e.sha256):
                    f.write(chunk)
            os.chmod(target, 0o644)
            manifest[e.path[len(prefix) :]] = e.sha256
        if nxt is None:
            break
        start = nxt
    (job_dir / "volumes" / f"{index}.manifest.json").write_text(json.dumps(manifest))
    return dest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def changed_files(job_dir: Path, index: int, limit: int = MAX_BUCKET_FILES) -> list[tuple[Path, str]]:
    """(host file, path relative to the mount) of the files a job added or changed in bucket volume `index`."""
    dest = job_dir / "volumes" / str(index)
    try:
        manifest: dict[str, str] = json.loads((job_dir / "volumes" / f"{index}.manifest.json").read_text())
    except (OSError, ValueError):
        return []
    out: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(dest, followlinks=False):
        dirs[:] = [d for d in dirs if not Path(folder, d).is_symlink()]
        for name in files:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(dest).as_posix()
            if manifest.get(rel) != _sha256(path):
                out.append((path, rel))
                if len(out) >= limit:
                    return out
    return out
