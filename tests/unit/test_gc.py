"""Blob GC on a real database and store: unreferenced old blobs go, referenced and young ones stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from modelyard.config import Settings
from modelyard.db import migrate
from modelyard.hub.accounts import Principal
from modelyard.hub.commits import AddFile, CommitRequest
from modelyard.hub.gc import sweep
from modelyard.hub.gitobjects import blob_sha1
from modelyard.server.services import Services
from modelyard.storage import put_bytes
from modelyard.types import RepoType


def test_sweep(tmp_path: Path) -> None:
    svc = Services.build(Settings(data_dir=str(tmp_path)))
    migrate.upgrade(svc.db)
    acc = svc.accounts.create("gcuser")
    who = Principal(acc, "t", "write")
    repo = svc.repos.create(who, RepoType.MODEL, "m")
    kept = b"referenced by a commit"
    info = put_bytes(svc.store, kept)
    req = CommitRequest(
        summary="add",
        seen_header=True,
        operations=[AddFile("k.txt", info.sha256, info.size, blob_sha1(kept))],
    )
    svc.files.commit(who, repo, "main", req)
    old_orphan = put_bytes(svc.store, b"nobody names me").sha256
    young_orphan = put_bytes(svc.store, b"a commit in flight").sha256
    tmp_file = Path(svc.store.tmp_dir) / "up-stale"  # type: ignore[attr-defined]
    tmp_file.write_bytes(b"half an upload")
    past = time.time() - 3 * 86400
    for key in (old_orphan, info.sha256):
        os.utime(svc.content.local_path(key), (past, past))  # type: ignore[arg-type]
    os.utime(tmp_file, (past, past))

    dry = sweep(svc.files, svc.xet, min_age_s=86400, dry_run=True)
    assert dry.deleted == 1 and svc.store.exists(old_orphan)

    report = sweep(svc.files, svc.xet, min_age_s=86400)
    assert report.deleted == 1 and report.freed_bytes == len(b"nobody names me") and report.temp_deleted == 1
    assert not svc.store.exists(old_orphan) and not tmp_file.exists()
    assert svc.store.exists(young_orphan) and svc.store.exists(info.sha256)
    # the repo still downloads: its blob was referenced
    assert svc.store.open(info.sha256).read() == kept

    # storing bytes that already exist refreshes the blob, so an in-flight commit is safe from a sweep
    os.utime(svc.content.local_path(young_orphan), (past, past))  # type: ignore[arg-type]
    put_bytes(svc.store, b"a commit in flight")
    assert sweep(svc.files, svc.xet, min_age_s=86400).deleted == 0
    svc.close()
